//! The audit bundle: a versioned, self-contained, streamable export of one tenant's log for
//! one filter, which an auditor verifies offline against a signed checkpoint. The format is
//! specified in `schema/audit-bundle.md`; in short, a bundle is JSON lines, each line the
//! canonical JSON ([`crate::canonical`]) of one object whose `type` member names it:
//!
//! ```text
//! header        format, version, tenant, filter, scanned range, export time
//! key+          the verifier keys (C2SP note verifier key strings)
//! checkpoint    the signed checkpoint (a C2SP signed note) of the tree of N events
//! consistency?  an older signed checkpoint and the consistency proof from it
//! event|skip*   in sequence order, covering leaves 0..N exactly once:
//!               event: a disclosed envelope and its leaf hash;
//!               skip:  a run of undisclosed leaves as the hashes of the perfect subtrees
//!                      that tile it (merkle::range_nodes)
//! end           counts and a digest of the lines before it (event lines by their leaf)
//! ```
//!
//! Because the event and skip lines cover the whole tree, the verifier folds them into the
//! root and compares it with the checkpoint's: one range proof for the whole bundle instead
//! of an audit path per event (about one node hash per event instead of `log2 N`).
//! Inside the scanned range the writer discloses every event that matches the filter and
//! hides the others; outside it, it hides everything.
//!
//! [`BundleWriter`] writes a bundle with flat memory, checking as it goes everything the
//! verifier will check (so an exporter cannot produce a bundle that fails verification
//! without getting an error), and [`BundleReader`] reads one line at a time.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, mpsc};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::canonical;
use crate::checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use crate::envelope::{Envelope, EnvelopeHeader};
use crate::merkle::{self, CompactRange, Frontier, Hash};
use crate::strict_json::{self, Document, Kind, Node};

/// The `format` member of every header.
pub const FORMAT: &str = "confide-audit-bundle";

/// The version of the format this module writes and reads.
pub const VERSION: u64 = 1;

/// The longest line a reader accepts, newline included. Longer lines are refused rather
/// than buffered, so a hostile file cannot make the verifier's memory grow without bound.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// The member names of an envelope, in canonical order.
const ENVELOPE_MEMBERS: [&str; 10] = [
    "event_id",
    "event_type",
    "metadata",
    "payload",
    "recorded_at",
    "schema_version",
    "sequence",
    "stream_id",
    "stream_version",
    "tenant_id",
];

// Positions in `ENVELOPE_MEMBERS`.
const EVENT_ID: usize = 0;
const EVENT_TYPE: usize = 1;
const METADATA: usize = 2;
const PAYLOAD: usize = 3;
const RECORDED_AT: usize = 4;
const SCHEMA_VERSION: usize = 5;
const SEQUENCE: usize = 6;
const STREAM_ID: usize = 7;
const STREAM_VERSION: usize = 8;
const TENANT_ID: usize = 9;

// ---------------------------------------------------------------------------------------
// Filter

/// Which events of the scanned range a bundle discloses.
///
/// An event matches when both hold:
///
/// - time: `from <= recorded_at` (if `from` is set) and `recorded_at < until` (if `until`
///   is set), comparing the timestamps as strings, which for their fixed format
///   (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) is chronological order;
/// - subject: `subjects` is empty, or for some kind `k` and one of its ids `i`, the event's
///   `stream_id` is `k-i` or its payload is an object with a top-level member `k_id` whose
///   value is the string `i`. So `{"client": ["c1"]}` matches the client's own stream and
///   every event whose payload names `"client_id": "c1"`.
///
/// A filter that lists subjects must be *closed*: every stream created by a matching event
/// (one with `stream_version` 1, in stream `k-i`) is listed too, as kind `k`, id `i`. The
/// writer and the verifier both require it, so that a bundle cannot silently leave out the
/// later events of a stream whose first event it discloses: a consent requested for a
/// listed client (its `ConsentGiven` and `ConsentWithdrawn` name no client), a recording
/// made for that client (its playbacks), a grant on that recording (its revocation). The
/// exporter lists a client's consents, recordings, grants and subject requests alongside
/// the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The earliest `recorded_at` disclosed, inclusive.
    pub from: Option<String>,
    /// The `recorded_at` from which nothing is disclosed, exclusive.
    pub until: Option<String>,
    /// Subject ids by kind (`client`, `consent`, `recording`, …). Empty: every subject.
    pub subjects: BTreeMap<String, BTreeSet<String>>,
}

impl Filter {
    /// The filter that matches every event.
    pub fn everything() -> Self {
        Self::default()
    }

    /// This filter with one more subject, e.g. `("recording", "0193…")`.
    pub fn with_subject(mut self, kind: &str, id: impl Into<String>) -> Self {
        self.subjects
            .entry(kind.to_owned())
            .or_default()
            .insert(id.into());
        self
    }

    /// This filter limited to `from <= recorded_at < until`.
    pub fn recorded_between(mut self, from: Option<String>, until: Option<String>) -> Self {
        self.from = from;
        self.until = until;
        self
    }

    /// Checks the filter's own shape: timestamps in the envelope format with `from` before
    /// `until`, kinds of lowercase letters and underscores, ids of printable ASCII without
    /// spaces (as in stream ids), and no kind without ids.
    pub fn validate(&self) -> Result<(), String> {
        for (name, bound) in [("from", &self.from), ("until", &self.until)] {
            if let Some(bound) = bound
                && !is_timestamp(bound)
            {
                return Err(format!(
                    "{name} {bound:?} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS.ffffffZ"
                ));
            }
        }
        if let (Some(from), Some(until)) = (&self.from, &self.until)
            && from >= until
        {
            return Err(format!("from {from} is not before until {until}"));
        }
        for (kind, ids) in &self.subjects {
            let kind_ok = kind.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !kind_ok {
                return Err(format!(
                    "subject kind {kind:?} is not lowercase letters and underscores"
                ));
            }
            if ids.is_empty() {
                return Err(format!("subject kind {kind:?} lists no ids"));
            }
            if let Some(id) = ids
                .iter()
                .find(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(format!(
                    "subject id {id:?} is not printable ASCII without spaces"
                ));
            }
        }
        Ok(())
    }

    /// Whether `envelope` matches the filter (see the type's documentation). An envelope
    /// whose `recorded_at` is not in the fixed format never matches a filter with a time
    /// bound.
    pub fn matches(&self, envelope: &Envelope) -> bool {
        let matcher = Matcher::new(self);
        let payload = |name: &str| {
            envelope
                .payload
                .get(name)
                .and_then(Value::as_str)
                .map(Cow::Borrowed)
        };
        matcher
            .evaluate(
                &envelope.recorded_at,
                &envelope.stream_id,
                envelope.stream_version,
                payload,
            )
            .is_ok_and(|verdict| verdict.matches)
    }

    /// Closes the filter over one event: if the event matches and creates a stream
    /// `kind-id` that the filter does not list (section 8's closure rule), lists it and
    /// returns true. An exporter runs this over the scanned events, in order, before it
    /// writes a bundle for a filter with subjects, so that the bundle discloses the
    /// streams its subjects created (a client's consents, their recordings, the grants on
    /// those) and not only the events that name the subject.
    pub fn close_over(
        &mut self,
        recorded_at: &str,
        stream_id: &str,
        stream_version: u64,
        payload: &Value,
    ) -> bool {
        let verdict = Matcher::new(self).evaluate(recorded_at, stream_id, stream_version, |name| {
            payload.get(name).and_then(Value::as_str).map(Cow::Borrowed)
        });
        let Ok(Verdict {
            unlisted_stream: Some(stream),
            ..
        }) = verdict
        else {
            return false;
        };
        match stream.split_once('-') {
            Some((kind, id)) => {
                self.subjects
                    .entry(kind.to_owned())
                    .or_default()
                    .insert(id.to_owned());
                true
            }
            None => false,
        }
    }

    fn to_json(&self) -> Value {
        let subjects: Map<String, Value> = self
            .subjects
            .iter()
            .map(|(kind, ids)| (kind.clone(), json!(ids)))
            .collect();
        json!({ "from": self.from, "until": self.until, "subjects": subjects })
    }

    fn from_json(value: &Value) -> Result<Self, String> {
        let members = exact_members(value, &["from", "subjects", "until"])?;
        let bound = |name: &str| match &members[name] {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            _ => Err(format!("filter.{name} is neither null nor a string")),
        };
        let Value::Object(subject_members) = &members["subjects"] else {
            return Err("filter.subjects is not an object".to_owned());
        };
        let mut subjects = BTreeMap::new();
        for (kind, ids) in subject_members {
            let Value::Array(ids) = ids else {
                return Err(format!("filter.subjects.{kind} is not an array"));
            };
            let mut set = BTreeSet::new();
            let mut previous: Option<&str> = None;
            for id in ids {
                let Value::String(id) = id else {
                    return Err(format!("filter.subjects.{kind} holds a non-string"));
                };
                // One encoding per filter: ids sorted (by bytes) without repeats.
                if previous.is_some_and(|previous| previous >= id.as_str()) {
                    return Err(format!(
                        "filter.subjects.{kind} is not sorted without repeats"
                    ));
                }
                previous = Some(id);
                set.insert(id.clone());
            }
            subjects.insert(kind.clone(), set);
        }
        let filter = Filter {
            from: bound("from")?,
            until: bound("until")?,
            subjects,
        };
        filter.validate()?;
        Ok(filter)
    }
}

/// Whether `text` is a timestamp of the envelope format `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
/// Only the shape is checked: for strings of this shape, string order is time order.
pub fn is_timestamp(text: &str) -> bool {
    const SHAPE: &[u8; 27] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(byte, &shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            other => byte == other,
        })
}

/// A filter prepared for evaluating many events.
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    from: Option<String>,
    until: Option<String>,
    /// (kind, payload member name `kind_id`, ids).
    subjects: Vec<(String, String, BTreeSet<String>)>,
}

/// What a filter says about one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) matches: bool,
    /// For a matching event that creates a stream `kind-id` that the filter does not list
    /// (when it lists subjects): the stream id.
    pub(crate) unlisted_stream: Option<String>,
}

impl Matcher {
    pub(crate) fn new(filter: &Filter) -> Self {
        Self {
            from: filter.from.clone(),
            until: filter.until.clone(),
            subjects: filter
                .subjects
                .iter()
                .map(|(kind, ids)| (kind.clone(), format!("{kind}_id"), ids.clone()))
                .collect(),
        }
    }

    fn is_everything(&self) -> bool {
        self.from.is_none() && self.until.is_none() && self.subjects.is_empty()
    }

    /// Evaluates the filter on an event's facts; `payload` looks up a top-level string
    /// member of the payload. Fails when the filter has a time bound and `recorded_at` is
    /// not in the fixed format.
    pub(crate) fn evaluate<'p>(
        &self,
        recorded_at: &str,
        stream_id: &str,
        stream_version: u64,
        payload: impl Fn(&str) -> Option<Cow<'p, str>>,
    ) -> Result<Verdict, String> {
        let no = Verdict {
            matches: false,
            unlisted_stream: None,
        };
        if self.is_everything() {
            return Ok(Verdict {
                matches: true,
                unlisted_stream: None,
            });
        }
        if self.from.is_some() || self.until.is_some() {
            if !is_timestamp(recorded_at) {
                return Err(format!(
                    "recorded_at {recorded_at:?} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ, so the time filter cannot apply"
                ));
            }
            let after_from = self.from.as_deref().is_none_or(|from| from <= recorded_at);
            let before_until = self
                .until
                .as_deref()
                .is_none_or(|until| recorded_at < until);
            if !(after_from && before_until) {
                return Ok(no);
            }
        }
        let stream = stream_id.split_once('-');
        let names_subject = self.subjects.is_empty()
            || self.subjects.iter().any(|(kind, member, ids)| {
                let by_stream = stream.is_some_and(|(k, id)| k == kind && ids.contains(id));
                by_stream || payload(member).is_some_and(|id| ids.contains(id.as_ref()))
            });
        if !names_subject {
            return Ok(no);
        }
        let mut unlisted_stream = None;
        if let (false, 1, Some((kind, id))) = (self.subjects.is_empty(), stream_version, stream) {
            let listed = self
                .subjects
                .iter()
                .any(|(listed_kind, _, ids)| listed_kind == kind && ids.contains(id));
            if !listed {
                unlisted_stream = Some(stream_id.to_owned());
            }
        }
        Ok(Verdict {
            matches: true,
            unlisted_stream,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Header

/// The first line of a bundle: whose log, which events, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleHeader {
    /// The tenant whose log the bundle holds; every envelope's `tenant_id`, and the
    /// checkpoint's origin is `<prefix>/<tenant_id>`.
    pub tenant_id: String,
    /// Which events of the scanned range are disclosed.
    pub filter: Filter,
    /// The sequence numbers the exporter examined, `start..end`: within it every event
    /// that matches the filter is disclosed; outside it nothing is.
    pub scan: Range<u64>,
    /// When the bundle was written, in the envelope timestamp format.
    pub exported_at: String,
    /// What wrote it, e.g. `confide 0.1.0`.
    pub generator: String,
}

impl BundleHeader {
    fn to_json(&self) -> Value {
        json!({
            "type": "header",
            "format": FORMAT,
            "version": VERSION,
            "tenant_id": self.tenant_id,
            "filter": self.filter.to_json(),
            "scan": { "start": self.scan.start, "end": self.scan.end },
            "exported_at": self.exported_at,
            "generator": self.generator,
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.tenant_id.is_empty() {
            return Err("the tenant id is empty".to_owned());
        }
        if self.scan.start > self.scan.end {
            return Err(format!(
                "the scanned range {}..{} ends before it starts",
                self.scan.start, self.scan.end
            ));
        }
        if !is_timestamp(&self.exported_at) {
            return Err(format!(
                "exported_at {:?} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ",
                self.exported_at
            ));
        }
        self.filter.validate()
    }
}

/// Whether `origin` is a tenant's origin line: `<non-empty prefix>/<tenant_id>`.
pub fn origin_names_tenant(origin: &str, tenant_id: &str) -> bool {
    origin
        .strip_suffix(tenant_id)
        .and_then(|prefix| prefix.strip_suffix('/'))
        .is_some_and(|prefix| !prefix.is_empty())
}

// ---------------------------------------------------------------------------------------
// Writer

/// Why a bundle could not be written. After any error the output is not a valid bundle
/// and must be discarded; the writer refuses further calls.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Writing to the output failed.
    #[error("writing the bundle failed: {0}")]
    Io(#[from] io::Error),
    /// The header is not valid (empty tenant, bad filter, range or timestamp).
    #[error("invalid bundle header: {0}")]
    InvalidHeader(String),
    /// No key was given, or a key was given twice.
    #[error("invalid verifier keys: {0}")]
    InvalidKeys(String),
    /// The checkpoint note is not signed by any of the keys, is not a checkpoint, is for
    /// another tenant's origin, or is smaller than the scanned range.
    #[error("unusable checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// The previous checkpoint or its consistency proof does not check out.
    #[error("unusable previous checkpoint: {0}")]
    InvalidPrevious(String),
    /// Leaves must be given in sequence order without gaps.
    #[error("expected leaf {expected} next, got {got}")]
    OutOfOrder {
        /// The next sequence number the bundle needs.
        expected: u64,
        /// The one given.
        got: u64,
    },
    /// Events outside the scanned range are given as skipped runs, not one by one.
    #[error("event {sequence} is outside the scanned range: give it in a skipped run")]
    OutsideScan {
        /// The event's sequence number.
        sequence: u64,
    },
    /// The event belongs to another tenant.
    #[error("event {sequence} belongs to tenant {tenant_id:?}, not the bundle's")]
    WrongTenant {
        /// The event's sequence number.
        sequence: u64,
        /// Its tenant.
        tenant_id: String,
    },
    /// The event has no canonical form, or its payload or metadata bytes were not
    /// canonical, or its `recorded_at` cannot be compared with the time filter.
    #[error("event {sequence} cannot be exported: {reason}")]
    InvalidEvent {
        /// The event's sequence number.
        sequence: u64,
        /// Why.
        reason: String,
    },
    /// The event matches and creates a stream that the filter does not list.
    #[error("event {sequence} creates stream {stream_id}, which the filter does not list")]
    FilterNotClosed {
        /// The event's sequence number.
        sequence: u64,
        /// The stream to add to the filter.
        stream_id: String,
    },
    /// A skipped run was given the wrong number of hashes.
    #[error(
        "the run {start}..{end} is tiled by {expected} subtrees, but {actual} hashes were given"
    )]
    WrongRunLength {
        /// First leaf of the run.
        start: u64,
        /// One past its last leaf.
        end: u64,
        /// `merkle::range_nodes(start, end).count()`.
        expected: usize,
        /// How many hashes were given.
        actual: usize,
    },
    /// A skipped run ends before it starts or beyond the checkpoint's tree.
    #[error("a run ending at {end} does not fit a tree of {size} events")]
    BeyondTree {
        /// Where the run ends.
        end: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
    /// The bundle was finished before it covered the checkpoint's tree.
    #[error("the bundle covers leaves up to {covered} but the checkpoint's tree has {size}")]
    Incomplete {
        /// How many leaves were given.
        covered: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
    /// The leaves and hashes given do not lead to the checkpoint's root: an event or a
    /// node hash differs from the log's.
    #[error(
        "the bundle's leaves lead to root {} but the checkpoint's root is {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch {
        /// The root the bundle leads to.
        computed: Hash,
        /// The checkpoint's root.
        expected: Hash,
    },
    /// An earlier call failed; the output is not a valid bundle.
    #[error("an earlier error left the bundle unusable")]
    Failed,
}

/// An older checkpoint to prove the bundle's checkpoint consistent with.
#[derive(Clone, Copy, Debug)]
pub struct Previous<'a> {
    /// The older checkpoint as a signed note, e.g. the one the auditor verified last time.
    pub note: &'a str,
    /// `merkle::consistency_proof(old size, bundle size)`.
    pub proof: &'a [Hash],
}

/// Whether the writer disclosed an event or hid it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// It matches the filter and is in the bundle whole.
    Disclosed,
    /// It does not match; only its leaf hash went into a skip line.
    Hidden,
}

/// What a finished bundle holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleSummary {
    /// Lines before the end line.
    pub lines: u64,
    /// Disclosed events.
    pub events: u64,
    /// Events in the scanned range that were hidden (did not match the filter).
    pub hidden_in_scan: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The checkpoint's root, which the bundle's leaves were checked against.
    pub root: Hash,
    /// The end line's digest: SHA-256 over the lines before it, event lines by their leaf
    /// hash (see [`BundleReader`]).
    pub digest: Hash,
}

/// Writes a bundle line by line.
///
/// 1. [`BundleWriter::new`] writes the header, key, checkpoint and (optional) consistency
///    lines, after checking the checkpoint's signature and the consistency proof.
/// 2. The leaves `0..N` of the checkpoint's tree follow in order, each exactly once:
///    [`BundleWriter::skip_run`] for runs the exporter does not examine (at least
///    `0..scan.start` and `scan.end..N`), given as the hashes of
///    [`merkle::range_nodes`], and [`BundleWriter::push_canonical`] (or
///    [`BundleWriter::push_envelope`]) for every event of the scanned range, which the
///    writer discloses if it matches the filter and hides otherwise.
/// 3. [`BundleWriter::finish`] checks that the leaves lead to the checkpoint's root and
///    writes the end line.
///
/// Memory stays flat: the writer keeps the tree's frontier and the pending run of hidden
/// leaves (`O(log N)` hashes each). Give it a buffered output.
pub struct BundleWriter<W: Write> {
    out: W,
    digest: Sha256,
    lines: u64,
    events: u64,
    hidden_in_scan: u64,
    tenant_id: String,
    scan: Range<u64>,
    matcher: Matcher,
    checkpoint: Checkpoint,
    frontier: Frontier,
    hidden: CompactRange,
    buffer: Vec<u8>,
    nodes: Vec<Node>,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for BundleWriter<W> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BundleWriter")
            .field("tenant_id", &self.tenant_id)
            .field("position", &self.frontier.size())
            .field("tree_size", &self.checkpoint.size)
            .finish_non_exhaustive()
    }
}

impl<W: Write> BundleWriter<W> {
    /// Starts a bundle: checks the header, that some key in `keys` signs `checkpoint_note`
    /// (a C2SP signed note of the tenant's checkpoint, origin `<prefix>/<tenant_id>`,
    /// covering the scanned range) and, if given, that the previous checkpoint is signed
    /// by one of `keys`, has the same origin, is no larger, and that its proof checks; then
    /// writes the header, key, checkpoint and consistency lines.
    pub fn new(
        out: W,
        header: &BundleHeader,
        keys: &[NoteVerifier],
        checkpoint_note: &str,
        previous: Option<Previous<'_>>,
    ) -> Result<Self, BundleError> {
        header.validate().map_err(BundleError::InvalidHeader)?;
        if keys.is_empty() {
            return Err(BundleError::InvalidKeys("no verifier key".to_owned()));
        }
        let mut key_strings = BTreeSet::new();
        for key in keys {
            if !key_strings.insert(key.to_string()) {
                return Err(BundleError::InvalidKeys(format!("{key} is listed twice")));
            }
        }
        let checkpoint = signed_checkpoint(checkpoint_note, keys)
            .map_err(|reason| BundleError::InvalidCheckpoint(reason.to_string()))?;
        if !origin_names_tenant(&checkpoint.origin, &header.tenant_id) {
            return Err(BundleError::InvalidCheckpoint(format!(
                "origin {:?} is not <prefix>/{}",
                checkpoint.origin, header.tenant_id
            )));
        }
        if header.scan.end > checkpoint.size {
            return Err(BundleError::InvalidCheckpoint(format!(
                "the scanned range ends at {} but the checkpoint's tree has {} events",
                header.scan.end, checkpoint.size
            )));
        }
        if let Some(previous) = previous {
            check_previous(previous, keys, &checkpoint).map_err(BundleError::InvalidPrevious)?;
        }

        let mut writer = Self {
            out,
            digest: Sha256::new(),
            lines: 0,
            events: 0,
            hidden_in_scan: 0,
            tenant_id: header.tenant_id.clone(),
            scan: header.scan.clone(),
            matcher: Matcher::new(&header.filter),
            checkpoint,
            frontier: Frontier::new(),
            hidden: CompactRange::new(0),
            buffer: Vec::with_capacity(4096),
            nodes: Vec::new(),
            failed: false,
        };
        writer.write_value(&header.to_json())?;
        for key in keys {
            writer.write_value(&json!({ "type": "key", "key": key.to_string() }))?;
        }
        writer.write_value(&json!({ "type": "checkpoint", "note": checkpoint_note }))?;
        if let Some(previous) = previous {
            let proof: Vec<String> = previous.proof.iter().map(hex::encode).collect();
            writer.write_value(&json!({
                "type": "consistency",
                "note": previous.note,
                "proof": proof,
            }))?;
        }
        Ok(writer)
    }

    /// What has been written so far, for an exporter that hands the output on in pieces
    /// (take the bytes out of a `Vec<u8>` output between calls).
    pub fn output_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The next leaf the bundle needs.
    pub fn position(&self) -> u64 {
        self.frontier.size()
    }

    /// Adds the leaves `start..end` without disclosing them, given the hashes of the
    /// perfect subtrees [`merkle::range_nodes`]`(start, end)` yields, in that order (an
    /// event store reads them from its stored nodes). `start` must be [`Self::position`];
    /// an empty run does nothing. Inside the scanned range this asserts that none of those
    /// events matches the filter, which the writer cannot check: prefer pushing them.
    pub fn skip_run(&mut self, start: u64, end: u64, hashes: &[Hash]) -> Result<(), BundleError> {
        self.guard(|writer| writer.skip_run_inner(start, end, hashes))
    }

    /// Adds the event with this envelope header and canonical payload and metadata (as the
    /// event store keeps them): disclosed if it matches the filter, hidden otherwise. Its
    /// sequence must be [`Self::position`] and inside the scanned range.
    pub fn push_canonical(
        &mut self,
        header: EnvelopeHeader<'_>,
        canonical_payload: &[u8],
        canonical_metadata: &[u8],
    ) -> Result<Disclosure, BundleError> {
        self.guard(|writer| {
            let sequence = header.sequence;
            let bytes = header
                .canonical_bytes(canonical_payload, canonical_metadata)
                .map_err(|error| BundleError::InvalidEvent {
                    sequence,
                    reason: error.to_string(),
                })?;
            writer.push_inner(&header, bytes)
        })
    }

    /// [`Self::push_canonical`] for an [`Envelope`].
    pub fn push_envelope(&mut self, envelope: &Envelope) -> Result<Disclosure, BundleError> {
        self.guard(|writer| {
            let bytes = envelope
                .canonical_bytes()
                .map_err(|error| BundleError::InvalidEvent {
                    sequence: envelope.sequence,
                    reason: error.to_string(),
                })?;
            writer.push_inner(&envelope.header(), bytes)
        })
    }

    /// Checks that the leaves cover the checkpoint's tree and lead to its root, writes the
    /// end line, flushes, and returns the output and what the bundle holds.
    pub fn finish(mut self) -> Result<(W, BundleSummary), BundleError> {
        if self.failed {
            return Err(BundleError::Failed);
        }
        self.flush_hidden()?;
        let covered = self.frontier.size();
        if covered != self.checkpoint.size {
            return Err(BundleError::Incomplete {
                covered,
                size: self.checkpoint.size,
            });
        }
        let computed = self.frontier.root();
        if computed != self.checkpoint.root {
            return Err(BundleError::RootMismatch {
                computed,
                expected: self.checkpoint.root,
            });
        }
        let digest: Hash = self.digest.clone().finalize().into();
        let end = json!({
            "type": "end",
            "digest": hex::encode(digest),
            "events": self.events,
            "lines": self.lines,
        });
        self.write_value(&end)?;
        self.out.flush()?;
        let summary = BundleSummary {
            lines: self.lines - 1,
            events: self.events,
            hidden_in_scan: self.hidden_in_scan,
            tree_size: self.checkpoint.size,
            root: self.checkpoint.root,
            digest,
        };
        Ok((self.out, summary))
    }

    fn guard<T>(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<T, BundleError>,
    ) -> Result<T, BundleError> {
        if self.failed {
            return Err(BundleError::Failed);
        }
        let result = step(self);
        self.failed = result.is_err();
        result
    }

    fn skip_run_inner(&mut self, start: u64, end: u64, hashes: &[Hash]) -> Result<(), BundleError> {
        self.flush_hidden()?;
        if start != self.frontier.size() {
            return Err(BundleError::OutOfOrder {
                expected: self.frontier.size(),
                got: start,
            });
        }
        if end < start || end > self.checkpoint.size {
            return Err(BundleError::BeyondTree {
                end,
                size: self.checkpoint.size,
            });
        }
        let expected = merkle::range_nodes(start, end).count();
        if hashes.len() != expected {
            return Err(BundleError::WrongRunLength {
                start,
                end,
                expected,
                actual: hashes.len(),
            });
        }
        if start == end {
            return Ok(());
        }
        for (node, hash) in merkle::range_nodes(start, end).zip(hashes) {
            self.frontier
                .push_subtree(node.level, *hash)
                .map_err(|error| BundleError::InvalidEvent {
                    sequence: start,
                    reason: error.to_string(),
                })?;
        }
        self.hidden_in_scan += overlap(start..end, &self.scan);
        self.write_skip(start, end, hashes.iter().copied())
    }

    fn push_inner(
        &mut self,
        header: &EnvelopeHeader<'_>,
        bytes: Vec<u8>,
    ) -> Result<Disclosure, BundleError> {
        let sequence = header.sequence;
        if sequence != self.frontier.size() {
            return Err(BundleError::OutOfOrder {
                expected: self.frontier.size(),
                got: sequence,
            });
        }
        if !self.scan.contains(&sequence) {
            return Err(BundleError::OutsideScan { sequence });
        }
        if header.tenant_id != self.tenant_id {
            return Err(BundleError::WrongTenant {
                sequence,
                tenant_id: header.tenant_id.to_owned(),
            });
        }
        let invalid = |reason: String| BundleError::InvalidEvent { sequence, reason };
        let text = std::str::from_utf8(&bytes).map_err(|error| invalid(error.to_string()))?;
        // The payload and metadata were given as bytes: check they are canonical, as the
        // verifier will, and find the payload's members for the filter.
        let document = strict_json::parse(text, 2, &mut self.nodes)
            .map_err(|error| invalid(format!("not canonical JSON: {}", error.reason)))?;
        let payload = document.member(Document::ROOT, "payload");
        let verdict = self
            .matcher
            .evaluate(
                header.recorded_at,
                header.stream_id,
                header.stream_version,
                |name| payload.and_then(|payload| string_member(&document, payload, name)),
            )
            .map_err(invalid)?;
        if let Some(stream_id) = verdict.unlisted_stream {
            return Err(BundleError::FilterNotClosed {
                sequence,
                stream_id,
            });
        }
        let leaf = merkle::leaf_hash(&bytes);
        self.frontier
            .push_subtree(0, leaf)
            .map_err(|error| invalid(error.to_string()))?;
        if !verdict.matches {
            if self.hidden.is_empty() {
                self.hidden = CompactRange::new(sequence);
            }
            self.hidden.push(leaf);
            self.hidden_in_scan += 1;
            return Ok(Disclosure::Hidden);
        }
        self.flush_hidden()?;
        self.buffer.clear();
        self.buffer.extend_from_slice(b"{\"envelope\":");
        self.buffer.extend_from_slice(&bytes);
        self.buffer.extend_from_slice(b",\"leaf\":\"");
        push_hex(&mut self.buffer, &leaf);
        self.buffer.extend_from_slice(b"\",\"type\":\"event\"}\n");
        self.out.write_all(&self.buffer)?;
        // An event line joins the end line's digest by its leaf hash (see BundleReader).
        self.digest.update(leaf);
        self.lines += 1;
        self.events += 1;
        Ok(Disclosure::Disclosed)
    }

    fn flush_hidden(&mut self) -> Result<(), BundleError> {
        if self.hidden.is_empty() {
            return Ok(());
        }
        let run = std::mem::replace(&mut self.hidden, CompactRange::new(0));
        self.write_skip(run.start(), run.end(), run.hashes())
    }

    fn write_skip(
        &mut self,
        start: u64,
        end: u64,
        hashes: impl Iterator<Item = Hash>,
    ) -> Result<(), BundleError> {
        self.buffer.clear();
        self.buffer
            .extend_from_slice(format!("{{\"end\":{end},\"hashes\":[").as_bytes());
        for (position, hash) in hashes.enumerate() {
            if position > 0 {
                self.buffer.push(b',');
            }
            self.buffer.push(b'"');
            push_hex(&mut self.buffer, &hash);
            self.buffer.push(b'"');
        }
        self.buffer
            .extend_from_slice(format!("],\"start\":{start},\"type\":\"skip\"}}\n").as_bytes());
        self.emit_buffer()
    }

    fn write_value(&mut self, value: &Value) -> Result<(), BundleError> {
        let bytes = canonical::to_canonical_vec(value)
            .map_err(|error| BundleError::InvalidHeader(error.to_string()))?;
        self.buffer.clear();
        self.buffer.extend_from_slice(&bytes);
        self.buffer.push(b'\n');
        self.emit_buffer()
    }

    fn emit_buffer(&mut self) -> Result<(), BundleError> {
        self.out.write_all(&self.buffer)?;
        self.digest.update(&self.buffer);
        self.lines += 1;
        Ok(())
    }
}

fn overlap(run: Range<u64>, scan: &Range<u64>) -> u64 {
    run.end
        .min(scan.end)
        .saturating_sub(run.start.max(scan.start))
}

fn push_hex(out: &mut Vec<u8>, hash: &Hash) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in hash {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0xf)]);
    }
}

/// Decodes 64 lowercase hex digits (the only accepted spelling, so each hash has one),
/// eight digits at a time.
pub(crate) fn parse_hash(text: &str) -> Option<Hash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (out, digits) in hash.chunks_exact_mut(4).zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(digits);
        out.copy_from_slice(&hex_word(u64::from_le_bytes(word))?);
    }
    Some(hash)
}

/// The four bytes that eight lowercase hex digits (first digit in the lowest byte) spell,
/// or `None` if any byte is not one. Bytes below 0x80 are tested for ranges by adding a
/// constant to each: the high bit of `x + (0x80 - low)` is set exactly when `x >= low`,
/// and no sum carries into the next byte.
fn hex_word(word: u64) -> Option<[u8; 4]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let at_least = |low: u8| word.wrapping_add(ONES * u64::from(0x80 - low)) & HIGH;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if word & HIGH != 0 || digit | letter != HIGH {
        return None;
    }
    // A digit's value is its low four bits; a letter's is its low four bits plus 9.
    let nibbles = (word & (ONES * 0x0f)) + (letter >> 7) * 9;
    // Each pair of digits, first digit in the low byte: high nibble first.
    let pairs = ((nibbles & 0x00ff_00ff_00ff_00ff) << 4) | ((nibbles >> 8) & 0x00ff_00ff_00ff_00ff);
    let pairs = pairs.to_le_bytes();
    Some([pairs[0], pairs[2], pairs[4], pairs[6]])
}

/// The checkpoint in `note` if some key in `keys` signs it.
fn signed_checkpoint(note: &str, keys: &[NoteVerifier]) -> Result<Checkpoint, CheckpointError> {
    let mut last_error = None;
    for key in keys {
        match key.verify(note) {
            Ok(body) => return Checkpoint::parse_body(&body),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| CheckpointError::MalformedNote("no keys".to_owned())))
}

fn check_previous(
    previous: Previous<'_>,
    keys: &[NoteVerifier],
    checkpoint: &Checkpoint,
) -> Result<(), String> {
    let old = signed_checkpoint(previous.note, keys).map_err(|error| error.to_string())?;
    if old.origin != checkpoint.origin {
        return Err(format!(
            "its origin {:?} is not the checkpoint's {:?}",
            old.origin, checkpoint.origin
        ));
    }
    if old.size > checkpoint.size {
        return Err(format!(
            "it has {} events, more than the checkpoint's {}",
            old.size, checkpoint.size
        ));
    }
    merkle::verify_consistency(
        old.size,
        checkpoint.size,
        &old.root,
        &checkpoint.root,
        previous.proof,
    )
    .map_err(|error| error.to_string())
}

/// The string value of the top-level member `name` of the object at `object`.
fn string_member<'a>(document: &Document<'a>, object: usize, name: &str) -> Option<Cow<'a, str>> {
    document
        .member(object, name)
        .and_then(|member| document.str(member))
}

// ---------------------------------------------------------------------------------------
// Reader

/// Why a line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ReadError {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub kind: ReadErrorKind,
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadErrorKind {
    /// Reading the input failed.
    #[error("reading failed: {0}")]
    Io(String),
    /// The input ends inside a line (no final newline).
    #[error("the bundle ends in the middle of a line")]
    Truncated,
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("the line is longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// The line is JSON but not its canonical form.
    #[error("the line is JSON but not canonical JSON: {0}")]
    NotCanonical(String),
    /// The line is not JSON, or not a bundle line of this version.
    #[error("{0}")]
    Malformed(String),
    /// The header names another format or version.
    #[error("format {format:?} version {version} is not {FORMAT:?} version {VERSION}")]
    UnsupportedVersion {
        /// The header's `format`.
        format: String,
        /// The header's `version`.
        version: u64,
    },
}

/// One line of a bundle.
#[derive(Debug)]
pub enum Line<'a> {
    /// The header.
    Header(Box<BundleHeader>),
    /// A verifier key.
    Key(Box<NoteVerifier>),
    /// The signed checkpoint note.
    Checkpoint(String),
    /// An older signed checkpoint and the consistency proof from it.
    Consistency {
        /// The older checkpoint's signed note.
        note: String,
        /// The consistency proof.
        proof: Vec<Hash>,
    },
    /// A disclosed event.
    Event(EventLine<'a>),
    /// A run of undisclosed leaves.
    Skip {
        /// First leaf of the run.
        start: u64,
        /// One past its last leaf.
        end: u64,
        /// The hashes of the subtrees of `merkle::range_nodes(start, end)`, in order (the
        /// reader does not check their number).
        hashes: &'a [Hash],
    },
    /// The end line.
    End {
        /// The stated number of disclosed events.
        events: u64,
        /// The stated number of lines before the end line.
        lines: u64,
        /// The stated digest.
        digest: Hash,
        /// The digest of the lines before this one, as read (see [`BundleReader`]).
        computed_digest: Hash,
    },
}

/// The spans of an event's tenant, time and stream in a chunk's decoded strings.
#[derive(Clone, Copy, Debug)]
struct Facts([(u32, u32); 3]);

impl Facts {
    const TENANT_ID: usize = 0;
    const RECORDED_AT: usize = 1;
    const STREAM_ID: usize = 2;
}

/// A disclosed event line: the envelope's canonical text and its fields. A view into the
/// chunk the line was parsed in: nothing is copied out of it, and the line's text is only
/// touched when a field that needs it is read, so the ordered checks, which need only the
/// parts parsing extracted, do not pull the line's bytes from the core that parsed them.
#[derive(Clone, Copy)]
pub struct EventLine<'a> {
    chunk: &'a Chunk,
    line: &'a ParsedLine,
    parts: &'a EventParts,
}

impl std::fmt::Debug for EventLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The line, not the whole chunk it lies in.
        f.debug_struct("EventLine")
            .field("sequence", &self.sequence())
            .field("envelope", &self.envelope_json())
            .field("stated_leaf", &hex::encode(self.stated_leaf()))
            .finish()
    }
}

impl<'a> EventLine<'a> {
    fn document(&self) -> Document<'a> {
        let range = self.line.text.range();
        let text = match &self.chunk.checked {
            Some(text) => &text[range],
            // The text of a line that parsed is valid UTF-8.
            None => std::str::from_utf8(&self.chunk.text[range]).unwrap_or_default(),
        };
        Document {
            text,
            nodes: &self.chunk.nodes[self.line.nodes.range()],
        }
    }

    /// The envelope's canonical JSON: the leaf data.
    pub fn envelope_json(&self) -> &'a str {
        self.document().raw(self.parts.envelope as usize)
    }

    /// `SHA-256(0x00 || envelope_json)`, computed when the line was read.
    pub fn computed_leaf(&self) -> Hash {
        self.parts.computed_leaf
    }

    /// The leaf hash the line states.
    pub fn stated_leaf(&self) -> Hash {
        self.parts.stated_leaf
    }

    /// The envelope's `sequence`: the event's leaf index.
    pub fn sequence(&self) -> u64 {
        self.parts.sequence
    }

    /// The envelope's `stream_version`.
    pub fn stream_version(&self) -> u64 {
        self.parts.stream_version
    }

    /// The envelope's `schema_version`.
    pub fn schema_version(&self) -> u32 {
        self.parts.schema_version
    }

    fn text(&self, field: usize) -> Cow<'a, str> {
        // The reader checked that these members are strings.
        self.document()
            .str(self.parts.fields[field] as usize)
            .unwrap_or(Cow::Borrowed(""))
    }

    /// The envelope's `event_id`.
    pub fn event_id(&self) -> Cow<'a, str> {
        self.text(EVENT_ID)
    }

    /// The envelope's `event_type`.
    pub fn event_type(&self) -> Cow<'a, str> {
        self.text(EVENT_TYPE)
    }

    fn fact(&self, fact: usize) -> Cow<'a, str> {
        let (start, end) = self.parts.facts.0[fact];
        Cow::Borrowed(&self.chunk.strings[start as usize..end as usize])
    }

    /// The envelope's `tenant_id`.
    pub fn tenant_id(&self) -> Cow<'a, str> {
        self.fact(Facts::TENANT_ID)
    }

    /// The envelope's `stream_id`.
    pub fn stream_id(&self) -> Cow<'a, str> {
        self.fact(Facts::STREAM_ID)
    }

    /// The envelope's `recorded_at`.
    pub fn recorded_at(&self) -> Cow<'a, str> {
        self.fact(Facts::RECORDED_AT)
    }

    /// The payload's canonical JSON.
    pub fn payload_json(&self) -> &'a str {
        self.document().raw(self.parts.fields[PAYLOAD] as usize)
    }

    /// The metadata's canonical JSON.
    pub fn metadata_json(&self) -> &'a str {
        self.document().raw(self.parts.fields[METADATA] as usize)
    }

    /// The string value of the payload's top-level member `name`, if the payload is an
    /// object with such a member.
    pub fn payload_string(&self, name: &str) -> Option<Cow<'a, str>> {
        string_member(&self.document(), self.parts.fields[PAYLOAD] as usize, name)
    }

    /// The envelope as an owned [`Envelope`].
    pub fn to_envelope(&self) -> Result<Envelope, serde_json::Error> {
        serde_json::from_str(self.envelope_json())
    }
}

/// Reads a bundle one line at a time, checking each line's shape (canonical JSON of a
/// known line type with exactly its members) and computing each event's leaf hash and the
/// end line's digest, but not the bundle's structure, signatures or proofs: that is
/// [`crate::verify`]'s work.
///
/// The digest the end line states is SHA-256 over, for each line before the end line in
/// order, the line's bytes including its newline, except that an event line contributes
/// its 32-byte leaf hash instead (its bytes are bound to that hash already, and through it
/// to the signed root, so hashing them again would only double the work).
///
/// The input is read in chunks of about a megabyte of whole lines. With workers
/// ([`BundleReader::with_workers`]) each of that many threads reads the next chunk in turn
/// and parses it and hashes its leaves on the core that read it, while the caller checks
/// the lines of earlier chunks in order; memory stays flat (a few chunks in flight).
#[derive(Debug)]
pub struct BundleReader<R> {
    chunks: Chunks<R>,
    line_number: u64,
    digest: Sha256,
    current: Option<Chunk>,
    position: usize,
}

/// Target size of a chunk of lines.
const CHUNK_BYTES: usize = 1 << 20;

/// Chunks in flight (queued, being parsed, or parsed and waiting) per worker.
const CHUNKS_PER_WORKER: usize = 2;

/// Whole lines to parse, and what parsing them gave.
#[derive(Debug, Default)]
struct Chunk {
    /// Lines, each ending with a newline, except that the last one may be cut short (at
    /// the end of the input, or because it exceeds `MAX_LINE_BYTES`). Empty once parsing
    /// has moved them into `checked`.
    text: Vec<u8>,
    /// The lines, once parsing found all of them valid UTF-8 (the usual case): checked
    /// once for the chunk instead of once per line, and again by whoever reads a line.
    checked: Option<String>,
    /// Set when the last line is cut short because it is too long.
    too_long: bool,
    /// The longest line allowed, newline included.
    max_line_bytes: usize,
    /// Filled by parsing.
    lines: Vec<ParsedLine>,
    nodes: Vec<Node>,
    hashes: Vec<Hash>,
    /// The tenant, time and stream of each event line, decoded, one after another: what
    /// the ordered checks read, kept together so that the thread doing them need not
    /// reach into the lines' text and values, which were parsed on another core.
    strings: String,
}

/// One parsed line of a chunk: where its text, nodes and hashes are, and what it is.
#[derive(Debug)]
struct ParsedLine {
    /// The line's text, without its newline.
    text: Span,
    nodes: Span,
    hashes: Span,
    content: Parsed,
}

/// A range of positions in a chunk, in 32 bits (chunks are far smaller than 4 GiB): the
/// parsed lines cross from the parsing thread to the one that checks them, so they are
/// kept small.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(range: Range<usize>) -> Self {
        Span {
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug)]
enum Parsed {
    Event(EventParts),
    Skip {
        start: u64,
        end: u64,
    },
    /// A line without borrowed parts.
    Owned(OwnedLine),
    Error(ReadErrorKind),
}

/// The lines other than event and skip lines, which own their parts.
#[derive(Clone, Debug)]
enum OwnedLine {
    Header(Box<BundleHeader>),
    Key(Box<NoteVerifier>),
    Checkpoint(String),
    Consistency {
        note: String,
        proof: Vec<Hash>,
    },
    End {
        events: u64,
        lines: u64,
        digest: Hash,
    },
}

impl OwnedLine {
    /// The line; an end line gets `computed_digest`.
    fn to_line(&self, computed_digest: Hash) -> Line<'static> {
        match self.clone() {
            OwnedLine::Header(header) => Line::Header(header),
            OwnedLine::Key(key) => Line::Key(key),
            OwnedLine::Checkpoint(note) => Line::Checkpoint(note),
            OwnedLine::Consistency { note, proof } => Line::Consistency { note, proof },
            OwnedLine::End {
                events,
                lines,
                digest,
            } => Line::End {
                events,
                lines,
                digest,
                computed_digest,
            },
        }
    }
}

/// An event line's fields, as indices into its nodes.
#[derive(Clone, Copy, Debug)]
struct EventParts {
    /// Indices of the envelope's and its members' nodes among the line's.
    envelope: u32,
    fields: [u32; 10],
    /// Where its tenant, time and stream are in the chunk's `strings`.
    facts: Facts,
    sequence: u64,
    stream_version: u64,
    schema_version: u32,
    stated_leaf: Hash,
    computed_leaf: Hash,
}

impl Chunk {
    /// Parses every line of the chunk.
    fn parse(&mut self) {
        if self.checked.is_none() {
            match String::from_utf8(std::mem::take(&mut self.text)) {
                Ok(text) => self.checked = Some(text),
                Err(error) => self.text = error.into_bytes(),
            }
        }
        let Chunk {
            text,
            checked,
            too_long,
            max_line_bytes,
            lines,
            nodes,
            hashes,
            strings,
        } = self;
        lines.clear();
        nodes.clear();
        hashes.clear();
        strings.clear();
        let bytes = checked.as_ref().map_or(&text[..], |text| text.as_bytes());
        let mut start = 0;
        while start < bytes.len() {
            let node_start = nodes.len();
            let hash_start = hashes.len();
            let strings_start = strings.len();
            // A line of a valid chunk is parsed where it lies: the value must end at a
            // newline, which then needs no search of its own.
            let fast = checked
                .as_ref()
                .and_then(|text| parse_line_at(text, start, nodes, hashes, strings))
                .filter(|(end, _)| end + 1 - start <= *max_line_bytes);
            let (end, content) = match fast {
                Some(parsed) => parsed,
                None => {
                    // Anything unusual (an error, an over-long line, invalid UTF-8) is
                    // read the plain way, which names what is wrong.
                    nodes.truncate(node_start);
                    hashes.truncate(hash_start);
                    strings.truncate(strings_start);
                    let (end, complete) = match strict_json::find_byte(&bytes[start..], b'\n') {
                        Some(offset) => (start + offset, true),
                        None => (bytes.len(), false),
                    };
                    let content = if complete && end + 1 - start > *max_line_bytes {
                        Parsed::Error(ReadErrorKind::TooLong)
                    } else if complete {
                        parse_line_bytes(&bytes[start..end], nodes, hashes, strings)
                    } else if *too_long {
                        Parsed::Error(ReadErrorKind::TooLong)
                    } else {
                        Parsed::Error(ReadErrorKind::Truncated)
                    };
                    (end, content)
                }
            };
            // Only event lines keep their values (their fields are read later).
            if !matches!(content, Parsed::Event(_)) {
                nodes.truncate(node_start);
            }
            lines.push(ParsedLine {
                text: Span::new(start..end),
                nodes: Span::new(node_start..nodes.len()),
                hashes: Span::new(hash_start..hashes.len()),
                content,
            });
            start = end + 1;
        }
    }
}

/// Parses the line that starts at `start` in `text` when it is a canonical JSON value
/// followed by a newline and a line of a known type: its end (the newline's offset) and
/// what it is. `None` for anything else, which the caller reads again the plain way.
fn parse_line_at(
    text: &str,
    start: usize,
    nodes: &mut Vec<Node>,
    hashes: &mut Vec<Hash>,
    strings: &mut String,
) -> Option<(usize, Parsed)> {
    let rest = &text[start..];
    let document = strict_json::parse_prefix(rest, LINE_RECORD_DEPTH, nodes).ok()?;
    let length = document.text.len();
    if rest.as_bytes().get(length) != Some(&b'\n') {
        return None;
    }
    let content = classify_line(document, hashes, strings).ok()?;
    Some((start + length, content))
}

/// Parses one line (without its newline), appending its values to `nodes` and a skip
/// line's hashes to `hashes`.
fn parse_line_bytes(
    bytes: &[u8],
    nodes: &mut Vec<Node>,
    hashes: &mut Vec<Hash>,
    strings: &mut String,
) -> Parsed {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Parsed::Error(ReadErrorKind::Malformed(
            "the line is not valid UTF-8".to_owned(),
        ));
    };
    match parse_line(text, nodes, hashes, strings) {
        Ok(parsed) => parsed,
        Err(kind) => Parsed::Error(kind),
    }
}

/// The input, and the start of a line read past the last whole one.
struct Input<R> {
    input: R,
    /// Nothing more can be read.
    done: bool,
    /// The end (or a failure to read) was reported; nothing more is handed out.
    ended: bool,
    /// Bytes read past the last newline of the chunk read last: the start of the next line.
    carry: Vec<u8>,
    chunk_bytes: usize,
    max_line_bytes: usize,
    /// The number of the next chunk read.
    next_number: usize,
}

impl<R: Read> Input<R> {
    fn new(input: R, chunk_bytes: usize, max_line_bytes: usize) -> Self {
        Input {
            input,
            done: false,
            ended: false,
            carry: Vec::new(),
            chunk_bytes,
            max_line_bytes,
            next_number: 0,
        }
    }

    /// Reads up to a chunk of whole lines (plus, at the input's end, a line cut short) into
    /// `chunk`, which is empty: false, with nothing read, when the input is exhausted.
    fn read_into(&mut self, chunk: &mut Chunk) -> Result<bool, ReadErrorKind> {
        if self.done {
            return Ok(false);
        }
        chunk.max_line_bytes = self.max_line_bytes;
        chunk.text.append(&mut self.carry);
        // The start of the line that is still incomplete.
        let mut line_start = chunk
            .text
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        loop {
            // Straight into the chunk: no copy through a buffer of the reader's own.
            let before = chunk.text.len();
            chunk.text.reserve(self.chunk_bytes);
            let read = (&mut self.input)
                .take(self.chunk_bytes as u64)
                .read_to_end(&mut chunk.text)
                .map_err(|error| ReadErrorKind::Io(error.to_string()))?;
            if read < self.chunk_bytes {
                // `read_to_end` stops short only at the end of the input.
                self.done = true;
            }
            if let Some(last) = chunk.text[before..].iter().rposition(|&b| b == b'\n') {
                line_start = before + last + 1;
            }
            if chunk.text.len() - line_start > self.max_line_bytes {
                // Keep the chunk bounded: the over-long line is an error, and nothing
                // after it will be read.
                chunk.text.truncate(line_start + self.max_line_bytes + 1);
                chunk.too_long = true;
                self.done = true;
                break;
            }
            if self.done || line_start >= self.chunk_bytes {
                break;
            }
        }
        if !self.done {
            // Hand over whole lines only; the rest starts the next chunk.
            self.carry.extend_from_slice(&chunk.text[line_start..]);
            chunk.text.truncate(line_start);
        }
        // The loop above only stops early with at least a chunk of whole lines, so an
        // empty chunk means the input is exhausted.
        Ok(!chunk.text.is_empty())
    }

    /// Reads the next chunk into `chunk`: its number and what became of it, or `None` once
    /// the end has been reported. A chunk that was read still has to be parsed.
    fn next(&mut self, mut chunk: Chunk) -> Option<(usize, Outcome)> {
        if self.ended {
            return None;
        }
        let number = self.next_number;
        self.next_number += 1;
        let outcome = match self.read_into(&mut chunk) {
            Ok(true) => return Some((number, Outcome::Chunk(chunk))),
            Ok(false) => Outcome::End,
            Err(kind) => Outcome::Failed(kind),
        };
        self.ended = true;
        Some((number, outcome))
    }
}

/// What reading a chunk gave.
#[derive(Debug)]
enum Outcome {
    Chunk(Chunk),
    End,
    Failed(ReadErrorKind),
}

/// Where chunks come from: read and parsed here, or by threads that each read the next
/// chunk from the input (one at a time, under a lock) and parse it while the others read
/// and parse theirs. A chunk is parsed on the core that read it, so its bytes are still
/// in that core's cache. The results are put back in order here.
#[derive(Debug)]
enum Chunks<R> {
    Inline {
        input: Input<R>,
        spare: Option<Chunk>,
    },
    Threads {
        /// Empty chunks for the threads to fill: as many as may be in flight, so memory
        /// stays bounded; each comes back when the caller is done with its lines.
        spare: mpsc::SyncSender<Chunk>,
        results: mpsc::Receiver<(usize, Outcome)>,
        received: usize,
        /// Chunks that came back before an earlier one, by their number.
        early: BTreeMap<usize, Outcome>,
        ended: bool,
    },
}

impl<R> std::fmt::Debug for Input<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("done", &self.done)
            .field("next_number", &self.next_number)
            .finish()
    }
}

impl<R: Read> Chunks<R> {
    /// The next parsed chunk, in input order; `None` after the last.
    fn next(&mut self) -> Result<Option<Chunk>, ReadErrorKind> {
        let outcome = match self {
            Chunks::Inline { input, spare } => match input.next(spare.take().unwrap_or_default()) {
                Some((_, outcome)) => outcome,
                None => Outcome::End,
            },
            Chunks::Threads {
                results,
                received,
                early,
                ended,
                ..
            } => {
                if *ended {
                    return Ok(None);
                }
                let outcome = match early.remove(received) {
                    Some(outcome) => outcome,
                    None => loop {
                        let (number, outcome) = results.recv().map_err(|_| {
                            ReadErrorKind::Io("the reading threads stopped".to_owned())
                        })?;
                        if number == *received {
                            break outcome;
                        }
                        early.insert(number, outcome);
                    },
                };
                *received += 1;
                *ended = !matches!(outcome, Outcome::Chunk(_));
                outcome
            }
        };
        match outcome {
            Outcome::Chunk(mut chunk) => {
                if let Chunks::Inline { .. } = self {
                    chunk.parse();
                }
                Ok(Some(chunk))
            }
            Outcome::End => Ok(None),
            Outcome::Failed(kind) => Err(kind),
        }
    }

    /// Takes back a chunk whose lines have been read.
    fn recycle(&mut self, mut chunk: Chunk) {
        chunk.text = chunk.checked.take().map_or(chunk.text, String::into_bytes);
        chunk.text.clear();
        chunk.too_long = false;
        match self {
            Chunks::Inline { spare, .. } => *spare = Some(chunk),
            // The threads may all have stopped (at the end): then the chunk is not needed.
            Chunks::Threads { spare, .. } => {
                let _ = spare.try_send(chunk);
            }
        }
    }
}

/// A reading thread: takes an empty chunk, reads the next chunk of the input into it, and
/// parses it, until the input ends or the reader is dropped.
fn read_and_parse<R: Read>(
    input: &Mutex<Option<Input<R>>>,
    spare: &Mutex<mpsc::Receiver<Chunk>>,
    results: &mpsc::Sender<(usize, Outcome)>,
) {
    loop {
        let chunk = match spare.lock() {
            Ok(spare) => spare.recv(),
            Err(_) => return,
        };
        let Ok(chunk) = chunk else {
            // The reader is gone.
            return;
        };
        let next = match input.lock() {
            Ok(mut input) => input.as_mut().and_then(|input| input.next(chunk)),
            Err(_) => return,
        };
        let Some((number, outcome)) = next else {
            // Another thread reported the end.
            return;
        };
        let outcome = match outcome {
            // A fault while parsing must not leave the reader waiting for this chunk.
            Outcome::Chunk(mut chunk) => {
                match std::panic::catch_unwind(AssertUnwindSafe(move || {
                    chunk.parse();
                    chunk
                })) {
                    Ok(chunk) => Outcome::Chunk(chunk),
                    Err(_) => {
                        Outcome::Failed(ReadErrorKind::Io("parsing a chunk failed".to_owned()))
                    }
                }
            }
            other => other,
        };
        if results.send((number, outcome)).is_err() {
            return;
        }
    }
}

impl<R: Read> BundleReader<R> {
    /// A reader over `input` that reads and parses on the calling thread.
    pub fn new(input: R) -> Self {
        Self::inline(Input::new(input, CHUNK_BYTES, MAX_LINE_BYTES))
    }

    fn inline(input: Input<R>) -> Self {
        Self::over(Chunks::Inline { input, spare: None })
    }

    fn over(chunks: Chunks<R>) -> Self {
        Self {
            chunks,
            line_number: 0,
            digest: Sha256::new(),
            current: None,
            position: 0,
        }
    }

    /// The number of the last line read (1-based; 0 before the first).
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    /// Reads the next line; `None` at the end of the input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, ReadError> {
        let line = self.line_number + 1;
        let error = |kind| ReadError { line, kind };
        loop {
            if let Some(chunk) = &self.current
                && self.position < chunk.lines.len()
            {
                break;
            }
            if let Some(done) = self.current.take() {
                self.chunks.recycle(done);
            }
            match self.chunks.next().map_err(error)? {
                Some(chunk) => self.current = Some(chunk),
                None => return Ok(None),
            }
            self.position = 0;
        }
        self.line_number = line;
        let Some(chunk) = &self.current else {
            return Ok(None);
        };
        let parsed = &chunk.lines[self.position];
        self.position += 1;
        let range = parsed.text.range();
        let bytes = || match &chunk.checked {
            Some(text) => &text.as_bytes()[range.clone()],
            None => &chunk.text[range.clone()],
        };
        let digest_line = |digest: &mut Sha256| {
            digest.update(bytes());
            digest.update(b"\n");
        };
        let line_content = match &parsed.content {
            Parsed::Error(kind) => return Err(error(kind.clone())),
            Parsed::Event(parts) => {
                self.digest.update(parts.stated_leaf);
                Line::Event(EventLine {
                    chunk,
                    line: parsed,
                    parts,
                })
            }
            Parsed::Skip { start, end } => {
                digest_line(&mut self.digest);
                Line::Skip {
                    start: *start,
                    end: *end,
                    hashes: &chunk.hashes[parsed.hashes.range()],
                }
            }
            Parsed::Owned(owned) => {
                // The end line's digest covers the lines before it; the end line itself
                // never joins it.
                let before: Hash = self.digest.clone().finalize().into();
                if !matches!(owned, OwnedLine::End { .. }) {
                    digest_line(&mut self.digest);
                }
                owned.to_line(before)
            }
        };
        Ok(Some(line_content))
    }
}

impl<R: Read + Send> BundleReader<R> {
    /// Runs `consume` with a reader over `input` whose chunks are read and parsed on
    /// `workers` threads while `consume` checks the lines of earlier ones. The threads
    /// end before this returns. With no workers, or if no thread can be started, the
    /// reader reads and parses on the calling thread.
    pub fn with_workers<T>(input: R, workers: usize, consume: impl FnOnce(&mut Self) -> T) -> T {
        Self::threaded(
            Input::new(input, CHUNK_BYTES, MAX_LINE_BYTES),
            workers,
            consume,
        )
    }

    /// [`Self::with_workers`] with small limits, so that tests reach chunk boundaries and
    /// over-long lines with small bundles.
    #[cfg(test)]
    pub(crate) fn with_limits<T>(
        input: R,
        workers: usize,
        chunk_bytes: usize,
        max_line_bytes: usize,
        consume: impl FnOnce(&mut Self) -> T,
    ) -> T {
        Self::threaded(
            Input::new(input, chunk_bytes, max_line_bytes),
            workers,
            consume,
        )
    }

    fn threaded<T>(input: Input<R>, workers: usize, consume: impl FnOnce(&mut Self) -> T) -> T {
        if workers == 0 {
            return consume(&mut Self::inline(input));
        }
        let input = Mutex::new(Some(input));
        let in_flight = workers * CHUNKS_PER_WORKER;
        let (spare, empty) = mpsc::sync_channel::<Chunk>(in_flight);
        let empty = Mutex::new(empty);
        let (results, parsed) = mpsc::channel();
        std::thread::scope(|scope| {
            let mut started = 0;
            for index in 0..workers {
                let (input, empty, results) = (&input, &empty, results.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("bundle-read-{index}"))
                    .spawn_scoped(scope, move || read_and_parse(input, empty, &results));
                if spawned.is_err() {
                    break;
                }
                started += 1;
            }
            drop(results);
            if started == 0 {
                // No thread to read: take the input back and read here.
                let taken = match input.lock() {
                    Ok(mut input) => input.take(),
                    Err(poisoned) => poisoned.into_inner().take(),
                };
                if let Some(input) = taken {
                    return consume(&mut Self::inline(input));
                }
            }
            for _ in 0..in_flight {
                // The channel has room for all of them.
                let _ = spare.try_send(Chunk::default());
            }
            let mut reader = Self::over(Chunks::Threads {
                spare,
                results: parsed,
                received: 0,
                early: BTreeMap::new(),
                ended: false,
            });
            // Dropping the reader before the scope ends stops the threads: they find no
            // more empty chunks, or no one to take their results.
            consume(&mut reader)
        })
    }
}

/// How deep a line's values are recorded: the line's members, the envelope's, and the
/// payload's (which the filter reads).
const LINE_RECORD_DEPTH: u16 = 3;

/// Parses one line's text, appending its recorded values to `nodes` and a skip line's
/// hashes to `hashes`.
fn parse_line(
    text: &str,
    nodes: &mut Vec<Node>,
    hashes: &mut Vec<Hash>,
    strings: &mut String,
) -> Result<Parsed, ReadErrorKind> {
    let document = match strict_json::parse_appending(text, LINE_RECORD_DEPTH, nodes) {
        Ok(document) => document,
        Err(error) => {
            return Err(match serde_json::from_str::<Value>(text) {
                Ok(_) => ReadErrorKind::NotCanonical(format!(
                    "{} (at byte {})",
                    error.reason, error.offset
                )),
                Err(json_error) => {
                    ReadErrorKind::Malformed(format!("the line is not JSON: {json_error}"))
                }
            });
        }
    };
    classify_line(document, hashes, strings)
}

/// What a line that is canonical JSON is, by its type.
fn classify_line(
    document: Document<'_>,
    hashes: &mut Vec<Hash>,
    strings: &mut String,
) -> Result<Parsed, ReadErrorKind> {
    let malformed = |reason: &str| ReadErrorKind::Malformed(reason.to_owned());
    if document.node(Document::ROOT).kind != Kind::Object {
        return Err(malformed("the line is not a JSON object"));
    }
    let line_type = string_member(&document, Document::ROOT, "type")
        .ok_or_else(|| malformed("the line has no string member \"type\""))?;
    match line_type.as_ref() {
        "event" => parse_event(document, strings).map(Parsed::Event),
        "skip" => parse_skip(document, hashes),
        _ => {
            // The other lines are few; read them through serde_json.
            let value: Value = serde_json::from_str(document.text)
                .map_err(|e| ReadErrorKind::Malformed(e.to_string()))?;
            parse_other(&line_type, &value).map(Parsed::Owned)
        }
    }
}

/// Reads an event line's fields, appending its tenant, time and stream to `strings`.
fn parse_event(document: Document<'_>, strings: &mut String) -> Result<EventParts, ReadErrorKind> {
    let malformed = |reason: String| ReadErrorKind::Malformed(reason);
    let mut root_members = document.children(Document::ROOT);
    let (Some(envelope), Some(leaf), Some(_), None) = (
        root_members.next(),
        root_members.next(),
        root_members.next(),
        root_members.next(),
    ) else {
        return Err(malformed(
            "an event line has exactly the members envelope, leaf and type".to_owned(),
        ));
    };
    if !document.key_is(envelope, "envelope") || !document.key_is(leaf, "leaf") {
        return Err(malformed(
            "an event line has exactly the members envelope, leaf and type".to_owned(),
        ));
    }
    if document.node(envelope).kind != Kind::Object {
        return Err(malformed("the envelope is not an object".to_owned()));
    }
    let stated_leaf = document
        .str(leaf)
        .and_then(|text| parse_hash(&text))
        .ok_or_else(|| malformed("leaf is not 64 lowercase hex digits".to_owned()))?;
    let mut fields = [0usize; 10];
    let mut count = 0;
    for member in document.children(envelope) {
        if count == fields.len() || !document.key_is(member, ENVELOPE_MEMBERS[count]) {
            return Err(malformed(format!(
                "the envelope's members are not exactly {}",
                ENVELOPE_MEMBERS.join(", ")
            )));
        }
        fields[count] = member;
        count += 1;
    }
    if count != fields.len() {
        return Err(malformed(format!(
            "the envelope's members are not exactly {}",
            ENVELOPE_MEMBERS.join(", ")
        )));
    }
    for field in [EVENT_ID, EVENT_TYPE, RECORDED_AT, STREAM_ID, TENANT_ID] {
        if !document.is_string(fields[field]) {
            return Err(malformed(format!(
                "envelope.{} is not a string",
                ENVELOPE_MEMBERS[field]
            )));
        }
    }
    let number = |field: usize| {
        document.uint(fields[field]).ok_or_else(|| {
            malformed(format!(
                "envelope.{} is not a natural number",
                ENVELOPE_MEMBERS[field]
            ))
        })
    };
    let sequence = number(SEQUENCE)?;
    let stream_version = number(STREAM_VERSION)?;
    let schema_version = u32::try_from(number(SCHEMA_VERSION)?)
        .map_err(|_| malformed("envelope.schema_version is too large".to_owned()))?;
    let mut facts = Facts([(0, 0); 3]);
    for (fact, field) in [
        (Facts::TENANT_ID, TENANT_ID),
        (Facts::RECORDED_AT, RECORDED_AT),
        (Facts::STREAM_ID, STREAM_ID),
    ] {
        let start = strings.len();
        strings.push_str(&document.str(fields[field]).unwrap_or_default());
        // Chunks are far smaller than 4 GiB.
        facts.0[fact] = (start as u32, strings.len() as u32);
    }
    Ok(EventParts {
        // A line's nodes are far fewer than 2^32.
        envelope: envelope as u32,
        fields: fields.map(|field| field as u32),
        facts,
        sequence,
        stream_version,
        schema_version,
        stated_leaf,
        computed_leaf: merkle::leaf_hash(document.raw(envelope).as_bytes()),
    })
}

fn parse_skip(document: Document<'_>, hashes: &mut Vec<Hash>) -> Result<Parsed, ReadErrorKind> {
    let shape = || {
        ReadErrorKind::Malformed(
            "a skip line has exactly the members end, hashes, start and type".to_owned(),
        )
    };
    let members: Vec<usize> = document.children(Document::ROOT).collect();
    let [end, list, start, _] = members[..] else {
        return Err(shape());
    };
    if !document.key_is(end, "end")
        || !document.key_is(list, "hashes")
        || !document.key_is(start, "start")
    {
        return Err(shape());
    }
    let (Some(start), Some(end)) = (document.uint(start), document.uint(end)) else {
        return Err(ReadErrorKind::Malformed(
            "a skip line's start and end are not natural numbers".to_owned(),
        ));
    };
    if document.node(list).kind != Kind::Array {
        return Err(ReadErrorKind::Malformed(
            "hashes is not an array".to_owned(),
        ));
    }
    for element in document.children(list) {
        let hash = document
            .str(element)
            .and_then(|text| parse_hash(&text))
            .ok_or_else(|| {
                ReadErrorKind::Malformed("a hash is not 64 lowercase hex digits".to_owned())
            })?;
        hashes.push(hash);
    }
    Ok(Parsed::Skip { start, end })
}

fn parse_other(line_type: &str, value: &Value) -> Result<OwnedLine, ReadErrorKind> {
    let malformed = ReadErrorKind::Malformed;
    match line_type {
        "header" => {
            let format = value.get("format").and_then(Value::as_str).unwrap_or("");
            let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
            if format != FORMAT || version != VERSION {
                return Err(ReadErrorKind::UnsupportedVersion {
                    format: format.to_owned(),
                    version,
                });
            }
            let members = exact_members(
                value,
                &[
                    "exported_at",
                    "filter",
                    "format",
                    "generator",
                    "scan",
                    "tenant_id",
                    "type",
                    "version",
                ],
            )
            .map_err(malformed)?;
            let text = |name: &str| {
                members[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| malformed(format!("header.{name} is not a string")))
            };
            let scan = exact_members(&members["scan"], &["end", "start"]).map_err(malformed)?;
            let (Some(start), Some(end)) = (scan["start"].as_u64(), scan["end"].as_u64()) else {
                return Err(malformed(
                    "header.scan.start and end are not natural numbers".to_owned(),
                ));
            };
            let header = BundleHeader {
                tenant_id: text("tenant_id")?,
                filter: Filter::from_json(&members["filter"])
                    .map_err(|reason| malformed(format!("header.filter: {reason}")))?,
                scan: start..end,
                exported_at: text("exported_at")?,
                generator: text("generator")?,
            };
            header
                .validate()
                .map_err(|reason| malformed(format!("header: {reason}")))?;
            Ok(OwnedLine::Header(Box::new(header)))
        }
        "key" => {
            let members = exact_members(value, &["key", "type"]).map_err(malformed)?;
            let key = members["key"]
                .as_str()
                .ok_or_else(|| malformed("key is not a string".to_owned()))?;
            let verifier = NoteVerifier::parse(key)
                .map_err(|error| malformed(format!("key {key:?}: {error}")))?;
            Ok(OwnedLine::Key(Box::new(verifier)))
        }
        "checkpoint" => {
            let members = exact_members(value, &["note", "type"]).map_err(malformed)?;
            let note = members["note"]
                .as_str()
                .ok_or_else(|| malformed("note is not a string".to_owned()))?;
            Ok(OwnedLine::Checkpoint(note.to_owned()))
        }
        "consistency" => {
            let members = exact_members(value, &["note", "proof", "type"]).map_err(malformed)?;
            let note = members["note"]
                .as_str()
                .ok_or_else(|| malformed("note is not a string".to_owned()))?;
            let proof = hash_list(&members["proof"]).map_err(malformed)?;
            Ok(OwnedLine::Consistency {
                note: note.to_owned(),
                proof,
            })
        }
        "end" => {
            let members =
                exact_members(value, &["digest", "events", "lines", "type"]).map_err(malformed)?;
            let digest = members["digest"]
                .as_str()
                .and_then(parse_hash)
                .ok_or_else(|| malformed("digest is not 64 lowercase hex digits".to_owned()))?;
            let (Some(events), Some(lines)) =
                (members["events"].as_u64(), members["lines"].as_u64())
            else {
                return Err(malformed(
                    "events and lines are not natural numbers".to_owned(),
                ));
            };
            Ok(OwnedLine::End {
                events,
                lines,
                digest,
            })
        }
        other => Err(malformed(format!("unknown line type {other:?}"))),
    }
}

fn hash_list(value: &Value) -> Result<Vec<Hash>, String> {
    let Value::Array(items) = value else {
        return Err("the proof is not an array".to_owned());
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(parse_hash)
                .ok_or_else(|| "a hash is not 64 lowercase hex digits".to_owned())
        })
        .collect()
}

/// The members of `value`, which must be an object with exactly the members `names`.
fn exact_members<'v>(value: &'v Value, names: &[&str]) -> Result<&'v Map<String, Value>, String> {
    let Value::Object(members) = value else {
        return Err("expected an object".to_owned());
    };
    let matches =
        members.len() == names.len() && names.iter().all(|name| members.contains_key(*name));
    if !matches {
        return Err(format!(
            "expected exactly the members {}, found {}",
            names.join(", "),
            members.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::NoteSigner;

    fn envelope(sequence: u64, stream_id: &str, payload: Value) -> Envelope {
        Envelope {
            tenant_id: "tenant-a".to_owned(),
            sequence,
            event_id: format!("00000000-0000-7000-8000-{sequence:012}"),
            stream_id: stream_id.to_owned(),
            stream_version: 1,
            event_type: "Something".to_owned(),
            schema_version: 1,
            payload,
            metadata: json!({}),
            recorded_at: format!("2026-01-01T00:00:{:02}.000000Z", sequence % 60),
        }
    }

    #[test]
    fn filters_by_stream_payload_member_and_time() {
        let filter = Filter::everything().with_subject("client", "c1");
        assert!(filter.matches(&envelope(0, "client-c1", json!({}))));
        assert!(filter.matches(&envelope(0, "consent-x", json!({"client_id": "c1"}))));
        assert!(!filter.matches(&envelope(0, "consent-x", json!({"client_id": "c2"}))));
        assert!(!filter.matches(&envelope(0, "client-c10", json!({}))));
        // Only top-level members name a subject.
        assert!(!filter.matches(&envelope(
            0,
            "consent-x",
            json!({"by": {"client_id": "c1"}})
        )));
        let timed = Filter::everything().recorded_between(
            Some("2026-01-01T00:00:10.000000Z".to_owned()),
            Some("2026-01-01T00:00:20.000000Z".to_owned()),
        );
        assert!(!timed.matches(&envelope(9, "s-1", json!({}))));
        assert!(timed.matches(&envelope(10, "s-1", json!({}))));
        assert!(timed.matches(&envelope(19, "s-1", json!({}))));
        assert!(!timed.matches(&envelope(20, "s-1", json!({}))));
        let mut odd = envelope(15, "s-1", json!({}));
        odd.recorded_at = "2026-01-01T00:00:15Z".to_owned();
        assert!(!timed.matches(&odd));
        assert!(Filter::everything().matches(&odd));
    }

    #[test]
    fn a_filter_must_list_the_streams_its_events_create() {
        let filter = Filter::everything()
            .with_subject("client", "c1")
            .with_subject("recording", "r1");
        let matcher = Matcher::new(&filter);
        let evaluate = |stream: &str, version: u64, member: &str, value: &str| {
            let (member, value) = (member.to_owned(), value.to_owned());
            matcher
                .evaluate("2026-01-01T00:00:00.000000Z", stream, version, |name| {
                    (name == member).then(|| Cow::Owned(value.clone()))
                })
                .unwrap()
        };
        assert_eq!(
            evaluate("recording-r1", 1, "client_id", "c1").unlisted_stream,
            None
        );
        assert_eq!(
            evaluate("recording-r2", 1, "client_id", "c1")
                .unlisted_stream
                .as_deref(),
            Some("recording-r2")
        );
        assert_eq!(
            evaluate("consent-k", 1, "client_id", "c1")
                .unlisted_stream
                .as_deref(),
            Some("consent-k")
        );
        // A grant on a listed recording creates a stream too.
        assert_eq!(
            evaluate("grant-g", 1, "recording_id", "r1")
                .unlisted_stream
                .as_deref(),
            Some("grant-g")
        );
        // Not a creation, or not matching: nothing to list.
        assert_eq!(
            evaluate("consent-k", 2, "client_id", "c1").unlisted_stream,
            None
        );
        assert!(!evaluate("consent-k", 1, "client_id", "c2").matches);
        assert_eq!(
            evaluate("tenant", 1, "client_id", "c1").unlisted_stream,
            None
        );
        // Without subjects there is nothing to close.
        let everything = Matcher::new(&Filter::everything());
        let verdict = everything
            .evaluate("2026-01-01T00:00:00.000000Z", "grant-g", 1, |_| None)
            .unwrap();
        assert_eq!(verdict.unlisted_stream, None);
    }

    #[test]
    fn filter_json_round_trips_and_rejects_bad_shapes() {
        let filter = Filter::everything()
            .with_subject("client", "c1")
            .with_subject("client", "a0")
            .recorded_between(Some("2026-01-01T00:00:00.000000Z".to_owned()), None);
        assert_eq!(Filter::from_json(&filter.to_json()).unwrap(), filter);
        for bad in [
            json!({"from": null, "until": null}),
            json!({"from": "yesterday", "until": null, "subjects": {}}),
            json!({"from": null, "until": null, "subjects": {"client": []}}),
            json!({"from": null, "until": null, "subjects": {"client": ["b", "a"]}}),
            json!({"from": null, "until": null, "subjects": {"client": ["a", "a"]}}),
            json!({"from": null, "until": null, "subjects": {"Client": ["a"]}}),
            json!({"from": null, "until": null, "subjects": {"client": ["a b"]}}),
            json!({"from": null, "until": null, "subjects": {}, "extra": 1}),
        ] {
            assert!(Filter::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_name_their_tenant() {
        assert!(origin_names_tenant("confide.example/tenant-a", "tenant-a"));
        assert!(!origin_names_tenant(
            "confide.example/xtenant-a",
            "tenant-a"
        ));
        assert!(!origin_names_tenant("/tenant-a", "tenant-a"));
        assert!(!origin_names_tenant("tenant-a", "tenant-a"));
    }

    #[test]
    fn parse_hash_accepts_only_lowercase_hex_of_32_bytes() {
        let hash = merkle::leaf_hash(b"x");
        assert_eq!(parse_hash(&hex::encode(hash)), Some(hash));
        assert_eq!(parse_hash(&hex::encode(hash).to_uppercase()), None);
        assert_eq!(parse_hash(&hex::encode(&hash[..31])), None);
        assert_eq!(parse_hash("zz"), None);
    }

    #[test]
    fn hex_words_decode_every_digit_and_refuse_every_other_byte() {
        let digits = b"0123456789abcdef";
        for position in 0..8 {
            for byte in 0..=255u8 {
                let mut text = *b"00000000";
                text[position] = byte;
                let expected = digits.iter().position(|&digit| digit == byte).map(|value| {
                    let mut bytes = [0u8; 4];
                    bytes[position / 2] = if position % 2 == 0 {
                        (value as u8) << 4
                    } else {
                        value as u8
                    };
                    bytes
                });
                assert_eq!(
                    hex_word(u64::from_le_bytes(text)),
                    expected,
                    "{position} {byte:#04x}"
                );
            }
        }
        assert_eq!(
            hex_word(u64::from_le_bytes(*b"0f1e2d3c")),
            Some([0x0f, 0x1e, 0x2d, 0x3c])
        );
    }

    /// [`describe`] for a reader with `workers` threads and chunks of `chunk_bytes`.
    fn read_in_chunks<R: Read + Send>(input: R, workers: usize, chunk_bytes: usize) -> Vec<String> {
        BundleReader::with_limits(input, workers, chunk_bytes, MAX_LINE_BYTES, describe)
    }

    /// Each line as the reader gives it, then how reading ended.
    fn describe<R: Read>(reader: &mut BundleReader<R>) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match reader.next_line() {
                Ok(Some(line)) => lines.push(match line {
                    Line::Event(event) => format!(
                        "event {} {} {} {}",
                        event.sequence(),
                        hex::encode(event.computed_leaf()),
                        event.stream_id(),
                        event.envelope_json().len()
                    ),
                    Line::Skip { start, end, hashes } => format!("skip {start}..{end} {hashes:?}"),
                    Line::End {
                        computed_digest, ..
                    } => format!("end {}", hex::encode(computed_digest)),
                    other => format!("{other:?}"),
                }),
                Ok(None) => {
                    lines.push(format!("done after {}", reader.line_number()));
                    return lines;
                }
                Err(error) => {
                    lines.push(format!("error {error}"));
                    return lines;
                }
            }
        }
    }

    /// A bundle of 60 events of varied sizes, a third of them disclosed.
    fn varied_bundle() -> Vec<u8> {
        let signer = NoteSigner::from_seed_base64("confide.example", BASE64_SEED).unwrap();
        let events: Vec<Envelope> = (0..60)
            .map(|sequence| {
                let stream = if sequence % 3 == 0 {
                    "client-c1"
                } else {
                    "client-c2"
                };
                envelope(
                    sequence,
                    stream,
                    json!({"note": "x".repeat((sequence * 37 % 300) as usize)}),
                )
            })
            .collect();
        let mut frontier = Frontier::new();
        for event in &events {
            frontier
                .push_subtree(0, event.leaf_hash().unwrap())
                .unwrap();
        }
        let note = signer.sign(
            &Checkpoint {
                origin: "confide.example/tenant-a".to_owned(),
                size: 60,
                root: frontier.root(),
                extensions: vec![],
            }
            .to_body(),
        );
        let header = BundleHeader {
            tenant_id: "tenant-a".to_owned(),
            filter: Filter::everything().with_subject("client", "c1"),
            scan: 0..60,
            exported_at: "2026-02-01T00:00:00.000000Z".to_owned(),
            generator: "test".to_owned(),
        };
        let mut writer =
            BundleWriter::new(Vec::new(), &header, &[signer.verifier()], &note, None).unwrap();
        for event in &events {
            writer.push_envelope(event).unwrap();
        }
        writer.finish().unwrap().0
    }

    const BASE64_SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    /// Where each line of `bundle` ends: the offsets of its newlines.
    fn line_ends(bundle: &[u8]) -> Vec<usize> {
        bundle
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
            .map(|(at, _)| at)
            .collect()
    }

    #[test]
    fn every_chunk_size_and_worker_count_reads_the_same_lines() {
        let bundle = varied_bundle();
        let reference = describe(&mut BundleReader::new(&bundle[..]));
        assert_eq!(reference.len(), 3 + 20 + 20 + 1 + 1, "{reference:#?}");
        assert!(reference.last().unwrap().starts_with("done after"));
        for workers in [0, 1, 3] {
            for chunk_bytes in [1, 2, 7, 64, 333, 4096, 1 << 20] {
                let lines = read_in_chunks(&bundle[..], workers, chunk_bytes);
                assert_eq!(
                    lines, reference,
                    "{workers} workers, chunks of {chunk_bytes}"
                );
            }
        }
    }

    #[test]
    fn truncation_and_over_long_lines_are_found_at_every_chunk_size() {
        let bundle = varied_bundle();
        let line_ends = line_ends(&bundle);
        for cut in [
            1,
            line_ends[2],
            line_ends[2] + 1,
            line_ends[10] + 5,
            bundle.len() - 1,
        ] {
            let reference = describe(&mut BundleReader::new(&bundle[..cut]));
            let last = reference.last().unwrap();
            let complete_cut = bundle[cut - 1] == b'\n';
            assert_eq!(
                last.starts_with("done"),
                complete_cut,
                "cut at {cut}: {last}"
            );
            if !complete_cut {
                assert!(last.contains("ends in the middle of a line"), "{last}");
            }
            for workers in [0, 2] {
                for chunk_bytes in [1, 13, 500] {
                    let lines = read_in_chunks(&bundle[..cut], workers, chunk_bytes);
                    assert_eq!(
                        lines, reference,
                        "cut {cut}, {workers} workers, {chunk_bytes}"
                    );
                }
            }
        }
        // The first line longer than 400 bytes is refused, wherever the chunks end.
        let longest_allowed = 400;
        let first_long = bundle
            .split(|&b| b == b'\n')
            .position(|line| line.len() + 1 > longest_allowed)
            .unwrap();
        for workers in [0, 2] {
            for chunk_bytes in [1, 64, 1 << 20] {
                let lines = BundleReader::with_limits(
                    &bundle[..],
                    workers,
                    chunk_bytes,
                    longest_allowed,
                    describe,
                );
                assert_eq!(lines.len(), first_long + 1, "{lines:#?}");
                assert!(lines.last().unwrap().contains("longer than"), "{lines:#?}");
            }
        }
    }

    /// Gives `bytes`, then fails.
    struct FailsAfter<'a> {
        bytes: &'a [u8],
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.bytes.is_empty() {
                return Err(io::Error::other("the disk went away"));
            }
            let count = out.len().min(self.bytes.len());
            out[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    #[test]
    fn a_failed_read_is_named_after_the_lines_before_it() {
        let bundle = varied_bundle();
        let complete = describe(&mut BundleReader::new(&bundle[..]));
        let cut = line_ends(&bundle)[9] + 1;
        for workers in [0, 1, 3] {
            for chunk_bytes in [1, 64, 1 << 20] {
                let lines = BundleReader::with_limits(
                    FailsAfter {
                        bytes: &bundle[..cut],
                    },
                    workers,
                    chunk_bytes,
                    MAX_LINE_BYTES,
                    describe,
                );
                // What was read before the failure is given (all of it when the chunks
                // are small enough to end before it), then the failure, at the next line.
                let (failure, before) = lines.split_last().unwrap();
                assert!(before.len() <= 10, "{lines:#?}");
                assert_eq!(before, &complete[..before.len()], "{workers} {chunk_bytes}");
                assert_eq!(
                    failure,
                    &format!(
                        "error line {}: reading failed: the disk went away",
                        before.len() + 1
                    ),
                    "{workers} workers, chunks of {chunk_bytes}"
                );
                if chunk_bytes == 1 {
                    assert_eq!(before.len(), 10, "{lines:#?}");
                }
            }
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_named_and_the_lines_before_it_read() {
        let mut bundle = varied_bundle();
        let line_ends = line_ends(&bundle);
        // Inside the note of an event line (line 8): the line is JSON apart from that byte.
        let at = line_ends[7] - 40;
        bundle[at] = 0xff;
        let reference = describe(&mut BundleReader::new(&bundle[..]));
        assert_eq!(reference.len(), 8, "{reference:#?}");
        assert!(
            reference[7].contains("line 8") && reference[7].contains("not valid UTF-8"),
            "{reference:#?}"
        );
        for workers in [0, 2] {
            for chunk_bytes in [1, 500, 1 << 20] {
                let lines = read_in_chunks(&bundle[..], workers, chunk_bytes);
                assert_eq!(lines, reference, "{workers} workers, {chunk_bytes}");
            }
        }
    }

    /// A small bundle written and read back line by line.
    #[test]
    fn writes_and_reads_a_small_bundle() {
        let signer = NoteSigner::generate("confide.example").unwrap();
        let events: Vec<Envelope> = (0..10)
            .map(|sequence| {
                let stream = if sequence % 3 == 0 {
                    "client-c1"
                } else {
                    "client-c2"
                };
                envelope(sequence, stream, json!({"n": sequence}))
            })
            .collect();
        let mut frontier = Frontier::new();
        for event in &events {
            frontier
                .push_subtree(0, event.leaf_hash().unwrap())
                .unwrap();
        }
        let note = signer.sign(
            &Checkpoint {
                origin: "confide.example/tenant-a".to_owned(),
                size: 10,
                root: frontier.root(),
                extensions: vec![],
            }
            .to_body(),
        );
        let header = BundleHeader {
            tenant_id: "tenant-a".to_owned(),
            filter: Filter::everything().with_subject("client", "c1"),
            scan: 2..8,
            exported_at: "2026-02-01T00:00:00.000000Z".to_owned(),
            generator: "test".to_owned(),
        };
        let leaves: Vec<Hash> = events.iter().map(|e| e.leaf_hash().unwrap()).collect();
        let run = |start: u64, end: u64| -> Vec<Hash> {
            let mut compact = CompactRange::new(start);
            for leaf in &leaves[start as usize..end as usize] {
                compact.push(*leaf);
            }
            compact.hashes().collect()
        };
        let mut writer =
            BundleWriter::new(Vec::new(), &header, &[signer.verifier()], &note, None).unwrap();
        writer.skip_run(0, 2, &run(0, 2)).unwrap();
        let mut disclosed = Vec::new();
        for event in &events[2..8] {
            if writer.push_envelope(event).unwrap() == Disclosure::Disclosed {
                disclosed.push(event.sequence);
            }
        }
        assert_eq!(disclosed, [3, 6]);
        assert!(matches!(
            writer.push_envelope(&events[8]),
            Err(BundleError::OutsideScan { sequence: 8 })
        ));
        // The writer refuses to go on after an error.
        assert!(matches!(
            writer.skip_run(8, 10, &run(8, 10)),
            Err(BundleError::Failed)
        ));

        let mut writer =
            BundleWriter::new(Vec::new(), &header, &[signer.verifier()], &note, None).unwrap();
        writer.skip_run(0, 2, &run(0, 2)).unwrap();
        for event in &events[2..8] {
            writer.push_envelope(event).unwrap();
        }
        writer.skip_run(8, 10, &run(8, 10)).unwrap();
        let (bytes, summary) = writer.finish().unwrap();
        assert_eq!(summary.events, 2);
        assert_eq!(summary.hidden_in_scan, 4);
        assert_eq!(summary.root, frontier.root());

        let mut reader = BundleReader::new(&bytes[..]);
        let mut kinds = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            kinds.push(match line {
                Line::Header(header) => {
                    assert_eq!(header.scan, 2..8);
                    "header".to_owned()
                }
                Line::Key(_) => "key".to_owned(),
                Line::Checkpoint(text) => {
                    assert_eq!(text, note);
                    "checkpoint".to_owned()
                }
                Line::Consistency { .. } => "consistency".to_owned(),
                Line::Event(event) => {
                    assert_eq!(event.computed_leaf(), event.stated_leaf());
                    assert_eq!(
                        event.to_envelope().unwrap(),
                        events[event.sequence() as usize]
                    );
                    format!("event {}", event.sequence())
                }
                Line::Skip { start, end, .. } => format!("skip {start}..{end}"),
                Line::End {
                    events,
                    digest,
                    computed_digest,
                    ..
                } => {
                    assert_eq!(events, 2);
                    assert_eq!(digest, computed_digest);
                    "end".to_owned()
                }
            });
        }
        assert_eq!(
            kinds,
            [
                "header",
                "key",
                "checkpoint",
                "skip 0..2",
                "skip 2..3",
                "event 3",
                "skip 4..6",
                "event 6",
                "skip 7..8",
                "skip 8..10",
                "end"
            ]
        );
    }
}
