//! Serving the router over TCP, with hyper's limits set for Confide rather than left at their
//! defaults.
//!
//! A request head (the request line and the headers) larger than [`MAX_HEADER_BYTES`] is
//! answered with 431 Request Header Fields Too Large. hyper's own limit would answer it too,
//! but it closes the connection while the client is still sending the head, and the client
//! then sees its connection reset rather than the answer. So the connection reads heads of
//! up to [`READ_BUFFER_BYTES`] whole, and [`limit_header_size`] answers those over the limit
//! with 431, on a connection still open. A head larger still is hyper's to refuse: 431 and
//! the connection closed, which a client may see as a reset.

use std::future::Future;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;

/// The largest request head served: the request line and every header, each counted with
/// its separators. A real request's head is a few kilobytes (a bearer token is one or two).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How much of a request head a connection reads before giving up on it: heads between
/// [`MAX_HEADER_BYTES`] and this are read whole and answered with 431 (a megabyte-sized
/// header among them).
pub const READ_BUFFER_BYTES: usize = 2 * 1024 * 1024;

/// The most headers a request may have (hyper's default is 100).
const MAX_HEADERS: usize = 200;

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections
/// finish the requests they are serving and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut listener = listener;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(READ_BUFFER_BYTES)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            // Accept errors (out of file descriptors, a connection reset before it was
            // accepted) are handled as axum's own `serve` does: logged, waited out, retried.
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        // The router takes hyper's request bodies as they are.
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The size of a request's head as sent: the request line and each header line, with their
/// separators.
fn head_bytes(request: &Request) -> usize {
    let line = request.method().as_str().len()
        + request.uri().to_string().len()
        + " HTTP/1.1\r\n".len()
        + 1;
    request.headers().iter().fold(line, |total, (name, value)| {
        total + name.as_str().len() + value.len() + ": \r\n".len()
    })
}

/// Answers a request whose head is over [`MAX_HEADER_BYTES`] with 431, before anything else
/// sees it.
pub(crate) async fn limit_header_size(request: Request, next: Next) -> Response {
    let size = head_bytes(&request);
    if size <= MAX_HEADER_BYTES {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        axum::Json(json!({ "error": {
            "code": "BAD_REQUEST",
            "message": format!(
                "the request's headers are {size} bytes; at most {MAX_HEADER_BYTES} are accepted"
            ),
        }})),
    )
        .into_response();
    // Its body, if any, is not read: the connection is not reused.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
