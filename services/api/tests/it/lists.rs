//! Lists a page at a time, and what a client reads about their own records, over a real HTTP
//! server on SQLite and PostgreSQL: the form a client signs and their consents through their
//! link, who accessed their recording, clients searched by name through the blind index
//! (erasure included, and clients registered before the index), consent forms, and cursor
//! paging of recordings, consents, clients, the access history and the log.

use chrono::{TimeDelta, Utc};
use confide_app::{ClientDetails, stream};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::{Actor, ClientId, KeyId, Sealed, Sha256, TenantId, UserId};
use confide_test_support::both_backends;
use confide_test_support::clinic::{Clinic, FORM_TEXT};
use confide_test_support::server::{Backend, Server, code, spawn_app};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every node of a connection, walking its pages `first` at a time from the start; checks that
/// each page but the last is full and says more follow, and that the last says none do.
async fn walk(
    server: &Server,
    token: &str,
    field: &str,
    query: &str,
    variables: Value,
    first: usize,
) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut variables = variables.clone();
        variables["first"] = json!(first);
        variables["after"] = after.clone();
        let data = server.ok(token, query, variables).await;
        let connection = &data[field];
        let page = connection["nodes"].as_array().unwrap().clone();
        let edges = connection["edges"].as_array().unwrap();
        assert_eq!(edges.len(), page.len(), "an edge per node: {connection}");
        let more = connection["pageInfo"]["hasNextPage"].as_bool().unwrap();
        assert!(page.len() <= first, "{connection}");
        if more {
            assert_eq!(page.len(), first, "a page before the last is full");
            assert_eq!(
                connection["pageInfo"]["endCursor"],
                edges.last().unwrap()["cursor"],
                "the end cursor is the last edge's"
            );
        }
        nodes.extend(page);
        if !more {
            return nodes;
        }
        after = connection["pageInfo"]["endCursor"].clone();
        assert!(nodes.len() < 10_000, "paging ends");
    }
}

fn ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

const CONSENTS: &str = "query($c: UUID, $first: Int!, $after: String) { consents(clientId: $c, first: $first, after: $after) { nodes { id status } edges { cursor } pageInfo { hasNextPage endCursor } } }";

/// The client reads the exact text they are asked to sign, and their own consents, through
/// their link alone; another client's link reads neither.
async fn a_client_reads_the_form_they_sign_through_their_link(server: Server) {
    let clinic = server.open_clinic(&Clinic::new("clinic")).await;
    let own = server
        .ok(
            &clinic.link,
            "{ consents { nodes { id clientId status form { id title language version text textSha256 publishedAt } } } }",
            json!({}),
        )
        .await;
    let consents = own["consents"]["nodes"].as_array().unwrap();
    assert_eq!(consents.len(), 1, "{own}");
    assert_eq!(consents[0]["id"], clinic.consent);
    assert_eq!(consents[0]["clientId"], clinic.client);
    let form = &consents[0]["form"];
    assert_eq!(form["id"], clinic.form["id"]);
    assert_eq!(form["title"], "Recording consent");
    assert_eq!(form["language"], "en-GB");
    assert_eq!(form["version"], 1);
    assert_eq!(form["text"], FORM_TEXT);
    assert_eq!(
        form["textSha256"],
        Sha256::of(FORM_TEXT.as_bytes()).to_string()
    );
    assert!(form["publishedAt"].is_string());

    // A second version of the form changes nothing about what this consent was asked with.
    server
        .ok(
            &clinic.admin,
            "mutation($id: UUID!) { publishConsentForm(id: $id, title: \"Recording consent\", language: \"en-GB\", text: \"Another text.\") { version } }",
            json!({ "id": clinic.form["id"] }),
        )
        .await;
    let one = server
        .ok(
            &clinic.link,
            "query($id: UUID!) { consent(id: $id) { form { version text } } }",
            json!({ "id": clinic.consent }),
        )
        .await;
    assert_eq!(
        one["consent"]["form"],
        json!({ "version": 1, "text": FORM_TEXT })
    );

    // Another client of the same practitioner: their link sees their own consent only.
    let other = server
        .register_client(&clinic.practitioner, "Robin Hale", "robin@example.org")
        .await;
    let (other_consent, other_link) = server
        .request_consent(
            &clinic.practitioner,
            json!({ "clientId": other, "consentFormId": clinic.form["id"],
                    "purposes": Clinic::new("clinic").purposes_input() }),
        )
        .await;
    let theirs = server
        .ok(&other_link, "{ consents { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        theirs["consents"]["nodes"],
        json!([{ "id": other_consent }])
    );
    for (query, variables) in [
        (
            "query($id: UUID!) { consent(id: $id) { form { text } } }",
            json!({ "id": clinic.consent }),
        ),
        (
            "query($c: UUID) { consents(clientId: $c) { nodes { id } } }",
            json!({ "c": clinic.client }),
        ),
    ] {
        let refused = server.graphql(&other_link, query, variables).await;
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
        assert!(!refused.to_string().contains(FORM_TEXT), "{refused}");
    }

    // A member names the client.
    let unnamed = server
        .graphql(
            &clinic.practitioner,
            "{ consents { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&unnamed), "BAD_USER_INPUT", "{unnamed}");
    let named = server
        .ok(
            &clinic.practitioner,
            "query($c: UUID) { consents(clientId: $c) { nodes { id form { text } } } }",
            json!({ "c": clinic.client }),
        )
        .await;
    assert_eq!(
        named["consents"]["nodes"],
        json!([{ "id": clinic.consent, "form": { "text": FORM_TEXT } }])
    );

    // The organisation's forms, with their versions, for an org_admin and a practitioner.
    let forms =
        "{ consentForms { id versions { version title language textSha256 publishedAt } } }";
    for token in [&clinic.admin, &clinic.practitioner] {
        let listed = server.ok(token, forms, json!({})).await;
        let versions = &listed["consentForms"][0]["versions"];
        assert_eq!(listed["consentForms"].as_array().unwrap().len(), 1);
        assert_eq!(listed["consentForms"][0]["id"], clinic.form["id"]);
        assert_eq!(versions.as_array().unwrap().len(), 2, "{listed}");
        assert_eq!(versions[0]["version"], 1);
        assert_eq!(
            versions[1]["textSha256"],
            Sha256::of(b"Another text.").to_string()
        );
    }
    let ada = server.token("clinic", "ada");
    for token in [&ada, &clinic.link] {
        let refused = server.graphql(token, forms, json!({})).await;
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    }
}

/// Cursor paging walks every row once, in a stable order, for the recordings, a client's
/// consents and the log; a cursor from nowhere and a page size out of range are refused.
async fn lists_are_paged_with_cursors(server: Server) {
    let clinic = server.open_clinic(&Clinic::new("clinic")).await;
    let mut consents = vec![clinic.consent.clone()];
    for _ in 0..4 {
        let (consent, _) = server
            .request_consent(
                &clinic.practitioner,
                json!({ "clientId": clinic.client, "consentFormId": clinic.form["id"],
                        "purposes": Clinic::new("clinic").purposes_input() }),
            )
            .await;
        consents.push(consent);
    }
    let mut recordings = Vec::new();
    for day in 1..=5 {
        let created = server
            .ok(
                &clinic.practitioner,
                "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
                json!({ "c": clinic.consent, "d": format!("2026-11-{day:02}") }),
            )
            .await;
        recordings.push(created["createRecording"]["id"].clone());
    }

    for first in [1, 2, 5, 100] {
        let walked = walk(
            &server,
            &clinic.link,
            "consents",
            CONSENTS,
            json!({}),
            first,
        )
        .await;
        assert_eq!(
            ids(&walked),
            ids(&consents
                .iter()
                .map(|id| json!({ "id": id }))
                .collect::<Vec<_>>()),
            "every consent once, in the order asked (first {first})"
        );
        let walked = walk(
            &server,
            &clinic.practitioner,
            "recordings",
            "query($first: Int!, $after: String) { recordings(purpose: COURSE_ASSESSMENT, first: $first, after: $after) { nodes { id access { allowed } } edges { cursor } pageInfo { hasNextPage endCursor } } }",
            json!({}),
            first,
        )
        .await;
        assert_eq!(
            ids(&walked),
            ids(&recordings
                .iter()
                .map(|id| json!({ "id": id }))
                .collect::<Vec<_>>()),
            "every recording once, in the order created (first {first})"
        );
    }

    // The log: every event once, in sequence order, whatever the page size.
    let size = server.log_size("clinic").await;
    for first in [7, 1000] {
        let events = walk(
            &server,
            &clinic.admin,
            "auditEvents",
            "query($first: Int!, $after: String) { auditEvents(first: $first, after: $after) { nodes { sequence } edges { cursor } pageInfo { hasNextPage endCursor } } }",
            json!({}),
            first,
        )
        .await;
        let sequences: Vec<u64> = events
            .iter()
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(sequences, (0..size).collect::<Vec<_>>());
    }

    // Cursors are the API's own; page sizes are bounded.
    for (variables, field) in [
        (
            json!({ "first": 2, "after": "bm90IGEgY3Vyc29y" }),
            "not a cursor of this list",
        ),
        (json!({ "first": 2, "after": "%%%" }), "not base64"),
        (json!({ "first": 0 }), "an empty page"),
        (json!({ "first": 101 }), "too large a page"),
    ] {
        let refused = server.graphql(&clinic.link, CONSENTS, variables).await;
        assert_eq!(code(&refused), "BAD_USER_INPUT", "{field}: {refused}");
    }
    // A cursor of one list is no cursor of another.
    let first_page = server
        .ok(&clinic.link, CONSENTS, json!({ "first": 1 }))
        .await;
    let cursor = first_page["consents"]["pageInfo"]["endCursor"].clone();
    let crossed = server
        .graphql(
            &clinic.practitioner,
            "query($after: String) { recordings(purpose: SUPERVISION, after: $after) { nodes { id } } }",
            json!({ "after": cursor }),
        )
        .await;
    assert_eq!(code(&crossed), "BAD_USER_INPUT", "{crossed}");
}

const HISTORY: &str = "query($r: UUID!, $first: Int!, $after: String) { accessHistory(recordingId: $r, first: $first, after: $after) { nodes { sequence at kind by person purpose medium reasons basis { consentId } grantId expiresAt due why } edges { cursor } pageInfo { hasNextPage endCursor } } }";

/// The client sees who accessed their recording, when and for what, and every refused
/// attempt with its reasons, from the log; a page at a time; another client's link finds no
/// such recording.
async fn a_client_sees_who_accessed_their_recording(server: Server) {
    let clinic = server
        .open_clinic(&Clinic::new("clinic").member("eve", confide_domain::Role::Tutor))
        .await;
    let recording = server
        .ok(
            &clinic.practitioner,
            "mutation($c: UUID!) { createRecording(consentId: $c, sessionOn: \"2026-11-20\", medium: AUDIO) { id } }",
            json!({ "c": clinic.consent }),
        )
        .await["createRecording"]["id"]
        .clone();
    let play = "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: COURSE_ASSESSMENT) { allowed } }";
    let (ada, eve) = (server.token("clinic", "ada"), server.token("clinic", "eve"));
    server.ok(&ada, play, json!({ "r": recording })).await;
    server.ok(&eve, play, json!({ "r": recording })).await;
    let expires = (Utc::now() + TimeDelta::days(30)).to_rfc3339();
    let grant = server
        .ok(
            &clinic.practitioner,
            "mutation($r: UUID!, $c: UUID!, $e: DateTime!) { grantAccess(input: { recordingId: $r, consentId: $c, userId: \"ada\", purpose: COURSE_ASSESSMENT, expiresAt: $e }) }",
            json!({ "r": recording, "c": clinic.consent, "e": expires }),
        )
        .await["grantAccess"]
        .clone();
    server
        .ok(
            &clinic.link,
            "mutation($id: UUID!) { withdrawConsent(input: { consentId: $id, deletionRequested: true }) { status } }",
            json!({ "id": clinic.consent }),
        )
        .await;
    server.ok(&ada, play, json!({ "r": recording })).await;

    let history = walk(
        &server,
        &clinic.link,
        "accessHistory",
        HISTORY,
        json!({ "r": recording }),
        100,
    )
    .await;
    let kinds: Vec<&str> = history
        .iter()
        .map(|row| row["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "PLAYBACK_REFUSED",
            "PLAYBACK_REFUSED",
            "ACCESS_GRANTED",
            "ACCESS_REVOKED",
            "DESTRUCTION_SCHEDULED",
            "PLAYBACK_REFUSED",
        ],
        "{history:#?}"
    );
    let sequences: Vec<u64> = history
        .iter()
        .map(|row| row["sequence"].as_u64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in the log's order"
    );
    // Who, for what, and why not.
    assert_eq!(history[0]["person"], "ada");
    assert_eq!(history[0]["by"], "ada");
    assert_eq!(history[0]["purpose"], "COURSE_ASSESSMENT");
    assert_eq!(history[0]["medium"], "AUDIO");
    assert!(
        !history[0]["reasons"].as_array().unwrap().is_empty(),
        "a refusal says why: {}",
        history[0]
    );
    assert_eq!(history[1]["person"], "eve");
    assert!(
        history[1]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("consent_does_not_cover")),
        "{}",
        history[1]
    );
    assert_eq!(history[2]["grantId"], grant);
    assert_eq!(history[2]["person"], "ada");
    assert_eq!(history[2]["by"], "sam");
    assert!(history[2]["expiresAt"].is_string());
    assert_eq!(history[3]["grantId"], grant);
    assert_eq!(history[3]["by"], "system:cascade");
    assert_eq!(history[3]["why"], "consent_no_longer_covers");
    assert_eq!(history[4]["why"], "deletion_requested");
    assert!(history[4]["due"].is_string());
    assert!(
        history[5]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("recording_scheduled_for_destruction")),
        "{}",
        history[5]
    );

    // The same rows a page at a time, and for a member who may read the client's records.
    for (token, first) in [
        (&clinic.link, 1),
        (&clinic.link, 4),
        (&clinic.practitioner, 2),
    ] {
        let paged = walk(
            &server,
            token,
            "accessHistory",
            HISTORY,
            json!({ "r": recording }),
            first,
        )
        .await;
        assert_eq!(paged, history, "first {first}");
    }

    // Another client's link: no such recording. A user of another tenant: none either.
    let other = server
        .register_client(&clinic.practitioner, "Robin Hale", "robin@example.org")
        .await;
    let (_, other_link) = server
        .request_consent(
            &clinic.practitioner,
            json!({ "clientId": other, "consentFormId": clinic.form["id"],
                    "purposes": Clinic::new("clinic").purposes_input() }),
        )
        .await;
    server.create_tenant("other-clinic", "admin").await;
    for token in [other_link, server.token("other-clinic", "admin")] {
        let refused = server
            .graphql(&token, HISTORY, json!({ "r": recording, "first": 10 }))
            .await;
        assert_eq!(code(&refused), "NOT_FOUND", "{refused}");
        assert!(refused["data"].is_null() || refused["data"]["accessHistory"].is_null());
    }
}

const CLIENTS: &str = "query($s: String, $first: Int!, $after: String) { clients(search: $s, first: $first, after: $after) { nodes { id name contact erased } edges { cursor } pageInfo { hasNextPage endCursor } } }";

/// Registers a client the way the application did before the name index existed: the
/// client's details sealed under their key and the registration appended, nothing indexed.
async fn register_unindexed(server: &Server, tenant: &str, practitioner: &str, name: &str) -> Uuid {
    let tenant = TenantId::parse(tenant).unwrap();
    let client = ClientId::from_uuid(Uuid::now_v7()).unwrap();
    let key = KeyId::of("client", client.as_uuid());
    server.keys.create_key(&tenant, &key).await.unwrap();
    let details = serde_json::to_vec(&ClientDetails {
        name: name.to_owned(),
        contact: None,
    })
    .unwrap();
    let sealed = server.keys.seal(&tenant, &key, &details).await.unwrap();
    server
        .app
        .execute::<Client>(
            &tenant,
            &Actor::user(UserId::parse(practitioner).unwrap()),
            &stream(client),
            ClientCommand::RegisterClient {
                details: Sealed::new(key, sealed).unwrap(),
            },
            &[client.as_uuid()],
        )
        .await
        .unwrap();
    client.as_uuid()
}

fn names(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["name"].as_str().unwrap_or("(erased)").to_owned())
        .collect()
}

/// A practitioner lists their clients and an org_admin every client, searching by a name
/// typed in (case, accents and word order ignored, the start of a word enough), matched
/// through the keyed index; clients registered before the index are found too, and an erased
/// client is found no more.
async fn clients_are_listed_and_searched_by_name(server: Server) {
    let clinic = server
        .open_clinic(&Clinic::new("clinic").member("pat", confide_domain::Role::Practitioner))
        .await;
    let pat = server.token("clinic", "pat");
    for name in ["Zoë O'Brien", "Morgan Price"] {
        server
            .register_client(&clinic.practitioner, name, "someone@example.org")
            .await;
    }
    server
        .register_client(&pat, "Alex Morgan", "alex@example.org")
        .await;
    let before = register_unindexed(&server, "clinic", "sam", "Morgana Lee").await;

    let search = |token: &str, typed: Option<&str>, first: usize| {
        let (token, typed) = (token.to_owned(), typed.map(str::to_owned));
        let server = &server;
        async move {
            names(
                &walk(
                    server,
                    &token,
                    "clients",
                    CLIENTS,
                    json!({ "s": typed }),
                    first,
                )
                .await,
            )
        }
    };
    let sam = clinic.practitioner.clone();
    assert_eq!(
        search(&sam, None, 2).await,
        ["Morgan Ellis", "Zoë O'Brien", "Morgan Price", "Morgana Lee"],
        "a practitioner's own clients, in the order registered"
    );
    assert_eq!(search(&pat, None, 10).await, ["Alex Morgan"]);
    assert_eq!(
        search(&clinic.admin, None, 3).await,
        [
            "Morgan Ellis",
            "Zoë O'Brien",
            "Morgan Price",
            "Alex Morgan",
            "Morgana Lee"
        ],
        "an org_admin's are every client"
    );
    assert_eq!(
        search(&sam, Some("morgan"), 1).await,
        ["Morgan Ellis", "Morgan Price", "Morgana Lee"],
        "a word typed matches whole words and longer ones it starts"
    );
    assert_eq!(search(&sam, Some("ELLIS mor"), 10).await, ["Morgan Ellis"]);
    assert_eq!(search(&sam, Some("zoe"), 10).await, ["Zoë O'Brien"]);
    assert_eq!(search(&sam, Some("o bri"), 10).await, ["Zoë O'Brien"]);
    assert_eq!(
        search(&sam, Some("lee"), 10).await,
        ["Morgana Lee"],
        "a client registered before the index is indexed by the next search"
    );
    assert!(
        search(&sam, Some("mo"), 10).await.is_empty(),
        "three letters at least"
    );
    assert!(
        search(&sam, Some("alex"), 10).await.is_empty(),
        "not sam's client"
    );
    assert_eq!(
        search(&clinic.admin, Some("morgan"), 10).await,
        ["Morgan Ellis", "Morgan Price", "Alex Morgan", "Morgana Lee"]
    );

    // Nobody else lists clients.
    let ada = server.token("clinic", "ada");
    for token in [&ada, &clinic.link] {
        let refused = server.graphql(token, CLIENTS, json!({ "first": 10 })).await;
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    }
    let empty = server
        .graphql(&sam, CLIENTS, json!({ "first": 10, "s": " ' " }))
        .await;
    assert_eq!(code(&empty), "BAD_USER_INPUT", "{empty}");

    // Erasing a client removes them from every search; they stay listed, nameless.
    let erasure = server
        .ok(
            &clinic.admin,
            "mutation($c: UUID!) { openSubjectRequest(clientId: $c, kind: ERASURE) { id } }",
            json!({ "c": before }),
        )
        .await["openSubjectRequest"]["id"]
        .clone();
    server
        .ok(
            &clinic.admin,
            "mutation($id: UUID!) { decideSubjectRequest(id: $id, outcome: GRANTED) { outcome } }",
            json!({ "id": erasure }),
        )
        .await;
    assert!(search(&sam, Some("lee"), 10).await.is_empty());
    assert_eq!(
        search(&sam, Some("morgan"), 10).await,
        ["Morgan Ellis", "Morgan Price"]
    );
    let listed = walk(&server, &sam, "clients", CLIENTS, json!({}), 10).await;
    let erased = listed
        .iter()
        .find(|c| c["id"] == json!(before))
        .expect("an erased client is still listed");
    assert_eq!(
        erased,
        &json!({ "id": before, "name": null, "contact": null, "erased": true })
    );
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    a_client_reads_the_form_they_sign_through_their_link,
    lists_are_paged_with_cursors,
    a_client_sees_who_accessed_their_recording,
    clients_are_listed_and_searched_by_name,
);
