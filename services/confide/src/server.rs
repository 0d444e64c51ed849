//! Start-up: open the store, build the router, serve until shut down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use confide_api::auth::{Authenticator, JWKS_REFRESH_EVERY, RemoteKeySet};
use confide_api::{ApiState, Services};
use confide_app::{App, ReadModels, SystemClock, Vault, WithReadModels};
use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore};
use confide_vault::{
    BlobStore, KeyStore, LocalBlobStore, LocalKeyStore, S3BlobStore, S3Config, S3Credentials,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::keys;
use crate::settings::{Database, MediaStore, Settings};

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) api: Arc<ApiState>,
}

/// The opened database: the log, the read models the application decides from, and the key
/// store, all in one database.
pub(crate) struct Backend {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) read: Arc<dyn ReadModels>,
    pub(crate) keys: Arc<dyn KeyStore>,
}

/// Opens the configured event store with its read models and applies pending migrations.
pub(crate) async fn open_store(settings: &Settings) -> Result<Backend> {
    let master = keys::load_master_key(settings)?;
    match &settings.database {
        Database::Sqlite(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let store = SqliteEventStore::open(path)
                .await
                .with_context(|| format!("opening {}", path.display()))?
                .with_read_models();
            store
                .migrate()
                .await
                .context("migrating the SQLite database")?;
            Ok(Backend {
                store: Arc::new(store.clone()),
                read: Arc::new(store.clone()),
                keys: Arc::new(LocalKeyStore::new(store, master)),
            })
        }
        Database::Postgres(url) => {
            let store = PgEventStore::connect(url, 16)
                .await
                .context("connecting to PostgreSQL")?
                .with_read_models();
            store
                .migrate()
                .await
                .context("migrating the PostgreSQL database")?;
            Ok(Backend {
                store: Arc::new(store.clone()),
                read: Arc::new(store.clone()),
                keys: Arc::new(LocalKeyStore::new(store, master)),
            })
        }
    }
}

/// The blob store the settings name: a local directory (the embedded default) or an S3
/// bucket.
pub(crate) async fn blob_store(settings: &Settings) -> Result<Arc<dyn BlobStore>> {
    Ok(match &settings.media {
        MediaStore::Local(dir) => Arc::new(
            LocalBlobStore::new(dir).with_context(|| format!("opening {}", dir.display()))?,
        ),
        MediaStore::S3(s3) => Arc::new(
            S3BlobStore::new(S3Config {
                bucket: s3.bucket.clone(),
                endpoint_url: s3.endpoint.clone(),
                region: s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                force_path_style: s3.force_path_style,
                credentials: match (&s3.access_key_id, &s3.secret_access_key) {
                    (Some(id), Some(secret)) => {
                        Some(S3Credentials::new(id.clone(), secret.expose().to_owned()))
                    }
                    (None, None) => None,
                    _ => anyhow::bail!(
                        "CONFIDE_S3_ACCESS_KEY_ID and CONFIDE_S3_SECRET_ACCESS_KEY go together"
                    ),
                },
            })
            .await,
        ),
    })
}

/// The API's services over an opened backend.
pub(crate) async fn services(settings: &Settings, backend: &Backend) -> Result<Services> {
    let trusted = match &settings.jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&text)
                    .with_context(|| format!("{} is not a JWK set", path.display()))?,
            )
        }
        None => None,
    };
    let mut auth = Authenticator::new(
        settings.token_issuer.clone(),
        settings.token_audience.clone(),
        keys::load_token_key(settings)?,
        trusted.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("the trusted keys: {e}"))?;
    if let Some(url) = &settings.jwks_url {
        // Fetched by `launch`, and on demand by a token naming a key the set lacks.
        let remote = RemoteKeySet::new(url).context("CONFIDE_JWKS_URL")?;
        auth = auth.with_remote_keys(Arc::new(remote));
    }
    Ok(Services {
        app: Arc::new(App::new(
            backend.store.clone(),
            backend.read.clone(),
            Arc::new(SystemClock),
        )),
        auth: Arc::new(auth),
        keys: backend.keys.clone(),
        blobs: blob_store(settings).await?,
        signer: Arc::new(keys::load_signer(settings)?),
    })
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(state.clone())
        .merge(confide_api::router(state.api))
        // Every route, probes included, runs in a traced, counted and timed request span.
        .layer(axum::middleware::from_fn(confide_api::observe))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": state.store.backend(),
    }))
}

/// How long `/ready` waits for the database before calling it unready.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// `/ready`: 200 when the database answers and its schema is up to date, else 503 with the
/// reason, for a load balancer or orchestrator to hold traffic back.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    readiness(state.store.as_ref()).await
}

async fn readiness(store: &dyn EventStore) -> (StatusCode, Json<Value>) {
    let reason = match tokio::time::timeout(READY_TIMEOUT, store.ready()).await {
        Ok(Ok(())) => return (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "not ready");
            error.to_string()
        }
        Err(_) => format!(
            "the database did not answer within {} s",
            READY_TIMEOUT.as_secs()
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": reason })),
    )
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests. The
/// identity provider's key set, if one is configured, is fetched now and kept fresh meanwhile.
pub(crate) async fn launch(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let refresher = state
        .api
        .services
        .auth
        .remote_keys()
        .cloned()
        .map(|keys| tokio::spawn(async move { keys.keep_fresh(JWKS_REFRESH_EVERY).await }));
    let services = state.api.services.clone();
    let destructions = tokio::spawn(async move { destruction_jobs(&services).await });
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
    if let Some(refresher) = refresher {
        refresher.abort();
    }
    destructions.abort();
    served
}

/// How often retention and scheduled destructions run.
const DESTRUCTIONS_EVERY: Duration = Duration::from_secs(60);

/// Retention and destruction for every tenant: at start-up, which finishes any destruction
/// a crash cut short, and then every [`DESTRUCTIONS_EVERY`]. A failed run is logged and the
/// next one tries again; each step of a destruction is safe to repeat.
async fn destruction_jobs(services: &Services) {
    let mut every = tokio::time::interval(DESTRUCTIONS_EVERY);
    loop {
        every.tick().await;
        let vault = Vault {
            keys: services.keys.as_ref(),
            blobs: services.blobs.as_ref(),
        };
        match services.app.run_destruction_jobs(vault).await {
            Ok(0) => {}
            Ok(destroyed) => tracing::info!(destroyed, "recordings destroyed"),
            Err(error) => tracing::warn!(%error, "the destruction jobs failed; retrying later"),
        }
    }
}

/// Completes on SIGINT (ctrl-c) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: a signal that arrives as soon as the server says it
/// is listening is a graceful shutdown, never the default action's sudden exit.
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a panic is a failure.

    use super::*;

    async fn fresh_sqlite() -> SqliteEventStore {
        let path = std::env::temp_dir().join(format!(
            "confide-ready-{}-{:016x}.db",
            std::process::id(),
            rand::random::<u64>()
        ));
        SqliteEventStore::open(&path).await.unwrap()
    }

    #[tokio::test]
    async fn ready_only_once_every_migration_is_applied() {
        let store = fresh_sqlite().await;
        let (status, Json(body)) = readiness(&store).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unavailable");
        let reason = body["reason"].as_str().unwrap();
        assert!(
            reason.contains("migration 1 ") && reason.contains("not applied"),
            "{reason}"
        );

        store.migrate().await.unwrap();
        let (status, Json(body)) = readiness(&store).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ready" }));
    }

    #[tokio::test]
    async fn an_unreachable_database_is_not_ready() {
        // Nothing listens on port 1: every connection attempt is refused.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy("postgres://confide:secret@127.0.0.1:1/confide")
            .unwrap();
        let (status, Json(body)) = readiness(&PgEventStore::new(pool)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("unavailable"), "{reason}");
        assert!(!reason.contains("secret"), "{reason}");
    }
}
