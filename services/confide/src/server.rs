//! Start-up: open the store, build the router, serve until shut down.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use confide_api::auth::Authenticator;
use confide_api::{ApiState, Services};
use confide_app::{App, ReadModels, SystemClock, WithReadModels};
use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore};
use confide_vault::{KeyStore, LocalKeyStore};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::keys;
use crate::settings::{Database, Settings};

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

/// The API's services over an opened backend.
pub(crate) fn services(settings: &Settings, backend: &Backend) -> Result<Services> {
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
    let auth = Authenticator::new(
        settings.token_issuer.clone(),
        settings.token_audience.clone(),
        keys::load_token_key(settings)?,
        trusted.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("the trusted keys: {e}"))?;
    Ok(Services {
        app: Arc::new(App::new(
            backend.store.clone(),
            backend.read.clone(),
            Arc::new(SystemClock),
        )),
        auth: Arc::new(auth),
        keys: backend.keys.clone(),
        signer: Arc::new(keys::load_signer(settings)?),
    })
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(state.clone())
        .merge(confide_api::router(state.api))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": state.store.backend(),
    }))
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
pub(crate) async fn launch(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

/// Completes on ctrl-c or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
