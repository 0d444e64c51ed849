//! The practices' stories (`docs/design.md` section 7), through the application and a real
//! store on both backends.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use confide_app::{
    AggregateStates, App, AppError, Caller, Clock, Lists, Memberships, ReadModels, RecordingList,
    StreamLinks, stream, tenant_stream,
};
use confide_domain::Aggregate;
use confide_domain::access::DenyReason;
use confide_domain::aggregates::case_study::{CaseStudyCommand, CaseStudyStatus};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::consent::{
    Audience, CollectionMethod, Consent, ConsentCommand, ConsentEvent, ConsentScope, ConsentStatus,
    Evidence, Expiry, ExpiryTrigger, NoticeTerms, PurposeTerms, WithdrawalScope,
};
use confide_domain::aggregates::consent_form::{ConsentForm, ConsentFormCommand, FormRef};
use confide_domain::aggregates::course::{Course, CourseCommand};
use confide_domain::aggregates::grant::{Grant, Grantee};
use confide_domain::aggregates::recording::{
    Recording, RecordingCommand, RecordingEvent, StoredMedia,
};
use confide_domain::aggregates::subject_request::{
    SubjectRequest, SubjectRequestCommand, SubjectRequestKind, SubjectRequestOutcome,
};
use confide_domain::aggregates::tenant::{Tenant, TenantCommand};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::vocabulary::Derivative;
use confide_domain::{
    Actor, CaseStudyId, ClientId, ConsentFormId, ConsentId, CourseId, DomainError, Jurisdiction,
    KeyId, Language, Medium, Offset, Purpose, RecordingId, Role, Sealed, Sha256, SubjectRequestId,
    SystemJob, UserId,
};
use confide_eventstore::{EventStore, TenantId};
use confide_test_support::both_backends;
use confide_vault::{KeyStore, LocalKeyStore};
use uuid::Uuid;

/// A clock the story moves forward day by day.
pub(crate) struct StoryClock(Mutex<DateTime<Utc>>);

impl StoryClock {
    pub(crate) fn day(&self, day: i64) {
        *self.0.lock().unwrap() =
            Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + TimeDelta::days(day);
    }
}

impl Clock for StoryClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub(crate) struct Story {
    pub(crate) app: App,
    /// The store under the application, to write behind its back.
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) clock: Arc<StoryClock>,
    pub(crate) tenant: TenantId,
}

impl Story {
    /// `actor` calling in the story's tenant.
    fn caller(&self, actor: Actor) -> Caller {
        Caller {
            tenant: self.tenant.clone(),
            actor,
        }
    }
}

fn story_over<S>(store: S) -> Story
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    story_in(store, "community-counselling")
}

pub(crate) fn story_in<S>(store: S, tenant: &str) -> Story
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    let clock = Arc::new(StoryClock(Mutex::new(Utc::now())));
    clock.day(0);
    Story {
        store: Arc::new(store.clone()),
        app: App::new(crate::parts(store, clock.clone())),
        clock,
        tenant: TenantId::parse(tenant).unwrap(),
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

    /// The counselling service: written consent, audio only, with these members.
    pub(crate) async fn counselling_service(&self, members: &[(&str, Role)]) {
        self.as_admin(TenantCommand::CreateTenant {
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
        for (name, role) in members {
            self.as_admin(TenantCommand::AddMember {
                user_id: user(name),
                roles: BTreeSet::from([*role]),
            })
            .await;
        }
    }

    async fn publish_form(&self) -> ConsentFormId {
        let form_id = ConsentFormId::from_uuid(Uuid::now_v7()).unwrap();
        self.app
            .execute::<ConsentForm>(
                &self.tenant,
                &as_user("admin"),
                &stream(form_id),
                ConsentFormCommand::PublishConsentForm {
                    title: "Recording consent".into(),
                    language: Language::parse("en-GB").unwrap(),
                    text: FORM_TEXT.into(),
                },
                &[form_id.as_uuid()],
            )
            .await
            .unwrap();
        form_id
    }

    async fn register_client(&self, practitioner: &str) -> ClientId {
        let client_id = ClientId::from_uuid(Uuid::now_v7()).unwrap();
        self.app
            .execute::<Client>(
                &self.tenant,
                &as_user(practitioner),
                &stream(client_id),
                ClientCommand::RegisterClient {
                    details: sealed("c2VhbGVkIGRldGFpbHM="),
                },
                &[client_id.as_uuid()],
            )
            .await
            .unwrap();
        client_id
    }

    /// Publishes the form, registers a client and has `practitioner` ask for `terms`; the
    /// client then signs through their link.
    pub(crate) async fn consent(
        &self,
        practitioner: &str,
        terms: Vec<PurposeTerms>,
    ) -> (ClientId, ConsentId) {
        self.consent_for(practitioner, terms, None, None).await
    }

    /// The same, for a course's recordings and ending as `expiry` says.
    async fn consent_for(
        &self,
        practitioner: &str,
        terms: Vec<PurposeTerms>,
        course_id: Option<CourseId>,
        expiry: Option<Expiry>,
    ) -> (ClientId, ConsentId) {
        let form_id = self.publish_form().await;
        let client_id = self.register_client(practitioner).await;
        let consent_id = self
            .consent_of(
                practitioner,
                client_id,
                form_id,
                ConsentScope::Engagement,
                terms,
                course_id,
                expiry,
            )
            .await;
        (client_id, consent_id)
    }

    /// `practitioner` asks `client_id` for `terms` over `scope` on the form, and the client
    /// signs through their link.
    #[allow(clippy::too_many_arguments)]
    async fn consent_of(
        &self,
        practitioner: &str,
        client_id: ClientId,
        form_id: ConsentFormId,
        scope: ConsentScope,
        terms: Vec<PurposeTerms>,
        course_id: Option<CourseId>,
        expiry: Option<Expiry>,
    ) -> ConsentId {
        let (app, tenant) = (&self.app, &self.tenant);
        let form_stream = stream(form_id);
        let client_stream = stream(client_id);
        let client: Client = app.load(tenant, &client_stream).await.unwrap().state;
        let form: ConsentForm = app.load(tenant, &form_stream).await.unwrap().state;
        let consent_id = ConsentId::from_uuid(Uuid::now_v7()).unwrap();
        let consent_stream = stream(consent_id);
        app.execute::<Consent>(
            tenant,
            &as_user(practitioner),
            &consent_stream,
            ConsentCommand::RequestConsent {
                client,
                practitioner: user(practitioner),
                scope,
                course_id,
                terms,
                expiry,
                form,
                form_version: 1,
                renews: None,
            },
            &[consent_id.as_uuid()],
        )
        .await
        .unwrap();
        app.execute::<Consent>(
            tenant,
            &Actor::client(client_id),
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
                    signed_at: self.clock.now(),
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
        consent_id
    }

    /// `practitioner` records today's session in audio under the consent and stores it.
    pub(crate) async fn record(&self, practitioner: &str, consent_id: ConsentId) -> RecordingId {
        self.try_record(practitioner, consent_id).await.unwrap()
    }

    async fn try_record(
        &self,
        practitioner: &str,
        consent_id: ConsentId,
    ) -> Result<RecordingId, AppError> {
        let (app, tenant) = (&self.app, &self.tenant);
        let consent_stream = stream(consent_id);
        let consent: Consent = app.load(tenant, &consent_stream).await?.state;
        let course_id = consent.core().and_then(|core| core.course_id);
        let recording_id = RecordingId::from_uuid(Uuid::now_v7()).unwrap();
        let recording_stream = stream(recording_id);
        app.execute::<Recording>(
            tenant,
            &as_user(practitioner),
            &recording_stream,
            RecordingCommand::CreateRecording {
                consent: Box::new(consent.clone()),
                session_on: self.clock.now().date_naive(),
                medium: Medium::Audio,
                course_id,
            },
            &[recording_id.as_uuid()],
        )
        .await?;
        app.execute::<Recording>(
            tenant,
            &as_user(practitioner),
            &recording_stream,
            RecordingCommand::StoreMedia {
                media: StoredMedia {
                    sha256: Sha256::of(b"session audio"),
                    bytes: 48_000_000,
                    duration: Offset::from_millis(50 * 60 * 1000).unwrap(),
                    data_key_id: KeyId::parse("data-key-1").unwrap(),
                    codec: "pcm_s16le".to_owned(),
                    content_type: "audio/wav".to_owned(),
                    object_key: format!("{tenant}/{recording_id}/upload"),
                },
                consent: Box::new(consent),
            },
            &[],
        )
        .await?;
        Ok(recording_id)
    }

    /// A command on a consent stream.
    async fn on_consent(
        &self,
        actor: &Actor,
        consent_id: ConsentId,
        command: ConsentCommand,
        new_ids: &[Uuid],
    ) -> Result<Vec<ConsentEvent>, AppError> {
        self.app
            .execute::<Consent>(&self.tenant, actor, &stream(consent_id), command, new_ids)
            .await
    }

    /// The client asks, through their link, for `kind`.
    async fn open_request(
        &self,
        client_id: ClientId,
        kind: SubjectRequestKind,
    ) -> SubjectRequestId {
        let app = &self.app;
        let request_id = SubjectRequestId::from_uuid(Uuid::now_v7()).unwrap();
        let client: Client = app
            .load(&self.tenant, &stream(client_id))
            .await
            .unwrap()
            .state;
        app.execute::<SubjectRequest>(
            &self.tenant,
            &Actor::client(client_id),
            &stream(request_id),
            SubjectRequestCommand::OpenSubjectRequest {
                client: Box::new(client),
                kind,
                received_at: self.clock.now(),
            },
            &[request_id.as_uuid()],
        )
        .await
        .unwrap();
        request_id
    }

    /// The administrator grants the request.
    async fn grant_request(&self, request_id: SubjectRequestId) {
        self.app
            .decide_subject_request(
                &self.caller(as_user("admin")),
                request_id,
                SubjectRequestOutcome::Granted,
                None,
            )
            .await
            .unwrap();
    }

    async fn play(&self, who: &str, recording: RecordingId, purpose: Purpose) -> RecordingEvent {
        self.app
            .start_playback(
                &self.caller(as_user(who)),
                recording,
                purpose,
                Medium::Audio,
            )
            .await
            .unwrap()
            .event
    }

    pub(crate) async fn recording_events(&self, recording: RecordingId) -> Vec<String> {
        let stream = stream(recording);
        self.store
            .read_stream(&self.tenant, &stream, 1, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }
}

pub(crate) fn terms(purpose: Purpose, audience: &[&str]) -> PurposeTerms {
    PurposeTerms {
        purpose,
        audience: Audience::users(audience.iter().map(|name| user(name))),
        media: BTreeSet::from([Medium::Audio]),
        derivatives: BTreeSet::from([Derivative::Transcript]),
    }
}

both_backends!(
    sqlite => confide_test_support::app_sqlite().await,
    postgres => confide_test_support::app_postgres().await,
    |store| case(story_over(store));
    a_student_counsellors_client_consents_then_withdraws_with_deletion,
    a_coaching_company_records_by_default_and_the_client_opts_out,
    a_credential_submission_grant_expires_after_thirty_days,
    retention_schedules_each_due_destruction_exactly_once,
    queries_show_access_history_due_destructions_and_overdue_requests,
    a_courses_end_expires_its_consents_and_its_recordings_fall_due,
    a_granted_erasure_erases_the_client_and_schedules_their_recordings,
    a_granted_copy_request_lets_the_client_play_their_own_recordings,
    a_grant_the_withdrawal_did_not_see_is_revoked_afterwards,
    a_case_study_needs_each_clients_consent_and_once_published_outlives_it,
    a_play_is_decided_from_the_consents_of_its_session_and_the_engagement,
);

/// A student counsellor's client consents in writing to audio recording for course
/// assessment by two named tutors; a tutor plays it; the client withdraws with deletion; the
/// next play is refused and recorded as refused; the recording is scheduled for destruction
/// and both tutors get notices.
async fn a_student_counsellors_client_consents_then_withdraws_with_deletion(story: Story) {
    story
        .counselling_service(&[
            ("sam", Role::Practitioner),
            ("ada", Role::Tutor),
            ("bob", Role::Tutor),
            ("cai", Role::Tutor),
        ])
        .await;
    let (client_id, consent_id) = story
        .consent(
            "sam",
            vec![terms(Purpose::CourseAssessment, &["ada", "bob"])],
        )
        .await;
    story.clock.day(1);
    let recording = story.record("sam", consent_id).await;

    // Ada, a named tutor, plays it; Cai, a tutor not named, is refused and that is recorded.
    story.clock.day(2);
    let played = story
        .play("ada", recording, Purpose::CourseAssessment)
        .await;
    assert!(
        matches!(played, RecordingEvent::PlaybackStarted { .. }),
        "{played:?}"
    );
    let refused = story
        .play("cai", recording, Purpose::CourseAssessment)
        .await;
    assert!(
        matches!(refused, RecordingEvent::PlaybackRefused { .. }),
        "{refused:?}"
    );

    // The client withdraws, asking for deletion: in the same append the recording is
    // scheduled for destruction and both tutors get a notice.
    story.clock.day(3);
    let withdrawal = story
        .app
        .withdraw_consent(
            &story.caller(Actor::client(client_id)),
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
    let notices: Vec<String> = withdrawal
        .iter()
        .filter(|e| matches!(e, ConsentEvent::WithdrawalNoticeIssued { .. }))
        .map(|e| format!("{e:?}"))
        .collect();
    assert_eq!(notices.len(), 2, "{withdrawal:?}");
    assert!(notices.iter().any(|n| n.contains("ada")) && notices.iter().any(|n| n.contains("bob")));

    // The next play is refused, and the refusal is itself an event.
    let again = story
        .play("ada", recording, Purpose::CourseAssessment)
        .await;
    assert!(
        matches!(again, RecordingEvent::PlaybackRefused { .. }),
        "{again:?}"
    );
    assert_eq!(
        story.recording_events(recording).await,
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

/// A credential submission: the consent names one ICF assessor; a grant to that assessor
/// expires after 30 days; a play on day 10 is allowed through the grant, a play on day 31 is
/// refused and recorded; a grant to an assessor the consent does not name is refused.
async fn a_credential_submission_grant_expires_after_thirty_days(story: Story) {
    story
        .counselling_service(&[("sam", Role::Practitioner)])
        .await;
    let (_, consent_id) = story
        .consent(
            "sam",
            vec![terms(Purpose::Credentialing, &["icf-assessor"])],
        )
        .await;
    story.clock.day(1);
    let recording = story.record("sam", consent_id).await;

    story.clock.day(2);
    let granted_at = story.clock.now();
    let grant = |who: &str| {
        let grantee = Grantee::ExternalAssessor { user_id: user(who) };
        let app = &story.app;
        let sam = story.caller(as_user("sam"));
        async move {
            app.grant_access(
                &sam,
                recording,
                consent_id,
                grantee,
                Purpose::Credentialing,
                granted_at + TimeDelta::days(30),
            )
            .await
        }
    };
    assert!(matches!(
        grant("iac-assessor").await,
        Err(AppError::Domain(DomainError::ConsentRequired { .. }))
    ));
    grant("icf-assessor").await.unwrap();

    story.clock.day(2 + 10);
    let day10 = story
        .play("icf-assessor", recording, Purpose::Credentialing)
        .await;
    assert!(
        matches!(day10, RecordingEvent::PlaybackStarted { .. }),
        "{day10:?}"
    );
    story.clock.day(2 + 31);
    let day31 = story
        .play("icf-assessor", recording, Purpose::Credentialing)
        .await;
    match day31 {
        RecordingEvent::PlaybackRefused { reasons, .. } => assert!(
            reasons
                .iter()
                .any(|r| matches!(r, DenyReason::GrantExpired { .. })),
            "{reasons:?}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        story.recording_events(recording).await,
        [
            "RecordingCreated",
            "RecordingStored",
            "PlaybackStarted",
            "PlaybackRefused"
        ]
    );
}

/// A coaching company in notified opt-out records by default after an automated notice; QA
/// reviewers play by their role, the coach may not; the client opts out of one session, then
/// for good, after which nothing is recorded or played.
async fn a_coaching_company_records_by_default_and_the_client_opts_out(story: Story) {
    story
        .as_admin(TenantCommand::CreateTenant {
            name: "Coaching Company".into(),
            policy: TenantPolicy {
                consent_model: ConsentModel::NotifiedOptOut,
                allowed_media: MediaPolicy::AudioAndVideo,
                practitioner_self_access: false,
                client_copies: ClientCopies::Never,
                retention_days: 180,
                course_grace_days: 0,
                jurisdiction: Jurisdiction::Ccpa,
            },
            first_admin: user("admin"),
        })
        .await;
    for (name, role) in [("sam", Role::Practitioner), ("rita", Role::Reviewer)] {
        story
            .as_admin(TenantCommand::AddMember {
                user_id: user(name),
                roles: BTreeSet::from([role]),
            })
            .await;
    }
    let app = &story.app;
    let form_id = story.publish_form().await;
    let client_id = story.register_client("sam").await;
    let client: Client = app
        .load(&story.tenant, &stream(client_id))
        .await
        .unwrap()
        .state;
    let form: ConsentForm = app
        .load(&story.tenant, &stream(form_id))
        .await
        .unwrap()
        .state;
    let notice_system = Actor::system(SystemJob::Cascade);

    // The automated notice plays at the first session: quality assurance by the reviewers.
    story.clock.day(1);
    let consent_id = ConsentId::from_uuid(Uuid::now_v7()).unwrap();
    let mut qa = terms(Purpose::QualityAssurance, &[]);
    qa.audience = Audience::roles([Role::Reviewer]);
    story
        .on_consent(
            &notice_system,
            consent_id,
            ConsentCommand::GiveNotice {
                notice: Box::new(NoticeTerms {
                    client,
                    practitioner: user("sam"),
                    terms: vec![qa],
                    form,
                    form_version: 1,
                }),
                session_on: story.clock.now().date_naive(),
            },
            &[consent_id.as_uuid()],
        )
        .await
        .unwrap();
    let first = story.record("sam", consent_id).await;

    // Rita plays it by her role; the coach may not ("not at this time").
    story.clock.day(2);
    let qa_play = story.play("rita", first, Purpose::QualityAssurance).await;
    assert!(
        matches!(qa_play, RecordingEvent::PlaybackStarted { .. }),
        "{qa_play:?}"
    );
    let own = story.play("sam", first, Purpose::QualityAssurance).await;
    assert!(
        matches!(own, RecordingEvent::PlaybackRefused { .. }),
        "{own:?}"
    );

    // At the second session the client asks not to be recorded, for that session only.
    story.clock.day(8);
    let today = || story.clock.now().date_naive();
    story
        .on_consent(
            &notice_system,
            consent_id,
            ConsentCommand::GiveSessionNotice {
                session_on: today(),
            },
            &[],
        )
        .await
        .unwrap();
    story
        .on_consent(
            &as_user("sam"),
            consent_id,
            ConsentCommand::OptOutOfSession {
                session_on: today(),
            },
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(
        story.try_record("sam", consent_id).await,
        Err(AppError::Domain(DomainError::ConsentRequired { .. }))
    ));

    // Recording is back on at the third session.
    story.clock.day(15);
    story
        .on_consent(
            &notice_system,
            consent_id,
            ConsentCommand::GiveSessionNotice {
                session_on: today(),
            },
            &[],
        )
        .await
        .unwrap();
    story.record("sam", consent_id).await;

    // Then the client opts out for good: no more notices, recordings or plays.
    story.clock.day(20);
    story
        .on_consent(
            &Actor::client(client_id),
            consent_id,
            ConsentCommand::OptOutForGood {
                deletion_requested: false,
            },
            &[],
        )
        .await
        .unwrap();
    story.clock.day(22);
    assert!(matches!(
        story
            .on_consent(
                &notice_system,
                consent_id,
                ConsentCommand::GiveSessionNotice {
                    session_on: today()
                },
                &[]
            )
            .await,
        Err(AppError::Domain(DomainError::Conflict { .. }))
    ));
    assert!(matches!(
        story.try_record("sam", consent_id).await,
        Err(AppError::Domain(DomainError::ConsentRequired { .. }))
    ));
    let after = story.play("rita", first, Purpose::QualityAssurance).await;
    assert!(
        matches!(after, RecordingEvent::PlaybackRefused { .. }),
        "{after:?}"
    );
}

/// Retention: nothing is due before the tenant's 365 days have passed since storage; then every
/// due recording is scheduled for destruction once, even by two jobs running at once, and a
/// run after that schedules nothing.
async fn retention_schedules_each_due_destruction_exactly_once(story: Story) {
    story
        .counselling_service(&[("sam", Role::Practitioner), ("ada", Role::Tutor)])
        .await;
    let (_, consent_id) = story
        .consent("sam", vec![terms(Purpose::CourseAssessment, &["ada"])])
        .await;
    story.clock.day(1);
    let first = story.record("sam", consent_id).await;
    let second = story.record("sam", consent_id).await;

    story.clock.day(300);
    assert!(
        story
            .app
            .run_retention(&story.tenant)
            .await
            .unwrap()
            .is_empty()
    );

    story.clock.day(367);
    let (a, b) = tokio::join!(
        story.app.run_retention(&story.tenant),
        story.app.run_retention(&story.tenant)
    );
    let mut scheduled = a.unwrap();
    scheduled.extend(b.unwrap());
    scheduled.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(
        scheduled, expected,
        "each recording scheduled by exactly one job"
    );
    assert!(
        story
            .app
            .run_retention(&story.tenant)
            .await
            .unwrap()
            .is_empty()
    );
    for recording in [first, second] {
        let events = story.recording_events(recording).await;
        let scheduled = events
            .iter()
            .filter(|e| *e == "RecordingDestructionScheduled")
            .count();
        assert_eq!(scheduled, 1, "{events:?}");
    }
}

/// Rebuilding every inline projection from the log yields exactly the tables they wrote live,
/// after three stories in three tenants (withdrawal with deletion, an expiring grant, a
/// course's end with its retention).
async fn rebuilt_inline_projections_match_the_live_tables<S, F, Fut>(store: S, snapshot: F)
where
    S: confide_eventstore::ProjectionHost + ReadModels + Clone + 'static,
    StreamLinks: confide_eventstore::AsyncProjection<S::Db>,
    Memberships: confide_eventstore::AsyncProjection<S::Db>,
    AggregateStates: confide_eventstore::AsyncProjection<S::Db>,
    LocalKeyStore<S>: KeyStore,
    F: Fn(S) -> Fut,
    Fut: std::future::Future<Output = Vec<Vec<(String, String)>>>,
{
    a_student_counsellors_client_consents_then_withdraws_with_deletion(story_in(
        store.clone(),
        "counselling-course",
    ))
    .await;
    a_credential_submission_grant_expires_after_thirty_days(story_in(
        store.clone(),
        "coaching-credentials",
    ))
    .await;
    a_courses_end_expires_its_consents_and_its_recordings_fall_due(story_in(
        store.clone(),
        "university-clinic",
    ))
    .await;
    let live: Vec<Vec<(String, String)>> = snapshot(store.clone()).await;
    let rows =
        |table: &str| live[INLINE_TABLES.iter().position(|(t, _)| *t == table).unwrap()].len();
    assert_eq!(rows("stream_links"), 16, "{live:?}");
    assert_eq!(rows("memberships"), 10, "{live:?}");
    // Per tenant: the tenant, a client, a consent form, a consent and a recording; a grant and a
    // course in one each.
    assert_eq!(rows("aggregate_states"), 3 * 5 + 2, "{live:?}");
    assert_eq!(rows("retention"), 3, "{live:?}");
    let host = Arc::new(store.clone());
    for projection in [
        Arc::new(StreamLinks) as Arc<dyn confide_eventstore::AsyncProjection<_>>,
        Arc::new(Memberships),
        Arc::new(AggregateStates),
    ] {
        let runner = confide_eventstore::ProjectionRunner::new(host.clone(), projection);
        assert!(runner.rebuild().await.unwrap() > 0);
    }
    assert_eq!(snapshot(store).await, live);
}

/// Every table an inline projection writes, each row as (key, the rest) in text.
const INLINE_TABLES: [(&str, &str); 4] = [
    (
        "stream_links",
        "SELECT tenant_id || ' ' || subject, stream_id FROM stream_links",
    ),
    (
        "memberships",
        "SELECT tenant_id || ' ' || user_id, roles FROM memberships",
    ),
    (
        "aggregate_states",
        "SELECT tenant_id || ' ' || stream_id, kind || ' ' || CAST(version AS TEXT) || ' ' || state
           FROM aggregate_states",
    ),
    (
        "retention",
        "SELECT tenant_id || ' ' || recording_id,
                consent_id || ' ' || COALESCE(course_id, '-') || ' '
                || COALESCE(CAST(destroy_after AS TEXT), '-') || ' ' || COALESCE(reason, '-')
                || ' ' || COALESCE(CAST(scheduled_for AS TEXT), '-')
           FROM retention",
    ),
];

fn ordered(query: &str) -> String {
    format!("{query} ORDER BY 1, 2")
}

both_backends!(
    sqlite => (
        confide_test_support::app_sqlite().await,
        sqlite_inline_tables,
    ),
    postgres => (
        confide_test_support::app_postgres().await,
        postgres_inline_tables,
    ),
    |opened| case(opened.0, opened.1);
    rebuilt_inline_projections_match_the_live_tables,
);

both_backends!(
    sqlite => (
        confide_test_support::app_sqlite().await,
        sqlite_inline_tables,
        sqlite_access_links_migration,
    ),
    postgres => (
        confide_test_support::app_postgres().await,
        postgres_inline_tables,
        postgres_access_links_migration,
    ),
    |opened| case(opened.0, opened.1, opened.2);
    the_access_links_migration_files_what_the_projection_files,
);

/// Migration 0010 files the consents and grants already in a database under the subjects an
/// access decision reads, from their states: exactly the links the projection files as they
/// are created (here forgotten first, as in a database migrated before 0010).
async fn the_access_links_migration_files_what_the_projection_files<S, F, Fut, M, MFut>(
    store: S,
    snapshot: F,
    migrate: M,
) where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
    F: Fn(S) -> Fut,
    Fut: std::future::Future<Output = Vec<Vec<(String, String)>>>,
    M: Fn(S) -> MFut,
    MFut: std::future::Future<Output = ()>,
{
    a_play_is_decided_from_the_consents_of_its_session_and_the_engagement(story_in(
        store.clone(),
        "many-sessions",
    ))
    .await;
    a_credential_submission_grant_expires_after_thirty_days(story_in(
        store.clone(),
        "coaching-credentials",
    ))
    .await;
    let live = snapshot(store.clone()).await;
    let links = &live[INLINE_TABLES
        .iter()
        .position(|(t, _)| *t == "stream_links")
        .unwrap()];
    let filed = |kind: &str| {
        links
            .iter()
            .filter(|(subject, _)| subject.contains(kind))
            .count()
    };
    // Five consents (four sessions and the engagement), and the credential story's engagement
    // consent and its grants.
    assert_eq!(filed(":session:"), 4, "{links:?}");
    assert_eq!(filed(":engagement"), 2, "{links:?}");
    assert!(filed(":external_assessor:") >= 1, "{links:?}");
    migrate(store.clone()).await;
    assert_eq!(snapshot(store).await, live);
}

/// Forgets the access links of a SQLite store and applies migration 0010 again.
async fn sqlite_access_links_migration(store: confide_eventstore::SqliteEventStore) {
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(ACCESS_LINKS).execute(&mut *tx).await.unwrap();
    sqlx::raw_sql(include_str!(
        "../../../readmodels/migrations/sqlite/0010_access_links.sql"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The same on PostgreSQL (the migration sees past row-level security itself).
async fn postgres_access_links_migration(store: confide_eventstore::PgEventStore) {
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SELECT set_config('confide.all_tenants', 'on', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(ACCESS_LINKS).execute(&mut *tx).await.unwrap();
    sqlx::raw_sql(include_str!(
        "../../../readmodels/migrations/postgres/0010_access_links.sql"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Deletes the links migration 0010 files: consents by session or engagement, grants by
/// grantee.
const ACCESS_LINKS: &str = "DELETE FROM stream_links
     WHERE subject LIKE 'client:%:session:%' OR subject LIKE 'client:%:engagement'
        OR subject LIKE 'recording:%:%'";

/// Every inline table of a SQLite store, each ordered.
async fn sqlite_inline_tables(
    store: confide_eventstore::SqliteEventStore,
) -> Vec<Vec<(String, String)>> {
    let mut tables = Vec::new();
    for (_, query) in INLINE_TABLES {
        tables.push(
            sqlx::query_as(&ordered(query))
                .fetch_all(store.pool())
                .await
                .unwrap(),
        );
    }
    tables
}

/// Every inline table of a PostgreSQL store, each ordered.
async fn postgres_inline_tables(
    store: confide_eventstore::PgEventStore,
) -> Vec<Vec<(String, String)>> {
    // The test reads every tenant's rows, past row-level security.
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SELECT set_config('confide.all_tenants', 'on', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut tables = Vec::new();
    for (_, query) in INLINE_TABLES {
        tables.push(
            sqlx::query_as(&ordered(query))
                .fetch_all(&mut *tx)
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    tables
}

/// The query services: a recording list with the caller's access flag, a client's consent
/// history, upcoming destructions and overdue subject requests.
async fn queries_show_access_history_due_destructions_and_overdue_requests(story: Story) {
    story
        .counselling_service(&[
            ("sam", Role::Practitioner),
            ("ada", Role::Tutor),
            ("cai", Role::Tutor),
        ])
        .await;
    let (client_id, consent_id) = story
        .consent("sam", vec![terms(Purpose::CourseAssessment, &["ada"])])
        .await;
    story.clock.day(1);
    let recording = story.record("sam", consent_id).await;
    let (app, tenant) = (&story.app, &story.tenant);

    // Ada, named in the consent, may play; Cai, not named, may not. Listing records nothing.
    let allowed = |who: &str| {
        let actor = as_user(who);
        async move {
            let page = app
                .recordings_page(
                    &Caller {
                        tenant: tenant.clone(),
                        actor,
                    },
                    Purpose::CourseAssessment,
                    &confide_app::PageRequest::new(10, None, confide_app::MAX_PAGE).unwrap(),
                )
                .await
                .unwrap();
            let views: Vec<_> = page.rows.into_iter().map(|(_, view)| view).collect();
            assert_eq!(views.len(), 1);
            assert_eq!(views[0].recording.id(), Some(recording));
            matches!(
                views[0].access,
                confide_domain::AccessDecision::Allow { .. }
            )
        }
    };
    assert!(allowed("ada").await);
    assert!(!allowed("cai").await);
    assert_eq!(
        story.recording_events(recording).await,
        ["RecordingCreated", "RecordingStored"]
    );

    // The client's consent history.
    let history = app.consent_history(tenant, client_id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id(), Some(consent_id));
    assert_eq!(history[0].status(), Some(ConsentStatus::Given));

    // The tenant keeps recordings 365 days after storage.
    let stored = story.clock.now();
    let soon = app
        .upcoming_destructions(tenant, stored + TimeDelta::days(300))
        .await
        .unwrap();
    assert!(soon.is_empty(), "{soon:?}");
    let within_a_year = app
        .upcoming_destructions(tenant, stored + TimeDelta::days(400))
        .await
        .unwrap();
    assert_eq!(within_a_year.len(), 1);
    assert_eq!(within_a_year[0].0, recording);
    assert_eq!(
        within_a_year[0].1.destroy_after,
        stored + TimeDelta::days(365)
    );

    // A request for a copy, received today, is due within the UK GDPR's month.
    let request_id = story
        .open_request(client_id, SubjectRequestKind::Copy)
        .await;
    story.clock.day(20);
    assert!(
        app.overdue_subject_requests(tenant)
            .await
            .unwrap()
            .is_empty()
    );
    story.clock.day(40);
    let overdue = app.overdue_subject_requests(tenant).await.unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].id(), Some(request_id));
}

/// The recording list follows the log through its runner, and a rebuild from the log gives
/// the same rows.
async fn the_recording_list_follows_the_log_and_rebuilds_the_same<S>(store: S)
where
    S: confide_eventstore::ProjectionHost + ReadModels + Lists + Clone + 'static,
    RecordingList: confide_eventstore::AsyncProjection<S::Db>,
    LocalKeyStore<S>: KeyStore,
{
    let tenant = TenantId::parse("community-counselling").unwrap();
    a_credential_submission_grant_expires_after_thirty_days(story_over(store.clone())).await;
    let store = Arc::new(store);
    let runner = confide_eventstore::ProjectionRunner::new(store.clone(), Arc::new(RecordingList));
    assert!(runner.catch_up().await.unwrap() > 0);
    let live = store.recording_list(&tenant).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].status, "stored");
    assert_eq!((live[0].plays, live[0].refusals), (1, 1));
    assert_eq!(live[0].medium, "audio");
    assert_eq!(runner.run_once().await.unwrap(), 0, "caught up");
    assert!(runner.rebuild().await.unwrap() > 0);
    assert_eq!(store.recording_list(&tenant).await.unwrap(), live);
}

both_backends!(
    sqlite => confide_test_support::app_sqlite().await,
    postgres => confide_test_support::app_postgres().await,
    |store| case(store);
    the_recording_list_follows_the_log_and_rebuilds_the_same,
);

/// A course's end: the consents that end with it expire in the same append, plays stop, and
/// the retention job finds the course's recordings due.
async fn a_courses_end_expires_its_consents_and_its_recordings_fall_due(story: Story) {
    story
        .counselling_service(&[("sam", Role::Practitioner), ("ada", Role::Tutor)])
        .await;
    let (app, tenant) = (&story.app, &story.tenant);
    let course_id = CourseId::from_uuid(Uuid::now_v7()).unwrap();
    let course_stream = stream(course_id);
    app.execute::<Course>(
        tenant,
        &as_user("admin"),
        &course_stream,
        CourseCommand::CreateCourse {
            title: "Diploma in Counselling".into(),
            starts_on: story.clock.now().date_naive(),
            ends_on: story.clock.now().date_naive() + TimeDelta::days(30),
            tutors: BTreeSet::from([user("ada")]),
        },
        &[course_id.as_uuid()],
    )
    .await
    .unwrap();
    app.execute::<Course>(
        tenant,
        &as_user("admin"),
        &course_stream,
        CourseCommand::EnrolInCourse {
            user_id: user("sam"),
        },
        &[],
    )
    .await
    .unwrap();
    let (_, consent_id) = story
        .consent_for(
            "sam",
            vec![terms(Purpose::CourseAssessment, &["ada"])],
            Some(course_id),
            Some(Expiry::OnEvent {
                trigger: ExpiryTrigger::CourseEnded { course_id },
            }),
        )
        .await;
    story.clock.day(1);
    let recording = story.record("sam", consent_id).await;
    story.clock.day(2);
    let played = story
        .play("ada", recording, Purpose::CourseAssessment)
        .await;
    assert!(
        matches!(played, RecordingEvent::PlaybackStarted { .. }),
        "{played:?}"
    );
    assert!(app.run_retention(tenant).await.unwrap().is_empty());

    story.clock.day(10);
    app.end_course(
        &story.caller(as_user("admin")),
        course_id,
        story.clock.now().date_naive(),
    )
    .await
    .unwrap();
    let consent: Consent = app.load(tenant, &stream(consent_id)).await.unwrap().state;
    assert_eq!(consent.status(), Some(ConsentStatus::Expired));
    let after = story
        .play("ada", recording, Purpose::CourseAssessment)
        .await;
    assert!(
        matches!(after, RecordingEvent::PlaybackRefused { .. }),
        "{after:?}"
    );

    // The recordings stay for the tenant's course grace (14 days) after the end, then go.
    story.clock.day(23);
    assert!(app.run_retention(tenant).await.unwrap().is_empty());
    story.clock.day(24);
    assert_eq!(app.run_retention(tenant).await.unwrap(), vec![recording]);
}

/// The client asks for erasure; when it is granted the client is erased (their key destroyed)
/// and their recording is scheduled for destruction, in the same append as the decision.
async fn a_granted_erasure_erases_the_client_and_schedules_their_recordings(story: Story) {
    story
        .counselling_service(&[("sam", Role::Practitioner), ("ada", Role::Tutor)])
        .await;
    let (client_id, consent_id) = story
        .consent("sam", vec![terms(Purpose::CourseAssessment, &["ada"])])
        .await;
    story.clock.day(1);
    let recording = story.record("sam", consent_id).await;
    let (app, tenant) = (&story.app, &story.tenant);

    story.clock.day(2);
    let request_id = story
        .open_request(client_id, SubjectRequestKind::Erasure)
        .await;
    let client_stream = stream(client_id);

    story.clock.day(5);
    story.grant_request(request_id).await;
    let client: Client = app.load(tenant, &client_stream).await.unwrap().state;
    assert!(client.is_erased());
    assert_eq!(
        story
            .recording_events(recording)
            .await
            .last()
            .map(String::as_str),
        Some("RecordingDestructionScheduled")
    );
    assert!(
        app.overdue_subject_requests(tenant)
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing is left for retention to schedule.
    assert!(app.run_retention(tenant).await.unwrap().is_empty());
}

/// Under `on_request_reviewed`, a granted copy request gives the client their own copy of
/// each recording whose consent allows it — here two sessions under one consent — and the
/// client then plays it through their link.
async fn a_granted_copy_request_lets_the_client_play_their_own_recordings(story: Story) {
    story
        .counselling_service(&[("sam", Role::Practitioner), ("ada", Role::Tutor)])
        .await;
    let (client_id, consent_id) = story
        .consent(
            "sam",
            vec![
                terms(Purpose::CourseAssessment, &["ada"]),
                terms(Purpose::ClientCopy, &[]),
            ],
        )
        .await;
    story.clock.day(1);
    let first = story.record("sam", consent_id).await;
    let second = story.record("sam", consent_id).await;
    let app = &story.app;
    let the_client = &story.caller(Actor::client(client_id));
    let own_copy = |recording| async move {
        app.start_playback(the_client, recording, Purpose::ClientCopy, Medium::Audio)
            .await
            .unwrap()
            .event
    };
    // No copy before the request is granted.
    assert!(matches!(
        own_copy(first).await,
        RecordingEvent::PlaybackRefused { .. }
    ));

    let request_id = story
        .open_request(client_id, SubjectRequestKind::Copy)
        .await;
    story.clock.day(3);
    story.grant_request(request_id).await;
    for recording in [first, second] {
        let played = own_copy(recording).await;
        assert!(
            matches!(played, RecordingEvent::PlaybackStarted { .. }),
            "{played:?}"
        );
    }
}

/// A grant that committed while a withdrawal was being decided is revoked by the pass that
/// follows every withdrawal. The race is reproduced by committing the withdrawal behind the
/// app's back, so that its cascade never saw the grant.
async fn a_grant_the_withdrawal_did_not_see_is_revoked_afterwards(story: Story) {
    story
        .counselling_service(&[("sam", Role::Practitioner)])
        .await;
    let (client_id, consent_id) = story
        .consent(
            "sam",
            vec![terms(Purpose::Credentialing, &["icf-assessor"])],
        )
        .await;
    story.clock.day(1);
    let recording = story.record("sam", consent_id).await;
    let (app, tenant) = (&story.app, &story.tenant);
    let grant_id = app
        .grant_access(
            &story.caller(as_user("sam")),
            recording,
            consent_id,
            Grantee::ExternalAssessor {
                user_id: user("icf-assessor"),
            },
            Purpose::Credentialing,
            story.clock.now() + TimeDelta::days(30),
        )
        .await
        .unwrap();

    // The withdrawal alone, with no cascade.
    story.clock.day(2);
    let consent_stream = stream(consent_id);
    let consent: confide_app::Loaded<Consent> = app.load(tenant, &consent_stream).await.unwrap();
    let organisation: Tenant = app.load(tenant, &tenant_stream()).await.unwrap().state;
    let ctx = confide_domain::Ctx::new(
        tenant.clone(),
        &organisation,
        Actor::client(client_id),
        story.clock.now(),
    );
    let withdrawn = consent
        .state
        .decide(
            ConsentCommand::WithdrawConsent {
                scope: WithdrawalScope::Whole,
                deletion_requested: false,
            },
            &ctx,
        )
        .unwrap();
    let events = withdrawn
        .into_iter()
        .map(|e| {
            let e = confide_domain::Event::from(e);
            confide_eventstore::NewEvent::new(
                confide_domain::DomainEvent::event_type(&e),
                confide_domain::DomainEvent::schema_version(&e),
                e.to_payload().unwrap(),
            )
        })
        .collect();
    story
        .store
        .append(
            tenant,
            confide_eventstore::AppendRequest::to_stream(
                consent_stream,
                confide_eventstore::ExpectedVersion::Exact(consent.version),
                events,
                story.clock.now(),
            ),
        )
        .await
        .unwrap();

    assert_eq!(
        app.revoke_uncovered_grants(tenant, consent_id)
            .await
            .unwrap(),
        vec![grant_id]
    );
    assert!(
        app.revoke_uncovered_grants(tenant, consent_id)
            .await
            .unwrap()
            .is_empty()
    );
    let grant: Grant = app.load(tenant, &stream(grant_id)).await.unwrap().state;
    assert!(grant.revoked_at().is_some());
}

/// Memberships are kept inline (never behind the log) and rebuild to the same rows.
async fn memberships_follow_the_tenant_stream_and_rebuild_the_same<S>(store: S)
where
    S: confide_eventstore::ProjectionHost + ReadModels + Lists + Clone + 'static,
    Memberships: confide_eventstore::AsyncProjection<S::Db>,
    LocalKeyStore<S>: KeyStore,
{
    let story = story_over(store.clone());
    story
        .counselling_service(&[("sam", Role::Practitioner), ("ada", Role::Tutor)])
        .await;
    story
        .as_admin(TenantCommand::ChangeMemberRoles {
            user_id: user("ada"),
            roles: BTreeSet::from([Role::Tutor, Role::Reviewer]),
        })
        .await;
    story
        .as_admin(TenantCommand::RemoveMember {
            user_id: user("sam"),
        })
        .await;
    let live = store.members(&story.tenant).await.unwrap();
    let names = |row: &confide_app::MemberRow| (row.user_id.clone(), row.roles.0.join(","));
    assert_eq!(
        live.iter().map(names).collect::<Vec<_>>(),
        [
            ("ada".to_string(), "reviewer,tutor".to_string()),
            ("admin".to_string(), "org_admin".to_string()),
        ]
    );
    let runner =
        confide_eventstore::ProjectionRunner::new(Arc::new(store.clone()), Arc::new(Memberships));
    assert!(runner.rebuild().await.unwrap() > 0);
    assert_eq!(store.members(&story.tenant).await.unwrap(), live);
}

both_backends!(
    sqlite => confide_test_support::app_sqlite().await,
    postgres => confide_test_support::app_postgres().await,
    |store| case(store);
    memberships_follow_the_tenant_stream_and_rebuild_the_same,
);

/// A case study: each named client must have given `case_study` consent; the text is checked
/// for the clients' names before publishing; published to a named funder, only that funder
/// (besides its author and the administrators) reads it, and it stays after its client
/// withdraws with deletion.
async fn a_case_study_needs_each_clients_consent_and_once_published_outlives_it(story: Story) {
    story
        .counselling_service(&[
            ("sam", Role::Practitioner),
            ("ada", Role::Tutor),
            ("fay", Role::Funder),
            ("gus", Role::Funder),
        ])
        .await;
    let (app, tenant) = (&story.app, &story.tenant);
    let (consenting, consent_id) = story
        .consent("sam", vec![terms(Purpose::CaseStudy, &["fay"])])
        .await;
    let (unwilling, _) = story
        .consent("sam", vec![terms(Purpose::Supervision, &["ada"])])
        .await;
    let text = "A client in their forties came to counselling after a bereavement.";
    let draft = |clients: &[ClientId]| CaseStudyCommand::DraftCaseStudy {
        clients: clients.iter().copied().collect(),
        body: sealed("c2VhbGVkIGNhc2Ugc3R1ZHk="),
        body_sha256: Sha256::of(text.as_bytes()),
        consents: Vec::new(),
    };
    let case_study_id = CaseStudyId::from_uuid(Uuid::now_v7()).unwrap();
    let write = |who: &'static str, command: CaseStudyCommand| async move {
        app.write_case_study(
            &Caller {
                tenant: tenant.clone(),
                actor: as_user(who),
            },
            case_study_id,
            command,
            &[case_study_id.as_uuid()],
        )
        .await
    };

    let refused = write("sam", draft(&[consenting, unwilling]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            AppError::Domain(DomainError::ConsentRequired { .. })
        ),
        "{refused:?}"
    );
    write("sam", draft(&[consenting])).await.unwrap();

    let readers = |who: &'static str| async move {
        app.case_studies(&Caller {
            tenant: tenant.clone(),
            actor: as_user(who),
        })
        .await
        .unwrap()
        .len()
    };
    assert_eq!(
        (
            readers("sam").await,
            readers("admin").await,
            readers("ada").await,
            readers("fay").await
        ),
        (1, 1, 0, 0),
        "a draft is its author's and the administrators'"
    );

    let publish = |plaintext: &str| CaseStudyCommand::PublishCaseStudy {
        funder: user("fay"),
        plaintext: plaintext.to_owned(),
        client_names: vec!["Morgan Ellis".to_owned()],
        consents: Vec::new(),
    };
    let named = write("sam", publish("Morgan came after a bereavement."))
        .await
        .unwrap_err();
    assert!(
        matches!(named, AppError::Domain(DomainError::Invalid { .. })),
        "{named:?}"
    );
    write("sam", publish(text)).await.unwrap();
    assert_eq!((readers("fay").await, readers("gus").await), (1, 0));

    story
        .on_consent(
            &Actor::client(consenting),
            consent_id,
            ConsentCommand::WithdrawConsent {
                scope: WithdrawalScope::Whole,
                deletion_requested: true,
            },
            &[],
        )
        .await
        .unwrap();
    let kept = app
        .case_studies(&story.caller(as_user("fay")))
        .await
        .unwrap();
    assert_eq!(
        kept.len(),
        1,
        "a published case study is a permanent record"
    );
    assert_eq!(
        kept[0].case_study.status(),
        Some(CaseStudyStatus::Published)
    );
    let revise = write(
        "sam",
        CaseStudyCommand::ReviseCaseStudy {
            body: sealed("bmV3IHRleHQ="),
            body_sha256: Sha256::of(b"new text"),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(revise, AppError::Domain(DomainError::Conflict { .. })),
        "{revise:?}"
    );
}

/// A client who has had several sessions, each under its own consent, and an engagement
/// consent besides: a play of one session's recording is decided from the consents whose
/// scope includes that session (its own, the engagement's), read as the decision takes them,
/// and a refusal names those consents and no other session's.
async fn a_play_is_decided_from_the_consents_of_its_session_and_the_engagement(story: Story) {
    story
        .counselling_service(&[
            ("sam", Role::Practitioner),
            ("ada", Role::Tutor),
            ("bob", Role::Tutor),
            ("cai", Role::Tutor),
        ])
        .await;
    let form = story.publish_form().await;
    let client = story.register_client("sam").await;
    let supervision_by = |who: &str| vec![terms(Purpose::Supervision, &[who])];
    let mut sessions = Vec::new();
    for day in 0..4 {
        story.clock.day(day);
        let on = story.clock.now().date_naive();
        let consent = story
            .consent_of(
                "sam",
                client,
                form,
                ConsentScope::Session { session_on: on },
                supervision_by("ada"),
                None,
                None,
            )
            .await;
        sessions.push(consent);
    }
    // Bob is heard only under the engagement's consent.
    let engagement = story
        .consent_of(
            "sam",
            client,
            form,
            ConsentScope::Engagement,
            supervision_by("bob"),
            None,
            None,
        )
        .await;
    story.clock.day(2);
    let recording = story.record("sam", sessions[2]).await;

    let basis = |event: RecordingEvent| match event {
        RecordingEvent::PlaybackStarted { basis, .. } => basis.consent_id,
        other => panic!("refused: {other:?}"),
    };
    assert_eq!(
        basis(story.play("ada", recording, Purpose::Supervision).await),
        sessions[2]
    );
    assert_eq!(
        basis(story.play("bob", recording, Purpose::Supervision).await),
        engagement
    );
    let refused = story.play("cai", recording, Purpose::Supervision).await;
    let RecordingEvent::PlaybackRefused { reasons, .. } = refused else {
        panic!("allowed: {refused:?}");
    };
    let mut named: Vec<ConsentId> = reasons
        .iter()
        .filter_map(|reason| match reason {
            DenyReason::ConsentDoesNotCover { consent_id, .. } => Some(*consent_id),
            _ => None,
        })
        .collect();
    named.sort();
    let mut expected = vec![sessions[2], engagement];
    expected.sort();
    assert_eq!(named, expected, "{reasons:?}");
}
