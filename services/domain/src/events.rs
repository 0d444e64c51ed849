//! Events are the public contract: past-tense names, a stable type string, a schema version.
//!
//! Each aggregate has its own event enum (so `apply` is exhaustive over exactly its events);
//! [`Event`] wraps them all for the store. The JSON of an event is an object whose `type`
//! field is its type string; the schema version travels beside it in the store's envelope.
//! Changes are additive (a new optional field keeps the version) or bump the version and add
//! an upcast in [`Event::from_stored`]; the snapshot test in this module pins every event's
//! JSON so an accidental change fails the build.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::aggregates::case_study::CaseStudyEvent;
use crate::aggregates::client::ClientEvent;
use crate::aggregates::consent::ConsentEvent;
use crate::aggregates::consent_form::ConsentFormEvent;
use crate::aggregates::course::CourseEvent;
use crate::aggregates::grant::GrantEvent;
use crate::aggregates::message::MessageEvent;
use crate::aggregates::notice_settings::NoticeSettingsEvent;
use crate::aggregates::recording::RecordingEvent;
use crate::aggregates::subject_request::SubjectRequestEvent;
use crate::aggregates::tenant::TenantEvent;
use crate::error::DomainError;

/// What every event offers the store.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + std::fmt::Debug {
    /// The stable type string, e.g. `"ConsentGiven"`.
    fn event_type(&self) -> &'static str;
    /// The version of this type's JSON schema.
    fn schema_version(&self) -> u32;
}

/// Implements [`DomainEvent`] for an aggregate's event enum from a list of
/// `Variant => schema_version`, and lists the type strings in `EVENT_TYPES`.
macro_rules! domain_event {
    ($enum:ident { $($variant:ident => $version:literal),+ $(,)? }) => {
        impl $crate::events::DomainEvent for $enum {
            fn event_type(&self) -> &'static str {
                match self {
                    $($enum::$variant { .. } => stringify!($variant)),+
                }
            }

            fn schema_version(&self) -> u32 {
                match self {
                    $($enum::$variant { .. } => $version),+
                }
            }
        }

        impl $enum {
            /// Every type string of this aggregate with its current schema version.
            pub const EVENT_TYPES: &'static [(&'static str, u32)] =
                &[$((stringify!($variant), $version)),+];
        }
    };
}
pub(crate) use domain_event;

/// Any event of any aggregate, as the store holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    /// The tenant's stream.
    Tenant(TenantEvent),
    /// A client's stream.
    Client(ClientEvent),
    /// A consent form's stream.
    ConsentForm(ConsentFormEvent),
    /// A consent's stream.
    Consent(ConsentEvent),
    /// A recording's stream.
    Recording(RecordingEvent),
    /// A grant's stream.
    Grant(GrantEvent),
    /// A course's stream.
    Course(CourseEvent),
    /// A case study's stream.
    CaseStudy(CaseStudyEvent),
    /// A subject request's stream.
    SubjectRequest(SubjectRequestEvent),
    /// The tenant's notice settings (addresses, webhook endpoints).
    NoticeSettings(NoticeSettingsEvent),
    /// An outbox message's stream: its delivery or failure.
    Message(MessageEvent),
}

macro_rules! for_each_event_kind {
    ($self:expr, $event:ident => $body:expr) => {
        match $self {
            Event::Tenant($event) => $body,
            Event::Client($event) => $body,
            Event::ConsentForm($event) => $body,
            Event::Consent($event) => $body,
            Event::Recording($event) => $body,
            Event::Grant($event) => $body,
            Event::Course($event) => $body,
            Event::CaseStudy($event) => $body,
            Event::SubjectRequest($event) => $body,
            Event::NoticeSettings($event) => $body,
            Event::Message($event) => $body,
        }
    };
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        for_each_event_kind!(self, e => e.event_type())
    }

    fn schema_version(&self) -> u32 {
        for_each_event_kind!(self, e => e.schema_version())
    }
}

impl Event {
    /// Every event type string with its current schema version, across all aggregates.
    pub fn all_types() -> Vec<(&'static str, u32)> {
        [
            TenantEvent::EVENT_TYPES,
            ClientEvent::EVENT_TYPES,
            ConsentFormEvent::EVENT_TYPES,
            ConsentEvent::EVENT_TYPES,
            RecordingEvent::EVENT_TYPES,
            GrantEvent::EVENT_TYPES,
            CourseEvent::EVENT_TYPES,
            CaseStudyEvent::EVENT_TYPES,
            SubjectRequestEvent::EVENT_TYPES,
            NoticeSettingsEvent::EVENT_TYPES,
            MessageEvent::EVENT_TYPES,
        ]
        .concat()
    }

    /// The stream-kind prefix of this event's stream (`tenant`, `consent`, …).
    pub fn stream_kind(&self) -> &'static str {
        match self {
            Event::Tenant(_) => "tenant",
            Event::Client(_) => "client",
            Event::ConsentForm(_) => "consent_form",
            Event::Consent(_) => "consent",
            Event::Recording(_) => "recording",
            Event::Grant(_) => "grant",
            Event::Course(_) => "course",
            Event::CaseStudy(_) => "case_study",
            Event::SubjectRequest(_) => "subject_request",
            Event::NoticeSettings(_) => "notice_settings",
            Event::Message(_) => "message",
        }
    }

    /// Reads an event as stored: its type string, the schema version it was written with and
    /// its JSON. Older versions are upcast here; a version newer than this code knows is
    /// refused rather than misread.
    pub fn from_stored(
        event_type: &str,
        schema_version: u32,
        payload: &serde_json::Value,
    ) -> Result<Self, DomainError> {
        let Some((_, current)) = Self::all_types()
            .into_iter()
            .find(|(known, _)| *known == event_type)
        else {
            return Err(DomainError::invalid(
                "event_type",
                format!("unknown event type {event_type:?}"),
            ));
        };
        if schema_version > current {
            return Err(DomainError::invalid(
                "schema_version",
                format!(
                    "{event_type} version {schema_version} is not known (current is {current})"
                ),
            ));
        }
        let upcast;
        let payload = if schema_version < current {
            upcast = upcast_payload(event_type, schema_version, current, payload)?;
            &upcast
        } else {
            payload
        };
        let event: Event = serde_json::from_value(payload.clone()).map_err(|e| {
            DomainError::invalid("payload", format!("{event_type} does not parse: {e}"))
        })?;
        if event.event_type() != event_type {
            return Err(DomainError::invalid(
                "payload",
                format!(
                    "the payload is a {} but the envelope says {event_type}",
                    event.event_type()
                ),
            ));
        }
        Ok(event)
    }

    /// The event's JSON payload (including its `type` field). Every map key in an event is
    /// a string and there are no floats, so this fails only on a bug in a serde derive.
    pub fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// Brings a payload written at `version` up to `current`, one version at a time.
fn upcast_payload(
    event_type: &str,
    version: u32,
    current: u32,
    payload: &serde_json::Value,
) -> Result<serde_json::Value, DomainError> {
    let mut payload = payload.clone();
    for from in version..current {
        let Some(fields) = payload.as_object_mut() else {
            return Err(DomainError::invalid(
                "payload",
                format!("{event_type} is not an object"),
            ));
        };
        match (event_type, from) {
            // Version 2 records what probing the upload found and where its ciphertext is.
            // A version 1 event came before uploads were probed and stored: nothing is known
            // of its format, and it names no object.
            ("RecordingStored", 1) => {
                fields.insert("codec".into(), "unknown".into());
                fields.insert("content_type".into(), "application/octet-stream".into());
                fields.insert("object_key".into(), "".into());
            }
            _ => {
                return Err(DomainError::invalid(
                    "schema_version",
                    format!("{event_type} version {from} has no upcast"),
                ));
            }
        }
    }
    Ok(payload)
}

macro_rules! event_from {
    ($($kind:ident($inner:ty)),+ $(,)?) => {
        $(impl From<$inner> for Event {
            fn from(event: $inner) -> Self {
                Event::$kind(event)
            }
        }

        /// An aggregate's own events out of the union; any other kind is handed back.
        impl TryFrom<Event> for $inner {
            type Error = Event;

            fn try_from(event: Event) -> Result<Self, Event> {
                match event {
                    Event::$kind(event) => Ok(event),
                    other => Err(other),
                }
            }
        })+
    };
}

event_from!(
    Tenant(TenantEvent),
    Client(ClientEvent),
    ConsentForm(ConsentFormEvent),
    Consent(ConsentEvent),
    Recording(RecordingEvent),
    Grant(GrantEvent),
    Course(CourseEvent),
    CaseStudy(CaseStudyEvent),
    SubjectRequest(SubjectRequestEvent),
    NoticeSettings(NoticeSettingsEvent),
    Message(MessageEvent),
);

#[cfg(test)]
mod tests;
