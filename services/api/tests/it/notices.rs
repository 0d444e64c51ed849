//! Where notices go, over GraphQL: an org_admin sets people's addresses and manages webhook
//! endpoints, whose secret is shown once; nobody else may; bad input is refused with a reason;
//! the outbox is read by an org_admin or an auditor.

use confide_test_support::both_backends;
use confide_test_support::server::{Backend, Server, code, spawn_app};
use serde_json::json;

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    an_org_admin_manages_where_notices_go,
);

const ADD: &str =
    "mutation($u: String!) { addWebhookEndpoint(url: $u) { endpoint { id url } secret } }";

async fn an_org_admin_manages_where_notices_go(server: Server) {
    server.create_tenant("clinic", "admin").await;
    let admin = server.token("clinic", "admin");
    server
        .add_members(&admin, &[("sam", "PRACTITIONER"), ("aud", "AUDITOR")])
        .await;
    let sam = server.token("clinic", "sam");
    let aud = server.token("clinic", "aud");

    let set = "mutation($u: String!, $a: String!) { setNoticeAddress(userId: $u, address: $a) }";
    server
        .ok(&admin, set, json!({ "u": "sam", "a": "sam@clinic.test" }))
        .await;
    let refused = server
        .graphql(&sam, set, json!({ "u": "sam", "a": "sam@clinic.test" }))
        .await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    let bad = server
        .graphql(&admin, set, json!({ "u": "sam", "a": "not an address" }))
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");

    let added = server
        .ok(
            &admin,
            ADD,
            json!({ "u": "https://hooks.clinic.test/confide" }),
        )
        .await["addWebhookEndpoint"]
        .clone();
    assert!(added["secret"].as_str().unwrap().starts_with("whsec_"));
    let bad = server
        .graphql(&admin, ADD, json!({ "u": "http://hooks.clinic.test/" }))
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    let refused = server
        .graphql(&sam, ADD, json!({ "u": "https://hooks.clinic.test/x" }))
        .await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");

    // The list never shows the secret again.
    let listed = server
        .ok(&admin, "{ webhookEndpoints { id url addedAt } }", json!({}))
        .await;
    assert_eq!(listed["webhookEndpoints"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("whsec_"));

    let remove = "mutation($id: UUID!) { removeWebhookEndpoint(id: $id) }";
    server
        .ok(&admin, remove, json!({ "id": added["endpoint"]["id"] }))
        .await;
    let again = server
        .graphql(&admin, remove, json!({ "id": added["endpoint"]["id"] }))
        .await;
    assert_eq!(code(&again), "NOT_FOUND", "{again}");

    // The outbox: an auditor reads it, a practitioner may not.
    let outbox = "{ outboxMessages { messageId notice recipient state attempts } }";
    server.ok(&aud, outbox, json!({})).await;
    let refused = server.graphql(&sam, outbox, json!({})).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
}
