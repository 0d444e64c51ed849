//! The log for auditors: its events in order, signed checkpoints of its head, audit exports
//! (recorded in the tenant's log before they are written, then written from the log itself
//! as a bundle an auditor verifies offline, `schema/audit-bundle.md`), and the operator's
//! check of the stored log against itself.

use chrono::{DateTime, SecondsFormat, Utc};
use confide_domain::aggregates::tenant::{AuditScope, Tenant, TenantCommand, TenantEvent};
use confide_domain::{Actor, DomainError, TenantId, reads};
use confide_eventstore::checkpoint::sign_checkpoint;
use confide_eventstore::export::{
    ExportError, ExportRequest, ExportSummary, StoreVerification, export_bundle, verify_store,
};
use confide_eventstore::{RecordedEvent, StoreError, StoredCheckpoint};
use tokio::io::AsyncWrite;
use uuid::Uuid;

use crate::{App, AppError, Caller, tenant_stream};

/// The most events one page of the log holds.
pub const MAX_LOG_PAGE: usize = 1_000;

/// The audit bundle filter for what an auditor asked: the time range, and the clients,
/// recordings and consents by id (the exporter closes it over the streams they created).
fn audit_filter(scope: &AuditScope) -> confide_eventstore::export::Filter {
    let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut filter = confide_eventstore::export::Filter::everything()
        .recorded_between(scope.from.map(stamp), scope.until.map(stamp));
    for id in &scope.client_ids {
        filter = filter.with_subject("client", id.to_string());
    }
    for id in &scope.recording_ids {
        filter = filter.with_subject("recording", id.to_string());
    }
    for id in &scope.consent_ids {
        filter = filter.with_subject("consent", id.to_string());
    }
    filter
}

impl App {
    /// The tenant's events in sequence order from `from` (the leaf index in the tenant's
    /// tree), at most `limit` (1 to [`MAX_LOG_PAGE`]): for an auditor or an org_admin.
    pub async fn audit_events(
        &self,
        caller: &Caller,
        from: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, AppError> {
        self.may_read_log(caller).await?;
        if limit == 0 || limit > MAX_LOG_PAGE {
            return Err(DomainError::invalid(
                "limit",
                format!("a page holds 1 to {MAX_LOG_PAGE} events"),
            )
            .into());
        }
        Ok(self.store.read_tenant(&caller.tenant, from, limit).await?)
    }

    /// Refuses anyone but an auditor or an org_admin of the caller's tenant.
    pub async fn may_read_log(&self, caller: &Caller) -> Result<(), AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        Ok(reads::log(&organisation, &caller.actor)?)
    }

    /// Signs the tenant's current tree head with the server's checkpoint key and keeps it;
    /// when the newest checkpoint already covers the head, that one is returned. For an
    /// auditor or an org_admin.
    pub async fn checkpoint(&self, caller: &Caller) -> Result<StoredCheckpoint, AppError> {
        self.may_read_log(caller).await?;
        self.sign_checkpoint(&caller.tenant).await
    }

    /// Signs the tenant's current tree head (the platform operator).
    pub async fn sign_checkpoint(&self, tenant: &TenantId) -> Result<StoredCheckpoint, AppError> {
        Ok(sign_checkpoint(self.store.as_ref(), &self.signer, tenant, self.clock.now()).await?)
    }

    /// The key an auditor trusts: the checkpoint signer's, as a signed-note verifier key.
    pub fn checkpoint_key(&self) -> String {
        self.signer.note_signer().verifier().to_string()
    }

    /// Records that the caller exports the log for `scope` (an auditor or org_admin, or the
    /// platform operator), with the size of `previous`, the auditor's last checkpoint, which
    /// must be one this server signed of this log; returns the export's id. Nothing is
    /// exported without this event.
    #[tracing::instrument(name = "app.record_audit_export", skip_all, fields(tenant_id = %caller.tenant))]
    pub async fn record_audit_export(
        &self,
        caller: &Caller,
        mut scope: AuditScope,
        previous: Option<&str>,
    ) -> Result<Uuid, AppError> {
        if let Actor::User { .. } | Actor::ClientLink { .. } = caller.actor {
            self.may_read_log(caller).await?;
        }
        if let Some(note) = previous {
            let checkpoint =
                self.signer
                    .own_checkpoint(&caller.tenant, note)
                    .map_err(|reason| {
                        DomainError::invalid(
                            "previousCheckpoint",
                            format!(
                                "{reason}; give a checkpoint of this log signed by this server"
                            ),
                        )
                    })?;
            scope.previous_tree_size = Some(checkpoint.size);
        }
        let events = self
            .execute::<Tenant>(
                &caller.tenant,
                &caller.actor,
                &tenant_stream(),
                TenantCommand::ExportAuditTrail { scope },
                &[Uuid::now_v7()],
            )
            .await?;
        events
            .iter()
            .find_map(|event| match event {
                TenantEvent::AuditTrailExported { export_id, .. } => Some(*export_id),
                _ => None,
            })
            .ok_or_else(|| AppError::Domain(DomainError::conflict("the export was not recorded")))
    }

    /// Writes the tenant's audit bundle for a recorded export's `scope` to `out`, against a
    /// checkpoint of the log as it now is (which includes the export's own event), with a
    /// consistency proof from `previous`, the auditor's last checkpoint, when given. The
    /// caller must still read the log: an auditor whose role was taken away after the
    /// export was recorded gets nothing.
    #[tracing::instrument(name = "app.write_audit_bundle", skip_all, fields(tenant_id = %caller.tenant))]
    pub async fn write_audit_bundle<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        caller: &Caller,
        scope: &AuditScope,
        previous: Option<String>,
        out: &mut W,
    ) -> Result<ExportSummary, AppError> {
        if let Actor::User { .. } | Actor::ClientLink { .. } = caller.actor {
            self.may_read_log(caller).await?;
        }
        let request = ExportRequest {
            filter: audit_filter(scope),
            previous,
            generator: format!("confide {}", env!("CARGO_PKG_VERSION")),
        };
        export_bundle(
            self.store.as_ref(),
            &self.signer,
            &caller.tenant,
            request,
            self.clock.now(),
            out,
        )
        .await
        .map_err(|error| match error {
            ExportError::Invalid(reason) => {
                AppError::Domain(DomainError::invalid("export", reason))
            }
            ExportError::Store(error) => AppError::Store(error),
            ExportError::Bundle(error) => AppError::Store(StoreError::Integrity(error.to_string())),
            ExportError::Io(error) => AppError::Store(StoreError::Unexpected(Box::new(error))),
        })
    }

    /// Every tenant with at least one event.
    pub async fn tenants(&self) -> Result<Vec<TenantId>, AppError> {
        Ok(self
            .store
            .tenant_sizes()
            .await?
            .into_iter()
            .map(|(tenant, _)| tenant)
            .collect())
    }

    /// Checks a tenant's stored log against itself: every leaf rebuilt from its row, every
    /// stored node, every checkpoint's signature and root, and the head; the error names the
    /// first row that differs.
    pub async fn verify_store(&self, tenant: &TenantId) -> Result<StoreVerification, AppError> {
        let keys = [self.signer.note_signer().verifier()];
        Ok(verify_store(self.store.as_ref(), tenant, &keys).await?)
    }
}
