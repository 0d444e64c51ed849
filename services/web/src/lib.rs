//! Confide's pages: the client's (opened from the link they were sent) and the auditor's.
//! Server-rendered HTML from the application's use cases, as the API calls them: no rule
//! lives here, only words and forms. Every form works without JavaScript (a post, then a
//! redirect to a page that says what happened); the scripts, served from `/assets`, only
//! check proofs in the browser.
//!
//! Layout, leaves first:
//! - `security`: headers, cookies and CSRF for every page ([`security::CONTENT_SECURITY_POLICY`]).
//! - `error`: every failure as a plain page that says what to do.
//! - `words`: the domain's values in plain words.
//! - `assets`: the stylesheet and the in-browser verifier, compiled in.
//! - `client`: `/link/{secret}` and the client's pages under `/me`.
//! - `session` and `signin`: the organisation's people's sessions (kept on the server),
//!   `/sign-in` (through the organisation's OpenID Connect provider, or in development mode
//!   as anyone) and `/sign-out`.
//! - `auditor`: `/audit`, sign-in with a token, exports, and verification in the page.

mod admin;
mod assets;
mod auditor;
mod client;
mod error;
mod security;
mod session;
mod signin;
mod staff;
mod texts;
mod words;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use confide_api::auth::Authenticator;
use confide_app::App;

pub use signin::provider::{IdentityProvider, ProviderSettings};

/// What the pages share.
pub struct WebState {
    pub app: Arc<App>,
    pub auth: Arc<Authenticator>,
    /// Cookies are `Secure` (sent only over HTTPS) when the public URL is HTTPS.
    pub secure_cookies: bool,
    /// The server's public URL, without a trailing slash: client links are made under it.
    pub public_url: String,
    /// How long a staff member's session may go unused before it ends.
    pub session_idle: std::time::Duration,
    /// The server's development mode: `/sign-in` offers choosing a tenant and a member, and
    /// every page says so.
    pub development: bool,
    /// The organisation's identity provider, when one is configured.
    pub identity: Option<Arc<IdentityProvider>>,
}

impl WebState {
    /// The pages over `app`, for a server reached at `public_url`.
    pub fn new(app: Arc<App>, auth: Arc<Authenticator>, public_url: &str) -> Self {
        Self {
            app,
            auth,
            secure_cookies: public_url.starts_with("https://"),
            public_url: public_url.trim_end_matches('/').to_owned(),
            session_idle: confide_app::SESSION_IDLE,
            development: false,
            identity: None,
        }
    }

    /// Signing in through the identity provider `settings` name, which sends people back to
    /// `/sign-in/callback` under the public URL.
    pub fn with_identity_provider(mut self, settings: ProviderSettings) -> Result<Self, String> {
        let callback = format!("{}/sign-in/callback", self.public_url);
        self.identity = Some(Arc::new(IdentityProvider::new(settings, &callback)?));
        Ok(self)
    }

    /// In the server's development mode (see [`WebState::development`]).
    pub fn in_development(mut self, development: bool) -> Self {
        self.development = development;
        self
    }
}

/// The pages' routes.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(welcome))
        .route("/link/{secret}", get(client::open_link))
        .route("/me", get(client::home))
        .route("/me/sign-out", post(client::sign_out))
        .route("/me/requests", post(client::open_request))
        .route("/me/consents/{id}", get(client::consent))
        .route("/me/consents/{id}/give", post(client::give))
        .route("/me/consents/{id}/refuse", post(client::refuse))
        .route("/me/consents/{id}/withdraw", post(client::withdraw))
        .route("/me/consents/{id}/opt-out", post(client::opt_out))
        .route("/me/consents/{id}/receipt.json", get(client::receipt))
        .route("/me/recordings/{id}", get(client::recording))
        .route("/me/recordings/{id}/listen", post(client::listen))
        .route("/audit", get(auditor::page))
        .route("/audit/sign-in", post(auditor::sign_in))
        .route("/audit/sign-out", post(auditor::sign_out))
        .route("/audit/exports", post(auditor::export))
        .route("/assets/{*path}", get(assets::serve))
        .merge(admin::routes())
        .merge(staff::practice::routes())
        .merge(staff::review::routes())
        .merge(signin::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            signin::development_banner,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::protect,
        ))
        .with_state(state)
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct Welcome {
    t: &'static texts::Texts,
}

/// `GET /`: where people are sent from here.
async fn welcome() -> Result<Html<String>, error::PageError> {
    Ok(Html(Welcome { t: &texts::EN }.render()?))
}
