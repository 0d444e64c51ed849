//! Confide's HTTP surface: GraphQL over HTTP at `/graphql` (with GraphiQL in development),
//! bearer-token authentication, and the tenant every request is confined to.
//!
//! Layout:
//! - `auth`: token verification and the server's own tokens ([`auth::Authenticator`]).
//! - `http`: the GraphQL-over-HTTP handler (negotiation, status codes, limits).
//! - `graphql`: the schema; resolvers call [`confide_app::App`].
//!
//! Nothing below this crate knows HTTP or GraphQL.

pub mod auth;
pub mod graphql;
mod http;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use graphql::{ConfideSchema, Services, schema, sdl};
pub use http::MAX_BODY_BYTES;

/// What the routes share.
pub struct ApiState {
    pub services: Arc<Services>,
    pub schema: ConfideSchema,
    /// Serve GraphiQL to browsers.
    pub development: bool,
}

impl ApiState {
    pub fn new(services: Arc<Services>, development: bool) -> Self {
        Self {
            schema: schema(services.clone()),
            services,
            development,
        }
    }
}

/// The API's routes: `/graphql` and the server's public keys at `/.well-known/jwks.json`.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/graphql", get(http::graphql).post(http::graphql))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn jwks(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(state.services.auth.local_key().jwks())
}
