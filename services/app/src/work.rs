//! The unit of work: every use case that writes runs in one.
//!
//! A [`Work`] begins with the tenant's own stream (roles and policy) and records the version
//! of every stream read through it. Its writes are appended in one atomic append, each written
//! stream expected at the version it was read at (or absent, if never read), and every other
//! stream read is a condition of the append at the version read. So a decision can never be
//! committed on a view another writer has since changed: the append is refused, and
//! [`App::transact`] runs the whole work again, a bounded number of times. That loop is the
//! only retry in the application.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use confide_domain::aggregates::tenant::Tenant;
use confide_domain::{Actor, Aggregate, Ctx, DomainEvent, Event};
use confide_eventstore::{
    AppendRequest, ExpectedVersion, NewEvent, StoreError, StreamId, TenantId,
};
use confide_readmodels::{StoredState, Subject, parse_state};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::{App, AppError, Loaded, tenant_stream};

/// How many times a unit of work runs before it gives up on other writers.
const MAX_ATTEMPTS: usize = 5;

/// One attempt at a use case: what it read and what it will write.
pub(crate) struct Work<'a> {
    app: &'a App,
    tenant: TenantId,
    actor: Actor,
    now: DateTime<Utc>,
    organisation: Loaded<Tenant>,
    /// Every stream read, at the version first read.
    read: BTreeMap<StreamId, u64>,
    /// States fetched ahead in the first read, not yet asked for.
    prefetched: BTreeMap<StreamId, Option<StoredState>>,
    writes: Vec<(StreamId, Vec<NewEvent>)>,
}

impl<'a> Work<'a> {
    /// Reads the tenant's stream and `prefetch` in one read.
    pub(crate) async fn begin(
        app: &'a App,
        tenant: &TenantId,
        actor: &Actor,
        prefetch: &[StreamId],
    ) -> Result<Self, AppError> {
        let mut streams = Vec::with_capacity(prefetch.len() + 1);
        streams.push(tenant_stream());
        streams.extend(prefetch.iter().cloned());
        let mut found = app.read.states(tenant, &streams).await?.into_iter();
        let organisation = loaded(found.next().flatten())?;
        let mut read = BTreeMap::new();
        read.insert(tenant_stream(), organisation.version);
        Ok(Self {
            app,
            tenant: tenant.clone(),
            actor: actor.clone(),
            now: app.clock.now(),
            organisation,
            read,
            prefetched: prefetch.iter().cloned().zip(found).collect(),
            writes: Vec::new(),
        })
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The tenant's policy and memberships, as this work read them.
    pub(crate) fn organisation(&self) -> &Tenant {
        &self.organisation.state
    }

    /// The context a decision of this work is made in.
    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx::new(
            self.tenant.clone(),
            &self.organisation.state,
            self.actor.clone(),
            self.now,
        )
    }

    /// Loads `stream`, recording the version read.
    pub(crate) async fn load<A: Aggregate>(&mut self, stream: &StreamId) -> Result<A, AppError> {
        let stored = match self.prefetched.remove(stream) {
            Some(stored) => stored,
            None => self.app.read.state(&self.tenant, stream).await?,
        };
        let loaded: Loaded<A> = loaded(stored)?;
        self.saw(stream, loaded.version);
        Ok(loaded.state)
    }

    /// Every stream of `kind` linked to `subject`, recording the versions read.
    pub(crate) async fn linked<A: Aggregate>(
        &mut self,
        subject: &Subject,
        kind: &str,
    ) -> Result<Vec<(StreamId, A)>, AppError> {
        let rows = self
            .app
            .read
            .linked_states(&self.tenant, subject, kind)
            .await?;
        self.fold_rows(rows)
    }

    /// Several `linked` reads in one read: for each (subject, kind) asked, in order, the
    /// stored states by stream name, for the caller to fold as their kind with
    /// [`Work::fold_rows`] (which records the versions read).
    pub(crate) async fn linked_each(
        &mut self,
        wanted: &[(Subject, &str)],
    ) -> Result<Vec<Vec<(StreamId, StoredState)>>, AppError> {
        let mut found = self.app.read.linked_states_of(&self.tenant, wanted).await?;
        found.resize_with(wanted.len(), Vec::new);
        Ok(found)
    }

    /// Parses stored states as `A`, recording the version of each as read.
    pub(crate) fn fold_rows<A: Aggregate>(
        &mut self,
        rows: Vec<(StreamId, StoredState)>,
    ) -> Result<Vec<(StreamId, A)>, AppError> {
        rows.into_iter()
            .map(|(stream, (version, json))| {
                let state = parse_state(Some(&json))?;
                self.saw(&stream, version);
                Ok((stream, state))
            })
            .collect()
    }

    fn saw(&mut self, stream: &StreamId, version: u64) {
        self.read.entry(stream.clone()).or_insert(version);
    }

    /// Decides `command` against `state`, the state of `stream` as loaded through this work,
    /// and writes what was decided to `stream`.
    pub(crate) fn decide<A>(
        &mut self,
        stream: &StreamId,
        state: &A,
        command: A::Command,
        new_ids: &[Uuid],
    ) -> Result<Vec<A::Event>, AppError>
    where
        A: Aggregate,
        A::Event: Clone + Into<Event>,
    {
        let decided = state.decide(command, &self.ctx().with_new_ids(new_ids))?;
        self.write(stream, &decided)?;
        Ok(decided)
    }

    /// Appends `events` to `stream` when the work commits, caused by this work's actor.
    pub(crate) fn write<E: Clone + Into<Event>>(
        &mut self,
        stream: &StreamId,
        events: &[E],
    ) -> Result<(), AppError> {
        let actor = self.actor.clone();
        self.write_as(stream, events, &actor)
    }

    /// Appends `events` to `stream` when the work commits, caused by `actor` (a system job
    /// acting on the caller's behalf, for a cascade).
    pub(crate) fn write_as<E: Clone + Into<Event>>(
        &mut self,
        stream: &StreamId,
        events: &[E],
        actor: &Actor,
    ) -> Result<(), AppError> {
        if events.is_empty() {
            return Ok(());
        }
        let events = new_events(events, actor)?;
        match self.writes.iter_mut().find(|(s, _)| s == stream) {
            Some((_, pending)) => pending.extend(events),
            None => self.writes.push((stream.clone(), events)),
        }
        Ok(())
    }

    /// Appends the writes, conditioned on every stream read. `Ok(false)` when another writer
    /// got there first: the work must run again on a fresh view.
    async fn commit(self) -> Result<Commit, AppError> {
        if self.writes.is_empty() {
            return Ok(Commit::Done);
        }
        let mut request = AppendRequest::new(self.now);
        for (stream, events) in self.writes.iter() {
            let version = self.read.get(stream).copied().unwrap_or(0);
            request = request.write(
                stream.clone(),
                ExpectedVersion::Exact(version),
                events.clone(),
            );
        }
        for (stream, version) in &self.read {
            if !self.writes.iter().any(|(s, _)| s == stream) {
                request = request.condition(stream.clone(), ExpectedVersion::Exact(*version));
            }
        }
        match self.app.store.append(&self.tenant, request).await {
            Ok(_) => Ok(Commit::Done),
            Err(StoreError::Conflict { stream, .. }) => {
                tracing::debug!(%stream, "decided on a stale view; deciding again");
                Ok(Commit::Stale(stream))
            }
            Err(error) => Err(error.into()),
        }
    }
}

enum Commit {
    Done,
    Stale(StreamId),
}

impl App {
    /// Runs `body` in a unit of work as `actor` in `tenant` and commits what it wrote; when
    /// another writer changed anything it read, runs it again on a fresh view.
    pub(crate) async fn transact<'a, T, F>(
        &'a self,
        tenant: &TenantId,
        actor: &Actor,
        body: F,
    ) -> Result<T, AppError>
    where
        F: for<'w> FnMut(&'w mut Work<'a>) -> BoxFuture<'w, Result<T, AppError>>,
    {
        self.transact_on(tenant, actor, &[], body).await
    }

    /// [`App::transact`], with `prefetch` read together with the tenant's stream: one read
    /// where the work would otherwise make two.
    pub(crate) async fn transact_on<'a, T, F>(
        &'a self,
        tenant: &TenantId,
        actor: &Actor,
        prefetch: &[StreamId],
        mut body: F,
    ) -> Result<T, AppError>
    where
        F: for<'w> FnMut(&'w mut Work<'a>) -> BoxFuture<'w, Result<T, AppError>>,
    {
        let mut stale = tenant_stream();
        for _ in 0..MAX_ATTEMPTS {
            let mut work = Work::begin(self, tenant, actor, prefetch).await?;
            let outcome = body(&mut work).await?;
            match work.commit().await? {
                Commit::Done => return Ok(outcome),
                Commit::Stale(stream) => stale = stream,
            }
        }
        Err(AppError::Contention { stream: stale })
    }
}

/// A stored state, parsed.
fn loaded<A: Aggregate>(stored: Option<StoredState>) -> Result<Loaded<A>, AppError> {
    let (version, json) = stored.map_or((0, None), |(v, s)| (v, Some(s)));
    Ok(Loaded {
        state: parse_state(json.as_deref())?,
        version,
    })
}

/// Domain events as the store takes them, with who caused them in the metadata.
fn new_events<E: Clone + Into<Event>>(
    events: &[E],
    actor: &Actor,
) -> Result<Vec<NewEvent>, AppError> {
    let metadata = serde_json::json!({ "actor": actor });
    events
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
        .collect()
}
