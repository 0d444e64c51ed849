//! A small given/when/then framework and the fixtures the tests share.
//!
//! `given(events).when(command, &ctx).then(expected_events)` folds the history, decides the
//! command, compares the events exactly, and returns the state after applying them, so a test
//! can go on from there. `then_error(code, fragment)` checks that the right rule refused.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

use crate::aggregates::Aggregate;
use crate::aggregates::client::{Client, ClientEvent};
use crate::aggregates::consent::{
    Audience, CollectionMethod, Consent, ConsentEvent, ConsentScope, Evidence, Expiry, PurposeTerms,
};
use crate::aggregates::consent_form::{ConsentForm, ConsentFormEvent, FormRef};
use crate::aggregates::recording::{Recording, RecordingEvent, StoredMedia};
use crate::aggregates::tenant::{Tenant, TenantEvent};
use crate::context::{Actor, Ctx, SystemJob};
use crate::error::DomainError;
use crate::ids::{ClientId, ConsentFormId, ConsentId, RecordingId, TenantId, UserId};
use crate::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use crate::vocabulary::{
    Derivative, Jurisdiction, KeyId, Language, Medium, Offset, Purpose, Role, Sealed, Sha256,
};

/// A history to decide against.
pub(crate) struct Given<A: Aggregate> {
    state: A,
}

/// Names the aggregate an event type belongs to, so a history alone says what it is about.
pub(crate) trait EventOf: Sized {
    type Aggregate: Aggregate<Event = Self>;
}

macro_rules! event_of {
    ($($event:ty => $aggregate:ty),+ $(,)?) => {
        $(impl EventOf for $event {
            type Aggregate = $aggregate;
        })+
    };
}

event_of!(
    TenantEvent => Tenant,
    ClientEvent => Client,
    ConsentFormEvent => ConsentForm,
    ConsentEvent => Consent,
    RecordingEvent => Recording,
    crate::aggregates::grant::GrantEvent => crate::aggregates::grant::Grant,
    crate::aggregates::course::CourseEvent => crate::aggregates::course::Course,
    crate::aggregates::case_study::CaseStudyEvent => crate::aggregates::case_study::CaseStudy,
    crate::aggregates::subject_request::SubjectRequestEvent => crate::aggregates::subject_request::SubjectRequest,
);

/// Starts a scenario from a history.
pub(crate) fn given<E: EventOf>(events: impl IntoIterator<Item = E>) -> Given<E::Aggregate> {
    Given {
        state: events
            .into_iter()
            .fold(E::Aggregate::default(), |s, e| s.apply(&e)),
    }
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` in `ctx`.
    pub(crate) fn when(&self, command: A::Command, ctx: &Ctx<'_>) -> Outcome<A> {
        Outcome {
            result: self.state.decide(command, ctx),
            state: self.state.clone(),
        }
    }

    /// The folded state.
    pub(crate) fn state(&self) -> &A {
        &self.state
    }
}

/// What a decision produced.
pub(crate) struct Outcome<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, DomainError>,
}

impl<A: Aggregate> Outcome<A>
where
    A::Event: PartialEq,
{
    /// Asserts exactly these events and returns the state after them.
    #[track_caller]
    pub(crate) fn then(self, expected: Vec<A::Event>) -> A {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the command produced other events");
                events.iter().fold(self.state, |s, e| s.apply(e))
            }
            Err(e) => panic!("expected events, got error: {e}"),
        }
    }

    /// Asserts success and returns the events.
    #[track_caller]
    pub(crate) fn events(self) -> Vec<A::Event> {
        match self.result {
            Ok(events) => events,
            Err(e) => panic!("expected events, got error: {e}"),
        }
    }

    /// Asserts a refusal of this kind (`DomainError::code`) whose message contains `fragment`,
    /// or that names `fragment` among its stable reasons.
    #[track_caller]
    pub(crate) fn then_error(self, code: &str, fragment: &str) {
        match self.result {
            Ok(events) => panic!("expected {code} error, got events: {events:?}"),
            Err(e) => {
                assert_eq!(e.code(), code, "wrong kind of error: {e}");
                assert!(
                    e.to_string().contains(fragment) || e.reasons().contains(&fragment),
                    "error {e:?} does not mention {fragment:?}"
                );
            }
        }
    }
}

// ---- time and ids -------------------------------------------------------------------------

/// Day `day` of the story (day 0 is Monday 6 January 2025) at `hour`:00 UTC.
pub(crate) fn t(day: i64, hour: u32) -> DateTime<Utc> {
    let start: DateTime<Utc> = "2025-01-06T00:00:00Z".parse().unwrap();
    start + TimeDelta::days(day) + TimeDelta::hours(i64::from(hour))
}

/// The date of day `day`.
pub(crate) fn date(day: i64) -> NaiveDate {
    t(day, 0).date_naive()
}

/// A deterministic, non-nil UUID.
pub(crate) fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)
}

pub(crate) fn tenant_id() -> TenantId {
    TenantId::parse("community-counselling").unwrap()
}

pub(crate) fn other_tenant_id() -> TenantId {
    TenantId::parse("other-org").unwrap()
}

pub(crate) fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

pub(crate) fn by(name: &str) -> Actor {
    Actor::user(user(name))
}

pub(crate) fn client_id() -> ClientId {
    ClientId::from_uuid(uuid(1)).unwrap()
}

pub(crate) fn consent_id() -> ConsentId {
    ConsentId::from_uuid(uuid(2)).unwrap()
}

pub(crate) fn form_id() -> ConsentFormId {
    ConsentFormId::from_uuid(uuid(3)).unwrap()
}

pub(crate) fn recording_id() -> RecordingId {
    RecordingId::from_uuid(uuid(4)).unwrap()
}

pub(crate) fn client_key() -> KeyId {
    KeyId::parse("client-key-1").unwrap()
}

pub(crate) fn sealed(text: &str) -> Sealed {
    Sealed::new(client_key(), text).unwrap()
}

// ---- the tenant ---------------------------------------------------------------------------

/// The counselling service: written opt-in, audio only, practitioners may listen back,
/// copies on reviewed request, UK GDPR.
pub(crate) fn written_policy() -> TenantPolicy {
    TenantPolicy {
        consent_model: ConsentModel::WrittenOptIn,
        allowed_media: MediaPolicy::AudioOnly,
        practitioner_self_access: true,
        client_copies: ClientCopies::OnRequestReviewed,
        retention_days: 365,
        course_grace_days: 14,
        jurisdiction: Jurisdiction::UkGdpr,
    }
}

/// The coaching company: notified opt-out, audio and video, no self-access, no copies.
pub(crate) fn notice_policy() -> TenantPolicy {
    TenantPolicy {
        consent_model: ConsentModel::NotifiedOptOut,
        allowed_media: MediaPolicy::AudioAndVideo,
        practitioner_self_access: false,
        client_copies: ClientCopies::Never,
        retention_days: 180,
        course_grace_days: 0,
        jurisdiction: Jurisdiction::Ccpa,
    }
}

/// The members every test tenant has.
pub(crate) const MEMBERS: &[(&str, Role)] = &[
    ("admin", Role::OrgAdmin),
    ("sam", Role::Practitioner),
    ("pat", Role::Practitioner),
    ("ada", Role::Tutor),
    ("bob", Role::Tutor),
    ("cai", Role::Tutor),
    ("rita", Role::Reviewer),
    ("aude", Role::Auditor),
    ("fran", Role::Funder),
];

pub(crate) fn tenant_events_for(id: TenantId, policy: TenantPolicy) -> Vec<TenantEvent> {
    let mut events = vec![
        TenantEvent::TenantCreated {
            tenant_id: id,
            name: "Community Counselling".into(),
            by: Actor::system(SystemJob::Provisioning),
            at: t(-30, 9),
        },
        TenantEvent::TenantPolicySet {
            version: 1,
            policy,
            by: Actor::system(SystemJob::Provisioning),
            at: t(-30, 9),
        },
    ];
    for (name, role) in MEMBERS {
        events.push(TenantEvent::MemberAdded {
            user_id: user(name),
            roles: BTreeSet::from([*role]),
            by: Actor::system(SystemJob::Provisioning),
            at: t(-30, 9),
        });
    }
    events
}

pub(crate) fn tenant_events(policy: TenantPolicy) -> Vec<TenantEvent> {
    tenant_events_for(tenant_id(), policy)
}

pub(crate) fn tenant(policy: TenantPolicy) -> Tenant {
    Tenant::from_events(&tenant_events(policy))
}

pub(crate) fn as_user<'a>(tenant: &'a Tenant, name: &str, now: DateTime<Utc>) -> Ctx<'a> {
    Ctx::new(tenant_id(), tenant, by(name), now)
}

pub(crate) fn as_client<'a>(tenant: &'a Tenant, now: DateTime<Utc>) -> Ctx<'a> {
    Ctx::new(tenant_id(), tenant, Actor::client(client_id()), now)
}

pub(crate) fn as_system<'a>(tenant: &'a Tenant, now: DateTime<Utc>) -> Ctx<'a> {
    Ctx::new(tenant_id(), tenant, Actor::system(SystemJob::Cascade), now)
}

// ---- client and form ----------------------------------------------------------------------

pub(crate) fn client_events() -> Vec<ClientEvent> {
    vec![ClientEvent::ClientRegistered {
        client_id: client_id(),
        tenant_id: tenant_id(),
        details: sealed("c2VhbGVkIGRldGFpbHM="),
        key_id: client_key(),
        by: by("sam"),
        at: t(-20, 9),
    }]
}

pub(crate) fn client() -> Client {
    Client::from_events(&client_events())
}

pub(crate) const FORM_TEXT_V1: &str =
    "I agree that my session may be recorded in audio for the purposes and listeners named below.";
pub(crate) const FORM_TEXT_V2: &str = "I agree that my session may be recorded in audio for the purposes and named listeners below. I may withdraw at any time.";

pub(crate) fn form_events() -> Vec<ConsentFormEvent> {
    vec![ConsentFormEvent::ConsentFormPublished {
        consent_form_id: form_id(),
        tenant_id: tenant_id(),
        version: 1,
        title: "Recording consent".into(),
        language: Language::parse("en-GB").unwrap(),
        text: FORM_TEXT_V1.into(),
        text_sha256: Sha256::of(FORM_TEXT_V1.as_bytes()),
        by: by("admin"),
        at: t(-25, 9),
    }]
}

pub(crate) fn form_v2_events() -> Vec<ConsentFormEvent> {
    let mut events = form_events();
    events.push(ConsentFormEvent::ConsentFormPublished {
        consent_form_id: form_id(),
        tenant_id: tenant_id(),
        version: 2,
        title: "Recording consent".into(),
        language: Language::parse("en-GB").unwrap(),
        text: FORM_TEXT_V2.into(),
        text_sha256: Sha256::of(FORM_TEXT_V2.as_bytes()),
        by: by("admin"),
        at: t(-1, 9),
    });
    events
}

pub(crate) fn form() -> ConsentForm {
    ConsentForm::from_events(&form_events())
}

pub(crate) fn form_ref(version: u32) -> FormRef {
    let text = if version == 1 {
        FORM_TEXT_V1
    } else {
        FORM_TEXT_V2
    };
    FormRef {
        consent_form_id: form_id(),
        version,
        text_sha256: Sha256::of(text.as_bytes()),
    }
}

// ---- consents -----------------------------------------------------------------------------

pub(crate) fn terms(purpose: Purpose, audience: &[&str], media: &[Medium]) -> PurposeTerms {
    PurposeTerms {
        purpose,
        audience: Audience::users(audience.iter().map(|n| user(n))),
        media: media.iter().copied().collect(),
        derivatives: BTreeSet::from([Derivative::Transcript, Derivative::Excerpt]),
    }
}

/// The student counsellor's consent: audio for course assessment by Ada and Bob, and for
/// Sam's own reflection.
pub(crate) fn assessment_terms() -> Vec<PurposeTerms> {
    vec![
        terms(
            Purpose::CourseAssessment,
            &["ada", "bob"],
            &[Medium::Audio, Medium::Transcript],
        ),
        terms(Purpose::PractitionerReflection, &["sam"], &[Medium::Audio]),
    ]
}

pub(crate) fn consent_requested(
    id: ConsentId,
    terms: Vec<PurposeTerms>,
    expiry: Option<Expiry>,
) -> ConsentEvent {
    ConsentEvent::ConsentRequested {
        consent_id: id,
        tenant_id: tenant_id(),
        client_id: client_id(),
        practitioner: user("sam"),
        scope: ConsentScope::Engagement,
        course_id: None,
        terms,
        expiry,
        form: form_ref(1),
        renews: None,
        by: by("sam"),
        at: t(0, 9),
    }
}

pub(crate) fn evidence(form: FormRef) -> Evidence {
    Evidence {
        form,
        collected_by: CollectionMethod::ClientLinkSignature,
        typed_name: sealed("dHlwZWQgbmFtZQ=="),
        signed_at: t(0, 10),
        jurisdiction: Jurisdiction::UkGdpr,
        language: Language::parse("en-GB").unwrap(),
    }
}

pub(crate) fn consent_given() -> ConsentEvent {
    ConsentEvent::ConsentGiven {
        evidence: evidence(form_ref(1)),
        by: Actor::client(client_id()),
        at: t(0, 10),
    }
}

/// A given engagement consent with `terms`.
pub(crate) fn given_consent_events(
    terms: Vec<PurposeTerms>,
    expiry: Option<Expiry>,
) -> Vec<ConsentEvent> {
    vec![
        consent_requested(consent_id(), terms, expiry),
        consent_given(),
    ]
}

pub(crate) fn given_consent(terms: Vec<PurposeTerms>, expiry: Option<Expiry>) -> Consent {
    Consent::from_events(&given_consent_events(terms, expiry))
}

/// The coaching company's notice: quality assurance by the reviewer role, audio and video.
pub(crate) fn qa_notice_terms() -> Vec<PurposeTerms> {
    let mut qa = terms(
        Purpose::QualityAssurance,
        &[],
        &[Medium::Audio, Medium::Video],
    );
    qa.audience = Audience::roles([Role::Reviewer]);
    vec![qa]
}

pub(crate) fn notice_given() -> ConsentEvent {
    ConsentEvent::ConsentNoticeGiven {
        consent_id: consent_id(),
        tenant_id: tenant_id(),
        client_id: client_id(),
        practitioner: user("sam"),
        terms: qa_notice_terms(),
        form: form_ref(1),
        session_on: date(1),
        by: Actor::system(SystemJob::Cascade),
        at: t(1, 9),
    }
}

// ---- recordings ---------------------------------------------------------------------------

pub(crate) fn data_key() -> KeyId {
    KeyId::parse("recording-key-4").unwrap()
}

pub(crate) fn recording_created(medium: Medium) -> RecordingEvent {
    RecordingEvent::RecordingCreated {
        recording_id: recording_id(),
        tenant_id: tenant_id(),
        client_id: client_id(),
        practitioner: user("sam"),
        course_id: None,
        session_on: date(1),
        medium,
        consent_id: consent_id(),
        consent_version: 2,
        by: by("sam"),
        at: t(1, 9),
    }
}

/// Fifty minutes of audio, as an upload stores it.
pub(crate) fn stored_media(duration: Offset) -> StoredMedia {
    StoredMedia {
        sha256: Sha256::of(b"media"),
        bytes: 1_000_000,
        duration,
        data_key_id: data_key(),
        codec: "pcm_s16le".to_owned(),
        content_type: "audio/wav".to_owned(),
        object_key: "tenant/recording/upload".to_owned(),
    }
}

pub(crate) fn recording_stored() -> RecordingEvent {
    let media = stored_media(Offset::from_millis(50 * 60 * 1000).unwrap());
    RecordingEvent::RecordingStored {
        sha256: media.sha256,
        bytes: media.bytes,
        duration: media.duration,
        data_key_id: media.data_key_id,
        codec: media.codec,
        content_type: media.content_type,
        object_key: media.object_key,
        by: by("sam"),
        at: t(1, 11),
    }
}

pub(crate) fn stored_recording_events(medium: Medium) -> Vec<RecordingEvent> {
    vec![recording_created(medium), recording_stored()]
}

pub(crate) fn stored_recording(medium: Medium) -> Recording {
    Recording::from_events(&stored_recording_events(medium))
}
