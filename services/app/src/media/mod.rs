//! A recording's bytes: an upload streamed through probing and encryption into the blob
//! store and recorded, playback of a byte range decided again at every request, and
//! destruction by crypto-shredding (`destruction`).
//!
//! An upload is checked against the domain before a byte is stored (its practitioner, a
//! recording awaiting its media, a consent that still covers it), then again when it is
//! recorded, conditioned on the consent: a withdrawal committed during the upload refuses it.
//! Whatever goes wrong — an interrupted or truncated body, content that is not audio from its
//! first byte to its last, video where only audio is allowed, a refusal — the object is gone,
//! no key was kept (the upload is encrypted under a key made in memory, kept only once the
//! upload is accepted) and the recording still awaits its media, so the upload can simply be
//! sent again. A download is decided again as it streams ([`REDECIDE_EVERY`],
//! [`REDECIDE_EVERY_BYTES`]), and ends short once access has ended.

mod destruction;
mod probe;
mod shape;
mod wav;

pub use destruction::{DESTRUCTION_JOB, JOB_LEASE};

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::recording::{
    Recording, RecordingCommand, RecordingEvent, StoredMedia,
};
use confide_domain::{
    Aggregate, DomainError, KeyId, Medium, Offset, Purpose, RecordingId, Sha256, TenantId,
};
use confide_vault::{BlobKey, KeyError, MediaKey, decrypt_range, encrypt_stream};
use futures_util::{Stream, StreamExt};
use sha2::Digest;
use uuid::Uuid;

use crate::{App, AppError, Caller, UploadRefusal, stream};

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

/// How much of a recording one response may send before access is decided again.
pub const REDECIDE_EVERY_BYTES: u64 = 1024 * 1024;
/// How long one response may stream before access is decided again.
pub const REDECIDE_EVERY: Duration = Duration::from_secs(1);

/// A recording's media that the caller may play now, ready to be read by range.
pub struct MediaRange {
    pub content_type: String,
    /// The plaintext's length.
    pub bytes: u64,
    /// The plaintext's SHA-256. A recording's media never changes once stored, so this is a
    /// strong validator of it (RFC 9110 section 8.8.1), fit for an `ETag`.
    pub sha256: Sha256,
    key: MediaKey,
    object: BlobKey,
    associated_data: Vec<u8>,
    /// Who opened it, to play what and how: access is decided again as it streams.
    playback: Opened,
}

/// Media as it was opened (who, to play what and how), to decide again.
#[derive(Clone)]
struct Opened {
    caller: Caller,
    recording_id: RecordingId,
    purpose: Purpose,
    medium: Medium,
}

/// What the upload's bytes turned out to be, gathered as they stream past.
#[derive(Default)]
struct Tally {
    sha256: sha2::Sha256,
    bytes: u64,
    /// The body failed (interrupted, truncated): the store's error is the client's fault.
    body_failed: Option<String>,
    /// The upload could not be cut at the client's stop.
    refused: Option<UploadRefusal>,
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

        // The key is made in memory and kept only once the upload is accepted, so a refused
        // upload leaves no key behind. A key already kept (an upload accepted, then not
        // recorded: cut short, or refused when recorded) is used again, so the recording's key
        // stays the one its destruction will destroy.
        let (media_key, kept) = match self.keys.media_key(tenant, &key_id).await {
            Ok(key) => (key, true),
            Err(KeyError::Unknown { .. }) => (MediaKey::generate(), false),
            Err(error) => return Err(error.into()),
        };

        let stop_ms = recording.stop_at().map(Offset::as_millis);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (probe_tx, probe_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let video = probe::VideoRule {
            allowed_by_policy: video_allowed,
            recording_is_video: core.medium == Medium::Video,
        };
        let prober =
            tokio::task::spawn_blocking(move || probe::probe(ChannelReader::new(probe_rx), video));
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
        let (sha256, bytes, body_failed, trim_refused) = {
            let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
            let digest: [u8; 32] = std::mem::take(&mut tally.sha256).finalize().into();
            (
                Sha256::from_bytes(digest),
                tally.bytes,
                tally.body_failed.take(),
                tally.refused.take(),
            )
        };
        if let Err(error) = stored {
            // `put` left nothing behind.
            if let Some(reason) = body_failed {
                tracing::info!(%reason, "an upload's body did not arrive whole");
                return Err(AppError::Upload(UploadRefusal::Incomplete));
            }
            // The cut at the client's stop refused the bytes, so the stream stopped: whatever
            // the store made of that, it is the upload's refusal, not an outage.
            if let Some(refusal) = trim_refused {
                return Err(AppError::Upload(refusal));
            }
            // An outage of the store, not a refusal that stopped the stream: retry later.
            if error.is_retryable() {
                return Err(error.into());
            }
            return Err(match probed {
                Err(_) if bytes == 0 => AppError::Upload(UploadRefusal::Empty),
                Err(refusal) => AppError::Upload(refusal),
                Ok(_) => error.into(),
            });
        }
        let probed = match (bytes, probed) {
            (0, _) => Err(UploadRefusal::Empty),
            (_, probed) => probed,
        };
        let probed = match probed {
            Ok(probed) => probed,
            Err(refusal) => {
                self.discard(&object).await;
                return Err(AppError::Upload(refusal));
            }
        };
        if !kept {
            match self.keys.keep_media_key(tenant, &key_id, &media_key).await {
                Ok(()) => {}
                Err(KeyError::Exists { .. }) => {
                    // Another upload of this recording was accepted meanwhile, under its own
                    // key: this one is encrypted under a key that will never be kept.
                    self.discard(&object).await;
                    return Err(DomainError::conflict(
                        "another upload of this recording was accepted while this one was sent",
                    )
                    .into());
                }
                Err(error) => {
                    self.discard(&object).await;
                    return Err(error.into());
                }
            }
        }
        let content_type = probed.content_type;
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
        let playback = Opened {
            caller: caller.clone(),
            recording_id,
            purpose,
            medium,
        };
        let view = self.decide_playback_again(&playback).await?;
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
            sha256: media.sha256,
            key,
            object: BlobKey::parse(&media.object_key)?,
            associated_data: associated_data(&caller.tenant, recording_id),
            playback,
        })
    }

    /// Decides a playback's access again, as it stands now; a refusal is recorded as any
    /// refused playback is (decided again and appended) and answered `FORBIDDEN`.
    async fn decide_playback_again(
        &self,
        playback: &Opened,
    ) -> Result<crate::RecordingView, AppError> {
        let Opened {
            caller,
            recording_id,
            purpose,
            medium,
        } = playback;
        let (view, _) = self
            .access_now(caller, *recording_id, *purpose, *medium)
            .await?;
        if !view.access.is_allowed() {
            let recorded = self
                .start_playback(caller, *recording_id, *purpose, *medium)
                .await?;
            if !recorded.decision.is_allowed() {
                return Err(DomainError::forbidden(
                    "access to this recording has ended since the ticket was issued",
                )
                .into());
            }
        }
        Ok(view)
    }

    /// The plaintext of `range` (end exclusive, within the media) of media opened by
    /// [`App::open_media`], decrypted as it streams.
    ///
    /// Access is decided again while the response streams: before sending more, once
    /// [`REDECIDE_EVERY`] has passed or [`REDECIDE_EVERY_BYTES`] have been sent since the last
    /// decision. When access has ended (a withdrawal, a revoked grant, a destruction) or cannot
    /// be decided (an outage), the stream fails there, so the response ends short of its
    /// length; the refusal is recorded as any refused playback is.
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
        let guard = Guard {
            app: self.clone(),
            playback: media.playback.clone(),
            decided_at: tokio::time::Instant::now(),
            sent_since: 0,
            ended: false,
        };
        let guarded = futures_util::stream::unfold(
            (plaintext, guard),
            |(mut plaintext, mut guard)| async move {
                if guard.ended {
                    return None;
                }
                let chunk = match plaintext.next().await? {
                    Ok(chunk) => chunk,
                    Err(error) => {
                        guard.ended = true;
                        return Some((Err(io::Error::other(error)), (plaintext, guard)));
                    }
                };
                if let Err(error) = guard.decide_if_due().await {
                    tracing::info!(%error, "a download was cut off: access ended as it streamed");
                    guard.ended = true;
                    return Some((
                        Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            "access to the recording ended while it was sent",
                        )),
                        (plaintext, guard),
                    ));
                }
                guard.sent_since += chunk.len() as u64;
                Some((Ok(chunk), (plaintext, guard)))
            },
        );
        Ok(Box::pin(guarded))
    }
}

/// A download's access, decided again as it streams.
struct Guard {
    app: App,
    playback: Opened,
    decided_at: tokio::time::Instant,
    sent_since: u64,
    ended: bool,
}

impl Guard {
    async fn decide_if_due(&mut self) -> Result<(), AppError> {
        if self.sent_since < REDECIDE_EVERY_BYTES && self.decided_at.elapsed() < REDECIDE_EVERY {
            return Ok(());
        }
        self.app.decide_playback_again(&self.playback).await?;
        self.decided_at = tokio::time::Instant::now();
        self.sent_since = 0;
        Ok(())
    }
}

/// The upload's plaintext as it streams from the client: cut at the client's stop (WAV),
/// hashed, counted, and a copy fed to the prober. When the prober
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
                        let reason = error.to_string();
                        tap.tally.lock().unwrap_or_else(|p| p.into_inner()).refused =
                            Some(error.into());
                        return Some((
                            Err(io::Error::new(io::ErrorKind::InvalidData, reason)),
                            tap,
                        ));
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
