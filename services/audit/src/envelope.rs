//! The event envelope: the record of one event that is hashed into a tenant's
//! tree. Its leaf data is the RFC 8785 canonical JSON of the envelope (see
//! [`crate::canonical`]), so an auditor can recompute every leaf hash from an
//! export with any JCS implementation.

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
        let payload = canonical::to_canonical_vec(&self.payload)?;
        let metadata = canonical::to_canonical_vec(&self.metadata)?;
        self.header().canonical_bytes(&payload, &metadata)
    }

    /// The Merkle leaf hash of the envelope: `SHA-256(0x00 || canonical
    /// bytes)`.
    pub fn leaf_hash(&self) -> Result<Hash, CanonicalError> {
        Ok(merkle::leaf_hash(&self.canonical_bytes()?))
    }

    /// Every member but the payload and metadata.
    pub fn header(&self) -> EnvelopeHeader<'_> {
        EnvelopeHeader {
            tenant_id: &self.tenant_id,
            sequence: self.sequence,
            event_id: &self.event_id,
            stream_id: &self.stream_id,
            stream_version: self.stream_version,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            recorded_at: &self.recorded_at,
        }
    }
}

/// The members of an envelope other than its payload and metadata, for a writer that holds
/// those two already in canonical form (the event store keeps them so).
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeHeader<'a> {
    pub tenant_id: &'a str,
    pub sequence: u64,
    pub event_id: &'a str,
    pub stream_id: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub recorded_at: &'a str,
}

impl EnvelopeHeader<'_> {
    /// The canonical bytes of the envelope, given the canonical JSON of its payload and
    /// metadata. The members are written in their JCS order (all names are ASCII, so UTF-16
    /// order is byte order) rather than derived from `Serialize`, so that no serde attribute
    /// can ever change the hashed form.
    pub fn canonical_bytes(
        &self,
        canonical_payload: &[u8],
        canonical_metadata: &[u8],
    ) -> Result<Vec<u8>, CanonicalError> {
        for number in [self.sequence, self.stream_version] {
            if number > canonical::MAX_SAFE_INTEGER {
                return Err(CanonicalError::UnsupportedNumber(number.to_string()));
            }
        }
        let mut out = Vec::with_capacity(
            256 + canonical_payload.len() + canonical_metadata.len() + self.stream_id.len(),
        );
        let string = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            canonical::write_string(out, value);
        };
        out.push(b'{');
        string(&mut out, "\"event_id\":", self.event_id);
        string(&mut out, ",\"event_type\":", self.event_type);
        out.extend_from_slice(b",\"metadata\":");
        out.extend_from_slice(canonical_metadata);
        out.extend_from_slice(b",\"payload\":");
        out.extend_from_slice(canonical_payload);
        string(&mut out, ",\"recorded_at\":", self.recorded_at);
        out.extend_from_slice(format!(",\"schema_version\":{}", self.schema_version).as_bytes());
        out.extend_from_slice(format!(",\"sequence\":{}", self.sequence).as_bytes());
        string(&mut out, ",\"stream_id\":", self.stream_id);
        out.extend_from_slice(format!(",\"stream_version\":{}", self.stream_version).as_bytes());
        string(&mut out, ",\"tenant_id\":", self.tenant_id);
        out.push(b'}');
        Ok(out)
    }

    pub fn leaf_hash(
        &self,
        canonical_payload: &[u8],
        canonical_metadata: &[u8],
    ) -> Result<Hash, CanonicalError> {
        Ok(merkle::leaf_hash(
            &self.canonical_bytes(canonical_payload, canonical_metadata)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// The hand-written member order and escaping agree with canonicalising the same object
    /// generically, also for strings that need escapes and characters outside the BMP.
    #[test]
    fn the_direct_writer_agrees_with_generic_canonicalisation() {
        let mut envelope = envelope();
        envelope.tenant_id = "t\u{1}\"\\/\u{7f}é".to_owned();
        envelope.stream_id = "s\u{1f600}\u{e000}\n\t".to_owned();
        envelope.event_type = "\u{8}\u{c}\r".to_owned();
        let generic = json!({
            "event_id": envelope.event_id,
            "event_type": envelope.event_type,
            "metadata": envelope.metadata,
            "payload": envelope.payload,
            "recorded_at": envelope.recorded_at,
            "schema_version": envelope.schema_version,
            "sequence": envelope.sequence,
            "stream_id": envelope.stream_id,
            "stream_version": envelope.stream_version,
            "tenant_id": envelope.tenant_id,
        });
        assert_eq!(
            envelope.canonical_bytes().unwrap(),
            canonical::to_canonical_vec(&generic).unwrap()
        );
    }
}
