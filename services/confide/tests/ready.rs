//! `EventStore::ready` on both backends, as `/ready` asks it: not ready before the migrations,
//! ready after them, and not ready again when the recorded migrations no longer match the ones
//! this build embeds. PostgreSQL comes from `CONFIDE_TEST_DATABASE_URL`; a test that cannot
//! reach it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::str::FromStr;

use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://confide:confide@127.0.0.1:5432/confide_test";

/// The statements that damage the record of applied migrations (and undo the damage), in
/// each backend's dialect.
struct Statements {
    forget_latest: &'static str,
    change_checksum: &'static str,
    mark_failed: &'static str,
    restore: &'static str,
    add_future: &'static str,
}

/// `tamper` runs SQL against the store's database behind the store's back.
async fn ready_follows_the_migrations(
    store: &dyn EventStore,
    migrate: impl AsyncFnOnce(),
    tamper: impl AsyncFn(&'static str),
    sql: Statements,
) {
    let not_ready = |result: Result<(), StoreError>, expected: &str| match result {
        Err(StoreError::NotReady(reason)) => {
            assert!(reason.contains(expected), "{reason} lacks {expected}")
        }
        other => panic!("expected not ready ({expected}), got {other:?}"),
    };
    not_ready(store.ready().await, "migration 1 ");
    migrate().await;
    store.ready().await.expect("ready once migrated");

    tamper(sql.add_future).await;
    store
        .ready()
        .await
        .expect("a migration of a newer build does not make it unready");

    for (statement, expected) in [
        (sql.forget_latest, "is not applied"),
        (sql.change_checksum, "different contents"),
        (sql.mark_failed, "failed part-way"),
    ] {
        tamper(statement).await;
        not_ready(store.ready().await, expected);
        tamper(sql.restore).await;
        store.ready().await.expect("ready once restored");
    }
}

#[tokio::test]
async fn sqlite_is_ready_when_its_migrations_are() {
    let path = std::env::temp_dir().join(format!(
        "confide-ready-{}-{:016x}.db",
        std::process::id(),
        rand::random::<u64>()
    ));
    let store = SqliteEventStore::open(&path).await.unwrap();
    let pool = store.pool().clone();
    ready_follows_the_migrations(
        &store,
        async || store.migrate().await.unwrap(),
        async |statement| {
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
        },
        Statements {
            forget_latest: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                DELETE FROM _sqlx_migrations \
                WHERE version = (SELECT max(version) FROM saved WHERE version < 9000)",
            change_checksum: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1",
            mark_failed: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                UPDATE _sqlx_migrations SET success = FALSE WHERE version = 2",
            restore: "DELETE FROM _sqlx_migrations; \
                INSERT INTO _sqlx_migrations SELECT * FROM saved; DROP TABLE saved",
            add_future: "INSERT INTO _sqlx_migrations \
                (version, description, success, checksum, execution_time) \
                VALUES (9999, 'from a newer build', TRUE, x'01', 0)",
        },
    )
    .await;
    std::fs::remove_file(&path).ok();
}

#[tokio::test]
async fn postgres_is_ready_when_its_migrations_are() {
    let url = std::env::var("CONFIDE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into());
    let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {url} ({e}); run .ci/test, which starts and prepares it"
        )
    });
    let schema = format!("t_ready_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    let store = PgEventStore::new(pool.clone());
    ready_follows_the_migrations(
        &store,
        async || store.migrate().await.unwrap(),
        async |statement| {
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
        },
        Statements {
            forget_latest: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                DELETE FROM _sqlx_migrations \
                WHERE version = (SELECT max(version) FROM saved WHERE version < 9000)",
            change_checksum: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea WHERE version = 1",
            mark_failed: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                UPDATE _sqlx_migrations SET success = FALSE WHERE version = 2",
            restore: "DELETE FROM _sqlx_migrations; \
                INSERT INTO _sqlx_migrations SELECT * FROM saved; DROP TABLE saved",
            add_future: "INSERT INTO _sqlx_migrations \
                (version, description, success, checksum, execution_time) \
                VALUES (9999, 'from a newer build', TRUE, '\\x01'::bytea, 0)",
        },
    )
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
}
