//! The access decision: one pure function that says whether someone may play a recording
//! for a purpose, in a medium, at a moment, and on what basis.
//!
//! Playback needs all of:
//! - everything in one tenant (another tenant's recording, policy, consent or grant never
//!   allows anything);
//! - a stored recording that is not destroyed nor scheduled for destruction, available in the
//!   medium asked for, which the policy allows (video only where policy allows it);
//! - a viewer who may play media at all (never an auditor or funder), and who is not the
//!   recording's own practitioner unless the policy allows self-access;
//! - a consent in force that covers the client, practitioner, session, purpose, medium and
//!   the viewer by name (or, under `notified_opt_out`, by role), at that moment;
//! - a role rule for the purpose or a grant naming this viewer, recording and purpose that
//!   has not expired nor been revoked. `org_admin` is no role rule: an administrator plays
//!   only through a purpose like anyone else.
//!
//! The answer is [`AccessDecision::Allow`] with its basis (consent id and version, grant id,
//! policy version), recorded on the playback event, or [`AccessDecision::Deny`] with every
//! reason, recorded on the refusal event.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::consent::{Consent, ConsentGap, Listener, Use};
use crate::aggregates::grant::{Grant, Grantee};
use crate::aggregates::recording::{Recording, RecordingStatus};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::ids::{ClientId, ConsentId, GrantId, TenantId, UserId};
use crate::policy::{ClientCopies, VersionedPolicy};
use crate::vocabulary::{Medium, Purpose, Role};

/// Who asks to play.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Viewer {
    /// A member, with the roles the tenant's log gives them.
    Member {
        /// Their id.
        user_id: UserId,
        /// Their roles.
        roles: BTreeSet<Role>,
    },
    /// An external assessor: not a member, plays only through a grant.
    ExternalAssessor {
        /// Their id.
        user_id: UserId,
    },
    /// The client, through their link.
    Client {
        /// The client.
        client_id: ClientId,
    },
}

impl Viewer {
    /// The viewer the acting user or client is, as the tenant's log knows them: a member
    /// with their roles, an external assessor (a user with no role in the tenant), or the
    /// client through their link. The system never plays.
    pub fn of(ctx: &Ctx<'_>) -> Result<Self, DomainError> {
        match ctx.actor() {
            Actor::User { user_id } => Ok(match ctx.tenant().and_then(|t| t.roles_of(user_id)) {
                Some(roles) => Viewer::Member {
                    user_id: user_id.clone(),
                    roles: roles.clone(),
                },
                None => Viewer::ExternalAssessor {
                    user_id: user_id.clone(),
                },
            }),
            Actor::ClientLink { client_id } => Ok(Viewer::Client {
                client_id: *client_id,
            }),
            Actor::System { .. } => Err(DomainError::forbidden("the system never plays media")),
        }
    }

    /// The one grantee a grant must name to be this viewer's: a grant to anyone else is
    /// no basis for them, and no reason either (the decision skips it).
    pub fn grantee(&self) -> Grantee {
        match self {
            Viewer::Member { user_id, .. } => Grantee::Member {
                user_id: user_id.clone(),
            },
            Viewer::ExternalAssessor { user_id } => Grantee::ExternalAssessor {
                user_id: user_id.clone(),
            },
            Viewer::Client { client_id } => Grantee::Client {
                client_id: *client_id,
            },
        }
    }
}

/// Whether `role`, by itself, lets a member play for `purpose` (subject to consent naming
/// them). Grants add to this; nothing else does.
pub fn role_may_play(role: Role, purpose: Purpose) -> bool {
    match role {
        // The practitioner's own recordings only (checked by the caller), and only where the
        // policy allows self-access.
        Role::Practitioner => matches!(
            purpose,
            Purpose::PractitionerReflection
                | Purpose::Supervision
                | Purpose::Transcription
                | Purpose::CaseStudy
        ),
        Role::Tutor => matches!(
            purpose,
            Purpose::Supervision | Purpose::CourseAssessment | Purpose::Transcription
        ),
        Role::Reviewer => purpose == Purpose::QualityAssurance,
        // Administrators see everything but play only through a purpose like anyone else;
        // assessors play only what a grant names; auditors and funders never play.
        Role::OrgAdmin | Role::Assessor | Role::Auditor | Role::Funder => false,
    }
}

/// Everything the decision looks at.
#[derive(Clone, Copy, Debug)]
pub struct AccessRequest<'a> {
    /// The tenant the viewer acts in.
    pub tenant_id: &'a TenantId,
    /// Who asks.
    pub viewer: &'a Viewer,
    /// What.
    pub recording: &'a Recording,
    /// Why.
    pub purpose: Purpose,
    /// In which medium.
    pub medium: Medium,
    /// When.
    pub at: DateTime<Utc>,
    /// The consents about the recording's client whose scope includes its session (any
    /// status; the decision picks, in the order given). Others may be passed too: the
    /// decision skips them, so the answer is the same whether a caller hands over every
    /// consent of the client or only those (`confide_app` reads only those).
    pub consents: &'a [Consent],
    /// The grants on the recording to this viewer (any status). Others may be passed too:
    /// the decision skips them.
    pub grants: &'a [Grant],
    /// The tenant's current policy.
    pub policy: &'a VersionedPolicy,
}

/// What an allowed playback rests on; recorded on the playback event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccessBasis {
    /// The consent that covers it.
    pub consent_id: ConsentId,
    /// That consent's version (events applied) when decided.
    pub consent_version: u64,
    /// The grant used, if the viewer played through one rather than a role rule.
    pub grant_id: Option<GrantId>,
    /// The policy version in force.
    pub policy_version: u32,
}

/// Why a playback was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DenyReason {
    /// The recording or policy belongs to another tenant.
    OtherTenant,
    /// The recording is not stored (awaiting upload, or destroyed).
    RecordingNotPlayable {
        /// Its status.
        status: RecordingStatus,
    },
    /// The recording is scheduled for destruction.
    RecordingScheduledForDestruction,
    /// The recording does not exist in that medium.
    MediumNotAvailable {
        /// The medium asked for.
        medium: Medium,
    },
    /// The tenant policy does not allow the medium.
    MediumNotAllowedByPolicy {
        /// The medium asked for.
        medium: Medium,
    },
    /// The viewer holds a role that never plays media.
    RoleNeverPlaysMedia {
        /// The role.
        role: Role,
    },
    /// The viewer is the recording's practitioner and the policy gives no self-access.
    PractitionerSelfAccessDisabled,
    /// The policy gives clients no copies.
    ClientCopiesNotAllowed,
    /// No consent about this client is on hand.
    NoConsent,
    /// A consent about this client does not cover the playback.
    ConsentDoesNotCover {
        /// The consent.
        consent_id: ConsentId,
        /// Why not.
        gaps: Vec<ConsentGap>,
    },
    /// Neither a role rule nor a grant lets this viewer play for this purpose.
    NoRoleRuleOrGrant {
        /// The purpose.
        purpose: Purpose,
    },
    /// A grant for this viewer and purpose has expired.
    GrantExpired {
        /// The grant.
        grant_id: GrantId,
    },
    /// A grant for this viewer and purpose was revoked.
    GrantRevoked {
        /// The grant.
        grant_id: GrantId,
    },
}

impl DenyReason {
    /// A stable name for the reason, as in the event's JSON (`reason`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::OtherTenant => "other_tenant",
            Self::RecordingNotPlayable { .. } => "recording_not_playable",
            Self::RecordingScheduledForDestruction => "recording_scheduled_for_destruction",
            Self::MediumNotAvailable { .. } => "medium_not_available",
            Self::MediumNotAllowedByPolicy { .. } => "medium_not_allowed_by_policy",
            Self::RoleNeverPlaysMedia { .. } => "role_never_plays_media",
            Self::PractitionerSelfAccessDisabled => "practitioner_self_access_disabled",
            Self::ClientCopiesNotAllowed => "client_copies_not_allowed",
            Self::NoConsent => "no_consent",
            Self::ConsentDoesNotCover { .. } => "consent_does_not_cover",
            Self::NoRoleRuleOrGrant { .. } => "no_role_rule_or_grant",
            Self::GrantExpired { .. } => "grant_expired",
            Self::GrantRevoked { .. } => "grant_revoked",
        }
    }
}

/// The reason as a person reads it.
impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OtherTenant => f.write_str("the recording is not found"),
            Self::RecordingNotPlayable { status } => match status {
                RecordingStatus::AwaitingUpload => f.write_str("the media has not been uploaded"),
                _ => f.write_str("the recording has been destroyed"),
            },
            Self::RecordingScheduledForDestruction => {
                f.write_str("the recording is scheduled for destruction")
            }
            Self::MediumNotAvailable { medium } => {
                write!(f, "the recording has no {medium}")
            }
            Self::MediumNotAllowedByPolicy { medium } => {
                write!(f, "the organisation's policy does not allow {medium}")
            }
            Self::RoleNeverPlaysMedia { role } => {
                write!(f, "the {role} role never plays recordings")
            }
            Self::PractitionerSelfAccessDisabled => f.write_str(
                "the organisation's policy does not let practitioners play their own recordings",
            ),
            Self::ClientCopiesNotAllowed => {
                f.write_str("the organisation's policy gives clients no copies")
            }
            Self::NoConsent => f.write_str("no consent about this client is on record"),
            Self::ConsentDoesNotCover { gaps, .. } => write!(
                f,
                "the consent does not cover it: {}",
                crate::aggregates::consent::sentence(gaps)
            ),
            Self::NoRoleRuleOrGrant { purpose } => write!(
                f,
                "neither your role nor a grant lets you play it for {purpose}"
            ),
            Self::GrantExpired { .. } => f.write_str("your grant has expired"),
            Self::GrantRevoked { .. } => f.write_str("your grant was revoked"),
        }
    }
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AccessDecision {
    /// Play, on this basis.
    Allow {
        /// What it rests on.
        basis: AccessBasis,
    },
    /// Do not play, for these reasons (at least one).
    Deny {
        /// Why.
        reasons: Vec<DenyReason>,
    },
}

impl AccessDecision {
    /// Whether it allows.
    pub fn is_allowed(&self) -> bool {
        matches!(self, AccessDecision::Allow { .. })
    }
}

fn grant_matches(
    grant: &Grant,
    req: &AccessRequest<'_>,
    recording_id: crate::ids::RecordingId,
) -> bool {
    let Some(core) = grant.core() else {
        return false;
    };
    if &core.tenant_id != req.tenant_id
        || core.recording_id != recording_id
        || core.purpose != req.purpose
    {
        return false;
    }
    // As `Viewer::grantee` names it, without building one.
    match (&core.grantee, req.viewer) {
        (Grantee::Member { user_id: g }, Viewer::Member { user_id, .. })
        | (Grantee::ExternalAssessor { user_id: g }, Viewer::ExternalAssessor { user_id }) => {
            g == user_id
        }
        (Grantee::Client { client_id: g }, Viewer::Client { client_id }) => g == client_id,
        _ => false,
    }
}

/// Decides one playback. Pure and allocation-light: it runs on every `startPlayback` and
/// for every row of a recording list that shows the caller's access.
pub fn decide_access(req: &AccessRequest<'_>) -> AccessDecision {
    let deny = |reasons| AccessDecision::Deny { reasons };
    let Some(rec) = req.recording.core() else {
        return deny(vec![DenyReason::RecordingNotPlayable {
            status: RecordingStatus::AwaitingUpload,
        }]);
    };
    // Isolation comes first and alone: nothing about another tenant's data is evaluated,
    // so no reason can leak anything about it.
    if &rec.tenant_id != req.tenant_id || &req.policy.tenant_id != req.tenant_id {
        return deny(vec![DenyReason::OtherTenant]);
    }
    let policy = &req.policy.policy;
    let mut reasons = Vec::new();

    let status = req
        .recording
        .status()
        .unwrap_or(RecordingStatus::AwaitingUpload);
    if status != RecordingStatus::Stored {
        reasons.push(DenyReason::RecordingNotPlayable { status });
    }
    if req.recording.scheduled_destruction().is_some() {
        reasons.push(DenyReason::RecordingScheduledForDestruction);
    }
    if !req.recording.has_medium(req.medium) {
        reasons.push(DenyReason::MediumNotAvailable { medium: req.medium });
    }
    if !policy.allowed_media.allows(req.medium) {
        reasons.push(DenyReason::MediumNotAllowedByPolicy { medium: req.medium });
    }

    static NO_ROLES: BTreeSet<Role> = BTreeSet::new();
    let (listener, roles) = match req.viewer {
        Viewer::Member { user_id, roles } => (Listener::Person { user_id, roles }, roles),
        Viewer::ExternalAssessor { user_id } => (
            Listener::Person {
                user_id,
                roles: &NO_ROLES,
            },
            &NO_ROLES,
        ),
        Viewer::Client { client_id } => (Listener::Client(*client_id), &NO_ROLES),
    };
    for role in roles.iter().filter(|r| r.never_plays_media()) {
        reasons.push(DenyReason::RoleNeverPlaysMedia { role: *role });
    }
    let is_own_practitioner =
        matches!(req.viewer, Viewer::Member { user_id, .. } if *user_id == rec.practitioner);
    if is_own_practitioner && !policy.practitioner_self_access {
        reasons.push(DenyReason::PractitionerSelfAccessDisabled);
    }

    // The consent: the first (by the caller's order) that covers everything.
    let use_ = Use {
        tenant_id: req.tenant_id,
        model: policy.consent_model,
        client_id: rec.client_id,
        practitioner: &rec.practitioner,
        session_on: Some(rec.session_on),
        at: req.at,
        purpose: Some(req.purpose),
        medium: Some(req.medium),
        derivative: None,
        listener: Some(listener),
    };
    let mut covering = None;
    let mut consent_reasons = Vec::new();
    for consent in req.consents {
        let Some(core) = consent.core() else { continue };
        // Consents about other clients or tenants, or about other sessions of this client,
        // are not this recording's business: they are skipped rather than reported. So a
        // decision needs only the consents whose scope includes the recording's session
        // (its own, the engagement's), however many sessions the client has had.
        if &core.tenant_id != req.tenant_id
            || core.client_id != rec.client_id
            || !core.scope.includes(rec.session_on)
        {
            continue;
        }
        match consent.coverage(&use_) {
            Ok(()) => {
                covering = Some(consent);
                break;
            }
            Err(gaps) => consent_reasons.push(DenyReason::ConsentDoesNotCover {
                consent_id: core.id,
                gaps,
            }),
        }
    }
    if covering.is_none() {
        if consent_reasons.is_empty() {
            reasons.push(DenyReason::NoConsent);
        } else {
            reasons.append(&mut consent_reasons);
        }
    }

    // The authorisation path: a role rule, or a grant.
    let role_rule = match req.viewer {
        Viewer::Member { roles, .. } => roles.iter().any(|role| {
            role_may_play(*role, req.purpose)
                && (*role != Role::Practitioner || is_own_practitioner)
        }),
        Viewer::ExternalAssessor { .. } => false,
        Viewer::Client { .. } => {
            if req.purpose == Purpose::ClientCopy && policy.client_copies == ClientCopies::Never {
                reasons.push(DenyReason::ClientCopiesNotAllowed);
            }
            req.purpose == Purpose::ClientCopy && policy.client_copies == ClientCopies::Allowed
        }
    };
    let mut grant_used = None;
    if !role_rule {
        let mut grant_reasons = Vec::new();
        for grant in req.grants {
            if !grant_matches(grant, req, rec.id) {
                continue;
            }
            let Some(core) = grant.core() else { continue };
            if grant.is_active_at(req.at) {
                grant_used = Some(core.id);
                break;
            }
            if grant.revoked_at().is_some() {
                grant_reasons.push(DenyReason::GrantRevoked { grant_id: core.id });
            } else {
                grant_reasons.push(DenyReason::GrantExpired { grant_id: core.id });
            }
        }
        if grant_used.is_none() {
            reasons.push(DenyReason::NoRoleRuleOrGrant {
                purpose: req.purpose,
            });
            reasons.append(&mut grant_reasons);
        }
    }

    match covering {
        Some(consent) if reasons.is_empty() => match consent.id() {
            Some(consent_id) => AccessDecision::Allow {
                basis: AccessBasis {
                    consent_id,
                    consent_version: consent.version(),
                    grant_id: grant_used,
                    policy_version: req.policy.version,
                },
            },
            None => deny(vec![DenyReason::NoConsent]),
        },
        _ => deny(reasons),
    }
}

#[cfg(test)]
mod tests;
