//! Clients' rights requests (access, copy, erasure, portability) and their deadlines.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use confide_domain::aggregates::subject_request::SubjectRequest;
use confide_domain::{ClientId, DomainError, SubjectRequestId};
use uuid::Uuid;

use super::id;
use super::types::{SubjectRequestKind, SubjectRequestOutcome};
use crate::caller::{app, caller};
use crate::error::{ApiError, Result};

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

fn view(request: &SubjectRequest) -> Result<SubjectRequestView> {
    SubjectRequestView::of(request, Utc::now())
        .ok_or_else(|| ApiError::from(DomainError::not_found("subject request")))
}

fn request_id(id: Uuid) -> Result<SubjectRequestId> {
    self::id(id, SubjectRequestId::from_uuid)
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
        let opened = app(ctx)
            .open_subject_request(
                caller(ctx)?,
                id(client_id, ClientId::from_uuid)?,
                kind.into(),
                received_at,
            )
            .await?;
        view(&opened)
    }

    /// Extends the deadline once, where the jurisdiction allows it, with the reason the client
    /// will be told.
    async fn extend_subject_request_deadline(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
    ) -> Result<SubjectRequestView> {
        let extended = app(ctx)
            .extend_subject_request_deadline(caller(ctx)?, request_id(id)?, reason)
            .await?;
        view(&extended)
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
        let decided = app(ctx)
            .decide_subject_request(caller(ctx)?, request_id(id)?, outcome.into(), reason)
            .await?;
        view(&decided)
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
        let client = client_id.map(|c| id(c, ClientId::from_uuid)).transpose()?;
        let now = Utc::now();
        Ok(app(ctx)
            .subject_requests(caller(ctx)?, client)
            .await?
            .iter()
            .filter_map(|r| SubjectRequestView::of(r, now))
            .collect())
    }
}
