//! The practitioner's pages (`/practice`): their clients (paged, searched by name through the
//! application's blind index, never by names kept in clear), registering a client, a client's
//! consents and their states, asking for consent and handing over the client's link, and
//! creating a recording; the recording's own pages are `recording`'s.

mod recording;

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{NaiveDate, NaiveTime, Utc};
use confide_app::{ClientDetails, ConsentEnd, ConsentRequested, PageRequest, consent_expiry};
use confide_domain::aggregates::consent::{
    Audience, ConsentStatus, Expiry, ExpiryTrigger, PurposeTerms,
};
use confide_domain::{
    ClientId, ConsentFormId, ConsentId, CourseId, DomainError, Medium, Purpose, UserId,
};
use serde::Deserialize;
use uuid::Uuid;

use super::REVIEW_PURPOSES;
use crate::WebState;
use crate::client::Empty;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::SignedIn;
use crate::words::{self, Lang};
use recording::{bookmark, confirm_destroy, destroy, grant, recording, stop, upload};

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
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(query): Query<ClientsQuery>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Checked(form): Checked<RegisterForm>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Checked(form): Checked<ConsentForm>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Checked(form): Checked<NewRecording>,
) -> Result<Response, PageError> {
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
