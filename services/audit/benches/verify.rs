//! Export and verification throughput of audit bundles (`docs/design.md` section 6:
//! verifying an export at 1M events/s), against baselines measured in the same run on the
//! same file: reading it line by line, and SHA-256 over its bytes.
//!
//! ```text
//! cargo bench -p confide-audit --bench verify            # 1,000,000 events
//! CONFIDE_BENCH_EVENTS=200000 cargo bench -p confide-audit --bench verify
//! CONFIDE_BENCH_ROUNDS=5 cargo bench -p confide-audit --bench verify  # rounds of the
//!                                                     # baselines and of verification (3)
//! CONFIDE_BENCH_KEEP=1 cargo bench -p confide-audit --bench verify  # keep the bundles, e.g.
//!                                                     # to profile confide-verify on them
//! ```
//!
//! The events are realistic Confide events (consent requested and given, recording
//! created and stored, access granted, playbacks with their basis, a refusal, a
//! withdrawal), generated as canonical payloads the way the event store keeps them, and
//! written with `BundleWriter::push_canonical` as the exporter does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench code: a panic is a failure.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confide_audit::bundle::{BundleHeader, BundleWriter, Filter};
use confide_audit::checkpoint::{Checkpoint, NoteSigner};
use confide_audit::envelope::EnvelopeHeader;
use confide_audit::merkle::{self, Frontier};
use confide_audit::report::{ConsentTrail, CsvReport};
use confide_audit::verify::{VerifyOptions, verify_bundle};
use sha2::{Digest, Sha256};

const TENANT: &str = "community-counselling";
/// Each client's story is this many events.
const STORY: u64 = 10;

/// One generated event, as the event store hands it to the exporter.
#[derive(Default)]
struct Event {
    sequence: u64,
    event_id: String,
    stream_id: String,
    stream_version: u64,
    event_type: &'static str,
    recorded_at: String,
    payload: String,
    metadata: String,
}

impl Event {
    fn header(&self) -> EnvelopeHeader<'_> {
        EnvelopeHeader {
            tenant_id: TENANT,
            sequence: self.sequence,
            event_id: &self.event_id,
            stream_id: &self.stream_id,
            stream_version: self.stream_version,
            event_type: self.event_type,
            schema_version: 1,
            recorded_at: &self.recorded_at,
        }
    }
}

fn id(kind: u32, n: u64) -> String {
    format!("10000000-0000-4000-8{kind:03x}-{n:012x}")
}

/// Fills `event` with event `sequence`: client `sequence / 10` goes through the ten
/// steps of a story. Payload members are written in canonical order by hand; the writer
/// checks that they are canonical.
fn generate(sequence: u64, event: &mut Event) {
    let client_number = sequence / STORY;
    let step = sequence % STORY;
    let client = id(1, client_number);
    let consent = id(2, client_number);
    let recording = id(4, client_number);
    let grant = id(0x32, client_number);
    let practitioner = format!("practitioner-{}", client_number % 50);
    let micros = sequence * 100;
    let at = format!(
        "2025-01-{:02}T{:02}:{:02}:{:02}Z",
        5 + micros / 86_400_000_000,
        micros / 3_600_000_000 % 24,
        micros / 60_000_000 % 60,
        micros / 1_000_000 % 60
    );
    let user = |name: &str| format!("{{\"kind\":\"user\",\"user_id\":\"{name}\"}}");
    let client_link = format!("{{\"client_id\":\"{client}\",\"kind\":\"client_link\"}}");
    let form = "{\"consent_form_id\":\"10000000-0000-4000-8003-000000000001\",\"text_sha256\":\"18b471a3db5a2a0b6122eb2b435fe4eaf4bdd778ba1fbbd77362b43efbab8203\",\"version\":1}";
    let (stream_id, stream_version, event_type, by, payload) = match step {
        0 => {
            let by = user(&practitioner);
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"client_id\":\"{client}\",\"consent_id\":\"{consent}\",\"course_id\":null,\"expiry\":null,\"form\":{form},\"practitioner\":\"{practitioner}\",\"renews\":null,\"scope\":{{\"kind\":\"engagement\"}},\"tenant_id\":\"{TENANT}\",\"terms\":[{{\"audience\":{{\"roles\":[],\"users\":[\"ada\",\"bob\"]}},\"derivatives\":[\"transcript\"],\"media\":[\"audio\"],\"purpose\":\"course_assessment\"}}],\"type\":\"ConsentRequested\"}}"
            );
            (
                format!("consent-{consent}"),
                1,
                "ConsentRequested",
                by,
                payload,
            )
        }
        1 => {
            let by = client_link.clone();
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"evidence\":{{\"collected_by\":\"client_link_signature\",\"form\":{form},\"jurisdiction\":\"uk_gdpr\",\"language\":\"en-GB\",\"signed_at\":\"{at}\",\"typed_name\":{{\"ciphertext\":\"dHlwZWQgbmFtZSBvZiB0aGUgY2xpZW50\",\"key_id\":\"client-key-{client_number}\"}}}},\"type\":\"ConsentGiven\"}}"
            );
            (format!("consent-{consent}"), 2, "ConsentGiven", by, payload)
        }
        2 => {
            let by = user(&practitioner);
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"client_id\":\"{client}\",\"consent_id\":\"{consent}\",\"consent_version\":2,\"course_id\":null,\"medium\":\"audio\",\"practitioner\":\"{practitioner}\",\"recording_id\":\"{recording}\",\"session_on\":\"2025-01-07\",\"tenant_id\":\"{TENANT}\",\"type\":\"RecordingCreated\"}}"
            );
            (
                format!("recording-{recording}"),
                1,
                "RecordingCreated",
                by,
                payload,
            )
        }
        3 => {
            let by = user(&practitioner);
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"bytes\":{},\"codec\":\"opus\",\"content_type\":\"audio/ogg\",\"data_key_id\":\"recording-key-{client_number}\",\"duration\":3000000,\"object_key\":\"media/{recording}\",\"sha256\":\"721c9525ade2ea8903d343ef25cf68b9bf4ab0aad56bb7b01fbe48d09bc7fcf4\",\"type\":\"RecordingStored\"}}",
                1_000_000 + client_number
            );
            (
                format!("recording-{recording}"),
                2,
                "RecordingStored",
                by,
                payload,
            )
        }
        4 => {
            let by = user(&practitioner);
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"consent_id\":\"{consent}\",\"consent_version\":2,\"expires_at\":\"2025-02-07T09:00:00Z\",\"grant_id\":\"{grant}\",\"grantee\":{{\"kind\":\"member\",\"user_id\":\"ada\"}},\"purpose\":\"course_assessment\",\"recording_id\":\"{recording}\",\"tenant_id\":\"{TENANT}\",\"type\":\"AccessGranted\"}}"
            );
            (format!("grant-{grant}"), 1, "AccessGranted", by, payload)
        }
        5..=7 => {
            let by = user("ada");
            let payload = format!(
                "{{\"at\":\"{at}\",\"basis\":{{\"consent_id\":\"{consent}\",\"consent_version\":2,\"grant_id\":\"{grant}\",\"policy_version\":1}},\"by\":{by},\"medium\":\"audio\",\"purpose\":\"course_assessment\",\"type\":\"PlaybackStarted\",\"viewer\":{{\"kind\":\"member\",\"roles\":[\"tutor\"],\"user_id\":\"ada\"}}}}"
            );
            (
                format!("recording-{recording}"),
                step - 2,
                "PlaybackStarted",
                by,
                payload,
            )
        }
        8 => {
            let by = user("icf-assessor");
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"medium\":\"audio\",\"purpose\":\"credentialing\",\"reasons\":[{{\"purpose\":\"credentialing\",\"reason\":\"no_role_rule_or_grant\"}}],\"type\":\"PlaybackRefused\",\"viewer\":{{\"kind\":\"external_assessor\",\"user_id\":\"icf-assessor\"}}}}"
            );
            (
                format!("recording-{recording}"),
                6,
                "PlaybackRefused",
                by,
                payload,
            )
        }
        _ => {
            let by = client_link.clone();
            let payload = format!(
                "{{\"at\":\"{at}\",\"by\":{by},\"deletion_requested\":false,\"type\":\"ConsentWithdrawn\"}}"
            );
            (
                format!("consent-{consent}"),
                3,
                "ConsentWithdrawn",
                by,
                payload,
            )
        }
    };
    event.sequence = sequence;
    event.event_id = format!("01940000-0000-7000-8000-{sequence:012x}");
    event.stream_id = stream_id;
    event.stream_version = stream_version;
    event.event_type = event_type;
    event.recorded_at = format!(
        "2025-01-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        5 + micros / 86_400_000_000,
        micros / 3_600_000_000 % 24,
        micros / 60_000_000 % 60,
        micros / 1_000_000 % 60,
        micros % 1_000_000
    );
    event.metadata = format!("{{\"actor\":{by}}}");
    event.payload = payload;
}

struct Row {
    step: &'static str,
    items: u64,
    elapsed: Duration,
    /// CPU time of the whole process (every thread) during the step, if known.
    cpu: Option<Duration>,
    bytes: u64,
    note: String,
}

/// The CPU time (user + system) the process has used so far, from /proc/self/stat (Linux,
/// in clock ticks of 1/100 s, the kernel's USER_HZ on every common configuration). It
/// includes threads that have ended. On a machine shared with other work the wall-clock
/// rate depends on the load; the rate per CPU-second much less.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `step`, returning its result, wall-clock time and CPU time.
fn measure<T>(step: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let cpu_before = cpu_time();
    let started = Instant::now();
    let result = step();
    let elapsed = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    (result, elapsed, cpu)
}

/// Runs `step` `rounds` times (at least once): its last result, the median wall-clock and
/// CPU times, and every round's wall-clock time. On a machine shared with other work a
/// single run can land in a busy moment; the median of a few does not depend on one.
fn measure_rounds<T>(
    rounds: usize,
    mut step: impl FnMut() -> T,
) -> (T, Duration, Option<Duration>, Vec<Duration>) {
    let mut runs = Vec::new();
    let mut result = None;
    for _ in 0..rounds.max(1) {
        let (value, elapsed, cpu) = measure(&mut step);
        runs.push((elapsed, cpu));
        result = Some(value);
    }
    let walls: Vec<Duration> = runs.iter().map(|(elapsed, _)| *elapsed).collect();
    runs.sort_by_key(|(elapsed, _)| *elapsed);
    let (elapsed, cpu) = runs[runs.len() / 2];
    (result.unwrap(), elapsed, cpu, walls)
}

/// "median of 3 rounds: 1.10, 1.02, 1.05 s".
fn rounds_note(walls: &[Duration]) -> String {
    let each: Vec<String> = walls
        .iter()
        .map(|wall| format!("{:.3}", wall.as_secs_f64()))
        .collect();
    format!("median of {} rounds: {} s", walls.len(), each.join(", "))
}

fn rate(items: u64, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64()
}

fn write_bundle(path: &Path, events: u64, filter: Filter, signer: &NoteSigner, root: merkle::Hash) {
    let note = signer.sign(
        &Checkpoint {
            origin: format!("confide.example/{TENANT}"),
            size: events,
            root,
            extensions: vec![],
        }
        .to_body(),
    );
    let header = BundleHeader {
        tenant_id: TENANT.to_owned(),
        filter,
        scan: 0..events,
        exported_at: "2025-03-01T12:00:00.000000Z".to_owned(),
        generator: "confide-audit bench".to_owned(),
    };
    let file = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut writer = BundleWriter::new(file, &header, &[signer.verifier()], &note, None).unwrap();
    let mut event = Event::default();
    for sequence in 0..events {
        generate(sequence, &mut event);
        writer
            .push_canonical(
                event.header(),
                event.payload.as_bytes(),
                event.metadata.as_bytes(),
            )
            .unwrap();
    }
    let (file, _) = writer.finish().unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
}

fn verify(path: &Path, signer: &NoteSigner, with_reports: bool) -> u64 {
    let options = VerifyOptions {
        trusted_keys: vec![signer.verifier()],
        previous: None,
    };
    // Unbuffered, as `confide-verify` reads: the reader takes about a megabyte at a time.
    let input = File::open(path).unwrap();
    let verified = if with_reports {
        let mut sinks = (
            CsvReport::new(BufWriter::new(std::io::sink())).unwrap(),
            ConsentTrail::new(),
        );
        let verified = verify_bundle(input, &options, &mut sinks).unwrap();
        let (sink, rows) = sinks.0.finish(&verified).unwrap();
        black_box((sink, rows, sinks.1.finish(&verified).unwrap()));
        verified
    } else {
        verify_bundle(input, &options, &mut ()).unwrap()
    };
    verified.checkpoint.size
}

fn read_lines(path: &Path) -> u64 {
    let mut input = BufReader::with_capacity(1 << 20, File::open(path).unwrap());
    let mut line = Vec::new();
    let mut lines = 0u64;
    while input.read_until(b'\n', &mut line).unwrap() > 0 {
        lines += 1;
        black_box(&line);
        line.clear();
    }
    lines
}

fn sha256_file(path: &Path) {
    let mut input = File::open(path).unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut hasher = Sha256::new();
    loop {
        let read = input.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    black_box(hasher.finalize());
}

/// The process's peak resident memory in MiB, from /proc (Linux), if available.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not use.
    let events: u64 = std::env::var("CONFIDE_BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::var("CONFIDE_BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    let signer = NoteSigner::from_seed_base64(
        "confide.example",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )
    .unwrap();
    let directory = std::env::temp_dir();
    let full: PathBuf = directory.join(format!(
        "confide-audit-bench-{}-full.jsonl",
        std::process::id()
    ));
    let filtered: PathBuf = directory.join(format!(
        "confide-audit-bench-{}-filtered.jsonl",
        std::process::id()
    ));
    let mut rows = Vec::new();

    // The log's root, as the event store would have it; also the cost of generating.
    let ((root, generated_bytes), elapsed, cpu) = measure(|| {
        let mut event = Event::default();
        let mut frontier = Frontier::new();
        let mut generated_bytes = 0u64;
        for sequence in 0..events {
            generate(sequence, &mut event);
            let bytes = event
                .header()
                .canonical_bytes(event.payload.as_bytes(), event.metadata.as_bytes())
                .unwrap();
            generated_bytes += bytes.len() as u64;
            frontier.push_subtree(0, merkle::leaf_hash(&bytes)).unwrap();
        }
        (frontier.root(), generated_bytes)
    });
    rows.push(Row {
        step: "setup: generate envelopes + leaf hashes",
        items: events,
        elapsed,
        cpu,
        bytes: generated_bytes,
        note: format!(
            "{} bytes per envelope on average",
            generated_bytes / events.max(1)
        ),
    });

    let ((), elapsed, cpu) =
        measure(|| write_bundle(&full, events, Filter::everything(), &signer, root));
    let size = std::fs::metadata(&full).unwrap().len();
    rows.push(Row {
        step: "write bundle (generate + BundleWriter + file)",
        items: events,
        elapsed,
        cpu,
        bytes: size,
        note: "includes generating each event".to_owned(),
    });

    let (lines, baseline_read, cpu, walls) = measure_rounds(rounds, || read_lines(&full));
    rows.push(Row {
        step: "baseline: read the bundle line by line",
        items: lines,
        elapsed: baseline_read,
        cpu,
        bytes: size,
        note: rounds_note(&walls),
    });
    let ((), baseline_sha, cpu, walls) = measure_rounds(rounds, || sha256_file(&full));
    rows.push(Row {
        step: "baseline: SHA-256 over the bundle",
        items: events,
        elapsed: baseline_sha,
        cpu,
        bytes: size,
        note: rounds_note(&walls),
    });

    let (covered, elapsed, cpu, walls) = measure_rounds(rounds, || verify(&full, &signer, false));
    rows.push(Row {
        step: "**verify the complete bundle**",
        items: covered,
        elapsed,
        cpu,
        bytes: size,
        note: format!(
            "{:.2}x the time of reading the lines, {:.2}x that of SHA-256 over the file; {}",
            elapsed.as_secs_f64() / baseline_read.as_secs_f64(),
            elapsed.as_secs_f64() / baseline_sha.as_secs_f64(),
            rounds_note(&walls)
        ),
    });
    let peak_after_verify = peak_memory_mib();
    let (covered, elapsed, cpu) = measure(|| verify(&full, &signer, true));
    rows.push(Row {
        step: "verify + CSV report + consent trail",
        items: covered,
        elapsed,
        cpu,
        bytes: size,
        note: String::new(),
    });

    // One client in 100 (with its consent, recording and grant streams), over the whole log.
    let mut filter = Filter::everything();
    for client in (0..events / STORY).step_by(100) {
        filter = filter
            .with_subject("client", id(1, client))
            .with_subject("consent", id(2, client))
            .with_subject("recording", id(4, client))
            .with_subject("grant", id(0x32, client));
    }
    let ((), elapsed, cpu) = measure(|| write_bundle(&filtered, events, filter, &signer, root));
    let filtered_size = std::fs::metadata(&filtered).unwrap().len();
    rows.push(Row {
        step: "write a bundle filtered to 1 client in 100",
        items: events,
        elapsed,
        cpu,
        bytes: filtered_size,
        note: "items: events examined".to_owned(),
    });
    let (covered, elapsed, cpu) = measure(|| verify(&filtered, &signer, false));
    rows.push(Row {
        step: "verify the filtered bundle",
        items: covered,
        elapsed,
        cpu,
        bytes: filtered_size,
        note: "items: leaves covered (disclosed or hidden)".to_owned(),
    });

    println!("\n## Audit bundle export and verification ({events} events)\n");
    println!("| step | items | seconds | items/s | MB/s | CPU s | items per CPU-second | note |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for row in &rows {
        let (cpu, per_cpu) = match row.cpu {
            Some(cpu) if !cpu.is_zero() => (
                format!("{:.2}", cpu.as_secs_f64()),
                format!("{:.0}", rate(row.items, cpu)),
            ),
            _ => ("?".to_owned(), "?".to_owned()),
        };
        println!(
            "| {} | {} | {:.3} | {:.0} | {:.0} | {} | {} | {} |",
            row.step,
            row.items,
            row.elapsed.as_secs_f64(),
            rate(row.items, row.elapsed),
            row.bytes as f64 / 1e6 / row.elapsed.as_secs_f64(),
            cpu,
            per_cpu,
            row.note
        );
    }
    let mib = |peak: Option<u64>| peak.map_or("unknown".to_owned(), |m| m.to_string());
    println!(
        "\nbundle: {:.1} MB complete, {:.2} MB filtered; peak resident memory: {} MiB through writing and verifying, {} MiB for the whole run (the consent trail summary keeps every access in memory)",
        size as f64 / 1e6,
        filtered_size as f64 / 1e6,
        mib(peak_after_verify),
        mib(peak_memory_mib())
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} cores, load average {} (other work competes for the cores: compare with the baselines of the same run, and see the CPU columns)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if std::env::var_os("CONFIDE_BENCH_KEEP").is_some() {
        println!("kept: {} and {}", full.display(), filtered.display());
    } else {
        let _ = std::fs::remove_file(&full);
        let _ = std::fs::remove_file(&filtered);
    }
    std::io::stdout().flush().unwrap();
}
