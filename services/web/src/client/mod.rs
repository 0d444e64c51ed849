//! The client's pages: the link they were sent opens them; they read the form, give or
//! refuse consent, withdraw it, see their recordings and who accessed each, listen to their
//! own copy where the organisation gives copies, ask for a copy or erasure, and check their
//! consent receipt in the page.
//!
//! The link's secret is exchanged on first use for an HttpOnly cookie and the browser is sent
//! on to a clean URL (`/me`), so the secret stays out of history, logs and Referer headers.
//! Every page and every form calls the application's use cases, as the API does.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use confide_app::{Caller, PageRequest, RecordingView};
use confide_domain::aggregates::consent::{ConsentScope, ConsentStatus};
use confide_domain::aggregates::subject_request::SubjectRequestKind;
use confide_domain::{DomainError, Purpose, UserId};
use serde::Deserialize;

use crate::error::PageError;
use crate::security::{
    CLIENT_COOKIE, Checked, CsrfToken, append_cookie, cookie, cookie_header, removed_cookie,
};
use crate::texts::Texts;
use crate::words::Lang;
use crate::{WebState, words};

mod consent;
mod recording;

pub(crate) use consent::{consent, give, opt_out, receipt, refuse, withdraw};
pub(crate) use recording::{listen, recording};

/// The caller of a client page: the client link kept in this browser's cookie.
pub(crate) struct ClientCaller(pub(crate) Caller);

impl FromRequestParts<Arc<WebState>> for ClientCaller {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, CLIENT_COOKIE).ok_or(PageError::LinkNeeded)?;
        match state.auth.verify(&token).await {
            Ok(caller) if caller.client().is_some() => Ok(Self(caller)),
            _ => Err(PageError::LinkNeeded),
        }
    }
}

/// `GET /link/{secret}`: the link from the e-mail. A client link is kept in an HttpOnly
/// cookie and the browser goes on to `/me`; anything else is a plain page that says what
/// to do.
pub(crate) async fn open_link(
    State(state): State<Arc<WebState>>,
    Path(secret): Path<String>,
) -> Response {
    match state.auth.verify(&secret).await {
        Ok(caller) if caller.client().is_some() => {
            let mut response = Redirect::to("/me").into_response();
            append_cookie(
                response.headers_mut(),
                &cookie_header(CLIENT_COOKIE, &secret, None, "Lax", state.secure_cookies),
            );
            response
        }
        _ => PageError::LinkUnusable.into_response(),
    }
}

/// `POST /me/sign-out`: forgets the link in this browser.
pub(crate) async fn sign_out(
    State(state): State<Arc<WebState>>,
    Checked(_): Checked<Empty>,
) -> Response {
    let mut response = Html(
        SignedOut {
            t: &crate::texts::EN,
        }
        .render()
        .unwrap_or_default(),
    )
    .into_response();
    append_cookie(
        response.headers_mut(),
        &removed_cookie(CLIENT_COOKIE, state.secure_cookies),
    );
    response
}

#[derive(Deserialize)]
pub(crate) struct Empty {}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    t: &'static Texts,
}

// ---------------------------------------------------------------------------------------
// The client's home page.

#[derive(Template)]
#[template(path = "client_home.html")]
struct Home {
    t: &'static Texts,
    lead: String,
    organisation: String,
    csrf: String,
    consents: Vec<ConsentLine>,
    recordings: Vec<RecordingLine>,
    requests: Vec<RequestLine>,
    request_kinds: Vec<(&'static str, &'static str)>,
    done: Option<&'static str>,
}

struct ConsentLine {
    id: String,
    title: String,
    scope: String,
    status: &'static str,
    waiting: bool,
}

struct RecordingLine {
    id: String,
    session_on: String,
    see: String,
    status: &'static str,
    note: String,
}

struct RequestLine {
    kind: &'static str,
    state: String,
    due: String,
}

#[derive(Deserialize)]
pub(crate) struct Done {
    done: Option<String>,
}

/// `GET /me`: the organisation, the client's consents, recordings and requests.
pub(crate) async fn home(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    let app = &state.app;
    let organisation = app.organisation_name(&caller).await?;
    let first = PageRequest::new(confide_app::MAX_PAGE, None, confide_app::MAX_PAGE)?;
    let mut consents = Vec::new();
    // The page speaks the language of the latest form the client was asked with.
    let mut lang = Lang::En;
    let mut forms = Vec::new();
    for (_, consent) in app.consents_page(&caller, None, &first).await?.rows {
        let Some(core) = consent.core() else { continue };
        let (_, form) = app.consent_form_of(&caller, core.id).await?;
        lang = Lang::of(form.language.as_str());
        forms.push((consent, form.title));
    }
    for (consent, title) in forms {
        let Some(core) = consent.core() else { continue };
        let status = consent.status().unwrap_or(ConsentStatus::Requested);
        consents.push(ConsentLine {
            id: core.id.to_string(),
            title,
            scope: words::capitalised(&scope_words(lang, core.scope, &core.practitioner)),
            status: words::consent_status(lang, status).0,
            waiting: status == ConsentStatus::Requested,
        });
    }
    let t = lang.texts();
    let recordings = app
        .client_recordings_page(&caller, None, Purpose::ClientCopy, &first)
        .await?
        .rows
        .into_iter()
        .filter_map(|(_, view)| recording_line(lang, &view))
        .collect();
    let now = Utc::now();
    let requests = app
        .subject_requests(&caller, None)
        .await?
        .into_iter()
        .filter_map(|request| {
            Some(RequestLine {
                kind: words::request_kind(lang, request.kind()?),
                state: match request.outcome() {
                    Some(outcome) => t.decided.replace("{outcome}", outcome_words(t, outcome)),
                    None if request.is_overdue(now) => t.overdue.to_owned(),
                    None => t.open.to_owned(),
                },
                due: request
                    .due_by()
                    .map(|at| words::moment(lang, at))
                    .unwrap_or_default(),
            })
        })
        .collect();
    let page = Home {
        t,
        lead: t.home_lead.replace("{org}", &organisation),
        organisation,
        csrf,
        consents,
        recordings,
        requests,
        request_kinds: REQUEST_KINDS
            .iter()
            .map(|(value, kind)| (*value, words::request_kind(lang, *kind)))
            .collect(),
        done: match done.done.as_deref() {
            Some("request") => Some(t.request_sent),
            _ => None,
        },
    };
    Ok(Html(page.render()?))
}

const REQUEST_KINDS: [(&str, SubjectRequestKind); 4] = [
    ("access", SubjectRequestKind::Access),
    ("copy", SubjectRequestKind::Copy),
    ("erasure", SubjectRequestKind::Erasure),
    ("portability", SubjectRequestKind::Portability),
];

fn outcome_words(
    t: &'static Texts,
    outcome: confide_domain::aggregates::subject_request::SubjectRequestOutcome,
) -> &'static str {
    use confide_domain::aggregates::subject_request::SubjectRequestOutcome as O;
    match outcome {
        O::Granted => t.granted_outcome,
        O::PartiallyGranted => t.partly_outcome,
        O::Refused => t.refused_outcome,
    }
}

fn recording_line(lang: Lang, view: &RecordingView) -> Option<RecordingLine> {
    let t = lang.texts();
    let core = view.recording.core()?;
    let note = if let Some(at) = view.recording.destroyed_at() {
        t.destroyed_on.replace("{at}", &words::moment(lang, at))
    } else if let Some((due, _)) = view.recording.scheduled_destruction() {
        t.destroyed_by.replace("{at}", &words::moment(lang, due))
    } else if view.access.is_allowed() {
        t.may_listen_copy.to_owned()
    } else {
        String::new()
    };
    let session_on = words::day(lang, core.session_on);
    Some(RecordingLine {
        id: core.id.to_string(),
        see: t.see_access.replace("{day}", &session_on),
        session_on,
        status: words::recording_status(lang, view.recording.status()),
        note,
    })
}

fn scope_words(lang: Lang, scope: ConsentScope, practitioner: &UserId) -> String {
    let t = lang.texts();
    match scope {
        ConsentScope::Session { session_on } => t
            .scope_session
            .replace("{day}", &words::day(lang, session_on)),
        ConsentScope::Engagement => t.scope_engagement.replace("{who}", practitioner.as_ref()),
    }
}

#[derive(Deserialize)]
pub(crate) struct RequestForm {
    kind: String,
}

/// `POST /me/requests`: a subject request, with its legal deadline.
pub(crate) async fn open_request(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Checked(form): Checked<RequestForm>,
) -> Result<Redirect, PageError> {
    let kind = REQUEST_KINDS
        .iter()
        .find(|(value, _)| *value == form.kind)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| DomainError::invalid("kind", "choose what you are asking for"))?;
    let client = caller
        .client()
        .ok_or_else(|| DomainError::forbidden("only a client asks through their link"))?;
    state
        .app
        .open_subject_request(&caller, client, kind, None)
        .await?;
    Ok(Redirect::to("/me?done=request#requests"))
}
