//! The probes a load balancer or orchestrator asks: `/health` answers while the process
//! runs; `/ready` answers 200 once the database answers and every migration is applied,
//! else 503 with the reason.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::ApiState;

/// `/health`.
pub(crate) async fn health(State(state): State<Arc<ApiState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": state.app.backend(),
    }))
}

/// How long `/ready` waits for the database before calling it unready.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// `/ready`: 200 when the database answers and its schema is up to date, else 503 with the
/// reason, for a load balancer or orchestrator to hold traffic back.
pub(crate) async fn ready(State(state): State<Arc<ApiState>>) -> (StatusCode, Json<Value>) {
    readiness(state.app.ready()).await
}

async fn readiness<E: std::fmt::Display>(
    check: impl Future<Output = Result<(), E>>,
) -> (StatusCode, Json<Value>) {
    let reason = match tokio::time::timeout(READY_TIMEOUT, check).await {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a panic is a failure.

    use super::*;
    use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore};
    use serde_json::json;

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
        let (status, Json(body)) = readiness(store.ready()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unavailable");
        let reason = body["reason"].as_str().unwrap();
        assert!(
            reason.contains("migration 1 ") && reason.contains("not applied"),
            "{reason}"
        );

        store.migrate().await.unwrap();
        let (status, Json(body)) = readiness(store.ready()).await;
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
        let (status, Json(body)) = readiness(PgEventStore::new(pool).ready()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("unavailable"), "{reason}");
        assert!(!reason.contains("secret"), "{reason}");
    }
}
