//! Consent receipts over a real server on port 0, on SQLite and PostgreSQL: a client gives
//! consent through their link, fetches the receipt, and checks its proof offline against the
//! server's checkpoint key; nobody else's link may read it, and a tampered proof fails.

use confide_audit::checkpoint::NoteSigner;
use confide_audit::receipt::{
    ReceiptError, ReceiptProof, check_receipt_claims, verify_receipt_proof,
};
use confide_test_support::both_backends;
use confide_test_support::server::{Backend, Server, code, spawn_app};
use serde_json::json;
use sha2::{Digest, Sha256};

const FORM_TEXT: &str = "I agree that my sessions may be recorded in audio. Ada, my course tutor, \
    may listen to assess my counsellor's course work; the two assessors at Oxford Brookes may \
    listen for their credential. I may withdraw at any time.";

const RECEIPT: &str = "query($id: UUID!) { consentReceipt(consentId: $id) { receipt proof { events { envelope sequence inclusionPath } treeSize checkpoint } } }";

async fn a_client_checks_the_receipt_of_their_consent(server: Server) {
    let verifier = server.checkpoint_key.clone();
    server.create_tenant("clinic", "admin").await;
    server.create_tenant("other-clinic", "admin").await;
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
    let form = server.publish_form(&admin, FORM_TEXT).await;
    let register =
        "mutation($n: String!) { registerClient(name: $n, contact: \"morgan@example.org\") }";
    let client = server
        .ok(&sam, register, json!({ "n": "Morgan Ellis" }))
        .await["registerClient"]
        .clone();
    let other_client = server
        .ok(&sam, register, json!({ "n": "Robin Hale" }))
        .await["registerClient"]
        .clone();
    let expires_at = "2027-06-30T00:00:00Z";
    let (consent, link) = server
        .request_consent(
            &sam,
            json!({
                "clientId": client, "consentFormId": form["id"], "expiresAt": expires_at,
                "purposes": [
                    { "purpose": "COURSE_ASSESSMENT", "users": ["ada"], "media": ["AUDIO"] },
                    { "purpose": "CREDENTIALING", "users": ["assessor-brookes-1", "assessor-brookes-2"], "media": ["AUDIO"] },
                ],
            }),
        )
        .await;
    let (other_consent, other_link) = server
        .request_consent(
            &sam,
            json!({
                "clientId": other_client, "consentFormId": form["id"],
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }),
        )
        .await;

    let early = server
        .graphql(&link, RECEIPT, json!({ "id": consent }))
        .await;
    assert_eq!(
        code(&early),
        "CONFLICT",
        "no receipt before consent is given: {early}"
    );

    server.give_consent(&link, &consent, "Morgan Ellis").await;

    // The client's own link fetches the receipt and checks it offline.
    let response = server.ok(&link, RECEIPT, json!({ "id": consent })).await;
    let receipt = response["consentReceipt"]["receipt"].clone();
    let proof: ReceiptProof =
        serde_json::from_value(response["consentReceipt"]["proof"].clone()).unwrap();
    let verified = verify_receipt_proof(&proof, std::slice::from_ref(&verifier)).unwrap();
    let given = verified.given();
    assert_eq!(given.event_type, "ConsentGiven");
    assert_eq!(verified.requested().event_type, "ConsentRequested");
    assert_eq!(given.tenant_id, "clinic");
    assert_eq!(
        given.stream_id,
        format!("consent-{}", consent.as_str().unwrap())
    );
    assert_eq!(
        json!(given.event_id),
        receipt["consentReceiptID"],
        "the receipt's id is the logged event's"
    );
    // What the receipt says of the terms and the evidence is what was logged.
    check_receipt_claims(&receipt, &verified).unwrap();
    let mut widened = receipt.clone();
    widened["confide"]["purposes"][0]["audience"]["users"]
        .as_array_mut()
        .unwrap()
        .push(json!("eve"));
    assert!(matches!(
        check_receipt_claims(&widened, &verified),
        Err(ReceiptError::ClaimMismatch { claim, .. }) if claim == "/confide/purposes/0/audience/users"
    ));
    // The terms as a person reads them are checked too (issue: a listener, video or a later
    // expiry added to the human-readable members verified).
    for (member, value) in [
        ("/services/0/purposes/0/thirdPartyName", json!("ada, eve")),
        (
            "/services/0/purposes/0/piiCategory",
            json!(["audio", "video"]),
        ),
        ("/confide/expiresAt", json!("2037-06-30T00:00:00Z")),
    ] {
        let mut tampered = receipt.clone();
        *tampered.pointer_mut(member).unwrap() = value;
        match check_receipt_claims(&tampered, &verified) {
            Err(ReceiptError::ClaimMismatch { claim, .. }) => assert_eq!(claim, member),
            other => panic!("{member}: {other:?}"),
        }
    }
    assert_eq!(
        receipt["confide"]["unproven"],
        json!(confide_audit::receipt::UNPROVEN_MEMBERS)
    );
    assert_eq!(proof.tree_size, server.log_size("clinic").await);

    // The Kantara members.
    assert_eq!(receipt["version"], "KI-CR-v1.1.0");
    assert_eq!(receipt["jurisdiction"], "uk_gdpr");
    assert_eq!(receipt["language"], "en-GB");
    assert_eq!(receipt["collectionMethod"], "client_link_signature");
    assert!(receipt["consentTimestamp"].is_i64());
    assert_eq!(receipt["piiPrincipalId"], client);
    assert_eq!(receipt["publicKey"], json!(verifier.to_string()));
    assert_eq!(
        receipt["piiControllers"][0]["piiController"],
        "Community Counselling"
    );
    for member in ["contact", "address", "email", "phone", "onBehalf"] {
        assert!(
            !receipt["piiControllers"][0][member].is_null(),
            "{member} is present"
        );
    }
    assert_eq!(
        receipt["policyUrl"],
        json!(format!(
            "urn:confide:consent-form:{}:{}",
            form["id"].as_str().unwrap(),
            form["version"]
        ))
    );
    assert_eq!(receipt["sensitive"], true);
    assert_eq!(receipt["spiCat"], json!(["health"]));
    let services = receipt["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["service"], "Recording consent");
    let purposes = services[0]["purposes"].as_array().unwrap();
    let purpose = |name: &str| {
        purposes
            .iter()
            .find(|p| p["purpose"] == name)
            .unwrap_or_else(|| panic!("{name} is in {receipt}"))
            .clone()
    };
    assert_eq!(purposes.len(), 2, "{receipt}");
    let assessment = purpose("course_assessment");
    assert_eq!(
        assessment["purposeCategory"],
        json!(["https://w3id.org/dpv#ProfessionalTraining"])
    );
    assert_eq!(assessment["consentType"], "EXPLICIT");
    assert_eq!(assessment["piiCategory"], json!(["audio"]));
    assert_eq!(assessment["thirdPartyDisclosure"], true);
    assert_eq!(assessment["thirdPartyName"], "ada");
    assert!(
        assessment["termination"]
            .as_str()
            .unwrap()
            .contains("2027-06-30T00:00:00Z"),
        "{assessment}"
    );
    assert!(assessment["primaryPurpose"].is_boolean());
    assert_eq!(
        purpose("credentialing")["thirdPartyName"],
        "assessor-brookes-1, assessor-brookes-2"
    );

    // Confide's details: the exact text shown, the expiry, the consent.
    let sha256 = hex::encode(Sha256::digest(FORM_TEXT.as_bytes()));
    let details = &receipt["confide"];
    assert_eq!(details["consentForm"]["id"], form["id"]);
    assert_eq!(details["consentForm"]["version"], form["version"]);
    assert_eq!(details["consentForm"]["textSha256"], json!(sha256));
    assert_eq!(details["consentId"], consent);
    assert_eq!(details["consentVersion"], 2, "requested, then given");
    assert_eq!(details["expiresAt"], expires_at);
    assert_eq!(
        given.payload["evidence"]["form"]["text_sha256"],
        json!(sha256),
        "the logged evidence names the same text"
    );

    // The client is named only by their id, in the receipt and in its proof.
    let whole = response.to_string();
    for name in ["Morgan", "Ellis", "morgan@example.org"] {
        assert!(!whole.contains(name), "{name} is in {whole}");
    }

    // A tampered envelope, path or key fails.
    let mut tampered = proof.clone();
    let last = &mut tampered.events[1].envelope;
    let at = last.find("\"sequence\":").unwrap() + "\"sequence\":".len();
    let digit = if &last[at..=at] == "1" { "2" } else { "1" };
    last.replace_range(at..=at, digit);
    assert!(
        verify_receipt_proof(&tampered, std::slice::from_ref(&verifier)).is_err(),
        "an edited envelope fails"
    );
    let mut evidence = proof.clone();
    evidence.events[1].envelope =
        evidence.events[1]
            .envelope
            .replacen("client_link_signature", "paper_form_scanned", 1);
    assert!(matches!(
        verify_receipt_proof(&evidence, std::slice::from_ref(&verifier)),
        Err(ReceiptError::Inclusion(_))
    ));
    let stranger = NoteSigner::generate("confide.test").unwrap().verifier();
    assert!(matches!(
        verify_receipt_proof(&proof, &[stranger]),
        Err(ReceiptError::UntrustedCheckpoint { .. })
    ));

    // A consent without an expiry: its receipt says so, and verifies.
    server
        .give_consent(&other_link, &other_consent, "Robin Hale")
        .await;
    let other = server
        .ok(&other_link, RECEIPT, json!({ "id": other_consent }))
        .await;
    let other_receipt = &other["consentReceipt"]["receipt"];
    let other_proof: ReceiptProof =
        serde_json::from_value(other["consentReceipt"]["proof"].clone()).unwrap();
    let other_verified =
        verify_receipt_proof(&other_proof, std::slice::from_ref(&verifier)).unwrap();
    check_receipt_claims(other_receipt, &other_verified).unwrap();
    assert_eq!(
        other_receipt["confide"]["expiresAt"],
        serde_json::Value::Null
    );
    assert_eq!(
        other_receipt["services"][0]["purposes"][0]["termination"],
        "does not expire by itself; may be withdrawn at any time"
    );

    // Who else may read it.
    let refused = server
        .graphql(&other_link, RECEIPT, json!({ "id": consent }))
        .await;
    assert_eq!(
        code(&refused),
        "FORBIDDEN",
        "another client's link: {refused}"
    );
    let tutor = server
        .graphql(
            &server.token("clinic", "ada"),
            RECEIPT,
            json!({ "id": consent }),
        )
        .await;
    assert_eq!(code(&tutor), "FORBIDDEN", "a tutor: {tutor}");
    let outsider = server
        .graphql(
            &server.token("other-clinic", "admin"),
            RECEIPT,
            json!({ "id": consent }),
        )
        .await;
    assert_eq!(code(&outsider), "NOT_FOUND", "another tenant: {outsider}");
    for token in [&sam, &admin, &server.token("clinic", "aud")] {
        let seen = server.ok(token, RECEIPT, json!({ "id": consent })).await;
        assert_eq!(seen["consentReceipt"]["receipt"], receipt);
    }

    // A later partial withdrawal does not rewrite what was agreed; the new proof is
    // against the log as it now is.
    server
        .ok(
            &link,
            "mutation($id: UUID!) { withdrawConsent(input: { consentId: $id, purpose: COURSE_ASSESSMENT, audienceMember: \"ada\" }) { id } }",
            json!({ "id": consent }),
        )
        .await;
    let later = server.ok(&link, RECEIPT, json!({ "id": consent })).await;
    assert_eq!(later["consentReceipt"]["receipt"], receipt);
    let later: ReceiptProof =
        serde_json::from_value(later["consentReceipt"]["proof"].clone()).unwrap();
    assert!(later.tree_size > proof.tree_size);
    assert_eq!(later.events.len(), 2);
    for (later, first) in later.events.iter().zip(&proof.events) {
        assert_eq!(later.envelope, first.envelope);
    }
    let verified_later = verify_receipt_proof(&later, &[verifier]).unwrap();
    check_receipt_claims(&receipt, &verified_later).unwrap();
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    a_client_checks_the_receipt_of_their_consent,
);
