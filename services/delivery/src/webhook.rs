//! Webhooks as the Standard Webhooks specification describes them: a JSON body posted with
//! `webhook-id` (the message's id, the same on every retry, so a receiver can drop a
//! duplicate), `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the
//! base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the endpoint's secret). The secret is
//! shown to the organisation once as `whsec_` and the base64 of its 32 bytes.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::{ConfigError, SendError};

/// An endpoint's signing secret.
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl WebhookSecret {
    /// How many random bytes a new secret has (the specification asks for 24 to 64).
    pub const LEN: usize = 32;

    /// A new random secret.
    pub fn generate() -> Result<Self, ConfigError> {
        let mut bytes = Zeroizing::new(vec![0u8; Self::LEN]);
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| ConfigError("no randomness for a webhook secret".to_owned()))?;
        Ok(Self(bytes))
    }

    /// The secret's bytes as they are kept (sealed).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret's bytes, to be sealed.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// `whsec_…`, as the organisation is shown it (once) and configures its receiver with.
    pub fn to_whsec(&self) -> String {
        format!("whsec_{}", STANDARD.encode(self.0.as_slice()))
    }

    /// Reads `whsec_…` back.
    pub fn parse_whsec(text: &str) -> Result<Self, ConfigError> {
        let encoded = text
            .strip_prefix("whsec_")
            .ok_or_else(|| ConfigError("a webhook secret starts with whsec_".to_owned()))?;
        STANDARD
            .decode(encoded)
            .map(Self::from_bytes)
            .map_err(|_| ConfigError("a webhook secret is whsec_ and base64".to_owned()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// The `webhook-signature` header's value: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

/// One post to one endpoint.
#[derive(Debug)]
pub struct WebhookPost<'a> {
    pub url: &'a str,
    pub secret: &'a WebhookSecret,
    /// The message id, the same on every attempt.
    pub id: &'a str,
    /// When this attempt is signed, in Unix seconds.
    pub timestamp: i64,
    /// The JSON body.
    pub body: &'a [u8],
}

/// Posts signed webhooks.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    /// How long one post may take.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    pub fn new() -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // An endpoint answers itself; a redirect would send the body elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError(format!("the webhook client: {e}")))?;
        Ok(Self { client })
    }

    /// Posts one message; a 2xx answer is delivery.
    pub async fn post(&self, post: WebhookPost<'_>) -> Result<(), SendError> {
        let signature = sign(post.secret, post.id, post.timestamp, post.body);
        let answer = self
            .client
            .post(post.url)
            .header("content-type", "application/json")
            .header("webhook-id", post.id)
            .header("webhook-timestamp", post.timestamp.to_string())
            .header("webhook-signature", signature)
            .body(post.body.to_vec())
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("the endpoint could not be reached: {e}")))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else if status == reqwest::StatusCode::GONE {
            // The specification's way for an endpoint to say "stop sending".
            Err(SendError::Permanent(
                "the endpoint answered 410 Gone".to_owned(),
            ))
        } else {
            Err(SendError::Transient(format!(
                "the endpoint answered {status}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_specifications_example() {
        // The example in the Standard Webhooks specification (spec/standard-webhooks.md).
        let secret = WebhookSecret::parse_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_reads_back_from_what_is_shown_once() {
        let secret = WebhookSecret::generate().unwrap();
        let shown = secret.to_whsec();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(
            WebhookSecret::parse_whsec(&shown).unwrap().bytes(),
            secret.bytes()
        );
        assert!(WebhookSecret::parse_whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert_eq!(format!("{secret:?}"), "WebhookSecret(…)");
    }
}
