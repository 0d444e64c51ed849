//! The `data_keys` table on each backend. Each operation is one statement; on PostgreSQL it
//! runs in a transaction scoped to the tenant, so row-level security holds as well.

use async_trait::async_trait;
use confide_domain::{KeyId, TenantId};
use confide_eventstore::{PgEventStore, SqliteEventStore};

use crate::error::KeyError;
use crate::schema::KeySchema;

/// A key's row as stored.
pub(crate) enum Stored {
    /// The data key, wrapped under the master key.
    Live(Vec<u8>),
    /// A tombstone: the key was destroyed.
    Destroyed,
}

/// Where a `LocalKeyStore` keeps its keys.
#[async_trait]
pub(crate) trait Table: KeySchema {
    /// Stores a new wrapped key; `false` (and nothing written) if the id is taken.
    async fn insert(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        wrapped: &[u8],
    ) -> Result<bool, KeyError>;

    /// The key's row, if the tenant has (or had) one by that id.
    async fn fetch(&self, tenant: &TenantId, key_id: &KeyId) -> Result<Option<Stored>, KeyError>;

    /// Clears a live key's wrapped form and marks it destroyed; `false` if there was none.
    async fn destroy(&self, tenant: &TenantId, key_id: &KeyId) -> Result<bool, KeyError>;
}

fn stored(row: Option<Option<Vec<u8>>>) -> Option<Stored> {
    row.map(|wrapped| wrapped.map_or(Stored::Destroyed, Stored::Live))
}

#[async_trait]
impl Table for PgEventStore {
    async fn insert(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        wrapped: &[u8],
    ) -> Result<bool, KeyError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "INSERT INTO data_keys (tenant_id, key_id, wrapped) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, key_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(key_id.as_str())
        .bind(wrapped)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fetch(&self, tenant: &TenantId, key_id: &KeyId) -> Result<Option<Stored>, KeyError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT wrapped FROM data_keys WHERE tenant_id = $1 AND key_id = $2",
        )
        .bind(tenant.as_str())
        .bind(key_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored(row))
    }

    async fn destroy(&self, tenant: &TenantId, key_id: &KeyId) -> Result<bool, KeyError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "UPDATE data_keys SET wrapped = NULL, destroyed_at = now()
              WHERE tenant_id = $1 AND key_id = $2 AND destroyed_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(key_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Each statement commits on its own; a write waits for the event store's writer (the busy
/// timeout) rather than failing.
#[async_trait]
impl Table for SqliteEventStore {
    async fn insert(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        wrapped: &[u8],
    ) -> Result<bool, KeyError> {
        let done = sqlx::query(
            "INSERT INTO data_keys (tenant_id, key_id, wrapped) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, key_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(key_id.as_str())
        .bind(wrapped)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fetch(&self, tenant: &TenantId, key_id: &KeyId) -> Result<Option<Stored>, KeyError> {
        let row: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT wrapped FROM data_keys WHERE tenant_id = ?1 AND key_id = ?2",
        )
        .bind(tenant.as_str())
        .bind(key_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(stored(row))
    }

    async fn destroy(&self, tenant: &TenantId, key_id: &KeyId) -> Result<bool, KeyError> {
        let done = sqlx::query(
            "UPDATE data_keys SET wrapped = NULL,
                    destroyed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
              WHERE tenant_id = ?1 AND key_id = ?2 AND destroyed_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(key_id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
