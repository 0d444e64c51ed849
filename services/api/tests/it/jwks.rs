//! The identity provider's keys from its JWKS URL, served by a real HTTP server on port 0 that
//! counts the requests it answers: keys of the set are trusted, a rotation is picked up when a
//! token names the new key, unknown `kid`s cannot make Confide hammer the provider, and a
//! provider that is down leaves the cached keys in place.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::KeyPair as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use confide_api::auth::{AuthError, Authenticator, KeySetError, LocalKey, RemoteKeySet};
use confide_domain::{Actor, TenantId, UserId};
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "confide";

/// What the identity provider serves at `/jwks`.
#[derive(Clone)]
enum Serving {
    Keys(Value),
    Unavailable,
    NotAKeySet,
}

struct Provider {
    serving: Mutex<Serving>,
    requests: AtomicUsize,
}

/// A stand-in identity provider on port 0.
struct IdentityProvider {
    address: SocketAddr,
    state: Arc<Provider>,
}

impl IdentityProvider {
    async fn start(keys: &[&SigningKey]) -> Self {
        let state = Arc::new(Provider {
            serving: Mutex::new(Serving::Keys(key_set(keys))),
            requests: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route("/jwks", axum::routing::get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { address, state }
    }

    fn url(&self) -> String {
        format!("http://{}/jwks", self.address)
    }

    fn serve(&self, serving: Serving) {
        *self.state.serving.lock().unwrap() = serving;
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(state): State<Arc<Provider>>) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let serving = state.serving.lock().unwrap().clone();
    match serving {
        Serving::Keys(set) => axum::Json(set).into_response(),
        Serving::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Serving::NotAKeySet => "<html>maintenance</html>".into_response(),
    }
}

/// One of the provider's signing keys, with its `kid`.
enum SigningKey {
    Ed25519(String, ed25519_dalek::SigningKey),
    Rsa(String, aws_lc_rs::rsa::KeyPair),
}

impl SigningKey {
    fn ed25519(kid: &str) -> Self {
        Self::Ed25519(
            kid.into(),
            ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        )
    }

    fn rsa(kid: &str) -> Self {
        Self::Rsa(
            kid.into(),
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
        )
    }

    fn kid(&self) -> &str {
        match self {
            Self::Ed25519(kid, _) | Self::Rsa(kid, _) => kid,
        }
    }

    /// The public key as the provider publishes it.
    fn jwk(&self) -> Value {
        match self {
            Self::Ed25519(kid, key) => json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            }),
            Self::Rsa(kid, key) => {
                let public = key.public_key();
                let n = public.modulus();
                let e = public.exponent();
                json!({
                    "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(n.big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(e.big_endian_without_leading_zero()),
                })
            }
        }
    }

    fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(..) => "EdDSA",
            Self::Rsa(..) => "RS256",
        }
    }

    /// A compact JWS over `claims`, under the key's own `kid` and algorithm.
    fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.kid(), self.algorithm(), claims)
    }

    /// A compact JWS signed by this key, with whatever `kid` and `alg` its header claims.
    fn sign_as(&self, kid: &str, alg: &str, claims: &Value) -> String {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": kid });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            Self::Ed25519(_, key) => key.sign(input.as_bytes()).to_bytes().to_vec(),
            Self::Rsa(_, key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    input.as_bytes(),
                    &mut signature,
                )
                .unwrap();
                signature
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn key_set(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// A user token's claims, as the identity provider issues them.
fn claims(user: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": user, "tenant": "clinic", "iss": ISSUER, "aud": AUDIENCE,
        "exp": now + 600, "nbf": now, "iat": now,
    })
}

fn local_key() -> LocalKey {
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    LocalKey::from_seed(&signing.to_bytes(), signing.verifying_key().to_bytes())
}

/// An authenticator trusting the provider's set, refetched at most once per `interval`.
fn authenticator(provider: &IdentityProvider, interval: Duration) -> Arc<Authenticator> {
    let remote = RemoteKeySet::new(&provider.url())
        .unwrap()
        .with_refetch_interval(interval);
    Arc::new(
        Authenticator::new(ISSUER, AUDIENCE, local_key(), None)
            .unwrap()
            .with_remote_keys(Arc::new(remote)),
    )
}

fn remote(auth: &Authenticator) -> &RemoteKeySet {
    auth.remote_keys().unwrap()
}

fn is_user(verified: Result<confide_app::Caller, AuthError>, user: &str) -> bool {
    verified.is_ok_and(|principal| {
        principal.tenant == TenantId::parse("clinic").unwrap()
            && principal.actor == Actor::user(UserId::parse(user).unwrap())
    })
}

const AN_HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn tokens_signed_by_keys_of_the_set_are_accepted() {
    let ed25519 = SigningKey::ed25519("idp-ed-1");
    let rsa = SigningKey::rsa("idp-rsa-1");
    let provider = IdentityProvider::start(&[&ed25519, &rsa]).await;
    let auth = authenticator(&provider, AN_HOUR);
    assert_eq!(remote(&auth).refresh().await.unwrap(), 2);
    assert_eq!(provider.requests(), 1);

    assert!(is_user(
        auth.verify(&ed25519.sign(&claims("ada"))).await,
        "ada"
    ));
    assert!(is_user(auth.verify(&rsa.sign(&claims("sam"))).await, "sam"));
    assert_eq!(provider.requests(), 1, "known keys need no fetch");

    // The header's algorithm must be the key's: an RSA key's kid under EdDSA, and the other
    // way round, are refused whatever the signature.
    let confused = [
        rsa.sign_as(rsa.kid(), "EdDSA", &claims("sam")),
        ed25519.sign_as(ed25519.kid(), "RS256", &claims("ada")),
    ];
    for token in confused {
        assert_eq!(auth.verify(&token).await, Err(AuthError::Algorithm));
    }
    // A key of the set cannot sign for another key's kid.
    let forged = ed25519.sign_as(rsa.kid(), "RS256", &claims("sam"));
    assert!(matches!(
        auth.verify(&forged).await,
        Err(AuthError::Invalid(_))
    ));
    let forged = SigningKey::ed25519("other").sign_as(ed25519.kid(), "EdDSA", &claims("ada"));
    assert!(matches!(
        auth.verify(&forged).await,
        Err(AuthError::Invalid(_))
    ));
    // Issuer and audience still apply to the provider's tokens.
    let mut foreign = claims("ada");
    foreign["aud"] = json!("another-service");
    assert!(matches!(
        auth.verify(&ed25519.sign(&foreign)).await,
        Err(AuthError::Invalid(_))
    ));
}

#[tokio::test]
async fn only_rs256_and_eddsa_signature_keys_are_taken_from_the_set() {
    let good = SigningKey::ed25519("good");
    let rsa = SigningKey::rsa("rsa");
    let mut rs512 = rsa.jwk();
    rs512["kid"] = json!("declared-rs512");
    rs512["alg"] = json!("RS512");
    let mut encryption = rsa.jwk();
    encryption["kid"] = json!("for-encryption");
    encryption["use"] = json!("enc");
    encryption["alg"] = json!("RSA-OAEP");
    let mut no_kid = good.jwk();
    no_kid.as_object_mut().unwrap().remove("kid");
    let set = json!({ "keys": [
        good.jwk(),
        rs512,
        encryption,
        no_kid,
        { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
        {
            "kty": "EC", "crv": "P-256", "kid": "p256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        },
        { "kty": "ML-DSA", "kid": "from-the-future", "pub": "AAAA" },
    ]});
    let provider = IdentityProvider::start(&[]).await;
    provider.serve(Serving::Keys(set));
    let auth = authenticator(&provider, AN_HOUR);
    assert_eq!(remote(&auth).refresh().await.unwrap(), 1);
    assert_eq!(remote(&auth).kids(), ["good"]);
    assert!(is_user(
        auth.verify(&good.sign(&claims("ada"))).await,
        "ada"
    ));
    let under_rs512 = rsa.sign_as("declared-rs512", "RS256", &claims("sam"));
    assert_eq!(auth.verify(&under_rs512).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let old = SigningKey::ed25519("idp-2025");
    let provider = IdentityProvider::start(&[&old]).await;
    let auth = authenticator(&provider, AN_HOUR);
    remote(&auth).refresh().await.unwrap();
    assert!(is_user(auth.verify(&old.sign(&claims("ada"))).await, "ada"));
    assert_eq!(provider.requests(), 1);

    // The provider rotates: the new key signs, the old one is withdrawn.
    let new = SigningKey::rsa("idp-2026");
    provider.serve(Serving::Keys(key_set(&[&new])));
    assert!(is_user(auth.verify(&new.sign(&claims("ada"))).await, "ada"));
    assert_eq!(
        provider.requests(),
        2,
        "the unknown kid fetched the set once"
    );
    assert!(is_user(auth.verify(&new.sign(&claims("sam"))).await, "sam"));
    assert_eq!(provider.requests(), 2, "and the new key is cached");
    assert_eq!(
        auth.verify(&old.sign(&claims("ada"))).await,
        Err(AuthError::UnknownKey),
        "the withdrawn key is no longer trusted"
    );
    assert_eq!(provider.requests(), 2, "within the rate limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_fetch_the_set_at_most_once_per_interval() {
    let key = SigningKey::ed25519("idp-1");
    let stranger = SigningKey::ed25519("stranger");
    let provider = IdentityProvider::start(&[&key]).await;
    let auth = authenticator(&provider, AN_HOUR);
    remote(&auth).refresh().await.unwrap();
    assert_eq!(provider.requests(), 1);

    // A flood of tokens with made-up kids, all at once and then one after another.
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..50 {
        let auth = auth.clone();
        let token = stranger.sign_as(&format!("made-up-{n}"), "EdDSA", &claims("ada"));
        flood.spawn(async move { auth.verify(&token).await });
    }
    while let Some(verified) = flood.join_next().await {
        assert_eq!(verified.unwrap(), Err(AuthError::UnknownKey));
    }
    for n in 0..20 {
        let token = stranger.sign_as(&format!("later-{n}"), "EdDSA", &claims("ada"));
        assert_eq!(auth.verify(&token).await, Err(AuthError::UnknownKey));
    }
    assert_eq!(
        provider.requests(),
        2,
        "one refetch for the whole flood, none after it within the interval"
    );
    assert!(is_user(auth.verify(&key.sign(&claims("ada"))).await, "ada"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_miss_together_share_one_fetch() {
    let key = SigningKey::ed25519("idp-1");
    let provider = IdentityProvider::start(&[&key]).await;
    // No rate limit at all: only sharing keeps this to one fetch.
    let auth = authenticator(&provider, Duration::ZERO);
    let mut callers = tokio::task::JoinSet::new();
    for n in 0..20 {
        let auth = auth.clone();
        let token = key.sign(&claims(&format!("user-{n}")));
        callers.spawn(async move { auth.verify(&token).await });
    }
    while let Some(verified) = callers.join_next().await {
        assert!(verified.unwrap().is_ok());
    }
    assert_eq!(provider.requests(), 1);
}

#[tokio::test]
async fn the_cached_keys_stay_when_the_provider_is_down() {
    let key = SigningKey::rsa("idp-1");
    let provider = IdentityProvider::start(&[&key]).await;
    let auth = authenticator(&provider, Duration::ZERO);
    remote(&auth).refresh().await.unwrap();

    provider.serve(Serving::Unavailable);
    assert!(matches!(
        remote(&auth).refresh().await,
        Err(KeySetError::Status(StatusCode::SERVICE_UNAVAILABLE))
    ));
    assert!(is_user(auth.verify(&key.sign(&claims("ada"))).await, "ada"));
    let rotated = SigningKey::ed25519("idp-2");
    assert_eq!(
        auth.verify(&rotated.sign(&claims("ada"))).await,
        Err(AuthError::UnknownKey),
        "a kid the provider cannot be asked about is refused"
    );
    assert_eq!(provider.requests(), 3, "the unknown kid did try a refetch");

    provider.serve(Serving::NotAKeySet);
    assert!(matches!(
        remote(&auth).refresh().await,
        Err(KeySetError::Document(_))
    ));
    assert!(is_user(auth.verify(&key.sign(&claims("sam"))).await, "sam"));
    assert_eq!(remote(&auth).kids(), ["idp-1"]);

    // A provider nobody answers for: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let unreachable = RemoteKeySet::new(&format!("http://{address}/jwks")).unwrap();
    assert!(matches!(
        unreachable.refresh().await,
        Err(KeySetError::Fetch(_))
    ));
    assert!(unreachable.kids().is_empty());

    // Back up, with the rotated key: the next refetch picks it up.
    provider.serve(Serving::Keys(key_set(&[&key, &rotated])));
    assert!(is_user(
        auth.verify(&rotated.sign(&claims("ada"))).await,
        "ada"
    ));
}

#[tokio::test]
async fn client_links_are_the_servers_alone_whatever_the_provider_serves() {
    // The provider publishes a key under the server's own kid: the server's key still wins,
    // and a client link signed by the provider's key is refused.
    let local = local_key();
    let local_kid = local.kid().to_owned();
    let impostor = SigningKey::ed25519(&local_kid);
    let provider = IdentityProvider::start(&[&impostor]).await;
    let remote = Arc::new(RemoteKeySet::new(&provider.url()).unwrap());
    remote.refresh().await.unwrap();
    let auth = Authenticator::new(ISSUER, AUDIENCE, local, None)
        .unwrap()
        .with_remote_keys(remote);
    let mut link = claims("client:x");
    link["scope"] = json!("client_link");
    link["client_id"] = json!(uuid::Uuid::new_v4().to_string());
    assert!(matches!(
        auth.verify(&impostor.sign(&link)).await,
        Err(AuthError::Invalid(_))
    ));
    let other = SigningKey::ed25519("idp-1");
    provider.serve(Serving::Keys(key_set(&[&other])));
    auth.remote_keys().unwrap().refresh().await.unwrap();
    assert_eq!(
        auth.verify(&other.sign(&link)).await,
        Err(AuthError::UnknownKey),
        "only the server signs client links"
    );
}

#[test]
fn keys_are_fetched_over_https_or_from_this_machine_only() {
    for url in [
        "https://idp.example/.well-known/jwks.json",
        "http://127.0.0.1:8081/jwks",
        "http://localhost/jwks",
        "http://[::1]:9000/jwks",
    ] {
        assert!(RemoteKeySet::new(url).is_ok(), "{url}");
    }
    for url in [
        "http://idp.example/jwks",
        "http://10.0.0.8/jwks",
        "ftp://idp.example/jwks",
        "idp.example/jwks",
    ] {
        assert!(
            matches!(RemoteKeySet::new(url), Err(KeySetError::Url(_))),
            "{url}"
        );
    }
}
