//! What a use case can fail with, in variants a caller can act on. The mapping to wire codes
//! and statuses is the edge's (`api`'s one error table), not the application's.

use confide_domain::DomainError;
use confide_eventstore::{StoreError, StreamId, TenantId};
use confide_vault::{BlobError, KeyError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule refused the command; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept changing what the command depends on; retrying later may succeed.
    #[error("stream {stream} kept changing while the command was decided")]
    Contention { stream: StreamId },
    /// An event could not be encoded as JSON: a bug in an event's definition.
    #[error("an event could not be encoded")]
    Encoding(#[from] serde_json::Error),
    /// The key store failed.
    #[error("the key store failed: {0}")]
    Keys(#[from] KeyError),
    /// The blob store failed.
    #[error("the blob store failed: {0}")]
    Blobs(#[from] BlobError),
    /// The key store or the blob store failed during `step` of a destruction; what was done
    /// before it stays done, and running the step again is safe.
    #[error("the media vault failed {step}: {reason}")]
    Vault {
        step: &'static str,
        reason: String,
        retryable: bool,
    },
    /// An upload's bytes cannot be kept; nothing was stored.
    #[error("{0}")]
    Upload(UploadRefusal),
    /// What was asked for existed and has been destroyed for good.
    #[error("{what} has been destroyed")]
    Gone { what: &'static str },
    /// A stored event could not be read back as a domain event.
    #[error("stored event {sequence} of tenant {tenant} cannot be read: {reason}")]
    UnreadableEvent {
        tenant: TenantId,
        sequence: u64,
        reason: String,
    },
}

impl AppError {
    /// Whether the failure is an outage (the database, the key store or the blob store could
    /// not be reached): the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::Keys(error) => error.is_retryable(),
            Self::Blobs(error) => error.is_retryable(),
            Self::Vault { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Why an upload's bytes were refused; in every case nothing of the upload was kept. Each
/// message says what to do, and [`UploadRefusal::reason`] names the case in a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// The body did not arrive whole (interrupted or truncated).
    #[error("the upload did not arrive whole; nothing was kept, send it again")]
    Incomplete,
    /// The body is empty.
    #[error("the upload is empty; nothing was kept")]
    Empty,
    /// The first bytes are not those of an audio container Confide reads.
    #[error(
        "the content is not audio Confide can read: an upload must be WAV, MP3, FLAC, Ogg, MP4/M4A or WebM/Matroska from its first byte to its last; nothing was kept"
    )]
    NotAudio,
    /// Bytes follow the end the audio's container declares.
    #[error(
        "the upload goes on after the end of the audio it holds; send the audio file alone, with nothing added to it; nothing was kept"
    )]
    BytesAfterAudio,
    /// The container's structure or packets are broken; the words say where.
    #[error("the upload is not well-formed audio: {0}; nothing was kept")]
    MalformedAudio(&'static str),
    /// The container holds no audio.
    #[error("the content has no audio track; nothing was kept")]
    NoAudioTrack,
    /// Video, where the organisation's policy allows audio only.
    #[error(
        "the content is video, and this organisation's policy allows audio only; nothing was kept"
    )]
    VideoNotAllowed,
    /// Video, for a recording made in audio.
    #[error("the content is video, and this recording is audio; nothing was kept")]
    VideoForAudioRecording,
    /// A container Confide does not read (AVI, FLV, MPEG streams).
    #[error(
        "the container is not one Confide can read (WAV, MP3, FLAC, Ogg, MP4/M4A, WebM/Matroska); nothing was kept"
    )]
    UnsupportedContainer,
}

impl UploadRefusal {
    /// The stable code of the refusal, for a program to act on.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Incomplete => "INCOMPLETE",
            Self::Empty => "EMPTY",
            Self::NotAudio => "NOT_AUDIO",
            Self::BytesAfterAudio => "BYTES_AFTER_AUDIO",
            Self::MalformedAudio(_) => "MALFORMED_AUDIO",
            Self::NoAudioTrack => "NO_AUDIO_TRACK",
            Self::VideoNotAllowed => "VIDEO_NOT_ALLOWED",
            Self::VideoForAudioRecording => "VIDEO_FOR_AUDIO_RECORDING",
            Self::UnsupportedContainer => "UNSUPPORTED_CONTAINER",
        }
    }
}
