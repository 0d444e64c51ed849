//! The API's tests, in one binary: a real HTTP server on port 0 over each backend (`server`),
//! and the suites that drive it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Test code.

#[path = "../../../eventstore/tests/common/mod.rs"]
pub mod common;
mod server;

mod api;
mod architecture;
mod audit_export;
mod jwks;
mod media;
mod receipts;
mod schema_file;
