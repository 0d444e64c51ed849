//! The seeds' stories, through the application and a real store on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

#[path = "../../eventstore/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use confide_app::{App, Clock, Links, StreamLinks, stream_of, tenant_stream};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::consent::{
    Audience, CollectionMethod, Consent, ConsentCommand, ConsentEvent, ConsentScope, ConsentStatus,
    Evidence, PurposeTerms, WithdrawalScope,
};
use confide_domain::aggregates::consent_form::{ConsentForm, ConsentFormCommand, FormRef};
use confide_domain::aggregates::recording::{Recording, RecordingCommand, RecordingEvent};
use confide_domain::aggregates::tenant::{Tenant, TenantCommand};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::vocabulary::Derivative;
use confide_domain::{
    Actor, ClientId, ConsentFormId, ConsentId, Jurisdiction, KeyId, Language, Medium, Offset,
    Purpose, RecordingId, Role, Sealed, Sha256, UserId,
};
use confide_eventstore::{EventStore, TenantId};
use uuid::Uuid;

/// A clock the story moves forward day by day.
struct StoryClock(Mutex<DateTime<Utc>>);

impl StoryClock {
    fn day(&self, day: i64) {
        *self.0.lock().unwrap() =
            Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + TimeDelta::days(day);
    }
}

impl Clock for StoryClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct Story {
    app: App,
    clock: Arc<StoryClock>,
    tenant: TenantId,
}

fn story_over<S: EventStore + Links + 'static>(store: S) -> Story {
    let store = Arc::new(store);
    let clock = Arc::new(StoryClock(Mutex::new(Utc::now())));
    clock.day(0);
    Story {
        app: App::new(store.clone(), store, clock.clone()),
        clock,
        tenant: TenantId::parse("community-counselling").unwrap(),
    }
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn as_user(name: &str) -> Actor {
    Actor::user(user(name))
}

fn sealed(text: &str) -> Sealed {
    Sealed::new(KeyId::parse("client-key-1").unwrap(), text).unwrap()
}

const FORM_TEXT: &str =
    "I agree that my session may be recorded in audio for the purposes and listeners named below.";

impl Story {
    async fn as_admin(&self, command: TenantCommand) {
        self.app
            .execute::<Tenant>(
                &self.tenant,
                &as_user("admin"),
                &tenant_stream(),
                command,
                &[],
            )
            .await
            .unwrap();
    }

    async fn recording_events(&self, recording: RecordingId) -> Vec<String> {
        let stream = stream_of("recording", recording).unwrap();
        self.app
            .store()
            .read_stream(&self.tenant, &stream, 1, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = super::common::sqlite()
                        .await
                        .with_inline_projection(std::sync::Arc::new(super::StreamLinks));
                    super::$case(super::story_over(store)).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = super::common::postgres()
                        .await
                        .with_inline_projection(std::sync::Arc::new(super::StreamLinks));
                    super::$case(super::story_over(store)).await;
                }
            )*
        }
    };
}

on_both_backends!(a_student_counsellors_client_consents_then_withdraws_with_deletion);

/// A student counsellor's client consents in writing to audio recording for course
/// assessment by two named tutors; a tutor plays it; the client withdraws with deletion; the
/// next play is refused and recorded as refused; the recording is scheduled for destruction
/// and both tutors get notices.
async fn a_student_counsellors_client_consents_then_withdraws_with_deletion(story: Story) {
    let tenant = &story.tenant;
    let app = &story.app;

    // The counselling service: written consent, audio only; Sam is a student, Ada, Bob and
    // Cai are tutors.
    story
        .as_admin(TenantCommand::CreateTenant {
            name: "Community Counselling".into(),
            policy: TenantPolicy {
                consent_model: ConsentModel::WrittenOptIn,
                allowed_media: MediaPolicy::AudioOnly,
                practitioner_self_access: true,
                client_copies: ClientCopies::OnRequestReviewed,
                retention_days: 365,
                course_grace_days: 14,
                jurisdiction: Jurisdiction::UkGdpr,
            },
            first_admin: user("admin"),
        })
        .await;
    for (name, role) in [
        ("sam", Role::Practitioner),
        ("ada", Role::Tutor),
        ("bob", Role::Tutor),
        ("cai", Role::Tutor),
    ] {
        story
            .as_admin(TenantCommand::AddMember {
                user_id: user(name),
                roles: BTreeSet::from([role]),
            })
            .await;
    }

    // The consent form, and the client.
    let form_id = ConsentFormId::from_uuid(Uuid::now_v7()).unwrap();
    let form_stream = stream_of("consent_form", form_id).unwrap();
    app.execute::<ConsentForm>(
        tenant,
        &as_user("admin"),
        &form_stream,
        ConsentFormCommand::PublishConsentForm {
            title: "Recording consent".into(),
            language: Language::parse("en-GB").unwrap(),
            text: FORM_TEXT.into(),
        },
        &[form_id.as_uuid()],
    )
    .await
    .unwrap();
    let client_id = ClientId::from_uuid(Uuid::now_v7()).unwrap();
    let client_stream = stream_of("client", client_id).unwrap();
    app.execute::<Client>(
        tenant,
        &as_user("sam"),
        &client_stream,
        ClientCommand::RegisterClient {
            details: sealed("c2VhbGVkIGRldGFpbHM="),
        },
        &[client_id.as_uuid()],
    )
    .await
    .unwrap();

    // Sam asks in writing: audio, for course assessment by Ada and Bob only.
    let client: Client = app.load(tenant, &client_stream).await.unwrap().state;
    let form: ConsentForm = app.load(tenant, &form_stream).await.unwrap().state;
    let consent_id = ConsentId::from_uuid(Uuid::now_v7()).unwrap();
    let consent_stream = stream_of("consent", consent_id).unwrap();
    app.execute::<Consent>(
        tenant,
        &as_user("sam"),
        &consent_stream,
        ConsentCommand::RequestConsent {
            client,
            practitioner: user("sam"),
            scope: ConsentScope::Engagement,
            course_id: None,
            terms: vec![PurposeTerms {
                purpose: Purpose::CourseAssessment,
                audience: Audience::users([user("ada"), user("bob")]),
                media: BTreeSet::from([Medium::Audio]),
                derivatives: BTreeSet::from([Derivative::Transcript]),
            }],
            expiry: None,
            form,
            form_version: 1,
            renews: None,
        },
        &[consent_id.as_uuid()],
    )
    .await
    .unwrap();

    // The client signs through their link.
    let the_client = Actor::client(client_id);
    app.execute::<Consent>(
        tenant,
        &the_client,
        &consent_stream,
        ConsentCommand::GiveConsent {
            evidence: Evidence {
                form: FormRef {
                    consent_form_id: form_id,
                    version: 1,
                    text_sha256: Sha256::of(FORM_TEXT.as_bytes()),
                },
                collected_by: CollectionMethod::ClientLinkSignature,
                typed_name: sealed("dHlwZWQgbmFtZQ=="),
                signed_at: story.clock.now(),
                jurisdiction: Jurisdiction::UkGdpr,
                language: Language::parse("en-GB").unwrap(),
            },
        },
        &[],
    )
    .await
    .unwrap();
    let consent: Consent = app.load(tenant, &consent_stream).await.unwrap().state;
    assert_eq!(consent.status(), Some(ConsentStatus::Given));

    // The session is recorded in audio and stored.
    story.clock.day(1);
    let recording_id = RecordingId::from_uuid(Uuid::now_v7()).unwrap();
    let recording_stream = stream_of("recording", recording_id).unwrap();
    app.execute::<Recording>(
        tenant,
        &as_user("sam"),
        &recording_stream,
        RecordingCommand::CreateRecording {
            consent: Box::new(consent),
            session_on: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            medium: Medium::Audio,
            course_id: None,
        },
        &[recording_id.as_uuid()],
    )
    .await
    .unwrap();
    app.execute::<Recording>(
        tenant,
        &as_user("sam"),
        &recording_stream,
        RecordingCommand::StoreMedia {
            sha256: Sha256::of(b"session audio"),
            bytes: 48_000_000,
            duration: Offset::from_millis(50 * 60 * 1000).unwrap(),
            data_key_id: KeyId::parse("data-key-1").unwrap(),
        },
        &[],
    )
    .await
    .unwrap();

    // Ada, a named tutor, plays it; Cai, a tutor not named, is refused and that is recorded.
    story.clock.day(2);
    let played = app
        .start_playback(
            tenant,
            &as_user("ada"),
            recording_id,
            Purpose::CourseAssessment,
            Medium::Audio,
        )
        .await
        .unwrap();
    assert!(
        matches!(played, RecordingEvent::PlaybackStarted { .. }),
        "{played:?}"
    );
    let refused = app
        .start_playback(
            tenant,
            &as_user("cai"),
            recording_id,
            Purpose::CourseAssessment,
            Medium::Audio,
        )
        .await
        .unwrap();
    assert!(
        matches!(refused, RecordingEvent::PlaybackRefused { .. }),
        "{refused:?}"
    );

    // The client withdraws, asking for deletion: in the same append the recording is
    // scheduled for destruction and both tutors get a notice.
    story.clock.day(3);
    let withdrawal = app
        .withdraw_consent(
            tenant,
            &the_client,
            consent_id,
            WithdrawalScope::Whole,
            true,
        )
        .await
        .unwrap();
    assert!(
        matches!(withdrawal[0], ConsentEvent::ConsentWithdrawn { .. }),
        "{withdrawal:?}"
    );
    let notified: BTreeSet<String> = withdrawal
        .iter()
        .filter_map(|e| match e {
            ConsentEvent::WithdrawalNoticeIssued { .. } => Some(format!("{e:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(notified.len(), 2, "{withdrawal:?}");
    assert!(
        notified.iter().any(|n| n.contains("ada")) && notified.iter().any(|n| n.contains("bob"))
    );

    // The next play is refused, and the refusal is itself an event.
    let again = app
        .start_playback(
            tenant,
            &as_user("ada"),
            recording_id,
            Purpose::CourseAssessment,
            Medium::Audio,
        )
        .await
        .unwrap();
    assert!(
        matches!(again, RecordingEvent::PlaybackRefused { .. }),
        "{again:?}"
    );
    assert_eq!(
        story.recording_events(recording_id).await,
        [
            "RecordingCreated",
            "RecordingStored",
            "PlaybackStarted",
            "PlaybackRefused",
            "RecordingDestructionScheduled",
            "PlaybackRefused",
        ]
    );
}
