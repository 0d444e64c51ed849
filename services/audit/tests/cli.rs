//! The `confide-verify` binary: exit status, named failures, the CSV and the summary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::{Export, Tree, checkpoint_note, operator};

fn scratch(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("confide-verify-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

fn run(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confide-verify"))
        .args(arguments)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn verifies_reports_and_names_failures() {
    let directory = scratch("main");
    let envelopes = support::synthetic_log(12);
    let tree = Tree::new(&envelopes);
    let signer = operator();
    let size = envelopes.len() as u64;
    let mut export = Export::everything(&envelopes, &tree, &signer);
    let old_note = checkpoint_note(&signer, 30, tree.root(30));
    export.previous = Some((old_note.clone(), tree.consistency(30, size)));
    let bundle = directory.join("bundle.jsonl");
    std::fs::write(&bundle, export.write()).unwrap();
    let previous = directory.join("previous.note");
    // With the blank line an editor may add at the end.
    std::fs::write(&previous, format!("{old_note}\n")).unwrap();
    let csv = directory.join("trail.csv");
    let key = signer.verifier().to_string();
    let bundle_arg = bundle.to_str().unwrap();

    // Verified against the trusted key and the previous checkpoint, with both reports.
    let output = run(&[
        bundle_arg,
        "--trusted-key",
        &key,
        "--previous",
        previous.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--summary",
    ]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("bundle verified"), "{stdout}");
    assert!(stdout.contains(&format!("size {size}")), "{stdout}");
    assert!(
        stdout.contains(&format!("{:08x}", signer.key_id())),
        "{stdout}"
    );
    assert!(
        stdout.contains("your previous checkpoint: size 30"),
        "{stdout}"
    );
    assert!(!text(&output.stderr).contains("WARNING"));
    // The summary names a client, its consent given, and playbacks with their basis.
    assert!(
        stdout.contains(&format!("Client {}", support::client_id(3))),
        "{stdout}"
    );
    assert!(
        stdout.contains("given (client_link_signature, form v1)"),
        "{stdout}"
    );
    assert!(stdout.contains("withdrawn, deletion requested"), "{stdout}");
    assert!(
        stdout.contains("allowed (audio)  ada (member: tutor) for course_assessment on consent"),
        "{stdout}"
    );
    assert!(
        stdout.contains("destroyed (deletion_requested; data key recording-key-3)"),
        "{stdout}"
    );

    let rows = std::fs::read_to_string(&csv).unwrap();
    let mut lines = rows.lines();
    assert_eq!(
        lines.next().unwrap(),
        "sequence,recorded_at,at,category,event_type,stream_id,client_id,recording_id,consent_id,actor,viewer,purpose,basis,outcome"
    );
    let playback = rows
        .lines()
        .find(|line| line.contains(",PlaybackStarted,"))
        .unwrap();
    let fields: Vec<&str> = playback.split(',').collect();
    assert_eq!(fields[3], "access");
    assert_eq!(fields[9], "user:ada");
    assert_eq!(fields[10], "ada (member: tutor)");
    assert_eq!(fields[11], "course_assessment");
    assert!(
        fields[12].starts_with("consent 10000000-") && fields[12].contains("policy v1"),
        "{playback}"
    );
    assert!(
        !fields[6].is_empty(),
        "the playback's client is resolved: {playback}"
    );
    assert!(
        rows.lines()
            .any(|line| line.contains(",ConsentGiven,") && line.contains("client:"))
    );
    assert!(!directory.join("trail.csv.partial").exists());

    // Without a trusted key: verified, with a warning.
    let output = run(&[bundle_arg]);
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("WARNING: no --trusted-key"),
        "{}",
        text(&output.stderr)
    );

    // Tampered: exit 1, the failure named, no CSV left behind.
    let tampered = directory.join("tampered.jsonl");
    let original = std::fs::read_to_string(&bundle).unwrap();
    std::fs::write(
        &tampered,
        original.replacen("\"user_id\":\"ada\"", "\"user_id\":\"eve\"", 1),
    )
    .unwrap();
    let tampered_csv = directory.join("tampered.csv");
    let output = run(&[
        tampered.to_str().unwrap(),
        "--trusted-key",
        &key,
        "--csv",
        tampered_csv.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("FAILED: PayloadAltered: line "), "{stderr}");
    assert!(!tampered_csv.exists());
    assert!(!directory.join("tampered.csv.partial").exists());

    // Another key: UnknownSigner.
    let stranger = support::stranger().verifier().to_string();
    let output = run(&[bundle_arg, "--trusted-key", &stranger]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("FAILED: UnknownSigner: line 3"),
        "{}",
        text(&output.stderr)
    );

    // Usage errors: exit 2.
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(
        run(&[bundle_arg, "--trusted-key", "not-a-key"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["/nonexistent/bundle"]).status.code(), Some(2));
    assert!(run(&["--help"]).status.success());

    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn checks_a_consent_receipt_against_the_trusted_key() {
    let directory = scratch("receipt");
    let (expiry, termination, expires_at) = support::expiries().swap_remove(1);
    let case = support::ReceiptCase::new(expiry, termination, expires_at);
    let answer = case.answer();
    let file = directory.join("receipt.json");
    std::fs::write(&file, answer.to_string()).unwrap();
    let key = operator().verifier().to_string();
    let file_arg = file.to_str().unwrap();
    let given = serde_json::from_str::<serde_json::Value>(&case.proof.events[1].envelope).unwrap();

    let output = run(&["--receipt", file_arg, "--trusted-key", &key]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("consent receipt verified"), "{stdout}");
    assert!(
        stdout.contains(given["event_id"].as_str().unwrap()),
        "{stdout}"
    );
    assert!(
        stdout.contains("not proven:  /piiControllers/0/piiController"),
        "{stdout}"
    );

    // Another operator's key; an edited envelope; no key.
    let stranger = support::stranger().verifier().to_string();
    let output = run(&["--receipt", file_arg, "--trusted-key", &stranger]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let mut edited = answer.clone();
    let envelope = edited["data"]["consentReceipt"]["proof"]["events"][0]["envelope"]
        .as_str()
        .unwrap()
        .replace("\"ada\"", "\"eve\"");
    edited["data"]["consentReceipt"]["proof"]["events"][0]["envelope"] = envelope.into();
    std::fs::write(&file, edited.to_string()).unwrap();
    let output = run(&["--receipt", file_arg, "--trusted-key", &key]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("FAILED: ReceiptProof"),
        "{}",
        text(&output.stderr)
    );

    // Each kind of member changed, widened, narrowed, left out or added: exit 1, naming it.
    let receipt = |member: &str| format!("/data/consentReceipt/receipt{member}");
    let changed = |member: &str, value: serde_json::Value| {
        let mut other = answer.clone();
        *other.pointer_mut(&receipt(member)).unwrap() = value;
        (member.to_owned(), other)
    };
    let mut left_out = answer.clone();
    left_out
        .pointer_mut(&receipt("/confide"))
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("expiresAt");
    let mut added = answer.clone();
    added.pointer_mut(&receipt("/confide")).unwrap()["sharedWith"] =
        serde_json::json!("the police");
    let tampered = [
        changed("/consentReceiptID", serde_json::json!("another")),
        changed(
            "/services/0/purposes/1/thirdPartyName",
            serde_json::json!("practitioner-0, eve"),
        ),
        changed(
            "/services/0/purposes/0/piiCategory",
            serde_json::json!(["audio", "video"]),
        ),
        changed("/services/0/purposes/0/piiCategory", serde_json::json!([])),
        changed(
            "/confide/expiresAt",
            serde_json::json!("2037-06-30T00:00:00Z"),
        ),
        changed(
            "/services/0/purposes/0/termination",
            serde_json::json!("does not expire by itself; may be withdrawn at any time"),
        ),
        changed(
            "/confide/purposes/0/audience/users",
            serde_json::json!(["ada", "bob", "eve"]),
        ),
        changed("/confide/purposes/0/audience/roles", serde_json::json!([])),
        changed("/consentTimestamp", serde_json::json!(0)),
        changed("/collectionMethod", serde_json::json!("paper_form_scanned")),
        changed("/sensitive", serde_json::json!(false)),
        ("/confide/expiresAt".to_owned(), left_out),
        ("/confide/sharedWith".to_owned(), added),
    ];
    for (member, other) in tampered {
        std::fs::write(&file, other.to_string()).unwrap();
        let output = run(&["--receipt", file_arg, "--trusted-key", &key]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{member}: {stderr}");
        assert!(
            stderr.contains("FAILED: ReceiptMismatch") && stderr.contains(&member),
            "{member}: {stderr}"
        );
    }
    // A text no event states may differ.
    let (_, retitled) = changed("/services/0/service", serde_json::json!("Another title"));
    std::fs::write(&file, retitled.to_string()).unwrap();
    let output = run(&["--receipt", file_arg, "--trusted-key", &key]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let output = run(&["--receipt", file_arg]);
    assert_eq!(output.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn reads_a_bundle_from_standard_input() {
    use std::io::Write;
    use std::process::Stdio;

    let envelopes = support::synthetic_log(12);
    let tree = Tree::new(&envelopes);
    let signer = operator();
    let bundle = Export::everything(&envelopes, &tree, &signer).write();
    let key = signer.verifier().to_string();
    let verify = |bytes: Vec<u8>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_confide-verify"))
            .args(["-", "--trusted-key", &key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Written from another thread, so that a full pipe cannot stall the test.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
    };

    let output = verify(bundle.clone());
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("bundle verified"));

    // Cut short on the pipe: named, not waited on.
    let output = verify(bundle[..bundle.len() / 2].to_vec());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("Truncated"),
        "{}",
        text(&output.stderr)
    );
}
