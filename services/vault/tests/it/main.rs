//! The vault's integration tests, in one binary (one link instead of one per file): the key
//! store on SQLite and PostgreSQL, and the blob stores on a directory and on S3.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod blob_stores;
mod keys;
