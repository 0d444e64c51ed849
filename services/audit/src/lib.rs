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
//! - [`bundle`]: the audit bundle format (`schema/audit-bundle.md`): the filter,
//!   the streaming [`bundle::BundleWriter`] an exporter feeds, and the line
//!   reader.
//! - [`verify`]: offline verification of a bundle, line by line with flat
//!   memory, failing with a [`verify::VerifyError`] that names the case; the
//!   `confide-verify` binary (`src/bin/confide-verify.rs`) wraps it.
//! - [`report`]: the CSV of consent and access events and the consent trail per
//!   client, derived only from a verified bundle.
//! - [`receipt`]: the proof a consent receipt carries (the `ConsentGiven` envelope, its
//!   inclusion path and a signed checkpoint) and its offline verification.
//! - `strict_json` (private): a reader that accepts only canonical JSON, the
//!   verifier's fast path.

pub mod bundle;
pub mod canonical;
pub mod checkpoint;
pub mod envelope;
pub mod merkle;
pub mod receipt;
pub mod report;
mod strict_json;
pub mod verify;
