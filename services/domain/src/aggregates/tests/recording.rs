use crate::access::{AccessBasis, DenyReason, Viewer};
use crate::aggregates::Aggregate;
use crate::aggregates::consent::{Consent, ConsentEvent, Expiry};
use crate::aggregates::recording::*;
use crate::context::{Actor, SystemJob};
use crate::ids::{ConsentId, TranscriptId};
use crate::testing::*;
use crate::vocabulary::{KeyId, Medium, Offset, Purpose, Role, Sha256};

fn create(consent: Consent, medium: Medium) -> RecordingCommand {
    RecordingCommand::CreateRecording {
        consent: Box::new(consent),
        session_on: date(1),
        medium,
        course_id: None,
    }
}

fn ms(minutes: u64) -> Offset {
    Offset::from_millis(minutes * 60 * 1000).unwrap()
}

#[test]
fn create_recording_under_a_covering_consent() {
    let tenant = tenant(written_policy());
    let ids = [uuid(4)];
    let state = given::<RecordingEvent>([])
        .when(
            create(given_consent(assessment_terms(), None), Medium::Audio),
            &as_user(&tenant, "sam", t(1, 9)).with_new_ids(&ids),
        )
        .then(vec![recording_created(Medium::Audio)]);
    assert_eq!(state.status(), Some(RecordingStatus::AwaitingUpload));
}

#[test]
fn create_recording_refuses_without_consent_in_force() {
    let tenant = tenant(written_policy());
    let ids = [uuid(4)];
    let ctx = as_user(&tenant, "sam", t(1, 9)).with_new_ids(&ids);
    given::<RecordingEvent>([])
        .when(create(Consent::default(), Medium::Audio), &ctx)
        .then_error("not_found", "consent");
    let requested =
        Consent::from_events(&[consent_requested(consent_id(), assessment_terms(), None)]);
    given::<RecordingEvent>([])
        .when(create(requested, Medium::Audio), &ctx)
        .then_error("consent_required", "not_in_force");
    let mut refused = vec![consent_requested(consent_id(), assessment_terms(), None)];
    refused.push(ConsentEvent::ConsentRefused {
        by: Actor::client(client_id()),
        at: t(0, 10),
    });
    given::<RecordingEvent>([])
        .when(create(Consent::from_events(&refused), Medium::Audio), &ctx)
        .then_error("consent_required", "it is refused");
    let expired = given_consent(assessment_terms(), Some(Expiry::OnDate { at: t(1, 0) }));
    given::<RecordingEvent>([])
        .when(create(expired, Medium::Audio), &ctx)
        .then_error("consent_required", "past_expiry");
}

#[test]
fn create_recording_refuses_video_unless_policy_and_consent_allow_it() {
    let tenant = tenant(written_policy());
    let ids = [uuid(4)];
    let ctx = as_user(&tenant, "sam", t(1, 9)).with_new_ids(&ids);
    given::<RecordingEvent>([])
        .when(
            create(given_consent(assessment_terms(), None), Medium::Video),
            &ctx,
        )
        .then_error("forbidden", "does not allow video");
    let mut policy = written_policy();
    policy.allowed_media = crate::policy::MediaPolicy::AudioAndVideo;
    let video_tenant = crate::testing::tenant(policy);
    let ctx = as_user(&video_tenant, "sam", t(1, 9)).with_new_ids(&ids);
    given::<RecordingEvent>([])
        .when(
            create(given_consent(assessment_terms(), None), Medium::Video),
            &ctx,
        )
        .then_error("consent_required", "no purpose in video");
}

#[test]
fn create_recording_is_for_the_consents_practitioner() {
    let tenant = tenant(written_policy());
    let ids = [uuid(4)];
    given::<RecordingEvent>([])
        .when(
            create(given_consent(assessment_terms(), None), Medium::Audio),
            &as_user(&tenant, "pat", t(1, 9)).with_new_ids(&ids),
        )
        .then_error("forbidden", "practitioner named in the consent");
}

#[test]
fn under_notified_opt_out_a_recording_needs_the_notice_and_no_opt_out() {
    let tenant = tenant(notice_policy());
    let ids = [uuid(4)];
    let ctx = as_user(&tenant, "sam", t(1, 9)).with_new_ids(&ids);
    let noticed = Consent::from_events(&[notice_given()]);
    given::<RecordingEvent>([])
        .when(create(noticed.clone(), Medium::Video), &ctx)
        .events();
    // Another session without its notice is not covered.
    given::<RecordingEvent>([])
        .when(
            RecordingCommand::CreateRecording {
                consent: Box::new(noticed),
                session_on: date(8),
                medium: Medium::Audio,
                course_id: None,
            },
            &ctx,
        )
        .then_error("consent_required", "session_not_noticed");
    let opted = Consent::from_events(&[
        notice_given(),
        ConsentEvent::ConsentOptedOutOfSession {
            session_on: date(1),
            by: Actor::client(client_id()),
            at: t(1, 9),
        },
    ]);
    given::<RecordingEvent>([])
        .when(create(opted, Medium::Audio), &ctx)
        .then_error("consent_required", "session_opted_out");
}

#[test]
fn request_stop_records_the_offset_and_only_moves_earlier() {
    let tenant = tenant(written_policy());
    let h = given([recording_created(Medium::Audio)]);
    let state = h
        .when(
            RecordingCommand::RequestStop { offset: ms(20) },
            &as_client(&tenant, t(1, 9)),
        )
        .then(vec![RecordingEvent::RecordingStopRequested {
            offset: ms(20),
            by: Actor::client(client_id()),
            at: t(1, 9),
        }]);
    assert_eq!(state.stop_at(), Some(ms(20)));
    let stopped = given([
        recording_created(Medium::Audio),
        RecordingEvent::RecordingStopRequested {
            offset: ms(20),
            by: Actor::client(client_id()),
            at: t(1, 9),
        },
    ]);
    stopped
        .when(
            RecordingCommand::RequestStop { offset: ms(30) },
            &as_client(&tenant, t(1, 9)),
        )
        .then_error("conflict", "already asked to stop");
    h.when(
        RecordingCommand::RequestStop { offset: ms(20) },
        &as_user(&tenant, "ada", t(1, 9)),
    )
    .then_error("forbidden", "asked by the client");
}

fn store(duration: Offset) -> RecordingCommand {
    store_under(given_consent(assessment_terms(), None), duration)
}

fn store_under(consent: Consent, duration: Offset) -> RecordingCommand {
    RecordingCommand::StoreMedia {
        media: stored_media(duration),
        consent: Box::new(consent),
    }
}

#[test]
fn store_media_moves_to_stored() {
    let tenant = tenant(written_policy());
    let state = given([recording_created(Medium::Audio)])
        .when(store(ms(50)), &as_user(&tenant, "sam", t(1, 11)))
        .then(vec![recording_stored()]);
    assert_eq!(state.status(), Some(RecordingStatus::Stored));
    given(stored_recording_events(Medium::Audio))
        .when(store(ms(50)), &as_user(&tenant, "sam", t(1, 11)))
        .then_error("conflict", "already stored");
}

#[test]
fn media_is_stored_only_while_the_recordings_consent_covers_it() {
    let tenant = tenant(written_policy());
    let mut events = given_consent_events(assessment_terms(), None);
    events.push(ConsentEvent::ConsentWithdrawn {
        deletion_requested: false,
        by: Actor::client(client_id()),
        at: t(1, 10),
    });
    let withdrawn = Consent::from_events(&events);
    let h = given([recording_created(Medium::Audio)]);
    h.when(
        store_under(withdrawn, ms(50)),
        &as_user(&tenant, "sam", t(1, 11)),
    )
    .then_error("consent_required", "no consent covers");
    let mut other = given_consent_events(assessment_terms(), None);
    if let ConsentEvent::ConsentRequested { consent_id, .. } = &mut other[0] {
        *consent_id = ConsentId::from_uuid(uuid(99)).unwrap();
    }
    h.when(
        store_under(Consent::from_events(&other), ms(50)),
        &as_user(&tenant, "sam", t(1, 11)),
    )
    .then_error("invalid", "not the recording's");
    let mut label = stored_media(ms(50));
    label.codec = "pcm\ns16le".to_owned();
    h.when(
        RecordingCommand::StoreMedia {
            media: label,
            consent: Box::new(given_consent(assessment_terms(), None)),
        },
        &as_user(&tenant, "sam", t(1, 11)),
    )
    .then_error("invalid", "codec");
}

#[test]
fn nothing_after_the_clients_stop_may_be_stored() {
    let tenant = tenant(written_policy());
    let h = given([
        recording_created(Medium::Audio),
        RecordingEvent::RecordingStopRequested {
            offset: ms(20),
            by: Actor::client(client_id()),
            at: t(1, 9),
        },
    ]);
    h.when(store(ms(21)), &as_user(&tenant, "sam", t(1, 11)))
        .then_error("forbidden", "nothing after it may be stored");
    h.when(store(ms(20)), &as_user(&tenant, "sam", t(1, 11)))
        .events();
}

#[test]
fn add_bookmark_within_the_recording() {
    let tenant = tenant(written_policy());
    let h = given(stored_recording_events(Medium::Audio));
    let state = h
        .when(
            RecordingCommand::AddBookmark {
                offset: ms(12),
                label: sealed("bWFyaw=="),
            },
            &as_user(&tenant, "sam", t(2, 9)),
        )
        .then(vec![RecordingEvent::BookmarkAdded {
            offset: ms(12),
            label: sealed("bWFyaw=="),
            by: by("sam"),
            at: t(2, 9),
        }]);
    assert_eq!(state.bookmarks().len(), 1);
    h.when(
        RecordingCommand::AddBookmark {
            offset: ms(51),
            label: sealed("bWFyaw=="),
        },
        &as_user(&tenant, "sam", t(2, 9)),
    )
    .then_error("invalid", "past the end");
    given([recording_created(Medium::Audio)])
        .when(
            RecordingCommand::AddBookmark {
                offset: ms(1),
                label: sealed("bWFyaw=="),
            },
            &as_user(&tenant, "sam", t(2, 9)),
        )
        .then_error("conflict", "not been stored");
}

fn facts() -> Box<AccessFacts> {
    Box::new(AccessFacts {
        consents: vec![given_consent(assessment_terms(), None)],
        grants: vec![],
    })
}

#[test]
fn a_tutor_comments_only_on_what_they_may_play() {
    let tenant = tenant(written_policy());
    let h = given(stored_recording_events(Medium::Audio));
    let comment = || RecordingCommand::AddComment {
        offset: ms(5),
        body: sealed("Z29vZA=="),
        purpose: Purpose::CourseAssessment,
        facts: facts(),
    };
    let state = h
        .when(comment(), &as_user(&tenant, "ada", t(2, 9)))
        .then(vec![RecordingEvent::CommentAdded {
            offset: ms(5),
            body: sealed("Z29vZA=="),
            by: by("ada"),
            at: t(2, 9),
        }]);
    assert_eq!(state.comments().len(), 1);
    // Cai is a tutor too, but the client did not name him.
    h.when(comment(), &as_user(&tenant, "cai", t(2, 9)))
        .then_error("forbidden", "did not name this person");
    h.when(comment(), &as_user(&tenant, "sam", t(2, 9)))
        .then_error("forbidden", "tutor role");
}

#[test]
fn attach_transcript_needs_the_consented_derivative() {
    let tenant = tenant(written_policy());
    let ids = [uuid(40)];
    let h = given(stored_recording_events(Medium::Audio));
    let excerpt = TranscriptSpan::Excerpt {
        from: ms(5),
        to: ms(15),
    };
    let state = h
        .when(
            RecordingCommand::AttachTranscript {
                span: excerpt,
                purpose: Purpose::CourseAssessment,
                sha256: Sha256::of(b"WEBVTT"),
                consent: Box::new(given_consent(assessment_terms(), None)),
            },
            &as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids),
        )
        .then(vec![RecordingEvent::TranscriptAttached {
            transcript_id: TranscriptId::from_uuid(uuid(40)).unwrap(),
            span: excerpt,
            purpose: Purpose::CourseAssessment,
            sha256: Sha256::of(b"WEBVTT"),
            by: by("sam"),
            at: t(2, 9),
        }]);
    assert!(state.has_medium(Medium::Transcript));
    // Reflection was consented in audio only: no transcript medium for it.
    h.when(
        RecordingCommand::AttachTranscript {
            span: TranscriptSpan::Whole,
            purpose: Purpose::PractitionerReflection,
            sha256: Sha256::of(b"WEBVTT"),
            consent: Box::new(given_consent(assessment_terms(), None)),
        },
        &as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids),
    )
    .then_error("consent_required", "medium_not_consented");
    h.when(
        RecordingCommand::AttachTranscript {
            span: TranscriptSpan::Excerpt {
                from: ms(15),
                to: ms(5),
            },
            purpose: Purpose::CourseAssessment,
            sha256: Sha256::of(b"WEBVTT"),
            consent: Box::new(given_consent(assessment_terms(), None)),
        },
        &as_user(&tenant, "sam", t(2, 9)).with_new_ids(&ids),
    )
    .then_error("invalid", "runs forwards");
}

#[test]
fn start_playback_records_the_basis_of_an_allowed_play() {
    let tenant = tenant(written_policy());
    let state = given(stored_recording_events(Medium::Audio))
        .when(
            RecordingCommand::StartPlayback {
                purpose: Purpose::CourseAssessment,
                medium: Medium::Audio,
                facts: facts(),
            },
            &as_user(&tenant, "ada", t(2, 9)),
        )
        .then(vec![RecordingEvent::PlaybackStarted {
            viewer: Viewer::Member {
                user_id: user("ada"),
                roles: [Role::Tutor].into(),
            },
            purpose: Purpose::CourseAssessment,
            medium: Medium::Audio,
            basis: AccessBasis {
                consent_id: consent_id(),
                consent_version: 2,
                grant_id: None,
                policy_version: 1,
            },
            by: by("ada"),
            at: t(2, 9),
        }]);
    assert!(state.played_by().contains(&user("ada")));
}

#[test]
fn start_playback_records_a_refusal_as_an_event() {
    let tenant = tenant(written_policy());
    let events = given(stored_recording_events(Medium::Audio))
        .when(
            RecordingCommand::StartPlayback {
                purpose: Purpose::CourseAssessment,
                medium: Medium::Audio,
                facts: facts(),
            },
            &as_user(&tenant, "aude", t(2, 9)),
        )
        .events();
    let [RecordingEvent::PlaybackRefused { reasons, .. }] = &events[..] else {
        panic!("expected one refusal, got {events:?}");
    };
    assert!(reasons.contains(&DenyReason::RoleNeverPlaysMedia {
        role: Role::Auditor
    }));
}

#[test]
fn schedule_destruction_is_idempotent_and_never_postponed() {
    let tenant = tenant(written_policy());
    let reason = DestructionReason::DeletionRequested {
        consent_id: consent_id(),
    };
    let h = given(stored_recording_events(Medium::Audio));
    let state = h
        .when(
            RecordingCommand::ScheduleDestruction {
                due: t(3, 9),
                reason,
            },
            &as_system(&tenant, t(3, 9)),
        )
        .then(vec![RecordingEvent::RecordingDestructionScheduled {
            due: t(3, 9),
            reason,
            by: Actor::system(SystemJob::Cascade),
            at: t(3, 9),
        }]);
    assert_eq!(state.scheduled_destruction(), Some((t(3, 9), reason)));
    let mut history = stored_recording_events(Medium::Audio);
    history.push(RecordingEvent::RecordingDestructionScheduled {
        due: t(3, 9),
        reason,
        by: Actor::system(SystemJob::Cascade),
        at: t(3, 9),
    });
    given(history)
        .when(
            RecordingCommand::ScheduleDestruction {
                due: t(9, 9),
                reason,
            },
            &as_system(&tenant, t(3, 10)),
        )
        .then_error("conflict", "already scheduled");
    h.when(
        RecordingCommand::ScheduleDestruction {
            due: t(3, 9),
            reason,
        },
        &as_user(&tenant, "ada", t(3, 9)),
    )
    .then_error("forbidden", "scheduled by");
}

#[test]
fn destroy_recording_records_the_key_destroyed_and_takes_derivatives_with_it() {
    let tenant = tenant(written_policy());
    let mut history = stored_recording_events(Medium::Audio);
    history.push(RecordingEvent::TranscriptAttached {
        transcript_id: TranscriptId::from_uuid(uuid(40)).unwrap(),
        span: TranscriptSpan::Whole,
        purpose: Purpose::CourseAssessment,
        sha256: Sha256::of(b"WEBVTT"),
        by: by("sam"),
        at: t(2, 9),
    });
    let h = given(history);
    let reason = DestructionReason::RetentionElapsed;
    let state = h
        .when(
            RecordingCommand::DestroyRecording {
                reason,
                destroyed_key_id: Some(data_key()),
                object_sha256s: vec![Sha256::of(b"object")],
            },
            &crate::context::Ctx::new(
                tenant_id(),
                &tenant,
                Actor::system(SystemJob::Retention),
                t(400, 0),
            ),
        )
        .then(vec![RecordingEvent::RecordingDestroyed {
            reason,
            destroyed_key_id: Some(data_key()),
            object_sha256s: vec![Sha256::of(b"object")],
            transcript_ids: vec![TranscriptId::from_uuid(uuid(40)).unwrap()],
            by: Actor::system(SystemJob::Retention),
            at: t(400, 0),
        }]);
    assert_eq!(state.status(), Some(RecordingStatus::Destroyed));
    assert!(state.transcripts().is_empty());
    h.when(
        RecordingCommand::DestroyRecording {
            reason,
            destroyed_key_id: Some(KeyId::parse("another-key").unwrap()),
            object_sha256s: vec![],
        },
        &as_user(&tenant, "admin", t(5, 0)),
    )
    .then_error("invalid", "data key");
    let destroyed = given(stored_recording_events(Medium::Audio).into_iter().chain([
        RecordingEvent::RecordingDestroyed {
            reason,
            destroyed_key_id: Some(data_key()),
            object_sha256s: vec![],
            transcript_ids: vec![],
            by: by("admin"),
            at: t(5, 0),
        },
    ]));
    destroyed
        .when(
            RecordingCommand::DestroyRecording {
                reason,
                destroyed_key_id: Some(data_key()),
                object_sha256s: vec![],
            },
            &as_user(&tenant, "admin", t(6, 0)),
        )
        .then_error("conflict", "destroyed");
    let events = destroyed
        .when(
            RecordingCommand::StartPlayback {
                purpose: Purpose::CourseAssessment,
                medium: Medium::Audio,
                facts: facts(),
            },
            &as_user(&tenant, "ada", t(6, 0)),
        )
        .events();
    assert!(matches!(
        &events[..],
        [RecordingEvent::PlaybackRefused { reasons, .. }]
            if reasons.contains(&DenyReason::RecordingNotPlayable { status: RecordingStatus::Destroyed })
    ));
}
