//! One consent: the form, the terms, and what the client can do with it.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use confide_domain::aggregates::consent::{
    Consent, ConsentStatus, Expiry, ExpiryTrigger, WithdrawalScope,
};
use confide_domain::{ConsentId, DomainError, Purpose, UserId};
use serde::Deserialize;
use uuid::Uuid;

use super::{ClientCaller, Done, Empty, scope_words};
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::texts::Texts;
use crate::words::Lang;
use crate::{WebState, words};

#[derive(Template)]
#[template(path = "client_consent.html")]
struct ConsentPage {
    t: &'static Texts,
    asks: String,
    lasts: String,
    organisation: String,
    csrf: String,
    id: String,
    status: &'static str,
    status_meaning: &'static str,
    form_title: String,
    form_language: String,
    form_version: u32,
    form_sha256: String,
    form_text: String,
    terms: Vec<TermsLine>,
    may_answer: bool,
    may_withdraw: bool,
    may_opt_out: bool,
    has_receipt: bool,
    choices: Vec<(String, String)>,
    outcome: Option<Outcome>,
    checkpoint_key: String,
}

struct TermsLine {
    purpose: &'static str,
    meaning: String,
    listeners: String,
    media: String,
    derivatives: String,
    withdrawn: bool,
}

/// What the last form did, said on the page it led to.
struct Outcome {
    heading: &'static str,
    lines: Vec<String>,
}

/// `GET /me/consents/{id}`.
pub(crate) async fn consent(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    let consent_id = ConsentId::from_uuid(id)?;
    let app = &state.app;
    let consent = app.consent(&caller, consent_id).await?;
    let (_, form) = app.consent_form_of(&caller, consent_id).await?;
    let core = consent
        .core()
        .ok_or_else(|| DomainError::not_found("consent"))?;
    let status = consent.status().unwrap_or(ConsentStatus::Requested);
    let lang = Lang::of(form.language.as_str());
    let t = lang.texts();
    let (status_words, status_meaning) = words::consent_status(lang, status);
    let in_force = matches!(status, ConsentStatus::Given);
    let organisation = app.organisation_name(&caller).await?;
    let page = ConsentPage {
        t,
        asks: t
            .asks
            .replace("{org}", &organisation)
            .replace("{who}", core.practitioner.as_ref())
            .replace(
                "{scope}",
                &scope_words(lang, core.scope, &core.practitioner),
            ),
        lasts: t.lasts.replace("{until}", &until_words(lang, &consent)),
        organisation,
        csrf,
        id: core.id.to_string(),
        status: status_words,
        status_meaning,
        form_title: form.title,
        form_language: form.language.to_string(),
        form_version: form.version,
        form_sha256: form.text_sha256.to_string(),
        form_text: form.text.unwrap_or_default(),
        terms: terms(lang, &consent),
        may_answer: status == ConsentStatus::Requested,
        may_withdraw: in_force,
        may_opt_out: status == ConsentStatus::Noticed,
        has_receipt: consent.evidence().is_some(),
        choices: if in_force {
            choices(lang, &consent)
        } else {
            Vec::new()
        },
        outcome: outcome(t, done.done.as_deref(), &consent),
        checkpoint_key: app.checkpoint_key(),
    };
    Ok(Html(page.render()?))
}

fn terms(lang: Lang, consent: &Consent) -> Vec<TermsLine> {
    let t = lang.texts();
    consent
        .purposes()
        .iter()
        .map(|(purpose, state)| {
            let audience = &state.terms.audience;
            let mut listeners: Vec<String> =
                audience.users.iter().map(ToString::to_string).collect();
            listeners.extend(
                audience
                    .roles
                    .iter()
                    .map(|r| words::role(lang, *r).to_owned()),
            );
            TermsLine {
                purpose: words::purpose_name(lang, *purpose),
                meaning: t
                    .for_meaning
                    .replace("{meaning}", words::purpose(lang, *purpose)),
                listeners: if *purpose == Purpose::ClientCopy {
                    t.only_you.to_owned()
                } else if listeners.is_empty() {
                    t.no_one.to_owned()
                } else {
                    listeners.join(", ")
                },
                media: list(state.terms.media.iter().map(|m| words::medium(lang, *m))),
                derivatives: if state.terms.derivatives.is_empty() {
                    t.nothing.to_owned()
                } else {
                    list(
                        state
                            .terms
                            .derivatives
                            .iter()
                            .map(|d| words::derivative(lang, *d)),
                    )
                },
                withdrawn: state.withdrawn_at.is_some(),
            }
        })
        .collect()
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn until_words(lang: Lang, consent: &Consent) -> String {
    let t = lang.texts();
    match consent.core().and_then(|core| core.expiry) {
        Some(Expiry::OnDate { at }) => t.until_date.replace("{at}", &words::moment(lang, at)),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CourseEnded { .. },
        }) => t.until_course.to_owned(),
        Some(Expiry::OnEvent {
            trigger: ExpiryTrigger::CredentialDecided,
        }) => t.until_credential.to_owned(),
        None => t.until_withdrawn.to_owned(),
    }
}

/// The withdrawal choices: all of it, one purpose, or one named listener of one purpose.
/// Each value is what the withdraw form posts as `scope`.
fn choices(lang: Lang, consent: &Consent) -> Vec<(String, String)> {
    let t = lang.texts();
    let mut choices = vec![("whole".to_owned(), t.choice_whole.to_owned())];
    let live: Vec<_> = consent
        .purposes()
        .iter()
        .filter(|(_, state)| state.withdrawn_at.is_none())
        .collect();
    if live.len() > 1 {
        for (purpose, _) in &live {
            choices.push((
                format!("purpose:{purpose}"),
                t.choice_purpose
                    .replace("{purpose}", words::purpose(lang, **purpose)),
            ));
        }
    }
    for (purpose, state) in &live {
        if state.terms.audience.users.len() > 1 {
            for user in &state.terms.audience.users {
                choices.push((
                    format!("listener:{purpose}:{user}"),
                    t.choice_listener
                        .replace("{who}", user.as_ref())
                        .replace("{purpose}", words::purpose(lang, **purpose)),
                ));
            }
        }
    }
    choices
}

fn outcome(t: &'static Texts, done: Option<&str>, consent: &Consent) -> Option<Outcome> {
    match done? {
        "given" => Some(Outcome {
            heading: t.outcome_given_h,
            lines: t
                .outcome_given
                .iter()
                .map(|line| (*line).to_owned())
                .collect(),
        }),
        "refused" => Some(Outcome {
            heading: t.outcome_refused_h,
            lines: vec![t.outcome_refused.to_owned()],
        }),
        "withdrawn" => {
            let mut lines = vec![t.outcome_withdrawn.to_owned()];
            if consent.deletion_requested() {
                lines.push(t.outcome_destroyed.to_owned());
            }
            if !consent.notified().is_empty() {
                let told: Vec<String> =
                    consent.notified().iter().map(ToString::to_string).collect();
                lines.push(t.outcome_told.replace("{who}", &told.join(", ")));
            }
            Some(Outcome {
                heading: t.outcome_withdrawn_h,
                lines,
            })
        }
        "opted_out" => Some(Outcome {
            heading: t.outcome_opted_out_h,
            lines: vec![t.outcome_opted_out.to_owned()],
        }),
        _ => None,
    }
}

#[derive(Deserialize)]
pub(crate) struct GiveForm {
    typed_name: String,
}

/// `POST /me/consents/{id}/give`.
pub(crate) async fn give(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(form): Checked<GiveForm>,
) -> Result<Redirect, PageError> {
    let consent_id = ConsentId::from_uuid(id)?;
    state
        .app
        .give_consent(&caller, consent_id, form.typed_name.trim().to_owned())
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=given#outcome"
    )))
}

/// `POST /me/consents/{id}/refuse`.
pub(crate) async fn refuse(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(_): Checked<Empty>,
) -> Result<Redirect, PageError> {
    state
        .app
        .refuse_consent(&caller, ConsentId::from_uuid(id)?)
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=refused#outcome"
    )))
}

#[derive(Deserialize)]
pub(crate) struct WithdrawForm {
    scope: String,
    #[serde(default)]
    delete: Option<String>,
}

/// `POST /me/consents/{id}/withdraw`: all of it, one purpose or one listener, with or without
/// the recordings' destruction.
pub(crate) async fn withdraw(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(form): Checked<WithdrawForm>,
) -> Result<Redirect, PageError> {
    let scope = withdrawal_scope(&form.scope)?;
    state
        .app
        .withdraw_consent(
            &caller,
            ConsentId::from_uuid(id)?,
            scope,
            form.delete.is_some(),
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=withdrawn#outcome"
    )))
}

/// The scope a withdraw form posts: `whole`, `purpose:<purpose>`, or
/// `listener:<purpose>:<user>`.
fn withdrawal_scope(value: &str) -> Result<WithdrawalScope, DomainError> {
    let invalid = || DomainError::invalid("scope", "choose what to withdraw");
    let mut parts = value.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("whole"), None, None) => Ok(WithdrawalScope::Whole),
        (Some("purpose"), Some(purpose), None) => Ok(WithdrawalScope::Purpose {
            purpose: purpose.parse().map_err(|_| invalid())?,
        }),
        (Some("listener"), Some(purpose), Some(user)) => Ok(WithdrawalScope::AudienceMember {
            purpose: purpose.parse().map_err(|_| invalid())?,
            user_id: UserId::parse(user).map_err(|_| invalid())?,
        }),
        _ => Err(invalid()),
    }
}

#[derive(Deserialize)]
pub(crate) struct OptOutForm {
    #[serde(default)]
    delete: Option<String>,
}

/// `POST /me/consents/{id}/opt-out`: out for good, under a notice.
pub(crate) async fn opt_out(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
    Checked(form): Checked<OptOutForm>,
) -> Result<Redirect, PageError> {
    state
        .app
        .opt_out(&caller, ConsentId::from_uuid(id)?, form.delete.is_some())
        .await?;
    Ok(Redirect::to(&format!(
        "/me/consents/{id}?done=opted_out#outcome"
    )))
}

/// `GET /me/consents/{id}/receipt.json`: the receipt and its proof, as a file.
pub(crate) async fn receipt(
    State(state): State<Arc<WebState>>,
    ClientCaller(caller): ClientCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let receipt = state
        .app
        .consent_receipt(&caller, ConsentId::from_uuid(id)?)
        .await?;
    let proof: serde_json::Value = serde_json::from_str(&receipt.proof.to_json())
        .map_err(|e| PageError::App(confide_app::AppError::Encoding(e)))?;
    let mut response =
        Json(serde_json::json!({ "receipt": receipt.receipt, "proof": proof })).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"consent-receipt-{id}.json\""
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
