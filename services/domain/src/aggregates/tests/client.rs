use crate::aggregates::client::{ClientCommand, ClientEvent};
use crate::context::{Actor, SystemJob};
use crate::ids::{ClientId, SubjectRequestId};
use crate::testing::*;
use crate::vocabulary::{KeyId, Sealed};

#[test]
fn register_client_seals_details_under_a_new_client_key() {
    let tenant = tenant(written_policy());
    let ids = [uuid(1)];
    let ctx = as_user(&tenant, "sam", t(0, 9)).with_new_ids(&ids);
    let state = given::<ClientEvent>([])
        .when(
            ClientCommand::RegisterClient {
                details: sealed("Y2lwaGVy"),
            },
            &ctx,
        )
        .then(vec![ClientEvent::ClientRegistered {
            client_id: ClientId::from_uuid(uuid(1)).unwrap(),
            tenant_id: tenant_id(),
            details: sealed("Y2lwaGVy"),
            key_id: client_key(),
            by: by("sam"),
            at: t(0, 9),
        }]);
    assert_eq!(state.key_id(), Some(&client_key()));
}

#[test]
fn register_client_needs_a_practitioner_or_admin_and_an_id() {
    let tenant = tenant(written_policy());
    let ids = [uuid(1)];
    given::<ClientEvent>([])
        .when(
            ClientCommand::RegisterClient {
                details: sealed("eA=="),
            },
            &as_user(&tenant, "aude", t(0, 9)).with_new_ids(&ids),
        )
        .then_error("forbidden", "practitioner or org_admin");
    given::<ClientEvent>([])
        .when(
            ClientCommand::RegisterClient {
                details: sealed("eA=="),
            },
            &as_user(&tenant, "sam", t(0, 9)),
        )
        .then_error("invalid", "new_ids");
}

#[test]
fn update_client_details_stays_under_the_clients_key() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "sam", t(1, 9));
    given(client_events())
        .when(
            ClientCommand::UpdateClientDetails {
                details: sealed("bmV3"),
            },
            &ctx,
        )
        .then(vec![ClientEvent::ClientDetailsUpdated {
            details: sealed("bmV3"),
            by: by("sam"),
            at: t(1, 9),
        }]);
    let foreign = Sealed::new(KeyId::parse("other-key").unwrap(), "bmV3").unwrap();
    given(client_events())
        .when(
            ClientCommand::UpdateClientDetails { details: foreign },
            &ctx,
        )
        .then_error("invalid", "client's own key");
}

#[test]
fn erase_client_destroys_the_key_and_ends_the_record() {
    let tenant = tenant(written_policy());
    let request = SubjectRequestId::from_uuid(uuid(9)).unwrap();
    let ctx = as_system(&tenant, t(5, 9));
    let state = given(client_events())
        .when(
            ClientCommand::EraseClient {
                subject_request_id: Some(request),
            },
            &ctx,
        )
        .then(vec![ClientEvent::ClientErased {
            key_id: client_key(),
            subject_request_id: Some(request),
            by: Actor::system(SystemJob::Cascade),
            at: t(5, 9),
        }]);
    assert!(state.is_erased());
    assert!(!state.is_active_in(&tenant_id(), client_id()));
    let mut history = client_events();
    history.push(ClientEvent::ClientErased {
        key_id: client_key(),
        subject_request_id: None,
        by: by("admin"),
        at: t(5, 9),
    });
    given::<ClientEvent>(history)
        .when(
            ClientCommand::UpdateClientDetails {
                details: sealed("eA=="),
            },
            &as_user(&tenant, "sam", t(6, 9)),
        )
        .then_error("conflict", "erased");
}

#[test]
fn erase_client_is_not_for_practitioners_or_other_tenants() {
    let tenant = tenant(written_policy());
    given(client_events())
        .when(
            ClientCommand::EraseClient {
                subject_request_id: None,
            },
            &as_user(&tenant, "sam", t(5, 9)),
        )
        .then_error("forbidden", "org_admin");
    let ctx = crate::context::Ctx::new(other_tenant_id(), &tenant, by("admin"), t(5, 9));
    given(client_events())
        .when(
            ClientCommand::EraseClient {
                subject_request_id: None,
            },
            &ctx,
        )
        .then_error("not_found", "client");
}
