//! What the event store's benchmarks share: settings from the environment, and a schema of
//! the test database of their own, migrated, and dropped when they are done.

#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use confide_eventstore::PgEventStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// A setting from the environment, or `default`.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh schema of the database `.ci/test` prepares (or `CONFIDE_TEST_DATABASE_URL`),
/// with a migrated store over a pool of `connections`.
pub struct BenchDatabase {
    pub store: PgEventStore,
    pub pool: PgPool,
    admin: PgConnection,
    schema: String,
}

impl BenchDatabase {
    pub async fn new(connections: u32) -> Self {
        let url = std::env::var("CONFIDE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://confide:confide@127.0.0.1:5432/confide_test".into());
        let schema = format!("bench_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is unreachable at {url}: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await
            .unwrap();
        let store = PgEventStore::new(pool.clone());
        store.migrate().await.unwrap();
        Self {
            store,
            pool,
            admin,
            schema,
        }
    }

    /// Closes the pool and drops the schema with everything the benchmark wrote.
    pub async fn drop_schema(mut self) {
        drop(self.store);
        self.pool.close().await;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}
