use chrono::TimeDelta;

use crate::aggregates::consent::Expiry;
use crate::aggregates::grant::*;
use crate::aggregates::recording::RecordingEvent;
use crate::context::{Actor, SystemJob};
use crate::ids::GrantId;
use crate::testing::*;
use crate::vocabulary::{Medium, Purpose};

fn credential_terms() -> Vec<crate::aggregates::consent::PurposeTerms> {
    vec![terms(
        Purpose::Credentialing,
        &["icf-assessor"],
        &[Medium::Audio],
    )]
}

fn grant(grantee: Grantee, expires_at: chrono::DateTime<chrono::Utc>) -> GrantCommand {
    GrantCommand::GrantAccess {
        recording: Box::new(stored_recording(Medium::Audio)),
        consent: Box::new(given_consent(credential_terms(), None)),
        grantee,
        purpose: Purpose::Credentialing,
        expires_at,
    }
}

fn assessor() -> Grantee {
    Grantee::ExternalAssessor {
        user_id: user("icf-assessor"),
    }
}

pub(crate) fn granted_event() -> GrantEvent {
    GrantEvent::AccessGranted {
        grant_id: GrantId::from_uuid(uuid(50)).unwrap(),
        tenant_id: tenant_id(),
        recording_id: recording_id(),
        consent_id: consent_id(),
        consent_version: 2,
        grantee: assessor(),
        purpose: Purpose::Credentialing,
        expires_at: t(2, 9) + TimeDelta::days(30),
        by: by("sam"),
        at: t(2, 9),
    }
}

#[test]
fn grant_access_to_a_named_external_assessor() {
    let tenant = tenant(written_policy());
    let ids = [uuid(50)];
    let state = given::<GrantEvent>([])
        .when(
            grant(assessor(), t(2, 9) + TimeDelta::days(30)),
            &as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids),
        )
        .then(vec![granted_event()]);
    assert!(state.is_active_at(t(31, 9)));
    assert!(!state.is_active_at(t(32, 9)));
}

#[test]
fn a_grant_never_widens_consent() {
    let tenant = tenant(written_policy());
    let ids = [uuid(50)];
    let ctx = as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids);
    // The client named one assessor; another cannot be granted.
    given::<GrantEvent>([])
        .when(
            grant(
                Grantee::ExternalAssessor {
                    user_id: user("someone-else"),
                },
                t(20, 0),
            ),
            &ctx,
        )
        .then_error("consent_required", "viewer_not_in_audience");
    // Nor can a member the consent does not name.
    given::<GrantEvent>([])
        .when(
            grant(
                Grantee::Member {
                    user_id: user("ada"),
                },
                t(20, 0),
            ),
            &ctx,
        )
        .then_error("consent_required", "viewer_not_in_audience");
    // An auditor never plays, grant or not.
    given::<GrantEvent>([])
        .when(
            grant(
                Grantee::Member {
                    user_id: user("aude"),
                },
                t(20, 0),
            ),
            &ctx,
        )
        .then_error("forbidden", "auditor");
}

#[test]
fn a_grant_cannot_outlast_its_consent_or_be_open_ended() {
    let tenant = tenant(written_policy());
    let ids = [uuid(50)];
    let ctx = as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids);
    let command = GrantCommand::GrantAccess {
        recording: Box::new(stored_recording(Medium::Audio)),
        consent: Box::new(given_consent(
            credential_terms(),
            Some(Expiry::OnDate { at: t(10, 0) }),
        )),
        grantee: assessor(),
        purpose: Purpose::Credentialing,
        expires_at: t(11, 0),
    };
    given::<GrantEvent>([])
        .when(command, &ctx)
        .then_error("invalid", "outlast");
    given::<GrantEvent>([])
        .when(grant(assessor(), t(2, 9) + TimeDelta::days(400)), &ctx)
        .then_error("invalid", "at most");
    given::<GrantEvent>([])
        .when(grant(assessor(), t(2, 8)), &ctx)
        .then_error("invalid", "future");
}

#[test]
fn only_the_practitioner_or_an_admin_grants() {
    let tenant = tenant(written_policy());
    let ids = [uuid(50)];
    given::<GrantEvent>([])
        .when(
            grant(assessor(), t(20, 0)),
            &as_user(&tenant, "ada", t(2, 9)).with_new_ids(&ids),
        )
        .then_error("forbidden", "practitioner or an org_admin");
}

#[test]
fn no_grant_on_a_recording_scheduled_for_destruction() {
    let tenant = tenant(written_policy());
    let ids = [uuid(50)];
    let mut history = stored_recording_events(Medium::Audio);
    history.push(RecordingEvent::RecordingDestructionScheduled {
        due: t(2, 0),
        reason: crate::aggregates::recording::DestructionReason::Manual,
        by: by("sam"),
        at: t(2, 0),
    });
    let command = GrantCommand::GrantAccess {
        recording: Box::new(crate::aggregates::Aggregate::from_events(&history)),
        consent: Box::new(given_consent(credential_terms(), None)),
        grantee: assessor(),
        purpose: Purpose::Credentialing,
        expires_at: t(20, 0),
    };
    given::<GrantEvent>([])
        .when(
            command,
            &as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids),
        )
        .then_error("conflict", "destruction");
}

#[test]
fn revoke_access_by_the_grantor_or_the_cascade_once() {
    let tenant = tenant(written_policy());
    let state = given([granted_event()])
        .when(
            GrantCommand::RevokeAccess {
                reason: RevocationReason::RevokedByGrantor,
            },
            &as_user(&tenant, "sam", t(3, 9)),
        )
        .then(vec![GrantEvent::AccessRevoked {
            reason: RevocationReason::RevokedByGrantor,
            by: by("sam"),
            at: t(3, 9),
        }]);
    assert!(!state.is_active_at(t(3, 10)));
    let cascade = RevocationReason::ConsentNoLongerCovers {
        consent_id: consent_id(),
    };
    given([granted_event()])
        .when(
            GrantCommand::RevokeAccess { reason: cascade },
            &as_system(&tenant, t(3, 9)),
        )
        .then(vec![GrantEvent::AccessRevoked {
            reason: cascade,
            by: Actor::system(SystemJob::Cascade),
            at: t(3, 9),
        }]);
    given([granted_event()])
        .when(
            GrantCommand::RevokeAccess {
                reason: RevocationReason::RevokedByGrantor,
            },
            &as_user(&tenant, "pat", t(3, 9)),
        )
        .then_error("forbidden", "grantor");
    given([
        granted_event(),
        GrantEvent::AccessRevoked {
            reason: RevocationReason::RevokedByGrantor,
            by: by("sam"),
            at: t(3, 9),
        },
    ])
    .when(
        GrantCommand::RevokeAccess {
            reason: RevocationReason::RevokedByGrantor,
        },
        &as_user(&tenant, "sam", t(3, 9)),
    )
    .then_error("conflict", "already revoked");
}
