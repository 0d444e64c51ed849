//! The proof that travels with a consent receipt: the `ConsentGiven` event's envelope, its
//! inclusion proof, and a signed checkpoint of the tenant's tree that the proof leads to.
//!
//! A client (or anyone they show the receipt to) checks it offline with
//! [`verify_receipt_proof`] and the operator's checkpoint key, obtained out of band: the
//! envelope is exactly the canonical JSON that was hashed as the event's leaf, the leaf with
//! the path folds to the root of a checkpoint that a trusted key signed, and so the event
//! was in the tenant's log when that checkpoint was signed. Checking later that the log
//! still contains it is a consistency proof from this checkpoint to a newer one
//! ([`crate::merkle::verify_consistency`]).
//!
//! The JSON form of a [`ReceiptProof`] is an object with the members `envelope` (the
//! envelope's canonical JSON text, as a string), `sequence`, `treeSize`, `inclusionPath`
//! (hashes as 64 lowercase hex digits, from the leaf upwards) and `checkpoint` (the signed
//! note); other members are refused.

use serde::{Deserialize, Serialize};

use crate::bundle::{origin_names_tenant, parse_hash};
use crate::checkpoint::{self, Checkpoint, CheckpointError, NoteVerifier};
use crate::envelope::Envelope;
use crate::merkle::{self, Hash, ProofError};

/// The event type a consent receipt proves.
pub const CONSENT_GIVEN: &str = "ConsentGiven";

/// The proof of a consent receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProofJson", into = "ProofJson")]
pub struct ReceiptProof {
    /// The canonical JSON text of the `ConsentGiven` event's envelope: the leaf data.
    pub envelope: String,
    /// The event's sequence number: its leaf index in the tenant's tree.
    pub sequence: u64,
    /// The size of the tree the path leads to, which the checkpoint states.
    pub tree_size: u64,
    /// The RFC 9162 inclusion path of the leaf in that tree, from the leaf upwards.
    pub inclusion_path: Vec<Hash>,
    /// The C2SP signed note of the checkpoint of that tree.
    pub checkpoint_note: String,
}

impl ReceiptProof {
    /// The proof as JSON text (see the module documentation).
    pub fn to_json(&self) -> String {
        serde_json::Value::from(ProofJson::from(self.clone())).to_string()
    }

    /// Reads a proof from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, ReceiptError> {
        serde_json::from_str(text).map_err(|error| ReceiptError::MalformedProof(error.to_string()))
    }
}

/// What a proof shows once it verifies.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedReceipt {
    /// The `ConsentGiven` event as logged.
    pub envelope: Envelope,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The checkpoint whose tree contains it.
    pub checkpoint: Checkpoint,
    /// The trusted keys that signed the checkpoint.
    pub signed_by: Vec<NoteVerifier>,
}

/// Why a receipt's proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The proof's JSON is not a proof.
    #[error("malformed receipt proof: {0}")]
    MalformedProof(String),
    /// No trusted key signed the checkpoint (the keys it claims are listed).
    #[error("the checkpoint is not signed by a trusted key (it claims {signed_by:?})")]
    UntrustedCheckpoint {
        /// The keys its signature lines name, as `<name>+<key id>`.
        signed_by: Vec<String>,
    },
    /// A trusted key's signature on the checkpoint does not verify.
    #[error("the checkpoint's signature by trusted key {key} does not verify")]
    BadCheckpointSignature {
        /// The key, as a verifier key string.
        key: String,
    },
    /// The checkpoint is not a well-formed signed note.
    #[error("the checkpoint is not a well-formed signed note: {0}")]
    MalformedNote(CheckpointError),
    /// The signed text is not a checkpoint body.
    #[error("the signed checkpoint body does not parse: {0}")]
    MalformedCheckpoint(CheckpointError),
    /// The proof's tree size is not the checkpoint's.
    #[error("the proof is for a tree of {proof} events but the checkpoint's has {checkpoint}")]
    TreeSizeMismatch {
        /// The proof's tree size.
        proof: u64,
        /// The checkpoint's.
        checkpoint: u64,
    },
    /// The envelope text is not JSON of an event envelope.
    #[error("the envelope is not an event envelope: {0}")]
    MalformedEnvelope(String),
    /// The envelope text is not exactly the canonical JSON of the envelope it holds, so it
    /// cannot be the leaf data.
    #[error("the envelope text is not its canonical JSON (RFC 8785)")]
    NotCanonical,
    /// The envelope is not a `ConsentGiven` event.
    #[error("the envelope is a {event_type} event, not {CONSENT_GIVEN}")]
    NotConsentGiven {
        /// Its event type.
        event_type: String,
    },
    /// The envelope's sequence is not the one the proof is for.
    #[error("the envelope is event {envelope} but the proof is for event {proof}")]
    SequenceMismatch {
        /// The proof's sequence.
        proof: u64,
        /// The envelope's.
        envelope: u64,
    },
    /// The checkpoint is of another tenant's log than the envelope's.
    #[error("the checkpoint's origin {origin:?} is not the log of tenant {tenant_id}")]
    OriginMismatch {
        /// The checkpoint's origin.
        origin: String,
        /// The envelope's tenant.
        tenant_id: String,
    },
    /// The leaf and the path do not lead to the checkpoint's root.
    #[error("the envelope is not in the checkpoint's tree: {0}")]
    Inclusion(ProofError),
}

/// Checks `proof` against the checkpoint keys in `trusted`: the note is signed by one of
/// them, its body is a checkpoint of `proof.tree_size` events of the envelope's tenant, the
/// envelope text is exactly the canonical JSON of a `ConsentGiven` envelope with
/// `proof.sequence`, and its leaf hash with the path folds to the checkpoint's root.
pub fn verify_receipt_proof(
    proof: &ReceiptProof,
    trusted: &[NoteVerifier],
) -> Result<VerifiedReceipt, ReceiptError> {
    let (checkpoint, signed_by) = signed_checkpoint(&proof.checkpoint_note, trusted)?;
    if checkpoint.size != proof.tree_size {
        return Err(ReceiptError::TreeSizeMismatch {
            proof: proof.tree_size,
            checkpoint: checkpoint.size,
        });
    }
    let envelope: Envelope = serde_json::from_str(&proof.envelope)
        .map_err(|error| ReceiptError::MalformedEnvelope(error.to_string()))?;
    let canonical = envelope
        .canonical_bytes()
        .map_err(|_| ReceiptError::NotCanonical)?;
    if canonical != proof.envelope.as_bytes() {
        return Err(ReceiptError::NotCanonical);
    }
    if envelope.event_type != CONSENT_GIVEN {
        return Err(ReceiptError::NotConsentGiven {
            event_type: envelope.event_type,
        });
    }
    if envelope.sequence != proof.sequence {
        return Err(ReceiptError::SequenceMismatch {
            proof: proof.sequence,
            envelope: envelope.sequence,
        });
    }
    if !origin_names_tenant(&checkpoint.origin, &envelope.tenant_id) {
        return Err(ReceiptError::OriginMismatch {
            origin: checkpoint.origin,
            tenant_id: envelope.tenant_id,
        });
    }
    let leaf_hash = merkle::leaf_hash(&canonical);
    merkle::verify_inclusion(
        &leaf_hash,
        proof.sequence,
        proof.tree_size,
        &proof.inclusion_path,
        &checkpoint.root,
    )
    .map_err(ReceiptError::Inclusion)?;
    Ok(VerifiedReceipt {
        envelope,
        leaf_hash,
        checkpoint,
        signed_by,
    })
}

/// The checkpoint in `note` and the keys of `trusted` that signed it. Every trusted key's
/// signature on the note must verify; at least one must be there.
fn signed_checkpoint(
    note: &str,
    trusted: &[NoteVerifier],
) -> Result<(Checkpoint, Vec<NoteVerifier>), ReceiptError> {
    let mut body = None;
    let mut signed_by = Vec::new();
    for key in trusted {
        match key.verify(note) {
            Ok(text) => {
                body = Some(text);
                signed_by.push(key.clone());
            }
            Err(CheckpointError::NoSignatureByKey { .. }) => {}
            Err(CheckpointError::BadSignature { .. }) => {
                return Err(ReceiptError::BadCheckpointSignature {
                    key: key.to_string(),
                });
            }
            Err(error) => return Err(ReceiptError::MalformedNote(error)),
        }
    }
    let Some(body) = body else {
        return Err(ReceiptError::UntrustedCheckpoint {
            signed_by: checkpoint::claimed_signers(note)
                .into_iter()
                .map(|(name, key_id)| format!("{name}+{key_id:08x}"))
                .collect(),
        });
    };
    let checkpoint = Checkpoint::parse_body(&body).map_err(ReceiptError::MalformedCheckpoint)?;
    Ok((checkpoint, signed_by))
}

/// The JSON shape of a [`ReceiptProof`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProofJson {
    envelope: String,
    sequence: u64,
    tree_size: u64,
    inclusion_path: Vec<String>,
    checkpoint: String,
}

impl From<ReceiptProof> for ProofJson {
    fn from(proof: ReceiptProof) -> Self {
        Self {
            envelope: proof.envelope,
            sequence: proof.sequence,
            tree_size: proof.tree_size,
            inclusion_path: proof.inclusion_path.iter().map(hex::encode).collect(),
            checkpoint: proof.checkpoint_note,
        }
    }
}

impl From<ProofJson> for serde_json::Value {
    fn from(proof: ProofJson) -> Self {
        serde_json::json!({
            "envelope": proof.envelope,
            "sequence": proof.sequence,
            "treeSize": proof.tree_size,
            "inclusionPath": proof.inclusion_path,
            "checkpoint": proof.checkpoint,
        })
    }
}

impl TryFrom<ProofJson> for ReceiptProof {
    type Error = String;

    fn try_from(proof: ProofJson) -> Result<Self, Self::Error> {
        let inclusion_path = proof
            .inclusion_path
            .iter()
            .enumerate()
            .map(|(position, text)| {
                parse_hash(text).ok_or_else(|| {
                    format!("inclusionPath[{position}] is not 64 lowercase hex digits")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            envelope: proof.envelope,
            sequence: proof.sequence,
            tree_size: proof.tree_size,
            inclusion_path,
            checkpoint_note: proof.checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::checkpoint::NoteSigner;
    use crate::merkle::{NodeId, node_hash};

    const TENANT: &str = "clinic";

    fn envelope(sequence: u64, event_type: &str) -> Envelope {
        Envelope {
            tenant_id: TENANT.to_owned(),
            sequence,
            event_id: format!("0190d6c5-0000-7000-8000-{sequence:012}"),
            stream_id: "consent-6f1c".to_owned(),
            stream_version: sequence + 1,
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload: serde_json::json!({ "type": event_type, "evidence": { "form": "f" } }),
            metadata: serde_json::json!({ "actor": { "kind": "client" } }),
            recorded_at: "2026-11-23T10:00:00.123456Z".to_owned(),
        }
    }

    fn perfect(leaves: &[Hash], node: NodeId) -> Hash {
        if node.level == 0 {
            return leaves[usize::try_from(node.index).unwrap()];
        }
        let child = |index| NodeId {
            level: node.level - 1,
            index,
        };
        node_hash(
            &perfect(leaves, child(node.index * 2)),
            &perfect(leaves, child(node.index * 2 + 1)),
        )
    }

    /// A log of seven events of which event 4 is the consent given, and its proof signed
    /// by `signer`.
    fn proof_signed_by(signer: &NoteSigner) -> ReceiptProof {
        let size = 7;
        let given = 4;
        let envelopes: Vec<Envelope> = (0..size)
            .map(|sequence| {
                let kind = if sequence == given {
                    CONSENT_GIVEN
                } else {
                    "ConsentRequested"
                };
                envelope(sequence, kind)
            })
            .collect();
        let leaves: Vec<Hash> = envelopes.iter().map(|e| e.leaf_hash().unwrap()).collect();
        let mut node = |id| perfect(&leaves, id);
        let root = merkle::root(size, &mut node);
        let path = merkle::inclusion_proof(given, size, &mut node).unwrap();
        let body = Checkpoint {
            origin: format!("confide.test/{TENANT}"),
            size,
            root,
            extensions: Vec::new(),
        }
        .to_body();
        let canonical = envelopes[usize::try_from(given).unwrap()]
            .canonical_bytes()
            .unwrap();
        ReceiptProof {
            envelope: String::from_utf8(canonical).unwrap(),
            sequence: given,
            tree_size: size,
            inclusion_path: path,
            checkpoint_note: signer.sign(&body),
        }
    }

    fn fixture() -> (ReceiptProof, Vec<NoteVerifier>) {
        let signer = NoteSigner::generate("confide.test").unwrap();
        (proof_signed_by(&signer), vec![signer.verifier()])
    }

    #[test]
    fn a_valid_proof_verifies() {
        let (proof, trusted) = fixture();
        let verified = verify_receipt_proof(&proof, &trusted).unwrap();
        assert_eq!(verified.envelope.sequence, 4);
        assert_eq!(verified.envelope.event_type, CONSENT_GIVEN);
        assert_eq!(verified.checkpoint.size, 7);
        assert_eq!(verified.signed_by, trusted);
        assert_eq!(
            verified.leaf_hash,
            merkle::leaf_hash(proof.envelope.as_bytes())
        );
    }

    #[test]
    fn the_proof_round_trips_through_json_with_lowercase_hex() {
        let (proof, _) = fixture();
        let text = proof.to_json();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = value["inclusionPath"][0].as_str().unwrap();
        assert_eq!(first, hex::encode(proof.inclusion_path[0]));
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(value["treeSize"], 7);
        assert_eq!(ReceiptProof::from_json(&text).unwrap(), proof);
        assert_eq!(serde_json::to_value(&proof).unwrap(), value);

        let upper = text.replace(first, &first.to_ascii_uppercase());
        assert!(matches!(
            ReceiptProof::from_json(&upper),
            Err(ReceiptError::MalformedProof(_))
        ));
        let mut extra = value.clone();
        extra["more"] = serde_json::json!(1);
        assert!(matches!(
            ReceiptProof::from_json(&extra.to_string()),
            Err(ReceiptError::MalformedProof(_))
        ));
    }

    #[test]
    fn an_edited_envelope_fails() {
        let (proof, trusted) = fixture();
        // Still canonical JSON, but not the leaf that was logged.
        let mut edited = proof.clone();
        let at = edited.envelope.find("10:00:00").unwrap();
        edited.envelope.replace_range(at..at + 2, "11");
        assert!(matches!(
            verify_receipt_proof(&edited, &trusted),
            Err(ReceiptError::Inclusion(ProofError::RootMismatch { .. }))
        ));
        // The same envelope, spelled otherwise.
        let mut spaced = proof.clone();
        spaced.envelope.insert(1, ' ');
        assert_eq!(
            verify_receipt_proof(&spaced, &trusted),
            Err(ReceiptError::NotCanonical)
        );
        let mut broken = proof;
        broken.envelope.pop();
        assert!(matches!(
            verify_receipt_proof(&broken, &trusted),
            Err(ReceiptError::MalformedEnvelope(_))
        ));
    }

    #[test]
    fn a_wrong_path_hash_fails() {
        let (mut proof, trusted) = fixture();
        proof.inclusion_path[1][0] ^= 1;
        assert!(matches!(
            verify_receipt_proof(&proof, &trusted),
            Err(ReceiptError::Inclusion(ProofError::RootMismatch { .. }))
        ));
        proof.inclusion_path.pop();
        assert!(matches!(
            verify_receipt_proof(&proof, &trusted),
            Err(ReceiptError::Inclusion(ProofError::WrongProofLength { .. }))
        ));
    }

    #[test]
    fn a_note_signed_by_another_key_fails() {
        let (_, trusted) = fixture();
        let other = NoteSigner::generate("confide.test").unwrap();
        let proof = proof_signed_by(&other);
        assert_eq!(
            verify_receipt_proof(&proof, &trusted),
            Err(ReceiptError::UntrustedCheckpoint {
                signed_by: vec![format!("confide.test+{:08x}", other.key_id())],
            })
        );
        assert!(matches!(
            verify_receipt_proof(&proof, &[]),
            Err(ReceiptError::UntrustedCheckpoint { .. })
        ));
    }

    #[test]
    fn a_forged_signature_by_the_trusted_key_fails() {
        let (proof, trusted) = fixture();
        let forged = ReceiptProof {
            checkpoint_note: proof.checkpoint_note.replacen("\n7\n", "\n8\n", 1),
            ..proof
        };
        assert!(matches!(
            verify_receipt_proof(&forged, &trusted),
            Err(ReceiptError::BadCheckpointSignature { .. })
        ));
    }

    #[test]
    fn a_different_sequence_fails() {
        let (proof, trusted) = fixture();
        let other = ReceiptProof {
            sequence: 3,
            ..proof.clone()
        };
        assert_eq!(
            verify_receipt_proof(&other, &trusted),
            Err(ReceiptError::SequenceMismatch {
                proof: 3,
                envelope: 4
            })
        );
        let larger = ReceiptProof {
            tree_size: 8,
            ..proof
        };
        assert_eq!(
            verify_receipt_proof(&larger, &trusted),
            Err(ReceiptError::TreeSizeMismatch {
                proof: 8,
                checkpoint: 7
            })
        );
    }

    #[test]
    fn another_event_or_tenant_fails() {
        let signer = NoteSigner::generate("confide.test").unwrap();
        let trusted = [signer.verifier()];
        let proof = proof_signed_by(&signer);
        let requested = ReceiptProof {
            envelope: proof
                .envelope
                .replace("\"ConsentGiven\"", "\"ConsentRequested\""),
            ..proof.clone()
        };
        assert_eq!(
            verify_receipt_proof(&requested, &trusted),
            Err(ReceiptError::NotConsentGiven {
                event_type: "ConsentRequested".to_owned()
            })
        );
        let body = Checkpoint {
            origin: "confide.test/other-clinic".to_owned(),
            size: proof.tree_size,
            root: [0; 32],
            extensions: Vec::new(),
        }
        .to_body();
        let elsewhere = ReceiptProof {
            checkpoint_note: signer.sign(&body),
            ..proof
        };
        assert!(matches!(
            verify_receipt_proof(&elsewhere, &trusted),
            Err(ReceiptError::OriginMismatch { .. })
        ));
    }
}
