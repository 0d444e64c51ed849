//! The API over a real HTTP server on port 0, as the API's tests drive it: tokens signed by
//! the library, a key store in the event store's database, recordings' ciphertext in a
//! directory of its own (or the blob store a test gives).

pub use crate::common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use confide_api::ApiState;
use confide_api::auth::{Authenticator, LocalKey};
use confide_app::{App, AppParts, ReadModels, SystemClock, tenant_stream};
use confide_audit::checkpoint::{NoteSigner, NoteVerifier};
use confide_domain::aggregates::tenant::{Tenant, TenantCommand};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::{Actor, Jurisdiction, SystemJob, TenantId, UserId};
use confide_eventstore::EventStore;
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_vault::{BlobStore, KeyStore, LocalBlobStore, LocalKeyStore, MasterKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn key() -> LocalKey {
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    LocalKey::from_seed(&signing.to_bytes(), signing.verifying_key().to_bytes())
}

pub struct Server {
    pub address: SocketAddr,
    pub app: Arc<App>,
    /// The store under the application, for tests that check what was written.
    pub store: Arc<dyn EventStore>,
    read: Arc<dyn ReadModels>,
    signer: Arc<CheckpointSigner>,
    pub auth: Arc<Authenticator>,
    pub keys: Arc<dyn KeyStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// The directory of the local blob store, when the server has one.
    pub media_dir: Option<PathBuf>,
    /// The key its checkpoints are signed with, as an auditor or a client is given it.
    pub checkpoint_key: NoteVerifier,
}

/// A fresh, empty directory under the system's temporary directory.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("confide-{label}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves the API over `store`, with recordings' ciphertext in a new directory.
pub async fn serve<S>(store: S) -> Server
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    let dir = temp_dir("media");
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::new(&dir).unwrap());
    let mut server = serve_with(store, blobs).await;
    server.media_dir = Some(dir);
    server
}

/// Serves the API over `store`, with recordings' ciphertext in `blobs`.
pub async fn serve_with<S>(store: S, blobs: Arc<dyn BlobStore>) -> Server
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    let auth = Arc::new(Authenticator::new("confide", "confide", key(), None).unwrap());
    let keys: Arc<dyn KeyStore> =
        Arc::new(LocalKeyStore::new(store.clone(), MasterKey::generate()));
    let signer = NoteSigner::generate("confide.test").unwrap();
    let checkpoint_key = signer.verifier();
    let signer = Arc::new(CheckpointSigner::new(signer, "confide.test"));
    let event_store: Arc<dyn EventStore> = Arc::new(store.clone());
    let read: Arc<dyn ReadModels> = Arc::new(store);
    let app = Arc::new(App::new(AppParts {
        store: event_store.clone(),
        read: read.clone(),
        keys: keys.clone(),
        blobs: blobs.clone(),
        signer: signer.clone(),
        clock: Arc::new(SystemClock),
    }));
    let router = confide_api::router(Arc::new(ApiState::new(app.clone(), auth.clone(), false)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        address,
        app,
        store: event_store,
        read,
        signer,
        auth,
        keys,
        blobs,
        media_dir: None,
        checkpoint_key,
    }
}

/// A raw HTTP/1.1 exchange: (status, headers in lowercase, body).
pub async fn http(address: SocketAddr, request: &str) -> (u16, String, String) {
    let (status, head, body) = http_bytes(address, request.as_bytes()).await;
    (status, head, String::from_utf8(body).unwrap())
}

/// A raw HTTP/1.1 exchange of bytes: (status, headers in lowercase, body bytes).
pub async fn http_bytes(address: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), raw[split + 4..].to_vec())
}

pub fn post(content_type: &str, accept: Option<&str>, token: Option<&str>, body: &str) -> String {
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
    /// Another application over the same database and keys, keeping media in `blobs`.
    pub fn app_with_blobs(&self, blobs: Arc<dyn BlobStore>) -> App {
        App::new(AppParts {
            store: self.store.clone(),
            read: self.read.clone(),
            keys: self.keys.clone(),
            blobs,
            signer: self.signer.clone(),
            clock: Arc::new(SystemClock),
        })
    }

    pub fn token(&self, tenant: &str, user: &str) -> String {
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
    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, _, body) = http(
            self.address,
            &post("application/json", None, Some(token), &body),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Runs `query` and returns its `data`, failing the test on any error.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self.graphql(token, query, variables).await;
        assert!(response["errors"].is_null(), "{query}: {response}");
        response["data"].clone()
    }

    /// A tenant under a written opt-in, audio-only policy, with its first org_admin.
    pub async fn create_tenant(&self, tenant: &str, admin: &str) {
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

    /// Adds members to a tenant as its administrator, each with one role (`PRACTITIONER`, …).
    pub async fn add_members(&self, admin: &str, members: &[(&str, &str)]) {
        for (user, role) in members {
            self.ok(
                admin,
                "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
                json!({ "u": user, "r": [role] }),
            )
            .await;
        }
    }

    /// Publishes a consent form as the tenant's administrator; returns its `id` and `version`.
    pub async fn publish_form(&self, admin: &str, text: &str) -> Value {
        self.ok(
            admin,
            "mutation($t: String!) { publishConsentForm(title: \"Recording consent\", language: \"en-GB\", text: $t) { id version } }",
            json!({ "t": text }),
        )
        .await["publishConsentForm"]
            .clone()
    }

    /// Asks for written consent as a practitioner (`input` is a `RequestConsentInput`);
    /// returns the consent's id and the client's link.
    pub async fn request_consent(&self, practitioner: &str, input: Value) -> (Value, String) {
        let requested = self
            .ok(
                practitioner,
                "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink } }",
                json!({ "input": input }),
            )
            .await["requestConsent"]
            .clone();
        let link = requested["clientLink"].as_str().unwrap().to_owned();
        (requested["consent"]["id"].clone(), link)
    }

    /// The client gives consent through their link, signing with `typed_name`.
    pub async fn give_consent(&self, link: &str, consent: &Value, typed_name: &str) {
        self.ok(
            link,
            "mutation($id: UUID!, $n: String!) { giveConsent(consentId: $id, typedName: $n) { status } }",
            json!({ "id": consent, "n": typed_name }),
        )
        .await;
    }

    pub async fn log_size(&self, tenant: &str) -> u64 {
        self.store
            .tree_head(&TenantId::parse(tenant).unwrap())
            .await
            .unwrap()
            .map_or(0, |head| head.size)
    }
}

pub fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}
