//! Inline projections commit or roll back with their append; asynchronous projections move
//! their position in the same transaction as their rows, and rebuild to the same tables.

use std::sync::Arc;

use async_trait::async_trait;
use confide_eventstore::{
    AppendRequest, AsyncProjection, ExpectedVersion, GlobalPosition, InlineProjection, NewEvent,
    PgEventStore, ProjectionHost, ProjectionRunner, RecordedEvent, SqliteEventStore, StoreError,
};
use confide_test_support::{at, both_backends, stream, tenant};
use serde_json::json;

both_backends!(
    an_inline_projection_commits_and_rolls_back_with_its_append,
    the_runner_applies_in_batches_keeps_its_position_and_rebuilds_the_same,
);

/// Counts events per stream; refuses events of type `Poison`, to prove that a failure rolls
/// everything back.
struct StreamCounts;

const POISON: &str = "Poison";

fn poison_check(event: &RecordedEvent) -> Result<(), StoreError> {
    if event.event_type == POISON {
        return Err(StoreError::Invalid(format!(
            "event {} is poison",
            event.sequence
        )));
    }
    Ok(())
}

/// What the tests need of a backend beside its store: the projection on its database, and its
/// pool, on which they read the projection's table.
trait Backend: ProjectionHost + Sized {
    type Pool: Tables;

    fn tables(&self) -> Self::Pool;

    fn with_inline_projection(self, projection: Arc<dyn InlineProjection<Self::Db>>) -> Self;
}

/// The projection's table, read and created around the store.
trait Tables {
    async fn create_stream_counts(&self);

    async fn stream_counts(&self) -> Vec<(String, String, i64)>;
}

/// The projection and the test's access to its table on one backend: the same SQL, in each
/// dialect's placeholders.
macro_rules! backend {
    ($store:ty, $db:ty, $conn:ty, $upsert:literal, $reset:literal) => {
        #[async_trait]
        impl InlineProjection<$db> for StreamCounts {
            fn name(&self) -> &'static str {
                "stream_counts"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                events: &[RecordedEvent],
            ) -> Result<(), StoreError> {
                for event in events {
                    AsyncProjection::<$db>::apply(self, conn, event).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl AsyncProjection<$db> for StreamCounts {
            fn name(&self) -> &'static str {
                "stream_counts"
            }

            async fn apply(&self, conn: &mut $conn, event: &RecordedEvent) -> Result<(), StoreError> {
                // Write first, then refuse: the row must disappear with the rollback.
                sqlx::query($upsert)
                    .bind(event.tenant_id.as_str())
                    .bind(event.stream_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                poison_check(event)
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                sqlx::query($reset).execute(&mut *conn).await?;
                Ok(())
            }
        }

        impl Backend for $store {
            type Pool = sqlx::Pool<$db>;

            fn tables(&self) -> Self::Pool {
                self.pool().clone()
            }

            fn with_inline_projection(
                self,
                projection: Arc<dyn InlineProjection<Self::Db>>,
            ) -> Self {
                <$store>::with_inline_projection(self, projection)
            }
        }

        impl Tables for sqlx::Pool<$db> {
            async fn create_stream_counts(&self) {
                sqlx::query(
                    "CREATE TABLE stream_counts (tenant_id TEXT NOT NULL, stream_id TEXT NOT NULL,
                     events BIGINT NOT NULL, PRIMARY KEY (tenant_id, stream_id))",
                )
                .execute(self)
                .await
                .unwrap();
            }

            async fn stream_counts(&self) -> Vec<(String, String, i64)> {
                sqlx::query_as(
                    "SELECT tenant_id, stream_id, events FROM stream_counts ORDER BY tenant_id, stream_id",
                )
                .fetch_all(self)
                .await
                .unwrap()
            }
        }
    };
}

backend!(
    SqliteEventStore,
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    "INSERT INTO stream_counts (tenant_id, stream_id, events) VALUES (?1, ?2, 1)
     ON CONFLICT (tenant_id, stream_id) DO UPDATE SET events = stream_counts.events + 1",
    "DELETE FROM stream_counts"
);

backend!(
    PgEventStore,
    sqlx::Postgres,
    sqlx::PgConnection,
    "INSERT INTO stream_counts (tenant_id, stream_id, events) VALUES ($1, $2, 1)
     ON CONFLICT (tenant_id, stream_id) DO UPDATE SET events = stream_counts.events + 1",
    "DELETE FROM stream_counts"
);

async fn counts(pool: &impl Tables) -> Vec<(String, String, i64)> {
    pool.stream_counts().await
}

fn append(stream_name: &str, kinds: &[&str]) -> AppendRequest {
    let events = kinds
        .iter()
        .map(|k| NewEvent::new(*k, 1, json!({})))
        .collect();
    AppendRequest::to_stream(stream(stream_name), ExpectedVersion::Any, events, at(0))
}

/// The store with the projection's table created in its database, and the pool to read it.
async fn open<S: Backend>(store: S) -> (S::Pool, S) {
    let pool = store.tables();
    pool.create_stream_counts().await;
    (pool, store)
}

async fn an_inline_projection_commits_and_rolls_back_with_its_append<S: Backend>(store: S)
where
    StreamCounts: InlineProjection<S::Db>,
{
    let (pool, store) = open(store).await;
    let store = store.with_inline_projection(Arc::new(StreamCounts));
    let t = tenant("brookes-counselling");
    store
        .append(&t, append("consent-1", &["A", "B"]))
        .await
        .unwrap();
    store.append(&t, append("consent-2", &["A"])).await.unwrap();
    assert_eq!(
        counts(&pool).await,
        vec![
            (t.to_string(), "consent-1".to_string(), 2),
            (t.to_string(), "consent-2".to_string(), 1)
        ]
    );
    let refused = store.append(&t, append("consent-1", &["A", POISON])).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(counts(&pool).await[0].2, 2);
    assert_eq!(store.tree_head(&t).await.unwrap().unwrap().size, 3);
    assert_eq!(store.read_tenant(&t, 0, 10).await.unwrap().len(), 3);
}

async fn the_runner_applies_in_batches_keeps_its_position_and_rebuilds_the_same<S: Backend>(
    store: S,
) where
    StreamCounts: AsyncProjection<S::Db>,
{
    let (pool, store) = open(store).await;
    let store = Arc::new(store);
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    store
        .append(&a, append("s1", &["A", "B", "C"]))
        .await
        .unwrap();
    store.append(&b, append("s1", &["A"])).await.unwrap();
    store.append(&a, append("s2", &["A"])).await.unwrap();
    let runner = ProjectionRunner::new(store.clone(), Arc::new(StreamCounts)).with_batch_size(3);
    assert_eq!(runner.run_once().await.unwrap(), 3);
    assert_eq!(runner.catch_up().await.unwrap(), 2);
    assert_eq!(runner.run_once().await.unwrap(), 0);
    let live = counts(&pool).await;
    assert_eq!(live.iter().map(|r| r.2).sum::<i64>(), 5);
    let mut expected = GlobalPosition::default();
    expected.set(a.clone(), 4);
    expected.set(b.clone(), 1);
    assert_eq!(
        store.load_position("stream_counts").await.unwrap(),
        expected
    );

    // Rebuilding from the log yields exactly the live rows and position.
    assert_eq!(runner.rebuild().await.unwrap(), 5);
    assert_eq!(counts(&pool).await, live);
    assert_eq!(
        store.load_position("stream_counts").await.unwrap(),
        expected
    );

    // A batch that fails half-way leaves neither rows nor position behind.
    store
        .append(&b, append("s1", &["A", POISON]))
        .await
        .unwrap();
    assert!(runner.run_once().await.is_err());
    assert_eq!(counts(&pool).await, live);
    assert_eq!(
        store.load_position("stream_counts").await.unwrap(),
        expected
    );
}
