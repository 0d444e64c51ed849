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
//!
//! The identity provider's keys come from a JWK set file, or from its JWKS URL
//! ([`RemoteKeySet`]): fetched at start-up and periodically, and fetched again when a token
//! names a `kid` the cached set lacks (the provider has rotated its keys). Such refetches are
//! rate-limited, so a flood of tokens with made-up `kid`s cannot hammer the provider, and
//! callers that miss at the same time share one fetch. A failed fetch keeps the cached keys.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use confide_app::Caller;
use confide_domain::{Actor, ClientId, TenantId, UserId};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The scope claim of a client link.
pub const CLIENT_LINK_SCOPE: &str = "client_link";

/// The scope of a playback ticket, which is never a bearer token.
pub const TICKET_SCOPE: &str = "media_ticket";

/// The scope of an audit export's download ticket, which is never a bearer token either.
pub const EXPORT_TICKET_SCOPE: &str = "audit_export";

/// The scope of a sign-in in progress at the identity provider, held by the browser.
pub const SIGN_IN_SCOPE: &str = "sign_in";

/// What a ticket is for: its scope claim and the suffix of its audience. Each kind has an
/// audience of its own, so one kind of ticket is never taken for another, nor for a token.
#[derive(Clone, Copy, Debug)]
pub enum TicketKind {
    /// A playback ticket (`startPlayback`).
    Media,
    /// An audit bundle's download (`exportAuditTrail`).
    AuditExport,
    /// A sign-in through the identity provider, between leaving for it and choosing a tenant.
    SignIn,
}

impl TicketKind {
    fn scope(self) -> &'static str {
        match self {
            Self::Media => TICKET_SCOPE,
            Self::AuditExport => EXPORT_TICKET_SCOPE,
            Self::SignIn => SIGN_IN_SCOPE,
        }
    }

    fn audience_suffix(self) -> &'static str {
        match self {
            Self::Media => "#media",
            Self::AuditExport => "#audit-export",
            Self::SignIn => "#sign-in",
        }
    }
}

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

/// The claims a verified token is read for. Its `iss`, `aud`, `exp` and `nbf` are checked by
/// the validation before; `aud` may be one string or an array of them (RFC 7519 section
/// 4.1.3), and the token is for Confide when it holds Confide's audience.
#[derive(Deserialize)]
struct Presented {
    sub: String,
    tenant: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// A ticket as signed: the server's issuer, the kind's audience and scope, and what the
/// ticket grants (which carries its own `iat` and `exp`).
#[derive(Serialize, Deserialize)]
struct TicketClaims<T> {
    iss: String,
    aud: String,
    scope: String,
    #[serde(flatten)]
    ticket: T,
}

/// Why a token was refused. The message is safe to show the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    Scheme,
    #[error("the Authorization header names the Bearer scheme but carries no token")]
    EmptyBearer,
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
struct Verifier {
    key: DecodingKey,
    algorithm: Algorithm,
}

/// Key id to verifier.
type Verifiers = HashMap<String, Arc<Verifier>>;

/// Why a key of an identity provider's set is left out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum Untrusted {
    #[error("it has no kid, so no token can name it")]
    NoKid,
    #[error("only RSA and Ed25519 keys are trusted")]
    KeyType,
    #[error("its alg is not RS256 for an RSA key or EdDSA for an Ed25519 key")]
    Algorithm,
    #[error("it is not a signature key")]
    Use,
    #[error("its parameters are malformed")]
    Malformed,
    #[error("it is not a JWK this version understands")]
    Unparsed,
}

/// The key id and verifier of one key of an identity provider's set.
///
/// Only RS256 (an RSA key) and EdDSA (an Ed25519 key) are trusted. A key that declares an
/// `alg` other than the one its type is used with, or a `use` other than `sig`, is left out.
fn trusted_key(jwk: &Jwk) -> Result<(String, Verifier), Untrusted> {
    let kid = jwk.common.key_id.as_ref().ok_or(Untrusted::NoKid)?;
    let (algorithm, declared) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        _ => return Err(Untrusted::KeyType),
    };
    if jwk.common.key_algorithm.is_some_and(|alg| alg != declared) {
        return Err(Untrusted::Algorithm);
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != PublicKeyUse::Signature)
    {
        return Err(Untrusted::Use);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Untrusted::Malformed)?;
    Ok((kid.clone(), Verifier { key, algorithm }))
}

/// How often [`RemoteKeySet::keep_fresh`] fetches the set when nothing else does.
pub const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(10 * 60);

/// The least time between two fetches caused by unknown `kid`s, unless set otherwise.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// The largest key set accepted: a real one is a few kilobytes.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why the identity provider's key set could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("the JWKS URL is not usable: {0}")]
    Url(String),
    #[error("fetching the key set failed")]
    Fetch(#[source] reqwest::Error),
    #[error("the identity provider answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not a JWK set")]
    Document(#[source] serde_json::Error),
}

/// A JWK set as served: each key is parsed on its own, so one key of a type this version does
/// not know leaves the others usable.
#[derive(Deserialize)]
struct ServedKeySet {
    keys: Vec<serde_json::Value>,
}

/// The identity provider's key set, fetched from its JWKS URL and cached.
pub struct RemoteKeySet {
    url: reqwest::Url,
    client: reqwest::Client,
    refetch_interval: Duration,
    /// The keys of the last successful fetch; replaced whole, read on every verification.
    keys: RwLock<Arc<Verifiers>>,
    /// Fetches attempted so far, whatever their outcome; changes only under `fetching`.
    attempts: AtomicU64,
    /// Held for the whole of a fetch, so fetches never overlap; holds when the last fetch
    /// caused by an unknown `kid` began.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.snapshot();
        f.debug_struct("RemoteKeySet")
            .field("url", &self.url.as_str())
            .field("keys", &keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RemoteKeySet {
    /// A key set to be fetched from `url`: `https://`, or `http://` on a loopback address
    /// (keys fetched in clear text from anywhere else could be replaced on the way). Nothing
    /// is fetched yet.
    pub fn new(url: &str) -> Result<Self, KeySetError> {
        let url = reqwest::Url::parse(url).map_err(|e| KeySetError::Url(e.to_string()))?;
        let loopback = match url.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(KeySetError::Url(
                    "it must be https:// (http:// only on a loopback address)".into(),
                ));
            }
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // A redirect could lead to a clear-text URL; the configured one must answer.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(KeySetError::Fetch)?;
        Ok(Self {
            url,
            client,
            refetch_interval: JWKS_REFETCH_INTERVAL,
            keys: RwLock::new(Arc::new(HashMap::new())),
            attempts: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// Sets the least time between two fetches caused by unknown `kid`s.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The key ids of the cached set.
    pub fn kids(&self) -> Vec<String> {
        self.snapshot().keys().cloned().collect()
    }

    /// Fetches the set now (waiting for a fetch under way to finish first) and, if it is a
    /// JWK set, replaces the cached keys with its trusted ones. Returns how many there are.
    /// On failure the cached keys stay.
    pub async fn refresh(&self) -> Result<usize, KeySetError> {
        let _fetching = self.fetching.lock().await;
        self.fetch_and_replace().await
    }

    /// Refreshes the set now and then every `every`, logging failures; runs until dropped.
    pub async fn keep_fresh(&self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            ticks.tick().await;
            match self.refresh().await {
                Ok(count) if first => {
                    tracing::info!(
                        url = %self.url,
                        keys = count,
                        "fetched the identity provider's keys"
                    );
                }
                Ok(count) => {
                    tracing::debug!(
                        url = %self.url,
                        keys = count,
                        "refreshed the identity provider's keys"
                    );
                }
                Err(error) => tracing::warn!(
                    url = %self.url,
                    error = %error_chain(&error),
                    "refreshing the identity provider's keys failed; keeping the cached keys"
                ),
            }
            first = false;
        }
    }

    fn snapshot(&self) -> Arc<Verifiers> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The verifier of `kid`, fetching the set again if it is not cached and the rate limit
    /// allows.
    async fn find(&self, kid: &str) -> Option<Arc<Verifier>> {
        let seen = self.attempts.load(Ordering::Acquire);
        if let Some(verifier) = self.snapshot().get(kid) {
            return Some(verifier.clone());
        }
        self.refetch_after_miss(seen).await;
        self.snapshot().get(kid).cloned()
    }

    /// Fetches the set because a `kid` was missing when `seen` fetches had been attempted.
    async fn refetch_after_miss(&self, seen: u64) {
        let mut last_refetch = self.fetching.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen {
            // A fetch finished while this caller waited: its answer is the freshest there is.
            return;
        }
        if last_refetch.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            tracing::debug!(
                url = %self.url,
                "an unknown kid; the key set was fetched again recently"
            );
            return;
        }
        *last_refetch = Some(Instant::now());
        match self.fetch_and_replace().await {
            Ok(count) => tracing::info!(
                url = %self.url,
                keys = count,
                "fetched the identity provider's keys for an unknown kid"
            ),
            Err(error) => tracing::warn!(
                url = %self.url,
                error = %error_chain(&error),
                "fetching the identity provider's keys failed; keeping the cached keys"
            ),
        }
    }

    /// One fetch; the caller holds `fetching`.
    async fn fetch_and_replace(&self) -> Result<usize, KeySetError> {
        let fetched = self.fetch().await.map(|keys| {
            let count = keys.len();
            *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            count
        });
        // Counted after the keys are replaced: a caller that sees the new count finds the new
        // keys, and so never fetches again for a key this fetch brought.
        self.attempts.fetch_add(1, Ordering::Release);
        fetched
    }

    /// An outbound call: a client span, whose URL is the provider's public key set.
    #[tracing::instrument(
        name = "GET jwks",
        skip_all,
        fields(otel.kind = "client", url.full = %self.url, http.response.status_code)
    )]
    async fn fetch(&self) -> Result<Verifiers, KeySetError> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(KeySetError::Fetch)?;
        tracing::Span::current().record("http.response.status_code", response.status().as_u16());
        if !response.status().is_success() {
            return Err(KeySetError::Status(response.status()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
        {
            return Err(KeySetError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(KeySetError::Fetch)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(KeySetError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let served: ServedKeySet = serde_json::from_slice(&body).map_err(KeySetError::Document)?;
        let mut keys = HashMap::new();
        for value in served.keys {
            let kid = value
                .get("kid")
                .and_then(|kid| kid.as_str())
                .map(str::to_owned);
            let trusted = serde_json::from_value::<Jwk>(value)
                .map_err(|_| Untrusted::Unparsed)
                .and_then(|jwk| trusted_key(&jwk));
            match trusted {
                Ok((kid, verifier)) => {
                    keys.insert(kid, Arc::new(verifier));
                }
                Err(reason) => {
                    tracing::debug!(
                        url = %self.url,
                        kid,
                        %reason,
                        "left out a key of the identity provider's set"
                    );
                }
            }
        }
        Ok(keys)
    }
}

/// An error and its sources on one line, for logs.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The token an `Authorization` header value carries: `Bearer`, in any case, then the
/// token after one or more spaces (RFC 6750 section 2.1, RFC 9110 section 11.1). `Bearer`
/// with nothing after it is a malformed credential, not the absence of one.
pub(crate) fn bearer_token(authorization: &str) -> Result<&str, AuthError> {
    let authorization = authorization.trim_matches(' ');
    let (scheme, token) = authorization.split_once(' ').unwrap_or((authorization, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Scheme);
    }
    match token.trim_start_matches(' ') {
        "" => Err(AuthError::EmptyBearer),
        token => Ok(token),
    }
}

/// Checks tokens and signs the server's own.
pub struct Authenticator {
    issuer: String,
    audience: String,
    local: LocalKey,
    /// The local key and the keys of a JWK set file; they win over the remote set's.
    keys: Verifiers,
    remote: Option<Arc<RemoteKeySet>>,
    leeway: u64,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Accepts tokens from `issuer` for `audience`, signed by the local key or a key of
    /// `trusted` (the identity provider's JWK set). Keys of `trusted` that are not RS256 or
    /// EdDSA signature keys are left out; one that claims to be but is malformed is an error.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        local: LocalKey,
        trusted: Option<&JwkSet>,
    ) -> Result<Self, AuthError> {
        let mut keys = HashMap::new();
        for jwk in trusted.map(|set| set.keys.as_slice()).unwrap_or_default() {
            match trusted_key(jwk) {
                Ok((kid, verifier)) => {
                    keys.insert(kid, Arc::new(verifier));
                }
                Err(Untrusted::Malformed) => return Err(AuthError::Malformed),
                Err(_) => {}
            }
        }
        // Inserted last, so a file key cannot take the local key's place.
        keys.insert(
            local.kid.clone(),
            Arc::new(Verifier {
                key: DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(local.public))
                    .map_err(|_| AuthError::Malformed)?,
                algorithm: Algorithm::EdDSA,
            }),
        );
        Ok(Self {
            issuer: issuer.into(),
            audience: audience.into(),
            local,
            keys,
            remote: None,
            leeway: 30,
        })
    }

    /// Also accepts tokens signed by a key of the identity provider's remote set. The local
    /// key and the file's keys take precedence over a remote key with the same `kid`.
    pub fn with_remote_keys(mut self, remote: Arc<RemoteKeySet>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The identity provider's remote key set, if one is configured.
    pub fn remote_keys(&self) -> Option<&Arc<RemoteKeySet>> {
        self.remote.as_ref()
    }

    pub fn local_key(&self) -> &LocalKey {
        &self.local
    }

    /// Checks `token` and says who it is.
    ///
    /// A `kid` that neither the local key, the file's keys nor the cached remote set know
    /// may fetch the remote set again (see [`RemoteKeySet`]) before the token is refused.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::RS256) {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
        let verifier = match (self.keys.get(kid), &self.remote) {
            (Some(verifier), _) => verifier.clone(),
            (None, Some(remote)) => remote.find(kid).await.ok_or(AuthError::UnknownKey)?,
            (None, None) => return Err(AuthError::UnknownKey),
        };
        if verifier.algorithm != header.alg {
            return Err(AuthError::Algorithm);
        }
        let mut validation = Validation::new(verifier.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = jsonwebtoken::decode::<Presented>(token, &verifier.key, &validation)
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
            // A ticket is not a caller (its audience already differs).
            Some(TICKET_SCOPE | EXPORT_TICKET_SCOPE) => return Err(AuthError::Subject),
            // An identity provider's token may carry scopes of its own; roles never come
            // from them.
            _ => Actor::user(UserId::parse(&claims.sub).map_err(|_| AuthError::Subject)?),
        };
        Ok(Caller { tenant, actor })
    }

    /// The audience of a kind of ticket: the server itself, never the API's audience, so a
    /// ticket cannot be used as a bearer token nor a token as a ticket.
    fn ticket_audience(&self, kind: TicketKind) -> String {
        format!("{}{}", self.audience, kind.audience_suffix())
    }

    /// Signs a ticket of `kind` with the local key.
    pub fn sign_ticket<T: Serialize + Clone>(
        &self,
        kind: TicketKind,
        ticket: &T,
    ) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.local.kid.clone());
        let claims = TicketClaims {
            iss: self.issuer.clone(),
            aud: self.ticket_audience(kind),
            scope: kind.scope().to_owned(),
            ticket: ticket.clone(),
        };
        jsonwebtoken::encode(&header, &claims, &self.local.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// A ticket of `kind` this server signed and that has not expired.
    pub fn verify_ticket<T: serde::de::DeserializeOwned>(
        &self,
        kind: TicketKind,
        token: &str,
    ) -> Result<T, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Algorithm);
        }
        if header.kid.as_deref() != Some(self.local.kid.as_str()) {
            return Err(AuthError::UnknownKey);
        }
        let verifier = self
            .keys
            .get(&self.local.kid)
            .ok_or(AuthError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[self.ticket_audience(kind)]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<TicketClaims<T>>(token, &verifier.key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        if claims.scope != kind.scope() {
            return Err(AuthError::Subject);
        }
        Ok(claims.ticket)
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

    /// Signs `claims` (a [`Claims`], or any other set of claims a test needs) with the local
    /// key, as they are.
    pub fn sign_claims<C: Serialize>(&self, claims: &C) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.local.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.local.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}
