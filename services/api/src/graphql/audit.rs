//! The log itself, for auditors: its events in order and signed checkpoints of its head.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use confide_app::MAX_LOG_PAGE;
use confide_domain::aggregates::tenant::AuditScope;
use serde_json::Value;
use uuid::Uuid;

use super::lists::{connection, page_request};
use crate::caller::{app, auth, caller};
use crate::error::{ApiError, Result};
use crate::tickets;

#[derive(Default)]
pub(super) struct AuditQuery;

#[derive(Default)]
pub(super) struct AuditMutation;

/// One event as logged. Personal details in payloads are sealed under their client's key.
#[derive(SimpleObject)]
struct AuditEvent {
    sequence: u64,
    event_id: Uuid,
    stream: String,
    stream_version: u64,
    event_type: String,
    schema_version: u32,
    recorded_at: DateTime<Utc>,
    payload: Json<Value>,
    /// Who caused it, and how.
    metadata: Json<Value>,
    /// The event's leaf in the tenant's Merkle tree, hex.
    leaf_hash: String,
}

/// A signed statement of the log's size and root (a C2SP signed note).
#[derive(SimpleObject)]
struct Checkpoint {
    tree_size: u64,
    /// The Merkle root, hex.
    root: String,
    key_id: String,
    note: String,
    signed_at: DateTime<Utc>,
}

/// What an audit export covers. With no subjects, the whole log is disclosed; with
/// subjects, the events naming them and the streams they created (a client's consents and
/// recordings, the grants on those), and every other event only as a hash.
#[derive(InputObject, Default)]
struct AuditExportInput {
    /// Events recorded at or after this instant.
    from: Option<DateTime<Utc>>,
    /// Events recorded before this instant.
    until: Option<DateTime<Utc>>,
    #[graphql(default)]
    client_ids: Vec<Uuid>,
    #[graphql(default)]
    recording_ids: Vec<Uuid>,
    #[graphql(default)]
    consent_ids: Vec<Uuid>,
    /// The checkpoint (signed note) verified at the last audit: the bundle then proves that
    /// today's log extends it.
    previous_checkpoint: Option<String>,
}

/// A recorded export and where to download its bundle.
#[derive(SimpleObject)]
struct AuditExport {
    export_id: Uuid,
    /// `GET` this path for the bundle (JSON lines, `schema/audit-bundle.md`); check it with
    /// `confide-verify`. No bearer token is needed: the URL is the ticket.
    download_url: String,
    expires_at: DateTime<Utc>,
}

#[Object]
impl AuditQuery {
    /// The tenant's events in sequence order, a page at a time: `first` (up to 1000) after
    /// the cursor `after`. The first page starts at the log's first event (sequence 0, the
    /// first leaf of the tenant's tree).
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, AuditEvent>> {
        let request = page_request(first, after, MAX_LOG_PAGE)?;
        let page = app(ctx).audit_events_page(caller(ctx)?, &request).await?;
        Ok(connection(&request, page, |e| {
            Some(AuditEvent {
                sequence: e.sequence,
                event_id: e.event_id,
                stream: e.stream_id.to_string(),
                stream_version: e.stream_version,
                event_type: e.event_type,
                schema_version: e.schema_version,
                recorded_at: e.recorded_at,
                payload: Json(e.payload),
                metadata: Json(e.metadata),
                leaf_hash: hex::encode(e.leaf_hash),
            })
        }))
    }
}

#[Object]
impl AuditMutation {
    /// Records an export of the audit trail (itself an event of the log) and returns the URL
    /// of its bundle, which is written when fetched, against a checkpoint of the log as it
    /// then is.
    async fn export_audit_trail(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: AuditExportInput,
    ) -> Result<AuditExport> {
        let caller = caller(ctx)?;
        let scope = AuditScope::new(
            input.from,
            input.until,
            &input.client_ids,
            &input.recording_ids,
            &input.consent_ids,
        )?;
        let export_id = app(ctx)
            .record_audit_export(caller, scope.clone(), input.previous_checkpoint.as_deref())
            .await?;
        let (download_url, expires_at) = tickets::issue_export(
            auth(ctx),
            caller,
            export_id,
            scope,
            input.previous_checkpoint,
            Utc::now(),
        )
        .map_err(|e| ApiError::internal(&e))?;
        Ok(AuditExport {
            export_id,
            download_url,
            expires_at,
        })
    }

    /// Signs the tenant's current tree head with the server's checkpoint key and keeps it;
    /// when the newest checkpoint already covers the head, that one is returned.
    async fn checkpoint(&self, ctx: &Context<'_>) -> Result<Checkpoint> {
        let checkpoint = app(ctx).checkpoint(caller(ctx)?).await?;
        Ok(Checkpoint {
            tree_size: checkpoint.tree_size,
            root: hex::encode(checkpoint.root),
            key_id: checkpoint.key_id,
            note: checkpoint.note,
            signed_at: checkpoint.signed_at,
        })
    }
}
