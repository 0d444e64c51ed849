//! Lists, a page at a time, and what a client reads about their own records: the
//! organisation's recordings, a client's consents (the client's own through their link
//! without naming themself), clients searched by name, consent forms, the form a consent was
//! asked with, and who accessed a recording.
//!
//! Every list that grows is a Relay connection: `first` (how many) and `after` (an opaque
//! cursor from a previous page's `pageInfo.endCursor` or an edge's `cursor`), answering
//! `edges { cursor node }`, `nodes` and `pageInfo { hasNextPage endCursor }`. The pages are
//! read by the application with a keyset; a cursor is the key of its row, wrapped.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{ComplexObject, Context, Enum, Object, OutputType, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use confide_app::{
    AccessChange, AccessEntry, ClientEntry, FormVersionView, MAX_PAGE, Page, PageRequest,
};
use confide_domain::aggregates::grant::{GrantEvent, Grantee};
use confide_domain::aggregates::recording::RecordingEvent;
use confide_domain::{
    AccessDecision, Actor, ClientId, ConsentId, DomainError, RecordingId, Viewer,
};
use uuid::Uuid;

use super::id;
use super::types::{Access, AccessBasis, ConsentView, Medium, Purpose, RecordingView};
use crate::caller::{app, caller};
use crate::error::Result;

#[derive(Default)]
pub(super) struct ListQuery;

/// The page asked for: `first` rows (1 to `max`) after the cursor `after`.
pub(super) fn page_request(first: i32, after: Option<String>, max: usize) -> Result<PageRequest> {
    let after = after
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor.as_bytes())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    DomainError::invalid(
                        "after",
                        "not a cursor this API gave; start again without one",
                    )
                })
        })
        .transpose()?;
    Ok(PageRequest::new(
        usize::try_from(first).unwrap_or(0),
        after,
        max,
    )?)
}

/// A page as a connection, each row mapped to its node (rows that map to none are left out).
pub(super) fn connection<T, N: OutputType>(
    request: &PageRequest,
    page: Page<T>,
    mut node: impl FnMut(T) -> Option<N>,
) -> Connection<String, N> {
    let mut connection = Connection::new(request.after().is_some(), page.has_next_page);
    connection.edges.extend(
        page.rows
            .into_iter()
            .filter_map(|(key, row)| Some(Edge::new(URL_SAFE_NO_PAD.encode(key), node(row)?))),
    );
    connection
}

/// A client as listed. The name and contact are opened for the caller only; none once the
/// client is erased.
#[derive(SimpleObject)]
struct ClientView {
    id: Uuid,
    name: Option<String>,
    contact: Option<String>,
    erased: bool,
}

impl From<ClientEntry> for ClientView {
    fn from(entry: ClientEntry) -> Self {
        let (name, contact) = entry.details.map_or((None, None), |details| {
            (Some(details.name), details.contact)
        });
        Self {
            id: entry.id.as_uuid(),
            name,
            contact,
            erased: entry.erased,
        }
    }
}

/// A consent form and its published versions, oldest first.
#[derive(SimpleObject)]
struct ConsentFormView {
    id: Uuid,
    versions: Vec<ConsentFormVersion>,
}

/// One published version of a consent form.
#[derive(SimpleObject)]
struct ConsentFormVersion {
    version: u32,
    title: String,
    /// A BCP 47 tag.
    language: String,
    /// SHA-256 of the exact UTF-8 text, hex.
    text_sha256: String,
    published_at: DateTime<Utc>,
}

impl From<FormVersionView> for ConsentFormVersion {
    fn from(version: FormVersionView) -> Self {
        Self {
            version: version.version,
            title: version.title,
            language: version.language.to_string(),
            text_sha256: version.text_sha256.to_string(),
            published_at: version.published_at,
        }
    }
}

/// The exact form a consent was asked with: what the client reads before signing.
#[derive(SimpleObject)]
struct ConsentFormText {
    id: Uuid,
    version: u32,
    title: String,
    /// A BCP 47 tag.
    language: String,
    text: String,
    /// SHA-256 of the text's UTF-8 bytes, hex: the digest the consent and its receipt name.
    text_sha256: String,
    published_at: DateTime<Utc>,
}

/// What happened to access to a recording.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum AccessEventKind {
    PlaybackStarted,
    PlaybackRefused,
    AccessGranted,
    AccessRevoked,
    TranscriptAttached,
    DestructionScheduled,
    RecordingDestroyed,
}

/// One row of a recording's access history, from the log.
#[derive(SimpleObject)]
struct AccessEvent {
    /// The event's sequence in the tenant's log (its leaf; see `auditEvents`).
    sequence: u64,
    at: DateTime<Utc>,
    kind: AccessEventKind,
    /// Who acted: a user's id, `client` (the client through their link) or `system:<job>`.
    by: String,
    /// Whom it concerns: who played or was refused, or who a grant is for (a user's id, or
    /// `client`).
    person: Option<String>,
    purpose: Option<Purpose>,
    medium: Option<Medium>,
    /// What a playback rested on.
    basis: Option<AccessBasis>,
    /// Why a playback was refused (`consent_withdrawn`, `not_in_audience`, ...).
    reasons: Vec<String>,
    grant_id: Option<Uuid>,
    /// When a grant ends.
    expires_at: Option<DateTime<Utc>>,
    /// When a destruction is due.
    due: Option<DateTime<Utc>>,
    /// Why a grant was revoked or the recording destroyed (`revoked_by_grantor`,
    /// `deletion_requested`, `retention_elapsed`, ...).
    why: Option<String>,
}

fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::User { user_id } => user_id.to_string(),
        Actor::ClientLink { .. } => "client".to_owned(),
        Actor::System { job } => format!("system:{}", tag(job).unwrap_or_default()),
    }
}

fn viewer_name(viewer: &Viewer) -> String {
    match viewer {
        Viewer::Member { user_id, .. } | Viewer::ExternalAssessor { user_id } => {
            user_id.to_string()
        }
        Viewer::Client { .. } => "client".to_owned(),
    }
}

/// A unit variant's name, or a tagged one's `kind`, as serialised (`revoked_by_grantor`).
fn tag(value: &impl serde::Serialize) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        serde_json::Value::String(name) => Some(name),
        serde_json::Value::Object(fields) => fields.get("kind")?.as_str().map(str::to_owned),
        _ => None,
    }
}

impl AccessEvent {
    fn of(entry: AccessEntry) -> Option<Self> {
        let by = actor_name(entry.by());
        let mut row = Self {
            sequence: entry.sequence,
            at: DateTime::<Utc>::MIN_UTC,
            kind: AccessEventKind::PlaybackStarted,
            by,
            person: None,
            purpose: None,
            medium: None,
            basis: None,
            reasons: Vec::new(),
            grant_id: None,
            expires_at: None,
            due: None,
            why: None,
        };
        match entry.change {
            AccessChange::Recording(event) => match event {
                RecordingEvent::PlaybackStarted {
                    viewer,
                    purpose,
                    medium,
                    basis,
                    at,
                    ..
                } => {
                    row.at = at;
                    row.person = Some(viewer_name(&viewer));
                    row.purpose = Some(purpose.into());
                    row.medium = Some(medium.into());
                    row.basis = Access::from(&AccessDecision::Allow { basis }).basis;
                }
                RecordingEvent::PlaybackRefused {
                    viewer,
                    purpose,
                    medium,
                    reasons,
                    at,
                    ..
                } => {
                    row.kind = AccessEventKind::PlaybackRefused;
                    row.at = at;
                    row.person = Some(viewer_name(&viewer));
                    row.purpose = Some(purpose.into());
                    row.medium = Some(medium.into());
                    row.reasons = Access::from(&AccessDecision::Deny { reasons }).reasons;
                }
                RecordingEvent::TranscriptAttached { purpose, at, .. } => {
                    row.kind = AccessEventKind::TranscriptAttached;
                    row.at = at;
                    row.purpose = Some(purpose.into());
                    row.medium = Some(Medium::Transcript);
                }
                RecordingEvent::RecordingDestructionScheduled {
                    due, reason, at, ..
                } => {
                    row.kind = AccessEventKind::DestructionScheduled;
                    row.at = at;
                    row.due = Some(due);
                    row.why = tag(&reason);
                }
                RecordingEvent::RecordingDestroyed { reason, at, .. } => {
                    row.kind = AccessEventKind::RecordingDestroyed;
                    row.at = at;
                    row.why = tag(&reason);
                }
                _ => return None,
            },
            AccessChange::Grant { grant_id, event } => {
                row.grant_id = Some(grant_id.as_uuid());
                match event {
                    GrantEvent::AccessGranted {
                        grantee,
                        purpose,
                        expires_at,
                        at,
                        ..
                    } => {
                        row.kind = AccessEventKind::AccessGranted;
                        row.at = at;
                        row.person = Some(match grantee {
                            Grantee::Member { user_id } | Grantee::ExternalAssessor { user_id } => {
                                user_id.to_string()
                            }
                            Grantee::Client { .. } => "client".to_owned(),
                        });
                        row.purpose = Some(purpose.into());
                        row.expires_at = Some(expires_at);
                    }
                    GrantEvent::AccessRevoked { reason, at, .. } => {
                        row.kind = AccessEventKind::AccessRevoked;
                        row.at = at;
                        row.why = tag(&reason);
                    }
                }
            }
        }
        Some(row)
    }
}

#[Object]
impl ListQuery {
    /// The organisation's recordings in the order they were created, a page at a time, each
    /// with the caller's access for `purpose`; someone who is not a member (an external
    /// assessor) sees only those they may play.
    async fn recordings(
        &self,
        ctx: &Context<'_>,
        purpose: Purpose,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, RecordingView>> {
        let request = page_request(first, after, MAX_PAGE)?;
        let page = app(ctx)
            .recordings_page(caller(ctx)?, purpose.into(), &request)
            .await?;
        Ok(connection(&request, page, |view| {
            RecordingView::of(&view.recording, Some(&view.access))
        }))
    }

    /// A client's consents in the order they were asked, each in its current state. A client
    /// link sees only its own client's, and need not name the client; a member names them.
    async fn consents(
        &self,
        ctx: &Context<'_>,
        client_id: Option<Uuid>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, ConsentView>> {
        let request = page_request(first, after, MAX_PAGE)?;
        let client = client_id
            .map(|client| id(client, ClientId::from_uuid))
            .transpose()?;
        let page = app(ctx)
            .consents_page(caller(ctx)?, client, &request)
            .await?;
        Ok(connection(&request, page, |consent| {
            ConsentView::of(&consent, consent.version())
        }))
    }

    /// Clients in the order they were registered: an org_admin's are all, a practitioner's
    /// those they registered or asked for consent. `search` keeps those whose name has every
    /// word typed, whole or by its first three letters or more (case and accents ignored);
    /// names are matched through a keyed index, never stored in clear.
    async fn clients(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, ClientView>> {
        let request = page_request(first, after, MAX_PAGE)?;
        let page = app(ctx)
            .clients_page(caller(ctx)?, search.as_deref(), &request)
            .await?;
        Ok(connection(&request, page, |client| {
            Some(ClientView::from(client))
        }))
    }

    /// The organisation's consent forms with their versions: for an org_admin or a
    /// practitioner.
    async fn consent_forms(&self, ctx: &Context<'_>) -> Result<Vec<ConsentFormView>> {
        let forms = app(ctx).consent_forms(caller(ctx)?).await?;
        Ok(forms
            .into_iter()
            .map(|form| ConsentFormView {
                id: form.id.as_uuid(),
                versions: form.versions.into_iter().map(Into::into).collect(),
            })
            .collect())
    }

    /// Who accessed a recording, in the log's order, a page at a time: every playback with
    /// its basis, every refused attempt with its reasons, grants made and revoked,
    /// transcripts, and its destruction. Its client reads it through their link (another
    /// client's recording is not found); members who may read the client's records read it
    /// too.
    async fn access_history(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, AccessEvent>> {
        let request = page_request(first, after, MAX_PAGE)?;
        let page = app(ctx)
            .access_history(
                caller(ctx)?,
                id(recording_id, RecordingId::from_uuid)?,
                &request,
            )
            .await?;
        Ok(connection(&request, page, AccessEvent::of))
    }
}

#[ComplexObject]
impl ConsentView {
    /// The exact form this consent was asked with, text included: what the client reads
    /// before signing (through their link), checked against the SHA-256 the consent names.
    async fn form(&self, ctx: &Context<'_>) -> Result<ConsentFormText> {
        let (form_id, version) = app(ctx)
            .consent_form_of(caller(ctx)?, id(self.id, ConsentId::from_uuid)?)
            .await?;
        Ok(ConsentFormText {
            id: form_id.as_uuid(),
            version: version.version,
            title: version.title,
            language: version.language.to_string(),
            text_sha256: version.text_sha256.to_string(),
            text: version.text.unwrap_or_default(),
            published_at: version.published_at,
        })
    }
}
