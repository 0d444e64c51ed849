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

/// What can go wrong with a blob store, in variants a caller can act on.
///
/// Messages name object keys and byte offsets, never the bytes of an object.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No object is stored under the key.
    #[error("no object is stored under {key}")]
    NotFound { key: String },
    /// The text is not a valid object key (see [`crate::BlobKey`]).
    #[error("{key:?} is not a valid object key: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// The range asked for is empty or reversed.
    #[error("the byte range {start}..{end} is empty")]
    EmptyRange { start: u64, end: u64 },
    /// The range starts at or past the end of the object.
    #[error("the byte range starting at {start} begins past the end of {key}")]
    RangeNotSatisfiable { key: String, start: u64 },
    /// The body given to [`crate::BlobStore::put`] failed; nothing was stored.
    #[error("the body of the object failed; nothing was stored")]
    Body(#[source] std::io::Error),
    /// The store itself failed (the disk, the S3 service or the network);
    /// [`BlobError::is_retryable`] says whether trying again may help. A failed write leaves
    /// nothing behind.
    #[error("the blob store failed to {operation}")]
    Store {
        operation: &'static str,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BlobError {
    /// Whether the same call may succeed later: the store was unreachable, timed out or
    /// reported a transient failure.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Store {
                retryable: true,
                ..
            }
        )
    }

    /// A failure of the local file system during `operation`.
    pub(crate) fn io(operation: &'static str, error: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let retryable = matches!(
            error.kind(),
            ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock
        );
        Self::Store {
            operation,
            retryable,
            source: Box::new(error),
        }
    }
}

/// What can go wrong with encrypted media, in variants a caller can act on.
///
/// Messages never carry key material, plaintext or ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No media object is stored under the key.
    #[error("no media object is stored under {key}")]
    NotFound { key: String },
    /// The object does not start with a media header this build reads: it is not Confide
    /// media, or a later format version.
    #[error("the object is not Confide media of a format this build reads")]
    UnsupportedFormat,
    /// No media object has this length: it was truncated or extended.
    #[error("{len} bytes is not the length of any encrypted media object")]
    InvalidLength { len: u64 },
    /// A chunk failed authentication: the object was altered, truncated, reordered or spliced
    /// from another object, or it is decrypted under the wrong key or with the wrong associated
    /// data (another tenant or recording). No byte of that chunk is ever yielded.
    #[error("chunk {chunk} of the media does not authenticate")]
    Unauthentic { chunk: u64 },
    /// The plaintext range asked for is empty or reversed.
    #[error("the byte range {start}..{end} is empty")]
    EmptyRange { start: u64, end: u64 },
    /// The plaintext range asked for reaches past the end of the media.
    #[error("the byte range {start}..{end} reaches past the end of the media")]
    OutOfRange { start: u64, end: u64 },
    /// The blob store failed; [`MediaError::is_retryable`] says whether trying again may help.
    #[error("reading the media from the blob store failed")]
    Blob(#[source] BlobError),
}

impl MediaError {
    /// Whether the same call may succeed later (the blob store failed transiently).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Blob(error) if error.is_retryable())
    }
}

/// So a decrypted range can serve as an HTTP body or an `AsyncRead` directly.
impl From<MediaError> for std::io::Error {
    fn from(error: MediaError) -> Self {
        let kind = match &error {
            MediaError::NotFound { .. } => std::io::ErrorKind::NotFound,
            MediaError::EmptyRange { .. } | MediaError::OutOfRange { .. } => {
                std::io::ErrorKind::InvalidInput
            }
            MediaError::UnsupportedFormat
            | MediaError::InvalidLength { .. }
            | MediaError::Unauthentic { .. } => std::io::ErrorKind::InvalidData,
            MediaError::Blob(_) => std::io::ErrorKind::Other,
        };
        Self::new(kind, error)
    }
}
