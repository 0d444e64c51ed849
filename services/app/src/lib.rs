//! Confide's application layer: it loads what a command needs from the read models, lets the
//! domain decide, and appends the decision with optimistic concurrency.
//!
//! Layout:
//! - [`App`]: `load` a stream into its aggregate and `execute` a command against it;
//!   `grant_access`, `start_playback` and `withdraw_consent`, the commands that read other
//!   streams and are conditioned on them; `end_course` with the expiries it implies;
//!   `decide_subject_request`, which carries out a granted erasure;
//!   `run_retention`, the retention job.
//! - `audit`: `record_audit_export`, which records an audit export in the tenant's log, and
//!   `write_audit_bundle`, which writes the bundle from the log.
//! - `media`: `store_media`, which records an upload, and destruction by crypto-shredding
//!   (`destroy_recording`, `carry_out_destructions`), resumable after a crash.
//! - `links`: which streams concern which client, recording or consent (the [`StreamLinks`]
//!   inline projection).
//! - `states`: every stream's folded state and each recording's retention (the
//!   [`AggregateStates`] inline projection), so loading a stream is reading one row.
//! - `read`: [`ReadModels`], which reads the inline read models, and [`WithReadModels`],
//!   which registers them on a store.
//! - `lists`: [`RecordingList`] (asynchronous) and [`Memberships`] (inline), read through
//!   [`Lists`].
//! - [`Clock`]: where the time of a decision comes from.
//! - [`AppError`]: what a caller can act on.
//! - `streams`: the name of each aggregate's stream.
//!
//! Every decision is conditioned on the tenant's own stream (memberships and policy) at the
//! version the decision saw, so roles and policy cannot change between a decision and its
//! commit; a conflict reloads and decides again, a bounded number of times.

mod audit;
mod links;
mod lists;
mod media;
mod read;
mod receipt;
mod states;
mod streams;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use confide_domain::AccessDecision;
use confide_domain::aggregates::case_study::{CaseStudy, CaseStudyCommand, CaseStudyEvent};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::consent::{Consent, ConsentCommand, ConsentEvent, WithdrawalScope};
use confide_domain::aggregates::course::{Course, CourseCommand, CourseEvent};
use confide_domain::aggregates::grant::{Grant, GrantCommand, Grantee};
use confide_domain::aggregates::recording::DestructionReason;
use confide_domain::aggregates::recording::{
    AccessFacts, Recording, RecordingCommand, RecordingEvent,
};
use confide_domain::aggregates::subject_request::{
    SubjectRequest, SubjectRequestCommand, SubjectRequestEvent, SubjectRequestKind,
    SubjectRequestOutcome,
};
use confide_domain::aggregates::tenant::Tenant;
use confide_domain::cascade::{after_consent_event, after_course_ended, revocations_for};
use confide_domain::policy::TenantPolicy;
use confide_domain::retention::{RetentionDue, destroy_after};
use confide_domain::{
    Actor, Aggregate, CaseStudyId, ClientId, ConsentId, CourseId, Ctx, DomainError, DomainEvent,
    Event, GrantId, Medium, Purpose, RecordingId, SubjectRequestId,
};
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreError, StreamId, TenantId,
};
use uuid::Uuid;

pub use links::{StreamLinks, Subject};
pub use lists::{Lists, MemberRow, Memberships, RecordingList, RecordingRow, RoleNames};
pub use media::{Vault, media_key_id};
pub use read::{DueRow, ReadModels, WithReadModels};
pub use receipt::ConsentReceipt;
pub use states::AggregateStates;
pub use streams::{stream_of, tenant_stream};

use states::{StoredState, parse_state};

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
    /// The key store or the blob store failed during `step`; what was done before it stays
    /// done, and running the step again is safe.
    #[error("the media vault failed {step}: {reason}")]
    Vault { step: &'static str, reason: String },
    /// A stored event could not be read back as a domain event.
    #[error("stored event {sequence} of tenant {tenant} cannot be read: {reason}")]
    UnreadableEvent {
        tenant: TenantId,
        sequence: u64,
        reason: String,
    },
}

/// A recording with the caller's access to it.
#[derive(Clone, Debug)]
pub struct RecordingView {
    pub recording: Recording,
    pub access: AccessDecision,
}

/// The consent and course a recording's destroy-after is computed from, with their streams.
struct RetentionInputs {
    consent: (StreamId, Loaded<Consent>),
    course: Option<(StreamId, Loaded<Course>)>,
}

impl RetentionInputs {
    fn due(&self, recording: &Recording, policy: &TenantPolicy) -> Option<RetentionDue> {
        destroy_after(
            recording,
            Some(&self.consent.1.state),
            self.course.as_ref().map(|(_, c)| &c.state),
            policy,
        )
    }

    /// The streams the computation read, at the versions it read them.
    fn versions(&self) -> Vec<(StreamId, u64)> {
        std::iter::once((self.consent.0.clone(), self.consent.1.version))
            .chain(self.course.iter().map(|(s, c)| (s.clone(), c.version)))
            .collect()
    }
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
    read: Arc<dyn ReadModels>,
    clock: Arc<dyn Clock>,
}

impl App {
    /// `read` reads what the store's inline projections write ([`WithReadModels`]): the
    /// same database.
    pub fn new(
        store: Arc<dyn EventStore>,
        read: Arc<dyn ReadModels>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, read, clock }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The state of `stream` of `tenant` as the `aggregate_states` read model has it: folded
    /// in the transaction of the stream's last append, so never older than the log.
    #[tracing::instrument(name = "read.state", skip_all, fields(tenant_id = %tenant, stream = %stream))]
    pub async fn load<A: Aggregate>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Loaded<A>, AppError> {
        let stored = self.read.state(tenant, stream).await?;
        let (version, json) = stored.map_or((0, None), |(v, s)| (v, Some(s)));
        Ok(Loaded {
            state: parse_state(json.as_deref())?,
            version,
        })
    }

    /// The tenant's own stream and one other, in one read: what nearly every decision starts
    /// from.
    #[tracing::instrument(name = "read.states", skip_all, fields(tenant_id = %tenant, stream = %stream))]
    async fn load_with_tenant<A: Aggregate>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<(Loaded<Tenant>, Loaded<A>), AppError> {
        let mut found = self
            .read
            .states(tenant, &[tenant_stream(), stream.clone()])
            .await?
            .into_iter();
        let mut next = || {
            let (version, json) = found
                .next()
                .flatten()
                .map_or((0, None), |(v, s)| (v, Some(s)));
            Ok::<_, StoreError>((version, json))
        };
        let (tenant_version, tenant_json) = next()?;
        let (version, json) = next()?;
        Ok((
            Loaded {
                state: parse_state(tenant_json.as_deref())?,
                version: tenant_version,
            },
            Loaded {
                state: parse_state(json.as_deref())?,
                version,
            },
        ))
    }

    /// Every stream of `kind` in the tenant, loaded.
    #[tracing::instrument(name = "read.states_of_kind", skip_all, fields(tenant_id = %tenant, kind, rows))]
    async fn load_kind<A: Aggregate>(
        &self,
        tenant: &TenantId,
        kind: &str,
    ) -> Result<Vec<A>, AppError> {
        let rows = self.read.states_of_kind(tenant, kind).await?;
        tracing::Span::current().record("rows", rows.len());
        rows.into_iter()
            .map(|(_, (_, json))| Ok(parse_state(Some(&json))?))
            .collect()
    }

    /// Every stream of `kind` linked to `subject`, loaded.
    #[tracing::instrument(name = "read.linked_states", skip_all, fields(tenant_id = %tenant, kind, rows))]
    async fn load_linked<A: Aggregate>(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
    ) -> Result<Vec<(StreamId, Loaded<A>)>, AppError> {
        let rows = self.read.linked_states(tenant, subject, kind).await?;
        tracing::Span::current().record("rows", rows.len());
        loaded_all(rows)
    }

    /// Decides `command` against `state` as `actor` and appends nothing: for a step that must
    /// come before the events are written (destroying a key) and must never be taken for a
    /// caller the decision refuses. The command is decided again when it is executed.
    pub async fn check<A: Aggregate>(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        state: &A,
        command: A::Command,
    ) -> Result<(), AppError> {
        let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
        let ctx = Ctx::new(
            tenant.clone(),
            &organisation.state,
            actor.clone(),
            self.clock.now(),
        );
        state.decide(command, &ctx)?;
        Ok(())
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
        for _ in 0..MAX_ATTEMPTS {
            let (organisation, target) = self.load_with_tenant::<A>(tenant, stream).await?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now)
                .with_new_ids(new_ids);
            let decided = target.state.decide(command.clone(), &ctx)?;
            if decided.is_empty() {
                return Ok(decided);
            }
            let request = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(target.version),
                new_events(&decided, actor)?,
            );
            if self.commit(tenant, request, &organisation).await? {
                return Ok(decided);
            }
        }
        Err(AppError::Contention {
            stream: stream.clone(),
        })
    }

    /// The consents about a recording's client and the grants on it, with their versions, in
    /// one read.
    #[allow(clippy::type_complexity)]
    #[tracing::instrument(name = "read.linked_states", skip_all, fields(tenant_id = %tenant))]
    async fn access_facts(
        &self,
        tenant: &TenantId,
        recording: &Recording,
    ) -> Result<
        (
            Vec<(StreamId, Loaded<Consent>)>,
            Vec<(StreamId, Loaded<Grant>)>,
        ),
        AppError,
    > {
        let core = recording
            .core()
            .ok_or_else(|| DomainError::not_found("recording"))?;
        let mut found = self
            .read
            .linked_states_of(
                tenant,
                &[
                    (Subject::Client(core.client_id.to_string()), "consent"),
                    (Subject::Recording(core.id.to_string()), "grant"),
                ],
            )
            .await?
            .into_iter();
        let consents = loaded_all(found.next().unwrap_or_default())?;
        let grants = loaded_all(found.next().unwrap_or_default())?;
        Ok((consents, grants))
    }

    /// Decides whether `actor` may play a recording for `purpose` in `medium`, from the
    /// consents about its client and the grants on it, and records the decision: a
    /// `PlaybackStarted` with its basis, or a `PlaybackRefused` with its reasons. The append
    /// is conditioned on every consent and grant the decision read, so a withdrawal committed
    /// before it makes it decide again. Returns the decision recorded and the recording as
    /// the decision saw it.
    pub async fn start_playback(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        recording_id: RecordingId,
        purpose: Purpose,
        medium: Medium,
    ) -> Result<(RecordingEvent, Recording), AppError> {
        let stream = stream_of("recording", recording_id)?;
        for _ in 0..MAX_ATTEMPTS {
            let (organisation, recording) =
                self.load_with_tenant::<Recording>(tenant, &stream).await?;
            let (consents, grants) = self.access_facts(tenant, &recording.state).await?;
            let facts = AccessFacts {
                consents: consents.iter().map(|(_, c)| c.state.clone()).collect(),
                grants: grants.iter().map(|(_, g)| g.state.clone()).collect(),
            };
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now);
            let decided = recording.state.decide(
                RecordingCommand::StartPlayback {
                    purpose,
                    medium,
                    facts: Box::new(facts),
                },
                &ctx,
            )?;
            let Some(decision) = decided.first().cloned() else {
                return Err(AppError::Domain(DomainError::conflict(
                    "a playback decision recorded nothing",
                )));
            };
            let mut request = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(recording.version),
                new_events(&decided, actor)?,
            );
            for (read, version) in consents
                .iter()
                .map(|(s, c)| (s, c.version))
                .chain(grants.iter().map(|(s, g)| (s, g.version)))
            {
                request = request.condition(read.clone(), ExpectedVersion::Exact(version));
            }
            if self.commit(tenant, request, &organisation).await? {
                return Ok((decision, recording.state));
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Grants `grantee` access to a recording for `purpose` until `expires_at`, under the
    /// consent that must cover them. The grant is conditioned on the recording and the consent
    /// being as the decision saw them.
    #[allow(clippy::too_many_arguments)]
    pub async fn grant_access(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        grant_id: GrantId,
        recording_id: RecordingId,
        consent_id: ConsentId,
        grantee: Grantee,
        purpose: Purpose,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<confide_domain::aggregates::grant::GrantEvent>, AppError> {
        let stream = stream_of("grant", grant_id)?;
        let recording_stream = stream_of("recording", recording_id)?;
        let consent_stream = stream_of("consent", consent_id)?;
        let new_ids = [grant_id.as_uuid()];
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let grant: Loaded<Grant> = self.load(tenant, &stream).await?;
            let recording: Loaded<Recording> = self.load(tenant, &recording_stream).await?;
            let consent: Loaded<Consent> = self.load(tenant, &consent_stream).await?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now)
                .with_new_ids(&new_ids);
            let decided = grant.state.decide(
                GrantCommand::GrantAccess {
                    recording: Box::new(recording.state),
                    consent: Box::new(consent.state),
                    grantee: grantee.clone(),
                    purpose,
                    expires_at,
                },
                &ctx,
            )?;
            let request = AppendRequest::new(now)
                .write(
                    stream.clone(),
                    ExpectedVersion::Exact(grant.version),
                    new_events(&decided, actor)?,
                )
                .condition(
                    recording_stream.clone(),
                    ExpectedVersion::Exact(recording.version),
                )
                .condition(
                    consent_stream.clone(),
                    ExpectedVersion::Exact(consent.version),
                );
            if self.commit(tenant, request, &organisation).await? {
                return Ok(decided);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Withdraws consent, in whole or in part, and in the same append everything that
    /// follows from it: each grant it no longer covers is revoked, and with a deletion request
    /// each recording it covered is scheduled for destruction and everyone who had access is
    /// sent a notice (GDPR Art. 19), an event per recipient.
    pub async fn withdraw_consent(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        consent_id: ConsentId,
        scope: WithdrawalScope,
        deletion_requested: bool,
    ) -> Result<Vec<ConsentEvent>, AppError> {
        let stream = stream_of("consent", consent_id)?;
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let consent: Loaded<Consent> = self.load(tenant, &stream).await?;
            let client = consent
                .state
                .core()
                .map(|core| core.client_id.to_string())
                .ok_or_else(|| DomainError::not_found("consent"))?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now);
            let decided = consent.state.decide(
                ConsentCommand::WithdrawConsent {
                    scope: scope.clone(),
                    deletion_requested,
                },
                &ctx,
            )?;
            let recordings: Vec<(StreamId, Loaded<Recording>)> = self
                .load_linked(tenant, &Subject::Client(client), "recording")
                .await?;
            let grants: Vec<(StreamId, Loaded<Grant>)> = self
                .load_linked(tenant, &Subject::Consent(consent_id.to_string()), "grant")
                .await?;
            let grant_states: Vec<Grant> = grants.iter().map(|(_, g)| g.state.clone()).collect();
            let recording_states: Vec<Recording> =
                recordings.iter().map(|(_, r)| r.state.clone()).collect();
            let mut after = consent.state.clone();
            let mut consent_events = decided.clone();
            let mut grant_events: BTreeMap<StreamId, Vec<Event>> = BTreeMap::new();
            let mut recording_events: BTreeMap<StreamId, Vec<Event>> = BTreeMap::new();
            for event in &decided {
                let cascade = after_consent_event(
                    &after,
                    event,
                    &grant_states,
                    &recording_states,
                    &organisation.state,
                );
                after = after.apply(event);
                consent_events.extend(cascade.notices);
                for (grant_id, revoked) in cascade.revocations {
                    grant_events
                        .entry(stream_of("grant", grant_id)?)
                        .or_default()
                        .push(revoked.into());
                }
                for (recording_id, scheduled) in cascade.destructions {
                    recording_events
                        .entry(stream_of("recording", recording_id)?)
                        .or_default()
                        .push(scheduled.into());
                }
            }
            let mut request = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(consent.version),
                new_events(&consent_events, actor)?,
            );
            let versions: BTreeMap<&StreamId, u64> = grants
                .iter()
                .map(|(s, g)| (s, g.version))
                .chain(recordings.iter().map(|(s, r)| (s, r.version)))
                .collect();
            for (target, events) in grant_events.into_iter().chain(recording_events) {
                let version = versions.get(&target).copied().unwrap_or(0);
                let events =
                    new_events(&events, &Actor::system(confide_domain::SystemJob::Cascade))?;
                request = request.write(target, ExpectedVersion::Exact(version), events);
            }
            if self.commit(tenant, request, &organisation).await? {
                // A grant committed after this decision read the grants, but before it
                // committed, was not revoked above: look again now that the withdrawal is in.
                self.revoke_uncovered_grants(tenant, consent_id).await?;
                return Ok(consent_events);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Revokes every grant under a consent that the consent, as it stands, no longer covers
    /// and that is not revoked yet (an event per grant). Returns the grants revoked; none when
    /// everything is already consistent, so it may run any number of times.
    pub async fn revoke_uncovered_grants(
        &self,
        tenant: &TenantId,
        consent_id: ConsentId,
    ) -> Result<Vec<GrantId>, AppError> {
        let stream = stream_of("consent", consent_id)?;
        let job = Actor::system(confide_domain::SystemJob::Cascade);
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let consent: Loaded<Consent> = self.load(tenant, &stream).await?;
            let Some(core) = consent.state.core() else {
                return Ok(Vec::new());
            };
            let grants: Vec<(StreamId, Loaded<Grant>)> = self
                .load_linked(tenant, &Subject::Consent(consent_id.to_string()), "grant")
                .await?;
            let recordings: Vec<(StreamId, Loaded<Recording>)> = self
                .load_linked(
                    tenant,
                    &Subject::Client(core.client_id.to_string()),
                    "recording",
                )
                .await?;
            let now = self.clock.now();
            let revocations = revocations_for(
                &consent.state,
                &grants
                    .iter()
                    .map(|(_, g)| g.state.clone())
                    .collect::<Vec<_>>(),
                &recordings
                    .iter()
                    .map(|(_, r)| r.state.clone())
                    .collect::<Vec<_>>(),
                &organisation.state,
                now,
            );
            if revocations.is_empty() {
                return Ok(Vec::new());
            }
            let mut request = AppendRequest::new(now)
                .condition(stream.clone(), ExpectedVersion::Exact(consent.version));
            let mut revoked = Vec::new();
            for (grant_id, event) in revocations {
                let grant_stream = stream_of("grant", grant_id)?;
                let version = grants
                    .iter()
                    .find(|(s, _)| *s == grant_stream)
                    .map_or(0, |(_, g)| g.version);
                request = request.write(
                    grant_stream,
                    ExpectedVersion::Exact(version),
                    new_events(&[event], &job)?,
                );
                revoked.push(grant_id);
            }
            if self.commit(tenant, request, &organisation).await? {
                return Ok(revoked);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Ends a course and, in the same append, expires every consent in force that ends with
    /// it; the retention job then finds their recordings due.
    pub async fn end_course(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        course_id: CourseId,
        ended_on: chrono::NaiveDate,
    ) -> Result<Vec<CourseEvent>, AppError> {
        let stream = stream_of("course", course_id)?;
        let job = Actor::system(confide_domain::SystemJob::Cascade);
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let course: Loaded<Course> = self.load(tenant, &stream).await?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now);
            let decided = course
                .state
                .decide(CourseCommand::EndCourse { ended_on }, &ctx)?;
            let consents: Vec<(StreamId, Loaded<Consent>)> = self
                .load_linked(tenant, &Subject::Course(course_id.to_string()), "consent")
                .await?;
            let states: Vec<Consent> = consents.iter().map(|(_, c)| c.state.clone()).collect();
            let mut request = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(course.version),
                new_events(&decided, actor)?,
            );
            for (consent_id, expired) in after_course_ended(course_id, now, &states) {
                let consent_stream = stream_of("consent", consent_id)?;
                let version = consents
                    .iter()
                    .find(|(s, _)| *s == consent_stream)
                    .map_or(0, |(_, c)| c.version);
                request = request.write(
                    consent_stream,
                    ExpectedVersion::Exact(version),
                    new_events(&[expired], &job)?,
                );
            }
            if self.commit(tenant, request, &organisation).await? {
                return Ok(decided);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Decides a subject request, and in the same append does what the decision promises:
    /// granting an erasure erases the client (their key destroyed, so every sealed detail in
    /// the log becomes unreadable) and schedules each of their recordings for destruction now;
    /// granting a copy grants the client their own copy of each recording that consent allows.
    pub async fn decide_subject_request(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        request_id: SubjectRequestId,
        outcome: SubjectRequestOutcome,
        reason: Option<String>,
    ) -> Result<Vec<SubjectRequestEvent>, AppError> {
        let stream = stream_of("subject_request", request_id)?;
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let request: Loaded<SubjectRequest> = self.load(tenant, &stream).await?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now);
            let decided = request.state.decide(
                SubjectRequestCommand::DecideSubjectRequest {
                    outcome,
                    reason: reason.clone(),
                },
                &ctx,
            )?;
            let mut request_append = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(request.version),
                new_events(&decided, actor)?,
            );
            let erase = request.state.kind() == Some(SubjectRequestKind::Erasure)
                && outcome == SubjectRequestOutcome::Granted;
            if let (true, Some(client_id)) = (erase, request.state.client_id()) {
                let client_stream = stream_of("client", client_id)?;
                let client: Loaded<Client> = self.load(tenant, &client_stream).await?;
                let erased = client.state.decide(
                    ClientCommand::EraseClient {
                        subject_request_id: Some(request_id),
                    },
                    &ctx,
                )?;
                request_append = request_append.write(
                    client_stream,
                    ExpectedVersion::Exact(client.version),
                    new_events(&erased, actor)?,
                );
                for (recording_stream, recording) in self
                    .load_linked::<Recording>(
                        tenant,
                        &Subject::Client(client_id.to_string()),
                        "recording",
                    )
                    .await?
                {
                    let scheduled = recording.state.decide(
                        RecordingCommand::ScheduleDestruction {
                            due: now,
                            reason: DestructionReason::ErasureRequest {
                                subject_request_id: request_id,
                            },
                        },
                        &ctx,
                    );
                    match scheduled {
                        Ok(events) => {
                            request_append = request_append.write(
                                recording_stream,
                                ExpectedVersion::Exact(recording.version),
                                new_events(&events, actor)?,
                            );
                        }
                        // Already destroyed, or already due no later than now: nothing to add.
                        Err(DomainError::Conflict { .. }) => {}
                        Err(other) => return Err(other.into()),
                    }
                }
            }
            let copy = request.state.kind() == Some(SubjectRequestKind::Copy)
                && outcome != SubjectRequestOutcome::Refused;
            if let (true, Some(client_id)) = (copy, request.state.client_id()) {
                request_append = self
                    .grant_client_copies(tenant, &ctx, client_id, request_append)
                    .await?;
            }
            if self.commit(tenant, request_append, &organisation).await? {
                return Ok(decided);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Adds to `request` a grant of the client's own copy of each of their recordings whose
    /// consent covers `client_copy`, for 30 days (never past the consent), conditioned on the
    /// recording and consent it was decided from.
    async fn grant_client_copies(
        &self,
        tenant: &TenantId,
        ctx: &Ctx<'_>,
        client_id: ClientId,
        mut request: AppendRequest,
    ) -> Result<AppendRequest, AppError> {
        const COPY_DAYS: i64 = 30;
        let now = ctx.now();
        // Recordings may share a consent: each stream is a condition once.
        let mut read: BTreeMap<StreamId, u64> = BTreeMap::new();
        for (recording_stream, recording) in self
            .load_linked::<Recording>(tenant, &Subject::Client(client_id.to_string()), "recording")
            .await?
        {
            let Some(core) = recording.state.core() else {
                continue;
            };
            let consent_stream = stream_of("consent", core.consent_id)?;
            let consent: Loaded<Consent> = self.load(tenant, &consent_stream).await?;
            let expires_at = consent
                .state
                .expires_at()
                .map_or(now + chrono::TimeDelta::days(COPY_DAYS), |end| {
                    end.min(now + chrono::TimeDelta::days(COPY_DAYS))
                });
            let grant_id = Uuid::now_v7();
            let new_ids = [grant_id];
            let grant_ctx = Ctx::new(
                ctx.tenant_id().clone(),
                ctx.tenant()
                    .ok_or_else(|| DomainError::not_found("tenant"))?,
                ctx.actor().clone(),
                now,
            )
            .with_new_ids(&new_ids);
            let granted = Grant::default().decide(
                GrantCommand::GrantAccess {
                    recording: Box::new(recording.state.clone()),
                    consent: Box::new(consent.state.clone()),
                    grantee: Grantee::Client { client_id },
                    purpose: Purpose::ClientCopy,
                    expires_at,
                },
                &grant_ctx,
            );
            match granted {
                Ok(events) => {
                    request = request.write(
                        stream_of("grant", grant_id)?,
                        ExpectedVersion::NoStream,
                        new_events(&events, ctx.actor())?,
                    );
                    read.insert(recording_stream, recording.version);
                    read.insert(consent_stream, consent.version);
                }
                // This recording's consent does not cover a copy for the client.
                Err(DomainError::ConsentRequired { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        for (stream, version) in read {
            request = request.condition(stream, ExpectedVersion::Exact(version));
        }
        Ok(request)
    }

    /// Drafts, revises, publishes or discards a case study. Drafting and publishing rest on
    /// each client's `case_study` consent: the consents are loaded here (whatever the command
    /// carried is replaced) and the append is conditioned on every one of them, so a
    /// withdrawal committed meanwhile makes it decide again.
    pub async fn write_case_study(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        case_study_id: CaseStudyId,
        command: CaseStudyCommand,
        new_ids: &[Uuid],
    ) -> Result<Vec<CaseStudyEvent>, AppError> {
        let stream = stream_of("case_study", case_study_id)?;
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let case_study: Loaded<CaseStudy> = self.load(tenant, &stream).await?;
            let clients = match &command {
                CaseStudyCommand::DraftCaseStudy { clients, .. } => clients.clone(),
                _ => case_study.state.clients().clone(),
            };
            let mut read = Vec::new();
            for client in &clients {
                read.extend(
                    self.load_linked::<Consent>(
                        tenant,
                        &Subject::Client(client.to_string()),
                        "consent",
                    )
                    .await?,
                );
            }
            let loaded: Vec<Consent> = read.iter().map(|(_, c)| c.state.clone()).collect();
            let mut command = command.clone();
            if let CaseStudyCommand::DraftCaseStudy { consents, .. }
            | CaseStudyCommand::PublishCaseStudy { consents, .. } = &mut command
            {
                *consents = loaded;
            }
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now)
                .with_new_ids(new_ids);
            let decided = case_study.state.decide(command, &ctx)?;
            let mut request = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(case_study.version),
                new_events(&decided, actor)?,
            );
            for (consent_stream, consent) in read {
                request =
                    request.condition(consent_stream, ExpectedVersion::Exact(consent.version));
            }
            if self.commit(tenant, request, &organisation).await? {
                return Ok(decided);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// The case studies the caller may read: all of them for an `org_admin`, a practitioner's
    /// own, and for a funder those published to them.
    pub async fn case_studies(
        &self,
        tenant: &TenantId,
        actor: &Actor,
    ) -> Result<Vec<CaseStudy>, AppError> {
        let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
        let ctx = Ctx::new(
            tenant.clone(),
            &organisation.state,
            actor.clone(),
            self.clock.now(),
        );
        Ok(self
            .load_linked::<CaseStudy>(tenant, &Subject::CaseStudies, "case_study")
            .await?
            .into_iter()
            .map(|(_, c)| c.state)
            .filter(|c| c.readable_by(&ctx))
            .collect())
    }

    /// The retention job for one tenant: every recording whose destruction is due — consent
    /// expired, course ended plus grace, or the tenant's default retention passed — and not
    /// yet scheduled is scheduled now, conditioned on the consent and course it was computed
    /// from. Running it again, or twice at once, schedules nothing twice; a run stopped half
    /// way loses nothing, because what is left is simply still due. Returns the recordings it
    /// scheduled.
    pub async fn run_retention(&self, tenant: &TenantId) -> Result<Vec<RecordingId>, AppError> {
        let job = Actor::system(confide_domain::SystemJob::Retention);
        let now = self.clock.now();
        let mut scheduled = Vec::new();
        for row in self
            .read
            .due_before(tenant, now + chrono::TimeDelta::seconds(1))
            .await?
        {
            let already = row.scheduled_for.is_some_and(|at| at <= row.destroy_after);
            if row.destroy_after > now || already {
                continue;
            }
            let stream = stream_of("recording", &row.recording_id)?;
            if let Some(id) = self.retain(tenant, &job, &stream).await? {
                scheduled.push(id);
            }
        }
        Ok(scheduled)
    }

    async fn retain(
        &self,
        tenant: &TenantId,
        job: &Actor,
        stream: &StreamId,
    ) -> Result<Option<RecordingId>, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
            let recording: Loaded<Recording> = self.load(tenant, stream).await?;
            let (Some(core), Some(policy)) = (recording.state.core(), organisation.state.policy())
            else {
                return Ok(None);
            };
            let inputs = self.retention_inputs(tenant, &recording.state).await?;
            let now = self.clock.now();
            let Some(due) = inputs.due(&recording.state, &policy.policy) else {
                return Ok(None);
            };
            let already = recording
                .state
                .scheduled_destruction()
                .is_some_and(|(at, _)| at <= due.destroy_after);
            if !due.is_due(now) || already {
                return Ok(None);
            }
            let recording_id = core.id;
            let ctx = Ctx::new(tenant.clone(), &organisation.state, job.clone(), now);
            let decided = recording.state.decide(
                RecordingCommand::ScheduleDestruction {
                    due: due.destroy_after,
                    reason: due.reason,
                },
                &ctx,
            )?;
            let mut request = AppendRequest::new(now).write(
                stream.clone(),
                ExpectedVersion::Exact(recording.version),
                new_events(&decided, job)?,
            );
            for (read, version) in inputs.versions() {
                request = request.condition(read, ExpectedVersion::Exact(version));
            }
            if self.commit(tenant, request, &organisation).await? {
                return Ok(Some(recording_id));
            }
        }
        Err(AppError::Contention {
            stream: stream.clone(),
        })
    }

    /// The consent and course a recording's retention is computed from.
    async fn retention_inputs(
        &self,
        tenant: &TenantId,
        recording: &Recording,
    ) -> Result<RetentionInputs, AppError> {
        let core = recording
            .core()
            .ok_or_else(|| DomainError::not_found("recording"))?;
        let consent_stream = stream_of("consent", core.consent_id)?;
        let consent = self.load(tenant, &consent_stream).await?;
        let course = match core.course_id {
            Some(id) => {
                let course_stream = stream_of("course", id)?;
                let course = self.load(tenant, &course_stream).await?;
                Some((course_stream, course))
            }
            None => None,
        };
        Ok(RetentionInputs {
            consent: (consent_stream, consent),
            course,
        })
    }

    /// Every recording of the tenant with what the caller may do with it for `purpose` (in
    /// audio) now: the access flag of a recording list. Nothing is recorded; playing is
    /// `start_playback`.
    pub async fn recordings(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        purpose: Purpose,
    ) -> Result<Vec<RecordingView>, AppError> {
        let organisation: Loaded<Tenant> = self.load(tenant, &tenant_stream()).await?;
        let ctx = Ctx::new(
            tenant.clone(),
            &organisation.state,
            actor.clone(),
            self.clock.now(),
        );
        // Three reads whatever the number of recordings: the recordings, every consent and
        // every grant of the tenant, matched up here.
        let recordings = self
            .load_linked::<Recording>(tenant, &Subject::Recordings, "recording")
            .await?;
        let mut consents: BTreeMap<ClientId, Vec<Consent>> = BTreeMap::new();
        for consent in self.load_kind::<Consent>(tenant, "consent").await? {
            if let Some(client) = consent.core().map(|c| c.client_id) {
                consents.entry(client).or_default().push(consent);
            }
        }
        let mut grants: BTreeMap<RecordingId, Vec<Grant>> = BTreeMap::new();
        for grant in self.load_kind::<Grant>(tenant, "grant").await? {
            if let Some(recording) = grant.core().map(|g| g.recording_id) {
                grants.entry(recording).or_default().push(grant);
            }
        }
        let mut views = Vec::with_capacity(recordings.len());
        for (_, recording) in recordings {
            let Some(core) = recording.state.core() else {
                continue;
            };
            let facts = AccessFacts {
                consents: consents.remove(&core.client_id).unwrap_or_default(),
                grants: grants.remove(&core.id).unwrap_or_default(),
            };
            let (_, access) = recording
                .state
                .access(purpose, Medium::Audio, &facts, &ctx)?;
            // A client's consents serve each of their recordings.
            consents.insert(core.client_id, facts.consents);
            views.push(RecordingView {
                recording: recording.state,
                access,
            });
        }
        Ok(views)
    }

    /// One recording with whether `actor` may play it for `purpose` in `medium` now, decided
    /// as `start_playback` decides and recorded by nothing: what a recording's page shows,
    /// and what each range request of a playback checks, so access that ended stops it.
    pub async fn recording(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        recording_id: RecordingId,
        purpose: Purpose,
        medium: Medium,
    ) -> Result<RecordingView, AppError> {
        let (organisation, recording) = self
            .load_with_tenant::<Recording>(tenant, &stream_of("recording", recording_id)?)
            .await?;
        self.view(
            tenant,
            &organisation,
            actor,
            recording.state,
            purpose,
            medium,
        )
        .await
    }

    async fn view(
        &self,
        tenant: &TenantId,
        organisation: &Loaded<Tenant>,
        actor: &Actor,
        recording: Recording,
        purpose: Purpose,
        medium: Medium,
    ) -> Result<RecordingView, AppError> {
        let ctx = Ctx::new(
            tenant.clone(),
            &organisation.state,
            actor.clone(),
            self.clock.now(),
        );
        let (consents, grants) = self.access_facts(tenant, &recording).await?;
        let facts = AccessFacts {
            consents: consents.into_iter().map(|(_, c)| c.state).collect(),
            grants: grants.into_iter().map(|(_, g)| g.state).collect(),
        };
        let (_, access) = recording.access(purpose, medium, &facts, &ctx)?;
        Ok(RecordingView { recording, access })
    }

    /// A client's consents, each folded to its current state (its history is its stream).
    pub async fn consent_history(
        &self,
        tenant: &TenantId,
        client_id: ClientId,
    ) -> Result<Vec<Consent>, AppError> {
        Ok(self
            .load_linked::<Consent>(tenant, &Subject::Client(client_id.to_string()), "consent")
            .await?
            .into_iter()
            .map(|(_, c)| c.state)
            .collect())
    }

    /// Recordings whose destruction falls due before `until`, soonest first.
    pub async fn upcoming_destructions(
        &self,
        tenant: &TenantId,
        until: DateTime<Utc>,
    ) -> Result<Vec<(RecordingId, RetentionDue)>, AppError> {
        self.read
            .due_before(tenant, until)
            .await?
            .into_iter()
            .map(|row| {
                let unreadable = |reason: String| {
                    AppError::Store(StoreError::Invalid(format!(
                        "retention of recording {}: {reason}",
                        row.recording_id
                    )))
                };
                let id =
                    RecordingId::parse(&row.recording_id).map_err(|e| unreadable(e.to_string()))?;
                let reason =
                    serde_json::from_str(&row.reason).map_err(|e| unreadable(e.to_string()))?;
                Ok((
                    id,
                    RetentionDue {
                        destroy_after: row.destroy_after,
                        reason,
                    },
                ))
            })
            .collect()
    }

    /// The tenant's subject requests, oldest first; only `client`'s when given.
    pub async fn subject_requests(
        &self,
        tenant: &TenantId,
        client: Option<ClientId>,
    ) -> Result<Vec<SubjectRequest>, AppError> {
        Ok(self
            .load_linked::<SubjectRequest>(tenant, &Subject::SubjectRequests, "subject_request")
            .await?
            .into_iter()
            .map(|(_, r)| r.state)
            .filter(|r| client.is_none() || r.client_id() == client)
            .collect())
    }

    /// Subject requests past their deadline and not yet decided.
    pub async fn overdue_subject_requests(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<SubjectRequest>, AppError> {
        let now = self.clock.now();
        Ok(self
            .load_linked::<SubjectRequest>(tenant, &Subject::SubjectRequests, "subject_request")
            .await?
            .into_iter()
            .map(|(_, r)| r.state)
            .filter(|r| r.is_overdue(now))
            .collect())
    }

    /// Appends `request` conditioned on the tenant's stream (roles, policy) being where the
    /// decision saw it. False when another writer got there first: decide again.
    async fn commit(
        &self,
        tenant: &TenantId,
        mut request: AppendRequest,
        organisation: &Loaded<Tenant>,
    ) -> Result<bool, AppError> {
        let tenant_stream = tenant_stream();
        if !request.writes.iter().any(|w| w.stream_id == tenant_stream) {
            request =
                request.condition(tenant_stream, ExpectedVersion::Exact(organisation.version));
        }
        match self.store.append(tenant, request).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { stream, .. }) => {
                tracing::debug!(%stream, "decided on a stale view; deciding again");
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// Domain events as the store takes them, with who caused them in the metadata.
/// Linked states as read, parsed.
fn loaded_all<A: Aggregate>(
    rows: Vec<(StreamId, StoredState)>,
) -> Result<Vec<(StreamId, Loaded<A>)>, AppError> {
    rows.into_iter()
        .map(|(stream, (version, json))| {
            let state = parse_state(Some(&json))?;
            Ok((stream, Loaded { state, version }))
        })
        .collect()
}

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
