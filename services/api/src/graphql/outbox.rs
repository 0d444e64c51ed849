//! Where notices go, and what became of them: an org_admin sets the address each person is
//! told at and manages the organisation's webhook endpoints (a new endpoint's secret is shown
//! once, in the answer that adds it); an org_admin or an auditor reads the outbox.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use confide_app::{OutboxRow, WebhookEndpointView};
use confide_domain::WebhookEndpointId;
use uuid::Uuid;

use super::{id, user};
use crate::caller::{app, caller};
use crate::error::Result;

#[derive(Default)]
pub(super) struct OutboxMutation;

#[derive(Default)]
pub(super) struct OutboxQuery;

/// One of the organisation's webhook endpoints (never its secret).
#[derive(SimpleObject)]
struct WebhookEndpoint {
    id: Uuid,
    url: String,
    added_at: DateTime<Utc>,
}

impl From<WebhookEndpointView> for WebhookEndpoint {
    fn from(view: WebhookEndpointView) -> Self {
        Self {
            id: view.id.as_uuid(),
            url: view.url,
            added_at: view.added_at,
        }
    }
}

/// A new endpoint and its signing secret.
#[derive(SimpleObject)]
struct AddedWebhookEndpoint {
    endpoint: WebhookEndpoint,
    /// `whsec_…`, shown this once: the receiver checks each request's `webhook-signature`
    /// (Standard Webhooks) with it. It cannot be read again; remove the endpoint and add it
    /// anew to get another.
    secret: String,
}

/// One message of the outbox.
#[derive(SimpleObject)]
struct OutboxMessage {
    /// Derived from the event, the notice and the recipient: the e-mail's Message-ID and the
    /// webhook's `webhook-id`.
    message_id: String,
    /// `consent_request`, `withdrawal_notice`, `grant_given`, … `webhook_event`.
    notice: String,
    /// `person:<user>`, `client:<id>` or `webhook:<endpoint id>`.
    recipient: String,
    /// The event the notice answers.
    source_sequence: i64,
    source_event_type: String,
    /// Not sent before this moment.
    due_at: DateTime<Utc>,
    /// `pending`, `cancelled`, `delivered` or `failed` (the last two are events in the log:
    /// `NoticeDelivered`, `NoticeFailed` with the reason).
    state: String,
    attempts: i64,
}

impl From<OutboxRow> for OutboxMessage {
    fn from(row: OutboxRow) -> Self {
        Self {
            message_id: row.message_id,
            notice: row.notice,
            recipient: row.recipient,
            source_sequence: row.source_sequence,
            source_event_type: row.source_event_type,
            due_at: row.due_at,
            state: row.state,
            attempts: row.attempts,
        }
    }
}

#[Object]
impl OutboxMutation {
    /// Sets the e-mail address a member or an external assessor is told at (an org_admin).
    /// It is sealed under a key of that person's own.
    async fn set_notice_address(
        &self,
        ctx: &Context<'_>,
        user_id: String,
        address: String,
    ) -> Result<bool> {
        app(ctx)
            .set_notice_address(caller(ctx)?, user(&user_id)?, &address)
            .await?;
        Ok(true)
    }

    /// Adds a webhook endpoint (an org_admin): `https://`, or `http://` to this machine. Every
    /// notice is announced to it, signed, with ids and event types only.
    async fn add_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        url: String,
    ) -> Result<AddedWebhookEndpoint> {
        let added = app(ctx).add_webhook_endpoint(caller(ctx)?, &url).await?;
        Ok(AddedWebhookEndpoint {
            endpoint: added.endpoint.into(),
            secret: added.secret,
        })
    }

    /// Removes a webhook endpoint (an org_admin) and destroys its secret.
    async fn remove_webhook_endpoint(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        let endpoint = self::id(id, WebhookEndpointId::from_uuid)?;
        app(ctx)
            .remove_webhook_endpoint(caller(ctx)?, endpoint)
            .await?;
        Ok(true)
    }
}

#[Object]
impl OutboxQuery {
    /// The organisation's webhook endpoints (an org_admin).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        Ok(app(ctx)
            .webhook_endpoints(caller(ctx)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every notice of the organisation and what became of it (an org_admin or an auditor).
    async fn outbox_messages(&self, ctx: &Context<'_>) -> Result<Vec<OutboxMessage>> {
        Ok(app(ctx)
            .outbox_messages(caller(ctx)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
