//! The values an append takes and a read returns.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use confide_audit::envelope::Envelope;
use confide_audit::merkle::Hash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;

/// One organisation: every stream, event and tree belongs to exactly one tenant.
pub use confide_domain::TenantId;

/// A stream's name inside its tenant, by convention `<aggregate>-<id>` (`consent-…`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

impl StreamId {
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        let valid = (1..=200).contains(&value.len()) && value.chars().all(|c| c.is_ascii_graphic());
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(StoreError::Invalid(format!(
                "stream id {value:?} must be 1 to 200 printable ASCII characters without spaces"
            )))
        }
    }

    /// The stream `<kind>-<id>` of an aggregate: always valid, because a UUID is printable
    /// ASCII and `kind` is a short name of the program's own.
    pub fn of(kind: &'static str, id: Uuid) -> Self {
        debug_assert!(
            !kind.is_empty() && kind.len() < 100 && kind.chars().all(|c| c.is_ascii_graphic()),
            "{kind:?} is not a stream kind"
        );
        Self(format!("{kind}-{id}"))
    }

    /// A stream with a fixed name of the program's own (the tenant's `tenant` stream).
    pub fn named(name: &'static str) -> Self {
        debug_assert!(Self::parse(name).is_ok(), "{name:?} is not a stream id");
        Self(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes about a stream before its append. A stream's version is the number
/// of events in it; its first event has version 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No expectation.
    Any,
    /// The stream has no events.
    NoStream,
    /// The stream has at least one event.
    StreamExists,
    /// The stream has exactly this many events.
    Exact(u64),
}

impl ExpectedVersion {
    pub fn admits(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::StreamExists => current > 0,
            Self::Exact(version) => current == version,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::StreamExists => f.write_str("an existing stream"),
            Self::Exact(version) => write!(f, "version {version}"),
        }
    }
}

/// An event as a writer hands it over. The event id makes the append idempotent.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Value,
    pub metadata: Value,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, schema_version: u32, payload: Value) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata: Value::Object(Default::default()),
        }
    }

    pub fn with_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Events for one stream, with the writer's expectation of that stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamWrite {
    pub stream_id: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// One atomic append: events for one or more streams, optionally conditioned on the versions
/// of streams it does not write (a grant only while the consent is still at version v).
#[derive(Clone, Debug, PartialEq)]
pub struct AppendRequest {
    pub writes: Vec<StreamWrite>,
    pub conditions: Vec<(StreamId, ExpectedVersion)>,
    /// When the events were recorded; the store keeps microseconds.
    pub recorded_at: DateTime<Utc>,
}

impl AppendRequest {
    pub fn new(recorded_at: DateTime<Utc>) -> Self {
        Self {
            writes: Vec::new(),
            conditions: Vec::new(),
            recorded_at,
        }
    }

    /// A request that writes `events` to one stream.
    pub fn to_stream(
        stream_id: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        Self::new(recorded_at).write(stream_id, expected, events)
    }

    pub fn write(
        mut self,
        stream_id: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        self.writes.push(StreamWrite {
            stream_id,
            expected,
            events,
        });
        self
    }

    pub fn condition(mut self, stream_id: StreamId, expected: ExpectedVersion) -> Self {
        self.conditions.push((stream_id, expected));
        self
    }

    pub(crate) fn event_count(&self) -> usize {
        self.writes.iter().map(|w| w.events.len()).sum()
    }
}

/// What an append wrote: its tenant sequence numbers and each written stream's new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub stream_versions: Vec<(StreamId, u64)>,
}

impl AppendResult {
    /// The size of the tenant's tree just after this append.
    pub fn tree_size(&self) -> u64 {
        self.last_sequence + 1
    }
}

/// An event as stored. `sequence` is its leaf index in the tenant's Merkle tree.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    pub tenant_id: TenantId,
    pub sequence: u64,
    pub event_id: Uuid,
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub event_type: String,
    /// The schema version after upcasting; `stored_schema_version` is what was written.
    pub schema_version: u32,
    pub stored_schema_version: u32,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
    pub leaf_hash: Hash,
}

impl RecordedEvent {
    /// The envelope that was hashed into the tree. Only meaningful for an event that has not
    /// been upcast (the leaf hash covers the stored form).
    pub fn envelope(&self) -> Envelope {
        Envelope {
            tenant_id: self.tenant_id.to_string(),
            sequence: self.sequence,
            event_id: self.event_id.hyphenated().to_string(),
            stream_id: self.stream_id.to_string(),
            stream_version: self.stream_version,
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            payload: self.payload.clone(),
            metadata: self.metadata.clone(),
            recorded_at: format_timestamp(self.recorded_at),
        }
    }

    pub fn was_upcast(&self) -> bool {
        self.schema_version != self.stored_schema_version
    }
}

/// The store keeps time to the microsecond, and hashes it in exactly this form.
pub(crate) fn truncate_timestamp(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

pub(crate) fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The size and root of a tenant's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

/// A cross-tenant reader's position: for each tenant, the next sequence to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalPosition(BTreeMap<TenantId, u64>);

impl GlobalPosition {
    pub fn get(&self, tenant: &TenantId) -> u64 {
        self.0.get(tenant).copied().unwrap_or(0)
    }

    pub fn set(&mut self, tenant: TenantId, next_sequence: u64) {
        self.0.insert(tenant, next_sequence);
    }

    /// Moves past `event`; events must be passed in each tenant's sequence order.
    pub fn advance(&mut self, event: &RecordedEvent) {
        debug_assert_eq!(self.get(&event.tenant_id), event.sequence);
        match self.0.get_mut(&event.tenant_id) {
            Some(next) => *next = event.sequence + 1,
            None => {
                self.0.insert(event.tenant_id.clone(), event.sequence + 1);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TenantId, u64)> {
        self.0.iter().map(|(tenant, next)| (tenant, *next))
    }
}

/// An inclusion proof of one event in a tenant's tree of a given size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub sequence: u64,
    pub tree_size: u64,
    pub path: Vec<Hash>,
}

/// A proof that the tree of `old_size` is a prefix of the tree of `new_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub path: Vec<Hash>,
}

/// A signed tree head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tenant_id: TenantId,
    pub tree_size: u64,
    pub root: Hash,
    pub key_id: String,
    /// The full signed note (C2SP signed-note with a tlog-checkpoint body).
    pub note: String,
    pub signed_at: DateTime<Utc>,
}
