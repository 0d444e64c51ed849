//! Who calls: the bearer token of a request, verified into a [`Caller`] (one tenant, and
//! who acts in it), as an axum extractor for the routes and from the GraphQL context for
//! resolvers. The tenant is recorded on the request's span; nothing else of who called is.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use confide_app::{App, Caller};

use crate::auth::{AuthError, Authenticator, bearer_token};
use crate::error::{ApiError, Code, Result};
use crate::telemetry::record_tenant;

/// The caller a bearer token proves, if the request carries an `Authorization` header. A
/// header without a usable bearer token (another scheme, `Bearer` alone) is refused, never
/// taken for an anonymous request.
pub(crate) async fn from_headers(
    auth: &Authenticator,
    headers: &HeaderMap,
) -> Option<std::result::Result<Caller, AuthError>> {
    let authorization = headers.get(header::AUTHORIZATION)?;
    let token = authorization
        .to_str()
        .map_err(|_| AuthError::Malformed)
        .and_then(bearer_token);
    let verified = match token {
        Ok(token) => auth.verify(token).await,
        Err(error) => Err(error),
    };
    if let Ok(caller) = &verified {
        record_tenant(caller);
    }
    Some(verified)
}

/// A route state that holds the authenticator.
pub(crate) trait Authenticates {
    fn authenticator(&self) -> &Authenticator;
}

/// A route's authenticated caller.
pub(crate) struct Bearer(pub(crate) Caller);

impl<S: Authenticates + Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match from_headers(state.authenticator(), &parts.headers).await {
            Some(verified) => Ok(Self(verified?)),
            None => Err(AuthError::Missing.into()),
        }
    }
}

/// The authenticated caller of a GraphQL request.
pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Caller> {
    ctx.data_opt::<Caller>()
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "authentication required"))
}

/// The application, for a resolver.
pub(crate) fn app<'a>(ctx: &async_graphql::Context<'a>) -> &'a Arc<App> {
    ctx.data_unchecked::<Arc<App>>()
}

/// The authenticator, for a resolver that signs a link or a ticket.
pub(crate) fn auth<'a>(ctx: &async_graphql::Context<'a>) -> &'a Arc<Authenticator> {
    ctx.data_unchecked::<Arc<Authenticator>>()
}
