//! The API under load: the release binary on PostgreSQL, driven by `hey` (Debian's HTTP load
//! generator) at a fixed 200 requests/s and then flat out, for the recordings list query and
//! for `startPlayback`, against `GET /health` in the same run as the floor of HTTP itself.
//!
//! Run with `cargo bench -p confide --bench api_load`. It needs `hey` on the PATH and the
//! PostgreSQL that `.ci/test` prepares (`CONFIDE_TEST_DATABASE_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench binary: a panic is a failure.

#[path = "../../../e2e/common/mod.rs"]
mod common;

use std::process::Command;

use chrono::Utc;
use common::Confide;
use serde_json::json;

/// How long each measurement runs.
const SECONDS: u32 = 15;
/// Recordings in the tenant the list returns.
const RECORDINGS: usize = 50;

struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// Runs `hey` against `url`; `rate` caps requests per second (0: as fast as it can).
fn hey(url: &str, token: Option<&str>, body: Option<&str>, rate: u32) -> Figures {
    // hey's -q is per worker: 4 workers at rate/4 each give `rate` in total.
    let workers = 4;
    let mut command = Command::new("hey");
    command.args(["-z", &format!("{SECONDS}s"), "-c", &workers.to_string()]);
    if rate > 0 {
        command.args(["-q", &(rate / workers).to_string()]);
    }
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        command.args(["-m", "POST", "-T", "application/json", "-d", body]);
    }
    let output = command
        .arg(url)
        .output()
        .expect("running hey (apt-get install hey)");
    assert!(output.status.success(), "hey failed");
    let report = String::from_utf8(output.stdout).unwrap();
    let number_after = |marker: &str| -> f64 {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(marker))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {marker:?} in hey's report:\n{report}"))
    };
    let statuses: Vec<(u16, usize)> = report
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix('[')?;
            let (status, count) = rest.split_once(']')?;
            Some((
                status.parse().ok()?,
                count.split_whitespace().next()?.parse().ok()?,
            ))
        })
        .collect();
    Figures {
        rps: number_after("Requests/sec:"),
        p50_ms: number_after("50% in") * 1000.0,
        p99_ms: number_after("99% in") * 1000.0,
        errors: statuses
            .iter()
            .filter(|(status, _)| *status != 200)
            .map(|(_, n)| n)
            .sum(),
    }
}

#[tokio::main]
async fn main() {
    let server = Confide::start(&[("RUST_LOG", "warn")]).await;
    server.create_tenant("bench", "admin", "written_opt_in");
    let admin = server.token("bench", "admin");
    for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
        server.ok(
            &admin,
            "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
            json!({ "u": user, "r": [role] }),
        );
    }
    let sam = server.token("bench", "sam");
    let ada = server.token("bench", "ada");
    let form = server.ok(
        &admin,
        "mutation { publishConsentForm(title: \"Consent\", language: \"en-GB\", text: \"I agree to audio recording for supervision.\") { id } }",
        json!({}),
    )["publishConsentForm"]["id"]
        .clone();
    let mut recording = serde_json::Value::Null;
    for i in 0..RECORDINGS {
        let client = server.ok(
            &sam,
            "mutation($n: String!) { registerClient(name: $n) }",
            json!({ "n": format!("Client {i}") }),
        )["registerClient"]
            .clone();
        let requested = server.ok(
            &sam,
            "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink } }",
            json!({ "input": {
                "clientId": client, "consentFormId": form,
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }}),
        )["requestConsent"]
            .clone();
        let link = requested["clientLink"].as_str().unwrap().to_owned();
        server.ok(
            &link,
            "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"Client\") { id } }",
            json!({ "id": requested["consent"]["id"] }),
        );
        recording = server.ok(
            &sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": requested["consent"]["id"], "d": Utc::now().date_naive() }),
        )["createRecording"]["id"]
            .clone();
    }
    let list = json!({ "query": "{ recordings(purpose: SUPERVISION) { id sessionOn access { allowed reasons } } }" })
        .to_string();
    let listed = server.ok(
        &ada,
        "{ recordings(purpose: SUPERVISION) { id } }",
        json!({}),
    );
    assert_eq!(listed["recordings"].as_array().unwrap().len(), RECORDINGS);
    let play = json!({
        "query": "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed } }",
        "variables": { "r": recording },
    })
    .to_string();

    let health = format!("http://{}/health", server.address);
    let graphql = format!("http://{}/graphql", server.address);
    println!(
        "API load, {SECONDS} s each, 4 connections, PostgreSQL, {RECORDINGS} recordings in the tenant"
    );
    println!("| request | offered | requests/s | p50 ms | p99 ms | non-200 |");
    println!("|---|---|---|---|---|---|");
    for rate in [200, 0] {
        let offered = if rate == 0 {
            "flat out".to_owned()
        } else {
            format!("{rate}/s")
        };
        for (name, token, body, url) in [
            ("GET /health (baseline)", None, None, &health),
            (
                "recordings list (50)",
                Some(ada.as_str()),
                Some(list.as_str()),
                &graphql,
            ),
            (
                "startPlayback",
                Some(ada.as_str()),
                Some(play.as_str()),
                &graphql,
            ),
        ] {
            let f = hey(url, token, body, rate);
            println!(
                "| {name} | {offered} | {:.0} | {:.2} | {:.2} | {} |",
                f.rps, f.p50_ms, f.p99_ms, f.errors
            );
        }
    }
}
