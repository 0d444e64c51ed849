//! A grant: one person (a member, an external assessor, or the client) may play one
//! recording for one purpose until a moment. A grant never widens consent: it is valid only
//! while the consent still covers its grantee, and the access decision checks both.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::consent::{Consent, ConsentGap, Listener, Use, sentence};
use crate::aggregates::recording::{Recording, RecordingStatus};
use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, ConsentId, GrantId, RecordingId, TenantId, UserId};
use crate::policy::ClientCopies;
use crate::vocabulary::{Purpose, Role};

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grantee {
    /// A member of the tenant.
    Member {
        /// Their id.
        user_id: UserId,
    },
    /// An external assessor or mentor, not a member, identified by the identity provider.
    ExternalAssessor {
        /// Their id.
        user_id: UserId,
    },
    /// The client, for their own copy.
    Client {
        /// The client.
        client_id: ClientId,
    },
}

/// Why a grant was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RevocationReason {
    /// The grantor (or an administrator) took it back.
    RevokedByGrantor,
    /// The consent it depended on no longer covers it.
    ConsentNoLongerCovers {
        /// The consent.
        consent_id: ConsentId,
    },
    /// The recording is to be destroyed.
    RecordingDestroyed,
}

/// The facts fixed when the grant is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantCore {
    /// The grant's id.
    pub id: GrantId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The recording.
    pub recording_id: RecordingId,
    /// The consent that covered it when made.
    pub consent_id: ConsentId,
    /// Who may play.
    pub grantee: Grantee,
    /// For what.
    pub purpose: Purpose,
    /// Until when (exclusive).
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub granted_at: DateTime<Utc>,
}

/// The grant aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    core: Option<GrantCore>,
    granted_by: Option<Actor>,
    revoked_at: Option<DateTime<Utc>>,
    version: u64,
}

impl Grant {
    /// The facts fixed at creation.
    pub fn core(&self) -> Option<&GrantCore> {
        self.core.as_ref()
    }

    /// When it was revoked, if it was.
    pub fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }

    /// Whether it is neither revoked nor expired at `at`.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.core
            .as_ref()
            .is_some_and(|c| self.revoked_at.is_none() && c.granted_at <= at && at < c.expires_at)
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of a grant.
#[derive(Clone, Debug, PartialEq)]
pub enum GrantCommand {
    /// Grant access (takes new id 0).
    GrantAccess {
        /// The recording, as loaded.
        recording: Box<Recording>,
        /// The consent that covers the grantee, as loaded.
        consent: Box<Consent>,
        /// Who.
        grantee: Grantee,
        /// For what.
        purpose: Purpose,
        /// Until when.
        expires_at: DateTime<Utc>,
    },
    /// Take it back.
    RevokeAccess {
        /// Why.
        reason: RevocationReason,
    },
}

/// What a grant records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum GrantEvent {
    /// Access was granted.
    AccessGranted {
        /// The grant.
        grant_id: GrantId,
        /// The tenant.
        tenant_id: TenantId,
        /// The recording.
        recording_id: RecordingId,
        /// The consent relied on.
        consent_id: ConsentId,
        /// The consent's version relied on.
        consent_version: u64,
        /// Who may play.
        grantee: Grantee,
        /// For what.
        purpose: Purpose,
        /// Until when.
        expires_at: DateTime<Utc>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Access was revoked.
    AccessRevoked {
        /// Why.
        reason: RevocationReason,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(GrantEvent {
    AccessGranted => 1,
    AccessRevoked => 1,
});

impl Grant {
    /// The longest a grant may last: one year. Assessments and credential reviews are
    /// bounded; a grant without an end would be a standing share, which consent does not give.
    pub const MAX_DAYS: i64 = 366;
}

impl Aggregate for Grant {
    type Command = GrantCommand;
    type Event = GrantEvent;

    fn decide(&self, command: GrantCommand, ctx: &Ctx<'_>) -> Result<Vec<GrantEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        match command {
            GrantCommand::GrantAccess {
                recording,
                consent,
                grantee,
                purpose,
                expires_at,
            } => {
                if self.core.is_some() {
                    return Err(DomainError::conflict("the grant already exists"));
                }
                let policy = ctx.policy()?;
                let Some(rec) = recording.core().filter(|r| &r.tenant_id == ctx.tenant_id()) else {
                    return Err(not_found("recording"));
                };
                let grantor_ok = (ctx.has_role(Role::Practitioner)
                    && ctx.user() == Some(&rec.practitioner))
                    || ctx.has_role(Role::OrgAdmin);
                if !grantor_ok {
                    return Err(DomainError::forbidden(
                        "only the recording's practitioner or an org_admin may grant access to it",
                    ));
                }
                if recording.status() == Some(RecordingStatus::Destroyed)
                    || recording.scheduled_destruction().is_some()
                {
                    return Err(DomainError::conflict(
                        "the recording is destroyed or scheduled for destruction",
                    ));
                }
                if expires_at <= at {
                    return Err(DomainError::invalid(
                        "expires_at",
                        "a grant expires in the future",
                    ));
                }
                if expires_at - at > chrono::TimeDelta::days(Self::MAX_DAYS) {
                    return Err(DomainError::invalid(
                        "expires_at",
                        format!("a grant lasts at most {} days", Self::MAX_DAYS),
                    ));
                }
                let no_roles = Default::default();
                let listener = match &grantee {
                    Grantee::Member { user_id } => {
                        let Some(roles) = ctx.tenant().and_then(|t| t.roles_of(user_id)) else {
                            return Err(DomainError::invalid(
                                "grantee",
                                format!(
                                    "{user_id} is not a member; grant to an external assessor instead"
                                ),
                            ));
                        };
                        if let Some(role) = roles.iter().find(|r| r.never_plays_media()) {
                            return Err(DomainError::forbidden(format!(
                                "a member with the {role} role never plays media"
                            )));
                        }
                        if *user_id == rec.practitioner && !policy.policy.practitioner_self_access {
                            return Err(DomainError::forbidden(
                                "the tenant policy does not let practitioners play their own recordings",
                            ));
                        }
                        Listener::Person { user_id, roles }
                    }
                    Grantee::ExternalAssessor { user_id } => {
                        if ctx.tenant().and_then(|t| t.roles_of(user_id)).is_some() {
                            return Err(DomainError::invalid(
                                "grantee",
                                format!("{user_id} is a member; grant to them as a member"),
                            ));
                        }
                        Listener::Person {
                            user_id,
                            roles: &no_roles,
                        }
                    }
                    Grantee::Client { client_id } => {
                        if purpose != Purpose::ClientCopy || *client_id != rec.client_id {
                            return Err(DomainError::invalid(
                                "grantee",
                                "a client is granted only their own copy",
                            ));
                        }
                        if policy.policy.client_copies == ClientCopies::Never {
                            return Err(DomainError::forbidden(
                                "the tenant policy gives clients no copies",
                            ));
                        }
                        Listener::Client(*client_id)
                    }
                };
                let Some(consent_id) = consent.id() else {
                    return Err(not_found("consent"));
                };
                consent
                    .coverage(&Use {
                        tenant_id: ctx.tenant_id(),
                        model: policy.policy.consent_model,
                        client_id: rec.client_id,
                        practitioner: &rec.practitioner,
                        session_on: Some(rec.session_on),
                        at,
                        purpose: Some(purpose),
                        medium: None,
                        derivative: None,
                        listener: Some(listener),
                    })
                    .map_err(|gaps| {
                        DomainError::consent_required(format!(
                            "the consent does not cover this grant: {}",
                            sentence(&gaps)
                        ))
                        .with_reasons(gaps.iter().map(ConsentGap::code))
                    })?;
                if consent.expires_at().is_some_and(|end| expires_at > end) {
                    return Err(DomainError::invalid(
                        "expires_at",
                        "a grant cannot outlast the consent it relies on",
                    ));
                }
                let grant_id = GrantId::from_uuid(ctx.new_id(0)?)?;
                Ok(vec![GrantEvent::AccessGranted {
                    grant_id,
                    tenant_id: ctx.tenant_id().clone(),
                    recording_id: rec.id,
                    consent_id,
                    consent_version: consent.version(),
                    grantee,
                    purpose,
                    expires_at,
                    by,
                    at,
                }])
            }
            GrantCommand::RevokeAccess { reason } => {
                if self
                    .core
                    .as_ref()
                    .filter(|c| &c.tenant_id == ctx.tenant_id())
                    .is_none()
                {
                    return Err(not_found("grant"));
                }
                let may = match reason {
                    RevocationReason::RevokedByGrantor => {
                        ctx.has_role(Role::OrgAdmin)
                            || (ctx.has_role(Role::Practitioner)
                                && matches!(&self.granted_by, Some(Actor::User { user_id }) if ctx.user() == Some(user_id)))
                    }
                    // Cascades are the system's follow-up of a committed event.
                    RevocationReason::ConsentNoLongerCovers { .. }
                    | RevocationReason::RecordingDestroyed => {
                        ctx.is_system() || ctx.has_role(Role::OrgAdmin)
                    }
                };
                if !may {
                    return Err(DomainError::forbidden(
                        "a grant is revoked by its grantor, an org_admin, or the system's cascade",
                    ));
                }
                if self.revoked_at.is_some() {
                    return Err(DomainError::conflict("the grant is already revoked"));
                }
                Ok(vec![GrantEvent::AccessRevoked { reason, by, at }])
            }
        }
    }

    fn apply(mut self, event: &GrantEvent) -> Self {
        self.version += 1;
        match event {
            GrantEvent::AccessGranted {
                grant_id,
                tenant_id,
                recording_id,
                consent_id,
                grantee,
                purpose,
                expires_at,
                by,
                at,
                ..
            } => {
                self.core = Some(GrantCore {
                    id: *grant_id,
                    tenant_id: tenant_id.clone(),
                    recording_id: *recording_id,
                    consent_id: *consent_id,
                    grantee: grantee.clone(),
                    purpose: *purpose,
                    expires_at: *expires_at,
                    granted_at: *at,
                });
                self.granted_by = Some(by.clone());
            }
            GrantEvent::AccessRevoked { at, .. } => {
                self.revoked_at = Some(*at);
            }
        }
        self
    }
}
