//! Who is calling: bearer tokens checked with `jsonwebtoken`.
//!
//! Two kinds of token are accepted:
//! - a user's token from the organisation's identity provider (or, in the embedded default,
//!   minted by `confide token` with the server's own key): `sub` is the user, `tenant` the one
//!   tenant it acts in. It proves identity only; roles come from the tenant's membership
//!   events.
//! - a client link, signed by the server itself, scoped to one client (`scope: client_link`,
//!   `client_id`) and short-lived; it can do only what a client may do.
//!
//! Refused: `alg: none` and every algorithm outside EdDSA and RS256, a key whose algorithm
//! differs from the header's (algorithm confusion), an unknown `kid`, an expired or
//! not-yet-valid token, a wrong issuer or audience.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use confide_domain::{Actor, ClientId, TenantId, UserId};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The scope claim of a client link.
pub const CLIENT_LINK_SCOPE: &str = "client_link";

/// How long a client link lasts unless asked otherwise.
pub const CLIENT_LINK_LIFETIME: TimeDelta = TimeDelta::days(14);

/// The claims Confide reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// An authenticated caller: one tenant, and who acts in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub actor: Actor,
}

impl Principal {
    /// The client a client link is scoped to.
    pub fn client(&self) -> Option<ClientId> {
        match &self.actor {
            Actor::ClientLink { client_id } => Some(*client_id),
            _ => None,
        }
    }
}

/// Why a token was refused. The message is safe to show the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token's key is not known")]
    UnknownKey,
    #[error("the token's signature, issuer, audience or lifetime is not valid: {0}")]
    Invalid(String),
    #[error("the token names no valid tenant, user or client")]
    Subject,
}

/// The server's own Ed25519 key: it signs client links and, in development, user tokens.
pub struct LocalKey {
    kid: String,
    encoding: EncodingKey,
    public: [u8; 32],
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl LocalKey {
    /// From the 32-byte seed and its public key.
    pub fn from_seed(seed: &[u8; 32], public: [u8; 32]) -> Self {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(seed);
        // The key id is the first 8 bytes of the public key's SHA-256, so it changes with the key.
        let kid = format!(
            "confide-{}",
            URL_SAFE_NO_PAD.encode(&confide_domain::Sha256::of(&public).as_bytes()[..8])
        );
        Self {
            kid,
            encoding: EncodingKey::from_ed_der(&der),
            public,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK set, for anyone who verifies the server's tokens.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.public),
        }]})
    }
}

/// A verification key and the one algorithm it is used with.
#[derive(Clone)]
struct Verifier {
    key: DecodingKey,
    algorithm: Algorithm,
}

/// Checks tokens and signs the server's own.
pub struct Authenticator {
    issuer: String,
    audience: String,
    local: LocalKey,
    keys: HashMap<String, Verifier>,
    leeway: u64,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Accepts tokens from `issuer` for `audience`, signed by the local key or a key of
    /// `trusted` (the identity provider's JWK set).
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        local: LocalKey,
        trusted: Option<&JwkSet>,
    ) -> Result<Self, AuthError> {
        let mut keys = HashMap::new();
        keys.insert(
            local.kid.clone(),
            Verifier {
                key: DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(local.public))
                    .map_err(|_| AuthError::Malformed)?,
                algorithm: Algorithm::EdDSA,
            },
        );
        for jwk in trusted.map(|set| set.keys.as_slice()).unwrap_or_default() {
            let (Some(kid), algorithm) = (&jwk.common.key_id, &jwk.algorithm) else {
                continue;
            };
            let algorithm = match algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                // Only RS256 and EdDSA keys are trusted.
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|_| AuthError::Malformed)?;
            keys.insert(kid.clone(), Verifier { key, algorithm });
        }
        Ok(Self {
            issuer: issuer.into(),
            audience: audience.into(),
            local,
            keys,
            leeway: 30,
        })
    }

    pub fn local_key(&self) -> &LocalKey {
        &self.local
    }

    /// Checks `token` and says who it is.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::RS256) {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
        let verifier = self.keys.get(kid).ok_or(AuthError::UnknownKey)?;
        if verifier.algorithm != header.alg {
            return Err(AuthError::Algorithm);
        }
        let mut validation = Validation::new(verifier.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = jsonwebtoken::decode::<Claims>(token, &verifier.key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        let tenant = TenantId::parse(&claims.tenant).map_err(|_| AuthError::Subject)?;
        let actor = match claims.scope.as_deref() {
            Some(CLIENT_LINK_SCOPE) => {
                // Only the server signs client links.
                if kid != self.local.kid {
                    return Err(AuthError::UnknownKey);
                }
                let id = claims.client_id.as_deref().ok_or(AuthError::Subject)?;
                Actor::client(ClientId::parse(id).map_err(|_| AuthError::Subject)?)
            }
            _ => Actor::user(UserId::parse(&claims.sub).map_err(|_| AuthError::Subject)?),
        };
        Ok(Principal { tenant, actor })
    }

    /// A token for `user` in `tenant`, signed with the local key (development and tests;
    /// production tokens come from the identity provider).
    pub fn mint_user_token(
        &self,
        tenant: &TenantId,
        user: &UserId,
        lifetime: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        self.sign_claims(&Claims {
            sub: user.to_string(),
            tenant: tenant.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + lifetime).timestamp(),
            nbf: Some(now.timestamp()),
            iat: now.timestamp(),
            scope: None,
            client_id: None,
        })
    }

    /// A client link: a token scoped to one client of one tenant, valid for `lifetime`.
    pub fn mint_client_link(
        &self,
        tenant: &TenantId,
        client: ClientId,
        lifetime: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        self.sign_claims(&Claims {
            sub: format!("client:{client}"),
            tenant: tenant.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + lifetime).timestamp(),
            nbf: Some(now.timestamp()),
            iat: now.timestamp(),
            scope: Some(CLIENT_LINK_SCOPE.to_owned()),
            client_id: Some(client.to_string()),
        })
    }

    /// Signs `claims` with the local key, as they are.
    pub fn sign_claims(&self, claims: &Claims) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.local.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.local.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}
