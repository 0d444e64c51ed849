//! Signed-in sessions of the organisation's people on the pages, and the tenants a person may
//! sign in to. A session is a random secret held by the browser (with its tenant, so the
//! session's row is found within that tenant); only the secret's SHA-256 is stored. It ends
//! after `idle` without use, at [`SESSION_LIFETIME`] after it began, or when signed out, each
//! judged here by the application's clock. Roles are never kept in a session: every use case
//! reads them from the tenant's membership events.

use std::time::Duration;

use confide_domain::{Actor, DomainError, TenantId, UserId};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{App, AppError, Caller};

/// How long a session may go unused before it ends, unless the server is set otherwise.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a session lasts at most, however much it is used.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// A tenant a person is a member of, with its organisation's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub tenant: TenantId,
    pub organisation: String,
}

/// What signing in as a member comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberSignIn {
    /// A session began in the one tenant asked for, or the only one the person belongs to:
    /// what the browser is to hold.
    Started { tenant: TenantId, session: String },
    /// The person belongs to several tenants and chose none: they are to choose one.
    Choose(Vec<Membership>),
    /// The person is a member of no tenant here, or not of the one asked for.
    NotAMember,
}

/// What a browser holds: `<tenant>.<secret>`.
fn split(session: &str) -> Option<(TenantId, [u8; 32])> {
    let (tenant, secret) = session.split_once('.')?;
    let tenant = TenantId::parse(tenant).ok()?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((tenant, Sha256::digest(secret.as_bytes()).into()))
}

fn delta(duration: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}

impl App {
    /// Begins a session of `user` in `tenant`; what the browser is to hold (in an HttpOnly
    /// cookie). The user's roles are not checked here: each page's use case decides.
    pub async fn start_staff_session(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<String, AppError> {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let session = format!("{}.{secret}", tenant.as_str());
        let (_, hash) = split(&session).ok_or_else(|| {
            AppError::Domain(DomainError::invalid(
                "session",
                "the session could not begin",
            ))
        })?;
        let now = self.now();
        self.read
            .insert_session(
                tenant,
                &hash,
                user.as_str(),
                now,
                now + delta(SESSION_LIFETIME),
            )
            .await?;
        Ok(session)
    }

    /// Who holds `session`, if it is still open (used within `idle`, and younger than its
    /// lifetime); the session is then marked used now. An ended session is forgotten.
    pub async fn staff_session(
        &self,
        session: &str,
        idle: Duration,
    ) -> Result<Option<Caller>, AppError> {
        let Some((tenant, hash)) = split(session) else {
            return Ok(None);
        };
        let now = self.now();
        let user = self
            .read
            .touch_session(&tenant, &hash, now, now - delta(idle))
            .await?;
        Ok(user
            .and_then(|user| UserId::parse(&user).ok())
            .map(|user_id| Caller {
                tenant,
                actor: Actor::User { user_id },
            }))
    }

    /// Ends `session` (signing out) on every node.
    pub async fn end_staff_session(&self, session: &str) -> Result<(), AppError> {
        if let Some((tenant, hash)) = split(session) {
            self.read.delete_session(&tenant, &hash).await?;
        }
        Ok(())
    }

    /// Signs in `user`, whom the organisation's identity provider vouched for, to `tenant`, or
    /// to the one tenant they are a member of when none is named. Only members sign in: roles
    /// come from membership events alone, so someone the identity provider knows but no tenant
    /// has added gets no session.
    pub async fn sign_in_member(
        &self,
        user: &UserId,
        tenant: Option<&TenantId>,
    ) -> Result<MemberSignIn, AppError> {
        let mut memberships = self.member_tenants(user).await?;
        let chosen = match tenant {
            Some(tenant) => memberships.into_iter().find(|m| &m.tenant == tenant),
            None if memberships.len() > 1 => return Ok(MemberSignIn::Choose(memberships)),
            None => memberships.pop(),
        };
        Ok(match chosen {
            Some(membership) => MemberSignIn::Started {
                session: self.start_staff_session(&membership.tenant, user).await?,
                tenant: membership.tenant,
            },
            None => MemberSignIn::NotAMember,
        })
    }

    /// The tenants `user` is a member of now (from membership events), by organisation name:
    /// what they may sign in to. A documented fan-out over the list of tenants; each tenant is
    /// read on its own, within it.
    pub async fn member_tenants(&self, user: &UserId) -> Result<Vec<Membership>, AppError> {
        let mut found = Vec::new();
        for tenant in self.tenants().await? {
            let organisation = self.organisation(&tenant).await?;
            if organisation.roles_of(user).is_some() {
                found.push(Membership {
                    organisation: organisation.name().to_owned(),
                    tenant,
                });
            }
        }
        found.sort_by(|a, b| a.organisation.cmp(&b.organisation));
        Ok(found)
    }
}
