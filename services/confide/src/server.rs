//! Start-up: open the store, build the router, serve until shut down.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::settings::{Database, Settings};

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn EventStore>,
}

/// Opens the configured event store and applies pending migrations.
pub(crate) async fn open_store(settings: &Settings) -> Result<Arc<dyn EventStore>> {
    match &settings.database {
        Database::Sqlite(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let store = SqliteEventStore::open(path)
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            store
                .migrate()
                .await
                .context("migrating the SQLite database")?;
            Ok(Arc::new(store))
        }
        Database::Postgres(url) => {
            let store = PgEventStore::connect(url, 16)
                .await
                .context("connecting to PostgreSQL")?;
            store
                .migrate()
                .await
                .context("migrating the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
    }
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(state)
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
