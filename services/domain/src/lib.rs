//! Confide's domain: the consent and access rules as pure code.
//!
//! Consent is the access control. Every fact is an event in a per-tenant log; this crate
//! decides which events a command produces and folds events into state. It does no I/O at
//! all: no database, files, network, clock or random ids. Time, ids, the tenant and the
//! acting user come in through [`Ctx`], so every decision is a pure function and every rule
//! can be pinned by a test that names its inputs.
//!
//! # Layout
//!
//! - [`ids`]: identifiers (`TenantId` slug, `UserId` subject, UUID ids of every entity).
//! - [`vocabulary`]: closed vocabularies and small values (`Purpose` with its DPV IRI,
//!   `Role`, `Jurisdiction` with its deadlines, `Medium`, `Sha256`, `Offset`, `Sealed`).
//! - [`policy`]: the tenant's versioned rules (consent model, media, self-access, client
//!   copies, retention, jurisdiction).
//! - [`context`]: [`Ctx`] and [`Actor`]: who acts, where, when, with which new ids.
//! - [`aggregates`]: one module per stream kind, each with its state, commands, events, and
//!   `decide`/`apply` ([`Aggregate`]): tenant, client, consent form, consent, recording,
//!   grant, course, case study, subject request, message (a notice's outcome), notice
//!   settings (people's addresses, webhook endpoints).
//! - [`access`]: the access decision, one pure function ([`decide_access`]).
//! - [`reads`]: who may read what (the log, a client's records, requests, receipts).
//! - [`cascade`]: the events a withdrawal or a course's end implies in other streams.
//! - [`retention`]: when each recording must be destroyed.
//! - [`outbox`]: who must be told of an event, and when (the notices the outbox sends); the
//!   `message` aggregate records each delivery or failure, `notice_settings` where notices go.
//! - [`events`]: the [`Event`] union, type strings, schema versions, reading stored events.
//! - [`error`]: [`DomainError`], whose variants say which rule refused.
//!
//! Architecture invariant: nothing here depends on a database, framework or runtime type.

pub mod access;
pub mod aggregates;
pub mod cascade;
pub mod context;
pub mod error;
pub mod events;
pub mod ids;
pub mod limits;
pub mod outbox;
pub mod policy;
pub mod reads;
pub mod retention;
pub mod vocabulary;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod testing;

pub use access::{AccessBasis, AccessDecision, AccessRequest, DenyReason, Viewer, decide_access};
pub use aggregates::Aggregate;
pub use context::{Actor, Ctx, SystemJob};
pub use error::DomainError;
pub use events::{DomainEvent, Event};
pub use ids::{
    CaseStudyId, ClientId, ConsentFormId, ConsentId, CourseId, GrantId, MessageId, RecordingId,
    SubjectRequestId, TenantId, TranscriptId, UserId, WebhookEndpointId,
};
pub use limits::{session_date, text, text_block};
pub use vocabulary::{
    Jurisdiction, KeyId, Language, Medium, Offset, Purpose, Role, Sealed, Sha256,
};
