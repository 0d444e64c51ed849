//! Writes of the organisation and of consent: policy, members, forms, clients, and consent
//! asked, given, refused and withdrawn.

use std::collections::BTreeSet;

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use confide_app::{ClientDetails, ConsentRequested, consent_expiry, withdrawal_scope};
use confide_domain::aggregates::consent::{Audience, Consent, PurposeTerms};
use confide_domain::{ClientId, ConsentFormId, ConsentId, CourseId, DomainError, Language};
use uuid::Uuid;

use super::types::{
    ConsentEnd, ConsentView, Purpose, PurposeTermsInput, Role, Tenant, TenantPolicy,
};
use super::{ClientLink, client_link, id, user};
use crate::caller::{app, caller};
use crate::error::{ApiError, Result};

#[derive(Default)]
pub(super) struct ConsentMutation;

fn roles(roles: Vec<Role>) -> BTreeSet<confide_domain::Role> {
    roles.into_iter().map(Into::into).collect()
}

#[derive(SimpleObject)]
struct PublishedForm {
    id: Uuid,
    version: u32,
    /// SHA-256 of the exact text, hex.
    text_sha256: String,
}

#[derive(SimpleObject)]
struct RequestedConsent {
    consent: ConsentView,
    /// The client's link: with it they read the form, give or refuse consent, withdraw it
    /// and make requests, and nothing else.
    client_link: ClientLink,
}

#[derive(InputObject)]
struct RequestConsentInput {
    client_id: Uuid,
    consent_form_id: Uuid,
    /// The version shown; the latest when absent.
    form_version: Option<u32>,
    purposes: Vec<PurposeTermsInput>,
    /// One session only; all sessions of the engagement when absent.
    session_on: Option<NaiveDate>,
    course_id: Option<Uuid>,
    /// The moment the consent ends by itself; or give `endsWith`.
    expires_at: Option<DateTime<Utc>>,
    /// The event the consent ends with. A consent for a course with neither this nor
    /// `expiresAt` ends with the course.
    ends_with: Option<ConsentEnd>,
}

#[derive(InputObject)]
struct WithdrawConsentInput {
    consent_id: Uuid,
    /// Only this purpose; the whole consent when absent.
    purpose: Option<Purpose>,
    /// Only this person from `purpose`'s audience.
    audience_member: Option<String>,
    /// Destroy the recordings and everything derived from them (whole withdrawal only).
    #[graphql(default)]
    deletion_requested: bool,
}

#[Object]
impl ConsentMutation {
    /// Replaces the tenant's policy (org_admin); a new policy version.
    async fn set_tenant_policy(&self, ctx: &Context<'_>, policy: TenantPolicy) -> Result<Tenant> {
        let tenant = app(ctx)
            .set_tenant_policy(caller(ctx)?, policy.into())
            .await?;
        Ok((&tenant).into())
    }

    async fn add_member(
        &self,
        ctx: &Context<'_>,
        user_id: String,
        roles: Vec<Role>,
    ) -> Result<Tenant> {
        let tenant = app(ctx)
            .add_member(caller(ctx)?, user(&user_id)?, self::roles(roles))
            .await?;
        Ok((&tenant).into())
    }

    async fn change_member_roles(
        &self,
        ctx: &Context<'_>,
        user_id: String,
        roles: Vec<Role>,
    ) -> Result<Tenant> {
        let tenant = app(ctx)
            .change_member_roles(caller(ctx)?, user(&user_id)?, self::roles(roles))
            .await?;
        Ok((&tenant).into())
    }

    async fn remove_member(&self, ctx: &Context<'_>, user_id: String) -> Result<Tenant> {
        let tenant = app(ctx)
            .remove_member(caller(ctx)?, user(&user_id)?)
            .await?;
        Ok((&tenant).into())
    }

    /// Publishes a consent form (org_admin): a new form, or the next version of `id`.
    async fn publish_consent_form(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        title: String,
        language: String,
        text: String,
    ) -> Result<PublishedForm> {
        let form_id = id
            .map(|id| self::id(id, ConsentFormId::from_uuid))
            .transpose()?;
        let published = app(ctx)
            .publish_consent_form(
                caller(ctx)?,
                form_id,
                title,
                Language::parse(&language)?,
                text,
            )
            .await?;
        Ok(PublishedForm {
            id: published.id.as_uuid(),
            version: published.version,
            text_sha256: published.text_sha256.to_string(),
        })
    }

    /// Registers a client. Their name and contact details are sealed under a key of their
    /// own, which erasure destroys; the name is what a case study is checked against.
    async fn register_client(
        &self,
        ctx: &Context<'_>,
        name: String,
        contact: Option<String>,
    ) -> Result<Uuid> {
        let client = app(ctx)
            .register_client(caller(ctx)?, ClientDetails { name, contact })
            .await?;
        Ok(client.as_uuid())
    }

    /// Asks a client for consent and returns the link they answer through.
    async fn request_consent(
        &self,
        ctx: &Context<'_>,
        input: RequestConsentInput,
    ) -> Result<RequestedConsent> {
        let caller = caller(ctx)?;
        let client_id = id(input.client_id, ClientId::from_uuid)?;
        let terms = purpose_terms(input.purposes)?;
        let course_id = input
            .course_id
            .map(|c| id(c, CourseId::from_uuid))
            .transpose()?;
        let expiry = consent_expiry(input.expires_at, input.ends_with.map(Into::into), course_id)?;
        let consent = app(ctx)
            .request_consent(
                caller,
                ConsentRequested {
                    client_id,
                    consent_form_id: id(input.consent_form_id, ConsentFormId::from_uuid)?,
                    form_version: input.form_version,
                    terms,
                    session_on: input.session_on,
                    course_id,
                    expiry,
                },
            )
            .await?;
        Ok(RequestedConsent {
            consent: view(&consent)?,
            client_link: client_link(ctx, &caller.tenant, client_id)?,
        })
    }

    /// The client gives the consent they were asked for, signing with their typed name
    /// (through their link), or a member records a paper form.
    async fn give_consent(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
        typed_name: String,
    ) -> Result<ConsentView> {
        let consent = app(ctx)
            .give_consent(
                caller(ctx)?,
                id(consent_id, ConsentId::from_uuid)?,
                typed_name,
            )
            .await?;
        view(&consent)
    }

    /// The client refuses the consent they were asked for.
    async fn refuse_consent(&self, ctx: &Context<'_>, consent_id: Uuid) -> Result<ConsentView> {
        let consent = app(ctx)
            .refuse_consent(caller(ctx)?, id(consent_id, ConsentId::from_uuid)?)
            .await?;
        view(&consent)
    }

    /// Withdraws consent, whole or in part, at once: grants it no longer covers are revoked,
    /// and with a deletion request its recordings are scheduled for destruction and everyone
    /// who had access is notified.
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        input: WithdrawConsentInput,
    ) -> Result<ConsentView> {
        let member = input.audience_member.as_deref().map(user).transpose()?;
        let scope = withdrawal_scope(input.purpose.map(Into::into), member)?;
        let (caller, consent_id) = (caller(ctx)?, id(input.consent_id, ConsentId::from_uuid)?);
        app(ctx)
            .withdraw_consent(caller, consent_id, scope, input.deletion_requested)
            .await?;
        view(&app(ctx).consent(caller, consent_id).await?)
    }

    /// Records that the credentialing body decided on the submission a consent was for (its
    /// practitioner or an org_admin): a consent that ends with that decision expires, its
    /// grants are revoked, and its recordings fall due for destruction.
    async fn record_credential_decision(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
    ) -> Result<ConsentView> {
        let consent_id = id(consent_id, ConsentId::from_uuid)?;
        view(
            &app(ctx)
                .record_credential_decision(caller(ctx)?, consent_id)
                .await?,
        )
    }
}

/// The terms asked for or announced, purpose by purpose.
pub(super) fn purpose_terms(purposes: Vec<PurposeTermsInput>) -> Result<Vec<PurposeTerms>> {
    purposes
        .into_iter()
        .map(|p| {
            Ok(PurposeTerms {
                purpose: p.purpose.into(),
                audience: Audience {
                    users: p.users.iter().map(|u| user(u)).collect::<Result<_>>()?,
                    roles: self::roles(p.roles),
                },
                media: p.media.into_iter().map(Into::into).collect(),
                derivatives: p.derivatives.into_iter().map(Into::into).collect(),
            })
        })
        .collect()
}

pub(super) fn view(consent: &Consent) -> Result<ConsentView> {
    ConsentView::of(consent, consent.version())
        .ok_or_else(|| ApiError::from(DomainError::not_found("consent")))
}
