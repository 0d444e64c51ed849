//! A synthetic tenant log with realistic Confide events (the shapes of
//! `services/domain/snapshots/events.json`), its tree and signed checkpoints, and bundles
//! written from it with the crate's own writer.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Test code.

use confide_audit::bundle::{BundleHeader, BundleWriter, Filter, Previous};
use confide_audit::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use confide_audit::envelope::Envelope;
use confide_audit::merkle::{self, Frontier, Hash, NodeId};
use serde_json::{Value, json};

pub mod mutation;

pub const TENANT: &str = "community-counselling";
pub const ORIGIN_PREFIX: &str = "confide.example";

pub fn origin() -> String {
    format!("{ORIGIN_PREFIX}/{TENANT}")
}

fn uuid(kind: u32, n: usize) -> String {
    format!("10000000-0000-4000-8{kind:03x}-{n:012x}")
}

pub fn client_id(n: usize) -> String {
    uuid(1, n)
}
pub fn consent_id(n: usize) -> String {
    uuid(2, n)
}
pub fn recording_id(n: usize) -> String {
    uuid(4, n)
}
pub fn grant_id(n: usize) -> String {
    uuid(0x32, n)
}

fn user(name: &str) -> Value {
    json!({"kind": "user", "user_id": name})
}

fn client_link(client: usize) -> Value {
    json!({"kind": "client_link", "client_id": client_id(client)})
}

fn system(job: &str) -> Value {
    json!({"kind": "system", "job": job})
}

/// One event before it gets its place in the log.
struct Draft {
    stream_id: String,
    event_type: &'static str,
    payload: Value,
    actor: Value,
}

fn draft(stream_id: String, event_type: &'static str, mut payload: Value, actor: Value) -> Draft {
    payload["type"] = json!(event_type);
    payload["by"] = actor.clone();
    Draft {
        stream_id,
        event_type,
        payload,
        actor,
    }
}

/// The life of one client: registered, asked for consent, consent given, a recording,
/// a grant to a tutor, playbacks with their basis, a refused playback, and for every third
/// client a withdrawal with deletion, a notice to the tutor and the recording destroyed.
fn client_story(n: usize) -> Vec<Draft> {
    let client = client_id(n);
    let consent = consent_id(n);
    let recording = recording_id(n);
    let grant = grant_id(n);
    let practitioner = format!("practitioner-{}", n % 7);
    let form = json!({
        "consent_form_id": uuid(3, 1),
        "text_sha256": "18b471a3db5a2a0b6122eb2b435fe4eaf4bdd778ba1fbbd77362b43efbab8203",
        "version": 1
    });
    let mut story = vec![
        draft(
            format!("client-{client}"),
            "ClientRegistered",
            json!({
                "client_id": client, "tenant_id": TENANT, "key_id": format!("client-key-{n}"),
                "details": {"ciphertext": "c2VhbGVkIGRldGFpbHM=", "key_id": format!("client-key-{n}")},
                "at": "2025-01-05T09:00:00Z"
            }),
            user(&practitioner),
        ),
        draft(
            format!("consent-{consent}"),
            "ConsentRequested",
            json!({
                "consent_id": consent, "tenant_id": TENANT, "client_id": client,
                "practitioner": practitioner, "scope": {"kind": "engagement"}, "course_id": null,
                "terms": [
                    {"purpose": "course_assessment", "audience": {"users": ["ada", "bob"], "roles": []},
                     "media": ["audio"], "derivatives": ["transcript"]},
                    {"purpose": "practitioner_reflection", "audience": {"users": [practitioner], "roles": []},
                     "media": ["audio"], "derivatives": []}
                ],
                "expiry": null, "form": form, "renews": null, "at": "2025-01-06T09:00:00Z"
            }),
            user(&practitioner),
        ),
        draft(
            format!("consent-{consent}"),
            "ConsentGiven",
            json!({
                "evidence": {
                    "form": form, "collected_by": "client_link_signature",
                    "typed_name": {"ciphertext": "dHlwZWQgbmFtZQ==", "key_id": format!("client-key-{n}")},
                    "signed_at": "2025-01-06T10:00:00Z", "jurisdiction": "uk_gdpr", "language": "en-GB"
                },
                "at": "2025-01-06T10:00:00Z"
            }),
            client_link(n),
        ),
        draft(
            format!("recording-{recording}"),
            "RecordingCreated",
            json!({
                "recording_id": recording, "tenant_id": TENANT, "client_id": client,
                "practitioner": practitioner, "course_id": null, "session_on": "2025-01-07",
                "medium": "audio", "consent_id": consent, "consent_version": 2,
                "at": "2025-01-07T09:00:00Z"
            }),
            user(&practitioner),
        ),
        draft(
            format!("recording-{recording}"),
            "RecordingStored",
            json!({
                "sha256": "721c9525ade2ea8903d343ef25cf68b9bf4ab0aad56bb7b01fbe48d09bc7fcf4",
                "bytes": 1_000_000 + n, "duration": 3_000_000, "data_key_id": format!("recording-key-{n}"),
                "codec": "opus", "content_type": "audio/ogg", "object_key": format!("media/{recording}"),
                "at": "2025-01-07T11:00:00Z"
            }),
            user(&practitioner),
        ),
        draft(
            format!("grant-{grant}"),
            "AccessGranted",
            json!({
                "grant_id": grant, "tenant_id": TENANT, "recording_id": recording, "consent_id": consent,
                "consent_version": 2, "grantee": {"kind": "member", "user_id": "ada"},
                "purpose": "course_assessment", "expires_at": "2025-02-07T09:00:00Z",
                "at": "2025-01-08T09:00:00Z"
            }),
            user(&practitioner),
        ),
    ];
    for play in 0..1 + n % 3 {
        story.push(draft(
            format!("recording-{recording}"),
            "PlaybackStarted",
            json!({
                "viewer": {"kind": "member", "roles": ["tutor"], "user_id": "ada"},
                "purpose": "course_assessment", "medium": "audio",
                "basis": {"consent_id": consent, "consent_version": 2, "grant_id": grant, "policy_version": 1},
                "at": format!("2025-01-08T1{play}:00:00Z")
            }),
            user("ada"),
        ));
    }
    story.push(draft(
        format!("recording-{recording}"),
        "PlaybackRefused",
        json!({
            "viewer": {"kind": "external_assessor", "user_id": "icf-assessor"},
            "purpose": "credentialing", "medium": "audio",
            "reasons": [{"purpose": "credentialing", "reason": "no_role_rule_or_grant"}],
            "at": "2025-01-08T15:00:00Z"
        }),
        user("icf-assessor"),
    ));
    if n.is_multiple_of(3) {
        story.push(draft(
            format!("consent-{consent}"),
            "ConsentWithdrawn",
            json!({"deletion_requested": true, "at": "2025-01-09T09:00:00Z"}),
            client_link(n),
        ));
        story.push(draft(
            format!("consent-{consent}"),
            "WithdrawalNoticeIssued",
            json!({"recipient": "ada", "recording_ids": [recording], "at": "2025-01-09T09:00:00Z"}),
            system("cascade"),
        ));
        story.push(draft(
            format!("recording-{recording}"),
            "RecordingDestructionScheduled",
            json!({
                "due": "2025-01-09T09:00:00Z",
                "reason": {"kind": "deletion_requested", "consent_id": consent},
                "at": "2025-01-09T09:00:00Z"
            }),
            system("cascade"),
        ));
        story.push(draft(
            format!("recording-{recording}"),
            "RecordingDestroyed",
            json!({
                "reason": {"kind": "deletion_requested", "consent_id": consent},
                "destroyed_key_id": format!("recording-key-{n}"),
                "object_sha256s": ["2958d416d08aa5a472d7b509036cb7eafd542add84527e66a145ea64cb4cdc75"],
                "transcript_ids": [], "at": "2025-01-09T10:00:00Z"
            }),
            system("retention"),
        ));
    }
    story
}

/// A tenant log: the tenant's own events, then the stories of `clients` clients
/// interleaved (each stream stays in order), with sequence numbers, stream versions and
/// recorded times.
pub fn synthetic_log(clients: usize) -> Vec<Envelope> {
    let mut drafts = vec![
        draft(
            "tenant".to_owned(),
            "TenantCreated",
            json!({"tenant_id": TENANT, "name": "Community Counselling", "at": "2024-12-07T09:00:00Z"}),
            system("provisioning"),
        ),
        draft(
            "tenant".to_owned(),
            "TenantPolicySet",
            json!({"policy": {"allowed_media": "audio_only", "client_copies": "on_request_reviewed",
                "consent_model": "written_opt_in", "course_grace_days": 14, "jurisdiction": "uk_gdpr",
                "practitioner_self_access": true, "retention_days": 365}, "version": 1,
                "at": "2024-12-07T09:00:00Z"}),
            system("provisioning"),
        ),
    ];
    let mut stories: Vec<std::collections::VecDeque<Draft>> =
        (0..clients).map(|n| client_story(n).into()).collect();
    // Round robin over groups of five clients, so that a client's events are interleaved
    // with other clients' as in a busy service.
    for group in stories.chunks_mut(5) {
        loop {
            let mut any = false;
            for story in group.iter_mut() {
                if let Some(next) = story.pop_front() {
                    drafts.push(next);
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
    }
    let mut versions: std::collections::HashMap<String, u64> = Default::default();
    drafts
        .into_iter()
        .enumerate()
        .map(|(sequence, draft)| {
            let version = versions.entry(draft.stream_id.clone()).or_default();
            *version += 1;
            let millis = sequence as u64 * 1_250;
            Envelope {
                tenant_id: TENANT.to_owned(),
                sequence: sequence as u64,
                event_id: format!("01940000-0000-7000-8000-{sequence:012x}"),
                stream_id: draft.stream_id,
                stream_version: *version,
                event_type: draft.event_type.to_owned(),
                schema_version: 1,
                payload: draft.payload,
                metadata: json!({"actor": draft.actor}),
                recorded_at: timestamp(millis),
            }
        })
        .collect()
}

/// `2025-01-05T00:00:00.000000Z` plus `millis` milliseconds, in the envelope format.
pub fn timestamp(millis: u64) -> String {
    let seconds = millis / 1000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    format!(
        "2025-01-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        5 + days,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        (millis % 1000) * 1000
    )
}

/// The log's leaves and every perfect subtree, as an event store keeps them.
pub struct Tree {
    pub leaves: Vec<Hash>,
}

impl Tree {
    pub fn new(envelopes: &[Envelope]) -> Self {
        Self {
            leaves: envelopes.iter().map(|e| e.leaf_hash().unwrap()).collect(),
        }
    }

    pub fn node(&self, id: NodeId) -> Hash {
        let start = (id.index << id.level) as usize;
        let end = start + (1usize << id.level);
        let mut frontier = Frontier::new();
        for leaf in &self.leaves[start..end] {
            frontier.push_subtree(0, *leaf).unwrap();
        }
        frontier.root()
    }

    pub fn root(&self, size: u64) -> Hash {
        let mut frontier = Frontier::new();
        for leaf in &self.leaves[..size as usize] {
            frontier.push_subtree(0, *leaf).unwrap();
        }
        frontier.root()
    }

    pub fn run(&self, start: u64, end: u64) -> Vec<Hash> {
        merkle::range_nodes(start, end)
            .map(|id| self.node(id))
            .collect()
    }

    pub fn consistency(&self, old: u64, new: u64) -> Vec<Hash> {
        merkle::consistency_proof(old, new, &mut |id| self.node(id)).unwrap()
    }
}

/// The operator's signing key. Deterministic, so failures reproduce.
pub fn operator() -> NoteSigner {
    NoteSigner::from_seed_base64(
        ORIGIN_PREFIX,
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )
    .unwrap()
}

pub fn stranger() -> NoteSigner {
    NoteSigner::from_seed_base64(
        ORIGIN_PREFIX,
        "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
    )
    .unwrap()
}

pub fn checkpoint_note(signer: &NoteSigner, size: u64, root: Hash) -> String {
    signer.sign(
        &Checkpoint {
            origin: origin(),
            size,
            root,
            extensions: vec![],
        }
        .to_body(),
    )
}

/// What to write.
pub struct Export<'a> {
    pub envelopes: &'a [Envelope],
    pub tree: &'a Tree,
    pub size: u64,
    pub filter: Filter,
    pub scan: std::ops::Range<u64>,
    pub signer: &'a NoteSigner,
    pub keys: Vec<NoteVerifier>,
    pub previous: Option<(String, Vec<Hash>)>,
}

impl<'a> Export<'a> {
    pub fn everything(envelopes: &'a [Envelope], tree: &'a Tree, signer: &'a NoteSigner) -> Self {
        let size = envelopes.len() as u64;
        Self {
            envelopes,
            tree,
            size,
            filter: Filter::everything(),
            scan: 0..size,
            signer,
            keys: vec![signer.verifier()],
            previous: None,
        }
    }

    /// Writes the bundle as an exporter would: the runs outside the scanned range from
    /// stored nodes, every event of the range through the writer.
    pub fn write(&self) -> Vec<u8> {
        let note = checkpoint_note(self.signer, self.size, self.tree.root(self.size));
        let header = BundleHeader {
            tenant_id: TENANT.to_owned(),
            filter: self.filter.clone(),
            scan: self.scan.clone(),
            exported_at: "2025-03-01T12:00:00.000000Z".to_owned(),
            generator: "confide-audit tests".to_owned(),
        };
        let previous = self
            .previous
            .as_ref()
            .map(|(note, proof)| Previous { note, proof });
        let mut writer =
            BundleWriter::new(Vec::new(), &header, &self.keys, &note, previous).unwrap();
        writer
            .skip_run(0, self.scan.start, &self.tree.run(0, self.scan.start))
            .unwrap();
        for envelope in &self.envelopes[self.scan.start as usize..self.scan.end as usize] {
            writer.push_envelope(envelope).unwrap();
        }
        writer
            .skip_run(
                self.scan.end,
                self.size,
                &self.tree.run(self.scan.end, self.size),
            )
            .unwrap();
        writer.finish().unwrap().0
    }
}

/// The bundle's lines, each without its newline.
pub fn lines(bundle: &[u8]) -> Vec<String> {
    String::from_utf8(bundle.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn join(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

/// Rewrites the end line so that its digest and counts fit the lines before it: what a
/// tamperer who knows the format does.
pub fn reseal(lines: &mut [String]) {
    use sha2::{Digest, Sha256};
    let last = lines.len() - 1;
    let mut digest = Sha256::new();
    let mut events = 0;
    for line in &lines[..last] {
        // Event lines join the digest by their leaf hash, the others by their bytes.
        let value: Option<Value> = serde_json::from_str(line).ok();
        let leaf = value
            .as_ref()
            .filter(|value| value["type"] == "event")
            .and_then(|value| value["leaf"].as_str())
            .and_then(|leaf| hex::decode(leaf).ok());
        match leaf {
            Some(leaf) => {
                digest.update(&leaf);
                events += 1;
            }
            None => {
                digest.update(line.as_bytes());
                digest.update(b"\n");
            }
        }
    }
    lines[last] = format!(
        "{{\"digest\":\"{}\",\"events\":{events},\"lines\":{last},\"type\":\"end\"}}",
        hex::encode(digest.finalize())
    );
}

/// A consent receipt as the server issues it (`schema/consent-receipt.md`), for the first
/// client of a synthetic log of three whose consent ends by `expiry` (the `expiry` member of
/// the `ConsentRequested` event) and names a role beside its users; and its proof against a
/// checkpoint signed by [`operator`].
pub struct ReceiptCase {
    pub receipt: Value,
    pub proof: confide_audit::receipt::ReceiptProof,
}

/// The expiries a consent may have, as logged, and what the receipt says of each: the
/// `termination` text and `confide.expiresAt`.
pub fn expiries() -> Vec<(Value, &'static str, Value)> {
    vec![
        (
            Value::Null,
            "does not expire by itself; may be withdrawn at any time",
            Value::Null,
        ),
        (
            json!({ "kind": "on_date", "at": "2027-06-30T00:00:00.250Z" }),
            "expires at 2027-06-30T00:00:00Z; may be withdrawn at any time",
            json!("2027-06-30T00:00:00Z"),
        ),
        (
            json!({ "kind": "on_event", "trigger": { "kind": "course_ended", "course_id": uuid(7, 1) } }),
            "expires when course 10000000-0000-4000-8007-000000000001 ends; may be withdrawn at any time",
            Value::Null,
        ),
        (
            json!({ "kind": "on_event", "trigger": { "kind": "credential_decided" } }),
            "expires when the credentialing body decides; may be withdrawn at any time",
            Value::Null,
        ),
    ]
}

impl ReceiptCase {
    pub fn new(expiry: Value, termination: &str, expires_at: Value) -> Self {
        let mut envelopes = synthetic_log(3);
        let consent_stream = format!("consent-{}", consent_id(0));
        for envelope in &mut envelopes {
            if envelope.stream_id != consent_stream {
                continue;
            }
            if envelope.event_type == "ConsentRequested" {
                envelope.payload["expiry"] = expiry.clone();
                envelope.payload["terms"][0]["audience"]["roles"] = json!(["reviewer"]);
            } else if envelope.event_type == "ConsentGiven" {
                envelope.payload["evidence"]["signed_at"] = json!("2025-01-06T10:00:00.250Z");
            }
        }
        let tree = Tree::new(&envelopes);
        let size = envelopes.len() as u64;
        let proven: Vec<&Envelope> = envelopes
            .iter()
            .filter(|e| e.stream_id == consent_stream && e.stream_version <= 2)
            .collect();
        let given = proven[1];
        let proof = confide_audit::receipt::ReceiptProof {
            events: proven
                .iter()
                .map(|event| confide_audit::receipt::ProvenEvent {
                    envelope: String::from_utf8(event.canonical_bytes().unwrap()).unwrap(),
                    sequence: event.sequence,
                    inclusion_path: merkle::inclusion_proof(event.sequence, size, &mut |id| {
                        tree.node(id)
                    })
                    .unwrap(),
                })
                .collect(),
            tree_size: size,
            checkpoint_note: checkpoint_note(&operator(), size, tree.root(size)),
        };
        let training = "https://w3id.org/dpv#ProfessionalTraining";
        let receipt = json!({
            "version": "KI-CR-v1.1.0",
            "jurisdiction": "uk_gdpr",
            "consentTimestamp": 1_736_157_600,
            "collectionMethod": "client_link_signature",
            "consentReceiptID": given.event_id,
            "publicKey": operator().verifier().to_string(),
            "language": "en-GB",
            "piiPrincipalId": client_id(0),
            "piiControllers": [{
                "piiController": "Community Counselling",
                "onBehalf": false,
                "contact": "Community Counselling",
                "address": { "streetAddress": "", "addressCountry": "" },
                "email": "",
                "phone": "",
                "piiControllerUrl": "",
            }],
            "policyUrl": format!("urn:confide:consent-form:{}:1", uuid(3, 1)),
            "services": [{
                "service": "Recording consent",
                "purposes": [
                    { "purpose": "course_assessment", "purposeCategory": [training],
                      "consentType": "EXPLICIT", "piiCategory": ["audio"],
                      "primaryPurpose": false, "termination": termination,
                      "thirdPartyDisclosure": true, "thirdPartyName": "ada, bob, role: reviewer" },
                    { "purpose": "practitioner_reflection", "purposeCategory": [training],
                      "consentType": "EXPLICIT", "piiCategory": ["audio"],
                      "primaryPurpose": false, "termination": termination,
                      "thirdPartyDisclosure": true, "thirdPartyName": "practitioner-0" },
                ],
            }],
            "sensitive": true,
            "spiCat": ["health"],
            "confide": {
                "tenantId": TENANT,
                "consentId": consent_id(0),
                "consentVersion": 2,
                "consentForm": {
                    "id": uuid(3, 1),
                    "version": 1,
                    "textSha256": "18b471a3db5a2a0b6122eb2b435fe4eaf4bdd778ba1fbbd77362b43efbab8203",
                },
                "scope": { "kind": "engagement" },
                "courseId": null,
                "expiry": expiry,
                "expiresAt": expires_at,
                "signedAt": "2025-01-06T10:00:00Z",
                "purposes": [
                    { "purpose": "course_assessment", "dpvPurpose": training,
                      "audience": { "users": ["ada", "bob"], "roles": ["reviewer"] },
                      "media": ["audio"], "derivatives": ["transcript"] },
                    { "purpose": "practitioner_reflection", "dpvPurpose": training,
                      "audience": { "users": ["practitioner-0"], "roles": [] },
                      "media": ["audio"], "derivatives": [] },
                ],
                "event": {
                    "eventId": given.event_id,
                    "sequence": given.sequence,
                    "stream": consent_stream,
                },
                "unproven": confide_audit::receipt::UNPROVEN_MEMBERS,
            },
        });
        Self { receipt, proof }
    }

    /// The receipt as `consentReceipt` answers it over GraphQL.
    pub fn answer(&self) -> Value {
        let proof: Value = serde_json::from_str(&self.proof.to_json()).unwrap();
        json!({ "data": { "consentReceipt": { "receipt": self.receipt, "proof": proof } } })
    }
}
