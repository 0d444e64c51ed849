//! Sessions of the organisation's people on the pages, on both backends, with a clock the
//! test moves: a session ends after its idle time without use, at its absolute lifetime
//! however much it is used, and when signed out; a session's secret is bound to its tenant;
//! two nodes on one database share the sessions; and the tenants a person may sign in to are
//! those they are a member of, by membership events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use confide_app::{App, Clock, MemberSignIn, ReadModels, SESSION_LIFETIME};
use confide_domain::{Actor, TenantId, UserId};
use confide_eventstore::EventStore;
use confide_test_support::both_backends;

use crate::execute::counselling_service;

/// A clock the test moves.
#[derive(Clone)]
struct MovingClock(Arc<Mutex<DateTime<Utc>>>);

impl MovingClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap(),
        )))
    }

    fn pass(&self, minutes: i64) {
        *self.0.lock().unwrap() += TimeDelta::minutes(minutes);
    }
}

impl Clock for MovingClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

const IDLE: Duration = Duration::from_secs(30 * 60);

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// Two applications (two nodes) over one store, sharing `clock`.
fn nodes<S>(store: S, clock: &MovingClock) -> (App, App)
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    (
        App::new(crate::parts(store.clone(), Arc::new(clock.clone()))),
        App::new(crate::parts(store, Arc::new(clock.clone()))),
    )
}

async fn idle_absolute_and_signed_out<S>(store: S)
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    let clock = MovingClock::new();
    let (one, other) = nodes(store, &clock);
    let clinic = tenant(&format!("sessions-{}", uuid::Uuid::new_v4().simple()));
    let session = one
        .start_staff_session(&clinic, &user("ana"))
        .await
        .unwrap();
    assert!(session.starts_with(&format!("{}.", clinic.as_str())));

    // Read on the other node: the same person, in the same tenant.
    let caller = other.staff_session(&session, IDLE).await.unwrap().unwrap();
    assert_eq!(caller.tenant, clinic);
    assert_eq!(caller.actor, Actor::user(user("ana")));

    // Used every 29 minutes it stays open, until its lifetime is reached.
    let lifetime = i64::try_from(SESSION_LIFETIME.as_secs() / 60).unwrap();
    let mut passed = 0;
    while passed + 29 < lifetime {
        clock.pass(29);
        passed += 29;
        assert!(
            one.staff_session(&session, IDLE).await.unwrap().is_some(),
            "{passed}"
        );
    }
    clock.pass(lifetime - passed);
    assert!(one.staff_session(&session, IDLE).await.unwrap().is_none());
    // Once ended, it stays ended.
    assert!(other.staff_session(&session, IDLE).await.unwrap().is_none());

    // Idle: 30 minutes unused end it.
    let session = one
        .start_staff_session(&clinic, &user("ana"))
        .await
        .unwrap();
    clock.pass(30);
    assert!(one.staff_session(&session, IDLE).await.unwrap().is_none());

    // Signed out on one node: ended on the other.
    let session = one
        .start_staff_session(&clinic, &user("ana"))
        .await
        .unwrap();
    one.end_staff_session(&session).await.unwrap();
    assert!(other.staff_session(&session, IDLE).await.unwrap().is_none());

    // A secret is bound to its tenant; made-up or malformed sessions open nothing.
    let session = one
        .start_staff_session(&clinic, &user("ana"))
        .await
        .unwrap();
    let (_, secret) = session.split_once('.').unwrap();
    for forged in [
        format!("elsewhere.{secret}"),
        format!("{}.{}", clinic.as_str(), "0".repeat(64)),
        format!("{}.{}", clinic.as_str(), &secret[..63]),
        secret.to_owned(),
        String::new(),
    ] {
        assert!(
            one.staff_session(&forged, IDLE).await.unwrap().is_none(),
            "{forged}"
        );
    }
    assert!(one.staff_session(&session, IDLE).await.unwrap().is_some());
}

async fn the_tenants_a_person_is_a_member_of<S>(store: S)
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    let clock = MovingClock::new();
    let (app, _) = nodes(store, &clock);
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let north = tenant(&format!("north-{suffix}"));
    let south = tenant(&format!("south-{suffix}"));
    let admin = user(&format!("both-{suffix}"));
    app.create_tenant(&north, "North".into(), counselling_service(), admin.clone())
        .await
        .unwrap();
    app.create_tenant(&south, "South".into(), counselling_service(), admin.clone())
        .await
        .unwrap();
    let found = app.member_tenants(&admin).await.unwrap();
    let names: Vec<_> = found.iter().map(|m| m.organisation.as_str()).collect();
    assert_eq!(names, ["North", "South"]);
    assert_eq!(found[0].tenant, north);
    assert!(
        app.member_tenants(&user(&format!("nobody-{suffix}")))
            .await
            .unwrap()
            .is_empty()
    );

    // Signing in: a member of both chooses; a named tenant begins a session there; someone
    // who belongs nowhere, or not to the tenant named, gets no session.
    assert_eq!(
        app.sign_in_member(&admin, None).await.unwrap(),
        MemberSignIn::Choose(found)
    );
    let MemberSignIn::Started {
        tenant: signed_in_to,
        session,
    } = app.sign_in_member(&admin, Some(&south)).await.unwrap()
    else {
        panic!("a member of South signs in to South");
    };
    assert_eq!(signed_in_to, south);
    let caller = app.staff_session(&session, IDLE).await.unwrap().unwrap();
    assert_eq!(caller.tenant, south);
    assert_eq!(caller.actor, Actor::User { user_id: admin });
    let only_north = user(&format!("north-only-{suffix}"));
    let west = tenant(&format!("west-{suffix}"));
    app.create_tenant(
        &west,
        "West".into(),
        counselling_service(),
        only_north.clone(),
    )
    .await
    .unwrap();
    assert!(matches!(
        app.sign_in_member(&only_north, None).await.unwrap(),
        MemberSignIn::Started { tenant: signed_in_to, .. } if signed_in_to == west
    ));
    assert_eq!(
        app.sign_in_member(&only_north, Some(&north)).await.unwrap(),
        MemberSignIn::NotAMember
    );
    assert_eq!(
        app.sign_in_member(&user(&format!("nobody-{suffix}")), None)
            .await
            .unwrap(),
        MemberSignIn::NotAMember
    );
}

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    sqlite => confide_test_support::app_sqlite().await,
    postgres => confide_test_support::app_postgres().await,
    |store| case(store);
    idle_absolute_and_signed_out,
    the_tenants_a_person_is_a_member_of,
);
