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
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use chrono::Utc;
use confide_api::tickets;
use confide_app::{Caller, PageRequest, RecordingView};
use confide_domain::aggregates::consent::{
    Consent, ConsentScope, ConsentStatus, Expiry, ExpiryTrigger, WithdrawalScope,
};
use confide_domain::aggregates::subject_request::SubjectRequestKind;
use confide_domain::{
    AccessDecision, ConsentId, DomainError, Medium, Purpose, RecordingId, UserId,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::PageError;
use crate::security::{
    CLIENT_COOKIE, Checked, CsrfToken, append_cookie, cookie, cookie_header, removed_cookie,
};
use crate::{WebState, words};

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
    let mut response = Html(SignedOut.render().unwrap_or_default()).into_response();
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
struct SignedOut;

// ---------------------------------------------------------------------------------------
// The client's home page.

#[derive(Template)]
#[template(path = "client_home.html")]
struct Home {
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
    for (_, consent) in app.consents_page(&caller, None, &first).await?.rows {
        let Some(core) = consent.core() else { continue };
        let (_, form) = app.consent_form_of(&caller, core.id).await?;
        let status = consent.status().unwrap_or(ConsentStatus::Requested);
        consents.push(ConsentLine {
            id: core.id.to_string(),
            title: form.title,
            scope: scope_words(core.scope, &core.practitioner),
            status: words::consent_status(status).0,
            waiting: status == ConsentStatus::Requested,
        });
    }
    let recordings = app
        .client_recordings_page(&caller, None, Purpose::ClientCopy, &first)
        .await?
        .rows
        .into_iter()
        .filter_map(|(_, view)| recording_line(&view))
        .collect();
    let now = Utc::now();
    let requests = app
        .subject_requests(&caller, None)
        .await?
        .into_iter()
        .filter_map(|request| {
            Some(RequestLine {
                kind: words::request_kind(request.kind()?),
                state: match request.outcome() {
                    Some(outcome) => format!("Decided: {}", outcome_words(outcome)),
                    None if request.is_overdue(now) => {
                        "Overdue: the legal deadline has passed".to_owned()
                    }
                    None => "Open".to_owned(),
                },
                due: request.due_by().map(words::moment).unwrap_or_default(),
            })
        })
        .collect();
    let page = Home {
        organisation,
        csrf,
        consents,
        recordings,
        requests,
        request_kinds: REQUEST_KINDS
            .iter()
            .map(|(value, kind)| (*value, words::request_kind(*kind)))
            .collect(),
        done: match done.done.as_deref() {
            Some("request") => Some(
                "Your request has been sent to the organisation. Its legal deadline is shown below.",
            ),
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
    outcome: confide_domain::aggregates::subject_request::SubjectRequestOutcome,
) -> &'static str {
    use confide_domain::aggregates::subject_request::SubjectRequestOutcome as O;
    match outcome {
        O::Granted => "done as you asked",
        O::PartiallyGranted => "done in part",
        O::Refused => "refused",
    }
}

fn recording_line(view: &RecordingView) -> Option<RecordingLine> {
    let core = view.recording.core()?;
    let note = if let Some(at) = view.recording.destroyed_at() {
        format!("Destroyed on {}", words::moment(at))
    } else if let Some((due, _)) = view.recording.scheduled_destruction() {
        format!("To be destroyed by {}", words::moment(due))
    } else if view.access.is_allowed() {
        "You may listen to your copy".to_owned()
    } else {
        String::new()
    };
    Some(RecordingLine {
        id: core.id.to_string(),
        session_on: core.session_on.format("%-d %B %Y").to_string(),
        status: words::recording_status(view.recording.status()),
        note,
    })
}

fn scope_words(scope: ConsentScope, practitioner: &UserId) -> String {
    match scope {
        ConsentScope::Session { session_on } => {
            format!("Your session on {}", session_on.format("%-d %B %Y"))
        }
        ConsentScope::Engagement => format!("All your sessions with {practitioner}"),
    }
}

// ---------------------------------------------------------------------------------------
// One consent: the form, the terms, and what the client can do with it.

#[derive(Template)]
#[template(path = "client_consent.html")]
struct ConsentPage {
    organisation: String,
    csrf: String,
    id: String,
    practitioner: String,
    scope: String,
    status: &'static str,
    status_meaning: &'static str,
    form_title: String,
    form_language: String,
    form_version: u32,
    form_sha256: String,
    form_text: String,
    terms: Vec<TermsLine>,
    until: String,
    may_answer: bool,
    may_withdraw: bool,
    may_opt_out: bool,
    has_receipt: bool,
    choices: Vec<(String, String)>,
    outcome: Option<Outcome>,
    checkpoint_key: String,
}

struct TermsLine {
    purpose: &'static str,
    meaning: &'static str,
    listeners: String,
    media: String,
    derivatives: String,
    withdrawn: bool,
}

/// What the last form did, said on the page it led to.
struct Outcome {
    heading: &'static str,
    lines: Vec<String>,
}

/// `GET /me/consents/{id}`.
pub(crate) async fn consent(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    let consent_id = ConsentId::from_uuid(id)?;
    let app = &state.app;
    let consent = app.consent(&caller, consent_id).await?;
    let (_, form) = app.consent_form_of(&caller, consent_id).await?;
    let core = consent
        .core()
        .ok_or_else(|| DomainError::not_found("consent"))?;
    let status = consent.status().unwrap_or(ConsentStatus::Requested);
    let (status_words, status_meaning) = words::consent_status(status);
    let in_force = matches!(status, ConsentStatus::Given);
    let page = ConsentPage {
        organisation: app.organisation_name(&caller).await?,
        csrf,
        id: core.id.to_string(),
        practitioner: core.practitioner.to_string(),
        scope: scope_words(core.scope, &core.practitioner),
        status: status_words,
        status_meaning,
        form_title: form.title,
        form_language: form.language.to_string(),
        form_version: form.version,
        form_sha256: form.text_sha256.to_string(),
        form_text: form.text.unwrap_or_default(),
        terms: terms(&consent),
        until: until_words(&consent),
        may_answer: status == ConsentStatus::Requested,
        may_withdraw: in_force,
        may_opt_out: status == ConsentStatus::Noticed,
        has_receipt: consent.evidence().is_some(),
        choices: if in_force {
            choices(&consent)
        } else {
            Vec::new()
        },
        outcome: outcome(done.done.as_deref(), &consent),
        checkpoint_key: app.checkpoint_key(),
    };
    Ok(Html(page.render()?))
}

fn terms(consent: &Consent) -> Vec<TermsLine> {
    consent
        .purposes()
        .iter()
        .map(|(purpose, state)| {
            let audience = &state.terms.audience;
            let mut listeners: Vec<String> =
                audience.users.iter().map(ToString::to_string).collect();
            listeners.extend(audience.roles.iter().map(|r| words::role(*r).to_owned()));
            TermsLine {
                purpose: words::purpose_name(*purpose),
                meaning: words::purpose(*purpose),
                listeners: if *purpose == Purpose::ClientCopy {
                    "only you".to_owned()
                } else if listeners.is_empty() {
                    "no one".to_owned()
                } else {
                    listeners.join(", ")
                },
                media: list(state.terms.media.iter().map(|m| words::medium(*m))),
                derivatives: if state.terms.derivatives.is_empty() {
                    "nothing".to_owned()
                } else {
                    list(
                        state
                            .terms
                            .derivatives
                            .iter()
                            .map(|d| words::derivative(*d)),
                    )
                },
                withdrawn: state.withdrawn_at.is_some(),
            }
        })
        .collect()
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn until_words(consent: &Consent) -> String {
    match consent.core().and_then(|core| core.expiry) {
        Some(Expiry::OnDate { at }) => format!("until {}, unless you withdraw it sooner", words::moment(at)),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CourseEnded { .. },
        }) => "until the course ends (the recordings are then destroyed), unless you withdraw it sooner".to_owned(),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CredentialDecided,
        }) => "until the credentialing body decides on the application, unless you withdraw it sooner".to_owned(),
        None => "until you withdraw it".to_owned(),
    }
}

/// The withdrawal choices: all of it, one purpose, or one named listener of one purpose.
/// Each value is what the withdraw form posts as `scope`.
fn choices(consent: &Consent) -> Vec<(String, String)> {
    let mut choices = vec![(
        "whole".to_owned(),
        "All of it: no one may listen any more, and nothing more is recorded".to_owned(),
    )];
    let live: Vec<_> = consent
        .purposes()
        .iter()
        .filter(|(_, state)| state.withdrawn_at.is_none())
        .collect();
    if live.len() > 1 {
        for (purpose, _) in &live {
            choices.push((
                format!("purpose:{purpose}"),
                format!("Only {}", words::purpose(**purpose)),
            ));
        }
    }
    for (purpose, state) in &live {
        if state.terms.audience.users.len() > 1 {
            for user in &state.terms.audience.users {
                choices.push((
                    format!("listener:{purpose}:{user}"),
                    format!("Only {user}, for {}", words::purpose(**purpose)),
                ));
            }
        }
    }
    choices
}

fn outcome(done: Option<&str>, consent: &Consent) -> Option<Outcome> {
    match done? {
        "given" => Some(Outcome {
            heading: "Thank you: your consent is given",
            lines: vec![
                "It is recorded in the organisation's signed log. Your receipt is below."
                    .to_owned(),
                "You can withdraw it on this page at any time.".to_owned(),
            ],
        }),
        "refused" => Some(Outcome {
            heading: "You refused: nothing will be recorded",
            lines: vec!["Your answer is recorded. Nothing more is needed from you.".to_owned()],
        }),
        "withdrawn" => {
            let mut lines = vec![
                "From now on no one may listen for what you withdrew, and the organisation cannot record anything more under it."
                    .to_owned(),
            ];
            if consent.deletion_requested() {
                lines.push(
                    "The recordings it covered are being destroyed: their encryption keys are erased within a minute, so no copy can ever be read again."
                        .to_owned(),
                );
            }
            if !consent.notified().is_empty() {
                lines.push(format!(
                    "Everyone who had access is being told: {}.",
                    consent
                        .notified()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Some(Outcome {
                heading: "Your withdrawal is recorded",
                lines,
            })
        }
        "opted_out" => Some(Outcome {
            heading: "You have opted out",
            lines: vec!["Nothing more will be recorded.".to_owned()],
        }),
        _ => None,
    }
}

#[derive(Deserialize)]
pub(crate) struct GiveForm {
    typed_name: String,
}

/// `POST /me/consents/{id}/give`.
pub(crate) async fn give(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(form): Checked<GiveForm>,
) -> Result<Redirect, PageError> {
    let consent_id = ConsentId::from_uuid(id)?;
    state
        .app
        .give_consent(&caller, consent_id, form.typed_name.trim().to_owned())
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=given#outcome"
    )))
}

/// `POST /me/consents/{id}/refuse`.
pub(crate) async fn refuse(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Redirect, PageError> {
    state
        .app
        .refuse_consent(&caller, ConsentId::from_uuid(id)?)
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=refused#outcome"
    )))
}

#[derive(Deserialize)]
pub(crate) struct WithdrawForm {
    scope: String,
    #[serde(default)]
    delete: Option<String>,
}

/// `POST /me/consents/{id}/withdraw`: all of it, one purpose or one listener, with or without
/// the recordings' destruction.
pub(crate) async fn withdraw(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(form): Checked<WithdrawForm>,
) -> Result<Redirect, PageError> {
    let scope = withdrawal_scope(&form.scope)?;
    state
        .app
        .withdraw_consent(
            &caller,
            ConsentId::from_uuid(id)?,
            scope,
            form.delete.is_some(),
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=withdrawn#outcome"
    )))
}

/// The scope a withdraw form posts: `whole`, `purpose:<purpose>`, or
/// `listener:<purpose>:<user>`.
fn withdrawal_scope(value: &str) -> Result<WithdrawalScope, DomainError> {
    let invalid = || DomainError::invalid("scope", "choose what to withdraw");
    let mut parts = value.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("whole"), None, None) => Ok(WithdrawalScope::Whole),
        (Some("purpose"), Some(purpose), None) => Ok(WithdrawalScope::Purpose {
            purpose: purpose.parse().map_err(|_| invalid())?,
        }),
        (Some("listener"), Some(purpose), Some(user)) => Ok(WithdrawalScope::AudienceMember {
            purpose: purpose.parse().map_err(|_| invalid())?,
            user_id: UserId::parse(user).map_err(|_| invalid())?,
        }),
        _ => Err(invalid()),
    }
}

#[derive(Deserialize)]
pub(crate) struct OptOutForm {
    #[serde(default)]
    delete: Option<String>,
}

/// `POST /me/consents/{id}/opt-out`: out for good, under a notice.
pub(crate) async fn opt_out(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(form): Checked<OptOutForm>,
) -> Result<Redirect, PageError> {
    state
        .app
        .opt_out(&caller, ConsentId::from_uuid(id)?, form.delete.is_some())
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=opted_out#outcome"
    )))
}

/// `GET /me/consents/{id}/receipt.json`: the receipt and its proof, as a file.
pub(crate) async fn receipt(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let receipt = state
        .app
        .consent_receipt(&caller, ConsentId::from_uuid(id)?)
        .await?;
    let proof: serde_json::Value = serde_json::from_str(&receipt.proof.to_json())
        .map_err(|e| PageError::App(confide_app::AppError::Encoding(e)))?;
    let mut response =
        Json(serde_json::json!({ "receipt": receipt.receipt, "proof": proof })).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"consent-receipt-{id}.json\""
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// One recording: who accessed it, and the client's own copy.

#[derive(Template)]
#[template(path = "client_recording.html")]
struct RecordingPage {
    organisation: String,
    csrf: String,
    id: String,
    session_on: String,
    status: &'static str,
    note: String,
    rows: Vec<words::AccessRow>,
    more: bool,
    may_listen: bool,
    copy_refused: Vec<String>,
    player: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct HistoryPage {
    after: Option<String>,
}

/// `GET /me/recordings/{id}`.
pub(crate) async fn recording(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Query(page): Query<HistoryPage>,
) -> Result<Html<String>, PageError> {
    let page = recording_page(&state, &caller, csrf, id, page.after, None, false).await?;
    Ok(Html(page.render()?))
}

/// `POST /me/recordings/{id}/listen`: asks to play the client's own copy; the decision is
/// recorded, and the page shows the player or why not.
pub(crate) async fn listen(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
    let recording_id = RecordingId::from_uuid(id)?;
    let playback = state
        .app
        .start_playback(&caller, recording_id, Purpose::ClientCopy, Medium::Audio)
        .await?;
    let player = match playback.decision {
        AccessDecision::Allow { .. } => Some(
            tickets::issue_media(
                &state.auth,
                &caller,
                recording_id,
                Purpose::ClientCopy,
                Medium::Audio,
                Utc::now(),
            )
            .map_err(|_| {
                PageError::App(confide_app::AppError::Domain(DomainError::conflict(
                    "the player could not be prepared",
                )))
            })?
            .0,
        ),
        AccessDecision::Deny { .. } => None,
    };
    let page = recording_page(&state, &caller, csrf, id, None, player, true).await?;
    let status = if page.player.is_some() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    Ok((status, Html(page.render()?)).into_response())
}

async fn recording_page(
    state: &WebState,
    caller: &Caller,
    csrf: String,
    id: Uuid,
    after: Option<String>,
    player: Option<String>,
    asked: bool,
) -> Result<RecordingPage, PageError> {
    let recording_id = RecordingId::from_uuid(id)?;
    let app = &state.app;
    let view = app
        .client_recording(caller, recording_id, Purpose::ClientCopy)
        .await?;
    let line = recording_line(&view).ok_or_else(|| DomainError::not_found("recording"))?;
    let history = app
        .access_history(
            caller,
            recording_id,
            &PageRequest::new(confide_app::MAX_PAGE, after, confide_app::MAX_PAGE)?,
        )
        .await?;
    // Why not, said only to a client who asked to listen.
    let copy_refused = match (&view.access, asked) {
        (AccessDecision::Deny { reasons }, true) => {
            reasons.iter().map(ToString::to_string).collect()
        }
        _ => Vec::new(),
    };
    Ok(RecordingPage {
        organisation: app.organisation_name(caller).await?,
        csrf,
        id: line.id,
        session_on: line.session_on,
        status: line.status,
        note: line.note,
        more: history.has_next_page,
        rows: history
            .rows
            .iter()
            .filter_map(|(_, entry)| words::access_row(entry))
            .collect(),
        may_listen: view.access.is_allowed(),
        copy_refused,
        player,
    })
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
