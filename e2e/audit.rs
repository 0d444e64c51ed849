//! Audit exports against the real binary on PostgreSQL: `confide audit export` writes a bundle
//! of a real tenant's log that verifies offline against the key `confide audit key` prints;
//! the same bundle downloaded through `exportAuditTrail` verifies too; tampering with the
//! bundle is named; and a row edited in the database is found by `confide audit verify-store`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod common;

use common::Confide;
use confide_audit::checkpoint::NoteVerifier;
use confide_audit::verify::{VerifiedBundle, VerifyError, VerifyOptions, verify_bundle};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

fn verify(
    bundle: &[u8],
    key: &NoteVerifier,
    previous: Option<&str>,
) -> Result<VerifiedBundle, VerifyError> {
    let options = VerifyOptions {
        trusted_keys: vec![key.clone()],
        previous: previous.map(str::to_owned),
    };
    verify_bundle(bundle, &options, &mut ())
}

fn lines(bundle: &[u8]) -> Vec<String> {
    String::from_utf8(bundle.to_vec())
        .unwrap()
        .lines()
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The index of the `n`th event line.
fn event_line(lines: &[String], n: usize) -> usize {
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains("\"type\":\"event\""))
        .nth(n)
        .unwrap()
        .0
}

#[tokio::test]
async fn an_auditor_verifies_a_real_tenants_log_offline_and_tampering_is_named() {
    let server = Confide::start(&[]).await;
    let tenant = "community-counselling";
    let (sam, ada, recordings) = server.supervised_recordings(tenant, 3);
    for recording in &recordings {
        server.ok(
            &ada,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed } }",
            json!({ "r": recording }),
        );
    }
    let key = NoteVerifier::parse(server.cli(&["audit", "key"]).trim()).unwrap();
    let first_audit = server.cli(&["checkpoint", "--tenant", tenant]);

    // The operator's export, against the previous audit's checkpoint.
    let dir = server.data_dir();
    std::fs::write(dir.join("previous.note"), &first_audit).unwrap();
    let whole = dir.join("whole.jsonl");
    let output = server.cli_output(&[
        "audit",
        "export",
        "--tenant",
        tenant,
        "--previous",
        dir.join("previous.note").to_str().unwrap(),
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bundle = std::fs::read(&whole).unwrap();
    let verified = verify(&bundle, &key, Some(&first_audit)).unwrap();
    assert_eq!(verified.header.tenant_id, tenant);
    assert!(verified.keys_trusted);
    assert_eq!(
        verified.events, verified.checkpoint.size,
        "the whole log is disclosed"
    );
    let text = String::from_utf8(bundle.clone()).unwrap();
    assert!(text.contains("\"event_type\":\"PlaybackRefused\""));
    assert!(
        text.contains("\"event_type\":\"AuditTrailExported\""),
        "the export is itself logged"
    );
    assert!(!text.contains("Client 0"), "clients' names are sealed");

    // Tampering with the real bundle: each case is named.
    let original = lines(&bundle);
    let second = event_line(&original, 1);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("PayloadAltered", {
            // One byte of the second event's payload (the first policy): its own type.
            let mut edited = original.clone();
            edited[second] = edited[second].replacen(
                "\"type\":\"TenantPolicySet\"",
                "\"type\":\"TenantPolicySeT\"",
                1,
            );
            assert_ne!(edited[second], original[second]);
            edited
        }),
        ("EventDropped", {
            let mut edited = original.clone();
            edited.remove(second);
            edited
        }),
        ("EventsOutOfOrder", {
            let mut edited = original.clone();
            edited.swap(second, second + 1);
            edited
        }),
        ("EventInserted", {
            let mut edited = original.clone();
            let copy = edited[second].clone();
            edited.insert(second + 1, copy);
            edited
        }),
        ("Truncated", original[..original.len() - 3].to_vec()),
    ];
    for (name, edited) in cases {
        let error = verify(edited.concat().as_bytes(), &key, Some(&first_audit)).unwrap_err();
        assert_eq!(error.name(), name, "{error}");
    }
    // Signed by someone else's key; an old checkpoint passed off as the current one.
    let other = NoteVerifier::parse(
        &confide_audit::checkpoint::NoteSigner::generate("confide")
            .unwrap()
            .verifier()
            .to_string(),
    )
    .unwrap();
    assert_eq!(
        verify(&bundle, &other, None).unwrap_err().name(),
        "UnknownSigner"
    );
    let later = server.cli(&["checkpoint", "--tenant", tenant]);
    server.ok(
        &sam,
        "mutation($n: String!) { registerClient(name: $n) }",
        json!({ "n": "A later client" }),
    );
    let latest = server.cli(&["checkpoint", "--tenant", tenant]);
    assert_ne!(later, latest);
    assert_eq!(
        verify(&bundle, &key, Some(&latest)).unwrap_err().name(),
        "CheckpointRollback"
    );

    // An auditor's export over the API, for one recording's trail.
    let admin = server.token(tenant, "admin");
    server.ok(
        &admin,
        "mutation { addMember(userId: \"aud\", roles: [AUDITOR]) { id } }",
        json!({}),
    );
    let aud = server.token(tenant, "aud");
    let exported = server.ok(
        &aud,
        "mutation($r: UUID!, $p: String) { exportAuditTrail(input: { recordingIds: [$r], previousCheckpoint: $p }) { downloadUrl } }",
        json!({ "r": recordings[0], "p": first_audit }),
    );
    let (status, downloaded) = server.get(
        exported["exportAuditTrail"]["downloadUrl"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(status, 200, "{downloaded}");
    let verified = verify(downloaded.as_bytes(), &key, Some(&first_audit)).unwrap();
    assert_eq!(
        verified.header.filter.subjects["recording"].len(),
        1,
        "{:?}",
        verified.header.filter
    );
    let disclosed: Vec<Value> = downloaded
        .lines()
        .filter(|line| line.contains("\"type\":\"event\""))
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["envelope"].clone())
        .collect();
    assert!(
        disclosed
            .iter()
            .any(|e| e["event_type"] == "RecordingCreated")
    );
    assert!(
        disclosed
            .iter()
            .any(|e| e["event_type"] == "PlaybackRefused")
    );
    assert!(
        disclosed
            .iter()
            .all(|e| e["stream_id"] != format!("recording-{}", recordings[1].as_str().unwrap()))
    );

    // The store checks itself; then someone edits a row in the database.
    let checked = server.cli(&["audit", "verify-store", "--tenant", tenant]);
    assert!(checked.contains("verified"), "{checked}");
    let mut database = PgConnection::connect(&server.database_url()).await.unwrap();
    let mut tx = database.begin().await.unwrap();
    sqlx::query("SELECT set_config('confide.tenant_id', $1, true)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    let edited = sqlx::query(
        "UPDATE events SET payload = replace(payload, '\"supervision\"', '\"credentialing\"') \
         WHERE tenant_id = $1 AND event_type = 'PlaybackRefused' AND sequence = \
         (SELECT min(sequence) FROM events WHERE tenant_id = $1 AND event_type = 'PlaybackRefused') \
         RETURNING sequence",
    )
    .bind(tenant)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let sequence: i64 = sqlx::Row::get(&edited, 0);
    let output = server.cli_output(&["audit", "verify-store", "--tenant", tenant]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("event {sequence} (PlaybackRefused"))
            && stderr.contains("changed after it was appended"),
        "{stderr}"
    );
}
