//! The practitioner's pages (`/practice`): their clients (paged, searched by name through the
//! application's blind index, never by names kept in clear), registering a client, a client's
//! consents and their states, asking for consent and handing over the client's link, creating
//! a recording and uploading its media, bookmarks, and destroying a recording after a page
//! that says what cannot be undone.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{NaiveDate, NaiveTime, Utc};
use confide_app::{ClientDetails, ConsentEnd, ConsentRequested, PageRequest, consent_expiry};
use confide_domain::aggregates::consent::{
    Audience, ConsentStatus, Expiry, ExpiryTrigger, PurposeTerms,
};
use confide_domain::aggregates::grant::Grantee;
use confide_domain::{
    ClientId, ConsentFormId, ConsentId, CourseId, DomainError, Medium, Purpose, RecordingId, UserId,
};
use futures_util::TryStreamExt;
use serde::Deserialize;
use uuid::Uuid;

use super::{REVIEW_PURPOSES, clock, sign_in_first, typed_moment};
use crate::WebState;
use crate::client::Empty;
use crate::error::PageError;
use crate::security::{CSRF_COOKIE, Checked, CsrfToken, cookie};
use crate::session::StaffCaller;
use crate::words::{self, Lang};

/// The `/practice` routes.
pub(crate) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/practice", get(clients))
        .route("/practice/clients", post(register))
        .route("/practice/clients/{id}", get(client))
        .route("/practice/clients/{id}/consents", post(request_consent))
        .route("/practice/consents/{id}/recordings", post(create_recording))
        .route(
            "/practice/consents/{id}/credential-decision",
            post(credential_decision),
        )
        .route("/practice/recordings/{id}", get(recording))
        .route(
            "/practice/recordings/{id}/media",
            axum::routing::put(upload),
        )
        .route("/practice/recordings/{id}/stop", post(stop))
        .route("/practice/recordings/{id}/bookmarks", post(bookmark))
        .route("/practice/recordings/{id}/grants", post(grant))
        .route(
            "/practice/recordings/{id}/destroy",
            get(confirm_destroy).post(destroy),
        )
}

const T: &crate::texts::Texts = &crate::texts::EN;

// ---------------------------------------------------------------------------------------
// Clients.

#[derive(Template)]
#[template(path = "practice_clients.html")]
struct ClientsPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    search: String,
    /// The search as the start of a query string (`q=…&`), or nothing.
    query: String,
    rows: Vec<ClientRow>,
    next: Option<String>,
}

struct ClientRow {
    id: String,
    name: String,
}

#[derive(Deserialize)]
pub(crate) struct ClientsQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// `GET /practice?q=…`: the caller's clients, a page at a time, or those whose name has the
/// words typed.
pub(crate) async fn clients(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    uri: Uri,
    Query(query): Query<ClientsQuery>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let search = query.q.trim().to_owned();
    let page = state
        .app
        .clients_page(
            &caller,
            Some(search.as_str()).filter(|s| !s.is_empty()),
            &PageRequest::new(25, query.after.clone(), 100)?,
        )
        .await?;
    let next = page
        .has_next_page
        .then(|| page.rows.last().map(|(cursor, _)| cursor.clone()))
        .flatten();
    let rows = page
        .rows
        .into_iter()
        .map(|(_, entry)| ClientRow {
            id: entry.id.to_string(),
            name: entry
                .details
                .map_or_else(|| "(erased)".to_owned(), |d| d.name),
        })
        .collect();
    let query = if search.is_empty() {
        String::new()
    } else {
        format!(
            "{}&",
            serde_urlencoded::to_string([("q", search.as_str())]).unwrap_or_default()
        )
    };
    let page = ClientsPage {
        t: T,
        csrf,
        query,
        search,
        rows,
        next,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RegisterForm {
    name: String,
    #[serde(default)]
    contact: String,
}

/// `POST /practice/clients`: registers a client (their details sealed by the application).
pub(crate) async fn register(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    uri: Uri,
    Checked(form): Checked<RegisterForm>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let contact = Some(form.contact.trim().to_owned()).filter(|c| !c.is_empty());
    let id = state
        .app
        .register_client(
            &caller,
            ClientDetails {
                name: form.name.trim().to_owned(),
                contact,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/practice/clients/{id}")).into_response())
}

// ---------------------------------------------------------------------------------------
// A client: consents, asking for consent, recordings.

#[derive(Template)]
#[template(path = "practice_client.html")]
struct ClientPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    id: String,
    name: String,
    consents: Vec<ConsentRow>,
    forms: Vec<(String, String)>,
    purposes: Vec<(&'static str, &'static str)>,
    link: Option<String>,
    /// Where the link is also on its way by e-mail (the consent request's notice), when this
    /// server sends e-mail and the client has a contact address.
    emailed_to: Option<String>,
    /// The courses, not yet ended, the practitioner is a student on: a consent may end with one.
    courses: Vec<(String, String)>,
    today: String,
}

struct ConsentRow {
    id: String,
    purposes: String,
    status: &'static str,
    may_record: bool,
    /// Given, and ends when the credentialing body decides.
    ends_with_decision: bool,
}

fn staff_status(status: Option<ConsentStatus>) -> &'static str {
    use ConsentStatus as S;
    match status {
        None | Some(S::Requested) => "Asked; waiting for the client",
        Some(S::Given) => "Given",
        Some(S::Noticed) => "Notice given",
        Some(S::Refused) => "Refused",
        Some(S::Withdrawn) => "Withdrawn",
        Some(S::Expired) => "Ended",
        Some(S::Superseded) => "Replaced by a newer consent",
        Some(S::OptedOut) => "The client opted out",
    }
}

async fn client_page(
    state: &WebState,
    caller: &confide_app::Caller,
    csrf: String,
    id: Uuid,
    link: Option<String>,
) -> Result<ClientPage, PageError> {
    let client_id = ClientId::from_uuid(id)?;
    let app = &state.app;
    let entry = app.client_entry(caller, client_id).await?;
    let consents = app
        .consents_page(caller, Some(client_id), &PageRequest::new(100, None, 100)?)
        .await?
        .rows
        .into_iter()
        .filter_map(|(_, consent)| {
            let id = consent.id()?;
            let status = consent.status();
            Some(ConsentRow {
                id: id.to_string(),
                purposes: consent
                    .purposes()
                    .keys()
                    .map(|p| words::purpose_name(Lang::En, *p))
                    .collect::<Vec<_>>()
                    .join(", "),
                status: staff_status(status),
                may_record: matches!(status, Some(ConsentStatus::Given | ConsentStatus::Noticed)),
                ends_with_decision: status == Some(ConsentStatus::Given)
                    && matches!(
                        consent.core().and_then(|c| c.expiry),
                        Some(Expiry::OnEvent {
                            trigger: ExpiryTrigger::CredentialDecided
                        })
                    ),
            })
        })
        .collect();
    let forms = app
        .consent_forms(caller)
        .await?
        .into_iter()
        .filter_map(|form| {
            let latest = form.versions.last()?;
            Some((
                form.id.to_string(),
                format!(
                    "{} (version {}, {})",
                    latest.title, latest.version, latest.language
                ),
            ))
        })
        .collect();
    let emailed_to = entry
        .details
        .as_ref()
        .filter(|_| link.is_some())
        .and_then(|d| app.client_mail_address(d));
    let courses = match &caller.actor {
        confide_domain::Actor::User { user_id } => app
            .courses(caller)
            .await?
            .into_iter()
            .filter(|c| c.ended_on().is_none() && c.students().contains(user_id))
            .filter_map(|c| Some((c.id()?.to_string(), c.title().to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    let name = entry
        .details
        .map_or_else(|| "An erased client".to_owned(), |d| d.name);
    Ok(ClientPage {
        t: T,
        csrf,
        id: id.to_string(),
        name,
        emailed_to,
        courses,
        consents,
        forms,
        purposes: REVIEW_PURPOSES
            .iter()
            .map(|p| (p.as_str(), words::purpose_name(Lang::En, *p)))
            .collect(),
        link,
        today: Utc::now().date_naive().to_string(),
    })
}

/// `GET /practice/clients/{id}`.
pub(crate) async fn client(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let page = client_page(&state, &caller, csrf, id, None).await?;
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ConsentForm {
    form: Uuid,
    purpose: String,
    #[serde(default)]
    listeners: String,
    #[serde(default)]
    medium: String,
    #[serde(default)]
    expires: String,
    /// `decision` when it ends with the credentialing body's decision, `course` with the end
    /// of `course`.
    #[serde(default)]
    ends: String,
    #[serde(default)]
    course: String,
}

/// `POST /practice/clients/{id}/consents`: asks the client for consent; the page then hands
/// over the client's link (to copy, or to send).
pub(crate) async fn request_consent(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(form): Checked<ConsentForm>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let client_id = ClientId::from_uuid(id)?;
    let listeners = form
        .listeners
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(UserId::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let media = if form.medium == "video" {
        [Medium::Audio, Medium::Video].into_iter().collect()
    } else {
        [Medium::Audio].into_iter().collect()
    };
    let expires_at = match form.expires.trim() {
        "" => None,
        day => Some(
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| DomainError::invalid("expires", "a date is written YYYY-MM-DD"))?
                .and_time(NaiveTime::MIN)
                .and_utc(),
        ),
    };
    let (ends_with, course_id) = match form.ends.as_str() {
        "decision" => (Some(ConsentEnd::CredentialDecision), None),
        "course" => (
            Some(ConsentEnd::CourseEnd),
            match form.course.trim() {
                "" => None,
                course => Some(CourseId::from_uuid(Uuid::parse_str(course).map_err(
                    |_| DomainError::invalid("course", "choose one of the courses listed"),
                )?)?),
            },
        ),
        _ => (None, None),
    };
    let expiry = consent_expiry(expires_at, ends_with, course_id)?;
    let terms = vec![PurposeTerms {
        purpose: Purpose::parse(&form.purpose)?,
        audience: Audience::users(listeners),
        media,
        derivatives: Default::default(),
    }];
    state
        .app
        .request_consent(
            &caller,
            ConsentRequested {
                client_id,
                consent_form_id: ConsentFormId::from_uuid(form.form)?,
                form_version: None,
                terms,
                session_on: None,
                course_id,
                expiry,
            },
        )
        .await?;
    let link = confide_api::links::SignedClientLinks::new(state.auth.clone(), &state.public_url)
        .issue(&caller.tenant, client_id, Utc::now())
        .map_err(|_| DomainError::conflict("the client's link could not be made"))?
        .url;
    let page = client_page(&state, &caller, csrf, id, Some(link)).await?;
    Ok(Html(page.render()?).into_response())
}

/// `POST /practice/consents/{id}/credential-decision`: the credentialing body decided; the
/// consent that ends with it ends, and the grants under it are revoked.
pub(crate) async fn credential_decision(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let consent = state
        .app
        .record_credential_decision(&caller, ConsentId::from_uuid(id)?)
        .await?;
    let client = consent
        .core()
        .map(|c| c.client_id)
        .ok_or_else(|| DomainError::not_found("consent"))?;
    Ok(Redirect::to(&format!("/practice/clients/{client}")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct NewRecording {
    session_on: String,
    #[serde(default)]
    medium: String,
}

/// `POST /practice/consents/{id}/recordings`: a recording of a session under the consent.
pub(crate) async fn create_recording(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(form): Checked<NewRecording>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let session_on = NaiveDate::parse_from_str(form.session_on.trim(), "%Y-%m-%d")
        .map_err(|_| DomainError::invalid("session_on", "a date is written YYYY-MM-DD"))?;
    let medium = if form.medium == "video" {
        Medium::Video
    } else {
        Medium::Audio
    };
    let recording = state
        .app
        .create_recording(&caller, ConsentId::from_uuid(id)?, session_on, medium)
        .await?;
    let id = recording
        .core()
        .map(|c| c.id)
        .ok_or_else(|| DomainError::not_found("recording"))?;
    Ok(Redirect::to(&format!("/practice/recordings/{id}")).into_response())
}

// ---------------------------------------------------------------------------------------
// A recording: upload, bookmarks, destruction.

#[derive(Template)]
#[template(path = "practice_recording.html")]
struct RecordingPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    id: String,
    client: String,
    session_on: String,
    status: &'static str,
    awaiting: bool,
    stored: bool,
    audio_only: bool,
    duration: String,
    /// Where the client asked the recording to stop, if they did.
    stop_at: Option<String>,
    bookmarks: Vec<(String, String)>,
    purposes: Vec<(&'static str, &'static str)>,
    granted: bool,
}

async fn recording_page(
    state: &WebState,
    caller: &confide_app::Caller,
    csrf: String,
    id: Uuid,
) -> Result<RecordingPage, PageError> {
    let recording_id = RecordingId::from_uuid(id)?;
    let view = state
        .app
        .recording(caller, recording_id, Purpose::PractitionerReflection)
        .await?
        .ok_or_else(|| DomainError::not_found("recording"))?;
    let recording = view.recording;
    let core = recording
        .core()
        .ok_or_else(|| DomainError::not_found("recording"))?;
    let status = recording.status();
    let stored = status == Some(confide_domain::aggregates::recording::RecordingStatus::Stored);
    let bookmarks = if stored {
        match state
            .app
            .notes(caller, recording_id, Purpose::PractitionerReflection)
            .await
        {
            Ok(notes) => notes
                .bookmarks
                .into_iter()
                .map(|n| (clock(n.offset), n.text))
                .collect(),
            Err(confide_app::AppError::Domain(DomainError::Forbidden { .. })) => Vec::new(),
            Err(other) => return Err(other.into()),
        }
    } else {
        Vec::new()
    };
    Ok(RecordingPage {
        t: T,
        csrf,
        id: id.to_string(),
        client: core.client_id.to_string(),
        session_on: words::day(Lang::En, core.session_on),
        status: words::recording_status(Lang::En, status),
        awaiting: status
            == Some(confide_domain::aggregates::recording::RecordingStatus::AwaitingUpload),
        stored,
        audio_only: core.medium == Medium::Audio,
        duration: recording
            .media()
            .map(|m| clock(m.duration))
            .unwrap_or_default(),
        stop_at: recording.stop_at().map(clock),
        bookmarks,
        purposes: REVIEW_PURPOSES
            .iter()
            .map(|p| (p.as_str(), words::purpose_name(Lang::En, *p)))
            .collect(),
        granted: false,
    })
}

/// `GET /practice/recordings/{id}`.
pub(crate) async fn recording(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let mut page = recording_page(&state, &caller, csrf, id).await?;
    page.granted = query.done.as_deref() == Some("grant");
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct GrantForm {
    user: String,
    purpose: String,
    until: String,
    #[serde(default)]
    external: String,
}

/// `POST /practice/recordings/{id}/grants`: a named person may play the recording for a
/// purpose until a day, within what its consent covers (an external assessor only so).
pub(crate) async fn grant(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(form): Checked<GrantForm>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let recording_id = RecordingId::from_uuid(id)?;
    let person = UserId::parse(form.user.trim())?;
    let grantee = if form.external == "yes" {
        Grantee::ExternalAssessor { user_id: person }
    } else {
        Grantee::Member { user_id: person }
    };
    let until = NaiveDate::parse_from_str(form.until.trim(), "%Y-%m-%d")
        .map_err(|_| DomainError::invalid("until", "a date is written YYYY-MM-DD"))?
        .and_time(NaiveTime::MIN)
        .and_utc()
        + chrono::TimeDelta::days(1);
    let view = state
        .app
        .recording(&caller, recording_id, Purpose::PractitionerReflection)
        .await?
        .ok_or_else(|| DomainError::not_found("recording"))?;
    let consent = view
        .recording
        .core()
        .map(|c| c.consent_id)
        .ok_or_else(|| DomainError::not_found("recording"))?;
    state
        .app
        .grant_access(
            &caller,
            recording_id,
            consent,
            grantee,
            Purpose::parse(&form.purpose)?,
            until,
        )
        .await?;
    Ok(Redirect::to(&format!("/practice/recordings/{id}?done=grant")).into_response())
}

/// `PUT /practice/recordings/{id}/media`: the media as the request's body (from the page's
/// script, with this browser's CSRF token in `X-CSRF-Token`), streamed to the application,
/// which probes, cuts and encrypts it as it arrives. Nothing is kept of an upload cut short:
/// the script sends it again, whole.
pub(crate) async fn upload(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    body: Body,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, CSRF_COOKIE);
    let given = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if expected.is_none() || expected != given {
        return Err(PageError::StaleForm);
    }
    let Some(caller) = caller else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let body = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let stored = state
        .app
        .upload_media(&caller, RecordingId::from_uuid(id)?, body)
        .await?;
    Ok((
        StatusCode::OK,
        format!(
            "Stored: {} bytes, {} long.",
            stored.bytes,
            clock(confide_domain::Offset::from_millis(stored.duration_ms)?)
        ),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct BookmarkForm {
    at: String,
    label: String,
}

#[derive(Deserialize)]
pub(crate) struct StopForm {
    at: String,
}

/// `POST /practice/recordings/{id}/stop`: the client asked, during the session, to stop the
/// recording at a moment; nothing after it is ever stored. The page's recorder sends it, to
/// the millisecond, when its "The client asks to stop" button is pressed; without
/// JavaScript the practitioner types the moment.
pub(crate) async fn stop(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(form): Checked<StopForm>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let offset = typed_moment("at", &form.at)?;
    state
        .app
        .request_stop(&caller, RecordingId::from_uuid(id)?, offset)
        .await?;
    Ok(Redirect::to(&format!("/practice/recordings/{id}")).into_response())
}

/// `POST /practice/recordings/{id}/bookmarks`.
pub(crate) async fn bookmark(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(form): Checked<BookmarkForm>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let offset = typed_moment("at", &form.at)?;
    state
        .app
        .add_bookmark(&caller, RecordingId::from_uuid(id)?, offset, &form.label)
        .await?;
    Ok(Redirect::to(&format!("/practice/recordings/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "practice_destroy.html")]
struct DestroyPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    id: String,
    session_on: String,
    destroyed: bool,
}

/// `GET /practice/recordings/{id}/destroy`: what destroying means, and the button.
pub(crate) async fn confirm_destroy(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let page = recording_page(&state, &caller, csrf, id).await?;
    let page = DestroyPage {
        t: T,
        csrf: page.csrf,
        id: page.id,
        session_on: page.session_on,
        destroyed: false,
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /practice/recordings/{id}/destroy`.
pub(crate) async fn destroy(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    uri: Uri,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(sign_in_first(&uri));
    };
    let recording = state
        .app
        .destroy_recording(&caller, RecordingId::from_uuid(id)?)
        .await?;
    let page = DestroyPage {
        t: T,
        csrf,
        id: id.to_string(),
        session_on: recording
            .core()
            .map(|c| words::day(Lang::En, c.session_on))
            .unwrap_or_default(),
        destroyed: true,
    };
    Ok(Html(page.render()?).into_response())
}
