//! Reports for auditors, derived only from a verified bundle: they are [`EventSink`]s fed
//! by [`crate::verify::verify_bundle`], and they produce their result only from the
//! [`VerifiedBundle`] it returns.
//!
//! - [`CsvReport`]: one CSV row per consent, access, recording-lifecycle and erasure
//!   event, with the client, recording and consent it concerns, who acted, who viewed, for
//!   what purpose, on what basis, and the outcome.
//! - [`ConsentTrail`]: per client, each consent (requested, given, refused, withdrawn,
//!   expired), and per recording who played it (purpose and basis), who was refused, and
//!   when it was destroyed.
//!
//! Payloads are read tolerantly from their JSON (the shapes of
//! `confide-domain`'s events: enums tagged with `kind`, actors in `by`), so an event of a
//! newer schema still gives a row, with the fields it lacks left empty. The relation of
//! consents and recordings to clients comes from the events that create them
//! (`ConsentRequested`, `ConsentNoticeGiven`, `RecordingCreated`, `AccessGranted`); when the
//! bundle does not include them, the client shows as unknown.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use serde_json::Value;

use crate::verify::{EventSink, VerifiedBundle, VerifiedEvent};

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing the report failed.
    #[error("writing the report failed: {0}")]
    Io(#[from] io::Error),
    /// The report saw a different number of events than the verified bundle holds: it was
    /// not fed by that bundle's verification.
    #[error("the report saw {seen} events but the verified bundle discloses {verified}")]
    NotFromThisBundle {
        /// Events the report saw.
        seen: u64,
        /// Events the verified bundle discloses.
        verified: u64,
    },
}

/// The report's view of an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Consent,
    Access,
    Recording,
    Erasure,
}

impl Category {
    fn of(event_type: &str) -> Option<Category> {
        match event_type {
            "ConsentRequested"
            | "ConsentGiven"
            | "ConsentRefused"
            | "ConsentWithdrawn"
            | "ConsentPurposeWithdrawn"
            | "ConsentAudienceMemberWithdrawn"
            | "ConsentExpired"
            | "ConsentSuperseded"
            | "ConsentNoticeGiven"
            | "SessionNoticeGiven"
            | "ConsentOptedOutOfSession"
            | "ConsentOptedOut"
            | "WithdrawalNoticeIssued" => Some(Category::Consent),
            "AccessGranted" | "AccessRevoked" | "PlaybackStarted" | "PlaybackRefused" => {
                Some(Category::Access)
            }
            "RecordingCreated" | "RecordingDestructionScheduled" | "RecordingDestroyed" => {
                Some(Category::Recording)
            }
            "ClientErased" => Some(Category::Erasure),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Category::Consent => "consent",
            Category::Access => "access",
            Category::Recording => "recording",
            Category::Erasure => "erasure",
        }
    }
}

/// One event as the reports see it, with its relations resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Row {
    sequence: u64,
    recorded_at: String,
    at: String,
    category: &'static str,
    event_type: String,
    stream_id: String,
    client_id: String,
    recording_id: String,
    consent_id: String,
    actor: String,
    viewer: String,
    purpose: String,
    basis: String,
    outcome: String,
}

/// What the events seen so far say about which consent, recording and grant belong to
/// which client.
#[derive(Clone, Debug, Default)]
struct Relations {
    consent_client: BTreeMap<String, String>,
    recording_client: BTreeMap<String, String>,
    recording_consent: BTreeMap<String, String>,
    grant_recording: BTreeMap<String, String>,
}

fn text(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn nested(value: &Value, outer: &str, inner: &str) -> String {
    value.get(outer).map(|v| text(v, inner)).unwrap_or_default()
}

/// `user:sam`, `client:<id>`, `system:cascade`, or the JSON itself for another shape.
fn actor(value: Option<&Value>) -> String {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return String::new();
    };
    match value.get("kind").and_then(Value::as_str) {
        Some("user") => format!("user:{}", text(value, "user_id")),
        Some("client_link") => format!("client:{}", text(value, "client_id")),
        Some("system") => format!("system:{}", text(value, "job")),
        _ => value.to_string(),
    }
}

/// `ada (member: tutor)`, `icf-assessor (external_assessor)`.
fn person(value: Option<&Value>) -> String {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return String::new();
    };
    let kind = text(value, "kind");
    let roles: Vec<&str> = value
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let who = match value.get("user_id").and_then(Value::as_str) {
        Some(user) => user.to_owned(),
        None => text(value, "client_id"),
    };
    match (kind.is_empty(), roles.is_empty()) {
        (true, _) => value.to_string(),
        (false, true) => format!("{who} ({kind})"),
        (false, false) => format!("{who} ({kind}: {})", roles.join(", ")),
    }
}

fn purposes_of_terms(payload: &Value) -> Vec<String> {
    payload
        .get("terms")
        .and_then(Value::as_array)
        .map(|terms| {
            terms
                .iter()
                .map(|term| {
                    let purpose = text(term, "purpose");
                    let audience = term.get("audience");
                    let mut names: Vec<String> = Vec::new();
                    for list in ["users", "roles"] {
                        if let Some(items) =
                            audience.and_then(|a| a.get(list)).and_then(Value::as_array)
                        {
                            names.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                        }
                    }
                    if names.is_empty() {
                        purpose
                    } else {
                        format!("{purpose} ({})", names.join(", "))
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn refusal_reasons(payload: &Value) -> String {
    payload
        .get("reasons")
        .and_then(Value::as_array)
        .map(|reasons| {
            reasons
                .iter()
                .map(
                    |reason| match reason.get("reason").and_then(Value::as_str) {
                        Some(name) => name.to_owned(),
                        None => reason.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

impl Relations {
    /// Builds the row of a reported event and learns the relations it states.
    fn row(&mut self, event: &VerifiedEvent<'_>) -> Option<Row> {
        let event_type = event.event_type();
        let category = Category::of(&event_type)?;
        let payload: Value = serde_json::from_str(event.payload_json()).unwrap_or(Value::Null);
        let metadata: Value = serde_json::from_str(event.metadata_json()).unwrap_or(Value::Null);
        let stream_id = event.stream_id().into_owned();
        let (stream_kind, stream_entity) = stream_id
            .split_once('-')
            .map_or(("", ""), |(kind, id)| (kind, id));

        let mut row = Row {
            sequence: event.sequence(),
            recorded_at: event.recorded_at().into_owned(),
            at: text(&payload, "at"),
            category: category.name(),
            event_type: event_type.clone().into_owned(),
            stream_id: stream_id.clone(),
            actor: actor(payload.get("by").or_else(|| metadata.get("actor"))),
            purpose: text(&payload, "purpose"),
            ..Row::default()
        };

        // The entities the event concerns, from its stream and its payload.
        row.consent_id = [
            text(&payload, "consent_id"),
            nested(&payload, "basis", "consent_id"),
            nested(&payload, "reason", "consent_id"),
        ]
        .into_iter()
        .find(|id| !id.is_empty())
        .unwrap_or_default();
        row.recording_id = text(&payload, "recording_id");
        match stream_kind {
            "consent" => row.consent_id = stream_entity.to_owned(),
            "recording" => row.recording_id = stream_entity.to_owned(),
            "client" => row.client_id = stream_entity.to_owned(),
            "grant" if row.recording_id.is_empty() => {
                row.recording_id = self
                    .grant_recording
                    .get(stream_entity)
                    .cloned()
                    .unwrap_or_default();
            }
            _ => {}
        }
        let payload_client = text(&payload, "client_id");
        if !payload_client.is_empty() && row.client_id.is_empty() {
            row.client_id = payload_client.clone();
        }

        // Learn relations from the events that create them.
        match event_type.as_ref() {
            "ConsentRequested" | "ConsentNoticeGiven" if !payload_client.is_empty() => {
                self.consent_client
                    .insert(row.consent_id.clone(), payload_client.clone());
            }
            "RecordingCreated" if !payload_client.is_empty() => {
                self.recording_client
                    .insert(row.recording_id.clone(), payload_client.clone());
                self.recording_consent
                    .insert(row.recording_id.clone(), row.consent_id.clone());
            }
            "AccessGranted" => {
                self.grant_recording
                    .insert(stream_entity.to_owned(), row.recording_id.clone());
            }
            _ => {}
        }
        if row.client_id.is_empty() {
            row.client_id = self
                .recording_client
                .get(&row.recording_id)
                .or_else(|| self.consent_client.get(&row.consent_id))
                .cloned()
                .unwrap_or_default();
        }
        if row.consent_id.is_empty() {
            row.consent_id = self
                .recording_consent
                .get(&row.recording_id)
                .cloned()
                .unwrap_or_default();
        }

        let version = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_u64)
                .map(|v| format!(" v{v}"))
                .unwrap_or_default()
        };
        let basis = payload.get("basis").cloned().unwrap_or(Value::Null);
        row.outcome = match event_type.as_ref() {
            "ConsentRequested" => {
                row.purpose = purposes_of_terms(&payload).join("; ");
                "requested".to_owned()
            }
            "ConsentNoticeGiven" => {
                row.purpose = purposes_of_terms(&payload).join("; ");
                format!("notice given (session {})", text(&payload, "session_on"))
            }
            "ConsentGiven" => format!(
                "given ({}, form{})",
                nested(&payload, "evidence", "collected_by"),
                payload
                    .get("evidence")
                    .and_then(|e| e.get("form"))
                    .and_then(|f| f.get("version"))
                    .and_then(Value::as_u64)
                    .map(|v| format!(" v{v}"))
                    .unwrap_or_default()
            ),
            "ConsentRefused" => "refused".to_owned(),
            "ConsentWithdrawn" | "ConsentOptedOut" => {
                let what = if event_type == "ConsentWithdrawn" {
                    "withdrawn"
                } else {
                    "opted out"
                };
                if payload.get("deletion_requested").and_then(Value::as_bool) == Some(true) {
                    format!("{what}, deletion requested")
                } else {
                    what.to_owned()
                }
            }
            "ConsentPurposeWithdrawn" => "purpose withdrawn".to_owned(),
            "ConsentAudienceMemberWithdrawn" => {
                row.viewer = text(&payload, "user_id");
                "audience member withdrawn".to_owned()
            }
            "ConsentExpired" => format!("expired ({})", nested(&payload, "cause", "kind")),
            "ConsentSuperseded" => format!("superseded by {}", text(&payload, "superseded_by")),
            "SessionNoticeGiven" => {
                format!("notice given (session {})", text(&payload, "session_on"))
            }
            "ConsentOptedOutOfSession" => {
                format!("opted out of session {}", text(&payload, "session_on"))
            }
            "WithdrawalNoticeIssued" => {
                row.viewer = text(&payload, "recipient");
                "recipient notified of the withdrawal".to_owned()
            }
            "AccessGranted" => {
                row.viewer = person(payload.get("grantee"));
                row.basis = format!("consent {}{}", row.consent_id, version("consent_version"));
                format!("granted until {}", text(&payload, "expires_at"))
            }
            "AccessRevoked" => format!("revoked ({})", nested(&payload, "reason", "kind")),
            "PlaybackStarted" => {
                row.viewer = person(payload.get("viewer"));
                let mut parts = Vec::new();
                let consent = text(&basis, "consent_id");
                if !consent.is_empty() {
                    let consent_version = basis
                        .get("consent_version")
                        .and_then(Value::as_u64)
                        .map(|v| format!(" v{v}"))
                        .unwrap_or_default();
                    parts.push(format!("consent {consent}{consent_version}"));
                }
                let grant = text(&basis, "grant_id");
                if !grant.is_empty() {
                    parts.push(format!("grant {grant}"));
                }
                if let Some(policy) = basis.get("policy_version").and_then(Value::as_u64) {
                    parts.push(format!("policy v{policy}"));
                }
                row.basis = parts.join("; ");
                format!("allowed ({})", text(&payload, "medium"))
            }
            "PlaybackRefused" => {
                row.viewer = person(payload.get("viewer"));
                format!("refused: {}", refusal_reasons(&payload))
            }
            "RecordingCreated" => {
                row.basis = format!("consent {}{}", row.consent_id, version("consent_version"));
                format!(
                    "created (session {}, {})",
                    text(&payload, "session_on"),
                    text(&payload, "medium")
                )
            }
            "RecordingDestructionScheduled" => format!(
                "destruction scheduled for {} ({})",
                text(&payload, "due"),
                nested(&payload, "reason", "kind")
            ),
            "RecordingDestroyed" => format!(
                "destroyed ({}; data key {})",
                nested(&payload, "reason", "kind"),
                text(&payload, "destroyed_key_id")
            ),
            "ClientErased" => format!("client key {} destroyed", text(&payload, "key_id")),
            other => other.to_owned(),
        };
        Some(row)
    }
}

/// The CSV header row.
const CSV_COLUMNS: [&str; 14] = [
    "sequence",
    "recorded_at",
    "at",
    "category",
    "event_type",
    "stream_id",
    "client_id",
    "recording_id",
    "consent_id",
    "actor",
    "viewer",
    "purpose",
    "basis",
    "outcome",
];

/// Writes one CSV row per reported event, as the verifier passes them. The output is not
/// a report until [`CsvReport::finish`] accepts the [`VerifiedBundle`]: write it to a
/// temporary file and move it into place only then (the `confide-verify` binary does).
///
/// Fields are quoted per RFC 4180 when needed; a field that a spreadsheet would read as a
/// formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`.
#[derive(Debug)]
pub struct CsvReport<W: Write> {
    out: W,
    relations: Relations,
    seen: u64,
    rows: u64,
    error: Option<io::Error>,
}

impl<W: Write> CsvReport<W> {
    /// A report writing to `out`, starting with the header row.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{}", CSV_COLUMNS.join(","))?;
        Ok(Self {
            out,
            relations: Relations::default(),
            seen: 0,
            rows: 0,
            error: None,
        })
    }

    /// Flushes and returns the output and the number of rows, if the report was fed by
    /// the verification that produced `verified`.
    pub fn finish(mut self, verified: &VerifiedBundle) -> Result<(W, u64), ReportError> {
        if let Some(error) = self.error {
            return Err(ReportError::Io(error));
        }
        if self.seen != verified.events {
            return Err(ReportError::NotFromThisBundle {
                seen: self.seen,
                verified: verified.events,
            });
        }
        self.out.flush()?;
        Ok((self.out, self.rows))
    }

    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        let sequence = row.sequence.to_string();
        let fields = [
            sequence.as_str(),
            &row.recorded_at,
            &row.at,
            row.category,
            &row.event_type,
            &row.stream_id,
            &row.client_id,
            &row.recording_id,
            &row.consent_id,
            &row.actor,
            &row.viewer,
            &row.purpose,
            &row.basis,
            &row.outcome,
        ];
        let mut line = String::new();
        for (position, field) in fields.iter().enumerate() {
            if position > 0 {
                line.push(',');
            }
            csv_field(&mut line, field);
        }
        line.push_str("\r\n");
        self.out.write_all(line.as_bytes())
    }
}

fn csv_field(out: &mut String, field: &str) {
    let defused;
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{field}");
        defused.as_str()
    } else {
        field
    };
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

impl<W: Write> EventSink for CsvReport<W> {
    fn event(&mut self, event: &VerifiedEvent<'_>) {
        self.seen += 1;
        if self.error.is_some() {
            return;
        }
        if let Some(row) = self.relations.row(event) {
            match self.write_row(&row) {
                Ok(()) => self.rows += 1,
                Err(error) => self.error = Some(error),
            }
        }
    }
}

/// One access to a recording: a playback, a refusal or a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// When (the event's `at`, else its `recorded_at`).
    pub at: String,
    /// Who.
    pub viewer: String,
    /// For what purpose.
    pub purpose: String,
    /// On what basis (playbacks and grants).
    pub basis: String,
    /// Allowed, refused with reasons, granted until.
    pub outcome: String,
    /// The event's sequence number.
    pub sequence: u64,
}

/// One consent of a client, as the bundle shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsentSummary {
    /// The consent's id.
    pub consent_id: String,
    /// Requested (or notice given), with when.
    pub requested: Option<String>,
    /// The purposes asked for, each with its named audience.
    pub purposes: Vec<String>,
    /// What happened to it, in order: `(when, what)`, e.g. given, purpose withdrawn,
    /// withdrawn, expired.
    pub history: Vec<(String, String)>,
}

/// One recording of a client, as the bundle shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingSummary {
    /// The recording's id.
    pub recording_id: String,
    /// Created, with when and under which consent.
    pub created: Option<String>,
    /// Playbacks, refusals and grants, in order.
    pub accesses: Vec<Access>,
    /// Destruction scheduled and destroyed: `(when, what)`.
    pub destruction: Vec<(String, String)>,
}

/// What the bundle shows of one client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTrail {
    /// The client's id, or empty when the bundle does not say which client.
    pub client_id: String,
    /// The client's consents by id.
    pub consents: BTreeMap<String, ConsentSummary>,
    /// The client's recordings by id.
    pub recordings: BTreeMap<String, RecordingSummary>,
    /// Erasure of the client's key, `(when, what)`.
    pub erasures: Vec<(String, String)>,
}

/// The consent trail of every client in a verified bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailSummary {
    /// The tenant.
    pub tenant_id: String,
    /// The checkpoint's origin, size and root the bundle was verified against.
    pub checkpoint: String,
    /// Clients by id; the client with the empty id gathers what cannot be attributed.
    pub clients: BTreeMap<String, ClientTrail>,
}

/// Collects the consent trail per client as the verifier passes events; see
/// [`TrailSummary`].
#[derive(Clone, Debug, Default)]
pub struct ConsentTrail {
    relations: Relations,
    clients: BTreeMap<String, ClientTrail>,
    seen: u64,
}

impl ConsentTrail {
    /// An empty trail.
    pub fn new() -> Self {
        Self::default()
    }

    /// The trail, if it was fed by the verification that produced `verified`.
    pub fn finish(self, verified: &VerifiedBundle) -> Result<TrailSummary, ReportError> {
        if self.seen != verified.events {
            return Err(ReportError::NotFromThisBundle {
                seen: self.seen,
                verified: verified.events,
            });
        }
        Ok(TrailSummary {
            tenant_id: verified.header.tenant_id.clone(),
            checkpoint: format!(
                "{} size {} root {}",
                verified.checkpoint.origin,
                verified.checkpoint.size,
                hex::encode(verified.checkpoint.root)
            ),
            clients: self.clients,
        })
    }
}

impl EventSink for ConsentTrail {
    fn event(&mut self, event: &VerifiedEvent<'_>) {
        self.seen += 1;
        let Some(row) = self.relations.row(event) else {
            return;
        };
        let when = if row.at.is_empty() {
            row.recorded_at.clone()
        } else {
            row.at.clone()
        };
        let client = self
            .clients
            .entry(row.client_id.clone())
            .or_insert_with(|| ClientTrail {
                client_id: row.client_id.clone(),
                ..ClientTrail::default()
            });
        match Category::of(&row.event_type) {
            Some(Category::Consent) if !row.consent_id.is_empty() => {
                let consent = client
                    .consents
                    .entry(row.consent_id.clone())
                    .or_insert_with(|| ConsentSummary {
                        consent_id: row.consent_id.clone(),
                        ..ConsentSummary::default()
                    });
                match row.event_type.as_str() {
                    "ConsentRequested" | "ConsentNoticeGiven" if consent.requested.is_none() => {
                        consent.requested = Some(format!("{when} by {}", row.actor));
                        consent.purposes = row.purpose.split("; ").map(str::to_owned).collect();
                        if row.event_type == "ConsentNoticeGiven" {
                            consent.history.push((when, row.outcome));
                        }
                    }
                    _ => {
                        let mut what = row.outcome;
                        if !row.purpose.is_empty() {
                            what = format!("{what}: {}", row.purpose);
                        }
                        if !row.viewer.is_empty() {
                            what = format!("{what} ({})", row.viewer);
                        }
                        consent
                            .history
                            .push((when, format!("{what} by {}", row.actor)));
                    }
                }
            }
            Some(Category::Access | Category::Recording) if !row.recording_id.is_empty() => {
                let recording = client
                    .recordings
                    .entry(row.recording_id.clone())
                    .or_insert_with(|| RecordingSummary {
                        recording_id: row.recording_id.clone(),
                        ..RecordingSummary::default()
                    });
                match row.event_type.as_str() {
                    "RecordingCreated" => {
                        let details = row
                            .outcome
                            .strip_prefix("created (")
                            .and_then(|rest| rest.strip_suffix(')'))
                            .unwrap_or(&row.outcome);
                        recording.created = Some(format!(
                            "{when} by {} ({details}) under {}",
                            row.actor, row.basis
                        ));
                    }
                    "RecordingDestructionScheduled" | "RecordingDestroyed" => {
                        recording
                            .destruction
                            .push((when, format!("{} by {}", row.outcome, row.actor)));
                    }
                    _ => recording.accesses.push(Access {
                        at: when,
                        viewer: row.viewer,
                        purpose: row.purpose,
                        basis: row.basis,
                        outcome: row.outcome,
                        sequence: row.sequence,
                    }),
                }
            }
            Some(Category::Erasure) => client.erasures.push((when, row.outcome)),
            _ => {}
        }
    }
}

impl fmt::Display for TrailSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Consent trail of tenant {}", self.tenant_id)?;
        writeln!(f, "verified against {}", self.checkpoint)?;
        if self.clients.is_empty() {
            writeln!(f, "\nno consent or access events in the bundle")?;
        }
        for client in self.clients.values() {
            let name = if client.client_id.is_empty() {
                "(client not named in the bundle)"
            } else {
                &client.client_id
            };
            writeln!(f, "\nClient {name}")?;
            for consent in client.consents.values() {
                writeln!(f, "  Consent {}", consent.consent_id)?;
                if let Some(requested) = &consent.requested {
                    writeln!(f, "    requested {requested}")?;
                }
                if !consent.purposes.is_empty() && !consent.purposes[0].is_empty() {
                    writeln!(f, "    purposes: {}", consent.purposes.join("; "))?;
                }
                for (when, what) in &consent.history {
                    writeln!(f, "    {when}  {what}")?;
                }
            }
            for recording in client.recordings.values() {
                writeln!(f, "  Recording {}", recording.recording_id)?;
                if let Some(created) = &recording.created {
                    writeln!(f, "    created {created}")?;
                }
                let plays = recording
                    .accesses
                    .iter()
                    .filter(|a| a.outcome.starts_with("allowed"))
                    .count();
                let refusals = recording
                    .accesses
                    .iter()
                    .filter(|a| a.outcome.starts_with("refused"))
                    .count();
                writeln!(f, "    playbacks: {plays}, refused: {refusals}")?;
                for access in &recording.accesses {
                    write!(
                        f,
                        "    {}  {}  {}",
                        access.at, access.outcome, access.viewer
                    )?;
                    if !access.purpose.is_empty() {
                        write!(f, " for {}", access.purpose)?;
                    }
                    if !access.basis.is_empty() {
                        write!(f, " on {}", access.basis)?;
                    }
                    writeln!(f)?;
                }
                for (when, what) in &recording.destruction {
                    writeln!(f, "    {when}  {what}")?;
                }
            }
            for (when, what) in &client.erasures {
                writeln!(f, "  {when}  {what}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        let mut out = String::new();
        for field in [
            "plain",
            "a,b",
            "say \"hi\"",
            "=SUM(A1)",
            "-1",
            "line\nbreak",
        ] {
            csv_field(&mut out, field);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|'=SUM(A1)|'-1|\"line\nbreak\"|"
        );
    }

    #[test]
    fn actors_and_people_read_tolerantly() {
        let user = serde_json::json!({"kind": "user", "user_id": "sam"});
        assert_eq!(actor(Some(&user)), "user:sam");
        let client = serde_json::json!({"kind": "client_link", "client_id": "c1"});
        assert_eq!(actor(Some(&client)), "client:c1");
        let system = serde_json::json!({"kind": "system", "job": "cascade"});
        assert_eq!(actor(Some(&system)), "system:cascade");
        assert_eq!(actor(Some(&serde_json::json!("odd"))), "\"odd\"");
        assert_eq!(actor(None), "");
        let member = serde_json::json!({"kind": "member", "roles": ["tutor"], "user_id": "ada"});
        assert_eq!(person(Some(&member)), "ada (member: tutor)");
        let assessor = serde_json::json!({"kind": "external_assessor", "user_id": "x"});
        assert_eq!(person(Some(&assessor)), "x (external_assessor)");
    }
}
