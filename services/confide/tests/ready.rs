//! Readiness on both backends, as `/ready` asks it (`confide_app::schema_ready`: the log's
//! `EventStore::ready`, then the key store's and the read models' migrators): not ready before
//! the migrations, ready after them, and not ready again when the recorded migrations of any
//! of the three no longer match the ones this build embeds. A database migrated before the
//! migrations were split between the crates is ready as it is. PostgreSQL comes from
//! `CONFIDE_TEST_DATABASE_URL`; a test that cannot reach it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::str::FromStr;

use confide_app::{Migrations, migrate, schema_ready};
use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://confide:confide@127.0.0.1:5432/confide_test";

/// The statements that damage the record of applied migrations (and undo the damage), in
/// each backend's dialect.
struct Statements {
    forget_latest: &'static str,
    /// What readiness says once the latest migration is forgotten.
    latest: &'static str,
    change_checksum: &'static str,
    mark_failed: &'static str,
    restore: &'static str,
    add_future: &'static str,
}

/// `tamper` runs SQL against the store's database behind the store's back.
async fn ready_follows_the_migrations<S: Migrations>(
    store: &S,
    tamper: impl AsyncFn(&'static str),
    sql: Statements,
) {
    let not_ready = |result: Result<(), StoreError>, expected: &str| match result {
        Err(StoreError::NotReady(reason)) => {
            assert!(reason.contains(expected), "{reason} lacks {expected}")
        }
        other => panic!("expected not ready ({expected}), got {other:?}"),
    };
    not_ready(schema_ready(store).await, "migration 1 ");
    store.migrate_log().await.unwrap();
    // The log alone is ready to the event store; the application waits for its other tables.
    EventStore::ready(store).await.expect("the log is migrated");
    not_ready(
        schema_ready(store).await,
        "migration 6 (keys) is not applied",
    );
    migrate(store).await.unwrap();
    schema_ready(store).await.expect("ready once migrated");

    tamper(sql.add_future).await;
    schema_ready(store)
        .await
        .expect("a migration of a newer build does not make it unready");

    for (statement, expected) in [
        (sql.forget_latest, sql.latest),
        (FORGET_KEYS, "migration 6 (keys) is not applied"),
        (
            sql.change_checksum,
            "migration 1 (event log) was applied with different contents",
        ),
        (
            sql.mark_failed,
            "migration 2 (stream links) failed part-way",
        ),
    ] {
        tamper(statement).await;
        not_ready(schema_ready(store).await, expected);
        tamper(sql.restore).await;
        schema_ready(store).await.expect("ready once restored");
    }
}

/// Forgets the key store's migration, in either dialect.
const FORGET_KEYS: &str = "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
    DELETE FROM _sqlx_migrations WHERE version = 6";

/// Every migration of one dialect, from the three folders, as the build before the split
/// embedded them in one migrator: what an existing database was migrated with.
async fn migrator_before_the_split(dialect: &str) -> (sqlx::migrate::Migrator, std::path::PathBuf) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let folder = std::env::temp_dir().join(format!(
        "confide-migrations-{dialect}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&folder).unwrap();
    for owner in [
        "schema/migrations",
        "services/vault/migrations",
        "services/readmodels/migrations",
    ] {
        for file in std::fs::read_dir(root.join(owner).join(dialect)).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), folder.join(file.file_name())).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(folder.as_path())
        .await
        .unwrap();
    assert_eq!(
        migrator.iter().count(),
        if dialect == "postgres" { 15 } else { 12 },
        "one migrator over every version"
    );
    (migrator, folder)
}

#[tokio::test]
async fn a_sqlite_database_migrated_before_the_split_is_ready() {
    let path = std::env::temp_dir().join(format!(
        "confide-ready-{}-{:016x}.db",
        std::process::id(),
        rand::random::<u64>()
    ));
    let store = SqliteEventStore::open(&path).await.unwrap();
    let (before, folder) = migrator_before_the_split("sqlite").await;
    before.run(store.pool()).await.unwrap();
    schema_ready(&store)
        .await
        .expect("every version is applied");
    migrate(&store)
        .await
        .expect("nothing left to apply, nothing missing");
    schema_ready(&store).await.expect("still ready");
    std::fs::remove_dir_all(&folder).ok();
    std::fs::remove_file(&path).ok();
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
        async |statement| {
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
        },
        Statements {
            forget_latest: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                DELETE FROM _sqlx_migrations \
                WHERE version = (SELECT max(version) FROM saved WHERE version < 9000)",
            latest: "migration 14 (staff sessions) is not applied",
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
        async |statement| {
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
        },
        Statements {
            forget_latest: "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
                DELETE FROM _sqlx_migrations \
                WHERE version = (SELECT max(version) FROM saved WHERE version < 9000)",
            latest: "migration 15 (keyset bound on both sides) is not applied",
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
