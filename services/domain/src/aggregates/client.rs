//! A client: the person recorded. Their personal details exist only as ciphertext under a
//! per-client key; erasing the client destroys that key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, SubjectRequestId, TenantId};
use crate::vocabulary::{KeyId, Role, Sealed};

/// The client aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Client {
    id: Option<ClientId>,
    tenant_id: Option<TenantId>,
    details: Option<Sealed>,
    key_id: Option<KeyId>,
    erased_at: Option<DateTime<Utc>>,
    version: u64,
}

impl Client {
    /// The client's id, once registered.
    pub fn id(&self) -> Option<ClientId> {
        self.id
    }

    /// The tenant the client belongs to.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }

    /// The sealed personal details (unreadable once erased).
    pub fn details(&self) -> Option<&Sealed> {
        self.details.as_ref()
    }

    /// The per-client key.
    pub fn key_id(&self) -> Option<&KeyId> {
        self.key_id.as_ref()
    }

    /// Whether the per-client key has been destroyed.
    pub fn is_erased(&self) -> bool {
        self.erased_at.is_some()
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether this is a registered, unerased client of `tenant` with id `client`.
    pub fn is_active_in(&self, tenant: &TenantId, client: ClientId) -> bool {
        self.tenant_id.as_ref() == Some(tenant) && self.id == Some(client) && !self.is_erased()
    }
}

/// What may be asked of a client record.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientCommand {
    /// Register a client (takes new id 0). The details are sealed under the new per-client
    /// key, whose id is the sealed value's key id.
    RegisterClient {
        /// Name, contact details: ciphertext.
        details: Sealed,
    },
    /// Replace the sealed details (same per-client key).
    UpdateClientDetails {
        /// The new ciphertext.
        details: Sealed,
    },
    /// Erase the client: the per-client key is destroyed.
    EraseClient {
        /// The erasure request this answers, if any.
        subject_request_id: Option<SubjectRequestId>,
    },
}

/// What a client record records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    /// A client was registered.
    ClientRegistered {
        /// The new client's id.
        client_id: ClientId,
        /// The tenant.
        tenant_id: TenantId,
        /// Sealed personal details.
        details: Sealed,
        /// The per-client key.
        key_id: KeyId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The sealed details were replaced.
    ClientDetailsUpdated {
        /// The new ciphertext.
        details: Sealed,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The per-client key was destroyed: every sealed value about the client is unreadable.
    ClientErased {
        /// The key destroyed.
        key_id: KeyId,
        /// The erasure request answered, if any.
        subject_request_id: Option<SubjectRequestId>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(ClientEvent {
    ClientRegistered => 1,
    ClientDetailsUpdated => 1,
    ClientErased => 1,
});

impl Aggregate for Client {
    type Command = ClientCommand;
    type Event = ClientEvent;

    fn decide(
        &self,
        command: ClientCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<ClientEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        if let ClientCommand::RegisterClient { details } = command {
            if self.id.is_some() {
                return Err(DomainError::conflict("the client is already registered"));
            }
            if !(ctx.has_role(Role::Practitioner) || ctx.has_role(Role::OrgAdmin)) {
                return Err(DomainError::forbidden(
                    "only a practitioner or org_admin may register clients",
                ));
            }
            let client_id = ClientId::from_uuid(ctx.new_id(0)?)?;
            return Ok(vec![ClientEvent::ClientRegistered {
                client_id,
                tenant_id: ctx.tenant_id().clone(),
                key_id: details.key_id().clone(),
                details,
                by,
                at,
            }]);
        }
        if self.tenant_id.as_ref() != Some(ctx.tenant_id()) {
            return Err(not_found("client"));
        }
        if self.is_erased() {
            return Err(DomainError::conflict(
                "the client has been erased; their key is destroyed and nothing more can be recorded about them",
            ));
        }
        match command {
            ClientCommand::RegisterClient { .. } => {
                Err(DomainError::conflict("the client is already registered"))
            }
            ClientCommand::UpdateClientDetails { details } => {
                if !(ctx.has_role(Role::Practitioner) || ctx.has_role(Role::OrgAdmin)) {
                    return Err(DomainError::forbidden(
                        "only a practitioner or org_admin may update a client's details",
                    ));
                }
                if Some(details.key_id()) != self.key_id.as_ref() {
                    // One key per client is what makes erasure complete: details sealed under
                    // any other key would survive the client's erasure.
                    return Err(DomainError::invalid(
                        "details",
                        "a client's details are sealed under the client's own key",
                    ));
                }
                Ok(vec![ClientEvent::ClientDetailsUpdated { details, by, at }])
            }
            ClientCommand::EraseClient { subject_request_id } => {
                if !(ctx.is_system() || ctx.has_role(Role::OrgAdmin)) {
                    return Err(DomainError::forbidden(
                        "only an org_admin or the system may erase a client",
                    ));
                }
                let Some(key_id) = self.key_id.clone() else {
                    return Err(not_found("client key"));
                };
                Ok(vec![ClientEvent::ClientErased {
                    key_id,
                    subject_request_id,
                    by,
                    at,
                }])
            }
        }
    }

    fn apply(mut self, event: &ClientEvent) -> Self {
        self.version += 1;
        match event {
            ClientEvent::ClientRegistered {
                client_id,
                tenant_id,
                details,
                key_id,
                ..
            } => {
                self.id = Some(*client_id);
                self.tenant_id = Some(tenant_id.clone());
                self.details = Some(details.clone());
                self.key_id = Some(key_id.clone());
            }
            ClientEvent::ClientDetailsUpdated { details, .. } => {
                self.details = Some(details.clone());
            }
            ClientEvent::ClientErased { at, .. } => {
                self.erased_at = Some(*at);
            }
        }
        self
    }
}
