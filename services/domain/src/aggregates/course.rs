//! A training course: tutors, student practitioners, a start and an end. Its end starts the
//! retention clock for its recordings ("once the relevant training course has finished,
//! counsellors will destroy any recordings and any transcripts made from them").

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{CourseId, TenantId, UserId};
use crate::vocabulary::Role;

/// The course aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Course {
    id: Option<CourseId>,
    tenant_id: Option<TenantId>,
    title: String,
    starts_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
    tutors: BTreeSet<UserId>,
    students: BTreeSet<UserId>,
    ended_on: Option<NaiveDate>,
    version: u64,
}

impl Course {
    /// The course's id.
    pub fn id(&self) -> Option<CourseId> {
        self.id
    }

    /// The tenant.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The planned start.
    pub fn starts_on(&self) -> Option<NaiveDate> {
        self.starts_on
    }

    /// The planned end.
    pub fn ends_on(&self) -> Option<NaiveDate> {
        self.ends_on
    }

    /// The tutors.
    pub fn tutors(&self) -> &BTreeSet<UserId> {
        &self.tutors
    }

    /// The students.
    pub fn students(&self) -> &BTreeSet<UserId> {
        &self.students
    }

    /// When it actually ended, once it has.
    pub fn ended_on(&self) -> Option<NaiveDate> {
        self.ended_on
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of a course.
#[derive(Clone, Debug, PartialEq)]
pub enum CourseCommand {
    /// Create a course (takes new id 0).
    CreateCourse {
        /// The title.
        title: String,
        /// Planned start.
        starts_on: NaiveDate,
        /// Planned end.
        ends_on: NaiveDate,
        /// The first tutors (members with the tutor role).
        tutors: BTreeSet<UserId>,
    },
    /// Add a tutor.
    AddCourseTutor {
        /// A member with the tutor role.
        user_id: UserId,
    },
    /// Enrol a student practitioner.
    EnrolInCourse {
        /// A member with the practitioner role.
        user_id: UserId,
    },
    /// The course has finished.
    EndCourse {
        /// The day it finished.
        ended_on: NaiveDate,
    },
}

/// What a course records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CourseEvent {
    /// A course was created.
    CourseCreated {
        /// The course.
        course_id: CourseId,
        /// The tenant.
        tenant_id: TenantId,
        /// The title.
        title: String,
        /// Planned start.
        starts_on: NaiveDate,
        /// Planned end.
        ends_on: NaiveDate,
        /// The first tutors.
        tutors: BTreeSet<UserId>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A tutor was added.
    CourseTutorAdded {
        /// The tutor.
        user_id: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A student was enrolled.
    StudentEnrolled {
        /// The student.
        user_id: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The course finished.
    CourseEnded {
        /// The day.
        ended_on: NaiveDate,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(CourseEvent {
    CourseCreated => 1,
    CourseTutorAdded => 1,
    StudentEnrolled => 1,
    CourseEnded => 1,
});

fn require_member_role(ctx: &Ctx<'_>, user: &UserId, role: Role) -> Result<(), DomainError> {
    let holds = ctx
        .tenant()
        .and_then(|t| t.roles_of(user))
        .is_some_and(|roles| roles.contains(&role));
    if holds {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "user_id",
            format!("{user} is not a member with the {role} role"),
        ))
    }
}

impl Aggregate for Course {
    type Command = CourseCommand;
    type Event = CourseEvent;

    fn decide(
        &self,
        command: CourseCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<CourseEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        if let CourseCommand::CreateCourse {
            title,
            starts_on,
            ends_on,
            tutors,
        } = command
        {
            if self.id.is_some() {
                return Err(DomainError::conflict("the course already exists"));
            }
            ctx.require_role(Role::OrgAdmin, "create courses")?;
            crate::limits::text("title", &title, 200)?;
            crate::limits::session_date("starts_on", starts_on, at)?;
            crate::limits::session_date("ends_on", ends_on, at)?;
            if ends_on < starts_on {
                return Err(DomainError::invalid(
                    "ends_on",
                    "a course ends on or after it starts",
                ));
            }
            for tutor in &tutors {
                require_member_role(ctx, tutor, Role::Tutor)?;
            }
            let course_id = CourseId::from_uuid(ctx.new_id(0)?)?;
            return Ok(vec![CourseEvent::CourseCreated {
                course_id,
                tenant_id: ctx.tenant_id().clone(),
                title,
                starts_on,
                ends_on,
                tutors,
                by,
                at,
            }]);
        }
        if self.tenant_id.as_ref() != Some(ctx.tenant_id()) {
            return Err(not_found("course"));
        }
        ctx.require_role(Role::OrgAdmin, "manage courses")?;
        if self.ended_on.is_some() {
            return Err(DomainError::conflict("the course has ended"));
        }
        match command {
            CourseCommand::CreateCourse { .. } => {
                Err(DomainError::conflict("the course already exists"))
            }
            CourseCommand::AddCourseTutor { user_id } => {
                require_member_role(ctx, &user_id, Role::Tutor)?;
                if self.tutors.contains(&user_id) {
                    return Err(DomainError::conflict("already a tutor of this course"));
                }
                Ok(vec![CourseEvent::CourseTutorAdded { user_id, by, at }])
            }
            CourseCommand::EnrolInCourse { user_id } => {
                require_member_role(ctx, &user_id, Role::Practitioner)?;
                if self.students.contains(&user_id) {
                    return Err(DomainError::conflict("already enrolled"));
                }
                Ok(vec![CourseEvent::StudentEnrolled { user_id, by, at }])
            }
            CourseCommand::EndCourse { ended_on } => {
                if self.starts_on.is_some_and(|start| ended_on < start) {
                    return Err(DomainError::invalid(
                        "ended_on",
                        "a course cannot end before it starts",
                    ));
                }
                if ended_on > at.date_naive() {
                    return Err(DomainError::invalid(
                        "ended_on",
                        "a course is ended once it has finished, not in advance",
                    ));
                }
                Ok(vec![CourseEvent::CourseEnded { ended_on, by, at }])
            }
        }
    }

    fn apply(mut self, event: &CourseEvent) -> Self {
        self.version += 1;
        match event {
            CourseEvent::CourseCreated {
                course_id,
                tenant_id,
                title,
                starts_on,
                ends_on,
                tutors,
                ..
            } => {
                self.id = Some(*course_id);
                self.tenant_id = Some(tenant_id.clone());
                self.title = title.clone();
                self.starts_on = Some(*starts_on);
                self.ends_on = Some(*ends_on);
                self.tutors = tutors.clone();
            }
            CourseEvent::CourseTutorAdded { user_id, .. } => {
                self.tutors.insert(user_id.clone());
            }
            CourseEvent::StudentEnrolled { user_id, .. } => {
                self.students.insert(user_id.clone());
            }
            CourseEvent::CourseEnded { ended_on, .. } => {
                self.ended_on = Some(*ended_on);
            }
        }
        self
    }
}
