//! The reader: [`BundleReader`] reads a bundle in chunks of whole lines, parsing each chunk
//! (inline, or on reading threads that each parse the chunk they read) and handing out its
//! lines in order with the end line's digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, mpsc};

use sha2::{Digest, Sha256};

use super::line::{EventLine, Line, OwnedLine, Parsed, parse_line_at, parse_line_bytes};
use super::{FORMAT, MAX_LINE_BYTES, VERSION};
use crate::merkle::Hash;
use crate::strict_json::{self, Node};

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
pub(super) struct Chunk {
    /// Lines, each ending with a newline, except that the last one may be cut short (at
    /// the end of the input, or because it exceeds `MAX_LINE_BYTES`). Empty once parsing
    /// has moved them into `checked`.
    pub(super) text: Vec<u8>,
    /// The lines, once parsing found all of them valid UTF-8 (the usual case): checked
    /// once for the chunk instead of once per line, and again by whoever reads a line.
    pub(super) checked: Option<String>,
    /// Set when the last line is cut short because it is too long.
    too_long: bool,
    /// The longest line allowed, newline included.
    max_line_bytes: usize,
    /// Filled by parsing.
    lines: Vec<ParsedLine>,
    pub(super) nodes: Vec<Node>,
    hashes: Vec<Hash>,
    /// The tenant, time and stream of each event line, decoded, one after another: what
    /// the ordered checks read, kept together so that the thread doing them need not
    /// reach into the lines' text and values, which were parsed on another core.
    pub(super) strings: String,
}

/// One parsed line of a chunk: where its text, nodes and hashes are, and what it is.
#[derive(Debug)]
pub(super) struct ParsedLine {
    /// The line's text, without its newline.
    pub(super) text: Span,
    pub(super) nodes: Span,
    hashes: Span,
    content: Parsed,
}

/// A range of positions in a chunk, in 32 bits (chunks are far smaller than 4 GiB): the
/// parsed lines cross from the parsing thread to the one that checks them, so they are
/// kept small.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
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

    pub(super) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
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
