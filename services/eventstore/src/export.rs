//! Audit bundles of a tenant's log (`schema/audit-bundle.md`) written from the store, and
//! the store's own check of its rows against its tree.
//!
//! Both rebuild every leaf from the event as stored, with the same `confide_audit` functions
//! an auditor's verifier uses, so the bundle an auditor checks and the tree the store keeps
//! cannot disagree without one of them saying so.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use confide_audit::bundle::{
    BundleHeader, BundleSummary, BundleWriter, Previous, origin_names_tenant,
};
use confide_audit::checkpoint::{Checkpoint, NoteVerifier};
use confide_audit::merkle::{Frontier, Hash, NodeId};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::checkpoint::{CheckpointSigner, sign_checkpoint};
use crate::proof::consistency_proof;
use crate::types::format_timestamp;
use crate::{EventStore, RecordedEvent, StoreError, StoredCheckpoint, TenantId};

pub use confide_audit::bundle::Filter;

/// How many events one read of the log brings; also how much of the bundle is held before
/// it is handed to the output (about a megabyte).
const PAGE: u64 = 1_000;

/// What an auditor asks for.
#[derive(Clone, Debug, Default)]
pub struct ExportRequest {
    /// Which events to disclose. A filter with subjects is closed over the log before the
    /// bundle is written (see [`Filter::close_over`]): asking for a client discloses their
    /// consents, recordings and the grants on them too.
    pub filter: Filter,
    /// The checkpoint the auditor verified last time (a signed note), so the bundle proves
    /// the log only grew since.
    pub previous: Option<String>,
    /// What writes the bundle, e.g. `confide 0.1.0`.
    pub generator: String,
}

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    /// The checkpoint the bundle is verified against.
    pub checkpoint: StoredCheckpoint,
    /// The filter as closed and written in the bundle's header.
    pub filter: Filter,
    /// Counts, root and digest of the bundle.
    pub bundle: BundleSummary,
}

/// Why an export failed. After any error the output is not a valid bundle.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The filter or the previous checkpoint cannot be used; nothing was written.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store's events do not make the tree its checkpoint signs (run
    /// `confide audit verify-store`), or a bug produced a line the writer refused.
    #[error("the bundle could not be written: {0}")]
    Bundle(#[from] confide_audit::bundle::BundleError),
    /// The output failed.
    #[error("writing the bundle failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Signs the tenant's head (or reuses the checkpoint that covers it) and writes a bundle of
/// the whole log against it to `out`: the events `request.filter` matches disclosed, every
/// other leaf hidden behind its hash, and a consistency proof from `request.previous`.
/// Memory stays flat: events are read and written a page at a time.
#[tracing::instrument(name = "eventstore.export_bundle", skip_all, fields(tenant_id = %tenant))]
pub async fn export_bundle<S, W>(
    store: &S,
    signer: &CheckpointSigner,
    tenant: &TenantId,
    request: ExportRequest,
    now: DateTime<Utc>,
    out: &mut W,
) -> Result<ExportSummary, ExportError>
where
    S: EventStore + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    request.filter.validate().map_err(ExportError::Invalid)?;
    let checkpoint = sign_checkpoint(store, signer, tenant, now).await?;
    let size = checkpoint.tree_size;
    let filter = close_filter(store, tenant, request.filter, size).await?;
    let proof = match &request.previous {
        Some(note) => Some(previous_proof(store, signer, tenant, note, size).await?),
        None => None,
    };
    let previous = request.previous.as_deref().zip(proof.as_deref());
    let header = BundleHeader {
        tenant_id: tenant.to_string(),
        filter: filter.clone(),
        scan: 0..size,
        exported_at: format_timestamp(now),
        generator: request.generator,
    };
    let mut writer = BundleWriter::new(
        Vec::with_capacity(1 << 20),
        &header,
        &[signer.note_signer().verifier()],
        &checkpoint.note,
        previous.map(|(note, proof)| Previous { note, proof }),
    )?;
    let mut next = 0;
    while next < size {
        for event in read_page(store, tenant, next, size).await? {
            writer.push_envelope(&event.envelope())?;
        }
        next = writer.position();
        let written = std::mem::take(writer.output_mut());
        out.write_all(&written).await?;
        *writer.output_mut() = recycle(written);
    }
    let (rest, bundle) = writer.finish()?;
    out.write_all(&rest).await?;
    out.flush().await?;
    Ok(ExportSummary {
        checkpoint,
        filter,
        bundle,
    })
}

/// The filter with every stream its subjects created listed too, as the bundle format's
/// closure rule requires. One pass in sequence order suffices for Confide's events: a
/// stream's first event precedes every event that names it.
async fn close_filter<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    mut filter: Filter,
    size: u64,
) -> Result<Filter, ExportError> {
    if filter.subjects.is_empty() {
        return Ok(filter);
    }
    let mut next = 0;
    while next < size {
        let events = read_page(store, tenant, next, size).await?;
        for event in &events {
            filter.close_over(
                &format_timestamp(event.recorded_at),
                event.stream_id.as_str(),
                event.stream_version,
                &event.payload,
            );
        }
        next += events.len() as u64;
    }
    Ok(filter)
}

/// The consistency proof from the auditor's previous checkpoint to a tree of `size`.
async fn previous_proof<S: EventStore + ?Sized>(
    store: &S,
    signer: &CheckpointSigner,
    tenant: &TenantId,
    note: &str,
    size: u64,
) -> Result<Vec<Hash>, ExportError> {
    let unusable = |reason: String| ExportError::Invalid(format!("previous checkpoint: {reason}"));
    let old = signer.own_checkpoint(tenant, note).map_err(|e| {
        unusable(format!(
            "{e} (it must be a checkpoint of this log signed by this server)"
        ))
    })?;
    if old.size > size {
        return Err(unusable(format!(
            "it covers {} events but this log has {size}",
            old.size
        )));
    }
    if old.size == size {
        return Ok(Vec::new());
    }
    Ok(consistency_proof(store, tenant, old.size, size).await?.path)
}

/// Up to a page of the tenant's events from `from`, below `size`, as stored: an event the
/// store upcast on read is not the one its leaf hashes.
async fn read_page<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    from: u64,
    size: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = PAGE.min(size - from) as usize;
    let events = store.read_tenant(tenant, from, limit).await?;
    for (expected, event) in (from..).zip(&events) {
        if event.sequence != expected {
            return Err(StoreError::Integrity(format!(
                "tenant {tenant}'s log has no event {expected} (the next one is {})",
                event.sequence
            )));
        }
        if event.was_upcast() {
            return Err(StoreError::Invalid(format!(
                "event {} was upcast on read; export from a store without upcasters",
                event.sequence
            )));
        }
    }
    if events.is_empty() {
        return Err(StoreError::Integrity(format!(
            "tenant {tenant}'s log ends at {from}, before its head's {size} events"
        )));
    }
    Ok(events)
}

fn recycle(mut buffer: Vec<u8>) -> Vec<u8> {
    buffer.clear();
    buffer
}

/// What [`verify_store`] checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreVerification {
    /// Events whose rows were rebuilt into leaves and checked.
    pub events: u64,
    /// Stored perfect-subtree hashes compared with the rebuilt tree's.
    pub nodes: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: u64,
    /// The root of the rebuilt tree, which equals the stored head's.
    pub root: Hash,
}

/// Checks a tenant's stored log against itself, row by row: every event's leaf is rebuilt
/// from its columns and compared with the stored leaf hash; every stored subtree hash (what
/// proofs are made of) with the one rebuilt from those leaves; every stored checkpoint's
/// signature (by one of `keys`) and root with the rebuilt tree at its size; stream versions
/// must count 1, 2, 3 in sequence order; and the head must be the rebuilt tree's size and
/// root. The first difference is an [`StoreError::Integrity`] naming the row.
#[tracing::instrument(name = "eventstore.verify_store", skip_all, fields(tenant_id = %tenant))]
pub async fn verify_store<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    keys: &[NoteVerifier],
) -> Result<StoreVerification, StoreError> {
    let damaged = |what: String| StoreError::Integrity(format!("tenant {tenant}: {what}"));
    let head = store
        .tree_head(tenant)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant} has no events")))?;
    let checkpoints = store.checkpoints(tenant).await?;
    let mut checkpoint_roots: HashMap<u64, Vec<&StoredCheckpoint>> = HashMap::new();
    for checkpoint in &checkpoints {
        if checkpoint.tree_size == 0 || checkpoint.tree_size > head.size {
            return Err(damaged(format!(
                "a checkpoint signs {} events but the head has {}",
                checkpoint.tree_size, head.size
            )));
        }
        check_checkpoint(tenant, checkpoint, keys).map_err(damaged)?;
        checkpoint_roots
            .entry(checkpoint.tree_size)
            .or_default()
            .push(checkpoint);
    }

    let mut frontier = Frontier::new();
    let mut completed: Vec<(NodeId, Hash)> = Vec::new();
    let mut stream_versions: HashMap<String, u64> = HashMap::new();
    let mut nodes = 0;
    while frontier.size() < head.size {
        let events = read_page(store, tenant, frontier.size(), head.size).await?;
        completed.clear();
        // A changed node explains a wrong checkpoint root more precisely, so checkpoints are
        // judged after the page's nodes.
        let mut wrong_checkpoint = None;
        for event in &events {
            let sequence = event.sequence;
            let leaf = event
                .envelope()
                .leaf_hash()
                .map_err(|e| damaged(format!("event {sequence} has no canonical form: {e}")))?;
            if leaf != event.leaf_hash {
                return Err(damaged(format!(
                    "event {sequence} ({} version {} of stream {}) does not hash to its stored \
                     leaf: its row was changed after it was appended",
                    event.event_type, event.stream_version, event.stream_id
                )));
            }
            let version = stream_versions
                .entry(event.stream_id.to_string())
                .or_default();
            *version += 1;
            if event.stream_version != *version {
                return Err(damaged(format!(
                    "event {sequence} is version {} of stream {}, which should be {}",
                    event.stream_version, event.stream_id, version
                )));
            }
            frontier.push(leaf, &mut completed);
            if let Some(signed) = checkpoint_roots.get(&frontier.size()) {
                let root = frontier.root();
                if let Some(bad) = signed.iter().find(|c| c.root != root) {
                    wrong_checkpoint.get_or_insert(format!(
                        "the checkpoint of {} events signed by {} has a root the events do \
                         not make",
                        bad.tree_size, bad.key_id
                    ));
                }
            }
        }
        let ids: Vec<NodeId> = completed.iter().map(|(id, _)| *id).collect();
        let stored = store.nodes(tenant, &ids).await?;
        for (id, hash) in &completed {
            if stored.get(id) != Some(hash) {
                return Err(damaged(format!(
                    "the stored hash of subtree (level {}, index {}) is not the one its \
                     events make",
                    id.level, id.index
                )));
            }
        }
        if let Some(wrong) = wrong_checkpoint {
            return Err(damaged(wrong));
        }
        nodes += completed.len() as u64;
    }
    let root = frontier.root();
    if root != head.root {
        return Err(damaged(
            "the head's root is not the one its events make".to_owned(),
        ));
    }
    Ok(StoreVerification {
        events: frontier.size(),
        nodes,
        checkpoints: checkpoints.len() as u64,
        root,
    })
}

/// A stored checkpoint's note must be signed by one of `keys`, name the tenant, and say
/// what its row says.
fn check_checkpoint(
    tenant: &TenantId,
    checkpoint: &StoredCheckpoint,
    keys: &[NoteVerifier],
) -> Result<(), String> {
    let what = format!(
        "the checkpoint of {} events signed by {}",
        checkpoint.tree_size, checkpoint.key_id
    );
    let body = keys
        .iter()
        .find_map(|key| key.verify(&checkpoint.note).ok())
        .ok_or_else(|| format!("{what} is not signed by a key of this server"))?;
    let signed = Checkpoint::parse_body(&body).map_err(|e| format!("{what}: {e}"))?;
    let names_tenant = origin_names_tenant(&signed.origin, tenant.as_str());
    if !names_tenant || signed.size != checkpoint.tree_size || signed.root != checkpoint.root {
        return Err(format!("{what} does not say what its row says"));
    }
    Ok(())
}
