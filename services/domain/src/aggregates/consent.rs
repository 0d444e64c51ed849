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

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::client::Client;
use crate::aggregates::consent_form::{ConsentForm, FormRef};
use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ClientId, ConsentId, CourseId, TenantId, UserId};
use crate::policy::{ClientCopies, ConsentModel, TenantPolicy};
use crate::vocabulary::{Derivative, Jurisdiction, Language, Medium, Purpose, Role, Sealed};

/// Which sessions a consent covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConsentScope {
    /// One session, named by its date.
    Session {
        /// The session's date.
        session_on: NaiveDate,
    },
    /// Every session of the engagement between this client and practitioner.
    Engagement,
}

impl ConsentScope {
    /// Whether the session on `session_on` is in scope.
    pub fn includes(self, session_on: NaiveDate) -> bool {
        match self {
            ConsentScope::Session { session_on: only } => only == session_on,
            ConsentScope::Engagement => true,
        }
    }
}

/// Who may hear a purpose's recordings: named people, or (in notified opt-out tenants only)
/// a named role. Never "my supervisor".
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Audience {
    /// Named people, by user id.
    pub users: BTreeSet<UserId>,
    /// Named roles; only a notice under `notified_opt_out` may name roles.
    pub roles: BTreeSet<Role>,
}

impl Audience {
    /// An audience of named people.
    pub fn users(users: impl IntoIterator<Item = UserId>) -> Self {
        Self {
            users: users.into_iter().collect(),
            roles: BTreeSet::new(),
        }
    }

    /// An audience of a named role.
    pub fn roles(roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            users: BTreeSet::new(),
            roles: roles.into_iter().collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.roles.is_empty()
    }
}

/// What the client agreed to for one purpose.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PurposeTerms {
    /// The purpose.
    pub purpose: Purpose,
    /// Who may hear it. Empty for `client_copy`, whose audience is the client.
    pub audience: Audience,
    /// Which media may be used for it.
    pub media: BTreeSet<Medium>,
    /// What may be derived for it.
    pub derivatives: BTreeSet<Derivative>,
}

/// A purpose's terms in force, with their partial withdrawals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeState {
    /// The terms as agreed, less any audience member withdrawn.
    pub terms: PurposeTerms,
    /// When the whole purpose was withdrawn, if it was.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// What ends a consent by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expiry {
    /// A date and time.
    OnDate {
        /// The moment it ends.
        at: DateTime<Utc>,
    },
    /// An event elsewhere.
    OnEvent {
        /// Which event.
        trigger: ExpiryTrigger,
    },
}

/// An event that ends a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpiryTrigger {
    /// The course ends.
    CourseEnded {
        /// The course.
        course_id: CourseId,
    },
    /// The credentialing body decides on the submission.
    CredentialDecided,
}

/// Why a consent expired, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpiryCause {
    /// Its date passed.
    DateReached,
    /// Its triggering event happened.
    Triggered {
        /// The event.
        trigger: ExpiryTrigger,
    },
}

/// How consent was collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// The client signed through their client link.
    ClientLinkSignature,
    /// A paper form, signed and scanned by the practitioner.
    PaperFormScanned,
    /// Said aloud on a recording, confirmed by the practitioner.
    VerbalOnRecord,
}

/// The proof that consent was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The form, version and SHA-256 of the exact text shown.
    pub form: FormRef,
    /// How it was collected.
    pub collected_by: CollectionMethod,
    /// The name the client typed (personal data, so sealed under the client's key).
    pub typed_name: Sealed,
    /// When the client signed.
    pub signed_at: DateTime<Utc>,
    /// The law the client consented under.
    pub jurisdiction: Jurisdiction,
    /// The language of the text shown.
    pub language: Language,
}

/// How much of a consent is withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WithdrawalScope {
    /// All of it.
    Whole,
    /// One purpose; the others stay in force.
    Purpose {
        /// The purpose.
        purpose: Purpose,
    },
    /// One named person from one purpose's audience.
    AudienceMember {
        /// The purpose.
        purpose: Purpose,
        /// The person.
        user_id: UserId,
    },
}

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

impl ConsentStatus {
    /// Whether a consent in this status can allow anything.
    pub fn is_in_force(self) -> bool {
        matches!(self, ConsentStatus::Given | ConsentStatus::Noticed)
    }
}

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

    /// Everyone named in any purpose's audience (people only).
    pub fn named_people(&self) -> BTreeSet<UserId> {
        self.purposes
            .values()
            .flat_map(|p| p.terms.audience.users.iter().cloned())
            .collect()
    }

    fn require_core(&self, ctx: &Ctx<'_>) -> Result<&ConsentCore, DomainError> {
        match &self.core {
            Some(core) if &core.tenant_id == ctx.tenant_id() => Ok(core),
            _ => Err(not_found("consent")),
        }
    }
}

/// The first facts of a notice-based consent.
#[derive(Clone, Debug, PartialEq)]
pub struct NoticeTerms {
    /// The client (as loaded; must be registered and not erased).
    pub client: Client,
    /// The practitioner recording.
    pub practitioner: UserId,
    /// The purposes announced, with named roles or people.
    pub terms: Vec<PurposeTerms>,
    /// The notice text (a form) as loaded.
    pub form: ConsentForm,
    /// Which version of it was played.
    pub form_version: u32,
}

/// What may be asked of a consent.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsentCommand {
    /// Ask a client for written consent (takes new id 0).
    RequestConsent {
        /// The client, as loaded.
        client: Client,
        /// The practitioner who will record.
        practitioner: UserId,
        /// One session or the engagement.
        scope: ConsentScope,
        /// The course the recordings are for, if any.
        course_id: Option<CourseId>,
        /// What is asked, purpose by purpose.
        terms: Vec<PurposeTerms>,
        /// What ends it by itself.
        expiry: Option<Expiry>,
        /// The form to show, as loaded.
        form: ConsentForm,
        /// Which version.
        form_version: u32,
        /// The consent this renews (on a changed form), as loaded.
        renews: Option<Box<Consent>>,
    },
    /// The client gives consent.
    GiveConsent {
        /// The proof.
        evidence: Evidence,
    },
    /// The client refuses.
    RefuseConsent,
    /// The client withdraws, in part or whole, optionally asking for deletion.
    WithdrawConsent {
        /// How much.
        scope: WithdrawalScope,
        /// Whether recordings and everything derived must be destroyed (whole only).
        deletion_requested: bool,
    },
    /// Record that the consent's date or event has come.
    ExpireConsent {
        /// Why.
        cause: ExpiryCause,
    },
    /// Record that a renewal on a changed form replaced this consent.
    SupersedeConsent {
        /// The renewal, as loaded (must be given and name this consent as renewed).
        renewal: Box<Consent>,
    },
    /// Under `notified_opt_out`: the first session's notice, creating the record
    /// (takes new id 0).
    GiveNotice {
        /// What was announced.
        notice: Box<NoticeTerms>,
        /// The session it was played at.
        session_on: NaiveDate,
    },
    /// Under `notified_opt_out`: the notice played at a later session.
    GiveSessionNotice {
        /// The session.
        session_on: NaiveDate,
    },
    /// Under `notified_opt_out`: no recording of this session.
    OptOutOfSession {
        /// The session.
        session_on: NaiveDate,
    },
    /// Under `notified_opt_out`: no recording ever again.
    OptOutForGood {
        /// Whether existing recordings must be destroyed.
        deletion_requested: bool,
    },
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

/// Checks the purposes asked for against the policy and the consent model.
fn check_terms(
    terms: &[PurposeTerms],
    policy: &TenantPolicy,
    notice: bool,
) -> Result<(), DomainError> {
    if terms.is_empty() {
        return Err(DomainError::invalid(
            "terms",
            "a consent names at least one purpose",
        ));
    }
    let mut seen = BTreeSet::new();
    for t in terms {
        let purpose = t.purpose;
        if !seen.insert(purpose) {
            return Err(DomainError::invalid(
                "terms",
                format!("{purpose} is named twice; give each purpose once with all its terms"),
            ));
        }
        if t.media.is_empty() {
            return Err(DomainError::invalid(
                "media",
                format!("{purpose} names no medium"),
            ));
        }
        for medium in &t.media {
            if !policy.allowed_media.allows(*medium) {
                return Err(DomainError::forbidden(format!(
                    "the tenant policy does not allow {medium} recordings"
                )));
            }
        }
        if purpose == Purpose::ClientCopy {
            if policy.client_copies == ClientCopies::Never {
                return Err(DomainError::forbidden(
                    "the tenant policy gives clients no copies",
                ));
            }
            if !t.audience.is_empty() {
                return Err(DomainError::invalid(
                    "audience",
                    "a client copy's audience is the client alone",
                ));
            }
            continue;
        }
        if t.audience.is_empty() {
            return Err(DomainError::invalid(
                "audience",
                format!(
                    "{purpose} names nobody; a consent names who will listen, not \"my supervisor\""
                ),
            ));
        }
        if !notice && !t.audience.roles.is_empty() {
            return Err(DomainError::invalid(
                "audience",
                "written consent names people; a role may be named only in a notified opt-out notice",
            ));
        }
        if t.audience.roles.iter().any(|r| r.never_plays_media()) {
            return Err(DomainError::invalid(
                "audience",
                "auditors and funders never play media, so they cannot be an audience",
            ));
        }
    }
    Ok(())
}

/// Checks that the actor may act for the client on this consent: the client through their
/// link, or the practitioner or an administrator recording what the client said.
fn check_client_side(core: &ConsentCore, ctx: &Ctx<'_>, what: &str) -> Result<(), DomainError> {
    match ctx.actor() {
        Actor::ClientLink { client_id } if *client_id == core.client_id => Ok(()),
        Actor::ClientLink { .. } => Err(DomainError::forbidden(format!(
            "a client link may {what} only the consents of its own client"
        ))),
        Actor::User { user_id } => {
            if (ctx.has_role(Role::Practitioner) && *user_id == core.practitioner)
                || ctx.has_role(Role::OrgAdmin)
            {
                Ok(())
            } else {
                Err(DomainError::forbidden(format!(
                    "only the client, their practitioner or an org_admin may {what} this consent"
                )))
            }
        }
        Actor::System { .. } => Err(DomainError::forbidden(format!(
            "the system never decides for a client; only the client may {what} consent"
        ))),
    }
}

fn check_practitioner(ctx: &Ctx<'_>, practitioner: &UserId) -> Result<(), DomainError> {
    let is_practitioner = ctx
        .tenant()
        .and_then(|t| t.roles_of(practitioner))
        .is_some_and(|roles| roles.contains(&Role::Practitioner));
    if !is_practitioner {
        return Err(DomainError::invalid(
            "practitioner",
            format!("{practitioner} is not a practitioner of this tenant"),
        ));
    }
    let acting_for_self = ctx.user() == Some(practitioner) && ctx.has_role(Role::Practitioner);
    if !(acting_for_self || ctx.has_role(Role::OrgAdmin)) {
        return Err(DomainError::forbidden(
            "a practitioner asks consent for their own sessions (or an org_admin for them)",
        ));
    }
    Ok(())
}

impl Aggregate for Consent {
    type Command = ConsentCommand;
    type Event = ConsentEvent;

    fn decide(
        &self,
        command: ConsentCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<ConsentEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        match command {
            ConsentCommand::RequestConsent {
                client,
                practitioner,
                scope,
                course_id,
                terms,
                expiry,
                form,
                form_version,
                renews,
            } => {
                if self.core.is_some() {
                    return Err(DomainError::conflict("the consent already exists"));
                }
                let policy = &ctx.policy()?.policy;
                check_practitioner(ctx, &practitioner)?;
                let client_id = client
                    .id()
                    .filter(|id| client.is_active_in(ctx.tenant_id(), *id))
                    .ok_or_else(|| not_found("client"))?;
                let form = form
                    .reference(ctx.tenant_id(), form_version)
                    .ok_or_else(|| not_found("consent form version"))?;
                check_terms(&terms, policy, false)?;
                match expiry {
                    Some(Expiry::OnDate { at: end }) if end <= at => {
                        return Err(DomainError::invalid(
                            "expiry",
                            "a consent cannot expire before it is asked for",
                        ));
                    }
                    Some(Expiry::OnEvent {
                        trigger: ExpiryTrigger::CourseEnded { course_id: ended },
                    }) if course_id != Some(ended) => {
                        return Err(DomainError::invalid(
                            "expiry",
                            "a consent that ends with a course must be for that course",
                        ));
                    }
                    _ => {}
                }
                let renews = match renews {
                    None => None,
                    Some(old) => {
                        let Some(old_core) = old
                            .core
                            .as_ref()
                            .filter(|c| &c.tenant_id == ctx.tenant_id())
                        else {
                            return Err(not_found("renewed consent"));
                        };
                        if old_core.client_id != client_id || old_core.practitioner != practitioner
                        {
                            return Err(DomainError::invalid(
                                "renews",
                                "a renewal is between the same client and practitioner",
                            ));
                        }
                        if old.status != Some(ConsentStatus::Given) {
                            return Err(DomainError::conflict(
                                "only a consent in force can be renewed; ask afresh instead",
                            ));
                        }
                        if old_core.form.consent_form_id == form.consent_form_id
                            && old_core.form.text_sha256 == form.text_sha256
                        {
                            return Err(DomainError::conflict(
                                "a renewal is for a changed form; the form has not changed",
                            ));
                        }
                        Some(old_core.id)
                    }
                };
                let consent_id = ConsentId::from_uuid(ctx.new_id(0)?)?;
                Ok(vec![ConsentEvent::ConsentRequested {
                    consent_id,
                    tenant_id: ctx.tenant_id().clone(),
                    client_id,
                    practitioner,
                    scope,
                    course_id,
                    terms,
                    expiry,
                    form,
                    renews,
                    by,
                    at,
                }])
            }
            ConsentCommand::GiveConsent { evidence } => {
                let core = self.require_core(ctx)?;
                if self.status != Some(ConsentStatus::Requested) {
                    return Err(DomainError::conflict(format!(
                        "consent can be given only when requested; it is {:?}",
                        self.status
                    )));
                }
                check_client_side(core, ctx, "give")?;
                // The method must match who records it: a client-link signature comes from the
                // client's link, and paper or verbal consent is recorded by a member.
                let method_fits = match evidence.collected_by {
                    CollectionMethod::ClientLinkSignature => ctx.client_link().is_some(),
                    CollectionMethod::PaperFormScanned | CollectionMethod::VerbalOnRecord => {
                        ctx.user().is_some()
                    }
                };
                if !method_fits {
                    return Err(DomainError::invalid(
                        "collected_by",
                        "a client-link signature is given through the client link; paper and verbal consent are recorded by the practitioner",
                    ));
                }
                if evidence.form != core.form {
                    return Err(DomainError::invalid(
                        "evidence.form",
                        "the evidence names a different form, version or text than the one requested",
                    ));
                }
                if evidence.signed_at > at || evidence.signed_at < core.recorded_at {
                    return Err(DomainError::invalid(
                        "evidence.signed_at",
                        "consent is signed after it is requested and not in the future",
                    ));
                }
                if self.expires_at().is_some_and(|end| at >= end) {
                    return Err(DomainError::conflict(
                        "the request expired before it was answered",
                    ));
                }
                Ok(vec![ConsentEvent::ConsentGiven { evidence, by, at }])
            }
            ConsentCommand::RefuseConsent => {
                let core = self.require_core(ctx)?;
                if self.status != Some(ConsentStatus::Requested) {
                    return Err(DomainError::conflict(
                        "consent can be refused only when requested; a given consent is withdrawn",
                    ));
                }
                check_client_side(core, ctx, "refuse")?;
                Ok(vec![ConsentEvent::ConsentRefused { by, at }])
            }
            ConsentCommand::WithdrawConsent {
                scope,
                deletion_requested,
            } => {
                let core = self.require_core(ctx)?;
                check_client_side(core, ctx, "withdraw")?;
                if !self.status.is_some_and(ConsentStatus::is_in_force) {
                    return Err(DomainError::conflict(format!(
                        "only a consent in force can be withdrawn; it is {:?}",
                        self.status
                    )));
                }
                match scope {
                    WithdrawalScope::Whole => Ok(vec![ConsentEvent::ConsentWithdrawn {
                        deletion_requested,
                        by,
                        at,
                    }]),
                    _ if deletion_requested => Err(DomainError::invalid(
                        "deletion_requested",
                        "deletion destroys the recordings for every purpose, so it comes with withdrawing the whole consent",
                    )),
                    WithdrawalScope::Purpose { purpose } => match self.purposes.get(&purpose) {
                        None => Err(not_found("purpose in this consent")),
                        Some(p) if p.withdrawn_at.is_some() => Err(DomainError::conflict(format!(
                            "{purpose} is already withdrawn"
                        ))),
                        Some(_) => Ok(vec![ConsentEvent::ConsentPurposeWithdrawn {
                            purpose,
                            by,
                            at,
                        }]),
                    },
                    WithdrawalScope::AudienceMember { purpose, user_id } => {
                        let Some(p) = self.purposes.get(&purpose) else {
                            return Err(not_found("purpose in this consent"));
                        };
                        if p.withdrawn_at.is_some() {
                            return Err(DomainError::conflict(format!(
                                "{purpose} is already withdrawn"
                            )));
                        }
                        if !p.terms.audience.users.contains(&user_id) {
                            return Err(not_found("audience member"));
                        }
                        Ok(vec![ConsentEvent::ConsentAudienceMemberWithdrawn {
                            purpose,
                            user_id,
                            by,
                            at,
                        }])
                    }
                }
            }
            ConsentCommand::ExpireConsent { cause } => {
                let core = self.require_core(ctx)?;
                let may = ctx.is_system()
                    || ctx.has_role(Role::OrgAdmin)
                    || (ctx.user() == Some(&core.practitioner) && ctx.has_role(Role::Practitioner));
                if !may {
                    return Err(DomainError::forbidden(
                        "only the system, an org_admin or the practitioner records an expiry",
                    ));
                }
                if !self.status.is_some_and(ConsentStatus::is_in_force) {
                    return Err(DomainError::conflict("only a consent in force can expire"));
                }
                let due = match (core.expiry, cause) {
                    (Some(Expiry::OnDate { at: end }), ExpiryCause::DateReached) => at >= end,
                    (
                        Some(Expiry::OnEvent { trigger }),
                        ExpiryCause::Triggered { trigger: came },
                    ) => trigger == came,
                    _ => false,
                };
                if !due {
                    return Err(DomainError::conflict(
                        "the consent's own expiry has not come: its date has not passed or the event is not the one it names",
                    ));
                }
                Ok(vec![ConsentEvent::ConsentExpired { cause, by, at }])
            }
            ConsentCommand::SupersedeConsent { renewal } => {
                let core = self.require_core(ctx)?;
                let renews_this = renewal
                    .core
                    .as_ref()
                    .filter(|c| &c.tenant_id == ctx.tenant_id())
                    .is_some_and(|c| c.renews == Some(core.id));
                if !renews_this {
                    return Err(DomainError::invalid(
                        "renewal",
                        "the renewal does not name this consent as the one it renews",
                    ));
                }
                if renewal.status != Some(ConsentStatus::Given) {
                    return Err(DomainError::conflict(
                        "a consent is superseded only once its renewal is given",
                    ));
                }
                if self.status != Some(ConsentStatus::Given) {
                    return Err(DomainError::conflict(
                        "only a given consent can be superseded",
                    ));
                }
                let Some(superseded_by) = renewal.id() else {
                    return Err(not_found("renewal"));
                };
                Ok(vec![ConsentEvent::ConsentSuperseded {
                    superseded_by,
                    by,
                    at,
                }])
            }
            ConsentCommand::GiveNotice { notice, session_on } => {
                if self.core.is_some() {
                    return Err(DomainError::conflict(
                        "a notice record exists for this engagement; give a session notice",
                    ));
                }
                let policy = &ctx.policy()?.policy;
                if policy.consent_model != ConsentModel::NotifiedOptOut {
                    return Err(DomainError::consent_required(
                        "this tenant records only with written consent; a notice is not enough",
                    ));
                }
                let NoticeTerms {
                    client,
                    practitioner,
                    terms,
                    form,
                    form_version,
                } = *notice;
                if !(ctx.is_system()
                    || ctx.user() == Some(&practitioner)
                    || ctx.has_role(Role::OrgAdmin))
                {
                    return Err(DomainError::forbidden(
                        "a notice is recorded by the system's automated message or the practitioner",
                    ));
                }
                let is_practitioner = ctx
                    .tenant()
                    .and_then(|t| t.roles_of(&practitioner))
                    .is_some_and(|r| r.contains(&Role::Practitioner));
                if !is_practitioner {
                    return Err(DomainError::invalid(
                        "practitioner",
                        format!("{practitioner} is not a practitioner of this tenant"),
                    ));
                }
                let client_id = client
                    .id()
                    .filter(|id| client.is_active_in(ctx.tenant_id(), *id))
                    .ok_or_else(|| not_found("client"))?;
                let form = form
                    .reference(ctx.tenant_id(), form_version)
                    .ok_or_else(|| not_found("consent form version"))?;
                check_terms(&terms, policy, true)?;
                let consent_id = ConsentId::from_uuid(ctx.new_id(0)?)?;
                Ok(vec![ConsentEvent::ConsentNoticeGiven {
                    consent_id,
                    tenant_id: ctx.tenant_id().clone(),
                    client_id,
                    practitioner,
                    terms,
                    form,
                    session_on,
                    by,
                    at,
                }])
            }
            ConsentCommand::GiveSessionNotice { session_on } => {
                let core = self.require_core(ctx)?;
                if !(ctx.is_system()
                    || ctx.user() == Some(&core.practitioner)
                    || ctx.has_role(Role::OrgAdmin))
                {
                    return Err(DomainError::forbidden(
                        "a notice is recorded by the system's automated message or the practitioner",
                    ));
                }
                if self.status != Some(ConsentStatus::Noticed) {
                    return Err(DomainError::conflict(format!(
                        "no notice can be given: the client opted out for good or this is not a notice record ({:?})",
                        self.status
                    )));
                }
                if self.noticed_sessions.contains(&session_on) {
                    return Err(DomainError::conflict(
                        "the notice for this session is already recorded",
                    ));
                }
                Ok(vec![ConsentEvent::SessionNoticeGiven {
                    session_on,
                    by,
                    at,
                }])
            }
            ConsentCommand::OptOutOfSession { session_on } => {
                let core = self.require_core(ctx)?;
                check_client_side(core, ctx, "opt out of")?;
                if self.status != Some(ConsentStatus::Noticed) {
                    return Err(DomainError::conflict(
                        "a session opt-out applies to a notice in force",
                    ));
                }
                if self.opted_out_sessions.contains(&session_on) {
                    return Err(DomainError::conflict(
                        "the client already opted out of this session",
                    ));
                }
                Ok(vec![ConsentEvent::ConsentOptedOutOfSession {
                    session_on,
                    by,
                    at,
                }])
            }
            ConsentCommand::OptOutForGood { deletion_requested } => {
                let core = self.require_core(ctx)?;
                check_client_side(core, ctx, "opt out of")?;
                if self.status != Some(ConsentStatus::Noticed) {
                    return Err(DomainError::conflict(
                        "an opt-out applies to a notice in force; written consent is withdrawn",
                    ));
                }
                Ok(vec![ConsentEvent::ConsentOptedOut {
                    deletion_requested,
                    by,
                    at,
                }])
            }
        }
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
