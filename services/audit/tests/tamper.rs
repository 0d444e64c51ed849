//! Tampering with a real bundle, written by the crate's own writer from a synthetic tenant
//! log: every kind of edit is detected and named, and random mutations never verify.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod support;

use confide_audit::bundle::{BundleError, BundleHeader, BundleWriter, Filter};
use confide_audit::envelope::Envelope;
use confide_audit::merkle;
use confide_audit::verify::{
    EventSink, PreviousSource, VerifiedBundle, VerifiedEvent, VerifyError, VerifyOptions,
    verify_bundle,
};
use proptest::prelude::*;
use support::mutation::{apply, mutation};
use support::{Export, Tree, checkpoint_note, lines, operator, reseal, stranger};

fn trusted() -> VerifyOptions {
    VerifyOptions {
        trusted_keys: vec![operator().verifier()],
        previous: None,
    }
}

fn verify(bundle: &[u8], options: &VerifyOptions) -> Result<VerifiedBundle, VerifyError> {
    verify_bundle(bundle, options, &mut ())
}

struct Log {
    envelopes: Vec<Envelope>,
    tree: Tree,
}

fn log(clients: usize) -> Log {
    let envelopes = support::synthetic_log(clients);
    let tree = Tree::new(&envelopes);
    Log { envelopes, tree }
}

/// The filter for client `n` with the streams created for it.
fn client_filter(n: usize) -> Filter {
    with_client(Filter::everything(), n)
}

fn with_client(filter: Filter, n: usize) -> Filter {
    filter
        .with_subject("client", support::client_id(n))
        .with_subject("consent", support::consent_id(n))
        .with_subject("recording", support::recording_id(n))
        .with_subject("grant", support::grant_id(n))
}

/// The index of the first line whose text contains `needle`.
fn line_with(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle}"))
}

fn event_lines(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| lines[i].ends_with("\"type\":\"event\"}"))
        .collect()
}

#[test]
fn a_complete_bundle_of_a_few_hundred_events_verifies() {
    let log = log(40);
    assert!(log.envelopes.len() > 400, "{}", log.envelopes.len());
    let signer = operator();
    let bundle = Export::everything(&log.envelopes, &log.tree, &signer).write();

    struct Collect(Vec<u64>);
    impl EventSink for Collect {
        fn event(&mut self, event: &VerifiedEvent<'_>) {
            self.0.push(event.sequence());
        }
    }
    let mut seen = Collect(Vec::new());
    let verified = verify_bundle(&bundle[..], &trusted(), &mut seen).unwrap();
    let size = log.envelopes.len() as u64;
    assert_eq!(verified.events, size);
    assert_eq!(verified.checkpoint.size, size);
    assert_eq!(verified.checkpoint.root, log.tree.root(size));
    assert_eq!(verified.hidden_in_scan, 0);
    assert!(verified.keys_trusted);
    assert_eq!(verified.signed_by, vec![operator().verifier()]);
    assert_eq!(seen.0, (0..size).collect::<Vec<_>>());
    // Header, key, checkpoint, one line per event, end.
    assert_eq!(verified.lines, size + 4);

    // Without trusted keys it verifies against its own keys, and says so.
    let own = verify(&bundle, &VerifyOptions::default()).unwrap();
    assert!(!own.keys_trusted);
    assert!(own.to_string().contains("the bundle's own"));
}

#[test]
fn a_filtered_bundle_discloses_exactly_the_matching_events() {
    let log = log(30);
    let signer = operator();
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.filter = client_filter(6);
    export.scan = 10..log.envelopes.len() as u64 - 5;
    let bundle = export.write();
    let verified = verify(&bundle, &trusted()).unwrap();
    let expected: Vec<u64> = log.envelopes[export.scan.start as usize..export.scan.end as usize]
        .iter()
        .filter(|envelope| export.filter.matches(envelope))
        .map(|envelope| envelope.sequence)
        .collect();
    assert!(expected.len() >= 10, "{expected:?}");
    assert_eq!(verified.events, expected.len() as u64);
    assert_eq!(
        verified.hidden_in_scan,
        export.scan.end - export.scan.start - expected.len() as u64
    );
    assert_eq!(verified.outside_scan, 15);
    // Skip lines are few: a run of hidden leaves costs a few hashes, not a line per leaf.
    let all = lines(&bundle);
    assert!(all.len() < 2 * expected.len() + 10, "{} lines", all.len());

    // A time window on top.
    let mut timed = Export::everything(&log.envelopes, &log.tree, &signer);
    timed.filter = Filter::everything().recorded_between(
        Some(support::timestamp(50_000)),
        Some(support::timestamp(100_000)),
    );
    let verified = verify(&timed.write(), &trusted()).unwrap();
    assert_eq!(verified.events, 40);
}

#[test]
fn the_writer_refuses_a_client_filter_that_leaves_out_the_clients_streams() {
    let log = log(5);
    let signer = operator();
    let size = log.envelopes.len() as u64;
    let header = BundleHeader {
        tenant_id: support::TENANT.to_owned(),
        filter: Filter::everything().with_subject("client", support::client_id(2)),
        scan: 0..size,
        exported_at: "2025-03-01T12:00:00.000000Z".to_owned(),
        generator: "test".to_owned(),
    };
    let note = checkpoint_note(&signer, size, log.tree.root(size));
    let mut writer =
        BundleWriter::new(Vec::new(), &header, &[signer.verifier()], &note, None).unwrap();
    let error = log
        .envelopes
        .iter()
        .find_map(|envelope| writer.push_envelope(envelope).err())
        .unwrap();
    assert!(
        matches!(&error, BundleError::FilterNotClosed { stream_id, .. } if stream_id == &format!("consent-{}", support::consent_id(2))),
        "{error}"
    );
}

#[test]
fn the_writer_refuses_leaves_that_are_not_the_logs() {
    let log = log(5);
    let signer = operator();
    let size = log.envelopes.len() as u64;
    let note = checkpoint_note(&signer, size, log.tree.root(size));
    let header = BundleHeader {
        tenant_id: support::TENANT.to_owned(),
        filter: Filter::everything(),
        scan: 0..size,
        exported_at: "2025-03-01T12:00:00.000000Z".to_owned(),
        generator: "test".to_owned(),
    };
    let mut writer =
        BundleWriter::new(Vec::new(), &header, &[signer.verifier()], &note, None).unwrap();
    for envelope in &log.envelopes {
        let mut envelope = envelope.clone();
        if envelope.sequence == 7 {
            envelope.payload["at"] = serde_json::json!("2030-01-01T00:00:00Z");
        }
        writer.push_envelope(&envelope).unwrap();
    }
    assert!(matches!(
        writer.finish(),
        Err(BundleError::RootMismatch { .. })
    ));
}

// -------------------------------------------------------------------------------------
// Each tampering, detected and named.

fn honest() -> (Log, Vec<String>) {
    let log = log(20);
    let signer = operator();
    let bundle = Export::everything(&log.envelopes, &log.tree, &signer).write();
    verify(&bundle, &trusted()).unwrap();
    (log, lines(&bundle))
}

fn verify_lines(lines: &[String]) -> Result<VerifiedBundle, VerifyError> {
    verify(&support::join(lines), &trusted())
}

#[test]
fn an_edited_payload_byte_is_named_payload_altered() {
    let (log, mut lines) = honest();
    let index = line_with(&lines, "\"type\":\"PlaybackStarted\"");
    let sequence = (index - 3) as u64;
    assert_eq!(
        log.envelopes[sequence as usize].event_type,
        "PlaybackStarted"
    );
    lines[index] = lines[index].replacen("\"user_id\":\"ada\"", "\"user_id\":\"adb\"", 1);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::PayloadAltered {
            line: index as u64 + 1,
            sequence
        }
    );
}

#[test]
fn an_edit_with_a_recomputed_leaf_and_digest_fails_the_inclusion_proof() {
    let (_, mut lines) = honest();
    let index = line_with(&lines, "\"type\":\"ConsentWithdrawn\"");
    let edited = lines[index].replacen(
        "\"deletion_requested\":true",
        "\"deletion_requested\":false",
        1,
    );
    let envelope_end = edited.rfind(",\"leaf\":").unwrap();
    let envelope = &edited["{\"envelope\":".len()..envelope_end];
    let leaf = hex::encode(merkle::leaf_hash(envelope.as_bytes()));
    lines[index] = format!("{{\"envelope\":{envelope},\"leaf\":\"{leaf}\",\"type\":\"event\"}}");
    reseal(&mut lines);
    let error = verify_lines(&lines).unwrap_err();
    assert!(
        matches!(
            error,
            VerifyError::BadInclusionProof {
                checkpoint_line: 3,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_dropped_event_is_named_event_dropped() {
    let (_, mut lines) = honest();
    let events = event_lines(&lines);
    let dropped = events[100];
    lines.remove(dropped);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventDropped {
            line: dropped as u64 + 1,
            expected_sequence: 100
        }
    );
    // The last event too: the end line finds the gap.
    let (_, mut lines) = honest();
    let last = *event_lines(&lines).last().unwrap();
    let sequence = (last - 3) as u64;
    lines.remove(last);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventDropped {
            line: last as u64 + 1,
            expected_sequence: sequence
        }
    );
}

#[test]
fn two_swapped_events_are_named_events_out_of_order() {
    let (_, mut lines) = honest();
    let events = event_lines(&lines);
    lines.swap(events[50], events[51]);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventsOutOfOrder {
            line: events[51] as u64 + 1,
            sequence: 50
        }
    );
    // Far apart.
    let (_, mut lines) = honest();
    lines.swap(events[10], events[90]);
    reseal(&mut lines);
    assert!(matches!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventsOutOfOrder { sequence: 10, .. }
    ));
}

#[test]
fn an_inserted_event_is_named_event_inserted() {
    // A copy of an event, edited and resealed so that only its position gives it away.
    let (_, mut lines) = honest();
    let index = line_with(&lines, "\"type\":\"PlaybackRefused\"");
    let sequence = (index - 3) as u64;
    let forged = lines[index].replacen("icf-assessor", "icf-assessor-2", 1);
    let envelope_end = forged.rfind(",\"leaf\":").unwrap();
    let envelope = &forged["{\"envelope\":".len()..envelope_end];
    let leaf = hex::encode(merkle::leaf_hash(envelope.as_bytes()));
    let forged = format!("{{\"envelope\":{envelope},\"leaf\":\"{leaf}\",\"type\":\"event\"}}");
    lines.insert(index + 1, forged.clone());
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventInserted {
            line: index as u64 + 2,
            sequence
        }
    );
    // The same forgery placed before the original: the original is the second claim.
    let (_, mut lines) = honest();
    lines.insert(index, forged);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventInserted {
            line: index as u64 + 2,
            sequence
        }
    );
    // An event appended with a fresh sequence number beyond the tree.
    let (log, mut lines) = honest();
    let size = log.envelopes.len() as u64;
    let mut extra = log.envelopes[5].clone();
    extra.sequence = size;
    let bytes = extra.canonical_bytes().unwrap();
    let line = format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    );
    let end = lines.len() - 1;
    lines.insert(end, line);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventInserted {
            line: end as u64 + 1,
            sequence: size
        }
    );
    // An event inserted early with a later sequence number, whose real line follows.
    let (_, mut lines) = honest();
    let events = event_lines(&lines);
    let copy = lines[events[200]].clone();
    lines.insert(events[20], copy);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::EventInserted {
            line: events[20] as u64 + 1,
            sequence: 200
        }
    );
}

#[test]
fn a_truncated_tail_is_named_truncated() {
    let (_, lines) = honest();
    let bundle = support::join(&lines);
    // At a line boundary: the end line is missing.
    let without_end = support::join(&lines[..lines.len() - 1]);
    assert_eq!(
        verify(&without_end, &trusted()).unwrap_err(),
        VerifyError::Truncated {
            line: lines.len() as u64
        }
    );
    // In the middle of a line, and just before the final newline.
    for cut in [bundle.len() / 2, bundle.len() - 1, 1] {
        let error = verify(&bundle[..cut], &trusted()).unwrap_err();
        assert!(
            matches!(error, VerifyError::Truncated { .. }),
            "cut at {cut}: {error}"
        );
    }
    assert_eq!(
        verify(b"", &trusted()).unwrap_err(),
        VerifyError::Truncated { line: 1 }
    );
}

#[test]
fn a_checkpoint_signed_by_another_key_is_named_unknown_signer() {
    let log = log(10);
    let impostor = stranger();
    let bundle = Export::everything(&log.envelopes, &log.tree, &impostor).write();
    // It verifies against its own key…
    verify(&bundle, &VerifyOptions::default()).unwrap();
    // …but not against the operator's.
    let error = verify(&bundle, &trusted()).unwrap_err();
    assert_eq!(
        error,
        VerifyError::UnknownSigner {
            line: 3,
            signed_by: vec![format!("confide.example+{:08x}", impostor.key_id())]
        }
    );
    // Listing the operator's key in the bundle beside the impostor's changes nothing.
    let mut export = Export::everything(&log.envelopes, &log.tree, &impostor);
    export.keys = vec![operator().verifier(), impostor.verifier()];
    assert!(matches!(
        verify(&export.write(), &trusted()).unwrap_err(),
        VerifyError::UnknownSigner { line: 4, .. }
    ));
}

#[test]
fn an_edited_checkpoint_is_named_bad_checkpoint_signature() {
    let (log, mut lines) = honest();
    let size = log.envelopes.len();
    lines[2] = lines[2].replacen(&format!("\\n{size}\\n"), &format!("\\n{}\\n", size - 1), 1);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::BadCheckpointSignature {
            line: 3,
            key: operator().verifier().to_string()
        }
    );
}

#[test]
fn an_old_checkpoint_replayed_as_new_is_named_checkpoint_rollback() {
    let log = log(20);
    let signer = operator();
    let size = log.envelopes.len() as u64;
    let old_size = size - 40;
    // The auditor last saw the full log; the operator now hands over a bundle of an older
    // checkpoint (as if the last 40 events never happened).
    let seen_last_time = checkpoint_note(&signer, size, log.tree.root(size));
    let mut stale = Export::everything(&log.envelopes[..old_size as usize], &log.tree, &signer);
    stale.size = old_size;
    let bundle = stale.write();
    verify(&bundle, &trusted()).unwrap();
    let options = VerifyOptions {
        previous: Some(seen_last_time),
        ..trusted()
    };
    assert_eq!(
        verify(&bundle, &options).unwrap_err(),
        VerifyError::CheckpointRollback {
            line: 0,
            previous_size: size,
            bundle_size: old_size
        }
    );

    // A bundle whose own "previous" checkpoint is newer than its checkpoint.
    let mut lines = lines(&bundle);
    let newer = checkpoint_note(&signer, size, log.tree.root(size));
    let consistency = serde_json::json!({"note": newer, "proof": [], "type": "consistency"});
    lines.insert(
        3,
        String::from_utf8(confide_audit::canonical::to_canonical_vec(&consistency).unwrap())
            .unwrap(),
    );
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::CheckpointRollback {
            line: 4,
            previous_size: size,
            bundle_size: old_size
        }
    );
}

#[test]
fn a_consistency_proof_between_unrelated_trees_is_named_inconsistent_trees() {
    let log = log(20);
    let signer = operator();
    let size = log.envelopes.len() as u64;
    let old_size = 100;
    let old_note = checkpoint_note(&signer, old_size, log.tree.root(old_size));
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.previous = Some((old_note.clone(), log.tree.consistency(old_size, size)));
    let bundle = export.write();
    // It verifies, alone and against the auditor's previous checkpoint.
    let verified = verify(
        &bundle,
        &VerifyOptions {
            previous: Some(old_note),
            ..trusted()
        },
    )
    .unwrap();
    assert_eq!(verified.extends.len(), 2);
    assert_eq!(verified.extends[0].source, PreviousSource::Bundle);
    assert_eq!(verified.extends[1].source, PreviousSource::Auditor);

    // Another history of the same log (one event different), signed by the same key: a
    // split view. Its checkpoint of the same size is not a prefix of the bundle's tree.
    let mut other = log.envelopes[..old_size as usize].to_vec();
    other[42].payload["at"] = serde_json::json!("2025-01-06T11:11:11Z");
    let other_tree = Tree::new(&other);
    let forked = checkpoint_note(&signer, old_size, other_tree.root(old_size));

    // As the auditor's previous checkpoint: the bundle proves consistency from another root.
    let error = verify(
        &bundle,
        &VerifyOptions {
            previous: Some(forked.clone()),
            ..trusted()
        },
    )
    .unwrap_err();
    assert!(
        matches!(error, VerifyError::InconsistentTrees { line: 0, .. }),
        "{error}"
    );

    // As the bundle's own previous checkpoint, with the real tree's proof.
    let mut lines = lines(&bundle);
    let proof: Vec<String> = log
        .tree
        .consistency(old_size, size)
        .iter()
        .map(hex::encode)
        .collect();
    let consistency = serde_json::json!({"note": forked, "proof": proof, "type": "consistency"});
    lines[3] = String::from_utf8(confide_audit::canonical::to_canonical_vec(&consistency).unwrap())
        .unwrap();
    reseal(&mut lines);
    let error = verify_lines(&lines).unwrap_err();
    assert!(
        matches!(error, VerifyError::InconsistentTrees { line: 4, .. }),
        "{error}"
    );

    // The same size with a different root, given as --previous without any proof.
    let mut small = Export::everything(&log.envelopes[..old_size as usize], &log.tree, &signer);
    small.size = old_size;
    let error = verify(
        &small.write(),
        &VerifyOptions {
            previous: Some(forked),
            ..trusted()
        },
    )
    .unwrap_err();
    assert!(
        matches!(error, VerifyError::InconsistentTrees { line: 0, .. }),
        "{error}"
    );

    // A previous checkpoint the bundle has no proof from.
    let unproven = checkpoint_note(&signer, 50, log.tree.root(50));
    assert_eq!(
        verify(
            &bundle,
            &VerifyOptions {
                previous: Some(unproven),
                ..trusted()
            }
        )
        .unwrap_err(),
        VerifyError::ConsistencyProofMissing {
            previous_size: 50,
            bundle_size: size
        }
    );
}

#[test]
fn other_tampering_is_named_too() {
    // A line that is JSON but not canonical.
    let (_, mut lines) = honest();
    lines[5] = lines[5].replacen("{\"envelope\":{", "{\"envelope\": {", 1);
    assert!(matches!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::NotCanonical { line: 6, .. }
    ));
    // A line that is not JSON.
    let (_, mut lines) = honest();
    lines[5].truncate(40);
    assert!(matches!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::Malformed { line: 6, .. }
    ));
    // An edited header: only the digest notices.
    let (_, mut lines) = honest();
    lines[0] = lines[0].replacen("confide-audit tests", "confide-audit tests!", 1);
    let end = lines.len() as u64;
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::DigestMismatch { line: end }
    );
    // Wrong counts.
    let (_, mut lines) = honest();
    let last = lines.len() - 1;
    lines[last] = lines[last].replacen("\"events\":", "\"events\":1", 1);
    assert!(matches!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::CountMismatch { .. }
    ));
    // Data after the end line.
    let (_, mut lines) = honest();
    lines.push(lines[lines.len() - 1].clone());
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::TrailingData {
            line: lines.len() as u64
        }
    );
    // Data after the end line that is not a line, or not JSON: data after the end line all
    // the same, not a truncated or malformed bundle.
    let (_, lines) = honest();
    for tail in [&b"x"[..], b"not json\n", b"\n"] {
        let mut bytes = support::join(&lines);
        bytes.extend_from_slice(tail);
        assert_eq!(
            verify(&bytes, &trusted()).unwrap_err(),
            VerifyError::TrailingData {
                line: lines.len() as u64 + 1
            },
            "{tail:?}"
        );
    }
    // Another tenant's event.
    let (log, mut lines) = honest();
    let mut foreign = log.envelopes[30].clone();
    foreign.tenant_id = "another-tenant".to_owned();
    let bytes = foreign.canonical_bytes().unwrap();
    lines[33] = format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    );
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::WrongTenant {
            line: 34,
            sequence: 30,
            tenant_id: "another-tenant".to_owned()
        }
    );
    // Version 0 of a stream: versions start at 1.
    let (log, mut lines) = honest();
    let mut zero = log.envelopes[30].clone();
    zero.stream_version = 0;
    let bytes = zero.canonical_bytes().unwrap();
    lines[33] = format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    );
    reseal(&mut lines);
    assert!(
        matches!(
            verify_lines(&lines).unwrap_err(),
            VerifyError::Malformed { line: 34, .. }
        ),
        "stream version 0"
    );
    // A skip line with the wrong number of hashes is malformed wherever it lies, beyond the
    // tree too.
    let (log, mut lines) = honest();
    let size = log.envelopes.len() as u64;
    let tiles = merkle::range_nodes(size - 3, size + 1).count();
    let hashes = vec![hex::encode(log.tree.leaves[0]); tiles + 1];
    let last_events = lines.len() - 4..lines.len() - 1;
    lines.splice(
        last_events,
        [String::from_utf8(
            confide_audit::canonical::to_canonical_vec(&serde_json::json!({
                "end": size + 1, "hashes": hashes, "start": size - 3, "type": "skip"
            }))
            .unwrap(),
        )
        .unwrap()],
    );
    reseal(&mut lines);
    let skip_line = lines.len() as u64 - 1;
    assert!(
        matches!(verify_lines(&lines).unwrap_err(), VerifyError::Malformed { line, .. } if line == skip_line),
        "a skip line beyond the tree with one hash too many"
    );
    // A version this verifier does not know.
    let (_, mut lines) = honest();
    lines[0] = lines[0].replacen("\"version\":1", "\"version\":2", 1);
    assert!(matches!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::UnsupportedVersion {
            line: 1,
            version: 2,
            ..
        }
    ));
}

#[test]
fn a_filtered_bundle_cannot_disclose_or_hide_what_its_filter_does_not_say() {
    let log = log(20);
    let signer = operator();
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.filter = client_filter(4);
    let bundle = export.write();
    verify(&bundle, &trusted()).unwrap();
    let mut lines = lines(&bundle);

    // Replace a skipped run by its (non-matching) events, disclosed.
    let skip = lines
        .iter()
        .rposition(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&lines[skip]).unwrap();
    let (start, end) = (
        value["start"].as_u64().unwrap(),
        value["end"].as_u64().unwrap(),
    );
    let disclosed: Vec<String> = log.envelopes[start as usize..end as usize]
        .iter()
        .map(|envelope| {
            let bytes = envelope.canonical_bytes().unwrap();
            format!(
                "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
                String::from_utf8(bytes.clone()).unwrap(),
                hex::encode(merkle::leaf_hash(&bytes))
            )
        })
        .collect();
    lines.splice(skip..=skip, disclosed);
    reseal(&mut lines);
    assert_eq!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::FilterMismatch {
            line: skip as u64 + 1,
            sequence: start,
            reason: None
        }
    );

    // A header whose filter no longer lists the client's grant: the grant's creation is
    // disclosed, its later events would not be.
    let mut lines = support::lines(&bundle);
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    header["filter"]["subjects"]
        .as_object_mut()
        .unwrap()
        .remove("grant");
    lines[0] =
        String::from_utf8(confide_audit::canonical::to_canonical_vec(&header).unwrap()).unwrap();
    reseal(&mut lines);
    let granted = line_with(&lines, "\"event_type\":\"AccessGranted\"");
    let error = verify_lines(&lines).unwrap_err();
    assert!(
        matches!(
            &error,
            VerifyError::FilterNotClosed { line, stream_id, .. }
                if *line == granted as u64 + 1 && stream_id == &format!("grant-{}", support::grant_id(4))
        ),
        "{error}"
    );

    // A hash of a skipped run that is not the log's.
    let mut lines = support::lines(&bundle);
    let skip = lines
        .iter()
        .rposition(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let at = lines[skip].find("\"hashes\":[\"").unwrap() + 11;
    let flipped = if &lines[skip][at..at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    lines[skip].replace_range(at..at + 1, flipped);
    reseal(&mut lines);
    assert!(matches!(
        verify_lines(&lines).unwrap_err(),
        VerifyError::BadInclusionProof { .. }
    ));
}

// -------------------------------------------------------------------------------------
// Fuzzing: random mutations of a valid bundle never verify and never panic.

fn fuzz_bundle() -> &'static [u8] {
    static BUNDLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BUNDLE.get_or_init(|| {
        let log = log(8);
        let signer = operator();
        let size = log.envelopes.len() as u64;
        let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
        export.filter = with_client(client_filter(3), 5);
        export.scan = 3..size - 2;
        let old_note = checkpoint_note(&signer, 20, log.tree.root(20));
        export.previous = Some((old_note, log.tree.consistency(20, size)));
        let bundle = export.write();
        let verified = verify(&bundle, &trusted()).unwrap();
        assert!(verified.events > 10 && verified.hidden_in_scan > 10);
        bundle
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_bundles_never_verify(mutations in prop::collection::vec(mutation(), 1..4)) {
        let original = fuzz_bundle();
        let mutated = apply(original, &mutations);
        let result = verify(&mutated, &trusted());
        if mutated != original {
            prop_assert!(result.is_err(), "a mutated bundle verified: {:?}", mutations);
        } else {
            prop_assert!(result.is_ok());
        }
        // Without trusted keys, and with the reports attached, the same holds.
        let mut sinks = (confide_audit::report::ConsentTrail::new(), ());
        let result = verify_bundle(&mutated[..], &VerifyOptions::default(), &mut sinks);
        prop_assert_eq!(result.is_ok(), mutated == original);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_verifier(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(verify(&bytes, &trusted()).is_err());
    }

    /// Arbitrary lines after a valid prefix: the parser meets hostile text in every
    /// position of the grammar.
    #[test]
    fn hostile_lines_never_panic_the_verifier(
        keep in 0usize..12,
        junk in prop::collection::vec("[\\[\\]{}\",:0-9a-z\\\\ .\\-]{0,40}", 1..4),
    ) {
        let original = lines(fuzz_bundle());
        let mut mutated: Vec<String> = original[..keep.min(original.len())].to_vec();
        mutated.extend(junk);
        prop_assert!(verify(&support::join(&mutated), &trusted()).is_err());
    }
}
