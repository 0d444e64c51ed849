//! Where the organisation's notices go (stream `notice_settings`, one per tenant): the address
//! each person is told at, sealed under a key of that person's own, and the organisation's
//! webhook endpoints, each with its signing secret sealed under a key of the endpoint's own.
//! Only an `org_admin` changes them. Kept apart from the tenant's own stream so that changing
//! an address never makes a use case conditioned on the tenant decide again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::Aggregate;
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{UserId, WebhookEndpointId};
use crate::vocabulary::{Role, Sealed};

/// A webhook endpoint's URL: `https://`, or `http://` to the machine itself (a receiver on
/// the same host, a development setup). At most 2,000 characters, no spaces or control
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The longest URL accepted.
    pub const MAX_LEN: usize = 2_000;

    /// Checks the URL's shape (not whether anything answers there).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let invalid = |why: &str| DomainError::invalid("url", why.to_owned());
        if value.len() > Self::MAX_LEN {
            return Err(invalid("a webhook URL is at most 2,000 characters"));
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("a webhook URL has no spaces or control characters"));
        }
        let (secure, rest) = if let Some(rest) = value.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = value.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid("a webhook URL starts with https://"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(invalid(
                "a webhook URL carries no user or password; the signature authenticates",
            ));
        }
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return Err(invalid("a webhook URL names a host"));
        }
        if !secure && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
            return Err(invalid(
                "a webhook URL uses https://, except to this machine (localhost)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WebhookUrl> for String {
    fn from(value: WebhookUrl) -> Self {
        value.0
    }
}

/// One webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// Where notices are posted.
    pub url: WebhookUrl,
    /// The signing secret, sealed under the endpoint's own key.
    pub secret: Sealed,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

/// The notice settings' state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoticeSettings {
    addresses: BTreeMap<UserId, Sealed>,
    endpoints: BTreeMap<WebhookEndpointId, WebhookEndpoint>,
    version: u64,
}

impl NoticeSettings {
    /// The sealed address `user` is told at, if one is set.
    pub fn address_of(&self, user: &UserId) -> Option<&Sealed> {
        self.addresses.get(user)
    }

    /// Every webhook endpoint in force.
    pub fn endpoints(&self) -> &BTreeMap<WebhookEndpointId, WebhookEndpoint> {
        &self.endpoints
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of the notice settings.
#[derive(Clone, Debug, PartialEq)]
pub enum NoticeSettingsCommand {
    /// Set (or replace) the address a person is told at.
    SetNoticeAddress {
        /// The person: a member or an external assessor.
        user_id: UserId,
        /// The address, sealed under the person's own key.
        address: Sealed,
    },
    /// Add a webhook endpoint (takes new id 0).
    AddWebhookEndpoint {
        /// Where.
        url: WebhookUrl,
        /// Its signing secret, sealed under the endpoint's own key.
        secret: Sealed,
    },
    /// Remove a webhook endpoint; nothing more is posted to it.
    RemoveWebhookEndpoint {
        /// Which.
        endpoint_id: WebhookEndpointId,
    },
}

/// What the notice settings record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum NoticeSettingsEvent {
    /// A person's notice address was set.
    NoticeAddressSet {
        /// The person.
        user_id: UserId,
        /// The address, sealed.
        address: Sealed,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A webhook endpoint was added.
    WebhookEndpointAdded {
        /// The endpoint.
        endpoint_id: WebhookEndpointId,
        /// Where notices are posted.
        url: WebhookUrl,
        /// Its signing secret, sealed.
        secret: Sealed,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A webhook endpoint was removed.
    WebhookEndpointRemoved {
        /// The endpoint.
        endpoint_id: WebhookEndpointId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(NoticeSettingsEvent {
    NoticeAddressSet => 1,
    WebhookEndpointAdded => 1,
    WebhookEndpointRemoved => 1,
});

/// An organisation has at most this many webhook endpoints: each is posted every notice.
pub const MAX_WEBHOOK_ENDPOINTS: usize = 10;

impl Aggregate for NoticeSettings {
    type Command = NoticeSettingsCommand;
    type Event = NoticeSettingsEvent;

    fn decide(
        &self,
        command: NoticeSettingsCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<NoticeSettingsEvent>, DomainError> {
        ctx.require_role(Role::OrgAdmin, "change where notices are sent")?;
        let (by, at) = (ctx.actor().clone(), ctx.now());
        match command {
            NoticeSettingsCommand::SetNoticeAddress { user_id, address } => {
                Ok(vec![NoticeSettingsEvent::NoticeAddressSet {
                    user_id,
                    address,
                    by,
                    at,
                }])
            }
            NoticeSettingsCommand::AddWebhookEndpoint { url, secret } => {
                if self.endpoints.len() >= MAX_WEBHOOK_ENDPOINTS {
                    return Err(DomainError::conflict(format!(
                        "an organisation has at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints"
                    )));
                }
                let endpoint_id = WebhookEndpointId::from_uuid(ctx.new_id(0)?)?;
                Ok(vec![NoticeSettingsEvent::WebhookEndpointAdded {
                    endpoint_id,
                    url,
                    secret,
                    by,
                    at,
                }])
            }
            NoticeSettingsCommand::RemoveWebhookEndpoint { endpoint_id } => {
                if !self.endpoints.contains_key(&endpoint_id) {
                    return Err(DomainError::not_found("webhook endpoint"));
                }
                Ok(vec![NoticeSettingsEvent::WebhookEndpointRemoved {
                    endpoint_id,
                    by,
                    at,
                }])
            }
        }
    }

    fn apply(mut self, event: &NoticeSettingsEvent) -> Self {
        self.version += 1;
        match event {
            NoticeSettingsEvent::NoticeAddressSet {
                user_id, address, ..
            } => {
                self.addresses.insert(user_id.clone(), address.clone());
            }
            NoticeSettingsEvent::WebhookEndpointAdded {
                endpoint_id,
                url,
                secret,
                at,
                ..
            } => {
                self.endpoints.insert(
                    *endpoint_id,
                    WebhookEndpoint {
                        url: url.clone(),
                        secret: secret.clone(),
                        added_at: *at,
                    },
                );
            }
            NoticeSettingsEvent::WebhookEndpointRemoved { endpoint_id, .. } => {
                self.endpoints.remove(endpoint_id);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::WebhookUrl;

    #[test]
    fn webhook_urls_are_https_or_this_machine() {
        for ok in [
            "https://hooks.example.org/confide",
            "https://hooks.example.org:8443/x?y=1",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.org/",
            "ftp://example.org",
            "https://",
            "https://user:pass@example.org/",
            "https://example.org/a b",
            "hooks.example.org",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
