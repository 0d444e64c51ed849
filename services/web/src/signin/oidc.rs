//! Signing in through the organisation's identity provider: `GET /sign-in/start` sends the
//! browser to the provider, `GET /sign-in/callback` takes it back and begins a session, and
//! `POST /sign-in/choose` picks the tenant of someone who belongs to several.
//!
//! Between leaving and coming back the browser keeps the sign-in in progress (its `state`,
//! `nonce` and PKCE verifier) in a cookie signed by the server, valid for [`IN_PROGRESS_FOR`]:
//! a callback without it, from another browser, or with a different `state` signs nobody in.
//! Whether the person may sign in, and to which tenant, is the application's to say
//! ([`App::sign_in_member`](confide_app::App::sign_in_member)).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use confide_api::auth::TicketKind;
use confide_app::{MemberSignIn, Membership};
use confide_domain::{TenantId, UserId};
use serde::{Deserialize, Serialize};

use super::provider::{Pending, ProviderError};
use super::same_site;
use crate::WebState;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken, append_cookie, cookie, cookie_header, removed_cookie};

/// The cookie that holds a sign-in in progress.
const SIGN_IN_COOKIE: &str = "confide_sign_in";

/// How long a sign-in may stay in progress (at the provider, or choosing a tenant).
const IN_PROGRESS_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// A sign-in in progress, as the browser holds it (signed, so it cannot be altered).
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
enum InProgress {
    /// Sent to the provider, not back yet.
    AtProvider {
        pending: Pending,
        next: String,
        exp: i64,
    },
    /// Back, and vouched for, but a member of several tenants: choosing one.
    Choosing {
        user: String,
        next: String,
        exp: i64,
    },
}

impl InProgress {
    fn expiry() -> i64 {
        (Utc::now() + IN_PROGRESS_FOR).timestamp()
    }
}

/// Keeps `ticket` in this browser.
fn keep(state: &WebState, headers: &mut HeaderMap, ticket: &InProgress) -> Result<(), PageError> {
    let signed = state
        .auth
        .sign_ticket(TicketKind::SignIn, ticket)
        .map_err(|e| PageError::SignInFailed(format!("the sign-in could not be kept: {e}")))?;
    append_cookie(
        headers,
        &cookie_header(
            SIGN_IN_COOKIE,
            &signed,
            Some(IN_PROGRESS_FOR.num_seconds()),
            "Lax",
            state.secure_cookies,
        ),
    );
    Ok(())
}

/// The sign-in this browser has in progress, if it has one that is still valid.
fn kept(state: &WebState, request: &HeaderMap) -> Option<InProgress> {
    let signed = cookie(request, SIGN_IN_COOKIE)?;
    state.auth.verify_ticket(TicketKind::SignIn, &signed).ok()
}

fn forget(state: &WebState, headers: &mut HeaderMap) {
    append_cookie(
        headers,
        &removed_cookie(SIGN_IN_COOKIE, state.secure_cookies),
    );
}

impl From<ProviderError> for PageError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unreachable(reason) => {
                tracing::warn!(%reason, "the identity provider could not be reached");
                Self::ProviderUnreachable
            }
            ProviderError::Refused(reason) => Self::SignInFailed(reason),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct StartQuery {
    #[serde(default)]
    next: String,
}

/// `GET /sign-in/start`: to the identity provider, to come back to `next`.
pub(crate) async fn start(
    State(state): State<Arc<WebState>>,
    Query(query): Query<StartQuery>,
) -> Result<Response, PageError> {
    let Some(provider) = &state.identity else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let (url, pending) = provider.begin().await?;
    let mut response = Redirect::to(&url).into_response();
    let ticket = InProgress::AtProvider {
        pending,
        next: same_site(&query.next).to_owned(),
        exp: InProgress::expiry(),
    };
    keep(&state, response.headers_mut(), &ticket)?;
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Template)]
#[template(path = "signin_choose.html")]
struct ChoosePage {
    t: &'static crate::texts::Texts,
    csrf: String,
    memberships: Vec<Membership>,
}

/// `GET /sign-in/callback`: back from the identity provider. The person it vouched for is
/// signed in to their tenant, asked to choose one, or told that no tenant has added them.
pub(crate) async fn callback(
    State(state): State<Arc<WebState>>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    request: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let Some(provider) = &state.identity else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    if let Some(error) = query.error {
        let why = query.error_description.unwrap_or(error);
        return Err(PageError::SignInFailed(format!(
            "the identity provider did not sign you in ({why})"
        )));
    }
    let Some(InProgress::AtProvider { pending, next, .. }) = kept(&state, &request) else {
        return Err(PageError::SignInFailed(
            "this sign-in was begun in another browser, or more than ten minutes ago".into(),
        ));
    };
    let (Some(code), Some(answer)) = (query.code, query.state) else {
        return Err(PageError::SignInFailed(
            "the identity provider's answer is incomplete".into(),
        ));
    };
    let identity = provider.finish(&pending, &answer, &code).await?;
    let user = UserId::parse(&identity.subject).map_err(|e| {
        PageError::SignInFailed(format!("the identity provider's subject is unusable: {e}"))
    })?;
    let outcome = state.app.sign_in_member(&user, None).await?;
    let mut response = match outcome {
        MemberSignIn::Choose(memberships) => {
            let page = ChoosePage {
                t: &crate::texts::EN,
                csrf,
                memberships,
            };
            let mut response = Html(page.render()?).into_response();
            let ticket = InProgress::Choosing {
                user: user.to_string(),
                next,
                exp: InProgress::expiry(),
            };
            keep(&state, response.headers_mut(), &ticket)?;
            return Ok(response);
        }
        outcome => signed_in(&state, outcome, &user, &next)?,
    };
    forget(&state, response.headers_mut());
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct ChooseForm {
    tenant: String,
}

/// `POST /sign-in/choose`: the tenant chosen by someone who belongs to several.
pub(crate) async fn choose(
    State(state): State<Arc<WebState>>,
    request: HeaderMap,
    Checked(form): Checked<ChooseForm>,
) -> Result<Response, PageError> {
    let Some(InProgress::Choosing { user, next, .. }) = kept(&state, &request) else {
        return Err(PageError::SignInFailed(
            "more than ten minutes passed since you signed in at your organisation".into(),
        ));
    };
    let user = UserId::parse(&user)?;
    let tenant = TenantId::parse(&form.tenant)?;
    let outcome = state.app.sign_in_member(&user, Some(&tenant)).await?;
    let mut response = signed_in(&state, outcome, &user, &next)?;
    forget(&state, response.headers_mut());
    Ok(response)
}

/// On to `next` with the session's cookie, or why there is no session.
fn signed_in(
    state: &WebState,
    outcome: MemberSignIn,
    user: &UserId,
    next: &str,
) -> Result<Response, PageError> {
    match outcome {
        MemberSignIn::Started { tenant, session } => {
            tracing::info!(tenant = %tenant, "a member signed in through the identity provider");
            let mut response = Redirect::to(same_site(next)).into_response();
            crate::session::hold(state, response.headers_mut(), &session);
            Ok(response)
        }
        MemberSignIn::NotAMember | MemberSignIn::Choose(_) => {
            tracing::warn!(
                user = %user,
                "someone the identity provider vouched for is a member of no tenant asked for"
            );
            Err(PageError::NotAMember(user.to_string()))
        }
    }
}
