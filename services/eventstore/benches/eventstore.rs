//! The event store on PostgreSQL, measured against a bare INSERT of the same rows in the same
//! run: single-event appends with 1 and 8 writers over 8 tenants, appends of 100 events, the
//! catch-up read rate, and inclusion-proof time in a tenant of 1M events.
//!
//! `cargo bench -p confide-eventstore --bench eventstore` (after `.ci/test` has prepared the
//! database, or with CONFIDE_TEST_DATABASE_URL set). CONFIDE_BENCH_SECONDS sets each run's
//! length (default 5); CONFIDE_BENCH_PROOF_EVENTS the size of the proof tenant (default 1M).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{BenchDatabase, env_or};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use confide_audit::merkle;
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, GlobalPosition, NewEvent, PgEventStore, StreamId,
    Subscription, TenantId, proof,
};
use rand::Rng;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const TENANTS: usize = 8;

fn payload(n: u64) -> serde_json::Value {
    json!({
        "consent_id": Uuid::from_u64_pair(7, n).to_string(),
        "purpose": "course_assessment",
        "audience": ["tutor-1", "tutor-2"],
        "n": n,
    })
}

fn tenant(i: usize) -> TenantId {
    TenantId::parse(&format!("bench-{i}")).unwrap()
}

struct Run {
    name: &'static str,
    events: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }
}

/// Runs `writers` tasks for `seconds`, each calling `op(writer, iteration)`, which returns how
/// many events it wrote.
async fn run<F, Fut>(name: &'static str, writers: usize, seconds: u64, op: F) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (op, stop) = (op.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut events = 0;
            let mut latencies = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                events += op(writer, i).await;
                latencies.push(began.elapsed());
                i += 1;
            }
            (events, latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        name,
        events: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (events, latencies) = task.await.unwrap();
        run.events += events;
        run.latencies.extend(latencies);
    }
    run.elapsed = start.elapsed();
    eprintln!("{}: {:.0} events/s", run.name, run.rate());
    run
}

// The bare rows carry a 32-byte `subtree_roots`, as many bytes as the log's rows carry on
// average (half carry none, a quarter one hash, an eighth two, ...).
const BARE_ROW: &str = "INSERT INTO bench_bare (tenant_id, sequence, event_id, stream_id, \
    stream_version, event_type, schema_version, payload, metadata, recorded_at, leaf_hash, \
    subtree_roots) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)";

const BARE_ROWS: &str = "INSERT INTO bench_bare (tenant_id, sequence, event_id, stream_id, \
    stream_version, event_type, schema_version, payload, metadata, recorded_at, leaf_hash, \
    subtree_roots) SELECT $1, s, e, $2, s + 1, 'ConsentGiven', 1, p, '{}', $3, h, h \
      FROM unnest($4::bigint[], $5::uuid[], $6::text[], $7::bytea[]) AS u(s, e, p, h)";

fn random_hash() -> Vec<u8> {
    let mut hash = [0u8; 32];
    rand::thread_rng().fill(&mut hash);
    hash.to_vec()
}

/// The baseline: a plain INSERT of one row of the same shape, keys and indexes.
async fn bare_insert(pool: &PgPool, writer: usize, i: u64) -> u64 {
    sqlx::query(BARE_ROW)
        .bind(format!("bare-{writer}"))
        .bind(i as i64)
        .bind(Uuid::now_v7())
        .bind("log")
        .bind(i as i64 + 1)
        .bind("ConsentGiven")
        .bind(1i32)
        .bind(serde_json::to_string(&payload(i)).unwrap())
        .bind("{}")
        .bind(Utc::now())
        .bind(random_hash())
        .execute(pool)
        .await
        .unwrap();
    1
}

/// The batched baseline: one multi-row INSERT of 100 rows.
async fn bare_insert_batch(pool: &PgPool, writer: usize, i: u64) -> u64 {
    let first = i * 100;
    let sequences: Vec<i64> = (first..first + 100).map(|s| s as i64).collect();
    let ids: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    let payloads: Vec<String> = (first..first + 100)
        .map(|n| serde_json::to_string(&payload(n)).unwrap())
        .collect();
    let hashes: Vec<Vec<u8>> = (0..100).map(|_| random_hash()).collect();
    sqlx::query(BARE_ROWS)
        .bind(format!("bare-batch-{writer}"))
        .bind("log")
        .bind(Utc::now())
        .bind(sequences)
        .bind(ids)
        .bind(payloads)
        .bind(hashes)
        .execute(pool)
        .await
        .unwrap();
    100
}

/// Appends `batch` events to `stream` as an aggregate does: expecting the exact version its
/// writer left it at (each writer has a stream of its own).
async fn append(store: &PgEventStore, tenant: &TenantId, stream: &str, i: u64, batch: u64) -> u64 {
    let events = (0..batch)
        .map(|k| NewEvent::new("ConsentGiven", 1, payload(i * batch + k)))
        .collect();
    store
        .append(
            tenant,
            AppendRequest::to_stream(
                StreamId::parse(stream).unwrap(),
                ExpectedVersion::Exact(i * batch),
                events,
                Utc::now(),
            ),
        )
        .await
        .unwrap();
    batch
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_or("CONFIDE_BENCH_SECONDS", 5);
    let proof_events: u64 = env_or("CONFIDE_BENCH_PROOF_EVENTS", 1_000_000);
    let database = BenchDatabase::new(16).await;
    let (store, pool) = (database.store.clone(), database.pool.clone());
    sqlx::query("CREATE TABLE bench_bare (LIKE events INCLUDING ALL)")
        .execute(&pool)
        .await
        .unwrap();

    let configurations = [
        (
            1usize,
            1u64,
            "bare INSERT, 1 writer",
            "append 1 event, 1 writer",
        ),
        (
            8,
            1,
            "bare INSERT, 8 writers",
            "append 1 event, 8 writers / 8 tenants",
        ),
        (
            1,
            100,
            "bare INSERT of 100 rows, 1 writer",
            "append 100 events, 1 writer",
        ),
        (
            8,
            100,
            "bare INSERT of 100 rows, 8 writers",
            "append 100 events, 8 writers / 8 tenants",
        ),
    ];
    let mut pairs = Vec::new();
    for (n, (writers, batch, bare_name, append_name)) in configurations.into_iter().enumerate() {
        // Keys of the bare rows never collide across configurations.
        let offset = n as u64 * 1_000_000_000;
        let p = pool.clone();
        let bare = run(bare_name, writers, seconds, move |w, i| {
            let p = p.clone();
            async move {
                if batch == 1 {
                    bare_insert(&p, w, offset + i).await
                } else {
                    bare_insert_batch(&p, w, offset / 100 + i).await
                }
            }
        })
        .await;
        let s = store.clone();
        let ours = run(append_name, writers, seconds, move |w, i| {
            let s = s.clone();
            async move {
                let stream = format!("writer-{n}-{w}");
                append(&s, &tenant(w % TENANTS), &stream, i, batch).await
            }
        })
        .await;
        pairs.push((bare, ours));
    }

    // A tenant of `proof_events` events, written in appends of 1000.
    let big = TenantId::parse("bench-proofs").unwrap();
    let started = Instant::now();
    let mut written = 0;
    while written < proof_events {
        let n = (proof_events - written).min(1000);
        append(&store, &big, "proofs", written / 1000, n).await;
        written += n;
    }
    let fill = started.elapsed();
    eprintln!("filled the proof tenant in {:.1} s", fill.as_secs_f64());

    // Catch-up: every event of every tenant, from the start, in batches of 1000; first through
    // the catch-up subscription (two reads ahead), then one global-reader batch at a time.
    let total: u64 = store
        .tenant_sizes()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    let started = Instant::now();
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    let mut subscription =
        Subscription::new(shared, GlobalPosition::default(), Duration::from_secs(1));
    for _ in 0..total {
        subscription.next().await.unwrap();
    }
    let subscribed = started.elapsed();
    drop(subscription);
    let started = Instant::now();
    let mut position = GlobalPosition::default();
    let mut read = 0u64;
    loop {
        let batch = store.read_all(&position, 1000).await.unwrap();
        if batch.is_empty() {
            break;
        }
        read += batch.len() as u64;
        for e in &batch {
            position.advance(e);
        }
    }
    assert_eq!(read, total);
    let catch_up = started.elapsed();

    // Inclusion proofs of random events in the full tree, each verified.
    let head = store.tree_head(&big).await.unwrap().unwrap();
    let mut proof_times = Vec::new();
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let index = rng.gen_range(0..head.size);
        let began = Instant::now();
        let p = proof::inclusion_proof(&store, &big, index, head.size)
            .await
            .unwrap();
        proof_times.push(began.elapsed());
        let leaf = store.read_tenant(&big, index, 1).await.unwrap()[0].leaf_hash;
        merkle::verify_inclusion(&leaf, index, head.size, &p.path, &head.root).unwrap();
    }
    proof_times.sort_unstable();

    println!("\nConfide event store on PostgreSQL ({seconds} s per run)\n");
    println!("| run | events/s | of baseline | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (bare, ours) in &pairs {
        println!(
            "| {} | {:.0} | baseline | {:.2} ms | {:.2} ms |",
            bare.name,
            bare.rate(),
            ms(bare.percentile(0.5)),
            ms(bare.percentile(0.99))
        );
        println!(
            "| {} | {:.0} | {:.0}% | {:.2} ms | {:.2} ms |",
            ours.name,
            ours.rate(),
            100.0 * ours.rate() / bare.rate(),
            ms(ours.percentile(0.5)),
            ms(ours.percentile(0.99))
        );
    }
    println!(
        "| catch-up subscription, {total} events of all tenants | {:.0} | | | |",
        total as f64 / subscribed.as_secs_f64()
    );
    println!(
        "| global reader, one batch at a time, same events | {:.0} | | | |",
        read as f64 / catch_up.as_secs_f64()
    );
    println!(
        "\nwrote a tenant of {proof_events} events in appends of 1000 in {:.1} s ({:.0} events/s)",
        fill.as_secs_f64(),
        proof_events as f64 / fill.as_secs_f64()
    );
    println!(
        "inclusion proof at {} events (1000 random events, each verified): p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        head.size,
        proof_times[499].as_secs_f64() * 1e6,
        proof_times[989].as_secs_f64() * 1e6,
        proof_times[999].as_secs_f64() * 1e6,
    );

    drop(store);
    drop(pool);
    database.drop_schema().await;
}
