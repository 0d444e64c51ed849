//! RFC 9162 (Certificate Transparency v2) Merkle tree hashing with SHA-256.
//!
//! The tree over leaves `D[0:n]` is the one of RFC 9162 §2.1.1: a leaf hashes
//! as `SHA-256(0x00 || data)`, an interior node as
//! `SHA-256(0x01 || left || right)`, the empty tree as `SHA-256("")`, and a
//! list of `n > 1` leaves splits at the largest power of two smaller than `n`.
//!
//! Proof generation never sees the leaves. It asks a caller-supplied closure
//! for the hashes of *perfect subtrees* ([`NodeId`]s) and combines them. Every
//! generator here only asks for complete subtrees inside the tree of the given
//! size, and asks for the same ones whatever hashes the closure returns, so a
//! database-backed store can first learn which nodes a proof needs with
//! [`required_nodes`], fetch them in one query, and then run the generator
//! again for real.
//!
//! [`Frontier`] keeps the right edge of a growing tree, so appending a leaf
//! costs `O(log n)` and yields the new perfect subtrees that a store persists.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf with the given data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// `SHA-256("")`: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A perfect subtree: the one covering leaves
/// `[index * 2^level, (index + 1) * 2^level)`. Level 0 is a single leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// The height of the subtree: it covers `2^level` leaves.
    pub level: u8,
    /// The position of the subtree among those of its level, from the left.
    pub index: u64,
}

/// Why a proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index that was asked for.
        index: u64,
        /// The size of the tree.
        size: u64,
    },
    /// A consistency proof needs `0 < old_size <= new_size`.
    #[error(
        "no consistency proof exists from size {old_size} to size {new_size}: it needs 0 < old size <= new size"
    )]
    InvalidSizes {
        /// The size of the older tree.
        old_size: u64,
        /// The size of the newer tree.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for the sizes and index given.
    #[error("the proof has {actual} hashes but must have {expected}")]
    WrongProofLength {
        /// How many hashes a proof for these parameters has.
        expected: usize,
        /// How many hashes the proof has.
        actual: usize,
    },
    /// The proof leads to a different root than the one it was checked against
    /// (for a consistency proof: a different new root).
    #[error(
        "the proof leads to root {} but the expected root is {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch {
        /// The root the proof leads to.
        computed: Hash,
        /// The root it was checked against.
        expected: Hash,
    },
    /// A consistency proof leads to a different old root than the one given.
    #[error(
        "the consistency proof leads to old root {} but the expected old root is {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    OldRootMismatch {
        /// The old root the proof leads to.
        computed: Hash,
        /// The old root it was checked against.
        expected: Hash,
    },
    /// A frontier of this size has a different number of hashes.
    #[error("a frontier of size {size} has {expected} hashes, not {actual}")]
    WrongFrontierLength {
        /// The tree size the frontier is for.
        size: u64,
        /// `popcount(size)`.
        expected: usize,
        /// How many hashes were given.
        actual: usize,
    },
    /// Serialized frontier bytes have the wrong length for the tree size.
    #[error("a serialized frontier of size {size} is {expected} bytes long, not {actual}")]
    WrongFrontierByteLength {
        /// The tree size the frontier is for.
        size: u64,
        /// `32 * popcount(size)`.
        expected: usize,
        /// How many bytes were given.
        actual: usize,
    },
    /// A perfect subtree of this level cannot follow a tree of this size: the size is not a
    /// multiple of the subtree's width, or the sum overflows.
    #[error("a perfect subtree of level {level} cannot be appended to a tree of size {size}")]
    MisalignedSubtree {
        /// The size of the tree appended to.
        size: u64,
        /// The level of the subtree.
        level: u8,
    },
}

/// The largest power of two strictly smaller than `len`; `len` must be at
/// least 2. This is RFC 9162's `k`.
fn split_point(len: u64) -> u64 {
    debug_assert!(len >= 2);
    1 << (63 - (len - 1).leading_zeros())
}

/// MTH(D\[start:end\]): the root of the leaves `start..end`, following the
/// RFC 9162 recursion and asking `node` for each perfect subtree that the
/// recursion reaches at an aligned position, all of them inside
/// `start..end`. For the ranges that the RFC recursion itself produces
/// (`start` a multiple of a power of two at least `end - start`), those are
/// the perfect subtrees of the binary decomposition of `end - start`.
/// `end == start` gives [`empty_root`].
///
/// # Panics
///
/// Panics if `end < start`, which is a bug in the caller.
pub fn subtree_root<F>(start: u64, end: u64, node: &mut F) -> Hash
where
    F: FnMut(NodeId) -> Hash + ?Sized,
{
    assert!(
        start <= end,
        "subtree_root: start {start} is after end {end}"
    );
    let len = end - start;
    if len == 0 {
        return empty_root();
    }
    if len.is_power_of_two() && start.is_multiple_of(len) {
        let level = len.trailing_zeros() as u8;
        return node(NodeId {
            level,
            index: start >> level,
        });
    }
    // An unaligned power-of-two range cannot be a stored node, so it splits
    // like any other range until its pieces are aligned (leaves always are).
    let split = if len.is_power_of_two() {
        len / 2
    } else {
        split_point(len)
    };
    let left = subtree_root(start, start + split, node);
    let right = subtree_root(start + split, end, node);
    node_hash(&left, &right)
}

/// The root of the tree of the first `size` leaves.
pub fn root<F>(size: u64, node: &mut F) -> Hash
where
    F: FnMut(NodeId) -> Hash + ?Sized,
{
    subtree_root(0, size, node)
}

/// PATH(index, D\[size\]) of RFC 9162 §2.1.3.1: the inclusion proof of leaf
/// `index` in the tree of `size` leaves, ordered from the leaf upwards.
pub fn inclusion_proof<F>(index: u64, size: u64, node: &mut F) -> Result<Vec<Hash>, ProofError>
where
    F: FnMut(NodeId) -> Hash + ?Sized,
{
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    inclusion_path(index, 0, size, node, &mut proof);
    Ok(proof)
}

/// PATH(index - start, D\[start:end\]), appended to `proof`.
fn inclusion_path<F>(index: u64, start: u64, end: u64, node: &mut F, proof: &mut Vec<Hash>)
where
    F: FnMut(NodeId) -> Hash + ?Sized,
{
    let len = end - start;
    if len <= 1 {
        return;
    }
    let middle = start + split_point(len);
    if index < middle {
        inclusion_path(index, start, middle, node, proof);
        proof.push(subtree_root(middle, end, node));
    } else {
        inclusion_path(index, middle, end, node, proof);
        proof.push(subtree_root(start, middle, node));
    }
}

/// PROOF(old_size, D\[new_size\]) of RFC 9162 §2.1.4.1: the consistency proof
/// from the tree of `old_size` leaves to the tree of `new_size` leaves. Equal
/// sizes give an empty proof.
pub fn consistency_proof<F>(
    old_size: u64,
    new_size: u64,
    node: &mut F,
) -> Result<Vec<Hash>, ProofError>
where
    F: FnMut(NodeId) -> Hash + ?Sized,
{
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    let mut proof = Vec::new();
    consistency_subproof(old_size, 0, new_size, node, &mut proof);
    Ok(proof)
}

/// SUBPROOF(old_size - start, D\[start:end\], b), appended to `proof`, where
/// `start < old_size <= end`. The RFC's flag `b` ("this subtree's old part is
/// the whole old tree, whose root the verifier already has") is true exactly
/// while the recursion stays on the left edge, that is when `start == 0`.
fn consistency_subproof<F>(old_size: u64, start: u64, end: u64, node: &mut F, proof: &mut Vec<Hash>)
where
    F: FnMut(NodeId) -> Hash + ?Sized,
{
    if old_size == end {
        if start != 0 {
            proof.push(subtree_root(start, end, node));
        }
        return;
    }
    let middle = start + split_point(end - start);
    if old_size <= middle {
        consistency_subproof(old_size, start, middle, node, proof);
        proof.push(subtree_root(middle, end, node));
    } else {
        consistency_subproof(old_size, middle, end, node, proof);
        proof.push(subtree_root(start, middle, node));
    }
}

/// Runs a proof generator with a recording closure and returns the sorted,
/// deduplicated perfect subtrees it asked for. The recording closure answers
/// every request with a dummy hash, which is enough because the generators
/// ask for the same nodes whatever the hashes are. The generator's own result
/// is discarded: if the parameters are invalid, the second, real call reports
/// the error.
///
/// ```
/// use std::collections::HashMap;
/// use confide_audit::merkle::{self, Frontier, Hash, NodeId};
///
/// // A toy store holding every perfect subtree of a ten-leaf tree: the leaves
/// // themselves plus the interior nodes that `Frontier::push` reports.
/// let mut store: HashMap<NodeId, Hash> = HashMap::new();
/// let mut frontier = Frontier::new();
/// let mut completed = Vec::new();
/// for index in 0..10u64 {
///     let leaf = merkle::leaf_hash(&index.to_be_bytes());
///     store.insert(NodeId { level: 0, index }, leaf);
///     frontier.push(leaf, &mut completed);
/// }
/// store.extend(completed);
///
/// // First pass: learn which nodes the proof needs.
/// let needed = merkle::required_nodes(|node| merkle::inclusion_proof(3, 10, node));
/// // Fetch exactly those (one query in a real store) and generate for real.
/// let fetched: HashMap<NodeId, Hash> = needed.iter().map(|id| (*id, store[id])).collect();
/// let proof = merkle::inclusion_proof(3, 10, &mut |id| fetched[&id])?;
///
/// let leaf = store[&NodeId { level: 0, index: 3 }];
/// merkle::verify_inclusion(&leaf, 3, 10, &proof, &frontier.root())?;
/// # Ok::<(), merkle::ProofError>(())
/// ```
pub fn required_nodes<R>(
    generate: impl FnOnce(&mut dyn FnMut(NodeId) -> Hash) -> R,
) -> Vec<NodeId> {
    let mut asked = Vec::new();
    let mut record = |id: NodeId| {
        asked.push(id);
        [0u8; 32]
    };
    // The generator's result only matters in the real call.
    let _ = generate(&mut record);
    asked.sort_unstable();
    asked.dedup();
    asked
}

/// How many hashes the inclusion proof of leaf `index` in a tree of `size`
/// leaves has (`index < size`): the levels below the point where the paths to
/// `index` and to the last leaf part, plus the left siblings above it.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// How many hashes the consistency proof between these sizes has
/// (`0 < old_size <= new_size`): the inclusion proof of the old tree's last
/// leaf, minus the levels inside the old tree's rightmost perfect subtree,
/// plus that subtree's root unless it is the whole old tree.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    if old_size == new_size {
        return 0;
    }
    let shift = old_size.trailing_zeros() as usize;
    let seed = usize::from(!old_size.is_power_of_two());
    inclusion_proof_len(old_size - 1, new_size) - shift + seed
}

/// Recomputes the root of a tree of `size` leaves from the hash of leaf
/// `index` and its inclusion proof, per RFC 9162 §2.1.3.2.
pub fn root_from_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let wrong_length = || ProofError::WrongProofLength {
        expected: inclusion_proof_len(index, size),
        actual: proof.len(),
    };
    // The variable names are the RFC's: `fn` is the node's position on its
    // level and `sn` the position of the last node on that level.
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(wrong_length());
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // On the right edge a node without a right sibling moves up
            // unchanged, so skip the levels where that happens.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length());
    }
    Ok(r)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose
/// root is `root`, per RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf_hash, index, size, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the
/// tree of `old_size` leaves with root `old_root`, per RFC 9162 §2.1.4.2.
/// Equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    let wrong_length = || ProofError::WrongProofLength {
        expected: consistency_proof_len(old_size, new_size),
        actual: proof.len(),
    };
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(wrong_length());
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch {
                computed: *old_root,
                expected: *new_root,
            });
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(wrong_length());
    };
    // When the old tree is itself a perfect subtree, the proof leaves out its
    // root (the verifier has it) and the chain starts from it.
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (*first, rest)
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = seed;
    let mut s_r = seed;
    for c in rest {
        if s_n == 0 {
            return Err(wrong_length());
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length());
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch {
            computed: f_r,
            expected: *old_root,
        });
    }
    if s_r != *new_root {
        return Err(ProofError::RootMismatch {
            computed: s_r,
            expected: *new_root,
        });
    }
    Ok(())
}

/// The right edge of a tree (a "compact range" starting at leaf 0): the roots
/// of the perfect subtrees of the binary decomposition of `size`, largest
/// first. It is all an appender needs to compute the next root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    // Invariant: `hashes.len() == size.count_ones()`.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its size and its subtree roots, largest first.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(ProofError::WrongFrontierLength {
                size,
                expected,
                actual: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// A frontier from its size and the bytes of [`Frontier::to_bytes`].
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize * 32;
        if bytes.len() != expected {
            return Err(ProofError::WrongFrontierByteLength {
                size,
                expected,
                actual: bytes.len(),
            });
        }
        let hashes = bytes
            .chunks_exact(32)
            .map(|chunk| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(chunk);
                hash
            })
            .collect();
        Ok(Self { size, hashes })
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The subtree roots concatenated, largest first (32 bytes each).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// The root of the tree: the subtree roots folded from the right.
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }

    /// Appends one leaf hash and pushes onto `completed` every perfect
    /// subtree of level 1 or more that the new leaf completes, smallest
    /// first. The leaf itself (level 0) is not pushed: the store keeps leaf
    /// hashes with the events. After `n` pushes from empty, the pushed nodes
    /// and the leaves are exactly the perfect subtrees of the tree of size
    /// `n`.
    pub fn push(&mut self, leaf: Hash, completed: &mut Vec<(NodeId, Hash)>) {
        let leaf_index = self.size;
        // Each trailing one bit of the old size is a subtree of that height
        // waiting for a right sibling of the same height, which the new leaf
        // completes in turn, smallest first.
        let merges = self.size.trailing_ones() as usize;
        let keep = self.hashes.len() - merges;
        let mut hash = leaf;
        for (height, left) in (1u8..).zip(self.hashes.drain(keep..).rev()) {
            hash = node_hash(&left, &hash);
            completed.push((
                NodeId {
                    level: height,
                    index: leaf_index >> height,
                },
                hash,
            ));
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// Appends a whole perfect subtree of `2^level` leaves, given its root, as if its leaves
    /// were pushed one by one (without reporting the completed nodes). The tree's size must be
    /// a multiple of `2^level`: the subtree then sits at an aligned position, which is what
    /// [`range_nodes`] yields. A level of 0 appends one leaf hash.
    pub fn push_subtree(&mut self, level: u8, hash: Hash) -> Result<(), ProofError> {
        let misaligned = ProofError::MisalignedSubtree {
            size: self.size,
            level,
        };
        if level >= 64 || self.size & ((1u64 << level) - 1) != 0 {
            return Err(misaligned);
        }
        let width = 1u64 << level;
        let new_size = self.size.checked_add(width).ok_or(misaligned)?;
        // The frontier's subtrees smaller than this one are absent (the size is a multiple of
        // the width); each trailing one bit of `size >> level` is a subtree of that height
        // that the new one completes, smallest first.
        let merges = (self.size >> level).trailing_ones() as usize;
        let keep = self.hashes.len() - merges;
        let mut hash = hash;
        for left in self.hashes.drain(keep..).rev() {
            hash = node_hash(&left, &hash);
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(())
    }
}

/// The perfect subtrees that tile the leaves `start..end` with as few pieces as possible,
/// left to right: from `start`, each piece is the largest aligned subtree that starts there
/// and ends at or before `end`. Their sizes first grow, then shrink; there are at most about
/// `2 * log2(end - start)` of them, and none when `start >= end`.
///
/// Folding them into a [`Frontier`] of size `start` with [`Frontier::push_subtree`] gives
/// the frontier of size `end`, so a reader who knows these hashes for `0..start` and
/// `end..size` and every leaf of `start..end` recomputes the root of the tree of `size`
/// leaves: a range proof with `O(log size)` hashes for the whole range.
pub fn range_nodes(start: u64, end: u64) -> impl Iterator<Item = NodeId> {
    let mut position = start;
    std::iter::from_fn(move || {
        if position >= end {
            return None;
        }
        // The alignment of `position` bounds the level from above (position 0 is aligned to
        // everything); so does the length left.
        let alignment = if position == 0 {
            63
        } else {
            position.trailing_zeros()
        };
        let fits = 63 - (end - position).leading_zeros();
        let level = alignment.min(fits) as u8;
        let node = NodeId {
            level,
            index: position >> level,
        };
        position += 1 << level;
        Some(node)
    })
}

/// Accumulates consecutive leaf hashes from any starting position into the tiling of
/// [`range_nodes`], merging siblings as soon as both are known, so that a run of `n` leaves
/// costs about `n` node hashes and `O(log n)` memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactRange {
    start: u64,
    end: u64,
    // The pieces so far, left to right, as (level, hash).
    pieces: Vec<(u8, Hash)>,
}

impl CompactRange {
    /// An empty range at `start`.
    pub fn new(start: u64) -> Self {
        Self {
            start,
            end: start,
            pieces: Vec::new(),
        }
    }

    /// The first leaf of the range.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last leaf of the range.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether the range holds no leaf.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Appends the hash of leaf `end()`.
    pub fn push(&mut self, leaf: Hash) {
        self.pieces.push((0, leaf));
        self.end += 1;
        // The last piece merges with its left neighbour when both have the same level and
        // together they form an aligned subtree inside the range.
        while let [.., (left_level, left), (right_level, right)] = self.pieces[..] {
            if left_level != right_level {
                break;
            }
            // Both pieces are inside the range, so the pair starts at or after `start`.
            let width = 1u64 << (left_level + 1);
            let left_start = self.end - width;
            if !left_start.is_multiple_of(width) {
                break;
            }
            let merged = node_hash(&left, &right);
            self.pieces.truncate(self.pieces.len() - 2);
            self.pieces.push((left_level + 1, merged));
        }
    }

    /// The hashes of the pieces, left to right: those of [`range_nodes`]`(start, end)`.
    pub fn hashes(&self) -> impl ExactSizeIterator<Item = Hash> + '_ {
        self.pieces.iter().map(|(_, hash)| *hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    // ---------------------------------------------------------------------
    // An independent, naive implementation straight from the RFC 9162 text:
    // recursion over a list of leaf data, its own SHA-256 calls, no NodeIds.

    fn naive_leaf(data: &[u8]) -> Hash {
        let mut input = vec![0x00];
        input.extend_from_slice(data);
        Sha256::digest(&input).into()
    }

    fn naive_node(left: &Hash, right: &Hash) -> Hash {
        let mut input = vec![0x01];
        input.extend_from_slice(left);
        input.extend_from_slice(right);
        Sha256::digest(&input).into()
    }

    /// The largest power of two smaller than n (n > 1).
    fn naive_k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn naive_mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => Sha256::digest(b"").into(),
            1 => naive_leaf(&d[0]),
            n => {
                let k = naive_k(n);
                naive_node(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
            }
        }
    }

    fn naive_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = naive_k(n);
        if m < k {
            let mut path = naive_path(m, &d[..k]);
            path.push(naive_mth(&d[k..]));
            path
        } else {
            let mut path = naive_path(m - k, &d[k..]);
            path.push(naive_mth(&d[..k]));
            path
        }
    }

    fn naive_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![naive_mth(d)] };
        }
        let k = naive_k(n);
        if m <= k {
            let mut proof = naive_subproof(m, &d[..k], b);
            proof.push(naive_mth(&d[k..]));
            proof
        } else {
            let mut proof = naive_subproof(m - k, &d[k..], false);
            proof.push(naive_mth(&d[..k]));
            proof
        }
    }

    fn naive_proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        naive_subproof(m, d, true)
    }

    /// Every perfect subtree of the tree over `d`, computed naively.
    fn naive_perfect_subtrees(d: &[Vec<u8>]) -> BTreeMap<NodeId, Hash> {
        let mut nodes = BTreeMap::new();
        for level in 0..64u8 {
            let width = 1usize << level;
            if width > d.len() {
                break;
            }
            for index in 0..d.len() / width {
                let range = index * width..(index + 1) * width;
                nodes.insert(
                    NodeId {
                        level,
                        index: index as u64,
                    },
                    naive_mth(&d[range]),
                );
            }
        }
        nodes
    }

    fn leaf_data(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    /// A node source over `d` that checks every request is a complete perfect
    /// subtree of the tree of `size` leaves and records the requests.
    struct CheckedSource<'a> {
        d: &'a [Vec<u8>],
        size: u64,
        asked: Vec<NodeId>,
    }

    impl<'a> CheckedSource<'a> {
        fn new(d: &'a [Vec<u8>], size: u64) -> Self {
            Self {
                d,
                size,
                asked: Vec::new(),
            }
        }

        fn get(&mut self, id: NodeId) -> Hash {
            assert!(id.level < 64, "{id:?}");
            let start = id.index << id.level;
            let end = (id.index + 1) << id.level;
            assert!(
                end <= self.size,
                "asked for {id:?} outside a tree of size {}",
                self.size
            );
            self.asked.push(id);
            naive_mth(&self.d[start as usize..end as usize])
        }
    }

    /// Runs `generate` against the checked source and against a source that
    /// returns unrelated hashes, asserts both ask for the same nodes and that
    /// `required_nodes` reports them, and returns the real result.
    fn generate_checked<R>(
        d: &[Vec<u8>],
        size: u64,
        generate: impl Fn(&mut dyn FnMut(NodeId) -> Hash) -> R,
    ) -> R {
        let mut source = CheckedSource::new(d, size);
        let result = generate(&mut |id| source.get(id));

        let mut garbage_asked = Vec::new();
        let mut counter = 0u64;
        let _ = generate(&mut |id| {
            garbage_asked.push(id);
            counter += 1;
            naive_leaf(&counter.to_be_bytes())
        });
        assert_eq!(
            source.asked, garbage_asked,
            "requests depend on hash values"
        );

        let mut expected = source.asked.clone();
        expected.sort();
        expected.dedup();
        assert_eq!(required_nodes(&generate), expected);
        result
    }

    // ---------------------------------------------------------------------
    // Reference vectors used by certificate-transparency implementations,
    // copied from github.com/transparency-dev/merkle: testonly/constants.go
    // (LeafInputs, NodeHashes, RootHashes, CompactTrees) and
    // proof/verify_test.go (inclusionProofs, consistencyProofs). They go back
    // to the RFC 6962 reference implementation's merkle tree tests.

    const REFERENCE_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// RootHashes(): index = tree size.
    const REFERENCE_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// NodeHashes(): every perfect subtree of the eight-leaf tree, by level
    /// and then by index.
    const REFERENCE_NODES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// proof/verify_test.go inclusionProofs, with its 1-based `leaf` turned
    /// into a 0-based index: (index, size, proof).
    const REFERENCE_INCLUSION: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// proof/verify_test.go consistencyProofs: (old size, new size, proof).
    const REFERENCE_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn h(hex_hash: &str) -> Hash {
        hex::decode(hex_hash).unwrap().try_into().unwrap()
    }

    fn hashes(hex_hashes: &[&str]) -> Vec<Hash> {
        hex_hashes.iter().map(|hex_hash| h(hex_hash)).collect()
    }

    fn reference_leaf_data() -> Vec<Vec<u8>> {
        REFERENCE_LEAVES
            .iter()
            .map(|leaf| hex::decode(leaf).unwrap())
            .collect()
    }

    /// A node source that serves the published node hashes and nothing else.
    fn reference_node(id: NodeId) -> Hash {
        h(REFERENCE_NODES[usize::from(id.level)][id.index as usize])
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(empty_root(), h(REFERENCE_ROOTS[0]));
        assert_eq!(root(0, &mut |_| unreachable!()), h(REFERENCE_ROOTS[0]));
    }

    #[test]
    fn leaf_hashes_match_the_reference_vectors() {
        for (index, data) in reference_leaf_data().iter().enumerate() {
            assert_eq!(
                leaf_hash(data),
                h(REFERENCE_NODES[0][index]),
                "leaf {index}"
            );
        }
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let d = reference_leaf_data();
        for size in 1..=8u64 {
            let expected = h(REFERENCE_ROOTS[size as usize]);
            assert_eq!(root(size, &mut reference_node), expected, "size {size}");
            assert_eq!(
                naive_mth(&d[..size as usize]),
                expected,
                "naive, size {size}"
            );

            let mut frontier = Frontier::new();
            for data in &d[..size as usize] {
                frontier.push(leaf_hash(data), &mut Vec::new());
            }
            assert_eq!(frontier.root(), expected, "frontier, size {size}");
        }
    }

    #[test]
    fn perfect_subtrees_match_the_reference_node_hashes() {
        let naive = naive_perfect_subtrees(&reference_leaf_data());
        assert_eq!(naive.len(), 15);
        for (id, hash) in naive {
            assert_eq!(reference_node(id), hash, "{id:?}");
        }
    }

    /// CompactTrees() of testonly/constants.go: the frontier after each size.
    #[test]
    fn frontiers_match_the_reference_compact_trees() {
        let n = |level: usize, index: usize| h(REFERENCE_NODES[level][index]);
        let expected: [Vec<Hash>; 9] = [
            vec![],
            vec![n(0, 0)],
            vec![n(1, 0)],
            vec![n(1, 0), n(0, 2)],
            vec![n(2, 0)],
            vec![n(2, 0), n(0, 4)],
            vec![n(2, 0), n(1, 2)],
            vec![n(2, 0), n(1, 2), n(0, 6)],
            vec![n(3, 0)],
        ];
        let mut frontier = Frontier::new();
        assert_eq!(frontier.hashes(), expected[0].as_slice());
        for (size, data) in reference_leaf_data().iter().enumerate() {
            frontier.push(leaf_hash(data), &mut Vec::new());
            assert_eq!(
                frontier.hashes(),
                expected[size + 1].as_slice(),
                "size {}",
                size + 1
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_vectors() {
        for (index, size, expected) in REFERENCE_INCLUSION {
            let expected = hashes(expected);
            let proof = inclusion_proof(index, size, &mut reference_node).unwrap();
            assert_eq!(proof, expected, "index {index}, size {size}");
            let leaf = h(REFERENCE_NODES[0][index as usize]);
            verify_inclusion(
                &leaf,
                index,
                size,
                &expected,
                &h(REFERENCE_ROOTS[size as usize]),
            )
            .unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_vectors() {
        for (old_size, new_size, expected) in REFERENCE_CONSISTENCY {
            let expected = hashes(expected);
            let proof = consistency_proof(old_size, new_size, &mut reference_node).unwrap();
            assert_eq!(proof, expected, "{old_size} -> {new_size}");
            verify_consistency(
                old_size,
                new_size,
                &h(REFERENCE_ROOTS[old_size as usize]),
                &h(REFERENCE_ROOTS[new_size as usize]),
                &expected,
            )
            .unwrap();
        }
    }

    // ---------------------------------------------------------------------
    // The crate against the naive implementation.

    /// Compares roots, inclusion proofs and consistency proofs of a tree of
    /// `size` leaves with the naive implementation, for the given indexes and
    /// old sizes, and checks that every proof verifies.
    fn check_against_naive(d: &[Vec<u8>], size: u64, indexes: &[u64], old_sizes: &[u64]) {
        let n = size as usize;
        let expected_root = naive_mth(&d[..n]);
        let root_now = generate_checked(d, size, |node| root(size, node));
        assert_eq!(root_now, expected_root, "root of size {size}");

        for &index in indexes {
            let proof =
                generate_checked(d, size, |node| inclusion_proof(index, size, node)).unwrap();
            assert_eq!(
                proof,
                naive_path(index as usize, &d[..n]),
                "PATH({index}, {size})"
            );
            assert_eq!(proof.len(), inclusion_proof_len(index, size));
            let leaf = naive_leaf(&d[index as usize]);
            verify_inclusion(&leaf, index, size, &proof, &expected_root).unwrap();
        }
        for &old_size in old_sizes {
            let proof =
                generate_checked(d, size, |node| consistency_proof(old_size, size, node)).unwrap();
            assert_eq!(
                proof,
                naive_proof(old_size as usize, &d[..n]),
                "PROOF({old_size}, {size})"
            );
            assert_eq!(proof.len(), consistency_proof_len(old_size, size));
            let old_root = naive_mth(&d[..old_size as usize]);
            verify_consistency(old_size, size, &old_root, &expected_root, &proof).unwrap();
        }
    }

    #[test]
    fn every_proof_of_every_tree_up_to_70_leaves_matches_the_naive_implementation() {
        let d = leaf_data(70);
        for size in 1..=70u64 {
            let indexes: Vec<u64> = (0..size).collect();
            let old_sizes: Vec<u64> = (1..=size).collect();
            check_against_naive(&d, size, &indexes, &old_sizes);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn random_larger_trees_match_the_naive_implementation(
            size in 1u64..=5000,
            index_seed in any::<u64>(),
            old_seed in any::<u64>(),
        ) {
            let d = leaf_data(size as usize);
            let index = index_seed % size;
            let old_size = old_seed % size + 1;
            check_against_naive(&d, size, &[index, size - 1], &[old_size, 1, size]);
        }
    }

    #[test]
    fn generators_reject_invalid_parameters() {
        let mut never = |_: NodeId| -> Hash { unreachable!() };
        assert_eq!(
            inclusion_proof(0, 0, &mut never),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            inclusion_proof(5, 5, &mut never),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            consistency_proof(0, 5, &mut never),
            Err(ProofError::InvalidSizes {
                old_size: 0,
                new_size: 5
            })
        );
        assert_eq!(
            consistency_proof(6, 5, &mut never),
            Err(ProofError::InvalidSizes {
                old_size: 6,
                new_size: 5
            })
        );
    }

    // ---------------------------------------------------------------------
    // Tampering: every single-bit change and every wrong parameter fails.

    fn flip_each_bit(hash: &Hash) -> impl Iterator<Item = Hash> + '_ {
        (0..256).map(move |bit| {
            let mut flipped = *hash;
            flipped[bit / 8] ^= 1 << (bit % 8);
            flipped
        })
    }

    #[test]
    fn tampered_inclusion_proofs_fail() {
        let d = leaf_data(33);
        let roots: Vec<Hash> = (0..=33).map(|n| naive_mth(&d[..n])).collect();
        for size in 1..=33u64 {
            let root_now = roots[size as usize];
            for index in 0..size {
                let leaf = naive_leaf(&d[index as usize]);
                let proof = naive_path(index as usize, &d[..size as usize]);
                verify_inclusion(&leaf, index, size, &proof, &root_now).unwrap();

                for position in 0..proof.len() {
                    for flipped in flip_each_bit(&proof[position]) {
                        let mut bad = proof.clone();
                        bad[position] = flipped;
                        assert!(verify_inclusion(&leaf, index, size, &bad, &root_now).is_err());
                    }
                }
                for bad_leaf in flip_each_bit(&leaf) {
                    assert!(verify_inclusion(&bad_leaf, index, size, &proof, &root_now).is_err());
                }
                for bad_root in flip_each_bit(&root_now) {
                    assert!(matches!(
                        verify_inclusion(&leaf, index, size, &proof, &bad_root),
                        Err(ProofError::RootMismatch { .. })
                    ));
                }

                // Any other leaf of the same tree: the paths part somewhere,
                // and there the proof hash goes on the other side.
                for other in (0..size).filter(|&other| other != index) {
                    assert!(verify_inclusion(&leaf, other, size, &proof, &root_now).is_err());
                }
                // The size changes of the transparency-dev verifier tests.
                for other_size in [size * 2, size / 2] {
                    assert!(verify_inclusion(&leaf, index, other_size, &proof, &root_now).is_err());
                }
                // Any other tree size, checked against that tree's own root.
                for other_size in (1..=33u64).filter(|&n| n != size && n > index) {
                    let other_root = roots[other_size as usize];
                    assert!(
                        verify_inclusion(&leaf, index, other_size, &proof, &other_root).is_err(),
                        "proof for ({index}, {size}) accepted for size {other_size}"
                    );
                }

                // Proofs one hash too long or too short.
                let mut longer = proof.clone();
                longer.push(root_now);
                assert_eq!(
                    verify_inclusion(&leaf, index, size, &longer, &root_now),
                    Err(ProofError::WrongProofLength {
                        expected: proof.len(),
                        actual: proof.len() + 1
                    })
                );
                let mut preceded = vec![leaf];
                preceded.extend_from_slice(&proof);
                assert!(verify_inclusion(&leaf, index, size, &preceded, &root_now).is_err());
                if !proof.is_empty() {
                    assert_eq!(
                        verify_inclusion(&leaf, index, size, &proof[1..], &root_now),
                        Err(ProofError::WrongProofLength {
                            expected: proof.len(),
                            actual: proof.len() - 1
                        })
                    );
                }
            }
            assert_eq!(
                verify_inclusion(&roots[1], size, size, &[], &root_now),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
        }
    }

    #[test]
    fn tampered_consistency_proofs_fail() {
        let d = leaf_data(33);
        let roots: Vec<Hash> = (0..=33).map(|n| naive_mth(&d[..n])).collect();
        for new_size in 1..=33u64 {
            let new_root = roots[new_size as usize];
            for old_size in 1..=new_size {
                let old_root = roots[old_size as usize];
                let proof = naive_proof(old_size as usize, &d[..new_size as usize]);
                let verify = verify_consistency;
                verify(old_size, new_size, &old_root, &new_root, &proof).unwrap();

                for position in 0..proof.len() {
                    for flipped in flip_each_bit(&proof[position]) {
                        let mut bad = proof.clone();
                        bad[position] = flipped;
                        assert!(verify(old_size, new_size, &old_root, &new_root, &bad).is_err());
                    }
                }
                for bad_old in flip_each_bit(&old_root) {
                    assert!(verify(old_size, new_size, &bad_old, &new_root, &proof).is_err());
                }
                for bad_new in flip_each_bit(&new_root) {
                    assert!(verify(old_size, new_size, &old_root, &bad_new, &proof).is_err());
                }

                // Any other pair of sizes, each with its own honest roots.
                for other_new in 1..=33u64 {
                    for other_old in 1..=other_new {
                        if (other_old, other_new) == (old_size, new_size) {
                            continue;
                        }
                        let accepted = verify(
                            other_old,
                            other_new,
                            &roots[other_old as usize],
                            &roots[other_new as usize],
                            &proof,
                        )
                        .is_ok();
                        // An empty proof is right for every pair of equal
                        // sizes; nothing else may carry over.
                        let trivially_right = proof.is_empty() && other_old == other_new;
                        assert!(
                            !accepted || trivially_right,
                            "PROOF({old_size}, {new_size}) accepted for ({other_old}, {other_new})"
                        );
                    }
                }
                // The same roots with changed sizes.
                for (other_old, other_new) in [
                    (old_size - 1, new_size),
                    (old_size + 1, new_size),
                    (old_size ^ 2, new_size),
                    (old_size, new_size * 2),
                    (old_size, new_size / 2),
                ] {
                    if (other_old, other_new) == (old_size, new_size) {
                        continue;
                    }
                    assert!(
                        verify(other_old, other_new, &old_root, &new_root, &proof).is_err(),
                        "PROOF({old_size}, {new_size}) accepted for ({other_old}, {other_new})"
                    );
                }

                let mut longer = proof.clone();
                longer.push(new_root);
                assert!(matches!(
                    verify(old_size, new_size, &old_root, &new_root, &longer),
                    Err(ProofError::WrongProofLength { .. })
                ));
                if !proof.is_empty() {
                    assert!(matches!(
                        verify(old_size, new_size, &old_root, &new_root, &proof[1..]),
                        Err(ProofError::WrongProofLength { .. })
                    ));
                    assert!(verify(old_size, new_size, &new_root, &old_root, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn wrong_length_errors_name_the_expected_length() {
        let d = leaf_data(7);
        let proof = naive_proof(3, &d);
        assert_eq!(proof.len(), 4);
        assert_eq!(
            verify_consistency(3, 7, &naive_mth(&d[..3]), &naive_mth(&d), &proof[..2]),
            Err(ProofError::WrongProofLength {
                expected: 4,
                actual: 2
            })
        );
        assert_eq!(
            verify_consistency(3, 7, &naive_mth(&d[..3]), &naive_mth(&d), &[]),
            Err(ProofError::WrongProofLength {
                expected: 4,
                actual: 0
            })
        );
        assert_eq!(
            verify_consistency(4, 4, &naive_mth(&d[..4]), &naive_mth(&d[..4]), &proof[..1]),
            Err(ProofError::WrongProofLength {
                expected: 0,
                actual: 1
            })
        );
        assert_eq!(
            verify_consistency(0, 4, &empty_root(), &naive_mth(&d[..4]), &[]),
            Err(ProofError::InvalidSizes {
                old_size: 0,
                new_size: 4
            })
        );
    }

    // ---------------------------------------------------------------------
    // Frontier.

    #[test]
    fn frontier_push_reports_exactly_the_perfect_subtrees() {
        let d = leaf_data(150);
        let mut frontier = Frontier::new();
        let mut reported: BTreeMap<NodeId, Hash> = BTreeMap::new();
        for (index, data) in d.iter().enumerate() {
            let leaf = naive_leaf(data);
            reported.insert(
                NodeId {
                    level: 0,
                    index: index as u64,
                },
                leaf,
            );
            let mut completed = Vec::new();
            frontier.push(leaf, &mut completed);
            for (position, (id, hash)) in completed.iter().enumerate() {
                assert_eq!(usize::from(id.level), position + 1, "smallest first");
                assert!(
                    reported.insert(*id, *hash).is_none(),
                    "{id:?} reported twice"
                );
            }

            let size = index + 1;
            assert_eq!(frontier.size(), size as u64);
            assert_eq!(
                frontier.root(),
                naive_mth(&d[..size]),
                "root of size {size}"
            );
            assert_eq!(
                reported,
                naive_perfect_subtrees(&d[..size]),
                "nodes of size {size}"
            );
        }
    }

    #[test]
    fn frontier_bytes_round_trip() {
        let d = leaf_data(45);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        assert_eq!(Frontier::from_bytes(0, &[]).unwrap(), frontier);
        for data in &d {
            frontier.push(naive_leaf(data), &mut Vec::new());
            let bytes = frontier.to_bytes();
            assert_eq!(bytes.len(), 32 * frontier.size().count_ones() as usize);
            let restored = Frontier::from_bytes(frontier.size(), &bytes).unwrap();
            assert_eq!(restored, frontier);
            let rebuilt =
                Frontier::from_parts(frontier.size(), frontier.hashes().to_vec()).unwrap();
            assert_eq!(rebuilt, frontier);
        }

        // A restored frontier keeps growing like the original.
        let mut restored = Frontier::from_bytes(45, &frontier.to_bytes()).unwrap();
        let extra = naive_leaf(b"one more");
        frontier.push(extra, &mut Vec::new());
        restored.push(extra, &mut Vec::new());
        assert_eq!(restored, frontier);
    }

    #[test]
    fn frontier_rejects_the_wrong_number_of_hashes() {
        // 45 = 0b101101 has four subtrees.
        let hash = naive_leaf(b"x");
        assert_eq!(
            Frontier::from_parts(45, vec![hash; 3]),
            Err(ProofError::WrongFrontierLength {
                size: 45,
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            Frontier::from_bytes(45, &[0u8; 4 * 32 + 1]),
            Err(ProofError::WrongFrontierByteLength {
                size: 45,
                expected: 128,
                actual: 129
            })
        );
        assert_eq!(
            Frontier::from_bytes(0, &[0u8; 32]),
            Err(ProofError::WrongFrontierByteLength {
                size: 0,
                expected: 0,
                actual: 32
            })
        );
    }

    // ---------------------------------------------------------------------
    // Range tilings, subtree pushes and compact ranges.

    #[test]
    fn range_nodes_tile_the_range_with_maximal_aligned_subtrees() {
        for start in 0..70u64 {
            for end in start..=70u64 {
                let nodes: Vec<NodeId> = range_nodes(start, end).collect();
                let mut position = start;
                for node in &nodes {
                    let width = 1u64 << node.level;
                    assert_eq!(
                        node.index << node.level,
                        position,
                        "{start}..{end}: {nodes:?}"
                    );
                    position += width;
                    // Maximal: the parent would stick out of the range.
                    let parent_start = (node.index >> 1) << (node.level + 1);
                    let parent_end = parent_start + 2 * width;
                    assert!(
                        parent_start < start || parent_end > end,
                        "{start}..{end}: {node:?} is not maximal"
                    );
                }
                assert_eq!(position, end.max(start));
                // At most two pieces per level.
                assert!(nodes.len() <= 2 * 7, "{start}..{end}: {nodes:?}");
            }
        }
        let last: Vec<NodeId> = range_nodes(u64::MAX - 2, u64::MAX).collect();
        assert_eq!(
            last,
            vec![
                NodeId {
                    level: 0,
                    index: u64::MAX - 2
                },
                NodeId {
                    level: 0,
                    index: u64::MAX - 1
                }
            ]
        );
        assert_eq!(range_nodes(0, 1 << 40).count(), 1);
    }

    #[test]
    fn folding_a_range_between_its_two_proofs_gives_the_root() {
        let d = leaf_data(40);
        let subtree = |node: NodeId| {
            let start = (node.index << node.level) as usize;
            naive_mth(&d[start..start + (1usize << node.level)])
        };
        for size in 0..=40u64 {
            let expected = naive_mth(&d[..size as usize]);
            for start in 0..=size {
                for end in start..=size {
                    let mut frontier = Frontier::new();
                    for node in range_nodes(0, start) {
                        frontier.push_subtree(node.level, subtree(node)).unwrap();
                    }
                    let mut compact = CompactRange::new(start);
                    for index in start..end {
                        let leaf = naive_leaf(&d[index as usize]);
                        frontier.push_subtree(0, leaf).unwrap();
                        compact.push(leaf);
                    }
                    let expected_pieces: Vec<Hash> = range_nodes(start, end).map(subtree).collect();
                    assert_eq!(compact.hashes().collect::<Vec<_>>(), expected_pieces);
                    assert_eq!((compact.start(), compact.end()), (start, end));
                    for node in range_nodes(end, size) {
                        frontier.push_subtree(node.level, subtree(node)).unwrap();
                    }
                    assert_eq!(frontier.size(), size);
                    assert_eq!(frontier.root(), expected, "{start}..{end} of {size}");
                }
            }
        }
    }

    #[test]
    fn push_subtree_of_level_zero_is_push() {
        let d = leaf_data(37);
        let mut by_push = Frontier::new();
        let mut by_subtree = Frontier::new();
        for data in &d {
            by_push.push(naive_leaf(data), &mut Vec::new());
            by_subtree.push_subtree(0, naive_leaf(data)).unwrap();
            assert_eq!(by_push, by_subtree);
        }
    }

    #[test]
    fn push_subtree_rejects_misaligned_subtrees() {
        let hash = naive_leaf(b"x");
        let mut frontier = Frontier::new();
        frontier.push_subtree(0, hash).unwrap();
        for level in [1u8, 2, 63, 64, 200] {
            assert_eq!(
                frontier.clone().push_subtree(level, hash),
                Err(ProofError::MisalignedSubtree { size: 1, level })
            );
        }
        let mut empty = Frontier::new();
        empty.push_subtree(63, hash).unwrap();
        assert_eq!(
            empty.push_subtree(63, hash),
            Err(ProofError::MisalignedSubtree {
                size: 1 << 63,
                level: 63
            })
        );
    }
}
