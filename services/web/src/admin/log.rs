//! `/admin/access-log`: every playback allowed and refused across the organisation (who, which
//! recording, when, for what, the outcome and the reasons), paged with cursors on the server,
//! filtered by person, recording, outcome and dates; `/admin/access-log.csv` streams the same
//! rows, all of them, as a CSV file.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use chrono::{NaiveDate, NaiveTime, TimeDelta};
use confide_app::{AccessAttempt, AccessLogFilter, AccessOutcome, App, Caller, PageRequest};
use confide_domain::{DomainError, RecordingId, Viewer};
use serde::Deserialize;

use super::csv::line;
use super::{Frame, administrator};
use crate::WebState;
use crate::error::PageError;
use crate::security::CsrfToken;
use crate::session::StaffCaller;
use crate::words::{Lang, medium, moment, purpose_name};

/// Rows on one page of the log.
const PAGE_ROWS: usize = 50;

/// The filter and the cursor, as the page's form and links send them.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    person: String,
    #[serde(default)]
    recording: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    after: String,
}

impl LogQuery {
    fn filter(&self) -> Result<AccessLogFilter, DomainError> {
        let day = |field: &'static str, value: &str| -> Result<Option<NaiveDate>, DomainError> {
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| DomainError::invalid(field, "a date is written YYYY-MM-DD"))
        };
        let recording = Some(self.recording.trim())
            .filter(|r| !r.is_empty())
            .map(|r| {
                RecordingId::parse(r)
                    .map_err(|_| DomainError::invalid("recording", "that is not a recording's id"))
            })
            .transpose()?;
        let outcome = match self.outcome.as_str() {
            "" => None,
            "allowed" => Some(AccessOutcome::Allowed),
            "refused" => Some(AccessOutcome::Refused),
            _ => {
                return Err(DomainError::invalid(
                    "outcome",
                    "allowed, refused, or either",
                ));
            }
        };
        Ok(AccessLogFilter {
            person: Some(self.person.trim().to_owned()).filter(|p| !p.is_empty()),
            recording,
            outcome,
            from: day("from", &self.from)?.map(|d| d.and_time(NaiveTime::MIN).and_utc()),
            until: day("until", &self.until)?
                .map(|d| (d + TimeDelta::days(1)).and_time(NaiveTime::MIN).and_utc()),
        })
    }

    /// The query string of this filter, after `cursor` when given.
    fn with_after(&self, cursor: Option<&str>) -> String {
        serde_urlencoded::to_string([
            ("person", self.person.as_str()),
            ("recording", self.recording.as_str()),
            ("outcome", self.outcome.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("after", cursor.unwrap_or("")),
        ])
        .unwrap_or_default()
    }
}

/// One attempt in words.
struct AttemptRow {
    sequence: u64,
    when: String,
    who: String,
    as_whom: &'static str,
    recording: String,
    purpose: &'static str,
    medium: &'static str,
    refused: bool,
    reasons: Vec<String>,
}

fn row(attempt: &AccessAttempt) -> AttemptRow {
    AttemptRow {
        sequence: attempt.sequence,
        when: moment(Lang::En, attempt.at),
        who: attempt.person(),
        as_whom: match attempt.viewer {
            Viewer::Member { .. } => "member",
            Viewer::ExternalAssessor { .. } => "external assessor",
            Viewer::Client { .. } => "client",
        },
        recording: attempt.recording_id.to_string(),
        purpose: purpose_name(Lang::En, attempt.purpose),
        medium: medium(Lang::En, attempt.medium),
        refused: attempt.outcome == AccessOutcome::Refused,
        reasons: attempt.reasons.iter().map(ToString::to_string).collect(),
    }
}

#[derive(Template)]
#[template(path = "admin_log.html")]
struct LogPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    query: LogQuery,
    rows: Vec<AttemptRow>,
    later: bool,
    next: Option<String>,
    first: String,
    csv: String,
}

/// `GET /admin/access-log`: one page of the log.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(query): Query<LogQuery>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/access-log").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let filter = query.filter()?;
    let after = Some(query.after.trim().to_owned()).filter(|a| !a.is_empty());
    let later = after.is_some();
    let request = PageRequest::new(PAGE_ROWS, after, PAGE_ROWS)?;
    let page = state
        .app
        .access_log_page(&caller, &filter, &request)
        .await?;
    let next = page
        .has_next_page
        .then(|| page.rows.last().map(|(cursor, _)| cursor.as_str()))
        .flatten()
        .map(|cursor| format!("/admin/access-log?{}", query.with_after(Some(cursor))));
    let rows = page.rows.iter().map(|(_, attempt)| row(attempt)).collect();
    let first = format!("/admin/access-log?{}", query.with_after(None));
    let csv = format!("/admin/access-log.csv?{}", query.with_after(None));
    let page = LogPage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin/access-log", "Access log").await?,
        query,
        rows,
        later,
        next,
        first,
        csv,
    };
    Ok(Html(page.render()?).into_response())
}

const CSV_HEADER: [&str; 9] = [
    "when (UTC)",
    "sequence",
    "person",
    "as",
    "recording",
    "purpose",
    "medium",
    "outcome",
    "reasons",
];

fn csv_line(attempt: &AccessAttempt) -> String {
    let row = row(attempt);
    line(&[
        attempt
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        row.sequence.to_string(),
        row.who,
        row.as_whom.to_owned(),
        row.recording,
        attempt.purpose.as_str().to_owned(),
        attempt.medium.as_str().to_owned(),
        if row.refused { "refused" } else { "allowed" }.to_owned(),
        row.reasons.join("; "),
    ])
}

/// Where the download has got to.
enum Reading {
    Header,
    After(Option<String>),
    Done,
}

/// The next chunk of the CSV: the header, then a page of rows at a time.
async fn next_chunk(
    app: &App,
    caller: &Caller,
    filter: &AccessLogFilter,
    reading: Reading,
) -> Option<(Result<Bytes, std::io::Error>, Reading)> {
    match reading {
        Reading::Done => None,
        Reading::Header => Some((Ok(Bytes::from(line(&CSV_HEADER))), Reading::After(None))),
        Reading::After(after) => {
            let page = PageRequest::new(confide_app::MAX_PAGE, after, confide_app::MAX_PAGE)
                .map_err(confide_app::AppError::from);
            let page = match page {
                Ok(page) => app.access_log_page(caller, filter, &page).await,
                Err(error) => Err(error),
            };
            match page {
                Ok(page) => {
                    let chunk: String = page.rows.iter().map(|(_, a)| csv_line(a)).collect();
                    let next = match page.rows.last() {
                        Some((cursor, _)) if page.has_next_page => {
                            Reading::After(Some(cursor.clone()))
                        }
                        _ => Reading::Done,
                    };
                    Some((Ok(Bytes::from(chunk)), next))
                }
                Err(error) => {
                    // The download stops short rather than end as if it were whole.
                    tracing::error!(%error, "the access log's CSV could not be read");
                    Some((
                        Err(std::io::Error::other("the access log could not be read")),
                        Reading::Done,
                    ))
                }
            }
        }
    }
}

/// `GET /admin/access-log.csv`: every row the filter matches, streamed a page at a time.
pub(crate) async fn download(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Query(query): Query<LogQuery>,
) -> Result<Response, PageError> {
    // Refused here, before the first byte, rather than half way through the file.
    let caller = match administrator(&state, caller, "/admin/access-log").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let filter = query.filter()?;
    let app = state.app.clone();
    let stream = futures_util::stream::unfold(Reading::Header, move |reading| {
        let (app, caller, filter) = (app.clone(), caller.clone(), filter.clone());
        async move { next_chunk(&app, &caller, &filter, reading).await }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"access-log.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
