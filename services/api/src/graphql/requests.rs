//! Clients' rights requests (access, copy, erasure, portability) and their deadlines.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use confide_app::Loaded;
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::subject_request::{
    SubjectRequest, SubjectRequestCommand, SubjectRequestKind as DomainKind,
    SubjectRequestOutcome as DomainOutcome,
};
use confide_domain::{Actor, ClientId, DomainError, Role, SubjectRequestId};
use uuid::Uuid;

use super::mutation::{client_key, internal};
use super::types::{SubjectRequestKind, SubjectRequestOutcome};
use super::{bad_input, caller, coded, error, own_client, roles, services, stream};

#[derive(Default)]
pub(super) struct SubjectRequestMutation;

#[derive(Default)]
pub(super) struct SubjectRequestQuery;

#[derive(SimpleObject)]
struct SubjectRequestView {
    id: Uuid,
    client_id: Uuid,
    kind: Option<SubjectRequestKind>,
    /// The deadline the jurisdiction sets (extended, if it was).
    due_by: Option<DateTime<Utc>>,
    outcome: Option<SubjectRequestOutcome>,
    overdue: bool,
}

impl SubjectRequestView {
    fn of(request: &SubjectRequest, now: DateTime<Utc>) -> Option<Self> {
        Some(Self {
            id: request.id()?.as_uuid(),
            client_id: request.client_id()?.as_uuid(),
            kind: request.kind().map(Into::into),
            due_by: request.due_by(),
            outcome: request.outcome().map(Into::into),
            overdue: request.is_overdue(now),
        })
    }
}

fn request_id(id: Uuid) -> Result<SubjectRequestId> {
    SubjectRequestId::from_uuid(id).map_err(bad_input)
}

async fn load_view(ctx: &Context<'_>, id: SubjectRequestId) -> Result<SubjectRequestView> {
    let principal = caller(ctx)?;
    let request: Loaded<SubjectRequest> = services(ctx)
        .app
        .load(&principal.tenant, &stream("subject_request", id)?)
        .await
        .map_err(error)?;
    SubjectRequestView::of(&request.state, Utc::now())
        .ok_or_else(|| bad_input(DomainError::not_found("subject request")))
}

#[Object]
impl SubjectRequestMutation {
    /// Opens a request: the client through their link, or a practitioner or org_admin who
    /// received it by letter, email or phone. Its deadline follows the tenant's jurisdiction.
    async fn open_subject_request(
        &self,
        ctx: &Context<'_>,
        client_id: Uuid,
        kind: SubjectRequestKind,
        #[graphql(desc = "When it reached the organisation; now when absent.")] received_at: Option<
            DateTime<Utc>,
        >,
    ) -> Result<SubjectRequestView> {
        let principal = caller(ctx)?;
        let app = &services(ctx).app;
        let client_id = ClientId::from_uuid(client_id).map_err(bad_input)?;
        own_client(principal, client_id)?;
        let client: Loaded<Client> = app
            .load(&principal.tenant, &stream("client", client_id)?)
            .await
            .map_err(error)?;
        let id = request_id(Uuid::now_v7())?;
        app.execute::<SubjectRequest>(
            &principal.tenant,
            &principal.actor,
            &stream("subject_request", id)?,
            SubjectRequestCommand::OpenSubjectRequest {
                client: Box::new(client.state),
                kind: kind.into(),
                received_at: received_at.unwrap_or_else(Utc::now),
            },
            &[id.as_uuid()],
        )
        .await
        .map_err(error)?;
        load_view(ctx, id).await
    }

    /// Extends the deadline once, where the jurisdiction allows it, with the reason the client
    /// will be told.
    async fn extend_subject_request_deadline(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
    ) -> Result<SubjectRequestView> {
        let principal = caller(ctx)?;
        let id = request_id(id)?;
        services(ctx)
            .app
            .execute::<SubjectRequest>(
                &principal.tenant,
                &principal.actor,
                &stream("subject_request", id)?,
                SubjectRequestCommand::ExtendSubjectRequestDeadline { reason },
                &[],
            )
            .await
            .map_err(error)?;
        load_view(ctx, id).await
    }

    /// Decides a request and does what the decision promises in the same write: a granted
    /// erasure destroys the client's key first (every sealed detail of theirs in the log
    /// becomes unreadable) and schedules their recordings for destruction now; a granted
    /// copy gives the client a grant to their own recordings.
    async fn decide_subject_request(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        outcome: SubjectRequestOutcome,
        reason: Option<String>,
    ) -> Result<SubjectRequestView> {
        let principal = caller(ctx)?;
        let services = services(ctx);
        let app = &services.app;
        let tenant = &principal.tenant;
        let id = request_id(id)?;
        let outcome: DomainOutcome = outcome.into();
        let request: Loaded<SubjectRequest> = app
            .load(tenant, &stream("subject_request", id)?)
            .await
            .map_err(error)?;
        let erasure =
            request.state.kind() == Some(DomainKind::Erasure) && outcome == DomainOutcome::Granted;
        if let (true, Some(client_id)) = (erasure, request.state.client_id()) {
            // Decided once before the key is destroyed: a caller who may not decide must not
            // be able to shred the client's details.
            let command = SubjectRequestCommand::DecideSubjectRequest {
                outcome,
                reason: reason.clone(),
            };
            app.check(tenant, &principal.actor, &request.state, command)
                .await
                .map_err(error)?;
            services
                .keys
                .destroy(tenant, &client_key(client_id)?)
                .await
                .map_err(internal)?;
        }
        app.decide_subject_request(tenant, &principal.actor, id, outcome, reason)
            .await
            .map_err(error)?;
        load_view(ctx, id).await
    }
}

#[Object]
impl SubjectRequestQuery {
    /// Subject requests, oldest first: a client link sees its own client's; an org_admin or
    /// practitioner sees the organisation's, or one client's when `clientId` is given.
    async fn subject_requests(
        &self,
        ctx: &Context<'_>,
        client_id: Option<Uuid>,
    ) -> Result<Vec<SubjectRequestView>> {
        let principal = caller(ctx)?;
        let client = client_id
            .map(ClientId::from_uuid)
            .transpose()
            .map_err(bad_input)?;
        let client = match &principal.actor {
            Actor::ClientLink { client_id } => {
                if let Some(asked) = client {
                    own_client(principal, asked)?;
                }
                Some(*client_id)
            }
            _ => {
                let held = roles(ctx).await?;
                if !held.contains(&Role::OrgAdmin) && !held.contains(&Role::Practitioner) {
                    return Err(coded(
                        "subject requests are read by an org_admin or a practitioner".to_owned(),
                        "FORBIDDEN",
                    ));
                }
                client
            }
        };
        let now = Utc::now();
        Ok(services(ctx)
            .app
            .subject_requests(&principal.tenant, client)
            .await
            .map_err(error)?
            .iter()
            .filter_map(|r| SubjectRequestView::of(r, now))
            .collect())
    }
}
