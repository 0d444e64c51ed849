//! The seed stories driven over GraphQL against the real binary on PostgreSQL, with tokens
//! from `confide token` and client links from `requestConsent`: a student counsellor's client
//! who withdraws with deletion, a credential submission's assessor, and the isolation between
//! two organisations on one server.
//!
//! The stories upload no media, so every play here is refused for a recording whose media is
//! not stored; what they check is that each refusal names the right reasons and is itself
//! recorded. Media itself is tested in `services/api/tests/media.rs`, and audit exports of a
//! real tenant's log in `audit.rs` beside this file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod common;

use chrono::{TimeDelta, Utc};
use common::{Confide, code};
use serde_json::{Value, json};

const ADD_MEMBER: &str =
    "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }";
const FORM: &str = "mutation($t: String!) { publishConsentForm(title: \"Recording consent\", language: \"en-GB\", text: $t) { id textSha256 } }";
const REQUEST: &str = "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id status } clientLink { token } } }";
const GIVE: &str = "mutation($id: UUID!, $n: String!) { giveConsent(consentId: $id, typedName: $n) { status version } }";
const CREATE_RECORDING: &str = "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id status } }";
const PLAY: &str = "mutation($r: UUID!, $p: Purpose!) { startPlayback(recordingId: $r, purpose: $p) { allowed access { reasons } } }";

fn members(server: &Confide, admin: &str, people: &[(&str, &str)]) {
    for (user, role) in people {
        server.ok(admin, ADD_MEMBER, json!({ "u": user, "r": [role] }));
    }
}

fn event_types(server: &Confide, auditor: &str) -> Vec<String> {
    server.ok(
        auditor,
        "{ auditEvents(first: 1000) { nodes { eventType } } }",
        json!({}),
    )["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_owned())
        .collect()
}

fn reasons(played: &Value) -> Vec<String> {
    played["startPlayback"]["access"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// A student counsellor's client consents in writing to audio recording for course
/// assessment by two named tutors; the client withdraws with deletion through their link;
/// every tutor is notified, the recording falls due for destruction, and the next play is
/// refused as withdrawn and recorded as refused.
#[tokio::test]
async fn a_student_counsellors_client_withdraws_with_deletion() {
    let server = Confide::start(&[]).await;
    server.create_tenant("community-counselling", "admin", "written_opt_in");
    let token = |user: &str| server.token("community-counselling", user);
    let admin = token("admin");
    members(
        &server,
        &admin,
        &[
            ("sam", "PRACTITIONER"),
            ("ada", "TUTOR"),
            ("ben", "TUTOR"),
            ("aud", "AUDITOR"),
        ],
    );
    let (sam, ada, aud) = (token("sam"), token("ada"), token("aud"));
    let course = server.ok(
        &admin,
        "mutation { createCourse(title: \"Diploma in Counselling\", startsOn: \"2026-09-01\", endsOn: \"2027-06-30\", tutors: [\"ada\", \"ben\"]) { id } }",
        json!({}),
    )["createCourse"]["id"]
        .clone();
    server.ok(
        &admin,
        "mutation($c: UUID!) { enrolInCourse(courseId: $c, userId: \"sam\") { id } }",
        json!({ "c": course }),
    );
    let form = server.ok(
        &admin,
        FORM,
        json!({ "t": "I agree that my sessions may be recorded in audio, for assessment by my counsellor's tutors only." }),
    )["publishConsentForm"]["id"]
        .clone();
    let client = server.ok(
        &sam,
        "mutation { registerClient(name: \"Jordan Price\") }",
        json!({}),
    )["registerClient"]
        .clone();
    let requested = server.ok(
        &sam,
        REQUEST,
        json!({ "input": {
            "clientId": client, "consentFormId": form, "courseId": course,
            "purposes": [{ "purpose": "COURSE_ASSESSMENT", "users": ["ada", "ben"], "media": ["AUDIO"] }],
        }}),
    )["requestConsent"]
        .clone();
    let consent = requested["consent"]["id"].clone();
    let link = requested["clientLink"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let given = server.ok(&link, GIVE, json!({ "id": consent, "n": "Jordan Price" }));
    assert_eq!(given["giveConsent"]["status"], "GIVEN");
    let recording = server.ok(
        &sam,
        CREATE_RECORDING,
        json!({ "c": consent, "d": Utc::now().date_naive() }),
    )["createRecording"]["id"]
        .clone();

    let before = server.ok(
        &ada,
        PLAY,
        json!({ "r": recording, "p": "COURSE_ASSESSMENT" }),
    );
    assert_eq!(before["startPlayback"]["allowed"], false);
    assert!(
        !reasons(&before)
            .iter()
            .any(|r| r.starts_with("consent") || r == "no_consent"),
        "the consent covers the tutor; only the media is missing: {before}"
    );

    let withdrawn = server.ok(
        &link,
        "mutation($id: UUID!) { withdrawConsent(input: { consentId: $id, deletionRequested: true }) { status deletionRequested } }",
        json!({ "id": consent }),
    );
    assert_eq!(
        withdrawn["withdrawConsent"],
        json!({ "status": "WITHDRAWN", "deletionRequested": true })
    );
    let after = server.ok(
        &ada,
        PLAY,
        json!({ "r": recording, "p": "COURSE_ASSESSMENT" }),
    );
    assert_eq!(after["startPlayback"]["allowed"], false);
    assert_ne!(reasons(&after), reasons(&before), "{after}");
    let seen = server.ok(
        &sam,
        "query($r: UUID!) { recording(id: $r, purpose: COURSE_ASSESSMENT) { destructionDue } }",
        json!({ "r": recording }),
    );
    assert!(
        seen["recording"]["destructionDue"].is_string(),
        "scheduled for destruction: {seen}"
    );

    let events = event_types(&server, &aud);
    let count = |kind: &str| events.iter().filter(|e| *e == kind).count();
    assert_eq!(count("PlaybackRefused"), 2, "each refusal is recorded");
    assert_eq!(
        count("WithdrawalNoticeIssued"),
        2,
        "both tutors are told: {events:?}"
    );
    assert_eq!(count("RecordingDestructionScheduled"), 1);
    let checkpoint = server.ok(&aud, "mutation { checkpoint { treeSize } }", json!({}));
    assert_eq!(checkpoint["checkpoint"]["treeSize"], json!(events.len()));
}

/// A credential submission: the consent names one ICF assessor, who is granted access for 30
/// days; a grant to an assessor the consent does not name is refused, and the external
/// assessor, who is no member, is refused everything but what the grant covers.
#[tokio::test]
async fn a_credential_submission_grants_only_the_named_assessor() {
    let server = Confide::start(&[]).await;
    server.create_tenant("northern-coaching", "admin", "written_opt_in");
    let token = |user: &str| server.token("northern-coaching", user);
    let admin = token("admin");
    members(&server, &admin, &[("kim", "PRACTITIONER")]);
    let kim = token("kim");
    let form = server.ok(
        &admin,
        FORM,
        json!({ "t": "I agree that this coaching session may be recorded for my coach's ICF credential." }),
    )["publishConsentForm"]["id"]
        .clone();
    let client = server.ok(
        &kim,
        "mutation { registerClient(name: \"Alex Moore\") }",
        json!({}),
    )["registerClient"]
        .clone();
    let requested = server.ok(
        &kim,
        REQUEST,
        json!({ "input": {
            "clientId": client, "consentFormId": form,
            "purposes": [{ "purpose": "CREDENTIALING", "users": ["icf-assessor-7"], "media": ["AUDIO"] }],
        }}),
    )["requestConsent"]
        .clone();
    let consent = requested["consent"]["id"].clone();
    let link = requested["clientLink"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    server.ok(&link, GIVE, json!({ "id": consent, "n": "Alex Moore" }));
    let recording = server.ok(
        &kim,
        CREATE_RECORDING,
        json!({ "c": consent, "d": Utc::now().date_naive() }),
    )["createRecording"]["id"]
        .clone();
    let grant = "mutation($r: UUID!, $c: UUID!, $u: String!, $e: DateTime!) { grantAccess(input: { recordingId: $r, consentId: $c, userId: $u, externalAssessor: true, purpose: CREDENTIALING, expiresAt: $e }) }";
    let expires = (Utc::now() + TimeDelta::days(30)).to_rfc3339();
    let granted = server.ok(
        &kim,
        grant,
        json!({ "r": recording, "c": consent, "u": "icf-assessor-7", "e": expires }),
    );
    assert!(granted["grantAccess"].is_string());
    let (_, unnamed) = server.graphql(
        &kim,
        grant,
        json!({ "r": recording, "c": consent, "u": "icf-assessor-9", "e": expires }),
    );
    assert_eq!(code(&unnamed), "CONSENT_REQUIRED", "{unnamed}");

    let assessor = token("icf-assessor-7");
    for query in [
        "{ tenant { members { userId } } }",
        "query($c: UUID!) { consents(clientId: $c) { nodes { id } } }",
    ] {
        let (_, refused) = server.graphql(&assessor, query, json!({ "c": client }));
        assert_eq!(
            code(&refused),
            "FORBIDDEN",
            "an assessor is no member: {refused}"
        );
    }
    let listed = server.ok(
        &assessor,
        "{ recordings(purpose: CREDENTIALING) { nodes { id } } }",
        json!({}),
    );
    assert_eq!(
        listed["recordings"]["nodes"],
        json!([]),
        "an assessor lists only what they may play, and nothing is stored yet"
    );
    let played = server.ok(
        &assessor,
        PLAY,
        json!({ "r": recording, "p": "CREDENTIALING" }),
    );
    assert_eq!(
        played["startPlayback"]["allowed"], false,
        "nothing is stored yet"
    );
    assert!(
        !reasons(&played)
            .iter()
            .any(|r| r == "no_role_rule_or_grant"),
        "the grant covers the assessor: {played}"
    );
    let other = server.ok(
        &assessor,
        PLAY,
        json!({ "r": recording, "p": "SUPERVISION" }),
    );
    assert!(
        reasons(&other).len() > reasons(&played).len(),
        "no grant for another purpose: {other}"
    );
}

/// Two organisations on one server: each administrator sees only their own, and a token for
/// one tenant cannot reach the other's ids.
#[tokio::test]
async fn two_organisations_on_one_server_see_only_their_own() {
    let server = Confide::start(&[]).await;
    server.create_tenant("first", "admin", "written_opt_in");
    server.create_tenant("second", "admin", "notified_opt_out");
    let first = server.token("first", "admin");
    let second = server.token("second", "admin");
    server.ok(
        &second,
        "mutation { changeMemberRoles(userId: \"admin\", roles: [ORG_ADMIN, PRACTITIONER]) { id } }",
        json!({}),
    );
    let form =
        server.ok(&first, FORM, json!({ "t": "I agree." }))["publishConsentForm"]["id"].clone();
    let client = server.ok(
        &first,
        "mutation { registerClient(name: \"Sam Lee\") }",
        json!({}),
    )["registerClient"]
        .clone();
    let tenant = server.ok(
        &second,
        "{ tenant { id policy { consentModel } } }",
        json!({}),
    );
    assert_eq!(
        tenant["tenant"],
        json!({ "id": "second", "policy": { "consentModel": "NOTIFIED_OPT_OUT" } })
    );
    let (_, request) = server.graphql(
        &second,
        REQUEST,
        json!({ "input": {
            "clientId": client, "consentFormId": form,
            "purposes": [{ "purpose": "SUPERVISION", "users": ["admin"], "media": ["AUDIO"] }],
        }}),
    );
    assert_eq!(code(&request), "NOT_FOUND", "{request}");
    let consents = server.ok(
        &second,
        "query($c: UUID!) { consents(clientId: $c) { nodes { id } } }",
        json!({ "c": client }),
    );
    assert_eq!(consents["consents"]["nodes"], json!([]));
    let (status, unauthenticated) = server.graphql("not-a-token", "{ tenant { id } }", json!({}));
    assert_eq!(status, 401);
    assert_eq!(code(&unauthenticated), "UNAUTHENTICATED");
}
