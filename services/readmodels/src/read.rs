//! Reading the strongly consistent read models ([`ReadModels`]): which streams concern what
//! (`stream_links`), each stream's state (`aggregate_states`) and each recording's retention
//! (`retention`). On PostgreSQL every read runs in a transaction scoped to its tenant, so
//! row-level security applies.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use confide_eventstore::{PgEventStore, SqliteEventStore, StoreError, StreamId, TenantId};

use crate::directory::{ClientDirectory, PagedReads};
use crate::leases::Leases;
use crate::links::Subject;
use crate::migrations;
use crate::outbox::Outbox;
use crate::sessions::Sessions;
use crate::states::StoredState;
use crate::{AggregateStates, Memberships, StreamLinks};

/// A recording whose destruction falls due, as `retention` has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueRow {
    pub recording_id: String,
    pub destroy_after: DateTime<Utc>,
    /// A `DestructionReason` as JSON.
    pub reason: String,
    /// The destruction already scheduled on the recording, if any.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// The read models the application decides from. They are written in the append's own
/// transaction, so what they return is never older than the log at the time of the read.
/// Lists read a page at a time through [`PagedReads`].
#[async_trait]
pub trait ReadModels: PagedReads + Leases + Outbox + Sessions + Send + Sync {
    /// Whether every read-model migration this build embeds is applied unchanged
    /// ([`StoreError::NotReady`] naming the first that is not): the read models' part of
    /// `/ready`, next to the log's `EventStore::ready`.
    async fn read_models_ready(&self) -> Result<(), StoreError>;

    /// A stream's state and version; none if the stream does not exist.
    async fn state(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<StoredState>, StoreError>;

    /// The states of the streams of `kind` linked to `subject`, by stream name.
    async fn linked_states(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError>;

    /// The states of several streams, in the order asked; none for one that does not exist.
    /// One round trip where the backend allows it.
    async fn states(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> Result<Vec<Option<StoredState>>, StoreError> {
        let mut found = Vec::with_capacity(streams.len());
        for stream in streams {
            found.push(self.state(tenant, stream).await?);
        }
        Ok(found)
    }

    /// [`ReadModels::linked_states`] for several (subject, kind) pairs, in the order asked.
    /// One round trip where the backend allows it.
    async fn linked_states_of(
        &self,
        tenant: &TenantId,
        wanted: &[(Subject, &str)],
    ) -> Result<Vec<Vec<(StreamId, StoredState)>>, StoreError> {
        let mut found = Vec::with_capacity(wanted.len());
        for (subject, kind) in wanted {
            found.push(self.linked_states(tenant, subject, kind).await?);
        }
        Ok(found)
    }

    /// The states of every stream of `kind` in the tenant, by stream name.
    async fn states_of_kind(
        &self,
        tenant: &TenantId,
        kind: &str,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError>;

    /// Recordings whose destroy-after is before `before`, soonest first.
    async fn due_before(
        &self,
        tenant: &TenantId,
        before: DateTime<Utc>,
    ) -> Result<Vec<DueRow>, StoreError>;
}

type StateRow = (String, i64, String);
type DueTuple = (String, DateTime<Utc>, String, Option<DateTime<Utc>>);

fn states(rows: Vec<StateRow>) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
    rows.into_iter()
        .map(|(stream, version, state)| {
            Ok((StreamId::parse(&stream)?, (version.unsigned_abs(), state)))
        })
        .collect()
}

fn due(rows: Vec<DueTuple>) -> Vec<DueRow> {
    rows.into_iter()
        .map(
            |(recording_id, destroy_after, reason, scheduled_for)| DueRow {
                recording_id,
                destroy_after,
                reason,
                scheduled_for,
            },
        )
        .collect()
}

// SQLite's reads (PostgreSQL calls the functions of migrations 0008 and 0009 instead). SQLite
// runs in the process, so the batched reads are the trait's loops over these.
const LINKED_STATES: &str = "SELECT l.stream_id, s.version, s.state
       FROM stream_links l
       JOIN aggregate_states s ON s.tenant_id = l.tenant_id AND s.stream_id = l.stream_id
      WHERE l.tenant_id = ?1 AND l.subject = ?2 AND s.kind = ?3
      ORDER BY l.stream_id";
const STATES_OF_KIND: &str = "SELECT stream_id, version, state
       FROM aggregate_states
      WHERE tenant_id = ?1 AND kind = ?2
      ORDER BY stream_id";
const DUE_BEFORE: &str = "SELECT recording_id, destroy_after, reason, scheduled_for
       FROM retention
      WHERE tenant_id = ?1 AND destroy_after < ?2
      ORDER BY destroy_after, recording_id";

/// On PostgreSQL each read is one call of a function that sets the tenant for row-level
/// security and selects (migrations 0008 and 0009): one round trip, in the statement's own
/// transaction.
#[async_trait]
impl ReadModels for PgEventStore {
    async fn read_models_ready(&self) -> Result<(), StoreError> {
        self.check_migrations(&migrations::POSTGRES).await
    }

    async fn state(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<StoredState>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as("SELECT * FROM confide_state($1, $2)")
            .bind(tenant.as_str())
            .bind(stream.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(version, state)| (version.unsigned_abs(), state)))
    }

    async fn states(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> Result<Vec<Option<StoredState>>, StoreError> {
        let names: Vec<&str> = streams.iter().map(StreamId::as_str).collect();
        let rows: Vec<StateRow> = sqlx::query_as("SELECT * FROM confide_states($1, $2)")
            .bind(tenant.as_str())
            .bind(&names)
            .fetch_all(self.pool())
            .await?;
        let found: HashMap<String, StoredState> = rows
            .into_iter()
            .map(|(stream, version, state)| (stream, (version.unsigned_abs(), state)))
            .collect();
        Ok(names.iter().map(|name| found.get(*name).cloned()).collect())
    }

    async fn linked_states_of(
        &self,
        tenant: &TenantId,
        wanted: &[(Subject, &str)],
    ) -> Result<Vec<Vec<(StreamId, StoredState)>>, StoreError> {
        let subjects: Vec<String> = wanted.iter().map(|(s, _)| s.key()).collect();
        let kinds: Vec<&str> = wanted.iter().map(|(_, k)| *k).collect();
        let rows: Vec<(i32, String, i64, String)> =
            sqlx::query_as("SELECT * FROM confide_linked_states_of($1, $2, $3)")
                .bind(tenant.as_str())
                .bind(&subjects)
                .bind(&kinds)
                .fetch_all(self.pool())
                .await?;
        let mut found = vec![Vec::new(); wanted.len()];
        for (wanted, stream, version, state) in rows {
            let slot = usize::try_from(wanted - 1)
                .ok()
                .and_then(|i| found.get_mut(i))
                .ok_or_else(|| {
                    StoreError::Integrity(format!("a linked state for pair {wanted}"))
                })?;
            slot.push((StreamId::parse(&stream)?, (version.unsigned_abs(), state)));
        }
        Ok(found)
    }

    async fn linked_states(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as("SELECT * FROM confide_linked_states($1, $2, $3)")
            .bind(tenant.as_str())
            .bind(subject.key())
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }

    async fn states_of_kind(
        &self,
        tenant: &TenantId,
        kind: &str,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as("SELECT * FROM confide_states_of_kind($1, $2)")
            .bind(tenant.as_str())
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }

    async fn due_before(
        &self,
        tenant: &TenantId,
        before: DateTime<Utc>,
    ) -> Result<Vec<DueRow>, StoreError> {
        let rows: Vec<DueTuple> = sqlx::query_as("SELECT * FROM confide_due_before($1, $2)")
            .bind(tenant.as_str())
            .bind(before)
            .fetch_all(self.pool())
            .await?;
        Ok(due(rows))
    }
}

#[async_trait]
impl ReadModels for SqliteEventStore {
    async fn read_models_ready(&self) -> Result<(), StoreError> {
        self.check_migrations(&migrations::SQLITE).await
    }

    async fn state(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<StoredState>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, state FROM aggregate_states WHERE tenant_id = ?1 AND stream_id = ?2",
        )
        .bind(tenant.as_str())
        .bind(stream.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(version, state)| (version.unsigned_abs(), state)))
    }

    async fn linked_states(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(LINKED_STATES)
            .bind(tenant.as_str())
            .bind(subject.key())
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }

    async fn states_of_kind(
        &self,
        tenant: &TenantId,
        kind: &str,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(STATES_OF_KIND)
            .bind(tenant.as_str())
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }

    async fn due_before(
        &self,
        tenant: &TenantId,
        before: DateTime<Utc>,
    ) -> Result<Vec<DueRow>, StoreError> {
        let rows: Vec<DueTuple> = sqlx::query_as(DUE_BEFORE)
            .bind(tenant.as_str())
            .bind(before)
            .fetch_all(self.pool())
            .await?;
        Ok(due(rows))
    }
}

/// Registers every inline read model the application decides from, in the order they depend
/// on each other, and applies the read models' migrations. A store the application
/// (`confide_app::App`) uses must be opened through this, and migrated after the log
/// (`migrate`) and the key store.
#[async_trait]
pub trait WithReadModels: Sized + Send + Sync {
    fn with_read_models(self) -> Self;

    /// Applies the read models' migrations (`services/readmodels/migrations`) that have not
    /// been applied yet; after the log's (`migrate`) and the key store's, as
    /// `confide_app::App::open` runs them.
    async fn migrate_read_models(&self) -> Result<(), StoreError>;
}

#[async_trait]
impl WithReadModels for PgEventStore {
    fn with_read_models(self) -> Self {
        self.with_inline_projection(Arc::new(StreamLinks))
            .with_inline_projection(Arc::new(Memberships))
            .with_inline_projection(Arc::new(AggregateStates))
            .with_inline_projection(Arc::new(ClientDirectory))
    }

    async fn migrate_read_models(&self) -> Result<(), StoreError> {
        self.apply_migrations(&migrations::POSTGRES).await
    }
}

#[async_trait]
impl WithReadModels for SqliteEventStore {
    fn with_read_models(self) -> Self {
        self.with_inline_projection(Arc::new(StreamLinks))
            .with_inline_projection(Arc::new(Memberships))
            .with_inline_projection(Arc::new(AggregateStates))
            .with_inline_projection(Arc::new(ClientDirectory))
    }

    async fn migrate_read_models(&self) -> Result<(), StoreError> {
        self.apply_migrations(&migrations::SQLITE).await
    }
}
