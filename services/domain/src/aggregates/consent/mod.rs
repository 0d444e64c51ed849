//! Consent: a record the client gives, never inferred. It is the access control.
//!
//! Two ways in, following the tenant's consent model:
//! - written opt-in: requested → given | refused; given → withdrawn in part (a purpose or one
//!   audience member) or whole → expired; superseded when the form changes and the client
//!   renews;
//! - notified opt-out: a notice is given at the start of each session (the first notice
//!   creates the record with its purposes and named roles); the client may opt out of one
//!   session or for good.
//!
//! [`Consent::coverage`] is the one place that says whether a consent covers a use; the
//! recording, grant and case-study rules and the access decision all ask it.
//!
//! This module holds the aggregate's state, its events and how they fold; the rest is in
//! private submodules, re-exported here:
//!
//! - `terms`: the value vocabulary of a consent (purposes and their terms, audience, scope,
//!   expiry, evidence, withdrawal scope);
//! - `coverage`: whether a consent covers a use, and why not;
//! - `decide`: the commands and the rules that decide them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::Aggregate;
use crate::aggregates::consent_form::FormRef;
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, ConsentId, CourseId, TenantId, UserId};
use crate::policy::ConsentModel;
use crate::vocabulary::Purpose;

mod coverage;
mod decide;
mod terms;

pub use coverage::{ConsentGap, Listener, Use, sentence};
pub use decide::{ConsentCommand, NoticeTerms};
pub use terms::{
    Audience, CollectionMethod, ConsentScope, Evidence, Expiry, ExpiryCause, ExpiryTrigger,
    PurposeState, PurposeTerms, WithdrawalScope,
};

/// Where a consent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// Asked for, not answered.
    Requested,
    /// Given in writing (or by an equivalent recorded method).
    Given,
    /// Notice given under `notified_opt_out`; in force unless opted out.
    Noticed,
    /// Refused.
    Refused,
    /// Withdrawn whole.
    Withdrawn,
    /// Ended by its date or event.
    Expired,
    /// Replaced by a renewal on a changed form.
    Superseded,
    /// Opted out for good under `notified_opt_out`.
    OptedOut,
}

impl std::fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Requested => "requested",
            Self::Given => "given",
            Self::Noticed => "noticed",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::OptedOut => "opted out",
        })
    }
}

impl ConsentStatus {
    /// Whether a consent in this status can allow anything.
    pub fn is_in_force(self) -> bool {
        matches!(self, ConsentStatus::Given | ConsentStatus::Noticed)
    }
}

/// The facts fixed when a consent is first recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentCore {
    /// The consent's id.
    pub id: ConsentId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The client.
    pub client_id: ClientId,
    /// The practitioner.
    pub practitioner: UserId,
    /// Which sessions.
    pub scope: ConsentScope,
    /// The course the recordings are for, if any.
    pub course_id: Option<CourseId>,
    /// Written opt-in (requested/given) or a notice.
    pub model: ConsentModel,
    /// The form shown.
    pub form: FormRef,
    /// What ends it by itself.
    pub expiry: Option<Expiry>,
    /// The consent this one renews, if any.
    pub renews: Option<ConsentId>,
    /// When it was first recorded.
    pub recorded_at: DateTime<Utc>,
}

/// The consent aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    core: Option<ConsentCore>,
    status: Option<ConsentStatus>,
    purposes: BTreeMap<Purpose, PurposeState>,
    evidence: Option<Evidence>,
    given_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    superseded_by: Option<ConsentId>,
    noticed_sessions: BTreeSet<NaiveDate>,
    opted_out_sessions: BTreeSet<NaiveDate>,
    deletion_requested: bool,
    notified: BTreeSet<UserId>,
    version: u64,
}

impl Consent {
    /// The facts fixed at creation.
    pub fn core(&self) -> Option<&ConsentCore> {
        self.core.as_ref()
    }

    /// The consent's id.
    pub fn id(&self) -> Option<ConsentId> {
        self.core.as_ref().map(|c| c.id)
    }

    /// The status (none before the first event).
    pub fn status(&self) -> Option<ConsentStatus> {
        self.status
    }

    /// The purposes with their terms and withdrawals.
    pub fn purposes(&self) -> &BTreeMap<Purpose, PurposeState> {
        &self.purposes
    }

    /// The evidence, once given.
    pub fn evidence(&self) -> Option<&Evidence> {
        self.evidence.as_ref()
    }

    /// When it was given (or first noticed).
    pub fn given_at(&self) -> Option<DateTime<Utc>> {
        self.given_at
    }

    /// When it stopped being in force (withdrawn, expired, superseded, opted out).
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.ended_at
    }

    /// The renewal that superseded it.
    pub fn superseded_by(&self) -> Option<ConsentId> {
        self.superseded_by
    }

    /// Whether the whole withdrawal (or opt-out) asked for deletion.
    pub fn deletion_requested(&self) -> bool {
        self.deletion_requested
    }

    /// Who has been sent an Art. 19 notice about this consent's withdrawal.
    pub fn notified(&self) -> &BTreeSet<UserId> {
        &self.notified
    }

    /// Sessions whose notice was played (under `notified_opt_out`).
    pub fn noticed_sessions(&self) -> &BTreeSet<NaiveDate> {
        &self.noticed_sessions
    }

    /// Sessions the client opted out of.
    pub fn opted_out_sessions(&self) -> &BTreeSet<NaiveDate> {
        &self.opted_out_sessions
    }

    /// How many events have been applied: the version an access basis names.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The moment the expiry date passes, if it has a date.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self.core.as_ref()?.expiry? {
            Expiry::OnDate { at } => Some(at),
            Expiry::OnEvent { .. } => None,
        }
    }

    /// Everyone named in any purpose's audience (people only).
    pub fn named_people(&self) -> BTreeSet<UserId> {
        self.purposes
            .values()
            .flat_map(|p| p.terms.audience.users.iter().cloned())
            .collect()
    }
}

/// What a consent records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ConsentEvent {
    /// Written consent was asked for.
    ConsentRequested {
        /// The consent.
        consent_id: ConsentId,
        /// The tenant.
        tenant_id: TenantId,
        /// The client.
        client_id: ClientId,
        /// The practitioner.
        practitioner: UserId,
        /// Which sessions.
        scope: ConsentScope,
        /// The course, if any.
        course_id: Option<CourseId>,
        /// What was asked.
        terms: Vec<PurposeTerms>,
        /// What ends it.
        expiry: Option<Expiry>,
        /// The form shown.
        form: FormRef,
        /// The consent renewed, if any.
        renews: Option<ConsentId>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client gave consent.
    ConsentGiven {
        /// The proof.
        evidence: Evidence,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client refused.
    ConsentRefused {
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client withdrew the whole consent.
    ConsentWithdrawn {
        /// Whether recordings and derivatives must be destroyed.
        deletion_requested: bool,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client withdrew one purpose.
    ConsentPurposeWithdrawn {
        /// The purpose.
        purpose: Purpose,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client withdrew one person from one purpose's audience.
    ConsentAudienceMemberWithdrawn {
        /// The purpose.
        purpose: Purpose,
        /// The person.
        user_id: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The consent's date or event came.
    ConsentExpired {
        /// Why.
        cause: ExpiryCause,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A renewal on a changed form replaced the consent.
    ConsentSuperseded {
        /// The renewal.
        superseded_by: ConsentId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Under `notified_opt_out`: the first notice, with what it announced.
    ConsentNoticeGiven {
        /// The consent.
        consent_id: ConsentId,
        /// The tenant.
        tenant_id: TenantId,
        /// The client.
        client_id: ClientId,
        /// The practitioner.
        practitioner: UserId,
        /// What was announced.
        terms: Vec<PurposeTerms>,
        /// The notice text.
        form: FormRef,
        /// The session.
        session_on: NaiveDate,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Under `notified_opt_out`: the notice was played at a later session.
    SessionNoticeGiven {
        /// The session.
        session_on: NaiveDate,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client opted out of one session.
    ConsentOptedOutOfSession {
        /// The session.
        session_on: NaiveDate,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The client opted out for good.
    ConsentOptedOut {
        /// Whether recordings must be destroyed.
        deletion_requested: bool,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A person who had access was told of the withdrawal and erasure (GDPR Art. 19).
    WithdrawalNoticeIssued {
        /// Who is told.
        recipient: UserId,
        /// The recordings concerned.
        recording_ids: Vec<crate::ids::RecordingId>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(ConsentEvent {
    ConsentRequested => 1,
    ConsentGiven => 1,
    ConsentRefused => 1,
    ConsentWithdrawn => 1,
    ConsentPurposeWithdrawn => 1,
    ConsentAudienceMemberWithdrawn => 1,
    ConsentExpired => 1,
    ConsentSuperseded => 1,
    ConsentNoticeGiven => 1,
    SessionNoticeGiven => 1,
    ConsentOptedOutOfSession => 1,
    ConsentOptedOut => 1,
    WithdrawalNoticeIssued => 1,
});

impl Aggregate for Consent {
    type Command = ConsentCommand;
    type Event = ConsentEvent;

    fn decide(
        &self,
        command: ConsentCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<ConsentEvent>, DomainError> {
        self.decide_command(command, ctx)
    }

    fn apply(mut self, event: &ConsentEvent) -> Self {
        self.version += 1;
        let purposes_of = |terms: &[PurposeTerms]| {
            terms
                .iter()
                .map(|t| {
                    (
                        t.purpose,
                        PurposeState {
                            terms: t.clone(),
                            withdrawn_at: None,
                        },
                    )
                })
                .collect()
        };
        match event {
            ConsentEvent::ConsentRequested {
                consent_id,
                tenant_id,
                client_id,
                practitioner,
                scope,
                course_id,
                terms,
                expiry,
                form,
                renews,
                at,
                ..
            } => {
                self.core = Some(ConsentCore {
                    id: *consent_id,
                    tenant_id: tenant_id.clone(),
                    client_id: *client_id,
                    practitioner: practitioner.clone(),
                    scope: *scope,
                    course_id: *course_id,
                    model: ConsentModel::WrittenOptIn,
                    form: form.clone(),
                    expiry: *expiry,
                    renews: *renews,
                    recorded_at: *at,
                });
                self.status = Some(ConsentStatus::Requested);
                self.purposes = purposes_of(terms);
            }
            ConsentEvent::ConsentGiven { evidence, at, .. } => {
                self.status = Some(ConsentStatus::Given);
                self.evidence = Some(evidence.clone());
                self.given_at = Some(*at);
            }
            ConsentEvent::ConsentRefused { at, .. } => {
                self.status = Some(ConsentStatus::Refused);
                self.ended_at = Some(*at);
            }
            ConsentEvent::ConsentWithdrawn {
                deletion_requested,
                at,
                ..
            } => {
                self.status = Some(ConsentStatus::Withdrawn);
                self.deletion_requested = *deletion_requested;
                self.ended_at = Some(*at);
            }
            ConsentEvent::ConsentPurposeWithdrawn { purpose, at, .. } => {
                if let Some(p) = self.purposes.get_mut(purpose) {
                    p.withdrawn_at = Some(*at);
                }
            }
            ConsentEvent::ConsentAudienceMemberWithdrawn {
                purpose, user_id, ..
            } => {
                if let Some(p) = self.purposes.get_mut(purpose) {
                    p.terms.audience.users.remove(user_id);
                }
            }
            ConsentEvent::ConsentExpired { at, .. } => {
                self.status = Some(ConsentStatus::Expired);
                self.ended_at = Some(*at);
            }
            ConsentEvent::ConsentSuperseded {
                superseded_by, at, ..
            } => {
                self.status = Some(ConsentStatus::Superseded);
                self.superseded_by = Some(*superseded_by);
                self.ended_at = Some(*at);
            }
            ConsentEvent::ConsentNoticeGiven {
                consent_id,
                tenant_id,
                client_id,
                practitioner,
                terms,
                form,
                session_on,
                at,
                ..
            } => {
                self.core = Some(ConsentCore {
                    id: *consent_id,
                    tenant_id: tenant_id.clone(),
                    client_id: *client_id,
                    practitioner: practitioner.clone(),
                    scope: ConsentScope::Engagement,
                    course_id: None,
                    model: ConsentModel::NotifiedOptOut,
                    form: form.clone(),
                    expiry: None,
                    renews: None,
                    recorded_at: *at,
                });
                self.status = Some(ConsentStatus::Noticed);
                self.given_at = Some(*at);
                self.purposes = purposes_of(terms);
                self.noticed_sessions.insert(*session_on);
            }
            ConsentEvent::SessionNoticeGiven { session_on, .. } => {
                self.noticed_sessions.insert(*session_on);
            }
            ConsentEvent::ConsentOptedOutOfSession { session_on, .. } => {
                self.opted_out_sessions.insert(*session_on);
            }
            ConsentEvent::ConsentOptedOut {
                deletion_requested,
                at,
                ..
            } => {
                self.status = Some(ConsentStatus::OptedOut);
                self.deletion_requested = *deletion_requested;
                self.ended_at = Some(*at);
            }
            ConsentEvent::WithdrawalNoticeIssued { recipient, .. } => {
                self.notified.insert(recipient.clone());
            }
        }
        self
    }
}
