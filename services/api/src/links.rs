//! The client links that notices carry: the application's outbox asks for a client's link
//! when it writes a consent request, and gets the same link `requestConsent` answers with: the
//! URL the client opens (`{public URL}/link/{secret}`), whose secret is a token signed by the
//! server's own key, scoped to one client, valid for [`CLIENT_LINK_LIFETIME`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use confide_app::ClientLinks;
use confide_domain::{ClientId, TenantId};

use crate::auth::{AuthError, Authenticator, CLIENT_LINK_LIFETIME};

/// One client's link as it is handed out.
pub struct IssuedLink {
    /// The page the client opens: `{public URL}/link/{secret}`.
    pub url: String,
    /// The secret, which is also a bearer token scoped to the client.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Client links signed by the server's authenticator, as URLs under the server's public URL.
pub struct SignedClientLinks {
    auth: Arc<Authenticator>,
    public_url: String,
}

impl SignedClientLinks {
    /// Links signed by `auth`, opened at `public_url` (e.g. `https://confide.example.org`).
    pub fn new(auth: Arc<Authenticator>, public_url: &str) -> Self {
        Self {
            auth,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }
}

impl SignedClientLinks {
    /// A fresh link for `client` of `tenant`, valid for [`CLIENT_LINK_LIFETIME`] from `now`.
    pub fn issue(
        &self,
        tenant: &TenantId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<IssuedLink, AuthError> {
        let token = self
            .auth
            .mint_client_link(tenant, client, CLIENT_LINK_LIFETIME, now)?;
        Ok(IssuedLink {
            url: format!("{}/link/{token}", self.public_url),
            token,
            expires_at: now + CLIENT_LINK_LIFETIME,
        })
    }
}

impl ClientLinks for SignedClientLinks {
    fn client_link(
        &self,
        tenant: &TenantId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        self.issue(tenant, client, now)
            .map(|link| link.url)
            .map_err(|e| e.to_string())
    }
}
