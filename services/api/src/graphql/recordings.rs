//! Recordings and access to them: creating a recording under its consent, bookmarks and
//! transcripts, grants, playback and destruction.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use confide_app::{Loaded, Vault};
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::grant::{Grant, GrantCommand, Grantee, RevocationReason};
use confide_domain::aggregates::recording::{
    DestructionReason, Recording, RecordingCommand, RecordingCore, RecordingEvent, TranscriptSpan,
};
use confide_domain::{
    ConsentId, DomainError, GrantId, Offset, RecordingId, Sealed, Sha256, TranscriptId,
};
use confide_eventstore::StreamId;
use uuid::Uuid;

use super::mutation::{internal, user};
use super::types::{Access, Medium, Purpose, RecordingView};
use super::{bad_input, caller, coded, error, member, services, stream};

#[derive(Default)]
pub(super) struct RecordingMutation;

#[derive(InputObject)]
struct GrantAccessInput {
    recording_id: Uuid,
    consent_id: Uuid,
    /// The person: a member, or an external assessor.
    user_id: String,
    #[graphql(default)]
    external_assessor: bool,
    purpose: Purpose,
    expires_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
struct Playback {
    allowed: bool,
    access: Access,
    /// Where to fetch the media, with HTTP Range (`GET`, no other credentials): a ticket
    /// bound to the caller, the recording and the purpose. None when refused, or while the
    /// media has not been uploaded.
    ticket_url: Option<String>,
    /// When the ticket stops working. Access that ends sooner (a withdrawal) stops it sooner.
    ticket_expires_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
struct AttachTranscriptInput {
    recording_id: Uuid,
    purpose: Purpose,
    /// SHA-256 of the transcript's WebVTT text, hex.
    sha256: String,
    /// An excerpt's start; the whole session when both bounds are absent.
    from_ms: Option<u64>,
    /// An excerpt's end (exclusive).
    to_ms: Option<u64>,
}

#[derive(SimpleObject)]
struct Bookmark {
    recording_id: Uuid,
    offset_ms: u64,
    label: String,
    at: DateTime<Utc>,
}

#[Object]
impl RecordingMutation {
    /// Creates a recording of a session under the consent (or notice) that covers it.
    async fn create_recording(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
        session_on: NaiveDate,
        medium: Medium,
    ) -> Result<RecordingView> {
        let (principal, _) = member(ctx)?;
        let app = &services(ctx).app;
        let tenant = &principal.tenant;
        let consent_id = ConsentId::from_uuid(consent_id).map_err(bad_input)?;
        let consent: Loaded<Consent> = app
            .load(tenant, &stream("consent", consent_id)?)
            .await
            .map_err(error)?;
        let course_id = consent.state.core().and_then(|c| c.course_id);
        let recording_id = RecordingId::from_uuid(Uuid::now_v7()).map_err(bad_input)?;
        let recording_stream = stream("recording", recording_id)?;
        app.execute::<Recording>(
            tenant,
            &principal.actor,
            &recording_stream,
            RecordingCommand::CreateRecording {
                consent: Box::new(consent.state),
                session_on,
                medium: medium.into(),
                course_id,
            },
            &[recording_id.as_uuid()],
        )
        .await
        .map_err(error)?;
        current(ctx, &recording_stream).await
    }

    /// Grants a named person access to a recording for a purpose until a date, within what
    /// the consent covers.
    async fn grant_access(&self, ctx: &Context<'_>, input: GrantAccessInput) -> Result<Uuid> {
        let (principal, _) = member(ctx)?;
        let grant_id = GrantId::from_uuid(Uuid::now_v7()).map_err(bad_input)?;
        let person = user(&input.user_id)?;
        let grantee = if input.external_assessor {
            Grantee::ExternalAssessor { user_id: person }
        } else {
            Grantee::Member { user_id: person }
        };
        services(ctx)
            .app
            .grant_access(
                &principal.tenant,
                &principal.actor,
                grant_id,
                RecordingId::from_uuid(input.recording_id).map_err(bad_input)?,
                ConsentId::from_uuid(input.consent_id).map_err(bad_input)?,
                grantee,
                input.purpose.into(),
                input.expires_at,
            )
            .await
            .map_err(error)?;
        Ok(grant_id.as_uuid())
    }

    /// Asks to play a recording. The decision is recorded either way: a playback with its
    /// basis, or a refusal with its reasons.
    async fn start_playback(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
        purpose: Purpose,
        #[graphql(default_with = "Medium::Audio")] medium: Medium,
    ) -> Result<Playback> {
        // A client link may ask too: a client plays their own copy under a `client_copy`
        // grant, and a link asking for anything else is refused and the refusal recorded.
        let principal = caller(ctx)?;
        let services = services(ctx);
        let recording_id = RecordingId::from_uuid(recording_id).map_err(bad_input)?;
        let (purpose, medium) = (purpose.into(), medium.into());
        let (event, recording) = services
            .app
            .start_playback(
                &principal.tenant,
                &principal.actor,
                recording_id,
                purpose,
                medium,
            )
            .await
            .map_err(error)?;
        let (decision, at) = match event {
            RecordingEvent::PlaybackStarted { basis, at, .. } => {
                (confide_domain::AccessDecision::Allow { basis }, at)
            }
            RecordingEvent::PlaybackRefused { reasons, at, .. } => {
                (confide_domain::AccessDecision::Deny { reasons }, at)
            }
            _ => return Err(coded("no playback decision".to_owned(), "INTERNAL")),
        };
        let ticket = if decision.is_allowed() && recording.media().is_some() {
            Some(
                crate::media::issue_ticket(services, principal, recording_id, purpose, medium, at)
                    .map_err(|e| coded(e.to_string(), "INTERNAL"))?,
            )
        } else {
            None
        };
        Ok(Playback {
            allowed: decision.is_allowed(),
            access: Access::from(&decision),
            ticket_url: ticket.as_ref().map(|(url, _)| url.clone()),
            ticket_expires_at: ticket.map(|(_, expires)| expires),
        })
    }

    /// Takes back a grant before it expires (its grantor or an org_admin).
    async fn revoke_access(&self, ctx: &Context<'_>, grant_id: Uuid) -> Result<Uuid> {
        let (principal, _) = member(ctx)?;
        let id = GrantId::from_uuid(grant_id).map_err(bad_input)?;
        services(ctx)
            .app
            .execute::<Grant>(
                &principal.tenant,
                &principal.actor,
                &stream("grant", id)?,
                GrantCommand::RevokeAccess {
                    reason: RevocationReason::RevokedByGrantor,
                },
                &[],
            )
            .await
            .map_err(error)?;
        Ok(id.as_uuid())
    }

    /// The practitioner marks a moment of a stored recording. The label is sealed under the
    /// recording's own data key, so destroying the recording (or erasing the client, which
    /// destroys their recordings) leaves it unreadable with the media.
    async fn add_bookmark(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
        offset_ms: u64,
        label: String,
    ) -> Result<Bookmark> {
        let (principal, _) = member(ctx)?;
        let services = services(ctx);
        let tenant = &principal.tenant;
        let (recording_stream, recording, _) = existing(ctx, recording_id).await?;
        let key = recording
            .state
            .media()
            .map(|m| m.data_key_id.clone())
            .ok_or_else(|| {
                bad_input(DomainError::conflict(
                    "a bookmark marks stored media; upload it first",
                ))
            })?;
        let sealed = services
            .keys
            .seal(tenant, &key, label.as_bytes())
            .await
            .map_err(internal)?;
        let offset = Offset::from_millis(offset_ms).map_err(bad_input)?;
        let events = services
            .app
            .execute::<Recording>(
                tenant,
                &principal.actor,
                &recording_stream,
                RecordingCommand::AddBookmark {
                    offset,
                    label: Sealed::new(key, sealed).map_err(bad_input)?,
                },
                &[],
            )
            .await
            .map_err(error)?;
        match events.first() {
            Some(RecordingEvent::BookmarkAdded { at, .. }) => Ok(Bookmark {
                recording_id,
                offset_ms,
                label,
                at: *at,
            }),
            _ => Err(coded("no bookmark was recorded".to_owned(), "INTERNAL")),
        }
    }

    /// Records that a transcript of a stored recording (the whole session, or an excerpt
    /// between two offsets) was made for a purpose, identified by the SHA-256 of its WebVTT
    /// text; allowed only where the consent covers transcripts for that purpose.
    async fn attach_transcript(
        &self,
        ctx: &Context<'_>,
        input: AttachTranscriptInput,
    ) -> Result<Uuid> {
        let (principal, _) = member(ctx)?;
        let app = &services(ctx).app;
        let tenant = &principal.tenant;
        let (recording_stream, _, core) = existing(ctx, input.recording_id).await?;
        let consent: Loaded<Consent> = app
            .load(tenant, &stream("consent", core.consent_id)?)
            .await
            .map_err(error)?;
        let span = match (input.from_ms, input.to_ms) {
            (None, None) => TranscriptSpan::Whole,
            (Some(from), Some(to)) => TranscriptSpan::Excerpt {
                from: Offset::from_millis(from).map_err(bad_input)?,
                to: Offset::from_millis(to).map_err(bad_input)?,
            },
            _ => {
                return Err(bad_input(DomainError::invalid(
                    "span",
                    "an excerpt needs both fromMs and toMs",
                )));
            }
        };
        let transcript_id = TranscriptId::from_uuid(Uuid::now_v7()).map_err(bad_input)?;
        app.execute::<Recording>(
            tenant,
            &principal.actor,
            &recording_stream,
            RecordingCommand::AttachTranscript {
                span,
                purpose: input.purpose.into(),
                sha256: Sha256::parse(&input.sha256).map_err(bad_input)?,
                consent: Box::new(consent.state),
            },
            &[transcript_id.as_uuid()],
        )
        .await
        .map_err(error)?;
        Ok(transcript_id.as_uuid())
    }

    /// Destroys a recording now (its practitioner or an org_admin): the request is recorded,
    /// then the data key is destroyed, so whatever ciphertext remains can never be read, then
    /// the object is deleted and the destruction recorded with the key's id. If it is cut
    /// short, the server's destruction job finishes it.
    async fn destroy_recording(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
    ) -> Result<RecordingView> {
        let (principal, _) = member(ctx)?;
        let services = services(ctx);
        let (recording_stream, _, core) = existing(ctx, recording_id).await?;
        services
            .app
            .destroy_recording(
                Vault {
                    keys: services.keys.as_ref(),
                    blobs: services.blobs.as_ref(),
                },
                &principal.tenant,
                &principal.actor,
                core.id,
                DestructionReason::Manual,
            )
            .await
            .map_err(error)?;
        current(ctx, &recording_stream).await
    }
}

/// A recording of the caller's tenant that exists: its stream, its state and the facts fixed
/// at its creation.
async fn existing(
    ctx: &Context<'_>,
    id: Uuid,
) -> Result<(StreamId, Loaded<Recording>, RecordingCore)> {
    let principal = caller(ctx)?;
    let id = RecordingId::from_uuid(id).map_err(bad_input)?;
    let recording_stream = stream("recording", id)?;
    let recording: Loaded<Recording> = services(ctx)
        .app
        .load(&principal.tenant, &recording_stream)
        .await
        .map_err(error)?;
    let core = recording
        .state
        .core()
        .cloned()
        .ok_or_else(|| bad_input(DomainError::not_found("recording")))?;
    Ok((recording_stream, recording, core))
}

/// The recording as it now stands, without the caller's access.
async fn current(ctx: &Context<'_>, recording_stream: &StreamId) -> Result<RecordingView> {
    let principal = caller(ctx)?;
    let recording: Loaded<Recording> = services(ctx)
        .app
        .load(&principal.tenant, recording_stream)
        .await
        .map_err(error)?;
    RecordingView::of(&recording.state, None)
        .ok_or_else(|| bad_input(DomainError::not_found("recording")))
}
