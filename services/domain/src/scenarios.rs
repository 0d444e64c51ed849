//! The practices' stories (`docs/design.md` section 7), told purely: every step is a command
//! decided against the state the previous events built, exactly as the application will do it
//! with a store in between.

use std::collections::BTreeSet;

use chrono::TimeDelta;

use crate::access::DenyReason;
use crate::aggregates::Aggregate;
use crate::aggregates::consent::{
    Consent, ConsentCommand, ConsentEvent, ConsentGap, ConsentScope, ConsentStatus, NoticeTerms,
    WithdrawalScope,
};
use crate::aggregates::grant::{Grant, GrantCommand, Grantee};
use crate::aggregates::recording::{
    AccessFacts, DestructionReason, Recording, RecordingCommand, RecordingEvent, RecordingStatus,
};
use crate::cascade::after_consent_event;
use crate::context::{Actor, Ctx, SystemJob};
use crate::error::DomainError;
use crate::ids::{GrantId, UserId};
use crate::testing::*;
use crate::vocabulary::{Medium, Offset, Purpose, Sha256};

/// Decides and applies, returning the events; panics with the rule if refused.
#[track_caller]
fn run<A: Aggregate + std::fmt::Debug + PartialEq>(
    state: &mut A,
    command: A::Command,
    ctx: &Ctx<'_>,
) -> Vec<A::Event> {
    let events = match state.decide(command, ctx) {
        Ok(events) => events,
        Err(e) => panic!("refused: {e}"),
    };
    *state = events.iter().fold(state.clone(), |s, e| s.apply(e));
    assert_round_trips(state);
    events
}

/// Every state a story reaches survives the JSON round trip the application's snapshots take.
#[track_caller]
fn assert_round_trips<A: Aggregate + std::fmt::Debug + PartialEq>(state: &A) {
    let json = serde_json::to_string(state).expect("a state serialises");
    let back: A = serde_json::from_str(&json).expect("a serialised state reads back");
    assert_eq!(&back, state, "{json}");
}

fn apply_all<A: Aggregate>(state: &mut A, events: &[A::Event]) {
    *state = events.iter().fold(state.clone(), |s, e| s.apply(e));
}

fn store(
    recording: &mut Recording,
    consent: &Consent,
    tenant: &crate::aggregates::tenant::Tenant,
    name: &str,
    day: i64,
) {
    run(
        recording,
        RecordingCommand::StoreMedia {
            media: stored_media(Offset::from_millis(50 * 60 * 1000).unwrap()),
            consent: Box::new(consent.clone()),
        },
        &as_user(tenant, name, t(day, 11)),
    );
}

fn play(
    recording: &mut Recording,
    ctx: &Ctx<'_>,
    purpose: Purpose,
    medium: Medium,
    consents: &[Consent],
    grants: &[Grant],
) -> RecordingEvent {
    let mut events = run(
        recording,
        RecordingCommand::StartPlayback {
            purpose,
            medium,
            facts: Box::new(AccessFacts {
                consents: consents.to_vec(),
                grants: grants.to_vec(),
            }),
        },
        ctx,
    );
    assert_eq!(events.len(), 1);
    events.remove(0)
}

fn refusal_reasons(event: &RecordingEvent) -> &[DenyReason] {
    match event {
        RecordingEvent::PlaybackRefused { reasons, .. } => reasons,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_student_counsellors_client_consents_then_withdraws_with_deletion() {
    let tenant = tenant(written_policy());

    // Sam, a student counsellor, asks in writing: audio, for course assessment by the two
    // named tutors, Ada and Bob.
    let mut consent = Consent::default();
    let ids = [uuid(2)];
    run(
        &mut consent,
        ConsentCommand::RequestConsent {
            client: client(),
            practitioner: user("sam"),
            scope: ConsentScope::Engagement,
            course_id: None,
            terms: vec![terms(
                Purpose::CourseAssessment,
                &["ada", "bob"],
                &[Medium::Audio],
            )],
            expiry: None,
            form: form(),
            form_version: 1,
            renews: None,
        },
        &as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids),
    );
    run(
        &mut consent,
        ConsentCommand::GiveConsent {
            evidence: evidence(form_ref(1)),
        },
        &as_client(&tenant, t(0, 10)),
    );
    assert_eq!(consent.status(), Some(ConsentStatus::Given));

    // The session is recorded in audio and uploaded.
    let mut recording = Recording::default();
    let ids = [uuid(4)];
    run(
        &mut recording,
        RecordingCommand::CreateRecording {
            consent: Box::new(consent.clone()),
            session_on: date(1),
            medium: Medium::Audio,
            course_id: None,
        },
        &as_user(&tenant, "sam", t(1, 9)).with_new_ids(&ids),
    );
    store(&mut recording, &consent, &tenant, "sam", 1);

    // A tutor may play it; a video play or an unnamed tutor may not.
    let played = play(
        &mut recording,
        &as_user(&tenant, "ada", t(2, 9)),
        Purpose::CourseAssessment,
        Medium::Audio,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(
        matches!(played, RecordingEvent::PlaybackStarted { .. }),
        "{played:?}"
    );
    let refused = play(
        &mut recording,
        &as_user(&tenant, "cai", t(2, 9)),
        Purpose::CourseAssessment,
        Medium::Audio,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(refusal_reasons(&refused).iter().any(|r| matches!(
        r,
        DenyReason::ConsentDoesNotCover { gaps, .. } if gaps.contains(&ConsentGap::ViewerNotInAudience { purpose: Purpose::CourseAssessment })
    )));

    // The client withdraws, asking for deletion.
    let before = consent.clone();
    let withdrawal = run(
        &mut consent,
        ConsentCommand::WithdrawConsent {
            scope: WithdrawalScope::Whole,
            deletion_requested: true,
        },
        &as_client(&tenant, t(3, 9)),
    );

    // The next play is refused, and the refusal is itself an event.
    let refused = play(
        &mut recording,
        &as_user(&tenant, "ada", t(3, 10)),
        Purpose::CourseAssessment,
        Medium::Audio,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(refusal_reasons(&refused).iter().any(|r| matches!(
        r,
        DenyReason::ConsentDoesNotCover { gaps, .. }
            if gaps.contains(&ConsentGap::NotInForce { status: ConsentStatus::Withdrawn })
    )));

    // The cascade schedules the destruction and notifies both tutors (Ada played it; Bob
    // was named and could have): an event per recipient.
    let cascade = after_consent_event(
        &before,
        &withdrawal[0],
        &[],
        std::slice::from_ref(&recording),
        &tenant,
    );
    assert!(cascade.revocations.is_empty());
    assert_eq!(cascade.destructions.len(), 1);
    let recipients: BTreeSet<UserId> = cascade
        .notices
        .iter()
        .map(|n| match n {
            ConsentEvent::WithdrawalNoticeIssued {
                recipient,
                recording_ids,
                ..
            } => {
                assert_eq!(recording_ids, &vec![recording_id()]);
                recipient.clone()
            }
            other => panic!("not a notice: {other:?}"),
        })
        .collect();
    assert_eq!(recipients, BTreeSet::from([user("ada"), user("bob")]));
    apply_all(&mut consent, &cascade.notices);
    apply_all(&mut recording, &[cascade.destructions[0].1.clone()]);

    // Running the cascade again adds nothing: the job may restart safely.
    let again = after_consent_event(
        &before
            .clone()
            .apply(&withdrawal[0])
            .apply(&cascade.notices[0])
            .apply(&cascade.notices[1]),
        &withdrawal[0],
        &[],
        std::slice::from_ref(&recording),
        &tenant,
    );
    assert!(
        again.destructions.is_empty() && again.notices.is_empty(),
        "{again:?}"
    );

    // The retention job destroys the recording: the key is shredded and the proof kept.
    let destroyed = run(
        &mut recording,
        RecordingCommand::DestroyRecording {
            reason: DestructionReason::DeletionRequested {
                consent_id: consent_id(),
            },
            destroyed_key_id: Some(data_key()),
            object_sha256s: vec![Sha256::of(b"object")],
        },
        &Ctx::new(
            tenant_id(),
            &tenant,
            Actor::system(SystemJob::Retention),
            t(3, 11),
        ),
    );
    assert!(matches!(
        destroyed[..],
        [RecordingEvent::RecordingDestroyed { .. }]
    ));
    assert_eq!(recording.status(), Some(RecordingStatus::Destroyed));
}

#[test]
fn a_coaching_company_records_by_default_and_the_client_opts_out() {
    let tenant = tenant(notice_policy());
    let system = |day| as_system(&tenant, t(day, 9));

    // The automated notice plays at the first session; the recording is on by default.
    let mut consent = Consent::default();
    let ids = [uuid(2)];
    run(
        &mut consent,
        ConsentCommand::GiveNotice {
            notice: Box::new(NoticeTerms {
                client: client(),
                practitioner: user("sam"),
                terms: qa_notice_terms(),
                form: form(),
                form_version: 1,
            }),
            session_on: date(1),
        },
        &system(1).with_new_ids(&ids),
    );
    let create = |consent: &Consent, day: i64, id: u128| {
        let ids = [uuid(id)];
        Recording::default().decide(
            RecordingCommand::CreateRecording {
                consent: Box::new(consent.clone()),
                session_on: date(day),
                medium: Medium::Video,
                course_id: None,
            },
            &as_user(&tenant, "sam", t(day, 9)).with_new_ids(&ids),
        )
    };
    let mut first = Recording::from_events(&create(&consent, 1, 4).unwrap());
    store(&mut first, &consent, &tenant, "sam", 1);

    // The QA team plays it by their role; the coach may not ("not at this time"), nor may
    // the client have a copy.
    let qa = play(
        &mut first,
        &as_user(&tenant, "rita", t(2, 9)),
        Purpose::QualityAssurance,
        Medium::Video,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(
        matches!(qa, RecordingEvent::PlaybackStarted { .. }),
        "{qa:?}"
    );
    let own = play(
        &mut first,
        &as_user(&tenant, "sam", t(2, 9)),
        Purpose::QualityAssurance,
        Medium::Video,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(refusal_reasons(&own).contains(&DenyReason::PractitionerSelfAccessDisabled));
    let copy = play(
        &mut first,
        &as_client(&tenant, t(2, 9)),
        Purpose::ClientCopy,
        Medium::Video,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(refusal_reasons(&copy).contains(&DenyReason::ClientCopiesNotAllowed));

    // At the second session the client asks not to be recorded, for that session only.
    run(
        &mut consent,
        ConsentCommand::GiveSessionNotice {
            session_on: date(8),
        },
        &system(8),
    );
    run(
        &mut consent,
        ConsentCommand::OptOutOfSession {
            session_on: date(8),
        },
        &as_user(&tenant, "sam", t(8, 9)),
    );
    assert!(matches!(
        create(&consent, 8, 5),
        Err(DomainError::ConsentRequired { .. })
    ));

    // Recording is back on at the third session.
    run(
        &mut consent,
        ConsentCommand::GiveSessionNotice {
            session_on: date(15),
        },
        &system(15),
    );
    assert!(create(&consent, 15, 6).is_ok());

    // Then the client opts out for good: no more notices, recordings, or plays.
    run(
        &mut consent,
        ConsentCommand::OptOutForGood {
            deletion_requested: false,
        },
        &as_client(&tenant, t(20, 9)),
    );
    assert!(matches!(
        consent.decide(
            ConsentCommand::GiveSessionNotice {
                session_on: date(22)
            },
            &system(22)
        ),
        Err(DomainError::Conflict { .. })
    ));
    assert!(matches!(
        create(&consent, 20, 7),
        Err(DomainError::ConsentRequired { .. })
    ));
    let after = play(
        &mut first,
        &as_user(&tenant, "rita", t(21, 9)),
        Purpose::QualityAssurance,
        Medium::Video,
        std::slice::from_ref(&consent),
        &[],
    );
    assert!(refusal_reasons(&after).iter().any(|r| matches!(
        r,
        DenyReason::ConsentDoesNotCover { gaps, .. }
            if gaps.contains(&ConsentGap::NotInForce { status: ConsentStatus::OptedOut })
    )));
}

#[test]
fn a_credential_submission_grant_expires_after_thirty_days() {
    let tenant = tenant(written_policy());
    let assessor = || Grantee::ExternalAssessor {
        user_id: user("icf-assessor"),
    };

    // The consent names one ICF assessor for credentialing, in audio.
    let consent = given_consent(
        vec![terms(
            Purpose::Credentialing,
            &["icf-assessor"],
            &[Medium::Audio],
        )],
        None,
    );
    let mut recording = Recording::default();
    let ids = [uuid(4)];
    run(
        &mut recording,
        RecordingCommand::CreateRecording {
            consent: Box::new(consent.clone()),
            session_on: date(1),
            medium: Medium::Audio,
            course_id: None,
        },
        &as_user(&tenant, "sam", t(1, 9)).with_new_ids(&ids),
    );
    store(&mut recording, &consent, &tenant, "sam", 1);

    // Sam grants that assessor 30 days; another assessor cannot be granted at all.
    let granted_at = t(2, 9);
    let grant_command = |grantee| GrantCommand::GrantAccess {
        recording: Box::new(recording.clone()),
        consent: Box::new(consent.clone()),
        grantee,
        purpose: Purpose::Credentialing,
        expires_at: granted_at + TimeDelta::days(30),
    };
    let ids = [uuid(50)];
    let sam = as_user(&tenant, "sam", granted_at).with_new_ids(&ids);
    assert!(matches!(
        Grant::default().decide(
            grant_command(Grantee::ExternalAssessor {
                user_id: user("iac-assessor")
            }),
            &sam
        ),
        Err(DomainError::ConsentRequired { .. })
    ));
    let mut grant = Grant::default();
    run(&mut grant, grant_command(assessor()), &sam);

    // The assessor (not a member) plays on day 10 through the grant.
    let assessor_ctx = |at| Ctx::new(tenant_id(), &tenant, Actor::user(user("icf-assessor")), at);
    let day10 = play(
        &mut recording,
        &assessor_ctx(granted_at + TimeDelta::days(10)),
        Purpose::Credentialing,
        Medium::Audio,
        std::slice::from_ref(&consent),
        std::slice::from_ref(&grant),
    );
    match day10 {
        RecordingEvent::PlaybackStarted { basis, .. } => {
            assert_eq!(basis.grant_id, Some(GrantId::from_uuid(uuid(50)).unwrap()));
            assert_eq!(basis.consent_id, consent_id());
        }
        other => panic!("expected a play, got {other:?}"),
    }

    // On day 31 the grant has expired and the play is refused, saying why.
    let day31 = play(
        &mut recording,
        &assessor_ctx(granted_at + TimeDelta::days(31)),
        Purpose::Credentialing,
        Medium::Audio,
        std::slice::from_ref(&consent),
        std::slice::from_ref(&grant),
    );
    let reasons = refusal_reasons(&day31);
    assert!(reasons.contains(&DenyReason::GrantExpired {
        grant_id: GrantId::from_uuid(uuid(50)).unwrap()
    }));
    assert!(reasons.contains(&DenyReason::NoRoleRuleOrGrant {
        purpose: Purpose::Credentialing
    }));
}
