//! The event store's integration tests, in one binary (one link instead of one per file).
//! Each suite is a module; `confide_test_support` gives them their databases and runs a case
//! on SQLite and PostgreSQL (`both_backends!`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod conformance;
mod export;
mod postgres;
mod projections;
