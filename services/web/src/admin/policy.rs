//! `/admin/policy`: the organisation's policy, each choice with what it means in plain words;
//! saving it makes a new version, which every later decision is taken under.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use confide_domain::DomainError;
use confide_domain::Jurisdiction;
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use serde::Deserialize;

use super::{Frame, administrator, back};
use crate::WebState;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;

/// One choice of a question, with what choosing it means.
struct Choice {
    value: &'static str,
    label: &'static str,
    means: &'static str,
    chosen: bool,
}

/// One question of the policy: a group of radio buttons.
struct Question {
    name: &'static str,
    legend: &'static str,
    choices: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "admin_policy.html")]
struct PolicyPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    version: u32,
    questions: Vec<Question>,
    retention_days: u32,
    course_grace_days: u32,
    max_retention: u32,
    max_grace: u32,
}

fn questions(policy: &TenantPolicy) -> Vec<Question> {
    let choice = |value, label, means, chosen| Choice {
        value,
        label,
        means,
        chosen,
    };
    vec![
        Question {
            name: "consent_model",
            legend: "How consent to record is obtained",
            choices: vec![
                choice(
                    "written_opt_in",
                    "Written consent first",
                    "Nothing is recorded until the client has read the form and signed it. \
                     Usual for counselling services.",
                    policy.consent_model == ConsentModel::WrittenOptIn,
                ),
                choice(
                    "notified_opt_out",
                    "Recorded by default after a notice",
                    "Clients are sent a notice; sessions are recorded unless they opt out, for \
                     one session or for good. Usual for coaching companies.",
                    policy.consent_model == ConsentModel::NotifiedOptOut,
                ),
            ],
        },
        Question {
            name: "allowed_media",
            legend: "What may be recorded",
            choices: vec![
                choice(
                    "audio_only",
                    "Audio only",
                    "Only sound is recorded, never video.",
                    policy.allowed_media == MediaPolicy::AudioOnly,
                ),
                choice(
                    "audio_and_video",
                    "Audio and video",
                    "Sessions may also be filmed, where the client's consent covers video.",
                    policy.allowed_media == MediaPolicy::AudioAndVideo,
                ),
            ],
        },
        Question {
            name: "practitioner_self_access",
            legend: "Whether practitioners may play their own recordings",
            choices: vec![
                choice(
                    "false",
                    "No",
                    "Practitioners record, but only the people the client consented to may \
                     listen.",
                    !policy.practitioner_self_access,
                ),
                choice(
                    "true",
                    "Yes",
                    "Practitioners may also listen to their own sessions, for their own \
                     reflection, where consent covers it.",
                    policy.practitioner_self_access,
                ),
            ],
        },
        Question {
            name: "client_copies",
            legend: "Whether clients get copies of their recordings",
            choices: vec![
                choice(
                    "allowed",
                    "Yes, when they consented to a copy",
                    "A client who ticked “a copy for me” may play their own recordings from \
                     their link.",
                    policy.client_copies == ClientCopies::Allowed,
                ),
                choice(
                    "on_request_reviewed",
                    "Only on a reviewed request",
                    "A client asks formally; an administrator decides each request.",
                    policy.client_copies == ClientCopies::OnRequestReviewed,
                ),
                choice(
                    "never",
                    "Never",
                    "Clients do not get copies.",
                    policy.client_copies == ClientCopies::Never,
                ),
            ],
        },
        Question {
            name: "jurisdiction",
            legend: "The law the organisation is under",
            choices: Jurisdiction::ALL
                .iter()
                .map(|law| {
                    let (label, means) = match law {
                        Jurisdiction::Gdpr => {
                            ("EU GDPR", "Subject requests are answered within one month.")
                        }
                        Jurisdiction::UkGdpr => {
                            ("UK GDPR", "Subject requests are answered within one month.")
                        }
                        Jurisdiction::Ccpa => (
                            "California (CCPA/CPRA)",
                            "Requests are answered within 45 days.",
                        ),
                        Jurisdiction::Hipaa => (
                            "US HIPAA",
                            "Requests for access are answered within 30 days.",
                        ),
                        Jurisdiction::Pdpa => (
                            "Singapore PDPA",
                            "Requests for access are answered within 30 days.",
                        ),
                    };
                    choice(law.as_str(), label, means, policy.jurisdiction == *law)
                })
                .collect(),
        },
    ]
}

/// `GET /admin/policy`.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/policy").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let tenant = state.app.tenant(&caller).await?;
    let versioned = tenant
        .policy()
        .ok_or_else(|| DomainError::not_found("policy"))?;
    let policy = &versioned.policy;
    let page = PolicyPage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin/policy", "Policy").await?,
        version: versioned.version,
        questions: questions(policy),
        retention_days: policy.retention_days,
        course_grace_days: policy.course_grace_days,
        max_retention: TenantPolicy::MAX_RETENTION_DAYS,
        max_grace: TenantPolicy::MAX_COURSE_GRACE_DAYS,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PolicyForm {
    consent_model: ConsentModel,
    allowed_media: MediaPolicy,
    practitioner_self_access: bool,
    client_copies: ClientCopies,
    jurisdiction: String,
    retention_days: u32,
    course_grace_days: u32,
}

/// `POST /admin/policy`: a new version of the policy.
pub(crate) async fn set(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Checked(form): Checked<PolicyForm>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/policy").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let policy = TenantPolicy {
        consent_model: form.consent_model,
        allowed_media: form.allowed_media,
        practitioner_self_access: form.practitioner_self_access,
        client_copies: form.client_copies,
        retention_days: form.retention_days,
        course_grace_days: form.course_grace_days,
        jurisdiction: Jurisdiction::parse(&form.jurisdiction)?,
    };
    state.app.set_tenant_policy(&caller, policy).await?;
    Ok(back("/admin/policy?saved=1"))
}
