//! A recording: one session's media and everything derived from it (transcripts, bookmarks,
//! tutor comments), which lives and dies with it.
//!
//! States: `awaiting_upload` → `stored` → `destroyed`. A recording is created only when a
//! consent covers it (or, under `notified_opt_out`, after the session's notice with no
//! opt-out). A client may ask to stop mid-session; nothing after the stop offset may be
//! stored. Every playback and every refused attempt is an event on the recording's stream.
//!
//! This module holds the aggregate's state, its events and how they fold; the rest is in
//! private submodules, re-exported here:
//!
//! - `values`: the value types of a recording (its stored media, transcripts, annotations,
//!   destruction reasons, and the facts an access decision needs);
//! - `decide`: the commands, the access decision, and the rules that decide each command.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{DenyReason, Viewer};
use crate::aggregates::Aggregate;
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, ConsentId, CourseId, RecordingId, TenantId, TranscriptId, UserId};
use crate::vocabulary::{KeyId, Medium, Offset, Purpose, Sealed, Sha256};

mod decide;
mod values;

pub use decide::RecordingCommand;
pub use values::{
    AccessFacts, Annotation, DestructionReason, StoredMedia, TranscriptRecord, TranscriptSpan,
};

/// Where a recording is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Created; the media has not arrived.
    AwaitingUpload,
    /// The media is stored, encrypted under the recording's data key.
    Stored,
    /// The data key is destroyed; nothing can be played or derived again.
    Destroyed,
}

/// The facts fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingCore {
    /// The recording.
    pub id: RecordingId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The client recorded.
    pub client_id: ClientId,
    /// The practitioner.
    pub practitioner: UserId,
    /// The course, if any.
    pub course_id: Option<CourseId>,
    /// The session's date.
    pub session_on: NaiveDate,
    /// Audio or video.
    pub medium: Medium,
    /// The consent that covered its creation.
    pub consent_id: ConsentId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// The recording aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    core: Option<RecordingCore>,
    status: Option<RecordingStatus>,
    stop_at: Option<Offset>,
    media: Option<StoredMedia>,
    stored_at: Option<DateTime<Utc>>,
    bookmarks: Vec<Annotation>,
    comments: Vec<Annotation>,
    transcripts: Vec<TranscriptRecord>,
    scheduled: Option<(DateTime<Utc>, DestructionReason)>,
    played_by: BTreeSet<UserId>,
    destroyed_at: Option<DateTime<Utc>>,
    version: u64,
}

impl Recording {
    /// The facts fixed at creation.
    pub fn core(&self) -> Option<&RecordingCore> {
        self.core.as_ref()
    }

    /// The recording's id.
    pub fn id(&self) -> Option<RecordingId> {
        self.core.as_ref().map(|c| c.id)
    }

    /// Its status.
    pub fn status(&self) -> Option<RecordingStatus> {
        self.status
    }

    /// The client's stop offset, if they asked to stop.
    pub fn stop_at(&self) -> Option<Offset> {
        self.stop_at
    }

    /// The stored media, once uploaded (kept after destruction as proof of what was).
    pub fn media(&self) -> Option<&StoredMedia> {
        self.media.as_ref()
    }

    /// When the media was stored.
    pub fn stored_at(&self) -> Option<DateTime<Utc>> {
        self.stored_at
    }

    /// Bookmarks.
    pub fn bookmarks(&self) -> &[Annotation] {
        &self.bookmarks
    }

    /// Tutor comments.
    pub fn comments(&self) -> &[Annotation] {
        &self.comments
    }

    /// Transcripts.
    pub fn transcripts(&self) -> &[TranscriptRecord] {
        &self.transcripts
    }

    /// The scheduled destruction, if any: when it is due and why.
    pub fn scheduled_destruction(&self) -> Option<(DateTime<Utc>, DestructionReason)> {
        self.scheduled
    }

    /// When it was destroyed.
    pub fn destroyed_at(&self) -> Option<DateTime<Utc>> {
        self.destroyed_at
    }

    /// Everyone who has played it.
    pub fn played_by(&self) -> &BTreeSet<UserId> {
        &self.played_by
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether it can be played in `medium`: its own medium, the audio track of a video,
    /// or a transcript once one is attached.
    pub fn has_medium(&self, medium: Medium) -> bool {
        let Some(core) = &self.core else { return false };
        match medium {
            Medium::Transcript => !self.transcripts.is_empty(),
            Medium::Audio => matches!(core.medium, Medium::Audio | Medium::Video),
            Medium::Video => core.medium == Medium::Video,
        }
    }
}

/// What a recording records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RecordingEvent {
    /// A recording was created, awaiting its media.
    RecordingCreated {
        /// The recording.
        recording_id: RecordingId,
        /// The tenant.
        tenant_id: TenantId,
        /// The client.
        client_id: ClientId,
        /// The practitioner.
        practitioner: UserId,
        /// The course, if any.
        course_id: Option<CourseId>,
        /// The session's date.
        session_on: NaiveDate,
        /// Audio or video.
        medium: Medium,
        /// The consent that covered it.
        consent_id: ConsentId,
        /// That consent's version.
        consent_version: u64,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client asked to stop; nothing after `offset` may be stored.
    RecordingStopRequested {
        /// Where.
        offset: Offset,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The media was stored.
    RecordingStored {
        /// SHA-256 of the plaintext media.
        sha256: Sha256,
        /// Size in bytes.
        bytes: u64,
        /// Length.
        duration: Offset,
        /// The data key.
        data_key_id: KeyId,
        /// The audio codec found by probing.
        codec: String,
        /// The media type it is served as.
        content_type: String,
        /// The ciphertext's object in the blob store.
        object_key: String,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A bookmark was added.
    BookmarkAdded {
        /// Where.
        offset: Offset,
        /// The sealed label.
        label: Sealed,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A tutor commented.
    CommentAdded {
        /// Where.
        offset: Offset,
        /// The sealed comment.
        body: Sealed,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A transcript was attached.
    TranscriptAttached {
        /// The transcript.
        transcript_id: TranscriptId,
        /// Whole or excerpt.
        span: TranscriptSpan,
        /// The purpose.
        purpose: Purpose,
        /// SHA-256 of the WebVTT text.
        sha256: Sha256,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A playback started, on this basis.
    PlaybackStarted {
        /// Who plays.
        viewer: Viewer,
        /// Why.
        purpose: Purpose,
        /// In which medium.
        medium: Medium,
        /// The basis.
        basis: crate::access::AccessBasis,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A playback was refused.
    PlaybackRefused {
        /// Who asked.
        viewer: Viewer,
        /// Why they asked.
        purpose: Purpose,
        /// In which medium.
        medium: Medium,
        /// Why not.
        reasons: Vec<DenyReason>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Destruction was scheduled.
    RecordingDestructionScheduled {
        /// When it is due.
        due: DateTime<Utc>,
        /// Why.
        reason: DestructionReason,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The recording and everything derived from it were destroyed.
    RecordingDestroyed {
        /// Why.
        reason: DestructionReason,
        /// The data key destroyed.
        destroyed_key_id: Option<KeyId>,
        /// Digests of the objects deleted.
        object_sha256s: Vec<Sha256>,
        /// The transcripts destroyed with it.
        transcript_ids: Vec<TranscriptId>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(RecordingEvent {
    RecordingCreated => 1,
    RecordingStopRequested => 1,
    RecordingStored => 2,
    BookmarkAdded => 1,
    CommentAdded => 1,
    TranscriptAttached => 1,
    PlaybackStarted => 1,
    PlaybackRefused => 1,
    RecordingDestructionScheduled => 1,
    RecordingDestroyed => 1,
});

impl Aggregate for Recording {
    type Command = RecordingCommand;
    type Event = RecordingEvent;

    fn decide(
        &self,
        command: RecordingCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<RecordingEvent>, DomainError> {
        self.decide_command(command, ctx)
    }

    fn apply(mut self, event: &RecordingEvent) -> Self {
        self.version += 1;
        let user_of = |by: &Actor| match by {
            Actor::User { user_id } => Some(user_id.clone()),
            _ => None,
        };
        match event {
            RecordingEvent::RecordingCreated {
                recording_id,
                tenant_id,
                client_id,
                practitioner,
                course_id,
                session_on,
                medium,
                consent_id,
                at,
                ..
            } => {
                self.core = Some(RecordingCore {
                    id: *recording_id,
                    tenant_id: tenant_id.clone(),
                    client_id: *client_id,
                    practitioner: practitioner.clone(),
                    course_id: *course_id,
                    session_on: *session_on,
                    medium: *medium,
                    consent_id: *consent_id,
                    created_at: *at,
                });
                self.status = Some(RecordingStatus::AwaitingUpload);
            }
            RecordingEvent::RecordingStopRequested { offset, .. } => {
                self.stop_at = Some(*offset);
            }
            RecordingEvent::RecordingStored {
                sha256,
                bytes,
                duration,
                data_key_id,
                codec,
                content_type,
                object_key,
                at,
                ..
            } => {
                self.status = Some(RecordingStatus::Stored);
                self.media = Some(StoredMedia {
                    sha256: *sha256,
                    bytes: *bytes,
                    duration: *duration,
                    data_key_id: data_key_id.clone(),
                    codec: codec.clone(),
                    content_type: content_type.clone(),
                    object_key: object_key.clone(),
                });
                self.stored_at = Some(*at);
            }
            RecordingEvent::BookmarkAdded {
                offset,
                label,
                by,
                at,
            } => {
                if let Some(user) = user_of(by) {
                    self.bookmarks.push(Annotation {
                        offset: *offset,
                        text: label.clone(),
                        by: user,
                        at: *at,
                    });
                }
            }
            RecordingEvent::CommentAdded {
                offset,
                body,
                by,
                at,
            } => {
                if let Some(user) = user_of(by) {
                    self.comments.push(Annotation {
                        offset: *offset,
                        text: body.clone(),
                        by: user,
                        at: *at,
                    });
                }
            }
            RecordingEvent::TranscriptAttached {
                transcript_id,
                span,
                purpose,
                sha256,
                ..
            } => {
                self.transcripts.push(TranscriptRecord {
                    id: *transcript_id,
                    span: *span,
                    purpose: *purpose,
                    sha256: *sha256,
                });
            }
            RecordingEvent::PlaybackStarted { viewer, .. } => {
                if let Viewer::Member { user_id, .. } | Viewer::ExternalAssessor { user_id } =
                    viewer
                {
                    self.played_by.insert(user_id.clone());
                }
            }
            RecordingEvent::PlaybackRefused { .. } => {}
            RecordingEvent::RecordingDestructionScheduled { due, reason, .. } => {
                self.scheduled = Some((*due, *reason));
            }
            RecordingEvent::RecordingDestroyed { at, .. } => {
                self.status = Some(RecordingStatus::Destroyed);
                self.destroyed_at = Some(*at);
                // Derived data lives and dies with the recording.
                self.bookmarks.clear();
                self.comments.clear();
                self.transcripts.clear();
            }
        }
        self
    }
}
