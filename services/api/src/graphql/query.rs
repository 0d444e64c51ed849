//! Reads.

use async_graphql::{Context, Object, Result};
use confide_app::Loaded;
use confide_domain::aggregates::consent::Consent;
use confide_domain::{ClientId, ConsentId, RecordingId};
use uuid::Uuid;

use super::types::{ConsentView, Purpose, RecordingView, Tenant};
use super::{
    bad_input, caller, error, member, organisation_member, own_client, roles, services, stream,
};
use crate::auth::Principal;

#[derive(Default)]
pub(super) struct ConsentQuery;

#[Object]
impl ConsentQuery {
    /// The caller's organisation: its policy and members.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let (_, organisation) = organisation_member(ctx).await?;
        Ok((&organisation).into())
    }

    /// A client's consents, each in its current state. A client link sees only its own.
    async fn consents(&self, ctx: &Context<'_>, client_id: Uuid) -> Result<Vec<ConsentView>> {
        let principal = reader(ctx).await?;
        let client = ClientId::from_uuid(client_id).map_err(bad_input)?;
        own_client(principal, client)?;
        let consents = services(ctx)
            .app
            .consent_history(&principal.tenant, client)
            .await
            .map_err(error)?;
        Ok(consents
            .iter()
            .filter_map(|c| ConsentView::of(c, c.version()))
            .collect())
    }

    /// One consent. A client link reads only its own client's.
    async fn consent(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<ConsentView>> {
        let principal = reader(ctx).await?;
        let id = ConsentId::from_uuid(id).map_err(bad_input)?;
        let loaded: Loaded<Consent> = services(ctx)
            .app
            .load(&principal.tenant, &stream("consent", id)?)
            .await
            .map_err(error)?;
        let Some(core) = loaded.state.core() else {
            return Ok(None);
        };
        own_client(principal, core.client_id)?;
        Ok(ConsentView::of(&loaded.state, loaded.version))
    }

    /// The organisation's recordings, each with the caller's access for `purpose`; someone
    /// who is not a member (an external assessor) sees only those they may play.
    async fn recordings(&self, ctx: &Context<'_>, purpose: Purpose) -> Result<Vec<RecordingView>> {
        let (principal, _) = member(ctx)?;
        let outsider = roles(ctx).await?.is_empty();
        let views = services(ctx)
            .app
            .recordings(&principal.tenant, &principal.actor, purpose.into())
            .await
            .map_err(error)?;
        Ok(views
            .iter()
            .filter(|v| !outsider || v.access.is_allowed())
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
        let (principal, _) = member(ctx)?;
        let outsider = roles(ctx).await?.is_empty();
        let id = RecordingId::from_uuid(id).map_err(bad_input)?;
        match services(ctx)
            .app
            .recording(
                &principal.tenant,
                &principal.actor,
                id,
                purpose.into(),
                confide_domain::Medium::Audio,
            )
            .await
        {
            Ok(view) if outsider && !view.access.is_allowed() => Ok(None),
            Ok(view) => Ok(RecordingView::of(&view.recording, Some(&view.access))),
            Err(confide_app::AppError::Domain(confide_domain::DomainError::NotFound {
                ..
            })) => Ok(None),
            Err(other) => Err(error(other)),
        }
    }
}

/// A client link (limited to its own client by the caller), or a member of the organisation.
async fn reader<'a>(ctx: &Context<'a>) -> Result<&'a Principal> {
    let principal = caller(ctx)?;
    if principal.client().is_some() {
        Ok(principal)
    } else {
        Ok(organisation_member(ctx).await?.0)
    }
}
