//! Background work across nodes: two applications over one PostgreSQL database stand for two
//! Confide nodes. A tenant's retention and destruction job runs on the node holding its lease;
//! racing, the two destroy every due recording exactly once; a lease whose node died keeps the
//! job from the others only until it expires, and then one of them takes it over; two runners
//! of an asynchronous projection apply each event once. On SQLite, one process's database, the
//! one node always holds the lease.

use std::time::{Duration, Instant};

use confide_app::{App, DESTRUCTION_JOB, Leases};
use confide_domain::aggregates::recording::Recording;
use confide_domain::{Purpose, RecordingId, Role};
use confide_eventstore::{PgEventStore, TenantId};

use crate::stories::{Story, story_in, terms};

/// How long a test waits for a lease to expire before failing.
const DEADLINE: Duration = Duration::from_secs(20);

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

#[tokio::test]
async fn one_holder_at_a_time_renewed_by_it_released_and_taken_over_once_expired() {
    let store = confide_test_support::app_postgres().await;
    let clinic = tenant("leased-clinic");
    let long = Duration::from_secs(60);

    // Eight nodes ask at once: exactly one gets it.
    let asks = (0..8).map(|n| {
        let (store, clinic) = (store.clone(), clinic.clone());
        tokio::spawn(async move {
            store
                .take_lease(&clinic, DESTRUCTION_JOB, &format!("node-{n}"), long)
                .await
                .unwrap()
        })
    });
    let mut granted = Vec::new();
    for (n, ask) in asks.enumerate() {
        if ask.await.unwrap() {
            granted.push(n);
        }
    }
    assert_eq!(granted.len(), 1, "granted to {granted:?}");
    let holder = format!("node-{}", granted[0]);
    let other = format!("node-{}", (granted[0] + 1) % 8);

    // Its holder renews it; nobody else gets it; another tenant's lease is apart.
    assert!(
        store
            .take_lease(&clinic, DESTRUCTION_JOB, &holder, long)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_lease(&clinic, DESTRUCTION_JOB, &other, long)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_lease(&tenant("another-clinic"), DESTRUCTION_JOB, &other, long)
            .await
            .unwrap()
    );

    // Given up, it is the next asker's at once.
    store
        .release_lease(&clinic, DESTRUCTION_JOB, &holder)
        .await
        .unwrap();
    assert!(
        store
            .take_lease(&clinic, DESTRUCTION_JOB, &other, Duration::from_millis(300))
            .await
            .unwrap()
    );

    // Its holder dies (stops renewing): the lease is the others' once it has expired.
    assert!(
        !store
            .take_lease(&clinic, DESTRUCTION_JOB, &holder, long)
            .await
            .unwrap()
    );
    let started = Instant::now();
    while !store
        .take_lease(&clinic, DESTRUCTION_JOB, &holder, long)
        .await
        .unwrap()
    {
        assert!(
            started.elapsed() < DEADLINE,
            "an expired lease was never taken over"
        );
        tokio::task::yield_now().await;
    }
}

/// Two clinics on one database, each with two recordings past their retention.
async fn clinics_with_due_recordings(store: &PgEventStore) -> (Vec<Story>, Vec<RecordingId>) {
    let mut stories = Vec::new();
    let mut recordings = Vec::new();
    for name in ["north-clinic", "south-clinic"] {
        let story = story_in(store.clone(), name);
        story
            .counselling_service(&[("sam", Role::Practitioner), ("ada", Role::Tutor)])
            .await;
        let (_, consent) = story
            .consent("sam", vec![terms(Purpose::CourseAssessment, &["ada"])])
            .await;
        story.clock.day(1);
        for _ in 0..2 {
            recordings.push(story.record("sam", consent).await);
        }
        // A year and more later: every recording is due for destruction.
        story.clock.day(400);
        stories.push(story);
    }
    (stories, recordings)
}

/// A second node: another application over the same database, on the same clock.
fn second_node(store: &PgEventStore, story: &Story) -> App {
    App::new(crate::parts(store.clone(), story.clock.clone()))
}

async fn destroyed_once(stories: &[Story], recordings: &[RecordingId]) {
    for story in stories {
        for recording in recordings {
            let events = story.recording_events(*recording).await;
            if events.is_empty() {
                continue; // Another clinic's.
            }
            for event in ["RecordingDestructionScheduled", "RecordingDestroyed"] {
                let count = events.iter().filter(|e| *e == event).count();
                assert_eq!(count, 1, "{event} in {events:?}");
            }
            let state: Recording = story
                .app
                .load(&story.tenant, &confide_app::stream(*recording))
                .await
                .unwrap()
                .state;
            assert!(state.destroyed_at().is_some());
        }
    }
}

#[tokio::test]
async fn two_nodes_racing_destroy_every_due_recording_exactly_once() {
    let store = confide_test_support::app_postgres().await;
    let (stories, recordings) = clinics_with_due_recordings(&store).await;
    let first = second_node(&store, &stories[0]);
    let second = second_node(&store, &stories[0]);
    assert_ne!(first.node(), second.node());
    let (a, b) = tokio::join!(first.run_destruction_jobs(), second.run_destruction_jobs());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, recordings.len(), "destroyed {a} and {b}");
    destroyed_once(&stories, &recordings).await;
    // Run again, on either node: nothing is left.
    let (a, b) = tokio::join!(first.run_destruction_jobs(), second.run_destruction_jobs());
    assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
}

#[tokio::test]
async fn a_dead_nodes_job_is_taken_over_once_its_lease_expires() {
    let store = confide_test_support::app_postgres().await;
    let (stories, recordings) = clinics_with_due_recordings(&store).await;
    // A node took both clinics' leases and died before doing anything.
    for story in &stories {
        assert!(
            store
                .take_lease(
                    &story.tenant,
                    DESTRUCTION_JOB,
                    "dead-node",
                    Duration::from_millis(500)
                )
                .await
                .unwrap()
        );
    }
    let live = second_node(&store, &stories[0]);
    assert_eq!(
        live.run_destruction_jobs().await.unwrap(),
        0,
        "the job is the lease holder's while its lease lasts"
    );
    for story in &stories {
        for recording in &recordings {
            assert!(
                !story
                    .recording_events(*recording)
                    .await
                    .contains(&"RecordingDestroyed".to_owned())
            );
        }
    }
    // Once the lease has expired, the live node's next run does the dead node's work.
    let started = Instant::now();
    let mut destroyed = 0;
    while destroyed < recordings.len() {
        assert!(
            started.elapsed() < DEADLINE,
            "the dead node's job was never taken over"
        );
        destroyed += live.run_destruction_jobs().await.unwrap();
    }
    assert_eq!(destroyed, recordings.len());
    destroyed_once(&stories, &recordings).await;
}

#[tokio::test]
async fn on_sqlite_the_one_node_always_holds_the_lease() {
    let store = confide_test_support::app_sqlite().await;
    let clinic = tenant("embedded-clinic");
    let long = Duration::from_secs(60);
    assert!(
        store
            .take_lease(&clinic, DESTRUCTION_JOB, "node-a", long)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_lease(&clinic, DESTRUCTION_JOB, "node-b", long)
            .await
            .unwrap()
    );
}

/// Two nodes run the asynchronous recording list at once: each batch is applied by one of
/// them (the projection's advisory lock), so together they apply every event of the log
/// exactly once, and the rows are those a rebuild gives.
#[tokio::test]
async fn two_projection_runners_racing_apply_each_event_once() {
    use confide_app::{Lists, RecordingList};
    use confide_eventstore::{EventStore, ProjectionRunner};

    let store = confide_test_support::app_postgres().await;
    let (stories, recordings) = clinics_with_due_recordings(&store).await;
    let logged: u64 = store
        .tenant_sizes()
        .await
        .unwrap()
        .iter()
        .map(|(_, size)| size)
        .sum();
    let host = std::sync::Arc::new(store.clone());
    let runner = || {
        ProjectionRunner::new(host.clone(), std::sync::Arc::new(RecordingList)).with_batch_size(5)
    };
    let (first, second) = (runner(), runner());
    let (a, b) = tokio::join!(first.catch_up(), second.catch_up());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a + b) as u64,
        logged,
        "applied {a} and {b} of {logged} events"
    );
    let mut live = Vec::new();
    for story in &stories {
        live.push(store.recording_list(&story.tenant).await.unwrap());
    }
    assert_eq!(live.iter().map(Vec::len).sum::<usize>(), recordings.len());
    assert!(first.rebuild().await.unwrap() > 0);
    for (story, rows) in stories.iter().zip(&live) {
        assert_eq!(&store.recording_list(&story.tenant).await.unwrap(), rows);
    }
}
