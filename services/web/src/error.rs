//! The one error edge of the pages: every failure becomes a plain page that says what
//! happened and what to do next, with the right status; internal details are logged, never
//! shown.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use confide_app::{AppError, UploadRefusal};
use confide_domain::DomainError;

use crate::security::set_page_headers;

/// Why a page could not be shown or a form could not be done.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No client link has been opened in this browser, or it has expired.
    LinkNeeded,
    /// The link opened is forged, altered, expired, or not a client's.
    LinkUnusable,
    /// A post that a browser says comes from another site.
    CrossSite,
    /// A form without this browser's CSRF token: an old page, or another site's form.
    StaleForm,
    /// A form that could not be read.
    BadForm(String),
    /// The organisation's identity provider could not be reached.
    ProviderUnreachable,
    /// Signing in through the identity provider did not finish, for this reason.
    SignInFailed(String),
    /// The identity provider vouched for this user id, but no tenant here has it as a member.
    NotAMember(String),
    /// The application refused or failed.
    App(AppError),
    /// A page could not be rendered (a bug).
    Render(askama::Error),
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl From<DomainError> for PageError {
    fn from(error: DomainError) -> Self {
        Self::App(error.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        Self::Render(error)
    }
}

/// The page every problem is shown on.
#[derive(Template)]
#[template(path = "problem.html")]
struct Problem<'a> {
    t: &'static crate::texts::Texts,
    title: &'a str,
    message: String,
    next: &'a str,
}

impl PageError {
    /// Status, title, what happened, and what to do.
    fn parts(&self) -> (StatusCode, &'static str, String, &'static str) {
        const AGAIN: &str = "Go back, reload the page, and try again.";
        const ASK: &str = "Ask the person who sent you the link for a new one. Your consent and \
             recordings are not affected.";
        match self {
            Self::LinkNeeded => (
                StatusCode::UNAUTHORIZED,
                "Open your link again",
                "This page needs the link you were sent, and this browser has none that is \
                 still valid."
                    .to_owned(),
                "Open the link from your e-mail or message again. If it has expired, ask the \
                 person who sent it for a new one.",
            ),
            Self::LinkUnusable => (
                StatusCode::UNAUTHORIZED,
                "This link cannot be used",
                "The link has expired, or it was not copied whole.".to_owned(),
                ASK,
            ),
            Self::CrossSite => (
                StatusCode::FORBIDDEN,
                "Not sent from this site",
                "The form was sent from another website, so nothing was changed.".to_owned(),
                "Use the forms on this site's own pages.",
            ),
            Self::StaleForm => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent with this browser's security token, so nothing was \
                 changed."
                    .to_owned(),
                AGAIN,
            ),
            Self::BadForm(message) => (
                StatusCode::BAD_REQUEST,
                "The form could not be used",
                message.clone(),
                AGAIN,
            ),
            Self::ProviderUnreachable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Your organisation's sign-in cannot be reached",
                "Confide could not reach your organisation's identity provider, so nobody can \
                 sign in through it just now."
                    .to_owned(),
                "Try again in a minute. If it keeps happening, tell whoever runs Confide for \
                 your organisation.",
            ),
            Self::SignInFailed(reason) => (
                StatusCode::BAD_REQUEST,
                "Sign-in did not finish",
                format!("You are not signed in: {reason}."),
                "Go to the sign-in page and start again.",
            ),
            Self::NotAMember(user) => (
                StatusCode::FORBIDDEN,
                "No organisation here has added you",
                format!(
                    "Your organisation's sign-in knows you as \u{201c}{user}\u{201d}, but no \
                     organisation on this Confide has added that identity as a member."
                ),
                "Ask your organisation's administrator to add you with that identity, then sign \
                 in again.",
            ),
            Self::App(error) if error.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again in a moment",
                "The service is briefly unavailable. Nothing you sent was lost or half done."
                    .to_owned(),
                "Try again in a few seconds.",
            ),
            Self::App(AppError::Domain(error)) => match error {
                DomainError::NotFound { entity } => (
                    StatusCode::NOT_FOUND,
                    "Not found",
                    format!("There is no such {entity} that you may see."),
                    "Go back to your page and choose from what it lists.",
                ),
                DomainError::Invalid { rule, .. } => (
                    StatusCode::BAD_REQUEST,
                    "Please check what you entered",
                    sentence(rule),
                    AGAIN,
                ),
                DomainError::Conflict { rule } => (
                    StatusCode::CONFLICT,
                    "That cannot be done now",
                    sentence(rule),
                    "Go back to your page: it shows things as they now stand.",
                ),
                DomainError::Forbidden { rule, .. } | DomainError::ConsentRequired { rule, .. } => {
                    (
                        StatusCode::FORBIDDEN,
                        "Not allowed",
                        sentence(rule),
                        "Go back to your page.",
                    )
                }
            },
            Self::App(AppError::Upload(refusal)) => (
                if matches!(refusal, UploadRefusal::Empty | UploadRefusal::Incomplete) {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                },
                "The recording was not stored",
                sentence(&refusal.to_string()),
                "Choose another file, or record again, and send it.",
            ),
            Self::App(AppError::Gone { what }) => (
                StatusCode::GONE,
                "Destroyed",
                format!(
                    "{} has been destroyed for good.",
                    crate::words::capitalised(what)
                ),
                "Go back to your page.",
            ),
            Self::App(AppError::Contention { .. }) => (
                StatusCode::CONFLICT,
                "Please try again",
                "Something changed while your request was being decided; nothing was done."
                    .to_owned(),
                AGAIN,
            ),
            Self::App(_) | Self::Render(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side",
                "Your request could not be completed. Nothing you sent was half done.".to_owned(),
                "Try again later. If it keeps happening, tell the organisation.",
            ),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message, next) = self.parts();
        match &self {
            Self::App(error) if status.is_server_error() => {
                tracing::error!(%error, "a page failed");
            }
            Self::Render(error) => tracing::error!(%error, "a page could not be rendered"),
            _ => {}
        }
        let body = Problem {
            t: &crate::texts::EN,
            title,
            message,
            next,
        }
        .render()
        .unwrap_or_else(|_| title.to_owned());
        let mut response = (status, Html(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        set_page_headers(response.headers_mut());
        response
    }
}

/// A rule as a sentence: capitalised, with a full stop.
fn sentence(rule: &str) -> String {
    let mut text = crate::words::capitalised(rule);
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}
