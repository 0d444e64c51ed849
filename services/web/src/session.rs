//! Who is signed in on this browser for the organisation's pages: a staff member (a member of
//! the tenant, or an external assessor), never a client, whose links have their own cookie.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use confide_app::Caller;

use crate::WebState;
use crate::error::PageError;
use crate::security::{STAFF_COOKIE, cookie};

/// A staff member signed in on this browser, if one is.
pub(crate) struct StaffCaller(pub(crate) Option<Caller>);

impl FromRequestParts<Arc<WebState>> for StaffCaller {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, STAFF_COOKIE) else {
            return Ok(Self(None));
        };
        Ok(Self(
            state
                .auth
                .verify(&token)
                .await
                .ok()
                .filter(|caller| caller.client().is_none()),
        ))
    }
}
