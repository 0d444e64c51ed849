use std::fmt;

use confide_domain::{KeyId, TenantId};
use confide_eventstore::StoreError;

/// What can go wrong with a key, in variants a caller can act on.
///
/// Messages name tenants and key ids, never key material, plaintext or ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The tenant has no key by that id, and never had: a key of another tenant is unknown
    /// too.
    #[error("tenant {tenant} has no key {key_id}")]
    Unknown { tenant: TenantId, key_id: KeyId },
    /// The key existed and has been destroyed: whatever was sealed under it is unreadable for
    /// good.
    #[error("key {key_id} of tenant {tenant} has been destroyed")]
    Destroyed { tenant: TenantId, key_id: KeyId },
    /// The tenant already has (or had, if destroyed) a key by that id; nothing was written.
    #[error("tenant {tenant} already has a key {key_id}")]
    Exists { tenant: TenantId, key_id: KeyId },
    /// Decryption failed: the sealed value or the stored wrapped key was altered, belongs to
    /// another key, or the master key is not the one the key was wrapped under.
    #[error("{damaged} of key {key_id} of tenant {tenant} does not decrypt")]
    Corrupt {
        tenant: TenantId,
        key_id: KeyId,
        damaged: Damaged,
    },
    /// The plaintext is longer than a sealed value may be (see [`crate::MAX_PLAINTEXT`]).
    #[error("a plaintext of {len} bytes is over the {max}-byte limit of a sealed value")]
    TooLarge { len: usize, max: usize },
    /// The database failed; [`KeyError::is_retryable`] says whether trying again may help.
    #[error("the key store's database failed")]
    Store(#[from] StoreError),
}

impl KeyError {
    /// Whether the same call may succeed later (the database was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_retryable())
    }
}

impl From<sqlx::Error> for KeyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

/// Which part of a [`KeyError::Corrupt`] failed to decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damaged {
    /// The stored key did not unwrap under the master key: the row was altered or copied from
    /// another, or the master key is the wrong one (then every key fails this way).
    WrappedKey,
    /// The key unwrapped but the sealed value did not open under it: the value was altered,
    /// truncated, is not base64, or was sealed under another key.
    Sealed,
}

impl fmt::Display for Damaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WrappedKey => "the wrapped key",
            Self::Sealed => "the sealed value",
        })
    }
}

/// A master key that is not the standard base64 of 32 bytes. The message never repeats the
/// text it was given.
#[derive(Debug, thiserror::Error)]
#[error("a master key is 32 bytes in standard base64 (44 characters)")]
pub struct InvalidMasterKey;
