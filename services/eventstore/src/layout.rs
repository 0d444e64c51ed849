//! Where a tenant's tree is stored: every event row carries its leaf hash and the roots of the
//! perfect subtrees it completes, smallest first. Appending leaf `s` completes the subtrees of
//! levels 1 to `t`, `t` being the number of trailing zero bits of `s + 1`; so node (level `l`,
//! index `i`) is stored with event `(i + 1)·2^l − 1`, at bytes `[(l − 1)·32, l·32)`.

use confide_audit::merkle::{Hash, NodeId};

/// The sequence of the event that stores `node`.
pub(crate) fn stored_at(node: NodeId) -> Option<u64> {
    let width = 1u64.checked_shl(u32::from(node.level))?;
    node.index
        .checked_add(1)?
        .checked_mul(width)?
        .checked_sub(1)
}

/// The node of `level` stored with event `sequence`.
pub(crate) fn node_at(level: u8, sequence: u64) -> NodeId {
    NodeId {
        level,
        index: ((sequence + 1) >> level).saturating_sub(1),
    }
}

/// The right edge of a tree of `size` leaves, largest subtree first: one per bit of `size`.
pub(crate) fn right_edge(size: u64) -> Vec<NodeId> {
    (0..64u8)
        .rev()
        .filter(|level| (size >> level) & 1 == 1)
        .map(|level| NodeId {
            level,
            index: (size >> level) - 1,
        })
        .collect()
}

/// The hash of the node of `level` in a row with these columns.
pub(crate) fn hash_in_row(level: u8, leaf_hash: &[u8], subtree_roots: &[u8]) -> Option<Hash> {
    let bytes = match level {
        0 => leaf_hash,
        _ => {
            let start = (usize::from(level) - 1) * 32;
            subtree_roots.get(start..start + 32)?
        }
    };
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use confide_audit::merkle::{Frontier, leaf_hash};

    /// Every node a frontier reports as completed is found where the layout says, and the
    /// right edge names exactly the frontier's subtrees.
    #[test]
    fn nodes_are_stored_with_the_event_that_completes_them() {
        let mut frontier = Frontier::new();
        for sequence in 0..200u64 {
            let mut completed = Vec::new();
            frontier.push(leaf_hash(&sequence.to_be_bytes()), &mut completed);
            for (position, (node, _)) in completed.iter().enumerate() {
                assert_eq!(usize::from(node.level), position + 1);
                assert_eq!(stored_at(*node), Some(sequence));
                assert_eq!(node_at(node.level, sequence), *node);
            }
            let edge = right_edge(sequence + 1);
            assert_eq!(edge.len(), frontier.hashes().len());
            let covered: u64 = edge.iter().map(|n| 1u64 << n.level).sum();
            assert_eq!(covered, sequence + 1);
        }
        assert_eq!(stored_at(NodeId { level: 0, index: 9 }), Some(9));
        assert_eq!(
            stored_at(NodeId {
                level: 63,
                index: 2
            }),
            None
        );
    }
}
