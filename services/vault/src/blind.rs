//! Blind indexes: keyed hashes of short texts (the tokens of a client's name), so a name
//! typed in can be matched against names that are only ever stored sealed. The hash key is
//! derived from a tenant's data key (HKDF-SHA-256 with an info of its own, so the data key is
//! never used as is), so the tokens of one tenant say nothing about another's, and whoever
//! reads the index without the key store learns only which rows share a token.

use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac::{self, HMAC_SHA256};
use confide_domain::{KeyId, TenantId};

use crate::error::KeyError;
use crate::keys::KeyStore;

/// HKDF info of the index key.
const BLIND_INDEX_INFO: &[u8] = b"confide-vault blind index v1";

/// The key that hashes one tenant's index tokens (HMAC-SHA-256). Its `Debug` shows nothing.
pub struct BlindIndexKey(hmac::Key);

impl BlindIndexKey {
    /// The index key of the data key `key_id` of `tenant`: the same for every call, so a
    /// token hashed at registration matches the same token hashed at a search.
    pub async fn of(
        keys: &dyn KeyStore,
        tenant: &TenantId,
        key_id: &KeyId,
    ) -> Result<Self, KeyError> {
        let data_key = keys.media_key(tenant, key_id).await?;
        let prk = Salt::new(HKDF_SHA256, &[]).extract(data_key.bytes());
        let okm = prk
            .expand(&[BLIND_INDEX_INFO], HMAC_SHA256)
            .expect("32 bytes is within HKDF-SHA-256's output limit");
        Ok(Self(hmac::Key::from(okm)))
    }

    /// The token's keyed hash, as 64 lowercase hex digits.
    pub fn token(&self, text: &str) -> String {
        hmac::sign(&self.0, text.as_bytes())
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey(..)")
    }
}
