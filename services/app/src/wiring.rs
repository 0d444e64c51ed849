//! Opening the application as configured: the database (SQLite, the embedded default, or
//! PostgreSQL) with its migrations applied and its read models registered, the key store in
//! the same database, the blob store (a local directory or an S3 bucket), and the checkpoint
//! signer. The binary reads the configuration; this is the one place it becomes an [`App`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use confide_audit::checkpoint::NoteSigner;
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore, StoreError};
use confide_vault::{
    BlobStore, KeySchema, KeyStore, LocalBlobStore, LocalKeyStore, MasterKey, S3BlobStore,
    S3Config, S3Credentials,
};
use sqlx::postgres::PgPoolOptions;

use crate::{App, AppParts, ReadModels, SystemClock, WithReadModels};

/// Where the log, the read models and the keys are kept.
pub enum Database {
    /// The embedded default: one SQLite file.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

/// Where recordings' ciphertext is kept.
pub enum Media {
    /// The embedded default: a directory.
    Local(PathBuf),
    S3(S3Bucket),
}

/// An S3 bucket and how to reach it. Without credentials the AWS SDK's usual chain finds
/// them (environment, profile, instance role).
pub struct S3Bucket {
    pub bucket: String,
    /// A store other than AWS (Garage, MinIO, …).
    pub endpoint: Option<String>,
    /// The region requests are signed for; `us-east-1` when absent.
    pub region: Option<String>,
    pub force_path_style: bool,
    /// The access key id and its secret.
    pub credentials: Option<(String, String)>,
}

/// Everything [`App::open`] needs.
pub struct Wiring {
    pub database: Database,
    pub media: Media,
    /// The master key that wraps every data key: base64 of 32 bytes.
    pub master_key: String,
    /// The checkpoint signing key: a base64 Ed25519 seed.
    pub checkpoint_seed: String,
    /// The checkpoint key's name and the prefix of every checkpoint's origin line.
    pub log_origin: String,
}

/// Why the application could not be opened: what failed, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct OpenError {
    what: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> OpenError {
    let what = what.into();
    move |source| OpenError {
        what,
        source: Box::new(source),
    }
}

/// A key that is not what it should be; the message never repeats the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadKey(&'static str);

/// The checkpoint key an auditor trusts (a signed-note verifier key), from the signing
/// key's seed, without opening anything.
pub fn checkpoint_key(log_origin: &str, checkpoint_seed: &str) -> Result<String, OpenError> {
    NoteSigner::from_seed_base64(log_origin, checkpoint_seed.trim())
        .map(|signer| signer.verifier().to_string())
        .map_err(|_| failed("the checkpoint signing key")(BadKey("not a base64 Ed25519 seed")))
}

impl App {
    /// Opens the database (creating a SQLite file's directory), applies pending migrations
    /// ([`migrate`]: the log's, the key store's, the read models'), and assembles the
    /// application over it.
    pub async fn open(wiring: Wiring) -> Result<Self, OpenError> {
        let master = MasterKey::from_base64(wiring.master_key.trim())
            .map_err(|_| failed("the master key")(BadKey("not base64 of 32 bytes")))?;
        let note_signer =
            NoteSigner::from_seed_base64(&wiring.log_origin, wiring.checkpoint_seed.trim())
                .map_err(|_| {
                    failed("the checkpoint signing key")(BadKey("not a base64 Ed25519 seed"))
                })?;
        let signer = Arc::new(CheckpointSigner::new(
            note_signer,
            wiring.log_origin.clone(),
        ));
        let blobs = blob_store(wiring.media).await?;
        Ok(match wiring.database {
            Database::Sqlite(path) => {
                let store = open_sqlite(&path).await?;
                migrate(&store)
                    .await
                    .map_err(failed("migrating the SQLite database"))?;
                assemble(store, master, blobs, signer)
            }
            Database::Postgres(url) => {
                let store = connect_postgres(&url).await?;
                migrate(&store)
                    .await
                    .map_err(failed("migrating the PostgreSQL database"))?;
                assemble(store, master, blobs, signer)
            }
        })
    }
}

/// How many connections to PostgreSQL the application holds at most.
const POSTGRES_CONNECTIONS: u32 = 16;

/// How long a use case waits for a PostgreSQL connection, opening one included, before it
/// fails as an outage ([`AppError::is_unavailable`](crate::AppError::is_unavailable)), which
/// the API answers `UNAVAILABLE` (HTTP 503 with `Retry-After`). While the database is down
/// every request is answered within this time, and `/ready` says so as soon; once it is back,
/// the next request opens a fresh connection, so the service recovers without a restart. It
/// also sheds load: a request that would queue longer than this for one of the
/// [`POSTGRES_CONNECTIONS`] is told to come back rather than left waiting.
pub const DATABASE_WAIT: Duration = Duration::from_secs(1);

/// The PostgreSQL pool's options: its size and [`DATABASE_WAIT`].
fn postgres_pool() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(DATABASE_WAIT)
}

/// Opens the database and applies its pending migrations ([`migrate`]) without assembling
/// the application, so without any key: `confide migrate`, which may run where the
/// service's keys are not (a schema owner's job), and never creates one.
pub async fn migrate_database(database: Database) -> Result<(), OpenError> {
    match database {
        Database::Sqlite(path) => migrate(&open_sqlite(&path).await?)
            .await
            .map_err(failed("migrating the SQLite database")),
        Database::Postgres(url) => migrate(&connect_postgres(&url).await?)
            .await
            .map_err(failed("migrating the PostgreSQL database")),
    }
}

/// The SQLite store at `path` (its directory created) with the read models registered.
async fn open_sqlite(path: &std::path::Path) -> Result<SqliteEventStore, OpenError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(failed(format!("creating {}", parent.display())))?;
    }
    Ok(SqliteEventStore::open(path)
        .await
        .map_err(failed(format!("opening {}", path.display())))?
        .with_read_models())
}

/// The PostgreSQL store at `url` with the read models registered.
async fn connect_postgres(url: &str) -> Result<PgEventStore, OpenError> {
    Ok(PgEventStore::connect_with(url, postgres_pool())
        .await
        .map_err(failed("connecting to PostgreSQL"))?
        .with_read_models())
}

/// The application over one database (the log, its read models and the key store) on the
/// machine's clock.
fn assemble<S>(
    store: S,
    master: MasterKey,
    blobs: Arc<dyn BlobStore>,
    signer: Arc<CheckpointSigner>,
) -> App
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    App::new(AppParts {
        store: Arc::new(store.clone()),
        read: Arc::new(store.clone()),
        keys: Arc::new(LocalKeyStore::new(store, master)),
        blobs,
        signer,
        clock: Arc::new(SystemClock),
    })
}

/// Applies every pending migration of the database `store` is over, in order: the log's
/// (`schema/migrations`), the key store's (`services/vault/migrations`), then the read
/// models' (`services/readmodels/migrations`). Each has its own migrator over the database's
/// one `_sqlx_migrations` table; a database migrated before they were split has versions 1–9
/// there already and sees every migration as applied.
pub async fn migrate<S>(store: &S) -> Result<(), StoreError>
where
    S: Migrations,
{
    store.migrate_log().await?;
    store.migrate_keys().await?;
    store.migrate_read_models().await
}

/// Whether every migration of the database `store` is over is applied unchanged, in the
/// order [`migrate`] applies them: the log's (`EventStore::ready`), the key store's, the
/// read models'. [`StoreError::NotReady`] names the first that is not. [`App::ready`] asks
/// the same of the parts it holds.
pub async fn schema_ready<S>(store: &S) -> Result<(), StoreError>
where
    S: Migrations,
{
    store.ready().await?;
    store.keys_ready().await?;
    store.read_models_ready().await
}

/// A store whose database holds the log, the key store and the read models, each with its
/// own migrator: `PgEventStore` and `SqliteEventStore`. See [`migrate`] and [`schema_ready`].
#[async_trait]
pub trait Migrations: EventStore + KeySchema + WithReadModels + ReadModels {
    /// The log's own migrations (`migrate` on the store).
    async fn migrate_log(&self) -> Result<(), StoreError>;
}

#[async_trait]
impl Migrations for SqliteEventStore {
    async fn migrate_log(&self) -> Result<(), StoreError> {
        self.migrate().await
    }
}

#[async_trait]
impl Migrations for PgEventStore {
    async fn migrate_log(&self) -> Result<(), StoreError> {
        self.migrate().await
    }
}

async fn blob_store(media: Media) -> Result<Arc<dyn BlobStore>, OpenError> {
    Ok(match media {
        Media::Local(dir) => Arc::new(
            LocalBlobStore::new(&dir).map_err(failed(format!("opening {}", dir.display())))?,
        ),
        Media::S3(s3) => Arc::new(
            S3BlobStore::new(S3Config {
                bucket: s3.bucket,
                endpoint_url: s3.endpoint,
                region: s3.region.unwrap_or_else(|| "us-east-1".to_owned()),
                force_path_style: s3.force_path_style,
                credentials: s3
                    .credentials
                    .map(|(id, secret)| S3Credentials::new(id, secret)),
            })
            .await,
        ),
    })
}
