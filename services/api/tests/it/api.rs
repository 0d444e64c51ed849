//! The API over a real HTTP server on port 0, with tokens signed by the library, on SQLite and
//! PostgreSQL: the GraphQL-over-HTTP rules, token refusals, and a consent story with tenant
//! and client-link isolation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use confide_api::auth::{Authenticator, Claims};
use confide_domain::TenantId;
use confide_test_support::both_backends;
use confide_test_support::server::{Backend, Server, code, http, key, post, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn requests_follow_graphql_over_http() {
    let server = spawn_app(Backend::Sqlite).await;
    server.create_tenant("clinic", "admin").await;
    let token = server.token("clinic", "admin");
    let query = r#"{"query":"{ tenant { id } }"}"#;
    let a = server.address;

    let (status, head, body) = http(a, &post("application/json", None, Some(&token), query)).await;
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["data"]["tenant"]["id"],
        "clinic"
    );

    let grj = "application/graphql-response+json";
    let (status, head, _) =
        http(a, &post("application/json", Some(grj), Some(&token), query)).await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/graphql-response+json"),
        "{head}"
    );

    // A document that does not parse, or does not validate: 400 under the new media type,
    // 200 with errors under application/json.
    for broken in [
        r#"{"query":"{ tenant { id "}"#,
        r#"{"query":"{ tenant { nope } }"}"#,
    ] {
        let (status, head, body) = http(
            a,
            &post("application/json", Some(grj), Some(&token), broken),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            head.contains("content-type: application/graphql-response+json"),
            "{head}"
        );
        // Execution never began: no `data` entry at all, not even `null`.
        let answer: Value = serde_json::from_str(&body).unwrap();
        let members = answer.as_object().unwrap();
        assert!(!members.contains_key("data"), "{broken}: {body}");
        assert!(
            !answer["errors"].as_array().unwrap().is_empty(),
            "{broken}: {body}"
        );
        let (status, _, body) =
            http(a, &post("application/json", None, Some(&token), broken)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"errors\""), "{body}");
    }
    // A field error during execution keeps its `data` under the new media type.
    let (status, _, body) = http(
        a,
        &post(
            "application/json",
            Some(grj),
            Some(&token),
            r#"{"query":"{ tenant { id } consentReceipt(consentId: \"00000000-0000-4000-8000-000000000000\") { receipt } }"}"#,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(answer.as_object().unwrap().contains_key("data"), "{body}");
    assert!(answer["errors"][0]["path"].is_array(), "{body}");

    for (request, expected) in [
        (post("text/plain", None, Some(&token), query), 415),
        (
            post("application/json", None, Some(&token), "not json"),
            400,
        ),
        (
            post(
                "application/json",
                None,
                Some(&token),
                r#"[{"query":"{ tenant { id } }"}]"#,
            ),
            400,
        ),
        (
            post(
                "application/json",
                None,
                Some(&token),
                r#"{"variables":{}}"#,
            ),
            400,
        ),
        (
            post("application/json", Some("text/csv"), Some(&token), query),
            406,
        ),
        (
            post(
                "application/json",
                None,
                Some(&token),
                &format!(r#"{{"query":"{}"}}"#, "a".repeat(300 * 1024)),
            ),
            413,
        ),
    ] {
        let (status, _, body) = http(a, &request).await;
        assert_eq!(status, expected, "{request:.120} -> {body}");
    }

    let get = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
    };
    let (status, _, body) = http(
        a,
        &get("/graphql?query=%7B%20tenant%20%7B%20id%20%7D%20%7D"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, head, _) = http(
        a,
        &get("/graphql?query=mutation%20%7B%20removeMember(userId%3A%20%22x%22)%20%7B%20id%20%7D%20%7D"),
    )
    .await;
    assert_eq!(status, 405);
    assert!(head.contains("allow: post"), "{head}");

    // No token: the resolvers refuse, with the code a client can act on.
    let (status, _, body) = http(a, &post("application/json", None, None, query)).await;
    assert_eq!(status, 200);
    assert_eq!(
        code(&serde_json::from_str(&body).unwrap()),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let server = spawn_app(Backend::Sqlite).await;
    server.create_tenant("clinic", "admin").await;
    let now = Utc::now().timestamp();
    let claims = |f: &dyn Fn(&mut Claims)| {
        let mut c = Claims {
            sub: "admin".into(),
            tenant: "clinic".into(),
            iss: "confide".into(),
            aud: "confide".into(),
            exp: now + 600,
            nbf: Some(now),
            iat: now,
            scope: None,
            client_id: None,
        };
        f(&mut c);
        c
    };
    let local = server.auth.local_key();
    let kid = local.kid().to_owned();
    let public_x = local.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    // Signed by a key the server does not know, presented under `kid`.
    let signed_by = |kid: &str, c: Claims| {
        let stranger = Authenticator::new("confide", "confide", key(), None).unwrap();
        let token = stranger.sign_claims(&c).unwrap();
        let (header, rest) = token.split_once('.').unwrap();
        let mut header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        header["kid"] = json!(kid);
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    };
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims(&|_| {})).unwrap());
        format!("{header}.{body}.")
    };
    // Algorithm confusion: HMAC keyed with the server's public key.
    let confused = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims(&|_| {}),
            &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()),
        )
        .unwrap()
    };
    let own = |f: &dyn Fn(&mut Claims)| server.auth.sign_claims(&claims(f)).unwrap();
    // The claims with `aud` given otherwise (RFC 7519 allows a string or an array).
    let with_audience = |audience: Value| {
        let mut claims = serde_json::to_value(claims(&|_| {})).unwrap();
        claims["aud"] = audience;
        claims
    };
    let cases = [
        ("alg none", unsigned),
        ("HS256 with the public key", confused),
        ("expired", own(&|c| c.exp = now - 3600)),
        ("not yet valid", own(&|c| c.nbf = Some(now + 3600))),
        ("wrong issuer", own(&|c| c.iss = "someone-else".into())),
        ("wrong audience", own(&|c| c.aud = "another-service".into())),
        (
            "another key under the server's kid",
            signed_by(&kid, claims(&|_| {})),
        ),
        ("unknown kid", signed_by("nobody", claims(&|_| {}))),
        ("not a token", "abc".to_owned()),
        (
            "an audience array without ours",
            server
                .auth
                .sign_claims(&with_audience(json!(["another-service", "a-third"])))
                .unwrap(),
        ),
        (
            "an empty audience array",
            server.auth.sign_claims(&with_audience(json!([]))).unwrap(),
        ),
    ];
    let query = r#"{"query":"{ tenant { id } }"}"#;
    for (case, token) in cases {
        let (status, head, body) = http(
            server.address,
            &post("application/json", None, Some(&token), query),
        )
        .await;
        assert_eq!(status, 401, "{case}: {body}");
        assert!(head.contains("www-authenticate: bearer"), "{case}: {head}");
        assert_eq!(
            code(&serde_json::from_str(&body).unwrap()),
            "UNAUTHENTICATED",
            "{case}"
        );
    }
    let good = own(&|_| {});
    let (status, _, _) = http(
        server.address,
        &post("application/json", None, Some(&good), query),
    )
    .await;
    assert_eq!(status, 200, "the same claims, properly signed, pass");

    // An audience array that holds ours is for us.
    let among_others = server
        .auth
        .sign_claims(&with_audience(json!(["another-service", "confide"])))
        .unwrap();
    let (status, _, body) = http(
        server.address,
        &post("application/json", None, Some(&among_others), query),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["data"]["tenant"]["id"],
        "clinic",
        "{body}"
    );

    // An Authorization header without a bearer token is a malformed credential, refused
    // with a reason, never taken for an anonymous request.
    for (authorization, reason) in [
        ("Bearer ", "carries no token"),
        ("Bearer", "carries no token"),
        ("bearer    ", "carries no token"),
        ("Basic YWRtaW46YWRtaW4=", "must be `Bearer <token>`"),
        ("", "must be `Bearer <token>`"),
    ] {
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\nAuthorization: {authorization}\r\n\r\n{query}",
            query.len()
        );
        let (status, head, body) = http(server.address, &request).await;
        assert_eq!(status, 401, "{authorization:?}: {body}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(code(&answer), "UNAUTHENTICATED", "{authorization:?}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{authorization:?}: {body}"
        );
    }
    // The scheme is case-insensitive, and the token may follow more than one space.
    let (status, _, body) = http(
        server.address,
        &format!(
            "POST /graphql HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\nAuthorization: bEaReR   {good}\r\n\r\n{query}",
            query.len()
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // On the routes outside GraphQL too.
    let (status, _, body) = http(
        server.address,
        "PUT /v1/recordings/00000000-0000-4000-8000-000000000000/media HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nAuthorization: Bearer \r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("carries no token"), "{body}");
}

#[tokio::test]
async fn a_megabyte_of_headers_is_answered_with_431() {
    let server = spawn_app(Backend::Sqlite).await;
    // A real TCP client sends the whole request, a header of a megabyte among it, and reads
    // the answer: the status line, not a reset connection.
    for (size, expected) in [
        (1_000_000, 431),
        (1024 * 1024, 431),
        (confide_api::MAX_HEADER_BYTES + 1, 431),
        (32 * 1024, 200),
    ] {
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nX-Padding: {}\r\n\r\n",
            "a".repeat(size)
        );
        let (status, head, body) = http(server.address, &request).await;
        assert_eq!(status, expected, "{size} bytes: {head}");
        if expected == 431 {
            assert!(
                head.starts_with("http/1.1 431 request header fields too large"),
                "{head}"
            );
            assert!(body.contains("at most 65536"), "{body}");
        }
    }
    // Spread over many headers, the same.
    let mut request = "GET /health HTTP/1.1\r\nHost: confide\r\nConnection: close\r\n".to_owned();
    for n in 0..150 {
        request += &format!("X-Padding-{n}: {}\r\n", "b".repeat(7_000));
    }
    request += "\r\n";
    let (status, _, _) = http(server.address, &request).await;
    assert_eq!(status, 431);
}

/// A student counsellor's client is asked for consent; the client answers through their
/// link; a recording is created; a tutor's play is decided and recorded. Another tenant's
/// member sees nothing of it, and a client link reaches only its own client.
async fn a_consent_story_over_graphql_stays_in_its_tenant(server: Server) {
    server.create_tenant("clinic", "admin").await;
    server.create_tenant("other-clinic", "admin").await;
    let admin = server.token("clinic", "admin");
    for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
        let added = server
            .graphql(
                &admin,
                "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { members { userId } } }",
                json!({ "u": user, "r": [role] }),
            )
            .await;
        assert!(added["errors"].is_null(), "{added}");
    }
    let form = server
        .graphql(
            &admin,
            r#"mutation { publishConsentForm(title: "Recording consent", language: "en-GB",
                text: "I agree that my sessions may be recorded in audio for course assessment.") { id version } }"#,
            json!({}),
        )
        .await;
    let form_id = form["data"]["publishConsentForm"]["id"].clone();
    let sam = server.token("clinic", "sam");
    let register =
        "mutation { registerClient(name: \"Morgan Ellis\", contact: \"morgan@example.org\") }";
    let client_id =
        server.graphql(&sam, register, json!({})).await["data"]["registerClient"].clone();
    let other_client =
        server.graphql(&sam, register, json!({})).await["data"]["registerClient"].clone();
    let request = "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id status } clientLink { token } } }";
    let input = |client: &Value| {
        json!({ "input": {
            "clientId": client, "consentFormId": form_id,
            "purposes": [{ "purpose": "COURSE_ASSESSMENT", "users": ["ada"], "media": ["AUDIO"] }],
        }})
    };
    let requested = server.graphql(&sam, request, input(&client_id)).await;
    assert_eq!(
        requested["data"]["requestConsent"]["consent"]["status"], "REQUESTED",
        "{requested}"
    );
    let consent_id = requested["data"]["requestConsent"]["consent"]["id"].clone();
    let link = requested["data"]["requestConsent"]["clientLink"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = server.graphql(&sam, request, input(&other_client)).await;
    let other_consent = other["data"]["requestConsent"]["consent"]["id"].clone();

    let give = "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"Morgan Ellis\") { status version } }";
    let refused = server
        .graphql(&link, give, json!({ "id": other_consent }))
        .await;
    assert_eq!(
        code(&refused),
        "FORBIDDEN",
        "a link reaches only its own client: {refused}"
    );
    let given = server
        .graphql(&link, give, json!({ "id": consent_id }))
        .await;
    assert_eq!(given["data"]["giveConsent"]["status"], "GIVEN", "{given}");
    let as_link = server.graphql(&link, "{ tenant { id } }", json!({})).await;
    assert_eq!(
        code(&as_link),
        "FORBIDDEN",
        "a client link is not a member: {as_link}"
    );

    let outsider = server.token("other-clinic", "admin");
    let seen = server
        .graphql(
            &outsider,
            "query($id: UUID!) { consent(id: $id) { id } }",
            json!({ "id": consent_id }),
        )
        .await;
    assert!(
        seen["data"]["consent"].is_null(),
        "another tenant sees nothing: {seen}"
    );
    let history = server
        .graphql(
            &outsider,
            "query($c: UUID!) { consents(clientId: $c) { nodes { id } } }",
            json!({ "c": client_id }),
        )
        .await;
    assert_eq!(history["data"]["consents"]["nodes"], json!([]), "{history}");

    let created = server
        .graphql(
            &sam,
            "mutation($c: UUID!) { createRecording(consentId: $c, sessionOn: \"2026-11-20\", medium: AUDIO) { id status } }",
            json!({ "c": consent_id }),
        )
        .await;
    assert_eq!(
        created["data"]["createRecording"]["status"], "AWAITING_UPLOAD",
        "{created}"
    );
    let recording_id = created["data"]["createRecording"]["id"].clone();
    let play = "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: COURSE_ASSESSMENT) { allowed access { reasons } } }";
    let ada = server.token("clinic", "ada");
    let played = server
        .graphql(&ada, play, json!({ "r": recording_id }))
        .await;
    assert_eq!(
        played["data"]["startPlayback"]["allowed"], false,
        "nothing is stored yet: {played}"
    );
    let from_outside = server
        .graphql(&outsider, play, json!({ "r": recording_id }))
        .await;
    assert_eq!(code(&from_outside), "NOT_FOUND", "{from_outside}");

    let listed = server
        .graphql(
            &ada,
            "{ recordings(purpose: COURSE_ASSESSMENT) { nodes { id access { allowed reasons } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["recordings"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{listed}"
    );
    let stream =
        confide_app::StreamId::parse(&format!("recording-{}", recording_id.as_str().unwrap()))
            .unwrap();
    let events: Vec<String> = server
        .store
        .read_stream(&TenantId::parse("clinic").unwrap(), &stream, 1, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        events,
        ["RecordingCreated", "PlaybackRefused"],
        "the refusal is itself an event"
    );
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    a_consent_story_over_graphql_stays_in_its_tenant,
);

/// Every operation of the schema, with its variables: a probe that uses the first tenant's
/// ids wherever an operation takes one.
fn probes(ids: &Value) -> Vec<(&'static str, &'static str, Value)> {
    let policy = json!({
        "consentModel": "WRITTEN_OPT_IN", "allowedMedia": "AUDIO_ONLY",
        "practitionerSelfAccess": true, "clientCopies": "NEVER", "retentionDays": 30,
        "courseGraceDays": 7, "jurisdiction": "UK_GDPR",
    });
    vec![
        (
            "tenant",
            "{ tenant { id name members { userId } } }",
            json!({}),
        ),
        (
            "consents",
            "query($c: UUID!) { consents(clientId: $c) { nodes { id clientId form { text } } } }",
            json!({ "c": ids["client"] }),
        ),
        (
            "consent",
            "query($id: UUID!) { consent(id: $id) { id clientId } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "recordings",
            "{ recordings(purpose: COURSE_ASSESSMENT) { nodes { id clientId } } }",
            json!({}),
        ),
        (
            "accessHistory",
            "query($id: UUID!) { accessHistory(recordingId: $id) { nodes { kind person } } }",
            json!({ "id": ids["recording"] }),
        ),
        (
            "clients",
            "{ clients(search: \"Morgan\") { nodes { id name } } }",
            json!({}),
        ),
        (
            "consentForms",
            "{ consentForms { id versions { title textSha256 } } }",
            json!({}),
        ),
        (
            "recording",
            "query($id: UUID!) { recording(id: $id, purpose: COURSE_ASSESSMENT) { id } }",
            json!({ "id": ids["recording"] }),
        ),
        (
            "course",
            "query($id: UUID!) { course(id: $id) { id title } }",
            json!({ "id": ids["course"] }),
        ),
        (
            "caseStudies",
            "{ caseStudies { id body clients } }",
            json!({}),
        ),
        (
            "subjectRequests",
            "query($c: UUID) { subjectRequests(clientId: $c) { id clientId } }",
            json!({ "c": ids["client"] }),
        ),
        (
            "auditEvents",
            "{ auditEvents { nodes { sequence stream payload } } }",
            json!({}),
        ),
        (
            "consentReceipt",
            "query($id: UUID!) { consentReceipt(consentId: $id) { receipt proof { events { envelope } checkpoint } } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "setTenantPolicy",
            "mutation($p: TenantPolicyInput!) { setTenantPolicy(policy: $p) { id } }",
            json!({ "p": policy }),
        ),
        (
            "addMember",
            "mutation { addMember(userId: \"sam\", roles: [PRACTITIONER]) { id } }",
            json!({}),
        ),
        (
            "setNoticeAddress",
            "mutation { setNoticeAddress(userId: \"sam\", address: \"sam@clinic.test\") }",
            json!({}),
        ),
        (
            "addWebhookEndpoint",
            "mutation { addWebhookEndpoint(url: \"https://hooks.clinic.test/\") { endpoint { id url } secret } }",
            json!({}),
        ),
        (
            "removeWebhookEndpoint",
            "mutation($id: UUID!) { removeWebhookEndpoint(id: $id) }",
            json!({ "id": ids["grant"] }),
        ),
        (
            "webhookEndpoints",
            "{ webhookEndpoints { id url } }",
            json!({}),
        ),
        (
            "outboxMessages",
            "{ outboxMessages { messageId recipient state } }",
            json!({}),
        ),
        (
            "changeMemberRoles",
            "mutation { changeMemberRoles(userId: \"sam\", roles: [TUTOR]) { id } }",
            json!({}),
        ),
        (
            "removeMember",
            "mutation { removeMember(userId: \"sam\") { id } }",
            json!({}),
        ),
        (
            "publishConsentForm",
            "mutation($id: UUID) { publishConsentForm(id: $id, title: \"t\", language: \"en-GB\", text: \"I agree.\") { id } }",
            json!({ "id": ids["form"] }),
        ),
        (
            "registerClient",
            "mutation { registerClient(name: \"Avery Stone\") }",
            json!({}),
        ),
        (
            "requestConsent",
            "mutation($c: UUID!, $f: UUID!) { requestConsent(input: { clientId: $c, consentFormId: $f, purposes: [{ purpose: SUPERVISION, users: [\"ada\"], media: [AUDIO] }] }) { consent { id } } }",
            json!({ "c": ids["client"], "f": ids["form"] }),
        ),
        (
            "giveConsent",
            "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"x\") { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "refuseConsent",
            "mutation($id: UUID!) { refuseConsent(consentId: $id) { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "withdrawConsent",
            "mutation($id: UUID!) { withdrawConsent(input: { consentId: $id, deletionRequested: true }) { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "createRecording",
            "mutation($c: UUID!) { createRecording(consentId: $c, sessionOn: \"2026-11-21\", medium: AUDIO) { id } }",
            json!({ "c": ids["consent"] }),
        ),
        (
            "grantAccess",
            "mutation($r: UUID!, $c: UUID!, $e: DateTime!) { grantAccess(input: { recordingId: $r, consentId: $c, userId: \"ada\", purpose: COURSE_ASSESSMENT, expiresAt: $e }) }",
            json!({ "r": ids["recording"], "c": ids["consent"], "e": ids["expires"] }),
        ),
        (
            "revokeAccess",
            "mutation($g: UUID!) { revokeAccess(grantId: $g) }",
            json!({ "g": ids["grant"] }),
        ),
        (
            "startPlayback",
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: COURSE_ASSESSMENT) { allowed } }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "addBookmark",
            "mutation($r: UUID!) { addBookmark(recordingId: $r, offsetMs: 1000, label: \"x\") { at } }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "addComment",
            "mutation($r: UUID!) { addComment(recordingId: $r, purpose: COURSE_ASSESSMENT, offsetMs: 1000, text: \"x\") { comments { text } } }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "recordingNotes",
            "query($r: UUID!) { recordingNotes(recordingId: $r, purpose: COURSE_ASSESSMENT) { bookmarks { text } comments { text } } }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "requestStop",
            "mutation($r: UUID!) { requestStop(recordingId: $r, offsetMs: 1000) { id } }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "giveNotice",
            "mutation($c: UUID!, $f: UUID!) { giveNotice(input: { clientId: $c, consentFormId: $f, sessionOn: \"2026-11-21\", purposes: [{ purpose: QUALITY_ASSURANCE, users: [], roles: [REVIEWER], media: [AUDIO] }] }) { consent { id } } }",
            json!({ "c": ids["client"], "f": ids["form"] }),
        ),
        (
            "giveSessionNotice",
            "mutation($id: UUID!) { giveSessionNotice(consentId: $id, sessionOn: \"2026-11-21\") { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "optOutOfSession",
            "mutation($id: UUID!) { optOutOfSession(consentId: $id, sessionOn: \"2026-11-21\") { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "optOut",
            "mutation($id: UUID!) { optOut(consentId: $id, deletionRequested: true) { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "recordCredentialDecision",
            "mutation($id: UUID!) { recordCredentialDecision(consentId: $id) { id } }",
            json!({ "id": ids["consent"] }),
        ),
        (
            "attachTranscript",
            "mutation($r: UUID!) { attachTranscript(input: { recordingId: $r, purpose: COURSE_ASSESSMENT, sha256: \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" }) }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "destroyRecording",
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { id status } }",
            json!({ "r": ids["recording"] }),
        ),
        (
            "createCourse",
            "mutation { createCourse(title: \"Certificate\", startsOn: \"2026-09-01\", endsOn: \"2027-06-30\") { id } }",
            json!({}),
        ),
        (
            "addCourseTutor",
            "mutation($c: UUID!) { addCourseTutor(courseId: $c, userId: \"ada\") { id } }",
            json!({ "c": ids["course"] }),
        ),
        (
            "enrolInCourse",
            "mutation($c: UUID!) { enrolInCourse(courseId: $c, userId: \"sam\") { id } }",
            json!({ "c": ids["course"] }),
        ),
        (
            "endCourse",
            "mutation($c: UUID!) { endCourse(courseId: $c, endedOn: \"2026-11-22\") { id } }",
            json!({ "c": ids["course"] }),
        ),
        (
            "createCaseStudy",
            "mutation($c: UUID!) { createCaseStudy(clientIds: [$c], body: \"A client.\") { id } }",
            json!({ "c": ids["client"] }),
        ),
        (
            "reviseCaseStudy",
            "mutation($id: UUID!) { reviseCaseStudy(id: $id, body: \"A client.\") { id } }",
            json!({ "id": ids["case_study"] }),
        ),
        (
            "publishCaseStudy",
            "mutation($id: UUID!) { publishCaseStudy(id: $id, funder: \"fay\") { id body } }",
            json!({ "id": ids["case_study"] }),
        ),
        (
            "discardCaseStudy",
            "mutation($id: UUID!) { discardCaseStudy(id: $id) { id } }",
            json!({ "id": ids["case_study"] }),
        ),
        (
            "openSubjectRequest",
            "mutation($c: UUID!) { openSubjectRequest(clientId: $c, kind: ERASURE) { id } }",
            json!({ "c": ids["client"] }),
        ),
        (
            "extendSubjectRequestDeadline",
            "mutation($id: UUID!) { extendSubjectRequestDeadline(id: $id, reason: \"complex\") { id } }",
            json!({ "id": ids["subject_request"] }),
        ),
        (
            "decideSubjectRequest",
            "mutation($id: UUID!) { decideSubjectRequest(id: $id, outcome: GRANTED) { id } }",
            json!({ "id": ids["subject_request"] }),
        ),
        (
            "checkpoint",
            "mutation { checkpoint { treeSize root } }",
            json!({}),
        ),
        (
            "exportAuditTrail",
            "mutation($c: UUID!) { exportAuditTrail(input: { clientIds: [$c] }) { exportId downloadUrl } }",
            json!({ "c": ids["client"] }),
        ),
    ]
}

/// Every operation, used as the people of a counselling service and a course would; then
/// every operation again with that tenant's ids, by another tenant's administrator (who sees
/// none of it and changes nothing in its log) and by another client's link (refused, and its
/// refused playback recorded).
async fn every_operation_works_in_its_tenant_and_nowhere_else(server: Server) {
    server.create_tenant("clinic", "admin").await;
    server.create_tenant("other-clinic", "admin").await;
    let admin = server.token("clinic", "admin");
    for (user, role) in [
        ("sam", "PRACTITIONER"),
        ("ada", "TUTOR"),
        ("aud", "AUDITOR"),
        ("fay", "FUNDER"),
    ] {
        server
            .ok(
                &admin,
                "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
                json!({ "u": user, "r": [role] }),
            )
            .await;
    }
    let (sam, ada, aud, fay) = (
        server.token("clinic", "sam"),
        server.token("clinic", "ada"),
        server.token("clinic", "aud"),
        server.token("clinic", "fay"),
    );
    let course = server
        .ok(
            &admin,
            "mutation { createCourse(title: \"Diploma in Counselling\", startsOn: \"2026-09-01\", endsOn: \"2027-06-30\", tutors: [\"ada\"]) { id tutors } }",
            json!({}),
        )
        .await["createCourse"]
        .clone();
    assert_eq!(course["tutors"], json!(["ada"]));
    let enrolled = server
        .ok(
            &admin,
            "mutation($c: UUID!) { enrolInCourse(courseId: $c, userId: \"sam\") { students } }",
            json!({ "c": course["id"] }),
        )
        .await;
    assert_eq!(enrolled["enrolInCourse"]["students"], json!(["sam"]));
    let form = server
        .ok(
            &admin,
            "mutation { publishConsentForm(title: \"Recording consent\", language: \"en-GB\", text: \"I agree that my sessions may be recorded in audio for assessment and a case study.\") { id } }",
            json!({}),
        )
        .await["publishConsentForm"]["id"]
        .clone();
    let register = "mutation($n: String!) { registerClient(name: $n) }";
    let client = server
        .ok(&sam, register, json!({ "n": "Morgan Ellis" }))
        .await["registerClient"]
        .clone();
    let other_client = server
        .ok(&sam, register, json!({ "n": "Robin Hale" }))
        .await["registerClient"]
        .clone();
    let request = "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { token } } }";
    let requested = server
        .ok(
            &sam,
            request,
            json!({ "input": {
                "clientId": client, "consentFormId": form, "courseId": course["id"],
                "purposes": [
                    { "purpose": "COURSE_ASSESSMENT", "users": ["ada"], "media": ["AUDIO"] },
                    { "purpose": "CASE_STUDY", "users": ["fay"], "media": ["AUDIO"] },
                ],
            }}),
        )
        .await["requestConsent"]
        .clone();
    let consent = requested["consent"]["id"].clone();
    let link = requested["clientLink"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_link = server
        .ok(
            &sam,
            request,
            json!({ "input": {
                "clientId": other_client, "consentFormId": form,
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }}),
        )
        .await["requestConsent"]["clientLink"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .ok(
            &link,
            "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"Morgan Ellis\") { id } }",
            json!({ "id": consent }),
        )
        .await;
    let recording = server
        .ok(
            &sam,
            "mutation($c: UUID!) { createRecording(consentId: $c, sessionOn: \"2026-11-20\", medium: AUDIO) { id courseId } }",
            json!({ "c": consent }),
        )
        .await["createRecording"]
        .clone();
    assert_eq!(recording["courseId"], course["id"]);
    let recording = recording["id"].clone();

    // Access: a grant within the consent, then taken back.
    let expires = (Utc::now() + TimeDelta::days(30)).to_rfc3339();
    let grant = server
        .ok(
            &sam,
            "mutation($r: UUID!, $c: UUID!, $e: DateTime!) { grantAccess(input: { recordingId: $r, consentId: $c, userId: \"ada\", purpose: COURSE_ASSESSMENT, expiresAt: $e }) }",
            json!({ "r": recording, "c": consent, "e": expires }),
        )
        .await["grantAccess"]
        .clone();
    let revoked = server
        .ok(
            &sam,
            "mutation($g: UUID!) { revokeAccess(grantId: $g) }",
            json!({ "g": grant }),
        )
        .await;
    assert_eq!(revoked["revokeAccess"], grant);
    let again = server
        .graphql(
            &ada,
            "mutation($g: UUID!) { revokeAccess(grantId: $g) }",
            json!({ "g": grant }),
        )
        .await;
    assert_eq!(code(&again), "FORBIDDEN", "{again}");

    // Bookmarks and transcripts wait for the media.
    for (query, variables) in [
        (
            "mutation($r: UUID!) { addBookmark(recordingId: $r, offsetMs: 1000, label: \"breakthrough\") { at } }",
            json!({ "r": recording }),
        ),
        (
            "mutation($r: UUID!) { attachTranscript(input: { recordingId: $r, purpose: COURSE_ASSESSMENT, sha256: \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" }) }",
            json!({ "r": recording }),
        ),
    ] {
        let refused = server.graphql(&sam, query, variables).await;
        assert_eq!(code(&refused), "CONFLICT", "{refused}");
    }

    // A case study: refused while it names the client, then published to one funder.
    let draft = server
        .ok(
            &sam,
            "mutation($c: UUID!) { createCaseStudy(clientIds: [$c], body: \"Morgan came to counselling after a bereavement.\") { id status body } }",
            json!({ "c": client }),
        )
        .await["createCaseStudy"]
        .clone();
    assert_eq!(draft["status"], "DRAFT");
    let case_study = draft["id"].clone();
    let publish = "mutation($id: UUID!) { publishCaseStudy(id: $id, funder: \"fay\") { status funder body } }";
    let named = server
        .graphql(&sam, publish, json!({ "id": case_study }))
        .await;
    assert_eq!(code(&named), "BAD_USER_INPUT", "{named}");
    assert!(
        !named.to_string().contains("Morgan"),
        "the refusal does not repeat the name: {named}"
    );
    let text = "A client in their forties came to counselling after a bereavement.";
    server
        .ok(
            &sam,
            "mutation($id: UUID!, $b: String!) { reviseCaseStudy(id: $id, body: $b) { id } }",
            json!({ "id": case_study, "b": text }),
        )
        .await;
    let published = server.ok(&sam, publish, json!({ "id": case_study })).await;
    assert_eq!(
        published["publishCaseStudy"],
        json!({ "status": "PUBLISHED", "funder": "fay", "body": text })
    );
    let read = |token: &str| {
        let token = token.to_owned();
        let server = &server;
        async move {
            server
                .ok(&token, "{ caseStudies { id body } }", json!({}))
                .await["caseStudies"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        read(&fay).await,
        1,
        "the funder it was published to reads it"
    );
    assert_eq!(read(&ada).await, 0, "a tutor does not");

    // A subject request from the client's link, handled by the administrator.
    let opened = server
        .ok(
            &link,
            "mutation($c: UUID!) { openSubjectRequest(clientId: $c, kind: ACCESS) { id kind dueBy outcome } }",
            json!({ "c": client }),
        )
        .await["openSubjectRequest"]
        .clone();
    assert_eq!(opened["kind"], "ACCESS");
    assert!(opened["dueBy"].is_string() && opened["outcome"].is_null());
    let subject_request = opened["id"].clone();
    let listed = "query($c: UUID) { subjectRequests(clientId: $c) { id } }";
    for token in [&admin, &link] {
        let seen = server.ok(token, listed, json!({ "c": client })).await;
        assert_eq!(seen["subjectRequests"], json!([{ "id": subject_request }]));
    }
    let by_tutor = server.graphql(&ada, listed, json!({})).await;
    assert_eq!(code(&by_tutor), "FORBIDDEN", "{by_tutor}");
    let extended = server
        .ok(
            &admin,
            "mutation($id: UUID!) { extendSubjectRequestDeadline(id: $id, reason: \"Many recordings to review\") { dueBy } }",
            json!({ "id": subject_request }),
        )
        .await;
    assert_ne!(
        extended["extendSubjectRequestDeadline"]["dueBy"],
        opened["dueBy"]
    );
    let decided = server
        .ok(
            &admin,
            "mutation($id: UUID!) { decideSubjectRequest(id: $id, outcome: GRANTED) { outcome } }",
            json!({ "id": subject_request }),
        )
        .await;
    assert_eq!(decided["decideSubjectRequest"]["outcome"], "GRANTED");

    // The log, for the auditor.
    let events = server
        .ok(
            &aud,
            "{ auditEvents(first: 1000) { nodes { sequence eventType metadata } } }",
            json!({}),
        )
        .await["auditEvents"]["nodes"]
        .clone();
    let events = events.as_array().unwrap();
    let size = server.log_size("clinic").await;
    assert_eq!(events.len() as u64, size);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e["sequence"] == json!(i)),
        "in sequence order from 0"
    );
    assert_eq!(events[0]["eventType"], "TenantCreated");
    let checkpoint = server
        .ok(
            &aud,
            "mutation { checkpoint { treeSize root note } }",
            json!({}),
        )
        .await["checkpoint"]
        .clone();
    assert_eq!(checkpoint["treeSize"], json!(size));
    assert!(checkpoint["note"].as_str().unwrap().contains("clinic"));
    for (token, query) in [
        (&sam, "{ auditEvents { nodes { sequence } } }"),
        (&sam, "mutation { checkpoint { treeSize } }"),
    ] {
        let refused = server.graphql(token, query, json!({})).await;
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    }

    // Every operation with this tenant's ids, from outside and from another client's link.
    let ids = json!({
        "client": client, "consent": consent, "recording": recording, "grant": grant,
        "course": course["id"], "form": form, "case_study": case_study,
        "subject_request": subject_request, "expires": expires,
    });
    let secrets: Vec<String> = ids
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "expires")
        .map(|(_, v)| v.as_str().unwrap().to_owned())
        .chain(["Morgan".to_owned(), text.to_owned()])
        .collect();
    let probes = probes(&ids);
    let schema = server
        .ok(
            &admin,
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let mut operations: Vec<&str> = ["queryType", "mutationType"]
        .iter()
        .flat_map(|t| schema["__schema"][t]["fields"].as_array().unwrap())
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    operations.sort_unstable();
    let mut probed: Vec<&str> = probes.iter().map(|(name, _, _)| *name).collect();
    probed.sort_unstable();
    assert_eq!(probed, operations, "every operation is probed");

    let before = server.log_size("clinic").await;
    let outsider = server.token("other-clinic", "admin");
    for (name, query, variables) in &probes {
        let response = server.graphql(&outsider, query, variables.clone()).await;
        let data = response["data"].to_string();
        for secret in &secrets {
            assert!(
                !data.contains(secret.as_str()),
                "{name} shows another tenant's data: {response}"
            );
        }
        if !response["errors"].is_null() {
            assert!(
                [
                    "NOT_FOUND",
                    "FORBIDDEN",
                    "BAD_USER_INPUT",
                    "CONFLICT",
                    "CONSENT_REQUIRED"
                ]
                .contains(&code(&response)),
                "{name}: {response}"
            );
        }
    }
    assert_eq!(
        server.log_size("clinic").await,
        before,
        "another tenant changes nothing in this tenant's log"
    );

    for (name, query, variables) in &probes {
        let response = server.graphql(&other_link, query, variables.clone()).await;
        assert!(
            ["NOT_FOUND", "FORBIDDEN"].contains(&code(&response)),
            "{name} by another client's link: {response}"
        );
    }
    assert_eq!(
        server.log_size("clinic").await,
        before,
        "another client's link reaches nothing and writes nothing about anyone"
    );

    // The end of the course, destruction, and erasure.
    let ended = server
        .ok(
            &admin,
            "mutation($c: UUID!) { endCourse(courseId: $c, endedOn: \"2026-11-22\") { endedOn } }",
            json!({ "c": course["id"] }),
        )
        .await;
    assert_eq!(ended["endCourse"]["endedOn"], "2026-11-22");
    let by_tutor = server
        .graphql(
            &ada,
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { status } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(code(&by_tutor), "FORBIDDEN", "{by_tutor}");
    let destroyed = server
        .ok(
            &sam,
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { status } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(destroyed["destroyRecording"]["status"], "DESTROYED");

    let erasure = server
        .ok(
            &admin,
            "mutation($c: UUID!) { openSubjectRequest(clientId: $c, kind: ERASURE) { id } }",
            json!({ "c": client }),
        )
        .await["openSubjectRequest"]["id"]
        .clone();
    let refused = server
        .graphql(
            &sam,
            "mutation($id: UUID!) { decideSubjectRequest(id: $id, outcome: GRANTED) { outcome } }",
            json!({ "id": erasure }),
        )
        .await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    let key =
        confide_domain::KeyId::parse(&format!("client-{}", client.as_str().unwrap())).unwrap();
    let tenant = TenantId::parse("clinic").unwrap();
    assert!(
        server.keys.seal(&tenant, &key, b"still here").await.is_ok(),
        "a refused decision destroys nothing"
    );
    server
        .ok(
            &admin,
            "mutation($id: UUID!) { decideSubjectRequest(id: $id, outcome: GRANTED) { outcome } }",
            json!({ "id": erasure }),
        )
        .await;
    assert!(matches!(
        server.keys.seal(&tenant, &key, b"gone").await,
        Err(confide_vault::KeyError::Destroyed { .. })
    ));
    assert_eq!(
        read(&fay).await,
        1,
        "the published case study outlives its client's erasure"
    );
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    every_operation_works_in_its_tenant_and_nowhere_else,
);
