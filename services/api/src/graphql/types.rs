//! The GraphQL shapes of Confide's domain: enums mirror the domain's closed vocabularies one
//! for one (`remote`), objects expose what a caller may read.

use async_graphql::{Enum, InputObject, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use confide_domain::AccessDecision;
use confide_domain::aggregates::consent::{
    Consent, ConsentScope, ConsentStatus as DomainConsentStatus, Expiry, ExpiryTrigger, sentence,
};
use confide_domain::aggregates::recording::{Recording, RecordingStatus as DomainRecordingStatus};
use confide_domain::aggregates::tenant::Tenant as DomainTenant;
use uuid::Uuid;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::Purpose")]
pub(crate) enum Purpose {
    Supervision,
    CourseAssessment,
    Credentialing,
    QualityAssurance,
    PractitionerReflection,
    ClientCopy,
    Transcription,
    CaseStudy,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::Role")]
pub(crate) enum Role {
    OrgAdmin,
    Practitioner,
    Tutor,
    Reviewer,
    Assessor,
    Auditor,
    Funder,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::Medium")]
pub(crate) enum Medium {
    Audio,
    Video,
    Transcript,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::Jurisdiction")]
pub(crate) enum Jurisdiction {
    Gdpr,
    UkGdpr,
    Ccpa,
    Hipaa,
    Pdpa,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::policy::ConsentModel")]
pub(crate) enum ConsentModel {
    WrittenOptIn,
    NotifiedOptOut,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::policy::MediaPolicy")]
pub(crate) enum MediaPolicy {
    AudioOnly,
    AudioAndVideo,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::policy::ClientCopies")]
pub(crate) enum ClientCopies {
    Allowed,
    OnRequestReviewed,
    Never,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::aggregates::subject_request::SubjectRequestKind")]
pub(crate) enum SubjectRequestKind {
    Access,
    Copy,
    Erasure,
    Portability,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::aggregates::subject_request::SubjectRequestOutcome")]
pub(crate) enum SubjectRequestOutcome {
    Granted,
    PartiallyGranted,
    Refused,
}

/// The tenant's rules; every change is an event.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "TenantPolicyInput")]
pub(crate) struct TenantPolicy {
    pub consent_model: ConsentModel,
    pub allowed_media: MediaPolicy,
    /// Whether practitioners may play their own recordings.
    pub practitioner_self_access: bool,
    pub client_copies: ClientCopies,
    pub retention_days: u32,
    /// Days a course's recordings are kept after the course ends.
    pub course_grace_days: u32,
    pub jurisdiction: Jurisdiction,
}

impl From<TenantPolicy> for confide_domain::policy::TenantPolicy {
    fn from(p: TenantPolicy) -> Self {
        Self {
            consent_model: p.consent_model.into(),
            allowed_media: p.allowed_media.into(),
            practitioner_self_access: p.practitioner_self_access,
            client_copies: p.client_copies.into(),
            retention_days: p.retention_days,
            course_grace_days: p.course_grace_days,
            jurisdiction: p.jurisdiction.into(),
        }
    }
}

impl From<&confide_domain::policy::TenantPolicy> for TenantPolicy {
    fn from(p: &confide_domain::policy::TenantPolicy) -> Self {
        Self {
            consent_model: p.consent_model.into(),
            allowed_media: p.allowed_media.into(),
            practitioner_self_access: p.practitioner_self_access,
            client_copies: p.client_copies.into(),
            retention_days: p.retention_days,
            course_grace_days: p.course_grace_days,
            jurisdiction: p.jurisdiction.into(),
        }
    }
}

#[derive(SimpleObject)]
pub(crate) struct Member {
    pub user_id: String,
    pub roles: Vec<Role>,
}

#[derive(SimpleObject)]
pub(crate) struct Tenant {
    pub id: String,
    pub name: String,
    pub policy: Option<TenantPolicy>,
    pub policy_version: Option<u32>,
    pub members: Vec<Member>,
}

impl From<&DomainTenant> for Tenant {
    fn from(t: &DomainTenant) -> Self {
        Self {
            id: t.id().map(ToString::to_string).unwrap_or_default(),
            name: t.name().to_owned(),
            policy: t.policy().map(|p| (&p.policy).into()),
            policy_version: t.policy().map(|p| p.version),
            members: t
                .members()
                .iter()
                .map(|(user, m)| Member {
                    user_id: user.to_string(),
                    roles: m.roles.iter().map(|r| (*r).into()).collect(),
                })
                .collect(),
        }
    }
}

/// Who may hear a purpose: named people, or (under `notified_opt_out`) named roles.
#[derive(InputObject)]
pub(crate) struct PurposeTermsInput {
    pub purpose: Purpose,
    pub users: Vec<String>,
    #[graphql(default)]
    pub roles: Vec<Role>,
    pub media: Vec<Medium>,
    #[graphql(default)]
    pub derivatives: Vec<Derivative>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::vocabulary::Derivative")]
pub(crate) enum Derivative {
    Transcript,
    Excerpt,
    CaseStudy,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsentStatus {
    Requested,
    Given,
    Refused,
    Withdrawn,
    Expired,
    Superseded,
    Noticed,
    OptedOut,
}

#[derive(SimpleObject)]
pub(crate) struct PurposeView {
    pub purpose: Purpose,
    pub users: Vec<String>,
    pub roles: Vec<Role>,
    pub media: Vec<Medium>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct ConsentView {
    pub id: Uuid,
    pub client_id: Uuid,
    pub practitioner: String,
    pub status: Option<ConsentStatus>,
    /// How many events the consent has: the version an access basis names.
    pub version: u64,
    pub purposes: Vec<PurposeView>,
    pub given_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The event the consent ends with, when it ends with one rather than on a date.
    pub ends_with: Option<ConsentEnd>,
    /// The course the recordings are for, if any.
    pub course_id: Option<Uuid>,
    /// The one session it covers; every session of the engagement when absent.
    pub session_on: Option<NaiveDate>,
    /// Under `notified_opt_out`: the sessions whose notice was played.
    pub noticed_sessions: Vec<NaiveDate>,
    /// Under `notified_opt_out`: the sessions the client opted out of.
    pub opted_out_sessions: Vec<NaiveDate>,
    pub deletion_requested: bool,
}

/// An event a consent ends with.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_app::ConsentEnd")]
pub(crate) enum ConsentEnd {
    /// The end of the course it is for.
    CourseEnd,
    /// The credentialing body's decision on the submission.
    CredentialDecision,
}

impl ConsentView {
    pub(crate) fn of(consent: &Consent, version: u64) -> Option<Self> {
        let core = consent.core()?;
        Some(Self {
            id: core.id.as_uuid(),
            client_id: core.client_id.as_uuid(),
            practitioner: core.practitioner.to_string(),
            status: consent.status().map(|s| match s {
                DomainConsentStatus::Requested => ConsentStatus::Requested,
                DomainConsentStatus::Given => ConsentStatus::Given,
                DomainConsentStatus::Refused => ConsentStatus::Refused,
                DomainConsentStatus::Withdrawn => ConsentStatus::Withdrawn,
                DomainConsentStatus::Expired => ConsentStatus::Expired,
                DomainConsentStatus::Superseded => ConsentStatus::Superseded,
                DomainConsentStatus::Noticed => ConsentStatus::Noticed,
                DomainConsentStatus::OptedOut => ConsentStatus::OptedOut,
            }),
            version,
            purposes: consent
                .purposes()
                .values()
                .map(|p| PurposeView {
                    purpose: p.terms.purpose.into(),
                    users: p
                        .terms
                        .audience
                        .users
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    roles: p.terms.audience.roles.iter().map(|r| (*r).into()).collect(),
                    media: p.terms.media.iter().map(|m| (*m).into()).collect(),
                    withdrawn_at: p.withdrawn_at,
                })
                .collect(),
            given_at: consent.given_at(),
            ended_at: consent.ended_at(),
            expires_at: consent.expires_at(),
            ends_with: match core.expiry {
                Some(Expiry::OnEvent {
                    trigger: ExpiryTrigger::CourseEnded { .. },
                }) => Some(ConsentEnd::CourseEnd),
                Some(Expiry::OnEvent {
                    trigger: ExpiryTrigger::CredentialDecided,
                }) => Some(ConsentEnd::CredentialDecision),
                _ => None,
            },
            course_id: core.course_id.map(|c| c.as_uuid()),
            session_on: match core.scope {
                ConsentScope::Session { session_on } => Some(session_on),
                ConsentScope::Engagement => None,
            },
            noticed_sessions: consent.noticed_sessions().iter().copied().collect(),
            opted_out_sessions: consent.opted_out_sessions().iter().copied().collect(),
            deletion_requested: consent.deletion_requested(),
        })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordingStatus {
    AwaitingUpload,
    Stored,
    Destroyed,
}

/// The caller's access to a recording for a purpose, as the access decision gives it.
#[derive(SimpleObject)]
pub(crate) struct Access {
    pub allowed: bool,
    /// What an allowed playback would rest on.
    pub basis: Option<AccessBasis>,
    /// Why it is refused: stable names (`no_consent`, `consent_does_not_cover`, ...).
    pub reasons: Vec<String>,
    /// Why it is refused, as a sentence a person understands.
    pub explanation: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct AccessBasis {
    pub consent_id: Uuid,
    pub consent_version: u64,
    pub grant_id: Option<Uuid>,
    pub policy_version: u32,
}

impl From<&AccessDecision> for Access {
    fn from(decision: &AccessDecision) -> Self {
        match decision {
            AccessDecision::Allow { basis } => Self {
                allowed: true,
                basis: Some(AccessBasis {
                    consent_id: basis.consent_id.as_uuid(),
                    consent_version: basis.consent_version,
                    grant_id: basis.grant_id.map(|g| g.as_uuid()),
                    policy_version: basis.policy_version,
                }),
                reasons: Vec::new(),
                explanation: None,
            },
            AccessDecision::Deny { reasons } => Self {
                allowed: false,
                basis: None,
                reasons: reasons.iter().map(|r| r.code().to_owned()).collect(),
                explanation: Some(sentence(reasons)),
            },
        }
    }
}

#[derive(SimpleObject)]
pub(crate) struct RecordingView {
    pub id: Uuid,
    pub client_id: Uuid,
    pub practitioner: String,
    pub course_id: Option<Uuid>,
    pub session_on: NaiveDate,
    pub medium: Medium,
    pub status: Option<RecordingStatus>,
    pub consent_id: Uuid,
    pub destruction_due: Option<DateTime<Utc>>,
    /// Where the client asked the recording to stop, if they did: nothing after it is stored.
    pub stop_at_ms: Option<u64>,
    /// What was uploaded, as probed: none until the media is stored.
    pub media: Option<MediaView>,
    /// The caller's access for the purpose asked about.
    pub access: Option<Access>,
}

/// A recording's stored media, as found when it was uploaded (never its content).
#[derive(SimpleObject)]
pub(crate) struct MediaView {
    /// Size of the audio in bytes.
    pub bytes: u64,
    /// SHA-256 of the audio, hex.
    pub sha256: String,
    /// How long it runs.
    pub duration_ms: u64,
    /// The audio codec, e.g. `pcm_s16le`, `mp3`, `opus`.
    pub codec: String,
    /// The media type it plays as.
    pub content_type: String,
}

impl RecordingView {
    pub(crate) fn of(recording: &Recording, access: Option<&AccessDecision>) -> Option<Self> {
        let core = recording.core()?;
        Some(Self {
            id: core.id.as_uuid(),
            client_id: core.client_id.as_uuid(),
            practitioner: core.practitioner.to_string(),
            course_id: core.course_id.map(|c| c.as_uuid()),
            session_on: core.session_on,
            medium: core.medium.into(),
            status: recording.status().map(|s| match s {
                DomainRecordingStatus::AwaitingUpload => RecordingStatus::AwaitingUpload,
                DomainRecordingStatus::Stored => RecordingStatus::Stored,
                DomainRecordingStatus::Destroyed => RecordingStatus::Destroyed,
            }),
            consent_id: core.consent_id.as_uuid(),
            destruction_due: recording.scheduled_destruction().map(|(at, _)| at),
            stop_at_ms: recording.stop_at().map(|o| o.as_millis()),
            media: recording.media().map(|m| MediaView {
                bytes: m.bytes,
                sha256: m.sha256.to_string(),
                duration_ms: m.duration.as_millis(),
                codec: m.codec.clone(),
                content_type: m.content_type.clone(),
            }),
            access: access.map(Access::from),
        })
    }
}
