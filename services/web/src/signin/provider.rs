//! The organisation's identity provider, through OpenID Connect: discovery from its issuer,
//! the authorization code flow with PKCE, and the ID token's checks (signature from the
//! provider's JWKS, issuer, audience, expiry, nonce), all by the `openidconnect` crate. Its
//! HTTP goes through the workspace's `reqwest`, which follows no redirect.
//!
//! The provider's metadata and keys are fetched when first needed, then kept for
//! [`METADATA_FRESH_FOR`]; an ID token that does not verify against the kept keys is checked
//! once more against freshly fetched ones, so a provider that rotates its keys is followed.

use std::sync::Mutex;

use futures_util::future::BoxFuture;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// How long the provider's metadata and keys are used before they are fetched again.
pub(crate) const METADATA_FRESH_FOR: Duration = Duration::from_secs(10 * 60);

/// How long one request to the provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How Confide is registered with the organisation's identity provider.
#[derive(Clone)]
pub struct ProviderSettings {
    /// The issuer, as its discovery document names it (`https://login.example.org/realm`).
    pub issuer: String,
    /// Confide's client id at the provider.
    pub client_id: String,
    /// Confide's client secret, for a confidential client; `None` for a public one.
    pub client_secret: Option<String>,
}

/// Why signing in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, or answered with a server error.
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused, or what it sent back does not check out.
    #[error("{0}")]
    Refused(String),
}

/// A sign-in in progress, kept by the browser (signed) while the person is at the provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The `state` sent to the provider, which must come back unchanged.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub verifier: String,
}

/// Who the provider vouched for.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The provider's subject: the user id Confide's memberships name.
    pub subject: String,
    /// The name the provider gave, if any.
    pub name: Option<String>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Confide as a relying party of one identity provider.
pub struct IdentityProvider {
    settings: ProviderSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(CoreProviderMetadata, Instant)>>,
}

impl IdentityProvider {
    /// A relying party of the provider `settings` name, which sends people back to
    /// `redirect` (`{public URL}/sign-in/callback`).
    pub fn new(settings: ProviderSettings, redirect: &str) -> Result<Self, String> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| format!("the issuer is not a URL: {e}"))?;
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|e| format!("the redirect is not a URL: {e}"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT / 2)
            .build()
            .map_err(|e| format!("the HTTP client: {e}"))?;
        Ok(Self {
            settings,
            issuer,
            redirect,
            http,
            metadata: Mutex::new(None),
        })
    }

    /// The provider's metadata and keys: those kept, unless stale or `refresh` is asked.
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, ProviderError> {
        if !refresh {
            let kept = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((metadata, at)) = kept.as_ref()
                && at.elapsed() < METADATA_FRESH_FOR
            {
                return Ok(metadata.clone());
            }
        }
        let http = self.http_client();
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &http)
            .await
            .map_err(|e| ProviderError::Unreachable(chain(&e)))?;
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// The provider's HTTP client as `openidconnect` calls it: each request's future owns its
    /// handle on the connection pool, so it is `Send` whatever it borrows.
    fn http_client(
        &self,
    ) -> impl Fn(HttpRequest) -> BoxFuture<'static, Result<HttpResponse, reqwest::Error>> {
        let http = self.http.clone();
        move |request| {
            let http = http.clone();
            Box::pin(async move { send(&http, request).await })
        }
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send the browser to sign in, and what it must keep meanwhile.
    pub async fn begin(&self) -> Result<(String, Pending), ProviderError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Who signed in: the `code` the provider sent back (with `state`, which must be the
    /// pending sign-in's) exchanged for an ID token, which is then checked.
    pub async fn finish(
        &self,
        pending: &Pending,
        state: &str,
        code: &str,
    ) -> Result<Identity, ProviderError> {
        // Both are random strings this server made; equal length is known, so a plain
        // comparison reveals nothing useful.
        if state != pending.state {
            return Err(ProviderError::Refused(
                "the answer from the identity provider does not belong to this sign-in".into(),
            ));
        }
        let client = self.client(self.metadata(false).await?);
        let http = self.http_client();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Refused(chain(&e)))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::Request(e) => {
                    ProviderError::Unreachable(chain(&e))
                }
                other => ProviderError::Refused(format!(
                    "the identity provider would not complete the sign-in: {}",
                    chain(&other)
                )),
            })?;
        let token = tokens.id_token().ok_or_else(|| {
            ProviderError::Refused("the identity provider sent no ID token".into())
        })?;
        let nonce = Nonce::new(pending.nonce.clone());
        let identity = |client: &Client| {
            token
                .claims(&client.id_token_verifier(), &nonce)
                .map(|claims| Identity {
                    subject: claims.subject().as_str().to_owned(),
                    name: claims
                        .name()
                        .and_then(|name| name.get(None))
                        .map(|name| name.as_str().to_owned()),
                })
        };
        match identity(&client) {
            Ok(found) => Ok(found),
            // Perhaps signed with a key published since the keys were fetched.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                identity(&self.client(self.metadata(true).await?)).map_err(|e| {
                    ProviderError::Refused(format!("the ID token does not check out: {e}"))
                })
            }
            Err(e) => Err(ProviderError::Refused(format!(
                "the ID token does not check out: {e}"
            ))),
        }
    }
}

/// One request to the provider through `http`.
async fn send(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let mut answer = HttpResponse::new(Vec::new());
    *answer.status_mut() = response.status();
    *answer.headers_mut() = response.headers().clone();
    *answer.body_mut() = response.bytes().await?.to_vec();
    Ok(answer)
}

/// An error with its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
