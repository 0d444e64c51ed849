//! Leases on background work ([`Leases`]): with several nodes on one database, a job (the
//! retention and destruction jobs) runs for a tenant only on the node holding that tenant's
//! lease, and a lease whose node died is taken over once it expires.
//!
//! On PostgreSQL a lease is a row of `job_leases` (migration 0013), taken with one
//! conditional upsert: it is granted when nobody holds it, when its holder asks again (a
//! renewal), or when it has expired by the database's clock. On SQLite, a single process's
//! database, the one node there is always holds every lease.

use std::time::Duration;

use async_trait::async_trait;
use confide_eventstore::{PgEventStore, SqliteEventStore, StoreError, TenantId};

/// Who does a tenant's background job, and until when.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes `job`'s lease for `tenant` as `holder` for `ttl`, or renews it if `holder`
    /// already has it. Whether `holder` now holds it; `false` means another holder's lease
    /// has not expired, and the job is theirs.
    async fn take_lease(
        &self,
        tenant: &TenantId,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up (if `holder` has it), so the next node need not wait for it to
    /// expire.
    async fn release_lease(
        &self,
        tenant: &TenantId,
        job: &str,
        holder: &str,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl Leases for PgEventStore {
    async fn take_lease(
        &self,
        tenant: &TenantId,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.begin_tenant(tenant).await?;
        // The row is locked by the upsert, so two nodes asking at once are served in turn and
        // the second sees the first's lease.
        let taken: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO job_leases (tenant_id, job, holder, expires_at)
             VALUES ($1, $2, $3, clock_timestamp() + $4::double precision * interval '1 millisecond')
             ON CONFLICT (tenant_id, job) DO UPDATE
                SET holder = EXCLUDED.holder,
                    expires_at = EXCLUDED.expires_at,
                    fence = job_leases.fence
                          + CASE WHEN job_leases.holder = EXCLUDED.holder THEN 0 ELSE 1 END
              WHERE job_leases.holder = EXCLUDED.holder
                 OR job_leases.expires_at < clock_timestamp()
             RETURNING fence",
        )
        .bind(tenant.as_str())
        .bind(job)
        .bind(holder)
        .bind(ttl_ms)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(taken.is_some())
    }

    async fn release_lease(
        &self,
        tenant: &TenantId,
        job: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "UPDATE job_leases SET expires_at = '-infinity'
              WHERE tenant_id = $1 AND job = $2 AND holder = $3",
        )
        .bind(tenant.as_str())
        .bind(job)
        .bind(holder)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One process owns a SQLite database, so its node always holds the lease.
#[async_trait]
impl Leases for SqliteEventStore {
    async fn take_lease(
        &self,
        _tenant: &TenantId,
        _job: &str,
        _holder: &str,
        _ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn release_lease(
        &self,
        _tenant: &TenantId,
        _job: &str,
        _holder: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}
