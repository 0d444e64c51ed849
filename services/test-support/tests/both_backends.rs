//! `both_backends!` in its three forms, and the stores it gives.

#![allow(clippy::unwrap_used)] // Test code: a panic is a failure.

use std::sync::Arc;

use confide_eventstore::{EventStore, PgEventStore, SqliteEventStore};
use confide_test_support::{Store, append_n, both_backends, tenant};

/// Which backend a store is, as the call of form 2 sees it.
trait Kind {
    fn kind(&self) -> &'static str;
}

impl Kind for SqliteEventStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

impl Kind for PgEventStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }
}

// 1: the concrete store of each backend, fresh and migrated.
both_backends!(a_case_gets_a_fresh_migrated_store);

async fn a_case_gets_a_fresh_migrated_store(store: impl EventStore + Kind) {
    assert!(["sqlite", "postgres"].contains(&store.kind()));
    let t = tenant("acme");
    assert_eq!(store.tree_head(&t).await.unwrap(), None);
    append_n(&store, &t, "log", 2).await;
    assert_eq!(store.tree_head(&t).await.unwrap().unwrap().size, 2);
}

// 2: the call written once, compiled per backend; two invocations in one module.
both_backends!(
    |store| case(store.kind(), Arc::new(store));
    each_backend_is_called_with_its_own_store,
);

async fn each_backend_is_called_with_its_own_store(kind: &'static str, store: Store) {
    let name = std::thread::current().name().map(str::to_owned);
    // The test harness names the thread after the test, unless it runs tests on the main thread.
    if let Some(name) = name.filter(|name| name != "main") {
        assert!(name.ends_with(&format!("::{kind}")), "{name} got {kind}");
    }
    assert!(
        store
            .read_tenant(&tenant("acme"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// 3: backends of the test's own; a backend's expression may end the test.
both_backends!(
    one => 1u8,
    two => async { 2u8 }.await,
    none => match None::<u8> {
        Some(n) => n,
        None => return,
    },
    |n| case(n);
    other_backends_are_expressions,
);

async fn other_backends_are_expressions(n: u8) {
    assert!(n == 1 || n == 2, "{n}");
}

// Any form under a test attribute of its own: here a runtime with worker threads.
both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |store| case(store.kind());
    a_case_runs_under_the_test_attribute_given,
);

async fn a_case_runs_under_the_test_attribute_given(kind: &'static str) {
    assert!(["sqlite", "postgres"].contains(&kind));
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread
    );
}
