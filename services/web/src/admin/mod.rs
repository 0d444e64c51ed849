//! The administrator's pages under `/admin`: members and roles (`members`), the tenant's
//! policy with what each choice means (`policy`), consent forms and their versions (`forms`),
//! courses (`courses`), what is due for destruction and the subject requests (`duties`), and
//! the organisation's access log, paged, filtered and downloaded as CSV (`log`, `csv`).
//! Only an org_admin reaches them: anyone else is refused by the application, in plain words.

mod courses;
mod csv;
mod duties;
mod forms;
mod log;
mod members;
mod policy;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use confide_app::Caller;

use crate::WebState;
use crate::error::PageError;

/// The administrator's routes.
pub(crate) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/admin", get(members::page))
        .route("/admin/members", post(members::add))
        .route("/admin/members/{user}/roles", post(members::change))
        .route("/admin/members/{user}/remove", post(members::remove))
        .route("/admin/policy", get(policy::page).post(policy::set))
        .route("/admin/forms", get(forms::page).post(forms::publish))
        .route("/admin/courses", get(courses::list).post(courses::create))
        .route("/admin/courses/{id}", get(courses::page))
        .route("/admin/courses/{id}/tutors", post(courses::add_tutor))
        .route("/admin/courses/{id}/students", post(courses::enrol))
        .route("/admin/courses/{id}/end", post(courses::end))
        .route("/admin/duties", get(duties::page))
        .route("/admin/requests/{id}/decide", post(duties::decide))
        .route("/admin/requests/{id}/extend", post(duties::extend))
        .route("/admin/access-log", get(log::page))
        .route("/admin/access-log.csv", get(log::download))
}

/// The sections of the administration, for the pages' own navigation.
pub(crate) const SECTIONS: [(&str, &str); 6] = [
    ("/admin", "Members"),
    ("/admin/policy", "Policy"),
    ("/admin/forms", "Consent forms"),
    ("/admin/courses", "Courses"),
    ("/admin/duties", "Due dates"),
    ("/admin/access-log", "Access log"),
];

/// The signed-in org_admin, or the response that stands instead: a redirect to sign in when
/// nobody is, the application's refusal (recorded by it) for anyone else.
pub(crate) async fn administrator(
    state: &WebState,
    caller: Option<Caller>,
    path: &str,
) -> Result<Result<Caller, Response>, PageError> {
    let Some(caller) = caller else {
        let next = serde_urlencoded::to_string([("next", path)]).unwrap_or_default();
        return Ok(Err(
            Redirect::to(&format!("/sign-in?{next}")).into_response()
        ));
    };
    if let Err(refusal) = state.app.may_administer(&caller).await {
        tracing::info!("the administration was refused");
        return Err(refusal.into());
    }
    Ok(Ok(caller))
}

/// Where a form sends the browser after it is done.
pub(crate) fn back(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A user id typed into a form.
pub(crate) fn user_id(
    field: &'static str,
    value: &str,
) -> Result<confide_domain::UserId, confide_domain::DomainError> {
    confide_domain::UserId::parse(value.trim())
        .map_err(|_| confide_domain::DomainError::invalid(field, "that is not a user id"))
}

/// A day typed into a date field (`YYYY-MM-DD`).
pub(crate) fn date(
    field: &'static str,
    value: &str,
) -> Result<chrono::NaiveDate, confide_domain::DomainError> {
    chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| confide_domain::DomainError::invalid(field, "a date is written YYYY-MM-DD"))
}

/// What every administrator's page shows around its own content.
pub(crate) struct Frame {
    pub(crate) title: &'static str,
    pub(crate) organisation: String,
    pub(crate) current: &'static str,
    pub(crate) sections: &'static [(&'static str, &'static str)],
}

impl Frame {
    /// The frame of the section at `current`, titled `title`.
    pub(crate) async fn of(
        state: &WebState,
        caller: &Caller,
        current: &'static str,
        title: &'static str,
    ) -> Result<Self, PageError> {
        Ok(Self {
            title,
            organisation: state.app.organisation_name(caller).await?,
            current,
            sections: &SECTIONS,
        })
    }
}
