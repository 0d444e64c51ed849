//! The writer: [`BundleWriter`] streams a bundle line by line with flat memory, checking as it
//! goes everything the verifier will check, and fails with a [`BundleError`].

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::ops::Range;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::filter::Matcher;
use super::line::string_member;
use super::{BundleHeader, origin_names_tenant};
use crate::canonical;
use crate::checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use crate::envelope::{Envelope, EnvelopeHeader};
use crate::merkle::{self, CompactRange, Frontier, Hash};
use crate::strict_json::{self, Document, Node};

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
    /// hash (see [`BundleReader`](super::BundleReader)).
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
