//! The tenant: its name, its versioned policy, and its members with their roles.
//!
//! Roles live here, in the tenant's own log, so that "who made whom a tutor, and when" is
//! auditable; a token proves identity only.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx, SystemJob};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, ConsentId, RecordingId, TenantId, UserId};
use crate::policy::{TenantPolicy, VersionedPolicy};
use crate::vocabulary::Role;

/// A member's standing in the tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The roles held now.
    pub roles: BTreeSet<Role>,
    /// Who added the member.
    pub added_by: Actor,
    /// When.
    pub added_at: DateTime<Utc>,
}

/// The tenant aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    id: Option<TenantId>,
    name: String,
    policy: Option<VersionedPolicy>,
    members: BTreeMap<UserId, Membership>,
    version: u64,
}

impl Tenant {
    /// The tenant's id, once created.
    pub fn id(&self) -> Option<&TenantId> {
        self.id.as_ref()
    }

    /// The organisation's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current policy with its version.
    pub fn policy(&self) -> Option<&VersionedPolicy> {
        self.policy.as_ref()
    }

    /// A member's roles, if `user` is a member.
    pub fn roles_of(&self, user: &UserId) -> Option<&BTreeSet<Role>> {
        self.members.get(user).map(|m| &m.roles)
    }

    /// Every member.
    pub fn members(&self) -> &BTreeMap<UserId, Membership> {
        &self.members
    }

    /// The members holding `role`.
    pub fn members_with_role(&self, role: Role) -> impl Iterator<Item = &UserId> {
        self.members
            .iter()
            .filter(move |(_, m)| m.roles.contains(&role))
            .map(|(user, _)| user)
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn admins_after(&self, user: &UserId, roles: Option<&BTreeSet<Role>>) -> usize {
        self.members
            .iter()
            .filter(|(id, m)| {
                let held = if *id == user { roles } else { Some(&m.roles) };
                held.is_some_and(|r| r.contains(&Role::OrgAdmin))
            })
            .count()
    }
}

/// What may be asked of a tenant.
#[derive(Clone, Debug, PartialEq)]
pub enum TenantCommand {
    /// Create the tenant with its first policy and first administrator.
    CreateTenant {
        /// The organisation's name.
        name: String,
        /// The first policy.
        policy: TenantPolicy,
        /// Who becomes `org_admin`.
        first_admin: UserId,
    },
    /// Replace the policy (a new version).
    SetTenantPolicy {
        /// The new rules.
        policy: TenantPolicy,
    },
    /// Add a member with roles.
    AddMember {
        /// The identity provider subject.
        user_id: UserId,
        /// At least one role.
        roles: BTreeSet<Role>,
    },
    /// Replace a member's roles.
    ChangeMemberRoles {
        /// The member.
        user_id: UserId,
        /// The new roles (at least one; remove the member to take all away).
        roles: BTreeSet<Role>,
    },
    /// Remove a member.
    RemoveMember {
        /// The member.
        user_id: UserId,
    },
    /// Record that the log is being exported for an audit, before a byte of it is written.
    ExportAuditTrail {
        /// What was asked for.
        scope: AuditScope,
    },
}

/// What an audit export covers, as the auditor asked for it: the events recorded in a time
/// range and naming some subjects. The bundle's own header says exactly what it disclosed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditScope {
    /// Events recorded at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events recorded before this instant.
    pub until: Option<DateTime<Utc>>,
    /// These clients, with the streams they created (consents, recordings, grants).
    pub client_ids: BTreeSet<ClientId>,
    /// These recordings, with their grants.
    pub recording_ids: BTreeSet<RecordingId>,
    /// These consents, with the recordings and grants made under them.
    pub consent_ids: BTreeSet<ConsentId>,
    /// The size of the checkpoint the auditor verified last time, if they gave one.
    pub previous_tree_size: Option<u64>,
}

impl AuditScope {
    /// The scope of a time range and the subjects given by id (no previous checkpoint).
    pub fn new(
        from: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        clients: &[Uuid],
        recordings: &[Uuid],
        consents: &[Uuid],
    ) -> Result<Self, DomainError> {
        fn ids<T: Ord>(
            raw: &[Uuid],
            parse: impl Fn(Uuid) -> Result<T, DomainError>,
        ) -> Result<BTreeSet<T>, DomainError> {
            raw.iter().map(|id| parse(*id)).collect()
        }
        Ok(Self {
            from,
            until,
            client_ids: ids(clients, ClientId::from_uuid)?,
            recording_ids: ids(recordings, RecordingId::from_uuid)?,
            consent_ids: ids(consents, ConsentId::from_uuid)?,
            previous_tree_size: None,
        })
    }
}

/// What a tenant records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TenantEvent {
    /// The organisation was created.
    TenantCreated {
        /// Its id.
        tenant_id: TenantId,
        /// Its name.
        name: String,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A policy version took effect.
    TenantPolicySet {
        /// 1, 2, 3, …
        version: u32,
        /// The rules.
        policy: TenantPolicy,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A member joined with roles.
    MemberAdded {
        /// The member.
        user_id: UserId,
        /// The roles given.
        roles: BTreeSet<Role>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A member's roles changed.
    MemberRolesChanged {
        /// The member.
        user_id: UserId,
        /// The roles before.
        previous_roles: BTreeSet<Role>,
        /// The roles now.
        roles: BTreeSet<Role>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A member left or was removed.
    MemberRemoved {
        /// The member.
        user_id: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The log was exported as an audit bundle.
    AuditTrailExported {
        /// The export.
        export_id: Uuid,
        /// What it covers.
        scope: AuditScope,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(TenantEvent {
    TenantCreated => 1,
    TenantPolicySet => 1,
    MemberAdded => 1,
    MemberRolesChanged => 1,
    MemberRemoved => 1,
    AuditTrailExported => 1,
});

fn check_roles(roles: &BTreeSet<Role>) -> Result<(), DomainError> {
    if roles.is_empty() {
        return Err(DomainError::invalid(
            "roles",
            "a member holds at least one role; remove the member instead",
        ));
    }
    Ok(())
}

impl Aggregate for Tenant {
    type Command = TenantCommand;
    type Event = TenantEvent;

    fn decide(
        &self,
        command: TenantCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<TenantEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        if let TenantCommand::CreateTenant {
            name,
            policy,
            first_admin,
        } = command
        {
            if self.id.is_some() {
                return Err(DomainError::conflict("the tenant already exists"));
            }
            // A tenant is created by provisioning, or by the person who will run it signing
            // up; nobody else can make someone an administrator of a new organisation.
            let allowed = match ctx.actor() {
                Actor::System {
                    job: SystemJob::Provisioning,
                } => true,
                Actor::User { user_id } => *user_id == first_admin,
                _ => false,
            };
            if !allowed {
                return Err(DomainError::forbidden(
                    "a tenant is created by provisioning or by its own first administrator",
                ));
            }
            crate::limits::text("name", &name, 200)?;
            policy.check()?;
            return Ok(vec![
                TenantEvent::TenantCreated {
                    tenant_id: ctx.tenant_id().clone(),
                    name,
                    by: by.clone(),
                    at,
                },
                TenantEvent::TenantPolicySet {
                    version: 1,
                    policy,
                    by: by.clone(),
                    at,
                },
                TenantEvent::MemberAdded {
                    user_id: first_admin,
                    roles: BTreeSet::from([Role::OrgAdmin]),
                    by,
                    at,
                },
            ]);
        }

        if self.id.as_ref() != Some(ctx.tenant_id()) {
            return Err(not_found("tenant"));
        }
        match command {
            TenantCommand::CreateTenant { .. } => {
                Err(DomainError::conflict("the tenant already exists"))
            }
            TenantCommand::SetTenantPolicy { policy } => {
                ctx.require_role(Role::OrgAdmin, "set the tenant policy")?;
                policy.check()?;
                let current = self.policy.as_ref().map_or(0, |p| p.version);
                if self.policy.as_ref().is_some_and(|p| p.policy == policy) {
                    // Setting the same rules again would mint a version that changes nothing
                    // and make "which policy applied" harder to read.
                    return Err(DomainError::conflict("the policy is already in force"));
                }
                Ok(vec![TenantEvent::TenantPolicySet {
                    version: current + 1,
                    policy,
                    by,
                    at,
                }])
            }
            TenantCommand::AddMember { user_id, roles } => {
                ctx.require_role(Role::OrgAdmin, "add members")?;
                check_roles(&roles)?;
                if self.members.contains_key(&user_id) {
                    return Err(DomainError::conflict(format!(
                        "{user_id} is already a member; change their roles instead"
                    )));
                }
                Ok(vec![TenantEvent::MemberAdded {
                    user_id,
                    roles,
                    by,
                    at,
                }])
            }
            TenantCommand::ChangeMemberRoles { user_id, roles } => {
                ctx.require_role(Role::OrgAdmin, "change members' roles")?;
                check_roles(&roles)?;
                let Some(member) = self.members.get(&user_id) else {
                    return Err(not_found("member"));
                };
                if member.roles == roles {
                    return Err(DomainError::conflict(
                        "the member already holds exactly these roles",
                    ));
                }
                if self.admins_after(&user_id, Some(&roles)) == 0 {
                    return Err(DomainError::conflict(
                        "the last org_admin cannot give up the role; a tenant always has an administrator",
                    ));
                }
                Ok(vec![TenantEvent::MemberRolesChanged {
                    user_id,
                    previous_roles: member.roles.clone(),
                    roles,
                    by,
                    at,
                }])
            }
            TenantCommand::RemoveMember { user_id } => {
                // A member may leave on their own; otherwise only an administrator removes.
                if ctx.user() != Some(&user_id) {
                    ctx.require_role(Role::OrgAdmin, "remove members")?;
                }
                if !self.members.contains_key(&user_id) {
                    return Err(not_found("member"));
                }
                if self.admins_after(&user_id, None) == 0 {
                    return Err(DomainError::conflict(
                        "the last org_admin cannot be removed; a tenant always has an administrator",
                    ));
                }
                Ok(vec![TenantEvent::MemberRemoved { user_id, by, at }])
            }
            TenantCommand::ExportAuditTrail { scope } => {
                // The log is read by an auditor or an org_admin, or exported by the platform
                // operator on the server itself.
                let operator = matches!(
                    ctx.actor(),
                    Actor::System {
                        job: SystemJob::Operator
                    }
                );
                if !operator && !ctx.has_role(Role::Auditor) && !ctx.has_role(Role::OrgAdmin) {
                    return Err(DomainError::forbidden(
                        "only an auditor or an org_admin may export the audit trail",
                    ));
                }
                if let (Some(from), Some(until)) = (scope.from, scope.until)
                    && until <= from
                {
                    return Err(DomainError::invalid(
                        "until",
                        "the time range ends before it starts",
                    ));
                }
                Ok(vec![TenantEvent::AuditTrailExported {
                    export_id: ctx.new_id(0)?,
                    scope,
                    by,
                    at,
                }])
            }
        }
    }

    fn apply(mut self, event: &TenantEvent) -> Self {
        self.version += 1;
        match event {
            TenantEvent::TenantCreated {
                tenant_id, name, ..
            } => {
                self.id = Some(tenant_id.clone());
                self.name = name.clone();
            }
            TenantEvent::TenantPolicySet {
                version, policy, ..
            } => {
                if let Some(tenant_id) = self.id.clone() {
                    self.policy = Some(VersionedPolicy {
                        tenant_id,
                        version: *version,
                        policy: policy.clone(),
                    });
                }
            }
            TenantEvent::MemberAdded {
                user_id,
                roles,
                by,
                at,
            } => {
                self.members.insert(
                    user_id.clone(),
                    Membership {
                        roles: roles.clone(),
                        added_by: by.clone(),
                        added_at: *at,
                    },
                );
            }
            TenantEvent::MemberRolesChanged { user_id, roles, .. } => {
                if let Some(member) = self.members.get_mut(user_id) {
                    member.roles = roles.clone();
                }
            }
            TenantEvent::MemberRemoved { user_id, .. } => {
                self.members.remove(user_id);
            }
            TenantEvent::AuditTrailExported { .. } => {}
        }
        self
    }
}
