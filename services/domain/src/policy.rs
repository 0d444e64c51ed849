//! The tenant's policy: the organisation-wide rules that consent works within.
//!
//! A policy is set by an `org_admin` and every change is an event with a new version number;
//! the access decision names the version it relied on, so an auditor can see which rules were
//! in force for any playback.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::TenantId;
use crate::vocabulary::{Jurisdiction, Medium};

/// How consent to record is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentModel {
    /// Written consent before any recording (a counselling service).
    WrittenOptIn,
    /// Recorded by default after an automated notice; the client may opt out for one session
    /// or for good (a coaching company).
    NotifiedOptOut,
}

/// Which media the organisation records at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaPolicy {
    /// "They will only make audio recordings and never a video-recording."
    AudioOnly,
    /// Audio and video.
    AudioAndVideo,
}

impl MediaPolicy {
    /// Whether this policy permits `medium`. Transcripts are text derived from audio, so they
    /// are permitted under both; whether a given transcript may exist is consent's question.
    pub fn allows(self, medium: Medium) -> bool {
        match medium {
            Medium::Audio | Medium::Transcript => true,
            Medium::Video => self == MediaPolicy::AudioAndVideo,
        }
    }
}

/// Whether clients get copies of their recordings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCopies {
    /// A client with `client_copy` consent may play their own recording.
    Allowed,
    /// Formal requests are decided case by case; an approved request becomes a grant.
    OnRequestReviewed,
    /// No copies.
    Never,
}

/// The organisation's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPolicy {
    /// How consent is obtained.
    pub consent_model: ConsentModel,
    /// Which media may be recorded.
    pub allowed_media: MediaPolicy,
    /// Whether practitioners may play their own recordings ("Can coaches access their own
    /// recordings? Not at this time.").
    pub practitioner_self_access: bool,
    /// Whether clients get copies.
    pub client_copies: ClientCopies,
    /// Default retention of a stored recording, in days, when nothing earlier applies.
    pub retention_days: u32,
    /// Days after a course ends before its recordings are destroyed.
    pub course_grace_days: u32,
    /// The law the organisation is under.
    pub jurisdiction: Jurisdiction,
}

impl TenantPolicy {
    /// The longest default retention: ten years, the longest any professional body in the
    /// practices Confide was designed from asks records to be kept.
    pub const MAX_RETENTION_DAYS: u32 = 3653;
    /// The longest grace after a course: one year.
    pub const MAX_COURSE_GRACE_DAYS: u32 = 366;

    /// Checks the numeric bounds; the enums are valid by construction.
    pub fn check(&self) -> Result<(), DomainError> {
        if self.retention_days == 0 || self.retention_days > Self::MAX_RETENTION_DAYS {
            return Err(DomainError::invalid(
                "retention_days",
                format!(
                    "default retention is 1 to {} days, got {}",
                    Self::MAX_RETENTION_DAYS,
                    self.retention_days
                ),
            ));
        }
        if self.course_grace_days > Self::MAX_COURSE_GRACE_DAYS {
            return Err(DomainError::invalid(
                "course_grace_days",
                format!(
                    "the grace after a course is at most {} days, got {}",
                    Self::MAX_COURSE_GRACE_DAYS,
                    self.course_grace_days
                ),
            ));
        }
        Ok(())
    }
}

/// A policy together with the tenant it belongs to and its version, as the access decision
/// needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedPolicy {
    /// The tenant whose policy this is.
    pub tenant_id: TenantId,
    /// 1 for the first policy, then one more per change.
    pub version: u32,
    /// The rules.
    pub policy: TenantPolicy,
}
