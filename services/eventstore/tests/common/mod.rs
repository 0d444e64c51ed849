// Kept only for services/app/tests/it/main.rs and services/api/tests/it/main.rs, which include
// this file by path. The event store's and the vault's tests use `confide-test-support`
// (services/test-support) instead, which also removes its databases afterwards; once app and
// api use it too, delete this file.

//! Test harness: a fresh SQLite file or a fresh PostgreSQL schema per test.
//!
//! PostgreSQL comes from `CONFIDE_TEST_DATABASE_URL` (`.ci/test` creates the role and database
//! and exports it). A test that cannot reach it fails: it never passes by skipping.

#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, PgEventStore, SqliteEventStore, StreamId,
    TenantId,
};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

pub const DEFAULT_TEST_DATABASE_URL: &str =
    "postgres://confide:confide@127.0.0.1:5432/confide_test";

pub fn database_url() -> String {
    std::env::var("CONFIDE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into())
}

/// A new, migrated SQLite database in a fresh temporary file.
pub async fn sqlite() -> SqliteEventStore {
    let dir = std::env::temp_dir().join(format!("confide-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    let store = SqliteEventStore::open(&dir.join("events.db"))
        .await
        .expect("opening SQLite");
    store.migrate().await.expect("migrating SQLite");
    store
}

/// Options for a pool whose connections use a new, migrated schema of the test database.
pub async fn postgres_options() -> PgConnectOptions {
    let url = database_url();
    let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {url} ({e}); run .ci/test, which starts and prepares it"
        )
    });
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("creating a test schema");
    PgConnectOptions::from_str(&url)
        .expect("parsing the test database URL")
        .options([("search_path", schema.as_str())])
}

pub async fn postgres_with(max_connections: u32) -> PgEventStore {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(postgres_options().await)
        .await
        .expect("connecting to PostgreSQL");
    let store = PgEventStore::new(pool);
    store.migrate().await.expect("migrating PostgreSQL");
    store
}

pub async fn postgres() -> PgEventStore {
    postgres_with(8).await
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

pub fn stream(name: &str) -> StreamId {
    StreamId::parse(name).unwrap()
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 123_456_789)
        .unwrap()
}

pub fn event(kind: &str, n: u64) -> NewEvent {
    NewEvent::new(kind, 1, json!({ "n": n, "note": "séance ✓" }))
}

/// Appends `n` events to `stream` of `tenant`, one append each, with no expectation.
pub async fn append_n(store: &dyn EventStore, tenant: &TenantId, stream_name: &str, n: u64) {
    for i in 0..n {
        store
            .append(
                tenant,
                AppendRequest::to_stream(
                    stream(stream_name),
                    ExpectedVersion::Any,
                    vec![event("Noted", i)],
                    at(i as i64),
                ),
            )
            .await
            .unwrap();
    }
}

pub type Store = Arc<dyn EventStore>;
