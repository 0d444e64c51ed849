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
use crate::texts::Texts;
use crate::words::Lang;
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

// ---------------------------------------------------------------------------------------
// One consent: the form, the terms, and what the client can do with it.

#[derive(Template)]
#[template(path = "client_consent.html")]
struct ConsentPage {
    t: &'static Texts,
    asks: String,
    lasts: String,
    organisation: String,
    csrf: String,
    id: String,
    status: &'static str,
    status_meaning: &'static str,
    form_title: String,
    form_language: String,
    form_version: u32,
    form_sha256: String,
    form_text: String,
    terms: Vec<TermsLine>,
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
    meaning: String,
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
    let lang = Lang::of(form.language.as_str());
    let t = lang.texts();
    let (status_words, status_meaning) = words::consent_status(lang, status);
    let in_force = matches!(status, ConsentStatus::Given);
    let organisation = app.organisation_name(&caller).await?;
    let page = ConsentPage {
        t,
        asks: t
            .asks
            .replace("{org}", &organisation)
            .replace("{who}", core.practitioner.as_ref())
            .replace(
                "{scope}",
                &scope_words(lang, core.scope, &core.practitioner),
            ),
        lasts: t.lasts.replace("{until}", &until_words(lang, &consent)),
        organisation,
        csrf,
        id: core.id.to_string(),
        status: status_words,
        status_meaning,
        form_title: form.title,
        form_language: form.language.to_string(),
        form_version: form.version,
        form_sha256: form.text_sha256.to_string(),
        form_text: form.text.unwrap_or_default(),
        terms: terms(lang, &consent),
        may_answer: status == ConsentStatus::Requested,
        may_withdraw: in_force,
        may_opt_out: status == ConsentStatus::Noticed,
        has_receipt: consent.evidence().is_some(),
        choices: if in_force {
            choices(lang, &consent)
        } else {
            Vec::new()
        },
        outcome: outcome(t, done.done.as_deref(), &consent),
        checkpoint_key: app.checkpoint_key(),
    };
    Ok(Html(page.render()?))
}

fn terms(lang: Lang, consent: &Consent) -> Vec<TermsLine> {
    let t = lang.texts();
    consent
        .purposes()
        .iter()
        .map(|(purpose, state)| {
            let audience = &state.terms.audience;
            let mut listeners: Vec<String> =
                audience.users.iter().map(ToString::to_string).collect();
            listeners.extend(
                audience
                    .roles
                    .iter()
                    .map(|r| words::role(lang, *r).to_owned()),
            );
            TermsLine {
                purpose: words::purpose_name(lang, *purpose),
                meaning: t
                    .for_meaning
                    .replace("{meaning}", words::purpose(lang, *purpose)),
                listeners: if *purpose == Purpose::ClientCopy {
                    t.only_you.to_owned()
                } else if listeners.is_empty() {
                    t.no_one.to_owned()
                } else {
                    listeners.join(", ")
                },
                media: list(state.terms.media.iter().map(|m| words::medium(lang, *m))),
                derivatives: if state.terms.derivatives.is_empty() {
                    t.nothing.to_owned()
                } else {
                    list(
                        state
                            .terms
                            .derivatives
                            .iter()
                            .map(|d| words::derivative(lang, *d)),
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

fn until_words(lang: Lang, consent: &Consent) -> String {
    let t = lang.texts();
    match consent.core().and_then(|core| core.expiry) {
        Some(Expiry::OnDate { at }) => t.until_date.replace("{at}", &words::moment(lang, at)),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CourseEnded { .. },
        }) => t.until_course.to_owned(),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CredentialDecided,
        }) => t.until_credential.to_owned(),
        None => t.until_withdrawn.to_owned(),
    }
}

/// The withdrawal choices: all of it, one purpose, or one named listener of one purpose.
/// Each value is what the withdraw form posts as `scope`.
fn choices(lang: Lang, consent: &Consent) -> Vec<(String, String)> {
    let t = lang.texts();
    let mut choices = vec![("whole".to_owned(), t.choice_whole.to_owned())];
    let live: Vec<_> = consent
        .purposes()
        .iter()
        .filter(|(_, state)| state.withdrawn_at.is_none())
        .collect();
    if live.len() > 1 {
        for (purpose, _) in &live {
            choices.push((
                format!("purpose:{purpose}"),
                t.choice_purpose
                    .replace("{purpose}", words::purpose(lang, **purpose)),
            ));
        }
    }
    for (purpose, state) in &live {
        if state.terms.audience.users.len() > 1 {
            for user in &state.terms.audience.users {
                choices.push((
                    format!("listener:{purpose}:{user}"),
                    t.choice_listener
                        .replace("{who}", user.as_ref())
                        .replace("{purpose}", words::purpose(lang, **purpose)),
                ));
            }
        }
    }
    choices
}

fn outcome(t: &'static Texts, done: Option<&str>, consent: &Consent) -> Option<Outcome> {
    match done? {
        "given" => Some(Outcome {
            heading: t.outcome_given_h,
            lines: t
                .outcome_given
                .iter()
                .map(|line| (*line).to_owned())
                .collect(),
        }),
        "refused" => Some(Outcome {
            heading: t.outcome_refused_h,
            lines: vec![t.outcome_refused.to_owned()],
        }),
        "withdrawn" => {
            let mut lines = vec![t.outcome_withdrawn.to_owned()];
            if consent.deletion_requested() {
                lines.push(t.outcome_destroyed.to_owned());
            }
            if !consent.notified().is_empty() {
                let told: Vec<String> =
                    consent.notified().iter().map(ToString::to_string).collect();
                lines.push(t.outcome_told.replace("{who}", &told.join(", ")));
            }
            Some(Outcome {
                heading: t.outcome_withdrawn_h,
                lines,
            })
        }
        "opted_out" => Some(Outcome {
            heading: t.outcome_opted_out_h,
            lines: vec![t.outcome_opted_out.to_owned()],
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
    t: &'static Texts,
    title: String,
    caption: String,
    organisation: String,
    csrf: String,
    id: String,
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
    let core = view
        .recording
        .core()
        .ok_or_else(|| DomainError::not_found("recording"))?;
    // In the language of the form its consent was asked with.
    let (_, form) = app.consent_form_of(caller, core.consent_id).await?;
    let lang = Lang::of(form.language.as_str());
    let t = lang.texts();
    let line = recording_line(lang, &view).ok_or_else(|| DomainError::not_found("recording"))?;
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
        t,
        title: t.session_title.replace("{day}", &line.session_on),
        caption: t.accessed_caption.replace("{day}", &line.session_on),
        organisation: app.organisation_name(caller).await?,
        csrf,
        id: line.id,
        status: line.status,
        note: line.note,
        more: history.has_next_page,
        rows: history
            .rows
            .iter()
            .filter_map(|(_, entry)| words::access_row(lang, entry))
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
