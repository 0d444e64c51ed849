//! The `EventStore` trait: what every backend provides.

use std::collections::HashMap;

use async_trait::async_trait;
use confide_audit::merkle::{Hash, NodeId};
use tokio::sync::watch;

use crate::{
    AppendRequest, AppendResult, GlobalPosition, RecordedEvent, StoreError, StoredCheckpoint,
    StreamId, TenantId, TreeHead,
};

/// A per-tenant, append-only, Merkle-hashed event log.
///
/// Every method takes the tenant first, except the cross-tenant reader and consumer positions,
/// which exist for projections.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`.
    fn backend(&self) -> &'static str;

    /// Succeeds when the database answers and every migration of the log this build embeds
    /// (`schema/migrations`; the key store and the read models check their own) has been
    /// applied unchanged: [`StoreError::Unavailable`] when it does not answer,
    /// [`StoreError::NotReady`] when its schema is behind or differs.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Appends atomically, or writes nothing: see [`AppendRequest`] and [`StoreError`].
    async fn append(
        &self,
        tenant: &TenantId,
        request: AppendRequest,
    ) -> Result<AppendResult, StoreError>;

    /// A stream's events from `from_version` (1 is the first), in order, upcast.
    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// A tenant's events from `from_sequence`, in sequence order, upcast.
    async fn read_tenant(
        &self,
        tenant: &TenantId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events of every tenant past `position`, each tenant's in sequence order, upcast. An
    /// event that commits late is never skipped: see ARCHITECTURE.md.
    async fn read_all(
        &self,
        position: &GlobalPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The size of every tenant's log, in tenant order: what a catch-up reader plans from.
    async fn tenant_sizes(&self) -> Result<Vec<(TenantId, u64)>, StoreError>;

    /// The current head of a tenant's tree; `None` before its first event.
    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError>;

    /// Hashes of completed perfect subtrees of a tenant's tree. Missing ones are left out.
    async fn nodes(
        &self,
        tenant: &TenantId,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError>;

    /// Keeps a signed checkpoint; storing the same one twice is not an error.
    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    /// The newest checkpoint of a tenant signed by `key_id`, if any.
    async fn latest_checkpoint(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// A tenant's signed checkpoints, oldest first.
    async fn checkpoints(&self, tenant: &TenantId) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// A cross-tenant reader's durable position (empty if it never saved one).
    async fn load_position(&self, consumer: &str) -> Result<GlobalPosition, StoreError>;

    async fn save_position(
        &self,
        consumer: &str,
        position: &GlobalPosition,
    ) -> Result<(), StoreError>;

    /// Changes after every append this process commits; subscriptions wait on it.
    fn appended(&self) -> watch::Receiver<u64>;
}

/// A migration as the database records it in `_sqlx_migrations`: version, checksum, success.
pub(crate) type AppliedMigration = (i64, Vec<u8>, bool);

/// Whether every migration `migrator` embeds is among `applied`, succeeded, and has the
/// checksum it has in this build. Migrations the database has and this build lacks (a newer
/// build migrated it) do not make it unready.
pub(crate) fn migrations_applied(
    migrator: &sqlx::migrate::Migrator,
    applied: &[AppliedMigration],
) -> Result<(), StoreError> {
    let applied: HashMap<i64, (&[u8], bool)> = applied
        .iter()
        .map(|(version, checksum, success)| (*version, (checksum.as_slice(), *success)))
        .collect();
    for migration in migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        let name = format!(
            "migration {} ({})",
            migration.version, migration.description
        );
        match applied.get(&migration.version) {
            None => return Err(StoreError::NotReady(format!("{name} is not applied"))),
            Some((_, false)) => {
                return Err(StoreError::NotReady(format!("{name} failed part-way")));
            }
            Some((checksum, true)) if *checksum != &*migration.checksum => {
                return Err(StoreError::NotReady(format!(
                    "{name} was applied with different contents"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
