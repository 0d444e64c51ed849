//! Confide's application layer, the one door: the API, the pages and the binary call its use
//! cases and nothing below it. [`App`] owns the event store, the read models, the key store,
//! the blob store, the checkpoint signer and the clock; each public method is one use case,
//! which loads what it needs, lets the domain decide and appends the decision in one unit of
//! work (`work`), or reads what its caller may see.
//!
//! Layout, by area:
//! - `tenancy`: the organisation, its policy and members, its consent forms.
//! - `consents`: clients, and consent asked, given, refused and withdrawn.
//! - `clients`: the client directory (search by name through a blind index), the consent
//!   forms and the form a client signs.
//! - `history`: who accessed a recording, from the log; `access_log`: every playback allowed
//!   and refused across the organisation, for its administrators.
//! - `pages`: lists that grow, read a page at a time with a keyset ([`Page`], [`PageRequest`]).
//! - `recordings`: recordings, grants, playback decisions, bookmarks and transcripts.
//! - `media`: uploads (probed, encrypted, stored), playback ranges, and destruction by
//!   crypto-shredding, resumable after a crash.
//! - `courses`: courses and case studies.
//! - `requests`: subject requests, with erasure and copies carried out in their decision.
//! - `retention`: the retention job.
//! - `outbox`: notices that reach people — the outbox projection driven, each due message
//!   sent by e-mail or webhook at most once and its delivery or failure recorded as an event;
//!   where notices go (people's addresses, webhook endpoints). Not `notices`, which is the
//!   notified opt-out consent model.
//! - `audit`: the log for auditors, checkpoints, exports and consent receipts (`receipt`).
//! - `wiring`: opening the configured database, key store, blob store and signer.
//! - `work`: the unit of work and its one retry loop; `streams`: typed stream names.
//! - Read models live in `confide_readmodels` ([`StreamLinks`], [`AggregateStates`],
//!   [`RecordingList`], [`Memberships`], read through [`ReadModels`] and [`Lists`]), with
//!   their migrations; re-exported here, so the application's users need no other door.
//!
//! Every decision is conditioned on the tenant's own stream (memberships and policy) and on
//! every other stream it read, at the version it read; a conflict decides again, a bounded
//! number of times.

mod access_log;
mod annotations;
mod audit;
mod clients;
mod consents;
mod courses;
mod error;
mod history;
mod media;
mod notices;
mod outbox;
mod pages;
mod receipt;
mod recordings;
mod requests;
mod retention;
mod sessions;
mod streams;
mod tenancy;
mod wiring;
mod work;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use confide_domain::aggregates::tenant::Tenant;
use confide_domain::{Actor, Aggregate, ClientId, Event, TenantId};
use confide_eventstore::EventStore;
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_vault::{BlobStore, KeyStore};
use uuid::Uuid;

pub use access_log::{AccessAttempt, AccessLogFilter, AccessOutcome};
pub use annotations::{MAX_COMMENT_CHARS, MAX_LABEL_CHARS, Note, Notes};
pub use audit::MAX_LOG_PAGE;
pub use clients::{ClientEntry, FormVersionView, FormView};
pub use confide_audit::receipt::{ProvenEvent, ReceiptProof};
pub use confide_delivery::{
    Mail, MailFolder, MailTransport, SendError, SmtpMailer, WebhookSecret, WebhookSender,
};
pub use confide_eventstore::export::{ExportSummary, StoreVerification};
pub use confide_eventstore::{RecordedEvent, StoredCheckpoint, StreamId};
pub use confide_readmodels::{
    AggregateStates, DueRow, Leases, Lists, MemberRow, Memberships, NoticeOutbox, Outbox,
    OutboxRow, ReadModels, RecordingList, RecordingRow, RoleNames, StreamLinks, Subject,
    WithReadModels,
};
pub use consents::{ClientDetails, ConsentEnd, ConsentRequested, consent_expiry, withdrawal_scope};
pub use courses::CaseStudyView;
pub use error::{AppError, UploadRefusal};
pub use history::{AccessChange, AccessEntry};
pub use media::{
    DESTRUCTION_JOB, JOB_LEASE, MediaRange, REDECIDE_EVERY, REDECIDE_EVERY_BYTES, StoredUpload,
    UploadBody, media_key_id,
};
pub use notices::NoticeGiven;
pub use outbox::{
    AddedWebhookEndpoint, CLAIM_TIMEOUT, ClientLinks, MAX_ADDRESS_CHARS, NoticeChannels, NoticeRun,
    RetryPolicy, STALE_AFTER, WebhookEndpointView,
};
pub use pages::{MAX_PAGE, Page, PageRequest};
pub use receipt::ConsentReceipt;
pub use recordings::{Playback, RecordingView};
pub use sessions::{MemberSignIn, Membership, SESSION_IDLE, SESSION_LIFETIME};
pub use streams::{StreamKey, stream, tenant_stream};
pub use tenancy::PublishedForm;
pub use wiring::{
    DATABASE_WAIT, Database, Media, Migrations, OpenError, S3Bucket, Wiring, checkpoint_key,
    migrate, migrate_database, schema_ready,
};

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

/// Who asks: a member of a tenant, or a client through their link, in one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub actor: Actor,
}

impl Caller {
    /// The client a client link is scoped to.
    pub fn client(&self) -> Option<ClientId> {
        match &self.actor {
            Actor::ClientLink { client_id } => Some(*client_id),
            _ => None,
        }
    }
}

/// A stream folded into its aggregate, with the version it was read at.
#[derive(Clone, Debug, Default)]
pub struct Loaded<A> {
    pub state: A,
    /// How many events the stream had (0: it does not exist yet).
    pub version: u64,
}

/// What an [`App`] is made of.
pub struct AppParts {
    pub store: Arc<dyn EventStore>,
    /// Reads what the store's inline projections write ([`WithReadModels`]): the same
    /// database.
    pub read: Arc<dyn ReadModels>,
    /// Keys that seal clients' personal details (one per client) and encrypt recordings'
    /// media (one per recording).
    pub keys: Arc<dyn KeyStore>,
    /// Where recordings' ciphertext is kept.
    pub blobs: Arc<dyn BlobStore>,
    /// Signs checkpoints of tenants' logs.
    pub signer: Arc<CheckpointSigner>,
    pub clock: Arc<dyn Clock>,
}

/// Cheap to clone: every part is shared. A download holds a clone, to decide access again
/// while it streams.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn EventStore>,
    read: Arc<dyn ReadModels>,
    keys: Arc<dyn KeyStore>,
    blobs: Arc<dyn BlobStore>,
    signer: Arc<CheckpointSigner>,
    clock: Arc<dyn Clock>,
    /// This application's name as a holder of background-work leases: unique per process,
    /// so two nodes on one database never mistake each other's lease for their own.
    node: Arc<str>,
    /// Where notices go; none until the binary (or a test) sets channels.
    notices: Arc<NoticeChannels>,
}

impl App {
    pub fn new(parts: AppParts) -> Self {
        let AppParts {
            store,
            read,
            keys,
            blobs,
            signer,
            clock,
        } = parts;
        Self {
            store,
            read,
            keys,
            blobs,
            signer,
            clock,
            node: Uuid::new_v4().to_string().into(),
            notices: Arc::new(NoticeChannels::default()),
        }
    }

    /// This node's name as the holder of background-work leases (`job_leases`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The time decisions are made at.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Changes after every append this process commits: what background jobs wake on.
    pub fn appended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.appended()
    }

    /// Which database the log is kept in (`sqlite` or `postgres`).
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Whether the database answers and every migration is applied, the log's, the key
    /// store's and the read models' (each crate has its own migrator); the reason if not.
    pub async fn ready(&self) -> Result<(), AppError> {
        self.store.ready().await?;
        self.keys.ready().await?;
        self.read.read_models_ready().await?;
        Ok(())
    }

    /// The state of `stream` of `tenant` as the `aggregate_states` read model has it: folded
    /// in the transaction of the stream's last append, so never older than the log. For the
    /// application's own tests and tools; edges ask through the use cases.
    #[tracing::instrument(name = "read.state", skip_all, fields(tenant_id = %tenant, stream = %stream))]
    pub async fn load<A: Aggregate>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Loaded<A>, AppError> {
        let stored = self.read.state(tenant, stream).await?;
        let (version, json) = stored.map_or((0, None), |(v, s)| (v, Some(s)));
        Ok(Loaded {
            state: confide_readmodels::parse_state(json.as_deref())?,
            version,
        })
    }

    /// Every stream of `kind` linked to `subject`, loaded: a read outside any unit of work.
    pub(crate) async fn linked<A: Aggregate>(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
    ) -> Result<Vec<(StreamId, A)>, AppError> {
        self.read
            .linked_states(tenant, subject, kind)
            .await?
            .into_iter()
            .map(|(stream, (_, json))| Ok((stream, confide_readmodels::parse_state(Some(&json))?)))
            .collect()
    }

    /// The tenant's organisation as it now stands: its policy and members.
    pub(crate) async fn organisation(&self, tenant: &TenantId) -> Result<Tenant, AppError> {
        Ok(self.load::<Tenant>(tenant, &tenant_stream()).await?.state)
    }

    /// Decides `command` against `stream` as `actor` and appends the events in one unit of
    /// work. Returns the events written (none if the command changed nothing). The generic
    /// path under the use cases that are one command on one stream.
    pub async fn execute<A>(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        stream: &StreamId,
        command: A::Command,
        new_ids: &[Uuid],
    ) -> Result<Vec<A::Event>, AppError>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Clone + Send + Sync + 'static,
        A::Event: Clone + Into<Event> + Send + 'static,
    {
        let new_ids = new_ids.to_vec();
        let target = stream.clone();
        self.transact_on(tenant, actor, std::slice::from_ref(stream), move |work| {
            let (stream, command, new_ids) = (target.clone(), command.clone(), new_ids.clone());
            Box::pin(async move {
                let state: A = work.load(&stream).await?;
                work.decide(&stream, &state, command, &new_ids)
            })
        })
        .await
    }
}
