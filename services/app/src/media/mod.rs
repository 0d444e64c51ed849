//! A recording's bytes: an upload streamed through probing and encryption into the blob
//! store and recorded, playback of a byte range decided again at every request, and
//! destruction by crypto-shredding (`destruction`).
//!
//! An upload is checked against the domain before a byte is stored (its practitioner, a
//! recording awaiting its media, a consent that still covers it), then again when it is
//! recorded, conditioned on the consent: a withdrawal committed during the upload refuses it.
//! Whatever goes wrong — an interrupted or truncated body, content that is not audio, video
//! where only audio is allowed, a refusal — the object is gone and the recording still awaits
//! its media, so the upload can simply be sent again.

mod destruction;
mod probe;
mod wav;

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::recording::{
    Recording, RecordingCommand, RecordingEvent, StoredMedia,
};
use confide_domain::{
    Aggregate, DomainError, KeyId, Medium, Offset, Purpose, RecordingId, Sha256, TenantId,
};
use confide_vault::{BlobError, BlobKey, KeyError, MediaKey, decrypt_range, encrypt_stream};
use futures_util::{Stream, StreamExt, TryStreamExt};
use sha2::Digest;
use uuid::Uuid;

use crate::{App, AppError, Caller, UploadRefusal, stream};
use probe::{Container, Probed, SNIFF_BYTES, Sniffed};

/// A stream of bytes: an upload's body, or a range of a recording's plaintext.
pub type UploadBody = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// The id of the key a recording's media is encrypted under.
pub fn media_key_id(recording: RecordingId) -> KeyId {
    KeyId::of("media", recording.as_uuid())
}

/// What binds a recording's ciphertext to it: an object copied to another recording or
/// tenant does not decrypt.
fn associated_data(tenant: &TenantId, recording: RecordingId) -> Vec<u8> {
    format!("confide media v1\0{tenant}\0{recording}").into_bytes()
}

/// An upload as it was stored and recorded.
#[derive(Clone, Debug)]
pub struct StoredUpload {
    pub recording_id: RecordingId,
    pub bytes: u64,
    pub sha256: Sha256,
    pub duration_ms: u64,
    pub codec: String,
    pub content_type: String,
}

/// A recording's media that the caller may play now, ready to be read by range.
pub struct MediaRange {
    pub content_type: String,
    /// The plaintext's length.
    pub bytes: u64,
    key: MediaKey,
    object: BlobKey,
    associated_data: Vec<u8>,
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

impl App {
    /// Stores a recording's media from `body`: probed as it streams (container, codec,
    /// duration, video), cut at the client's stop, encrypted under the recording's own key
    /// before it leaves the process, and recorded once stored. Nothing is kept of an upload
    /// that is refused.
    pub async fn upload_media(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        body: UploadBody,
    ) -> Result<StoredUpload, AppError> {
        let tenant = &caller.tenant;
        let recording = self.existing_recording(tenant, recording_id).await?;
        let core = recording
            .core()
            .cloned()
            .ok_or_else(|| DomainError::not_found("recording"))?;
        let key_id = media_key_id(recording_id);
        let object_key = format!("{tenant}/recordings/{recording_id}/{}", Uuid::now_v7());
        let object = BlobKey::parse(&object_key)?;
        // Decided before a byte is stored: the media stands in for what probing will find.
        let provisional = StoredMedia {
            sha256: Sha256::of(b""),
            bytes: 1,
            duration: Offset::from_millis(0)?,
            data_key_id: key_id.clone(),
            codec: "pending".to_owned(),
            content_type: "application/octet-stream".to_owned(),
            object_key: object_key.clone(),
        };
        let mut check = self.reader(tenant, &caller.actor, &[]).await?;
        let consent: Consent = check.load(&stream(core.consent_id)).await?;
        recording.decide(
            RecordingCommand::StoreMedia {
                media: provisional,
                consent: Box::new(consent),
            },
            &check.ctx(),
        )?;
        let video_allowed = check
            .organisation()
            .policy()
            .is_some_and(|p| p.policy.allowed_media.allows(Medium::Video));
        drop(check);

        match self.keys.create_key(tenant, &key_id).await {
            // An earlier attempt that did not finish made it already.
            Ok(()) | Err(KeyError::Exists { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let media_key = self.keys.media_key(tenant, &key_id).await?;

        let stop_ms = recording.stop_at().map(Offset::as_millis);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (probe_tx, probe_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let prober =
            tokio::task::spawn_blocking(move || probe::probe(ChannelReader::new(probe_rx)));
        let plaintext = tap(body, stop_ms, tally.clone(), probe_tx);
        let ciphertext = encrypt_stream(
            &media_key,
            &associated_data(tenant, recording_id),
            plaintext,
        );
        let stored = self.blobs.put(&object, Box::pin(ciphertext)).await;
        let probed = prober.await.map_err(|e| AppError::Vault {
            step: "probing the upload",
            reason: e.to_string(),
            retryable: false,
        })?;
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
            // `put` left nothing behind. An outage of the store is said as such even when it
            // cut the body short for the prober: the same upload may succeed later.
            return Err(match (body_failed, probed) {
                (Some(reason), _) => AppError::Upload(UploadRefusal::Incomplete(reason)),
                (None, _) if error.is_retryable() => error.into(),
                (None, Err(rejected)) => {
                    AppError::Upload(UploadRefusal::Unsupported(rejected.to_string()))
                }
                (None, Ok(_)) => match error {
                    BlobError::Body(reason) => {
                        AppError::Upload(UploadRefusal::Unsupported(reason.to_string()))
                    }
                    other => other.into(),
                },
            });
        }
        let accepted = accept(core.medium, video_allowed, sniffed, probed, bytes);
        let (probed, content_type) = match accepted {
            Ok(found) => found,
            Err(refusal) => {
                self.discard(&object).await;
                return Err(AppError::Upload(refusal));
            }
        };
        let media = StoredMedia {
            sha256,
            bytes,
            duration: Offset::from_millis(probed.duration_ms)?,
            data_key_id: key_id,
            codec: probed.codec.clone(),
            content_type: content_type.to_owned(),
            object_key,
        };
        if let Err(error) = self.store_media(caller, recording_id, media).await {
            if error.is_unavailable() {
                // The database went away during the append, which may have committed before
                // the answer was lost: the object stays, never to be deleted from under a
                // recording that holds it. If the append did not commit, nothing refers to it
                // and it is shredded with the recording's key.
                tracing::warn!(%object, "an upload's recording is unknown after an outage");
            } else {
                self.discard(&object).await;
            }
            return Err(error);
        }
        Ok(StoredUpload {
            recording_id,
            bytes,
            sha256,
            duration_ms: probed.duration_ms,
            codec: probed.codec,
            content_type: content_type.to_owned(),
        })
    }

    /// Records that a recording's media is stored, as probed and encrypted: decided against the
    /// recording and its consent as they now stand, and conditioned on the consent, so a
    /// withdrawal committed during the upload refuses it.
    async fn store_media(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        media: StoredMedia,
    ) -> Result<RecordingEvent, AppError> {
        let target = stream(recording_id);
        let prefetch = [stream(recording_id)];
        self.transact_on(&caller.tenant, &caller.actor, &prefetch, move |work| {
            let (target, media) = (target.clone(), media.clone());
            Box::pin(async move {
                let recording: Recording = work.load(&target).await?;
                let core = recording
                    .core()
                    .ok_or_else(|| DomainError::not_found("recording"))?;
                let consent: Consent = work.load(&stream(core.consent_id)).await?;
                let decided = work.decide(
                    &target,
                    &recording,
                    RecordingCommand::StoreMedia {
                        media,
                        consent: Box::new(consent),
                    },
                    &[],
                )?;
                decided.into_iter().next().ok_or_else(|| {
                    DomainError::conflict("storing the media recorded nothing").into()
                })
            })
        })
        .await
    }

    /// Deletes an object an upload stored but may not keep. A failure leaves an unreferenced
    /// ciphertext under a key that will be destroyed with the recording; it is logged.
    async fn discard(&self, object: &BlobKey) {
        if let Err(error) = self.blobs.delete(object).await {
            tracing::error!(%error, "an upload refused after storing could not be deleted");
        }
    }

    /// Opens a recording's media for the caller to play for `purpose` in `medium`, deciding
    /// access again: access that ended since playback started (a withdrawal) is refused,
    /// and the refusal recorded as any refused playback is.
    pub async fn open_media(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
        medium: Medium,
    ) -> Result<MediaRange, AppError> {
        let (view, _) = self
            .access_now(caller, recording_id, purpose, medium)
            .await?;
        if !view.access.is_allowed() {
            // Recorded as any refused playback is: decided again and appended.
            let recorded = self
                .start_playback(caller, recording_id, purpose, medium)
                .await?;
            if !recorded.decision.is_allowed() {
                return Err(DomainError::forbidden(
                    "access to this recording has ended since the ticket was issued",
                )
                .into());
            }
        }
        let media = view
            .recording
            .media()
            .cloned()
            .ok_or_else(|| DomainError::not_found("recording's media"))?;
        let key = match self
            .keys
            .media_key(&caller.tenant, &media.data_key_id)
            .await
        {
            Ok(key) => key,
            Err(KeyError::Destroyed { .. }) => {
                return Err(AppError::Gone {
                    what: "the recording",
                });
            }
            Err(error) => return Err(error.into()),
        };
        Ok(MediaRange {
            content_type: media.content_type,
            bytes: media.bytes,
            key,
            object: BlobKey::parse(&media.object_key)?,
            associated_data: associated_data(&caller.tenant, recording_id),
        })
    }

    /// The plaintext of `range` (end exclusive, within the media) of media opened by
    /// [`App::open_media`], decrypted as it streams.
    pub async fn read_media(
        &self,
        media: &MediaRange,
        range: Range<u64>,
    ) -> Result<UploadBody, AppError> {
        let plaintext = decrypt_range(
            self.blobs.as_ref(),
            &media.object,
            &media.key,
            &media.associated_data,
            range,
        )
        .await
        .map_err(|e| AppError::Vault {
            step: "reading the media",
            retryable: e.is_retryable(),
            reason: e.to_string(),
        })?;
        Ok(Box::pin(plaintext.map_err(io::Error::other)))
    }
}

/// Whether what the upload turned out to be may be kept for a recording in `medium`.
fn accept(
    medium: Medium,
    video_allowed: bool,
    sniffed: Sniffed,
    probed: Result<Probed, probe::ProbeError>,
    bytes: u64,
) -> Result<(Probed, &'static str), UploadRefusal> {
    if bytes == 0 {
        return Err(UploadRefusal::Empty);
    }
    let unsupported = |reason: &str| UploadRefusal::Unsupported(reason.to_owned());
    if sniffed.video && (!video_allowed || medium != Medium::Video) {
        return Err(unsupported(if video_allowed {
            "the content is video, and this recording is audio"
        } else {
            "the content is video, and this organisation's policy allows audio only"
        }));
    }
    if sniffed.container == Container::VideoOnly {
        return Err(unsupported(
            "the container is not one Confide can read (WAV, MP3, FLAC, Ogg, MP4/M4A, WebM/Matroska)",
        ));
    }
    let probed = probed.map_err(|e| unsupported(&e.to_string()))?;
    Ok((probed, sniffed.content_type()))
}

/// The upload's plaintext as it streams from the client: cut at the client's stop (WAV),
/// hashed, counted, its head kept for sniffing and a copy fed to the prober. When the prober
/// gives up (the content is not audio) the stream fails, so the store aborts early.
fn tap(
    body: UploadBody,
    stop_ms: Option<u64>,
    tally: Arc<Mutex<Tally>>,
    probe_tx: tokio::sync::mpsc::Sender<Bytes>,
) -> UploadBody {
    struct Tap {
        body: UploadBody,
        trim: Option<wav::WavTrim>,
        tally: Arc<Mutex<Tally>>,
        probe: tokio::sync::mpsc::Sender<Bytes>,
    }
    let state = Tap {
        body,
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
