//! The stored form of an event, read the same way from both backends.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{RecordedEvent, StoreError, StreamId, TenantId, Upcasters};

/// The columns of an event as read, in the order `EventRow` decodes them.
pub(crate) const EVENT_COLUMNS: &str = "tenant_id, sequence, event_id, stream_id, stream_version, \
     event_type, schema_version, payload, metadata, recorded_at, leaf_hash";

pub(crate) struct EventRow {
    tenant_id: String,
    sequence: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    payload: String,
    metadata: String,
    recorded_at: DateTime<Utc>,
    leaf_hash: Vec<u8>,
}

/// Decoded by position, in the order of [`EVENT_COLUMNS`]: reading a log is mostly this.
impl<'r, R> sqlx::FromRow<'r, R> for EventRow
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tenant_id: row.try_get(0)?,
            sequence: row.try_get(1)?,
            event_id: row.try_get(2)?,
            stream_id: row.try_get(3)?,
            stream_version: row.try_get(4)?,
            event_type: row.try_get(5)?,
            schema_version: row.try_get(6)?,
            payload: row.try_get(7)?,
            metadata: row.try_get(8)?,
            recorded_at: row.try_get(9)?,
            leaf_hash: row.try_get(10)?,
        })
    }
}

/// Decodes rows into events as they arrive, so decoding overlaps with the database sending
/// the rest of a large batch.
pub(crate) async fn collect_events<'e>(
    mut rows: futures_util::stream::BoxStream<'e, Result<EventRow, sqlx::Error>>,
    upcasters: &Upcasters,
) -> Result<Vec<RecordedEvent>, StoreError> {
    use futures_util::TryStreamExt;
    let mut events = Vec::new();
    while let Some(row) = rows.try_next().await? {
        events.push(row.into_event(upcasters)?);
    }
    Ok(events)
}

impl EventRow {
    pub(crate) fn into_event(self, upcasters: &Upcasters) -> Result<RecordedEvent, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Integrity(format!(
                "event {} of tenant {} has {what}",
                self.sequence, self.tenant_id
            ))
        };
        let leaf_hash: [u8; 32] = self
            .leaf_hash
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("a leaf hash that is not 32 bytes"))?;
        let payload =
            serde_json::from_str(&self.payload).map_err(|_| corrupt("invalid payload JSON"))?;
        let metadata =
            serde_json::from_str(&self.metadata).map_err(|_| corrupt("invalid metadata JSON"))?;
        let schema_version =
            u32::try_from(self.schema_version).map_err(|_| corrupt("a negative schema version"))?;
        let mut event = RecordedEvent {
            tenant_id: TenantId::parse(&self.tenant_id)
                .map_err(|_| corrupt("an invalid tenant id"))?,
            sequence: u64::try_from(self.sequence).map_err(|_| corrupt("a negative sequence"))?,
            event_id: self.event_id,
            stream_id: StreamId::parse(&self.stream_id)?,
            stream_version: u64::try_from(self.stream_version)
                .map_err(|_| corrupt("a negative stream version"))?,
            event_type: self.event_type,
            schema_version,
            stored_schema_version: schema_version,
            payload,
            metadata,
            recorded_at: self.recorded_at,
            leaf_hash,
        };
        upcasters.upcast(&mut event);
        Ok(event)
    }
}

pub(crate) fn into_events(
    rows: Vec<EventRow>,
    upcasters: &Upcasters,
) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(|r| r.into_event(upcasters)).collect()
}

/// Sizes and counts travel as BIGINT; they never come near 2^63.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn to_hash(bytes: &[u8]) -> Result<confide_audit::merkle::Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Integrity("a stored hash is not 32 bytes".into()))
}

/// A `checkpoints` row: (tree size, key id, root, note, signed at).
pub(crate) type CheckpointRow = (i64, String, Vec<u8>, String, DateTime<Utc>);

pub(crate) fn stored_checkpoint(
    tenant: &TenantId,
    (size, key_id, root, note, signed_at): CheckpointRow,
) -> Result<crate::StoredCheckpoint, StoreError> {
    Ok(crate::StoredCheckpoint {
        tenant_id: tenant.clone(),
        tree_size: to_u64(size),
        root: to_hash(&root)?,
        key_id,
        note,
        signed_at,
    })
}
