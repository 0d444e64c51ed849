//! Consent receipts: what a client agreed to (Kantara Consent Receipt v1.1) with the proof
//! that it was logged, which the client checks offline against the operator's checkpoint key.

use async_graphql::{Context, Json, Object, SimpleObject};
use confide_domain::ConsentId;
use serde_json::Value;
use uuid::Uuid;

use super::id;
use crate::caller::{app, caller};
use crate::error::Result;

#[derive(Default)]
pub(super) struct ReceiptQuery;

/// A consent receipt and the proof that the consent was logged.
#[derive(SimpleObject)]
#[graphql(name = "ConsentReceipt")]
struct ConsentReceiptView {
    /// The receipt in the members of the Kantara Initiative Consent Receipt Specification
    /// v1.1 (`KI-CR-v1.1.0`), with Confide's details (the form's SHA-256, the expiry, the
    /// consent's id and version) under `confide`. The client appears only by their id.
    receipt: Json<Value>,
    /// The consent's events, from its request (the terms) to its `ConsentGiven` (the
    /// evidence), and their inclusion in a signed checkpoint of the tenant's log.
    proof: ReceiptProofView,
}

/// The proof a receipt carries; `confide_audit::receipt::verify_receipt_proof` checks it
/// (this object, as JSON, is the proof's JSON form).
#[derive(SimpleObject)]
#[graphql(name = "ReceiptProof")]
struct ReceiptProofView {
    /// The consent's stream in order, from `ConsentRequested` to `ConsentGiven`.
    events: Vec<ProvenEventView>,
    /// The size of the checkpoint's tree.
    tree_size: u64,
    /// The checkpoint: a C2SP signed note whose body states the tree's size and root.
    checkpoint: String,
}

/// One event of a receipt's proof.
#[derive(SimpleObject)]
#[graphql(name = "ProvenEvent")]
struct ProvenEventView {
    /// The canonical JSON (RFC 8785) text of the event's envelope: the leaf data, hashed as
    /// SHA-256(0x00 ‖ text).
    envelope: String,
    /// The event's sequence: its leaf index in the tenant's tree.
    sequence: u64,
    /// The RFC 9162 inclusion path from the leaf upwards, each hash as lowercase hex.
    inclusion_path: Vec<String>,
}

#[Object]
impl ReceiptQuery {
    /// The receipt of a consent the client has given. A client link gets its own client's;
    /// in the organisation, an org_admin, an auditor or the consent's practitioner.
    async fn consent_receipt(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
    ) -> Result<ConsentReceiptView> {
        let receipt = app(ctx)
            .consent_receipt(caller(ctx)?, id(consent_id, ConsentId::from_uuid)?)
            .await?;
        let proof = receipt.proof;
        Ok(ConsentReceiptView {
            receipt: Json(receipt.receipt),
            proof: ReceiptProofView {
                events: proof
                    .events
                    .into_iter()
                    .map(|event| ProvenEventView {
                        envelope: event.envelope,
                        sequence: event.sequence,
                        inclusion_path: event.inclusion_path.iter().map(hex::encode).collect(),
                    })
                    .collect(),
                tree_size: proof.tree_size,
                checkpoint: proof.checkpoint_note,
            },
        })
    }
}
