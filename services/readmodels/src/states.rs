//! Strongly consistent read models, written by one inline projection in the append's own
//! transaction:
//!
//! - `aggregate_states`: every stream's folded state (the tenant's policy and memberships,
//!   clients, consents, grants, recordings' access state, courses, ...) with its version, so
//!   a decision reads one row per stream instead of folding the stream, and never sees a
//!   state older than the log.
//! - `retention`: each recording's destroy-after and why, recomputed whenever the recording,
//!   its consent, its course or the tenant's policy changes.
//!
//! Both are rebuilt from the log like any asynchronous projection; the logic is written once
//! against [`Tables`], whose two implementations differ only in SQL dialect.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use confide_domain::aggregates::case_study::CaseStudy;
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::consent_form::ConsentForm;
use confide_domain::aggregates::course::Course;
use confide_domain::aggregates::grant::Grant;
use confide_domain::aggregates::message::Message;
use confide_domain::aggregates::notice_settings::NoticeSettings;
use confide_domain::aggregates::recording::Recording;
use confide_domain::aggregates::subject_request::SubjectRequest;
use confide_domain::aggregates::tenant::Tenant;
use confide_domain::retention::destroy_after;
use confide_domain::{Aggregate, Event};
use confide_eventstore::{
    AsyncProjection, InlineProjection, RecordedEvent, StoreError, StreamId, TenantId,
};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

/// A stream's state as stored: its version and its JSON.
pub type StoredState = (u64, String);

/// The aggregate kind a stream belongs to: what precedes the first `-` (the whole name for
/// the tenant's own stream). The application names streams `<kind>-<id>` and `tenant`
/// (`confide_app::stream`); `aggregate_states` keeps the kind so a kind's states can be
/// listed.
pub fn kind_of(stream: &StreamId) -> &str {
    stream
        .as_str()
        .split_once('-')
        .map_or(stream.as_str(), |(kind, _)| kind)
}

/// One row of `retention`.
struct RetentionRow {
    recording_id: String,
    consent_id: String,
    course_id: Option<String>,
    destroy_after: Option<DateTime<Utc>>,
    reason: Option<String>,
    scheduled_for: Option<DateTime<Utc>>,
}

/// What the projection needs of a backend, inside the append's transaction.
#[async_trait]
trait Tables: Send {
    async fn state(
        &mut self,
        tenant: &TenantId,
        stream: &str,
    ) -> Result<Option<StoredState>, StoreError>;

    async fn put_state(
        &mut self,
        tenant: &TenantId,
        stream: &str,
        kind: &str,
        state: &StoredState,
    ) -> Result<(), StoreError>;

    /// The recordings whose retention reads `column` (`consent_id` or `course_id`) = `id`, or
    /// every recording of the tenant when `id` is none.
    async fn recordings_reading(
        &mut self,
        tenant: &TenantId,
        column: Input,
        id: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;

    async fn put_retention(
        &mut self,
        tenant: &TenantId,
        row: &RetentionRow,
    ) -> Result<(), StoreError>;

    async fn reset(&mut self) -> Result<(), StoreError>;
}

/// Which input of a recording's retention changed.
#[derive(Clone, Copy)]
enum Input {
    Consent,
    Course,
    Policy,
}

/// Folds `events` (one stream's, in order) into `state` as the aggregate `A`.
fn fold_as<A>(state: Option<&str>, events: &[&RecordedEvent]) -> Result<String, StoreError>
where
    A: Aggregate,
    A::Event: TryFrom<Event, Error = Event>,
{
    let mut folded: A = match state {
        Some(json) => serde_json::from_str(json).map_err(invalid)?,
        None => A::default(),
    };
    for stored in events {
        let event = Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let event = A::Event::try_from(event).map_err(|other| {
            StoreError::Invalid(format!(
                "a {} event in stream {}",
                other.stream_kind(),
                stored.stream_id
            ))
        })?;
        folded = folded.apply(&event);
    }
    serde_json::to_string(&folded).map_err(invalid)
}

/// Folds into the aggregate the stream's kind names; `None` for a stream that is not an
/// aggregate's.
fn fold(
    kind: &str,
    state: Option<&str>,
    events: &[&RecordedEvent],
) -> Result<Option<String>, StoreError> {
    Ok(Some(match kind {
        "tenant" => fold_as::<Tenant>(state, events)?,
        "client" => fold_as::<Client>(state, events)?,
        "consent_form" => fold_as::<ConsentForm>(state, events)?,
        "consent" => fold_as::<Consent>(state, events)?,
        "recording" => fold_as::<Recording>(state, events)?,
        "grant" => fold_as::<Grant>(state, events)?,
        "course" => fold_as::<Course>(state, events)?,
        "case_study" => fold_as::<CaseStudy>(state, events)?,
        "subject_request" => fold_as::<SubjectRequest>(state, events)?,
        "notice_settings" => fold_as::<NoticeSettings>(state, events)?,
        "message" => fold_as::<Message>(state, events)?,
        _ => return Ok(None),
    }))
}

fn invalid(error: serde_json::Error) -> StoreError {
    StoreError::Invalid(format!("an aggregate state: {error}"))
}

/// Reads a stored state's JSON as `A` (the default state when the stream does not exist):
/// how the application turns what [`crate::ReadModels`] returns into an aggregate.
pub fn parse_state<A: Aggregate>(json: Option<&str>) -> Result<A, StoreError> {
    json.map_or(Ok(A::default()), |json| {
        serde_json::from_str(json).map_err(invalid)
    })
}

/// Recording events that change nothing a recording's retention is computed from (its
/// status, storage, schedule and destruction): plays and their refusals, above all, which are
/// most of a recording's events and are written while a viewer waits.
const RETENTION_NEUTRAL: &[&str] = &[
    "PlaybackStarted",
    "PlaybackRefused",
    "BookmarkAdded",
    "CommentAdded",
    "TranscriptAttached",
];

/// The projection's work for one batch of events (one append, or one event in a rebuild).
async fn apply_events<T: Tables + ?Sized>(
    tables: &mut T,
    events: &[RecordedEvent],
) -> Result<(), StoreError> {
    let mut by_stream: BTreeMap<(&TenantId, &StreamId), Vec<&RecordedEvent>> = BTreeMap::new();
    for event in events {
        by_stream
            .entry((&event.tenant_id, &event.stream_id))
            .or_default()
            .push(event);
    }
    let mut touched: Vec<(&TenantId, Input, Option<String>)> = Vec::new();
    for ((tenant, stream), events) in by_stream {
        let kind = kind_of(stream);
        let previous = tables.state(tenant, stream.as_str()).await?;
        let Some(json) = fold(kind, previous.as_ref().map(|(_, s)| s.as_str()), &events)? else {
            continue;
        };
        let version = events.last().map_or(0, |e| e.stream_version);
        tables
            .put_state(tenant, stream.as_str(), kind, &(version, json))
            .await?;
        let id = stream.as_str().split_once('-').map(|(_, id)| id.to_owned());
        match kind {
            "recording" => {
                let changes_retention = events
                    .iter()
                    .any(|e| !RETENTION_NEUTRAL.contains(&e.event_type.as_str()));
                if let (true, Some(id)) = (changes_retention, id) {
                    recompute_retention(tables, tenant, &id).await?;
                }
            }
            "consent" => touched.push((tenant, Input::Consent, id)),
            "course" => touched.push((tenant, Input::Course, id)),
            "tenant" => touched.push((tenant, Input::Policy, None)),
            _ => {}
        }
    }
    for (tenant, input, id) in touched {
        for recording in tables
            .recordings_reading(tenant, input, id.as_deref())
            .await?
        {
            recompute_retention(tables, tenant, &recording).await?;
        }
    }
    Ok(())
}

/// Computes a recording's retention from the states as they now stand and stores it.
async fn recompute_retention<T: Tables + ?Sized>(
    tables: &mut T,
    tenant: &TenantId,
    recording_id: &str,
) -> Result<(), StoreError> {
    let stored = tables
        .state(tenant, &format!("recording-{recording_id}"))
        .await?;
    let recording: Recording = parse_state(stored.as_ref().map(|(_, s)| s.as_str()))?;
    let Some(core) = recording.core() else {
        return Ok(());
    };
    let consent_stored = tables
        .state(tenant, &format!("consent-{}", core.consent_id))
        .await?;
    let consent: Consent = parse_state(consent_stored.as_ref().map(|(_, s)| s.as_str()))?;
    let course: Option<Course> = match core.course_id {
        Some(id) => {
            let stored = tables.state(tenant, &format!("course-{id}")).await?;
            Some(parse_state(stored.as_ref().map(|(_, s)| s.as_str()))?)
        }
        None => None,
    };
    let organisation = tables.state(tenant, "tenant").await?;
    let organisation: Tenant = parse_state(organisation.as_ref().map(|(_, s)| s.as_str()))?;
    let due = organisation
        .policy()
        .and_then(|p| destroy_after(&recording, Some(&consent), course.as_ref(), &p.policy));
    let row = RetentionRow {
        recording_id: recording_id.to_owned(),
        consent_id: core.consent_id.to_string(),
        course_id: core.course_id.map(|id| id.to_string()),
        destroy_after: due.map(|d| d.destroy_after),
        reason: due
            .map(|d| serde_json::to_string(&d.reason))
            .transpose()
            .map_err(invalid)?,
        scheduled_for: recording.scheduled_destruction().map(|(at, _)| at),
    };
    tables.put_retention(tenant, &row).await
}

/// The inline projection behind `aggregate_states` and `retention`. Register it on the store
/// (with the others: [`crate::WithReadModels`]); it is also an asynchronous projection, so that
/// a `ProjectionRunner` can rebuild both tables from the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct AggregateStates;

/// The backend's tables, in its dialect (parameters are numbered the same way in both).
macro_rules! states_for {
    ($db:ty, $conn:ty, $p:literal) => {
        #[async_trait]
        impl Tables for $conn {
            async fn state(
                &mut self,
                tenant: &TenantId,
                stream: &str,
            ) -> Result<Option<StoredState>, StoreError> {
                let row: Option<(i64, String)> = sqlx::query_as(concat!(
                    "SELECT version, state FROM aggregate_states WHERE tenant_id = ",
                    $p,
                    "1 AND stream_id = ",
                    $p,
                    "2"
                ))
                .bind(tenant.as_str())
                .bind(stream)
                .fetch_optional(&mut *self)
                .await?;
                Ok(row.map(|(version, state)| (version.unsigned_abs(), state)))
            }

            async fn put_state(
                &mut self,
                tenant: &TenantId,
                stream: &str,
                kind: &str,
                (version, state): &StoredState,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO aggregate_states (tenant_id, stream_id, kind, version, state) VALUES (",
                    $p, "1, ", $p, "2, ", $p, "3, ", $p, "4, ", $p, "5)
                     ON CONFLICT (tenant_id, stream_id)
                     DO UPDATE SET version = excluded.version, state = excluded.state"
                ))
                .bind(tenant.as_str())
                .bind(stream)
                .bind(kind)
                .bind(i64::try_from(*version).map_err(|e| StoreError::Invalid(e.to_string()))?)
                .bind(state)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn recordings_reading(
                &mut self,
                tenant: &TenantId,
                column: Input,
                id: Option<&str>,
            ) -> Result<Vec<String>, StoreError> {
                let query = match column {
                    Input::Consent => concat!(
                        "SELECT recording_id FROM retention WHERE tenant_id = ",
                        $p, "1 AND consent_id = ", $p, "2 ORDER BY recording_id"
                    ),
                    Input::Course => concat!(
                        "SELECT recording_id FROM retention WHERE tenant_id = ",
                        $p, "1 AND course_id = ", $p, "2 ORDER BY recording_id"
                    ),
                    Input::Policy => concat!(
                        "SELECT recording_id FROM retention WHERE tenant_id = ",
                        $p, "1 AND ", $p, "2 IS NULL ORDER BY recording_id"
                    ),
                };
                Ok(sqlx::query_scalar(query)
                    .bind(tenant.as_str())
                    .bind(id)
                    .fetch_all(&mut *self)
                    .await?)
            }

            async fn put_retention(
                &mut self,
                tenant: &TenantId,
                row: &RetentionRow,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO retention (tenant_id, recording_id, consent_id, course_id,
                         destroy_after, reason, scheduled_for) VALUES (",
                    $p, "1, ", $p, "2, ", $p, "3, ", $p, "4, ", $p, "5, ", $p, "6, ", $p, "7)
                     ON CONFLICT (tenant_id, recording_id) DO UPDATE SET
                         destroy_after = excluded.destroy_after, reason = excluded.reason,
                         scheduled_for = excluded.scheduled_for"
                ))
                .bind(tenant.as_str())
                .bind(&row.recording_id)
                .bind(&row.consent_id)
                .bind(&row.course_id)
                .bind(row.destroy_after)
                .bind(&row.reason)
                .bind(row.scheduled_for)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn reset(&mut self) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM aggregate_states")
                    .execute(&mut *self)
                    .await?;
                sqlx::query("DELETE FROM retention")
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl InlineProjection<$db> for AggregateStates {
            fn name(&self) -> &'static str {
                "aggregate_states"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                events: &[RecordedEvent],
            ) -> Result<(), StoreError> {
                apply_events(conn, events).await
            }
        }

        #[async_trait]
        impl AsyncProjection<$db> for AggregateStates {
            fn name(&self) -> &'static str {
                "aggregate_states"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                event: &RecordedEvent,
            ) -> Result<(), StoreError> {
                apply_events(conn, std::slice::from_ref(event)).await
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                Tables::reset(conn).await
            }
        }
    };
}

states_for!(Postgres, PgConnection, "$");
states_for!(Sqlite, SqliteConnection, "?");
