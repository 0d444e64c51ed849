//! The API under load: the release binary on PostgreSQL, driven by `hey` (Debian's HTTP load
//! generator) at a fixed 200 requests/s and then flat out, for the recordings list query and
//! for `startPlayback`, against `GET /health` in the same run as the floor of HTTP itself.
//!
//! Run with `cargo bench -p confide --bench api_load`. It needs `hey` on the PATH and the
//! PostgreSQL that `.ci/test` prepares (`CONFIDE_TEST_DATABASE_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench binary: a panic is a failure.

#[path = "../../../e2e/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};

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

/// Puts `url` under load from one `hey` process per body (one connection each), all at
/// once, for `SECONDS`; `rate` caps the total requests per second (0: as fast as they can).
/// Each process reports every request (`-o csv`), and the figures are over all of them.
fn load(url: &str, token: Option<&str>, bodies: &[Option<String>], rate: usize) -> Figures {
    let processes: Vec<_> = bodies
        .iter()
        .map(|body| {
            let mut command = Command::new("hey");
            command.args(["-z", &format!("{SECONDS}s"), "-c", "1", "-o", "csv"]);
            if rate > 0 {
                command.args(["-q", &(rate / bodies.len()).to_string()]);
            }
            if let Some(token) = token {
                command.args(["-H", &format!("Authorization: Bearer {token}")]);
            }
            if let Some(body) = body {
                command.args(["-m", "POST", "-T", "application/json", "-d", body]);
            }
            command
                .arg(url)
                .stdout(Stdio::piped())
                .spawn()
                .expect("running hey (apt-get install hey)")
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for process in processes {
        let output = process.wait_with_output().unwrap();
        assert!(output.status.success(), "hey failed");
        // response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
        for line in String::from_utf8(output.stdout).unwrap().lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            latencies.push(fields[0].parse::<f64>().unwrap() * 1000.0);
            if fields[6] != "200" {
                errors += 1;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        rps: latencies.len() as f64 / f64::from(SECONDS),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        errors,
    }
}

#[tokio::main]
async fn main() {
    let server = Confide::start(&[]).await;
    let (sam, ada, recordings) = server.supervised_recordings("bench", RECORDINGS);
    let list = json!({ "query": "{ recordings(purpose: SUPERVISION, first: 100) { nodes { id sessionOn access { allowed reasons } } } }" })
        .to_string();
    let listed = server.ok(
        &ada,
        "{ recordings(purpose: SUPERVISION, first: 100) { nodes { id } } }",
        json!({}),
    );
    assert_eq!(
        listed["recordings"]["nodes"].as_array().unwrap().len(),
        RECORDINGS
    );
    // Four viewers at once, each playing a different recording, as in a service: plays of one
    // recording are serialised by its stream, and a service's viewers rarely share one.
    const VIEWERS: usize = 4;
    let plays: Vec<Option<String>> = (0..VIEWERS)
        .map(|viewer| {
            Some(
                json!({
                    "query": "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed ticketUrl } }",
                    "variables": { "r": recordings[viewer * (RECORDINGS / VIEWERS)] },
                })
                .to_string(),
            )
        })
        .collect();
    // The played recordings have their media, so every play is allowed and returns a
    // ticket, as in a service.
    let media = server.data_dir().join("session.wav");
    common::write_wav(&media, 96_044);
    for viewer in 0..VIEWERS {
        let recording = recordings[viewer * (RECORDINGS / VIEWERS)]
            .as_str()
            .unwrap();
        assert_eq!(server.upload(&sam, recording, &media), 201);
        let played = server.ok(
            &ada,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed ticketUrl } }",
            json!({ "r": recording }),
        );
        assert_eq!(played["startPlayback"]["allowed"], true, "{played}");
        assert!(played["startPlayback"]["ticketUrl"].is_string(), "{played}");
    }
    let lists = vec![Some(list); VIEWERS];
    let probes = vec![None; VIEWERS];

    let health = format!("http://{}/health", server.address);
    let graphql = format!("http://{}/graphql", server.address);
    println!(
        "API load, {SECONDS} s each, {VIEWERS} connections, PostgreSQL, {RECORDINGS} recordings in the tenant"
    );
    println!("| request | offered | requests/s | p50 ms | p99 ms | non-200 |");
    println!("|---|---|---|---|---|---|");

    // One viewer alone, one request at a time: the latency of a play with no one waiting,
    // and of its parts — an authenticated query that reads one row, and the reads a play's
    // decision makes without its append.
    let read_one = vec![Some(json!({ "query": "{ tenant { id } }" }).to_string())];
    let decision_reads = vec![Some(
        json!({
            "query": "query($r: UUID!) { recording(id: $r, purpose: SUPERVISION) { access { allowed } } }",
            "variables": { "r": recordings[0] },
        })
        .to_string(),
    )];
    for (name, bodies) in [
        ("tenant query (one read)", &read_one),
        ("recording query (a play's reads)", &decision_reads),
        ("startPlayback", &plays[..1].to_vec()),
    ] {
        let f = load(&graphql, Some(ada.as_str()), bodies, 0);
        println!(
            "| {name}, one connection | flat out | {:.0} | {:.2} | {:.2} | {} |",
            f.rps, f.p50_ms, f.p99_ms, f.errors
        );
    }
    for rate in [200, 0] {
        let offered = if rate == 0 {
            "flat out".to_owned()
        } else {
            format!("{rate}/s")
        };
        for (name, token, bodies, url) in [
            ("GET /health (baseline)", None, &probes, &health),
            ("recordings list (50)", Some(ada.as_str()), &lists, &graphql),
            ("startPlayback", Some(ada.as_str()), &plays, &graphql),
        ] {
            let f = load(url, token, bodies, rate);
            println!(
                "| {name} | {offered} | {:.0} | {:.2} | {:.2} | {} |",
                f.rps, f.p50_ms, f.p99_ms, f.errors
            );
        }
    }
}
