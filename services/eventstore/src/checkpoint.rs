//! Signed checkpoints of a tenant's tree: C2SP tlog-checkpoint bodies in Ed25519 signed notes.

use std::fmt;

use chrono::{DateTime, Utc};
use confide_audit::checkpoint::{Checkpoint, NoteSigner};

use crate::{EventStore, StoreError, StoredCheckpoint, TenantId};

/// Signs tree heads for one deployment. The origin line of a tenant's checkpoint is
/// `<origin prefix>/<tenant id>`, so a checkpoint can never be mistaken for another tenant's.
pub struct CheckpointSigner {
    signer: NoteSigner,
    origin_prefix: String,
}

impl CheckpointSigner {
    pub fn new(signer: NoteSigner, origin_prefix: impl Into<String>) -> Self {
        Self {
            signer,
            origin_prefix: origin_prefix.into(),
        }
    }

    pub fn origin(&self, tenant: &TenantId) -> String {
        format!("{}/{}", self.origin_prefix, tenant)
    }

    pub fn key_id(&self) -> String {
        format!("{:08x}", self.signer.key_id())
    }

    pub fn note_signer(&self) -> &NoteSigner {
        &self.signer
    }

    /// The checkpoint in `note`, if this signer signed it for `tenant`'s log; else why not.
    pub fn own_checkpoint(&self, tenant: &TenantId, note: &str) -> Result<Checkpoint, String> {
        let body = self
            .signer
            .verifier()
            .verify(note)
            .map_err(|e| e.to_string())?;
        let checkpoint = Checkpoint::parse_body(&body).map_err(|e| e.to_string())?;
        if checkpoint.origin != self.origin(tenant) {
            return Err(format!(
                "it is a checkpoint of {:?}, not of tenant {tenant}",
                checkpoint.origin
            ));
        }
        Ok(checkpoint)
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("origin_prefix", &self.origin_prefix)
            .field("key_id", &self.key_id())
            .finish()
    }
}

/// Signs the tenant's current tree head, keeps the checkpoint and returns it. If the newest
/// checkpoint by this key already covers the current size, that one is returned unchanged.
pub async fn sign_checkpoint<S: EventStore + ?Sized>(
    store: &S,
    signer: &CheckpointSigner,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<StoredCheckpoint, StoreError> {
    let head = store
        .tree_head(tenant)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant} has no events")))?;
    let key_id = signer.key_id();
    if let Some(latest) = store.latest_checkpoint(tenant, &key_id).await?
        && latest.tree_size == head.size
    {
        return Ok(latest);
    }
    let body = Checkpoint {
        origin: signer.origin(tenant),
        size: head.size,
        root: head.root,
        extensions: Vec::new(),
    }
    .to_body();
    let checkpoint = StoredCheckpoint {
        tenant_id: tenant.clone(),
        tree_size: head.size,
        root: head.root,
        key_id,
        note: signer.signer.sign(&body),
        signed_at: crate::types::truncate_timestamp(now),
    };
    store.store_checkpoint(&checkpoint).await?;
    Ok(checkpoint)
}
