//! Tickets: short-lived URLs that carry what they grant, signed by the server's own key for
//! an audience of their own, so one is never taken for a bearer token. A playback ticket
//! lets its holder fetch ranges of one recording for one purpose; an export ticket lets an
//! auditor download the bundle of an export already recorded in the log.

use chrono::{DateTime, TimeDelta, Utc};
use confide_app::Caller;
use confide_domain::aggregates::tenant::AuditScope;
use confide_domain::{Actor, Medium, Purpose, RecordingId, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{AuthError, Authenticator, TicketKind};
use crate::error::{ApiError, Code, Result};
use crate::telemetry::record_tenant;

/// How long a playback ticket lets its holder fetch ranges.
pub const TICKET_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// How long an export's download ticket lasts.
pub const EXPORT_TICKET_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// What a playback ticket says: who may fetch which recording, why and until when.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ticket {
    pub tenant: String,
    pub viewer: Actor,
    pub recording: Uuid,
    pub purpose: Purpose,
    pub medium: Medium,
    pub iat: i64,
    pub exp: i64,
}

/// What an export's download ticket says: whose log, for whom, which recorded export, and
/// what it covers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportTicket {
    pub tenant: String,
    pub viewer: Actor,
    pub export_id: Uuid,
    pub covers: AuditScope,
    /// The auditor's previous checkpoint (a signed note), for the consistency proof.
    pub previous: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

/// The ticket URL for a playback `startPlayback` allowed, and when it expires.
pub fn issue_media(
    auth: &Authenticator,
    caller: &Caller,
    recording: RecordingId,
    purpose: Purpose,
    medium: Medium,
    now: DateTime<Utc>,
) -> std::result::Result<(String, DateTime<Utc>), AuthError> {
    let expires = now + TICKET_LIFETIME;
    let ticket = Ticket {
        tenant: caller.tenant.to_string(),
        viewer: caller.actor.clone(),
        recording: recording.as_uuid(),
        purpose,
        medium,
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    let token = auth.sign_ticket(TicketKind::Media, &ticket)?;
    Ok((format!("/v1/media/{token}"), expires))
}

/// The download URL of a recorded export, and when it expires.
pub fn issue_export(
    auth: &Authenticator,
    caller: &Caller,
    export_id: Uuid,
    covers: AuditScope,
    previous: Option<String>,
    now: DateTime<Utc>,
) -> std::result::Result<(String, DateTime<Utc>), AuthError> {
    let expires = now + EXPORT_TICKET_LIFETIME;
    let ticket = ExportTicket {
        tenant: caller.tenant.to_string(),
        viewer: caller.actor.clone(),
        export_id,
        covers,
        previous,
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    let token = auth.sign_ticket(TicketKind::AuditExport, &ticket)?;
    Ok((format!("/v1/audit/exports/{token}"), expires))
}

/// A ticket of `kind` checked, with the caller it was issued to. A ticket that is forged,
/// altered, expired or of another kind is refused.
pub(crate) fn verify<T: serde::de::DeserializeOwned + Holder>(
    auth: &Authenticator,
    kind: TicketKind,
    token: &str,
) -> Result<(T, Caller)> {
    let ticket: T = auth.verify_ticket(kind, token).map_err(|error| {
        ApiError::new(Code::Forbidden, format!("the ticket is not valid: {error}"))
    })?;
    let caller = Caller {
        tenant: TenantId::parse(ticket.tenant())?,
        actor: ticket.viewer().clone(),
    };
    record_tenant(&caller);
    Ok((ticket, caller))
}

/// Whose a ticket is.
pub(crate) trait Holder {
    fn tenant(&self) -> &str;
    fn viewer(&self) -> &Actor;
}

impl Holder for Ticket {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn viewer(&self) -> &Actor {
        &self.viewer
    }
}

impl Holder for ExportTicket {
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn viewer(&self) -> &Actor {
        &self.viewer
    }
}
