use std::collections::BTreeSet;

use crate::aggregates::course::{CourseCommand, CourseEvent};
use crate::ids::CourseId;
use crate::testing::*;

fn course_id() -> CourseId {
    CourseId::from_uuid(uuid(7)).unwrap()
}

fn created() -> CourseEvent {
    CourseEvent::CourseCreated {
        course_id: course_id(),
        tenant_id: tenant_id(),
        title: "Diploma in Counselling".into(),
        starts_on: date(-10),
        ends_on: date(100),
        tutors: BTreeSet::from([user("ada")]),
        by: by("admin"),
        at: t(-10, 9),
    }
}

#[test]
fn create_course_with_its_tutors() {
    let tenant = tenant(written_policy());
    let ids = [uuid(7)];
    given::<CourseEvent>([])
        .when(
            CourseCommand::CreateCourse {
                title: "Diploma in Counselling".into(),
                starts_on: date(-10),
                ends_on: date(100),
                tutors: BTreeSet::from([user("ada")]),
            },
            &as_user(&tenant, "admin", t(-10, 9)).with_new_ids(&ids),
        )
        .then(vec![created()]);
}

#[test]
fn create_course_checks_dates_tutors_and_role() {
    let tenant = tenant(written_policy());
    let ids = [uuid(7)];
    let admin = as_user(&tenant, "admin", t(-10, 9)).with_new_ids(&ids);
    let command = |starts_on, ends_on, tutor: &str| CourseCommand::CreateCourse {
        title: "Diploma".into(),
        starts_on,
        ends_on,
        tutors: BTreeSet::from([user(tutor)]),
    };
    given::<CourseEvent>([])
        .when(command(date(10), date(5), "ada"), &admin)
        .then_error("invalid", "ends on or after");
    given::<CourseEvent>([])
        .when(command(date(0), date(5), "sam"), &admin)
        .then_error("invalid", "tutor role");
    given::<CourseEvent>([])
        .when(
            command(date(0), date(5), "ada"),
            &as_user(&tenant, "ada", t(0, 9)).with_new_ids(&ids),
        )
        .then_error("forbidden", "org_admin");
}

#[test]
fn add_course_tutor_and_enrol_students() {
    let tenant = tenant(written_policy());
    let admin = as_user(&tenant, "admin", t(0, 9));
    let state = given([created()])
        .when(
            CourseCommand::AddCourseTutor {
                user_id: user("bob"),
            },
            &admin,
        )
        .then(vec![CourseEvent::CourseTutorAdded {
            user_id: user("bob"),
            by: by("admin"),
            at: t(0, 9),
        }]);
    assert!(state.tutors().contains(&user("bob")));
    let state = given([created()])
        .when(
            CourseCommand::EnrolInCourse {
                user_id: user("sam"),
            },
            &admin,
        )
        .then(vec![CourseEvent::StudentEnrolled {
            user_id: user("sam"),
            by: by("admin"),
            at: t(0, 9),
        }]);
    assert!(state.students().contains(&user("sam")));
    given([created()])
        .when(
            CourseCommand::AddCourseTutor {
                user_id: user("ada"),
            },
            &admin,
        )
        .then_error("conflict", "already a tutor");
    given([created()])
        .when(
            CourseCommand::EnrolInCourse {
                user_id: user("ada"),
            },
            &admin,
        )
        .then_error("invalid", "practitioner role");
}

#[test]
fn end_course_once_it_has_finished() {
    let tenant = tenant(written_policy());
    let state = given([created()])
        .when(
            CourseCommand::EndCourse {
                ended_on: date(100),
            },
            &as_user(&tenant, "admin", t(100, 17)),
        )
        .then(vec![CourseEvent::CourseEnded {
            ended_on: date(100),
            by: by("admin"),
            at: t(100, 17),
        }]);
    assert_eq!(state.ended_on(), Some(date(100)));
    given([created()])
        .when(
            CourseCommand::EndCourse {
                ended_on: date(101),
            },
            &as_user(&tenant, "admin", t(100, 17)),
        )
        .then_error("invalid", "not in advance");
    given([
        created(),
        CourseEvent::CourseEnded {
            ended_on: date(100),
            by: by("admin"),
            at: t(100, 17),
        },
    ])
    .when(
        CourseCommand::EnrolInCourse {
            user_id: user("pat"),
        },
        &as_user(&tenant, "admin", t(101, 9)),
    )
    .then_error("conflict", "has ended");
}
