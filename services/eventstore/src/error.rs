use uuid::Uuid;

use crate::{ExpectedVersion, StreamId};

/// What can go wrong in the store, in variants a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A stream was not at the version the append expected; nothing was written.
    #[error("stream {stream} was expected at {expected} but is at version {actual}")]
    Conflict {
        stream: StreamId,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// An event id was reused for different content, or a request mixes already-stored and new
    /// events; nothing was written.
    #[error("event {event_id} was already stored with different content or in another append")]
    DuplicateEvent { event_id: Uuid },
    /// The request itself is malformed; nothing was written.
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The database could not be reached or is shutting down: retrying later may succeed.
    #[error("the event store is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database answers but its schema is not the one this build expects: a migration is
    /// missing, failed part-way or was changed after it was applied.
    #[error("the database schema is not ready: {0}")]
    NotReady(String),
    /// Stored data does not match its own hashes: the log has been tampered with or corrupted.
    #[error("integrity failure: {0}")]
    Integrity(String),
    #[error("unexpected event store failure")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn unexpected(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(error))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => Self::Unavailable(error),
            // A connection closed before the server answered the TLS negotiation, as a TCP
            // proxy (HAProxy in front of Patroni's primary) does while no server is behind
            // it: the database is away, not broken.
            sqlx::Error::Protocol(ref message)
                if message.starts_with("unexpected response from SSLRequest") =>
            {
                Self::Unavailable(error)
            }
            sqlx::Error::Database(ref db) if db.code().is_some_and(|c| is_outage_code(&c)) => {
                Self::Unavailable(error)
            }
            other => Self::unexpected(other),
        }
    }
}

/// Whether a PostgreSQL error code (SQLSTATE) says the database is away or not yet ready for
/// writes, so that the same call may succeed later:
/// - class 08, the connection failed or was lost;
/// - 57P01–57P05, the server is shutting down, crashed, or cannot accept connections yet
///   (still starting, or in recovery);
/// - 25006, a write reached a server that is read-only: a standby that is being promoted, or
///   a primary that started in recovery and is not yet accepting writes, as happens in the
///   moments when a highly available pair starts again;
/// - class 53, the server lacks resources for now (too many connections while every node's
///   pool reconnects at once, out of memory or disk).
fn is_outage_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P0") || code == "25006" || code.starts_with("53")
}

/// A value the store was given (or read) that the domain's types refuse.
impl From<confide_domain::DomainError> for StoreError {
    fn from(error: confide_domain::DomainError) -> Self {
        Self::Invalid(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn a_connection_closed_during_tls_negotiation_is_an_outage_and_other_protocol_errors_are_not() {
        let closed = sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x00 (sqlx_postgres::connection::tls:95)".into(),
        );
        assert!(StoreError::from(closed).is_retryable());
        let garbled = sqlx::Error::Protocol("unexpected message".into());
        assert!(!StoreError::from(garbled).is_retryable());
    }

    #[test]
    fn a_database_away_or_not_yet_writable_is_an_outage_and_a_wrong_statement_is_not() {
        for code in [
            "08006", "08001", "57P01", "57P03", "25006", "53300", "53100",
        ] {
            assert!(super::is_outage_code(code), "{code}");
        }
        // A syntax error, a unique violation, a check violation, a serialisation failure
        // (the store's own conflict handling answers it) and a cancelled statement.
        for code in ["42601", "23505", "23514", "40001", "57014", "25P02"] {
            assert!(!super::is_outage_code(code), "{code}");
        }
    }
}
