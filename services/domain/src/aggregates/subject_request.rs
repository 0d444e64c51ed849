//! A data subject request (access, copy, erasure, portability) with the deadline its
//! jurisdiction sets, the one extension the law allows, and the decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::client::Client;
use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, SubjectRequestId, TenantId};
use crate::vocabulary::{Jurisdiction, Role};

/// What the client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectRequestKind {
    /// What is held about them, and who accessed it.
    Access,
    /// A copy of their recordings.
    Copy,
    /// Erasure.
    Erasure,
    /// Their data in a portable format.
    Portability,
}

/// How a request was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectRequestOutcome {
    /// Done as asked.
    Granted,
    /// Done in part.
    PartiallyGranted,
    /// Refused, with reasons.
    Refused,
}

/// The subject request aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubjectRequest {
    id: Option<SubjectRequestId>,
    tenant_id: Option<TenantId>,
    client_id: Option<ClientId>,
    kind: Option<SubjectRequestKind>,
    jurisdiction: Option<Jurisdiction>,
    due_by: Option<DateTime<Utc>>,
    extended: bool,
    outcome: Option<SubjectRequestOutcome>,
    version: u64,
}

impl SubjectRequest {
    /// The id.
    pub fn id(&self) -> Option<SubjectRequestId> {
        self.id
    }

    /// The client.
    pub fn client_id(&self) -> Option<ClientId> {
        self.client_id
    }

    /// What was asked.
    pub fn kind(&self) -> Option<SubjectRequestKind> {
        self.kind
    }

    /// The deadline in force.
    pub fn due_by(&self) -> Option<DateTime<Utc>> {
        self.due_by
    }

    /// The decision, once made.
    pub fn outcome(&self) -> Option<SubjectRequestOutcome> {
        self.outcome
    }

    /// Whether it is undecided past its deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.outcome.is_none() && self.due_by.is_some_and(|due| now > due)
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of a subject request.
#[derive(Clone, Debug, PartialEq)]
pub enum SubjectRequestCommand {
    /// Open a request (takes new id 0).
    OpenSubjectRequest {
        /// The client, as loaded.
        client: Box<Client>,
        /// What is asked.
        kind: SubjectRequestKind,
        /// When it reached the organisation: the deadline runs from here.
        received_at: DateTime<Utc>,
    },
    /// Use the law's one extension, telling the client why.
    ExtendSubjectRequestDeadline {
        /// Why, as told to the client.
        reason: String,
    },
    /// Decide.
    DecideSubjectRequest {
        /// How.
        outcome: SubjectRequestOutcome,
        /// Why (required unless granted).
        reason: Option<String>,
    },
}

/// What a subject request records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SubjectRequestEvent {
    /// A request was received.
    SubjectRequestOpened {
        /// The request.
        subject_request_id: SubjectRequestId,
        /// The tenant.
        tenant_id: TenantId,
        /// The client.
        client_id: ClientId,
        /// What is asked.
        kind: SubjectRequestKind,
        /// The law that sets the deadline.
        jurisdiction: Jurisdiction,
        /// When it was received.
        received_at: DateTime<Utc>,
        /// The deadline.
        due_by: DateTime<Utc>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deadline was extended once.
    SubjectRequestDeadlineExtended {
        /// The new deadline.
        due_by: DateTime<Utc>,
        /// Why, as told to the client.
        reason: String,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The request was decided.
    SubjectRequestDecided {
        /// How.
        outcome: SubjectRequestOutcome,
        /// Why.
        reason: Option<String>,
        /// Whether the decision came after the deadline.
        late: bool,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(SubjectRequestEvent {
    SubjectRequestOpened => 1,
    SubjectRequestDeadlineExtended => 1,
    SubjectRequestDecided => 1,
});

impl Aggregate for SubjectRequest {
    type Command = SubjectRequestCommand;
    type Event = SubjectRequestEvent;

    fn decide(
        &self,
        command: SubjectRequestCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<SubjectRequestEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        if let SubjectRequestCommand::OpenSubjectRequest {
            client,
            kind,
            received_at,
        } = command
        {
            if self.id.is_some() {
                return Err(DomainError::conflict("the request already exists"));
            }
            let client_id = client
                .id()
                .filter(|id| client.is_active_in(ctx.tenant_id(), *id))
                .ok_or_else(|| not_found("client"))?;
            // A request can come from the client's link, or be logged by staff who received it
            // by letter, email or phone; the law does not prescribe a channel.
            let may = ctx.client_link() == Some(client_id)
                || ctx.has_role(Role::OrgAdmin)
                || ctx.has_role(Role::Practitioner);
            if !may {
                return Err(DomainError::forbidden(
                    "a subject request is made by the client or logged by a practitioner or org_admin",
                ));
            }
            if received_at > at {
                return Err(DomainError::invalid(
                    "received_at",
                    "a request cannot be received in the future",
                ));
            }
            let jurisdiction = ctx.policy()?.policy.jurisdiction;
            let due_by = jurisdiction.subject_request_deadline().after(received_at);
            let subject_request_id = SubjectRequestId::from_uuid(ctx.new_id(0)?)?;
            return Ok(vec![SubjectRequestEvent::SubjectRequestOpened {
                subject_request_id,
                tenant_id: ctx.tenant_id().clone(),
                client_id,
                kind,
                jurisdiction,
                received_at,
                due_by,
                by,
                at,
            }]);
        }
        if self.tenant_id.as_ref() != Some(ctx.tenant_id()) {
            return Err(not_found("subject request"));
        }
        ctx.require_role(Role::OrgAdmin, "handle subject requests")?;
        if self.outcome.is_some() {
            return Err(DomainError::conflict("the request is already decided"));
        }
        let (Some(jurisdiction), Some(due_by)) = (self.jurisdiction, self.due_by) else {
            return Err(not_found("subject request"));
        };
        match command {
            SubjectRequestCommand::OpenSubjectRequest { .. } => {
                Err(DomainError::conflict("the request already exists"))
            }
            SubjectRequestCommand::ExtendSubjectRequestDeadline { reason } => {
                crate::limits::text_block("reason", &reason, 2000)?;
                let Some(extension) = jurisdiction.subject_request_extension() else {
                    return Err(DomainError::conflict(format!(
                        "{jurisdiction} gives no extension of the deadline"
                    )));
                };
                if self.extended {
                    return Err(DomainError::conflict(
                        "the deadline has already been extended once",
                    ));
                }
                if at > due_by {
                    return Err(DomainError::conflict(
                        "an extension must be notified before the deadline; it has passed",
                    ));
                }
                Ok(vec![SubjectRequestEvent::SubjectRequestDeadlineExtended {
                    due_by: extension.after(due_by),
                    reason,
                    by,
                    at,
                }])
            }
            SubjectRequestCommand::DecideSubjectRequest { outcome, reason } => {
                match (&outcome, &reason) {
                    (SubjectRequestOutcome::Granted, _) => {}
                    (_, Some(text)) => {
                        crate::limits::text_block("reason", text, 2000)?;
                    }
                    (_, None) => {
                        return Err(DomainError::invalid(
                            "reason",
                            "a refusal or partial grant says why, so the client can challenge it",
                        ));
                    }
                }
                Ok(vec![SubjectRequestEvent::SubjectRequestDecided {
                    outcome,
                    reason,
                    late: at > due_by,
                    by,
                    at,
                }])
            }
        }
    }

    fn apply(mut self, event: &SubjectRequestEvent) -> Self {
        self.version += 1;
        match event {
            SubjectRequestEvent::SubjectRequestOpened {
                subject_request_id,
                tenant_id,
                client_id,
                kind,
                jurisdiction,
                due_by,
                ..
            } => {
                self.id = Some(*subject_request_id);
                self.tenant_id = Some(tenant_id.clone());
                self.client_id = Some(*client_id);
                self.kind = Some(*kind);
                self.jurisdiction = Some(*jurisdiction);
                self.due_by = Some(*due_by);
            }
            SubjectRequestEvent::SubjectRequestDeadlineExtended { due_by, .. } => {
                self.due_by = Some(*due_by);
                self.extended = true;
            }
            SubjectRequestEvent::SubjectRequestDecided { outcome, .. } => {
                self.outcome = Some(*outcome);
            }
        }
        self
    }
}
