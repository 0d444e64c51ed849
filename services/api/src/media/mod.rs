//! Media over HTTP, outside GraphQL: `PUT /v1/recordings/{id}/media` streams an upload
//! through probing and encryption into the blob store, and `GET /v1/media/{ticket}` streams
//! it back decrypted, with HTTP Range, to whoever `startPlayback` gave a ticket.
//!
//! An upload is checked against the domain before a byte is stored (its practitioner, a
//! recording awaiting its media, a consent that still covers it), then again when it is
//! recorded, conditioned on the consent: a withdrawal committed during the upload refuses it.
//! Whatever goes wrong — an interrupted or truncated body, content that is not audio, video
//! where only audio is allowed, a refusal — the object is gone and the recording still awaits
//! its media, so the upload can simply be sent again.
//!
//! Every range request of a playback decides access again: a withdrawal committed after the
//! ticket was issued stops the next request, and that refusal is recorded.

pub(crate) mod probe;
pub(crate) mod wav;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use confide_app::{AppError, Loaded, media_key_id, stream_of};
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::recording::{Recording, RecordingCommand, StoredMedia};
use confide_domain::{Actor, DomainError, Medium, Offset, Purpose, RecordingId, Sha256};
use confide_vault::{
    BlobError, BlobKey, BlobStore, KeyError, MediaKey, decrypt_range, encrypt_stream,
};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::{AuthError, Principal, TicketKind};
use probe::{Container, Probed, SNIFF_BYTES, Sniffed};

/// How long a playback ticket lets its holder fetch ranges.
pub const TICKET_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// What a playback ticket says: who may fetch which recording, why and until when. Signed by
/// the server's own key for an audience of its own, so it is never taken for a bearer token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ticket {
    pub tenant: String,
    pub viewer: Actor,
    pub recording: Uuid,
    pub purpose: Purpose,
    pub medium: Medium,
    pub iat: i64,
    pub exp: i64,
}

/// An error as the media and export routes answer it: a status and a JSON body with a code
/// from the API's vocabulary and a message safe to show.
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A ticket that is forged, altered, expired or of another kind.
    pub(crate) fn bad_ticket(error: AuthError) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("the ticket is not valid: {error}"),
        )
    }

    fn internal(what: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            format!("{what}; try again"),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Domain(error) => {
                let status = match &error {
                    DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
                    DomainError::Conflict { .. } => StatusCode::CONFLICT,
                    DomainError::Forbidden { .. } | DomainError::ConsentRequired { .. } => {
                        StatusCode::FORBIDDEN
                    }
                    DomainError::Invalid { .. } => StatusCode::BAD_REQUEST,
                };
                Self::new(status, error.code(), error.to_string())
            }
            AppError::Contention { .. } => Self::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                "the recording kept changing; try again",
            ),
            other => Self::internal("the store failed", other),
        }
    }
}

fn unauthorized(error: AuthError) -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        error.to_string(),
    )
}

/// The caller of a request, from its bearer token.
async fn authenticate(state: &ApiState, headers: &HeaderMap) -> Result<Principal, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)
        .and_then(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(AuthError::Malformed)
        })
        .map_err(unauthorized)?;
    let principal = state
        .services
        .auth
        .verify(token.trim())
        .await
        .map_err(unauthorized)?;
    crate::graphql::record_tenant(&principal);
    Ok(principal)
}

/// What binds a recording's ciphertext to it: an object copied to another recording or
/// tenant does not decrypt.
fn associated_data(tenant: &str, recording: RecordingId) -> Vec<u8> {
    format!("confide media v1\0{tenant}\0{recording}").into_bytes()
}

/// What the upload's bytes turned out to be, gathered as they stream past.
#[derive(Default)]
struct Tally {
    sha256: sha2::Sha256,
    bytes: u64,
    head: Vec<u8>,
    /// The body failed (interrupted, truncated): the store's error is the client's fault.
    body_failed: Option<String>,
}

/// `PUT /v1/recordings/{id}/media`.
pub(crate) async fn upload(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match store_upload(&state, &id, &headers, body).await {
        Ok(answer) => (StatusCode::CREATED, Json(answer)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn store_upload(
    state: &ApiState,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, Refusal> {
    let principal = authenticate(state, headers).await?;
    let services = &state.services;
    let app = &services.app;
    let tenant = &principal.tenant;
    let recording_id = Uuid::parse_str(id)
        .map_err(|_| DomainError::invalid("id", "not a UUID"))
        .and_then(RecordingId::from_uuid)
        .map_err(|e| Refusal::from(AppError::Domain(e)))?;
    let recording_stream = stream_of("recording", recording_id).map_err(AppError::Store)?;
    let recording: Loaded<Recording> = app.load(tenant, &recording_stream).await?;
    let core = recording
        .state
        .core()
        .cloned()
        .ok_or_else(|| AppError::Domain(DomainError::not_found("recording")))?;
    let consent: Loaded<Consent> = app
        .load(
            tenant,
            &stream_of("consent", core.consent_id).map_err(AppError::Store)?,
        )
        .await?;
    let key_id = media_key_id(recording_id).map_err(AppError::Domain)?;
    let object_key = format!("{tenant}/recordings/{recording_id}/{}", Uuid::now_v7());
    let object = BlobKey::parse(&object_key).map_err(|e| Refusal::internal("an object key", e))?;
    // Decided before a byte is stored: the media stands in for what probing will find.
    let provisional = StoredMedia {
        sha256: Sha256::of(b""),
        bytes: 1,
        duration: Offset::from_millis(0).map_err(AppError::Domain)?,
        data_key_id: key_id.clone(),
        codec: "pending".to_owned(),
        content_type: "application/octet-stream".to_owned(),
        object_key: object_key.clone(),
    };
    app.check(
        tenant,
        &principal.actor,
        &recording.state,
        RecordingCommand::StoreMedia {
            media: provisional,
            consent: Box::new(consent.state),
        },
    )
    .await?;

    let keys = &services.keys;
    match keys.create_key(tenant, &key_id).await {
        // An earlier attempt that did not finish made it already.
        Ok(()) | Err(KeyError::Exists { .. }) => {}
        Err(error) => return Err(Refusal::internal("the key store failed", error)),
    }
    let media_key = keys
        .media_key(tenant, &key_id)
        .await
        .map_err(|e| Refusal::internal("the key store failed", e))?;

    let stop_ms = recording.state.stop_at().map(Offset::as_millis);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (probe_tx, probe_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let prober = tokio::task::spawn_blocking(move || probe::probe(ChannelReader::new(probe_rx)));
    let plaintext = tap(body, stop_ms, tally.clone(), probe_tx);
    let ciphertext = encrypt_stream(
        &media_key,
        &associated_data(tenant.as_str(), recording_id),
        plaintext,
    );
    let stored = services.blobs.put(&object, Box::pin(ciphertext)).await;
    let probed = prober
        .await
        .map_err(|e| Refusal::internal("probing the upload failed", e))?;
    let (sha256, bytes, sniffed, body_failed) = {
        let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
        let digest: [u8; 32] = std::mem::take(&mut tally.sha256).finalize().into();
        (
            Sha256::from_bytes(digest),
            tally.bytes,
            probe::sniff(&tally.head),
            tally.body_failed.take(),
        )
    };
    if let Err(error) = stored {
        // `put` left nothing behind.
        return Err(match (body_failed, probed) {
            (Some(reason), _) => Refusal::new(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                format!(
                    "the upload did not arrive whole ({reason}); nothing was kept, send it again"
                ),
            ),
            (None, Err(rejected)) => unsupported(&rejected.to_string()),
            (None, Ok(_)) => match error {
                BlobError::Body(reason) => Refusal::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA",
                    format!("{reason}; nothing was kept"),
                ),
                other => Refusal::internal("the blob store failed", other),
            },
        });
    }
    let outcome = accept(&core, &state.services, tenant, sniffed, probed, bytes).await;
    let (probed, content_type) = match outcome {
        Ok(found) => found,
        Err(refusal) => {
            discard(services.blobs.as_ref(), &object).await;
            return Err(refusal);
        }
    };
    let media = StoredMedia {
        sha256,
        bytes,
        duration: Offset::from_millis(probed.duration_ms).map_err(AppError::Domain)?,
        data_key_id: key_id,
        codec: probed.codec.clone(),
        content_type: content_type.to_owned(),
        object_key: object_key.clone(),
    };
    if let Err(error) = app
        .store_media(tenant, &principal.actor, recording_id, media)
        .await
    {
        discard(services.blobs.as_ref(), &object).await;
        return Err(error.into());
    }
    Ok(json!({
        "recordingId": recording_id.as_uuid(),
        "bytes": bytes,
        "sha256": sha256.to_string(),
        "durationMs": probed.duration_ms,
        "codec": probed.codec,
        "contentType": content_type,
    }))
}

/// Whether what the upload turned out to be may be kept for this recording.
async fn accept(
    core: &confide_domain::aggregates::recording::RecordingCore,
    services: &crate::Services,
    tenant: &confide_domain::TenantId,
    sniffed: Sniffed,
    probed: Result<Probed, probe::ProbeError>,
    bytes: u64,
) -> Result<(Probed, &'static str), Refusal> {
    if bytes == 0 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "the upload is empty",
        ));
    }
    if sniffed.video {
        let organisation: Loaded<confide_domain::aggregates::tenant::Tenant> = services
            .app
            .load(tenant, &confide_app::tenant_stream())
            .await?;
        let policy_allows = organisation
            .state
            .policy()
            .is_some_and(|p| p.policy.allowed_media.allows(Medium::Video));
        if !policy_allows || core.medium != Medium::Video {
            return Err(unsupported(if policy_allows {
                "the content is video, and this recording is audio"
            } else {
                "the content is video, and this organisation's policy allows audio only"
            }));
        }
    }
    if sniffed.container == Container::VideoOnly {
        return Err(unsupported(
            "the container is not one Confide can read (WAV, MP3, FLAC, Ogg, MP4/M4A, WebM/Matroska)",
        ));
    }
    let probed = probed.map_err(|e| unsupported(&e.to_string()))?;
    Ok((probed, sniffed.content_type()))
}

fn unsupported(reason: &str) -> Refusal {
    Refusal::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA",
        format!("{reason}; nothing was kept"),
    )
}

/// Deletes an object an upload stored but may not keep. A failure leaves an unreferenced
/// ciphertext under a key that will be destroyed with the recording; it is logged.
async fn discard(blobs: &dyn BlobStore, object: &BlobKey) {
    if let Err(error) = blobs.delete(object).await {
        tracing::error!(%error, "an upload refused after storing could not be deleted");
    }
}

type PlainStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// The upload's plaintext as it streams from the client: cut at the client's stop (WAV),
/// hashed, counted, its head kept for sniffing and a copy fed to the prober. When the prober
/// gives up (the content is not audio) the stream fails, so the store aborts early.
fn tap(
    body: Body,
    stop_ms: Option<u64>,
    tally: Arc<Mutex<Tally>>,
    probe_tx: tokio::sync::mpsc::Sender<Bytes>,
) -> PlainStream {
    struct Tap {
        body: axum::body::BodyDataStream,
        trim: Option<wav::WavTrim>,
        tally: Arc<Mutex<Tally>>,
        probe: tokio::sync::mpsc::Sender<Bytes>,
    }
    let state = Tap {
        body: body.into_data_stream(),
        trim: stop_ms.map(wav::WavTrim::new),
        tally,
        probe: probe_tx,
    };
    Box::pin(futures_util::stream::unfold(state, |mut tap| async move {
        loop {
            let frame = match tap.body.next().await? {
                Ok(frame) => frame,
                Err(error) => {
                    let reason = error.to_string();
                    tap.tally
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .body_failed = Some(reason.clone());
                    return Some((Err(io::Error::other(reason)), tap));
                }
            };
            let frame = match &mut tap.trim {
                Some(trim) => match trim.feed(frame) {
                    Ok(kept) => kept,
                    Err(error) => {
                        return Some((Err(io::Error::new(io::ErrorKind::InvalidData, error)), tap));
                    }
                },
                None => frame,
            };
            if frame.is_empty() {
                continue;
            }
            {
                let mut tally = tap.tally.lock().unwrap_or_else(|p| p.into_inner());
                tally.sha256.update(&frame);
                tally.bytes += frame.len() as u64;
                if tally.head.len() < SNIFF_BYTES {
                    let take = (SNIFF_BYTES - tally.head.len()).min(frame.len());
                    tally.head.extend_from_slice(&frame[..take]);
                }
            }
            if tap.probe.send(frame.clone()).await.is_err() {
                return Some((
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the content is not audio Confide can read",
                    )),
                    tap,
                ));
            }
            return Some((Ok(frame), tap));
        }
    }))
}

/// A blocking reader over the frames the upload feeds it, for the prober's thread.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(frame) => self.current = frame,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The ticket URL for a playback `startPlayback` allowed, and when it expires.
pub(crate) fn issue_ticket(
    state: &crate::Services,
    principal: &Principal,
    recording: RecordingId,
    purpose: Purpose,
    medium: Medium,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), AuthError> {
    let expires = now + TICKET_LIFETIME;
    let ticket = Ticket {
        tenant: principal.tenant.to_string(),
        viewer: principal.actor.clone(),
        recording: recording.as_uuid(),
        purpose,
        medium,
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    let token = state.auth.sign_ticket(TicketKind::Media, &ticket)?;
    Ok((format!("/v1/media/{token}"), expires))
}

/// `GET /v1/media/{ticket}`.
pub(crate) async fn play(
    State(state): State<Arc<ApiState>>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
) -> Response {
    match serve(&state, &ticket, &headers).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn serve(state: &ApiState, ticket: &str, headers: &HeaderMap) -> Result<Response, Refusal> {
    let services = &state.services;
    let ticket = services
        .auth
        .verify_ticket::<Ticket>(TicketKind::Media, ticket)
        .map_err(Refusal::bad_ticket)?;
    let tenant = confide_domain::TenantId::parse(&ticket.tenant).map_err(AppError::Domain)?;
    crate::graphql::record_tenant(&Principal {
        tenant: tenant.clone(),
        actor: ticket.viewer.clone(),
    });
    let recording_id = RecordingId::from_uuid(ticket.recording).map_err(AppError::Domain)?;
    let view = services
        .app
        .recording(
            &tenant,
            &ticket.viewer,
            recording_id,
            ticket.purpose,
            ticket.medium,
        )
        .await?;
    if !view.access.is_allowed() {
        // Recorded as any refused playback is: decided again and appended.
        let (recorded, _) = services
            .app
            .start_playback(
                &tenant,
                &ticket.viewer,
                recording_id,
                ticket.purpose,
                ticket.medium,
            )
            .await?;
        if !matches!(
            recorded,
            confide_domain::aggregates::recording::RecordingEvent::PlaybackStarted { .. }
        ) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "access to this recording has ended since the ticket was issued",
            ));
        }
    }
    let media = view.recording.media().cloned().ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the recording has no media",
        )
    })?;
    let media_key: MediaKey = match services.keys.media_key(&tenant, &media.data_key_id).await {
        Ok(key) => key,
        Err(KeyError::Destroyed { .. }) => {
            return Err(Refusal::new(
                StatusCode::GONE,
                "NOT_FOUND",
                "the recording has been destroyed",
            ));
        }
        Err(error) => return Err(Refusal::internal("the key store failed", error)),
    };
    let total = media.bytes;
    let range = match headers
        .get(header::RANGE)
        .map(|v| parse_range(v.as_bytes(), total))
    {
        None | Some(Range::Ignored) => None,
        Some(Range::Satisfiable(start, end)) => Some((start, end)),
        Some(Range::Unsatisfiable) => {
            let mut response = Refusal::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BAD_USER_INPUT",
                format!("the media is {total} bytes long"),
            )
            .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{total}"))
                    .map_err(|e| Refusal::internal("a header could not be written", e))?,
            );
            return Ok(response);
        }
    };
    let (start, end) = range.unwrap_or((0, total));
    if start == end {
        // An empty body: nothing to decrypt.
        return Ok(StatusCode::OK.into_response());
    }
    let object =
        BlobKey::parse(&media.object_key).map_err(|e| Refusal::internal("an object key", e))?;
    let plaintext = decrypt_range(
        services.blobs.as_ref(),
        &object,
        &media_key,
        &associated_data(tenant.as_str(), recording_id),
        start..end,
    )
    .await
    .map_err(|e| Refusal::internal("reading the media failed", e))?;
    let mut response = Response::new(Body::from_stream(plaintext));
    let headers = response.headers_mut();
    let header = |value: String| {
        HeaderValue::from_str(&value)
            .map_err(|e| Refusal::internal("a header could not be written", e))
    };
    headers.insert(header::CONTENT_TYPE, header(media.content_type.clone())?);
    headers.insert(header::CONTENT_LENGTH, header((end - start).to_string())?);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if range.is_some() {
        headers.insert(
            header::CONTENT_RANGE,
            header(format!("bytes {start}-{}/{total}", end - 1))?,
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
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
