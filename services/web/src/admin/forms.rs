//! `/admin/forms`: the consent forms and every version of each; publish a new form, or a new
//! version of one (a version is never changed: consents name the exact text they were given on).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use confide_domain::{ConsentFormId, DomainError, Language};
use serde::Deserialize;

use super::{Frame, administrator, back};
use crate::WebState;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;

struct VersionRow {
    version: u32,
    title: String,
    language: String,
    sha256: String,
    published: String,
}

struct FormRow {
    id: String,
    title: String,
    versions: Vec<VersionRow>,
}

#[derive(Template)]
#[template(path = "admin_forms.html")]
struct FormsPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    forms: Vec<FormRow>,
}

/// `GET /admin/forms`.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/forms").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let forms = state
        .app
        .consent_forms(&caller)
        .await?
        .into_iter()
        .map(|form| FormRow {
            id: form.id.to_string(),
            title: form
                .versions
                .last()
                .map(|v| v.title.clone())
                .unwrap_or_default(),
            versions: form
                .versions
                .iter()
                .rev()
                .map(|v| VersionRow {
                    version: v.version,
                    title: v.title.clone(),
                    language: v.language.to_string(),
                    sha256: v.text_sha256.to_string(),
                    published: crate::words::moment(crate::words::Lang::En, v.published_at),
                })
                .collect(),
        })
        .collect();
    let page = FormsPage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin/forms", "Consent forms").await?,
        forms,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PublishForm {
    /// Empty for a new form; a form's id for its next version.
    #[serde(default)]
    form: String,
    title: String,
    language: String,
    text: String,
}

/// `POST /admin/forms`: publishes a new form or the next version of one.
pub(crate) async fn publish(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Checked(form): Checked<PublishForm>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/forms").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let id = Some(form.form.trim())
        .filter(|id| !id.is_empty())
        .map(|id| ConsentFormId::parse(id).map_err(|_| DomainError::not_found("consent form")))
        .transpose()?;
    state
        .app
        .publish_consent_form(
            &caller,
            id,
            form.title.trim().to_owned(),
            Language::parse(form.language.trim())?,
            form.text.replace("\r\n", "\n"),
        )
        .await?;
    Ok(back("/admin/forms"))
}
