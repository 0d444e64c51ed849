//! Confide's tamper-evidence primitives: everything needed to commit events
//! to a per-tenant Merkle log, sign its tree heads, and let an auditor verify
//! an export offline. The crate is pure computation: no database, no network,
//! no async; stores and exporters elsewhere build on it.
//!
//! Layout:
//!
//! - [`canonical`]: RFC 8785 canonical JSON (integers only), the byte form
//!   that gets hashed.
//! - [`envelope`]: the event envelope and its leaf hash.
//! - [`merkle`]: RFC 9162 tree hashing, inclusion and consistency proofs
//!   generated from stored perfect subtrees, their verification, and the
//!   append [`merkle::Frontier`].
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies in C2SP signed notes with
//!   Ed25519 keys.

pub mod canonical;
pub mod checkpoint;
pub mod envelope;
pub mod merkle;
