//! The API's tests, in one binary: a real HTTP server on port 0 over each backend, wired as the
//! binary wires it (`confide_test_support::server`), and the suites that drive it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Test code.

mod api;
mod architecture;
mod audit_export;
mod jwks;
mod lists;
mod media;
mod notices;
mod receipts;
mod schema_file;
mod stories;
