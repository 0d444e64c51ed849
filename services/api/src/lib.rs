//! Confide's HTTP surface: GraphQL over HTTP at `/graphql` (with GraphiQL in development),
//! bearer-token authentication, and the routes outside GraphQL for media and audit bundles.
//! Every operation is a use case of [`confide_app::App`]; no rule lives here.
//!
//! Layout, leaves first (a module imports only those above it in this list):
//! - `telemetry`: a span and metrics for every request, a span for every resolver.
//! - `auth`: token verification and the server's own tokens ([`auth::Authenticator`]).
//! - `links`: the client links notices carry ([`links::SignedClientLinks`]).
//! - `error`: the one error edge, [`error::ApiError`], with the code table.
//! - `caller`: the caller of a request, from its bearer token.
//! - `tickets`: playback and export tickets.
//! - `graphql`: the schema; resolvers call the application's use cases.
//! - `state`: what the routes share ([`ApiState`]).
//! - `http`: the GraphQL-over-HTTP handler (negotiation, status codes, limits).
//! - `routes`: `PUT /v1/recordings/{id}/media`, `GET /v1/media/{ticket}`,
//!   `GET /v1/audit/exports/{ticket}`, and the probes `/health` and `/ready`.
//! - `serving`: the connections, with hyper's limits set ([`serve`]), and the 431 answer to
//!   a request head over [`MAX_HEADER_BYTES`].
//!
//! Nothing below this crate knows HTTP or GraphQL.

pub mod auth;
mod caller;
mod error;
pub mod graphql;
mod http;
pub mod links;
mod routes;
mod serving;
mod state;
mod telemetry;
pub mod tickets;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};

pub use graphql::{ConfideSchema, sdl};
pub use http::MAX_BODY_BYTES;
pub use serving::{MAX_HEADER_BYTES, READ_BUFFER_BYTES, serve};
pub use state::ApiState;
/// The request middleware of every route the server has.
pub use telemetry::observe;

/// The API's routes: `/graphql`, the server's public keys at `/.well-known/jwks.json`, and
/// media upload and playback and audit bundles under `/v1` (streamed, so without the body
/// limit of the rest).
pub fn router(state: Arc<ApiState>) -> Router {
    let streamed = Router::new()
        .route("/v1/recordings/{id}/media", put(routes::media::upload))
        .route("/v1/media/{ticket}", get(routes::media::play))
        .route("/v1/audit/exports/{ticket}", get(routes::export::download))
        .with_state(state.clone());
    Router::new()
        .route("/graphql", get(http::graphql).post(http::graphql))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(streamed)
}

/// The whole service as the binary serves it ([`serve`]): [`router`], the probes
/// (`/health`, `/ready`), the `pages` beside them (the web edge's router), every route in a
/// traced, counted and timed request span ([`observe`]), and a request head over
/// [`MAX_HEADER_BYTES`] answered with 431.
pub fn service(state: Arc<ApiState>, pages: Router) -> Router {
    Router::new()
        .route("/health", get(routes::probes::health))
        .route("/ready", get(routes::probes::ready))
        .with_state(state.clone())
        .merge(router(state))
        .merge(pages)
        .layer(axum::middleware::from_fn(serving::limit_header_size))
        .layer(axum::middleware::from_fn(observe))
}

async fn jwks(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(state.auth.local_key().jwks())
}
