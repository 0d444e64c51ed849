//! Consent receipts: what a client agreed to, in the members of the Kantara Initiative
//! Consent Receipt Specification v1.1 (`KI-CR-v1.1.0`), with the proof that the consent's
//! stream, from its `ConsentRequested` event (the terms) to its `ConsentGiven` event (the
//! evidence), is in the tenant's log (each event's envelope and inclusion path, and one
//! signed checkpoint), which the client checks offline with
//! `confide_audit::receipt::verify_receipt_proof` and `check_receipt_claims` and the
//! operator's checkpoint key.
//!
//! Every member but the texts listed under `confide.unproven` is derived from the consent's
//! `ConsentRequested` and `ConsentGiven` events, and `check_receipt_claims` derives each
//! again from the proven envelopes, on its own, and compares; what is built here is built
//! from the domain's types, so the two derivations check each other (the API's receipt
//! tests verify every receipt the server issues).
//!
//! The receipt describes the consent as it was given: the consent stream folded up to its
//! `ConsentGiven` event, so a later partial withdrawal does not rewrite what was agreed. It
//! names the client only by their pseudonymous id; the typed name (sealed in the evidence)
//! and the client's details never enter it.

use chrono::{DateTime, SecondsFormat, Utc};
use confide_audit::receipt::{
    CONSENT_GIVEN, KANTARA_CR_VERSION, ProvenEvent, ReceiptProof, UNPROVEN_MEMBERS,
};
use confide_domain::aggregates::consent::{
    Consent, ConsentCore, Evidence, Expiry, ExpiryTrigger, PurposeState,
};
use confide_domain::aggregates::consent_form::ConsentForm;
use confide_domain::{Aggregate, ConsentId, DomainError, Event, reads};
use confide_eventstore::checkpoint::sign_checkpoint;
use confide_eventstore::proof::inclusion_proof;
use confide_eventstore::{RecordedEvent, StoreError, StreamId, TenantId};
use serde_json::{Value, json};

use crate::{App, AppError, Caller, stream};

/// How many events of a consent stream one read returns.
const PAGE: usize = 500;

/// A consent receipt and the proof that its consent was logged.
#[derive(Clone, Debug)]
pub struct ConsentReceipt {
    /// The Kantara CR v1.1 receipt, with Confide's own details under `confide`.
    pub receipt: Value,
    /// The consent's events up to its `ConsentGiven`, with their inclusion paths and the
    /// signed checkpoint.
    pub proof: ReceiptProof,
}

impl App {
    /// The receipt of a consent the client has given (a consent only requested, refused or
    /// noticed has none): for its client through their link, and in the organisation for an
    /// org_admin, an auditor or the consent's practitioner. The checkpoint is the newest one
    /// this server made if it covers the log as it now is, else a new one.
    #[tracing::instrument(name = "app.consent_receipt", skip_all, fields(tenant_id = %caller.tenant))]
    pub async fn consent_receipt(
        &self,
        caller: &Caller,
        consent: ConsentId,
    ) -> Result<ConsentReceipt, AppError> {
        let tenant = &caller.tenant;
        let signer = self.signer.as_ref();
        let stream = stream(consent);
        let loaded = self.load::<Consent>(tenant, &stream).await?;
        let Some(core) = loaded.state.core() else {
            return Err(DomainError::not_found("consent").into());
        };
        let organisation = self.organisation(tenant).await?;
        reads::consent_receipt(&organisation, &caller.actor, core)?;
        if loaded.state.evidence().is_none() {
            return Err(DomainError::conflict(
                "a receipt is issued only for a consent the client has given",
            )
            .into());
        }

        let events = self.read_whole_stream(tenant, &stream).await?;
        let given_at = events
            .iter()
            .rposition(|event| event.event_type == CONSENT_GIVEN)
            .ok_or_else(|| {
                StoreError::Integrity(format!(
                    "consent {consent} has evidence but its stream has no {CONSENT_GIVEN} event"
                ))
            })?;
        let given = &events[given_at];
        let as_given = fold_consent(tenant, &events[..=given_at])?;
        let (Some(core), Some(evidence)) = (as_given.core(), as_given.evidence()) else {
            return Err(StoreError::Integrity(format!(
                "consent {consent} folds to no evidence at its {CONSENT_GIVEN} event"
            ))
            .into());
        };

        let checkpoint =
            sign_checkpoint(self.store.as_ref(), signer, tenant, self.clock.now()).await?;
        let mut proven = Vec::with_capacity(given_at + 1);
        for event in &events[..=given_at] {
            let inclusion = inclusion_proof(
                self.store.as_ref(),
                tenant,
                event.sequence,
                checkpoint.tree_size,
            )
            .await?;
            proven.push(ProvenEvent {
                envelope: leaf_data(event)?,
                sequence: event.sequence,
                inclusion_path: inclusion.path,
            });
        }

        let form = self
            .load::<ConsentForm>(tenant, &crate::stream(evidence.form.consent_form_id))
            .await?
            .state;
        let service = form
            .get(evidence.form.version)
            .map_or("Recording of sessions", |version| version.title.as_str());
        let facts = Facts {
            core,
            evidence,
            purposes: as_given.purposes(),
            given,
            controller: organisation.name(),
            service,
            public_key: signer.note_signer().verifier().to_string(),
        };
        Ok(ConsentReceipt {
            receipt: facts.receipt(),
            proof: ReceiptProof {
                events: proven,
                tree_size: checkpoint.tree_size,
                checkpoint_note: checkpoint.note,
            },
        })
    }

    /// Every event of `stream`, in order.
    async fn read_whole_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Vec<RecordedEvent>, AppError> {
        let mut events = Vec::new();
        loop {
            let from = events.len() as u64 + 1;
            let page = self.store.read_stream(tenant, stream, from, PAGE).await?;
            let last = page.len() < PAGE;
            events.extend(page);
            if last {
                return Ok(events);
            }
        }
    }
}

/// The consent after `events`, the start of its stream.
fn fold_consent(tenant: &TenantId, events: &[RecordedEvent]) -> Result<Consent, AppError> {
    events.iter().try_fold(Consent::default(), |state, stored| {
        let unreadable = |reason: String| AppError::UnreadableEvent {
            tenant: tenant.clone(),
            sequence: stored.sequence,
            reason,
        };
        match Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload) {
            Ok(Event::Consent(event)) => Ok(state.apply(&event)),
            Ok(other) => Err(unreadable(format!(
                "a {} event in a consent stream",
                other.stream_kind()
            ))),
            Err(error) => Err(unreadable(error.to_string())),
        }
    })
}

/// The canonical JSON text of `event`'s envelope, checked against the leaf the store holds:
/// an event upcast on read is not the one that was hashed.
fn leaf_data(event: &RecordedEvent) -> Result<String, AppError> {
    let sequence = event.sequence;
    if event.was_upcast() {
        return Err(StoreError::Invalid(format!(
            "event {sequence} was upcast on read, so its envelope is not its leaf"
        ))
        .into());
    }
    let bytes = event.envelope().canonical_bytes().map_err(|error| {
        StoreError::Integrity(format!("event {sequence} has no canonical form: {error}"))
    })?;
    if confide_audit::merkle::leaf_hash(&bytes) != event.leaf_hash {
        return Err(StoreError::Integrity(format!(
            "event {sequence} does not hash to its stored leaf"
        ))
        .into());
    }
    String::from_utf8(bytes).map_err(|error| {
        StoreError::Integrity(format!("event {sequence}'s canonical JSON: {error}")).into()
    })
}

/// What a receipt is made of.
struct Facts<'a> {
    core: &'a ConsentCore,
    evidence: &'a Evidence,
    /// The purposes as they stood when consent was given.
    purposes: &'a std::collections::BTreeMap<confide_domain::Purpose, PurposeState>,
    given: &'a RecordedEvent,
    /// The organisation's name: the PII controller.
    controller: &'a str,
    /// The title of the consent form shown: the service the purposes belong to.
    service: &'a str,
    /// The checkpoint verifier key (C2SP signed-note verifier key string).
    public_key: String,
}

impl Facts<'_> {
    /// The Kantara CR v1.1 receipt.
    fn receipt(&self) -> Value {
        let form = &self.evidence.form;
        let termination = termination(self.core.expiry);
        let purposes: Vec<Value> = self
            .purposes
            .values()
            .map(|state| {
                let terms = &state.terms;
                let audience = audience_names(state);
                json!({
                    "purpose": terms.purpose.as_str(),
                    "purposeCategory": [terms.purpose.dpv_iri()],
                    "consentType": "EXPLICIT",
                    "piiCategory": terms.media.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    // Kantara: whether the purpose is part of the controller's core
                    // service. Recording is never needed for the counselling itself, and
                    // consent to it must not be a condition of the service (GDPR Art. 7(4)).
                    "primaryPurpose": false,
                    "termination": termination,
                    "thirdPartyDisclosure": !audience.is_empty(),
                    "thirdPartyName": audience.join(", "),
                })
            })
            .collect();
        let details: Vec<Value> = self
            .purposes
            .values()
            .map(|state| {
                let terms = &state.terms;
                json!({
                    "purpose": terms.purpose.as_str(),
                    "dpvPurpose": terms.purpose.dpv_iri(),
                    "audience": {
                        "users": terms.audience.users.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "roles": terms.audience.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    },
                    "media": terms.media.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "derivatives": terms.derivatives.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "version": KANTARA_CR_VERSION,
            "jurisdiction": self.evidence.jurisdiction.as_str(),
            "consentTimestamp": self.evidence.signed_at.timestamp(),
            "collectionMethod": serde_json::to_value(self.evidence.collected_by).unwrap_or(Value::Null),
            "consentReceiptID": self.given.event_id.hyphenated().to_string(),
            "publicKey": self.public_key,
            "language": self.evidence.language.as_str(),
            "piiPrincipalId": self.core.client_id.to_string(),
            "piiControllers": [{
                "piiController": self.controller,
                "onBehalf": false,
                "contact": self.controller,
                "address": { "streetAddress": "", "addressCountry": "" },
                "email": "",
                "phone": "",
                "piiControllerUrl": "",
            }],
            "policyUrl": format!("urn:confide:consent-form:{}:{}", form.consent_form_id, form.version),
            "services": [{
                "service": self.service,
                "purposes": purposes,
            }],
            "sensitive": true,
            "spiCat": ["health"],
            "confide": {
                "tenantId": self.core.tenant_id.as_str(),
                "consentId": self.core.id.to_string(),
                "consentVersion": self.given.stream_version,
                "consentForm": {
                    "id": form.consent_form_id.to_string(),
                    "version": form.version,
                    "textSha256": form.text_sha256.to_hex(),
                },
                "scope": self.core.scope,
                "courseId": self.core.course_id.map(|id| id.to_string()),
                "expiry": self.core.expiry,
                "expiresAt": match self.core.expiry {
                    Some(Expiry::OnDate { at }) => Some(rfc3339(at)),
                    _ => None,
                },
                "signedAt": rfc3339(self.evidence.signed_at),
                "purposes": details,
                "event": {
                    "eventId": self.given.event_id.hyphenated().to_string(),
                    "sequence": self.given.sequence,
                    "stream": self.given.stream_id.as_str(),
                },
                // The members no logged event states (the controller's details, the form's
                // title), so that a reader sees which they cannot rely on.
                "unproven": UNPROVEN_MEMBERS,
            },
        })
    }
}

/// The named audience of a purpose: people by their ids, then roles.
fn audience_names(state: &PurposeState) -> Vec<String> {
    let audience = &state.terms.audience;
    audience
        .users
        .iter()
        .map(ToString::to_string)
        .chain(audience.roles.iter().map(|role| format!("role: {role}")))
        .collect()
}

/// When a consent ends by itself; it may always be withdrawn earlier.
fn termination(expiry: Option<Expiry>) -> String {
    let ends = match expiry {
        Some(Expiry::OnDate { at }) => format!("expires at {}", rfc3339(at)),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CourseEnded { course_id },
        }) => format!("expires when course {course_id} ends"),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CredentialDecided,
        }) => "expires when the credentialing body decides".to_owned(),
        None => "does not expire by itself".to_owned(),
    };
    format!("{ends}; may be withdrawn at any time")
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use confide_domain::Purpose;

    /// The checker derives each purpose's DPV category from its own table; it must be ours.
    #[test]
    fn the_checker_knows_every_purposes_dpv_category() {
        for purpose in Purpose::ALL {
            assert_eq!(
                confide_audit::receipt::dpv_purpose(purpose.as_str()),
                Some(purpose.dpv_iri()),
                "{purpose}"
            );
        }
    }
}
