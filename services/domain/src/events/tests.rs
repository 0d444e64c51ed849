//! The snapshot test: every event's JSON, pinned in `snapshots/events.json`.
//!
//! If this test fails, an event's stored form changed. Stored events are forever: make the
//! change additive, or bump the schema version and add an upcast, then regenerate the file
//! with `UPDATE_SNAPSHOTS=1 cargo test -p confide-domain` and review the diff.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::access::{AccessBasis, DenyReason, Viewer};
use crate::aggregates::case_study::CaseStudyEvent;
use crate::aggregates::client::ClientEvent;
use crate::aggregates::consent::{ConsentEvent, ExpiryCause, ExpiryTrigger};
use crate::aggregates::course::CourseEvent;
use crate::aggregates::grant::{GrantEvent, Grantee, RevocationReason};
use crate::aggregates::message::{Channel, MessageEvent};
use crate::aggregates::notice_settings::{NoticeSettingsEvent, WebhookUrl};
use crate::aggregates::recording::{DestructionReason, RecordingEvent, TranscriptSpan};
use crate::aggregates::subject_request::{
    SubjectRequestEvent, SubjectRequestKind, SubjectRequestOutcome,
};
use crate::aggregates::tenant::{AuditScope, TenantEvent};
use crate::context::{Actor, SystemJob};
use crate::ids::*;
use crate::outbox::{NoticeKind, Recipient};
use crate::testing::*;
use crate::vocabulary::{Jurisdiction, Medium, Offset, Purpose, Role, Sha256};

/// One example of every event.
fn samples() -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    events.extend(
        tenant_events(written_policy())
            .into_iter()
            .take(3)
            .map(Event::from),
    );
    events.push(
        TenantEvent::MemberRolesChanged {
            user_id: user("sam"),
            previous_roles: BTreeSet::from([Role::Practitioner]),
            roles: BTreeSet::from([Role::Practitioner, Role::Tutor]),
            by: by("admin"),
            at: t(1, 9),
        }
        .into(),
    );
    events.push(
        TenantEvent::MemberRemoved {
            user_id: user("bob"),
            by: by("admin"),
            at: t(1, 9),
        }
        .into(),
    );
    events.push(
        TenantEvent::AuditTrailExported {
            export_id: uuid::Uuid::from_u128(0xa0d1),
            scope: AuditScope {
                from: Some(t(1, 9)),
                until: None,
                client_ids: BTreeSet::from([
                    ClientId::from_uuid(uuid::Uuid::from_u128(0xc1)).expect("a client id")
                ]),
                recording_ids: BTreeSet::new(),
                consent_ids: BTreeSet::new(),
                previous_tree_size: Some(12),
            },
            by: by("auditor"),
            at: t(1, 10),
        }
        .into(),
    );
    events.extend(client_events().into_iter().map(Event::from));
    events.push(
        ClientEvent::ClientDetailsUpdated {
            details: sealed("bmV3"),
            by: by("sam"),
            at: t(1, 9),
        }
        .into(),
    );
    events.push(
        ClientEvent::ClientErased {
            key_id: client_key(),
            subject_request_id: Some(SubjectRequestId::from_uuid(uuid(60)).unwrap()),
            by: Actor::system(SystemJob::Cascade),
            at: t(2, 9),
        }
        .into(),
    );
    events.extend(form_events().into_iter().map(Event::from));
    events.extend(
        given_consent_events(assessment_terms(), None)
            .into_iter()
            .map(Event::from),
    );
    let client = Actor::client(client_id());
    events.extend(
        [
            ConsentEvent::ConsentRefused {
                by: client.clone(),
                at: t(0, 10),
            },
            ConsentEvent::ConsentWithdrawn {
                deletion_requested: true,
                by: client.clone(),
                at: t(3, 9),
            },
            ConsentEvent::ConsentPurposeWithdrawn {
                purpose: Purpose::PractitionerReflection,
                by: client.clone(),
                at: t(3, 9),
            },
            ConsentEvent::ConsentAudienceMemberWithdrawn {
                purpose: Purpose::CourseAssessment,
                user_id: user("bob"),
                by: client.clone(),
                at: t(3, 9),
            },
            ConsentEvent::ConsentExpired {
                cause: ExpiryCause::Triggered {
                    trigger: ExpiryTrigger::CourseEnded {
                        course_id: CourseId::from_uuid(uuid(7)).unwrap(),
                    },
                },
                by: Actor::system(SystemJob::Cascade),
                at: t(100, 17),
            },
            ConsentEvent::ConsentSuperseded {
                superseded_by: ConsentId::from_uuid(uuid(20)).unwrap(),
                by: Actor::system(SystemJob::Cascade),
                at: t(5, 9),
            },
            notice_given(),
            ConsentEvent::SessionNoticeGiven {
                session_on: date(8),
                by: by("sam"),
                at: t(8, 9),
            },
            ConsentEvent::ConsentOptedOutOfSession {
                session_on: date(8),
                by: client.clone(),
                at: t(8, 9),
            },
            ConsentEvent::ConsentOptedOut {
                deletion_requested: false,
                by: client.clone(),
                at: t(9, 9),
            },
            ConsentEvent::WithdrawalNoticeIssued {
                recipient: user("ada"),
                recording_ids: vec![recording_id()],
                by: Actor::system(SystemJob::Cascade),
                at: t(3, 9),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    let minutes = |m: u64| Offset::from_millis(m * 60_000).unwrap();
    events.extend(
        stored_recording_events(Medium::Audio)
            .into_iter()
            .map(Event::from),
    );
    events.extend(
        [
            RecordingEvent::RecordingStopRequested {
                offset: minutes(40),
                by: client.clone(),
                at: t(1, 10),
            },
            RecordingEvent::BookmarkAdded {
                offset: minutes(12),
                label: sealed("bWFyaw=="),
                by: by("sam"),
                at: t(2, 9),
            },
            RecordingEvent::CommentAdded {
                offset: minutes(5),
                body: sealed("Z29vZA=="),
                by: by("ada"),
                at: t(2, 9),
            },
            RecordingEvent::TranscriptAttached {
                transcript_id: TranscriptId::from_uuid(uuid(40)).unwrap(),
                span: TranscriptSpan::Excerpt {
                    from: minutes(5),
                    to: minutes(15),
                },
                purpose: Purpose::CourseAssessment,
                sha256: Sha256::of(b"WEBVTT"),
                by: by("sam"),
                at: t(2, 9),
            },
            RecordingEvent::PlaybackStarted {
                viewer: Viewer::Member {
                    user_id: user("ada"),
                    roles: BTreeSet::from([Role::Tutor]),
                },
                purpose: Purpose::CourseAssessment,
                medium: Medium::Audio,
                basis: AccessBasis {
                    consent_id: consent_id(),
                    consent_version: 2,
                    grant_id: Some(GrantId::from_uuid(uuid(50)).unwrap()),
                    policy_version: 1,
                },
                by: by("ada"),
                at: t(2, 9),
            },
            RecordingEvent::PlaybackRefused {
                viewer: Viewer::ExternalAssessor {
                    user_id: user("icf-assessor"),
                },
                purpose: Purpose::Credentialing,
                medium: Medium::Audio,
                reasons: vec![
                    DenyReason::NoRoleRuleOrGrant {
                        purpose: Purpose::Credentialing,
                    },
                    DenyReason::GrantExpired {
                        grant_id: GrantId::from_uuid(uuid(50)).unwrap(),
                    },
                ],
                by: by("icf-assessor"),
                at: t(33, 9),
            },
            RecordingEvent::RecordingDestructionScheduled {
                due: t(3, 9),
                reason: DestructionReason::DeletionRequested {
                    consent_id: consent_id(),
                },
                by: Actor::system(SystemJob::Cascade),
                at: t(3, 9),
            },
            RecordingEvent::RecordingDestroyed {
                reason: DestructionReason::DeletionRequested {
                    consent_id: consent_id(),
                },
                destroyed_key_id: Some(data_key()),
                object_sha256s: vec![Sha256::of(b"object")],
                transcript_ids: vec![TranscriptId::from_uuid(uuid(40)).unwrap()],
                by: Actor::system(SystemJob::Retention),
                at: t(3, 10),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    events.push(
        GrantEvent::AccessGranted {
            grant_id: GrantId::from_uuid(uuid(50)).unwrap(),
            tenant_id: tenant_id(),
            recording_id: recording_id(),
            consent_id: consent_id(),
            consent_version: 2,
            grantee: Grantee::ExternalAssessor {
                user_id: user("icf-assessor"),
            },
            purpose: Purpose::Credentialing,
            expires_at: t(32, 9),
            by: by("sam"),
            at: t(2, 9),
        }
        .into(),
    );
    events.push(
        GrantEvent::AccessRevoked {
            reason: RevocationReason::ConsentNoLongerCovers {
                consent_id: consent_id(),
            },
            by: Actor::system(SystemJob::Cascade),
            at: t(3, 9),
        }
        .into(),
    );
    let course_id = CourseId::from_uuid(uuid(7)).unwrap();
    events.extend(
        [
            CourseEvent::CourseCreated {
                course_id,
                tenant_id: tenant_id(),
                title: "Diploma in Counselling".into(),
                starts_on: date(-10),
                ends_on: date(100),
                tutors: BTreeSet::from([user("ada"), user("bob")]),
                by: by("admin"),
                at: t(-10, 9),
            },
            CourseEvent::CourseTutorAdded {
                user_id: user("cai"),
                by: by("admin"),
                at: t(0, 9),
            },
            CourseEvent::StudentEnrolled {
                user_id: user("sam"),
                by: by("admin"),
                at: t(0, 9),
            },
            CourseEvent::CourseEnded {
                ended_on: date(100),
                by: by("admin"),
                at: t(100, 17),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    let body_sha256 = Sha256::of(b"case study");
    events.extend(
        [
            CaseStudyEvent::CaseStudyDrafted {
                case_study_id: CaseStudyId::from_uuid(uuid(70)).unwrap(),
                tenant_id: tenant_id(),
                author: user("sam"),
                clients: BTreeSet::from([client_id()]),
                body: sealed("Ym9keQ=="),
                body_sha256,
                by: by("sam"),
                at: t(20, 9),
            },
            CaseStudyEvent::CaseStudyRevised {
                body: sealed("bmV3"),
                body_sha256,
                by: by("sam"),
                at: t(21, 9),
            },
            CaseStudyEvent::CaseStudyPublished {
                funder: user("fran"),
                body_sha256,
                by: by("sam"),
                at: t(22, 9),
            },
            CaseStudyEvent::CaseStudyDiscarded {
                by: by("sam"),
                at: t(23, 9),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    events.extend(
        [
            SubjectRequestEvent::SubjectRequestOpened {
                subject_request_id: SubjectRequestId::from_uuid(uuid(60)).unwrap(),
                tenant_id: tenant_id(),
                client_id: client_id(),
                kind: SubjectRequestKind::Erasure,
                jurisdiction: Jurisdiction::Gdpr,
                received_at: t(25, 9),
                due_by: "2025-02-28T09:00:00Z".parse().unwrap(),
                by: client.clone(),
                at: t(25, 10),
            },
            SubjectRequestEvent::SubjectRequestDeadlineExtended {
                due_by: "2025-04-28T09:00:00Z".parse().unwrap(),
                reason: "Two courses' recordings need review.".into(),
                by: by("admin"),
                at: t(40, 9),
            },
            SubjectRequestEvent::SubjectRequestDecided {
                outcome: SubjectRequestOutcome::PartiallyGranted,
                reason: Some("Published case studies are permanent records.".into()),
                late: false,
                by: by("admin"),
                at: t(41, 9),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    let endpoint_id = WebhookEndpointId::from_uuid(uuid(70)).unwrap();
    events.extend(
        [
            NoticeSettingsEvent::NoticeAddressSet {
                user_id: user("ada"),
                address: sealed("ada@example.org"),
                by: by("admin"),
                at: t(1, 12),
            },
            NoticeSettingsEvent::WebhookEndpointAdded {
                endpoint_id,
                url: WebhookUrl::parse("https://hooks.example.org/confide").unwrap(),
                secret: sealed("secret"),
                by: by("admin"),
                at: t(1, 13),
            },
            NoticeSettingsEvent::WebhookEndpointRemoved {
                endpoint_id,
                by: by("admin"),
                at: t(2, 13),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    let notices = Actor::system(SystemJob::Notices);
    let message_id = MessageId::from_uuid(uuid(80)).unwrap();
    events.extend(
        [
            MessageEvent::NoticeDelivered {
                message_id,
                tenant_id: tenant_id(),
                notice: NoticeKind::WithdrawalNotice,
                recipient: Recipient::Person {
                    user_id: user("ada"),
                },
                source_event_id: uuid(81),
                source_sequence: 41,
                source_event_type: "WithdrawalNoticeIssued".into(),
                channel: Channel::Email,
                attempts: 1,
                by: notices.clone(),
                at: t(30, 9),
            },
            MessageEvent::NoticeFailed {
                message_id,
                tenant_id: tenant_id(),
                notice: NoticeKind::ConsentRequest,
                recipient: Recipient::Client {
                    client_id: client_id(),
                },
                source_event_id: uuid(82),
                source_sequence: 12,
                source_event_type: "ConsentRequested".into(),
                channel: Some(Channel::Email),
                attempts: 8,
                reason: "the mail server refused the recipient".into(),
                by: notices,
                at: t(30, 10),
            },
        ]
        .into_iter()
        .map(Event::from),
    );
    events
}

fn snapshot() -> String {
    let mut by_type: BTreeMap<&'static str, serde_json::Value> = BTreeMap::new();
    for event in samples() {
        let key = event.event_type();
        let value = serde_json::json!({
            "schema_version": event.schema_version(),
            "payload": event.to_payload().unwrap(),
        });
        by_type.entry(key).or_insert(value);
    }
    let mut text = serde_json::to_string_pretty(&by_type).unwrap();
    text.push('\n');
    text
}

#[test]
fn every_event_type_has_a_sample() {
    let sampled: BTreeSet<&str> = samples().iter().map(|e| e.event_type()).collect();
    let known: BTreeSet<&str> = Event::all_types().into_iter().map(|(t, _)| t).collect();
    assert_eq!(sampled, known);
    assert_eq!(
        known.len(),
        Event::all_types().len(),
        "type strings are unique"
    );
}

#[test]
fn every_event_round_trips_through_its_stored_form() {
    for event in samples() {
        let payload = event.to_payload().unwrap();
        assert_eq!(
            payload["type"],
            event.event_type(),
            "the JSON tag is the type string"
        );
        let back =
            Event::from_stored(event.event_type(), event.schema_version(), &payload).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn stored_events_with_unknown_types_or_versions_are_refused() {
    let event = Event::from(consent_given());
    let payload = event.to_payload().unwrap();
    assert!(Event::from_stored("ConsentGiven", 2, &payload).is_err());
    assert!(Event::from_stored("ConsentGranted", 1, &payload).is_err());
    assert!(Event::from_stored("ConsentRefused", 1, &payload).is_err());
}

#[test]
fn every_events_json_is_pinned() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/events.json");
    let actual = snapshot();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "an event's JSON changed; see the module docs.\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn a_version_1_recording_stored_reads_as_media_of_unknown_format_and_no_object() {
    let v1 = serde_json::json!({
        "type": "RecordingStored",
        "sha256": Sha256::of(b"media").to_string(),
        "bytes": 1_000_000,
        "duration": 3_000_000,
        "data_key_id": "recording-key-4",
        "by": { "kind": "user", "user_id": "sam" },
        "at": "2026-01-01T11:00:00Z",
    });
    let Event::Recording(RecordingEvent::RecordingStored {
        codec,
        content_type,
        object_key,
        bytes,
        ..
    }) = Event::from_stored("RecordingStored", 1, &v1).unwrap()
    else {
        panic!("not a RecordingStored");
    };
    assert_eq!(
        (
            codec.as_str(),
            content_type.as_str(),
            object_key.as_str(),
            bytes
        ),
        ("unknown", "application/octet-stream", "", 1_000_000)
    );
    assert!(Event::from_stored("RecordingStored", 3, &v1).is_err());
}
