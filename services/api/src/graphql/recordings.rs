//! Recordings and access to them: creating a recording under its consent, bookmarks and
//! transcripts, grants, playback and destruction.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use confide_domain::aggregates::grant::Grantee;
use confide_domain::aggregates::recording::{Recording, TranscriptSpan};
use confide_domain::{ConsentId, DomainError, GrantId, Offset, RecordingId, Sha256};
use uuid::Uuid;

use super::types::{Access, Medium, Purpose, RecordingView};
use super::{id, user};
use crate::caller::{app, auth, caller};
use crate::error::{ApiError, Result};
use crate::tickets;

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
        let recording = app(ctx)
            .create_recording(
                caller(ctx)?,
                id(consent_id, ConsentId::from_uuid)?,
                session_on,
                medium.into(),
            )
            .await?;
        view(&recording)
    }

    /// Grants a named person access to a recording for a purpose until a date, within what
    /// the consent covers.
    async fn grant_access(&self, ctx: &Context<'_>, input: GrantAccessInput) -> Result<Uuid> {
        let person = user(&input.user_id)?;
        let grantee = if input.external_assessor {
            Grantee::ExternalAssessor { user_id: person }
        } else {
            Grantee::Member { user_id: person }
        };
        let grant = app(ctx)
            .grant_access(
                caller(ctx)?,
                id(input.recording_id, RecordingId::from_uuid)?,
                id(input.consent_id, ConsentId::from_uuid)?,
                grantee,
                input.purpose.into(),
                input.expires_at,
            )
            .await?;
        Ok(grant.as_uuid())
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
        let caller = caller(ctx)?;
        let recording_id = id(recording_id, RecordingId::from_uuid)?;
        let (purpose, medium) = (purpose.into(), medium.into());
        let playback = app(ctx)
            .start_playback(caller, recording_id, purpose, medium)
            .await?;
        let allowed = playback.decision.is_allowed();
        let ticket = if allowed && playback.recording.media().is_some() {
            Some(
                tickets::issue_media(
                    auth(ctx),
                    caller,
                    recording_id,
                    purpose,
                    medium,
                    playback.at,
                )
                .map_err(|e| ApiError::internal(&e))?,
            )
        } else {
            None
        };
        Ok(Playback {
            allowed,
            access: Access::from(&playback.decision),
            ticket_url: ticket.as_ref().map(|(url, _)| url.clone()),
            ticket_expires_at: ticket.map(|(_, expires)| expires),
        })
    }

    /// Takes back a grant before it expires (its grantor or an org_admin).
    async fn revoke_access(&self, ctx: &Context<'_>, grant_id: Uuid) -> Result<Uuid> {
        let grant = id(grant_id, GrantId::from_uuid)?;
        app(ctx).revoke_access(caller(ctx)?, grant).await?;
        Ok(grant.as_uuid())
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
        let at = app(ctx)
            .add_bookmark(
                caller(ctx)?,
                id(recording_id, RecordingId::from_uuid)?,
                Offset::from_millis(offset_ms)?,
                &label,
            )
            .await?;
        Ok(Bookmark {
            recording_id,
            offset_ms,
            label,
            at,
        })
    }

    /// The client asks to stop the recording at `offsetMs` during the session (through
    /// their link, or their practitioner records it). The upload that follows is cut there
    /// (WAV) or refused if it runs past it, so nothing after the stop is ever stored.
    async fn request_stop(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
        offset_ms: u64,
    ) -> Result<RecordingView> {
        let recording = app(ctx)
            .request_stop(
                caller(ctx)?,
                id(recording_id, RecordingId::from_uuid)?,
                Offset::from_millis(offset_ms)?,
            )
            .await?;
        view(&recording)
    }

    /// Records that a transcript of a stored recording (the whole session, or an excerpt
    /// between two offsets) was made for a purpose, identified by the SHA-256 of its WebVTT
    /// text; allowed only where the consent covers transcripts for that purpose.
    async fn attach_transcript(
        &self,
        ctx: &Context<'_>,
        input: AttachTranscriptInput,
    ) -> Result<Uuid> {
        let span = match (input.from_ms, input.to_ms) {
            (None, None) => TranscriptSpan::Whole,
            (Some(from), Some(to)) => TranscriptSpan::Excerpt {
                from: Offset::from_millis(from)?,
                to: Offset::from_millis(to)?,
            },
            _ => {
                return Err(
                    DomainError::invalid("span", "an excerpt needs both fromMs and toMs").into(),
                );
            }
        };
        let transcript = app(ctx)
            .attach_transcript(
                caller(ctx)?,
                id(input.recording_id, RecordingId::from_uuid)?,
                input.purpose.into(),
                Sha256::parse(&input.sha256)?,
                span,
            )
            .await?;
        Ok(transcript.as_uuid())
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
        let recording = app(ctx)
            .destroy_recording(caller(ctx)?, id(recording_id, RecordingId::from_uuid)?)
            .await?;
        view(&recording)
    }
}

/// The recording as it now stands, without the caller's access.
fn view(recording: &Recording) -> Result<RecordingView> {
    RecordingView::of(recording, None)
        .ok_or_else(|| ApiError::from(DomainError::not_found("recording")))
}
