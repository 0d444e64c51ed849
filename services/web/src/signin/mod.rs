//! Sign-in for the organisation's people: `GET /sign-in` (keeping a same-site `next` path),
//! the organisation's identity provider (`oidc`, over `provider`), the development sign-in (the server in development mode, no identity provider: choose a
//! tenant and a member, as `confide token` does), and `POST /sign-out`, which ends the
//! session on every node. In development mode every page says so, through
//! [`development_banner`].

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use confide_domain::{TenantId, UserId};
use serde::Deserialize;

mod oidc;
pub(crate) mod provider;

use crate::WebState;
use crate::client::Empty;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;

/// The routes of signing in and out.
pub(crate) fn routes() -> axum::Router<Arc<WebState>> {
    axum::Router::new()
        .route("/sign-in", get(page))
        .route("/sign-in/start", get(oidc::start))
        .route("/sign-in/callback", get(oidc::callback))
        .route("/sign-in/choose", post(oidc::choose))
        .route("/sign-in/development", post(development))
        .route("/sign-out", post(sign_out))
}

/// The longest `next` path kept.
const MAX_NEXT: usize = 2048;

/// Where to go after signing in: a path of this site only (`/…`, not `//…` nor `/\…`, which a
/// browser reads as another site), else the audit page.
pub(crate) fn same_site(next: &str) -> &str {
    let bytes = next.as_bytes();
    let relative = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && next.len() <= MAX_NEXT
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if relative { next } else { "/audit" }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    next: String,
    /// Where the provider's sign-in begins (a link: a form could not go on to the provider,
    /// which the pages' `form-action 'self'` forbids).
    start: String,
    provider: bool,
    development: bool,
    tenants: Vec<String>,
    problem: Option<String>,
    signed_out: bool,
}

#[derive(Deserialize, Default)]
pub(crate) struct SignInQuery {
    #[serde(default)]
    next: String,
    #[serde(default, rename = "signed-out")]
    signed_out: Option<String>,
}

async fn render(
    state: &WebState,
    csrf: String,
    next: &str,
    problem: Option<String>,
    signed_out: bool,
) -> Result<SignInPage, PageError> {
    let tenants = if state.development {
        state
            .app
            .tenants()
            .await?
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    } else {
        Vec::new()
    };
    Ok(SignInPage {
        t: &crate::texts::EN,
        csrf,
        next: same_site(next).to_owned(),
        start: format!(
            "/sign-in/start?{}",
            serde_urlencoded::to_string([("next", same_site(next))]).unwrap_or_default()
        ),
        provider: state.identity.is_some(),
        development: state.development,
        tenants,
        problem,
        signed_out,
    })
}

/// `GET /sign-in`: where someone signed in goes on to `next`; otherwise sign-in through the
/// identity provider and, in development mode, the development sign-in; or a page saying
/// sign-in is not set up.
async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    if caller.is_some() {
        return Ok(Redirect::to(same_site(&query.next)).into_response());
    }
    let signed_out = query.signed_out.is_some();
    let page = render(&state, csrf, &query.next, None, signed_out).await?;
    let status = if state.development || state.identity.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct DevelopmentForm {
    tenant: String,
    user: String,
    #[serde(default)]
    next: String,
}

/// `POST /sign-in/development`: signs in as a member of a tenant, only in development mode.
async fn development(
    State(state): State<Arc<WebState>>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Checked(form): Checked<DevelopmentForm>,
) -> Result<Response, PageError> {
    if !state.development {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let chosen = match (
        TenantId::parse(form.tenant.trim()),
        UserId::parse(form.user.trim()),
    ) {
        (Ok(tenant), Ok(user)) if state.app.tenant_exists(&tenant).await? => Ok((tenant, user)),
        (Ok(_), Ok(_)) => Err("There is no such tenant.".to_owned()),
        (Err(error), _) | (_, Err(error)) => Err(format!("{error}.")),
    };
    match chosen {
        Ok((tenant, user)) => {
            let mut response = Redirect::to(same_site(&form.next)).into_response();
            crate::session::begin(&state, response.headers_mut(), &tenant, &user).await?;
            Ok(response)
        }
        Err(problem) => {
            let page = render(&state, csrf, &form.next, Some(problem), false).await?;
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
    }
}

/// `POST /sign-out`: ends the session on every node, then back to the sign-in page.
async fn sign_out(
    State(state): State<Arc<WebState>>,
    request: HeaderMap,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
    let mut response = Redirect::to("/sign-in?signed-out=1").into_response();
    crate::session::end(&state, &request, response.headers_mut()).await?;
    Ok(response)
}

/// What every page says in development mode, just inside its `<body>`.
const BANNER: &str = "<p class=\"development\" role=\"note\">Development mode: anyone can sign \
     in as anyone here. Never use this server for real clients.</p>";

/// In development mode, puts [`BANNER`] at the top of every HTML page.
pub(crate) async fn development_banner(
    State(state): State<Arc<WebState>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !state.development || !html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let with_banner = match text.find("<body>") {
        Some(at) => {
            let end = at + "<body>".len();
            format!("{}\n{BANNER}{}", &text[..end], &text[end..])
        }
        None => text.into_owned(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(with_banner))
}

#[cfg(test)]
mod tests {
    use super::same_site;

    #[test]
    fn next_is_only_a_path_of_this_site() {
        assert_eq!(same_site("/practice?x=1"), "/practice?x=1");
        assert_eq!(same_site("/"), "/");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "evil",
            "",
            "javascript:alert(1)",
            "/a\nb",
        ] {
            assert_eq!(same_site(elsewhere), "/audit", "{elsewhere:?}");
        }
    }
}
