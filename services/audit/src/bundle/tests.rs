//! Tests of the filter, the hex spelling of hashes, and the writer and reader together.

use std::borrow::Cow;
use std::io::{self, Read};

use serde_json::{Value, json};

use super::line::hex_word;
use super::*;
use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::envelope::Envelope;
use crate::merkle::{self, CompactRange, Frontier, Hash};

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
