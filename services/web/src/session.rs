//! Who is signed in on this browser for the organisation's pages: a staff member (a member of
//! the tenant, or an external assessor), never a client, whose links have their own cookie.
//!
//! The `confide_staff` cookie (HttpOnly, `SameSite=Lax`, `Secure` when the public URL is
//! HTTPS) holds a session the application keeps on the server: its tenant and a random
//! secret, of which the database keeps only a hash. The session ends when idle, at its
//! lifetime, or on signing out, on every node alike.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use confide_app::Caller;
use confide_domain::{TenantId, UserId};

use crate::WebState;
use crate::error::PageError;
use crate::security::{STAFF_COOKIE, append_cookie, cookie, cookie_header, removed_cookie};

/// A staff member signed in on this browser, if one is.
pub(crate) struct StaffCaller(pub(crate) Option<Caller>);

impl FromRequestParts<Arc<WebState>> for StaffCaller {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(session) = cookie(&parts.headers, STAFF_COOKIE) else {
            return Ok(Self(None));
        };
        Ok(Self(
            state
                .app
                .staff_session(&session, state.session_idle)
                .await?
                .filter(|caller| caller.client().is_none()),
        ))
    }
}

/// A staff member signed in on this browser; anyone else is sent to sign in first, and back
/// to the page they asked for after.
pub(crate) struct SignedIn(pub(crate) Caller);

impl FromRequestParts<Arc<WebState>> for SignedIn {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        let StaffCaller(caller) = StaffCaller::from_request_parts(parts, state)
            .await
            .map_err(axum::response::IntoResponse::into_response)?;
        caller
            .map(Self)
            .ok_or_else(|| crate::staff::sign_in_first(&parts.uri))
    }
}

/// Begins a session of `user` in `tenant` and sets its cookie on `headers`.
pub(crate) async fn begin(
    state: &WebState,
    headers: &mut HeaderMap,
    tenant: &TenantId,
    user: &UserId,
) -> Result<(), PageError> {
    let session = state.app.start_staff_session(tenant, user).await?;
    hold(state, headers, &session);
    Ok(())
}

/// Sets the cookie of `session`, begun by the application, on `headers`.
pub(crate) fn hold(state: &WebState, headers: &mut HeaderMap, session: &str) {
    append_cookie(
        headers,
        &cookie_header(STAFF_COOKIE, session, None, "Lax", state.secure_cookies),
    );
}

/// Ends this browser's session, if it has one, and removes its cookie.
pub(crate) async fn end(
    state: &WebState,
    request: &HeaderMap,
    headers: &mut HeaderMap,
) -> Result<(), PageError> {
    if let Some(session) = cookie(request, STAFF_COOKIE) {
        state.app.end_staff_session(&session).await?;
    }
    append_cookie(headers, &removed_cookie(STAFF_COOKIE, state.secure_cookies));
    Ok(())
}
