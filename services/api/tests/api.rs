//! The API over a real HTTP server on port 0, with tokens signed by the library, on SQLite and
//! PostgreSQL: the GraphQL-over-HTTP rules, token refusals, and a consent story with tenant
//! and client-link isolation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

#[path = "../../eventstore/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use confide_api::auth::{Authenticator, Claims, LocalKey};
use confide_api::{ApiState, Services};
use confide_app::{App, ReadModels, SystemClock, WithReadModels, tenant_stream};
use confide_domain::aggregates::tenant::{Tenant, TenantCommand};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::{Actor, Jurisdiction, SystemJob, TenantId, UserId};
use confide_eventstore::EventStore;
use confide_vault::{KeyStore, LocalKeyStore, MasterKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn key() -> LocalKey {
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    LocalKey::from_seed(&signing.to_bytes(), signing.verifying_key().to_bytes())
}

struct Server {
    address: SocketAddr,
    app: Arc<App>,
    auth: Arc<Authenticator>,
}

async fn serve<S>(store: S) -> Server
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    let app = Arc::new(App::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
    ));
    let auth = Arc::new(Authenticator::new("confide", "confide", key(), None).unwrap());
    let services = Arc::new(Services {
        app: app.clone(),
        auth: auth.clone(),
        keys: Arc::new(LocalKeyStore::new(store, MasterKey::generate())),
    });
    let router = confide_api::router(Arc::new(ApiState::new(services, false)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server { address, app, auth }
}

/// A raw HTTP/1.1 exchange: (status, headers in lowercase, body).
async fn http(address: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn post(content_type: &str, accept: Option<&str>, token: Option<&str>, body: &str) -> String {
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(accept) = accept {
        request += &format!("Accept: {accept}\r\n");
    }
    if let Some(token) = token {
        request += &format!("Authorization: Bearer {token}\r\n");
    }
    request + "\r\n" + body
}

impl Server {
    fn token(&self, tenant: &str, user: &str) -> String {
        self.auth
            .mint_user_token(
                &TenantId::parse(tenant).unwrap(),
                &UserId::parse(user).unwrap(),
                TimeDelta::hours(1),
                Utc::now(),
            )
            .unwrap()
    }

    /// Runs a GraphQL operation as `token`; returns the response's JSON.
    async fn graphql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, _, body) = http(
            self.address,
            &post("application/json", None, Some(token), &body),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn create_tenant(&self, tenant: &str, admin: &str) {
        self.app
            .execute::<Tenant>(
                &TenantId::parse(tenant).unwrap(),
                &Actor::system(SystemJob::Provisioning),
                &tenant_stream(),
                TenantCommand::CreateTenant {
                    name: "Community Counselling".into(),
                    policy: TenantPolicy {
                        consent_model: ConsentModel::WrittenOptIn,
                        allowed_media: MediaPolicy::AudioOnly,
                        practitioner_self_access: true,
                        client_copies: ClientCopies::OnRequestReviewed,
                        retention_days: 365,
                        course_grace_days: 14,
                        jurisdiction: Jurisdiction::UkGdpr,
                    },
                    first_admin: UserId::parse(admin).unwrap(),
                },
                &[],
            )
            .await
            .unwrap();
    }
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn requests_follow_graphql_over_http() {
    let server = serve(common::sqlite().await.with_read_models()).await;
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
        let (status, _, body) = http(
            a,
            &post("application/json", Some(grj), Some(&token), broken),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, _, body) =
            http(a, &post("application/json", None, Some(&token), broken)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"errors\""), "{body}");
    }

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
    let server = serve(common::sqlite().await.with_read_models()).await;
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
    let register = "mutation { registerClient(details: \"Morgan Ellis, morgan@example.org\") }";
    let client_id =
        server.graphql(&sam, register, json!({})).await["data"]["registerClient"].clone();
    let other_client =
        server.graphql(&sam, register, json!({})).await["data"]["registerClient"].clone();
    let request = "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id status } clientLink } }";
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
    let link = requested["data"]["requestConsent"]["clientLink"]
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
            "query($c: UUID!) { consents(clientId: $c) { id } }",
            json!({ "c": client_id }),
        )
        .await;
    assert_eq!(history["data"]["consents"], json!([]), "{history}");

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
            "{ recordings(purpose: COURSE_ASSESSMENT) { id access { allowed reasons } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["recordings"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let stream = confide_app::stream_of("recording", recording_id.as_str().unwrap()).unwrap();
    let events: Vec<String> = server
        .app
        .store()
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

#[tokio::test]
async fn sqlite_a_consent_story_over_graphql_stays_in_its_tenant() {
    let server = serve(common::sqlite().await.with_read_models()).await;
    a_consent_story_over_graphql_stays_in_its_tenant(server).await;
}

#[tokio::test]
async fn postgres_a_consent_story_over_graphql_stays_in_its_tenant() {
    let server = serve(common::postgres().await.with_read_models()).await;
    a_consent_story_over_graphql_stays_in_its_tenant(server).await;
}
