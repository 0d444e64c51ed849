//! A recording: one session's media and everything derived from it (transcripts, bookmarks,
//! tutor comments), which lives and dies with it.
//!
//! States: `awaiting_upload` → `stored` → `destroyed`. A recording is created only when a
//! consent covers it (or, under `notified_opt_out`, after the session's notice with no
//! opt-out). A client may ask to stop mid-session; nothing after the stop offset may be
//! stored. Every playback and every refused attempt is an event on the recording's stream.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{AccessDecision, AccessRequest, DenyReason, Viewer, decide_access};
use crate::aggregates::consent::{Consent, Use};
use crate::aggregates::grant::Grant;
use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{
    ClientId, ConsentId, CourseId, RecordingId, SubjectRequestId, TenantId, TranscriptId, UserId,
};
use crate::vocabulary::{Derivative, KeyId, Medium, Offset, Purpose, Role, Sealed, Sha256};

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
    fn validate(&self) -> Result<(), DomainError> {
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

    fn require_core(&self, ctx: &Ctx<'_>) -> Result<&RecordingCore, DomainError> {
        match &self.core {
            Some(core) if &core.tenant_id == ctx.tenant_id() => Ok(core),
            _ => Err(not_found("recording")),
        }
    }

    fn require_owner(
        &self,
        core: &RecordingCore,
        ctx: &Ctx<'_>,
        what: &str,
    ) -> Result<(), DomainError> {
        if ctx.user() == Some(&core.practitioner) && ctx.has_role(Role::Practitioner) {
            Ok(())
        } else {
            Err(DomainError::forbidden(format!(
                "only the recording's practitioner may {what}"
            )))
        }
    }

    fn require_not_destroyed(&self) -> Result<(), DomainError> {
        if self.status == Some(RecordingStatus::Destroyed) {
            return Err(DomainError::conflict("the recording is destroyed"));
        }
        Ok(())
    }

    fn require_stored(&self) -> Result<&StoredMedia, DomainError> {
        self.require_not_destroyed()?;
        match (&self.status, &self.media) {
            (Some(RecordingStatus::Stored), Some(media)) => Ok(media),
            _ => Err(DomainError::conflict(
                "the recording's media has not been stored yet",
            )),
        }
    }

    /// Whether the acting user or client may play this recording for `purpose` in `medium`
    /// now, and who they are as a viewer: the decision `StartPlayback` records, for callers
    /// that only need to show it (a list's access flag).
    pub fn access(
        &self,
        purpose: Purpose,
        medium: Medium,
        facts: &AccessFacts,
        ctx: &Ctx<'_>,
    ) -> Result<(Viewer, AccessDecision), DomainError> {
        self.require_core(ctx)?;
        let viewer = Self::viewer_of(ctx)?;
        let decision = decide_access(&AccessRequest {
            tenant_id: ctx.tenant_id(),
            viewer: &viewer,
            recording: self,
            purpose,
            medium,
            at: ctx.now(),
            consents: &facts.consents,
            grants: &facts.grants,
            policy: ctx.policy()?,
        });
        Ok((viewer, decision))
    }

    /// The viewer the acting user or client is, as the tenant's log knows them.
    fn viewer_of(ctx: &Ctx<'_>) -> Result<Viewer, DomainError> {
        match ctx.actor() {
            Actor::User { user_id } => Ok(match ctx.tenant().and_then(|t| t.roles_of(user_id)) {
                Some(roles) => Viewer::Member {
                    user_id: user_id.clone(),
                    roles: roles.clone(),
                },
                None => Viewer::ExternalAssessor {
                    user_id: user_id.clone(),
                },
            }),
            Actor::ClientLink { client_id } => Ok(Viewer::Client {
                client_id: *client_id,
            }),
            Actor::System { .. } => Err(DomainError::forbidden("the system never plays media")),
        }
    }
}

/// The consents and grants an access decision needs, as loaded by the application.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessFacts {
    /// Consents about the recording's client.
    pub consents: Vec<Consent>,
    /// Grants on the recording.
    pub grants: Vec<Grant>,
}

/// What may be asked of a recording.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordingCommand {
    /// Create a recording for a session (takes new id 0).
    CreateRecording {
        /// The consent (or notice) that covers the session, as loaded.
        consent: Box<Consent>,
        /// The session's date.
        session_on: NaiveDate,
        /// Audio or video.
        medium: Medium,
        /// The course, if the consent does not already name one.
        course_id: Option<CourseId>,
    },
    /// The client asked to stop at an offset.
    RequestStop {
        /// Where.
        offset: Offset,
    },
    /// The media arrived, was probed and was stored under the recording's data key.
    StoreMedia {
        /// What was stored.
        media: StoredMedia,
        /// The recording's consent as it now stands: it must still cover the recording.
        consent: Box<Consent>,
    },
    /// The practitioner marks a moment.
    AddBookmark {
        /// Where.
        offset: Offset,
        /// A sealed label.
        label: Sealed,
    },
    /// A tutor comments at a moment (only on what they may play).
    AddComment {
        /// Where.
        offset: Offset,
        /// The sealed comment.
        body: Sealed,
        /// The purpose the tutor listens for.
        purpose: Purpose,
        /// Consents and grants for the access check.
        facts: Box<AccessFacts>,
    },
    /// Attach a WebVTT transcript (takes new id 0).
    AttachTranscript {
        /// Whole or excerpt.
        span: TranscriptSpan,
        /// The purpose it is made for.
        purpose: Purpose,
        /// SHA-256 of the WebVTT text.
        sha256: Sha256,
        /// The consent that must allow the derivative, as loaded.
        consent: Box<Consent>,
    },
    /// Someone asks to play. Yields `PlaybackStarted` or `PlaybackRefused`: a refusal is a
    /// fact to record, not an error, and the caller reads the event to answer.
    StartPlayback {
        /// Why.
        purpose: Purpose,
        /// In which medium.
        medium: Medium,
        /// Consents and grants for the decision.
        facts: Box<AccessFacts>,
    },
    /// Schedule destruction (a cascade or retention).
    ScheduleDestruction {
        /// When it is due.
        due: DateTime<Utc>,
        /// Why.
        reason: DestructionReason,
    },
    /// Destroy: the data key is already destroyed by the vault; this records the proof.
    DestroyRecording {
        /// Why.
        reason: DestructionReason,
        /// The data key destroyed (required once media was stored).
        destroyed_key_id: Option<KeyId>,
        /// Digests of the objects deleted.
        object_sha256s: Vec<Sha256>,
    },
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

/// That `consent` (which names the practitioner and client) covers recording the session of
/// `session_on` in `medium` at `at`: asked when a recording is created and again when its
/// media is stored, so a consent withdrawn in between stops the upload.
fn require_recording_consent(
    consent: &Consent,
    ctx: &Ctx<'_>,
    session_on: NaiveDate,
    medium: Medium,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let policy = ctx.policy()?;
    let Some(cc) = consent.core() else {
        return Err(DomainError::consent_required(
            "a recording is made only under a consent (or notice) that covers it",
        ));
    };
    consent
        .coverage(&Use {
            tenant_id: ctx.tenant_id(),
            model: policy.policy.consent_model,
            client_id: cc.client_id,
            practitioner: &cc.practitioner,
            session_on: Some(session_on),
            at,
            purpose: None,
            medium: None,
            derivative: None,
            listener: None,
        })
        .map_err(|gaps| {
            DomainError::consent_required(format!(
                "no consent covers recording this session: {gaps:?}"
            ))
        })?;
    let medium_consented = consent
        .purposes()
        .values()
        .any(|p| p.withdrawn_at.is_none() && p.terms.media.contains(&medium));
    if !medium_consented {
        return Err(DomainError::consent_required(format!(
            "the consent allows no purpose in {medium}"
        )));
    }
    Ok(())
}

impl Aggregate for Recording {
    type Command = RecordingCommand;
    type Event = RecordingEvent;

    fn decide(
        &self,
        command: RecordingCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<RecordingEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        match command {
            RecordingCommand::CreateRecording {
                consent,
                session_on,
                medium,
                course_id,
            } => {
                if self.core.is_some() {
                    return Err(DomainError::conflict("the recording already exists"));
                }
                let policy = ctx.policy()?;
                let Some(cc) = consent.core().filter(|c| &c.tenant_id == ctx.tenant_id()) else {
                    return Err(DomainError::consent_required(
                        "a recording is created only under a consent (or notice) that covers it",
                    ));
                };
                if ctx.user() != Some(&cc.practitioner) || !ctx.has_role(Role::Practitioner) {
                    return Err(DomainError::forbidden(
                        "only the practitioner named in the consent records the session",
                    ));
                }
                if medium == Medium::Transcript {
                    return Err(DomainError::invalid(
                        "medium",
                        "a recording is audio or video; transcripts are attached to one",
                    ));
                }
                if !policy.policy.allowed_media.allows(medium) {
                    return Err(DomainError::forbidden(format!(
                        "the tenant policy does not allow {medium} recordings"
                    )));
                }
                require_recording_consent(&consent, ctx, session_on, medium, at)?;
                let course_id = match (cc.course_id, course_id) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(DomainError::invalid(
                            "course_id",
                            "the consent is for another course",
                        ));
                    }
                    (a, b) => a.or(b),
                };
                let recording_id = RecordingId::from_uuid(ctx.new_id(0)?)?;
                Ok(vec![RecordingEvent::RecordingCreated {
                    recording_id,
                    tenant_id: ctx.tenant_id().clone(),
                    client_id: cc.client_id,
                    practitioner: cc.practitioner.clone(),
                    course_id,
                    session_on,
                    medium,
                    consent_id: cc.id,
                    consent_version: consent.version(),
                    by,
                    at,
                }])
            }
            RecordingCommand::RequestStop { offset } => {
                let core = self.require_core(ctx)?;
                let may = ctx.client_link() == Some(core.client_id)
                    || (ctx.user() == Some(&core.practitioner) && ctx.has_role(Role::Practitioner));
                if !may {
                    return Err(DomainError::forbidden(
                        "a stop is asked by the client or recorded by their practitioner",
                    ));
                }
                if self.status != Some(RecordingStatus::AwaitingUpload) {
                    return Err(DomainError::conflict(
                        "a stop applies during the session, before the media is stored",
                    ));
                }
                if self.stop_at.is_some_and(|earlier| earlier <= offset) {
                    return Err(DomainError::conflict(
                        "the client already asked to stop at or before this offset",
                    ));
                }
                Ok(vec![RecordingEvent::RecordingStopRequested {
                    offset,
                    by,
                    at,
                }])
            }
            RecordingCommand::StoreMedia { media, consent } => {
                let core = self.require_core(ctx)?;
                self.require_owner(core, ctx, "upload its media")?;
                self.require_not_destroyed()?;
                if self.status != Some(RecordingStatus::AwaitingUpload) {
                    return Err(DomainError::conflict("the media is already stored"));
                }
                if self.scheduled.is_some() {
                    return Err(DomainError::conflict(
                        "the recording is scheduled for destruction; its media may not be stored",
                    ));
                }
                if media.bytes == 0 {
                    return Err(DomainError::invalid("bytes", "the media is empty"));
                }
                media.validate()?;
                if consent.core().map(|c| c.id) != Some(core.consent_id) {
                    return Err(DomainError::invalid(
                        "consent",
                        "the consent given is not the recording's",
                    ));
                }
                require_recording_consent(&consent, ctx, core.session_on, core.medium, at)?;
                if let Some(stop) = self.stop_at
                    && media.duration > stop
                {
                    return Err(DomainError::forbidden(format!(
                        "the client asked to stop at {} ms; nothing after it may be stored (the media runs to {} ms)",
                        stop.as_millis(),
                        media.duration.as_millis()
                    )));
                }
                let StoredMedia {
                    sha256,
                    bytes,
                    duration,
                    data_key_id,
                    codec,
                    content_type,
                    object_key,
                } = media;
                Ok(vec![RecordingEvent::RecordingStored {
                    sha256,
                    bytes,
                    duration,
                    data_key_id,
                    codec,
                    content_type,
                    object_key,
                    by,
                    at,
                }])
            }
            RecordingCommand::AddBookmark { offset, label } => {
                let core = self.require_core(ctx)?;
                self.require_owner(core, ctx, "bookmark it")?;
                let media = self.require_stored()?;
                if offset > media.duration {
                    return Err(DomainError::invalid(
                        "offset",
                        "the bookmark is past the end of the recording",
                    ));
                }
                Ok(vec![RecordingEvent::BookmarkAdded {
                    offset,
                    label,
                    by,
                    at,
                }])
            }
            RecordingCommand::AddComment {
                offset,
                body,
                purpose,
                facts,
            } => {
                self.require_core(ctx)?;
                ctx.require_role(Role::Tutor, "comment on recordings")?;
                let media = self.require_stored()?;
                if offset > media.duration {
                    return Err(DomainError::invalid(
                        "offset",
                        "the comment is past the end of the recording",
                    ));
                }
                let viewer = Self::viewer_of(ctx)?;
                let medium = self.core.as_ref().map_or(Medium::Audio, |c| c.medium);
                let decision = decide_access(&AccessRequest {
                    tenant_id: ctx.tenant_id(),
                    viewer: &viewer,
                    recording: self,
                    purpose,
                    medium,
                    at,
                    consents: &facts.consents,
                    grants: &facts.grants,
                    policy: ctx.policy()?,
                });
                if let AccessDecision::Deny { reasons } = decision {
                    return Err(DomainError::forbidden(format!(
                        "a tutor comments only on what they may play: {reasons:?}"
                    )));
                }
                Ok(vec![RecordingEvent::CommentAdded {
                    offset,
                    body,
                    by,
                    at,
                }])
            }
            RecordingCommand::AttachTranscript {
                span,
                purpose,
                sha256,
                consent,
            } => {
                let core = self.require_core(ctx)?;
                self.require_owner(core, ctx, "attach transcripts")?;
                let media = self.require_stored()?;
                let derivative = match span {
                    TranscriptSpan::Whole => Derivative::Transcript,
                    TranscriptSpan::Excerpt { from, to } => {
                        if from >= to || to > media.duration {
                            return Err(DomainError::invalid(
                                "span",
                                "an excerpt runs forwards within the recording",
                            ));
                        }
                        Derivative::Excerpt
                    }
                };
                let policy = ctx.policy()?;
                consent
                    .coverage(&Use {
                        tenant_id: ctx.tenant_id(),
                        model: policy.policy.consent_model,
                        client_id: core.client_id,
                        practitioner: &core.practitioner,
                        session_on: Some(core.session_on),
                        at,
                        purpose: Some(purpose),
                        medium: Some(Medium::Transcript),
                        derivative: Some(derivative),
                        listener: None,
                    })
                    .map_err(|gaps| {
                        DomainError::consent_required(format!(
                            "the consent does not allow this transcript: {gaps:?}"
                        ))
                    })?;
                let transcript_id = TranscriptId::from_uuid(ctx.new_id(0)?)?;
                Ok(vec![RecordingEvent::TranscriptAttached {
                    transcript_id,
                    span,
                    purpose,
                    sha256,
                    by,
                    at,
                }])
            }
            RecordingCommand::StartPlayback {
                purpose,
                medium,
                facts,
            } => {
                let (viewer, decision) = self.access(purpose, medium, &facts, ctx)?;
                Ok(vec![match decision {
                    AccessDecision::Allow { basis } => RecordingEvent::PlaybackStarted {
                        viewer,
                        purpose,
                        medium,
                        basis,
                        by,
                        at,
                    },
                    AccessDecision::Deny { reasons } => RecordingEvent::PlaybackRefused {
                        viewer,
                        purpose,
                        medium,
                        reasons,
                        by,
                        at,
                    },
                }])
            }
            RecordingCommand::ScheduleDestruction { due, reason } => {
                let core = self.require_core(ctx)?;
                let may = ctx.is_system()
                    || ctx.has_role(Role::OrgAdmin)
                    || (ctx.user() == Some(&core.practitioner) && ctx.has_role(Role::Practitioner));
                if !may {
                    return Err(DomainError::forbidden(
                        "destruction is scheduled by the system, an org_admin or the practitioner",
                    ));
                }
                self.require_not_destroyed()?;
                if let Some((earlier, _)) = self.scheduled
                    && earlier <= due
                {
                    // Scheduling is idempotent: a cascade or retention run that repeats
                    // itself changes nothing, and a later date never postpones an earlier one.
                    return Err(DomainError::conflict(
                        "destruction is already scheduled at or before this time",
                    ));
                }
                Ok(vec![RecordingEvent::RecordingDestructionScheduled {
                    due,
                    reason,
                    by,
                    at,
                }])
            }
            RecordingCommand::DestroyRecording {
                reason,
                destroyed_key_id,
                object_sha256s,
            } => {
                let core = self.require_core(ctx)?;
                let may = ctx.is_system()
                    || ctx.has_role(Role::OrgAdmin)
                    || (ctx.user() == Some(&core.practitioner) && ctx.has_role(Role::Practitioner));
                if !may {
                    return Err(DomainError::forbidden(
                        "a recording is destroyed by the system, an org_admin or its practitioner",
                    ));
                }
                self.require_not_destroyed()?;
                if let Some(media) = &self.media
                    && destroyed_key_id.as_ref() != Some(&media.data_key_id)
                {
                    // The proof of crypto-shredding is the id of the key destroyed; naming
                    // another key would record a destruction that did not happen.
                    return Err(DomainError::invalid(
                        "destroyed_key_id",
                        "the key destroyed must be the recording's data key",
                    ));
                }
                Ok(vec![RecordingEvent::RecordingDestroyed {
                    reason,
                    destroyed_key_id,
                    object_sha256s,
                    transcript_ids: self.transcripts.iter().map(|t| t.id).collect(),
                    by,
                    at,
                }])
            }
        }
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
