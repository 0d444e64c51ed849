//! Lists kept by asynchronous projections: their rows follow the log a moment behind it, and
//! are rebuilt from it at will (`ProjectionRunner::rebuild`).
//!
//! - `recording_list`: one row per recording — who, when, which medium, its state, when its
//!   destruction is due, and how often it was played or refused.
//! - `memberships`: who belongs to the tenant with which roles. It is registered inline, in
//!   the append's transaction, so it is never behind the log; it rebuilds like the others.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use confide_domain::Event;
use confide_domain::aggregates::recording::RecordingEvent;
use confide_eventstore::{
    AsyncProjection, InlineProjection, PgEventStore, RecordedEvent, SqliteEventStore, StoreError,
    TenantId,
};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};
use uuid::Uuid;

/// One row of the recording list.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordingRow {
    pub recording_id: Uuid,
    pub client_id: Uuid,
    pub practitioner: String,
    pub session_on: NaiveDate,
    pub medium: String,
    /// `awaiting_upload`, `stored` or `destroyed`.
    pub status: String,
    pub destruction_due: Option<DateTime<Utc>>,
    pub plays: i64,
    pub refusals: i64,
}

/// What one event changes in the list.
enum Change {
    Created {
        client_id: Uuid,
        practitioner: String,
        session_on: NaiveDate,
        medium: String,
    },
    Status(&'static str),
    DestructionDue(DateTime<Utc>),
    Played,
    Refused,
}

/// The recording an event belongs to (its stream is `recording-<id>`) and what it changes.
fn change_of(event: &RecordedEvent) -> Result<Option<(Uuid, Change)>, StoreError> {
    let Some(id) = event.stream_id.as_str().strip_prefix("recording-") else {
        return Ok(None);
    };
    let recording_id = Uuid::parse_str(id).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let Ok(Event::Recording(recording_event)) =
        Event::from_stored(&event.event_type, event.schema_version, &event.payload)
    else {
        return Ok(None);
    };
    let change = match recording_event {
        RecordingEvent::RecordingCreated {
            client_id,
            practitioner,
            session_on,
            medium,
            ..
        } => Change::Created {
            client_id: client_id.as_uuid(),
            practitioner: practitioner.as_str().to_owned(),
            session_on,
            medium: medium.as_str().to_owned(),
        },
        RecordingEvent::RecordingStored { .. } => Change::Status("stored"),
        RecordingEvent::RecordingDestroyed { .. } => Change::Status("destroyed"),
        RecordingEvent::RecordingDestructionScheduled { due, .. } => Change::DestructionDue(due),
        RecordingEvent::PlaybackStarted { .. } => Change::Played,
        RecordingEvent::PlaybackRefused { .. } => Change::Refused,
        _ => return Ok(None),
    };
    Ok(Some((recording_id, change)))
}

/// The asynchronous projection behind `recording_list`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordingList;

/// The projection for one backend, with its statements in its dialect (parameters: tenant,
/// recording, then the change's values).
macro_rules! recording_list_for {
    ($db:ty, $conn:ty, $insert:expr, $status:expr, $due:expr, $played:expr, $refused:expr) => {
        #[async_trait]
        impl AsyncProjection<$db> for RecordingList {
            fn name(&self) -> &'static str {
                "recording_list"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                event: &RecordedEvent,
            ) -> Result<(), StoreError> {
                let Some((recording_id, change)) = change_of(event)? else {
                    return Ok(());
                };
                let tenant = event.tenant_id.as_str();
                let statement = match change {
                    Change::Created {
                        client_id,
                        practitioner,
                        session_on,
                        medium,
                    } => sqlx::query($insert)
                        .bind(tenant)
                        .bind(recording_id)
                        .bind(client_id)
                        .bind(practitioner)
                        .bind(session_on)
                        .bind(medium),
                    Change::Status(status) => sqlx::query($status)
                        .bind(tenant)
                        .bind(recording_id)
                        .bind(status),
                    Change::DestructionDue(due) => {
                        sqlx::query($due).bind(tenant).bind(recording_id).bind(due)
                    }
                    Change::Played => sqlx::query($played).bind(tenant).bind(recording_id),
                    Change::Refused => sqlx::query($refused).bind(tenant).bind(recording_id),
                };
                statement.execute(&mut *conn).await?;
                Ok(())
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM recording_list")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }
    };
}

recording_list_for!(
    Postgres,
    PgConnection,
    "INSERT INTO recording_list (tenant_id, recording_id, client_id, practitioner, session_on, medium, status)
     VALUES ($1, $2, $3, $4, $5, $6, 'awaiting_upload') ON CONFLICT DO NOTHING",
    "UPDATE recording_list SET status = $3 WHERE tenant_id = $1 AND recording_id = $2",
    "UPDATE recording_list SET destruction_due = $3 WHERE tenant_id = $1 AND recording_id = $2",
    "UPDATE recording_list SET plays = plays + 1 WHERE tenant_id = $1 AND recording_id = $2",
    "UPDATE recording_list SET refusals = refusals + 1 WHERE tenant_id = $1 AND recording_id = $2"
);

recording_list_for!(
    Sqlite,
    SqliteConnection,
    "INSERT INTO recording_list (tenant_id, recording_id, client_id, practitioner, session_on, medium, status)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'awaiting_upload') ON CONFLICT DO NOTHING",
    "UPDATE recording_list SET status = ?3 WHERE tenant_id = ?1 AND recording_id = ?2",
    "UPDATE recording_list SET destruction_due = ?3 WHERE tenant_id = ?1 AND recording_id = ?2",
    "UPDATE recording_list SET plays = plays + 1 WHERE tenant_id = ?1 AND recording_id = ?2",
    "UPDATE recording_list SET refusals = refusals + 1 WHERE tenant_id = ?1 AND recording_id = ?2"
);

/// One member of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: String,
    /// Role names, sorted.
    #[sqlx(try_from = "String")]
    pub roles: RoleNames,
}

/// Role names as the `memberships` table keeps them: sorted, comma-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleNames(pub Vec<String>);

impl From<String> for RoleNames {
    fn from(joined: String) -> Self {
        Self(
            joined
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// What a tenant-stream event changes in `memberships`: (user, new roles or none if removed).
fn membership_change(event: &RecordedEvent) -> Option<(String, Option<String>)> {
    if event.stream_id.as_str() != "tenant" {
        return None;
    }
    let user = event.payload["user_id"].as_str()?.to_owned();
    let roles = || {
        let mut roles: Vec<&str> = event.payload["roles"]
            .as_array()
            .map(|roles| roles.iter().filter_map(|r| r.as_str()).collect())
            .unwrap_or_default();
        roles.sort_unstable();
        roles.join(",")
    };
    match event.event_type.as_str() {
        "MemberAdded" | "MemberRolesChanged" => Some((user, Some(roles()))),
        "MemberRemoved" => Some((user, None)),
        _ => None,
    }
}

/// The projection behind `memberships`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memberships;

macro_rules! memberships_for {
    ($db:ty, $conn:ty, $upsert:expr, $delete:expr) => {
        #[async_trait]
        impl AsyncProjection<$db> for Memberships {
            fn name(&self) -> &'static str {
                "memberships"
            }

            async fn apply(
                &self,
                conn: &mut $conn,
                event: &RecordedEvent,
            ) -> Result<(), StoreError> {
                let Some((user, roles)) = membership_change(event) else {
                    return Ok(());
                };
                let tenant = event.tenant_id.as_str();
                match roles {
                    Some(roles) => {
                        sqlx::query($upsert)
                            .bind(tenant)
                            .bind(user)
                            .bind(roles)
                            .execute(&mut *conn)
                            .await?
                    }
                    None => {
                        sqlx::query($delete)
                            .bind(tenant)
                            .bind(user)
                            .execute(&mut *conn)
                            .await?
                    }
                };
                Ok(())
            }

            async fn reset(&self, conn: &mut $conn) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM memberships")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl InlineProjection<$db> for Memberships {
            fn name(&self) -> &'static str {
                "memberships"
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
    };
}

memberships_for!(
    Postgres,
    PgConnection,
    "INSERT INTO memberships (tenant_id, user_id, roles) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, user_id) DO UPDATE SET roles = excluded.roles",
    "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2"
);

memberships_for!(
    Sqlite,
    SqliteConnection,
    "INSERT INTO memberships (tenant_id, user_id, roles) VALUES (?1, ?2, ?3)
     ON CONFLICT (tenant_id, user_id) DO UPDATE SET roles = excluded.roles",
    "DELETE FROM memberships WHERE tenant_id = ?1 AND user_id = ?2"
);

/// Reads the lists.
#[async_trait]
pub trait Lists: Send + Sync {
    /// A tenant's recordings, by session date.
    async fn recording_list(&self, tenant: &TenantId) -> Result<Vec<RecordingRow>, StoreError>;

    /// A tenant's members, by user id.
    async fn members(&self, tenant: &TenantId) -> Result<Vec<MemberRow>, StoreError>;
}

const RECORDING_LIST_COLUMNS: &str = "recording_id, client_id, practitioner, session_on, medium, \
     status, destruction_due, plays, refusals";

#[async_trait]
impl Lists for PgEventStore {
    async fn recording_list(&self, tenant: &TenantId) -> Result<Vec<RecordingRow>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {RECORDING_LIST_COLUMNS} FROM recording_list WHERE tenant_id = $1
              ORDER BY session_on, recording_id"
        ))
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn members(&self, tenant: &TenantId) -> Result<Vec<MemberRow>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows = sqlx::query_as(
            "SELECT user_id, roles FROM memberships WHERE tenant_id = $1 ORDER BY user_id",
        )
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

#[async_trait]
impl Lists for SqliteEventStore {
    async fn recording_list(&self, tenant: &TenantId) -> Result<Vec<RecordingRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RECORDING_LIST_COLUMNS} FROM recording_list WHERE tenant_id = ?1
              ORDER BY session_on, recording_id"
        ))
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    async fn members(&self, tenant: &TenantId) -> Result<Vec<MemberRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT user_id, roles FROM memberships WHERE tenant_id = ?1 ORDER BY user_id",
        )
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?)
    }
}
