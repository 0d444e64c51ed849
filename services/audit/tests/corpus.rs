//! The tamper corpus as files, and the second verifier held to it.
//!
//! Writes every tampering class of `tamper.rs` and `receipt.rs` (bundles and consent
//! receipts), a fixed-seed sample of the fuzzer's mutations, and untampered bundles of several
//! sizes and filters into a directory (`CONFIDE_CORPUS_DIR`, else `confide-corpus` in Cargo's
//! temporary directory for tests), with `manifest.json` saying what this crate's verifier
//! concluded for each. Then the JavaScript
//! verifier (`services/web/assets/verify/`) must conclude the same: under Node
//! (`services/web/tests/js/`) and in Chromium (`services/web/tests/browser/`). With `CI=true`
//! a missing `node` or browser fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use confide_audit::bundle::Filter;
use confide_audit::checkpoint::{Checkpoint, NoteVerifier};
use confide_audit::envelope::Envelope;
use confide_audit::merkle;
use confide_audit::receipt::{
    ReceiptError, ReceiptProof, UNPROVEN_MEMBERS, check_receipt_claims, verify_receipt_proof,
};
use confide_audit::report::ConsentTrail;
use confide_audit::verify::{VerifyOptions, verify_bundle};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use support::mutation::{apply, mutation};
use support::{
    Export, ReceiptCase, Tree, checkpoint_note, expiries, join, lines, operator, reseal, stranger,
};

/// Mutated bundles drawn from the fuzzer's strategy, and hostile tails; more with
/// `CONFIDE_CORPUS_MUTATIONS=N` (N mutated bundles and N / 4 hostile tails).
const MUTATED_CASES: usize = 160;

fn mutated_cases() -> usize {
    std::env::var("CONFIDE_CORPUS_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(MUTATED_CASES)
}

struct Corpus {
    dir: PathBuf,
    cases: Vec<Value>,
}

fn canonical(value: &Value) -> String {
    String::from_utf8(confide_audit::canonical::to_canonical_vec(value).unwrap()).unwrap()
}

fn event_line(envelope: &Envelope) -> String {
    let bytes = envelope.canonical_bytes().unwrap();
    format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    )
}

/// The name of a receipt error's variant, e.g. `ClaimMismatch`.
fn variant(error: &ReceiptError) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap()
        .to_owned()
}

impl Corpus {
    fn new(dir: PathBuf) -> Self {
        let cases = dir.join("cases");
        if cases.exists() {
            std::fs::remove_dir_all(&cases).unwrap();
        }
        std::fs::create_dir_all(&cases).unwrap();
        Self {
            dir,
            cases: Vec::new(),
        }
    }

    fn write(&self, file: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join("cases").join(file), bytes).unwrap();
    }

    /// A bundle case: the file, the options, and what `verify_bundle` concludes.
    fn bundle(&mut self, class: &str, name: &str, bytes: &[u8], options: &VerifyOptions) {
        let name = format!("bundle-{name}");
        let file = format!("{name}.jsonl");
        self.write(&file, bytes);
        let previous = options.previous.as_ref().map(|note| {
            let file = format!("{name}.previous");
            self.write(&file, note.as_bytes());
            file
        });
        let mut trail = ConsentTrail::new();
        let expect = match verify_bundle(bytes, options, &mut trail) {
            Ok(verified) => {
                let summary = trail.finish(&verified).unwrap();
                let mut consents = 0;
                let (mut accesses, mut refusals) = (0, 0);
                for client in summary.clients.values() {
                    consents += client.consents.len();
                    for recording in client.recordings.values() {
                        accesses += recording.accesses.len();
                        refusals += recording
                            .accesses
                            .iter()
                            .filter(|access| access.outcome.starts_with("refused"))
                            .count();
                    }
                }
                json!({
                    "ok": true,
                    "summary": {
                        "events": verified.events,
                        "consents": consents,
                        "accesses": accesses,
                        "refusals": refusals,
                        "hiddenInScan": verified.hidden_in_scan,
                        "outsideScan": verified.outside_scan,
                        "lines": verified.lines,
                        "treeSize": verified.checkpoint.size,
                        "root": hex::encode(verified.checkpoint.root),
                        "origin": verified.checkpoint.origin,
                        "keysTrusted": verified.keys_trusted,
                        "extends": verified.extends.len(),
                    }
                })
            }
            Err(error) => json!({
                "ok": false,
                "failures": [error.name()],
                "line": error.line(),
                "detail": error.to_string(),
            }),
        };
        self.cases.push(json!({
            "name": name,
            "class": class,
            "kind": "bundle",
            "file": format!("cases/{file}"),
            "trustedKeys": options.trusted_keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "previous": previous.map(|file| format!("cases/{file}")),
            "expect": expect,
        }));
    }

    /// A receipt case: the answer of `consentReceipt` (or a proof alone), the keys, and what
    /// `confide-verify --receipt` concludes.
    fn receipt(&mut self, class: &str, name: &str, answer: &Value, trusted: &[NoteVerifier]) {
        let name = format!("receipt-{name}");
        let file = format!("{name}.json");
        self.write(&file, answer.to_string().as_bytes());
        let expect = receipt_verdict(answer, trusted);
        self.cases.push(json!({
            "name": name,
            "class": class,
            "kind": "receipt",
            "file": format!("cases/{file}"),
            "trustedKeys": trusted.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "previous": null,
            "expect": expect,
        }));
    }

    fn finish(self) -> PathBuf {
        let manifest = json!({
            "format": "confide-verifier-corpus",
            "version": 1,
            "cases": self.cases,
        });
        std::fs::write(
            self.dir.join("manifest.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        self.dir
    }
}

/// What `confide-verify --receipt FILE --trusted-key …` concludes, as data: the failure's
/// name (`MalformedProof`, `ReceiptProof`, `ReceiptMismatch`), the receipt error's variant, and
/// the member it names.
fn receipt_verdict(json: &Value, trusted: &[NoteVerifier]) -> Value {
    let answer = json
        .pointer("/data/consentReceipt")
        .or_else(|| json.get("consentReceipt"))
        .unwrap_or(json);
    let (receipt, proof) = match answer.get("proof") {
        Some(proof) => (answer.get("receipt"), proof),
        None => (None, answer),
    };
    let failed = |name: &str, error: Option<&ReceiptError>| {
        let claim = match error {
            Some(
                ReceiptError::ClaimMismatch { claim, .. }
                | ReceiptError::MissingClaim { claim, .. }
                | ReceiptError::UnprovableClaim { claim, .. },
            ) => Value::from(claim.as_str()),
            Some(ReceiptError::UnknownMember { member }) => Value::from(member.as_str()),
            _ => Value::Null,
        };
        json!({
            "ok": false,
            "failures": [name],
            "reason": error.map(variant),
            "claim": claim,
            "detail": error.map(ToString::to_string),
        })
    };
    let proof: ReceiptProof = match serde_json::from_value(proof.clone()) {
        Ok(proof) => proof,
        Err(_) => return failed("MalformedProof", None),
    };
    let verified = match verify_receipt_proof(&proof, trusted) {
        Ok(verified) => verified,
        Err(error) => return failed("ReceiptProof", Some(&error)),
    };
    if let Some(receipt) = receipt
        && let Err(error) = check_receipt_claims(receipt, &verified)
    {
        return failed("ReceiptMismatch", Some(&error));
    }
    json!({
        "ok": true,
        "summary": {
            "events": verified.events.len(),
            "treeSize": verified.checkpoint.size,
            "root": hex::encode(verified.checkpoint.root),
            "stream": verified.given().stream_id,
            "receiptChecked": receipt.is_some(),
        }
    })
}

// -------------------------------------------------------------------------------------
// Bundles.

fn trusted() -> VerifyOptions {
    VerifyOptions {
        trusted_keys: vec![operator().verifier()],
        previous: None,
    }
}

fn with_previous(note: String) -> VerifyOptions {
    VerifyOptions {
        previous: Some(note),
        ..trusted()
    }
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

fn with_client(filter: Filter, n: usize) -> Filter {
    filter
        .with_subject("client", support::client_id(n))
        .with_subject("consent", support::consent_id(n))
        .with_subject("recording", support::recording_id(n))
        .with_subject("grant", support::grant_id(n))
}

fn line_with(lines: &[String], needle: &str) -> usize {
    lines.iter().position(|line| line.contains(needle)).unwrap()
}

fn event_lines(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| lines[i].ends_with("\"type\":\"event\"}"))
        .collect()
}

fn untampered(corpus: &mut Corpus) {
    let class = "valid";
    let signer = operator();
    for clients in [0, 1, 3, 20, 40] {
        let log = log(clients);
        let bundle = Export::everything(&log.envelopes, &log.tree, &signer).write();
        corpus.bundle(
            class,
            &format!("complete-{clients}-clients"),
            &bundle,
            &trusted(),
        );
    }
    // Small trees of every shape: sizes 1 to 9 and a power of two.
    let log20 = log(20);
    for size in [1usize, 2, 3, 4, 5, 7, 8, 9, 64] {
        let envelopes = &log20.envelopes[..size];
        let tree = Tree::new(envelopes);
        let bundle = Export::everything(envelopes, &tree, &signer).write();
        corpus.bundle(class, &format!("size-{size}"), &bundle, &trusted());
    }
    // The bundle's own keys only.
    let log10 = self::log(10);
    let bundle = Export::everything(&log10.envelopes, &log10.tree, &signer).write();
    corpus.bundle(class, "own-keys", &bundle, &VerifyOptions::default());
    // Filtered by client, scanning part of the log.
    let log30 = log(30);
    let size = log30.envelopes.len() as u64;
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = with_client(Filter::everything(), 6);
    export.scan = 10..size - 5;
    corpus.bundle(class, "client-filter", &export.write(), &trusted());
    // Two clients, the whole log.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = with_client(with_client(Filter::everything(), 3), 17);
    corpus.bundle(class, "two-clients", &export.write(), &trusted());
    // A time window.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = Filter::everything().recorded_between(
        Some(support::timestamp(50_000)),
        Some(support::timestamp(100_000)),
    );
    corpus.bundle(class, "time-window", &export.write(), &trusted());
    // A time window and a client.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter =
        with_client(Filter::everything(), 2).recorded_between(Some(support::timestamp(0)), None);
    corpus.bundle(class, "client-from", &export.write(), &trusted());
    // With a consistency line, checked alone and against the auditor's previous checkpoint.
    let size = log20.envelopes.len() as u64;
    let old_note = checkpoint_note(&signer, 100, log20.tree.root(100));
    let mut export = Export::everything(&log20.envelopes, &log20.tree, &signer);
    export.previous = Some((old_note.clone(), log20.tree.consistency(100, size)));
    let bundle = export.write();
    corpus.bundle(class, "consistency", &bundle, &trusted());
    corpus.bundle(
        class,
        "consistency-previous",
        &bundle,
        &with_previous(old_note),
    );
    // The previous checkpoint is the bundle's own.
    let same = checkpoint_note(&signer, size, log20.tree.root(size));
    let bundle = Export::everything(&log20.envelopes, &log20.tree, &signer).write();
    corpus.bundle(class, "previous-same-size", &bundle, &with_previous(same));
    // The fuzzer's bundle.
    corpus.bundle(class, "fuzz-base", fuzz_bundle(), &trusted());
}

fn honest() -> (Log, Vec<String>) {
    let log = log(20);
    let bundle = Export::everything(&log.envelopes, &log.tree, &operator()).write();
    (log, lines(&bundle))
}

fn resealed(mut lines: Vec<String>) -> Vec<u8> {
    reseal(&mut lines);
    join(&lines)
}

fn tampered(corpus: &mut Corpus) {
    let options = trusted();

    // PayloadAltered.
    let (_, mut l) = honest();
    let index = line_with(&l, "\"type\":\"PlaybackStarted\"");
    l[index] = l[index].replacen("\"user_id\":\"ada\"", "\"user_id\":\"adb\"", 1);
    corpus.bundle("PayloadAltered", "payload-edited", &join(&l), &options);
    // The leaf in uppercase hex.
    let (_, mut l) = honest();
    let at = l[5].rfind("\"leaf\":\"").unwrap() + 8;
    let upper = l[5][at..at + 64].to_uppercase();
    l[5].replace_range(at..at + 64, &upper);
    corpus.bundle("Malformed", "leaf-uppercase", &resealed(l), &options);

    // BadInclusionProof: an edit with a recomputed leaf and digest.
    let (_, mut l) = honest();
    let index = line_with(&l, "\"type\":\"ConsentWithdrawn\"");
    let edited = l[index].replacen(
        "\"deletion_requested\":true",
        "\"deletion_requested\":false",
        1,
    );
    let envelope_end = edited.rfind(",\"leaf\":").unwrap();
    let envelope = &edited["{\"envelope\":".len()..envelope_end];
    let leaf = hex::encode(merkle::leaf_hash(envelope.as_bytes()));
    l[index] = format!("{{\"envelope\":{envelope},\"leaf\":\"{leaf}\",\"type\":\"event\"}}");
    corpus.bundle("BadInclusionProof", "releafed", &resealed(l), &options);

    // EventDropped.
    let (_, mut l) = honest();
    let events = event_lines(&l);
    l.remove(events[100]);
    corpus.bundle("EventDropped", "dropped-middle", &resealed(l), &options);
    let (_, mut l) = honest();
    let last = *event_lines(&l).last().unwrap();
    l.remove(last);
    corpus.bundle("EventDropped", "dropped-last", &resealed(l), &options);
    let (_, mut l) = honest();
    l.remove(3);
    corpus.bundle("EventDropped", "dropped-first", &resealed(l), &options);

    // EventsOutOfOrder.
    let (_, mut l) = honest();
    l.swap(events[50], events[51]);
    corpus.bundle(
        "EventsOutOfOrder",
        "swapped-adjacent",
        &resealed(l),
        &options,
    );
    let (_, mut l) = honest();
    l.swap(events[10], events[90]);
    corpus.bundle("EventsOutOfOrder", "swapped-far", &resealed(l), &options);

    // EventInserted.
    let (log, l0) = honest();
    let index = line_with(&l0, "\"type\":\"PlaybackRefused\"");
    let forged = l0[index].replacen("icf-assessor", "icf-assessor-2", 1);
    let envelope_end = forged.rfind(",\"leaf\":").unwrap();
    let envelope = &forged["{\"envelope\":".len()..envelope_end];
    let leaf = hex::encode(merkle::leaf_hash(envelope.as_bytes()));
    let forged = format!("{{\"envelope\":{envelope},\"leaf\":\"{leaf}\",\"type\":\"event\"}}");
    let mut l = l0.clone();
    l.insert(index + 1, forged.clone());
    corpus.bundle("EventInserted", "forged-after", &resealed(l), &options);
    let mut l = l0.clone();
    l.insert(index, forged);
    corpus.bundle("EventInserted", "forged-before", &resealed(l), &options);
    let size = log.envelopes.len() as u64;
    let mut extra = log.envelopes[5].clone();
    extra.sequence = size;
    let mut l = l0.clone();
    let end = l.len() - 1;
    l.insert(end, event_line(&extra));
    corpus.bundle("EventInserted", "beyond-tree", &resealed(l), &options);
    let mut l = l0.clone();
    let copy = l[events[200]].clone();
    l.insert(events[20], copy);
    corpus.bundle("EventInserted", "early-copy", &resealed(l), &options);
    let mut l = l0.clone();
    let copy = l[events[30]].clone();
    l.insert(events[30], copy);
    corpus.bundle("EventInserted", "duplicated", &resealed(l), &options);

    // Truncated.
    let bundle = join(&l0);
    corpus.bundle(
        "Truncated",
        "without-end",
        &join(&l0[..l0.len() - 1]),
        &options,
    );
    for (name, cut) in [
        ("half", bundle.len() / 2),
        ("last-newline", bundle.len() - 1),
        ("one-byte", 1),
        ("empty", 0),
    ] {
        corpus.bundle(
            "Truncated",
            &format!("cut-{name}"),
            &bundle[..cut],
            &options,
        );
    }

    // UnknownSigner.
    let log10 = self::log(10);
    let impostor = stranger();
    let bundle = Export::everything(&log10.envelopes, &log10.tree, &impostor).write();
    corpus.bundle(
        "valid",
        "impostor-own-keys",
        &bundle,
        &VerifyOptions::default(),
    );
    corpus.bundle("UnknownSigner", "impostor", &bundle, &options);
    let mut export = Export::everything(&log10.envelopes, &log10.tree, &impostor);
    export.keys = vec![operator().verifier(), impostor.verifier()];
    corpus.bundle(
        "UnknownSigner",
        "impostor-lists-operator",
        &export.write(),
        &options,
    );

    // BadCheckpointSignature.
    let mut l = l0.clone();
    l[2] = l[2].replacen(&format!("\\n{size}\\n"), &format!("\\n{}\\n", size - 1), 1);
    corpus.bundle(
        "BadCheckpointSignature",
        "checkpoint-edited",
        &join(&l),
        &options,
    );
    let mut l = l0.clone();
    l[2] = l[2].replacen(&format!("\\n{size}\\n"), &format!("\\n{}\\n", size - 1), 1);
    corpus.bundle(
        "BadCheckpointSignature",
        "checkpoint-edited-own-keys",
        &resealed(l),
        &VerifyOptions::default(),
    );

    // OriginMismatch: the checkpoint names another tenant's log.
    let root = log.tree.root(size);
    let other = operator().sign(
        &Checkpoint {
            origin: "confide.example/another-tenant".to_owned(),
            size,
            root,
            extensions: vec![],
        }
        .to_body(),
    );
    let mut l = l0.clone();
    l[2] = canonical(&json!({"note": other, "type": "checkpoint"}));
    corpus.bundle(
        "OriginMismatch",
        "checkpoint-of-another-tenant",
        &resealed(l),
        &options,
    );
    let bare = operator().sign(
        &Checkpoint {
            origin: support::TENANT.to_owned(),
            size,
            root,
            extensions: vec![],
        }
        .to_body(),
    );
    let mut l = l0.clone();
    l[2] = canonical(&json!({"note": bare, "type": "checkpoint"}));
    corpus.bundle(
        "OriginMismatch",
        "origin-without-prefix",
        &resealed(l),
        &options,
    );

    // CheckpointRollback.
    let signer = operator();
    let old_size = size - 40;
    let seen_last_time = checkpoint_note(&signer, size, log.tree.root(size));
    let mut stale = Export::everything(&log.envelopes[..old_size as usize], &log.tree, &signer);
    stale.size = old_size;
    let stale = stale.write();
    corpus.bundle(
        "CheckpointRollback",
        "previous-newer",
        &stale,
        &with_previous(seen_last_time.clone()),
    );
    let mut l = lines(&stale);
    l.insert(
        3,
        canonical(&json!({"note": seen_last_time, "proof": [], "type": "consistency"})),
    );
    corpus.bundle(
        "CheckpointRollback",
        "consistency-newer",
        &resealed(l),
        &options,
    );

    // InconsistentTrees, ConsistencyProofMissing.
    let old = 100;
    let old_note = checkpoint_note(&signer, old, log.tree.root(old));
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.previous = Some((old_note, log.tree.consistency(old, size)));
    let with_proof = export.write();
    let mut other = log.envelopes[..old as usize].to_vec();
    other[42].payload["at"] = json!("2025-01-06T11:11:11Z");
    let forked = checkpoint_note(&signer, old, Tree::new(&other).root(old));
    corpus.bundle(
        "InconsistentTrees",
        "previous-forked",
        &with_proof,
        &with_previous(forked.clone()),
    );
    let proof: Vec<String> = log
        .tree
        .consistency(old, size)
        .iter()
        .map(hex::encode)
        .collect();
    let mut l = lines(&with_proof);
    l[3] = canonical(&json!({"note": forked, "proof": proof, "type": "consistency"}));
    corpus.bundle(
        "InconsistentTrees",
        "consistency-forked",
        &resealed(l),
        &options,
    );
    let mut l = lines(&with_proof);
    let at = l[3].find("\"proof\":[\"").unwrap() + 10;
    let flipped = if &l[3][at..=at] == "0" { "1" } else { "0" };
    l[3].replace_range(at..=at, flipped);
    corpus.bundle(
        "InconsistentTrees",
        "consistency-proof-edited",
        &resealed(l),
        &options,
    );
    let mut small = Export::everything(&log.envelopes[..old as usize], &log.tree, &signer);
    small.size = old;
    corpus.bundle(
        "InconsistentTrees",
        "previous-same-size-forked",
        &small.write(),
        &with_previous(forked),
    );
    let unproven = checkpoint_note(&signer, 50, log.tree.root(50));
    corpus.bundle(
        "ConsistencyProofMissing",
        "previous-without-proof",
        &with_proof,
        &with_previous(unproven),
    );
    let by_stranger = checkpoint_note(&stranger(), old, log.tree.root(old));
    corpus.bundle(
        "UnknownSigner",
        "previous-by-stranger",
        &with_proof,
        &with_previous(by_stranger),
    );

    // NotCanonical, Malformed, DigestMismatch, CountMismatch, TrailingData.
    let mut l = l0.clone();
    l[5] = l[5].replacen("{\"envelope\":{", "{\"envelope\": {", 1);
    corpus.bundle("NotCanonical", "space", &join(&l), &options);
    let mut l = l0.clone();
    l[5] = l[5].replacen("\"schema_version\":1", "\"schema_version\":1.0", 1);
    corpus.bundle("NotCanonical", "fraction", &join(&l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen(
        "{\"exported_at\"",
        "{\"type\":\"header\",\"exported_at\"",
        1,
    );
    l[0] = l[0].replacen(",\"type\":\"header\"}", "}", 1);
    corpus.bundle("NotCanonical", "unsorted-members", &resealed(l), &options);
    let mut l = l0.clone();
    l[5].truncate(40);
    corpus.bundle("Malformed", "not-json", &join(&l), &options);
    let mut l = l0.clone();
    l[1] = l[1].replacen("\"type\":\"key\"", "\"type\":\"key\",\"x\":1", 1);
    corpus.bundle("Malformed", "unknown-member", &resealed(l), &options);
    let mut l = l0.clone();
    l.swap(0, 1);
    corpus.bundle("Malformed", "key-before-header", &resealed(l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen("\"scan\":{\"end\":", "\"scan\":{\"end\":1", 1);
    corpus.bundle("Malformed", "scan-beyond-tree", &resealed(l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen("confide-audit tests", "confide-audit tests!", 1);
    corpus.bundle("DigestMismatch", "header-edited", &join(&l), &options);
    let mut l = l0.clone();
    let last = l.len() - 1;
    l[last] = l[last].replacen("\"events\":", "\"events\":1", 1);
    corpus.bundle("CountMismatch", "events", &join(&l), &options);
    let mut l = l0.clone();
    l[last] = l[last].replacen("\"lines\":", "\"lines\":1", 1);
    corpus.bundle("CountMismatch", "lines", &join(&l), &options);
    let mut l = l0.clone();
    l.push(l[last].clone());
    corpus.bundle("TrailingData", "end-twice", &join(&l), &options);
    let mut bytes = join(&l0);
    bytes.extend_from_slice(b"x");
    corpus.bundle("TrailingData", "byte-after-end", &bytes, &options);
    let mut bytes = join(&l0);
    let crlf = bytes.iter().position(|&b| b == b'\n').unwrap();
    bytes.insert(crlf, b'\r');
    corpus.bundle("NotCanonical", "carriage-return", &bytes, &options);
    let mut bytes = join(&l0);
    let at = bytes.windows(3).position(|w| w == b"ada").unwrap();
    bytes[at] = 0xff;
    corpus.bundle("Malformed", "not-utf8", &bytes, &options);

    // WrongTenant.
    let mut foreign = log.envelopes[30].clone();
    foreign.tenant_id = "another-tenant".to_owned();
    let mut l = l0.clone();
    l[33] = event_line(&foreign);
    corpus.bundle("WrongTenant", "foreign-event", &resealed(l), &options);

    // UnsupportedVersion.
    let mut l = l0.clone();
    l[0] = l[0].replacen("\"version\":1", "\"version\":2", 1);
    corpus.bundle("UnsupportedVersion", "version-2", &join(&l), &options);
    let mut l = l0.clone();
    l[0] = l[0].replacen("confide-audit-bundle", "confide-audit-bundlf", 1);
    corpus.bundle("UnsupportedVersion", "format", &join(&l), &options);

    // Filters: FilterMismatch, FilterNotClosed, OutsideScan, a hidden run's hash.
    let log20 = self::log(20);
    let mut export = Export::everything(&log20.envelopes, &log20.tree, &signer);
    export.filter = with_client(Filter::everything(), 4);
    let filtered = export.write();
    let mut l = lines(&filtered);
    let skip = l
        .iter()
        .rposition(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let value: Value = serde_json::from_str(&l[skip]).unwrap();
    let (start, end) = (
        value["start"].as_u64().unwrap() as usize,
        value["end"].as_u64().unwrap() as usize,
    );
    let disclosed: Vec<String> = log20.envelopes[start..end].iter().map(event_line).collect();
    l.splice(skip..=skip, disclosed);
    corpus.bundle(
        "FilterMismatch",
        "hidden-run-disclosed",
        &resealed(l),
        &options,
    );
    let mut l = lines(&filtered);
    let mut header: Value = serde_json::from_str(&l[0]).unwrap();
    header["filter"]["subjects"]
        .as_object_mut()
        .unwrap()
        .remove("grant");
    l[0] = canonical(&header);
    corpus.bundle(
        "FilterNotClosed",
        "grant-not-listed",
        &resealed(l),
        &options,
    );
    let mut l = lines(&filtered);
    let at = l[skip].find("\"hashes\":[\"").unwrap() + 11;
    let flipped = if &l[skip][at..=at] == "0" { "1" } else { "0" };
    l[skip].replace_range(at..=at, flipped);
    corpus.bundle(
        "BadInclusionProof",
        "hidden-run-hash",
        &resealed(l),
        &options,
    );
    let mut l = lines(&filtered);
    let first_skip = l
        .iter()
        .position(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let removed = l.remove(first_skip);
    let value: Value = serde_json::from_str(&removed).unwrap();
    let (start, end) = (
        value["start"].as_u64().unwrap(),
        value["end"].as_u64().unwrap(),
    );
    let hashes = log20.tree.run(start, end - 1);
    let hashes: Vec<String> = hashes.iter().map(hex::encode).collect();
    l.insert(
        first_skip,
        canonical(&json!({"end": end - 1, "hashes": hashes, "start": start, "type": "skip"})),
    );
    corpus.bundle("EventDropped", "hidden-run-short", &resealed(l), &options);
    let mut l = lines(&filtered);
    l[first_skip] = l[first_skip].replacen("\"hashes\":[", "\"hashes\":[\"00\",", 1);
    corpus.bundle("Malformed", "hidden-run-extra-hash", &resealed(l), &options);
    // Disclosing events before the scanned range.
    let log30 = self::log(30);
    let size30 = log30.envelopes.len() as u64;
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = with_client(Filter::everything(), 6);
    export.scan = 10..size30 - 5;
    let mut l = lines(&export.write());
    let first_skip = l
        .iter()
        .position(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let disclosed: Vec<String> = log30.envelopes[..10].iter().map(event_line).collect();
    l.splice(first_skip..=first_skip, disclosed);
    corpus.bundle("OutsideScan", "before-scan", &resealed(l), &options);
    // A time filter an event is outside of.
    let mut export = Export::everything(&log30.envelopes, &log30.tree, &signer);
    export.filter = Filter::everything().recorded_between(
        Some(support::timestamp(50_000)),
        Some(support::timestamp(100_000)),
    );
    let mut l = lines(&export.write());
    let mut header: Value = serde_json::from_str(&l[0]).unwrap();
    header["filter"]["until"] = json!(support::timestamp(90_000));
    l[0] = canonical(&header);
    corpus.bundle("FilterMismatch", "window-narrowed", &resealed(l), &options);
}

// -------------------------------------------------------------------------------------
// Corners of the format: encodings, notes and lines at the edge of what section 2 allows.
// Named by whatever the Rust verifier concludes; the JavaScript one must agree.

/// The bundle's lines with line `index` replaced by `text`, resealed.
fn replaced(lines: &[String], index: usize, text: String) -> Vec<u8> {
    let mut lines = lines.to_vec();
    lines[index] = text;
    resealed(lines)
}

fn edges(corpus: &mut Corpus) {
    let options = trusted();
    let (log, l0) = honest();
    let size = log.envelopes.len() as u64;
    let class = "edge";
    // Encodings a JSON parser accepts and the canonical form does not.
    let key = l0[1].clone();
    let key_value: Value = serde_json::from_str(&key).unwrap();
    let key_text = key_value["key"].as_str().unwrap().to_owned();
    for (name, text) in [
        (
            "duplicate-member",
            format!("{{\"key\":\"{key_text}\",\"key\":\"{key_text}\",\"type\":\"key\"}}"),
        ),
        (
            "escaped-letter",
            key.replacen("\"type\":\"key\"", "\"type\":\"k\\u0065y\"", 1),
        ),
        ("escaped-slash", key.replacen('/', "\\/", 1)),
        ("bom", format!("\u{feff}{key}")),
    ] {
        corpus.bundle(class, name, &replaced(&l0, 1, text), &options);
    }
    for (name, number) in [
        ("too-large", "9007199254740993"),
        ("max", "9007199254740991"),
        ("negative-zero", "-0"),
        ("exponent", "1e0"),
        ("leading-zero", "01"),
    ] {
        let text = l0[5].replacen(
            "\"schema_version\":1",
            &format!("\"schema_version\":{number}"),
            1,
        );
        corpus.bundle(
            class,
            &format!("number-{name}"),
            &replaced(&l0, 5, text),
            &options,
        );
    }
    for (name, escape) in [
        ("lone-surrogate", "\\ud800"),
        ("control-raw", "\u{1}"),
        ("control-escaped", "\\u0001"),
        ("control-uppercase-hex", "\\u001F"),
        ("delete", "\u{7f}"),
        ("non-ascii", "é"),
    ] {
        let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
        header["generator"] = json!("placeholder");
        let text = canonical(&header).replacen("placeholder", escape, 1);
        corpus.bundle(
            class,
            &format!("string-{name}"),
            &replaced(&l0, 0, text),
            &options,
        );
    }
    // Lines out of their form.
    corpus.bundle(
        class,
        "key-twice",
        &{
            let mut l = l0.clone();
            l.insert(2, key.clone());
            resealed(l)
        },
        &options,
    );
    let other_key = stranger().verifier().to_string();
    let (name, rest) = other_key.split_once('+').unwrap();
    let (_, key64) = rest.split_once('+').unwrap();
    corpus.bundle(
        class,
        "key-id-mismatch",
        &replaced(
            &l0,
            1,
            canonical(&json!({"key": format!("{name}+00000000+{key64}"), "type": "key"})),
        ),
        &VerifyOptions::default(),
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["filter"]["subjects"] = json!({"client": ["b", "a"]});
    corpus.bundle(
        class,
        "filter-unsorted",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    header["filter"]["subjects"] = json!({"client": []});
    corpus.bundle(
        class,
        "filter-empty-list",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    header["filter"]["subjects"] = json!({"Client": ["a"]});
    corpus.bundle(
        class,
        "filter-kind-uppercase",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["filter"]["from"] = json!("2025-01-05T00:00:00Z");
    corpus.bundle(
        class,
        "filter-from-short",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["scan"] = json!({"end": 5, "start": 6});
    corpus.bundle(
        class,
        "scan-reversed",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["tenant_id"] = json!("");
    corpus.bundle(
        class,
        "tenant-empty",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["version"] = json!("1");
    corpus.bundle(
        class,
        "version-text",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header.as_object_mut().unwrap().remove("generator");
    corpus.bundle(
        class,
        "header-member-missing",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    let mut header: Value = serde_json::from_str(&l0[0]).unwrap();
    header["exported_at"] = json!("2025-03-01T12:00:00Z");
    corpus.bundle(
        class,
        "exported-at-short",
        &replaced(&l0, 0, canonical(&header)),
        &options,
    );
    corpus.bundle(
        class,
        "blank-line",
        &{
            let mut l = l0.clone();
            l.insert(4, String::new());
            resealed(l)
        },
        &options,
    );
    corpus.bundle(class, "header-only", &join(&l0[..1]), &options);
    corpus.bundle(
        class,
        "no-key",
        &{
            let mut l = l0.clone();
            l.remove(1);
            resealed(l)
        },
        &options,
    );

    // Envelopes.
    let mut envelope: Value = serde_json::to_value(&log.envelopes[7]).unwrap();
    envelope["zz"] = json!(1);
    let bytes = confide_audit::canonical::to_canonical_vec(&envelope).unwrap();
    let extra = format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    );
    corpus.bundle(
        class,
        "envelope-extra-member",
        &replaced(&l0, 10, extra),
        &options,
    );
    for (name, member, value) in [
        ("stream-version-zero", "stream_version", json!(0)),
        (
            "schema-version-large",
            "schema_version",
            json!(4_294_967_296_u64),
        ),
        ("sequence-negative", "sequence", json!(-1)),
        ("event-id-number", "event_id", json!(7)),
        (
            "recorded-at-short",
            "recorded_at",
            json!("2025-01-05T00:00:08Z"),
        ),
    ] {
        let mut value_envelope: Value = serde_json::to_value(&log.envelopes[7]).unwrap();
        value_envelope[member] = value;
        let bytes = confide_audit::canonical::to_canonical_vec(&value_envelope).unwrap();
        let line = format!(
            "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
            String::from_utf8(bytes.clone()).unwrap(),
            hex::encode(merkle::leaf_hash(&bytes))
        );
        corpus.bundle(
            class,
            &format!("envelope-{name}"),
            &replaced(&l0, 10, line),
            &options,
        );
    }
    // A time filter and an envelope whose time is not of the fixed form.
    let log30 = self::log(30);
    let signer = operator();
    let mut envelopes = log30.envelopes.clone();
    envelopes[60].recorded_at = "2025-01-05T00:01:15Z".to_owned();
    let tree = Tree::new(&envelopes);
    let mut export = Export::everything(&envelopes, &tree, &signer);
    export.filter = Filter::everything();
    let mut l = lines(&export.write());
    let mut header: Value = serde_json::from_str(&l[0]).unwrap();
    header["filter"]["from"] = json!(support::timestamp(0));
    l[0] = canonical(&header);
    corpus.bundle(class, "time-filter-odd-time", &resealed(l), &options);

    // Skip lines.
    let log20 = self::log(20);
    let mut export = Export::everything(&log20.envelopes, &log20.tree, &signer);
    export.filter = with_client(Filter::everything(), 4);
    let filtered = lines(&export.write());
    let skip = filtered
        .iter()
        .position(|line| line.ends_with("\"type\":\"skip\"}"))
        .unwrap();
    let value: Value = serde_json::from_str(&filtered[skip]).unwrap();
    let start = value["start"].as_u64().unwrap();
    corpus.bundle(
        class,
        "skip-empty",
        &{
            let mut l = filtered.clone();
            l.insert(
                skip,
                canonical(&json!({"end": start, "hashes": [], "start": start, "type": "skip"})),
            );
            resealed(l)
        },
        &options,
    );
    corpus.bundle(
        class,
        "skip-uppercase",
        &replaced(
            &filtered,
            skip,
            filtered[skip]
                .to_uppercase()
                .replace("\"END\"", "\"end\"")
                .replace("\"HASHES\"", "\"hashes\"")
                .replace("\"START\"", "\"start\"")
                .replace("\"TYPE\":\"SKIP\"", "\"type\":\"skip\""),
        ),
        &options,
    );
    let last = filtered.len() - 2;
    let tail: Value = serde_json::from_str(&filtered[last]).unwrap();
    if tail["type"] == "skip" {
        let (start, end) = (
            tail["start"].as_u64().unwrap(),
            tail["end"].as_u64().unwrap(),
        );
        let hashes: Vec<String> = log20.tree.run(start, end).iter().map(hex::encode).collect();
        let mut more = hashes.clone();
        more.push(hashes[0].clone());
        corpus.bundle(
            class,
            "skip-beyond-tree",
            &replaced(
                &filtered,
                last,
                canonical(&json!({"end": end + 1, "hashes": more, "start": start, "type": "skip"})),
            ),
            &options,
        );
    }

    // Notes.
    let root = log.tree.root(size);
    let body = Checkpoint {
        origin: support::origin(),
        size,
        root,
        extensions: vec!["confide-extension value".to_owned()],
    }
    .to_body();
    let with_extension = operator().sign(&body);
    corpus.bundle(
        class,
        "checkpoint-extension",
        &replaced(
            &l0,
            2,
            canonical(&json!({"note": with_extension, "type": "checkpoint"})),
        ),
        &options,
    );
    let plain = checkpoint_note(&operator(), size, root);
    let by_stranger = checkpoint_note(&stranger(), size, root);
    let stranger_line = &by_stranger[by_stranger.rfind("\u{2014}").unwrap()..];
    let cosigned = format!("{plain}{stranger_line}");
    corpus.bundle(
        class,
        "checkpoint-cosigned",
        &replaced(
            &l0,
            2,
            canonical(&json!({"note": cosigned, "type": "checkpoint"})),
        ),
        &options,
    );
    let operator_line = plain[plain.rfind("\u{2014}").unwrap()..].to_owned();
    let at = operator_line.len() - 10;
    let mut broken = operator_line.clone();
    broken.replace_range(
        at..at + 1,
        if &operator_line[at..=at] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let twice = format!("{plain}{broken}");
    corpus.bundle(
        class,
        "checkpoint-second-signature-bad",
        &replaced(
            &l0,
            2,
            canonical(&json!({"note": twice, "type": "checkpoint"})),
        ),
        &options,
    );
    for (name, note) in [
        (
            "no-signature",
            plain[..plain.find("\n\n").unwrap() + 2].to_owned(),
        ),
        ("extra-newline", format!("{plain}\n")),
        ("carriage-return", plain.replacen('\n', "\r\n", 1)),
        ("hyphen-not-dash", plain.replacen('\u{2014}', "-", 1)),
        (
            "size-leading-zero",
            plain.replacen(&format!("\n{size}\n"), &format!("\n0{size}\n"), 1),
        ),
    ] {
        corpus.bundle(
            class,
            &format!("note-{name}"),
            &replaced(
                &l0,
                2,
                canonical(&json!({"note": note, "type": "checkpoint"})),
            ),
            &options,
        );
    }
    // Consistency lines and previous checkpoints of other logs or sizes.
    let old = 100;
    let old_note = checkpoint_note(&signer, old, log.tree.root(old));
    let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
    export.previous = Some((old_note.clone(), log.tree.consistency(old, size)));
    let with_proof = export.write();
    let foreign_old = operator().sign(
        &Checkpoint {
            origin: "confide.example/another-tenant".to_owned(),
            size: old,
            root: log.tree.root(old),
            extensions: vec![],
        }
        .to_body(),
    );
    corpus.bundle(
        class,
        "previous-of-another-log",
        &with_proof,
        &with_previous(foreign_old.clone()),
    );
    let proof: Vec<String> = log
        .tree
        .consistency(old, size)
        .iter()
        .map(hex::encode)
        .collect();
    let mut l = lines(&with_proof);
    l[3] = canonical(&json!({"note": foreign_old, "proof": proof, "type": "consistency"}));
    corpus.bundle(class, "consistency-of-another-log", &resealed(l), &options);
    let other_old = checkpoint_note(&signer, 90, log.tree.root(90));
    corpus.bundle(
        class,
        "previous-other-size",
        &with_proof,
        &with_previous(other_old),
    );
    let zero = checkpoint_note(&signer, 0, log.tree.root(0));
    let mut l = lines(&Export::everything(&log.envelopes, &log.tree, &signer).write());
    l.insert(
        3,
        canonical(&json!({"note": zero, "proof": [], "type": "consistency"})),
    );
    corpus.bundle(class, "consistency-from-empty", &resealed(l), &options);
    let same = checkpoint_note(&signer, size, root);
    let mut l = lines(&Export::everything(&log.envelopes, &log.tree, &signer).write());
    l.insert(
        3,
        canonical(&json!({"note": same, "proof": [], "type": "consistency"})),
    );
    corpus.bundle(class, "consistency-same-size", &resealed(l), &options);
    let mut l = lines(&with_proof);
    l.insert(4, l[3].clone());
    corpus.bundle(class, "consistency-twice", &resealed(l), &options);
}

// -------------------------------------------------------------------------------------
// The fuzzer's mutations, from a fixed seed.

fn fuzz_bundle() -> &'static [u8] {
    static BUNDLE: OnceLock<Vec<u8>> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let log = log(8);
        let signer = operator();
        let size = log.envelopes.len() as u64;
        let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
        export.filter = with_client(with_client(Filter::everything(), 3), 5);
        export.scan = 3..size - 2;
        let old_note = checkpoint_note(&signer, 20, log.tree.root(20));
        export.previous = Some((old_note, log.tree.consistency(20, size)));
        export.write()
    })
}

fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}

fn mutated(corpus: &mut Corpus) {
    let original = fuzz_bundle();
    let mut runner = runner();
    let strategy = proptest::collection::vec(mutation(), 1..4);
    for n in 0..mutated_cases() {
        let mutations = strategy.new_tree(&mut runner).unwrap().current();
        let bytes = apply(original, &mutations);
        corpus.bundle("mutated", &format!("mutated-{n:03}"), &bytes, &trusted());
    }
    let original = lines(original);
    let keep = 0usize..12;
    let junk = proptest::collection::vec("[\\[\\]{}\",:0-9a-z\\\\ .\\-]{0,40}", 1..4);
    for n in 0..mutated_cases() / 4 {
        let keep = keep.new_tree(&mut runner).unwrap().current();
        let mut tail = original[..keep.min(original.len())].to_vec();
        tail.extend(junk.new_tree(&mut runner).unwrap().current());
        corpus.bundle(
            "hostile",
            &format!("hostile-{n:03}"),
            &join(&tail),
            &trusted(),
        );
    }
}

// -------------------------------------------------------------------------------------
// Receipts.

const WHOLE_VALUES: [&str; 2] = ["/confide/scope", "/confide/expiry"];
const LISTS_OF_OBJECTS: [&str; 4] = [
    "/piiControllers",
    "/services",
    "/services/0/purposes",
    "/confide/purposes",
];

fn members(value: &Value, at: &str, out: &mut Vec<String>) {
    if WHOLE_VALUES.contains(&at) {
        return;
    }
    match value {
        Value::Object(object) => {
            for (name, member) in object {
                let pointer = format!("{at}/{name}");
                out.push(pointer.clone());
                members(member, &pointer, out);
            }
        }
        Value::Array(items) if LISTS_OF_OBJECTS.contains(&at) => {
            for (index, item) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                out.push(pointer.clone());
                members(item, &pointer, out);
            }
        }
        _ => {}
    }
}

fn leaves(receipt: &Value) -> Vec<String> {
    let mut all = Vec::new();
    members(receipt, "", &mut all);
    all.into_iter()
        .filter(|pointer| {
            let value = receipt.pointer(pointer).unwrap();
            WHOLE_VALUES.contains(&pointer.as_str())
                || !(value.is_object() || LISTS_OF_OBJECTS.contains(&pointer.as_str()))
        })
        .collect()
}

fn changed(value: &Value) -> Value {
    match value {
        Value::Null => json!("2099-01-01T00:00:00Z"),
        Value::Bool(b) => json!(!b),
        Value::Number(n) => json!(n.as_i64().unwrap() + 1),
        Value::String(s) => json!(format!("{s}-changed")),
        Value::Array(items) if items.is_empty() => json!(["other"]),
        Value::Array(items) => {
            let mut items = items.clone();
            items[0] = changed(&items[0]);
            Value::Array(items)
        }
        Value::Object(object) => {
            let mut object = object.clone();
            object.insert("kind".to_owned(), json!("changed"));
            Value::Object(object)
        }
    }
}

/// An edit of a receipt's proof.
type ProofEdit = Box<dyn Fn(&mut Value)>;

fn slug(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn receipts(corpus: &mut Corpus) {
    let keys = [operator().verifier()];
    for (n, (expiry, termination, expires_at)) in expiries().into_iter().enumerate() {
        let case = ReceiptCase::new(expiry, termination, expires_at);
        corpus.receipt("valid", &format!("expiry-{n}"), &case.answer(), &keys);
    }
    let (expiry, termination, expires_at) = expiries().swap_remove(1);
    let case = ReceiptCase::new(expiry, termination, expires_at);
    let answer = case.answer();
    let proof_only = answer["data"]["consentReceipt"]["proof"].clone();
    corpus.receipt("valid", "proof-only", &proof_only, &keys);
    corpus.receipt(
        "valid",
        "unwrapped",
        &answer["data"]["consentReceipt"],
        &keys,
    );
    let with = |receipt: &Value| {
        let mut answer = answer.clone();
        answer["data"]["consentReceipt"]["receipt"] = receipt.clone();
        answer
    };

    // Every checked member changed; every list widened and narrowed.
    for leaf in leaves(&case.receipt) {
        let mut receipt = case.receipt.clone();
        let member = receipt.pointer_mut(&leaf).unwrap();
        *member = changed(member);
        corpus.receipt(
            "changed",
            &format!("changed-{}", slug(&leaf)),
            &with(&receipt),
            &keys,
        );
        let Some(items) = case.receipt.pointer(&leaf).unwrap().as_array() else {
            continue;
        };
        let mut wider = case.receipt.clone();
        let extra = match items.first() {
            Some(Value::String(_)) | None => json!("eve"),
            Some(other) => other.clone(),
        };
        wider
            .pointer_mut(&leaf)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(extra);
        corpus.receipt(
            "widened",
            &format!("widened-{}", slug(&leaf)),
            &with(&wider),
            &keys,
        );
        if !items.is_empty() {
            let mut narrower = case.receipt.clone();
            narrower
                .pointer_mut(&leaf)
                .unwrap()
                .as_array_mut()
                .unwrap()
                .pop();
            corpus.receipt(
                "narrowed",
                &format!("narrowed-{}", slug(&leaf)),
                &with(&narrower),
                &keys,
            );
        }
    }
    // Purposes added, repeated, left out, reordered; lists of one item with two or none.
    for list in ["/services/0/purposes", "/confide/purposes"] {
        let items = case.receipt.pointer(list).unwrap().as_array().unwrap();
        let mut research = items[0].clone();
        research["purpose"] = json!("research");
        for (name, edit) in [
            ("added", Some(research)),
            ("repeated", Some(items[0].clone())),
            ("left-out", None),
        ] {
            let mut receipt = case.receipt.clone();
            let list_items = receipt.pointer_mut(list).unwrap().as_array_mut().unwrap();
            match edit {
                Some(item) => list_items.push(item),
                None => {
                    list_items.remove(0);
                }
            }
            corpus.receipt(
                "purposes",
                &format!("purpose-{name}-{}", slug(list)),
                &with(&receipt),
                &keys,
            );
        }
        let mut reordered = case.receipt.clone();
        reordered
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .reverse();
        corpus.receipt(
            "valid",
            &format!("reordered-{}", slug(list)),
            &with(&reordered),
            &keys,
        );
    }
    for list in ["/piiControllers", "/services"] {
        let mut more = case.receipt.clone();
        let items = more.pointer_mut(list).unwrap().as_array_mut().unwrap();
        items.push(items[0].clone());
        corpus.receipt("lists", &format!("two-{}", slug(list)), &with(&more), &keys);
        let mut none = case.receipt.clone();
        *none.pointer_mut(list).unwrap() = json!([]);
        corpus.receipt(
            "lists",
            &format!("none-{}", slug(list)),
            &with(&none),
            &keys,
        );
    }
    // Every member left out; a member the format does not have in every object.
    let mut all = Vec::new();
    members(&case.receipt, "", &mut all);
    for pointer in &all {
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        let mut receipt = case.receipt.clone();
        if let Value::Object(object) = receipt.pointer_mut(parent).unwrap() {
            object.remove(name);
            corpus.receipt(
                "missing",
                &format!("missing-{}", slug(pointer)),
                &with(&receipt),
                &keys,
            );
        }
    }
    let mut objects = vec![String::new()];
    objects.extend(all);
    for at in objects {
        if WHOLE_VALUES.contains(&at.as_str()) {
            continue;
        }
        let mut receipt = case.receipt.clone();
        let Some(object) = receipt.pointer_mut(&at).unwrap().as_object_mut() else {
            continue;
        };
        object.insert("sharedWith".to_owned(), json!("the police"));
        let name = if at.is_empty() { "top" } else { &slug(&at) };
        corpus.receipt(
            "unknown",
            &format!("unknown-in-{name}"),
            &with(&receipt),
            &keys,
        );
    }
    // Two faults in one object: the member the format does not have is named.
    let mut receipt = case.receipt.clone();
    receipt["confide"]["sharedWith"] = json!("the police");
    receipt["confide"]["consentId"] = json!("another");
    corpus.receipt("unknown", "unknown-and-changed", &with(&receipt), &keys);
    // The unproven texts: any text, nothing else.
    for unproven in UNPROVEN_MEMBERS {
        let mut renamed = case.receipt.clone();
        *renamed.pointer_mut(unproven).unwrap() = json!("Another Clinic Ltd");
        corpus.receipt(
            "valid",
            &format!("unproven-text-{}", slug(unproven)),
            &with(&renamed),
            &keys,
        );
        let mut structured = case.receipt.clone();
        *structured.pointer_mut(unproven).unwrap() = json!({ "name": "Another" });
        corpus.receipt(
            "unproven",
            &format!("unproven-object-{}", slug(unproven)),
            &with(&structured),
            &keys,
        );
    }
    let mut exempted = case.receipt.clone();
    exempted["confide"]["unproven"]
        .as_array_mut()
        .unwrap()
        .push(json!("/confide/purposes"));
    corpus.receipt("unproven", "exempted", &with(&exempted), &keys);
    let mut receipt = case.receipt.clone();
    receipt["publicKey"] = json!(stranger().verifier().to_string());
    corpus.receipt("changed", "public-key-stranger", &with(&receipt), &keys);
    let moon = ReceiptCase::new(
        json!({ "kind": "on_event", "trigger": { "kind": "moon_phase" } }),
        "expires at the full moon",
        Value::Null,
    );
    corpus.receipt("unprovable", "moon-phase", &moon.answer(), &keys);

    // A receipt that is not an object; a member whose name needs escaping in a pointer.
    corpus.receipt("edge", "receipt-text", &with(&json!("a receipt")), &keys);
    let mut receipt = case.receipt.clone();
    receipt["confide"]["shared/with~"] = json!("the police");
    corpus.receipt("edge", "unknown-escaped", &with(&receipt), &keys);
    // Numbers written as fractions, times with offsets.
    let mut receipt = case.receipt.clone();
    receipt["consentTimestamp"] = json!(1_736_157_600.0);
    corpus.receipt("edge", "timestamp-fraction", &with(&receipt), &keys);
    let mut receipt = case.receipt.clone();
    receipt["confide"]["consentVersion"] = json!(2.0);
    corpus.receipt("edge", "version-fraction", &with(&receipt), &keys);
    for (name, at, expires_at) in [
        (
            "offset",
            "2027-06-30T01:00:00.250+01:00",
            "2027-06-30T00:00:00Z",
        ),
        (
            "offset-kept",
            "2027-06-30T01:00:00.250+01:00",
            "2027-06-30T01:00:00+01:00",
        ),
        (
            "no-fraction",
            "2027-06-30T00:00:00Z",
            "2027-06-30T00:00:00Z",
        ),
        (
            "lowercase-z",
            "2027-06-30t00:00:00z",
            "2027-06-30T00:00:00Z",
        ),
        (
            "no-such-day",
            "2027-02-30T00:00:00Z",
            "2027-02-30T00:00:00Z",
        ),
        (
            "leap-day",
            "2028-02-29T23:59:59.999Z",
            "2028-02-29T23:59:59Z",
        ),
        (
            "leap-second",
            "2027-06-30T23:59:60Z",
            "2027-06-30T23:59:60Z",
        ),
    ] {
        let termination = format!("expires at {expires_at}; may be withdrawn at any time");
        let dated = ReceiptCase::new(
            json!({ "kind": "on_date", "at": at }),
            &termination,
            json!(expires_at),
        );
        corpus.receipt("edge", &format!("expiry-{name}"), &dated.answer(), &keys);
    }

    // The proof.
    corpus.receipt("proof", "stranger-key", &answer, &[stranger().verifier()]);
    corpus.receipt(
        "valid",
        "two-keys",
        &answer,
        &[stranger().verifier(), operator().verifier()],
    );
    let proof_at = |edit: &dyn Fn(&mut Value)| {
        let mut answer = answer.clone();
        edit(&mut answer["data"]["consentReceipt"]["proof"]);
        answer
    };
    let edits: Vec<(&str, ProofEdit)> = vec![
        (
            "envelope-edited",
            Box::new(|proof| {
                let text = proof["events"][1]["envelope"].as_str().unwrap();
                proof["events"][1]["envelope"] = json!(text.replacen("en-GB", "en-US", 1));
            }),
        ),
        (
            "envelope-not-canonical",
            Box::new(|proof| {
                let text = proof["events"][0]["envelope"].as_str().unwrap();
                proof["events"][0]["envelope"] = json!(text.replacen("\":", "\": ", 1));
            }),
        ),
        (
            "envelope-not-json",
            Box::new(|proof| proof["events"][0]["envelope"] = json!("{\"event_id\"")),
        ),
        (
            "path-edited",
            Box::new(|proof| {
                let hash = proof["events"][0]["inclusionPath"][0].as_str().unwrap();
                let flipped = if hash.starts_with('0') { "1" } else { "0" };
                proof["events"][0]["inclusionPath"][0] = json!(format!("{flipped}{}", &hash[1..]));
            }),
        ),
        (
            "path-shortened",
            Box::new(|proof| {
                proof["events"][1]["inclusionPath"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "path-uppercase",
            Box::new(|proof| {
                let hash = proof["events"][0]["inclusionPath"][0].as_str().unwrap();
                proof["events"][0]["inclusionPath"][0] = json!(hash.to_uppercase());
            }),
        ),
        (
            "tree-size",
            Box::new(|proof| {
                let size = proof["treeSize"].as_u64().unwrap();
                proof["treeSize"] = json!(size - 1);
            }),
        ),
        (
            "sequence",
            Box::new(|proof| {
                let sequence = proof["events"][1]["sequence"].as_u64().unwrap();
                proof["events"][1]["sequence"] = json!(sequence + 1);
            }),
        ),
        (
            "reversed",
            Box::new(|proof| proof["events"].as_array_mut().unwrap().reverse()),
        ),
        (
            "given-alone",
            Box::new(|proof| {
                proof["events"].as_array_mut().unwrap().remove(0);
            }),
        ),
        (
            "requested-alone",
            Box::new(|proof| {
                proof["events"].as_array_mut().unwrap().pop();
            }),
        ),
        ("no-events", Box::new(|proof| proof["events"] = json!([]))),
        (
            "checkpoint-edited",
            Box::new(|proof| {
                let note = proof["checkpoint"].as_str().unwrap();
                proof["checkpoint"] =
                    json!(note.replacen("confide.example/", "confide.exampl/", 1));
            }),
        ),
        (
            "checkpoint-unsigned",
            Box::new(|proof| {
                let note = proof["checkpoint"].as_str().unwrap();
                let body_end = note.find("\n\n").unwrap() + 2;
                proof["checkpoint"] = json!(&note[..body_end]);
            }),
        ),
        (
            "unknown-member",
            Box::new(|proof| proof["signedBy"] = json!("the operator")),
        ),
        (
            "unknown-event-member",
            Box::new(|proof| proof["events"][0]["note"] = json!("x")),
        ),
        (
            "tree-size-text",
            Box::new(|proof| proof["treeSize"] = json!("57")),
        ),
    ];
    for (name, edit) in &edits {
        corpus.receipt("proof", name, &proof_at(edit.as_ref()), &keys);
    }
    // Another tenant's checkpoint: same tree, another origin.
    let mut foreign = answer.clone();
    let note = answer["data"]["consentReceipt"]["proof"]["checkpoint"]
        .as_str()
        .unwrap();
    let body = &note[..note.find("\n\n").unwrap() + 1];
    let parsed = Checkpoint::parse_body(body).unwrap();
    foreign["data"]["consentReceipt"]["proof"]["checkpoint"] = json!(
        operator().sign(
            &Checkpoint {
                origin: "confide.example/another-tenant".to_owned(),
                ..parsed
            }
            .to_body()
        )
    );
    corpus.receipt("proof", "origin-of-another-tenant", &foreign, &keys);
}

/// Receipts edited at random, value by value: members replaced by values of other types,
/// other members' values, numbers at the edges, or removed; list items repeated.
fn fuzzed_receipts(corpus: &mut Corpus) {
    let keys = [operator().verifier()];
    let (expiry, termination, expires_at) = expiries().swap_remove(2);
    let answer = ReceiptCase::new(expiry, termination, expires_at).answer();
    let mut pointers = Vec::new();
    every_pointer(&answer, "", &mut pointers);
    // A fixed xorshift, so the cases are the same in every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let replacements = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(2.0),
        json!(9_007_199_254_740_993_u64),
        json!(""),
        json!("x"),
        json!("2027-06-30T00:00:00Z"),
        json!([]),
        json!({}),
        json!(["x"]),
    ];
    for n in 0..mutated_cases() * 2 {
        let mut edited = answer.clone();
        for _ in 0..1 + next(2) {
            let pointer = &pointers[next(pointers.len())];
            let Some(target) = edited.pointer(pointer).cloned() else {
                continue;
            };
            let choice = next(replacements.len() + 3);
            let value = if choice < replacements.len() {
                replacements[choice].clone()
            } else if choice == replacements.len() {
                // Another member's value.
                let other = &pointers[next(pointers.len())];
                edited.pointer(other).cloned().unwrap_or(Value::Null)
            } else if choice == replacements.len() + 1 {
                // Removed.
                let (parent, name) = pointer.rsplit_once('/').unwrap();
                if let Some(Value::Object(object)) = edited.pointer_mut(parent) {
                    object.remove(name);
                }
                continue;
            } else {
                // A list's item repeated.
                match target {
                    Value::Array(mut items) if !items.is_empty() => {
                        items.push(items[0].clone());
                        Value::Array(items)
                    }
                    other => other,
                }
            };
            *edited.pointer_mut(pointer).unwrap() = value;
        }
        corpus.receipt("fuzzed", &format!("fuzzed-{n:03}"), &edited, &keys);
    }
}

/// Every member and item of `value` below `at`, as JSON pointers.
fn every_pointer(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (name, member) in object {
                let pointer = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                every_pointer(member, &pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                out.push(pointer.clone());
                every_pointer(item, &pointer, out);
            }
        }
        _ => {}
    }
}

// -------------------------------------------------------------------------------------
// Running the JavaScript verifier on the corpus.

fn corpus_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("CONFIDE_CORPUS_DIR") {
            Some(dir) => PathBuf::from(dir),
            // Cargo's temporary directory for this crate's tests: written anew each run, not
            // left behind once per run.
            None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("confide-corpus"),
        };
        let mut corpus = Corpus::new(dir);
        untampered(&mut corpus);
        tampered(&mut corpus);
        edges(&mut corpus);
        mutated(&mut corpus);
        receipts(&mut corpus);
        fuzzed_receipts(&mut corpus);
        corpus.finish()
    })
}

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Whether `program --version` runs; with `CI=true` a missing program fails the test.
fn available(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(!in_ci(), "{program} is needed to run this test (CI=true)");
        eprintln!("SKIPPED: {program} is not installed");
    }
    found
}

#[test]
fn the_corpus_has_every_tampering_class_and_valid_bundles_and_receipts() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(corpus_dir().join("manifest.json")).unwrap())
            .unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    let names: std::collections::BTreeSet<&str> = cases
        .iter()
        .filter(|case| case["expect"]["ok"] == false)
        .map(|case| case["expect"]["failures"][0].as_str().unwrap())
        .collect();
    // Every failure name of the bundle format's section 11 but Io, and the receipt's.
    for name in [
        "Truncated",
        "Malformed",
        "NotCanonical",
        "UnsupportedVersion",
        "UnknownSigner",
        "BadCheckpointSignature",
        "OriginMismatch",
        "CheckpointRollback",
        "InconsistentTrees",
        "ConsistencyProofMissing",
        "PayloadAltered",
        "EventDropped",
        "EventsOutOfOrder",
        "EventInserted",
        "WrongTenant",
        "OutsideScan",
        "FilterMismatch",
        "FilterNotClosed",
        "BadInclusionProof",
        "CountMismatch",
        "DigestMismatch",
        "TrailingData",
        "MalformedProof",
        "ReceiptProof",
        "ReceiptMismatch",
    ] {
        assert!(names.contains(name), "no case fails with {name}");
    }
    // Each hand-made case fails with the failure of its class.
    for case in cases {
        let class = case["class"].as_str().unwrap();
        if case["kind"] == "bundle" && class.chars().next().unwrap().is_uppercase() {
            assert_eq!(case["expect"]["failures"][0], class, "{}", case["name"]);
        }
        if class == "valid" {
            assert_eq!(case["expect"]["ok"], true, "{}", case["name"]);
        }
    }
    let valid = cases
        .iter()
        .filter(|case| case["expect"]["ok"] == true)
        .count();
    assert!(
        valid > 20 && cases.len() > 400,
        "{valid} of {}",
        cases.len()
    );
}

#[test]
fn the_javascript_verifier_agrees_under_node() {
    let dir = corpus_dir();
    if !available("node") {
        return;
    }
    let status = Command::new("node")
        .arg("--test")
        .arg(web().join("tests/js/"))
        .env("CONFIDE_CORPUS_DIR", dir)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "node --test services/web/tests/js/ failed"
    );
}

#[test]
fn the_javascript_verifier_agrees_in_chromium() {
    let dir = corpus_dir();
    if !available("node") {
        return;
    }
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(!in_ci(), "{} is needed (CI=true)", chromium.display());
        eprintln!("SKIPPED: {} is not installed", chromium.display());
        return;
    }
    let browser = web().join("tests/browser");
    if !browser.join("node_modules/playwright-core").exists() {
        assert!(available("npm"));
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&browser)
            .status()
            .unwrap();
        assert!(status.success(), "npm ci failed in {}", browser.display());
    }
    let status = Command::new("node")
        .arg("--test")
        .arg(browser.join("verifier.test.mjs"))
        .env("CONFIDE_CORPUS_DIR", dir)
        .status()
        .unwrap();
    assert!(status.success(), "the verifier's browser test failed");
}
