//! Confide's test plumbing, shared by the crates' tests (a dev-dependency only).
//!
//! - [`db`]: one way to get a test database: [`sqlite`] and [`postgres`] give a fresh, migrated
//!   store per call, removed again when the test is done with it; and the small helpers the
//!   tests share ([`tenant`], [`stream`], [`at`], [`event`], [`append_n`]).
//! - [`both_backends!`]: one way to run a test on both backends: one `#[tokio::test]` per case
//!   and backend.
//! - With the feature `server`: [`server::spawn_app`], the application and the API as the
//!   `confide` binary wires them, served on a port of its own over a fresh database; and
//!   [`clinic::Clinic`], an organisation to start a test from, set up through the application
//!   or over HTTP.

#[cfg(feature = "server")]
pub mod audio;
#[cfg(feature = "server")]
pub mod clinic;
pub mod db;
#[cfg(feature = "server")]
pub mod server;

pub use db::{
    DEFAULT_TEST_DATABASE_URL, PostgresSchema, Store, TempDir, append_n, at, database_url, event,
    postgres, postgres_pool, postgres_with, sqlite, stream, tenant,
};
#[cfg(feature = "server")]
pub use server::{Backend, Server, app_postgres, app_sqlite, spawn_app};

/// Generates one `#[tokio::test]` per case and backend: each case is an `async fn` of the
/// invoking module, and each backend gives it a fresh store.
///
/// For every case the macro writes a module named after the case, holding one test per
/// backend named after the backend: `cargo test appends_are_idempotent` runs a case on every
/// backend, `cargo test postgres` every case on PostgreSQL. The modules `use super::*`, so the
/// call below sees what the invoking module sees. The invoking crate needs `tokio` (with its
/// `macros` and `rt` features), as `#[tokio::test]` does.
///
/// Three forms, from the shortest:
///
/// 1. `both_backends!(case_a, case_b);` calls `case_a(store)` with a fresh store of each
///    backend: a [`SqliteEventStore`](confide_eventstore::SqliteEventStore) from [`sqlite`],
///    then a [`PgEventStore`](confide_eventstore::PgEventStore) from [`postgres`]. The case is
///    generic over the store (`impl EventStore`, or a trait of the test's own).
/// 2. `both_backends!(|store| case(Arc::new(store)); case_a, case_b);` calls each case as
///    written after `|store|`, with `store` the backend's concrete store. The arguments are
///    written once and compiled per backend, so they may use either store's own methods
///    (`store.pool()`, `store.clone().with_upcasters(…)`) and convert it to what the case takes
///    (`Arc<dyn EventStore>`, an enum of the test's own).
/// 3. Other backends than SQLite and PostgreSQL: `name => expression` for each, then the call
///    and the cases. The expression is evaluated (and may `.await`) in each test, and bound to
///    the name after `|…|`; it may `return` to end the test early (a backend that is not
///    configured outside CI). The backends' names become the tests' names, so they must not be
///    the names of functions the expressions call.
///
/// Each form may start with a test attribute to use instead of `#[tokio::test]`, such as
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` for a case that needs tasks
/// to run in parallel.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use confide_test_support::{Store, both_backends, tenant};
///
/// // 1: generic over the store.
/// async fn an_empty_log_has_no_head(store: impl confide_eventstore::EventStore) {
///     assert_eq!(store.tree_head(&tenant("acme")).await.unwrap(), None);
/// }
/// both_backends!(an_empty_log_has_no_head);
///
/// // 2: the store shared, as the conformance suites take it.
/// async fn nothing_is_read_from_an_empty_log(store: Store) {
///     assert!(store.read_tenant(&tenant("acme"), 0, 10).await.unwrap().is_empty());
/// }
/// both_backends!(|store| case(Arc::new(store)); nothing_is_read_from_an_empty_log);
///
/// // 3: other backends (here two sizes of a buffer).
/// async fn a_buffer_starts_empty(buffer: Vec<u8>) {
///     assert!(buffer.is_empty());
/// }
/// both_backends!(
///     small => Vec::with_capacity(16),
///     large => Vec::with_capacity(1 << 20),
///     |buffer| case(buffer);
///     a_buffer_starts_empty,
/// );
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! both_backends {
    // Any form, under a test attribute of its own instead of `#[tokio::test]`.
    (#[$($test:tt)*] $($rest:tt)+) => {
        $crate::both_backends!(@test [$($test)*] $($rest)+);
    };
    // 1: SQLite and PostgreSQL, each case called with the concrete store.
    (@test $test:tt $($case:ident),+ $(,)?) => {
        $crate::both_backends!(@test $test |store| case(store); $($case),+);
    };
    // 2: SQLite and PostgreSQL, each case called as written.
    (@test $test:tt |$store:ident| case $args:tt; $($case:ident),+ $(,)?) => {
        $crate::both_backends!(
            @test $test
            sqlite => $crate::sqlite().await,
            postgres => $crate::postgres().await,
            |$store| case $args;
            $($case),+
        );
    };
    // 3: the backends given.
    (
        @test $test:tt
        $($backend:ident => $open:expr),+ ,
        |$store:ident| case $args:tt;
        $($case:ident),+ $(,)?
    ) => {
        $crate::both_backends!(@cases $test [$($backend => $open),+] [$store $args] $($case),+);
    };
    // One case at a time, so that the backends repeat inside each case.
    (@cases $test:tt $backends:tt $call:tt $case:ident $(, $rest:ident)*) => {
        $crate::both_backends!(@case $test $backends $call $case);
        $crate::both_backends!(@cases $test $backends $call $($rest),*);
    };
    (@cases $test:tt $backends:tt $call:tt) => {};
    (
        @case $test:tt
        [$($backend:ident => $open:expr),+]
        [$store:ident $args:tt]
        $case:ident
    ) => {
        mod $case {
            #[allow(unused_imports)]
            use super::*;

            $(
                #$test
                async fn $backend() {
                    let $store = $open;
                    super::$case $args.await;
                }
            )+
        }
    };
    // Forms 1 to 3 under `#[tokio::test]`.
    ($($rest:tt)+) => {
        $crate::both_backends!(@test [tokio::test] $($rest)+);
    };
}
