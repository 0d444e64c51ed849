//! The name of each aggregate's stream: `<kind>-<id>`, and one `tenant` stream per tenant for
//! its policy and memberships. A stream id is built from a typed id, so it cannot be of the
//! wrong kind and cannot fail.

use confide_domain::{
    CaseStudyId, ClientId, ConsentFormId, ConsentId, CourseId, GrantId, MessageId, RecordingId,
    SubjectRequestId,
};
use confide_eventstore::StreamId;
use uuid::Uuid;

/// The tenant's own stream: policy and memberships.
pub fn tenant_stream() -> StreamId {
    StreamId::named("tenant")
}

/// An id that names an aggregate's stream.
pub trait StreamKey: Copy {
    /// What precedes the id in the stream's name.
    const KIND: &'static str;
    fn uuid(self) -> Uuid;
}

macro_rules! stream_keys {
    ($($id:ty => $kind:literal),* $(,)?) => {$(
        impl StreamKey for $id {
            const KIND: &'static str = $kind;
            fn uuid(self) -> Uuid {
                self.as_uuid()
            }
        }
    )*};
}

stream_keys! {
    CaseStudyId => "case_study",
    ClientId => "client",
    ConsentFormId => "consent_form",
    ConsentId => "consent",
    CourseId => "course",
    GrantId => "grant",
    MessageId => "message",
    RecordingId => "recording",
    SubjectRequestId => "subject_request",
}

/// The stream of the aggregate `id` names.
pub fn stream<K: StreamKey>(id: K) -> StreamId {
    StreamId::of(K::KIND, id.uuid())
}

#[cfg(test)]
mod tests {
    use confide_readmodels::kind_of;

    use super::*;

    #[test]
    fn a_stream_is_named_by_its_kind_and_id() {
        let id = Uuid::now_v7();
        let Ok(consent) = ConsentId::from_uuid(id) else {
            panic!("a v7 UUID is a consent id");
        };
        assert_eq!(stream(consent).as_str(), format!("consent-{id}"));
        // The read models file a state under its kind: what precedes the first `-`.
        assert_eq!(kind_of(&stream(consent)), "consent");
        assert_eq!(kind_of(&tenant_stream()), "tenant");
    }
}
