//! Media over HTTP, outside GraphQL: `PUT /v1/recordings/{id}/media` streams an upload to
//! the application (which probes, encrypts and stores it), and `GET /v1/media/{ticket}`
//! streams it back decrypted, with HTTP Range, to whoever `startPlayback` gave a ticket.
//! Every range request decides access again (in the application): a withdrawal committed
//! after the ticket was issued stops the next request, and that refusal is recorded; a long
//! response is decided again as it streams, and ends short when access ends. The media's
//! SHA-256 is its strong entity tag, which `If-Range` is compared with.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confide_domain::{DomainError, RecordingId};
use futures_util::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::TicketKind;
use crate::caller::Bearer;
use crate::error::{ApiError, Code, Result};
use crate::tickets::{self, Ticket};

/// `PUT /v1/recordings/{id}/media`.
pub(crate) async fn upload(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Bearer(caller): Bearer,
    body: Body,
) -> Result<Response> {
    let recording_id = Uuid::parse_str(&id)
        .map_err(|_| DomainError::invalid("id", "not a UUID"))
        .and_then(RecordingId::from_uuid)?;
    let body = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let stored = state.app.upload_media(&caller, recording_id, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "recordingId": stored.recording_id.as_uuid(),
            "bytes": stored.bytes,
            "sha256": stored.sha256.to_string(),
            "durationMs": stored.duration_ms,
            "codec": stored.codec,
            "contentType": stored.content_type,
        })),
    )
        .into_response())
}

/// `GET /v1/media/{ticket}`.
pub(crate) async fn play(
    State(state): State<Arc<ApiState>>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (ticket, caller) = tickets::verify::<Ticket>(&state.auth, TicketKind::Media, &ticket)?;
    let recording_id = RecordingId::from_uuid(ticket.recording)?;
    let media = state
        .app
        .open_media(&caller, recording_id, ticket.purpose, ticket.medium)
        .await?;
    let total = media.bytes;
    let etag = format!("\"{}\"", media.sha256);
    // RFC 9110 section 13.1.5: a Range under an If-Range that does not match is ignored, and
    // the whole representation sent.
    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|validator| if_range_matches(validator.as_bytes(), &etag));
    let range = match headers
        .get(header::RANGE)
        .filter(|_| range_applies)
        .map(|v| parse_range(v.as_bytes(), total))
    {
        None | Some(Range::Ignored) => None,
        Some(Range::Satisfiable(start, end)) => Some((start, end)),
        Some(Range::Unsatisfiable) => {
            let mut response = ApiError::new(
                Code::BadUserInput,
                format!("the media is {total} bytes long"),
            )
            .into_response();
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{total}"))?,
            );
            return Ok(response);
        }
    };
    let (start, end) = range.unwrap_or((0, total));
    if start == end {
        // An empty body: nothing to decrypt.
        return Ok(StatusCode::OK.into_response());
    }
    let plaintext = state.app.read_media(&media, start..end).await?;
    let mut response = Response::new(Body::from_stream(plaintext));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header_value(media.content_type.clone())?,
    );
    headers.insert(
        header::CONTENT_LENGTH,
        header_value((end - start).to_string())?,
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, header_value(etag)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if range.is_some() {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(format!("bytes {start}-{}/{total}", end - 1))?,
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

fn header_value(value: String) -> Result<HeaderValue> {
    HeaderValue::from_str(&value).map_err(|e| ApiError::internal(&e))
}

/// Whether an `If-Range` validator matches the representation whose entity tag is `etag`
/// (RFC 9110 section 13.1.5). An entity tag matches by strong comparison only: a weak tag never
/// matches. A date would match only the `Last-Modified` of a strong validator; none is sent
/// (the entity tag is the validator), so a date never matches.
fn if_range_matches(validator: &[u8], etag: &str) -> bool {
    validator.trim_ascii() == etag.as_bytes()
}

/// A `Range` header against a body of `total` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// `start..end`, end exclusive.
    Satisfiable(u64, u64),
    Unsatisfiable,
    /// Not a single byte range: the whole body is sent (RFC 9110 lets a server ignore it).
    Ignored,
}

fn parse_range(value: &[u8], total: u64) -> Range {
    let Some(spec) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Range::Ignored;
    };
    if spec.contains(',') {
        return Range::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Ignored;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if total > 0 => Range::Satisfiable(total.saturating_sub(n), total),
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignored,
        },
        (first, "") => match number(first) {
            Some(start) if start < total => Range::Satisfiable(start, total),
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignored,
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(last)) if start <= last && start < total => {
                Range::Satisfiable(start, last.min(total - 1) + 1)
            }
            (Some(start), Some(last)) if start <= last => Range::Unsatisfiable,
            _ => Range::Ignored,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_range_matches_only_the_same_strong_entity_tag() {
        let etag = "\"ab12\"";
        assert!(if_range_matches(b"\"ab12\"", etag));
        assert!(if_range_matches(b" \"ab12\" ", etag));
        assert!(!if_range_matches(b"W/\"ab12\"", etag));
        assert!(!if_range_matches(b"\"ab13\"", etag));
        assert!(!if_range_matches(b"ab12", etag));
        assert!(!if_range_matches(b"Fri, 04 Dec 2026 08:00:00 GMT", etag));
        assert!(!if_range_matches(b"", etag));
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let r = |v: &str| parse_range(v.as_bytes(), 1000);
        assert_eq!(r("bytes=0-499"), Range::Satisfiable(0, 500));
        assert_eq!(r("bytes=500-"), Range::Satisfiable(500, 1000));
        assert_eq!(r("bytes=-200"), Range::Satisfiable(800, 1000));
        assert_eq!(r("bytes=-2000"), Range::Satisfiable(0, 1000));
        assert_eq!(r("bytes=900-5000"), Range::Satisfiable(900, 1000));
        assert_eq!(r("bytes=999-999"), Range::Satisfiable(999, 1000));
        assert_eq!(r("bytes=1000-"), Range::Unsatisfiable);
        assert_eq!(r("bytes=1000-1001"), Range::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Range::Unsatisfiable);
        assert_eq!(r("bytes=5-4"), Range::Ignored);
        assert_eq!(r("bytes=0-1,5-6"), Range::Ignored);
        assert_eq!(r("items=0-1"), Range::Ignored);
        assert_eq!(r("bytes=a-b"), Range::Ignored);
        assert_eq!(parse_range(b"bytes=0-", 0), Range::Unsatisfiable);
    }
}
