//! A reader that accepts only canonical JSON (the form of [`crate::canonical`]) and records
//! where its values are, without building a tree of owned values.
//!
//! The bundle verifier must check that every line is exactly its canonical form. Parsing a
//! line into a [`serde_json::Value`] and serializing it again does that, but costs about as
//! much as everything else the verifier does per event together. This reader checks the
//! canonical rules in one pass over the bytes (no whitespace, members in strictly increasing
//! UTF-16 order, minimal string escapes, integers only in the safe range, no `-0`) and
//! records the spans of the values down to a chosen depth, which is all the verifier needs.
//! Tests check it against "parse with serde_json and re-serialize canonically" on arbitrary
//! input.

use std::borrow::Cow;

use crate::canonical::MAX_SAFE_INTEGER;

/// Deeper nesting is refused, so that hostile input cannot exhaust the stack. It is above
/// serde_json's own limit (128), which every stored payload has passed, plus the two levels
/// that a bundle line wraps around a payload.
const MAX_DEPTH: u16 = 200;

/// The longest text the reader takes: spans are kept in 31 bits.
const MAX_TEXT_BYTES: usize = (1 << 31) - 1;

/// The kind of a recorded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    /// A string without escapes: its text is the bytes between the quotes.
    String,
    /// A string with at least one escape.
    EscapedString,
    Array,
    Object,
}

/// One recorded value: the document's root, or a member or element within the recorded
/// depth. Spans are byte offsets into the document (lines are far shorter than 4 GiB); a
/// value's span includes its quotes or brackets, a member name's span its quotes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// The index just past this node's recorded descendants: its next sibling's.
    after: u32,
    /// The member name; [`Key::NONE`] for the root and array elements.
    key: Key,
    start: u32,
    end: u32,
}

/// Why a text is not canonical JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StrictJsonError {
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
}

/// A parsed document: the text and its recorded values, root first, in document order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Document<'a> {
    pub(crate) text: &'a str,
    pub(crate) nodes: &'a [Node],
}

/// Checks that `text` is canonical JSON and records into `nodes` (cleared first) the root
/// and every value down to `record_depth` (the root's members are at depth 1).
pub(crate) fn parse<'a>(
    text: &'a str,
    record_depth: u16,
    nodes: &'a mut Vec<Node>,
) -> Result<Document<'a>, StrictJsonError> {
    nodes.clear();
    parse_appending(text, record_depth, nodes)
}

/// Like [`parse`], but appends the recorded values to `nodes` (which may hold other
/// documents' values) and returns a document over the appended ones; on failure, `nodes`
/// is left as it was.
pub(crate) fn parse_appending<'a>(
    text: &'a str,
    record_depth: u16,
    nodes: &'a mut Vec<Node>,
) -> Result<Document<'a>, StrictJsonError> {
    parse_value(text, record_depth, nodes, true)
}

/// Like [`parse_appending`], for the value at the start of `text`, which may be followed by
/// anything: the document's text is the value's.
pub(crate) fn parse_prefix<'a>(
    text: &'a str,
    record_depth: u16,
    nodes: &'a mut Vec<Node>,
) -> Result<Document<'a>, StrictJsonError> {
    parse_value(text, record_depth, nodes, false)
}

fn parse_value<'a>(
    text: &'a str,
    record_depth: u16,
    nodes: &'a mut Vec<Node>,
    whole: bool,
) -> Result<Document<'a>, StrictJsonError> {
    if text.len() > MAX_TEXT_BYTES {
        // Spans are kept in 31 bits (see `Key`); lines are limited to far less.
        return Err(StrictJsonError {
            offset: 0,
            reason: "the text is longer than 2 GiB",
        });
    }
    let base = nodes.len();
    let mut parser = Parser {
        text: text.as_bytes(),
        nodes,
        base,
        record_depth,
        error: None,
    };
    let mut result = parser.value(0, 0, Key::NONE);
    if let Ok(end) = result
        && whole
        && end != text.len()
    {
        result = Err(parser.fail(end, "unexpected bytes after the value"));
    }
    let end = match result {
        Ok(end) => end,
        Err(Failed) => {
            let error = parser.error.take().unwrap_or(StrictJsonError {
                offset: 0,
                reason: "not canonical JSON",
            });
            nodes.truncate(base);
            return Err(error);
        }
    };
    Ok(Document {
        // The value ends after an ASCII byte (a quote, bracket, digit or letter).
        text: &text[..end],
        nodes: &nodes[base..],
    })
}

/// The parser walks the text with positions held in registers: every step takes the
/// position where it starts and returns the one just past what it read.
struct Parser<'t, 'n> {
    text: &'t [u8],
    nodes: &'n mut Vec<Node>,
    /// Where this document's values start in `nodes`; indices are relative to it.
    base: usize,
    record_depth: u16,
    /// Why parsing failed, once it has.
    error: Option<StrictJsonError>,
}

/// Parsing failed; the parser holds why. Keeping the details out of the results lets every
/// step return in registers.
struct Failed;

/// A member name's span (quotes included) and whether it holds an escape, packed in one
/// word: the start in bits 0..32, the end in bits 32..63, the escape in bit 63 (texts are
/// far shorter than 2^31 bytes). The parser keeps the previous name to compare with the
/// next; as one word it is stored and loaded whole, where separate fields stored apart
/// and loaded together would stall the load on every member.
#[derive(Clone, Copy, Debug)]
struct Key(u64);

impl Key {
    /// The root and array elements have no name.
    const NONE: Key = Key(0);

    fn new(start: usize, end: usize, escaped: bool) -> Key {
        Key(start as u64 | (end as u64) << 32 | u64::from(escaped) << 63)
    }

    fn start(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    fn end(self) -> usize {
        ((self.0 >> 32) & 0x7fff_ffff) as usize
    }

    fn escaped(self) -> bool {
        self.0 >> 63 != 0
    }
}

impl Parser<'_, '_> {
    /// Records why the text is not canonical, and where.
    #[cold]
    fn fail(&mut self, offset: usize, reason: &'static str) -> Failed {
        self.error = Some(StrictJsonError { offset, reason });
        Failed
    }

    /// Parses the value at `at`, recording it if `depth <= record_depth`. Inlined into
    /// the object and array loops (which are not inlined, so the recursion goes through
    /// them): a member or element that is a string costs no call.
    #[inline(always)]
    fn value(&mut self, at: usize, depth: u16, key: Key) -> Result<usize, Failed> {
        if depth > MAX_DEPTH {
            return Err(self.fail(at, "the value is nested too deeply"));
        }
        let record = depth <= self.record_depth;
        let (end, kind) = match self.text.get(at) {
            Some(b'"') => match self.string(at)? {
                (end, false) => (end, Kind::String),
                (end, true) => (end, Kind::EscapedString),
            },
            Some(&open @ (b'{' | b'[')) => {
                // A container is recorded before its members (document order) and
                // completed after them.
                let index = self.nodes.len();
                if record {
                    self.nodes.push(Node {
                        kind: Kind::Null,
                        after: 0,
                        key,
                        start: at as u32,
                        end: at as u32,
                    });
                }
                let (end, kind) = if open == b'{' {
                    (self.object(at, depth)?, Kind::Object)
                } else {
                    (self.array(at, depth)?, Kind::Array)
                };
                if record {
                    let after = (self.nodes.len() - self.base) as u32;
                    let node = &mut self.nodes[index];
                    node.kind = kind;
                    node.end = end as u32;
                    node.after = after;
                }
                return Ok(end);
            }
            Some(b'-' | b'0'..=b'9') => (self.number(at)?, Kind::Number),
            Some(b't') => (self.literal(at, b"true")?, Kind::Bool),
            Some(b'f') => (self.literal(at, b"false")?, Kind::Bool),
            Some(b'n') => (self.literal(at, b"null")?, Kind::Null),
            Some(b' ' | b'\t' | b'\n' | b'\r') => {
                return Err(self.fail(at, "whitespace between tokens"));
            }
            Some(_) => return Err(self.fail(at, "not the start of a JSON value")),
            None => return Err(self.fail(at, "the text ends where a value should start")),
        };
        if record {
            // A scalar has no descendants: its next sibling comes right after it.
            let after = (self.nodes.len() + 1 - self.base) as u32;
            self.nodes.push(Node {
                kind,
                after,
                key,
                start: at as u32,
                end: end as u32,
            });
        }
        Ok(end)
    }

    fn literal(&mut self, at: usize, literal: &'static [u8]) -> Result<usize, Failed> {
        if self.text[at..].starts_with(literal) {
            Ok(at + literal.len())
        } else {
            Err(self.fail(at, "not a JSON literal"))
        }
    }

    fn number(&mut self, at: usize) -> Result<usize, Failed> {
        let text = self.text;
        let negative = text[at] == b'-';
        let digits_start = at + usize::from(negative);
        let mut end = digits_start;
        while text.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let digits = &text[digits_start..end];
        if digits.is_empty() {
            return Err(self.fail(end, "a number without digits"));
        }
        if matches!(text.get(end), Some(b'.' | b'e' | b'E')) {
            return Err(self.fail(end, "numbers must be integers"));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(self.fail(end, "a number with a leading zero"));
        }
        if negative && digits == b"0" {
            return Err(self.fail(end, "-0 is written 0"));
        }
        // 2^53 - 1 has 16 digits.
        let magnitude = if digits.len() > 16 {
            u64::MAX
        } else {
            digits
                .iter()
                .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'))
        };
        if magnitude > MAX_SAFE_INTEGER {
            return Err(self.fail(at, "an integer outside -(2^53-1)..=2^53-1"));
        }
        Ok(end)
    }

    /// Parses the string token at `at` (whose first byte the caller has seen to be a
    /// quote): its end, and whether it holds an escape.
    #[inline(always)]
    fn string(&mut self, at: usize) -> Result<(usize, bool), Failed> {
        let text = self.text;
        let mut position = at + 1;
        let mut escaped = false;
        loop {
            // The text is valid UTF-8 (it is a `str`), and no byte of a multi-byte sequence
            // is below 0x80, so only the quote, the backslash and control characters need
            // a look (and the space and `!`, which the search stops at too).
            let Some((found, byte)) = find_string_special(text, position) else {
                return Err(self.fail(text.len(), "a string is not closed"));
            };
            position = found;
            match byte {
                b'"' => return Ok((position + 1, escaped)),
                b'\\' => {
                    escaped = true;
                    position = self.escape(position)?;
                }
                b' ' | b'!' => position += 1,
                _ => return Err(self.fail(position, "a control character must be escaped")),
            }
        }
    }

    /// Checks the escape at `at` (a backslash) and returns the position after it.
    /// Canonical strings use the two-character escapes for `"`, `\`, and the five control
    /// characters that have one, `\u00xx` in lowercase hex for the other control
    /// characters, and no other escape.
    fn escape(&mut self, at: usize) -> Result<usize, Failed> {
        let text = self.text;
        let Some(&kind) = text.get(at + 1) else {
            return Err(self.fail(at, "a string ends in a backslash"));
        };
        match kind {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(at + 2),
            b'u' => {
                let Some(hex) = text.get(at + 2..at + 6) else {
                    return Err(self.fail(at, "a \\u escape is cut short"));
                };
                let lower_hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
                if !hex.iter().all(lower_hex) {
                    // Uppercase hex is valid JSON but not canonical.
                    return Err(self.fail(at, "a \\u escape that is not four lowercase hex digits"));
                }
                let is_short_form = matches!(hex, b"0008" | b"0009" | b"000a" | b"000c" | b"000d");
                if !hex.starts_with(b"00") || hex[2] > b'1' || is_short_form {
                    return Err(self.fail(
                        at,
                        "a \\u escape of a character that is written as is or has a short escape",
                    ));
                }
                Ok(at + 6)
            }
            _ => Err(self.fail(at, "an escape that canonical JSON does not use")),
        }
    }

    #[inline(never)]
    fn object(&mut self, at: usize, depth: u16) -> Result<usize, Failed> {
        let text = self.text;
        let mut position = at + 1;
        if text.get(position) == Some(&b'}') {
            return Ok(position + 1);
        }
        let mut previous: Option<Key> = None;
        loop {
            if text.get(position) != Some(&b'"') {
                return Err(self.fail(position, "expected a string"));
            }
            let (key_end, escaped) = self.string(position)?;
            let key = Key::new(position, key_end, escaped);
            if let Some(previous) = previous
                && compare_names(text, previous, key) != std::cmp::Ordering::Less
            {
                return Err(self.fail(
                    position,
                    "member names are not in strictly increasing order of UTF-16 code units",
                ));
            }
            previous = Some(key);
            if text.get(key_end) != Some(&b':') {
                return Err(self.fail(key_end, "expected ':' after a member name"));
            }
            position = self.value(key_end + 1, depth + 1, key)?;
            match text.get(position) {
                Some(b',') => position += 1,
                Some(b'}') => return Ok(position + 1),
                _ => return Err(self.fail(position, "expected ',' or '}' after a member")),
            }
        }
    }

    #[inline(never)]
    fn array(&mut self, at: usize, depth: u16) -> Result<usize, Failed> {
        let text = self.text;
        let mut position = at + 1;
        if text.get(position) == Some(&b']') {
            return Ok(position + 1);
        }
        loop {
            position = self.value(position, depth + 1, Key::NONE)?;
            match text.get(position) {
                Some(b',') => position += 1,
                Some(b']') => return Ok(position + 1),
                _ => return Err(self.fail(position, "expected ',' or ']' after an element")),
            }
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit of each byte of `word` that is below `limit` (at most 0x80)
/// set, exact up to the first such byte (the classic "has less" bit trick: a borrow can
/// only set bits above a byte that really is below the limit), so the lowest set bit
/// gives the first match.
fn bytes_below(word: u64, limit: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGH_BITS
}

/// Like [`bytes_below`], for bytes equal to `byte`.
fn bytes_equal(word: u64, byte: u8) -> u64 {
    bytes_below(word ^ (ONES * u64::from(byte)), 1)
}

fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

/// The position at or after `from` of the first byte below 0x23 (a control character,
/// the space, `!` or `"`) or `\` in `text`, and that byte, sixteen bytes a step (then
/// eight): no byte-by-byte loop (and no mispredicted branch per byte) except in the last
/// few bytes of the text. One test for "below 0x23" finds the quote and the control characters
/// together; the caller steps over a space or `!`, which are rare in the identifiers and
/// codes that make up most strings here.
#[inline(always)]
fn find_string_special(text: &[u8], from: usize) -> Option<(usize, u8)> {
    let mut position = from;
    let special = |word: u64| bytes_below(word, 0x23) | bytes_equal(word, b'\\');
    let found_at = |position: usize, word: u64, found: u64| {
        let bit = found.trailing_zeros();
        (position + (bit / 8) as usize, (word >> (bit & !7)) as u8)
    };
    // Sixteen bytes a step while they last, then eight.
    while let Some(chunk) = text.get(position..position + 16) {
        let (low, high) = (word(&chunk[..8]), word(&chunk[8..]));
        let (found_low, found_high) = (special(low), special(high));
        if found_low | found_high != 0 {
            return Some(if found_low != 0 {
                found_at(position, low, found_low)
            } else {
                found_at(position + 8, high, found_high)
            });
        }
        position += 16;
    }
    while let Some(chunk) = text.get(position..position + 8) {
        let word = word(chunk);
        let found = special(word);
        if found != 0 {
            return Some(found_at(position, word, found));
        }
        position += 8;
    }
    let tail = text.get(position..)?;
    let offset = tail.iter().position(|&byte| byte < 0x23 || byte == b'\\')?;
    Some((position + offset, tail[offset]))
}

/// The position of the first `byte` in `bytes`, eight bytes at a time.
pub(crate) fn find_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    let mut start = 0;
    for chunk in bytes.chunks_exact(8) {
        let found = bytes_equal(word(chunk), byte);
        if found != 0 {
            return Some(start + (found.trailing_zeros() / 8) as usize);
        }
        start += 8;
    }
    bytes[start..]
        .iter()
        .position(|&candidate| candidate == byte)
        .map(|offset| start + offset)
}

/// Whether two byte strings are equal, without a call to `memcmp` for the short names
/// compared here (a name of 8 to 16 bytes is compared as two words that may overlap).
fn short_eq(left: &[u8], right: &[u8]) -> bool {
    let length = left.len();
    if length != right.len() {
        return false;
    }
    if (8..=16).contains(&length) {
        return word(&left[..8]) == word(&right[..8])
            && word(&left[length - 8..]) == word(&right[length - 8..]);
    }
    left.iter().zip(right).all(|(l, r)| l == r)
}

/// Orders two member names (spans of string tokens) as RFC 8785 does: by UTF-16 code units
/// of their values. Names without escapes that first differ in an ASCII byte (or of which
/// one is a prefix of the other) compare as bytes, which is the same order; only a first
/// difference in a non-ASCII character needs the UTF-16 comparison.
fn compare_names(text: &[u8], left: Key, right: Key) -> std::cmp::Ordering {
    let left_raw = &text[left.start() + 1..left.end() - 1];
    let right_raw = &text[right.start() + 1..right.end() - 1];
    if !left.escaped() && !right.escaped() {
        match left_raw.iter().zip(right_raw).position(|(l, r)| l != r) {
            None => return left_raw.len().cmp(&right_raw.len()),
            Some(at) if left_raw[at] < 0x80 && right_raw[at] < 0x80 => {
                return left_raw[at].cmp(&right_raw[at]);
            }
            Some(_) => {}
        }
    }
    let left = decode(left_raw, left.escaped());
    let right = decode(right_raw, right.escaped());
    left.encode_utf16().cmp(right.encode_utf16())
}

/// The value of a string token's inner bytes (between the quotes), which the parser has
/// checked: valid UTF-8 with only canonical escapes.
fn decode(raw: &[u8], escaped: bool) -> Cow<'_, str> {
    // The bytes come from a `str`, cut at ASCII quotes, so they are valid UTF-8.
    let text = String::from_utf8_lossy(raw);
    if !escaped {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = characters.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

impl<'a> Document<'a> {
    /// The root's index.
    pub(crate) const ROOT: usize = 0;

    pub(crate) fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// The recorded members or elements of the object or array at `index`, in order.
    pub(crate) fn children(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.nodes[index].after as usize;
        let mut next = index + 1;
        std::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let child = next;
            next = self.nodes[child].after as usize;
            Some(child)
        })
    }

    /// The member name of the node at `index`, if it is an object member.
    #[cfg(test)]
    pub(crate) fn key(&self, index: usize) -> Option<Cow<'a, str>> {
        let node = &self.nodes[index];
        if node.key.end() == 0 {
            return None;
        }
        Some(self.decode_span(node.key.start(), node.key.end(), node.key.escaped()))
    }

    /// Whether the member name of the node at `index` is exactly `name` (an ASCII name
    /// without characters that need escaping).
    pub(crate) fn key_is(&self, index: usize, name: &str) -> bool {
        let node = &self.nodes[index];
        !node.key.escaped()
            && node.key.end() > node.key.start()
            && short_eq(
                &self.text.as_bytes()[node.key.start() + 1..node.key.end() - 1],
                name.as_bytes(),
            )
    }

    /// The member of the object at `index` named `name`, if it was recorded.
    pub(crate) fn member(&self, index: usize, name: &str) -> Option<usize> {
        self.children(index).find(|&child| self.key_is(child, name))
    }

    /// The text of the value at `index`, exactly as it appears.
    pub(crate) fn raw(&self, index: usize) -> &'a str {
        let node = &self.nodes[index];
        &self.text[node.start as usize..node.end as usize]
    }

    /// The string value at `index`, if it is a string.
    pub(crate) fn str(&self, index: usize) -> Option<Cow<'a, str>> {
        let node = &self.nodes[index];
        let (start, end) = (node.start as usize, node.end as usize);
        match node.kind {
            Kind::String => Some(Cow::Borrowed(&self.text[start + 1..end - 1])),
            Kind::EscapedString => Some(self.decode_span(start, end, true)),
            _ => None,
        }
    }

    /// The value at `index` if it is a non-negative integer. The parser let only integers
    /// of at most 16 digits through, without a leading zero, and below 2^53.
    pub(crate) fn uint(&self, index: usize) -> Option<u64> {
        if self.nodes[index].kind != Kind::Number {
            return None;
        }
        let digits = self.raw(index).as_bytes();
        if digits.first() == Some(&b'-') {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0')),
        )
    }

    /// Whether the value at `index` is a string.
    pub(crate) fn is_string(&self, index: usize) -> bool {
        matches!(self.nodes[index].kind, Kind::String | Kind::EscapedString)
    }

    fn decode_span(&self, start: usize, end: usize, escaped: bool) -> Cow<'a, str> {
        let inner = &self.text[start + 1..end - 1];
        if escaped {
            Cow::Owned(decode(inner.as_bytes(), true).into_owned())
        } else {
            Cow::Borrowed(inner)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::to_canonical_vec;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// The reference: parse with serde_json, re-serialize canonically, compare.
    fn reference_accepts(text: &str) -> bool {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return false;
        };
        to_canonical_vec(&value).is_ok_and(|canonical| canonical == text.as_bytes())
    }

    fn accepts(text: &str) -> bool {
        parse(text, 3, &mut Vec::new()).is_ok()
    }

    #[test]
    fn accepts_canonical_forms_and_rejects_the_rest() {
        let canonical = [
            "null",
            "true",
            "0",
            "-1",
            "9007199254740991",
            "-9007199254740991",
            "\"\"",
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}/é\u{1f600}\"",
            "\" ! two words!  \"",
            "[]",
            "{}",
            "[1,[2,{}],{\"a\":[]}]",
            "{\"\":0,\"a\":1,\"aa\":2,\"b\":{\"c\":null}}",
            "{\"\u{1f600}\":2,\"\u{e000}\":1}",
            "{\"\\n\":1,\"a\":2}",
        ];
        for text in canonical {
            assert!(accepts(text), "{text}");
            assert!(reference_accepts(text), "{text}");
        }
        let not_canonical = [
            " null",
            "null ",
            "[1, 2]",
            "{\"a\": 1}",
            "{\"b\":1,\"a\":2}",
            "{\"a\":1,\"a\":1}",
            "{\"\u{e000}\":1,\"\u{1f600}\":2}",
            "1.0",
            "1e3",
            "-0",
            "01",
            "9007199254740992",
            "-9007199254740992",
            "123456789012345678901234567890",
            "\"\\/\"",
            "\"\\u0041\"",
            "\"\\u000A\"",
            "\"\\u000a\"",
            "\"\\u00e9\"",
            "\"\\ud83d\\ude00\"",
            "\"\u{1}\"",
            "\"a !\tb\"",
            "\"a ! b",
            "\"abc",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\"}",
            "tru",
            "nul",
            "[",
            "",
            "\"\\",
            "\"\\u00",
            "{\"a\":1}}",
        ];
        for text in not_canonical {
            assert!(!accepts(text), "{text:?} accepted");
            assert!(
                !reference_accepts(text),
                "{text:?} accepted by the reference"
            );
        }
    }

    #[test]
    fn word_scans_find_the_first_match_anywhere() {
        for length in 0..40 {
            for at in 0..=length {
                let mut bytes = vec![b'a'; length];
                if at < length {
                    bytes[at] = b'\n';
                }
                let expected = (at < length).then_some(at);
                assert_eq!(find_byte(&bytes, b'\n'), expected, "{length} {at}");
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    let mut bytes = vec![0xc3u8; length];
                    if at < length {
                        bytes[at] = special;
                    }
                    assert_eq!(
                        find_string_special(&bytes, 0),
                        expected.map(|at| (at, special)),
                        "{length} {at} {special}"
                    );
                }
            }
        }
        // Bytes just above the limits are not matches; the space and `!` are (the
        // string reader steps over them).
        assert_eq!(find_string_special(b"#[]^\x7f\x80\xffab", 0), None);
        assert_eq!(
            find_string_special(b"#[]^\x7f\x80\xff!ab", 0),
            Some((7, b'!'))
        );
        assert_eq!(
            find_string_special(b"#[]^\x7f\x80\xffa b", 0),
            Some((8, b' '))
        );
        assert_eq!(find_string_special(b"\"abcdefghij\"", 1), Some((11, b'"')));
        assert_eq!(find_byte(b"\x0b\x09\x8a\x0a", b'\n'), Some(3));
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse(&deep, 3, &mut Vec::new()).unwrap_err().reason,
            "the value is nested too deeply"
        );
        let fine = format!("{}{}", "[".repeat(150), "]".repeat(150));
        assert!(accepts(&fine));
    }

    #[test]
    fn records_spans_keys_and_values_to_the_requested_depth() {
        let value = json!({
            "envelope": { "payload": { "client_id": "c-1", "deep": { "x": 1 } }, "sequence": 7 },
            "leaf": "ab\ncd",
            "type": "event",
        });
        let text = String::from_utf8(to_canonical_vec(&value).unwrap()).unwrap();
        let mut nodes = Vec::new();
        let document = parse(&text, 3, &mut nodes).unwrap();
        let root = Document::ROOT;
        let members: Vec<String> = document
            .children(root)
            .map(|child| document.key(child).unwrap().into_owned())
            .collect();
        assert_eq!(members, ["envelope", "leaf", "type"]);
        let envelope = document.member(root, "envelope").unwrap();
        let payload = document.member(envelope, "payload").unwrap();
        let client = document.member(payload, "client_id").unwrap();
        assert_eq!(document.str(client).unwrap(), "c-1");
        let deep = document.member(payload, "deep").unwrap();
        assert_eq!(document.raw(deep), "{\"x\":1}");
        // Depth 4 is not recorded.
        assert_eq!(document.children(deep).count(), 0);
        let sequence = document.member(envelope, "sequence").unwrap();
        assert_eq!(document.uint(sequence), Some(7));
        let leaf = document.member(root, "leaf").unwrap();
        assert_eq!(document.node(leaf).kind, Kind::EscapedString);
        assert_eq!(document.str(leaf).unwrap(), "ab\ncd");
        assert_eq!(
            document.raw(envelope),
            "{\"payload\":{\"client_id\":\"c-1\",\"deep\":{\"x\":1}},\"sequence\":7}"
        );
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|n| json!(n)),
            "\\PC{0,8}".prop_map(Value::String),
            prop::collection::vec(any::<char>(), 0..6)
                .prop_map(|chars| Value::String(chars.into_iter().collect())),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof!["[a-z]{0,3}", "\\PC{0,3}", ".{0,3}"],
                    inner,
                    0..6
                )
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn accepts_every_canonical_serialization(value in arbitrary_json()) {
            let text = String::from_utf8(to_canonical_vec(&value).unwrap()).unwrap();
            prop_assert!(accepts(&text), "{}", text);
        }

        /// Any one-byte change, insertion or deletion of a canonical text is accepted
        /// exactly when the reference accepts it.
        #[test]
        fn agrees_with_the_reference_on_mutations(
            value in arbitrary_json(),
            position in any::<prop::sample::Index>(),
            byte in prop_oneof![
                Just(b' '), Just(b'"'), Just(b'\\'), Just(b','), Just(b':'), Just(b'0'),
                Just(b'-'), Just(b'.'), Just(b'{'), Just(b'}'), Just(b'['), Just(b']'),
                Just(b'u'), Just(b'a'), Just(b'A'), Just(0x1f), any::<u8>()
            ],
            operation in 0..3u8,
        ) {
            let canonical = to_canonical_vec(&value).unwrap();
            let mut bytes = canonical.clone();
            let at = position.index(bytes.len() + 1);
            match operation {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => bytes.push(byte),
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                prop_assert_eq!(accepts(text), reference_accepts(text), "{:?}", text);
            }
        }

        #[test]
        fn agrees_with_the_reference_on_arbitrary_text(text in "[\\[\\]{}\",:0-9a-z\\\\ .\\-]{0,24}") {
            prop_assert_eq!(accepts(&text), reference_accepts(&text), "{:?}", text);
        }
    }
}
