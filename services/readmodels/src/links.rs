//! Which streams concern what: the consents and recordings about a client, the grants on a
//! recording or under a consent. An inline projection writes the links in the append's own
//! transaction (so a decision never misses a stream committed before it), and
//! [`crate::ReadModels`] reads them.

use async_trait::async_trait;
use confide_domain::aggregates::grant::Grantee;
use confide_eventstore::{AsyncProjection, InlineProjection, RecordedEvent, StoreError};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

/// What a stream can be linked to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Client(String),
    Recording(String),
    Consent(String),
    /// The consents that name a course (and may end with it).
    Course(String),
    /// Every recording of the tenant: what the retention job walks.
    Recordings,
    /// Every subject request of the tenant.
    SubjectRequests,
    /// Every case study of the tenant.
    CaseStudies,
    /// The consents about a client for one session (`session_on`, as `YYYY-MM-DD`): with
    /// [`Subject::ClientEngagement`], every consent whose scope includes that session, which
    /// is all an access decision about a recording of it needs, however many sessions the
    /// client has had.
    ClientSession {
        client: String,
        session_on: String,
    },
    /// The consents about a client that cover their whole engagement (and notices, which do).
    ClientEngagement(String),
    /// The grants on a recording to one grantee: all an access decision by that viewer needs.
    RecordingGrantee {
        recording: String,
        grantee: Grantee,
    },
}

impl Subject {
    pub(crate) fn key(&self) -> String {
        match self {
            Self::Client(id) => format!("client:{id}"),
            Self::Recording(id) => format!("recording:{id}"),
            Self::Consent(id) => format!("consent:{id}"),
            Self::Course(id) => format!("course:{id}"),
            Self::Recordings => "recordings".to_owned(),
            Self::SubjectRequests => "subject_requests".to_owned(),
            Self::CaseStudies => "case_studies".to_owned(),
            Self::ClientSession { client, session_on } => {
                format!("client:{client}:session:{session_on}")
            }
            Self::ClientEngagement(client) => format!("client:{client}:engagement"),
            Self::RecordingGrantee { recording, grantee } => {
                let (kind, id) = match grantee {
                    Grantee::Member { user_id } => ("member", user_id.to_string()),
                    Grantee::ExternalAssessor { user_id } => {
                        ("external_assessor", user_id.to_string())
                    }
                    Grantee::Client { client_id } => ("client", client_id.to_string()),
                };
                format!("recording:{recording}:{kind}:{id}")
            }
        }
    }
}

/// The subject a consent's scope files it under, from its creating event's payload: one
/// session's, or the engagement's (a notice's scope is the engagement).
fn scope_subject(event: &RecordedEvent) -> Option<String> {
    let client = event.payload["client_id"].as_str()?.to_owned();
    let scope = &event.payload["scope"];
    match (event.event_type.as_str(), scope["kind"].as_str()) {
        ("ConsentRequested", Some("session")) => Some(
            Subject::ClientSession {
                client,
                session_on: scope["session_on"].as_str()?.to_owned(),
            }
            .key(),
        ),
        ("ConsentRequested", Some("engagement")) | ("ConsentNoticeGiven", _) => {
            Some(Subject::ClientEngagement(client).key())
        }
        _ => None,
    }
}

/// The subject a grant is filed under for its grantee, from `AccessGranted`'s payload.
fn grantee_subject(event: &RecordedEvent) -> Option<String> {
    let recording = event.payload["recording_id"].as_str()?.to_owned();
    let grantee: Grantee = serde_json::from_value(event.payload["grantee"].clone()).ok()?;
    Some(Subject::RecordingGrantee { recording, grantee }.key())
}

/// The links an event creates: (subject, stream), from the fields of the events that create
/// consents, recordings and grants.
fn links_of(event: &RecordedEvent) -> Vec<(String, String)> {
    let field = |name: &str| event.payload[name].as_str().map(str::to_owned);
    let link = |subject: Option<String>, kind: &str, id: Option<String>| {
        subject.zip(id).map(|(s, id)| (s, format!("{kind}-{id}")))
    };
    match event.event_type.as_str() {
        "ConsentRequested" | "ConsentNoticeGiven" => vec![
            link(
                field("client_id").map(|id| Subject::Client(id).key()),
                "consent",
                field("consent_id"),
            ),
            link(
                field("course_id").map(|id| Subject::Course(id).key()),
                "consent",
                field("consent_id"),
            ),
            link(scope_subject(event), "consent", field("consent_id")),
        ],
        "RecordingCreated" => vec![
            link(
                field("client_id").map(|id| Subject::Client(id).key()),
                "recording",
                field("recording_id"),
            ),
            link(
                Some(Subject::Recordings.key()),
                "recording",
                field("recording_id"),
            ),
        ],
        "CaseStudyDrafted" => vec![link(
            Some(Subject::CaseStudies.key()),
            "case_study",
            field("case_study_id"),
        )],
        "SubjectRequestOpened" => vec![link(
            Some(Subject::SubjectRequests.key()),
            "subject_request",
            field("subject_request_id"),
        )],
        "AccessGranted" => vec![
            link(
                field("recording_id").map(|id| Subject::Recording(id).key()),
                "grant",
                field("grant_id"),
            ),
            link(
                field("consent_id").map(|id| Subject::Consent(id).key()),
                "grant",
                field("grant_id"),
            ),
            link(grantee_subject(event), "grant", field("grant_id")),
        ],
        _ => Vec::new(),
    }
    .into_iter()
    .flatten()
    .collect()
}

/// The inline projection; register it on the store with `with_inline_projection`. It is also
/// an asynchronous projection, so that a `ProjectionRunner` can rebuild the table from the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamLinks;

const INSERT_PG: &str = "INSERT INTO stream_links (tenant_id, subject, stream_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const INSERT_SQLITE: &str = "INSERT INTO stream_links (tenant_id, subject, stream_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
const RESET: &str = "DELETE FROM stream_links";

/// The projection for one backend: its connection type and the insert in its dialect.
macro_rules! stream_links_for {
    ($db:ty, $conn:ty, $insert:expr) => {
        #[async_trait]
        impl InlineProjection<$db> for StreamLinks {
            fn name(&self) -> &'static str {
                "stream_links"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                events: &[RecordedEvent],
            ) -> Result<(), StoreError> {
                for event in events {
                    AsyncProjection::<$db>::apply(self, conn, event).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl AsyncProjection<$db> for StreamLinks {
            fn name(&self) -> &'static str {
                "stream_links"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                event: &RecordedEvent,
            ) -> Result<(), StoreError> {
                for (subject, stream) in links_of(event) {
                    sqlx::query($insert)
                        .bind(event.tenant_id.as_str())
                        .bind(subject)
                        .bind(stream)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                sqlx::query(RESET).execute(&mut *conn).await?;
                Ok(())
            }
        }
    };
}

stream_links_for!(Postgres, PgConnection, INSERT_PG);
stream_links_for!(Sqlite, SqliteConnection, INSERT_SQLITE);
