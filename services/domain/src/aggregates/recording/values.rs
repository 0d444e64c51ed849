//! The value types of a recording: which part a transcript covers, why a recording is
//! destroyed, the media as proven at upload, annotations and transcripts, and the consents
//! and grants an access decision needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::consent::Consent;
use crate::aggregates::grant::Grant;
use crate::error::DomainError;
use crate::ids::{ConsentId, CourseId, SubjectRequestId, TranscriptId, UserId};
use crate::vocabulary::{KeyId, Offset, Purpose, Sealed, Sha256};

/// Which part of a recording a transcript covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TranscriptSpan {
    /// The whole session.
    Whole,
    /// From one offset to another.
    Excerpt {
        /// Start (inclusive).
        from: Offset,
        /// End (exclusive).
        to: Offset,
    },
}

/// Why a recording is (to be) destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DestructionReason {
    /// The client withdrew consent (or opted out) and asked for deletion.
    DeletionRequested {
        /// The consent.
        consent_id: ConsentId,
    },
    /// The consent expired.
    ConsentExpired {
        /// The consent.
        consent_id: ConsentId,
    },
    /// The course ended and its grace passed.
    CourseEnded {
        /// The course.
        course_id: CourseId,
    },
    /// The tenant's default retention passed.
    RetentionElapsed,
    /// An erasure request was granted.
    ErasureRequest {
        /// The request.
        subject_request_id: SubjectRequestId,
    },
    /// The practitioner or an administrator destroyed it (e.g. the client asked, or the
    /// accreditation is done).
    Manual,
}

/// Where a recording's media is stored, as proven at upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMedia {
    /// SHA-256 of the plaintext media.
    pub sha256: Sha256,
    /// Size in bytes.
    pub bytes: u64,
    /// Length.
    pub duration: Offset,
    /// The recording's data key.
    pub data_key_id: KeyId,
    /// The audio codec found by probing the content, e.g. `pcm_s16le`, `mp3`, `opus`.
    pub codec: String,
    /// The media type it is served as, e.g. `audio/wav`.
    pub content_type: String,
    /// The ciphertext's object in the blob store; empty for media recorded before objects
    /// were named (schema version 1 of `RecordingStored`).
    pub object_key: String,
}

impl StoredMedia {
    /// The label fields are short printable ASCII: they name formats and objects, never
    /// content.
    pub(super) fn validate(&self) -> Result<(), DomainError> {
        for (field, value) in [
            ("codec", &self.codec),
            ("content_type", &self.content_type),
            ("object_key", &self.object_key),
        ] {
            if value.is_empty() || value.len() > 200 || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(DomainError::invalid(
                    field,
                    "must be 1 to 200 printable ASCII characters",
                ));
            }
        }
        Ok(())
    }
}

/// A mark at an offset: a practitioner's bookmark or a tutor's comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    /// Where.
    pub offset: Offset,
    /// What (sealed: notes about a session are about the client).
    pub text: Sealed,
    /// Who.
    pub by: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A transcript attached to the recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptRecord {
    /// Its id.
    pub id: TranscriptId,
    /// What it covers.
    pub span: TranscriptSpan,
    /// The purpose it was made for.
    pub purpose: Purpose,
    /// SHA-256 of the WebVTT text.
    pub sha256: Sha256,
}

/// The consents and grants an access decision needs, as loaded by the application.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessFacts {
    /// Consents about the recording's client.
    pub consents: Vec<Consent>,
    /// Grants on the recording.
    pub grants: Vec<Grant>,
}
