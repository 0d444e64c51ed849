//! The retention job: every recording whose destruction is due — consent expired, course
//! ended plus grace, or the tenant's default retention passed — and not yet scheduled is
//! scheduled, conditioned on the consent and course its due date was computed from.

use chrono::{DateTime, Utc};
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::course::Course;
use confide_domain::aggregates::recording::{Recording, RecordingCommand};
use confide_domain::retention::{RetentionDue, destroy_after};
use confide_domain::{Actor, RecordingId, SystemJob, TenantId};
use confide_eventstore::StoreError;

use crate::{App, AppError, stream};

impl App {
    /// The retention job for one tenant. Running it again, or twice at once, schedules
    /// nothing twice (the schedule lives in the recording's stream); a run stopped half way
    /// loses nothing, because what is left is simply still due. Returns the recordings it
    /// scheduled.
    pub async fn run_retention(&self, tenant: &TenantId) -> Result<Vec<RecordingId>, AppError> {
        let job = Actor::system(SystemJob::Retention);
        let now = self.clock.now();
        let mut scheduled = Vec::new();
        for row in self
            .read
            .due_before(tenant, now + chrono::TimeDelta::seconds(1))
            .await?
        {
            let already = row.scheduled_for.is_some_and(|at| at <= row.destroy_after);
            if row.destroy_after > now || already {
                continue;
            }
            let recording_id = RecordingId::parse(&row.recording_id)?;
            if self.retain(tenant, &job, recording_id).await? {
                scheduled.push(recording_id);
            }
        }
        Ok(scheduled)
    }

    /// Schedules one recording's destruction if it is due now; whether it did.
    async fn retain(
        &self,
        tenant: &TenantId,
        job: &Actor,
        recording_id: RecordingId,
    ) -> Result<bool, AppError> {
        self.transact(tenant, job, move |work| {
            Box::pin(async move {
                let target = stream(recording_id);
                let recording: Recording = work.load(&target).await?;
                let Some(core) = recording.core().cloned() else {
                    return Ok(false);
                };
                let Some(policy) = work.organisation().policy().map(|p| p.policy.clone()) else {
                    return Ok(false);
                };
                let consent: Consent = work.load(&stream(core.consent_id)).await?;
                let course: Option<Course> = match core.course_id {
                    Some(id) => Some(work.load(&stream(id)).await?),
                    None => None,
                };
                let Some(due) = destroy_after(&recording, Some(&consent), course.as_ref(), &policy)
                else {
                    return Ok(false);
                };
                let already = recording
                    .scheduled_destruction()
                    .is_some_and(|(at, _)| at <= due.destroy_after);
                if !due.is_due(work.now()) || already {
                    return Ok(false);
                }
                work.decide(
                    &target,
                    &recording,
                    RecordingCommand::ScheduleDestruction {
                        due: due.destroy_after,
                        reason: due.reason,
                    },
                    &[],
                )?;
                Ok(true)
            })
        })
        .await
    }

    /// Recordings whose destruction falls due before `until`, soonest first.
    pub async fn upcoming_destructions(
        &self,
        tenant: &TenantId,
        until: DateTime<Utc>,
    ) -> Result<Vec<(RecordingId, RetentionDue)>, AppError> {
        self.read
            .due_before(tenant, until)
            .await?
            .into_iter()
            .map(|row| {
                let unreadable = |reason: String| {
                    AppError::Store(StoreError::Invalid(format!(
                        "retention of recording {}: {reason}",
                        row.recording_id
                    )))
                };
                let id =
                    RecordingId::parse(&row.recording_id).map_err(|e| unreadable(e.to_string()))?;
                let reason =
                    serde_json::from_str(&row.reason).map_err(|e| unreadable(e.to_string()))?;
                Ok((
                    id,
                    RetentionDue {
                        destroy_after: row.destroy_after,
                        reason,
                    },
                ))
            })
            .collect()
    }
}
