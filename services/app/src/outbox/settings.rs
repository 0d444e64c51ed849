//! Where notices go, set by an `org_admin`: the address each person (a member or an external
//! assessor) is told at, sealed under a key of that person's own, and the organisation's
//! webhook endpoints, each with a signing secret sealed under the endpoint's own key and shown
//! once, when the endpoint is added. Removing an endpoint destroys its key.

use confide_delivery::WebhookSecret;
use confide_domain::aggregates::notice_settings::{
    NoticeSettings, NoticeSettingsCommand, WebhookUrl,
};
use confide_domain::{DomainError, KeyId, Role, Sealed, UserId, WebhookEndpointId};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{App, AppError, Caller};

/// The notice settings' stream: one per tenant.
pub(crate) fn settings_stream() -> confide_eventstore::StreamId {
    confide_eventstore::StreamId::named("notice_settings")
}

/// The key a person's address is sealed under: `notice-address-<uuid>`, the UUID derived from
/// their user id (which may be any text the identity provider chose).
pub(crate) fn address_key(user: &UserId) -> KeyId {
    let digest = Sha256::digest(user.as_str().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    KeyId::of(
        "notice-address",
        uuid::Builder::from_custom_bytes(bytes).into_uuid(),
    )
}

/// The key an endpoint's secret is sealed under.
pub(crate) fn webhook_key(endpoint: WebhookEndpointId) -> KeyId {
    KeyId::of("webhook", endpoint.as_uuid())
}

/// The longest notice address accepted.
pub const MAX_ADDRESS_CHARS: usize = 254;

/// A webhook endpoint as an administrator sees it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpointView {
    pub id: WebhookEndpointId,
    pub url: String,
    pub added_at: chrono::DateTime<chrono::Utc>,
}

/// A new endpoint, with its secret: shown this once.
#[derive(Clone, Debug)]
pub struct AddedWebhookEndpoint {
    pub endpoint: WebhookEndpointView,
    /// `whsec_…`: the receiver verifies signatures with it.
    pub secret: String,
}

/// Checks an e-mail address's shape: one `@`, something either side, no spaces or angle
/// brackets; the mail server has the last word.
pub(crate) fn check_address(address: &str) -> Result<&str, DomainError> {
    let address = address.trim();
    let invalid = |why: &str| DomainError::invalid("address", why.to_owned());
    if address.is_empty() || address.chars().count() > MAX_ADDRESS_CHARS {
        return Err(invalid("an e-mail address is 1 to 254 characters"));
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return Err(invalid(
            "an e-mail address has no spaces, commas or angle brackets",
        ));
    }
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(address)
        }
        _ => Err(invalid("an e-mail address is name@domain")),
    }
}

impl App {
    /// Sets the address `user` is told at (an org_admin); replaces any earlier one.
    pub async fn set_notice_address(
        &self,
        caller: &Caller,
        user: UserId,
        address: &str,
    ) -> Result<(), AppError> {
        let address = check_address(address)?;
        self.require_admin(caller, "set where a person is told")
            .await?;
        let key = address_key(&user);
        match self.keys.create_key(&caller.tenant, &key).await {
            Ok(()) | Err(confide_vault::KeyError::Exists { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        let sealed = self
            .keys
            .seal(&caller.tenant, &key, address.as_bytes())
            .await?;
        self.execute::<NoticeSettings>(
            &caller.tenant,
            &caller.actor,
            &settings_stream(),
            NoticeSettingsCommand::SetNoticeAddress {
                user_id: user,
                address: Sealed::new(key, sealed)?,
            },
            &[],
        )
        .await?;
        Ok(())
    }

    /// Adds a webhook endpoint (an org_admin); the answer holds its secret, shown this once.
    pub async fn add_webhook_endpoint(
        &self,
        caller: &Caller,
        url: &str,
    ) -> Result<AddedWebhookEndpoint, AppError> {
        let url = WebhookUrl::parse(url)?;
        self.require_admin(caller, "add webhook endpoints").await?;
        let endpoint_id = WebhookEndpointId::from_uuid(Uuid::now_v7())?;
        let key = webhook_key(endpoint_id);
        let secret = WebhookSecret::generate().map_err(|e| AppError::Vault {
            step: "making a webhook secret",
            reason: e.to_string(),
            retryable: false,
        })?;
        self.keys.create_key(&caller.tenant, &key).await?;
        let added = async {
            let sealed = self.keys.seal(&caller.tenant, &key, secret.bytes()).await?;
            self.execute::<NoticeSettings>(
                &caller.tenant,
                &caller.actor,
                &settings_stream(),
                NoticeSettingsCommand::AddWebhookEndpoint {
                    url: url.clone(),
                    secret: Sealed::new(key.clone(), sealed)?,
                },
                &[endpoint_id.as_uuid()],
            )
            .await
        }
        .await;
        if let Err(refused) = added {
            // An endpoint that was not added leaves no key behind.
            if let Err(error) = self.keys.destroy(&caller.tenant, &key).await {
                tracing::warn!(%error, "the key of a refused webhook endpoint was not destroyed");
            }
            return Err(refused);
        }
        Ok(AddedWebhookEndpoint {
            endpoint: WebhookEndpointView {
                id: endpoint_id,
                url: url.as_str().to_owned(),
                added_at: self.clock.now(),
            },
            secret: secret.to_whsec(),
        })
    }

    /// Removes a webhook endpoint (an org_admin) and destroys its secret's key: nothing more
    /// is posted to it, and messages not yet sent to it fail.
    pub async fn remove_webhook_endpoint(
        &self,
        caller: &Caller,
        endpoint_id: WebhookEndpointId,
    ) -> Result<(), AppError> {
        self.require_admin(caller, "remove webhook endpoints")
            .await?;
        self.execute::<NoticeSettings>(
            &caller.tenant,
            &caller.actor,
            &settings_stream(),
            NoticeSettingsCommand::RemoveWebhookEndpoint { endpoint_id },
            &[],
        )
        .await?;
        self.keys
            .destroy(&caller.tenant, &webhook_key(endpoint_id))
            .await?;
        Ok(())
    }

    /// The organisation's webhook endpoints (an org_admin), without their secrets.
    pub async fn webhook_endpoints(
        &self,
        caller: &Caller,
    ) -> Result<Vec<WebhookEndpointView>, AppError> {
        self.require_admin(caller, "read the webhook endpoints")
            .await?;
        let settings = self.notice_settings(&caller.tenant).await?;
        Ok(settings
            .endpoints()
            .iter()
            .map(|(id, endpoint)| WebhookEndpointView {
                id: *id,
                url: endpoint.url.as_str().to_owned(),
                added_at: endpoint.added_at,
            })
            .collect())
    }

    pub(crate) async fn notice_settings(
        &self,
        tenant: &confide_domain::TenantId,
    ) -> Result<NoticeSettings, AppError> {
        Ok(self
            .load::<NoticeSettings>(tenant, &settings_stream())
            .await?
            .state)
    }

    /// Refuses anyone but an org_admin of the caller's tenant, before anything is sealed.
    async fn require_admin(&self, caller: &Caller, to: &str) -> Result<(), AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        let is_admin = match &caller.actor {
            confide_domain::Actor::User { user_id } => organisation
                .roles_of(user_id)
                .is_some_and(|roles| roles.contains(&Role::OrgAdmin)),
            _ => false,
        };
        if is_admin {
            Ok(())
        } else {
            Err(
                DomainError::forbidden(format!("only a member with the org_admin role may {to}"))
                    .into(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_for_their_shape() {
        assert_eq!(
            check_address(" ada@example.org ").ok(),
            Some("ada@example.org")
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "a b@example.org",
            "<ada@example.org>",
            "a@b@c",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_person_has_their_own_address_key() {
        let ada = UserId::parse("ada").unwrap();
        let bob = UserId::parse("auth0|bob").unwrap();
        assert_ne!(address_key(&ada), address_key(&bob));
        assert_eq!(address_key(&ada), address_key(&ada));
        assert!(address_key(&bob).as_str().starts_with("notice-address-"));
    }
}
