//! `/admin/courses`: the courses; create one with its first tutors; on a course's page, add
//! tutors, enrol students, and end it, after a confirmation that says what ending does.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use confide_domain::aggregates::course::Course;
use confide_domain::{CourseId, DomainError};
use serde::Deserialize;

use super::{Frame, administrator, back, date, user_id};
use crate::WebState;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;
use crate::words::{Lang, day};

struct CourseRow {
    id: String,
    title: String,
    runs: String,
    tutors: String,
    students: usize,
    ended: Option<String>,
}

fn row(course: &Course) -> CourseRow {
    let on = |d: Option<chrono::NaiveDate>| d.map(|d| day(Lang::En, d)).unwrap_or_default();
    CourseRow {
        id: course.id().map(|id| id.to_string()).unwrap_or_default(),
        title: course.title().to_owned(),
        runs: format!("{} to {}", on(course.starts_on()), on(course.ends_on())),
        tutors: course
            .tutors()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        students: course.students().len(),
        ended: course.ended_on().map(|d| day(Lang::En, d)),
    }
}

#[derive(Template)]
#[template(path = "admin_courses.html")]
struct CoursesPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    courses: Vec<CourseRow>,
}

/// `GET /admin/courses`.
pub(crate) async fn list(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/courses").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let courses = state.app.courses(&caller).await?.iter().map(row).collect();
    let page = CoursesPage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin/courses", "Courses").await?,
        courses,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CreateForm {
    title: String,
    starts_on: String,
    ends_on: String,
    /// User ids separated by spaces or commas.
    #[serde(default)]
    tutors: String,
}

/// `POST /admin/courses`: creates a course and opens its page.
pub(crate) async fn create(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Checked(form): Checked<CreateForm>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin/courses").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let tutors = form
        .tutors
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| user_id("tutors", s))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let course = state
        .app
        .create_course(
            &caller,
            form.title.trim().to_owned(),
            date("starts_on", &form.starts_on)?,
            date("ends_on", &form.ends_on)?,
            tutors,
        )
        .await?;
    let id = course
        .id()
        .ok_or_else(|| DomainError::not_found("course"))?;
    Ok(back(&format!("/admin/courses/{id}")))
}

#[derive(Template)]
#[template(path = "admin_course.html")]
struct CoursePage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    course: CourseRow,
    tutors: Vec<String>,
    students: Vec<String>,
    today: String,
    grace_days: u32,
}

fn course_id(id: &str) -> Result<CourseId, DomainError> {
    CourseId::parse(id).map_err(|_| DomainError::not_found("course"))
}

/// `GET /admin/courses/{id}`.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, &format!("/admin/courses/{id}")).await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let course = state
        .app
        .course(&caller, course_id(&id)?)
        .await?
        .ok_or_else(|| DomainError::not_found("course"))?;
    let grace_days = state
        .app
        .tenant(&caller)
        .await?
        .policy()
        .map_or(0, |p| p.policy.course_grace_days);
    let page = CoursePage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin/courses", "Course").await?,
        course: row(&course),
        tutors: course.tutors().iter().map(ToString::to_string).collect(),
        students: course.students().iter().map(ToString::to_string).collect(),
        today: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
        grace_days,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PersonForm {
    user: String,
}

/// `POST /admin/courses/{id}/tutors`.
pub(crate) async fn add_tutor(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(id): Path<String>,
    Checked(form): Checked<PersonForm>,
) -> Result<Response, PageError> {
    let path = format!("/admin/courses/{id}");
    let caller = match administrator(&state, caller, &path).await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    state
        .app
        .add_course_tutor(&caller, course_id(&id)?, user_id("user", &form.user)?)
        .await?;
    Ok(back(&path))
}

/// `POST /admin/courses/{id}/students`.
pub(crate) async fn enrol(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(id): Path<String>,
    Checked(form): Checked<PersonForm>,
) -> Result<Response, PageError> {
    let path = format!("/admin/courses/{id}");
    let caller = match administrator(&state, caller, &path).await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    state
        .app
        .enrol_in_course(&caller, course_id(&id)?, user_id("user", &form.user)?)
        .await?;
    Ok(back(&path))
}

#[derive(Deserialize)]
pub(crate) struct EndForm {
    ended_on: String,
    /// The box that says the administrator read what ending does.
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/courses/{id}/end`: ends the course, once its confirmation is ticked.
pub(crate) async fn end(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(id): Path<String>,
    Checked(form): Checked<EndForm>,
) -> Result<Response, PageError> {
    let path = format!("/admin/courses/{id}");
    let caller = match administrator(&state, caller, &path).await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    if form.confirm != "yes" {
        return Err(DomainError::invalid(
            "confirm",
            "tick the box that says you understand what ending the course does",
        )
        .into());
    }
    state
        .app
        .end_course(&caller, course_id(&id)?, date("ended_on", &form.ended_on)?)
        .await?;
    Ok(back(&path))
}
