//! Courses (tutors, students, the end that expires their consents and starts their
//! recordings' grace) and case studies written from clients' sessions with their consent.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use confide_domain::aggregates::case_study::{CaseStudy, CaseStudyCommand};
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::course::{Course, CourseCommand};
use confide_domain::cascade::after_course_ended;
use confide_domain::limits::MAX_DOCUMENT_CHARS;
use confide_domain::{
    Actor, CaseStudyId, ClientId, CourseId, Ctx, DomainError, KeyId, Sealed, Sha256, SystemJob,
    TenantId, UserId, reads, text_block,
};
use confide_eventstore::StreamId;
use confide_vault::KeyError;
use uuid::Uuid;

use crate::{App, AppError, Caller, Subject, stream};

/// A case study with its text, opened where its key still exists.
#[derive(Clone, Debug)]
pub struct CaseStudyView {
    pub case_study: CaseStudy,
    /// The text; absent once its key is destroyed.
    pub body: Option<String>,
}

/// The key that seals a case study's text: its own, so the text outlives a client's erasure
/// only once published without their name.
fn case_study_key(id: CaseStudyId) -> KeyId {
    KeyId::of("case-study", id.as_uuid())
}

impl App {
    /// Creates a course (org_admin) with its first tutors.
    pub async fn create_course(
        &self,
        caller: &Caller,
        title: String,
        starts_on: NaiveDate,
        ends_on: NaiveDate,
        tutors: BTreeSet<UserId>,
    ) -> Result<Course, AppError> {
        let id = CourseId::from_uuid(Uuid::now_v7())?;
        let command = CourseCommand::CreateCourse {
            title,
            starts_on,
            ends_on,
            tutors,
        };
        self.course_command(caller, id, command, &[id.as_uuid()])
            .await
    }

    pub async fn add_course_tutor(
        &self,
        caller: &Caller,
        course_id: CourseId,
        user_id: UserId,
    ) -> Result<Course, AppError> {
        self.course_command(
            caller,
            course_id,
            CourseCommand::AddCourseTutor { user_id },
            &[],
        )
        .await
    }

    /// Enrols a student, whose recordings the course's tutors may then assess as their
    /// clients' consents allow.
    pub async fn enrol_in_course(
        &self,
        caller: &Caller,
        course_id: CourseId,
        user_id: UserId,
    ) -> Result<Course, AppError> {
        self.course_command(
            caller,
            course_id,
            CourseCommand::EnrolInCourse { user_id },
            &[],
        )
        .await
    }

    async fn course_command(
        &self,
        caller: &Caller,
        id: CourseId,
        command: CourseCommand,
        new_ids: &[Uuid],
    ) -> Result<Course, AppError> {
        reads::member(&caller.actor)?;
        self.execute::<Course>(&caller.tenant, &caller.actor, &stream(id), command, new_ids)
            .await?;
        self.existing_course(&caller.tenant, id).await
    }

    /// Ends a course and, in the same append, expires every consent in force that ends with
    /// it; the retention job then finds their recordings due after the tenant's grace.
    pub async fn end_course(
        &self,
        caller: &Caller,
        course_id: CourseId,
        ended_on: NaiveDate,
    ) -> Result<Course, AppError> {
        reads::member(&caller.actor)?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            Box::pin(async move {
                let target = stream(course_id);
                let course: Course = work.load(&target).await?;
                work.decide(&target, &course, CourseCommand::EndCourse { ended_on }, &[])?;
                let consents: Vec<(StreamId, Consent)> = work
                    .linked(&Subject::Course(course_id.to_string()), "consent")
                    .await?;
                let states: Vec<Consent> = consents.into_iter().map(|(_, c)| c).collect();
                let cascade = Actor::system(SystemJob::Cascade);
                for (consent_id, expired) in after_course_ended(course_id, work.now(), &states) {
                    work.write_as(&stream(consent_id), &[expired], &cascade)?;
                }
                Ok(())
            })
        })
        .await?;
        self.existing_course(&caller.tenant, course_id).await
    }

    /// The organisation's courses, shown to its members, in the order they were created.
    pub async fn courses(&self, caller: &Caller) -> Result<Vec<Course>, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        reads::organisation_member(&organisation, &caller.actor)?;
        let mut courses = Vec::new();
        for (_, (_, json)) in self.read.states_of_kind(&caller.tenant, "course").await? {
            let course: Course = confide_readmodels::parse_state(Some(&json))?;
            if course.id().is_some() {
                courses.push(course);
            }
        }
        courses.sort_by_key(|course| course.id().map(|id| id.as_uuid()));
        Ok(courses)
    }

    /// A course, shown to the organisation's members.
    pub async fn course(&self, caller: &Caller, id: CourseId) -> Result<Option<Course>, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        reads::organisation_member(&organisation, &caller.actor)?;
        let course = self
            .load::<Course>(&caller.tenant, &stream(id))
            .await?
            .state;
        Ok(course.id().is_some().then_some(course))
    }

    async fn existing_course(&self, tenant: &TenantId, id: CourseId) -> Result<Course, AppError> {
        let course = self.load::<Course>(tenant, &stream(id)).await?.state;
        course
            .id()
            .ok_or_else(|| DomainError::not_found("course"))?;
        Ok(course)
    }

    /// Drafts a case study from clients' sessions; each client's consent must cover case
    /// studies. The text is sealed under the case study's own key.
    pub async fn create_case_study(
        &self,
        caller: &Caller,
        clients: BTreeSet<ClientId>,
        body: &str,
    ) -> Result<CaseStudyView, AppError> {
        reads::member(&caller.actor)?;
        let id = CaseStudyId::from_uuid(Uuid::now_v7())?;
        let (body, body_sha256) = self.seal_case_study(&caller.tenant, id, body).await?;
        let command = CaseStudyCommand::DraftCaseStudy {
            clients,
            body,
            body_sha256,
            consents: Vec::new(),
        };
        self.write_case_study(caller, id, command, &[id.as_uuid()])
            .await
    }

    /// The author replaces a draft's text.
    pub async fn revise_case_study(
        &self,
        caller: &Caller,
        id: CaseStudyId,
        body: &str,
    ) -> Result<CaseStudyView, AppError> {
        reads::member(&caller.actor)?;
        let (body, body_sha256) = self.seal_case_study(&caller.tenant, id, body).await?;
        self.write_case_study(
            caller,
            id,
            CaseStudyCommand::ReviseCaseStudy { body, body_sha256 },
            &[],
        )
        .await
    }

    /// Publishes a draft to one funder, permanently: refused while the text names any of its
    /// clients (checked against their registered names) or a consent no longer covers it.
    pub async fn publish_case_study(
        &self,
        caller: &Caller,
        id: CaseStudyId,
        funder: UserId,
    ) -> Result<CaseStudyView, AppError> {
        reads::member(&caller.actor)?;
        let tenant = &caller.tenant;
        let case_study = self.load::<CaseStudy>(tenant, &stream(id)).await?.state;
        let sealed = case_study
            .body()
            .ok_or_else(|| DomainError::not_found("case study"))?;
        let plaintext = self
            .keys
            .open(tenant, sealed.key_id(), sealed.ciphertext())
            .await?;
        let plaintext = String::from_utf8(plaintext)
            .map_err(|_| DomainError::invalid("body", "the case study's text is not UTF-8"))?;
        let mut client_names = Vec::new();
        for client in case_study.clients() {
            let client: Client = self.load(tenant, &stream(*client)).await?.state;
            // An erased client's name is gone; the domain refuses without it.
            if let Some(details) = self.client_details(tenant, &client).await? {
                client_names.push(details.name);
            }
        }
        let command = CaseStudyCommand::PublishCaseStudy {
            funder,
            plaintext,
            client_names,
            consents: Vec::new(),
        };
        self.write_case_study(caller, id, command, &[]).await
    }

    /// Throws a draft away (its author or an org_admin).
    pub async fn discard_case_study(
        &self,
        caller: &Caller,
        id: CaseStudyId,
    ) -> Result<CaseStudyView, AppError> {
        reads::member(&caller.actor)?;
        self.write_case_study(caller, id, CaseStudyCommand::DiscardCaseStudy, &[])
            .await
    }

    /// Drafts, revises, publishes or discards a case study whose text is already sealed.
    /// Drafting and publishing rest on each client's `case_study` consent: the consents are
    /// loaded here (whatever the command carried is replaced), so the append is conditioned
    /// on every one of them and a withdrawal committed meanwhile makes it decide again.
    pub async fn write_case_study(
        &self,
        caller: &Caller,
        id: CaseStudyId,
        command: CaseStudyCommand,
        new_ids: &[Uuid],
    ) -> Result<CaseStudyView, AppError> {
        let new_ids = new_ids.to_vec();
        self.transact(&caller.tenant, &caller.actor, move |work| {
            let (mut command, new_ids) = (command.clone(), new_ids.clone());
            Box::pin(async move {
                let target = stream(id);
                let case_study: CaseStudy = work.load(&target).await?;
                let clients = match &command {
                    CaseStudyCommand::DraftCaseStudy { clients, .. } => clients.clone(),
                    _ => case_study.clients().clone(),
                };
                let mut loaded = Vec::new();
                for client in &clients {
                    let consents: Vec<(StreamId, Consent)> = work
                        .linked(&Subject::Client(client.to_string()), "consent")
                        .await?;
                    loaded.extend(consents.into_iter().map(|(_, c)| c));
                }
                if let CaseStudyCommand::DraftCaseStudy { consents, .. }
                | CaseStudyCommand::PublishCaseStudy { consents, .. } = &mut command
                {
                    *consents = loaded;
                }
                work.decide(&target, &case_study, command, &new_ids)
            })
        })
        .await?;
        let case_study = self
            .load::<CaseStudy>(&caller.tenant, &stream(id))
            .await?
            .state;
        case_study
            .id()
            .ok_or_else(|| DomainError::not_found("case study"))?;
        self.open_case_study(&caller.tenant, case_study).await
    }

    /// Seals `body` under the case study's key.
    async fn seal_case_study(
        &self,
        tenant: &TenantId,
        id: CaseStudyId,
        body: &str,
    ) -> Result<(Sealed, Sha256), AppError> {
        text_block("body", body, MAX_DOCUMENT_CHARS)?;
        let key = case_study_key(id);
        match self.keys.create_key(tenant, &key).await {
            Ok(()) | Err(KeyError::Exists { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        let sealed = self.keys.seal(tenant, &key, body.as_bytes()).await?;
        Ok((Sealed::new(key, sealed)?, Sha256::of(body.as_bytes())))
    }

    async fn open_case_study(
        &self,
        tenant: &TenantId,
        case_study: CaseStudy,
    ) -> Result<CaseStudyView, AppError> {
        let body = match case_study.body() {
            Some(sealed) => match self
                .keys
                .open(tenant, sealed.key_id(), sealed.ciphertext())
                .await
            {
                Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Err(KeyError::Destroyed { .. } | KeyError::Unknown { .. }) => None,
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        Ok(CaseStudyView { case_study, body })
    }

    /// The case studies the caller may read: all of them for an `org_admin`, a practitioner's
    /// own, and for a funder those published to them.
    pub async fn case_studies(&self, caller: &Caller) -> Result<Vec<CaseStudyView>, AppError> {
        reads::member(&caller.actor)?;
        let organisation = self.organisation(&caller.tenant).await?;
        let ctx = Ctx::new(
            caller.tenant.clone(),
            &organisation,
            caller.actor.clone(),
            self.clock.now(),
        );
        let readable: Vec<CaseStudy> = self
            .linked::<CaseStudy>(&caller.tenant, &Subject::CaseStudies, "case_study")
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| c.readable_by(&ctx) && c.id().is_some())
            .collect();
        let mut views = Vec::with_capacity(readable.len());
        for case_study in readable {
            views.push(self.open_case_study(&caller.tenant, case_study).await?);
        }
        Ok(views)
    }
}
