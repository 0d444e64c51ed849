//! The client links that notices carry: the application's outbox asks for a client's link
//! when it writes a consent request, and gets the same link `requestConsent` answers with
//! (a token signed by the server's own key, scoped to one client, valid for
//! [`CLIENT_LINK_LIFETIME`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use confide_app::ClientLinks;
use confide_domain::{ClientId, TenantId};

use crate::auth::{Authenticator, CLIENT_LINK_LIFETIME};

/// Client links signed by the server's authenticator.
pub struct SignedClientLinks(pub Arc<Authenticator>);

impl ClientLinks for SignedClientLinks {
    fn client_link(
        &self,
        tenant: &TenantId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        self.0
            .mint_client_link(tenant, client, CLIENT_LINK_LIFETIME, now)
            .map_err(|e| e.to_string())
    }
}
