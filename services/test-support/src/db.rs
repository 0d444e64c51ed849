//! Test databases: a fresh, migrated SQLite file or PostgreSQL schema per test, removed again
//! when the test is done with it; and the small helpers the event-store tests share.
//!
//! PostgreSQL comes from `CONFIDE_TEST_DATABASE_URL` (`.ci/test` creates the role and the
//! database and exports it), or [`DEFAULT_TEST_DATABASE_URL`] when it is not set. A test that
//! cannot reach it fails, with or without `CI=true`: it never passes by skipping.
//!
//! # Clean-up
//!
//! Nothing is left behind, and the helpers still return the plain stores:
//!
//! - [`sqlite`]: the database is `events.db` in a directory of its own under the system's
//!   temporary directory (`confide-test-<uuid>`). The directory is removed when the last clone
//!   of the store is dropped, inside that drop: the store's `appended` channel closes then, and
//!   a waker watching it removes the directory. A pool cloned out of the store must not be used
//!   after the last store is gone.
//! - [`postgres`], [`postgres_with`], [`postgres_pool`]: each pool gets a schema `t_<uuid>` of
//!   the test database of its own, as its `search_path`. The schema is dropped
//!   (`DROP SCHEMA … CASCADE`, waited for) when the pool is dropped: after the last clone of
//!   the store and of any pool taken from it. The pool holds the schema's guard.
//!
//! A test that panics cleans up the same way, as its stores are dropped. Set
//! `CONFIDE_TEST_KEEP=1` to keep every database and schema to look at after a failure; each
//! is named on standard error.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};

use chrono::{DateTime, TimeZone, Utc};
use confide_domain::TenantId;
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, PgEventStore, SqliteEventStore, StreamId,
};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// The test database when `CONFIDE_TEST_DATABASE_URL` is not set (what `.ci/test` creates).
pub const DEFAULT_TEST_DATABASE_URL: &str =
    "postgres://confide:confide@127.0.0.1:5432/confide_test";

/// `CONFIDE_TEST_DATABASE_URL`, or [`DEFAULT_TEST_DATABASE_URL`].
pub fn database_url() -> String {
    std::env::var("CONFIDE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into())
}

/// A store shared between tasks, as the conformance suites take it.
pub type Store = Arc<dyn EventStore>;

/// A new, migrated SQLite database in a fresh temporary directory, removed when the last
/// clone of the store is dropped.
pub async fn sqlite() -> SqliteEventStore {
    sqlite_in_directory().await.0
}

/// [`sqlite`], and the directory that goes with the store.
async fn sqlite_in_directory() -> (SqliteEventStore, PathBuf) {
    let directory = std::env::temp_dir().join(format!("confide-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).expect("creating a temporary directory");
    let store = match SqliteEventStore::open(&directory.join("events.db")).await {
        Ok(store) => store,
        Err(error) => {
            remove_directory(&directory);
            panic!("opening SQLite in {}: {error}", directory.display());
        }
    };
    // Before migrating, so that a failed migration cleans up too.
    Reaper::watch(&store, directory.clone());
    store.migrate().await.expect("migrating SQLite");
    (store, directory)
}

/// A new, migrated schema of the test database, dropped with the last clone of the store.
pub async fn postgres() -> PgEventStore {
    postgres_with(8).await
}

/// [`postgres`] with a pool of `max_connections`.
pub async fn postgres_with(max_connections: u32) -> PgEventStore {
    let store = PgEventStore::new(postgres_pool(max_connections).await);
    store.migrate().await.expect("migrating PostgreSQL");
    store
}

/// A pool whose connections use a new, empty schema of the test database (not migrated). The
/// schema is dropped when the pool is: the pool holds its guard.
pub async fn postgres_pool(max_connections: u32) -> PgPool {
    let (options, schema) = new_schema().await;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .after_connect(move |_, _| {
            // Nothing to do per connection: the callback is here to own the schema's guard,
            // which the pool drops with itself.
            let _schema = &schema;
            Box::pin(async { Ok(()) })
        })
        .connect_with(options)
        .await
        .expect("connecting to PostgreSQL")
}

/// Creates a schema of the test database; returns options that make it a connection's
/// `search_path`, and the guard that drops it.
async fn new_schema() -> (PgConnectOptions, Schema) {
    let schema = create_schema().await;
    let options = PgConnectOptions::from_str(&schema.url)
        .expect("parsing the test database URL")
        .options([("search_path", schema.name.as_str())]);
    (options, schema)
}

/// A new, empty schema of the test database (not migrated), for what connects by URL (the
/// application as the binary opens it): [`url`](Self::url) lands in it. Dropped
/// (`DROP SCHEMA … CASCADE`, waited for) with this value.
pub struct PostgresSchema {
    url: String,
    schema: Schema,
}

impl PostgresSchema {
    pub async fn create() -> Self {
        let schema = create_schema().await;
        // libpq's `options` parameter, which sqlx reads from the URL too:
        // `options=-c search_path=<schema>`, percent-encoded.
        let separator = if schema.url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{separator}options=-c%20search_path%3D{}",
            schema.url, schema.name
        );
        Self { url, schema }
    }

    /// The test database's URL, with the schema as its connections' `search_path`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name (`t_<uuid>`).
    pub fn name(&self) -> &str {
        &self.schema.name
    }
}

/// A fresh, empty directory under the system's temporary directory (`confide-<label>-<uuid>`),
/// removed with this value (kept under `CONFIDE_TEST_KEEP`).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let directory =
            std::env::temp_dir().join(format!("confide-{label}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&directory).expect("creating a temporary directory");
        Self(directory)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if keep() {
            eprintln!(
                "note: CONFIDE_TEST_KEEP: kept directory {}",
                self.0.display()
            );
        } else {
            remove_directory(&self.0);
        }
    }
}

/// Creates a schema of the test database, and the guard that drops it.
async fn create_schema() -> Schema {
    let url = database_url();
    let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {url} ({e}); run .ci/test, which starts and prepares it"
        )
    });
    let name = format!("t_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&mut admin)
        .await
        .expect("creating a test schema");
    let schema = Schema {
        url: url.clone(),
        name,
    };
    // Closing is a courtesy to the server: an error here changes nothing for the test.
    let _ = admin.close().await;
    schema
}

/// Whether `CONFIDE_TEST_KEEP` asks to keep test databases.
fn keep() -> bool {
    std::env::var("CONFIDE_TEST_KEEP").is_ok_and(|keep| !keep.is_empty() && keep != "0")
}

/// A schema of the test database, dropped with this guard.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        if keep() {
            eprintln!(
                "note: CONFIDE_TEST_KEEP: kept schema {} of {}",
                self.name, self.url
            );
            return;
        }
        let (url, name) = (self.url.clone(), self.name.clone());
        // A drop cannot await, and often runs on a thread of the test's runtime: the schema is
        // dropped from a thread and a runtime of its own, and waited for, so that it is gone
        // when the drop returns.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                // The pool's connections are closed by now, but the server may not have
                // noticed yet: wait for their locks, within reason.
                sqlx::query("SET lock_timeout = '30s'")
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("note: test schema {} was not dropped: {error}", self.name),
            Err(_) => eprintln!("note: test schema {} was not dropped: panicked", self.name),
        }
    }
}

/// Removes a SQLite test database's directory when its store's `appended` channel closes,
/// which is when the last clone of the store is dropped.
///
/// The watch is a future polled with this reaper as its waker: the store's sender wakes it on
/// every append (it polls again, and waits again) and, inside the sender's drop, when it
/// closes; the poll then sees the end and removes the directory, before that drop returns. No
/// thread or task waits for it.
struct Reaper {
    watch: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    directory: PathBuf,
}

impl Reaper {
    fn watch(store: &SqliteEventStore, directory: PathBuf) {
        let mut appended = store.appended();
        // Unconstrained: polled from a waker, the watch must never be told to yield (it would
        // wake itself while its lock is held).
        let watch = tokio::task::unconstrained(async move {
            // Every append changes the value; only the channel's closing ends the loop.
            while appended.changed().await.is_ok() {}
        });
        let reaper = Arc::new(Reaper {
            watch: Mutex::new(Some(Box::pin(watch))),
            directory,
        });
        reaper.poll();
    }

    fn poll(self: &Arc<Self>) {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(future) = watch.as_mut() else {
            return;
        };
        let waker = Waker::from(self.clone());
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            *watch = None;
            drop(watch);
            if keep() {
                eprintln!(
                    "note: CONFIDE_TEST_KEEP: kept SQLite database {}",
                    self.directory.display()
                );
            } else {
                remove_directory(&self.directory);
            }
        }
    }
}

impl Wake for Reaper {
    fn wake(self: Arc<Self>) {
        self.poll();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll();
    }
}

/// Removes a test database's directory; a failure is a note, not a test failure.
fn remove_directory(directory: &Path) {
    let mut outcome = Ok(());
    // SQLite's worker threads may still be closing files in it: try again a little later.
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        outcome = std::fs::remove_dir_all(directory);
        match &outcome {
            Ok(()) => return,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {}
        }
    }
    if let Err(error) = outcome {
        eprintln!(
            "note: test database {} was not removed: {error}",
            directory.display()
        );
    }
}

/// A tenant id that must be valid.
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("a valid tenant id")
}

/// A stream id that must be valid.
pub fn stream(name: &str) -> StreamId {
    StreamId::parse(name).expect("a valid stream id")
}

/// A fixed instant plus `seconds`, with nanoseconds (that the stores keep to the microsecond).
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 123_456_789)
        .single()
        .expect("a valid instant")
}

/// An event of `kind`, schema version 1, whose payload holds `n` and some non-ASCII text.
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
            .expect("appending");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_database_goes_with_the_last_clone_of_its_store() {
        let (store, directory) = sqlite_in_directory().await;
        let clone = store.clone();
        append_n(&store, &tenant("acme"), "log", 3).await;
        drop(store);
        assert!(directory.join("events.db").exists());
        // Appends wake the watch; it keeps watching.
        append_n(&clone, &tenant("acme"), "log", 2).await;
        assert_eq!(
            clone
                .read_tenant(&tenant("acme"), 0, 10)
                .await
                .expect("reading")
                .len(),
            5
        );
        drop(clone);
        assert!(!directory.exists(), "{} is left", directory.display());
    }

    #[tokio::test]
    async fn a_postgres_schema_goes_with_the_last_clone_of_its_pool() {
        let store = postgres().await;
        append_n(&store, &tenant("acme"), "log", 3).await;
        let name: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(store.pool())
            .await
            .expect("reading the schema");
        assert!(name.starts_with("t_"), "{name}");
        let exists = |name: String| async move {
            let mut admin = PgConnection::connect(&database_url())
                .await
                .expect("connecting");
            let found: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
            )
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .expect("looking for the schema");
            found == 1
        };
        let pool = store.pool().clone();
        drop(store);
        assert!(exists(name.clone()).await);
        drop(pool);
        assert!(!exists(name.clone()).await, "schema {name} is left");
    }
}
