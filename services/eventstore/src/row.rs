//! The stored form of an event, read the same way from both backends.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{RecordedEvent, StoreError, StreamId, TenantId, Upcasters};

#[derive(sqlx::FromRow)]
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
            tenant_id: TenantId::parse(&self.tenant_id)?,
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
