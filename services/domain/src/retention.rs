//! Retention: when each recording must be destroyed, as a pure function of the recording, its
//! consent, its course and the tenant policy. The job that runs it (and emits the destruction
//! when due, idempotently) lives in the application.
//!
//! The earliest of these wins:
//! - a destruction already scheduled (a deletion request);
//! - the consent's end: its expiry date, or the moment it was recorded as expired, or
//!   withdrawn with a deletion request;
//! - the course's end plus the policy's grace, unless the consent gives an explicit date
//!   after that ("a course's recordings are destroyed when the course has finished unless a
//!   later consent says otherwise");
//! - the tenant's default retention, counted from storage (or creation, before upload).

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::consent::{Consent, ConsentStatus, Expiry, ExpiryTrigger};
use crate::aggregates::course::Course;
use crate::aggregates::recording::{DestructionReason, Recording, RecordingStatus};
use crate::policy::TenantPolicy;

/// When a recording must be destroyed, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDue {
    /// The moment after which it must not exist.
    pub destroy_after: DateTime<Utc>,
    /// The rule that sets that moment.
    pub reason: DestructionReason,
}

impl RetentionDue {
    /// Whether it is due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        now >= self.destroy_after
    }
}

/// The destroy-after of `recording`, or `None` if it is already destroyed (or not a
/// recording). `consent` is the consent it was created under; `course` its course, if any.
pub fn destroy_after(
    recording: &Recording,
    consent: Option<&Consent>,
    course: Option<&Course>,
    policy: &TenantPolicy,
) -> Option<RetentionDue> {
    let core = recording.core()?;
    if recording.status() == Some(RecordingStatus::Destroyed) {
        return None;
    }
    let mut candidates: Vec<RetentionDue> = Vec::with_capacity(4);

    if let Some((due, reason)) = recording.scheduled_destruction() {
        candidates.push(RetentionDue {
            destroy_after: due,
            reason,
        });
    }

    let consent = consent.filter(|c| c.id() == Some(core.consent_id));
    let consent_date = consent.and_then(Consent::expires_at);
    if let Some(consent) = consent {
        let consent_id = core.consent_id;
        if let Some(at) = consent_date {
            candidates.push(RetentionDue {
                destroy_after: at,
                reason: DestructionReason::ConsentExpired { consent_id },
            });
        }
        // A consent that ended with its course leaves the recordings the course's grace
        // (below); any other expiry makes them due at once.
        let ends_with_course = consent.core().is_some_and(|c| {
            matches!(
                c.expiry,
                Some(Expiry::OnEvent {
                    trigger: ExpiryTrigger::CourseEnded { .. }
                })
            )
        });
        match (consent.status(), consent.ended_at()) {
            (Some(ConsentStatus::Expired), Some(ended)) if !ends_with_course => {
                candidates.push(RetentionDue {
                    destroy_after: ended,
                    reason: DestructionReason::ConsentExpired { consent_id },
                })
            }
            (Some(ConsentStatus::Withdrawn | ConsentStatus::OptedOut), Some(ended))
                if consent.deletion_requested() =>
            {
                candidates.push(RetentionDue {
                    destroy_after: ended,
                    reason: DestructionReason::DeletionRequested { consent_id },
                });
            }
            _ => {}
        }
    }

    let course = course.filter(|c| c.id().is_some() && c.id() == core.course_id);
    if let Some((course_id, ended_on)) = course.and_then(|c| c.id().zip(c.ended_on())) {
        let end = ended_on.and_time(NaiveTime::MIN).and_utc()
            + TimeDelta::days(i64::from(policy.course_grace_days));
        let later_consent_says_otherwise = consent_date.is_some_and(|date| date > end);
        if !later_consent_says_otherwise {
            candidates.push(RetentionDue {
                destroy_after: end,
                reason: DestructionReason::CourseEnded { course_id },
            });
        }
    }

    let since = recording.stored_at().unwrap_or(core.created_at);
    candidates.push(RetentionDue {
        destroy_after: since + TimeDelta::days(i64::from(policy.retention_days)),
        reason: DestructionReason::RetentionElapsed,
    });

    candidates.into_iter().min_by_key(|c| c.destroy_after)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::aggregates::Aggregate;
    use crate::aggregates::consent::{ConsentEvent, Expiry};
    use crate::aggregates::course::CourseEvent;
    use crate::aggregates::recording::RecordingEvent;
    use crate::context::Actor;
    use crate::ids::CourseId;
    use crate::testing::*;
    use crate::vocabulary::Medium;

    fn course_id() -> CourseId {
        CourseId::from_uuid(uuid(7)).unwrap()
    }

    fn recording_in_course() -> Recording {
        let mut created = recording_created(Medium::Audio);
        if let RecordingEvent::RecordingCreated { course_id, .. } = &mut created {
            *course_id = Some(self::course_id());
        }
        Recording::from_events(&[created, recording_stored()])
    }

    fn created_course() -> CourseEvent {
        CourseEvent::CourseCreated {
            course_id: course_id(),
            tenant_id: tenant_id(),
            title: "Diploma".into(),
            starts_on: date(-10),
            ends_on: date(100),
            tutors: BTreeSet::new(),
            by: by("admin"),
            at: t(-10, 9),
        }
    }

    fn ended_course(day: i64) -> Course {
        Course::from_events(&[
            created_course(),
            CourseEvent::CourseEnded {
                ended_on: date(day),
                by: by("admin"),
                at: t(day, 17),
            },
        ])
    }

    #[test]
    fn the_tenant_default_counts_from_storage() {
        let due = destroy_after(
            &stored_recording(Medium::Audio),
            None,
            None,
            &written_policy(),
        )
        .unwrap();
        assert_eq!(due.destroy_after, t(1, 11) + TimeDelta::days(365));
        assert_eq!(due.reason, DestructionReason::RetentionElapsed);
        assert!(!due.is_due(t(300, 0)) && due.is_due(t(367, 0)));
    }

    #[test]
    fn an_earlier_consent_expiry_wins() {
        let consent = given_consent(assessment_terms(), Some(Expiry::OnDate { at: t(60, 0) }));
        let due = destroy_after(
            &stored_recording(Medium::Audio),
            Some(&consent),
            None,
            &written_policy(),
        )
        .unwrap();
        assert_eq!(due.destroy_after, t(60, 0));
        assert_eq!(
            due.reason,
            DestructionReason::ConsentExpired {
                consent_id: consent_id()
            }
        );
    }

    #[test]
    fn a_course_end_plus_grace_wins_unless_a_later_consent_says_otherwise() {
        let consent = given_consent(assessment_terms(), None);
        let due = destroy_after(
            &recording_in_course(),
            Some(&consent),
            Some(&ended_course(100)),
            &written_policy(),
        )
        .unwrap();
        assert_eq!(due.destroy_after, t(114, 0));
        assert_eq!(
            due.reason,
            DestructionReason::CourseEnded {
                course_id: course_id()
            }
        );
        let later = given_consent(assessment_terms(), Some(Expiry::OnDate { at: t(200, 0) }));
        let due = destroy_after(
            &recording_in_course(),
            Some(&later),
            Some(&ended_course(100)),
            &written_policy(),
        )
        .unwrap();
        assert_eq!(due.destroy_after, t(200, 0));
        // A course that has not ended sets no date.
        let running = Course::from_events(&[created_course()]);
        let due = destroy_after(
            &recording_in_course(),
            Some(&consent),
            Some(&running),
            &written_policy(),
        )
        .unwrap();
        assert_eq!(due.reason, DestructionReason::RetentionElapsed);
    }

    #[test]
    fn a_withdrawal_with_deletion_is_due_at_once_and_destroyed_is_never_due() {
        let mut events = given_consent_events(assessment_terms(), None);
        events.push(ConsentEvent::ConsentWithdrawn {
            deletion_requested: true,
            by: Actor::client(client_id()),
            at: t(3, 9),
        });
        let consent = Consent::from_events(&events);
        let due = destroy_after(
            &stored_recording(Medium::Audio),
            Some(&consent),
            None,
            &written_policy(),
        )
        .unwrap();
        assert_eq!(due.destroy_after, t(3, 9));
        let mut destroyed = stored_recording_events(Medium::Audio);
        destroyed.push(RecordingEvent::RecordingDestroyed {
            reason: DestructionReason::Manual,
            destroyed_key_id: Some(data_key()),
            object_sha256s: vec![],
            transcript_ids: vec![],
            by: by("sam"),
            at: t(4, 0),
        });
        assert_eq!(
            destroy_after(
                &Recording::from_events(&destroyed),
                Some(&consent),
                None,
                &written_policy()
            ),
            None
        );
    }
}
