//! `kill -9` under a write load loses no acknowledged event, on PostgreSQL and on the embedded
//! SQLite default: the real `confide` binary takes registrations and consent requests from a
//! few concurrent clients, each of which records every id the server acknowledged; the server
//! is killed with SIGKILL mid-load and started again on the same data; every acknowledged id is
//! then read back through the API (in the log, and each consent as itself), and
//! `confide audit verify-store` checks the stored log, its tree and its checkpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Confide, data_dir, try_graphql};
use serde_json::{Value, json};

/// Concurrent writers.
const CLIENTS: usize = 4;
/// Acknowledged writes after which the server is killed: enough that the kill lands among
/// writes in flight.
const KILL_AFTER: usize = 200;
/// How long one request may take before the load gives up on the server.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the writers were told was stored.
#[derive(Default)]
struct Acknowledged {
    clients: Vec<String>,
    consents: Vec<String>,
}

fn killed_mid_load_keeps_every_acknowledged_write(mut server: Confide) {
    server.create_tenant("crash", "admin", "written_opt_in");
    let admin = server.token("crash", "admin");
    for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
        server.ok(
            &admin,
            "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
            json!({ "u": user, "r": [role] }),
        );
    }
    let sam = server.token("crash", "sam");
    let form = server.ok(
        &admin,
        "mutation { publishConsentForm(title: \"Consent\", language: \"en-GB\", text: \"I agree to audio recording for supervision.\") { id } }",
        json!({}),
    )["publishConsentForm"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let (acks, writes) = std::sync::mpsc::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    let address = server.address.clone();
    let writers: Vec<_> = (0..CLIENTS)
        .map(|writer| {
            let (acknowledged, acks, stop) = (acknowledged.clone(), acks.clone(), stop.clone());
            let (address, sam, form) = (address.clone(), sam.clone(), form.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                // Until the server is gone: a refused or cut connection ends the load.
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let Ok(answer) = try_graphql(
                        &address,
                        &sam,
                        "mutation($n: String!) { registerClient(name: $n) }",
                        json!({ "n": format!("Client {writer}-{n}") }),
                        PATIENCE,
                    ) else {
                        break;
                    };
                    if answer.body.is_null() {
                        break; // Cut off mid-answer by the kill.
                    }
                    let Some(client) = answer.body["data"]["registerClient"].as_str() else {
                        panic!("a registration failed while the server ran: {answer:?}");
                    };
                    acknowledged.lock().unwrap().clients.push(client.to_owned());
                    let _ = acks.send(());
                    let Ok(answer) = try_graphql(
                        &address,
                        &sam,
                        "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } } }",
                        json!({ "input": {
                            "clientId": client, "consentFormId": form,
                            "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
                        }}),
                        PATIENCE,
                    ) else {
                        break;
                    };
                    if answer.body.is_null() {
                        break;
                    }
                    let Some(consent) = answer.body["data"]["requestConsent"]["consent"]["id"].as_str()
                    else {
                        panic!("a consent request failed while the server ran: {answer:?}");
                    };
                    acknowledged.lock().unwrap().consents.push(consent.to_owned());
                    let _ = acks.send(());
                }
            })
        })
        .collect();

    drop(acks);
    // The writers' acknowledgements are the clock: the kill comes after the mark, while they
    // keep writing; a load that stalls fails here rather than hanging.
    for _ in 0..KILL_AFTER {
        writes
            .recv_timeout(Duration::from_secs(60))
            .expect("the load stalled before the kill");
    }
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().expect("a writer panicked");
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let at_kill = acknowledged.clients.len() + acknowledged.consents.len();
    assert!(
        at_kill >= KILL_AFTER,
        "every acknowledged write was recorded"
    );

    server.restart();
    // Every acknowledged consent is there as itself…
    for consent in &acknowledged.consents {
        let found = server.ok(
            &sam,
            "query($id: UUID!) { consent(id: $id) { id status } }",
            json!({ "id": consent }),
        );
        assert_eq!(
            found["consent"]["id"], *consent,
            "acknowledged consent {consent} is missing after the kill"
        );
    }
    // …and every acknowledged id is in the log the auditor reads.
    let log = read_log(&server, &admin);
    for id in acknowledged.clients.iter().chain(&acknowledged.consents) {
        assert!(
            log.contains(id.as_str()),
            "acknowledged id {id} is not in the log after the kill"
        );
    }
    // The log, its tree and its checkpoints verify, and the server takes writes again.
    let verified = server.cli(&["audit", "verify-store", "--tenant", "crash"]);
    assert!(verified.starts_with("crash: "), "{verified}");
    server.ok(
        &sam,
        "mutation { registerClient(name: \"After the crash\") }",
        json!({}),
    );
    eprintln!(
        "killed after {at_kill} acknowledged writes ({} clients, {} consents), all read back; {}",
        acknowledged.clients.len(),
        acknowledged.consents.len(),
        verified.trim()
    );
}

/// The tenant's whole log as `auditEvents` pages it, as JSON text.
fn read_log(server: &Confide, admin: &str) -> String {
    let mut log = String::new();
    let mut after = Value::Null;
    loop {
        let page = server.ok(
            admin,
            "query($after: String) { auditEvents(first: 1000, after: $after) { nodes { sequence stream eventType payload } pageInfo { hasNextPage endCursor } } }",
            json!({ "after": after }),
        )["auditEvents"]
            .clone();
        let Value::Array(events) = page["nodes"].clone() else {
            panic!("auditEvents has nodes: {page}");
        };
        for event in events {
            log.push_str(&event.to_string());
            log.push('\n');
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return log;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_on_postgres_loses_no_acknowledged_write() {
    let server = Confide::start(&[]).await;
    tokio::task::spawn_blocking(move || killed_mid_load_keeps_every_acknowledged_write(server))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_on_sqlite_loses_no_acknowledged_write() {
    let server = Confide::start_on(None, &data_dir(), &[]);
    tokio::task::spawn_blocking(move || killed_mid_load_keeps_every_acknowledged_write(server))
        .await
        .unwrap();
}
