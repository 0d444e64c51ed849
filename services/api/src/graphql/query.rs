//! Reads of the organisation, of consent and of recordings.

use async_graphql::{Context, Object};
use confide_domain::{ClientId, ConsentId, RecordingId};
use uuid::Uuid;

use super::id;
use super::types::{ConsentView, Purpose, RecordingView, Tenant};
use crate::caller::{app, caller};
use crate::error::Result;

#[derive(Default)]
pub(super) struct ConsentQuery;

#[Object]
impl ConsentQuery {
    /// The caller's organisation: its policy and members.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let organisation = app(ctx).tenant(caller(ctx)?).await?;
        Ok((&organisation).into())
    }

    /// A client's consents, each in its current state. A client link sees only its own.
    async fn consents(&self, ctx: &Context<'_>, client_id: Uuid) -> Result<Vec<ConsentView>> {
        let consents = app(ctx)
            .consents(caller(ctx)?, id(client_id, ClientId::from_uuid)?)
            .await?;
        Ok(consents
            .iter()
            .filter_map(|c| ConsentView::of(c, c.version()))
            .collect())
    }

    /// One consent. A client link reads only its own client's.
    async fn consent(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<ConsentView>> {
        let id = self::id(id, ConsentId::from_uuid)?;
        match app(ctx).consent(caller(ctx)?, id).await {
            Ok(consent) => Ok(ConsentView::of(&consent, consent.version())),
            Err(confide_app::AppError::Domain(confide_domain::DomainError::NotFound {
                ..
            })) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// The organisation's recordings, each with the caller's access for `purpose`; someone
    /// who is not a member (an external assessor) sees only those they may play.
    async fn recordings(&self, ctx: &Context<'_>, purpose: Purpose) -> Result<Vec<RecordingView>> {
        let views = app(ctx).recordings(caller(ctx)?, purpose.into()).await?;
        Ok(views
            .iter()
            .filter_map(|v| RecordingView::of(&v.recording, Some(&v.access)))
            .collect())
    }

    /// One recording with the caller's access for `purpose`.
    async fn recording(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        purpose: Purpose,
    ) -> Result<Option<RecordingView>> {
        let view = app(ctx)
            .recording(
                caller(ctx)?,
                self::id(id, RecordingId::from_uuid)?,
                purpose.into(),
            )
            .await?;
        Ok(view.and_then(|v| RecordingView::of(&v.recording, Some(&v.access))))
    }
}
