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

mod bundles;
mod edges;
mod fuzzed;
mod receipts;
#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bundles::*;
use confide_audit::bundle::Filter;
use confide_audit::checkpoint::{Checkpoint, NoteVerifier};
use confide_audit::envelope::Envelope;
use confide_audit::merkle;
use confide_audit::receipt::{
    ReceiptError, ReceiptProof, UNPROVEN_MEMBERS, check_receipt_claims, verify_receipt_proof,
};
use confide_audit::report::ConsentTrail;
use confide_audit::verify::{VerifyOptions, verify_bundle};
use edges::*;
use fuzzed::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use receipts::*;
use serde_json::{Value, json};
use support::mutation::{apply, mutation};
use support::{
    Export, ReceiptCase, Tree, checkpoint_note, expiries, join, lines, operator, reseal, stranger,
};

/// Mutated bundles drawn from the fuzzer's strategy, and hostile tails; more with
/// `CONFIDE_CORPUS_MUTATIONS=N` (N mutated bundles and N / 4 hostile tails).
pub(crate) const MUTATED_CASES: usize = 160;

pub(crate) fn mutated_cases() -> usize {
    std::env::var("CONFIDE_CORPUS_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(MUTATED_CASES)
}

pub(crate) struct Corpus {
    pub(crate) dir: PathBuf,
    pub(crate) cases: Vec<Value>,
}

pub(crate) fn canonical(value: &Value) -> String {
    String::from_utf8(confide_audit::canonical::to_canonical_vec(value).unwrap()).unwrap()
}

pub(crate) fn event_line(envelope: &Envelope) -> String {
    let bytes = envelope.canonical_bytes().unwrap();
    format!(
        "{{\"envelope\":{},\"leaf\":\"{}\",\"type\":\"event\"}}",
        String::from_utf8(bytes.clone()).unwrap(),
        hex::encode(merkle::leaf_hash(&bytes))
    )
}

/// The name of a receipt error's variant, e.g. `ClaimMismatch`.
pub(crate) fn variant(error: &ReceiptError) -> String {
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
pub(crate) fn receipt_verdict(json: &Value, trusted: &[NoteVerifier]) -> Value {
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
