//! Confide's read models: the tables that projections keep from the log in the event store's
//! own database, the migrations that create them, and the reads the application decides and
//! lists from. The application (`confide_app`) holds the use cases; this crate holds what
//! they read.
//!
//! Layout:
//! - `directory`: [`PagedReads`], keyset pages of the lists that grow, and
//!   [`ClientDirectory`], each client's practitioners and the blind index of their names.
//! - `links`: [`StreamLinks`], which streams concern what ([`Subject`]).
//! - `states`: [`AggregateStates`], every stream's folded state ([`StoredState`],
//!   [`parse_state`]) and each recording's retention.
//! - `lists`: [`RecordingList`] and [`Memberships`], read through [`Lists`].
//! - `leases`: [`Leases`], which node does a tenant's background job (a row per lease on
//!   PostgreSQL; always the one node on SQLite).
//! - `sessions`: [`Sessions`], the signed-in sessions of the organisation's people on the
//!   pages (a row per session, keyed by tenant and the hash of its secret).
//! - `outbox`: [`NoticeOutbox`], the asynchronous projection that turns events into the
//!   notices to send, and [`Outbox`], how the sender reads it and keeps its attempts.
//! - `read`: [`ReadModels`], the reads decisions are made from, and [`WithReadModels`], which
//!   registers the inline projections on a store and applies the migrations.
//! - `migrations`: the embedded migrations of each backend (`migrations/{postgres,sqlite}`).
//!
//! Invariant: the inline read models (`stream_links`, `memberships`, `aggregate_states`,
//! `retention`) are written in the append's own transaction, so they are never older than the
//! log; every read model is rebuildable from the log (`ProjectionRunner::rebuild`).

mod directory;
mod leases;
mod links;
mod lists;
mod migrations;
mod outbox;
mod read;
mod sessions;
mod states;

pub use directory::{ClientDirectory, ClientFilter, PagedReads};
pub use leases::Leases;
pub use links::{StreamLinks, Subject};
pub use lists::{Lists, MemberRow, Memberships, RecordingList, RecordingRow, RoleNames};
pub use outbox::{NoticeOutbox, OUTBOX_PROJECTION, Outbox, OutboxRow};
pub use read::{DueRow, ReadModels, WithReadModels};
pub use sessions::Sessions;
pub use states::{AggregateStates, StoredState, kind_of, parse_state};
