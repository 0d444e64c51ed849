//! Confide's source of truth: a per-tenant, append-only, tamper-evident event log.
//!
//! Every tenant has its own log. Each event gets the next sequence number of its tenant (no
//! gaps, and sequence order is commit order) and becomes leaf `sequence` of the tenant's
//! RFC 9162 Merkle tree, hashed over the RFC 8785 canonical JSON of its envelope with the same
//! `confide_audit` functions an auditor's verifier uses. The tree head advances in the append's
//! own transaction; checkpoints sign it.
//!
//! Layout:
//! - [`EventStore`] (`store`): the trait both backends implement.
//! - [`PgEventStore`] (`postgres`) and [`SqliteEventStore`] (`sqlite`): the backends.
//! - `plan`: an append planned and hashed without I/O, shared by both backends.
//! - [`proof`]: inclusion and consistency proofs from stored node hashes.
//! - [`checkpoint`]: signed tree heads (C2SP signed notes).
//! - [`export`]: audit bundles of a tenant's log for an auditor to verify offline, and
//!   `verify_store`, the store's check of its own rows against its tree and checkpoints.
//! - [`projection`]: inline projections (inside the append's transaction) and the
//!   asynchronous [`ProjectionRunner`].
//! - [`Subscription`]: a catch-up subscription across tenants.
//! - [`Upcasters`]: old event schemas brought up to date on read.
//! - `metrics`: appends, refused playbacks and projection lag, through the global
//!   OpenTelemetry meter. Every database operation also runs in a `tracing` span.

mod error;
mod layout;
mod metrics;
mod plan;
mod postgres;
mod row;
mod sqlite;
mod store;
mod subscription;
mod types;
mod upcast;

pub mod checkpoint;
pub mod export;
pub mod projection;
pub mod proof;

pub use error::StoreError;
pub use plan::MAX_EVENTS_PER_APPEND;
pub use postgres::PgEventStore;
pub use projection::{AsyncProjection, InlineProjection, ProjectionHost, ProjectionRunner};
pub use sqlite::SqliteEventStore;
pub use store::EventStore;
pub use subscription::Subscription;
pub use types::{
    AppendRequest, AppendResult, ConsistencyProof, ExpectedVersion, GlobalPosition, InclusionProof,
    NewEvent, RecordedEvent, StoredCheckpoint, StreamId, StreamWrite, TenantId, TreeHead,
};
pub use upcast::Upcasters;
