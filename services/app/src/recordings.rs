//! Recordings and access to them: creating a recording under its consent, grants, playback
//! decisions (recorded either way), transcripts, and what the caller may see.

use chrono::{DateTime, NaiveDate, Utc};
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::grant::{
    Grant, GrantCommand, GrantEvent, Grantee, RevocationReason,
};
use confide_domain::aggregates::recording::{
    AccessFacts, Recording, RecordingCommand, RecordingEvent, TranscriptSpan,
};
use confide_domain::{
    AccessDecision, Actor, ConsentId, DomainError, GrantId, Medium, Offset, Purpose, RecordingId,
    Sha256, TenantId, TranscriptId, Viewer, reads,
};
use uuid::Uuid;

use confide_eventstore::StreamId;

use crate::work::Work;
use crate::{App, AppError, Caller, Subject, stream};

/// A recording with the caller's access to it.
#[derive(Clone, Debug)]
pub struct RecordingView {
    pub recording: Recording,
    pub access: AccessDecision,
}

/// A playback decision as recorded: `PlaybackStarted` with its basis, or `PlaybackRefused`
/// with its reasons, and the recording as the decision saw it.
#[derive(Clone, Debug)]
pub struct Playback {
    pub event: RecordingEvent,
    pub decision: AccessDecision,
    /// When the decision was recorded.
    pub at: DateTime<Utc>,
    pub recording: Recording,
}

impl App {
    /// Creates a recording of a session under the consent (or notice) that covers it.
    pub async fn create_recording(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        session_on: NaiveDate,
        medium: Medium,
    ) -> Result<Recording, AppError> {
        reads::member(&caller.actor)?;
        let recording_id = RecordingId::from_uuid(Uuid::now_v7())?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            Box::pin(async move {
                let consent: Consent = work.load(&stream(consent_id)).await?;
                let course_id = consent.core().and_then(|c| c.course_id);
                let target = stream(recording_id);
                let recording: Recording = work.load(&target).await?;
                work.decide(
                    &target,
                    &recording,
                    RecordingCommand::CreateRecording {
                        consent: Box::new(consent),
                        session_on,
                        medium,
                        course_id,
                    },
                    &[recording_id.as_uuid()],
                )
            })
        })
        .await?;
        self.existing_recording(&caller.tenant, recording_id).await
    }

    /// Grants `grantee` access to a recording for `purpose` until `expires_at`, under the
    /// consent that must cover them; conditioned on the recording and the consent being as
    /// the decision saw them.
    pub async fn grant_access(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        consent_id: ConsentId,
        grantee: Grantee,
        purpose: Purpose,
        expires_at: DateTime<Utc>,
    ) -> Result<GrantId, AppError> {
        reads::member(&caller.actor)?;
        let grant_id = GrantId::from_uuid(Uuid::now_v7())?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            let grantee = grantee.clone();
            Box::pin(async move {
                let target = stream(grant_id);
                let grant: Grant = work.load(&target).await?;
                let recording: Recording = work.load(&stream(recording_id)).await?;
                let consent: Consent = work.load(&stream(consent_id)).await?;
                work.decide(
                    &target,
                    &grant,
                    GrantCommand::GrantAccess {
                        recording: Box::new(recording),
                        consent: Box::new(consent),
                        grantee,
                        purpose,
                        expires_at,
                    },
                    &[grant_id.as_uuid()],
                )
            })
        })
        .await?;
        Ok(grant_id)
    }

    /// Takes back a grant before it expires (its grantor or an org_admin).
    pub async fn revoke_access(
        &self,
        caller: &Caller,
        grant_id: GrantId,
    ) -> Result<Vec<GrantEvent>, AppError> {
        reads::member(&caller.actor)?;
        self.execute::<Grant>(
            &caller.tenant,
            &caller.actor,
            &stream(grant_id),
            GrantCommand::RevokeAccess {
                reason: RevocationReason::RevokedByGrantor,
            },
            &[],
        )
        .await
    }

    /// Decides whether the caller may play a recording for `purpose` in `medium`, from the
    /// consents about its client that cover its session and the grants on it to the caller
    /// (`access_facts`), and records the decision: a `PlaybackStarted` with its basis, or a
    /// `PlaybackRefused` with its reasons. The append is conditioned on every consent and
    /// grant the decision read, so a withdrawal committed before it makes it decide again.
    pub async fn start_playback(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
        medium: Medium,
    ) -> Result<Playback, AppError> {
        let target = stream(recording_id);
        let prefetch = [stream(recording_id)];
        self.transact_on(&caller.tenant, &caller.actor, &prefetch, move |work| {
            let target = target.clone();
            Box::pin(async move {
                let recording: Recording = work.load(&target).await?;
                let facts = access_facts(work, &recording).await?;
                let decided = work.decide(
                    &target,
                    &recording,
                    RecordingCommand::StartPlayback {
                        purpose,
                        medium,
                        facts: Box::new(facts),
                    },
                    &[],
                )?;
                let recorded = || DomainError::conflict("a playback decision recorded nothing");
                let event = decided.into_iter().next().ok_or_else(recorded)?;
                let (decision, at) = match &event {
                    RecordingEvent::PlaybackStarted { basis, at, .. } => (
                        AccessDecision::Allow {
                            basis: basis.clone(),
                        },
                        *at,
                    ),
                    RecordingEvent::PlaybackRefused { reasons, at, .. } => (
                        AccessDecision::Deny {
                            reasons: reasons.clone(),
                        },
                        *at,
                    ),
                    _ => return Err(recorded().into()),
                };
                Ok(Playback {
                    event,
                    decision,
                    at,
                    recording,
                })
            })
        })
        .await
    }

    /// The client asks, during the session, to stop the recording at `offset` (through their
    /// link, or their practitioner records it): nothing after it is ever stored, because the
    /// upload is cut there (WAV) or refused if it runs past it.
    pub async fn request_stop(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        offset: Offset,
    ) -> Result<Recording, AppError> {
        self.execute::<Recording>(
            &caller.tenant,
            &caller.actor,
            &stream(recording_id),
            RecordingCommand::RequestStop { offset },
            &[],
        )
        .await?;
        self.existing_recording(&caller.tenant, recording_id).await
    }

    /// Records that a transcript of a stored recording (the whole session, or an excerpt)
    /// was made for a purpose, identified by the SHA-256 of its WebVTT text; allowed only
    /// where the consent covers transcripts for that purpose.
    pub async fn attach_transcript(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
        sha256: Sha256,
        span: TranscriptSpan,
    ) -> Result<TranscriptId, AppError> {
        reads::member(&caller.actor)?;
        let transcript_id = TranscriptId::from_uuid(Uuid::now_v7())?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            Box::pin(async move {
                let target = stream(recording_id);
                let recording: Recording = work.load(&target).await?;
                let core = recording
                    .core()
                    .ok_or_else(|| DomainError::not_found("recording"))?;
                let consent: Consent = work.load(&stream(core.consent_id)).await?;
                work.decide(
                    &target,
                    &recording,
                    RecordingCommand::AttachTranscript {
                        span,
                        purpose,
                        sha256,
                        consent: Box::new(consent),
                    },
                    &[transcript_id.as_uuid()],
                )
            })
        })
        .await?;
        Ok(transcript_id)
    }

    /// A recording of the tenant that exists, as it now stands.
    pub(crate) async fn existing_recording(
        &self,
        tenant: &TenantId,
        recording_id: RecordingId,
    ) -> Result<Recording, AppError> {
        let recording = self
            .load::<Recording>(tenant, &stream(recording_id))
            .await?
            .state;
        recording
            .core()
            .ok_or_else(|| DomainError::not_found("recording"))?;
        Ok(recording)
    }

    /// One recording with whether the caller may play it for `purpose` (in audio) now,
    /// decided as `start_playback` decides and recorded by nothing; `None` for a recording
    /// that does not exist, or one an outsider may not play.
    pub async fn recording(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
    ) -> Result<Option<RecordingView>, AppError> {
        reads::member(&caller.actor)?;
        match self
            .access_now(caller, recording_id, purpose, Medium::Audio)
            .await
        {
            Ok((view, outsider)) if outsider && !view.access.is_allowed() => Ok(None),
            Ok((view, _)) => Ok(Some(view)),
            Err(AppError::Domain(DomainError::NotFound { .. })) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// One of a client's recordings with the caller's access for `purpose` (in audio) now,
    /// recorded by nothing: the client through their link (another client's recording is not
    /// found), or a member of the organisation.
    pub async fn client_recording(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
    ) -> Result<RecordingView, AppError> {
        let (view, _) = self
            .access_now(caller, recording_id, purpose, Medium::Audio)
            .await?;
        let client = view
            .recording
            .core()
            .ok_or_else(|| DomainError::not_found("recording"))?
            .client_id;
        let organisation = self.organisation(&caller.tenant).await?;
        reads::client_records(&organisation, &caller.actor, client)?;
        Ok(view)
    }

    /// Whether the caller may play the recording for `purpose` in `medium` now, decided as
    /// `start_playback` decides and recorded by nothing, and whether the caller is an outsider
    /// (a user with no role in the tenant). Two reads: the tenant's stream with the
    /// recording's, then the consents and grants the decision needs (`access_facts`).
    pub(crate) async fn access_now(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
        medium: Medium,
    ) -> Result<(RecordingView, bool), AppError> {
        let target = stream(recording_id);
        let mut work = self
            .reader(&caller.tenant, &caller.actor, std::slice::from_ref(&target))
            .await?;
        let recording: Recording = work.load(&target).await?;
        let facts = access_facts(&mut work, &recording).await?;
        let (_, access) = recording.access(purpose, medium, &facts, &work.ctx())?;
        let outsider = reads::outsider(work.organisation(), &caller.actor);
        Ok((RecordingView { recording, access }, outsider))
    }

    /// A unit of work that will only read, with `prefetch` read together with the tenant's
    /// stream: a consistent way to decide without appending.
    pub(crate) async fn reader(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        prefetch: &[StreamId],
    ) -> Result<Work<'_>, AppError> {
        Work::begin(self, tenant, actor, prefetch).await
    }
}

/// What a decision about `recording` by the work's viewer reads, in one read and indexed by
/// what it decides on: the consents about the recording's client whose scope includes its
/// session (that session's and the engagement's) and the grants on the recording to this
/// viewer. The decision skips every other consent and grant (`confide_domain::AccessRequest`),
/// so it answers as it would from all of them, at a cost that grows with neither the tenant
/// nor the client's other sessions. Each stream read is a condition of the work's append.
pub(crate) async fn access_facts(
    work: &mut Work<'_>,
    recording: &Recording,
) -> Result<AccessFacts, AppError> {
    let core = recording
        .core()
        .ok_or_else(|| DomainError::not_found("recording"))?;
    let viewer = Viewer::of(&work.ctx())?;
    let client = core.client_id.to_string();
    let mut found = work
        .linked_each(&[
            (
                Subject::ClientSession {
                    client: client.clone(),
                    session_on: core.session_on.to_string(),
                },
                "consent",
            ),
            (Subject::ClientEngagement(client), "consent"),
            (
                Subject::RecordingGrantee {
                    recording: core.id.to_string(),
                    grantee: viewer.grantee(),
                },
                "grant",
            ),
        ])
        .await?
        .into_iter();
    let (session, engagement, grants) = (
        found.next().unwrap_or_default(),
        found.next().unwrap_or_default(),
        found.next().unwrap_or_default(),
    );
    // The decision takes the first consent that covers, in stream order, as it would from
    // the client's whole list: merge the two lists, each already in that order. (Stream
    // names of one kind differ only in lowercase hexadecimal digits at the same places, so
    // the database's order and the bytes' agree.)
    let mut consents = Vec::with_capacity(session.len() + engagement.len());
    let (mut session, mut engagement) = (
        session.into_iter().peekable(),
        engagement.into_iter().peekable(),
    );
    loop {
        let next = match (session.peek(), engagement.peek()) {
            (Some((a, _)), Some((b, _))) if a.as_str() <= b.as_str() => session.next(),
            (Some(_), Some(_)) | (None, Some(_)) => engagement.next(),
            (Some(_), None) => session.next(),
            (None, None) => break,
        };
        consents.extend(next);
    }
    let consents = work.fold_rows::<Consent>(consents)?;
    let grants = work.fold_rows::<Grant>(grants)?;
    Ok(AccessFacts {
        consents: consents.into_iter().map(|(_, c)| c).collect(),
        grants: grants.into_iter().map(|(_, g)| g).collect(),
    })
}
