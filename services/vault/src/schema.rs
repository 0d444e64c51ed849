//! The key store's schema in the event store's database: the `data_keys` table (version 6 of
//! the database's one `_sqlx_migrations` table). The log (`schema/migrations`) and the read
//! models run migrators of their own over the same table, so each ignores the versions it does
//! not know.

use async_trait::async_trait;
use confide_eventstore::{PgEventStore, SqliteEventStore, StoreError};
use sqlx::migrate::Migrator;

/// The key store's PostgreSQL migrations, embedded in the binary.
static POSTGRES: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("migrations/postgres")
};

/// The key store's SQLite migrations, embedded in the binary.
static SQLITE: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("migrations/sqlite")
};

/// Migrating and checking the key store's tables in an event store's database. Implemented
/// for `PgEventStore` and `SqliteEventStore`.
#[async_trait]
pub trait KeySchema: Send + Sync {
    /// Applies the key store's migrations (`services/vault/migrations`) that have not been
    /// applied yet; after the log's (`migrate`), as `confide_app::App::open` runs them.
    async fn migrate_keys(&self) -> Result<(), StoreError>;

    /// Whether every migration of the key store is applied unchanged
    /// ([`StoreError::NotReady`] naming the first that is not).
    async fn keys_ready(&self) -> Result<(), StoreError>;
}

#[async_trait]
impl KeySchema for PgEventStore {
    async fn migrate_keys(&self) -> Result<(), StoreError> {
        self.apply_migrations(&POSTGRES).await
    }

    async fn keys_ready(&self) -> Result<(), StoreError> {
        self.check_migrations(&POSTGRES).await
    }
}

#[async_trait]
impl KeySchema for SqliteEventStore {
    async fn migrate_keys(&self) -> Result<(), StoreError> {
        self.apply_migrations(&SQLITE).await
    }

    async fn keys_ready(&self) -> Result<(), StoreError> {
        self.check_migrations(&SQLITE).await
    }
}
