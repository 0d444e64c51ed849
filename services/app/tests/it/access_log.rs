//! The organisation's access log: every playback allowed and refused across the tenant, for
//! its administrators only, filtered and paged by the log's sequence.

use chrono::TimeDelta;
use confide_app::{AccessLogFilter, AccessOutcome, Caller, Clock, MAX_PAGE, PageRequest};
use confide_domain::{Actor, DomainError, Medium, Purpose, Role, UserId};
use confide_test_support::both_backends;

use crate::stories::{Story, story_in, terms};

fn caller(story: &Story, who: &str) -> Caller {
    Caller {
        tenant: story.tenant.clone(),
        actor: Actor::user(UserId::parse(who).unwrap()),
    }
}

async fn the_access_log_lists_every_attempt_for_the_administrator(story: Story) {
    story
        .counselling_service(&[
            ("sam", Role::Practitioner),
            ("ada", Role::Tutor),
            ("cai", Role::Tutor),
        ])
        .await;
    let (_, consent_id) = story
        .consent("sam", vec![terms(Purpose::CourseAssessment, &["ada"])])
        .await;
    story.clock.day(1);
    let first = story.record("sam", consent_id).await;
    let second = story.record("sam", consent_id).await;
    let app = &story.app;
    // Ada plays each twice; Cai is refused once; then days pass and Ada plays once more.
    for recording in [first, second, first, second] {
        app.start_playback(
            &caller(&story, "ada"),
            recording,
            Purpose::CourseAssessment,
            Medium::Audio,
        )
        .await
        .unwrap();
    }
    app.start_playback(
        &caller(&story, "cai"),
        first,
        Purpose::CourseAssessment,
        Medium::Audio,
    )
    .await
    .unwrap();
    story.clock.day(5);
    app.start_playback(
        &caller(&story, "ada"),
        second,
        Purpose::CourseAssessment,
        Medium::Audio,
    )
    .await
    .unwrap();

    let admin = caller(&story, "admin");
    let all =
        |first: usize, after: Option<String>| PageRequest::new(first, after, MAX_PAGE).unwrap();
    let everything = app
        .access_log_page(&admin, &AccessLogFilter::default(), &all(MAX_PAGE, None))
        .await
        .unwrap();
    assert_eq!(everything.rows.len(), 6);
    assert!(!everything.has_next_page);
    let sequences: Vec<u64> = everything.rows.iter().map(|(_, a)| a.sequence).collect();
    assert!(sequences.is_sorted(), "in the log's order: {sequences:?}");

    // Pages of two follow one another through their cursors, with nothing lost or repeated.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .access_log_page(&admin, &AccessLogFilter::default(), &all(2, after))
            .await
            .unwrap();
        assert!(page.rows.len() <= 2);
        paged.extend(page.rows.iter().map(|(_, a)| a.sequence));
        if !page.has_next_page {
            break;
        }
        after = page.rows.last().map(|(cursor, _)| cursor.clone());
    }
    assert_eq!(paged, sequences);

    // Filters: the refused attempt, with its reasons; one person; one recording; dates.
    let refused = app
        .access_log_page(
            &admin,
            &AccessLogFilter {
                outcome: Some(AccessOutcome::Refused),
                ..AccessLogFilter::default()
            },
            &all(10, None),
        )
        .await
        .unwrap();
    assert_eq!(refused.rows.len(), 1);
    let attempt = &refused.rows[0].1;
    assert_eq!(attempt.person(), "cai");
    assert_eq!(attempt.recording_id, first);
    assert!(!attempt.reasons.is_empty());
    let count = |filter: AccessLogFilter| {
        let admin = admin.clone();
        async move {
            app.access_log_page(&admin, &filter, &all(MAX_PAGE, None))
                .await
                .unwrap()
                .rows
                .len()
        }
    };
    let ada = || AccessLogFilter {
        person: Some("ada".to_owned()),
        ..AccessLogFilter::default()
    };
    assert_eq!(count(ada()).await, 5);
    assert_eq!(
        count(AccessLogFilter {
            recording: Some(second),
            ..ada()
        })
        .await,
        3
    );
    let day_five = story.clock.now();
    assert_eq!(
        count(AccessLogFilter {
            from: Some(day_five - TimeDelta::hours(1)),
            ..AccessLogFilter::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(AccessLogFilter {
            until: Some(day_five - TimeDelta::hours(1)),
            ..AccessLogFilter::default()
        })
        .await,
        5
    );

    // Only an org_admin reads it: a practitioner, a tutor and an auditor are refused.
    for who in ["sam", "ada"] {
        let refusal = app
            .access_log_page(
                &caller(&story, who),
                &AccessLogFilter::default(),
                &all(10, None),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                refusal,
                confide_app::AppError::Domain(DomainError::Forbidden { .. })
            ),
            "{refusal:?}"
        );
    }
    // A cursor no page gave is refused.
    assert!(
        app.access_log_page(
            &admin,
            &AccessLogFilter::default(),
            &all(2, Some("x".into()))
        )
        .await
        .is_err()
    );
}

both_backends!(
    sqlite => confide_test_support::app_sqlite().await,
    postgres => confide_test_support::app_postgres().await,
    |store| case(story_in(store, "access-log"));
    the_access_log_lists_every_attempt_for_the_administrator,
);
