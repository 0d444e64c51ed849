//! Plain words for what the domain records: purposes, media, states and the entries of a
//! recording's access history, as a client or an auditor reads them. Presentation only; every
//! rule stays in the domain, whose own sentences (a refusal's reasons) are shown as they are.

use chrono::{DateTime, Utc};
use confide_app::{AccessChange, AccessEntry};
use confide_domain::aggregates::consent::ConsentStatus;
use confide_domain::aggregates::grant::{GrantEvent, Grantee};
use confide_domain::aggregates::recording::{RecordingEvent, RecordingStatus};
use confide_domain::aggregates::subject_request::SubjectRequestKind;
use confide_domain::vocabulary::Derivative;
use confide_domain::{Actor, Medium, Purpose, Role, Viewer};

/// What a purpose means to the person whose session it is.
pub(crate) fn purpose(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Supervision => "clinical supervision of your practitioner",
        Purpose::CourseAssessment => "assessment of your practitioner's training course",
        Purpose::Credentialing => "your practitioner's application for a professional credential",
        Purpose::QualityAssurance => "quality assurance of the service",
        Purpose::PractitionerReflection => "your practitioner's own reflection",
        Purpose::ClientCopy => "your own copy",
        Purpose::Transcription => "making a written transcript",
        Purpose::CaseStudy => "an anonymised case study",
    }
}

/// A purpose as a short name (a heading, a table cell).
pub(crate) fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Supervision => "Supervision",
        Purpose::CourseAssessment => "Course assessment",
        Purpose::Credentialing => "Credentialing",
        Purpose::QualityAssurance => "Quality assurance",
        Purpose::PractitionerReflection => "Practitioner's reflection",
        Purpose::ClientCopy => "Your copy",
        Purpose::Transcription => "Transcription",
        Purpose::CaseStudy => "Case study",
    }
}

pub(crate) fn medium(medium: Medium) -> &'static str {
    match medium {
        Medium::Audio => "sound (audio)",
        Medium::Video => "video",
        Medium::Transcript => "a written transcript",
    }
}

pub(crate) fn derivative(derivative: Derivative) -> &'static str {
    match derivative {
        Derivative::Transcript => "a written transcript",
        Derivative::Excerpt => "short excerpts",
        Derivative::CaseStudy => "an anonymised case study",
    }
}

pub(crate) fn role(role: Role) -> &'static str {
    match role {
        Role::OrgAdmin => "the organisation's administrators",
        Role::Practitioner => "practitioners",
        Role::Tutor => "tutors",
        Role::Reviewer => "reviewers",
        Role::Assessor => "assessors",
        Role::Auditor => "auditors",
        Role::Funder => "funders",
    }
}

/// A consent's state, and what it means now.
pub(crate) fn consent_status(status: ConsentStatus) -> (&'static str, &'static str) {
    match status {
        ConsentStatus::Requested => (
            "Waiting for your answer",
            "Nothing is recorded until you give consent.",
        ),
        ConsentStatus::Given => (
            "Given",
            "Your sessions may be recorded and used as described below.",
        ),
        ConsentStatus::Noticed => (
            "Notice given",
            "Sessions may be recorded as described unless you opt out.",
        ),
        ConsentStatus::Refused => ("Refused", "Nothing is recorded."),
        ConsentStatus::Withdrawn => (
            "Withdrawn",
            "No one may listen any more, and nothing more is recorded.",
        ),
        ConsentStatus::Expired => (
            "Ended",
            "It has come to its end; no one may listen any more.",
        ),
        ConsentStatus::Superseded => ("Replaced", "A newer consent replaced this one."),
        ConsentStatus::OptedOut => ("Opted out", "Nothing more is recorded."),
    }
}

pub(crate) fn recording_status(status: Option<RecordingStatus>) -> &'static str {
    match status {
        Some(RecordingStatus::AwaitingUpload) | None => "Not yet stored",
        Some(RecordingStatus::Stored) => "Stored, encrypted",
        Some(RecordingStatus::Destroyed) => "Destroyed",
    }
}

pub(crate) fn request_kind(kind: SubjectRequestKind) -> &'static str {
    match kind {
        SubjectRequestKind::Access => "What is held about me, and who accessed it",
        SubjectRequestKind::Copy => "A copy of my recordings",
        SubjectRequestKind::Erasure => "Erase my data",
        SubjectRequestKind::Portability => "My data in a portable format",
    }
}

/// A moment as people read it, in UTC (said so).
pub(crate) fn moment(at: DateTime<Utc>) -> String {
    at.format("%-d %B %Y, %H:%M UTC").to_string()
}

/// Who acted, as the client reads it.
pub(crate) fn actor(actor: &Actor) -> String {
    match actor {
        Actor::User { user_id } => user_id.to_string(),
        Actor::ClientLink { .. } => "you".to_owned(),
        Actor::System { .. } => "the service itself".to_owned(),
    }
}

fn viewer(viewer: &Viewer) -> String {
    match viewer {
        Viewer::Member { user_id, .. } => user_id.to_string(),
        Viewer::ExternalAssessor { user_id } => format!("{user_id} (external assessor)"),
        Viewer::Client { .. } => "you".to_owned(),
    }
}

fn grantee(grantee: &Grantee) -> String {
    match grantee {
        Grantee::Member { user_id } => user_id.to_string(),
        Grantee::ExternalAssessor { user_id } => format!("{user_id} (external assessor)"),
        Grantee::Client { .. } => "you".to_owned(),
    }
}

/// One row of a recording's access history: when, who, what, and whether it was allowed.
pub(crate) struct AccessRow {
    pub(crate) when: String,
    pub(crate) who: String,
    pub(crate) what: String,
    /// "allowed", "refused" or "" (a change, not an attempt).
    pub(crate) outcome: &'static str,
    /// Why it was refused, in the domain's sentences.
    pub(crate) reasons: Vec<String>,
}

/// The history entry in words, or `None` for an entry that says nothing about access.
pub(crate) fn access_row(entry: &AccessEntry) -> Option<AccessRow> {
    let row = |at: &DateTime<Utc>, who: String, what: String, outcome, reasons| AccessRow {
        when: moment(*at),
        who,
        what,
        outcome,
        reasons,
    };
    match &entry.change {
        AccessChange::Recording(event) => match event {
            RecordingEvent::PlaybackStarted {
                viewer: v,
                purpose: p,
                medium: m,
                at,
                ..
            } => Some(row(
                at,
                viewer(v),
                format!("listened for {} ({})", purpose(*p), medium(*m)),
                "allowed",
                Vec::new(),
            )),
            RecordingEvent::PlaybackRefused {
                viewer: v,
                purpose: p,
                reasons,
                at,
                ..
            } => Some(row(
                at,
                viewer(v),
                format!("tried to listen for {}", purpose(*p)),
                "refused",
                reasons.iter().map(ToString::to_string).collect(),
            )),
            RecordingEvent::TranscriptAttached {
                purpose: p, by, at, ..
            } => Some(row(
                at,
                actor(by),
                format!("made a transcript for {}", purpose(*p)),
                "",
                Vec::new(),
            )),
            RecordingEvent::RecordingDestructionScheduled { due, by, at, .. } => Some(row(
                at,
                actor(by),
                format!("scheduled its destruction for {}", moment(*due)),
                "",
                Vec::new(),
            )),
            RecordingEvent::RecordingDestroyed { by, at, .. } => Some(row(
                at,
                actor(by),
                "destroyed it: its key was erased, so no copy can be read".to_owned(),
                "",
                Vec::new(),
            )),
            _ => None,
        },
        AccessChange::Grant { event, .. } => match event {
            GrantEvent::AccessGranted {
                grantee: g,
                purpose: p,
                expires_at,
                by,
                at,
                ..
            } => Some(row(
                at,
                actor(by),
                format!(
                    "let {} listen for {} until {}",
                    grantee(g),
                    purpose(*p),
                    moment(*expires_at)
                ),
                "",
                Vec::new(),
            )),
            GrantEvent::AccessRevoked { by, at, .. } => Some(row(
                at,
                actor(by),
                "took back a permission to listen".to_owned(),
                "",
                Vec::new(),
            )),
        },
    }
}
