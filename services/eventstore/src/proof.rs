//! Inclusion and consistency proofs of a tenant's tree, built from the store's node hashes
//! with the same `confide_audit` functions an auditor's verifier uses.

use confide_audit::merkle::{self, Hash, NodeId};

use crate::{ConsistencyProof, EventStore, InclusionProof, StoreError, TenantId, TreeHead};

/// The root of a tenant's tree when it had `size` events.
pub async fn root_at<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    size: u64,
) -> Result<Hash, StoreError> {
    let head = require_size(store, tenant, size).await?;
    if size == head.size {
        return Ok(head.root);
    }
    build(store, tenant, size, |node| merkle::root(size, node)).await
}

/// Proves that event `sequence` is in the tenant's tree of `tree_size` events.
pub async fn inclusion_proof<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    sequence: u64,
    tree_size: u64,
) -> Result<InclusionProof, StoreError> {
    if sequence >= tree_size {
        return Err(StoreError::Invalid(format!(
            "event {sequence} is not in a tree of {tree_size} events"
        )));
    }
    let path = build(store, tenant, tree_size, |node| {
        merkle::inclusion_proof(sequence, tree_size, node)
    })
    .await?
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(InclusionProof {
        sequence,
        tree_size,
        path,
    })
}

/// Proves that the tenant's tree of `old_size` events is a prefix of the one of `new_size`.
pub async fn consistency_proof<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, StoreError> {
    if old_size == 0 || old_size > new_size {
        return Err(StoreError::Invalid(format!(
            "no consistency proof from {old_size} to {new_size} events"
        )));
    }
    let path = build(store, tenant, new_size, |node| {
        merkle::consistency_proof(old_size, new_size, node)
    })
    .await?
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(ConsistencyProof {
        old_size,
        new_size,
        path,
    })
}

async fn require_size<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    size: u64,
) -> Result<TreeHead, StoreError> {
    let head = store
        .tree_head(tenant)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant} has no events")))?;
    if size == 0 || size > head.size {
        return Err(StoreError::Invalid(format!(
            "tenant {tenant}'s tree has {} events, not {size}",
            head.size
        )));
    }
    Ok(head)
}

/// Runs a proof builder twice: once to learn which nodes it needs (they do not depend on the
/// hash values), then with those nodes fetched in a single round trip. The head is read only
/// to explain a node that is not there.
async fn build<S, T, F>(
    store: &S,
    tenant: &TenantId,
    size: u64,
    builder: F,
) -> Result<T, StoreError>
where
    S: EventStore + ?Sized,
    F: Fn(&mut dyn FnMut(NodeId) -> Hash) -> T,
{
    let mut wanted = Vec::new();
    builder(&mut |id| {
        wanted.push(id);
        [0; 32]
    });
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        // A proof with no hashes (a tree of one event, or a tree against itself) still
        // claims that the tree exists.
        require_size(store, tenant, size).await?;
    }
    let found = store.nodes(tenant, &wanted).await?;
    if let Some(missing) = wanted.iter().find(|id| !found.contains_key(id)) {
        // Usually a size beyond the tree (or a tenant with no events): say which. Only a tree
        // that is long enough and still lacks a node is damaged.
        require_size(store, tenant, size).await?;
        return Err(StoreError::Integrity(format!(
            "tenant {tenant}'s tree is missing node {missing:?}"
        )));
    }
    Ok(builder(&mut |id| found[&id]))
}
