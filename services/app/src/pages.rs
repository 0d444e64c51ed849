//! Lists that grow, a page at a time: the organisation's recordings (each with the caller's
//! access), a client's consents, and the log for auditors. Every list is read with a keyset —
//! the rows after the last one seen, in the order of their key, `LIMIT` in the query — so a
//! page costs the same at the start of a list as at its end; the key of a row is its cursor.

use std::collections::BTreeMap;

use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::grant::Grant;
use confide_domain::aggregates::recording::{AccessFacts, Recording};
use confide_domain::{Ctx, DomainError, Medium, Purpose, reads};
use confide_eventstore::{RecordedEvent, StreamId};

use crate::{App, AppError, Caller, ClientId, RecordingView, Subject};

/// The most rows one page holds (the log's pages: [`crate::MAX_LOG_PAGE`]).
pub const MAX_PAGE: usize = 100;

/// Which page to read: at most `first` rows after the row whose cursor is `after` (from the
/// start when none). A cursor is the key of its row, as a page gave it; the edge may wrap it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    first: usize,
    after: Option<String>,
}

impl PageRequest {
    /// `first` rows (1 to `max`) after `after`.
    pub fn new(first: usize, after: Option<String>, max: usize) -> Result<Self, DomainError> {
        if first == 0 || first > max {
            return Err(DomainError::invalid(
                "first",
                format!("a page holds 1 to {max} rows"),
            ));
        }
        Ok(Self { first, after })
    }

    pub fn first(&self) -> usize {
        self.first
    }

    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The cursor as the stream it names, which must be of `kind`.
    pub(crate) fn after_stream(&self, kind: &str) -> Result<Option<StreamId>, DomainError> {
        self.after
            .as_deref()
            .map(|after| {
                StreamId::parse(after)
                    .ok()
                    .filter(|stream| confide_readmodels::kind_of(stream) == kind)
                    .ok_or_else(invalid_cursor)
            })
            .transpose()
    }
}

/// A cursor that no page of this list gave.
pub(crate) fn invalid_cursor() -> DomainError {
    DomainError::invalid(
        "after",
        "not a cursor of this list; start again without one",
    )
}

/// One page: each row with its cursor, and whether rows follow the last.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub rows: Vec<(String, T)>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// The page from up to `first + 1` rows read: the extra row only says that more follow.
    pub(crate) fn of(mut rows: Vec<(String, T)>, first: usize) -> Self {
        let has_next_page = rows.len() > first;
        rows.truncate(first);
        Self {
            rows,
            has_next_page,
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self
                .rows
                .into_iter()
                .map(|(cursor, row)| (cursor, f(row)))
                .collect(),
            has_next_page: self.has_next_page,
        }
    }
}

impl App {
    /// A page of the organisation's recordings, in the order they were created, each with the
    /// caller's access for `purpose` (in audio) now; someone who is not a member (an external
    /// assessor) sees only those they may play. Each page is two reads: the page of
    /// recordings, then the consents about their clients and the grants on them together.
    pub async fn recordings_page(
        &self,
        caller: &Caller,
        purpose: Purpose,
        page: &PageRequest,
    ) -> Result<Page<RecordingView>, AppError> {
        reads::member(&caller.actor)?;
        let tenant = &caller.tenant;
        let organisation = self.organisation(tenant).await?;
        let outsider = reads::outsider(&organisation, &caller.actor);
        let ctx = Ctx::new(
            tenant.clone(),
            &organisation,
            caller.actor.clone(),
            self.clock.now(),
        );
        let wanted = page.first() + 1;
        let mut after = page.after_stream("recording")?;
        let mut rows = Vec::with_capacity(wanted);
        // An outsider's page skips what they may not play, so it may take more than one read.
        while rows.len() < wanted {
            let batch = self
                .read
                .linked_states_page(
                    tenant,
                    &Subject::Recordings,
                    "recording",
                    after.as_ref(),
                    wanted - rows.len(),
                )
                .await?;
            let exhausted = batch.len() < wanted - rows.len();
            let recordings: Vec<(StreamId, Recording)> = batch
                .into_iter()
                .map(|(stream, (_, json))| {
                    Ok((stream, confide_readmodels::parse_state(Some(&json))?))
                })
                .collect::<Result<_, AppError>>()?;
            after = recordings.last().map(|(stream, _)| stream.clone());
            let mut facts = self.facts_of(tenant, &recordings).await?;
            for (stream, recording) in recordings {
                if recording.core().is_none() {
                    continue;
                }
                let facts = facts.remove(&stream).unwrap_or_default();
                let (_, access) = recording.access(purpose, Medium::Audio, &facts, &ctx)?;
                if outsider && !access.is_allowed() {
                    continue;
                }
                rows.push((stream.to_string(), RecordingView { recording, access }));
            }
            if exhausted {
                break;
            }
        }
        Ok(Page::of(rows, page.first()))
    }

    /// A page of one client's recordings, in the order they were made, each with the
    /// caller's access for `purpose` (in audio) now: the client through their link (`client`
    /// is theirs when absent), or a member of the organisation, who names the client. Each
    /// page is two reads, as [`App::recordings_page`]'s.
    pub async fn client_recordings_page(
        &self,
        caller: &Caller,
        client: Option<ClientId>,
        purpose: Purpose,
        page: &PageRequest,
    ) -> Result<Page<RecordingView>, AppError> {
        let client = client.or(caller.client()).ok_or_else(|| {
            DomainError::invalid("clientId", "name the client whose recordings to list")
        })?;
        let tenant = &caller.tenant;
        let organisation = self.organisation(tenant).await?;
        reads::client_records(&organisation, &caller.actor, client)?;
        let ctx = Ctx::new(
            tenant.clone(),
            &organisation,
            caller.actor.clone(),
            self.clock.now(),
        );
        let recordings: Vec<(StreamId, Recording)> = self
            .read
            .linked_states_page(
                tenant,
                &Subject::Client(client.to_string()),
                "recording",
                page.after_stream("recording")?.as_ref(),
                page.first() + 1,
            )
            .await?
            .into_iter()
            .map(|(stream, (_, json))| Ok((stream, confide_readmodels::parse_state(Some(&json))?)))
            .collect::<Result<_, AppError>>()?;
        let mut facts = self.facts_of(tenant, &recordings).await?;
        let mut rows = Vec::with_capacity(recordings.len());
        for (stream, recording) in recordings {
            if recording.core().is_none() {
                continue;
            }
            let facts = facts.remove(&stream).unwrap_or_default();
            let (_, access) = recording.access(purpose, Medium::Audio, &facts, &ctx)?;
            rows.push((stream.to_string(), RecordingView { recording, access }));
        }
        Ok(Page::of(rows, page.first()))
    }

    /// The consents about each recording's client and the grants on it, in one read.
    async fn facts_of(
        &self,
        tenant: &confide_domain::TenantId,
        recordings: &[(StreamId, Recording)],
    ) -> Result<BTreeMap<StreamId, AccessFacts>, AppError> {
        let mut wanted: Vec<(Subject, &str)> = Vec::new();
        let mut clients: BTreeMap<ClientId, usize> = BTreeMap::new();
        let mut slots = Vec::new();
        for (_, recording) in recordings {
            let Some(core) = recording.core() else {
                slots.push(None);
                continue;
            };
            let consents = *clients.entry(core.client_id).or_insert_with(|| {
                wanted.push((Subject::Client(core.client_id.to_string()), "consent"));
                wanted.len() - 1
            });
            wanted.push((Subject::Recording(core.id.to_string()), "grant"));
            slots.push(Some((consents, wanted.len() - 1)));
        }
        let found = self.read.linked_states_of(tenant, &wanted).await?;
        let states = |slot: usize| -> Vec<String> {
            found
                .get(slot)
                .map(|rows| rows.iter().map(|(_, (_, json))| json.clone()).collect())
                .unwrap_or_default()
        };
        let mut facts = BTreeMap::new();
        for ((stream, _), slot) in recordings.iter().zip(slots) {
            let Some((consents, grants)) = slot else {
                continue;
            };
            let consents: Vec<Consent> = states(consents)
                .iter()
                .map(|json| confide_readmodels::parse_state(Some(json.as_str())))
                .collect::<Result<_, _>>()?;
            let grants: Vec<Grant> = states(grants)
                .iter()
                .map(|json| confide_readmodels::parse_state(Some(json.as_str())))
                .collect::<Result<_, _>>()?;
            facts.insert(stream.clone(), AccessFacts { consents, grants });
        }
        Ok(facts)
    }

    /// A page of a client's consents, in the order they were asked, each in its current state:
    /// the client through their link (who need not name themself: `client` is theirs when
    /// absent), or a member of the organisation, who names the client.
    pub async fn consents_page(
        &self,
        caller: &Caller,
        client: Option<ClientId>,
        page: &PageRequest,
    ) -> Result<Page<Consent>, AppError> {
        let client = client.or(caller.client()).ok_or_else(|| {
            DomainError::invalid("clientId", "name the client whose consents to list")
        })?;
        let organisation = self.organisation(&caller.tenant).await?;
        reads::client_records(&organisation, &caller.actor, client)?;
        let rows = self
            .read
            .linked_states_page(
                &caller.tenant,
                &Subject::Client(client.to_string()),
                "consent",
                page.after_stream("consent")?.as_ref(),
                page.first() + 1,
            )
            .await?
            .into_iter()
            .map(|(stream, (_, json))| {
                Ok((
                    stream.to_string(),
                    confide_readmodels::parse_state(Some(&json))?,
                ))
            })
            .collect::<Result<_, AppError>>()?;
        Ok(Page::of(rows, page.first()))
    }

    /// A page of the tenant's log in sequence order, for an auditor or an org_admin; the
    /// cursor is the sequence number of the last event seen.
    pub async fn audit_events_page(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<RecordedEvent>, AppError> {
        self.may_read_log(caller).await?;
        let from = match page.after() {
            None => 0,
            Some(after) => after
                .parse::<u64>()
                .ok()
                .and_then(|sequence| sequence.checked_add(1))
                .ok_or_else(invalid_cursor)?,
        };
        let rows = self
            .store
            .read_tenant(&caller.tenant, from, page.first() + 1)
            .await?
            .into_iter()
            .map(|event| (event.sequence.to_string(), event))
            .collect();
        Ok(Page::of(rows, page.first()))
    }
}
