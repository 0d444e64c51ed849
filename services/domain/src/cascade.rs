//! Cascades: the events one committed event implies in other streams, computed purely.
//!
//! A withdrawal (or expiry, supersession, opt-out) revokes every grant the consent no longer
//! covers. A whole withdrawal or opt-out with a deletion request also schedules destruction
//! of every recording in the consent's scope and issues a notice to every person who had
//! access to one of them (GDPR Art. 19). A course's end expires the consents that end with
//! it. The application appends what these functions return, as the system's cascade job;
//! each function skips what is already done, so running it twice yields nothing new.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::aggregates::Aggregate;
use crate::aggregates::consent::{
    Consent, ConsentEvent, ConsentStatus, Expiry, ExpiryCause, ExpiryTrigger, Listener, Use,
};
use crate::aggregates::grant::{Grant, GrantEvent, Grantee, RevocationReason};
use crate::aggregates::recording::{DestructionReason, Recording, RecordingEvent, RecordingStatus};
use crate::aggregates::tenant::Tenant;
use crate::context::{Actor, SystemJob};
use crate::ids::{ConsentId, CourseId, GrantId, RecordingId, UserId};
use crate::policy::ConsentModel;

/// The events a consent event implies, grouped by the stream they go to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsentCascade {
    /// `AccessRevoked` for each grant the consent no longer covers.
    pub revocations: Vec<(GrantId, GrantEvent)>,
    /// `RecordingDestructionScheduled` for each recording to destroy.
    pub destructions: Vec<(RecordingId, RecordingEvent)>,
    /// `WithdrawalNoticeIssued` for each person who had access, on the consent's own stream.
    pub notices: Vec<ConsentEvent>,
}

impl ConsentCascade {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.revocations.is_empty() && self.destructions.is_empty() && self.notices.is_empty()
    }
}

fn cascade_actor() -> Actor {
    Actor::system(SystemJob::Cascade)
}

fn event_time(event: &ConsentEvent) -> DateTime<Utc> {
    match event {
        ConsentEvent::ConsentRequested { at, .. }
        | ConsentEvent::ConsentGiven { at, .. }
        | ConsentEvent::ConsentRefused { at, .. }
        | ConsentEvent::ConsentWithdrawn { at, .. }
        | ConsentEvent::ConsentPurposeWithdrawn { at, .. }
        | ConsentEvent::ConsentAudienceMemberWithdrawn { at, .. }
        | ConsentEvent::ConsentExpired { at, .. }
        | ConsentEvent::ConsentSuperseded { at, .. }
        | ConsentEvent::ConsentNoticeGiven { at, .. }
        | ConsentEvent::SessionNoticeGiven { at, .. }
        | ConsentEvent::ConsentOptedOutOfSession { at, .. }
        | ConsentEvent::ConsentOptedOut { at, .. }
        | ConsentEvent::WithdrawalNoticeIssued { at, .. } => *at,
    }
}

/// `AccessRevoked` for every grant relying on `consent` (in its current state) that it no
/// longer covers and that is not revoked yet. The withdrawal cascade uses it, and so may a
/// later pass that catches a grant committed while a withdrawal was being decided.
pub fn revocations_for(
    consent: &Consent,
    grants: &[Grant],
    recordings: &[Recording],
    tenant: &Tenant,
    at: DateTime<Utc>,
) -> Vec<(GrantId, GrantEvent)> {
    let mut revocations = Vec::new();
    let Some(core) = consent.core() else {
        return revocations;
    };
    let after = consent;
    let model = tenant
        .policy()
        .map_or(ConsentModel::WrittenOptIn, |p| p.policy.consent_model);
    let recordings_by_id: BTreeMap<RecordingId, &Recording> = recordings
        .iter()
        .filter(|r| {
            r.core()
                .is_some_and(|c| c.tenant_id == core.tenant_id && c.client_id == core.client_id)
        })
        .filter_map(|r| r.id().map(|id| (id, r)))
        .collect();
    // Grants relying on this consent that it no longer covers.
    static NO_ROLES: BTreeSet<crate::vocabulary::Role> = BTreeSet::new();
    for grant in grants {
        let Some(g) = grant.core() else { continue };
        if g.tenant_id != core.tenant_id || g.consent_id != core.id || grant.revoked_at().is_some()
        {
            continue;
        }
        let Some(rec) = recordings_by_id.get(&g.recording_id).and_then(|r| r.core()) else {
            continue;
        };
        let listener = match &g.grantee {
            Grantee::Member { user_id } => Listener::Person {
                user_id,
                roles: tenant.roles_of(user_id).unwrap_or(&NO_ROLES),
            },
            Grantee::ExternalAssessor { user_id } => Listener::Person {
                user_id,
                roles: &NO_ROLES,
            },
            Grantee::Client { client_id } => Listener::Client(*client_id),
        };
        let still = after.coverage(&Use {
            tenant_id: &core.tenant_id,
            model,
            client_id: rec.client_id,
            practitioner: &rec.practitioner,
            session_on: Some(rec.session_on),
            at,
            purpose: Some(g.purpose),
            medium: None,
            derivative: None,
            listener: Some(listener),
        });
        if still.is_err() {
            revocations.push((
                g.id,
                GrantEvent::AccessRevoked {
                    reason: RevocationReason::ConsentNoLongerCovers {
                        consent_id: core.id,
                    },
                    by: cascade_actor(),
                    at,
                },
            ));
        }
    }

    revocations
}

/// What `event` on `before` implies for the consent's grants and recordings.
///
/// `grants` and `recordings` are those about the consent's client (others are ignored);
/// `tenant` expands role audiences to the people holding the role.
pub fn after_consent_event(
    before: &Consent,
    event: &ConsentEvent,
    grants: &[Grant],
    recordings: &[Recording],
    tenant: &Tenant,
) -> ConsentCascade {
    let mut cascade = ConsentCascade::default();
    let Some(core) = before.core() else {
        return cascade;
    };
    let at = event_time(event);
    let after = before.clone().apply(event);
    let in_tenant = |r: &&Recording| {
        r.core()
            .is_some_and(|c| c.tenant_id == core.tenant_id && c.client_id == core.client_id)
    };
    let recordings_by_id: BTreeMap<RecordingId, &Recording> = recordings
        .iter()
        .filter(in_tenant)
        .filter_map(|r| r.id().map(|id| (id, r)))
        .collect();

    cascade.revocations = revocations_for(&after, grants, recordings, tenant, at);

    let deletion = matches!(
        event,
        ConsentEvent::ConsentWithdrawn {
            deletion_requested: true,
            ..
        } | ConsentEvent::ConsentOptedOut {
            deletion_requested: true,
            ..
        }
    );
    if !deletion {
        return cascade;
    }

    // Recordings in the consent's scope, not yet destroyed.
    let affected: Vec<&Recording> = recordings_by_id
        .values()
        .copied()
        .filter(|r| {
            r.core().is_some_and(|c| {
                c.practitioner == core.practitioner && core.scope.includes(c.session_on)
            }) && r.status() != Some(RecordingStatus::Destroyed)
        })
        .collect();
    for recording in &affected {
        let Some(id) = recording.id() else { continue };
        if recording
            .scheduled_destruction()
            .is_some_and(|(due, _)| due <= at)
        {
            continue;
        }
        cascade.destructions.push((
            id,
            RecordingEvent::RecordingDestructionScheduled {
                due: at,
                reason: DestructionReason::DeletionRequested {
                    consent_id: core.id,
                },
                by: cascade_actor(),
                at,
            },
        ));
    }

    // Everyone who had access to an affected recording: the named audience, members of a
    // named role, grantees, and anyone who played it. The practitioner is the source of the
    // recording, not a recipient of it, so is not sent an Art. 19 notice.
    let affected_ids: BTreeSet<RecordingId> = affected.iter().filter_map(|r| r.id()).collect();
    let mut recipients: BTreeMap<UserId, BTreeSet<RecordingId>> = BTreeMap::new();
    if !affected_ids.is_empty() {
        for purpose in before.purposes().values() {
            let audience = &purpose.terms.audience;
            let role_members = audience
                .roles
                .iter()
                .flat_map(|role| tenant.members_with_role(*role));
            for user in audience.users.iter().chain(role_members) {
                recipients
                    .entry(user.clone())
                    .or_default()
                    .extend(affected_ids.iter().copied());
            }
        }
    }
    for grant in grants {
        let Some(g) = grant.core() else { continue };
        if g.tenant_id != core.tenant_id || !affected_ids.contains(&g.recording_id) {
            continue;
        }
        if let Grantee::Member { user_id } | Grantee::ExternalAssessor { user_id } = &g.grantee {
            recipients
                .entry(user_id.clone())
                .or_default()
                .insert(g.recording_id);
        }
    }
    for recording in &affected {
        let Some(id) = recording.id() else { continue };
        for user in recording.played_by() {
            recipients.entry(user.clone()).or_default().insert(id);
        }
    }
    recipients.remove(&core.practitioner);
    for (recipient, recording_ids) in recipients {
        if before.notified().contains(&recipient) {
            continue;
        }
        cascade.notices.push(ConsentEvent::WithdrawalNoticeIssued {
            recipient,
            recording_ids: recording_ids.into_iter().collect(),
            by: cascade_actor(),
            at,
        });
    }
    cascade
}

/// The expiries a course's end implies: every consent in force that ends with this course.
pub fn after_course_ended(
    course_id: CourseId,
    at: DateTime<Utc>,
    consents: &[Consent],
) -> Vec<(ConsentId, ConsentEvent)> {
    let trigger = ExpiryTrigger::CourseEnded { course_id };
    consents
        .iter()
        .filter(|c| c.status().is_some_and(ConsentStatus::is_in_force))
        .filter_map(|c| {
            let core = c.core()?;
            (core.expiry == Some(Expiry::OnEvent { trigger })).then(|| {
                (
                    core.id,
                    ConsentEvent::ConsentExpired {
                        cause: ExpiryCause::Triggered { trigger },
                        by: cascade_actor(),
                        at,
                    },
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::aggregates::consent::PurposeTerms;
    use crate::testing::*;
    use crate::vocabulary::{Medium, Purpose};

    fn two_purposes() -> Vec<PurposeTerms> {
        vec![
            terms(Purpose::Credentialing, &["icf-assessor"], &[Medium::Audio]),
            terms(Purpose::Supervision, &["ada", "bob"], &[Medium::Audio]),
        ]
    }

    fn grant(n: u128, grantee: Grantee, purpose: Purpose) -> Grant {
        Grant::from_events(&[GrantEvent::AccessGranted {
            grant_id: GrantId::from_uuid(uuid(n)).unwrap(),
            tenant_id: tenant_id(),
            recording_id: recording_id(),
            consent_id: consent_id(),
            consent_version: 2,
            grantee,
            purpose,
            expires_at: t(2, 9) + TimeDelta::days(30),
            by: by("sam"),
            at: t(2, 9),
        }])
    }

    fn grants() -> Vec<Grant> {
        vec![
            grant(
                50,
                Grantee::ExternalAssessor {
                    user_id: user("icf-assessor"),
                },
                Purpose::Credentialing,
            ),
            grant(
                51,
                Grantee::Member {
                    user_id: user("bob"),
                },
                Purpose::Supervision,
            ),
        ]
    }

    fn revoked(cascade: &ConsentCascade) -> Vec<GrantId> {
        cascade.revocations.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn withdrawing_a_purpose_revokes_only_its_grants() {
        let tenant = tenant(written_policy());
        let before = given_consent(two_purposes(), None);
        let event = ConsentEvent::ConsentPurposeWithdrawn {
            purpose: Purpose::Credentialing,
            by: Actor::client(client_id()),
            at: t(3, 9),
        };
        let cascade = after_consent_event(
            &before,
            &event,
            &grants(),
            &[stored_recording(Medium::Audio)],
            &tenant,
        );
        assert_eq!(
            revoked(&cascade),
            vec![GrantId::from_uuid(uuid(50)).unwrap()]
        );
        assert_eq!(
            cascade.revocations[0].1,
            GrantEvent::AccessRevoked {
                reason: RevocationReason::ConsentNoLongerCovers {
                    consent_id: consent_id()
                },
                by: Actor::system(SystemJob::Cascade),
                at: t(3, 9),
            }
        );
        assert!(cascade.destructions.is_empty() && cascade.notices.is_empty());
    }

    #[test]
    fn withdrawing_an_audience_member_revokes_their_grant() {
        let tenant = tenant(written_policy());
        let before = given_consent(two_purposes(), None);
        let event = ConsentEvent::ConsentAudienceMemberWithdrawn {
            purpose: Purpose::Supervision,
            user_id: user("bob"),
            by: Actor::client(client_id()),
            at: t(3, 9),
        };
        let cascade = after_consent_event(
            &before,
            &event,
            &grants(),
            &[stored_recording(Medium::Audio)],
            &tenant,
        );
        assert_eq!(
            revoked(&cascade),
            vec![GrantId::from_uuid(uuid(51)).unwrap()]
        );
    }

    #[test]
    fn a_whole_withdrawal_without_deletion_revokes_but_keeps_the_recordings() {
        let tenant = tenant(written_policy());
        let before = given_consent(two_purposes(), None);
        let event = ConsentEvent::ConsentWithdrawn {
            deletion_requested: false,
            by: Actor::client(client_id()),
            at: t(3, 9),
        };
        let cascade = after_consent_event(
            &before,
            &event,
            &grants(),
            &[stored_recording(Medium::Audio)],
            &tenant,
        );
        assert_eq!(cascade.revocations.len(), 2);
        assert!(cascade.destructions.is_empty() && cascade.notices.is_empty());
    }

    #[test]
    fn a_deletion_request_notifies_everyone_who_had_access_once() {
        let tenant = tenant(written_policy());
        let before = given_consent(two_purposes(), None);
        let event = ConsentEvent::ConsentWithdrawn {
            deletion_requested: true,
            by: Actor::client(client_id()),
            at: t(3, 9),
        };
        let recordings = [stored_recording(Medium::Audio)];
        let cascade = after_consent_event(&before, &event, &grants(), &recordings, &tenant);
        assert_eq!(cascade.destructions.len(), 1);
        let recipients: Vec<UserId> = cascade
            .notices
            .iter()
            .filter_map(|n| match n {
                ConsentEvent::WithdrawalNoticeIssued { recipient, .. } => Some(recipient.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            recipients,
            vec![user("ada"), user("bob"), user("icf-assessor")]
        );
        // Once the notices and the schedule are on record, a rerun adds nothing.
        let notified = cascade
            .notices
            .iter()
            .fold(before.clone(), |c, e| c.apply(e));
        let scheduled = recordings[0].clone().apply(&cascade.destructions[0].1);
        let rerun = after_consent_event(&notified, &event, &grants(), &[scheduled], &tenant);
        assert!(rerun.destructions.is_empty() && rerun.notices.is_empty());
    }

    #[test]
    fn revoked_grants_and_other_consents_grants_are_left_alone() {
        let tenant = tenant(written_policy());
        let before = given_consent(two_purposes(), None);
        let mut other = grants();
        other[0] = other[0].clone().apply(&GrantEvent::AccessRevoked {
            reason: RevocationReason::RevokedByGrantor,
            by: by("sam"),
            at: t(2, 10),
        });
        let event = ConsentEvent::ConsentWithdrawn {
            deletion_requested: false,
            by: Actor::client(client_id()),
            at: t(3, 9),
        };
        let cascade = after_consent_event(
            &before,
            &event,
            &other,
            &[stored_recording(Medium::Audio)],
            &tenant,
        );
        assert_eq!(
            revoked(&cascade),
            vec![GrantId::from_uuid(uuid(51)).unwrap()]
        );
    }

    #[test]
    fn a_course_end_expires_the_consents_that_end_with_it() {
        let course = CourseId::from_uuid(uuid(7)).unwrap();
        let trigger = Expiry::OnEvent {
            trigger: ExpiryTrigger::CourseEnded { course_id: course },
        };
        let mut with_course = given_consent_events(assessment_terms(), Some(trigger));
        if let ConsentEvent::ConsentRequested { course_id, .. } = &mut with_course[0] {
            *course_id = Some(course);
        }
        let ending = Consent::from_events(&with_course);
        let unrelated = given_consent(assessment_terms(), None);
        let expiries = after_course_ended(course, t(100, 17), &[ending, unrelated]);
        assert_eq!(
            expiries,
            vec![(
                consent_id(),
                ConsentEvent::ConsentExpired {
                    cause: ExpiryCause::Triggered {
                        trigger: ExpiryTrigger::CourseEnded { course_id: course }
                    },
                    by: Actor::system(SystemJob::Cascade),
                    at: t(100, 17),
                }
            )]
        );
    }
}
