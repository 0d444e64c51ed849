//! The API over a real HTTP server on port 0, as the application's and the API's tests drive
//! it: [`spawn_app`] wires it exactly as the `confide` binary does, over a fresh database that
//! is removed afterwards, with tokens signed by a fresh key.
//!
//! The binary's wiring keeps its store, key store and blob store to itself; a test that checks
//! what was written gets handles of its own on the same database, keys and media directory
//! ([`Server::store`], [`Server::keys`], [`Server::blobs`]), opened beside the application.
//!
//! [`spawn_assembled_app`] is **not** the production wiring: it assembles the application from
//! parts over a store the test opened, with a blob store the binary cannot be configured with
//! (one that fails on purpose, or a bucket the test reaches itself).

use std::any::Any;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeDelta, Utc};
use confide_api::ApiState;
use confide_api::auth::{Authenticator, LocalKey};
use confide_app::{
    App, AppParts, Database, Media, ReadModels, SystemClock, Wiring, WithReadModels,
};
use confide_audit::checkpoint::{NoteSigner, NoteVerifier};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::{Jurisdiction, TenantId, UserId};
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore};
use confide_vault::{BlobStore, KeyStore, LocalBlobStore, LocalKeyStore, MasterKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::clinic::{self, Clinic};
use crate::db::{PostgresSchema, TempDir};

/// The name of the test servers' checkpoint key, and the prefix of their checkpoints' origin.
pub const LOG_ORIGIN: &str = "confide.test";

/// The database a server is opened over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a fresh directory.
    Sqlite,
    /// A fresh schema of the test database ([`crate::database_url`]).
    Postgres,
}

/// A fresh token-signing key (Ed25519), as the binary makes one when none is configured.
pub fn key() -> LocalKey {
    let seed: [u8; 32] = rand::random();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    LocalKey::from_seed(&seed, public)
}

/// A random 32-byte key in base64, as the binary makes its master key and checkpoint seed
/// when none is configured.
fn random_key() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

/// An authenticator over a fresh key and no identity provider, as the binary's
/// `authenticator` builds one with the default issuer and audience.
fn authenticator() -> Arc<Authenticator> {
    Arc::new(Authenticator::new("confide", "confide", key(), None).expect("an authenticator"))
}

/// A server on `127.0.0.1:0`, and handles on what it writes.
pub struct Server {
    pub address: SocketAddr,
    pub app: Arc<App>,
    /// A store on the application's database, for tests that check what was written.
    pub store: Arc<dyn EventStore>,
    read: Arc<dyn ReadModels>,
    signer: Arc<CheckpointSigner>,
    pub auth: Arc<Authenticator>,
    /// A key store on the application's database, under its master key.
    pub keys: Arc<dyn KeyStore>,
    /// The application's media: its directory, or the blob store given.
    pub blobs: Arc<dyn BlobStore>,
    /// The directory of the local blob store, when the server has one.
    pub media_dir: Option<PathBuf>,
    /// The key its checkpoints are signed with, as an auditor or a client is given it.
    pub checkpoint_key: NoteVerifier,
    serving: JoinHandle<()>,
    /// The database and directories, removed when the server is dropped (declared last, so
    /// dropped after every handle on them).
    _cleanup: Vec<Box<dyn Any + Send + Sync>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// How a test sets up the pages beyond the binary's defaults: an identity provider, say, or
/// development mode.
pub type PagesSetup = Box<dyn FnOnce(confide_web::WebState) -> confide_web::WebState + Send>;

/// Serves `app` as the binary does: [`confide_api::service`] (the API, `/health`, `/ready`,
/// the pages as `pages` sets them up, telemetry) on `127.0.0.1:0`.
async fn serve(
    app: Arc<App>,
    auth: Arc<Authenticator>,
    pages: PagesSetup,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let address = listener.local_addr().expect("the listener's address");
    let public_url = format!("http://{address}");
    let pages = confide_web::router(Arc::new(pages(confide_web::WebState::new(
        app.clone(),
        auth.clone(),
        &public_url,
    ))));
    let service = confide_api::service(
        Arc::new(ApiState::new(app, auth, false, &public_url)),
        pages,
    );
    let serving = tokio::spawn(async move {
        confide_api::serve(listener, service, std::future::pending()).await;
    });
    (address, serving)
}

/// The application and the API exactly as the `confide` binary wires them, over a fresh
/// database of `backend` (removed with the server) and media in a fresh directory: random
/// master key and checkpoint seed, [`App::open`], and the binary's router with an
/// authenticator over a fresh key.
pub async fn spawn_app(backend: Backend) -> Server {
    spawn_app_with_pages(backend, Box::new(|pages| pages)).await
}

/// [`spawn_app`], with the pages set up by `pages`.
pub async fn spawn_app_with_pages(backend: Backend, pages: PagesSetup) -> Server {
    let mut cleanup: Vec<Box<dyn Any + Send + Sync>> = Vec::new();
    let media = TempDir::new("media");
    let media_dir = media.path().to_path_buf();
    let (database, at) = match backend {
        Backend::Sqlite => {
            let directory = TempDir::new("test");
            let path = directory.path().join("events.db");
            cleanup.push(Box::new(directory));
            (Database::Sqlite(path.clone()), Opened::Sqlite(path))
        }
        Backend::Postgres => {
            let schema = PostgresSchema::create().await;
            let url = schema.url().to_owned();
            cleanup.push(Box::new(schema));
            (Database::Postgres(url.clone()), Opened::Postgres(url))
        }
    };
    cleanup.push(Box::new(media));
    let (master_key, checkpoint_seed) = (random_key(), random_key());
    let app = App::open(Wiring {
        database,
        media: Media::Local(media_dir.clone()),
        master_key: master_key.clone(),
        checkpoint_seed: checkpoint_seed.clone(),
        log_origin: LOG_ORIGIN.to_owned(),
    })
    .await
    .expect("opening the application as the binary does");
    let app = Arc::new(app);

    // Handles beside the application's own, on the same database, keys and media.
    let master = MasterKey::from_base64(&master_key).expect("a master key");
    let (store, read, keys): (Arc<dyn EventStore>, Arc<dyn ReadModels>, Arc<dyn KeyStore>) =
        match at {
            Opened::Sqlite(path) => {
                let store = SqliteEventStore::open(&path)
                    .await
                    .expect("opening the application's SQLite database")
                    .with_read_models();
                (
                    Arc::new(store.clone()),
                    Arc::new(store.clone()),
                    Arc::new(LocalKeyStore::new(store, master)),
                )
            }
            Opened::Postgres(url) => {
                let store = PgEventStore::connect(&url, 4)
                    .await
                    .expect("connecting to the application's schema")
                    .with_read_models();
                (
                    Arc::new(store.clone()),
                    Arc::new(store.clone()),
                    Arc::new(LocalKeyStore::new(store, master)),
                )
            }
        };
    let blobs: Arc<dyn BlobStore> =
        Arc::new(LocalBlobStore::new(&media_dir).expect("opening the media directory"));
    let note_signer =
        NoteSigner::from_seed_base64(LOG_ORIGIN, &checkpoint_seed).expect("a checkpoint seed");
    let checkpoint_key = note_signer.verifier();
    assert_eq!(
        app.checkpoint_key(),
        checkpoint_key.to_string(),
        "the application signs with the checkpoint seed it was given"
    );
    let signer = Arc::new(CheckpointSigner::new(note_signer, LOG_ORIGIN));

    let auth = authenticator();
    let (address, serving) = serve(app.clone(), auth.clone(), pages).await;
    Server {
        address,
        app,
        store,
        read,
        signer,
        auth,
        keys,
        blobs,
        media_dir: Some(media_dir),
        checkpoint_key,
        serving,
        _cleanup: cleanup,
    }
}

/// [`crate::sqlite`] made ready for the application as [`App::open`] makes its database: the
/// read models registered and every migration applied ([`confide_app::migrate`]: the log's,
/// the key store's, the read models'). Removed with the last clone of the store.
pub async fn app_sqlite() -> SqliteEventStore {
    let store = crate::sqlite().await.with_read_models();
    confide_app::migrate(&store)
        .await
        .expect("migrating SQLite for the application");
    store
}

/// [`crate::postgres`] made ready for the application, as [`app_sqlite`].
pub async fn app_postgres() -> PgEventStore {
    let store = crate::postgres().await.with_read_models();
    confide_app::migrate(&store)
        .await
        .expect("migrating PostgreSQL for the application");
    store
}

/// Where [`spawn_app`] opened the database.
enum Opened {
    Sqlite(PathBuf),
    Postgres(String),
}

/// **Not the production wiring.** The application assembled from parts (`App::new`, as the
/// binary never does) over `store`, a store the test opened, keeping recordings' ciphertext
/// in `blobs`: for a blob store the binary cannot be configured with. Its keys are in the same
/// database under a fresh master key, its checkpoints signed by a fresh key; the router is the
/// binary's.
pub async fn spawn_assembled_app<S>(store: S, blobs: Arc<dyn BlobStore>) -> Server
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    let keys: Arc<dyn KeyStore> =
        Arc::new(LocalKeyStore::new(store.clone(), MasterKey::generate()));
    let signer = NoteSigner::generate(LOG_ORIGIN).expect("a checkpoint key");
    let checkpoint_key = signer.verifier();
    let signer = Arc::new(CheckpointSigner::new(signer, LOG_ORIGIN));
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
    let auth = authenticator();
    let (address, serving) = serve(app.clone(), auth.clone(), Box::new(|pages| pages)).await;
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
        serving,
        _cleanup: Vec::new(),
    }
}

/// A raw HTTP/1.1 exchange: (status, headers in lowercase, body).
pub async fn http(address: SocketAddr, request: &str) -> (u16, String, String) {
    let (status, head, body) = http_bytes(address, request.as_bytes()).await;
    (status, head, String::from_utf8(body).expect("a UTF-8 body"))
}

/// A raw HTTP/1.1 exchange of bytes: (status, headers in lowercase, body bytes).
pub async fn http_bytes(address: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connecting to the server");
    stream
        .write_all(request)
        .await
        .expect("sending the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .expect("reading the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("a UTF-8 head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("a status code");
    (status, head.to_ascii_lowercase(), raw[split + 4..].to_vec())
}

/// A `POST /graphql` request.
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

/// The policy of [`Server::create_tenant`]: written opt-in, audio only.
pub fn counselling_policy() -> TenantPolicy {
    TenantPolicy {
        consent_model: ConsentModel::WrittenOptIn,
        allowed_media: MediaPolicy::AudioOnly,
        practitioner_self_access: true,
        client_copies: ClientCopies::OnRequestReviewed,
        retention_days: 365,
        course_grace_days: 14,
        jurisdiction: Jurisdiction::UkGdpr,
    }
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
                &TenantId::parse(tenant).expect("a tenant id"),
                &UserId::parse(user).expect("a user id"),
                TimeDelta::hours(1),
                Utc::now(),
            )
            .expect("minting a token")
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
        serde_json::from_str(&body).expect("a JSON response")
    }

    /// Runs `query` and returns its `data`, failing the test on any error.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self.graphql(token, query, variables).await;
        assert!(response["errors"].is_null(), "{query}: {response}");
        response["data"].clone()
    }

    /// A tenant under a written opt-in, audio-only policy, with its first org_admin (as the
    /// platform operator provisions it: there is no mutation for it).
    pub async fn create_tenant(&self, tenant: &str, admin: &str) {
        clinic::create_tenant(
            &self.app,
            &TenantId::parse(tenant).expect("a tenant id"),
            "Community Counselling",
            counselling_policy(),
            &UserId::parse(admin).expect("a user id"),
        )
        .await;
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

    /// Registers a client as a member; returns the client's id.
    pub async fn register_client(&self, member: &str, name: &str, contact: &str) -> Value {
        self.ok(
            member,
            "mutation($n: String!, $c: String) { registerClient(name: $n, contact: $c) }",
            json!({ "n": name, "c": contact }),
        )
        .await["registerClient"]
            .clone()
    }

    /// Asks for written consent as a practitioner (`input` is a `RequestConsentInput`);
    /// returns the consent's id and the client's link.
    pub async fn request_consent(&self, practitioner: &str, input: Value) -> (Value, String) {
        let requested = self
            .ok(
                practitioner,
                "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { token } } }",
                json!({ "input": input }),
            )
            .await["requestConsent"]
            .clone();
        let link = requested["clientLink"]["token"]
            .as_str()
            .expect("a client link")
            .to_owned();
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
            .tree_head(&TenantId::parse(tenant).expect("a tenant id"))
            .await
            .expect("reading the tree head")
            .map_or(0, |head| head.size)
    }

    /// Sets up `clinic` over HTTP (the tenant as the platform operator provisions it).
    pub async fn open_clinic(&self, clinic: &Clinic) -> clinic::OverHttp {
        clinic.open_over_http(self).await
    }
}

/// The `code` of a GraphQL response's first error, or "".
pub fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}
