//! Audit bundles over HTTP: `exportAuditTrail` records the export and returns a ticket URL;
//! `GET /v1/audit/exports/{ticket}` streams the bundle (`schema/audit-bundle.md`) as it is
//! written from the log, so memory stays flat whatever the log's size.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use confide_app::{AppError, Loaded, tenant_stream};
use confide_domain::aggregates::tenant::{AuditScope, Tenant};
use confide_domain::{Actor, Role, TenantId};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::{AuthError, Principal, TicketKind};
use crate::graphql::Services;
use crate::media::Refusal;

/// How long an export's download ticket lasts.
pub const EXPORT_TICKET_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// What an export's download ticket says: whose log, for whom, which recorded export, and
/// what it covers. Signed by the server's own key for an audience of its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportTicket {
    pub tenant: String,
    pub viewer: Actor,
    pub export_id: Uuid,
    pub covers: AuditScope,
    /// The auditor's previous checkpoint (a signed note), for the consistency proof.
    pub previous: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

/// Signs the download ticket of a recorded export; returns its URL path and expiry.
pub(crate) fn issue_ticket(
    services: &Services,
    principal: &Principal,
    export_id: Uuid,
    covers: AuditScope,
    previous: Option<String>,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), AuthError> {
    let expires = now + EXPORT_TICKET_LIFETIME;
    let ticket = ExportTicket {
        tenant: principal.tenant.to_string(),
        viewer: principal.actor.clone(),
        export_id,
        covers,
        previous,
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    let token = services
        .auth
        .sign_ticket(TicketKind::AuditExport, &ticket)?;
    Ok((format!("/v1/audit/exports/{token}"), expires))
}

/// `GET /v1/audit/exports/{ticket}`.
pub(crate) async fn download(
    State(state): State<Arc<ApiState>>,
    Path(ticket): Path<String>,
) -> Response {
    match start(&state.services, &ticket).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn start(services: &Arc<Services>, ticket: &str) -> Result<Response, Refusal> {
    let ticket = services
        .auth
        .verify_ticket::<ExportTicket>(TicketKind::AuditExport, ticket)
        .map_err(Refusal::bad_ticket)?;
    let tenant = TenantId::parse(&ticket.tenant).map_err(AppError::Domain)?;
    crate::graphql::record_tenant(&Principal {
        tenant: tenant.clone(),
        actor: ticket.viewer.clone(),
    });
    // The viewer must still read the log: a member whose auditor role was taken away after
    // the export was recorded downloads nothing.
    let organisation: Loaded<Tenant> = services.app.load(&tenant, &tenant_stream()).await?;
    let still_reads = match &ticket.viewer {
        Actor::User { user_id } => organisation
            .state
            .roles_of(user_id)
            .is_some_and(|roles| roles.contains(&Role::Auditor) || roles.contains(&Role::OrgAdmin)),
        _ => false,
    };
    if !still_reads {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the log is read by an auditor or an org_admin",
        ));
    }

    // The bundle is written by a task into a pipe that the response body drains; a failure
    // part-way ends the body with an error, so the client sees a broken transfer rather
    // than a bundle that merely looks short.
    let (mut pipe, reader) = tokio::io::duplex(256 * 1024);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let writer_services = Arc::clone(services);
    let export_id = ticket.export_id;
    let export_tenant = tenant.clone();
    tokio::spawn(async move {
        let outcome = writer_services
            .app
            .write_audit_bundle(
                &export_tenant,
                &writer_services.signer,
                &ticket.covers,
                ticket.previous,
                &mut pipe,
            )
            .await;
        match &outcome {
            Ok(summary) => tracing::info!(
                %export_id,
                events = summary.bundle.events,
                tree_size = summary.bundle.tree_size,
                "audit bundle written"
            ),
            Err(error) => tracing::error!(%export_id, %error, "audit bundle failed part-way"),
        }
        drop(pipe);
        // The receiver is gone only when the client went away.
        let _ = done_tx.send(outcome.is_ok());
    });
    let body =
        futures_util::stream::unfold((reader, Some(done_rx)), |(mut reader, done)| async move {
            let mut buffer = vec![0; 64 * 1024];
            match reader.read(&mut buffer).await {
                Ok(0) => {
                    let finished = done?.await.unwrap_or(false);
                    (!finished).then(|| {
                        let error = io::Error::other("the audit bundle failed part-way");
                        (Err(error), (reader, None))
                    })
                }
                Ok(read) => {
                    buffer.truncate(read);
                    Some((Ok(Bytes::from(buffer)), (reader, done)))
                }
                Err(error) => Some((Err(error), (reader, None))),
            }
        });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"confide-audit-{tenant}-{export_id}.jsonl\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}
