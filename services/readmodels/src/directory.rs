//! Lists that grow, read a page at a time, and the client directory (migration 0011).
//!
//! - [`PagedReads`]: keyset pages of the read models — the rows after the last key seen, in
//!   key order, with `LIMIT` in the query — so a page costs the same however long the list.
//! - [`ClientDirectory`]: an inline projection of which practitioners each client is the
//!   client of (who registered them, who asked them for consent), and the erasure of a
//!   client's name tokens in the erasure's own transaction.
//! - The blind index of clients' names (`client_name_tokens`): keyed hashes of name tokens,
//!   written by the application, which alone holds the key; this crate never sees a name.

use async_trait::async_trait;
use confide_eventstore::{
    AsyncProjection, InlineProjection, PgEventStore, RecordedEvent, SqliteEventStore, StoreError,
    StreamId, TenantId,
};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

use crate::links::Subject;
use crate::states::StoredState;

/// Which clients a page lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientFilter {
    /// Only this practitioner's clients; every client of the tenant when none.
    pub practitioner: Option<String>,
    /// Only clients whose name has every one of these tokens (keyed hashes); no search when
    /// none.
    pub tokens: Option<Vec<String>>,
}

/// Keyset pages of the read models, and the name index's writes.
#[async_trait]
pub trait PagedReads: Send + Sync {
    /// The states of `kind` whose stream comes after `after`, in stream order, at most
    /// `limit`.
    async fn states_of_kind_page(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError>;

    /// The states of `kind` linked to `subject` whose stream comes after `after`, in stream
    /// order, at most `limit`.
    async fn linked_states_page(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError>;

    /// The clients `filter` selects whose stream comes after `after`, in stream order, at
    /// most `limit`.
    async fn clients_page(
        &self,
        tenant: &TenantId,
        filter: &ClientFilter,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError>;

    /// Records a client's name tokens (none for an erased client) and that the client is
    /// indexed. Idempotent.
    async fn index_client_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
        tokens: &[String],
    ) -> Result<(), StoreError>;

    /// Forgets a client's name tokens.
    async fn forget_client_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
    ) -> Result<(), StoreError>;

    /// Clients not indexed yet (registered before the index, or whose indexing was cut
    /// short), at most `limit`.
    async fn unindexed_clients(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError>;
}

type StateRow = (String, i64, String);

fn states(rows: Vec<StateRow>) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
    rows.into_iter()
        .map(|(stream, version, state)| {
            Ok((StreamId::parse(&stream)?, (version.unsigned_abs(), state)))
        })
        .collect()
}

fn after_key(after: Option<&StreamId>) -> &str {
    after.map_or("", StreamId::as_str)
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// On PostgreSQL each read is one call of a function of migration 0011 that sets the tenant
/// for row-level security and selects.
#[async_trait]
impl PagedReads for PgEventStore {
    async fn states_of_kind_page(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> =
            sqlx::query_as("SELECT * FROM confide_states_of_kind_page($1, $2, $3, $4)")
                .bind(tenant.as_str())
                .bind(kind)
                .bind(after_key(after))
                .bind(i32::try_from(limit).unwrap_or(i32::MAX))
                .fetch_all(self.pool())
                .await?;
        states(rows)
    }

    async fn linked_states_page(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> =
            sqlx::query_as("SELECT * FROM confide_linked_states_page($1, $2, $3, $4, $5)")
                .bind(tenant.as_str())
                .bind(subject.key())
                .bind(kind)
                .bind(after_key(after))
                .bind(i32::try_from(limit).unwrap_or(i32::MAX))
                .fetch_all(self.pool())
                .await?;
        states(rows)
    }

    async fn clients_page(
        &self,
        tenant: &TenantId,
        filter: &ClientFilter,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> =
            sqlx::query_as("SELECT * FROM confide_clients_page($1, $2, $3, $4, $5)")
                .bind(tenant.as_str())
                .bind(filter.practitioner.as_deref())
                .bind(filter.tokens.as_deref())
                .bind(after_key(after))
                .bind(i32::try_from(limit).unwrap_or(i32::MAX))
                .fetch_all(self.pool())
                .await?;
        states(rows)
    }

    async fn index_client_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
        tokens: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT confide_index_client_name($1, $2, $3)")
            .bind(tenant.as_str())
            .bind(client.as_str())
            .bind(tokens)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn forget_client_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT confide_forget_client_name($1, $2)")
            .bind(tenant.as_str())
            .bind(client.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn unindexed_clients(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as("SELECT * FROM confide_unindexed_clients($1, $2)")
            .bind(tenant.as_str())
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }
}

// SQLite's statements: the same queries as the PostgreSQL functions.
const STATES_OF_KIND_PAGE: &str = "SELECT stream_id, version, state FROM aggregate_states
      WHERE tenant_id = ?1 AND kind = ?2 AND stream_id > ?3
      ORDER BY stream_id LIMIT ?4";
const LINKED_STATES_PAGE: &str = "SELECT l.stream_id, s.version, s.state
       FROM stream_links l
       JOIN aggregate_states s ON s.tenant_id = l.tenant_id AND s.stream_id = l.stream_id
      WHERE l.tenant_id = ?1 AND l.subject = ?2 AND l.stream_id > ?4 AND s.kind = ?3
      ORDER BY l.stream_id LIMIT ?5";
const CLIENTS_MATCHING_PAGE: &str = "SELECT s.stream_id, s.version, s.state
       FROM (SELECT t.client_stream FROM client_name_tokens t
              WHERE t.tenant_id = ?1 AND t.token IN (SELECT value FROM json_each(?3))
                AND t.client_stream > ?4
                AND (?2 IS NULL OR EXISTS (
                     SELECT 1 FROM client_practitioners p
                      WHERE p.tenant_id = t.tenant_id AND p.practitioner = ?2
                        AND p.client_stream = t.client_stream))
              GROUP BY t.client_stream
             HAVING count(DISTINCT t.token) = json_array_length(?3)
              ORDER BY t.client_stream
              LIMIT ?5) m
       JOIN aggregate_states s ON s.tenant_id = ?1 AND s.stream_id = m.client_stream
      ORDER BY s.stream_id";
const CLIENTS_OF_PAGE: &str = "SELECT s.stream_id, s.version, s.state
       FROM client_practitioners p
       JOIN aggregate_states s ON s.tenant_id = p.tenant_id AND s.stream_id = p.client_stream
      WHERE p.tenant_id = ?1 AND p.practitioner = ?2 AND p.client_stream > ?3
      ORDER BY p.client_stream LIMIT ?4";
const UNINDEXED_CLIENTS: &str = "SELECT s.stream_id, s.version, s.state FROM aggregate_states s
      WHERE s.tenant_id = ?1 AND s.kind = 'client'
        AND NOT EXISTS (SELECT 1 FROM client_name_index i
                         WHERE i.tenant_id = s.tenant_id AND i.client_stream = s.stream_id)
      ORDER BY s.stream_id LIMIT ?2";

/// On SQLite each write is one statement that commits on its own, waiting for the event
/// store's writer (the busy timeout) rather than failing, as the key store's do.
#[async_trait]
impl PagedReads for SqliteEventStore {
    async fn states_of_kind_page(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(STATES_OF_KIND_PAGE)
            .bind(tenant.as_str())
            .bind(kind)
            .bind(after_key(after))
            .bind(limit_of(limit))
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }

    async fn linked_states_page(
        &self,
        tenant: &TenantId,
        subject: &Subject,
        kind: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(LINKED_STATES_PAGE)
            .bind(tenant.as_str())
            .bind(subject.key())
            .bind(kind)
            .bind(after_key(after))
            .bind(limit_of(limit))
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }

    async fn clients_page(
        &self,
        tenant: &TenantId,
        filter: &ClientFilter,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = match (&filter.tokens, &filter.practitioner) {
            (Some(tokens), practitioner) => {
                let tokens = serde_json::to_string(tokens)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                sqlx::query_as(CLIENTS_MATCHING_PAGE)
                    .bind(tenant.as_str())
                    .bind(practitioner.as_deref())
                    .bind(tokens)
                    .bind(after_key(after))
                    .bind(limit_of(limit))
                    .fetch_all(self.pool())
                    .await?
            }
            (None, Some(practitioner)) => {
                sqlx::query_as(CLIENTS_OF_PAGE)
                    .bind(tenant.as_str())
                    .bind(practitioner)
                    .bind(after_key(after))
                    .bind(limit_of(limit))
                    .fetch_all(self.pool())
                    .await?
            }
            (None, None) => {
                return self
                    .states_of_kind_page(tenant, "client", after, limit)
                    .await;
            }
        };
        states(rows)
    }

    async fn index_client_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
        tokens: &[String],
    ) -> Result<(), StoreError> {
        let tokens =
            serde_json::to_string(tokens).map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO client_name_tokens (tenant_id, token, client_stream)
             SELECT ?1, value, ?2 FROM json_each(?3) WHERE true
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(client.as_str())
        .bind(tokens)
        .execute(self.pool())
        .await?;
        sqlx::query(
            "INSERT INTO client_name_index (tenant_id, client_stream) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(client.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn forget_client_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM client_name_tokens WHERE tenant_id = ?1 AND client_stream = ?2")
            .bind(tenant.as_str())
            .bind(client.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn unindexed_clients(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<(StreamId, StoredState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(UNINDEXED_CLIENTS)
            .bind(tenant.as_str())
            .bind(limit_of(limit))
            .fetch_all(self.pool())
            .await?;
        states(rows)
    }
}

/// What an event changes in the directory.
enum Change {
    /// `client_stream` is a client of `practitioner`.
    Practitioner {
        practitioner: String,
        client_stream: String,
    },
    /// The client of this stream was erased: their name tokens go.
    Erased { client_stream: String },
}

fn change_of(event: &RecordedEvent) -> Option<Change> {
    let field = |name: &str| event.payload[name].as_str().map(str::to_owned);
    let client_stream = || field("client_id").map(|id| format!("client-{id}"));
    match event.event_type.as_str() {
        "ClientRegistered" if event.payload["by"]["kind"] == "user" => Some(Change::Practitioner {
            practitioner: event.payload["by"]["user_id"].as_str()?.to_owned(),
            client_stream: client_stream()?,
        }),
        "ConsentRequested" | "ConsentNoticeGiven" => Some(Change::Practitioner {
            practitioner: field("practitioner")?,
            client_stream: client_stream()?,
        }),
        "ClientErased" => Some(Change::Erased {
            client_stream: event.stream_id.as_str().to_owned(),
        }),
        _ => None,
    }
}

/// The inline projection; register it on the store with `with_inline_projection`. Also an
/// asynchronous projection, so a `ProjectionRunner` can rebuild it from the log; a rebuild
/// forgets the name index too, which the application fills again (it holds the key).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientDirectory;

const PRACTITIONER_PG: &str = "INSERT INTO client_practitioners (tenant_id, practitioner, client_stream) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const PRACTITIONER_SQLITE: &str = "INSERT INTO client_practitioners (tenant_id, practitioner, client_stream) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
const ERASED_PG: &str =
    "DELETE FROM client_name_tokens WHERE tenant_id = $1 AND client_stream = $2";
const ERASED_SQLITE: &str =
    "DELETE FROM client_name_tokens WHERE tenant_id = ?1 AND client_stream = ?2";
const RESET: [&str; 3] = [
    "DELETE FROM client_practitioners",
    "DELETE FROM client_name_tokens",
    "DELETE FROM client_name_index",
];

/// The projection for one backend: its connection type and its statements' dialect.
macro_rules! client_directory_for {
    ($db:ty, $conn:ty, $practitioner:expr, $erased:expr) => {
        #[async_trait]
        impl InlineProjection<$db> for ClientDirectory {
            fn name(&self) -> &'static str {
                "client_directory"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                events: &[RecordedEvent],
            ) -> Result<(), StoreError> {
                for event in events {
                    AsyncProjection::<$db>::apply(self, conn, event).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl AsyncProjection<$db> for ClientDirectory {
            fn name(&self) -> &'static str {
                "client_directory"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                event: &RecordedEvent,
            ) -> Result<(), StoreError> {
                match change_of(event) {
                    Some(Change::Practitioner {
                        practitioner,
                        client_stream,
                    }) => {
                        sqlx::query($practitioner)
                            .bind(event.tenant_id.as_str())
                            .bind(practitioner)
                            .bind(client_stream)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Some(Change::Erased { client_stream }) => {
                        sqlx::query($erased)
                            .bind(event.tenant_id.as_str())
                            .bind(client_stream)
                            .execute(&mut *conn)
                            .await?;
                    }
                    None => {}
                }
                Ok(())
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                for statement in RESET {
                    sqlx::query(statement).execute(&mut *conn).await?;
                }
                Ok(())
            }
        }
    };
}

client_directory_for!(Postgres, PgConnection, PRACTITIONER_PG, ERASED_PG);
client_directory_for!(Sqlite, SqliteConnection, PRACTITIONER_SQLITE, ERASED_SQLITE);
