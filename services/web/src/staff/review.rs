//! The tutor's, reviewer's and assessor's pages (`/review`): the recordings they may play for
//! each purpose (only those), a recording's page with a player that seeks (the media ticket
//! serves ranges), its comments and bookmarks on a timeline, a comment at a moment, and the
//! comments as WebVTT. Every play and every refusal is an event the application records; a
//! refused play is shown with its reasons.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Utc;
use confide_api::tickets;
use confide_app::{Caller, Note, PageRequest};
use confide_domain::{AccessDecision, DomainError, Medium, Purpose, RecordingId};
use serde::Deserialize;
use uuid::Uuid;

use super::{REVIEW_PURPOSES, clock, reasons, typed_moment, vtt_time};
use crate::WebState;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::SignedIn;
use crate::words::{self, Lang};

/// The `/review` routes.
pub(crate) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/review", get(list))
        .route("/review/recordings/{id}", get(recording))
        .route("/review/recordings/{id}/play", post(play))
        .route("/review/recordings/{id}/comments", post(comment))
        .route("/review/recordings/{id}/comments.vtt", get(vtt))
}

#[derive(Deserialize)]
pub(crate) struct PurposeQuery {
    purpose: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

fn purpose_of(typed: Option<&str>) -> Result<Purpose, DomainError> {
    match typed.filter(|p| !p.is_empty()) {
        None => Ok(Purpose::Supervision),
        Some(p) => {
            let purpose = Purpose::parse(p)?;
            if REVIEW_PURPOSES.contains(&purpose) {
                Ok(purpose)
            } else {
                Err(DomainError::invalid(
                    "purpose",
                    "not a purpose to review for",
                ))
            }
        }
    }
}

struct Choice {
    value: &'static str,
    name: &'static str,
    chosen: bool,
}

fn choices(purpose: Purpose) -> Vec<Choice> {
    REVIEW_PURPOSES
        .iter()
        .map(|p| Choice {
            value: p.as_str(),
            name: words::purpose_name(Lang::En, *p),
            chosen: *p == purpose,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "review_list.html")]
struct ListPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    purposes: Vec<Choice>,
    purpose: &'static str,
    purpose_name: &'static str,
    rows: Vec<Row>,
    next: Option<String>,
}

struct Row {
    id: String,
    session_on: String,
    medium: &'static str,
    status: &'static str,
}

/// `GET /review?purpose=…`: the recordings the caller may play for the purpose now.
pub(crate) async fn list(
    State(state): State<Arc<WebState>>,
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(query): Query<PurposeQuery>,
) -> Result<Response, PageError> {
    let purpose = purpose_of(query.purpose.as_deref())?;
    let page = state
        .app
        .recordings_page(
            &caller,
            purpose,
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
        .filter(|(_, view)| view.access.is_allowed())
        .filter_map(|(_, view)| {
            let core = view.recording.core()?;
            Some(Row {
                id: core.id.to_string(),
                session_on: words::day(Lang::En, core.session_on),
                medium: words::medium(Lang::En, core.medium),
                status: words::recording_status(Lang::En, view.recording.status()),
            })
        })
        .collect();
    let page = ListPage {
        t: &crate::texts::EN,
        csrf,
        purposes: choices(purpose),
        purpose: purpose.as_str(),
        purpose_name: words::purpose_name(Lang::En, purpose),
        rows,
        next,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Template)]
#[template(path = "review_recording.html")]
struct RecordingPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    id: String,
    purpose: &'static str,
    purpose_name: &'static str,
    session_on: String,
    duration: String,
    player: Option<String>,
    refused: Vec<String>,
    notes: Vec<Mark>,
    done: bool,
}

struct Mark {
    kind: &'static str,
    seconds: String,
    at: String,
    text: String,
}

fn marks(notes: confide_app::Notes) -> Vec<Mark> {
    let mark = |kind, note: Note| Mark {
        kind,
        seconds: format!("{:.3}", note.offset.as_millis() as f64 / 1000.0),
        at: clock(note.offset),
        text: note.text,
    };
    let mut all: Vec<(u64, Mark)> = notes
        .bookmarks
        .into_iter()
        .map(|n| (n.offset.as_millis(), mark("Bookmark", n)))
        .chain(
            notes
                .comments
                .into_iter()
                .map(|n| (n.offset.as_millis(), mark("Comment", n))),
        )
        .collect();
    all.sort_by_key(|(at, _)| *at);
    all.into_iter().map(|(_, m)| m).collect()
}

async fn recording_page(
    state: &WebState,
    caller: &Caller,
    csrf: String,
    id: Uuid,
    purpose: Purpose,
    decision: Option<AccessDecision>,
) -> Result<RecordingPage, PageError> {
    let recording_id = RecordingId::from_uuid(id)?;
    let (player, refused) = match decision {
        Some(AccessDecision::Allow { .. }) => (
            Some(
                tickets::issue_media(
                    &state.auth,
                    caller,
                    recording_id,
                    purpose,
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
            Vec::new(),
        ),
        Some(AccessDecision::Deny { reasons: r }) => (None, reasons(&r)),
        None => (None, Vec::new()),
    };
    // The notes are read only by someone who may play the recording now.
    let notes = if refused.is_empty() {
        match state.app.notes(caller, recording_id, purpose).await {
            Ok(notes) => marks(notes),
            Err(confide_app::AppError::Domain(DomainError::Forbidden { .. })) => Vec::new(),
            Err(other) => return Err(other.into()),
        }
    } else {
        Vec::new()
    };
    let view = state
        .app
        .recording(caller, recording_id, purpose)
        .await?
        .ok_or_else(|| DomainError::not_found("recording"))?;
    let core = view
        .recording
        .core()
        .ok_or_else(|| DomainError::not_found("recording"))?;
    let duration = view
        .recording
        .media()
        .map(|m| clock(m.duration))
        .unwrap_or_default();
    Ok(RecordingPage {
        t: &crate::texts::EN,
        csrf,
        id: id.to_string(),
        purpose: purpose.as_str(),
        purpose_name: words::purpose_name(Lang::En, purpose),
        session_on: words::day(Lang::En, core.session_on),
        duration,
        player,
        refused,
        notes,
        done: false,
    })
}

/// `GET /review/recordings/{id}?purpose=…`: the recording, a Play button, its notes.
pub(crate) async fn recording(
    State(state): State<Arc<WebState>>,
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Query(query): Query<PurposeQuery>,
) -> Result<Response, PageError> {
    let purpose = purpose_of(query.purpose.as_deref())?;
    let mut page = recording_page(&state, &caller, csrf, id, purpose, None).await?;
    page.done = query.done.as_deref() == Some("comment");
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PlayForm {
    purpose: String,
}

/// `POST /review/recordings/{id}/play`: the application decides and records the play (or
/// its refusal); the player, or the reasons.
pub(crate) async fn play(
    State(state): State<Arc<WebState>>,
    SignedIn(caller): SignedIn,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Checked(form): Checked<PlayForm>,
) -> Result<Response, PageError> {
    let purpose = purpose_of(Some(&form.purpose))?;
    let playback = state
        .app
        .start_playback(&caller, RecordingId::from_uuid(id)?, purpose, Medium::Audio)
        .await?;
    let allowed = playback.decision.is_allowed();
    let page = recording_page(&state, &caller, csrf, id, purpose, Some(playback.decision)).await?;
    let status = if allowed {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CommentForm {
    purpose: String,
    at: String,
    body: String,
}

/// `POST /review/recordings/{id}/comments`: a comment at a moment (`m:ss`).
pub(crate) async fn comment(
    State(state): State<Arc<WebState>>,
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Checked(form): Checked<CommentForm>,
) -> Result<Response, PageError> {
    let purpose = purpose_of(Some(&form.purpose))?;
    let offset = typed_moment("at", &form.at)?;
    state
        .app
        .add_comment(
            &caller,
            RecordingId::from_uuid(id)?,
            purpose,
            offset,
            &form.body,
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/review/recordings/{id}?purpose={}&done=comment",
        purpose.as_str()
    ))
    .into_response())
}

/// `GET /review/recordings/{id}/comments.vtt?purpose=…`: the comments as WebVTT cues, for a
/// feedback session.
pub(crate) async fn vtt(
    State(state): State<Arc<WebState>>,
    SignedIn(caller): SignedIn,
    Path(id): Path<Uuid>,
    Query(query): Query<PurposeQuery>,
) -> Result<Response, PageError> {
    let purpose = purpose_of(query.purpose.as_deref())?;
    let notes = state
        .app
        .notes(&caller, RecordingId::from_uuid(id)?, purpose)
        .await?;
    let mut text = String::from("WEBVTT\n");
    for (n, note) in notes.comments.iter().enumerate() {
        let from = note.offset.as_millis();
        // A cue cannot hold a blank line or "-->": both would end or break it.
        let body = note
            .text
            .replace("-->", "→")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        text.push_str(&format!(
            "\n{}\n{} --> {}\n{}\n",
            n + 1,
            vtt_time(from),
            vtt_time(from + 5000),
            body
        ));
    }
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/vtt; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"comments-{id}.vtt\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
