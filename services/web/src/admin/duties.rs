//! `/admin/duties`: what falls due. The recordings due for destruction soon, soonest first,
//! each with the rule that makes it due; the clients' subject requests, overdue ones first,
//! each decided or its deadline extended here.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use chrono::{TimeDelta, Utc};
use confide_domain::aggregates::recording::DestructionReason;
use confide_domain::aggregates::subject_request::{SubjectRequest, SubjectRequestOutcome};
use confide_domain::{DomainError, SubjectRequestId};
use serde::Deserialize;

use super::{Frame, administrator, back};
use crate::WebState;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;
use crate::words::{Lang, moment, request_kind};

/// How far ahead the page looks unless asked otherwise, and at most.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 3653;

struct DueRow {
    recording: String,
    after: String,
    why: String,
}

fn why(reason: &DestructionReason) -> String {
    match reason {
        DestructionReason::DeletionRequested { .. } => {
            "the client withdrew consent and asked for deletion".to_owned()
        }
        DestructionReason::ConsentExpired { .. } => "its consent expired".to_owned(),
        DestructionReason::CourseEnded { course_id } => {
            format!("course {course_id} ended and its grace has passed")
        }
        DestructionReason::RetentionElapsed => {
            "the organisation's retention period has passed".to_owned()
        }
        DestructionReason::ErasureRequest { .. } => "the client's erasure was granted".to_owned(),
        DestructionReason::Manual => "a practitioner or an administrator asked".to_owned(),
    }
}

struct RequestRow {
    id: String,
    client: String,
    kind: &'static str,
    due: String,
    overdue: bool,
    decided: Option<&'static str>,
}

fn request_row(request: &SubjectRequest, overdue: bool) -> RequestRow {
    RequestRow {
        id: request.id().map(|id| id.to_string()).unwrap_or_default(),
        client: request
            .client_id()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        kind: request
            .kind()
            .map_or("", |kind| request_kind(Lang::En, kind)),
        due: request
            .due_by()
            .map(|at| moment(Lang::En, at))
            .unwrap_or_default(),
        overdue,
        decided: request.outcome().map(|outcome| match outcome {
            SubjectRequestOutcome::Granted => "Granted",
            SubjectRequestOutcome::PartiallyGranted => "Granted in part",
            SubjectRequestOutcome::Refused => "Refused",
        }),
    }
}

#[derive(Template)]
#[template(path = "admin_duties.html")]
struct DutiesPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    days: i64,
    due: Vec<DueRow>,
    requests: Vec<RequestRow>,
    overdue: usize,
}

#[derive(Deserialize)]
pub(crate) struct Ahead {
    days: Option<i64>,
}

/// `GET /admin/duties?days=N`.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(ahead): Query<Ahead>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/duties").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let days = ahead.days.unwrap_or(DEFAULT_DAYS).clamp(1, MAX_DAYS);
    let due = state
        .app
        .upcoming_destructions(&caller.tenant, Utc::now() + TimeDelta::days(days))
        .await?
        .into_iter()
        .map(|(recording, due)| DueRow {
            recording: recording.to_string(),
            after: moment(Lang::En, due.destroy_after),
            why: why(&due.reason),
        })
        .collect();
    let overdue = state.app.overdue_subject_requests(&caller.tenant).await?;
    let overdue_ids: Vec<_> = overdue.iter().filter_map(SubjectRequest::id).collect();
    let mut requests: Vec<RequestRow> = overdue.iter().map(|r| request_row(r, true)).collect();
    requests.extend(
        state
            .app
            .subject_requests(&caller, None)
            .await?
            .iter()
            .filter(|r| r.id().is_none_or(|id| !overdue_ids.contains(&id)))
            .map(|r| request_row(r, false)),
    );
    let page = DutiesPage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin/duties", "Due dates").await?,
        days,
        due,
        overdue: overdue_ids.len(),
        requests,
    };
    Ok(Html(page.render()?).into_response())
}

fn request_id(id: &str) -> Result<SubjectRequestId, DomainError> {
    SubjectRequestId::parse(id).map_err(|_| DomainError::not_found("subject request"))
}

#[derive(Deserialize)]
pub(crate) struct DecideForm {
    outcome: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/requests/{id}/decide`.
pub(crate) async fn decide(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(id): Path<String>,
    Checked(form): Checked<DecideForm>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/duties").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let outcome = match form.outcome.as_str() {
        "granted" => SubjectRequestOutcome::Granted,
        "partially_granted" => SubjectRequestOutcome::PartiallyGranted,
        "refused" => SubjectRequestOutcome::Refused,
        _ => return Err(DomainError::invalid("outcome", "choose a decision").into()),
    };
    let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
    state
        .app
        .decide_subject_request(&caller, request_id(&id)?, outcome, reason)
        .await?;
    Ok(back("/admin/duties"))
}

#[derive(Deserialize)]
pub(crate) struct ExtendForm {
    reason: String,
}

/// `POST /admin/requests/{id}/extend`.
pub(crate) async fn extend(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(id): Path<String>,
    Checked(form): Checked<ExtendForm>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/duties").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    state
        .app
        .extend_subject_request_deadline(&caller, request_id(&id)?, form.reason.trim().to_owned())
        .await?;
    Ok(back("/admin/duties"))
}
