//! Offline verification of an audit bundle ([`crate::bundle`]), line by line with flat
//! memory.
//!
//! [`verify_bundle`] checks, in stream order, and stops at the first failure with a
//! [`VerifyError`] that names the case and the line:
//!
//! - every line is the canonical JSON of a known line type, in the order the format
//!   prescribes, and the input ends right after the end line with a newline;
//! - the checkpoint (and the bundle's older checkpoint, and `--previous`) is signed by an
//!   accepted key: one of the trusted keys if any are given, else one of the bundle's own
//!   keys (which only shows the bundle is self-consistent);
//! - the checkpoint's origin names the bundle's tenant;
//! - the older checkpoints are not larger than the bundle's, and the consistency proof
//!   leads from them to it;
//! - every disclosed envelope hashes to the leaf its line states, belongs to the tenant,
//!   lies in the scanned range and matches the filter, and the filter is closed;
//! - event and skip lines cover the leaves `0..N` of the checkpoint's tree exactly once in
//!   order, and fold into the checkpoint's root (one range proof for every event);
//! - the end line's counts and digest.
//!
//! Events reach the caller's [`EventSink`] as they pass their own checks; the bundle is
//! verified only when [`verify_bundle`] returns `Ok`, so a sink must not publish anything
//! before that (the report module's sinks need the [`VerifiedBundle`] to finish).

use std::fmt;
use std::io::Read;
use std::ops::Deref;

use crate::bundle::{
    BundleHeader, BundleReader, EventLine, Line, Matcher, ReadError, ReadErrorKind,
    origin_names_tenant,
};
use crate::checkpoint::{self, Checkpoint, CheckpointError, NoteVerifier};
use crate::merkle::{self, Frontier, Hash};

/// What the verifier is told besides the bundle.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The keys the auditor trusts (obtained from the operator out of band). When empty,
    /// the bundle's own keys are used, which proves only that the bundle is consistent
    /// with itself.
    pub trusted_keys: Vec<NoteVerifier>,
    /// The auditor's previous checkpoint for this tenant, as a signed note: the bundle's
    /// checkpoint must extend it.
    pub previous: Option<String>,
}

/// Why a bundle failed verification. `line` is the 1-based line number in the bundle; 0
/// stands for the `--previous` checkpoint given beside it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Reading the bundle failed.
    #[error("line {line}: reading failed: {message}")]
    Io {
        /// Where.
        line: u64,
        /// The operating system's message.
        message: String,
    },
    /// The bundle ends before its end line, or in the middle of a line.
    #[error("line {line}: the bundle is truncated: it ends before its end line")]
    Truncated {
        /// The line that is cut short or missing.
        line: u64,
    },
    /// There is more after the end line.
    #[error("line {line}: there is data after the end line")]
    TrailingData {
        /// The first line after the end line.
        line: u64,
    },
    /// The line is not a well-formed line of this format, or is out of place.
    #[error("{}: malformed: {reason}", at(*.line))]
    Malformed {
        /// Where.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The line is JSON, but not exactly its canonical form.
    #[error("line {line}: not canonical JSON: {reason}")]
    NotCanonical {
        /// Where.
        line: u64,
        /// The first deviation.
        reason: String,
    },
    /// The header names another format or version.
    #[error("line {line}: format {format:?} version {version} is not supported")]
    UnsupportedVersion {
        /// Where.
        line: u64,
        /// The header's format.
        format: String,
        /// The header's version.
        version: u64,
    },
    /// No accepted key signed the checkpoint.
    #[error("{}: the checkpoint is not signed by an accepted key (signature lines claim: {})", at(*.line), .signed_by.join(", "))]
    UnknownSigner {
        /// Where.
        line: u64,
        /// `name+keyid` of each signature line in the note.
        signed_by: Vec<String>,
    },
    /// A signature line by an accepted key does not verify: the checkpoint was altered.
    #[error("{}: the signature by {key} does not verify", at(*.line))]
    BadCheckpointSignature {
        /// Where.
        line: u64,
        /// The key's verifier key string.
        key: String,
    },
    /// The checkpoint's origin is not the tenant's, or differs between checkpoints.
    #[error("{}: origin {origin:?} is not {expected}", at(*.line))]
    OriginMismatch {
        /// Where.
        line: u64,
        /// The origin found.
        origin: String,
        /// What it should be.
        expected: String,
    },
    /// An older checkpoint is larger than the bundle's: an old checkpoint is being passed
    /// off as the current one (or the log was rolled back).
    #[error(
        "{}: checkpoint rollback: the previous checkpoint has {previous_size} events but the bundle's has only {bundle_size}",
        at(*.line)
    )]
    CheckpointRollback {
        /// Where the older checkpoint is.
        line: u64,
        /// Its size.
        previous_size: u64,
        /// The bundle's checkpoint's size.
        bundle_size: u64,
    },
    /// The consistency proof does not lead from the older checkpoint to the bundle's, or
    /// two checkpoints of the same size differ: the trees are not one growing log.
    #[error("{}: inconsistent trees: {reason}", at(*.line))]
    InconsistentTrees {
        /// Where.
        line: u64,
        /// Which check failed.
        reason: String,
    },
    /// `--previous` is older than the bundle's checkpoint but the bundle carries no
    /// consistency proof from it.
    #[error(
        "the bundle carries no consistency proof from the previous checkpoint ({previous_size} events) to its own ({bundle_size} events)"
    )]
    ConsistencyProofMissing {
        /// The previous checkpoint's size.
        previous_size: u64,
        /// The bundle's checkpoint's size.
        bundle_size: u64,
    },
    /// The envelope does not hash to the leaf hash its line states: the event was edited.
    #[error("line {line}: event {sequence} was altered: its envelope does not hash to its leaf")]
    PayloadAltered {
        /// Where.
        line: u64,
        /// The event's sequence number.
        sequence: u64,
    },
    /// An event of another tenant.
    #[error("line {line}: event {sequence} belongs to tenant {tenant_id:?}")]
    WrongTenant {
        /// Where.
        line: u64,
        /// The event's sequence number.
        sequence: u64,
        /// Its tenant.
        tenant_id: String,
    },
    /// A leaf is missing: the next line does not start where the previous one ended.
    #[error("line {line}: event {expected_sequence} was dropped")]
    EventDropped {
        /// The line where the gap shows (or the end line).
        line: u64,
        /// The first missing sequence number.
        expected_sequence: u64,
    },
    /// The leaves are all there but not in order.
    #[error("line {line}: events out of order: event {sequence} comes after later ones")]
    EventsOutOfOrder {
        /// The line that holds the event in the wrong place.
        line: u64,
        /// Its sequence number.
        sequence: u64,
    },
    /// A line covers a leaf that another line covers too, or one beyond the tree.
    #[error(
        "line {line}: an event was inserted: sequence {sequence} is already covered or beyond the tree"
    )]
    EventInserted {
        /// The inserted line.
        line: u64,
        /// The sequence number it claims.
        sequence: u64,
    },
    /// A disclosed event outside the scanned range.
    #[error("line {line}: event {sequence} is outside the scanned range")]
    OutsideScan {
        /// Where.
        line: u64,
        /// The event's sequence number.
        sequence: u64,
    },
    /// A disclosed event that does not match the filter.
    #[error("line {line}: event {sequence} does not match the filter{}", .reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    FilterMismatch {
        /// Where.
        line: u64,
        /// The event's sequence number.
        sequence: u64,
        /// Why it cannot match, if it is not a plain mismatch.
        reason: Option<String>,
    },
    /// A disclosed event creates a stream that the filter does not list.
    #[error(
        "line {line}: event {sequence} creates stream {stream_id}, which the filter does not list"
    )]
    FilterNotClosed {
        /// Where.
        line: u64,
        /// The event's sequence number.
        sequence: u64,
        /// The unlisted stream.
        stream_id: String,
    },
    /// The leaves and hashes of the bundle do not lead to the checkpoint's root: an event
    /// or a hash of a skipped run is not the log's.
    #[error(
        "line {line}: bad inclusion proof: the bundle's leaves lead to root {} but the checkpoint on line {checkpoint_line} has {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    BadInclusionProof {
        /// The end line, where the fold completes.
        line: u64,
        /// The checkpoint's line.
        checkpoint_line: u64,
        /// The root the bundle leads to.
        computed: Hash,
        /// The checkpoint's root.
        expected: Hash,
    },
    /// The end line's counts are not the bundle's.
    #[error(
        "line {line}: the end line states {stated_events} events and {stated_lines} lines, the bundle has {counted_events} and {counted_lines}"
    )]
    CountMismatch {
        /// Where.
        line: u64,
        /// Stated disclosed events.
        stated_events: u64,
        /// Counted disclosed events.
        counted_events: u64,
        /// Stated lines before the end line.
        stated_lines: u64,
        /// Counted lines before the end line.
        counted_lines: u64,
    },
    /// The SHA-256 of the lines before the end line is not the stated digest.
    #[error("line {line}: the digest of the preceding lines does not match the end line")]
    DigestMismatch {
        /// Where.
        line: u64,
    },
}

fn at(line: u64) -> String {
    if line == 0 {
        "the previous checkpoint".to_owned()
    } else {
        format!("line {line}")
    }
}

impl VerifyError {
    /// The line the failure is reported at (1-based), as `confide-verify` prints it: `0` for
    /// the auditor's previous checkpoint (and a consistency proof missing from it).
    pub fn line(&self) -> u64 {
        match self {
            VerifyError::ConsistencyProofMissing { .. } => 0,
            VerifyError::Io { line, .. }
            | VerifyError::Truncated { line }
            | VerifyError::TrailingData { line }
            | VerifyError::Malformed { line, .. }
            | VerifyError::NotCanonical { line, .. }
            | VerifyError::UnsupportedVersion { line, .. }
            | VerifyError::UnknownSigner { line, .. }
            | VerifyError::BadCheckpointSignature { line, .. }
            | VerifyError::OriginMismatch { line, .. }
            | VerifyError::CheckpointRollback { line, .. }
            | VerifyError::InconsistentTrees { line, .. }
            | VerifyError::PayloadAltered { line, .. }
            | VerifyError::WrongTenant { line, .. }
            | VerifyError::EventDropped { line, .. }
            | VerifyError::EventsOutOfOrder { line, .. }
            | VerifyError::EventInserted { line, .. }
            | VerifyError::OutsideScan { line, .. }
            | VerifyError::FilterMismatch { line, .. }
            | VerifyError::FilterNotClosed { line, .. }
            | VerifyError::BadInclusionProof { line, .. }
            | VerifyError::CountMismatch { line, .. }
            | VerifyError::DigestMismatch { line } => *line,
        }
    }

    /// The variant's name, e.g. `PayloadAltered`: a stable, precise name for the failure.
    pub fn name(&self) -> &'static str {
        match self {
            VerifyError::Io { .. } => "Io",
            VerifyError::Truncated { .. } => "Truncated",
            VerifyError::TrailingData { .. } => "TrailingData",
            VerifyError::Malformed { .. } => "Malformed",
            VerifyError::NotCanonical { .. } => "NotCanonical",
            VerifyError::UnsupportedVersion { .. } => "UnsupportedVersion",
            VerifyError::UnknownSigner { .. } => "UnknownSigner",
            VerifyError::BadCheckpointSignature { .. } => "BadCheckpointSignature",
            VerifyError::OriginMismatch { .. } => "OriginMismatch",
            VerifyError::CheckpointRollback { .. } => "CheckpointRollback",
            VerifyError::InconsistentTrees { .. } => "InconsistentTrees",
            VerifyError::ConsistencyProofMissing { .. } => "ConsistencyProofMissing",
            VerifyError::PayloadAltered { .. } => "PayloadAltered",
            VerifyError::WrongTenant { .. } => "WrongTenant",
            VerifyError::EventDropped { .. } => "EventDropped",
            VerifyError::EventsOutOfOrder { .. } => "EventsOutOfOrder",
            VerifyError::EventInserted { .. } => "EventInserted",
            VerifyError::OutsideScan { .. } => "OutsideScan",
            VerifyError::FilterMismatch { .. } => "FilterMismatch",
            VerifyError::FilterNotClosed { .. } => "FilterNotClosed",
            VerifyError::BadInclusionProof { .. } => "BadInclusionProof",
            VerifyError::CountMismatch { .. } => "CountMismatch",
            VerifyError::DigestMismatch { .. } => "DigestMismatch",
        }
    }
}

impl From<ReadError> for VerifyError {
    fn from(error: ReadError) -> Self {
        let line = error.line;
        match error.kind {
            ReadErrorKind::Io(message) => VerifyError::Io { line, message },
            ReadErrorKind::Truncated => VerifyError::Truncated { line },
            ReadErrorKind::TooLong => VerifyError::Malformed {
                line,
                reason: ReadErrorKind::TooLong.to_string(),
            },
            ReadErrorKind::NotCanonical(reason) => VerifyError::NotCanonical { line, reason },
            ReadErrorKind::Malformed(reason) => VerifyError::Malformed { line, reason },
            ReadErrorKind::UnsupportedVersion { format, version } => {
                VerifyError::UnsupportedVersion {
                    line,
                    format,
                    version,
                }
            }
        }
    }
}

/// A disclosed event that passed its line's checks, handed to an [`EventSink`]. Its
/// fields are those of [`EventLine`].
#[derive(Clone, Copy, Debug)]
pub struct VerifiedEvent<'a> {
    line: EventLine<'a>,
}

impl<'a> Deref for VerifiedEvent<'a> {
    type Target = EventLine<'a>;

    fn deref(&self) -> &EventLine<'a> {
        &self.line
    }
}

/// Receives each disclosed event as the verifier passes it.
pub trait EventSink {
    /// One more event, in sequence order.
    fn event(&mut self, event: &VerifiedEvent<'_>);
}

impl EventSink for () {
    fn event(&mut self, _: &VerifiedEvent<'_>) {}
}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn event(&mut self, event: &VerifiedEvent<'_>) {
        (**self).event(event);
    }
}

impl<S: EventSink> EventSink for Option<S> {
    fn event(&mut self, event: &VerifiedEvent<'_>) {
        if let Some(sink) = self {
            sink.event(event);
        }
    }
}

impl<A: EventSink, B: EventSink> EventSink for (A, B) {
    fn event(&mut self, event: &VerifiedEvent<'_>) {
        self.0.event(event);
        self.1.event(event);
    }
}

/// Where an older checkpoint the bundle's extends came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviousSource {
    /// The bundle's consistency line.
    Bundle,
    /// The auditor's `--previous` checkpoint.
    Auditor,
}

/// An older checkpoint that the bundle's checkpoint was shown to extend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedCheckpoint {
    /// Where it came from.
    pub source: PreviousSource,
    /// Its tree size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// What a verified bundle holds: the result of [`verify_bundle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The header.
    pub header: BundleHeader,
    /// The checkpoint the bundle was verified against.
    pub checkpoint: Checkpoint,
    /// The keys listed in the bundle.
    pub bundle_keys: Vec<NoteVerifier>,
    /// The accepted keys whose signatures on the checkpoint verified.
    pub signed_by: Vec<NoteVerifier>,
    /// Whether the accepted keys were the auditor's trusted keys (rather than the bundle's).
    pub keys_trusted: bool,
    /// Older checkpoints the bundle's was shown to extend.
    pub extends: Vec<ExtendedCheckpoint>,
    /// Disclosed events.
    pub events: u64,
    /// Leaves of the scanned range that were not disclosed (the exporter's claim: they do
    /// not match the filter).
    pub hidden_in_scan: u64,
    /// Leaves outside the scanned range (not examined by the exporter).
    pub outside_scan: u64,
    /// Lines, end line included.
    pub lines: u64,
    /// The end line's digest (see [`crate::bundle::BundleReader`]).
    pub digest: Hash,
}

impl fmt::Display for VerifiedBundle {
    /// A human summary of what was checked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = &self.header;
        writeln!(
            f,
            "bundle verified: {} lines, digest {}",
            self.lines,
            hex::encode(self.digest)
        )?;
        writeln!(f, "tenant:      {}", header.tenant_id)?;
        writeln!(
            f,
            "exported at: {} by {}",
            header.exported_at, header.generator
        )?;
        writeln!(f, "checkpoint:  origin {}", self.checkpoint.origin)?;
        writeln!(f, "             size {}", self.checkpoint.size)?;
        writeln!(f, "             root {}", hex::encode(self.checkpoint.root))?;
        for key in &self.signed_by {
            writeln!(f, "signed by:   {}+{:08x}", key.name(), key.key_id())?;
        }
        writeln!(
            f,
            "keys:        {}",
            if self.keys_trusted {
                "checked against the trusted keys given"
            } else {
                "the bundle's own (no --trusted-key given): this shows the bundle is consistent with itself, not that the operator signed it"
            }
        )?;
        for previous in &self.extends {
            let source = match previous.source {
                PreviousSource::Bundle => "the bundle's previous checkpoint",
                PreviousSource::Auditor => "your previous checkpoint",
            };
            writeln!(
                f,
                "extends:     {source}: size {}, root {}",
                previous.size,
                hex::encode(previous.root)
            )?;
        }
        let filter = &header.filter;
        let mut described = Vec::new();
        if let Some(from) = &filter.from {
            described.push(format!("recorded from {from}"));
        }
        if let Some(until) = &filter.until {
            described.push(format!("recorded before {until}"));
        }
        for (kind, ids) in &filter.subjects {
            described.push(format!(
                "{kind} {}",
                ids.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if described.is_empty() {
            described.push("every event".to_owned());
        }
        writeln!(f, "filter:      {}", described.join("; "))?;
        writeln!(
            f,
            "scanned:     sequences {}..{} ({} events)",
            header.scan.start,
            header.scan.end,
            header.scan.end - header.scan.start
        )?;
        writeln!(f, "disclosed:   {} events", self.events)?;
        writeln!(
            f,
            "hidden:      {} events in the scanned range (do not match the filter, by the exporter's statement), {} outside it",
            self.hidden_in_scan, self.outside_scan
        )?;
        writeln!(
            f,
            "checked:     signatures, canonical JSON, leaf hashes, sequence coverage 0..{}, tenant, filter, range proof to the root, end line",
            self.checkpoint.size
        )
    }
}

/// The most threads a verification parses on.
const MAX_WORKERS: usize = 8;

/// Verifies a bundle read from `input`, handing each disclosed event to `sink` as it
/// passes its own checks. See the module documentation for what is checked.
pub fn verify_bundle<R: Read + Send>(
    input: R,
    options: &VerifyOptions,
    sink: &mut dyn EventSink,
) -> Result<VerifiedBundle, VerifyError> {
    // Read, parse and hash leaves on every core but this one's share; only the ordered
    // checks and the fold into the root run here.
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let workers = if cores > 1 { cores.min(MAX_WORKERS) } else { 0 };
    BundleReader::with_workers(input, workers, |reader| verify_lines(reader, options, sink))
}

/// [`verify_bundle`]'s checks over the lines `reader` gives.
fn verify_lines<R: Read>(
    reader: &mut BundleReader<R>,
    options: &VerifyOptions,
    sink: &mut dyn EventSink,
) -> Result<VerifiedBundle, VerifyError> {
    let mut state: Option<State> = None;
    let mut stage = Stage::Header;
    let mut number = 0u64;
    loop {
        number += 1;
        let line = match reader.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            // Whatever follows the end line, even a part of a line, is data after it.
            Err(_) if stage == Stage::Ended => {
                return Err(VerifyError::TrailingData { line: number });
            }
            Err(error) => return Err(error.into()),
        };
        let malformed = |reason: &str| VerifyError::Malformed {
            line: number,
            reason: reason.to_owned(),
        };
        match (stage, state.as_mut()) {
            (Stage::Header, _) => {
                let Line::Header(header) = line else {
                    return Err(malformed("the first line must be the header"));
                };
                state = Some(State::new(*header));
                stage = Stage::Keys;
            }
            (Stage::Keys, Some(state)) => match line {
                Line::Key(key) => {
                    if state.bundle_keys.contains(&key) {
                        return Err(malformed("a key is listed twice"));
                    }
                    state.bundle_keys.push(*key);
                }
                Line::Checkpoint(note) if !state.bundle_keys.is_empty() => {
                    state.checkpoint(number, &note, options)?;
                    stage = Stage::AfterCheckpoint;
                }
                _ => {
                    return Err(malformed(
                        "expected a key line or, after at least one, the checkpoint line",
                    ));
                }
            },
            (Stage::AfterCheckpoint, Some(state)) => {
                if let Line::Consistency { note, proof } = &line {
                    state.consistency(number, note, proof, options)?;
                    state.check_previous(options)?;
                    stage = Stage::Segments;
                    continue;
                }
                state.check_previous(options)?;
                stage = Stage::Segments;
                match state.segment(number, line, sink)? {
                    Step::Continue => {}
                    Step::Ended => stage = Stage::Ended,
                    Step::Gap {
                        start,
                        end,
                        expected,
                    } => {
                        return Err(classify_gap(reader, number, start, end, expected));
                    }
                }
            }
            (Stage::Segments, Some(state)) => match state.segment(number, line, sink)? {
                Step::Continue => {}
                Step::Ended => stage = Stage::Ended,
                Step::Gap {
                    start,
                    end,
                    expected,
                } => {
                    return Err(classify_gap(reader, number, start, end, expected));
                }
            },
            (Stage::Ended, _) => return Err(VerifyError::TrailingData { line: number }),
            (_, None) => return Err(malformed("the header is missing")),
        }
    }
    match (stage, state) {
        (Stage::Ended, Some(state)) => Ok(state.finish(options, number - 1)),
        _ => Err(VerifyError::Truncated { line: number }),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Header,
    Keys,
    AfterCheckpoint,
    Segments,
    Ended,
}

enum Step {
    Continue,
    Ended,
    /// The line at hand covers `start..end` but the next leaf expected is `expected`.
    Gap {
        start: u64,
        end: u64,
        expected: u64,
    },
}

struct State {
    header: BundleHeader,
    matcher: Matcher,
    bundle_keys: Vec<NoteVerifier>,
    checkpoint: Option<Checkpoint>,
    checkpoint_line: u64,
    signed_by: Vec<NoteVerifier>,
    keys_trusted: bool,
    extends: Vec<ExtendedCheckpoint>,
    previous_checked: bool,
    frontier: Frontier,
    events: u64,
    hidden_in_scan: u64,
    outside_scan: u64,
    digest: Hash,
}

impl State {
    fn new(header: BundleHeader) -> Self {
        Self {
            matcher: Matcher::new(&header.filter),
            header,
            bundle_keys: Vec::new(),
            checkpoint: None,
            checkpoint_line: 0,
            signed_by: Vec::new(),
            keys_trusted: false,
            extends: Vec::new(),
            previous_checked: false,
            frontier: Frontier::new(),
            events: 0,
            hidden_in_scan: 0,
            outside_scan: 0,
            digest: [0; 32],
        }
    }

    fn accepted_keys<'k>(&'k self, options: &'k VerifyOptions) -> &'k [NoteVerifier] {
        if options.trusted_keys.is_empty() {
            &self.bundle_keys
        } else {
            &options.trusted_keys
        }
    }

    /// The checkpoint in `note`, and which accepted keys signed it.
    fn signed(
        &self,
        line: u64,
        note: &str,
        options: &VerifyOptions,
    ) -> Result<(Checkpoint, Vec<NoteVerifier>), VerifyError> {
        let mut signers = Vec::new();
        let mut body = None;
        for key in self.accepted_keys(options) {
            match key.verify(note) {
                Ok(text) => {
                    signers.push(key.clone());
                    body = Some(text);
                }
                Err(CheckpointError::NoSignatureByKey { .. }) => {}
                Err(CheckpointError::BadSignature { .. }) => {
                    return Err(VerifyError::BadCheckpointSignature {
                        line,
                        key: key.to_string(),
                    });
                }
                Err(error) => {
                    return Err(VerifyError::Malformed {
                        line,
                        reason: error.to_string(),
                    });
                }
            }
        }
        let Some(body) = body else {
            return Err(VerifyError::UnknownSigner {
                line,
                signed_by: checkpoint::claimed_signers(note)
                    .into_iter()
                    .map(|(name, key_id)| format!("{name}+{key_id:08x}"))
                    .collect(),
            });
        };
        let checkpoint = Checkpoint::parse_body(&body).map_err(|error| VerifyError::Malformed {
            line,
            reason: error.to_string(),
        })?;
        Ok((checkpoint, signers))
    }

    fn checkpoint(
        &mut self,
        line: u64,
        note: &str,
        options: &VerifyOptions,
    ) -> Result<(), VerifyError> {
        let (checkpoint, signers) = self.signed(line, note, options)?;
        if !origin_names_tenant(&checkpoint.origin, &self.header.tenant_id) {
            return Err(VerifyError::OriginMismatch {
                line,
                origin: checkpoint.origin,
                expected: format!("<prefix>/{}", self.header.tenant_id),
            });
        }
        if self.header.scan.end > checkpoint.size {
            return Err(VerifyError::Malformed {
                line,
                reason: format!(
                    "the scanned range ends at {} but the checkpoint's tree has {} events",
                    self.header.scan.end, checkpoint.size
                ),
            });
        }
        self.keys_trusted = !options.trusted_keys.is_empty();
        self.signed_by = signers;
        self.checkpoint = Some(checkpoint);
        self.checkpoint_line = line;
        Ok(())
    }

    fn current(&self) -> &Checkpoint {
        // Segments and consistency lines only come after the checkpoint line.
        self.checkpoint
            .as_ref()
            .expect("the checkpoint line precedes this one")
    }

    /// Checks that `old` (from `line`) is the same log as the bundle's checkpoint and not
    /// larger.
    fn same_log_not_larger(&self, line: u64, old: &Checkpoint) -> Result<(), VerifyError> {
        let current = self.current();
        if old.origin != current.origin {
            return Err(VerifyError::OriginMismatch {
                line,
                origin: old.origin.clone(),
                expected: current.origin.clone(),
            });
        }
        if old.size > current.size {
            return Err(VerifyError::CheckpointRollback {
                line,
                previous_size: old.size,
                bundle_size: current.size,
            });
        }
        Ok(())
    }

    fn consistency(
        &mut self,
        line: u64,
        note: &str,
        proof: &[Hash],
        options: &VerifyOptions,
    ) -> Result<(), VerifyError> {
        let (old, _) = self.signed(line, note, options)?;
        self.same_log_not_larger(line, &old)?;
        let current = self.current();
        merkle::verify_consistency(old.size, current.size, &old.root, &current.root, proof)
            .map_err(|error| VerifyError::InconsistentTrees {
                line,
                reason: format!("from size {} to size {}: {error}", old.size, current.size),
            })?;
        self.extends.push(ExtendedCheckpoint {
            source: PreviousSource::Bundle,
            size: old.size,
            root: old.root,
        });
        Ok(())
    }

    /// Checks the auditor's previous checkpoint against the bundle's, once.
    fn check_previous(&mut self, options: &VerifyOptions) -> Result<(), VerifyError> {
        if self.previous_checked {
            return Ok(());
        }
        self.previous_checked = true;
        let Some(note) = &options.previous else {
            return Ok(());
        };
        let (previous, _) = self.signed(0, note, options)?;
        self.same_log_not_larger(0, &previous)?;
        let current = self.current();
        if previous.size == current.size {
            if previous.root != current.root {
                return Err(VerifyError::InconsistentTrees {
                    line: 0,
                    reason: format!(
                        "the previous checkpoint and the bundle's both have {} events but different roots",
                        current.size
                    ),
                });
            }
        } else {
            let proven = self
                .extends
                .iter()
                .find(|old| old.source == PreviousSource::Bundle && old.size == previous.size);
            match proven {
                Some(old) if old.root == previous.root => {}
                Some(_) => {
                    return Err(VerifyError::InconsistentTrees {
                        line: 0,
                        reason: format!(
                            "the bundle proves consistency from a checkpoint of {} events whose root is not the previous checkpoint's",
                            previous.size
                        ),
                    });
                }
                None => {
                    return Err(VerifyError::ConsistencyProofMissing {
                        previous_size: previous.size,
                        bundle_size: current.size,
                    });
                }
            }
        }
        self.extends.push(ExtendedCheckpoint {
            source: PreviousSource::Auditor,
            size: previous.size,
            root: previous.root,
        });
        Ok(())
    }

    fn segment(
        &mut self,
        line: u64,
        content: Line<'_>,
        sink: &mut dyn EventSink,
    ) -> Result<Step, VerifyError> {
        let size = self.current().size;
        let expected = self.frontier.size();
        match content {
            Line::Event(event) => {
                let sequence = event.sequence();
                if event.computed_leaf() != event.stated_leaf() {
                    return Err(VerifyError::PayloadAltered { line, sequence });
                }
                if sequence > expected {
                    return Ok(Step::Gap {
                        start: sequence,
                        end: sequence.saturating_add(1),
                        expected,
                    });
                }
                if sequence < expected || sequence >= size {
                    return Err(VerifyError::EventInserted { line, sequence });
                }
                let tenant_id = event.tenant_id();
                if tenant_id != self.header.tenant_id {
                    return Err(VerifyError::WrongTenant {
                        line,
                        sequence,
                        tenant_id: tenant_id.into_owned(),
                    });
                }
                if !self.header.scan.contains(&sequence) {
                    return Err(VerifyError::OutsideScan { line, sequence });
                }
                let verdict = self
                    .matcher
                    .evaluate(
                        &event.recorded_at(),
                        &event.stream_id(),
                        event.stream_version(),
                        |name| event.payload_string(name),
                    )
                    .map_err(|reason| VerifyError::FilterMismatch {
                        line,
                        sequence,
                        reason: Some(reason),
                    })?;
                if !verdict.matches {
                    return Err(VerifyError::FilterMismatch {
                        line,
                        sequence,
                        reason: None,
                    });
                }
                if let Some(stream_id) = verdict.unlisted_stream {
                    return Err(VerifyError::FilterNotClosed {
                        line,
                        sequence,
                        stream_id,
                    });
                }
                self.push(line, 0, event.stated_leaf())?;
                self.events += 1;
                sink.event(&VerifiedEvent { line: event });
                Ok(Step::Continue)
            }
            Line::Skip { start, end, hashes } => {
                if start >= end {
                    return Err(VerifyError::Malformed {
                        line,
                        reason: format!("the skipped run {start}..{end} is empty"),
                    });
                }
                // The number of hashes is the line's own form, checked before its place.
                let tiles = merkle::range_nodes(start, end).count();
                if hashes.len() != tiles {
                    return Err(VerifyError::Malformed {
                        line,
                        reason: format!(
                            "the skipped run {start}..{end} is tiled by {tiles} subtrees but the line has {} hashes",
                            hashes.len()
                        ),
                    });
                }
                if start > expected {
                    return Ok(Step::Gap {
                        start,
                        end,
                        expected,
                    });
                }
                if start < expected {
                    return Err(VerifyError::EventInserted {
                        line,
                        sequence: start,
                    });
                }
                if end > size {
                    return Err(VerifyError::EventInserted {
                        line,
                        sequence: size,
                    });
                }
                for (node, hash) in merkle::range_nodes(start, end).zip(hashes) {
                    self.push(line, node.level, *hash)?;
                }
                let scan = &self.header.scan;
                let in_scan = end.min(scan.end).saturating_sub(start.max(scan.start));
                self.hidden_in_scan += in_scan;
                self.outside_scan += (end - start) - in_scan;
                Ok(Step::Continue)
            }
            Line::End {
                events,
                lines,
                digest,
                computed_digest,
            } => {
                if expected < size {
                    return Err(VerifyError::EventDropped {
                        line,
                        expected_sequence: expected,
                    });
                }
                let computed = self.frontier.root();
                let checkpoint_root = self.current().root;
                if computed != checkpoint_root {
                    return Err(VerifyError::BadInclusionProof {
                        line,
                        checkpoint_line: self.checkpoint_line,
                        computed,
                        expected: checkpoint_root,
                    });
                }
                if events != self.events || lines != line - 1 {
                    return Err(VerifyError::CountMismatch {
                        line,
                        stated_events: events,
                        counted_events: self.events,
                        stated_lines: lines,
                        counted_lines: line - 1,
                    });
                }
                if digest != computed_digest {
                    return Err(VerifyError::DigestMismatch { line });
                }
                self.digest = digest;
                Ok(Step::Ended)
            }
            Line::Header(_) | Line::Key(_) | Line::Checkpoint(_) | Line::Consistency { .. } => {
                Err(VerifyError::Malformed {
                    line,
                    reason: "only event, skip and end lines may follow the checkpoint and consistency lines".to_owned(),
                })
            }
        }
    }

    fn push(&mut self, line: u64, level: u8, hash: Hash) -> Result<(), VerifyError> {
        self.frontier
            .push_subtree(level, hash)
            .map_err(|error| VerifyError::Malformed {
                line,
                reason: error.to_string(),
            })
    }

    fn finish(self, _options: &VerifyOptions, lines: u64) -> VerifiedBundle {
        let checkpoint = self.current().clone();
        VerifiedBundle {
            header: self.header,
            checkpoint,
            bundle_keys: self.bundle_keys,
            signed_by: self.signed_by,
            keys_trusted: self.keys_trusted,
            extends: self.extends,
            events: self.events,
            hidden_in_scan: self.hidden_in_scan,
            outside_scan: self.outside_scan,
            lines,
            digest: self.digest,
        }
    }
}

/// Names a gap: the line `gap_line` covers `start..end` while leaf `expected` is still
/// missing. Reads on to see whether a later line supplies `expected` (the lines are out
/// of order) and whether a later line covers `start..end` again (the line at the gap was
/// inserted); otherwise `expected` was dropped.
fn classify_gap<R: Read>(
    reader: &mut BundleReader<R>,
    gap_line: u64,
    start: u64,
    end: u64,
    expected: u64,
) -> VerifyError {
    let mut number = gap_line;
    let mut supplies_expected = None;
    loop {
        number += 1;
        let (line_start, line_end) = match reader.next_line() {
            Ok(Some(Line::Event(event))) => (event.sequence(), event.sequence().saturating_add(1)),
            Ok(Some(Line::Skip { start, end, .. })) => (start, end),
            _ => break,
        };
        if line_start < end && start < line_end {
            return VerifyError::EventInserted {
                line: gap_line,
                sequence: start,
            };
        }
        if supplies_expected.is_none() && line_start <= expected && expected < line_end {
            supplies_expected = Some(number);
        }
    }
    match supplies_expected {
        Some(line) => VerifyError::EventsOutOfOrder {
            line,
            sequence: expected,
        },
        None => VerifyError::EventDropped {
            line: gap_line,
            expected_sequence: expected,
        },
    }
}
