//! A recording on the practitioner's pages (`/practice/recordings/{id}`): storing its media
//! (uploaded, or recorded in the browser), the client's stop, bookmarks, grants to named
//! people, and destroying it after a page that says what cannot be undone.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{NaiveDate, NaiveTime};
use confide_domain::aggregates::grant::Grantee;
use confide_domain::{DomainError, Medium, Purpose, RecordingId, UserId};
use futures_util::TryStreamExt;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::client::Empty;
use crate::error::PageError;
use crate::security::{CSRF_COOKIE, Checked, CsrfToken, cookie};
use crate::session::{SignedIn, StaffCaller};
use crate::staff::{REVIEW_PURPOSES, clock, typed_moment};
use crate::words::{self, Lang};

use super::T;

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
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Checked(form): Checked<GrantForm>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Checked(form): Checked<StopForm>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Checked(form): Checked<BookmarkForm>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
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
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
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
