//! The organisation's access log: every playback allowed and refused across the tenant, for
//! its administrators. Read from the log itself in sequence order (the cursor is the sequence
//! of the last row seen), a batch at a time, keeping the attempts that match the filter.

use chrono::{DateTime, Utc};
use confide_domain::aggregates::recording::RecordingEvent;
use confide_domain::{
    DenyReason, DomainError, Event, Medium, Purpose, RecordingId, Role, Viewer, reads,
};

use crate::pages::invalid_cursor;
use crate::{App, AppError, Caller, Page, PageRequest};

/// Events of the log read per batch while looking for a page's rows.
const SCAN_BATCH: usize = 500;

/// Whether an attempt to play was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessOutcome {
    Allowed,
    Refused,
}

/// Which attempts to list; every field empty lists them all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessLogFilter {
    /// Who played or tried to: a member's or an assessor's user id, or a client's id.
    pub person: Option<String>,
    pub recording: Option<RecordingId>,
    pub outcome: Option<AccessOutcome>,
    /// From this moment (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this moment.
    pub until: Option<DateTime<Utc>>,
}

/// One attempt to play a recording.
#[derive(Clone, Debug)]
pub struct AccessAttempt {
    /// The event's sequence in the tenant's log.
    pub sequence: u64,
    pub recording_id: RecordingId,
    pub viewer: Viewer,
    pub purpose: Purpose,
    pub medium: Medium,
    pub outcome: AccessOutcome,
    /// Why it was refused; empty when allowed.
    pub reasons: Vec<DenyReason>,
    pub at: DateTime<Utc>,
}

impl AccessAttempt {
    /// The id of who played or tried to, as the filter's `person` names them.
    pub fn person(&self) -> String {
        match &self.viewer {
            Viewer::Member { user_id, .. } | Viewer::ExternalAssessor { user_id } => {
                user_id.to_string()
            }
            Viewer::Client { client_id } => client_id.to_string(),
        }
    }

    fn matches(&self, filter: &AccessLogFilter) -> bool {
        filter.person.as_deref().is_none_or(|p| p == self.person())
            && filter.recording.is_none_or(|r| r == self.recording_id)
            && filter.outcome.is_none_or(|o| o == self.outcome)
            && filter.from.is_none_or(|from| self.at >= from)
            && filter.until.is_none_or(|until| self.at < until)
    }
}

/// The attempt an event of the log records, if it records one.
fn attempt(stored: &confide_eventstore::RecordedEvent) -> Result<Option<AccessAttempt>, AppError> {
    if stored.event_type != "PlaybackStarted" && stored.event_type != "PlaybackRefused" {
        return Ok(None);
    }
    let Event::Recording(event) =
        Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload)?
    else {
        return Ok(None);
    };
    let recording_id = stored
        .stream_id
        .as_str()
        .strip_prefix("recording-")
        .map(RecordingId::parse)
        .transpose()?
        .ok_or_else(|| {
            AppError::Store(confide_eventstore::StoreError::Invalid(format!(
                "a playback in stream {}",
                stored.stream_id.as_str()
            )))
        })?;
    let (viewer, purpose, medium, outcome, reasons, at) = match event {
        RecordingEvent::PlaybackStarted {
            viewer,
            purpose,
            medium,
            at,
            ..
        } => (
            viewer,
            purpose,
            medium,
            AccessOutcome::Allowed,
            Vec::new(),
            at,
        ),
        RecordingEvent::PlaybackRefused {
            viewer,
            purpose,
            medium,
            reasons,
            at,
            ..
        } => (viewer, purpose, medium, AccessOutcome::Refused, reasons, at),
        _ => return Ok(None),
    };
    Ok(Some(AccessAttempt {
        sequence: stored.sequence,
        recording_id,
        viewer,
        purpose,
        medium,
        outcome,
        reasons,
        at,
    }))
}

impl App {
    /// Refuses anyone but an org_admin of the caller's tenant: the organisation's
    /// administration (its members, policy, forms, courses, duties and access log).
    pub async fn may_administer(&self, caller: &Caller) -> Result<(), AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        reads::member(&caller.actor)?;
        if reads::roles_of(&organisation, &caller.actor).contains(&Role::OrgAdmin) {
            Ok(())
        } else {
            Err(DomainError::forbidden("the organisation is administered by an org_admin").into())
        }
    }

    /// A page of the organisation's access log (an org_admin): the playbacks allowed and
    /// refused that match `filter`, in the log's order.
    pub async fn access_log_page(
        &self,
        caller: &Caller,
        filter: &AccessLogFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessAttempt>, AppError> {
        self.may_administer(caller).await?;
        let mut from = match page.after() {
            None => 0,
            Some(after) => after
                .parse::<u64>()
                .ok()
                .and_then(|sequence| sequence.checked_add(1))
                .ok_or_else(invalid_cursor)?,
        };
        let wanted = page.first() + 1;
        let mut rows = Vec::with_capacity(wanted);
        'reading: loop {
            let batch = self
                .store
                .read_tenant(&caller.tenant, from, SCAN_BATCH)
                .await?;
            let exhausted = batch.len() < SCAN_BATCH;
            for stored in &batch {
                from = stored.sequence + 1;
                if let Some(attempt) = attempt(stored)?
                    && attempt.matches(filter)
                {
                    rows.push((attempt.sequence.to_string(), attempt));
                    if rows.len() == wanted {
                        break 'reading;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(Page::of(rows, page.first()))
    }
}
