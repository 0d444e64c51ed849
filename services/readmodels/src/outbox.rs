//! The outbox of notices: an asynchronous projection ([`NoticeOutbox`]) turns the log's events
//! into messages by the domain's rules (`confide_domain::outbox::plan`), one row per message in
//! `notice_outbox`, its position committed in the same transaction as its rows and rebuildable
//! from the log. A message's id is derived from the event, the notice and the recipient, so
//! projecting an event again adds nothing. Its state follows the log too: the `NoticeDelivered`
//! and `NoticeFailed` events the sender records mark it delivered or failed.
//!
//! The sender's own bookkeeping (`notice_attempts`: attempts, backoff, a send in flight, the
//! outcome recorded) is not the projection's: a rebuild leaves it alone, so rebuilding the
//! outbox never sends a message again. Read and written through [`Outbox`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::course::Course;
use confide_domain::aggregates::grant::Grant;
use confide_domain::aggregates::message::MessageEvent;
use confide_domain::aggregates::notice_settings::NoticeSettings;
use confide_domain::aggregates::recording::Recording;
use confide_domain::aggregates::subject_request::SubjectRequest;
use confide_domain::aggregates::tenant::Tenant;
use confide_domain::outbox::{self, Cancel, Context, Recipient, StreamState};
use confide_domain::{ClientId, Event, Role, UserId, WebhookEndpointId};
use confide_eventstore::{
    AsyncProjection, PgEventStore, ProjectionRunner, RecordedEvent, SqliteEventStore, StoreError,
    TenantId,
};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

use crate::states::parse_state;

/// The projection's name, and its position's.
pub const OUTBOX_PROJECTION: &str = "notice_outbox";

/// One message of the outbox, with the sender's count of attempts.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub tenant_id: String,
    pub message_id: String,
    /// A `NoticeKind` name.
    pub notice: String,
    /// A `Recipient` key (`person:…`, `client:…`, `webhook:…`).
    pub recipient: String,
    pub source_event_id: String,
    pub source_sequence: i64,
    pub source_event_type: String,
    pub source_stream: String,
    pub due_at: DateTime<Utc>,
    /// `pending`, `cancelled`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// Set while a send is in flight (or was cut short by a crash).
    pub in_flight_since: Option<DateTime<Utc>>,
}

/// The outbox as the sender uses it.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Applies the projection to the next batch of the log; how many events it applied.
    async fn project_outbox(&self) -> Result<usize, StoreError>;

    /// Deletes the outbox's rows and replays the log (the sender's bookkeeping stays).
    async fn rebuild_outbox(&self) -> Result<usize, StoreError>;

    /// Pending messages due at `now`, of every tenant, soonest first: never one whose outcome
    /// is recorded, one waiting for its next attempt, or one in flight since `stale_before` or
    /// later (a send in progress elsewhere); one in flight since before it was cut short.
    async fn due_messages(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// Claims a message for one attempt before it leaves: its attempt count, or none if it is
    /// in flight, waiting, or finished. The claim is committed before anything is sent.
    async fn claim_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;

    /// Releases a claim after a failed attempt, to be tried again at `next_attempt_at`.
    async fn retry_message_at(
        &self,
        tenant: &TenantId,
        message_id: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Marks a message finished once its outcome is recorded in the log.
    async fn finish_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// A tenant's messages, in the order of the events they answer (for operators and tests).
    async fn outbox_messages(&self, tenant: &TenantId) -> Result<Vec<OutboxRow>, StoreError>;
}

/// The asynchronous projection behind `notice_outbox`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoticeOutbox;

/// What the projection needs of a backend, inside its transaction.
#[async_trait]
trait OutboxTables: Send {
    async fn state_json(
        &mut self,
        tenant: &TenantId,
        stream: &str,
    ) -> Result<Option<String>, StoreError>;
    async fn insert(
        &mut self,
        event: &RecordedEvent,
        intent: &outbox::Intent,
    ) -> Result<(), StoreError>;
    async fn cancel_in_stream(
        &mut self,
        tenant: &TenantId,
        stream: &str,
        notice: &str,
    ) -> Result<(), StoreError>;
    async fn cancel_to(&mut self, tenant: &TenantId, recipient: &str) -> Result<(), StoreError>;
    async fn set_state(
        &mut self,
        tenant: &TenantId,
        message_id: &str,
        state: &str,
    ) -> Result<(), StoreError>;
    async fn reset(&mut self) -> Result<(), StoreError>;
}

/// Reads a stored state (the default when the stream does not exist).
async fn load<A: confide_domain::Aggregate, T: OutboxTables + ?Sized>(
    tables: &mut T,
    tenant: &TenantId,
    stream: &str,
) -> Result<A, StoreError> {
    let json = tables.state_json(tenant, stream).await?;
    parse_state(json.as_deref())
}

/// The projection's work for one event.
async fn project<T: OutboxTables + ?Sized>(
    tables: &mut T,
    stored: &RecordedEvent,
) -> Result<(), StoreError> {
    // An event this build cannot read names no one this build could tell.
    let Ok(event) = Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload)
    else {
        return Ok(());
    };
    let tenant = &stored.tenant_id;
    let stream = stored.stream_id.as_str();
    match &event {
        Event::Message(MessageEvent::NoticeDelivered { message_id, .. }) => {
            return tables
                .set_state(tenant, &message_id.to_string(), "delivered")
                .await;
        }
        Event::Message(MessageEvent::NoticeFailed { message_id, .. }) => {
            return tables
                .set_state(tenant, &message_id.to_string(), "failed")
                .await;
        }
        _ => {}
    }
    let (consent, grant, course, recording, request): (
        Consent,
        Grant,
        Course,
        Recording,
        SubjectRequest,
    );
    let state = if outbox::needs_state(&stored.event_type) {
        match event.stream_kind() {
            "consent" => {
                consent = load(tables, tenant, stream).await?;
                StreamState::Consent(&consent)
            }
            "grant" => {
                grant = load(tables, tenant, stream).await?;
                StreamState::Grant(&grant)
            }
            "course" => {
                course = load(tables, tenant, stream).await?;
                StreamState::Course(&course)
            }
            "recording" => {
                recording = load(tables, tenant, stream).await?;
                StreamState::Recording(&recording)
            }
            "subject_request" => {
                request = load(tables, tenant, stream).await?;
                StreamState::SubjectRequest(&request)
            }
            _ => StreamState::None,
        }
    } else if let Some(id) = stream.strip_prefix("client-")
        && let Ok(client_id) = ClientId::parse(id)
    {
        StreamState::Client(client_id)
    } else {
        StreamState::None
    };
    let admins: Vec<UserId> = if outbox::needs_admins(&stored.event_type) {
        let organisation: Tenant = load(tables, tenant, "tenant").await?;
        organisation
            .members_with_role(Role::OrgAdmin)
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let context = Context {
        event_id: stored.event_id,
        recorded_at: stored.recorded_at,
        stream: state,
        admins: &admins,
        endpoints: &[],
    };
    let mut plan = outbox::plan(&event, &context);
    if !plan.send.is_empty() {
        // Only an event that tells someone something is announced to the endpoints.
        let settings: NoticeSettings = load(tables, tenant, "notice_settings").await?;
        let endpoints: Vec<WebhookEndpointId> = settings.endpoints().keys().copied().collect();
        if !endpoints.is_empty() {
            plan = outbox::plan(
                &event,
                &Context {
                    endpoints: &endpoints,
                    ..context
                },
            );
        }
    }
    for cancel in &plan.cancel {
        match cancel {
            Cancel::SameStream(notices) => {
                for notice in notices {
                    tables
                        .cancel_in_stream(tenant, stream, notice.as_str())
                        .await?;
                }
            }
            Cancel::Client(client_id) => {
                let recipient = Recipient::Client {
                    client_id: *client_id,
                };
                tables.cancel_to(tenant, &recipient.key()).await?;
            }
        }
    }
    for intent in &plan.send {
        tables.insert(stored, intent).await?;
    }
    Ok(())
}

/// The projection and its tables for one backend, in its dialect.
macro_rules! outbox_for {
    ($db:ty, $conn:ty, $p:literal) => {
        #[async_trait]
        impl OutboxTables for $conn {
            async fn state_json(
                &mut self,
                tenant: &TenantId,
                stream: &str,
            ) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar(concat!(
                    "SELECT state FROM aggregate_states WHERE tenant_id = ",
                    $p,
                    "1 AND stream_id = ",
                    $p,
                    "2"
                ))
                .bind(tenant.as_str())
                .bind(stream)
                .fetch_optional(&mut *self)
                .await?)
            }

            async fn insert(
                &mut self,
                event: &RecordedEvent,
                intent: &outbox::Intent,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO notice_outbox (tenant_id, message_id, notice, recipient,
                         source_event_id, source_sequence, source_event_type, source_stream,
                         due_at, state)
                     VALUES (",
                    $p,
                    "1, ",
                    $p,
                    "2, ",
                    $p,
                    "3, ",
                    $p,
                    "4, ",
                    $p,
                    "5, ",
                    $p,
                    "6, ",
                    $p,
                    "7, ",
                    $p,
                    "8, ",
                    $p,
                    "9, 'pending')
                     ON CONFLICT (tenant_id, message_id) DO NOTHING"
                ))
                .bind(event.tenant_id.as_str())
                .bind(intent.message_id.to_string())
                .bind(intent.notice.as_str())
                .bind(intent.recipient.key())
                .bind(event.event_id.hyphenated().to_string())
                .bind(
                    i64::try_from(event.sequence)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                )
                .bind(&event.event_type)
                .bind(event.stream_id.as_str())
                .bind(intent.due)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn cancel_in_stream(
                &mut self,
                tenant: &TenantId,
                stream: &str,
                notice: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "UPDATE notice_outbox SET state = 'cancelled'
                      WHERE tenant_id = ",
                    $p,
                    "1 AND source_stream = ",
                    $p,
                    "2
                        AND notice = ",
                    $p,
                    "3 AND state = 'pending'"
                ))
                .bind(tenant.as_str())
                .bind(stream)
                .bind(notice)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn cancel_to(
                &mut self,
                tenant: &TenantId,
                recipient: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "UPDATE notice_outbox SET state = 'cancelled'
                      WHERE tenant_id = ",
                    $p,
                    "1 AND recipient = ",
                    $p,
                    "2 AND state = 'pending'"
                ))
                .bind(tenant.as_str())
                .bind(recipient)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn set_state(
                &mut self,
                tenant: &TenantId,
                message_id: &str,
                state: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "UPDATE notice_outbox SET state = ",
                    $p,
                    "3
                      WHERE tenant_id = ",
                    $p,
                    "1 AND message_id = ",
                    $p,
                    "2"
                ))
                .bind(tenant.as_str())
                .bind(message_id)
                .bind(state)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn reset(&mut self) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM notice_outbox")
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl AsyncProjection<$db> for NoticeOutbox {
            fn name(&self) -> &'static str {
                OUTBOX_PROJECTION
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                event: &RecordedEvent,
            ) -> Result<(), StoreError> {
                project(conn, event).await
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                OutboxTables::reset(conn).await
            }
        }
    };
}

outbox_for!(Postgres, PgConnection, "$");
outbox_for!(Sqlite, SqliteConnection, "?");

/// How many events the projection applies per transaction.
const OUTBOX_BATCH: usize = 500;

// The sender's statements. Both dialects take the same text except for the placeholders and
// PostgreSQL's integer width.
const DUE_SQLITE: &str =
    "SELECT o.tenant_id, o.message_id, o.notice, o.recipient, o.source_event_id,
        o.source_sequence, o.source_event_type, o.source_stream, o.due_at, o.state,
        COALESCE(a.attempts, 0) AS attempts, a.in_flight_since
   FROM notice_outbox o
   LEFT JOIN notice_attempts a ON a.tenant_id = o.tenant_id AND a.message_id = o.message_id
  WHERE o.state = 'pending' AND o.due_at <= ?1
    AND (a.finished_at IS NULL)
    AND (a.next_attempt_at IS NULL OR a.next_attempt_at <= ?1)
    AND (a.in_flight_since IS NULL OR a.in_flight_since < ?2)
  ORDER BY o.due_at, o.tenant_id, o.source_sequence, o.message_id
  LIMIT ?3";
const DUE_POSTGRES: &str =
    "SELECT o.tenant_id, o.message_id, o.notice, o.recipient, o.source_event_id,
        o.source_sequence, o.source_event_type, o.source_stream, o.due_at, o.state,
        COALESCE(a.attempts, 0)::bigint AS attempts, a.in_flight_since
   FROM notice_outbox o
   LEFT JOIN notice_attempts a ON a.tenant_id = o.tenant_id AND a.message_id = o.message_id
  WHERE o.state = 'pending' AND o.due_at <= $1
    AND (a.finished_at IS NULL)
    AND (a.next_attempt_at IS NULL OR a.next_attempt_at <= $1)
    AND (a.in_flight_since IS NULL OR a.in_flight_since < $2)
  ORDER BY o.due_at, o.tenant_id, o.source_sequence, o.message_id
  LIMIT $3";
const CLAIM_SQLITE: &str =
    "INSERT INTO notice_attempts (tenant_id, message_id, attempts, in_flight_since)
     VALUES (?1, ?2, 1, ?3)
     ON CONFLICT (tenant_id, message_id) DO UPDATE
        SET attempts = notice_attempts.attempts + 1, in_flight_since = excluded.in_flight_since
      WHERE notice_attempts.finished_at IS NULL AND notice_attempts.in_flight_since IS NULL
        AND (notice_attempts.next_attempt_at IS NULL OR notice_attempts.next_attempt_at <= ?3)
     RETURNING attempts";
const CLAIM_POSTGRES: &str =
    "INSERT INTO notice_attempts (tenant_id, message_id, attempts, in_flight_since)
     VALUES ($1, $2, 1, $3)
     ON CONFLICT (tenant_id, message_id) DO UPDATE
        SET attempts = notice_attempts.attempts + 1, in_flight_since = excluded.in_flight_since
      WHERE notice_attempts.finished_at IS NULL AND notice_attempts.in_flight_since IS NULL
        AND (notice_attempts.next_attempt_at IS NULL OR notice_attempts.next_attempt_at <= $3)
     RETURNING attempts::bigint";
const RETRY: &str = "UPDATE notice_attempts
    SET in_flight_since = NULL, next_attempt_at = $3, last_error = $4
  WHERE tenant_id = $1 AND message_id = $2";
const FINISH: &str = "UPDATE notice_attempts SET in_flight_since = NULL, finished_at = $3
  WHERE tenant_id = $1 AND message_id = $2";
const FINISH_UNCLAIMED: &str = "INSERT INTO notice_attempts (tenant_id, message_id, finished_at)
     VALUES ($1, $2, $3) ON CONFLICT (tenant_id, message_id) DO NOTHING";
const MESSAGES_SQLITE: &str =
    "SELECT o.tenant_id, o.message_id, o.notice, o.recipient, o.source_event_id,
        o.source_sequence, o.source_event_type, o.source_stream, o.due_at, o.state,
        COALESCE(a.attempts, 0) AS attempts, a.in_flight_since
   FROM notice_outbox o
   LEFT JOIN notice_attempts a ON a.tenant_id = o.tenant_id AND a.message_id = o.message_id
  WHERE o.tenant_id = ?1
  ORDER BY o.source_sequence, o.message_id";
const MESSAGES_POSTGRES: &str =
    "SELECT o.tenant_id, o.message_id, o.notice, o.recipient, o.source_event_id,
        o.source_sequence, o.source_event_type, o.source_stream, o.due_at, o.state,
        COALESCE(a.attempts, 0)::bigint AS attempts, a.in_flight_since
   FROM notice_outbox o
   LEFT JOIN notice_attempts a ON a.tenant_id = o.tenant_id AND a.message_id = o.message_id
  WHERE o.tenant_id = $1
  ORDER BY o.source_sequence, o.message_id";

/// A PostgreSQL transaction that sees every tenant (the sender works across them).
async fn all_tenants(
    store: &PgEventStore,
) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query("SELECT set_config('confide.all_tenants', 'on', true)")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

#[async_trait]
impl Outbox for PgEventStore {
    async fn project_outbox(&self) -> Result<usize, StoreError> {
        ProjectionRunner::new(
            std::sync::Arc::new(self.clone()),
            std::sync::Arc::new(NoticeOutbox),
        )
        .with_batch_size(OUTBOX_BATCH)
        .run_once()
        .await
    }

    async fn rebuild_outbox(&self) -> Result<usize, StoreError> {
        ProjectionRunner::new(
            std::sync::Arc::new(self.clone()),
            std::sync::Arc::new(NoticeOutbox),
        )
        .with_batch_size(OUTBOX_BATCH)
        .rebuild()
        .await
    }

    async fn due_messages(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = all_tenants(self).await?;
        let rows = sqlx::query_as(DUE_POSTGRES)
            .bind(now)
            .bind(stale_before)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn claim_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let attempts = sqlx::query_scalar(CLAIM_POSTGRES)
            .bind(tenant.as_str())
            .bind(message_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(attempts)
    }

    async fn retry_message_at(
        &self,
        tenant: &TenantId,
        message_id: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(RETRY)
            .bind(tenant.as_str())
            .bind(message_id)
            .bind(next_attempt_at)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        for statement in [FINISH, FINISH_UNCLAIMED] {
            sqlx::query(statement)
                .bind(tenant.as_str())
                .bind(message_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn outbox_messages(&self, tenant: &TenantId) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(MESSAGES_POSTGRES)
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// SQLite's statements are PostgreSQL's with `?` for `$`.
fn sqlite(statement: &str) -> String {
    statement.replace('$', "?")
}

#[async_trait]
impl Outbox for SqliteEventStore {
    async fn project_outbox(&self) -> Result<usize, StoreError> {
        ProjectionRunner::new(
            std::sync::Arc::new(self.clone()),
            std::sync::Arc::new(NoticeOutbox),
        )
        .with_batch_size(OUTBOX_BATCH)
        .run_once()
        .await
    }

    async fn rebuild_outbox(&self) -> Result<usize, StoreError> {
        ProjectionRunner::new(
            std::sync::Arc::new(self.clone()),
            std::sync::Arc::new(NoticeOutbox),
        )
        .with_batch_size(OUTBOX_BATCH)
        .rebuild()
        .await
    }

    async fn due_messages(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(sqlx::query_as(DUE_SQLITE)
            .bind(now)
            .bind(stale_before)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    async fn claim_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(CLAIM_SQLITE)
            .bind(tenant.as_str())
            .bind(message_id)
            .bind(now)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn retry_message_at(
        &self,
        tenant: &TenantId,
        message_id: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(&sqlite(RETRY))
            .bind(tenant.as_str())
            .bind(message_id)
            .bind(next_attempt_at)
            .bind(error)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn finish_message(
        &self,
        tenant: &TenantId,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for statement in [FINISH, FINISH_UNCLAIMED] {
            sqlx::query(&sqlite(statement))
                .bind(tenant.as_str())
                .bind(message_id)
                .bind(now)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    async fn outbox_messages(&self, tenant: &TenantId) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(sqlx::query_as(MESSAGES_SQLITE)
            .bind(tenant.as_str())
            .fetch_all(self.pool())
            .await?)
    }
}
