//! One recording: who accessed it, and the client's own copy.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use confide_api::tickets;
use confide_app::{Caller, PageRequest};
use confide_domain::{AccessDecision, DomainError, Medium, Purpose, RecordingId};
use serde::Deserialize;
use uuid::Uuid;

use super::{ClientCaller, Empty, recording_line};
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::texts::Texts;
use crate::words::Lang;
use crate::{WebState, words};

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
