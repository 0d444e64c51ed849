//! A recording's access history, from the log itself: every playback with its basis, every
//! refused attempt with its reasons, each grant made and taken back, transcripts made, and
//! the recording's destruction — when, by whom, for what purpose. Its client reads it through
//! their link; members who may read the client's records read it too.
//!
//! The history merges the recording's stream, read a page at a time from the stream's
//! version (a keyset in the query), with the streams of the grants on it, which are read
//! whole: a grant holds at most two events and a recording few grants, while plays and
//! refusals grow without bound. Rows are in the log's order; a row's cursor is its sequence
//! and how far into the recording's stream the history had read.

use confide_domain::aggregates::grant::{Grant, GrantEvent};
use confide_domain::aggregates::recording::RecordingEvent;
use confide_domain::{Actor, DomainError, Event, GrantId, RecordingId, reads};
use confide_eventstore::{RecordedEvent, StreamId};

use crate::pages::{Page, PageRequest, invalid_cursor};
use crate::{App, AppError, Caller, Subject, stream};

/// What happened to access to the recording.
#[derive(Clone, Debug)]
pub enum AccessChange {
    /// A playback, a refusal, a transcript, the destruction scheduled or done: the
    /// recording's own event.
    Recording(RecordingEvent),
    /// A grant made or taken back.
    Grant {
        grant_id: GrantId,
        event: GrantEvent,
    },
}

/// One row of a recording's access history.
#[derive(Clone, Debug)]
pub struct AccessEntry {
    /// The event's sequence in the tenant's log.
    pub sequence: u64,
    pub change: AccessChange,
}

impl AccessEntry {
    /// Who acted.
    pub fn by(&self) -> &Actor {
        match &self.change {
            AccessChange::Recording(event) => recording_actor(event),
            AccessChange::Grant { event, .. } => match event {
                GrantEvent::AccessGranted { by, .. } | GrantEvent::AccessRevoked { by, .. } => by,
            },
        }
    }
}

fn recording_actor(event: &RecordingEvent) -> &Actor {
    match event {
        RecordingEvent::RecordingCreated { by, .. }
        | RecordingEvent::RecordingStopRequested { by, .. }
        | RecordingEvent::RecordingStored { by, .. }
        | RecordingEvent::BookmarkAdded { by, .. }
        | RecordingEvent::CommentAdded { by, .. }
        | RecordingEvent::TranscriptAttached { by, .. }
        | RecordingEvent::PlaybackStarted { by, .. }
        | RecordingEvent::PlaybackRefused { by, .. }
        | RecordingEvent::RecordingDestructionScheduled { by, .. }
        | RecordingEvent::RecordingDestroyed { by, .. } => by,
    }
}

/// Whether a recording's event is about access to it (not its annotations or its upload).
fn about_access(event: &RecordingEvent) -> bool {
    matches!(
        event,
        RecordingEvent::PlaybackStarted { .. }
            | RecordingEvent::PlaybackRefused { .. }
            | RecordingEvent::TranscriptAttached { .. }
            | RecordingEvent::RecordingDestructionScheduled { .. }
            | RecordingEvent::RecordingDestroyed { .. }
    )
}

/// A cursor: the sequence of the last row seen and how many of the recording's events the
/// history had read up to it.
fn cursor(sequence: u64, recording_version: u64) -> String {
    format!("{sequence}.{recording_version}")
}

fn parse_cursor(after: Option<&str>) -> Result<Option<(u64, u64)>, DomainError> {
    after
        .map(|after| {
            after
                .split_once('.')
                .and_then(|(sequence, version)| {
                    Some((sequence.parse().ok()?, version.parse().ok()?))
                })
                .ok_or_else(invalid_cursor)
        })
        .transpose()
}

fn domain_event(stored: &RecordedEvent) -> Result<Event, AppError> {
    Ok(Event::from_stored(
        &stored.event_type,
        stored.schema_version,
        &stored.payload,
    )?)
}

impl App {
    /// A page of who accessed a recording, in the log's order. Its client through their link
    /// (another client's recording is not found), or a member who may read the client's
    /// records.
    pub async fn access_history(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>, AppError> {
        let tenant = &caller.tenant;
        let recording = self.existing_recording(tenant, recording_id).await?;
        let client = recording
            .core()
            .map(|core| core.client_id)
            .ok_or_else(|| DomainError::not_found("recording"))?;
        let organisation = self.organisation(tenant).await?;
        reads::access_history(&organisation, &caller.actor, client)?;
        let (after_sequence, mut read_version) = parse_cursor(page.after())?.unwrap_or((0, 0));
        let after_sequence = page.after().map(|_| after_sequence);

        // The grants' events after the cursor, in the log's order.
        let mut grant_events: Vec<(u64, GrantId, GrantEvent)> = Vec::new();
        for (grant_stream, (_, json)) in self
            .read
            .linked_states(
                tenant,
                &Subject::Recording(recording_id.to_string()),
                "grant",
            )
            .await?
        {
            let grant: Grant = confide_readmodels::parse_state(Some(&json))?;
            let Some(grant_id) = grant.core().map(|core| core.id) else {
                continue;
            };
            for stored in self.whole_stream(tenant, &grant_stream).await? {
                if after_sequence.is_some_and(|after| stored.sequence <= after) {
                    continue;
                }
                if let Event::Grant(event) = domain_event(&stored)? {
                    grant_events.push((stored.sequence, grant_id, event));
                }
            }
        }
        grant_events.sort_by_key(|(sequence, _, _)| *sequence);
        let mut grant_events = grant_events.into_iter().peekable();

        let wanted = page.first() + 1;
        let target = stream(recording_id);
        let mut rows: Vec<(String, AccessEntry)> = Vec::with_capacity(wanted);
        'reading: loop {
            let batch = self
                .store
                .read_stream(tenant, &target, read_version + 1, wanted)
                .await?;
            let exhausted = batch.len() < wanted;
            for stored in batch {
                // The grants' rows that come before this event come first.
                while let Some((sequence, grant_id, event)) =
                    grant_events.next_if(|(sequence, _, _)| *sequence < stored.sequence)
                {
                    rows.push((
                        cursor(sequence, read_version),
                        AccessEntry {
                            sequence,
                            change: AccessChange::Grant { grant_id, event },
                        },
                    ));
                    if rows.len() == wanted {
                        break 'reading;
                    }
                }
                read_version = stored.stream_version;
                if let Event::Recording(event) = domain_event(&stored)?
                    && about_access(&event)
                {
                    rows.push((
                        cursor(stored.sequence, read_version),
                        AccessEntry {
                            sequence: stored.sequence,
                            change: AccessChange::Recording(event),
                        },
                    ));
                    if rows.len() == wanted {
                        break 'reading;
                    }
                }
            }
            if exhausted {
                for (sequence, grant_id, event) in grant_events.by_ref() {
                    rows.push((
                        cursor(sequence, read_version),
                        AccessEntry {
                            sequence,
                            change: AccessChange::Grant { grant_id, event },
                        },
                    ));
                    if rows.len() == wanted {
                        break;
                    }
                }
                break;
            }
        }
        Ok(Page::of(rows, page.first()))
    }

    /// Every event of a short stream (a grant's).
    async fn whole_stream(
        &self,
        tenant: &confide_domain::TenantId,
        stream: &StreamId,
    ) -> Result<Vec<RecordedEvent>, AppError> {
        let mut events = Vec::new();
        loop {
            let from = events
                .last()
                .map_or(1, |last: &RecordedEvent| last.stream_version + 1);
            let batch = self.store.read_stream(tenant, stream, from, 100).await?;
            if batch.is_empty() {
                return Ok(events);
            }
            events.extend(batch);
        }
    }
}
