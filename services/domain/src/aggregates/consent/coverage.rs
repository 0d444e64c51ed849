//! Coverage: whether a consent covers one use (a session, purpose, medium, derivative and
//! listener), and if not, every gap that says why. The one place that answers it; the
//! recording, grant and case-study rules and the access decision all ask it.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Consent, ConsentStatus};
use crate::ids::{ClientId, TenantId, UserId};
use crate::policy::ConsentModel;
use crate::vocabulary::{Derivative, Medium, Purpose, Role};

/// Why a consent does not cover a use. Carried in refusals so the caller (and the audit
/// trail) can say exactly which condition failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gap", rename_all = "snake_case")]
pub enum ConsentGap {
    /// The consent is another tenant's.
    OtherTenant,
    /// The consent is not in force.
    NotInForce {
        /// Its status.
        status: ConsentStatus,
    },
    /// Its expiry date has passed.
    PastExpiry {
        /// When it ended.
        expired_at: DateTime<Utc>,
    },
    /// It is about another client.
    OtherClient,
    /// It is with another practitioner.
    OtherPractitioner,
    /// The session is outside its scope.
    SessionOutOfScope,
    /// No notice was given for the session.
    SessionNotNoticed,
    /// The client opted out of the session.
    SessionOptedOut,
    /// A notice counts only while the tenant's model is `notified_opt_out`.
    NoticeNotValidUnderPolicy,
    /// The purpose was never consented to.
    PurposeNotConsented {
        /// The purpose.
        purpose: Purpose,
    },
    /// The purpose was withdrawn.
    PurposeWithdrawn {
        /// The purpose.
        purpose: Purpose,
    },
    /// The medium is not allowed for the purpose.
    MediumNotConsented {
        /// The purpose.
        purpose: Purpose,
        /// The medium asked for.
        medium: Medium,
    },
    /// The derivative is not allowed for the purpose.
    DerivativeNotConsented {
        /// The purpose.
        purpose: Purpose,
        /// The derivative asked for.
        derivative: Derivative,
    },
    /// The viewer is not in the purpose's named audience.
    ViewerNotInAudience {
        /// The purpose.
        purpose: Purpose,
    },
}

impl ConsentGap {
    /// A stable name for the gap, as in the event's JSON (`gap`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::OtherTenant => "other_tenant",
            Self::NotInForce { .. } => "not_in_force",
            Self::PastExpiry { .. } => "past_expiry",
            Self::OtherClient => "other_client",
            Self::OtherPractitioner => "other_practitioner",
            Self::SessionOutOfScope => "session_out_of_scope",
            Self::SessionNotNoticed => "session_not_noticed",
            Self::SessionOptedOut => "session_opted_out",
            Self::NoticeNotValidUnderPolicy => "notice_not_valid_under_policy",
            Self::PurposeNotConsented { .. } => "purpose_not_consented",
            Self::PurposeWithdrawn { .. } => "purpose_withdrawn",
            Self::MediumNotConsented { .. } => "medium_not_consented",
            Self::DerivativeNotConsented { .. } => "derivative_not_consented",
            Self::ViewerNotInAudience { .. } => "viewer_not_in_audience",
        }
    }
}

/// The gap as a person reads it.
impl fmt::Display for ConsentGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OtherTenant | Self::OtherClient => {
                f.write_str("the consent is about another client")
            }
            Self::NotInForce { status } => {
                write!(f, "the consent is not in force (it is {status})")
            }
            Self::PastExpiry { expired_at } => write!(f, "the consent expired at {expired_at}"),
            Self::OtherPractitioner => f.write_str("the consent is with another practitioner"),
            Self::SessionOutOfScope => f.write_str("the consent does not cover this session"),
            Self::SessionNotNoticed => f.write_str("no notice was given for this session"),
            Self::SessionOptedOut => f.write_str("the client opted out of this session"),
            Self::NoticeNotValidUnderPolicy => {
                f.write_str("a notice counts only while the tenant records under notified opt-out")
            }
            Self::PurposeNotConsented { purpose } => {
                write!(f, "the client did not consent to {purpose}")
            }
            Self::PurposeWithdrawn { purpose } => {
                write!(f, "the client withdrew consent to {purpose}")
            }
            Self::MediumNotConsented { purpose, medium } => {
                write!(f, "the client did not consent to {medium} for {purpose}")
            }
            Self::DerivativeNotConsented {
                purpose,
                derivative,
            } => write!(
                f,
                "the client did not consent to a {derivative} for {purpose}"
            ),
            Self::ViewerNotInAudience { purpose } => {
                write!(f, "the client did not name this person for {purpose}")
            }
        }
    }
}

/// Gaps (or refusal reasons) as one sentence: each, separated by semicolons.
pub fn sentence<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who would hear or see, for an audience check.
#[derive(Clone, Copy, Debug)]
pub enum Listener<'a> {
    /// A person with a user id and (if a member) roles.
    Person {
        /// Their id.
        user_id: &'a UserId,
        /// Their roles in the tenant (empty for external assessors).
        roles: &'a BTreeSet<Role>,
    },
    /// The client themself.
    Client(ClientId),
}

/// One use to check against a consent.
#[derive(Clone, Copy, Debug)]
pub struct Use<'a> {
    /// The tenant asking.
    pub tenant_id: &'a TenantId,
    /// The tenant's current consent model (a notice counts only under `notified_opt_out`).
    pub model: ConsentModel,
    /// Whose session.
    pub client_id: ClientId,
    /// With which practitioner.
    pub practitioner: &'a UserId,
    /// Which session; `None` asks about the consent as a whole (a case study is about a
    /// client, not one session), which skips the per-session scope and notice checks.
    pub session_on: Option<NaiveDate>,
    /// When.
    pub at: DateTime<Utc>,
    /// For which purpose, if one is asked about.
    pub purpose: Option<Purpose>,
    /// In which medium, if one is asked about (checked within `purpose`).
    pub medium: Option<Medium>,
    /// Which derivative, if one is asked about (checked within `purpose`).
    pub derivative: Option<Derivative>,
    /// Who would hear it, if anyone is asked about (checked within `purpose`).
    pub listener: Option<Listener<'a>>,
}

impl Consent {
    /// Whether this consent covers `use_`; if not, every reason it does not (at least one).
    ///
    /// The checks run from the consent as a whole down to the purpose, medium and listener,
    /// and stop adding purpose-level reasons once the consent as a whole fails, so the
    /// reasons read as the first thing to fix.
    pub fn coverage(&self, use_: &Use<'_>) -> Result<(), Vec<ConsentGap>> {
        let Some(core) = &self.core else {
            return Err(vec![ConsentGap::NotInForce {
                status: ConsentStatus::Requested,
            }]);
        };
        if &core.tenant_id != use_.tenant_id {
            return Err(vec![ConsentGap::OtherTenant]);
        }
        let mut gaps = Vec::new();
        let status = self.status.unwrap_or(ConsentStatus::Requested);
        if !status.is_in_force() {
            gaps.push(ConsentGap::NotInForce { status });
        }
        if let Some(expired_at) = self.expires_at()
            && use_.at >= expired_at
        {
            gaps.push(ConsentGap::PastExpiry { expired_at });
        }
        if core.client_id != use_.client_id {
            gaps.push(ConsentGap::OtherClient);
        }
        if &core.practitioner != use_.practitioner {
            gaps.push(ConsentGap::OtherPractitioner);
        }
        if core.model == ConsentModel::NotifiedOptOut && use_.model != ConsentModel::NotifiedOptOut
        {
            gaps.push(ConsentGap::NoticeNotValidUnderPolicy);
        }
        if let Some(session_on) = use_.session_on {
            if !core.scope.includes(session_on) {
                gaps.push(ConsentGap::SessionOutOfScope);
            }
            if core.model == ConsentModel::NotifiedOptOut {
                if !self.noticed_sessions.contains(&session_on) {
                    gaps.push(ConsentGap::SessionNotNoticed);
                }
                if self.opted_out_sessions.contains(&session_on) {
                    gaps.push(ConsentGap::SessionOptedOut);
                }
            }
        }
        if !gaps.is_empty() {
            return Err(gaps);
        }
        let Some(purpose) = use_.purpose else {
            return Ok(());
        };
        let Some(state) = self.purposes.get(&purpose) else {
            return Err(vec![ConsentGap::PurposeNotConsented { purpose }]);
        };
        if state.withdrawn_at.is_some() {
            return Err(vec![ConsentGap::PurposeWithdrawn { purpose }]);
        }
        if let Some(medium) = use_.medium
            && !state.terms.media.contains(&medium)
        {
            gaps.push(ConsentGap::MediumNotConsented { purpose, medium });
        }
        if let Some(derivative) = use_.derivative
            && !state.terms.derivatives.contains(&derivative)
        {
            gaps.push(ConsentGap::DerivativeNotConsented {
                purpose,
                derivative,
            });
        }
        if let Some(listener) = use_.listener {
            let heard = match listener {
                Listener::Person { user_id, roles } => {
                    state.terms.audience.users.contains(user_id)
                        || (core.model == ConsentModel::NotifiedOptOut
                            && roles.iter().any(|r| state.terms.audience.roles.contains(r)))
                }
                Listener::Client(client_id) => {
                    purpose == Purpose::ClientCopy && client_id == core.client_id
                }
            };
            if !heard {
                gaps.push(ConsentGap::ViewerNotInAudience { purpose });
            }
        }
        if gaps.is_empty() { Ok(()) } else { Err(gaps) }
    }
}
