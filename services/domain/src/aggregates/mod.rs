//! The aggregates: one per stream kind, each with its commands and events.
//!
//! Every aggregate implements [`Aggregate`]: `decide` holds every rule and returns the events
//! a command produces (or the rule that refused); `apply` only folds an event into the state
//! and never refuses, because an event is a fact that already happened.
//!
//! Rules that span aggregates (a recording needs a consent, a grant needs the consent to
//! cover its grantee) take the other aggregate's state inside the command, loaded by the
//! application, which then conditions its append on that stream's version so the fact cannot
//! change between the decision and the commit.

pub mod case_study;
pub mod client;
pub mod consent;
pub mod consent_form;
pub mod course;
pub mod grant;
pub mod message;
pub mod notice_settings;
pub mod recording;
pub mod subject_request;
pub mod tenant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::error::DomainError;
use crate::events::DomainEvent;

/// A consistency boundary: one stream of events and the rules over it. Its state serialises,
/// so the application can keep each stream's folded state as a read model (a snapshot written
/// in the append's transaction) instead of folding the stream on every decision.
pub trait Aggregate: Default + Clone + Serialize + DeserializeOwned {
    /// What may be asked of it.
    type Command;
    /// What it records.
    type Event: DomainEvent;

    /// Decides what `command` means in the current state: the events to append, or the rule
    /// that refuses it. Pure: the same state, command and context give the same answer.
    fn decide(
        &self,
        command: Self::Command,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// Folds one event into the state. Never refuses.
    fn apply(self, event: &Self::Event) -> Self;

    /// Folds a history from the empty state.
    fn from_events<'e>(events: impl IntoIterator<Item = &'e Self::Event>) -> Self
    where
        Self::Event: 'e,
    {
        events.into_iter().fold(Self::default(), Self::apply)
    }
}

/// The error for a command on an aggregate that has no events yet (or is another tenant's;
/// the two are indistinguishable on purpose).
pub(crate) fn not_found(entity: &'static str) -> DomainError {
    DomainError::not_found(entity)
}

#[cfg(test)]
mod tests;
