//! The SQLite event store: the embedded default.
//!
//! SQLite has one writer at a time. Appends run on a pool of exactly one connection, each in a
//! `BEGIN IMMEDIATE` transaction that holds the database's write lock from its first read, so
//! reading the head, planning and writing cannot interleave with another append, in this
//! process or another. Reads use a separate pool and see committed data only (WAL mode).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use confide_audit::merkle::{Frontier, Hash, NodeId};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::layout;
use crate::metrics;
use crate::plan::{self, AppendState, Plan, WritePlan};
use crate::projection::{InlineProjection, ProjectionHost, inline_span};
use crate::row::CheckpointRow;
use crate::row::{
    EVENT_COLUMNS, EventRow, into_events, stored_checkpoint, to_hash, to_i64, to_u64,
};
use crate::store::{AppliedMigration, migrations_applied};
use crate::{
    AppendRequest, AppendResult, EventStore, GlobalPosition, RecordedEvent, StoreError,
    StoredCheckpoint, StreamId, TenantId, TreeHead, Upcasters,
};

/// The log's SQLite schema, embedded in the binary. The key store's and the read models'
/// migrations share the database and its `_sqlx_migrations` table, each with a migrator of
/// its own, so the versions this one does not know are theirs, not missing.
pub(crate) static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../schema/migrations/sqlite")
};

#[derive(Clone)]
pub struct SqliteEventStore {
    writer: SqlitePool,
    reader: SqlitePool,
    upcasters: Upcasters,
    inline: Vec<Arc<dyn InlineProjection<Sqlite>>>,
    appended: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field(
                "inline",
                &self.inline.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field("upcasters", &self.upcasters)
            .finish_non_exhaustive()
    }
}

impl SqliteEventStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An acknowledged append survives a power cut, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self {
            writer,
            reader,
            upcasters: Upcasters::new(),
            inline: Vec::new(),
            appended: Arc::new(watch::channel(0).0),
        })
    }

    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    pub fn with_inline_projection(mut self, projection: Arc<dyn InlineProjection<Sqlite>>) -> Self {
        self.inline.push(projection);
        self
    }

    /// The pool for reads; writes go through the store.
    pub fn pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// Applies the log's embedded migrations (`schema/migrations`) that have not been applied
    /// yet. The key store and the read models apply theirs with [`Self::apply_migrations`].
    #[tracing::instrument(
        name = "eventstore.migrate",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite")
    )]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.apply_migrations(&MIGRATOR).await
    }

    /// Applies the migrations of `migrator` that have not been applied yet, on the writer:
    /// how the crates that keep tables of their own in this database (the key store, the read
    /// models) migrate them. `migrator` must ignore the versions it does not know
    /// (`ignore_missing`), which are the log's and the other crates'.
    pub async fn apply_migrations(&self, migrator: &Migrator) -> Result<(), StoreError> {
        migrator
            .run(&self.writer)
            .await
            .map_err(StoreError::unexpected)
    }

    /// Whether every migration of `migrator` is applied, succeeded and has the checksum it has
    /// in this build ([`StoreError::NotReady`] naming the first that is not); what
    /// [`EventStore::ready`] checks for the log's own migrator.
    pub async fn check_migrations(&self, migrator: &Migrator) -> Result<(), StoreError> {
        let mut conn = self.reader.acquire().await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&mut *conn)
        .await?;
        let applied: Vec<AppliedMigration> = if exists {
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&mut *conn)
                .await?
        } else {
            Vec::new()
        };
        migrations_applied(migrator, &applied)
    }

    #[tracing::instrument(
        name = "eventstore.events_by_id",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant,
            events = ids.len(),
        )
    )]
    async fn events_by_id(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<EventRow> = sqlx::query_as(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE tenant_id = ?1 AND event_id = ?2"
            ))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            rows.extend(row);
        }
        into_events(rows, &Upcasters::new())
    }
}

async fn read_state(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    request: &AppendRequest,
) -> Result<AppendState, StoreError> {
    let size: Option<i64> =
        sqlx::query_scalar("SELECT tree_size FROM tenant_heads WHERE tenant_id = ?1")
            .bind(tenant.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let size = size.map_or(0, to_u64);
    let edge = layout::right_edge(size);
    let found = nodes_in(conn, tenant, &edge).await?;
    let hashes = edge
        .iter()
        .map(|id| {
            found.get(id).copied().ok_or_else(|| {
                StoreError::Integrity(format!("tenant {tenant}'s tree is missing node {id:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let frontier = Frontier::from_parts(size, hashes)
        .map_err(|e| StoreError::Integrity(format!("tenant {tenant}'s head is corrupt: {e}")))?;
    let mut stream_versions = HashMap::new();
    for stream in plan::streams_to_read(request) {
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT max(stream_version) FROM events WHERE tenant_id = ?1 AND stream_id = ?2",
        )
        .bind(tenant.as_str())
        .bind(stream.as_str())
        .fetch_one(&mut *conn)
        .await?;
        stream_versions.insert(stream, version.map_or(0, to_u64));
    }
    let mut existing_events = HashSet::new();
    for id in plan::event_ids(request) {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM events WHERE tenant_id = ?1 AND event_id = ?2")
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        if found.is_some() {
            existing_events.insert(id);
        }
    }
    Ok(AppendState {
        frontier,
        stream_versions,
        existing_events,
    })
}

/// Node hashes from the events that store them (see `layout`); missing ones are left out.
async fn nodes_in(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let mut found = HashMap::with_capacity(ids.len());
    for id in ids {
        let Some(sequence) = layout::stored_at(*id) else {
            continue;
        };
        let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT leaf_hash, subtree_roots FROM events WHERE tenant_id = ?1 AND sequence = ?2",
        )
        .bind(tenant.as_str())
        .bind(to_i64(sequence))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(hash) =
            row.and_then(|(leaf, roots)| layout::hash_in_row(id.level, &leaf, &roots))
        {
            found.insert(*id, hash);
        }
    }
    Ok(found)
}

async fn write(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    plan: &WritePlan,
) -> Result<(), StoreError> {
    let moved = sqlx::query(
        "INSERT INTO tenant_heads (tenant_id, tree_size, root_hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE
            SET tree_size = excluded.tree_size, root_hash = excluded.root_hash,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
          WHERE tenant_heads.tree_size = ?4",
    )
    .bind(tenant.as_str())
    .bind(to_i64(plan.new_size))
    .bind(plan.root.as_slice())
    .bind(to_i64(plan.old_size))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved != 1 {
        // The write lock was held since the head was read, so this means corruption.
        return Err(StoreError::Integrity(format!(
            "tenant {tenant}'s head moved during a locked append"
        )));
    }
    for (offset, event) in plan.events.iter().enumerate() {
        sqlx::query(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}, subtree_roots)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))
        .bind(tenant.as_str())
        .bind(to_i64(plan.old_size + offset as u64))
        .bind(event.event_id)
        .bind(event.stream_id.as_str())
        .bind(to_i64(event.stream_version))
        .bind(&event.event_type)
        .bind(event.schema_version as i32)
        .bind(&event.payload)
        .bind(&event.metadata)
        .bind(plan.recorded_at)
        .bind(event.leaf_hash.as_slice())
        .bind(event.subtree_roots.as_slice())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl EventStore for SqliteEventStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.check_migrations(&MIGRATOR).await
    }

    #[tracing::instrument(
        name = "eventstore.append",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant,
            events = request.event_count(),
        )
    )]
    async fn append(
        &self,
        tenant: &TenantId,
        request: AppendRequest,
    ) -> Result<AppendResult, StoreError> {
        plan::validate(&request)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let state = read_state(&mut tx, tenant, &request).await?;
        match plan::plan(tenant, &request, state)? {
            Plan::AlreadyStored => {
                tx.rollback().await?;
                let stored = self
                    .events_by_id(tenant, &plan::event_ids(&request))
                    .await?;
                plan::replayed_result(&request, &stored)
            }
            Plan::Write(plan) => {
                write(&mut tx, tenant, &plan).await?;
                if !self.inline.is_empty() {
                    let events = plan.recorded(tenant, &request);
                    for projection in &self.inline {
                        projection
                            .apply(&mut tx, &events)
                            .instrument(inline_span(projection.name(), events.len()))
                            .await?;
                    }
                }
                tx.commit().await?;
                self.appended.send_modify(|n| *n = n.wrapping_add(1));
                metrics::appended("sqlite", &plan);
                Ok(plan.result)
            }
        }
    }

    #[tracing::instrument(
        name = "eventstore.read_stream",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant, stream = %stream,
            from_version = from_version, limit = limit, events = tracing::field::Empty,
        )
    )]
    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
              WHERE tenant_id = ?1 AND stream_id = ?2 AND stream_version >= ?3
              ORDER BY stream_version LIMIT ?4"
        ))
        .bind(tenant.as_str())
        .bind(stream.as_str())
        .bind(to_i64(from_version))
        .bind(to_i64(limit as u64))
        .fetch_all(&self.reader)
        .await?;
        tracing::Span::current().record("events", rows.len());
        into_events(rows, &self.upcasters)
    }

    #[tracing::instrument(
        name = "eventstore.read_tenant",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant,
            from_sequence = from_sequence, limit = limit, events = tracing::field::Empty,
        )
    )]
    async fn read_tenant(
        &self,
        tenant: &TenantId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let events =
            read_tenant_in(&mut conn, tenant, from_sequence, limit, &self.upcasters).await?;
        tracing::Span::current().record("events", events.len());
        Ok(events)
    }

    #[tracing::instrument(
        name = "eventstore.read_all",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", limit = limit)
    )]
    async fn read_all(
        &self,
        position: &GlobalPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        self.read_all_in(&mut conn, position, limit).await
    }

    #[tracing::instrument(
        name = "eventstore.tenant_sizes",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite")
    )]
    async fn tenant_sizes(&self) -> Result<Vec<(TenantId, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, tree_size FROM tenant_heads ORDER BY tenant_id")
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter()
            .map(|(tenant, size)| Ok((TenantId::parse(&tenant)?, to_u64(size))))
            .collect()
    }

    #[tracing::instrument(
        name = "eventstore.tree_head",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant)
    )]
    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT tree_size, root_hash FROM tenant_heads WHERE tenant_id = ?1")
                .bind(tenant.as_str())
                .fetch_optional(&self.reader)
                .await?;
        row.map(|(size, root)| {
            Ok(TreeHead {
                size: to_u64(size),
                root: to_hash(&root)?,
            })
        })
        .transpose()
    }

    #[tracing::instrument(
        name = "eventstore.nodes",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant, nodes = ids.len(),
        )
    )]
    async fn nodes(
        &self,
        tenant: &TenantId,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        nodes_in(&mut conn, tenant, ids).await
    }

    #[tracing::instrument(
        name = "eventstore.store_checkpoint",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", tenant_id = %checkpoint.tenant_id,
            tree_size = checkpoint.tree_size,
        )
    )]
    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (tenant_id, tree_size, key_id, root_hash, note, signed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )
        .bind(checkpoint.tenant_id.as_str())
        .bind(to_i64(checkpoint.tree_size))
        .bind(&checkpoint.key_id)
        .bind(checkpoint.root.as_slice())
        .bind(&checkpoint.note)
        .bind(checkpoint.signed_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    #[tracing::instrument(
        name = "eventstore.latest_checkpoint",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant)
    )]
    async fn latest_checkpoint(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<CheckpointRow> = sqlx::query_as(
            "SELECT tree_size, key_id, root_hash, note, signed_at FROM checkpoints
                  WHERE tenant_id = ?1 AND key_id = ?2 ORDER BY tree_size DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(key_id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| stored_checkpoint(tenant, row)).transpose()
    }

    #[tracing::instrument(
        name = "eventstore.checkpoints",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", tenant_id = %tenant)
    )]
    async fn checkpoints(&self, tenant: &TenantId) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "SELECT tree_size, key_id, root_hash, note, signed_at FROM checkpoints
                  WHERE tenant_id = ?1 ORDER BY tree_size, signed_at",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|row| stored_checkpoint(tenant, row))
            .collect()
    }

    #[tracing::instrument(
        name = "eventstore.load_position",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", consumer = consumer)
    )]
    async fn load_position(&self, consumer: &str) -> Result<GlobalPosition, StoreError> {
        let mut conn = self.reader.acquire().await?;
        self.load_position_in(&mut conn, consumer).await
    }

    #[tracing::instrument(
        name = "eventstore.save_position",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", consumer = consumer,
            tenants = position.iter().count(),
        )
    )]
    async fn save_position(
        &self,
        consumer: &str,
        position: &GlobalPosition,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        self.save_position_in(&mut tx, consumer, position).await?;
        tx.commit().await?;
        Ok(())
    }

    fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

async fn read_tenant_in(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    from_sequence: u64,
    limit: usize,
    upcasters: &Upcasters,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE tenant_id = ?1 AND sequence >= ?2
          ORDER BY sequence LIMIT ?3"
    ))
    .bind(tenant.as_str())
    .bind(to_i64(from_sequence))
    .bind(to_i64(limit as u64))
    .fetch_all(&mut *conn)
    .await?;
    into_events(rows, upcasters)
}

#[async_trait]
impl ProjectionHost for SqliteEventStore {
    type Db = Sqlite;

    /// The single writer connection is the consumer's lock as well.
    #[tracing::instrument(
        name = "eventstore.projection.begin",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", consumer = consumer)
    )]
    async fn begin_projection(
        &self,
        consumer: &str,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    #[tracing::instrument(
        name = "eventstore.projection.load_position",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", consumer = consumer)
    )]
    async fn load_position_in(
        &self,
        conn: &mut SqliteConnection,
        consumer: &str,
    ) -> Result<GlobalPosition, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tenant_id, position FROM consumer_positions WHERE consumer = ?1",
        )
        .bind(consumer)
        .fetch_all(&mut *conn)
        .await?;
        let mut position = GlobalPosition::default();
        for (tenant, next) in rows {
            position.set(TenantId::parse(&tenant)?, to_u64(next));
        }
        Ok(position)
    }

    /// Visits tenants in order. Each tenant's events are read in sequence order from the
    /// caller's position, so nothing can be skipped: see the PostgreSQL reader for why.
    #[tracing::instrument(
        name = "eventstore.projection.read_all",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", limit = limit,
            events = tracing::field::Empty,
        )
    )]
    async fn read_all_in(
        &self,
        conn: &mut SqliteConnection,
        position: &GlobalPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let heads: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, tree_size FROM tenant_heads ORDER BY tenant_id")
                .fetch_all(&mut *conn)
                .await?;
        let mut events = Vec::new();
        for (tenant, size) in heads {
            let tenant = TenantId::parse(&tenant)?;
            let next = position.get(&tenant);
            if to_u64(size) <= next {
                continue;
            }
            let room = limit - events.len();
            events.extend(read_tenant_in(conn, &tenant, next, room, &self.upcasters).await?);
            if events.len() >= limit {
                break;
            }
        }
        tracing::Span::current().record("events", events.len());
        Ok(events)
    }

    #[tracing::instrument(
        name = "eventstore.projection.save_position",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "sqlite", consumer = consumer,
            tenants = position.iter().count(),
        )
    )]
    async fn save_position_in(
        &self,
        conn: &mut SqliteConnection,
        consumer: &str,
        position: &GlobalPosition,
    ) -> Result<(), StoreError> {
        for (tenant, next) in position.iter() {
            sqlx::query(
                "INSERT INTO consumer_positions (consumer, tenant_id, position) VALUES (?1, ?2, ?3)
                 ON CONFLICT (consumer, tenant_id) DO UPDATE
                    SET position = excluded.position,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )
            .bind(consumer)
            .bind(tenant.as_str())
            .bind(to_i64(next))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    #[tracing::instrument(
        name = "eventstore.projection.clear_position",
        skip_all,
        fields(otel.kind = "client", db.system.name = "sqlite", consumer = consumer)
    )]
    async fn clear_position_in(
        &self,
        conn: &mut SqliteConnection,
        consumer: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM consumer_positions WHERE consumer = ?1")
            .bind(consumer)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
