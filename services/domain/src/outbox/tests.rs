//! The outbox's rules, given an event and its stream, then the messages and cancellations.

use super::*;
use crate::aggregates::Aggregate;
use crate::aggregates::grant::{GrantEvent, RevocationReason};
use crate::aggregates::recording::DestructionReason;
use crate::context::{Actor, SystemJob};
use crate::ids::{GrantId, WebhookEndpointId};
use crate::testing::*;
use crate::vocabulary::Purpose;

fn context<'a>(
    at: DateTime<Utc>,
    stream: StreamState<'a>,
    admins: &'a [UserId],
    endpoints: &'a [WebhookEndpointId],
) -> Context<'a> {
    Context {
        event_id: uuid(900),
        recorded_at: at,
        stream,
        admins,
        endpoints,
    }
}

fn grant_granted(expires_at: DateTime<Utc>) -> GrantEvent {
    GrantEvent::AccessGranted {
        grant_id: GrantId::from_uuid(uuid(50)).unwrap(),
        tenant_id: tenant_id(),
        recording_id: recording_id(),
        consent_id: consent_id(),
        consent_version: 2,
        grantee: Grantee::ExternalAssessor {
            user_id: user("prof-x"),
        },
        purpose: Purpose::Credentialing,
        expires_at,
        by: by("sam"),
        at: t(10, 9),
    }
}

#[test]
fn a_withdrawal_notice_goes_to_its_recipient_and_is_announced_to_each_endpoint() {
    let endpoints = [WebhookEndpointId::from_uuid(uuid(70)).unwrap()];
    let event = Event::Consent(ConsentEvent::WithdrawalNoticeIssued {
        recipient: user("ada"),
        recording_ids: vec![recording_id()],
        by: Actor::system(SystemJob::Cascade),
        at: t(20, 9),
    });
    let plan = plan(
        &event,
        &context(t(20, 9), StreamState::None, &[], &endpoints),
    );
    let sent: Vec<(NoticeKind, String)> = plan
        .send
        .iter()
        .map(|i| (i.notice, i.recipient.key()))
        .collect();
    assert_eq!(
        sent,
        vec![
            (NoticeKind::WithdrawalNotice, "person:ada".to_owned()),
            (
                NoticeKind::WebhookEvent,
                format!("webhook:{}", endpoints[0])
            ),
        ]
    );
    assert!(plan.send.iter().all(|i| i.due == t(20, 9)));
}

#[test]
fn message_ids_are_derived_so_planning_again_plans_the_same_messages() {
    let event = Event::Consent(consent_requested(consent_id(), assessment_terms(), None));
    let at = t(1, 9);
    let first = plan(&event, &context(at, StreamState::None, &[], &[]));
    let again = plan(&event, &context(at, StreamState::None, &[], &[]));
    assert_eq!(first, again);
    assert_eq!(first.send.len(), 1);
    let client = Recipient::Client {
        client_id: client_id(),
    };
    assert_eq!(first.send[0].recipient, client);
    // Another event, notice or recipient is another message.
    let other = message_id(uuid(901), NoticeKind::ConsentRequest, &client);
    assert_ne!(first.send[0].message_id, other);
    assert_ne!(
        message_id(uuid(900), NoticeKind::GrantGiven, &client),
        first.send[0].message_id
    );
    assert_eq!(
        Recipient::parse_key(&client.key()),
        Some(client),
        "a recipient's key reads back"
    );
}

#[test]
fn a_grant_tells_its_assessor_and_reminds_them_a_week_before_it_ends() {
    let event = Event::Grant(grant_granted(t(40, 9)));
    let plan = plan(&event, &context(t(10, 9), StreamState::None, &[], &[]));
    let kinds: Vec<(NoticeKind, DateTime<Utc>)> =
        plan.send.iter().map(|i| (i.notice, i.due)).collect();
    assert_eq!(
        kinds,
        vec![
            (NoticeKind::GrantGiven, t(10, 9)),
            (NoticeKind::GrantEndingSoon, t(33, 9)),
        ]
    );
    // A grant of less than a week has no reminder.
    let short = Event::Grant(grant_granted(t(12, 9)));
    let plan = super::plan(&short, &context(t(10, 9), StreamState::None, &[], &[]));
    assert_eq!(plan.send.len(), 1);
}

#[test]
fn a_revocation_tells_the_grantee_and_cancels_the_reminder() {
    let grant = Grant::from_events(&[grant_granted(t(40, 9))]);
    let event = Event::Grant(GrantEvent::AccessRevoked {
        reason: RevocationReason::RevokedByGrantor,
        by: by("sam"),
        at: t(15, 9),
    });
    let plan = plan(
        &event,
        &context(t(15, 9), StreamState::Grant(&grant), &[], &[]),
    );
    assert_eq!(
        plan.cancel,
        vec![Cancel::SameStream(vec![NoticeKind::GrantEndingSoon])]
    );
    assert_eq!(plan.send.len(), 1);
    assert_eq!(plan.send[0].notice, NoticeKind::GrantRevoked);
    assert_eq!(
        plan.send[0].recipient,
        Recipient::Person {
            user_id: user("prof-x")
        }
    );
}

#[test]
fn a_subject_request_reminds_every_administrator_before_its_deadline() {
    let admins = [user("admin"), user("second-admin")];
    let event = Event::SubjectRequest(SubjectRequestEvent::SubjectRequestOpened {
        subject_request_id: crate::ids::SubjectRequestId::from_uuid(uuid(60)).unwrap(),
        tenant_id: tenant_id(),
        client_id: client_id(),
        kind: crate::aggregates::subject_request::SubjectRequestKind::Erasure,
        jurisdiction: crate::vocabulary::Jurisdiction::Gdpr,
        received_at: t(1, 9),
        due_by: t(31, 9),
        by: by("admin"),
        at: t(1, 9),
    });
    let plan = plan(&event, &context(t(1, 9), StreamState::None, &admins, &[]));
    assert_eq!(plan.send.len(), 2);
    assert!(
        plan.send
            .iter()
            .all(|i| i.notice == NoticeKind::SubjectRequestDueSoon && i.due == t(24, 9))
    );
}

#[test]
fn a_destroyed_recording_sends_its_client_a_certificate_and_erasure_cancels_what_is_left() {
    let recording = crate::aggregates::recording::Recording::from_events(&[
        crate::aggregates::recording::RecordingEvent::RecordingCreated {
            recording_id: recording_id(),
            tenant_id: tenant_id(),
            client_id: client_id(),
            practitioner: user("sam"),
            course_id: None,
            session_on: date(3),
            medium: crate::vocabulary::Medium::Audio,
            consent_id: consent_id(),
            consent_version: 2,
            by: by("sam"),
            at: t(3, 9),
        },
    ]);
    let event = Event::Recording(RecordingEvent::RecordingDestroyed {
        reason: DestructionReason::DeletionRequested {
            consent_id: consent_id(),
        },
        destroyed_key_id: None,
        object_sha256s: Vec::new(),
        transcript_ids: Vec::new(),
        by: Actor::system(SystemJob::Retention),
        at: t(20, 9),
    });
    let plan = plan(
        &event,
        &context(t(20, 9), StreamState::Recording(&recording), &[], &[]),
    );
    assert_eq!(plan.send.len(), 1);
    assert_eq!(plan.send[0].notice, NoticeKind::DestructionCertificate);
    assert_eq!(
        plan.send[0].recipient,
        Recipient::Client {
            client_id: client_id()
        }
    );
    let erased = Event::Client(ClientEvent::ClientErased {
        key_id: client_key(),
        subject_request_id: None,
        by: by("admin"),
        at: t(21, 9),
    });
    let plan = super::plan(
        &erased,
        &context(t(21, 9), StreamState::Client(client_id()), &[], &[]),
    );
    assert!(plan.send.is_empty());
    assert_eq!(plan.cancel, vec![Cancel::Client(client_id())]);
}

#[test]
fn a_notice_under_notified_opt_out_is_sent_to_its_client_in_writing() {
    let event = Event::Consent(ConsentEvent::ConsentNoticeGiven {
        consent_id: consent_id(),
        tenant_id: tenant_id(),
        client_id: client_id(),
        practitioner: user("sam"),
        terms: Vec::new(),
        form: form_ref(1),
        session_on: t(20, 9).date_naive(),
        by: by("sam"),
        at: t(20, 9),
    });
    let plan = plan(&event, &context(t(20, 9), StreamState::None, &[], &[]));
    let sent: Vec<(NoticeKind, String)> = plan
        .send
        .iter()
        .map(|i| (i.notice, i.recipient.key()))
        .collect();
    assert_eq!(
        sent,
        vec![(
            NoticeKind::RecordingNotice,
            Recipient::Client {
                client_id: client_id()
            }
            .key()
        )]
    );
}

#[test]
fn every_kind_reads_back_from_its_name() {
    for kind in ALL_KINDS {
        assert_eq!(NoticeKind::parse(kind.as_str()), Some(*kind));
    }
    assert_eq!(NoticeKind::parse("nope"), None);
}
