//! The GraphQL schema (DESIGN.md section 5). Resolvers are thin: take the caller from the
//! request, convert the arguments, call [`confide_app::App`], map the answer. Every
//! operation works in the caller's one tenant; a client link may only do what a client may.

mod mutation;
mod query;
mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, ErrorExtensions, Schema};
use confide_app::{App, AppError};
use confide_domain::{Actor, ClientId, DomainError, UserId};
use confide_vault::KeyStore;

use crate::auth::{Authenticator, Principal};

pub use mutation::Mutation;
pub use query::Query;

/// The schema type.
pub type ConfideSchema = Schema<Query, Mutation, EmptySubscription>;

/// What every resolver may use.
pub struct Services {
    pub app: Arc<App>,
    pub auth: Arc<Authenticator>,
    /// Keys that seal clients' personal details (one per client).
    pub keys: Arc<dyn KeyStore>,
}

/// Deepest selection accepted, and the most fields one request may ask for.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 1_000;

/// Builds the schema; `services` is shared by every request.
pub fn schema(services: Arc<Services>) -> ConfideSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .data(services)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in SDL, as committed in `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription)
        .finish()
        .sdl()
}

/// A GraphQL error with its `extensions.code` (DESIGN.md section 5). Internal failures are
/// logged with a reference and reach the caller only as that reference.
pub(crate) fn error(e: AppError) -> async_graphql::Error {
    match e {
        AppError::Domain(domain) => coded(domain.to_string(), domain.code()),
        AppError::Contention { .. } => coded(
            "the data changed while the request was decided; retry".to_owned(),
            "CONFLICT",
        ),
        other => {
            let reference = uuid::Uuid::now_v7();
            tracing::error!(%reference, error = %other, "request failed");
            coded(
                format!("internal error (reference {reference})"),
                "INTERNAL",
            )
        }
    }
}

pub(crate) fn coded(message: String, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

pub(crate) fn bad_input(e: DomainError) -> async_graphql::Error {
    coded(e.to_string(), e.code())
}

/// The authenticated caller of this request.
pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| coded("authentication required".to_owned(), "UNAUTHENTICATED"))
}

pub(crate) fn services<'a>(ctx: &async_graphql::Context<'a>) -> &'a Arc<Services> {
    ctx.data_unchecked::<Arc<Services>>()
}

/// The caller as a member of the organisation; client links are refused.
pub(crate) fn member<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<(&'a Principal, &'a UserId)> {
    let principal = caller(ctx)?;
    match &principal.actor {
        Actor::User { user_id } => Ok((principal, user_id)),
        _ => Err(coded(
            "a client link cannot do this".to_owned(),
            "FORBIDDEN",
        )),
    }
}

/// Refuses a client link acting on another client's data.
pub(crate) fn own_client(principal: &Principal, client: ClientId) -> async_graphql::Result<()> {
    match principal.client() {
        Some(own) if own != client => Err(coded(
            "a client link reaches only its own client".to_owned(),
            "FORBIDDEN",
        )),
        _ => Ok(()),
    }
}

/// The stream of an aggregate (ids are UUIDs, so the name is always valid).
pub(crate) fn stream(
    kind: &str,
    id: impl std::fmt::Display,
) -> async_graphql::Result<confide_eventstore::StreamId> {
    confide_app::stream_of(kind, id).map_err(|e| error(AppError::Store(e)))
}
