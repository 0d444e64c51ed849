//! The event envelope: the record of one event that is hashed into a tenant's
//! tree. Its leaf data is the RFC 8785 canonical JSON of the envelope (see
//! [`crate::canonical`]), so an auditor can recompute every leaf hash from an
//! export with any JCS implementation.

use serde_json::json;

use crate::canonical::{self, CanonicalError};
use crate::merkle::{self, Hash};

/// One event as it is committed to the log. The member names of the
/// canonical JSON are the field names; they are a public contract.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The tenant whose log holds the event.
    pub tenant_id: String,
    /// The event's position in the tenant's log: its leaf index.
    pub sequence: u64,
    /// The event's unique id.
    pub event_id: String,
    /// The stream (aggregate) the event belongs to.
    pub stream_id: String,
    /// The event's version within its stream.
    pub stream_version: u64,
    /// The stable type string of the event, e.g. `ConsentGranted`.
    pub event_type: String,
    /// The version of the payload's schema.
    pub schema_version: u32,
    /// The event's data. Numbers in it must be integers in the safe range.
    pub payload: serde_json::Value,
    /// Data about the event (actor, request id, ...), same number rule.
    pub metadata: serde_json::Value,
    /// When the event was recorded: RFC 3339 in UTC with exactly six
    /// fractional digits and a `Z`, e.g. `2026-11-23T10:00:00.123456Z`. The
    /// caller formats it; this type keeps the string as given.
    pub recorded_at: String,
}

impl Envelope {
    /// The RFC 8785 canonical JSON of the envelope: an object with exactly
    /// the members `event_id`, `event_type`, `metadata`, `payload`,
    /// `recorded_at`, `schema_version`, `sequence`, `stream_id`,
    /// `stream_version` and `tenant_id`. Fails if `sequence` or
    /// `stream_version` exceed 2^53 - 1, or if the payload or metadata hold
    /// a number that is not a safe integer.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        // The members are spelled out rather than derived from `Serialize`
        // so that a serde attribute can never change the hashed form.
        let value = json!({
            "event_id": self.event_id,
            "event_type": self.event_type,
            "metadata": self.metadata,
            "payload": self.payload,
            "recorded_at": self.recorded_at,
            "schema_version": self.schema_version,
            "sequence": self.sequence,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "tenant_id": self.tenant_id,
        });
        canonical::to_canonical_vec(&value)
    }

    /// The Merkle leaf hash of the envelope: `SHA-256(0x00 || canonical
    /// bytes)`.
    pub fn leaf_hash(&self) -> Result<Hash, CanonicalError> {
        Ok(merkle::leaf_hash(&self.canonical_bytes()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            tenant_id: "tenant-7".to_owned(),
            sequence: 42,
            event_id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            stream_id: "consent/0193a1b2-0000-7000-8000-000000000001".to_owned(),
            stream_version: 3,
            event_type: "ConsentGranted".to_owned(),
            schema_version: 1,
            payload: json!({
                "purpose": "recording",
                "subject": "Zoë \u{1f600}",
                "scopes": ["audio", "video"],
                "retention_days": 30,
            }),
            metadata: json!({ "actor": "user:9", "note": "line\nbreak \"quoted\"" }),
            recorded_at: "2026-11-23T10:00:00.123456Z".to_owned(),
        }
    }

    /// Pins the hashed form of an envelope: if this changes, every existing
    /// log stops verifying.
    #[test]
    fn canonical_bytes_and_leaf_hash_are_pinned() {
        let envelope = envelope();
        let expected = concat!(
            r#"{"event_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","event_type":"ConsentGranted","#,
            r#""metadata":{"actor":"user:9","note":"line\nbreak \"quoted\""},"#,
            r#""payload":{"purpose":"recording","retention_days":30,"scopes":["audio","video"],"#,
            "\"subject\":\"Zo\u{eb} \u{1f600}\"},",
            r#""recorded_at":"2026-11-23T10:00:00.123456Z","schema_version":1,"sequence":42,"#,
            r#""stream_id":"consent/0193a1b2-0000-7000-8000-000000000001","stream_version":3,"#,
            r#""tenant_id":"tenant-7"}"#,
        );
        let bytes = envelope.canonical_bytes().unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        // Cross-checked independently: for this envelope (ASCII member names,
        // no control characters but a newline) Python's
        // `json.dumps(value, sort_keys=True, separators=(",", ":"),
        // ensure_ascii=False)` gives the same bytes, and SHA-256 of 0x00
        // followed by them is this hash.
        assert_eq!(
            hex::encode(envelope.leaf_hash().unwrap()),
            "eb9e3d2250c24d002f9f6959587c71a442921d66a4c88122a53bf9271f216cb6"
        );
    }

    #[test]
    fn canonical_bytes_do_not_depend_on_serde_field_order() {
        let envelope = envelope();
        let round_tripped: Envelope =
            serde_json::from_str(&serde_json::to_string(&envelope).unwrap()).unwrap();
        assert_eq!(round_tripped, envelope);
        // The derived JSON, canonicalized, is the same object.
        let derived = serde_json::to_value(&envelope).unwrap();
        assert_eq!(
            canonical::to_canonical_vec(&derived).unwrap(),
            envelope.canonical_bytes().unwrap()
        );
    }

    #[test]
    fn rejects_sequences_and_numbers_outside_the_safe_range() {
        let max_safe = (1u64 << 53) - 1;
        let mut envelope = envelope();
        envelope.sequence = max_safe;
        envelope.stream_version = max_safe;
        assert!(envelope.leaf_hash().is_ok());

        let mut too_big = envelope.clone();
        too_big.sequence = max_safe + 1;
        assert_eq!(
            too_big.canonical_bytes(),
            Err(CanonicalError::UnsupportedNumber(
                "9007199254740992".to_owned()
            ))
        );
        let mut too_big = envelope.clone();
        too_big.stream_version = u64::MAX;
        assert!(too_big.leaf_hash().is_err());
        let mut fractional = envelope;
        fractional.payload = json!({ "amount": 1.5 });
        assert_eq!(
            fractional.leaf_hash(),
            Err(CanonicalError::UnsupportedNumber("1.5".to_owned()))
        );
    }
}
