//! The PostgreSQL event store.
//!
//! An append is planned and hashed in Rust and written by one SQL function that checks, before
//! writing anything, that the tenant's head (size and root) and every exactly-expected stream
//! are where the plan assumed (compare-and-swap on the head row). The store remembers each
//! tenant's head after its own appends, so an append whose expectations are all exact — how
//! aggregates append — is one round trip. Otherwise, or when the head has moved (another node
//! appended), it first reads the head, stream versions and already-stored event ids from one
//! snapshot; a writer that loses the race again plans with the head row locked, so it cannot
//! lose twice. Inline projections run in the same transaction.
//!
//! Every function sets `confide.tenant_id` for its transaction, so row-level security holds
//! even for a query that forgot its tenant.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use confide_audit::merkle::{Frontier, Hash, NodeId};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::layout;
use crate::metrics;
use crate::plan::{self, AppendState, Plan, WritePlan};
use crate::projection::{InlineProjection, ProjectionHost, inline_span};
use crate::row::CheckpointRow;
use crate::row::{
    EVENT_COLUMNS, EventRow, collect_events, into_events, stored_checkpoint, to_hash, to_i64,
    to_u64,
};
use crate::store::{AppliedMigration, migrations_applied};
use crate::{
    AppendRequest, AppendResult, EventStore, GlobalPosition, RecordedEvent, StoreError,
    StoredCheckpoint, StreamId, TenantId, TreeHead, Upcasters,
};

/// The PostgreSQL schema, embedded in the binary.
pub(crate) static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../schema/migrations/postgres")
};

/// How many times an append plans again after losing its compare-and-swap. The second attempt
/// holds the head row's lock, so more than a few means something else is wrong.
const MAX_ATTEMPTS: usize = 5;

#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    /// The head of every tenant this store last appended to, as it committed. Only a hint:
    /// the database refuses a plan made from a stale head.
    heads: Arc<Mutex<HashMap<TenantId, Frontier>>>,
    /// One turn per tenant for this store's appends: see [`PgEventStore::turn`].
    turns: Arc<Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>>,
    upcasters: Upcasters,
    inline: Vec<Arc<dyn InlineProjection<Postgres>>>,
    appended: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field(
                "inline",
                &self.inline.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field("upcasters", &self.upcasters)
            .finish_non_exhaustive()
    }
}

impl PgEventStore {
    /// Connects a pool to `url` (a `postgres://` URL).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(
            url,
            PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10)),
        )
        .await
    }

    /// Connects a pool made with `pool` (its size, how long a caller waits for a connection)
    /// to `url` (a `postgres://` URL).
    pub async fn connect_with(url: &str, pool: PgPoolOptions) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
        Ok(Self::new(pool.connect_with(options).await?))
    }

    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            heads: Arc::default(),
            turns: Arc::default(),
            upcasters: Upcasters::new(),
            inline: Vec::new(),
            appended: Arc::new(watch::channel(0).0),
        }
    }

    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    pub fn with_inline_projection(
        mut self,
        projection: Arc<dyn InlineProjection<Postgres>>,
    ) -> Self {
        self.inline.push(projection);
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the log's embedded migrations (`schema/migrations`) that have not been applied
    /// yet. The key store and the read models apply theirs with [`Self::apply_migrations`].
    #[tracing::instrument(
        name = "eventstore.migrate",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.apply_migrations(&MIGRATOR).await
    }

    /// Applies the migrations of `migrator` that have not been applied yet: how the crates that
    /// keep tables of their own in this database (the key store, the read models) migrate
    /// them. `migrator` must ignore the versions it does not know (`ignore_missing`), which
    /// are the log's and the other crates'.
    pub async fn apply_migrations(&self, migrator: &Migrator) -> Result<(), StoreError> {
        migrator
            .run(&self.pool)
            .await
            .map_err(StoreError::unexpected)
    }

    /// Whether every migration of `migrator` is applied, succeeded and has the checksum it has
    /// in this build ([`StoreError::NotReady`] naming the first that is not); what
    /// [`EventStore::ready`] checks for the log's own migrator.
    pub async fn check_migrations(&self, migrator: &Migrator) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        // `to_regclass` finds the table on the search path, where the migrator created it.
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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

    /// Begins a transaction scoped to one tenant (row-level security).
    #[tracing::instrument(
        name = "eventstore.begin_tenant",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant)
    )]
    pub async fn begin_tenant(
        &self,
        tenant: &TenantId,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT confide_use_tenant($1)")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn attempt(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        request: &AppendRequest,
        exact: &[(StreamId, u64)],
        mode: Mode,
    ) -> Result<Attempt, StoreError> {
        let locked = matches!(mode, Mode::Locked);
        let state = match mode {
            Mode::Remembered(frontier) => AppendState {
                frontier,
                stream_versions: exact.iter().cloned().collect(),
                existing_events: HashSet::new(),
            },
            Mode::Read | Mode::Locked => {
                if locked {
                    sqlx::query("SELECT confide_lock_tenant($1)")
                        .bind(tenant.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                read_state(conn, tenant, request).await?
            }
        };
        let old_root = state.frontier.root();
        let plan = match plan::plan(tenant, request, state)? {
            Plan::AlreadyStored => return Ok(Attempt::AlreadyStored),
            Plan::Write(plan) => plan,
        };
        match write(conn, tenant, &plan, &old_root, exact).await? {
            Written::Yes => Ok(Attempt::Written(plan)),
            Written::HeadMoved | Written::EventIdTaken => Ok(Attempt::Again),
            // Planned from memory or from a view that has since moved: a re-sent append looks
            // like a conflict too, so plan again from a locked read, which checks idempotency
            // first. Under the lock, the plan's own checks saw the current versions.
            Written::Conflict { .. } if !locked => Ok(Attempt::Again),
            Written::Conflict { stream, actual } => {
                let expected = plan::expectation_of(request, &stream);
                Err(StoreError::Conflict {
                    stream,
                    expected,
                    actual,
                })
            }
        }
    }

    /// The turn this store's appends to `tenant` take one after another. Concurrent appends
    /// to one tenant would all plan from the same remembered head, and all but one would lose
    /// the database's compare-and-swap and plan again, each retry costing round trips while
    /// the tenant is busiest. Taking turns, each plans from the head the previous one left.
    /// Appends from other processes are still caught by the database's check.
    fn turn(&self, tenant: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        turns.entry(tenant.clone()).or_default().clone()
    }

    fn remembered_head(&self, tenant: &TenantId) -> Option<Frontier> {
        self.heads.lock().ok()?.get(tenant).cloned()
    }

    fn remember_head(&self, tenant: &TenantId, frontier: Option<Frontier>) {
        if let Ok(mut heads) = self.heads.lock() {
            match frontier {
                Some(frontier) => heads.insert(tenant.clone(), frontier),
                None => heads.remove(tenant),
            };
        }
    }

    #[tracing::instrument(
        name = "eventstore.events_by_id",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant,
            events = ids.len(),
        )
    )]
    async fn events_by_id(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        // One lookup per id on the (tenant, event id) key: a set-based `= ANY(...)` lets a
        // planner without statistics scan the whole tenant (see confide_append_state).
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT e.* FROM unnest($2::uuid[]) AS i(event_id)
             CROSS JOIN LATERAL (SELECT {EVENT_COLUMNS} FROM events x
                                  WHERE x.tenant_id = $1 AND x.event_id = i.event_id) e
             ORDER BY e.sequence"
        ))
        .bind(tenant.as_str())
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        // The replayed result compares what was written, not an upcast form.
        into_events(rows, &Upcasters::new())
    }
}

/// How an attempt learns the tenant's head.
enum Mode {
    /// From this store's memory, with exact expectations only: no read before the write.
    Remembered(Frontier),
    /// From the database.
    Read,
    /// From the database, holding the head row's lock for the rest of the transaction.
    Locked,
}

enum Attempt {
    Written(WritePlan),
    AlreadyStored,
    /// The plan rested on a stale view; plan again from the database.
    Again,
}

enum Written {
    Yes,
    HeadMoved,
    /// Another append stored one of these event ids since the plan's view: a retry finds out
    /// whether this is a re-sent append.
    EventIdTaken,
    Conflict {
        stream: StreamId,
        actual: u64,
    },
}

async fn read_state(
    conn: &mut PgConnection,
    tenant: &TenantId,
    request: &AppendRequest,
) -> Result<AppendState, StoreError> {
    let streams: Vec<String> = plan::streams_to_read(request)
        .into_iter()
        .map(String::from)
        .collect();
    let rows = sqlx::query("SELECT kind, key, num, bytes FROM confide_append_state($1, $2, $3)")
        .bind(tenant.as_str())
        .bind(&streams)
        .bind(plan::event_ids(request))
        .fetch_all(&mut *conn)
        .await?;
    let mut size = 0;
    let mut edge = Vec::new();
    let mut state = AppendState {
        frontier: Frontier::new(),
        stream_versions: HashMap::new(),
        existing_events: HashSet::new(),
    };
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let key: Option<String> = row.try_get("key")?;
        let num: Option<i64> = row.try_get("num")?;
        match (kind.as_str(), key, num) {
            ("head", _, Some(tree_size)) => size = to_u64(tree_size),
            ("frontier", Some(level), Some(_)) => {
                let bytes: Option<Vec<u8>> = row.try_get("bytes")?;
                let level: u8 = level.parse().map_err(StoreError::unexpected)?;
                let hash = bytes
                    .as_deref()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        StoreError::Integrity(format!(
                            "tenant {tenant}'s tree is missing the subtree root of level {level}"
                        ))
                    })?;
                edge.push((level, hash));
            }
            ("stream", Some(stream), version) => {
                state
                    .stream_versions
                    .insert(StreamId::parse(&stream)?, version.map_or(0, to_u64));
            }
            ("event", Some(id), _) => {
                let id = Uuid::parse_str(&id).map_err(StoreError::unexpected)?;
                state.existing_events.insert(id);
            }
            (other, _, _) => {
                return Err(StoreError::Integrity(format!(
                    "unexpected append state row {other}"
                )));
            }
        }
    }
    edge.sort_by_key(|(level, _)| std::cmp::Reverse(*level));
    state.frontier = Frontier::from_parts(size, edge.into_iter().map(|(_, h)| h).collect())
        .map_err(|e| StoreError::Integrity(format!("tenant {tenant}'s head is corrupt: {e}")))?;
    Ok(state)
}

async fn write(
    conn: &mut PgConnection,
    tenant: &TenantId,
    plan: &WritePlan,
    old_root: &Hash,
    exact: &[(StreamId, u64)],
) -> Result<Written, StoreError> {
    let events = &plan.events;
    let outcome: Result<String, sqlx::Error> = sqlx::query_scalar(
        "SELECT confide_append(
            $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(tenant.as_str())
    .bind(to_i64(plan.old_size))
    .bind(old_root.as_slice())
    .bind(to_i64(plan.new_size))
    .bind(plan.root.as_slice())
    .bind(plan.recorded_at)
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.stream_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| to_i64(e.stream_version))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.schema_version as i32)
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.payload.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.metadata.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.leaf_hash.to_vec())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.subtree_roots.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(exact.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>())
    .bind(exact.iter().map(|(_, v)| to_i64(*v)).collect::<Vec<_>>())
    .fetch_one(&mut *conn)
    .await;
    match outcome {
        Ok(outcome) => match outcome.split_once(' ') {
            None if outcome == "written" => Ok(Written::Yes),
            None if outcome == "moved" => Ok(Written::HeadMoved),
            Some(("conflict", rest)) => {
                let (actual, stream) = rest.split_once(' ').unwrap_or(("", rest));
                Ok(Written::Conflict {
                    stream: StreamId::parse(stream)?,
                    actual: actual.parse().map_err(StoreError::unexpected)?,
                })
            }
            _ => Err(StoreError::Integrity(format!(
                "unexpected append outcome {outcome}"
            ))),
        },
        Err(sqlx::Error::Database(error))
            if error.constraint() == Some("events_tenant_id_event_id_key") =>
        {
            Ok(Written::EventIdTaken)
        }
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.check_migrations(&MIGRATOR).await
    }

    #[tracing::instrument(
        name = "eventstore.append",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant,
            events = request.event_count(),
        )
    )]
    async fn append(
        &self,
        tenant: &TenantId,
        request: AppendRequest,
    ) -> Result<AppendResult, StoreError> {
        plan::validate(&request)?;
        let exact = plan::exact_expectations(&request);
        let all_exact = exact.len() == request.writes.len() + request.conditions.len();
        let turn = self.turn(tenant);
        let _turn = turn.lock().await;
        for attempt in 0..MAX_ATTEMPTS {
            let mode = match self.remembered_head(tenant) {
                Some(frontier) if attempt == 0 && all_exact => Mode::Remembered(frontier),
                _ if attempt == 0 => Mode::Read,
                _ => Mode::Locked,
            };
            let outcome = if matches!(mode, Mode::Locked) || !self.inline.is_empty() {
                let mut tx = self.pool.begin().await?;
                let outcome = self.attempt(&mut tx, tenant, &request, &exact, mode).await;
                if let Ok(Attempt::Written(plan)) = &outcome {
                    let events = plan.recorded(tenant, &request);
                    for projection in &self.inline {
                        projection
                            .apply(&mut tx, &events)
                            .instrument(inline_span(projection.name(), events.len()))
                            .await?;
                    }
                    tx.commit().await?;
                }
                outcome
            } else {
                let mut conn = self.pool.acquire().await?;
                self.attempt(&mut conn, tenant, &request, &exact, mode)
                    .await
            };
            match outcome {
                Ok(Attempt::Written(plan)) => {
                    metrics::appended("postgresql", &plan);
                    self.remember_head(tenant, Some(plan.frontier));
                    self.appended.send_modify(|n| *n = n.wrapping_add(1));
                    return Ok(plan.result);
                }
                Ok(Attempt::AlreadyStored) => {
                    let stored = self
                        .events_by_id(tenant, &plan::event_ids(&request))
                        .await?;
                    return plan::replayed_result(&request, &stored);
                }
                Ok(Attempt::Again) => {
                    self.remember_head(tenant, None);
                    tracing::debug!(attempt, "the tenant's head moved; planning again");
                }
                Err(error) => {
                    // A failed write may have been planned from a head that is no longer true.
                    self.remember_head(tenant, None);
                    return Err(error);
                }
            }
        }
        Err(StoreError::Integrity(format!(
            "tenant {tenant}'s head kept moving while locked"
        )))
    }

    #[tracing::instrument(
        name = "eventstore.read_stream",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant,
            stream = %stream, from_version = from_version, limit = limit,
            events = tracing::field::Empty,
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
            "SELECT {EVENT_COLUMNS} FROM confide_read_stream($1, $2, $3, $4)"
        ))
        .bind(tenant.as_str())
        .bind(stream.as_str())
        .bind(to_i64(from_version))
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await?;
        tracing::Span::current().record("events", rows.len());
        into_events(rows, &self.upcasters)
    }

    #[tracing::instrument(
        name = "eventstore.read_tenant",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant,
            from_sequence = from_sequence, limit = limit, events = tracing::field::Empty,
        )
    )]
    async fn read_tenant(
        &self,
        tenant: &TenantId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM confide_read_tenant($1, $2, $3)");
        let rows = sqlx::query_as(&sql)
            .bind(tenant.as_str())
            .bind(to_i64(from_sequence))
            .bind(to_i64(limit as u64))
            .fetch(&self.pool);
        let events = collect_events(rows, &self.upcasters).await?;
        tracing::Span::current().record("events", events.len());
        Ok(events)
    }

    #[tracing::instrument(
        name = "eventstore.read_all",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", limit = limit)
    )]
    async fn read_all(
        &self,
        position: &GlobalPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.read_all_in(&mut conn, position, limit).await
    }

    #[tracing::instrument(
        name = "eventstore.tenant_sizes",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn tenant_sizes(&self) -> Result<Vec<(TenantId, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, tree_size FROM confide_tenant_sizes()")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(tenant, size)| Ok((TenantId::parse(&tenant)?, to_u64(size))))
            .collect()
    }

    #[tracing::instrument(
        name = "eventstore.tree_head",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant)
    )]
    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT tree_size, root_hash FROM confide_tree_head($1)")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
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
            otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant,
            nodes = ids.len(),
        )
    )]
    async fn nodes(
        &self,
        tenant: &TenantId,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let (levels, sequences): (Vec<i16>, Vec<i64>) = ids
            .iter()
            .filter_map(|id| Some((i16::from(id.level), to_i64(layout::stored_at(*id)?))))
            .unzip();
        let rows: Vec<(i16, i64, Vec<u8>)> =
            sqlx::query_as("SELECT level, sequence, hash FROM confide_read_nodes($1, $2, $3)")
                .bind(tenant.as_str())
                .bind(levels)
                .bind(sequences)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(level, sequence, hash)| {
                let level = u8::try_from(level).map_err(StoreError::unexpected)?;
                Ok((layout::node_at(level, to_u64(sequence)), to_hash(&hash)?))
            })
            .collect()
    }

    #[tracing::instrument(
        name = "eventstore.store_checkpoint",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", tenant_id = %checkpoint.tenant_id,
            tree_size = checkpoint.tree_size,
        )
    )]
    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(&checkpoint.tenant_id).await?;
        sqlx::query(
            "INSERT INTO checkpoints (tenant_id, tree_size, key_id, root_hash, note, signed_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(checkpoint.tenant_id.as_str())
        .bind(to_i64(checkpoint.tree_size))
        .bind(&checkpoint.key_id)
        .bind(checkpoint.root.as_slice())
        .bind(&checkpoint.note)
        .bind(checkpoint.signed_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(
        name = "eventstore.latest_checkpoint",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant)
    )]
    async fn latest_checkpoint(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<CheckpointRow> = sqlx::query_as(
            "SELECT tree_size, key_id, root_hash, note, signed_at FROM checkpoints
                  WHERE tenant_id = $1 AND key_id = $2 ORDER BY tree_size DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|row| stored_checkpoint(tenant, row)).transpose()
    }

    #[tracing::instrument(
        name = "eventstore.checkpoints",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", tenant_id = %tenant)
    )]
    async fn checkpoints(&self, tenant: &TenantId) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "SELECT tree_size, key_id, root_hash, note, signed_at FROM checkpoints
                  WHERE tenant_id = $1 ORDER BY tree_size, signed_at",
        )
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|row| stored_checkpoint(tenant, row))
            .collect()
    }

    #[tracing::instrument(
        name = "eventstore.load_position",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", consumer = consumer)
    )]
    async fn load_position(&self, consumer: &str) -> Result<GlobalPosition, StoreError> {
        let mut tx = self.pool.begin().await?;
        all_tenants(&mut tx).await?;
        let position = self.load_position_in(&mut tx, consumer).await?;
        tx.commit().await?;
        Ok(position)
    }

    #[tracing::instrument(
        name = "eventstore.save_position",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", consumer = consumer,
            tenants = position.iter().count(),
        )
    )]
    async fn save_position(
        &self,
        consumer: &str,
        position: &GlobalPosition,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        all_tenants(&mut tx).await?;
        self.save_position_in(&mut tx, consumer, position).await?;
        tx.commit().await?;
        Ok(())
    }

    fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

async fn all_tenants(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config('confide.all_tenants', 'on', true)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[async_trait]
impl ProjectionHost for PgEventStore {
    type Db = Postgres;

    #[tracing::instrument(
        name = "eventstore.projection.begin",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", consumer = consumer)
    )]
    async fn begin_projection(
        &self,
        consumer: &str,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        all_tenants(&mut tx).await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('confide.consumer:' || $1, 0))")
            .bind(consumer)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    #[tracing::instrument(
        name = "eventstore.projection.load_position",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", consumer = consumer)
    )]
    async fn load_position_in(
        &self,
        conn: &mut PgConnection,
        consumer: &str,
    ) -> Result<GlobalPosition, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tenant_id, position FROM consumer_positions WHERE consumer = $1",
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

    #[tracing::instrument(
        name = "eventstore.projection.read_all",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", limit = limit,
            events = tracing::field::Empty,
        )
    )]
    async fn read_all_in(
        &self,
        conn: &mut PgConnection,
        position: &GlobalPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (tenants, positions): (Vec<&str>, Vec<i64>) = position
            .iter()
            .map(|(tenant, next)| (tenant.as_str(), to_i64(next)))
            .unzip();
        let sql = format!("SELECT {EVENT_COLUMNS} FROM confide_read_all($1, $2, $3)");
        let rows = sqlx::query_as(&sql)
            .bind(tenants)
            .bind(positions)
            .bind(to_i64(limit as u64))
            .fetch(&mut *conn);
        let events = collect_events(rows, &self.upcasters).await?;
        tracing::Span::current().record("events", events.len());
        Ok(events)
    }

    #[tracing::instrument(
        name = "eventstore.projection.save_position",
        skip_all,
        fields(
            otel.kind = "client", db.system.name = "postgresql", consumer = consumer,
            tenants = position.iter().count(),
        )
    )]
    async fn save_position_in(
        &self,
        conn: &mut PgConnection,
        consumer: &str,
        position: &GlobalPosition,
    ) -> Result<(), StoreError> {
        let (tenants, positions): (Vec<&str>, Vec<i64>) = position
            .iter()
            .map(|(tenant, next)| (tenant.as_str(), to_i64(next)))
            .unzip();
        sqlx::query(
            "INSERT INTO consumer_positions (consumer, tenant_id, position)
             SELECT $1, u.tenant_id, u.position FROM unnest($2::text[], $3::bigint[]) AS u(tenant_id, position)
             ON CONFLICT (consumer, tenant_id)
             DO UPDATE SET position = excluded.position, updated_at = now()",
        )
        .bind(consumer)
        .bind(tenants)
        .bind(positions)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    #[tracing::instrument(
        name = "eventstore.projection.clear_position",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql", consumer = consumer)
    )]
    async fn clear_position_in(
        &self,
        conn: &mut PgConnection,
        consumer: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM consumer_positions WHERE consumer = $1")
            .bind(consumer)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
