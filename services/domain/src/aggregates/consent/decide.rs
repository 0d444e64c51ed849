//! The decisions: what may be asked of a consent (its commands) and the rules that decide
//! each one, for written consent (request, give, refuse, withdraw, expire, supersede) and for
//! notices under `notified_opt_out` (notice, session notice, opt-outs).

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::{
    CollectionMethod, Consent, ConsentCore, ConsentEvent, ConsentScope, ConsentStatus, Evidence,
    Expiry, ExpiryCause, ExpiryTrigger, PurposeTerms, WithdrawalScope,
};
use crate::aggregates::client::Client;
use crate::aggregates::consent_form::ConsentForm;
use crate::aggregates::not_found;
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::ids::{ConsentId, CourseId, UserId};
use crate::limits::session_date;
use crate::policy::{ClientCopies, ConsentModel, TenantPolicy};
use crate::vocabulary::{Purpose, Role};

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

impl Consent {
    /// Decides `command` in the current state: the body of [`Aggregate::decide`] for a
    /// consent.
    ///
    /// [`Aggregate::decide`]: crate::aggregates::Aggregate::decide
    pub(super) fn decide_command(
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
                if let ConsentScope::Session { session_on } = scope {
                    session_date("session_on", session_on, at)?;
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
                // A consent for a course ends with it unless it names its own end: the
                // information sheet promises that recordings go once the course is over.
                let expiry = expiry.or(course_id.map(|course_id| Expiry::OnEvent {
                    trigger: ExpiryTrigger::CourseEnded { course_id },
                }));
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
                        "consent can be given only when requested; it is {}",
                        self.status
                            .map_or_else(|| "unknown".to_owned(), |s| s.to_string())
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
                        "only a consent in force can be withdrawn; it is {}",
                        self.status
                            .map_or_else(|| "unknown".to_owned(), |s| s.to_string())
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
                session_date("session_on", session_on, at)?;
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
                session_date("session_on", session_on, at)?;
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
                        "no notice can be given: the client opted out for good or this is not a notice record (it is {})",
                        self.status
                            .map_or_else(|| "unknown".to_owned(), |s| s.to_string())
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
                session_date("session_on", session_on, at)?;
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

    fn require_core(&self, ctx: &Ctx<'_>) -> Result<&ConsentCore, DomainError> {
        match &self.core {
            Some(core) if &core.tenant_id == ctx.tenant_id() => Ok(core),
            _ => Err(not_found("consent")),
        }
    }
}
