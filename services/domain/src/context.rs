//! What every decision is given from outside: the tenant, who acts, the time, and the ids to
//! use for new entities.
//!
//! The domain reads no clock and generates no ids, so the same command in the same context
//! always yields the same events; that is what makes the given/when/then tests exact and
//! lets the application retry a decision after a concurrency conflict.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregates::tenant::Tenant;
use crate::error::DomainError;
use crate::ids::{ClientId, TenantId, UserId};
use crate::policy::VersionedPolicy;
use crate::vocabulary::Role;

/// A job the system runs on its own behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemJob {
    /// Creating a tenant for a new organisation.
    Provisioning,
    /// Destroying what retention says is due.
    Retention,
    /// Following up a committed event with the events it implies (revocations, notices,
    /// expiries).
    Cascade,
    /// A platform operator's command run on the server itself (an audit export).
    Operator,
    /// Delivering the outbox's notices and recording each delivery or failure.
    Notices,
}

/// Who acts. Recorded on every event as `by`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// An authenticated member (or external assessor) of the tenant.
    User {
        /// The identity provider's subject.
        user_id: UserId,
    },
    /// A client acting through a signed, expiring client link; clients have no account.
    ClientLink {
        /// The client the link was issued to.
        client_id: ClientId,
    },
    /// The system itself.
    System {
        /// Which job.
        job: SystemJob,
    },
}

impl Actor {
    /// A user actor.
    pub fn user(user_id: UserId) -> Self {
        Actor::User { user_id }
    }

    /// A client-link actor.
    pub fn client(client_id: ClientId) -> Self {
        Actor::ClientLink { client_id }
    }

    /// A system actor.
    pub fn system(job: SystemJob) -> Self {
        Actor::System { job }
    }
}

/// The context of one decision.
#[derive(Clone, Debug)]
pub struct Ctx<'a> {
    tenant_id: TenantId,
    tenant: &'a Tenant,
    actor: Actor,
    now: DateTime<Utc>,
    new_ids: &'a [Uuid],
}

static NO_ROLES: BTreeSet<Role> = BTreeSet::new();

impl<'a> Ctx<'a> {
    /// A context for `actor` acting in `tenant_id` at `now`.
    ///
    /// `tenant` is the tenant aggregate as loaded from the tenant's own log: roles and policy
    /// come from it, never from the token. If it is not `tenant_id`'s aggregate (or not
    /// created yet), the actor has no roles and there is no policy, so every rule that needs
    /// one refuses.
    pub fn new(tenant_id: TenantId, tenant: &'a Tenant, actor: Actor, now: DateTime<Utc>) -> Self {
        Self {
            tenant_id,
            tenant,
            actor,
            now,
            new_ids: &[],
        }
    }

    /// The ids to use, in order, for entities a command creates.
    pub fn with_new_ids(mut self, new_ids: &'a [Uuid]) -> Self {
        self.new_ids = new_ids;
        self
    }

    /// The tenant the actor acts in.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The tenant aggregate, if it is this tenant's.
    pub fn tenant(&self) -> Option<&'a Tenant> {
        (self.tenant.id() == Some(&self.tenant_id)).then_some(self.tenant)
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The time of the decision.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The user acting, if a user acts.
    pub fn user(&self) -> Option<&UserId> {
        match &self.actor {
            Actor::User { user_id } => Some(user_id),
            _ => None,
        }
    }

    /// The client acting through a link, if one does.
    pub fn client_link(&self) -> Option<ClientId> {
        match &self.actor {
            Actor::ClientLink { client_id } => Some(*client_id),
            _ => None,
        }
    }

    /// Whether the system acts.
    pub fn is_system(&self) -> bool {
        matches!(self.actor, Actor::System { .. })
    }

    /// The acting user's roles in this tenant (none for clients, the system, or non-members).
    pub fn roles(&self) -> &BTreeSet<Role> {
        match (self.user(), self.tenant()) {
            (Some(user), Some(tenant)) => tenant.roles_of(user).unwrap_or(&NO_ROLES),
            _ => &NO_ROLES,
        }
    }

    /// Whether the acting user holds `role` here.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// The acting user, who must hold `role`; says which rule refused otherwise.
    pub fn require_role(&self, role: Role, to: &str) -> Result<&UserId, DomainError> {
        match self.user() {
            Some(user) if self.has_role(role) => Ok(user),
            Some(_) => Err(DomainError::forbidden(format!(
                "only a member with the {role} role may {to}"
            ))),
            None => Err(DomainError::forbidden(format!(
                "only a member with the {role} role may {to}; this actor is not a user"
            ))),
        }
    }

    /// The tenant's current policy; a tenant without one cannot act yet.
    pub fn policy(&self) -> Result<&'a VersionedPolicy, DomainError> {
        self.tenant()
            .and_then(Tenant::policy)
            .ok_or_else(|| DomainError::not_found("tenant policy"))
    }

    /// The `slot`-th id supplied for new entities.
    pub fn new_id(&self, slot: usize) -> Result<Uuid, DomainError> {
        self.new_ids.get(slot).copied().ok_or_else(|| {
            DomainError::invalid(
                "new_ids",
                format!("the command creates an entity but id number {slot} was not supplied"),
            )
        })
    }
}
