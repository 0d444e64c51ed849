//! Confide's application layer: it loads what a command needs from the event store, lets the
//! domain decide, and appends the decision with optimistic concurrency.
//!
//! Layout:
//! - [`App`]: `load` a stream into its aggregate and `execute` a command against it.
//! - [`Clock`]: where the time of a decision comes from.
//! - [`AppError`]: what a caller can act on.
//! - `streams`: the name of each aggregate's stream.
//!
//! Every decision is conditioned on the tenant's own stream (memberships and policy) at the
//! version the decision saw, so roles and policy cannot change between a decision and its
//! commit; a conflict reloads and decides again, a bounded number of times.

mod streams;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use confide_domain::aggregates::tenant::Tenant;
use confide_domain::{Actor, Aggregate, Ctx, DomainError, DomainEvent, Event};
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreError, StreamId, TenantId,
};
use uuid::Uuid;

pub use streams::{stream_of, tenant_stream};

/// How many times a command is decided again after another writer got there first.
const MAX_ATTEMPTS: usize = 5;

/// The source of "now" for decisions, so tests can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule refused the command; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept changing what the command depends on; retrying later may succeed.
    #[error("stream {stream} kept changing while the command was decided")]
    Contention { stream: StreamId },
    /// An event could not be encoded as JSON: a bug in an event's definition.
    #[error("an event could not be encoded")]
    Encoding(#[from] serde_json::Error),
    /// A stored event could not be read back as a domain event.
    #[error("stored event {sequence} of tenant {tenant} cannot be read: {reason}")]
    UnreadableEvent {
        tenant: TenantId,
        sequence: u64,
        reason: String,
    },
}

/// A stream folded into its aggregate, with the version it was read at.
#[derive(Clone, Debug, Default)]
pub struct Loaded<A> {
    pub state: A,
    /// How many events the stream had (0: it does not exist yet).
    pub version: u64,
}

pub struct App {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
}

impl App {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Reads `stream` of `tenant` and folds it into `A`.
    pub async fn load<A>(&self, tenant: &TenantId, stream: &StreamId) -> Result<Loaded<A>, AppError>
    where
        A: Aggregate,
        A::Event: TryFrom<Event, Error = Event>,
    {
        const PAGE: usize = 1_000;
        let mut loaded = Loaded::<A>::default();
        loop {
            let events = self
                .store
                .read_stream(tenant, stream, loaded.version + 1, PAGE)
                .await?;
            for stored in &events {
                let unreadable = |reason: String| AppError::UnreadableEvent {
                    tenant: tenant.clone(),
                    sequence: stored.sequence,
                    reason,
                };
                let event =
                    Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload)
                        .map_err(|e| unreadable(e.to_string()))?;
                let event = A::Event::try_from(event).map_err(|other| {
                    unreadable(format!(
                        "a {} event in stream {stream}",
                        other.stream_kind()
                    ))
                })?;
                loaded.state = loaded.state.apply(&event);
                loaded.version = stored.stream_version;
            }
            if events.len() < PAGE {
                return Ok(loaded);
            }
        }
    }

    /// Decides `command` against `stream` as `actor` and appends the events, expecting the
    /// stream and the tenant's stream to be where the decision saw them. On a conflict it
    /// loads both again and decides again. Returns the events written (none if the command
    /// changed nothing).
    pub async fn execute<A>(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        stream: &StreamId,
        command: A::Command,
        new_ids: &[Uuid],
    ) -> Result<Vec<A::Event>, AppError>
    where
        A: Aggregate,
        A::Command: Clone,
        A::Event: TryFrom<Event, Error = Event> + Into<Event>,
    {
        let tenant_stream = tenant_stream();
        for attempt in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream).await?;
            let target: Loaded<A> = self.load(tenant, stream).await?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now)
                .with_new_ids(new_ids);
            let decided = target.state.decide(command.clone(), &ctx)?;
            if decided.is_empty() {
                return Ok(decided);
            }
            let metadata = serde_json::json!({ "actor": actor });
            let events = decided
                .iter()
                .map(|event| {
                    let event: Event = event.clone().into();
                    Ok(NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: event.event_type().to_owned(),
                        schema_version: event.schema_version(),
                        payload: event.to_payload()?,
                        metadata: metadata.clone(),
                    })
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            let mut request = AppendRequest::to_stream(
                stream.clone(),
                ExpectedVersion::Exact(target.version),
                events,
                now,
            );
            if *stream != tenant_stream {
                request = request.condition(
                    tenant_stream.clone(),
                    ExpectedVersion::Exact(organisation.version),
                );
            }
            match self.store.append(tenant, request).await {
                Ok(_) => return Ok(decided),
                Err(StoreError::Conflict { .. }) => {
                    tracing::debug!(attempt, %stream, "decided on a stale view; deciding again");
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(AppError::Contention {
            stream: stream.clone(),
        })
    }
}
