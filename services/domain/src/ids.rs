//! Identifiers: the tenant slug, the identity provider's user subject, and the UUID ids of
//! every entity.
//!
//! Each is a newtype with a private field, built only through `parse`/`TryFrom`, so a value
//! of the type is valid by construction and nothing downstream needs to check it again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;

/// A tenant: one organisation, named by a slug.
///
/// A slug is 1..=63 lowercase ASCII letters, digits and '-', starting and ending with a letter
/// or digit. That is a DNS label, so a tenant id can name a schema, a bucket prefix or a
/// subdomain without escaping; a hyphenated UUID string fits too.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The longest slug: a DNS label.
    pub const MAX_LEN: usize = 63;

    /// Parses a tenant slug, saying which rule a bad one breaks.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let invalid = |why: &str| DomainError::invalid("tenant_id", format!("{why}: {value:?}"));
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(invalid("a tenant id is 1 to 63 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "a tenant id holds only lowercase ASCII letters, digits and '-'",
            ));
        }
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let bytes = value.as_bytes();
        if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return Err(invalid(
                "a tenant id starts and ends with a letter or digit",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user: the identity provider's subject (`sub`), kept verbatim.
///
/// Non-empty, at most 255 bytes, and free of control characters so that it can be printed in
/// an audit export or a log line without escaping surprises.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// The longest subject accepted.
    pub const MAX_LEN: usize = 255;

    /// Parses an identity provider subject.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "user_id",
                format!("a user id is 1 to 255 bytes, got {}", value.len()),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "user_id",
                "a user id may not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The subject as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = DomainError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype_conversions!(TenantId);
string_newtype_conversions!(UserId);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// Parses a hyphenated UUID; the nil UUID is refused because it usually means an
            /// id that was never set.
            pub fn parse(value: &str) -> Result<Self, DomainError> {
                let uuid = Uuid::parse_str(value).map_err(|e| {
                    DomainError::invalid($field, format!("not a UUID ({e}): {value:?}"))
                })?;
                Self::from_uuid(uuid)
            }

            /// Wraps a UUID chosen by the caller (the domain never generates ids).
            pub fn from_uuid(uuid: Uuid) -> Result<Self, DomainError> {
                if uuid.is_nil() {
                    return Err(DomainError::invalid($field, "the nil UUID is not an id"));
                }
                Ok(Self(uuid))
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = DomainError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl TryFrom<Uuid> for $name {
            type Error = DomainError;
            fn try_from(value: Uuid) -> Result<Self, Self::Error> {
                Self::from_uuid(value)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0.hyphenated().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

uuid_id!(
    /// A client (data subject) of the tenant.
    ClientId,
    "client_id"
);
uuid_id!(
    /// One consent record: one client, one practitioner, a scope and its purposes.
    ConsentId,
    "consent_id"
);
uuid_id!(
    /// A consent form, whose text is versioned.
    ConsentFormId,
    "consent_form_id"
);
uuid_id!(
    /// One session's recording.
    RecordingId,
    "recording_id"
);
uuid_id!(
    /// An access grant to one recording for one purpose.
    GrantId,
    "grant_id"
);
uuid_id!(
    /// A training course.
    CourseId,
    "course_id"
);
uuid_id!(
    /// A case study written about one or more clients.
    CaseStudyId,
    "case_study_id"
);
uuid_id!(
    /// A data subject request (access, copy, erasure, portability).
    SubjectRequestId,
    "subject_request_id"
);
uuid_id!(
    /// A transcript (whole or excerpt) derived from a recording.
    TranscriptId,
    "transcript_id"
);
uuid_id!(
    /// One message of the outbox: one notice to one recipient about one event, its id derived
    /// from the event's (`outbox::message_id`), so the same notice always has the same id.
    MessageId,
    "message_id"
);
uuid_id!(
    /// One of the organisation's webhook endpoints.
    WebhookEndpointId,
    "webhook_endpoint_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slugs_follow_dns_label_rules() {
        for ok in [
            "a",
            "community-counselling",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            &"x".repeat(63),
        ] {
            assert!(TenantId::parse(ok).is_ok(), "{ok} should parse");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a b", "é", &"x".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn user_ids_refuse_empty_long_and_control_characters() {
        assert!(UserId::parse("auth0|abc").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"u".repeat(256)).is_err());
        assert!(UserId::parse("a\nb").is_err());
    }

    #[test]
    fn uuid_ids_round_trip_and_refuse_nil_and_garbage() {
        let text = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let id = ClientId::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        assert!(ClientId::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(ClientId::parse("nope").is_err());
        assert!(serde_json::from_str::<ClientId>("\"nope\"").is_err());
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<TenantId>("\"Bad Slug\"").is_err());
        let t: TenantId = serde_json::from_str("\"ok-1\"").unwrap();
        assert_eq!(t.as_str(), "ok-1");
    }
}
