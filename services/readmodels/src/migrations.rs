//! The read models' schema: their tables, and on PostgreSQL the functions that read them
//! (versions 2–5, 7–11, 13 and 14 of the database's one `_sqlx_migrations` table; 1 is the log's, in
//! `schema/migrations`, and 6 the key store's). Each crate runs a migrator of its own over
//! the same table, so each ignores the versions it does not know.

use sqlx::migrate::Migrator;

/// The read models' PostgreSQL migrations, embedded in the binary.
pub(crate) static POSTGRES: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("migrations/postgres")
};

/// The read models' SQLite migrations, embedded in the binary.
pub(crate) static SQLITE: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("migrations/sqlite")
};
