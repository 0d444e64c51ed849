//! Audit exports over the API on SQLite and PostgreSQL: `exportAuditTrail` records the export
//! and returns a ticket URL whose bundle verifies offline; after a client's erasure the bundle
//! still verifies while their personal details can no longer be read.

use confide_audit::bundle::{BundleReader, Line};
use confide_audit::checkpoint::NoteSigner;
use confide_audit::verify::{VerifyOptions, verify_bundle};
use confide_domain::aggregates::tenant::AuditScope;
use confide_domain::{ClientId, KeyId, TenantId};
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_test_support::both_backends;
use confide_test_support::server::{Backend, Server, code, http_bytes, spawn_app};
use serde_json::{Value, json};

/// A counselling service where sam's client consents to supervision by ada, and another
/// client is registered; returns the admin's and auditor's tokens and the client's id.
async fn organisation(server: &Server) -> (String, String, String, String) {
    server.create_tenant("clinic", "admin").await;
    let admin = server.token("clinic", "admin");
    server
        .add_members(
            &admin,
            &[
                ("sam", "PRACTITIONER"),
                ("ada", "TUTOR"),
                ("aud", "AUDITOR"),
            ],
        )
        .await;
    let sam = server.token("clinic", "sam");
    let form = server
        .publish_form(&admin, "I agree to audio recording for supervision by ada.")
        .await["id"]
        .clone();
    let register = "mutation($n: String!) { registerClient(name: $n) }";
    let client = server
        .ok(&sam, register, json!({ "n": "Jordan Price" }))
        .await["registerClient"]
        .clone();
    server
        .ok(&sam, register, json!({ "n": "Robin Hale" }))
        .await;
    let (consent, link) = server
        .request_consent(
            &sam,
            json!({
                "clientId": client, "consentFormId": form,
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }),
        )
        .await;
    server.give_consent(&link, &consent, "Jordan Price").await;
    server
        .ok(
            &sam,
            "mutation($c: UUID!) { createRecording(consentId: $c, sessionOn: \"2026-11-20\", medium: AUDIO) { id } }",
            json!({ "c": consent }),
        )
        .await;
    let aud = server.token("clinic", "aud");
    (admin, aud, sam, client.as_str().unwrap().to_owned())
}

/// The body of a `GET`, de-chunked.
async fn download(server: &Server, path: &str) -> (u16, String, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\n\r\n");
    let (status, head, body) = http_bytes(server.address, request.as_bytes()).await;
    if !head.contains("transfer-encoding: chunked") {
        return (status, head, body);
    }
    let mut out = Vec::new();
    let mut rest = body.as_slice();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            break;
        }
        let chunk = &rest[line_end + 2..];
        out.extend_from_slice(&chunk[..size]);
        rest = &chunk[size + 2..];
    }
    (status, head, out)
}

/// Every disclosed event of a bundle: (event type, payload).
fn disclosed(bundle: &[u8]) -> Vec<(String, Value)> {
    let mut reader = BundleReader::new(bundle);
    let mut events = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        if let Line::Event(event) = line {
            events.push((
                event.event_type().into_owned(),
                serde_json::from_str(event.payload_json()).unwrap(),
            ));
        }
    }
    events
}

async fn an_auditor_downloads_a_client_trail_that_verifies(server: Server) {
    let (admin, aud, sam, client) = organisation(&server).await;
    let previous = server
        .ok(&aud, "mutation { checkpoint { note keyId } }", json!({}))
        .await["checkpoint"]
        .clone();
    let exported = server
        .ok(
            &aud,
            "mutation($c: UUID!, $p: String) { exportAuditTrail(input: { clientIds: [$c], previousCheckpoint: $p }) { exportId downloadUrl expiresAt } }",
            json!({ "c": client, "p": previous["note"] }),
        )
        .await["exportAuditTrail"]
        .clone();
    let url = exported["downloadUrl"].as_str().unwrap();
    let (status, head, bundle) = download(&server, url).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bundle));
    assert!(head.contains("content-type: application/jsonl"), "{head}");

    let options = VerifyOptions {
        trusted_keys: vec![server.checkpoint_key.clone()],
        previous: Some(previous["note"].as_str().unwrap().to_owned()),
    };
    let verified = verify_bundle(bundle.as_slice(), &options, &mut ()).unwrap();
    assert_eq!(verified.header.tenant_id, "clinic");
    assert!(
        verified.keys_trusted,
        "signed by the server's checkpoint key"
    );
    assert_eq!(
        format!("{:08x}", verified.signed_by[0].key_id()),
        previous["keyId"].as_str().unwrap()
    );
    // The bundle carries the consistency proof from the auditor's checkpoint, and the
    // auditor's own copy of it checks against the bundle too.
    assert_eq!(verified.extends.len(), 2, "{:?}", verified.extends);
    assert!(
        verified
            .extends
            .iter()
            .all(|e| e.size < verified.checkpoint.size)
    );
    // The client's registration, their consent requested and given, their recording; none
    // of the other client's events.
    let types: Vec<String> = disclosed(&bundle).into_iter().map(|(t, _)| t).collect();
    for expected in [
        "ClientRegistered",
        "ConsentRequested",
        "ConsentGiven",
        "RecordingCreated",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} in {types:?}"
        );
    }
    assert_eq!(types.iter().filter(|t| *t == "ClientRegistered").count(), 1);
    // The export itself is in the log.
    let log = server
        .ok(
            &aud,
            "{ auditEvents(first: 1000) { nodes { eventType payload metadata } } }",
            json!({}),
        )
        .await["auditEvents"]["nodes"]
        .clone();
    let recorded: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventType"] == "AuditTrailExported")
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["payload"]["export_id"], exported["exportId"]);
    assert_eq!(
        recorded[0]["payload"]["scope"]["client_ids"],
        json!([client])
    );

    // Who may not: a practitioner; a bad previous checkpoint; a forged or altered ticket.
    let refused = server
        .graphql(
            &sam,
            "mutation { exportAuditTrail { exportId } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    let foreign = CheckpointSigner::new(NoteSigner::generate("elsewhere").unwrap(), "elsewhere");
    let foreign_note = confide_eventstore::checkpoint::sign_checkpoint(
        server.store.as_ref(),
        &foreign,
        &TenantId::parse("clinic").unwrap(),
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .note;
    let bad = server
        .graphql(
            &admin,
            "mutation($p: String) { exportAuditTrail(input: { previousCheckpoint: $p }) { exportId } }",
            json!({ "p": foreign_note }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    // One character of the signature changed (not the last, whose low bits are padding).
    let mut altered: Vec<char> = url.chars().collect();
    let at = altered.len() - 10;
    altered[at] = if altered[at] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    let (status, _, _) = download(&server, &altered).await;
    assert_eq!(status, 403);
    // A playback ticket's place is not an export ticket's.
    let (status, _, _) = download(&server, &url.replace("/v1/audit/exports/", "/v1/media/")).await;
    assert_eq!(status, 403);

    // An auditor who loses the role downloads nothing more.
    server
        .ok(
            &admin,
            "mutation { changeMemberRoles(userId: \"aud\", roles: [TUTOR]) { id } }",
            json!({}),
        )
        .await;
    let (status, _, body) = download(&server, url).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
}

async fn after_erasure_the_bundle_verifies_and_the_details_are_unreadable(server: Server) {
    let (admin, _, _, client) = organisation(&server).await;
    let tenant = TenantId::parse("clinic").unwrap();
    let erasure = server
        .ok(
            &admin,
            "mutation($c: UUID!) { openSubjectRequest(clientId: $c, kind: ERASURE) { id } }",
            json!({ "c": client }),
        )
        .await["openSubjectRequest"]["id"]
        .clone();
    let export = |server: &Server| {
        let app = server.app.clone();
        let client = client.clone();
        let tenant = tenant.clone();
        let trusted = server.checkpoint_key.clone();
        async move {
            let operator = confide_app::Caller {
                tenant: tenant.clone(),
                actor: confide_domain::Actor::system(confide_domain::SystemJob::Operator),
            };
            let scope = AuditScope {
                client_ids: [ClientId::parse(&client).unwrap()].into(),
                ..AuditScope::default()
            };
            let mut bundle = Vec::new();
            app.write_audit_bundle(&operator, &scope, None, &mut bundle)
                .await
                .unwrap();
            let options = VerifyOptions {
                trusted_keys: vec![trusted],
                previous: None,
            };
            let verified = verify_bundle(bundle.as_slice(), &options, &mut ()).unwrap();
            assert!(verified.keys_trusted);
            bundle
        }
    };
    let before = export(&server).await;
    server
        .ok(
            &admin,
            "mutation($id: UUID!) { decideSubjectRequest(id: $id, outcome: GRANTED) { outcome } }",
            json!({ "id": erasure }),
        )
        .await;
    let after = export(&server).await;

    // Every event disclosed before the erasure is disclosed after it, byte for byte: the log
    // and its proofs are untouched by the erasure.
    let (before, after) = (disclosed(&before), disclosed(&after));
    assert!(after.len() > before.len());
    assert_eq!(after[..before.len()], before[..]);
    assert!(after.iter().any(|(t, _)| t == "ClientErased"), "{after:?}");
    let text = serde_json::to_string(&after).unwrap();
    assert!(!text.contains("Jordan"), "no name in the clear: {text}");

    // The sealed details are still there, and no longer open.
    let key = KeyId::parse(&format!("client-{client}")).unwrap();
    let sealed: Vec<&str> = after
        .iter()
        .filter_map(|(_, payload)| payload["details"]["ciphertext"].as_str())
        .collect();
    assert!(!sealed.is_empty(), "{after:?}");
    for ciphertext in sealed {
        assert!(matches!(
            server.keys.open(&tenant, &key, ciphertext).await,
            Err(confide_vault::KeyError::Destroyed { .. })
        ));
    }
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    an_auditor_downloads_a_client_trail_that_verifies,
);

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    after_erasure_the_bundle_verifies_and_the_details_are_unreadable,
);
