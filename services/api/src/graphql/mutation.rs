//! Writes: each one command (or one of the application's compound commands), decided by the
//! domain in the caller's tenant and appended with its consequences.

use std::collections::BTreeSet;

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use confide_app::{Loaded, tenant_stream};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::consent::{
    Audience, CollectionMethod, Consent, ConsentCommand, ConsentScope, Evidence, PurposeTerms,
    WithdrawalScope,
};
use confide_domain::aggregates::consent_form::{ConsentForm, ConsentFormCommand};
use confide_domain::aggregates::tenant::{Tenant as DomainTenant, TenantCommand};
use confide_domain::{
    ClientId, ConsentFormId, ConsentId, DomainError, KeyId, Language, Sealed, UserId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::types::{ConsentView, Purpose, PurposeTermsInput, Role, Tenant, TenantPolicy};
use super::{bad_input, caller, coded, error, member, own_client, services, stream};
use crate::auth::CLIENT_LINK_LIFETIME;

#[derive(Default)]
pub(super) struct ConsentMutation;

pub(super) fn user(id: &str) -> Result<UserId> {
    UserId::parse(id).map_err(bad_input)
}

fn roles(roles: Vec<Role>) -> BTreeSet<confide_domain::Role> {
    roles.into_iter().map(Into::into).collect()
}

/// The key that seals a client's personal details.
pub(super) fn client_key(client: ClientId) -> Result<KeyId> {
    KeyId::parse(&format!("client-{client}")).map_err(bad_input)
}

/// A client's personal details, as sealed in `ClientRegistered`.
#[derive(Serialize, Deserialize)]
pub(super) struct ClientDetails {
    pub(super) name: String,
    pub(super) contact: Option<String>,
}

impl ClientDetails {
    fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(internal)
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(internal)
    }
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
    /// A signed, expiring link token for the client: with it they read the form, give or
    /// refuse consent, withdraw it and make requests, and nothing else.
    client_link: String,
    client_link_expires_at: DateTime<Utc>,
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
    expires_at: Option<DateTime<Utc>>,
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
        tenant_command(
            ctx,
            TenantCommand::SetTenantPolicy {
                policy: policy.into(),
            },
        )
        .await
    }

    async fn add_member(
        &self,
        ctx: &Context<'_>,
        user_id: String,
        roles: Vec<Role>,
    ) -> Result<Tenant> {
        let command = TenantCommand::AddMember {
            user_id: user(&user_id)?,
            roles: self::roles(roles),
        };
        tenant_command(ctx, command).await
    }

    async fn change_member_roles(
        &self,
        ctx: &Context<'_>,
        user_id: String,
        roles: Vec<Role>,
    ) -> Result<Tenant> {
        let command = TenantCommand::ChangeMemberRoles {
            user_id: user(&user_id)?,
            roles: self::roles(roles),
        };
        tenant_command(ctx, command).await
    }

    async fn remove_member(&self, ctx: &Context<'_>, user_id: String) -> Result<Tenant> {
        let command = TenantCommand::RemoveMember {
            user_id: user(&user_id)?,
        };
        tenant_command(ctx, command).await
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
        let (principal, _) = member(ctx)?;
        let app = &services(ctx).app;
        let id = match id {
            // A new version of a form this tenant has; never a form under an id of the
            // caller's choosing.
            Some(id) => {
                let id = ConsentFormId::from_uuid(id).map_err(bad_input)?;
                let form: Loaded<ConsentForm> = app
                    .load(&principal.tenant, &stream("consent_form", id)?)
                    .await
                    .map_err(error)?;
                form.state
                    .id()
                    .ok_or_else(|| bad_input(DomainError::not_found("consent form")))?
            }
            None => ConsentFormId::from_uuid(Uuid::now_v7()).map_err(bad_input)?,
        };
        let stream = stream("consent_form", id)?;
        let sha = confide_domain::Sha256::of(text.as_bytes());
        app.execute::<ConsentForm>(
            &principal.tenant,
            &principal.actor,
            &stream,
            ConsentFormCommand::PublishConsentForm {
                title,
                language: Language::parse(&language).map_err(bad_input)?,
                text,
            },
            &[id.as_uuid()],
        )
        .await
        .map_err(error)?;
        let form: Loaded<ConsentForm> =
            app.load(&principal.tenant, &stream).await.map_err(error)?;
        Ok(PublishedForm {
            id: id.as_uuid(),
            version: form.state.latest_version(),
            text_sha256: sha.to_string(),
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
        let (principal, _) = member(ctx)?;
        let services = services(ctx);
        if name.trim().is_empty() {
            return Err(bad_input(DomainError::invalid(
                "name",
                "a client has a name",
            )));
        }
        let details = ClientDetails { name, contact }.to_bytes()?;
        let client_id = ClientId::from_uuid(Uuid::now_v7()).map_err(bad_input)?;
        let key = client_key(client_id)?;
        services
            .keys
            .create_key(&principal.tenant, &key)
            .await
            .map_err(internal)?;
        let sealed = services
            .keys
            .seal(&principal.tenant, &key, &details)
            .await
            .map_err(internal)?;
        services
            .app
            .execute::<Client>(
                &principal.tenant,
                &principal.actor,
                &stream("client", client_id)?,
                ClientCommand::RegisterClient {
                    details: Sealed::new(key, sealed).map_err(bad_input)?,
                },
                &[client_id.as_uuid()],
            )
            .await
            .map_err(error)?;
        Ok(client_id.as_uuid())
    }

    /// Asks a client for consent and returns the link they answer through.
    async fn request_consent(
        &self,
        ctx: &Context<'_>,
        input: RequestConsentInput,
    ) -> Result<RequestedConsent> {
        let (principal, practitioner) = member(ctx)?;
        let services = services(ctx);
        let app = &services.app;
        let tenant = &principal.tenant;
        let client_id = ClientId::from_uuid(input.client_id).map_err(bad_input)?;
        let form_id = ConsentFormId::from_uuid(input.consent_form_id).map_err(bad_input)?;
        let client: Loaded<Client> = app
            .load(tenant, &stream("client", client_id)?)
            .await
            .map_err(error)?;
        let form: Loaded<ConsentForm> = app
            .load(tenant, &stream("consent_form", form_id)?)
            .await
            .map_err(error)?;
        let form_version = input
            .form_version
            .unwrap_or_else(|| form.state.latest_version());
        let terms = input
            .purposes
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
            .collect::<Result<Vec<_>>>()?;
        let consent_id = ConsentId::from_uuid(Uuid::now_v7()).map_err(bad_input)?;
        let consent_stream = stream("consent", consent_id)?;
        let course_id = input
            .course_id
            .map(confide_domain::CourseId::from_uuid)
            .transpose()
            .map_err(bad_input)?;
        app.execute::<Consent>(
            tenant,
            &principal.actor,
            &consent_stream,
            ConsentCommand::RequestConsent {
                client: client.state,
                practitioner: practitioner.clone(),
                scope: input
                    .session_on
                    .map_or(ConsentScope::Engagement, |session_on| {
                        ConsentScope::Session { session_on }
                    }),
                course_id,
                terms,
                expiry: input
                    .expires_at
                    .map(|at| confide_domain::aggregates::consent::Expiry::OnDate { at }),
                form: form.state,
                form_version,
                renews: None,
            },
            &[consent_id.as_uuid()],
        )
        .await
        .map_err(error)?;
        let consent: Loaded<Consent> = app.load(tenant, &consent_stream).await.map_err(error)?;
        let now = Utc::now();
        let client_link = services
            .auth
            .mint_client_link(tenant, client_id, CLIENT_LINK_LIFETIME, now)
            .map_err(|e| coded(e.to_string(), "INTERNAL"))?;
        Ok(RequestedConsent {
            consent: view(&consent)?,
            client_link,
            client_link_expires_at: now + CLIENT_LINK_LIFETIME,
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
        let principal = caller(ctx)?;
        let services = services(ctx);
        let app = &services.app;
        let tenant = &principal.tenant;
        let consent_id = ConsentId::from_uuid(consent_id).map_err(bad_input)?;
        let consent_stream = stream("consent", consent_id)?;
        let consent: Loaded<Consent> = app.load(tenant, &consent_stream).await.map_err(error)?;
        let core = consent
            .state
            .core()
            .ok_or_else(|| bad_input(DomainError::not_found("consent")))?;
        own_client(principal, core.client_id)?;
        let form: Loaded<ConsentForm> = app
            .load(tenant, &stream("consent_form", core.form.consent_form_id)?)
            .await
            .map_err(error)?;
        let organisation: Loaded<DomainTenant> =
            app.load(tenant, &tenant_stream()).await.map_err(error)?;
        let language = form
            .state
            .get(core.form.version)
            .map(|v| v.language.clone())
            .ok_or_else(|| bad_input(DomainError::not_found("consent form version")))?;
        let jurisdiction = organisation
            .state
            .policy()
            .map(|p| p.policy.jurisdiction)
            .ok_or_else(|| bad_input(DomainError::not_found("tenant policy")))?;
        let key = client_key(core.client_id)?;
        let typed_name = services
            .keys
            .seal(tenant, &key, typed_name.as_bytes())
            .await
            .map_err(internal)?;
        let collected_by = if principal.client().is_some() {
            CollectionMethod::ClientLinkSignature
        } else {
            CollectionMethod::PaperFormScanned
        };
        app.execute::<Consent>(
            tenant,
            &principal.actor,
            &consent_stream,
            ConsentCommand::GiveConsent {
                evidence: Evidence {
                    form: core.form.clone(),
                    collected_by,
                    typed_name: Sealed::new(key, typed_name).map_err(bad_input)?,
                    signed_at: Utc::now(),
                    jurisdiction,
                    language,
                },
            },
            &[],
        )
        .await
        .map_err(error)?;
        load_view(ctx, consent_id).await
    }

    /// The client refuses the consent they were asked for.
    async fn refuse_consent(&self, ctx: &Context<'_>, consent_id: Uuid) -> Result<ConsentView> {
        let principal = caller(ctx)?;
        let id = ConsentId::from_uuid(consent_id).map_err(bad_input)?;
        let consent = load_view(ctx, id).await?;
        own_client(
            principal,
            ClientId::from_uuid(consent.client_id).map_err(bad_input)?,
        )?;
        services(ctx)
            .app
            .execute::<Consent>(
                &principal.tenant,
                &principal.actor,
                &stream("consent", id)?,
                ConsentCommand::RefuseConsent,
                &[],
            )
            .await
            .map_err(error)?;
        load_view(ctx, id).await
    }

    /// Withdraws consent, whole or in part, at once: grants it no longer covers are revoked,
    /// and with a deletion request its recordings are scheduled for destruction and everyone
    /// who had access is notified.
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        input: WithdrawConsentInput,
    ) -> Result<ConsentView> {
        let principal = caller(ctx)?;
        let id = ConsentId::from_uuid(input.consent_id).map_err(bad_input)?;
        let consent = load_view(ctx, id).await?;
        own_client(
            principal,
            ClientId::from_uuid(consent.client_id).map_err(bad_input)?,
        )?;
        let scope = match (input.purpose, input.audience_member) {
            (None, None) => WithdrawalScope::Whole,
            (Some(purpose), None) => WithdrawalScope::Purpose {
                purpose: purpose.into(),
            },
            (Some(purpose), Some(member)) => WithdrawalScope::AudienceMember {
                purpose: purpose.into(),
                user_id: user(&member)?,
            },
            (None, Some(_)) => {
                return Err(bad_input(DomainError::invalid(
                    "audience_member",
                    "name the purpose the person is withdrawn from",
                )));
            }
        };
        services(ctx)
            .app
            .withdraw_consent(
                &principal.tenant,
                &principal.actor,
                id,
                scope,
                input.deletion_requested,
            )
            .await
            .map_err(error)?;
        load_view(ctx, id).await
    }
}

/// A command on the tenant's own stream; returns the tenant as it now stands.
async fn tenant_command(ctx: &Context<'_>, command: TenantCommand) -> Result<Tenant> {
    let (principal, _) = member(ctx)?;
    let app = &services(ctx).app;
    app.execute::<DomainTenant>(
        &principal.tenant,
        &principal.actor,
        &tenant_stream(),
        command,
        &[],
    )
    .await
    .map_err(error)?;
    let tenant: Loaded<DomainTenant> = app
        .load(&principal.tenant, &tenant_stream())
        .await
        .map_err(error)?;
    Ok((&tenant.state).into())
}

fn view(consent: &Loaded<Consent>) -> Result<ConsentView> {
    ConsentView::of(&consent.state, consent.version)
        .ok_or_else(|| bad_input(DomainError::not_found("consent")))
}

async fn load_view(ctx: &Context<'_>, id: ConsentId) -> Result<ConsentView> {
    let principal = caller(ctx)?;
    let consent: Loaded<Consent> = services(ctx)
        .app
        .load(&principal.tenant, &stream("consent", id)?)
        .await
        .map_err(error)?;
    view(&consent)
}

/// A key store failure: logged, and reported to the caller only by reference.
pub(super) fn internal(e: impl std::fmt::Display) -> async_graphql::Error {
    let reference = Uuid::now_v7();
    tracing::error!(%reference, error = %e, "key store failed");
    coded(
        format!("internal error (reference {reference})"),
        "INTERNAL",
    )
}
