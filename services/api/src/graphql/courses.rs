//! Courses (tutors, students, the end that starts their recordings' grace) and case studies
//! written from clients' sessions with their consent.

use std::collections::BTreeSet;

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::NaiveDate;
use confide_app::CaseStudyView as AppCaseStudy;
use confide_domain::aggregates::course::Course;
use confide_domain::{CaseStudyId, ClientId, CourseId, DomainError};
use uuid::Uuid;

use super::{id, user};
use crate::caller::{app, caller};
use crate::error::{ApiError, Result};

#[derive(Default)]
pub(super) struct CourseMutation;

#[derive(Default)]
pub(super) struct CourseQuery;

#[derive(SimpleObject)]
struct CourseView {
    id: Uuid,
    title: String,
    starts_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
    /// The day it actually ended; the grace for its recordings runs from here.
    ended_on: Option<NaiveDate>,
    tutors: Vec<String>,
    students: Vec<String>,
}

impl CourseView {
    fn of(course: &Course) -> Option<Self> {
        Some(Self {
            id: course.id()?.as_uuid(),
            title: course.title().to_owned(),
            starts_on: course.starts_on(),
            ends_on: course.ends_on(),
            ended_on: course.ended_on(),
            tutors: course.tutors().iter().map(ToString::to_string).collect(),
            students: course.students().iter().map(ToString::to_string).collect(),
        })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "confide_domain::aggregates::case_study::CaseStudyStatus")]
enum CaseStudyState {
    Draft,
    Published,
    Discarded,
}

#[derive(SimpleObject)]
struct CaseStudyView {
    id: Uuid,
    status: Option<CaseStudyState>,
    author: Option<String>,
    clients: Vec<Uuid>,
    funder: Option<String>,
    /// The text; absent once its key is destroyed.
    body: Option<String>,
    /// SHA-256 of the text, hex.
    body_sha256: Option<String>,
}

fn course(course: &Course) -> Result<CourseView> {
    CourseView::of(course).ok_or_else(|| ApiError::from(DomainError::not_found("course")))
}

fn case_study(view: &AppCaseStudy) -> Result<CaseStudyView> {
    let study = &view.case_study;
    let id = study
        .id()
        .ok_or_else(|| ApiError::from(DomainError::not_found("case study")))?;
    Ok(CaseStudyView {
        id: id.as_uuid(),
        status: study.status().map(Into::into),
        author: study.author().map(ToString::to_string),
        clients: study.clients().iter().map(|c| c.as_uuid()).collect(),
        funder: study.funder().map(ToString::to_string),
        body: view.body.clone(),
        body_sha256: study.body_sha256().map(|s| s.to_string()),
    })
}

fn course_id(id: Uuid) -> Result<CourseId> {
    self::id(id, CourseId::from_uuid)
}

fn case_study_id(id: Uuid) -> Result<CaseStudyId> {
    self::id(id, CaseStudyId::from_uuid)
}

#[Object]
impl CourseMutation {
    /// Creates a course (org_admin) with its first tutors.
    async fn create_course(
        &self,
        ctx: &Context<'_>,
        title: String,
        starts_on: NaiveDate,
        ends_on: NaiveDate,
        #[graphql(default)] tutors: Vec<String>,
    ) -> Result<CourseView> {
        let tutors = tutors.iter().map(|t| user(t)).collect::<Result<_>>()?;
        let created = app(ctx)
            .create_course(caller(ctx)?, title, starts_on, ends_on, tutors)
            .await?;
        course(&created)
    }

    async fn add_course_tutor(
        &self,
        ctx: &Context<'_>,
        course_id: Uuid,
        user_id: String,
    ) -> Result<CourseView> {
        let changed = app(ctx)
            .add_course_tutor(caller(ctx)?, self::course_id(course_id)?, user(&user_id)?)
            .await?;
        course(&changed)
    }

    /// Enrols a student, whose recordings the course's tutors may then assess as their
    /// clients' consents allow.
    async fn enrol_in_course(
        &self,
        ctx: &Context<'_>,
        course_id: Uuid,
        user_id: String,
    ) -> Result<CourseView> {
        let changed = app(ctx)
            .enrol_in_course(caller(ctx)?, self::course_id(course_id)?, user(&user_id)?)
            .await?;
        course(&changed)
    }

    /// Ends a course: every consent that ends with it expires in the same write, and its
    /// recordings become due for destruction after the tenant's grace.
    async fn end_course(
        &self,
        ctx: &Context<'_>,
        course_id: Uuid,
        ended_on: NaiveDate,
    ) -> Result<CourseView> {
        let ended = app(ctx)
            .end_course(caller(ctx)?, self::course_id(course_id)?, ended_on)
            .await?;
        course(&ended)
    }

    /// Drafts a case study from clients' sessions; each client's consent must cover case
    /// studies. The text is sealed under the case study's own key.
    async fn create_case_study(
        &self,
        ctx: &Context<'_>,
        client_ids: Vec<Uuid>,
        body: String,
    ) -> Result<CaseStudyView> {
        let clients = client_ids
            .into_iter()
            .map(|c| id(c, ClientId::from_uuid))
            .collect::<Result<BTreeSet<_>>>()?;
        let drafted = app(ctx)
            .create_case_study(caller(ctx)?, clients, &body)
            .await?;
        case_study(&drafted)
    }

    /// The author replaces a draft's text.
    async fn revise_case_study(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        body: String,
    ) -> Result<CaseStudyView> {
        let revised = app(ctx)
            .revise_case_study(caller(ctx)?, case_study_id(id)?, &body)
            .await?;
        case_study(&revised)
    }

    /// Publishes a draft to one funder, permanently: refused while the text names any of its
    /// clients (checked against their registered names) or a consent no longer covers it.
    async fn publish_case_study(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        funder: String,
    ) -> Result<CaseStudyView> {
        let published = app(ctx)
            .publish_case_study(caller(ctx)?, case_study_id(id)?, user(&funder)?)
            .await?;
        case_study(&published)
    }

    /// Throws a draft away (its author or an org_admin).
    async fn discard_case_study(&self, ctx: &Context<'_>, id: Uuid) -> Result<CaseStudyView> {
        let discarded = app(ctx)
            .discard_case_study(caller(ctx)?, case_study_id(id)?)
            .await?;
        case_study(&discarded)
    }
}

#[Object]
impl CourseQuery {
    async fn course(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<CourseView>> {
        let found = app(ctx).course(caller(ctx)?, course_id(id)?).await?;
        Ok(found.as_ref().and_then(CourseView::of))
    }

    /// The case studies the caller may read: an org_admin all, a practitioner their own, a
    /// funder those published to them.
    async fn case_studies(&self, ctx: &Context<'_>) -> Result<Vec<CaseStudyView>> {
        let studies = app(ctx).case_studies(caller(ctx)?).await?;
        studies.iter().map(case_study).collect()
    }
}
