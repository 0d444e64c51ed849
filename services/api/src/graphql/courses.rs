//! Courses (tutors, students, the end that starts their recordings' grace) and case studies
//! written from clients' sessions with their consent.

use std::collections::BTreeSet;

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::NaiveDate;
use confide_app::Loaded;
use confide_domain::aggregates::case_study::{CaseStudy, CaseStudyCommand};
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::course::{Course, CourseCommand};
use confide_domain::{CaseStudyId, ClientId, CourseId, DomainError, KeyId, Sealed, Sha256};
use confide_vault::KeyError;
use uuid::Uuid;

use super::mutation::{ClientDetails, internal, user};
use super::{bad_input, caller, error, member, organisation_member, services, stream};

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

/// A command on a course's stream; returns the course as it now stands.
async fn course_command(
    ctx: &Context<'_>,
    id: CourseId,
    command: CourseCommand,
    new_ids: &[Uuid],
) -> Result<CourseView> {
    let (principal, _) = member(ctx)?;
    let app = &services(ctx).app;
    let course_stream = stream("course", id)?;
    app.execute::<Course>(
        &principal.tenant,
        &principal.actor,
        &course_stream,
        command,
        new_ids,
    )
    .await
    .map_err(error)?;
    load_course(ctx, id).await
}

async fn load_course(ctx: &Context<'_>, id: CourseId) -> Result<CourseView> {
    let (principal, _) = member(ctx)?;
    let course: Loaded<Course> = services(ctx)
        .app
        .load(&principal.tenant, &stream("course", id)?)
        .await
        .map_err(error)?;
    CourseView::of(&course.state).ok_or_else(|| bad_input(DomainError::not_found("course")))
}

fn course_id(id: Uuid) -> Result<CourseId> {
    CourseId::from_uuid(id).map_err(bad_input)
}

/// The key that seals a case study's text: its own, so the text outlives a client's erasure
/// only once published without their name.
fn case_study_key(id: CaseStudyId) -> Result<KeyId> {
    KeyId::parse(&format!("case-study-{id}")).map_err(bad_input)
}

async fn view(ctx: &Context<'_>, case_study: &CaseStudy) -> Result<Option<CaseStudyView>> {
    let principal = caller(ctx)?;
    let Some(id) = case_study.id() else {
        return Ok(None);
    };
    let body = match case_study.body() {
        Some(sealed) => match services(ctx)
            .keys
            .open(&principal.tenant, sealed.key_id(), sealed.ciphertext())
            .await
        {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(KeyError::Destroyed { .. } | KeyError::Unknown { .. }) => None,
            Err(other) => return Err(internal(other)),
        },
        None => None,
    };
    Ok(Some(CaseStudyView {
        id: id.as_uuid(),
        status: case_study.status().map(Into::into),
        author: case_study.author().map(ToString::to_string),
        clients: case_study.clients().iter().map(|c| c.as_uuid()).collect(),
        funder: case_study.funder().map(ToString::to_string),
        body,
        body_sha256: case_study.body_sha256().map(|s| s.to_string()),
    }))
}

async fn write(
    ctx: &Context<'_>,
    id: CaseStudyId,
    command: CaseStudyCommand,
    new_ids: &[Uuid],
) -> Result<CaseStudyView> {
    let (principal, _) = member(ctx)?;
    let app = &services(ctx).app;
    app.write_case_study(&principal.tenant, &principal.actor, id, command, new_ids)
        .await
        .map_err(error)?;
    let case_study: Loaded<CaseStudy> = app
        .load(&principal.tenant, &stream("case_study", id)?)
        .await
        .map_err(error)?;
    view(ctx, &case_study.state)
        .await?
        .ok_or_else(|| bad_input(DomainError::not_found("case study")))
}

/// Seals `body` under the case study's key.
async fn seal(ctx: &Context<'_>, id: CaseStudyId, body: &str) -> Result<(Sealed, Sha256)> {
    let (principal, _) = member(ctx)?;
    let keys = &services(ctx).keys;
    let key = case_study_key(id)?;
    match keys.create_key(&principal.tenant, &key).await {
        Ok(()) | Err(KeyError::Exists { .. }) => {}
        Err(other) => return Err(internal(other)),
    }
    let sealed = keys
        .seal(&principal.tenant, &key, body.as_bytes())
        .await
        .map_err(internal)?;
    Ok((
        Sealed::new(key, sealed).map_err(bad_input)?,
        Sha256::of(body.as_bytes()),
    ))
}

fn case_study_id(id: Uuid) -> Result<CaseStudyId> {
    CaseStudyId::from_uuid(id).map_err(bad_input)
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
        let id = course_id(Uuid::now_v7())?;
        let tutors = tutors.iter().map(|t| user(t)).collect::<Result<_>>()?;
        course_command(
            ctx,
            id,
            CourseCommand::CreateCourse {
                title,
                starts_on,
                ends_on,
                tutors,
            },
            &[id.as_uuid()],
        )
        .await
    }

    async fn add_course_tutor(
        &self,
        ctx: &Context<'_>,
        course_id: Uuid,
        user_id: String,
    ) -> Result<CourseView> {
        let command = CourseCommand::AddCourseTutor {
            user_id: user(&user_id)?,
        };
        course_command(ctx, self::course_id(course_id)?, command, &[]).await
    }

    /// Enrols a student, whose recordings the course's tutors may then assess as their
    /// clients' consents allow.
    async fn enrol_in_course(
        &self,
        ctx: &Context<'_>,
        course_id: Uuid,
        user_id: String,
    ) -> Result<CourseView> {
        let command = CourseCommand::EnrolInCourse {
            user_id: user(&user_id)?,
        };
        course_command(ctx, self::course_id(course_id)?, command, &[]).await
    }

    /// Ends a course: every consent that ends with it expires in the same write, and its
    /// recordings become due for destruction after the tenant's grace.
    async fn end_course(
        &self,
        ctx: &Context<'_>,
        course_id: Uuid,
        ended_on: NaiveDate,
    ) -> Result<CourseView> {
        let (principal, _) = member(ctx)?;
        let id = self::course_id(course_id)?;
        services(ctx)
            .app
            .end_course(&principal.tenant, &principal.actor, id, ended_on)
            .await
            .map_err(error)?;
        load_course(ctx, id).await
    }

    /// Drafts a case study from clients' sessions; each client's consent must cover case
    /// studies. The text is sealed under the case study's own key.
    async fn create_case_study(
        &self,
        ctx: &Context<'_>,
        client_ids: Vec<Uuid>,
        body: String,
    ) -> Result<CaseStudyView> {
        let id = case_study_id(Uuid::now_v7())?;
        let clients = client_ids
            .into_iter()
            .map(|c| ClientId::from_uuid(c).map_err(bad_input))
            .collect::<Result<BTreeSet<_>>>()?;
        let (body, body_sha256) = seal(ctx, id, &body).await?;
        let command = CaseStudyCommand::DraftCaseStudy {
            clients,
            body,
            body_sha256,
            consents: Vec::new(),
        };
        write(ctx, id, command, &[id.as_uuid()]).await
    }

    /// The author replaces a draft's text.
    async fn revise_case_study(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        body: String,
    ) -> Result<CaseStudyView> {
        let id = case_study_id(id)?;
        let (body, body_sha256) = seal(ctx, id, &body).await?;
        write(
            ctx,
            id,
            CaseStudyCommand::ReviseCaseStudy { body, body_sha256 },
            &[],
        )
        .await
    }

    /// Publishes a draft to one funder, permanently: refused while the text names any of its
    /// clients (checked against their registered names) or a consent no longer covers it.
    async fn publish_case_study(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        funder: String,
    ) -> Result<CaseStudyView> {
        let (principal, _) = member(ctx)?;
        let services = services(ctx);
        let tenant = &principal.tenant;
        let id = case_study_id(id)?;
        let case_study: Loaded<CaseStudy> = services
            .app
            .load(tenant, &stream("case_study", id)?)
            .await
            .map_err(error)?;
        let sealed = case_study
            .state
            .body()
            .ok_or_else(|| bad_input(DomainError::not_found("case study")))?;
        let plaintext = services
            .keys
            .open(tenant, sealed.key_id(), sealed.ciphertext())
            .await
            .map_err(internal)?;
        let plaintext = String::from_utf8(plaintext).map_err(internal)?;
        let mut client_names = Vec::new();
        for client in case_study.state.clients() {
            let client: Loaded<Client> = services
                .app
                .load(tenant, &stream("client", client)?)
                .await
                .map_err(error)?;
            if let Some(details) = client.state.details() {
                match services
                    .keys
                    .open(tenant, details.key_id(), details.ciphertext())
                    .await
                {
                    Ok(bytes) => client_names.push(ClientDetails::from_bytes(&bytes)?.name),
                    // An erased client's name is gone; the domain refuses without it.
                    Err(KeyError::Destroyed { .. }) => {}
                    Err(other) => return Err(internal(other)),
                }
            }
        }
        let command = CaseStudyCommand::PublishCaseStudy {
            funder: user(&funder)?,
            plaintext,
            client_names,
            consents: Vec::new(),
        };
        write(ctx, id, command, &[]).await
    }

    /// Throws a draft away (its author or an org_admin).
    async fn discard_case_study(&self, ctx: &Context<'_>, id: Uuid) -> Result<CaseStudyView> {
        write(
            ctx,
            case_study_id(id)?,
            CaseStudyCommand::DiscardCaseStudy,
            &[],
        )
        .await
    }
}

#[Object]
impl CourseQuery {
    async fn course(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<CourseView>> {
        let (principal, _) = organisation_member(ctx).await?;
        let course: Loaded<Course> = services(ctx)
            .app
            .load(&principal.tenant, &stream("course", course_id(id)?)?)
            .await
            .map_err(error)?;
        Ok(CourseView::of(&course.state))
    }

    /// The case studies the caller may read: an org_admin all, a practitioner their own, a
    /// funder those published to them.
    async fn case_studies(&self, ctx: &Context<'_>) -> Result<Vec<CaseStudyView>> {
        let (principal, _) = member(ctx)?;
        let studies = services(ctx)
            .app
            .case_studies(&principal.tenant, &principal.actor)
            .await
            .map_err(error)?;
        let mut views = Vec::with_capacity(studies.len());
        for study in &studies {
            views.extend(view(ctx, study).await?);
        }
        Ok(views)
    }
}
