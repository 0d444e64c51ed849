//! Signed-in sessions of the organisation's people on the pages ([`Sessions`]): a row of
//! `staff_sessions` (migration 0014) per session, keyed by its tenant and the SHA-256 of the
//! secret its browser holds. The application decides when a session is idle or too old and
//! passes the moments; this crate keeps the rows, so that every node on the database sees the
//! same sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use confide_eventstore::{PgEventStore, SqliteEventStore, StoreError, TenantId};

/// Where sessions are kept.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Keeps a new session of `user` in `tenant`, begun at `now`, ending at `expires_at` at
    /// the latest.
    async fn insert_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
        user: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The user of the session, if it was last seen after `idle_since` and has not reached
    /// its end by `now`; it is then marked seen at `now`. A session that has ended is deleted.
    async fn touch_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Ends the session (signing out): its row is deleted.
    async fn delete_session(&self, tenant: &TenantId, secret_hash: &[u8])
    -> Result<(), StoreError>;
}

#[async_trait]
impl Sessions for PgEventStore {
    async fn insert_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
        user: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO staff_sessions
                (tenant_id, secret_hash, user_id, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(tenant.as_str())
        .bind(secret_hash)
        .bind(user)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let user: Option<(String,)> = sqlx::query_as(
            "UPDATE staff_sessions SET last_seen_at = greatest(last_seen_at, $3)
              WHERE tenant_id = $1 AND secret_hash = $2
                AND last_seen_at > $4 AND expires_at > $3
             RETURNING user_id",
        )
        .bind(tenant.as_str())
        .bind(secret_hash)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(&mut *tx)
        .await?;
        if user.is_none() {
            sqlx::query("DELETE FROM staff_sessions WHERE tenant_id = $1 AND secret_hash = $2")
                .bind(tenant.as_str())
                .bind(secret_hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(user.map(|(user,)| user))
    }

    async fn delete_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query("DELETE FROM staff_sessions WHERE tenant_id = $1 AND secret_hash = $2")
            .bind(tenant.as_str())
            .bind(secret_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Sessions for SqliteEventStore {
    async fn insert_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
        user: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions
                (tenant_id, secret_hash, user_id, created_at, last_seen_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        )
        .bind(tenant.as_str())
        .bind(secret_hash)
        .bind(user)
        .bind(now.timestamp_millis())
        .bind(expires_at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn touch_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let user: Option<(String,)> = sqlx::query_as(
            "UPDATE staff_sessions SET last_seen_at = max(last_seen_at, ?3)
              WHERE tenant_id = ?1 AND secret_hash = ?2
                AND last_seen_at > ?4 AND expires_at > ?3
             RETURNING user_id",
        )
        .bind(tenant.as_str())
        .bind(secret_hash)
        .bind(now.timestamp_millis())
        .bind(idle_since.timestamp_millis())
        .fetch_optional(&mut *tx)
        .await?;
        if user.is_none() {
            sqlx::query("DELETE FROM staff_sessions WHERE tenant_id = ?1 AND secret_hash = ?2")
                .bind(tenant.as_str())
                .bind(secret_hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(user.map(|(user,)| user))
    }

    async fn delete_session(
        &self,
        tenant: &TenantId,
        secret_hash: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE tenant_id = ?1 AND secret_hash = ?2")
            .bind(tenant.as_str())
            .bind(secret_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
