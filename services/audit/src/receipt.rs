//! The proof that travels with a consent receipt: the consent's stream as logged, from the
//! `ConsentRequested` event (the terms asked for: purposes, named audience, media, expiry) to
//! the `ConsentGiven` event (the evidence of agreement: the form's SHA-256, when, how, the
//! jurisdiction), each event's envelope with its inclusion path, and one signed checkpoint
//! of the tenant's tree that every path leads to.
//!
//! A client (or anyone they show the receipt to) checks it offline with
//! [`verify_receipt_proof`] and the operator's checkpoint key, obtained out of band: each
//! envelope is exactly the canonical JSON that was hashed as the event's leaf, each leaf with
//! its path folds to the root of a checkpoint that a trusted key signed, and the envelopes
//! are the versions 1, 2, … of one consent stream, ending at its `ConsentGiven`. So what was
//! asked and what was agreed were in the tenant's log when that checkpoint was signed.
//! [`check_receipt_claims`] then checks that the receipt says what those events say.
//! Checking later that the log still contains them is a consistency proof from this
//! checkpoint to a newer one ([`crate::merkle::verify_consistency`]).
//!
//! The JSON form of a [`ReceiptProof`] is an object with the members `events` (in stream
//! order, each an object with `envelope` — the envelope's canonical JSON text, as a
//! string —, `sequence` and `inclusionPath` — hashes as 64 lowercase hex digits, from the
//! leaf upwards), `treeSize` and `checkpoint` (the signed note); other members are refused.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bundle::{origin_names_tenant, parse_hash};
use crate::checkpoint::{self, Checkpoint, CheckpointError, NoteVerifier};
use crate::envelope::Envelope;
use crate::merkle::{self, Hash, ProofError};

mod claims;

pub use claims::{KANTARA_CR_VERSION, UNPROVEN_MEMBERS, dpv_purpose};

/// The event type that ends the events a consent receipt proves.
pub const CONSENT_GIVEN: &str = "ConsentGiven";

/// The event type that opens a consent's stream, with the terms asked for.
pub const CONSENT_REQUESTED: &str = "ConsentRequested";

/// One logged event and the path of its leaf in the checkpoint's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenEvent {
    /// The canonical JSON text of the event's envelope: the leaf data.
    pub envelope: String,
    /// The event's sequence number: its leaf index in the tenant's tree.
    pub sequence: u64,
    /// The RFC 9162 inclusion path of the leaf in the checkpoint's tree, from the leaf
    /// upwards.
    pub inclusion_path: Vec<Hash>,
}

/// The proof of a consent receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProofJson", into = "ProofJson")]
pub struct ReceiptProof {
    /// The consent's stream, from its `ConsentRequested` event to its `ConsentGiven` event.
    pub events: Vec<ProvenEvent>,
    /// The size of the tree the paths lead to, which the checkpoint states.
    pub tree_size: u64,
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
    /// The consent's events as logged, from the request to the consent given.
    pub events: Vec<Envelope>,
    /// Their leaf hashes.
    pub leaf_hashes: Vec<Hash>,
    /// The checkpoint whose tree contains them.
    pub checkpoint: Checkpoint,
    /// The trusted keys that signed the checkpoint.
    pub signed_by: Vec<NoteVerifier>,
}

impl VerifiedReceipt {
    /// The `ConsentRequested` event: the terms.
    pub fn requested(&self) -> &Envelope {
        &self.events[0]
    }

    /// The `ConsentGiven` event: the evidence.
    pub fn given(&self) -> &Envelope {
        &self.events[self.events.len() - 1]
    }
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
    /// The proof has no events.
    #[error("the proof holds no events")]
    NoEvents,
    /// The last envelope is not a `ConsentGiven` event.
    #[error("the last envelope is a {event_type} event, not {CONSENT_GIVEN}")]
    NotConsentGiven {
        /// Its event type.
        event_type: String,
    },
    /// The first envelope is not a `ConsentRequested` event.
    #[error("the first envelope is a {event_type} event, not {CONSENT_REQUESTED}")]
    NotConsentRequested {
        /// Its event type.
        event_type: String,
    },
    /// The envelopes are not the versions 1, 2, … of one stream of one tenant.
    #[error(
        "envelope {position} is not version {expected_version} of stream {stream_id} of tenant {tenant_id}"
    )]
    NotOneStream {
        /// The envelope's position in the proof, from 0.
        position: usize,
        /// The stream the first envelope opens.
        stream_id: String,
        /// Its tenant.
        tenant_id: String,
        /// The version the envelope should have.
        expected_version: u64,
    },
    /// The receipt says something the logged events do not: more, less or other.
    #[error("the receipt's {claim} is {receipt} but the logged events say {logged}")]
    ClaimMismatch {
        /// The receipt member, as a JSON pointer.
        claim: String,
        /// What the receipt says (JSON).
        receipt: String,
        /// What the events say (JSON, or a description).
        logged: String,
    },
    /// A member of the receipt format is missing from the receipt.
    #[error("the receipt has no {claim}; the logged events say {logged}")]
    MissingClaim {
        /// The member, as a JSON pointer.
        claim: String,
        /// What the events say it is.
        logged: String,
    },
    /// The receipt has a member its format does not have: nothing proves it.
    #[error("the receipt's {member} is not a member of the receipt format, so nothing proves it")]
    UnknownMember {
        /// The member, as a JSON pointer.
        member: String,
    },
    /// The logged events do not say what a member must be (for a purpose or an expiry this
    /// checker does not know, or an event without the field).
    #[error("the logged events cannot prove the receipt's {claim}: {reason}")]
    UnprovableClaim {
        /// The member, as a JSON pointer.
        claim: String,
        /// Why.
        reason: String,
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
/// them, its body is a checkpoint of `proof.tree_size` events of the envelopes' tenant, each
/// envelope text is exactly the canonical JSON of an envelope with its event's sequence whose
/// leaf hash with its path folds to the checkpoint's root, and the envelopes are the versions
/// 1, 2, … of one stream that opens with `ConsentRequested` and ends with `ConsentGiven`.
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
    let mut events = Vec::with_capacity(proof.events.len());
    let mut leaf_hashes = Vec::with_capacity(proof.events.len());
    for (position, event) in proof.events.iter().enumerate() {
        let envelope: Envelope = serde_json::from_str(&event.envelope)
            .map_err(|error| ReceiptError::MalformedEnvelope(error.to_string()))?;
        let canonical = envelope
            .canonical_bytes()
            .map_err(|_| ReceiptError::NotCanonical)?;
        if canonical != event.envelope.as_bytes() {
            return Err(ReceiptError::NotCanonical);
        }
        if envelope.sequence != event.sequence {
            return Err(ReceiptError::SequenceMismatch {
                proof: event.sequence,
                envelope: envelope.sequence,
            });
        }
        if let Some(first) = events.first() {
            let first: &Envelope = first;
            let expected_version = position as u64 + 1;
            if envelope.tenant_id != first.tenant_id
                || envelope.stream_id != first.stream_id
                || envelope.stream_version != expected_version
            {
                return Err(ReceiptError::NotOneStream {
                    position,
                    stream_id: first.stream_id.clone(),
                    tenant_id: first.tenant_id.clone(),
                    expected_version,
                });
            }
        } else if envelope.stream_version != 1 {
            return Err(ReceiptError::NotOneStream {
                position,
                stream_id: envelope.stream_id.clone(),
                tenant_id: envelope.tenant_id.clone(),
                expected_version: 1,
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
            event.sequence,
            proof.tree_size,
            &event.inclusion_path,
            &checkpoint.root,
        )
        .map_err(ReceiptError::Inclusion)?;
        events.push(envelope);
        leaf_hashes.push(leaf_hash);
    }
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err(ReceiptError::NoEvents);
    };
    if first.event_type != CONSENT_REQUESTED {
        return Err(ReceiptError::NotConsentRequested {
            event_type: first.event_type.clone(),
        });
    }
    if last.event_type != CONSENT_GIVEN {
        return Err(ReceiptError::NotConsentGiven {
            event_type: last.event_type.clone(),
        });
    }
    Ok(VerifiedReceipt {
        events,
        leaf_hashes,
        checkpoint,
        signed_by,
    })
}

/// Checks that `receipt` (the Kantara CR v1.1 receipt Confide issues, `schema/consent-receipt.md`
/// section 1) says exactly what the verified events say, member by member: every member is
/// either derived from the `ConsentRequested` and `ConsentGiven` envelopes (or fixed by the
/// format) and must equal what they say, or is one of [`UNPROVEN_MEMBERS`] (texts no event
/// states, listed in the receipt under `confide.unproven`), which must be text. A member the
/// format does not have ([`ReceiptError::UnknownMember`]), a member left out
/// ([`ReceiptError::MissingClaim`]) and a member saying more, less or other than the events
/// ([`ReceiptError::ClaimMismatch`]) are each named by their JSON pointer.
pub fn check_receipt_claims(
    receipt: &Value,
    verified: &VerifiedReceipt,
) -> Result<(), ReceiptError> {
    claims::check(receipt, verified)
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

/// The largest integer the formats' JSON holds (`schema/audit-bundle.md` section 2): sequence
/// numbers and tree sizes beyond it are not of the format, whatever a parser reads.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A natural number read by its value: `33` and `33.0` are one JSON number (RFC 8259
/// section 6), and a browser's parser cannot tell them apart.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|value| {
                    value.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(value)
                })
                .map(|value| value as u64)
        })
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a natural number")))
}

/// The JSON shape of a [`ReceiptProof`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProofJson {
    events: Vec<EventJson>,
    #[serde(deserialize_with = "whole_number")]
    tree_size: u64,
    checkpoint: String,
}

/// The JSON shape of a [`ProvenEvent`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventJson {
    envelope: String,
    #[serde(deserialize_with = "whole_number")]
    sequence: u64,
    inclusion_path: Vec<String>,
}

impl From<ReceiptProof> for ProofJson {
    fn from(proof: ReceiptProof) -> Self {
        Self {
            events: proof
                .events
                .into_iter()
                .map(|event| EventJson {
                    envelope: event.envelope,
                    sequence: event.sequence,
                    inclusion_path: event.inclusion_path.iter().map(hex::encode).collect(),
                })
                .collect(),
            tree_size: proof.tree_size,
            checkpoint: proof.checkpoint_note,
        }
    }
}

impl From<ProofJson> for serde_json::Value {
    fn from(proof: ProofJson) -> Self {
        serde_json::json!({
            "events": proof.events.iter().map(|event| serde_json::json!({
                "envelope": event.envelope,
                "sequence": event.sequence,
                "inclusionPath": event.inclusion_path,
            })).collect::<Vec<_>>(),
            "treeSize": proof.tree_size,
            "checkpoint": proof.checkpoint,
        })
    }
}

impl TryFrom<ProofJson> for ReceiptProof {
    type Error = String;

    fn try_from(proof: ProofJson) -> Result<Self, Self::Error> {
        let events = proof
            .events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                let inclusion_path = event
                    .inclusion_path
                    .iter()
                    .enumerate()
                    .map(|(position, text)| {
                        parse_hash(text).ok_or_else(|| {
                            format!(
                                "events[{index}].inclusionPath[{position}] is not 64 lowercase hex digits"
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                if event.sequence > MAX_SAFE_INTEGER {
                    return Err(format!(
                        "events[{index}].sequence is beyond 2^53 - 1, which no sequence number is"
                    ));
                }
                Ok(ProvenEvent {
                    envelope: event.envelope,
                    sequence: event.sequence,
                    inclusion_path,
                })
            })
            .collect::<Result<_, String>>()?;
        if proof.tree_size > MAX_SAFE_INTEGER {
            return Err("treeSize is beyond 2^53 - 1, which no tree size is".to_owned());
        }
        Ok(Self {
            events,
            tree_size: proof.tree_size,
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
    use serde_json::json;

    const TENANT: &str = "clinic";
    const CONSENT_STREAM: &str = "consent-6f1c";

    fn envelope(sequence: u64, stream_id: &str, stream_version: u64, event_type: &str) -> Envelope {
        let payload = match event_type {
            CONSENT_REQUESTED => json!({
                "type": event_type,
                "client_id": "c-17",
                "consent_id": "6f1c",
                "scope": { "kind": "engagement" },
                "course_id": null,
                "expiry": null,
                "form": { "consent_form_id": "f-1", "text_sha256": "ab12", "version": 3 },
                "terms": [
                    { "purpose": "supervision", "audience": { "users": ["ada"], "roles": [] },
                      "media": ["audio"], "derivatives": [] },
                    { "purpose": "course_assessment", "audience": { "users": ["bob", "cy"], "roles": [] },
                      "media": ["audio"], "derivatives": ["transcript"] },
                ],
            }),
            CONSENT_GIVEN => json!({
                "type": event_type,
                "evidence": {
                    "form": { "consent_form_id": "f-1", "text_sha256": "ab12", "version": 3 },
                    "jurisdiction": "uk_gdpr",
                    "collected_by": "client_link_signature",
                    "language": "en-GB",
                    "signed_at": "2026-11-23T10:00:00.5Z",
                },
            }),
            _ => json!({ "type": event_type }),
        };
        Envelope {
            tenant_id: TENANT.to_owned(),
            sequence,
            event_id: format!("0190d6c5-0000-7000-8000-{sequence:012}"),
            stream_id: stream_id.to_owned(),
            stream_version,
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload,
            metadata: json!({ "actor": { "kind": "client" } }),
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

    /// A log of seven events in which consent 6f1c is requested (event 2) and given
    /// (event 4), and the proof of events `proven`, signed by `signer`.
    fn proof_of(signer: &NoteSigner, proven: &[u64]) -> ReceiptProof {
        let size = 7;
        let envelopes: Vec<Envelope> = (0..size)
            .map(|sequence| match sequence {
                2 => envelope(sequence, CONSENT_STREAM, 1, CONSENT_REQUESTED),
                4 => envelope(sequence, CONSENT_STREAM, 2, CONSENT_GIVEN),
                _ => envelope(
                    sequence,
                    &format!("client-{sequence}"),
                    1,
                    "ClientRegistered",
                ),
            })
            .collect();
        let leaves: Vec<Hash> = envelopes.iter().map(|e| e.leaf_hash().unwrap()).collect();
        let mut node = |id| perfect(&leaves, id);
        let root = merkle::root(size, &mut node);
        let body = Checkpoint {
            origin: format!("confide.test/{TENANT}"),
            size,
            root,
            extensions: Vec::new(),
        }
        .to_body();
        ReceiptProof {
            events: proven
                .iter()
                .map(|&sequence| ProvenEvent {
                    envelope: String::from_utf8(
                        envelopes[usize::try_from(sequence).unwrap()]
                            .canonical_bytes()
                            .unwrap(),
                    )
                    .unwrap(),
                    sequence,
                    inclusion_path: merkle::inclusion_proof(sequence, size, &mut node).unwrap(),
                })
                .collect(),
            tree_size: size,
            checkpoint_note: signer.sign(&body),
        }
    }

    fn proof_signed_by(signer: &NoteSigner) -> ReceiptProof {
        proof_of(signer, &[2, 4])
    }

    fn fixture() -> (ReceiptProof, Vec<NoteVerifier>) {
        let signer = NoteSigner::generate("confide.test").unwrap();
        (proof_signed_by(&signer), vec![signer.verifier()])
    }

    /// The receipt Confide would issue for the fixture's consent, checked by `trusted`.
    fn receipt(trusted: &[NoteVerifier]) -> Value {
        let termination = "does not expire by itself; may be withdrawn at any time";
        let training = "https://w3id.org/dpv#ProfessionalTraining";
        json!({
            "version": "KI-CR-v1.1.0",
            "jurisdiction": "uk_gdpr",
            "consentTimestamp": 1_795_428_000,
            "collectionMethod": "client_link_signature",
            "consentReceiptID": "0190d6c5-0000-7000-8000-000000000004",
            "publicKey": trusted[0].to_string(),
            "language": "en-GB",
            "piiPrincipalId": "c-17",
            "piiControllers": [{
                "piiController": "Clinic", "onBehalf": false, "contact": "Clinic",
                "address": { "streetAddress": "", "addressCountry": "" },
                "email": "", "phone": "", "piiControllerUrl": "",
            }],
            "policyUrl": "urn:confide:consent-form:f-1:3",
            "services": [{ "service": "Recording consent", "purposes": [
                { "purpose": "supervision", "purposeCategory": [training],
                  "consentType": "EXPLICIT", "piiCategory": ["audio"], "primaryPurpose": false,
                  "termination": termination, "thirdPartyDisclosure": true,
                  "thirdPartyName": "ada" },
                { "purpose": "course_assessment", "purposeCategory": [training],
                  "consentType": "EXPLICIT", "piiCategory": ["audio"], "primaryPurpose": false,
                  "termination": termination, "thirdPartyDisclosure": true,
                  "thirdPartyName": "bob, cy" },
            ]}],
            "sensitive": true,
            "spiCat": ["health"],
            "confide": {
                "tenantId": TENANT,
                "consentId": "6f1c",
                "consentVersion": 2,
                "consentForm": { "id": "f-1", "version": 3, "textSha256": "ab12" },
                "scope": { "kind": "engagement" },
                "courseId": null,
                "expiry": null,
                "expiresAt": null,
                "signedAt": "2026-11-23T10:00:00Z",
                "purposes": [
                    { "purpose": "course_assessment", "dpvPurpose": training,
                      "audience": { "users": ["bob", "cy"], "roles": [] },
                      "media": ["audio"], "derivatives": ["transcript"] },
                    { "purpose": "supervision", "dpvPurpose": training,
                      "audience": { "users": ["ada"], "roles": [] },
                      "media": ["audio"], "derivatives": [] },
                ],
                "event": {
                    "eventId": "0190d6c5-0000-7000-8000-000000000004",
                    "sequence": 4,
                    "stream": CONSENT_STREAM,
                },
                "unproven": UNPROVEN_MEMBERS,
            },
        })
    }

    #[test]
    fn a_valid_proof_verifies_and_its_receipt_matches_it() {
        let (proof, trusted) = fixture();
        let verified = verify_receipt_proof(&proof, &trusted).unwrap();
        assert_eq!(verified.requested().sequence, 2);
        assert_eq!(verified.requested().event_type, CONSENT_REQUESTED);
        assert_eq!(verified.given().sequence, 4);
        assert_eq!(verified.given().event_type, CONSENT_GIVEN);
        assert_eq!(verified.checkpoint.size, 7);
        assert_eq!(verified.signed_by, trusted);
        assert_eq!(
            verified.leaf_hashes[1],
            merkle::leaf_hash(proof.events[1].envelope.as_bytes())
        );
        check_receipt_claims(&receipt(&trusted), &verified).unwrap();
    }

    #[test]
    fn a_receipt_that_says_more_or_other_than_the_log_fails() {
        let (proof, trusted) = fixture();
        let verified = verify_receipt_proof(&proof, &trusted).unwrap();
        let receipt = || receipt(&trusted);
        let refusal = |receipt: &Value| check_receipt_claims(receipt, &verified).unwrap_err();
        let claim_of = |receipt: &Value| match refusal(receipt) {
            ReceiptError::ClaimMismatch { claim, .. } => claim,
            other => panic!("{other:?}"),
        };
        let mut wider = receipt();
        wider["confide"]["purposes"][1]["audience"]["users"] = json!(["ada", "eve"]);
        assert_eq!(claim_of(&wider), "/confide/purposes/1/audience/users");
        let mut listener = receipt();
        listener["services"][0]["purposes"][1]["thirdPartyName"] = json!("bob, cy, eve");
        assert_eq!(claim_of(&listener), "/services/0/purposes/1/thirdPartyName");
        let mut more = receipt();
        more["confide"]["purposes"].as_array_mut().unwrap().push(
            json!({ "purpose": "research", "audience": { "users": [], "roles": [] },
                          "media": ["audio"], "derivatives": [] }),
        );
        assert_eq!(claim_of(&more), "/confide/purposes/2/purpose");
        let mut fewer = receipt();
        fewer["confide"]["purposes"].as_array_mut().unwrap().pop();
        assert_eq!(claim_of(&fewer), "/confide/purposes");
        let mut other_form = receipt();
        other_form["confide"]["consentForm"]["textSha256"] = json!("cd34");
        assert_eq!(claim_of(&other_form), "/confide/consentForm/textSha256");
        let mut other_client = receipt();
        other_client["piiPrincipalId"] = json!("c-18");
        assert_eq!(claim_of(&other_client), "/piiPrincipalId");
        let mut other_event = receipt();
        other_event["consentReceiptID"] = json!("0190d6c5-0000-7000-8000-000000000002");
        assert_eq!(claim_of(&other_event), "/consentReceiptID");
        let mut expires = receipt();
        expires["confide"]["expiresAt"] = json!("2099-01-01T00:00:00Z");
        assert_eq!(claim_of(&expires), "/confide/expiresAt");

        let mut missing = receipt();
        missing["confide"]
            .as_object_mut()
            .unwrap()
            .remove("consentId");
        assert_eq!(
            refusal(&missing),
            ReceiptError::MissingClaim {
                claim: "/confide/consentId".to_owned(),
                logged: "\"6f1c\"".to_owned(),
            }
        );
        let mut added = receipt();
        added["confide"]["sharedWith"] = json!(["the police"]);
        assert_eq!(
            refusal(&added),
            ReceiptError::UnknownMember {
                member: "/confide/sharedWith".to_owned()
            }
        );
        // The texts no event states may be anything, but only text.
        let mut renamed = receipt();
        renamed["services"][0]["service"] = json!("Another title");
        check_receipt_claims(&renamed, &verified).unwrap();
        renamed["services"][0]["service"] = json!(["Another title"]);
        assert_eq!(claim_of(&renamed), "/services/0/service");
    }

    #[test]
    fn the_events_must_be_the_consent_stream_from_request_to_consent() {
        let signer = NoteSigner::generate("confide.test").unwrap();
        let trusted = [signer.verifier()];
        assert_eq!(
            verify_receipt_proof(&proof_of(&signer, &[2]), &trusted),
            Err(ReceiptError::NotConsentGiven {
                event_type: CONSENT_REQUESTED.to_owned()
            })
        );
        assert!(matches!(
            verify_receipt_proof(&proof_of(&signer, &[4]), &trusted),
            Err(ReceiptError::NotOneStream {
                position: 0,
                expected_version: 1,
                ..
            })
        ));
        assert!(matches!(
            verify_receipt_proof(&proof_of(&signer, &[2, 3]), &trusted),
            Err(ReceiptError::NotOneStream { position: 1, .. })
        ));
        assert!(matches!(
            verify_receipt_proof(&proof_of(&signer, &[4, 2]), &trusted),
            Err(ReceiptError::NotOneStream { position: 0, .. })
        ));
        assert!(matches!(
            verify_receipt_proof(&proof_of(&signer, &[0]), &trusted),
            Err(ReceiptError::NotConsentRequested { .. })
        ));
        assert_eq!(
            verify_receipt_proof(&proof_of(&signer, &[]), &trusted),
            Err(ReceiptError::NoEvents)
        );
    }

    #[test]
    fn the_proof_round_trips_through_json_with_lowercase_hex() {
        let (proof, _) = fixture();
        let text = proof.to_json();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = value["events"][1]["inclusionPath"][0].as_str().unwrap();
        assert_eq!(first, hex::encode(proof.events[1].inclusion_path[0]));
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
        let at = edited.events[1].envelope.find("10:00:00").unwrap();
        edited.events[1].envelope.replace_range(at..at + 2, "11");
        assert!(matches!(
            verify_receipt_proof(&edited, &trusted),
            Err(ReceiptError::Inclusion(ProofError::RootMismatch { .. }))
        ));
        // A term of the request widened.
        let mut widened = proof.clone();
        widened.events[0].envelope = widened.events[0].envelope.replace("\"ada\"", "\"eve\"");
        assert!(matches!(
            verify_receipt_proof(&widened, &trusted),
            Err(ReceiptError::Inclusion(ProofError::RootMismatch { .. }))
        ));
        // The same envelope, spelled otherwise.
        let mut spaced = proof.clone();
        spaced.events[1].envelope.insert(1, ' ');
        assert_eq!(
            verify_receipt_proof(&spaced, &trusted),
            Err(ReceiptError::NotCanonical)
        );
        let mut broken = proof;
        broken.events[1].envelope.pop();
        assert!(matches!(
            verify_receipt_proof(&broken, &trusted),
            Err(ReceiptError::MalformedEnvelope(_))
        ));
    }

    #[test]
    fn a_wrong_path_hash_fails() {
        let (mut proof, trusted) = fixture();
        proof.events[1].inclusion_path[1][0] ^= 1;
        assert!(matches!(
            verify_receipt_proof(&proof, &trusted),
            Err(ReceiptError::Inclusion(ProofError::RootMismatch { .. }))
        ));
        proof.events[1].inclusion_path.pop();
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
        let mut other = proof.clone();
        other.events[1].sequence = 3;
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
    fn another_tenant_fails() {
        let signer = NoteSigner::generate("confide.test").unwrap();
        let trusted = [signer.verifier()];
        let proof = proof_signed_by(&signer);
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
