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

/// The language a client's pages speak: the form's, where Confide has the page's words in it
/// (English and German), else English. The form's own text is always shown as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    De,
}

impl Lang {
    /// The pages' language for a form in `tag` (BCP 47): its primary subtag decides.
    pub(crate) fn of(tag: &str) -> Self {
        match tag
            .split(['-', '_'])
            .next()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("de") => Self::De,
            _ => Self::En,
        }
    }

    /// The page's fixed words.
    pub(crate) fn texts(self) -> &'static crate::texts::Texts {
        match self {
            Self::En => &crate::texts::EN,
            Self::De => &crate::texts::DE,
        }
    }
}

/// What a purpose means to the person whose session it is.
pub(crate) fn purpose(lang: Lang, purpose: Purpose) -> &'static str {
    match (lang, purpose) {
        (Lang::En, Purpose::Supervision) => "clinical supervision of your practitioner",
        (Lang::En, Purpose::CourseAssessment) => {
            "assessment of your practitioner's training course"
        }
        (Lang::En, Purpose::Credentialing) => {
            "your practitioner's application for a professional credential"
        }
        (Lang::En, Purpose::QualityAssurance) => "quality assurance of the service",
        (Lang::En, Purpose::PractitionerReflection) => "your practitioner's own reflection",
        (Lang::En, Purpose::ClientCopy) => "your own copy",
        (Lang::En, Purpose::Transcription) => "making a written transcript",
        (Lang::En, Purpose::CaseStudy) => "an anonymised case study",
        (Lang::De, Purpose::Supervision) => "die Supervision Ihrer Beraterin oder Ihres Beraters",
        (Lang::De, Purpose::CourseAssessment) => {
            "die Bewertung in der Ausbildung Ihrer Beraterin oder Ihres Beraters"
        }
        (Lang::De, Purpose::Credentialing) => {
            "den Antrag Ihrer Beraterin oder Ihres Beraters auf eine berufliche Zertifizierung"
        }
        (Lang::De, Purpose::QualityAssurance) => "die Qualitätssicherung des Angebots",
        (Lang::De, Purpose::PractitionerReflection) => {
            "die eigene Reflexion Ihrer Beraterin oder Ihres Beraters"
        }
        (Lang::De, Purpose::ClientCopy) => "Ihre eigene Kopie",
        (Lang::De, Purpose::Transcription) => "eine schriftliche Abschrift",
        (Lang::De, Purpose::CaseStudy) => "eine anonymisierte Fallstudie",
    }
}

/// A purpose as a short name (a heading, a table cell).
pub(crate) fn purpose_name(lang: Lang, purpose: Purpose) -> &'static str {
    match (lang, purpose) {
        (Lang::En, Purpose::Supervision) => "Supervision",
        (Lang::En, Purpose::CourseAssessment) => "Course assessment",
        (Lang::En, Purpose::Credentialing) => "Credentialing",
        (Lang::En, Purpose::QualityAssurance) => "Quality assurance",
        (Lang::En, Purpose::PractitionerReflection) => "Practitioner's reflection",
        (Lang::En, Purpose::ClientCopy) => "Your copy",
        (Lang::En, Purpose::Transcription) => "Transcription",
        (Lang::En, Purpose::CaseStudy) => "Case study",
        (Lang::De, Purpose::Supervision) => "Supervision",
        (Lang::De, Purpose::CourseAssessment) => "Bewertung in der Ausbildung",
        (Lang::De, Purpose::Credentialing) => "Zertifizierung",
        (Lang::De, Purpose::QualityAssurance) => "Qualitätssicherung",
        (Lang::De, Purpose::PractitionerReflection) => "Reflexion",
        (Lang::De, Purpose::ClientCopy) => "Ihre Kopie",
        (Lang::De, Purpose::Transcription) => "Abschrift",
        (Lang::De, Purpose::CaseStudy) => "Fallstudie",
    }
}

pub(crate) fn medium(lang: Lang, medium: Medium) -> &'static str {
    match (lang, medium) {
        (Lang::En, Medium::Audio) => "sound (audio)",
        (Lang::En, Medium::Video) => "video",
        (Lang::En, Medium::Transcript) => "a written transcript",
        (Lang::De, Medium::Audio) => "Ton (Audio)",
        (Lang::De, Medium::Video) => "Video",
        (Lang::De, Medium::Transcript) => "eine schriftliche Abschrift",
    }
}

pub(crate) fn derivative(lang: Lang, derivative: Derivative) -> &'static str {
    match (lang, derivative) {
        (Lang::En, Derivative::Transcript) => "a written transcript",
        (Lang::En, Derivative::Excerpt) => "short excerpts",
        (Lang::En, Derivative::CaseStudy) => "an anonymised case study",
        (Lang::De, Derivative::Transcript) => "eine schriftliche Abschrift",
        (Lang::De, Derivative::Excerpt) => "kurze Ausschnitte",
        (Lang::De, Derivative::CaseStudy) => "eine anonymisierte Fallstudie",
    }
}

pub(crate) fn role(lang: Lang, role: Role) -> &'static str {
    match (lang, role) {
        (Lang::En, Role::OrgAdmin) => "the organisation's administrators",
        (Lang::En, Role::Practitioner) => "practitioners",
        (Lang::En, Role::Tutor) => "tutors",
        (Lang::En, Role::Reviewer) => "reviewers",
        (Lang::En, Role::Assessor) => "assessors",
        (Lang::En, Role::Auditor) => "auditors",
        (Lang::En, Role::Funder) => "funders",
        (Lang::De, Role::OrgAdmin) => "die Verwaltung der Organisation",
        (Lang::De, Role::Practitioner) => "Beraterinnen und Berater",
        (Lang::De, Role::Tutor) => "Lehrende",
        (Lang::De, Role::Reviewer) => "Prüfende",
        (Lang::De, Role::Assessor) => "Gutachtende",
        (Lang::De, Role::Auditor) => "Auditorinnen und Auditoren",
        (Lang::De, Role::Funder) => "Geldgeber",
    }
}

/// A consent's state, and what it means now.
pub(crate) fn consent_status(lang: Lang, status: ConsentStatus) -> (&'static str, &'static str) {
    use ConsentStatus as S;
    match (lang, status) {
        (Lang::En, S::Requested) => (
            "Waiting for your answer",
            "Nothing is recorded until you give consent.",
        ),
        (Lang::En, S::Given) => (
            "Given",
            "Your sessions may be recorded and used as described below.",
        ),
        (Lang::En, S::Noticed) => (
            "Notice given",
            "Sessions may be recorded as described unless you opt out.",
        ),
        (Lang::En, S::Refused) => ("Refused", "Nothing is recorded."),
        (Lang::En, S::Withdrawn) => (
            "Withdrawn",
            "No one may listen any more, and nothing more is recorded.",
        ),
        (Lang::En, S::Expired) => (
            "Ended",
            "It has come to its end; no one may listen any more.",
        ),
        (Lang::En, S::Superseded) => ("Replaced", "A newer consent replaced this one."),
        (Lang::En, S::OptedOut) => ("Opted out", "Nothing more is recorded."),
        (Lang::De, S::Requested) => (
            "Wartet auf Ihre Antwort",
            "Bis Sie einwilligen, wird nichts aufgezeichnet.",
        ),
        (Lang::De, S::Given) => (
            "Erteilt",
            "Ihre Sitzungen dürfen wie unten beschrieben aufgezeichnet und genutzt werden.",
        ),
        (Lang::De, S::Noticed) => (
            "Hinweis gegeben",
            "Sitzungen dürfen wie beschrieben aufgezeichnet werden, sofern Sie nicht widersprechen.",
        ),
        (Lang::De, S::Refused) => ("Abgelehnt", "Es wird nichts aufgezeichnet."),
        (Lang::De, S::Withdrawn) => (
            "Widerrufen",
            "Niemand darf mehr zuhören, und es wird nichts mehr aufgezeichnet.",
        ),
        (Lang::De, S::Expired) => ("Beendet", "Sie ist abgelaufen; niemand darf mehr zuhören."),
        (Lang::De, S::Superseded) => ("Ersetzt", "Eine neuere Einwilligung hat diese ersetzt."),
        (Lang::De, S::OptedOut) => ("Widersprochen", "Es wird nichts mehr aufgezeichnet."),
    }
}

pub(crate) fn recording_status(lang: Lang, status: Option<RecordingStatus>) -> &'static str {
    match (lang, status) {
        (Lang::En, Some(RecordingStatus::AwaitingUpload) | None) => "Not yet stored",
        (Lang::En, Some(RecordingStatus::Stored)) => "Stored, encrypted",
        (Lang::En, Some(RecordingStatus::Destroyed)) => "Destroyed",
        (Lang::De, Some(RecordingStatus::AwaitingUpload) | None) => "Noch nicht gespeichert",
        (Lang::De, Some(RecordingStatus::Stored)) => "Verschlüsselt gespeichert",
        (Lang::De, Some(RecordingStatus::Destroyed)) => "Vernichtet",
    }
}

pub(crate) fn request_kind(lang: Lang, kind: SubjectRequestKind) -> &'static str {
    use SubjectRequestKind as K;
    match (lang, kind) {
        (Lang::En, K::Access) => "What is held about me, and who accessed it",
        (Lang::En, K::Copy) => "A copy of my recordings",
        (Lang::En, K::Erasure) => "Erase my data",
        (Lang::En, K::Portability) => "My data in a portable format",
        (Lang::De, K::Access) => "Auskunft: was über mich gespeichert ist und wer darauf zugriff",
        (Lang::De, K::Copy) => "Eine Kopie meiner Aufzeichnungen",
        (Lang::De, K::Erasure) => "Löschung meiner Daten",
        (Lang::De, K::Portability) => "Meine Daten in einem übertragbaren Format",
    }
}

/// `text` with its first letter in upper case.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A moment as people read it, in UTC (said so).
pub(crate) fn moment(lang: Lang, at: DateTime<Utc>) -> String {
    match lang {
        Lang::En => at.format("%-d %B %Y, %H:%M UTC").to_string(),
        Lang::De => at.format("%d.%m.%Y, %H:%M UTC").to_string(),
    }
}

/// A day as people read it.
pub(crate) fn day(lang: Lang, on: chrono::NaiveDate) -> String {
    match lang {
        Lang::En => on.format("%-d %B %Y").to_string(),
        Lang::De => on.format("%d.%m.%Y").to_string(),
    }
}

/// Who acted, as the client reads it.
pub(crate) fn actor(lang: Lang, actor: &Actor) -> String {
    let t = lang.texts();
    match actor {
        Actor::User { user_id } => user_id.to_string(),
        Actor::ClientLink { .. } => t.you.to_owned(),
        Actor::System { .. } => t.the_service.to_owned(),
    }
}

fn viewer(lang: Lang, viewer: &Viewer) -> String {
    let t = lang.texts();
    match viewer {
        Viewer::Member { user_id, .. } => user_id.to_string(),
        Viewer::ExternalAssessor { user_id } => format!("{user_id} ({})", t.external_assessor),
        Viewer::Client { .. } => t.you.to_owned(),
    }
}

fn grantee(lang: Lang, grantee: &Grantee) -> String {
    let t = lang.texts();
    match grantee {
        Grantee::Member { user_id } => user_id.to_string(),
        Grantee::ExternalAssessor { user_id } => format!("{user_id} ({})", t.external_assessor),
        Grantee::Client { .. } => t.you.to_owned(),
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
pub(crate) fn access_row(lang: Lang, entry: &AccessEntry) -> Option<AccessRow> {
    let t = lang.texts();
    let row = |at: &DateTime<Utc>, who: String, what: String, outcome, reasons| AccessRow {
        when: moment(lang, *at),
        who,
        what,
        outcome,
        reasons,
    };
    let fill =
        |template: &str, purpose_: Purpose| template.replace("{purpose}", purpose(lang, purpose_));
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
                viewer(lang, v),
                format!("{} ({})", fill(t.listened_for, *p), medium(lang, *m)),
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
                viewer(lang, v),
                fill(t.tried_to_listen_for, *p),
                "refused",
                reasons.iter().map(ToString::to_string).collect(),
            )),
            RecordingEvent::TranscriptAttached {
                purpose: p, by, at, ..
            } => Some(row(
                at,
                actor(lang, by),
                fill(t.made_transcript_for, *p),
                "",
                Vec::new(),
            )),
            RecordingEvent::RecordingDestructionScheduled { due, by, at, .. } => Some(row(
                at,
                actor(lang, by),
                t.scheduled_destruction
                    .replace("{due}", &moment(lang, *due)),
                "",
                Vec::new(),
            )),
            RecordingEvent::RecordingDestroyed { by, at, .. } => Some(row(
                at,
                actor(lang, by),
                t.destroyed_it.to_owned(),
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
                actor(lang, by),
                fill(t.granted, *p)
                    .replace("{who}", &grantee(lang, g))
                    .replace("{until}", &moment(lang, *expires_at)),
                "",
                Vec::new(),
            )),
            GrantEvent::AccessRevoked { by, at, .. } => Some(row(
                at,
                actor(lang, by),
                t.revoked.to_owned(),
                "",
                Vec::new(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn the_pages_speak_the_forms_language_where_they_can() {
        assert_eq!(Lang::of("de"), Lang::De);
        assert_eq!(Lang::of("de-AT"), Lang::De);
        assert_eq!(Lang::of("DE_ch"), Lang::De);
        assert_eq!(Lang::of("en-GB"), Lang::En);
        assert_eq!(
            Lang::of("cy"),
            Lang::En,
            "a language without the pages' words: English"
        );
        assert_eq!(Lang::De.texts().lang, "de");
    }
}
