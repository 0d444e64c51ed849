//! The organisation: creating it, its policy and members, and its consent forms.

use confide_domain::aggregates::consent_form::{ConsentForm, ConsentFormCommand};
use confide_domain::aggregates::tenant::{Tenant, TenantCommand};
use confide_domain::policy::TenantPolicy;
use confide_domain::{
    Actor, ConsentFormId, DomainError, Language, Role, Sha256, SystemJob, TenantId, UserId, reads,
};
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::{App, AppError, Caller, Loaded, stream, tenant_stream};

/// A consent form version as published.
#[derive(Clone, Debug)]
pub struct PublishedForm {
    pub id: ConsentFormId,
    pub version: u32,
    /// SHA-256 of the exact text.
    pub text_sha256: Sha256,
}

impl App {
    /// Creates an organisation with its policy and first org_admin (the platform operator).
    pub async fn create_tenant(
        &self,
        tenant: &TenantId,
        name: String,
        policy: TenantPolicy,
        first_admin: UserId,
    ) -> Result<(), AppError> {
        self.execute::<Tenant>(
            tenant,
            &Actor::system(SystemJob::Provisioning),
            &tenant_stream(),
            TenantCommand::CreateTenant {
                name,
                policy,
                first_admin,
            },
            &[],
        )
        .await?;
        Ok(())
    }

    /// Whether `tenant` has been created: for the platform operator's commands, which act
    /// on a tenant by its id (a development token is minted only for one that exists).
    pub async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, AppError> {
        Ok(self.organisation(tenant).await?.id().is_some())
    }

    /// The caller's organisation, its policy and members: shown to its members.
    pub async fn tenant(&self, caller: &Caller) -> Result<Tenant, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        reads::organisation_member(&organisation, &caller.actor)?;
        Ok(organisation)
    }

    /// The roles the caller holds in their tenant now (from membership events, never the
    /// token); none for a client link.
    /// The organisation's name: what its members and its clients (through their links) see
    /// it called.
    pub async fn organisation_name(&self, caller: &Caller) -> Result<String, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        if caller.client().is_none() {
            reads::organisation_member(&organisation, &caller.actor)?;
        }
        Ok(organisation.name().to_owned())
    }

    pub async fn roles(&self, caller: &Caller) -> Result<BTreeSet<Role>, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        Ok(reads::roles_of(&organisation, &caller.actor))
    }

    /// Replaces the tenant's policy (org_admin); a new policy version.
    pub async fn set_tenant_policy(
        &self,
        caller: &Caller,
        policy: TenantPolicy,
    ) -> Result<Tenant, AppError> {
        self.tenant_command(caller, TenantCommand::SetTenantPolicy { policy })
            .await
    }

    pub async fn add_member(
        &self,
        caller: &Caller,
        user_id: UserId,
        roles: BTreeSet<Role>,
    ) -> Result<Tenant, AppError> {
        self.tenant_command(caller, TenantCommand::AddMember { user_id, roles })
            .await
    }

    pub async fn change_member_roles(
        &self,
        caller: &Caller,
        user_id: UserId,
        roles: BTreeSet<Role>,
    ) -> Result<Tenant, AppError> {
        self.tenant_command(caller, TenantCommand::ChangeMemberRoles { user_id, roles })
            .await
    }

    pub async fn remove_member(
        &self,
        caller: &Caller,
        user_id: UserId,
    ) -> Result<Tenant, AppError> {
        self.tenant_command(caller, TenantCommand::RemoveMember { user_id })
            .await
    }

    /// A command on the tenant's own stream by a member; the tenant as it then stands.
    async fn tenant_command(
        &self,
        caller: &Caller,
        command: TenantCommand,
    ) -> Result<Tenant, AppError> {
        reads::member(&caller.actor)?;
        self.execute::<Tenant>(
            &caller.tenant,
            &caller.actor,
            &tenant_stream(),
            command,
            &[],
        )
        .await?;
        self.organisation(&caller.tenant).await
    }

    /// Publishes a consent form (org_admin): a new form, or the next version of `id`, which
    /// must be a form of this tenant (never a form under an id of the caller's choosing).
    pub async fn publish_consent_form(
        &self,
        caller: &Caller,
        id: Option<ConsentFormId>,
        title: String,
        language: Language,
        text: String,
    ) -> Result<PublishedForm, AppError> {
        reads::member(&caller.actor)?;
        let id = match id {
            Some(id) => {
                let form: Loaded<ConsentForm> = self.load(&caller.tenant, &stream(id)).await?;
                form.state
                    .id()
                    .ok_or_else(|| DomainError::not_found("consent form"))?
            }
            None => ConsentFormId::from_uuid(Uuid::now_v7())?,
        };
        let text_sha256 = Sha256::of(text.as_bytes());
        self.execute::<ConsentForm>(
            &caller.tenant,
            &caller.actor,
            &stream(id),
            ConsentFormCommand::PublishConsentForm {
                title,
                language,
                text,
            },
            &[id.as_uuid()],
        )
        .await?;
        let form: Loaded<ConsentForm> = self.load(&caller.tenant, &stream(id)).await?;
        Ok(PublishedForm {
            id,
            version: form.state.latest_version(),
            text_sha256,
        })
    }
}
