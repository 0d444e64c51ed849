use crate::aggregates::subject_request::*;
use crate::context::Actor;
use crate::ids::SubjectRequestId;
use crate::testing::*;
use crate::vocabulary::Jurisdiction;

fn opened(
    jurisdiction: Jurisdiction,
    due_by: chrono::DateTime<chrono::Utc>,
) -> SubjectRequestEvent {
    SubjectRequestEvent::SubjectRequestOpened {
        subject_request_id: SubjectRequestId::from_uuid(uuid(60)).unwrap(),
        tenant_id: tenant_id(),
        client_id: client_id(),
        kind: SubjectRequestKind::Copy,
        jurisdiction,
        received_at: t(25, 9),
        due_by,
        by: Actor::client(client_id()),
        at: t(25, 10),
    }
}

#[test]
fn open_subject_request_sets_the_jurisdictions_deadline() {
    // Day 25 is 31 January 2025: one calendar month later is 28 February.
    let tenant = tenant(written_policy());
    let ids = [uuid(60)];
    let due = "2025-02-28T09:00:00Z".parse().unwrap();
    given::<SubjectRequestEvent>([])
        .when(
            SubjectRequestCommand::OpenSubjectRequest {
                client: Box::new(client()),
                kind: SubjectRequestKind::Copy,
                received_at: t(25, 9),
            },
            &as_client(&tenant, t(25, 10)).with_new_ids(&ids),
        )
        .then(vec![opened(Jurisdiction::UkGdpr, due)]);
    // Under CCPA the same request is due in 45 days.
    let ccpa = crate::testing::tenant(notice_policy());
    let events = given::<SubjectRequestEvent>([])
        .when(
            SubjectRequestCommand::OpenSubjectRequest {
                client: Box::new(client()),
                kind: SubjectRequestKind::Copy,
                received_at: t(25, 9),
            },
            &as_client(&ccpa, t(25, 10)).with_new_ids(&ids),
        )
        .events();
    assert_eq!(events, vec![opened(Jurisdiction::Ccpa, t(70, 9))]);
}

#[test]
fn open_subject_request_refuses_future_receipt_and_strangers() {
    let tenant = tenant(written_policy());
    let ids = [uuid(60)];
    let open = |received_at| SubjectRequestCommand::OpenSubjectRequest {
        client: Box::new(client()),
        kind: SubjectRequestKind::Erasure,
        received_at,
    };
    given::<SubjectRequestEvent>([])
        .when(
            open(t(26, 0)),
            &as_client(&tenant, t(25, 10)).with_new_ids(&ids),
        )
        .then_error("invalid", "future");
    given::<SubjectRequestEvent>([])
        .when(
            open(t(25, 9)),
            &as_user(&tenant, "aude", t(25, 10)).with_new_ids(&ids),
        )
        .then_error("forbidden", "subject request");
}

#[test]
fn extend_the_deadline_once_before_it_passes_where_the_law_allows() {
    let tenant = tenant(written_policy());
    let due: chrono::DateTime<chrono::Utc> = "2025-02-28T09:00:00Z".parse().unwrap();
    let extended_due = "2025-04-28T09:00:00Z".parse().unwrap();
    let admin = as_user(&tenant, "admin", t(40, 9));
    let extend = || SubjectRequestCommand::ExtendSubjectRequestDeadline {
        reason: "The recordings span two courses and need review.".into(),
    };
    let state = given([opened(Jurisdiction::UkGdpr, due)])
        .when(extend(), &admin)
        .then(vec![SubjectRequestEvent::SubjectRequestDeadlineExtended {
            due_by: extended_due,
            reason: "The recordings span two courses and need review.".into(),
            by: by("admin"),
            at: t(40, 9),
        }]);
    assert_eq!(state.due_by(), Some(extended_due));
    given([
        opened(Jurisdiction::UkGdpr, due),
        SubjectRequestEvent::SubjectRequestDeadlineExtended {
            due_by: extended_due,
            reason: "r".into(),
            by: by("admin"),
            at: t(40, 9),
        },
    ])
    .when(extend(), &admin)
    .then_error("conflict", "already been extended");
    given([opened(Jurisdiction::UkGdpr, due)])
        .when(extend(), &as_user(&tenant, "admin", t(60, 9)))
        .then_error("conflict", "has passed");
    given([opened(Jurisdiction::Pdpa, due)])
        .when(extend(), &admin)
        .then_error("conflict", "no extension");
}

#[test]
fn decide_subject_request_records_lateness_and_reasons() {
    let tenant = tenant(written_policy());
    let due: chrono::DateTime<chrono::Utc> = "2025-02-28T09:00:00Z".parse().unwrap();
    let state = given([opened(Jurisdiction::UkGdpr, due)])
        .when(
            SubjectRequestCommand::DecideSubjectRequest {
                outcome: SubjectRequestOutcome::Granted,
                reason: None,
            },
            &as_user(&tenant, "admin", t(60, 9)),
        )
        .then(vec![SubjectRequestEvent::SubjectRequestDecided {
            outcome: SubjectRequestOutcome::Granted,
            reason: None,
            late: true,
            by: by("admin"),
            at: t(60, 9),
        }]);
    assert!(!state.is_overdue(t(61, 9)));
    assert!(
        crate::testing::given([opened(Jurisdiction::UkGdpr, due)])
            .state()
            .is_overdue(t(61, 9))
    );
    given([opened(Jurisdiction::UkGdpr, due)])
        .when(
            SubjectRequestCommand::DecideSubjectRequest {
                outcome: SubjectRequestOutcome::Refused,
                reason: None,
            },
            &as_user(&tenant, "admin", t(30, 9)),
        )
        .then_error("invalid", "says why");
    given([opened(Jurisdiction::UkGdpr, due)])
        .when(
            SubjectRequestCommand::DecideSubjectRequest {
                outcome: SubjectRequestOutcome::Granted,
                reason: None,
            },
            &as_user(&tenant, "sam", t(30, 9)),
        )
        .then_error("forbidden", "org_admin");
}
