//! The auditor's page: sign in with a token (which begins a session kept on the server), ask for an export
//! of the log (whole, or chosen clients, recordings, consents and dates, with the checkpoint
//! of the last audit), download the bundle, and drop it on the page to verify it there with
//! the in-browser verifier. An `auditor` or an `org_admin` may; anyone else is told so, and
//! the refusal is the application's, as through the API.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use confide_api::tickets;
use confide_app::Caller;
use confide_domain::aggregates::tenant::AuditScope;
use confide_domain::{Actor, DomainError};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::client::Empty;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;

#[derive(Template)]
#[template(path = "auditor.html")]
struct AuditorPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    signed_in: bool,
    organisation: String,
    refused: Option<String>,
    problem: Option<String>,
    export: Option<ExportReady>,
    checkpoint_key: String,
}

struct ExportReady {
    url: String,
    expires: String,
    covers: String,
}

impl AuditorPage {
    fn signed_out(csrf: String, problem: Option<String>) -> Self {
        Self {
            t: &crate::texts::EN,
            csrf,
            signed_in: false,
            organisation: String::new(),
            refused: None,
            problem,
            export: None,
            checkpoint_key: String::new(),
        }
    }
}

/// `GET /audit`: the sign-in form, or the console.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(Html(AuditorPage::signed_out(csrf, None).render()?).into_response());
    };
    let page = console(&state, &caller, csrf, None).await?;
    let status = if page.refused.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    Ok((status, Html(page.render()?)).into_response())
}

async fn console(
    state: &WebState,
    caller: &Caller,
    csrf: String,
    export: Option<ExportReady>,
) -> Result<AuditorPage, PageError> {
    let app = &state.app;
    let refused = match app.may_read_log(caller).await {
        Ok(()) => None,
        Err(confide_app::AppError::Domain(error @ DomainError::Forbidden { .. })) => {
            Some(sentence(&error))
        }
        Err(other) => return Err(other.into()),
    };
    let organisation = match app.organisation_name(caller).await {
        Ok(name) => name,
        Err(confide_app::AppError::Domain(DomainError::Forbidden { .. })) => String::new(),
        Err(other) => return Err(other.into()),
    };
    Ok(AuditorPage {
        t: &crate::texts::EN,
        csrf,
        signed_in: true,
        organisation,
        refused,
        problem: None,
        export,
        checkpoint_key: app.checkpoint_key(),
    })
}

fn sentence(error: &DomainError) -> String {
    match error {
        DomainError::Forbidden { rule, .. } => {
            format!(
                "{}. Ask the organisation's administrator for the auditor role.",
                crate::words::capitalised(rule)
            )
        }
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    token: String,
}

/// `POST /audit/sign-in`: a bearer token of the organisation's identity provider (or one
/// `confide token` made), kept in an HttpOnly cookie for this browser's session.
pub(crate) async fn sign_in(
    State(state): State<Arc<WebState>>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Checked(form): Checked<SignInForm>,
) -> Result<Response, PageError> {
    let token = form.token.trim();
    match state.auth.verify(token).await {
        Ok(Caller {
            tenant,
            actor: Actor::User { user_id },
        }) => {
            let mut response = Redirect::to("/audit").into_response();
            crate::session::begin(&state, response.headers_mut(), &tenant, &user_id).await?;
            Ok(response)
        }
        verified => {
            let problem = match verified {
                Ok(_) => "A client's link cannot sign in here.".to_owned(),
                Err(error) => format!("The token was not accepted: {error}."),
            };
            let page = AuditorPage::signed_out(csrf, Some(problem));
            Ok((StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response())
        }
    }
}

/// `POST /audit/sign-out`: ends the session.
pub(crate) async fn sign_out(
    State(state): State<Arc<WebState>>,
    request: axum::http::HeaderMap,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
    let mut response = Redirect::to("/audit").into_response();
    crate::session::end(&state, &request, response.headers_mut()).await?;
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct ExportForm {
    #[serde(default)]
    clients: String,
    #[serde(default)]
    recordings: String,
    #[serde(default)]
    consents: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    previous: String,
}

/// `POST /audit/exports`: records the export (an event of the log) and offers its bundle.
pub(crate) async fn export(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Checked(form): Checked<ExportForm>,
) -> Result<Response, PageError> {
    let Some(caller) = caller else {
        return Ok(Redirect::to("/audit").into_response());
    };
    let scope = AuditScope::new(
        day("from", &form.from, NaiveTime::MIN)?,
        day("until", &form.until, NaiveTime::MIN)?.map(|d| d + chrono::TimeDelta::days(1)),
        &ids("clients", &form.clients)?,
        &ids("recordings", &form.recordings)?,
        &ids("consents", &form.consents)?,
    )?;
    let previous = Some(form.previous.trim().replace("\r\n", "\n"))
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.ends_with('\n') {
                p
            } else {
                format!("{p}\n")
            }
        });
    let export_id = state
        .app
        .record_audit_export(&caller, scope.clone(), previous.as_deref())
        .await?;
    let covers = describe(&form);
    let (url, expires) =
        tickets::issue_export(&state.auth, &caller, export_id, scope, previous, Utc::now())
            .map_err(|_| {
                PageError::App(confide_app::AppError::Domain(DomainError::conflict(
                    "the download could not be prepared",
                )))
            })?;
    let ready = ExportReady {
        url,
        expires: crate::words::moment(crate::words::Lang::En, expires),
        covers,
    };
    let page = console(&state, &caller, csrf, Some(ready)).await?;
    Ok(Html(page.render()?).into_response())
}

/// A date field (`YYYY-MM-DD`) as the moment `time` of that day, UTC.
fn day(
    field: &'static str,
    value: &str,
    time: NaiveTime,
) -> Result<Option<DateTime<Utc>>, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|date| Some(date.and_time(time).and_utc()))
        .map_err(|_| DomainError::invalid(field, "a date is written YYYY-MM-DD"))
}

/// Ids separated by spaces, commas or new lines.
fn ids(field: &'static str, value: &str) -> Result<Vec<Uuid>, DomainError> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            Uuid::parse_str(s)
                .map_err(|_| DomainError::invalid(field, format!("“{s}” is not an id")))
        })
        .collect()
}

fn describe(form: &ExportForm) -> String {
    let mut parts = Vec::new();
    for (name, value) in [
        ("clients", &form.clients),
        ("recordings", &form.recordings),
        ("consents", &form.consents),
    ] {
        let count = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .count();
        if count > 0 {
            parts.push(format!("{count} {name}"));
        }
    }
    if !form.from.trim().is_empty() || !form.until.trim().is_empty() {
        parts.push(format!(
            "events from {} until {}",
            if form.from.trim().is_empty() {
                "the start"
            } else {
                form.from.trim()
            },
            if form.until.trim().is_empty() {
                "now"
            } else {
                form.until.trim()
            }
        ));
    }
    if parts.is_empty() {
        "the whole log".to_owned()
    } else {
        parts.join(", ")
    }
}
