//! Fault drills on the multi-node topology (`infra/local/confide-local`): three Confide nodes
//! behind HAProxy on PostgreSQL under Patroni (a primary and a synchronous standby) and a
//! three-node Garage, on loopback. Each drill runs a load of writes, plays (and, where media is
//! at stake, uploads) through HAProxy, does one harm, and ends with every acknowledged write
//! read back and `confide audit verify-store` passing:
//!
//! - kill -9 one Confide node: the load goes on on the others (failed requests and the time
//!   until none fail are reported); before it, one trace's requests are seen on all three
//!   nodes and at the OTLP receiver, and the load's throughput is measured with three nodes
//!   and with one, in the same run;
//! - kill -9 one Garage node: uploads and plays go on;
//! - kill -9 the PostgreSQL primary (Patroni and PostgreSQL together, as a machine dies):
//!   Patroni promotes the synchronous standby, the nodes reconnect without a restart, nothing
//!   acknowledged is lost (the time without service is reported);
//! - stop the whole database and start it again: meanwhile every request is answered
//!   `UNAVAILABLE` (503, `Retry-After`) within two seconds, then service resumes by itself.
//!
//! Figures are printed (`--nocapture`) and kept in `docs/operations.md`; the assertions are on
//! what must hold, never on speed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod common;
mod local;

use std::time::{Duration, Instant};

use local::{Clinic, Kind, Load, Topology, everything_acknowledged_is_there, figures, throughput};

/// How long a drill waits for a condition (a node marked down, a promotion) before failing.
const DEADLINE: Duration = Duration::from_secs(90);
/// How long each half of the throughput comparison runs.
const MEASURE: Duration = Duration::from_secs(8);
/// How long the whole database stays stopped, at least.
const OUTAGE: Duration = Duration::from_secs(3);
/// Every answer during a database outage must beat this.
const QUICK: Duration = Duration::from_secs(2);

fn report(drill: &str, topology: &Topology, text: String) {
    eprintln!(
        "DRILL {drill}: {text} (topology up in {:.1}s)",
        topology.started_in.as_secs_f64()
    );
}

fn up_in_haproxy(topology: &Topology, backend: &str, server: &str) -> bool {
    topology.haproxy_status(backend, server).starts_with("UP")
}

fn down_in_haproxy(topology: &Topology, backend: &str, server: &str) -> bool {
    topology.haproxy_status(backend, server).starts_with("DOWN")
}

/// Runs the load alone for `MEASURE`: (requests/s, p50, p99).
fn measure(api: &str, clinic: &Clinic) -> (f64, Duration, Duration, usize) {
    let mut load = Load::start(api, clinic, 4, 4, 0);
    load.run_for(MEASURE);
    let samples = load.stop();
    let failed = samples.iter().filter(|s| !s.succeeded()).count();
    for sample in samples.iter().filter(|s| !s.succeeded()).take(3) {
        eprintln!("failed while nothing failed: {sample:?}");
    }
    let (rate, p50, p99) = throughput(&samples);
    (rate, p50, p99, failed)
}

/// Requests of one trace (a client's `traceparent`) go round the three nodes: each node logs
/// the trace id, and the receiver gets every node's request span in that trace.
fn one_trace_crosses_the_nodes_to_the_receiver(topology: &Topology) {
    let trace = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    for n in 0..6 {
        let body = r#"{"query":"{ __typename }"}"#;
        let answer = common::try_exchange(
            &topology.api(),
            format!(
                "POST /graphql HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: application/json\r\ntraceparent: 00-{trace}-{:016x}-01\r\nContent-Length: {}\r\n\r\n{body}",
                n + 1,
                body.len()
            )
            .as_bytes(),
            local::PATIENCE,
        )
        .expect("an answer");
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    topology.until(
        "every node logs the trace, and the receiver has its spans",
        DEADLINE,
        || {
            let spans = topology
                .log_of("oteltap")
                .lines()
                .filter(|l| {
                    l.contains(&format!("\"traceId\":\"{trace}\""))
                        && l.contains("\"POST /graphql\"")
                })
                .count();
            spans >= 6
                && ["confide1", "confide2", "confide3"]
                    .iter()
                    .all(|n| topology.log_of(n).contains(&trace))
        },
    );
}

#[test]
fn kill_9_of_a_confide_node_under_load_loses_nothing_and_the_others_carry_on() {
    let topology = Topology::up();
    let api = topology.api();
    let clinic = Clinic::new(&topology, "drill-node", 0);
    one_trace_crosses_the_nodes_to_the_receiver(&topology);

    // Throughput through HAProxy with three nodes, then with one (two stopped gracefully).
    let three = measure(&api, &clinic);
    for node in ["confide2", "confide3"] {
        topology.run(&["stop", node]);
    }
    topology.until("HAProxy marks the stopped nodes down", DEADLINE, || {
        down_in_haproxy(&topology, "confide", "confide2")
            && down_in_haproxy(&topology, "confide", "confide3")
    });
    let one = measure(&api, &clinic);
    for node in ["confide2", "confide3"] {
        topology.run(&["start", node]);
    }
    topology.until("HAProxy sees three nodes again", DEADLINE, || {
        ["confide1", "confide2", "confide3"]
            .iter()
            .all(|n| up_in_haproxy(&topology, "confide", n))
    });
    assert_eq!(
        (three.3, one.3),
        (0, 0),
        "no request fails while nothing does"
    );

    // kill -9 of one node under the load.
    let mut load = Load::start(&api, &clinic, 4, 4, 0);
    let began = Instant::now();
    load.until_successes(began, 50, None, DEADLINE);
    let fault = Instant::now();
    topology.run(&["kill", "confide2"]);
    topology.until("HAProxy marks the killed node down", DEADLINE, || {
        down_in_haproxy(&topology, "confide", "confide2")
    });
    let marked = Instant::now();
    load.until_successes(marked, 100, None, DEADLINE);
    let samples = load.stop();
    for sample in samples.iter().filter(|s| s.started >= marked) {
        assert!(
            sample.succeeded(),
            "after the dead node left the balancer: {sample:?}"
        );
    }
    for sample in samples.iter().filter(|s| s.ended() < fault) {
        assert!(sample.succeeded(), "before the kill: {sample:?}");
    }
    let f = figures(&samples, fault);
    let read_back = everything_acknowledged_is_there(&topology, &clinic, &samples);
    report(
        "confide-node-kill",
        &topology,
        format!(
            "3 nodes: {:.0} req/s, p50 {:?}, p99 {:?}; 1 node: {:.0} req/s, p50 {:?}, p99 {:?}; \
             kill -9 confide2 under load: {} requests, {} failed (by answer {:?}), none failed after {:?}, \
             longest time without a success {:?}, HAProxy marked it down after {:?}; {read_back}",
            three.0,
            three.1,
            three.2,
            one.0,
            one.1,
            one.2,
            f.requests,
            f.failed,
            f.failures,
            f.until_none_fail,
            f.without_service,
            marked - fault
        ),
    );
}

#[test]
fn kill_9_of_a_garage_node_under_uploads_and_plays_loses_nothing() {
    let topology = Topology::up();
    let api = topology.api();
    let clinic = Clinic::new(&topology, "drill-garage", 400);
    let mut load = Load::start(&api, &clinic, 2, 3, 2);
    let began = Instant::now();
    load.until_successes(began, 10, Some(Kind::Upload), DEADLINE);
    let fault = Instant::now();
    topology.run(&["kill", "garage3"]);
    topology.until(
        "HAProxy marks the killed Garage node down",
        DEADLINE,
        || down_in_haproxy(&topology, "garage", "garage3"),
    );
    let marked = Instant::now();
    // Uploads and plays go on with two of the three nodes (replication factor 3, quorum 2).
    load.until_successes(marked, 20, Some(Kind::Upload), DEADLINE);
    load.until_successes(marked, 20, Some(Kind::Play), DEADLINE);
    let samples = load.stop();
    for sample in samples.iter().filter(|s| s.started >= marked) {
        assert!(sample.succeeded(), "with a Garage node dead: {sample:?}");
    }
    let f = figures(&samples, fault);
    let uploads = samples
        .iter()
        .filter(|s| s.kind == Kind::Upload && s.succeeded() && s.started >= fault)
        .count();
    let plays = samples
        .iter()
        .filter(|s| s.kind == Kind::Play && s.succeeded() && s.started >= fault)
        .count();
    let read_back = everything_acknowledged_is_there(&topology, &clinic, &samples);
    report(
        "garage-node-kill",
        &topology,
        format!(
            "kill -9 garage3 under uploads and plays: {} requests, {} failed, none failed after {:?}, \
             longest time without a success {:?}; {uploads} uploads and {plays} plays succeeded after the kill; {read_back}",
            f.requests, f.failed, f.until_none_fail, f.without_service
        ),
    );
}

#[test]
fn kill_9_of_the_postgres_primary_promotes_the_standby_and_loses_nothing_acknowledged() {
    let topology = Topology::up();
    let api = topology.api();
    let clinic = Clinic::new(&topology, "drill-failover", 0);
    let old = topology.run(&["primary"]);
    let new = if old == "pg1" { "pg2" } else { "pg1" };
    let mut load = Load::start(&api, &clinic, 4, 4, 0);
    let began = Instant::now();
    load.until_successes(began, 50, None, DEADLINE);
    let fault = Instant::now();
    topology.run(&["kill", &old]);
    topology.until("Patroni promotes the standby", DEADLINE, || {
        up_in_haproxy(&topology, "postgres", new)
    });
    let promoted = Instant::now();
    // The nodes reconnect by themselves: the load succeeds again without any restart.
    load.until_successes(promoted, 1, Some(Kind::Write), DEADLINE);
    let resumed = Instant::now();
    load.until_successes(resumed, 100, None, DEADLINE);
    let samples = load.stop();
    for sample in samples.iter().filter(|s| s.started >= resumed) {
        assert!(sample.succeeded(), "after the failover: {sample:?}");
    }
    // Meanwhile a request fails as an outage a client can retry, never as anything else.
    for sample in samples.iter().filter(|s| !s.succeeded()) {
        assert!(sample.unavailable(), "during the failover: {sample:?}");
    }
    for sample in samples.iter().filter(|s| s.ended() < fault) {
        assert!(sample.succeeded(), "before the kill: {sample:?}");
    }
    let f = figures(&samples, fault);
    let read_back = everything_acknowledged_is_there(&topology, &clinic, &samples);
    report(
        "postgres-primary-kill",
        &topology,
        format!(
            "kill -9 of {old} (Patroni and PostgreSQL) under load: {new} promoted after {:?}; \
             {} requests, {} failed ({} of them UNAVAILABLE; by answer {:?}), none failed after {:?}, \
             time without service {:?}; {read_back}",
            promoted - fault,
            f.requests,
            f.failed,
            f.unavailable,
            f.failures,
            f.until_none_fail,
            f.without_service
        ),
    );
}

#[test]
fn the_whole_database_stopped_is_unavailable_quickly_and_service_resumes_when_it_is_back() {
    let topology = Topology::up();
    let api = topology.api();
    let clinic = Clinic::new(&topology, "drill-outage", 0);
    let mut load = Load::start(&api, &clinic, 4, 4, 0);
    let began = Instant::now();
    load.until_successes(began, 50, None, DEADLINE);
    let stopping = Instant::now();
    std::thread::scope(|scope| {
        for node in ["pg1", "pg2"] {
            let topology = &topology;
            scope.spawn(move || topology.run(&["stop", node]));
        }
    });
    let stopped = Instant::now();
    // Requests keep coming for a while with no database at all.
    load.until_answers(stopped, 40, DEADLINE);
    // A few seconds of outage, as a restart of the database takes.
    load.run_for(OUTAGE);
    let restarting = Instant::now();
    for node in ["pg1", "pg2"] {
        topology.run(&["start", node]);
    }
    topology.until("a primary again", DEADLINE, || {
        up_in_haproxy(&topology, "postgres", "pg1") || up_in_haproxy(&topology, "postgres", "pg2")
    });
    load.until_successes(restarting, 1, Some(Kind::Write), DEADLINE);
    let resumed = Instant::now();
    load.until_successes(resumed, 100, None, DEADLINE);
    let samples = load.stop();
    let during: Vec<_> = samples
        .iter()
        .filter(|s| s.started >= stopped && s.ended() <= restarting)
        .collect();
    assert!(
        during.len() >= 40,
        "the outage saw {} requests",
        during.len()
    );
    for sample in &during {
        assert!(sample.unavailable(), "during the outage: {sample:?}");
        assert!(
            sample.took < QUICK,
            "answered in {:?}: {sample:?}",
            sample.took
        );
    }
    for sample in samples.iter().filter(|s| s.started >= resumed) {
        assert!(sample.succeeded(), "after the database is back: {sample:?}");
    }
    // While it stops and while it starts, a request can meet a server half-way: shutting
    // down, starting in recovery, read-only until Patroni promotes it. Every such answer is
    // UNAVAILABLE too (the store's outage codes); anything else fails the drill, with the
    // nodes' error lines to say why.
    let odd: Vec<_> = samples
        .iter()
        .filter(|s| !s.succeeded() && !s.unavailable())
        .collect();
    if !odd.is_empty() {
        eprintln!("answers other than UNAVAILABLE while the database stopped or started: {odd:?}");
        for node in ["confide1", "confide2", "confide3"] {
            for line in topology
                .log_of(node)
                .lines()
                .filter(|l| l.contains("\"ERROR\""))
                .take(3)
            {
                eprintln!("{node}: {line}");
            }
        }
    }
    assert!(
        odd.is_empty(),
        "{} answers were neither a success nor UNAVAILABLE",
        odd.len()
    );
    let slowest = during.iter().map(|s| s.took).max().unwrap_or_default();
    let f = figures(&samples, stopping);
    let read_back = everything_acknowledged_is_there(&topology, &clinic, &samples);
    report(
        "database-stop-start",
        &topology,
        format!(
            "both PostgreSQL nodes stopped for {:?}: {} requests answered UNAVAILABLE (503, Retry-After), \
             slowest in {slowest:?}; service back {:?} after the restart began; {} requests in all, \
             {} failed (by answer {:?}); {read_back}",
            restarting - stopped,
            during.len(),
            resumed - restarting,
            f.requests,
            f.failed,
            f.failures
        ),
    );
}
