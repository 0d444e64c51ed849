//! Closed vocabularies and small values: purposes, roles, jurisdictions, media, digests,
//! offsets, and sealed (encrypted) personal data.
//!
//! Their serde representations are snake_case strings (or plain numbers for offsets) and are
//! stored forever in the log: renaming a variant is a breaking change to every export, so the
//! strings are spelled out by hand rather than derived from Rust names.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::DomainError;

/// Implements `as_str`, `parse`, `FromStr`, `Display`, `TryFrom<&str>` and serde as the given
/// strings for a fieldless enum, and lists every variant in `ALL`.
macro_rules! string_enum {
    ($name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable string stored in the log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stable string.
            pub fn parse(value: &str) -> Result<Self, DomainError> {
                match value {
                    $($text => Ok($name::$variant),)+
                    other => Err(DomainError::invalid(
                        $field,
                        format!(
                            "{other:?} is not one of: {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = DomainError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Why a recording may be used. The vocabulary is closed: a consent names purposes from this
/// list, never free text, so that "for training purposes" cannot creep in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// A clinical or coaching supervisor reviews the practitioner's work.
    Supervision,
    /// Course tutors assess a student practitioner.
    CourseAssessment,
    /// Submission to a credentialing body (ICF, IAC, EMCC, a university).
    Credentialing,
    /// The organisation's quality-assurance or training team reviews sessions.
    QualityAssurance,
    /// The practitioner listens back to their own session.
    PractitionerReflection,
    /// The client's own copy.
    ClientCopy,
    /// Producing a transcript (whole or excerpt).
    Transcription,
    /// Writing a case study.
    CaseStudy,
}

string_enum!(Purpose, "purpose", {
    Supervision => "supervision",
    CourseAssessment => "course_assessment",
    Credentialing => "credentialing",
    QualityAssurance => "quality_assurance",
    PractitionerReflection => "practitioner_reflection",
    ClientCopy => "client_copy",
    Transcription => "transcription",
    CaseStudy => "case_study",
});

impl Purpose {
    /// The nearest W3C Data Privacy Vocabulary purpose, for exports.
    ///
    /// DPV has no term as narrow as ours, so several purposes share a DPV class; an export
    /// states both this IRI and Confide's own purpose string, which refines it.
    pub fn dpv_iri(self) -> &'static str {
        match self {
            // Supervision, assessment, credentialing, reflection and transcripts all serve the
            // practitioner's professional development and training.
            Purpose::Supervision
            | Purpose::CourseAssessment
            | Purpose::Credentialing
            | Purpose::PractitionerReflection
            | Purpose::Transcription => "https://w3id.org/dpv#ProfessionalTraining",
            Purpose::QualityAssurance => "https://w3id.org/dpv#ImproveExistingProductsAndServices",
            // The client asked for the copy: a service they requested.
            Purpose::ClientCopy => "https://w3id.org/dpv#RequestedServiceProvision",
            // Case studies go to funders in progress reports and grant applications.
            Purpose::CaseStudy => "https://w3id.org/dpv#OrganisationGovernance",
        }
    }
}

/// A member's role in a tenant. Roles come only from membership events in the tenant's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Runs the organisation: members, policy, courses, consent forms.
    OrgAdmin,
    /// A counsellor or coach, often a student on a course.
    Practitioner,
    /// A course tutor or clinical supervisor.
    Tutor,
    /// Quality-assurance or training team.
    Reviewer,
    /// An external credential assessor or mentor; plays only what a grant names.
    Assessor,
    /// Reads and exports the audit trail; never plays media.
    Auditor,
    /// Reads case studies published to them; nothing else.
    Funder,
}

string_enum!(Role, "role", {
    OrgAdmin => "org_admin",
    Practitioner => "practitioner",
    Tutor => "tutor",
    Reviewer => "reviewer",
    Assessor => "assessor",
    Auditor => "auditor",
    Funder => "funder",
});

impl Role {
    /// Whether holding this role rules out playing media altogether. Auditors and funders
    /// must stay independent of the content they audit or fund, so the rule holds even when
    /// the same person also holds another role.
    pub fn never_plays_media(self) -> bool {
        matches!(self, Role::Auditor | Role::Funder)
    }
}

/// A kind of media or derived text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Medium {
    /// Sound only.
    Audio,
    /// Picture and sound.
    Video,
    /// A WebVTT transcript, whole or excerpt.
    Transcript,
}

string_enum!(Medium, "medium", {
    Audio => "audio",
    Video => "video",
    Transcript => "transcript",
});

/// What may be derived from a recording under a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Derivative {
    /// A transcript of the whole session.
    Transcript,
    /// A transcript of part of the session.
    Excerpt,
    /// A case study drawing on the session.
    CaseStudy,
}

string_enum!(Derivative, "derivative", {
    Transcript => "transcript",
    Excerpt => "excerpt",
    CaseStudy => "case_study",
});

/// The data protection law a tenant (or a consent) is under; it sets the subject-request
/// deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Jurisdiction {
    /// EU General Data Protection Regulation.
    Gdpr,
    /// The United Kingdom's retained GDPR.
    UkGdpr,
    /// California Consumer Privacy Act (as amended by the CPRA).
    Ccpa,
    /// US Health Insurance Portability and Accountability Act.
    Hipaa,
    /// Singapore's Personal Data Protection Act.
    Pdpa,
}

string_enum!(Jurisdiction, "jurisdiction", {
    Gdpr => "gdpr",
    UkGdpr => "uk_gdpr",
    Ccpa => "ccpa",
    Hipaa => "hipaa",
    Pdpa => "pdpa",
});

/// A period in calendar months or days. GDPR counts in months ("one month", Art. 12(3)),
/// which is not a fixed number of days, so both units are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Calendar months.
    Months(u32),
    /// Days of 24 hours.
    Days(u32),
}

impl Period {
    /// `start` plus this period. Calendar arithmetic clamps to the month's last day
    /// (31 January plus one month is 28 or 29 February), which errs on the side of the
    /// earlier deadline.
    pub fn after(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Period::Months(months) => start
                .checked_add_months(Months::new(months))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Period::Days(days) => start
                .checked_add_signed(TimeDelta::days(i64::from(days)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

impl Jurisdiction {
    /// How long the controller has to answer a subject request.
    pub fn subject_request_deadline(self) -> Period {
        match self {
            // GDPR Art. 12(3): one month of receipt.
            Jurisdiction::Gdpr | Jurisdiction::UkGdpr => Period::Months(1),
            // CCPA §1798.130(a)(2): 45 days.
            Jurisdiction::Ccpa => Period::Days(45),
            // HIPAA 45 CFR 164.524(b)(2): 30 days.
            Jurisdiction::Hipaa => Period::Days(30),
            // PDPA: "as soon as reasonably possible"; the PDPC's guidance reads that as 30 days.
            Jurisdiction::Pdpa => Period::Days(30),
        }
    }

    /// How much longer the deadline may be made, once, with notice to the requester before
    /// the first deadline; `None` where the law gives no extension.
    pub fn subject_request_extension(self) -> Option<Period> {
        match self {
            // GDPR Art. 12(3): "extended by two further months where necessary".
            Jurisdiction::Gdpr | Jurisdiction::UkGdpr => Some(Period::Months(2)),
            // CCPA: once by an additional 45 days when reasonably necessary.
            Jurisdiction::Ccpa => Some(Period::Days(45)),
            // HIPAA: once by no more than 30 days with a written statement of the reasons.
            Jurisdiction::Hipaa => Some(Period::Days(30)),
            // PDPA sets no statutory extension; an organisation that cannot meet 30 days must
            // tell the individual when it will respond, which is a decision, not an extension.
            Jurisdiction::Pdpa => None,
        }
    }
}

/// A SHA-256 digest: 32 bytes, written as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// Parses 64 hex characters (either case; stored lowercase).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        if value.len() != 64 {
            return Err(DomainError::invalid(
                "sha256",
                format!("a SHA-256 digest is 64 hex characters, got {}", value.len()),
            ));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(value, &mut bytes)
            .map_err(|e| DomainError::invalid("sha256", format!("a SHA-256 digest is hex: {e}")))?;
        Ok(Self(bytes))
    }

    /// The digest of `bytes`. Hashing is pure computation, so the domain may do it.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl TryFrom<String> for Sha256 {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sha256> for String {
    fn from(value: Sha256) -> Self {
        value.to_hex()
    }
}

impl FromStr for Sha256 {
    type Err = DomainError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

/// A position in a recording, in milliseconds from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Offset(u64);

impl Offset {
    /// The longest offset accepted: 24 hours. No session is longer, and a bound keeps
    /// arithmetic on offsets far from overflow.
    pub const MAX_MILLIS: u64 = 24 * 60 * 60 * 1000;

    /// The start of a recording.
    pub const ZERO: Offset = Offset(0);

    /// An offset of `millis` milliseconds.
    pub fn from_millis(millis: u64) -> Result<Self, DomainError> {
        if millis > Self::MAX_MILLIS {
            return Err(DomainError::invalid(
                "offset",
                format!(
                    "an offset is at most 24 hours ({} ms), got {millis}",
                    Self::MAX_MILLIS
                ),
            ));
        }
        Ok(Self(millis))
    }

    /// Milliseconds from the start.
    pub fn as_millis(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Offset {
    type Error = DomainError;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::from_millis(value)
    }
}

impl From<Offset> for u64 {
    fn from(value: Offset) -> Self {
        value.0
    }
}

/// A language tag (BCP 47, e.g. `en-GB`, `de`, `ase` for American Sign Language), as shown
/// to the client with the consent text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    /// Parses a tag: 2..=35 ASCII letters, digits and '-', starting with 2 or 3 letters. This
    /// is the shape of BCP 47, not a registry check; the form's author chose the tag.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let invalid =
            || DomainError::invalid("language", format!("not a BCP 47 language tag: {value:?}"));
        if value.len() < 2 || value.len() > 35 {
            return Err(invalid());
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid());
        }
        let primary = value.split('-').next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        if value.split('-').any(str::is_empty) {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Language {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Language> for String {
    fn from(value: Language) -> Self {
        value.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names a key in the key store (a per-client key, or a recording's data key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id: 1..=128 printable ASCII characters without spaces, so it can sit in a
    /// path, a header or an export unescaped.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        if value.is_empty() || value.len() > 128 {
            return Err(DomainError::invalid(
                "key_id",
                "a key id is 1 to 128 characters",
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::invalid(
                "key_id",
                "a key id holds only printable ASCII without spaces",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The key `<purpose>-<id>` of one entity (`client-…`, `media-…`, `case-study-…`):
    /// always valid, because a UUID is printable ASCII and `purpose` is a short name of the
    /// program's own.
    pub fn of(purpose: &'static str, id: uuid::Uuid) -> Self {
        debug_assert!(
            Self::parse(purpose).is_ok() && purpose.len() < 64,
            "{purpose:?}"
        );
        Self(format!("{purpose}-{id}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<KeyId> for String {
    fn from(value: KeyId) -> Self {
        value.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Personal data encrypted under a per-client key, opaque to the domain.
///
/// The domain never sees plaintext names or notes: it carries the ciphertext (as the vault
/// encodes it) and the id of the key that sealed it. Erasing a client destroys that key, after
/// which every `Sealed` value under it is noise, while the events that hold it stay intact and
/// so does the log's hash chain.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    key_id: KeyId,
    ciphertext: String,
}

impl Sealed {
    /// The longest ciphertext accepted (64 KiB of encoded text): events are not for bulk data.
    pub const MAX_CIPHERTEXT: usize = 64 * 1024;

    /// Wraps a ciphertext produced by the vault.
    pub fn new(key_id: KeyId, ciphertext: impl Into<String>) -> Result<Self, DomainError> {
        let ciphertext = ciphertext.into();
        if ciphertext.is_empty() || ciphertext.len() > Self::MAX_CIPHERTEXT {
            return Err(DomainError::invalid(
                "sealed",
                "a sealed value holds 1 byte to 64 KiB of ciphertext",
            ));
        }
        Ok(Self { key_id, ciphertext })
    }

    /// The key that sealed it.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The ciphertext, for the vault to open.
    pub fn ciphertext(&self) -> &str {
        &self.ciphertext
    }
}

impl fmt::Debug for Sealed {
    // The ciphertext is not secret, but printing it invites copying it around; the key id is
    // what a reader of a debug line needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed(key_id={}, {} bytes)",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_string_round_trips_through_serde() {
        for purpose in Purpose::ALL {
            let json = serde_json::to_string(purpose).unwrap();
            assert_eq!(json, format!("\"{}\"", purpose.as_str()));
            assert_eq!(serde_json::from_str::<Purpose>(&json).unwrap(), *purpose);
            assert!(purpose.dpv_iri().starts_with("https://w3id.org/dpv#"));
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), *role);
        }
        for medium in Medium::ALL {
            assert_eq!(Medium::parse(medium.as_str()).unwrap(), *medium);
        }
        for jurisdiction in Jurisdiction::ALL {
            assert_eq!(
                Jurisdiction::parse(jurisdiction.as_str()).unwrap(),
                *jurisdiction
            );
        }
        assert!(Purpose::parse("training").is_err());
        assert!(serde_json::from_str::<Role>("\"admin\"").is_err());
    }

    #[test]
    fn the_stored_strings_are_pinned() {
        let purposes: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            purposes,
            [
                "supervision",
                "course_assessment",
                "credentialing",
                "quality_assurance",
                "practitioner_reflection",
                "client_copy",
                "transcription",
                "case_study"
            ]
        );
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            roles,
            [
                "org_admin",
                "practitioner",
                "tutor",
                "reviewer",
                "assessor",
                "auditor",
                "funder"
            ]
        );
        let laws: Vec<&str> = Jurisdiction::ALL.iter().map(|j| j.as_str()).collect();
        assert_eq!(laws, ["gdpr", "uk_gdpr", "ccpa", "hipaa", "pdpa"]);
    }

    #[test]
    fn deadlines_follow_each_law() {
        let received: DateTime<Utc> = "2025-01-31T10:00:00Z".parse().unwrap();
        let gdpr = Jurisdiction::Gdpr
            .subject_request_deadline()
            .after(received);
        assert_eq!(gdpr.to_rfc3339(), "2025-02-28T10:00:00+00:00");
        let extended = Jurisdiction::Gdpr
            .subject_request_extension()
            .unwrap()
            .after(gdpr);
        assert_eq!(extended.to_rfc3339(), "2025-04-28T10:00:00+00:00");
        let ccpa = Jurisdiction::Ccpa
            .subject_request_deadline()
            .after(received);
        assert_eq!(ccpa.to_rfc3339(), "2025-03-17T10:00:00+00:00");
        let hipaa = Jurisdiction::Hipaa
            .subject_request_deadline()
            .after(received);
        assert_eq!(hipaa.to_rfc3339(), "2025-03-02T10:00:00+00:00");
        assert_eq!(Jurisdiction::Pdpa.subject_request_extension(), None);
    }

    #[test]
    fn digests_parse_hex_and_hash_bytes() {
        let empty = Sha256::of(b"");
        assert_eq!(
            empty.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Sha256::parse(&empty.to_hex()).unwrap(), empty);
        assert_eq!(
            Sha256::parse(&empty.to_hex().to_uppercase()).unwrap(),
            empty
        );
        assert!(Sha256::parse("abc").is_err());
        assert!(Sha256::parse(&"g".repeat(64)).is_err());
    }

    #[test]
    fn offsets_are_bounded_and_serialise_as_numbers() {
        let offset = Offset::from_millis(90_000).unwrap();
        assert_eq!(serde_json::to_string(&offset).unwrap(), "90000");
        assert!(Offset::from_millis(Offset::MAX_MILLIS + 1).is_err());
        assert!(serde_json::from_str::<Offset>("999999999999").is_err());
    }

    #[test]
    fn language_tags_have_the_shape_of_bcp47() {
        for ok in ["en", "en-GB", "ase", "zh-Hant-TW"] {
            assert!(Language::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english-language-tag-that-is-far-too-long",
            "en--GB",
            "1e",
            "en_GB",
        ] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sealed_values_need_ciphertext_and_hide_it_in_debug() {
        let key = KeyId::parse("client-key-1").unwrap();
        assert!(Sealed::new(key.clone(), "").is_err());
        let sealed = Sealed::new(key, "c2VjcmV0").unwrap();
        assert!(!format!("{sealed:?}").contains("c2VjcmV0"));
        assert!(KeyId::parse("has space").is_err());
    }
}
