//! Audit exports of a tenant of 1M events on PostgreSQL, each against its baseline in the same
//! run: writing the complete bundle and a bundle for one client in a hundred against reading
//! the same events; verifying the complete bundle against SHA-256 over the same file; and the
//! store's own check (`verify_store`) against reading the events. Peak memory is measured
//! for each phase.
//!
//! `cargo bench -p confide-eventstore --bench export` (after `.ci/test` has prepared the
//! database, or with CONFIDE_TEST_DATABASE_URL set). CONFIDE_BENCH_EXPORT_EVENTS sets the
//! tenant's size (default 1M).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{BenchDatabase, env_or};

use std::io::Read;
use std::time::{Duration, Instant};

use chrono::Utc;
use confide_audit::checkpoint::NoteSigner;
use confide_audit::verify::{VerifyOptions, verify_bundle};
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_eventstore::export::{ExportRequest, Filter, export_bundle, verify_store};
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StreamId, TenantId,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Clients in the tenant; a client bundle discloses one in this many events.
const CLIENTS: u64 = 100;

/// A playback-sized event about one of the tenant's clients.
fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "PlaybackStarted",
        1,
        json!({
            "type": "PlaybackStarted",
            "client_id": format!("client-{}", n % CLIENTS),
            "recording_id": Uuid::from_u64_pair(7, n).to_string(),
            "purpose": "course_assessment",
            "viewer": { "kind": "user", "user_id": "tutor-1" },
            "basis": { "consent_id": Uuid::from_u64_pair(8, n % CLIENTS).to_string(), "consent_version": 2, "policy_version": 1 },
            "at": "2026-11-20T10:00:00.000000Z",
        }),
    )
    .with_metadata(json!({ "actor": "tutor-1" }))
}

/// Resets the process's peak resident size (Linux), so each phase reports its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident size since the last reset, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Row {
    name: String,
    elapsed: Duration,
    events: u64,
    baseline: Option<Duration>,
    peak_mib: f64,
}

#[tokio::main]
async fn main() {
    let events: u64 = env_or("CONFIDE_BENCH_EXPORT_EVENTS", 1_000_000);
    let database = BenchDatabase::new(4).await;
    let (store, pool) = (database.store.clone(), database.pool.clone());

    let tenant = TenantId::parse("bench-audit").unwrap();
    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let n = (events - written).min(1000);
        let batch = (written..written + n).map(event).collect();
        let stream = StreamId::parse(&format!("recording-{}", written / 1000)).unwrap();
        store
            .append(
                &tenant,
                AppendRequest::to_stream(stream, ExpectedVersion::NoStream, batch, Utc::now()),
            )
            .await
            .unwrap();
        written += n;
    }
    eprintln!(
        "filled a tenant of {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let signer = CheckpointSigner::new(
        NoteSigner::generate("confide.bench").unwrap(),
        "confide.bench",
    );
    let dir =
        std::env::temp_dir().join(format!("confide-export-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let complete_path = dir.join("complete.jsonl");
    let mut rows = Vec::new();

    // Baseline: reading the same events a page at a time, as the exporter does.
    reset_peak();
    let started = Instant::now();
    let mut next = 0;
    while next < events {
        let page = store.read_tenant(&tenant, next, 1000).await.unwrap();
        next += page.len() as u64;
    }
    let read = started.elapsed();
    rows.push(Row {
        name: "read the events (baseline)".into(),
        elapsed: read,
        events,
        baseline: None,
        peak_mib: peak_mib(),
    });

    for (name, filter, path) in [
        (
            "export, complete bundle",
            Filter::everything(),
            complete_path.clone(),
        ),
        (
            "export, one client in a hundred",
            Filter::everything().with_subject("client", "client-7"),
            dir.join("client.jsonl"),
        ),
    ] {
        reset_peak();
        let started = Instant::now();
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(&path).await.unwrap());
        let request = ExportRequest {
            filter,
            previous: None,
            generator: "confide bench".into(),
        };
        let summary = export_bundle(&store, &signer, &tenant, request, Utc::now(), &mut file)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let size = std::fs::metadata(&path).unwrap().len();
        rows.push(Row {
            name: format!(
                "{name}: {} disclosed, {:.0} MB",
                summary.bundle.events,
                size as f64 / 1e6
            ),
            elapsed,
            events,
            baseline: Some(read),
            peak_mib: peak_mib(),
        });
    }

    // Baseline: SHA-256 over the complete bundle's bytes.
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut input = std::fs::File::open(&complete_path).unwrap();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = input.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    std::hint::black_box(hasher.finalize());
    let hashed = started.elapsed();
    rows.push(Row {
        name: "SHA-256 over the complete bundle (baseline)".into(),
        elapsed: hashed,
        events,
        baseline: None,
        peak_mib: 0.0,
    });
    reset_peak();
    let started = Instant::now();
    let options = VerifyOptions {
        trusted_keys: vec![signer.note_signer().verifier()],
        previous: None,
    };
    // Unbuffered, as `confide-verify` reads: the reader takes about a megabyte at a time.
    let reader = std::fs::File::open(&complete_path).unwrap();
    let verified = verify_bundle(reader, &options, &mut ()).unwrap();
    assert_eq!(verified.events, events);
    rows.push(Row {
        name: "verify the complete bundle (confide-verify's checks)".into(),
        elapsed: started.elapsed(),
        events,
        baseline: Some(hashed),
        peak_mib: peak_mib(),
    });

    reset_peak();
    let started = Instant::now();
    let checked = verify_store(&store, &tenant, &[signer.note_signer().verifier()])
        .await
        .unwrap();
    assert_eq!(checked.events, events);
    rows.push(Row {
        name: "verify-store (rows, nodes, checkpoints)".into(),
        elapsed: started.elapsed(),
        events,
        baseline: Some(read),
        peak_mib: peak_mib(),
    });

    println!("\nAudit exports of a tenant of {events} events on PostgreSQL\n");
    println!("| run | events/s | time of baseline | peak RSS |");
    println!("|---|---:|---:|---:|");
    for row in &rows {
        let relative = row.baseline.map_or("baseline".to_owned(), |b| {
            format!("{:.2}×", row.elapsed.as_secs_f64() / b.as_secs_f64())
        });
        let peak = if row.peak_mib > 0.0 {
            format!("{:.0} MiB", row.peak_mib)
        } else {
            String::new()
        };
        println!(
            "| {} | {:.0} | {relative} | {peak} |",
            row.name,
            row.events as f64 / row.elapsed.as_secs_f64()
        );
    }

    let _ = std::fs::remove_dir_all(&dir);
    drop(store);
    drop(pool);
    database.drop_schema().await;
}
