//! Load → decide → append through the real stores: commands become events in the log,
//! refusals write nothing, and concurrent commands are decided again rather than lost.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use confide_app::{App, AppError, Clock, ReadModels, stream, tenant_stream};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::tenant::{Tenant, TenantCommand};
use confide_domain::policy::{ClientCopies, ConsentModel, MediaPolicy, TenantPolicy};
use confide_domain::{Actor, ClientId, DomainError, Jurisdiction, KeyId, Role, Sealed, UserId};
use confide_eventstore::{EventStore, TenantId};
use confide_test_support::both_backends;
use uuid::Uuid;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
    }
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn as_user(name: &str) -> Actor {
    Actor::user(user(name))
}

pub(crate) fn counselling_service() -> TenantPolicy {
    TenantPolicy {
        consent_model: ConsentModel::WrittenOptIn,
        allowed_media: MediaPolicy::AudioOnly,
        practitioner_self_access: true,
        client_copies: ClientCopies::OnRequestReviewed,
        retention_days: 365,
        course_grace_days: 14,
        jurisdiction: Jurisdiction::UkGdpr,
    }
}

async fn create_tenant(app: &App, tenant: &TenantId) {
    app.execute::<Tenant>(
        tenant,
        &as_user("admin"),
        &tenant_stream(),
        TenantCommand::CreateTenant {
            name: "Brookes Counselling".into(),
            policy: counselling_service(),
            first_admin: user("admin"),
        },
        &[],
    )
    .await
    .unwrap();
}

fn add_member(name: &str, role: Role) -> TenantCommand {
    TenantCommand::AddMember {
        user_id: user(name),
        roles: BTreeSet::from([role]),
    }
}

/// An app over a fresh store with the stream links kept inline.
fn app_over<S>(store: S) -> (App, Arc<dyn EventStore>)
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    let parts = crate::parts(store, Arc::new(FixedClock));
    let store = parts.store.clone();
    (App::new(parts), store)
}

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    sqlite => app_over(confide_test_support::app_sqlite().await),
    postgres => app_over(confide_test_support::app_postgres().await),
    |opened| case(opened.0, opened.1);
    commands_become_events_and_load_back_as_state,
    a_refused_command_writes_nothing,
    concurrent_commands_are_decided_again_not_lost,
);

async fn commands_become_events_and_load_back_as_state(app: App, store: Arc<dyn EventStore>) {
    let tenant = TenantId::parse("brookes-counselling").unwrap();
    create_tenant(&app, &tenant).await;
    let created = app.load::<Tenant>(&tenant, &tenant_stream()).await.unwrap();
    assert!(created.version > 0);
    assert_eq!(
        created.state.roles_of(&user("admin")),
        Some(&BTreeSet::from([Role::OrgAdmin]))
    );
    app.execute::<Tenant>(
        &tenant,
        &as_user("admin"),
        &tenant_stream(),
        add_member("tutor-a", Role::Tutor),
        &[],
    )
    .await
    .unwrap();

    let loaded = app.load::<Tenant>(&tenant, &tenant_stream()).await.unwrap();
    assert_eq!(loaded.version, created.version + 1);
    assert_eq!(
        loaded.state.roles_of(&user("tutor-a")),
        Some(&BTreeSet::from([Role::Tutor]))
    );
    let stored = store
        .read_stream(&tenant, &tenant_stream(), loaded.version, 1)
        .await
        .unwrap();
    assert_eq!(stored[0].event_type, "MemberAdded");
    assert_eq!(
        stored[0].metadata["actor"],
        serde_json::json!(as_user("admin"))
    );

    // A client is registered in its own stream, with the id the caller supplied.
    let client_id = Uuid::now_v7();
    let client_stream = stream(ClientId::from_uuid(client_id).unwrap());
    let details = Sealed::new(KeyId::parse("client-key-1").unwrap(), "c2VhbGVk").unwrap();
    app.execute::<Client>(
        &tenant,
        &as_user("admin"),
        &client_stream,
        ClientCommand::RegisterClient { details },
        &[client_id],
    )
    .await
    .unwrap();
    let client = app.load::<Client>(&tenant, &client_stream).await.unwrap();
    assert_eq!(client.version, 1);
}

async fn a_refused_command_writes_nothing(app: App, store: Arc<dyn EventStore>) {
    let tenant = TenantId::parse("coaching-co").unwrap();
    create_tenant(&app, &tenant).await;
    let head = store.tree_head(&tenant).await.unwrap();
    let refused = app
        .execute::<Tenant>(
            &tenant,
            &as_user("stranger"),
            &tenant_stream(),
            add_member("friend", Role::Tutor),
            &[],
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(AppError::Domain(DomainError::Forbidden { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(store.tree_head(&tenant).await.unwrap(), head);
}

/// Members are added while clients are registered: every client append is conditioned on the
/// tenant stream, so each tenant change forces the client commands to decide again.
async fn concurrent_commands_are_decided_again_not_lost(app: App, store: Arc<dyn EventStore>) {
    let app = Arc::new(app);
    let tenant = TenantId::parse("busy-clinic").unwrap();
    create_tenant(&app, &tenant).await;
    let created = app
        .load::<Tenant>(&tenant, &tenant_stream())
        .await
        .unwrap()
        .version;
    let mut tasks = Vec::new();
    for n in 0..4 {
        let (member_app, member_tenant) = (app.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            let (app, tenant) = (member_app, member_tenant);
            app.execute::<Tenant>(
                &tenant,
                &as_user("admin"),
                &tenant_stream(),
                add_member(&format!("member-{n}"), Role::Practitioner),
                &[],
            )
            .await
            .map(|_| ())
        }));
        let (app, tenant) = (app.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            let client_id = Uuid::now_v7();
            let details = Sealed::new(KeyId::parse("client-key-1").unwrap(), "c2VhbGVk").unwrap();
            app.execute::<Client>(
                &tenant,
                &as_user("admin"),
                &stream(ClientId::from_uuid(client_id).unwrap()),
                ClientCommand::RegisterClient { details },
                &[client_id],
            )
            .await
            .map(|_| ())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let organisation = app.load::<Tenant>(&tenant, &tenant_stream()).await.unwrap();
    assert_eq!(organisation.version, created + 4);
    assert_eq!(organisation.state.members().len(), 5);
    assert_eq!(
        store.tree_head(&tenant).await.unwrap().unwrap().size,
        created + 4 + 4
    );
}
