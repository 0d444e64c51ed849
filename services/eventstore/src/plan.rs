//! Planning an append, with no I/O: check the request against the state it was read with,
//! number the events, hash them and extend the tenant's tree. Both backends write what this
//! plans, so they cannot disagree about sequence numbers, versions or hashes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use confide_audit::envelope::EnvelopeHeader;
use confide_audit::merkle::{Frontier, Hash};
use uuid::Uuid;

use crate::types::{format_timestamp, truncate_timestamp};
use crate::{
    AppendRequest, AppendResult, ExpectedVersion, RecordedEvent, StoreError, StreamId, TenantId,
};

/// The most events one append may carry.
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;

/// What the store read, in one snapshot, before planning.
#[derive(Debug)]
pub(crate) struct AppendState {
    pub(crate) frontier: Frontier,
    /// Current versions of the streams the request writes or is conditioned on (absent: 0).
    pub(crate) stream_versions: HashMap<StreamId, u64>,
    /// Which of the request's event ids are already stored.
    pub(crate) existing_events: HashSet<Uuid>,
}

#[derive(Debug)]
pub(crate) struct PlannedEvent {
    pub(crate) event_id: Uuid,
    pub(crate) stream_id: StreamId,
    pub(crate) stream_version: u64,
    pub(crate) event_type: String,
    pub(crate) schema_version: u32,
    pub(crate) payload: String,
    pub(crate) metadata: String,
    pub(crate) leaf_hash: Hash,
    /// The roots of the perfect subtrees this event completes, smallest first.
    pub(crate) subtree_roots: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct WritePlan {
    pub(crate) old_size: u64,
    pub(crate) new_size: u64,
    pub(crate) root: Hash,
    pub(crate) frontier: Frontier,
    pub(crate) recorded_at: DateTime<Utc>,
    pub(crate) events: Vec<PlannedEvent>,
    pub(crate) result: AppendResult,
}

impl WritePlan {
    /// The events as they will read back, for inline projections.
    pub(crate) fn recorded(
        &self,
        tenant: &TenantId,
        request: &AppendRequest,
    ) -> Vec<RecordedEvent> {
        let sources = request.writes.iter().flat_map(|w| w.events.iter());
        self.events
            .iter()
            .zip(sources)
            .enumerate()
            .map(|(offset, (planned, source))| RecordedEvent {
                tenant_id: tenant.clone(),
                sequence: self.old_size + offset as u64,
                event_id: planned.event_id,
                stream_id: planned.stream_id.clone(),
                stream_version: planned.stream_version,
                event_type: planned.event_type.clone(),
                schema_version: planned.schema_version,
                stored_schema_version: planned.schema_version,
                payload: source.payload.clone(),
                metadata: source.metadata.clone(),
                recorded_at: self.recorded_at,
                leaf_hash: planned.leaf_hash,
            })
            .collect()
    }
}

#[derive(Debug)]
pub(crate) enum Plan {
    /// Every event of the request is already stored: the caller returns the original result.
    AlreadyStored,
    Write(WritePlan),
}

/// Checks what can be checked without the database; done once, before any round trip.
pub(crate) fn validate(request: &AppendRequest) -> Result<(), StoreError> {
    let count = request.event_count();
    if count == 0 {
        return Err(StoreError::Invalid(
            "an append needs at least one event".into(),
        ));
    }
    if count > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::Invalid(format!(
            "an append may carry at most {MAX_EVENTS_PER_APPEND} events, not {count}"
        )));
    }
    let mut streams = HashSet::new();
    for write in &request.writes {
        if !streams.insert(&write.stream_id) {
            return Err(StoreError::Invalid(format!(
                "stream {} is written twice in one append",
                write.stream_id
            )));
        }
    }
    for (stream, _) in &request.conditions {
        if !streams.insert(stream) {
            return Err(StoreError::Invalid(format!(
                "stream {stream} is both written and a condition, or a condition twice"
            )));
        }
    }
    let mut ids = HashSet::new();
    for event in request.writes.iter().flat_map(|w| &w.events) {
        if !ids.insert(event.event_id) {
            return Err(StoreError::Invalid(format!(
                "event id {} appears twice in one append",
                event.event_id
            )));
        }
        if event.event_type.is_empty() || event.event_type.len() > 200 {
            return Err(StoreError::Invalid(
                "an event type is 1 to 200 characters".into(),
            ));
        }
        if event.schema_version == 0 {
            return Err(StoreError::Invalid("schema versions start at 1".into()));
        }
        if !event.payload.is_object() || !event.metadata.is_object() {
            return Err(StoreError::Invalid(format!(
                "event {}: payload and metadata must be JSON objects",
                event.event_id
            )));
        }
    }
    Ok(())
}

/// The streams whose current versions the plan needs.
pub(crate) fn streams_to_read(request: &AppendRequest) -> Vec<StreamId> {
    request
        .writes
        .iter()
        .map(|w| w.stream_id.clone())
        .chain(request.conditions.iter().map(|(s, _)| s.clone()))
        .collect()
}

/// Every stream whose expectation names one version (`NoStream` is version 0), with it. The
/// store re-checks these when it writes, so an append whose expectations are all exact can be
/// planned without reading stream versions first.
pub(crate) fn exact_expectations(request: &AppendRequest) -> Vec<(StreamId, u64)> {
    request
        .writes
        .iter()
        .map(|w| (&w.stream_id, w.expected))
        .chain(request.conditions.iter().map(|(s, e)| (s, *e)))
        .filter_map(|(stream, expected)| match expected {
            ExpectedVersion::NoStream => Some((stream.clone(), 0)),
            ExpectedVersion::Exact(version) => Some((stream.clone(), version)),
            ExpectedVersion::Any | ExpectedVersion::StreamExists => None,
        })
        .collect()
}

/// The expectation the request has of `stream`, for a conflict reported by the database.
pub(crate) fn expectation_of(request: &AppendRequest, stream: &StreamId) -> ExpectedVersion {
    request
        .writes
        .iter()
        .map(|w| (&w.stream_id, w.expected))
        .chain(request.conditions.iter().map(|(s, e)| (s, *e)))
        .find(|(s, _)| *s == stream)
        .map_or(ExpectedVersion::Any, |(_, e)| e)
}

pub(crate) fn event_ids(request: &AppendRequest) -> Vec<Uuid> {
    request
        .writes
        .iter()
        .flat_map(|w| w.events.iter().map(|e| e.event_id))
        .collect()
}

pub(crate) fn plan(
    tenant: &TenantId,
    request: &AppendRequest,
    state: AppendState,
) -> Result<Plan, StoreError> {
    // Idempotency comes first: a re-sent append would otherwise fail its own version checks.
    if !state.existing_events.is_empty() {
        let all_stored = request
            .writes
            .iter()
            .flat_map(|w| &w.events)
            .all(|e| state.existing_events.contains(&e.event_id));
        if all_stored {
            return Ok(Plan::AlreadyStored);
        }
        let event_id = *state
            .existing_events
            .iter()
            .min()
            .ok_or_else(|| StoreError::Invalid("no existing event".into()))?;
        return Err(StoreError::DuplicateEvent { event_id });
    }

    let current = |stream: &StreamId| state.stream_versions.get(stream).copied().unwrap_or(0);
    let checks = request
        .writes
        .iter()
        .map(|w| (&w.stream_id, w.expected))
        .chain(request.conditions.iter().map(|(s, e)| (s, *e)));
    for (stream, expected) in checks {
        let actual = current(stream);
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
    }

    let recorded_at = truncate_timestamp(request.recorded_at);
    let recorded_at_text = format_timestamp(recorded_at);
    let old_size = state.frontier.size();
    let mut frontier = state.frontier;
    let mut completed = Vec::new();
    let mut events = Vec::with_capacity(request.event_count());
    let mut stream_versions = Vec::with_capacity(request.writes.len());
    for write in &request.writes {
        let mut version = current(&write.stream_id);
        for event in &write.events {
            version += 1;
            let payload = canonical_text(&event.payload)?;
            let metadata = canonical_text(&event.metadata)?;
            let event_id = event.event_id.hyphenated().to_string();
            let leaf_hash = EnvelopeHeader {
                tenant_id: tenant.as_str(),
                sequence: frontier.size(),
                event_id: &event_id,
                stream_id: write.stream_id.as_str(),
                stream_version: version,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                recorded_at: &recorded_at_text,
            }
            .leaf_hash(payload.as_bytes(), metadata.as_bytes())
            .map_err(invalid_json)?;
            completed.clear();
            frontier.push(leaf_hash, &mut completed);
            events.push(PlannedEvent {
                event_id: event.event_id,
                stream_id: write.stream_id.clone(),
                stream_version: version,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                payload,
                metadata,
                leaf_hash,
                subtree_roots: completed.iter().flat_map(|(_, hash)| *hash).collect(),
            });
        }
        stream_versions.push((write.stream_id.clone(), version));
    }
    let new_size = frontier.size();
    Ok(Plan::Write(WritePlan {
        old_size,
        new_size,
        root: frontier.root(),
        frontier,
        recorded_at,
        events,
        result: AppendResult {
            first_sequence: old_size,
            last_sequence: new_size - 1,
            stream_versions,
        },
    }))
}

/// Rebuilds the original result of an append whose events are all stored, after checking that
/// the stored events are the ones re-sent.
pub(crate) fn replayed_result(
    request: &AppendRequest,
    stored: &[RecordedEvent],
) -> Result<AppendResult, StoreError> {
    let by_id: HashMap<Uuid, &RecordedEvent> = stored.iter().map(|e| (e.event_id, e)).collect();
    let mut stream_versions = Vec::with_capacity(request.writes.len());
    let mut sequences = Vec::with_capacity(stored.len());
    for write in &request.writes {
        let mut version = 0;
        for event in &write.events {
            let same = by_id.get(&event.event_id).is_some_and(|s| {
                s.stream_id == write.stream_id
                    && s.event_type == event.event_type
                    && s.stored_schema_version == event.schema_version
                    && s.payload == event.payload
                    && s.metadata == event.metadata
            });
            let stored =
                by_id
                    .get(&event.event_id)
                    .filter(|_| same)
                    .ok_or(StoreError::DuplicateEvent {
                        event_id: event.event_id,
                    })?;
            version = version.max(stored.stream_version);
            sequences.push(stored.sequence);
        }
        stream_versions.push((write.stream_id.clone(), version));
    }
    let first_sequence = sequences.iter().copied().min().unwrap_or(0);
    let last_sequence = sequences.iter().copied().max().unwrap_or(0);
    Ok(AppendResult {
        first_sequence,
        last_sequence,
        stream_versions,
    })
}

fn canonical_text(value: &serde_json::Value) -> Result<String, StoreError> {
    let bytes = confide_audit::canonical::to_canonical_vec(value).map_err(invalid_json)?;
    String::from_utf8(bytes).map_err(StoreError::unexpected)
}

fn invalid_json(error: confide_audit::canonical::CanonicalError) -> StoreError {
    StoreError::Invalid(format!("event JSON cannot be stored: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;
    use serde_json::json;

    fn tenant() -> TenantId {
        TenantId::parse("brookes-counselling").unwrap()
    }

    fn stream(name: &str) -> StreamId {
        StreamId::parse(name).unwrap()
    }

    fn empty_state() -> AppendState {
        AppendState {
            frontier: Frontier::new(),
            stream_versions: HashMap::new(),
            existing_events: HashSet::new(),
        }
    }

    fn request(expected: ExpectedVersion, n: usize) -> AppendRequest {
        let events = (0..n)
            .map(|i| NewEvent::new("ConsentGiven", 1, json!({ "n": i })))
            .collect();
        AppendRequest::to_stream(stream("consent-1"), expected, events, Utc::now())
    }

    #[test]
    fn numbers_events_from_the_tree_size_and_stream_version() {
        let mut state = empty_state();
        state.frontier = {
            let mut f = Frontier::new();
            for i in 0..5u8 {
                f.push(confide_audit::merkle::leaf_hash(&[i]), &mut Vec::new());
            }
            f
        };
        state.stream_versions.insert(stream("consent-1"), 2);
        let Plan::Write(plan) =
            plan(&tenant(), &request(ExpectedVersion::Exact(2), 3), state).unwrap()
        else {
            panic!("expected a write");
        };
        assert_eq!(plan.old_size, 5);
        assert_eq!(plan.new_size, 8);
        assert_eq!(plan.result.first_sequence, 5);
        assert_eq!(plan.result.last_sequence, 7);
        assert_eq!(plan.result.stream_versions, vec![(stream("consent-1"), 5)]);
        let versions: Vec<u64> = plan.events.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, vec![3, 4, 5]);
        // Event 5 completes [4,6); event 6 nothing; event 7 completes [6,8), [4,8) and [0,8),
        // the whole tree, whose root is the last of its subtree roots.
        let roots: Vec<usize> = plan.events.iter().map(|e| e.subtree_roots.len()).collect();
        assert_eq!(roots, vec![32, 0, 96]);
        assert_eq!(plan.events[2].subtree_roots[64..], plan.root);
        assert_eq!(plan.frontier.hashes().len(), 1);
    }

    #[test]
    fn refuses_a_wrong_expected_version_with_both_versions() {
        let mut state = empty_state();
        state.stream_versions.insert(stream("consent-1"), 4);
        let error = plan(&tenant(), &request(ExpectedVersion::Exact(3), 1), state).unwrap_err();
        match error {
            StoreError::Conflict {
                stream: s,
                expected,
                actual,
            } => {
                assert_eq!(s, stream("consent-1"));
                assert_eq!(expected, ExpectedVersion::Exact(3));
                assert_eq!(actual, 4);
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn expected_versions_mean_what_they_say() {
        assert!(ExpectedVersion::Any.admits(0) && ExpectedVersion::Any.admits(9));
        assert!(ExpectedVersion::NoStream.admits(0) && !ExpectedVersion::NoStream.admits(1));
        assert!(!ExpectedVersion::StreamExists.admits(0));
        assert!(ExpectedVersion::StreamExists.admits(1));
        assert!(ExpectedVersion::Exact(2).admits(2) && !ExpectedVersion::Exact(2).admits(3));
    }

    #[test]
    fn a_partly_stored_request_is_refused_and_a_wholly_stored_one_is_a_replay() {
        let req = request(ExpectedVersion::Any, 2);
        let ids = event_ids(&req);
        let mut state = empty_state();
        state.existing_events.insert(ids[0]);
        assert!(matches!(
            plan(&tenant(), &req, state),
            Err(StoreError::DuplicateEvent { event_id }) if event_id == ids[0]
        ));
        let mut state = empty_state();
        state.existing_events.extend(ids.iter().copied());
        assert!(matches!(
            plan(&tenant(), &req, state),
            Ok(Plan::AlreadyStored)
        ));
    }

    #[test]
    fn validation_refuses_malformed_requests() {
        let mut req = request(ExpectedVersion::Any, 1);
        req.writes[0].events[0].payload = json!([1, 2]);
        assert!(matches!(validate(&req), Err(StoreError::Invalid(_))));
        let req = request(ExpectedVersion::Any, 0);
        assert!(matches!(validate(&req), Err(StoreError::Invalid(_))));
        let req =
            request(ExpectedVersion::Any, 1).condition(stream("consent-1"), ExpectedVersion::Any);
        assert!(matches!(validate(&req), Err(StoreError::Invalid(_))));
        let mut req = request(ExpectedVersion::Any, 2);
        req.writes[0].events[1].event_id = req.writes[0].events[0].event_id;
        assert!(matches!(validate(&req), Err(StoreError::Invalid(_))));
        let mut req = request(ExpectedVersion::Any, 1);
        req.writes[0].events[0].payload = json!({ "ratio": 0.5 });
        let state = empty_state();
        assert!(matches!(
            plan(&tenant(), &req, state),
            Err(StoreError::Invalid(_))
        ));
    }
}
