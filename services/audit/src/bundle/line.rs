//! The line format: the lines a bundle holds ([`Line`], and [`EventLine`], a disclosed event
//! viewed in place), and the parsing of one line's canonical JSON into them, including the
//! spelling of hashes as lowercase hex.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::reader::{Chunk, ParsedLine};
use super::{BundleHeader, FORMAT, Filter, ReadErrorKind, VERSION};
use crate::checkpoint::NoteVerifier;
use crate::envelope::Envelope;
use crate::merkle::{self, Hash};
use crate::strict_json::{self, Document, Kind, Node};

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
        /// The digest of the lines before this one, as read (see
        /// [`BundleReader`](super::BundleReader)).
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
    pub(super) chunk: &'a Chunk,
    pub(super) line: &'a ParsedLine,
    pub(super) parts: &'a EventParts,
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

#[derive(Debug)]
pub(super) enum Parsed {
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
pub(super) enum OwnedLine {
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
    pub(super) fn to_line(&self, computed_digest: Hash) -> Line<'static> {
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
pub(super) struct EventParts {
    /// Indices of the envelope's and its members' nodes among the line's.
    envelope: u32,
    fields: [u32; 10],
    /// Where its tenant, time and stream are in the chunk's `strings`.
    facts: Facts,
    sequence: u64,
    stream_version: u64,
    schema_version: u32,
    pub(super) stated_leaf: Hash,
    computed_leaf: Hash,
}

/// Parses the line that starts at `start` in `text` when it is a canonical JSON value
/// followed by a newline and a line of a known type: its end (the newline's offset) and
/// what it is. `None` for anything else, which the caller reads again the plain way.
pub(super) fn parse_line_at(
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
pub(super) fn parse_line_bytes(
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
    // A stream's versions start at 1 (`schema/audit-bundle.md` section 4).
    if stream_version == 0 {
        return Err(malformed(
            "envelope.stream_version is 0: versions start at 1".to_owned(),
        ));
    }
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
pub(super) fn exact_members<'v>(
    value: &'v Value,
    names: &[&str],
) -> Result<&'v Map<String, Value>, String> {
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

/// The string value of the top-level member `name` of the object at `object`.
pub(super) fn string_member<'a>(
    document: &Document<'a>,
    object: usize,
    name: &str,
) -> Option<Cow<'a, str>> {
    document
        .member(object, name)
        .and_then(|member| document.str(member))
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
pub(super) fn hex_word(word: u64) -> Option<[u8; 4]> {
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
