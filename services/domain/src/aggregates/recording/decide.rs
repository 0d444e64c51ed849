//! The decisions: what may be asked of a recording (its commands), whether someone may play
//! it (the access decision a playback records), and the rules that decide each command, with
//! the consent check that creating a recording and storing its media both make.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    AccessFacts, DestructionReason, Recording, RecordingCore, RecordingEvent, RecordingStatus,
    StoredMedia, TranscriptSpan,
};
use crate::access::{AccessDecision, AccessRequest, DenyReason, Viewer, decide_access};
use crate::aggregates::consent::{Consent, ConsentGap, Use, sentence};
use crate::aggregates::not_found;
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::ids::{CourseId, RecordingId, TranscriptId};
use crate::vocabulary::{Derivative, KeyId, Medium, Offset, Purpose, Role, Sealed, Sha256};

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
                "no consent covers recording this session: {}",
                sentence(&gaps)
            ))
            .with_reasons(gaps.iter().map(ConsentGap::code))
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

impl Recording {
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
        let core = self.require_core(ctx)?;
        // A client link acts only on its own client's recordings: any other is not found, and
        // no decision about someone else's recording is recorded.
        if let Actor::ClientLink { client_id } = ctx.actor()
            && *client_id != core.client_id
        {
            return Err(not_found("recording"));
        }
        let viewer = Viewer::of(ctx)?;
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

    /// Decides `command` in the current state: the body of [`Aggregate::decide`] for a
    /// recording.
    ///
    /// [`Aggregate::decide`]: crate::aggregates::Aggregate::decide
    pub(super) fn decide_command(
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
                crate::limits::session_date("session_on", session_on, at)?;
                let policy = ctx.policy()?;
                // A consent of another tenant, like one that does not exist, is not found.
                let Some(cc) = consent.core().filter(|c| &c.tenant_id == ctx.tenant_id()) else {
                    return Err(not_found("consent"));
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
                if let Actor::ClientLink { client_id } = ctx.actor()
                    && *client_id != core.client_id
                {
                    return Err(not_found("recording"));
                }
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
                let viewer = Viewer::of(ctx)?;
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
                        "a tutor comments only on what they may play: {}",
                        sentence(&reasons)
                    ))
                    .with_reasons(reasons.iter().map(DenyReason::code)));
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
                            "the consent does not allow this transcript: {}",
                            sentence(&gaps)
                        ))
                        .with_reasons(gaps.iter().map(ConsentGap::code))
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
}
