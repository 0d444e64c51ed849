//! Reads of the organisation, of consent and of recordings.

use async_graphql::{Context, Object};
use confide_domain::{ConsentId, RecordingId};
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
