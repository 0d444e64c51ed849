//! Audit exports: recorded in the tenant's log before they are written, then written from
//! the log itself as a bundle an auditor verifies offline (`schema/audit-bundle.md`).

use chrono::{DateTime, SecondsFormat, Utc};
use confide_domain::aggregates::tenant::{AuditScope, Tenant, TenantCommand, TenantEvent};
use confide_domain::{Actor, DomainError};
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_eventstore::export::{ExportError, ExportRequest, ExportSummary, export_bundle};
use confide_eventstore::{StoreError, TenantId};
use tokio::io::AsyncWrite;
use uuid::Uuid;

use crate::{App, AppError, tenant_stream};

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
    /// Records that `actor` exports the log for `scope` (an auditor or org_admin, or the
    /// platform operator), with the size of `previous`, the auditor's last checkpoint, which
    /// must be one `signer` made of this log; returns the export's id. Nothing is exported
    /// without this event.
    #[tracing::instrument(name = "app.record_audit_export", skip_all, fields(tenant_id = %tenant))]
    pub async fn record_audit_export(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        mut scope: AuditScope,
        previous: Option<&str>,
        signer: &CheckpointSigner,
    ) -> Result<Uuid, AppError> {
        if let Some(note) = previous {
            let checkpoint = signer.own_checkpoint(tenant, note).map_err(|reason| {
                DomainError::invalid(
                    "previousCheckpoint",
                    format!("{reason}; give a checkpoint of this log signed by this server"),
                )
            })?;
            scope.previous_tree_size = Some(checkpoint.size);
        }
        let events = self
            .execute::<Tenant>(
                tenant,
                actor,
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

    /// Writes the tenant's audit bundle for `scope` to `out`, against a checkpoint of the
    /// log as it now is (which includes the export's own event), with a consistency proof
    /// from `previous`, the auditor's last checkpoint, when given.
    #[tracing::instrument(name = "app.write_audit_bundle", skip_all, fields(tenant_id = %tenant))]
    pub async fn write_audit_bundle<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        tenant: &TenantId,
        signer: &CheckpointSigner,
        scope: &AuditScope,
        previous: Option<String>,
        out: &mut W,
    ) -> Result<ExportSummary, AppError> {
        let request = ExportRequest {
            filter: audit_filter(scope),
            previous,
            generator: format!("confide {}", env!("CARGO_PKG_VERSION")),
        };
        export_bundle(
            self.store().as_ref(),
            signer,
            tenant,
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
}
