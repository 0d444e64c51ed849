//! What a use case can fail with, in variants a caller can act on. The mapping to wire codes
//! and statuses is the edge's (`api`'s one error table), not the application's.

use confide_domain::DomainError;
use confide_eventstore::{StoreError, StreamId, TenantId};
use confide_vault::{BlobError, KeyError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule refused the command; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept changing what the command depends on; retrying later may succeed.
    #[error("stream {stream} kept changing while the command was decided")]
    Contention { stream: StreamId },
    /// An event could not be encoded as JSON: a bug in an event's definition.
    #[error("an event could not be encoded")]
    Encoding(#[from] serde_json::Error),
    /// The key store failed.
    #[error("the key store failed: {0}")]
    Keys(#[from] KeyError),
    /// The blob store failed.
    #[error("the blob store failed: {0}")]
    Blobs(#[from] BlobError),
    /// The key store or the blob store failed during `step` of a destruction; what was done
    /// before it stays done, and running the step again is safe.
    #[error("the media vault failed {step}: {reason}")]
    Vault {
        step: &'static str,
        reason: String,
        retryable: bool,
    },
    /// An upload's bytes cannot be kept; nothing was stored.
    #[error("{0}")]
    Upload(UploadRefusal),
    /// What was asked for existed and has been destroyed for good.
    #[error("{what} has been destroyed")]
    Gone { what: &'static str },
    /// A stored event could not be read back as a domain event.
    #[error("stored event {sequence} of tenant {tenant} cannot be read: {reason}")]
    UnreadableEvent {
        tenant: TenantId,
        sequence: u64,
        reason: String,
    },
}

impl AppError {
    /// Whether the failure is an outage (the database, the key store or the blob store could
    /// not be reached): the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::Keys(error) => error.is_retryable(),
            Self::Blobs(error) => error.is_retryable(),
            Self::Vault { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Why an upload's bytes were refused. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// The body did not arrive whole (interrupted or truncated).
    #[error("the upload did not arrive whole ({0}); nothing was kept, send it again")]
    Incomplete(String),
    /// The body is empty.
    #[error("the upload is empty")]
    Empty,
    /// The content is not media this recording may keep.
    #[error("{0}; nothing was kept")]
    Unsupported(String),
}
