//! Audit bundles over HTTP: `exportAuditTrail` records the export and returns a ticket URL;
//! `GET /v1/audit/exports/{ticket}` streams the bundle (`schema/audit-bundle.md`) as the
//! application writes it from the log, so memory stays flat whatever the log's size.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::ApiState;
use crate::auth::TicketKind;
use crate::error::Result;
use crate::tickets::{self, ExportTicket};

/// `GET /v1/audit/exports/{ticket}`.
pub(crate) async fn download(
    State(state): State<Arc<ApiState>>,
    Path(ticket): Path<String>,
) -> Result<Response> {
    let (ticket, caller) =
        tickets::verify::<ExportTicket>(&state.auth, TicketKind::AuditExport, &ticket)?;
    // The viewer must still read the log: a member whose auditor role was taken away after
    // the export was recorded downloads nothing.
    state.app.may_read_log(&caller).await?;

    // The bundle is written by a task into a pipe that the response body drains; a failure
    // part-way ends the body with an error, so the client sees a broken transfer rather
    // than a bundle that merely looks short.
    let (mut pipe, reader) = tokio::io::duplex(256 * 1024);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let app = Arc::clone(&state.app);
    let export_id = ticket.export_id;
    let tenant = caller.tenant.clone();
    tokio::spawn(async move {
        let outcome = app
            .write_audit_bundle(&caller, &ticket.covers, ticket.previous, &mut pipe)
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
