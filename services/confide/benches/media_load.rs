//! Media through the real server, against a plain file copy of the same file on the same disk
//! in the same run (and against that copy flushed to disk, since an upload is durable before
//! it is acknowledged): upload (`PUT /v1/recordings/{id}/media` — probing, hashing, encryption,
//! the local blob store) and playback (`GET /v1/media/{ticket}` — decryption), the server's
//! peak memory while it takes the upload, and the latency of a seek (a 64 KiB range at a
//! random offset).
//!
//! Run with `cargo bench -p confide --bench media_load`. The file is a WAV of 2 GiB unless
//! `CONFIDE_BENCH_MEDIA_BYTES` says otherwise; each step runs in `CONFIDE_BENCH_ROUNDS` rounds
//! (3) after a `sync`, and the median is reported with the share of the cores busy. It needs
//! `curl`, `sync` and the PostgreSQL that `.ci/test` prepares (`CONFIDE_TEST_DATABASE_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench binary: a panic is a failure.

#[path = "../../../e2e/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Confide, write_wav};
use serde_json::json;

const DEFAULT_BYTES: u64 = 2 << 30;
const SEEKS: usize = 200;
const SEEK_BYTES: u64 = 64 * 1024;

/// A field of the server's `/proc/<pid>/status`, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The machine's CPU time since boot, in clock ticks: (busy, all). Busy counts user,
/// system, interrupt and stolen time; idle and I/O wait are not busy.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7];
    (busy, fields[..8].iter().sum())
}

/// Waits until everything written so far is on disk.
fn settle() {
    let status = Command::new("sync").status().expect("running sync");
    assert!(status.success(), "sync failed");
}

fn rate(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / (1 << 20) as f64
}

fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-sS", "-H", "Expect:"])
        .args(args)
        .output()
        .expect("running curl");
    assert!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Saves the whole body of `GET path` to `to`, written a megabyte at a time.
fn download(address: &str, path: &str, to: &std::path::Path) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, stream);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        reader.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(to).unwrap());
    std::io::copy(&mut reader, &mut file).unwrap();
    file.flush().unwrap();
}

/// A 64 KiB range at `offset`, over a new connection; returns its length.
fn range(address: &str, path: &str, offset: u64) -> usize {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nRange: bytes={offset}-{}\r\n\r\n",
        offset + SEEK_BYTES - 1
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 206"),
        "{}",
        String::from_utf8_lossy(&raw[..64.min(raw.len())])
    );
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    raw.len() - split - 4
}

#[tokio::main]
async fn main() {
    let size: u64 = std::env::var("CONFIDE_BENCH_MEDIA_BYTES")
        .ok()
        .map(|v| {
            v.parse()
                .expect("CONFIDE_BENCH_MEDIA_BYTES is a number of bytes")
        })
        .unwrap_or(DEFAULT_BYTES);
    let server = Confide::start(&[]).await;
    let dir = server.data_dir().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("session.wav");
    let size = write_wav(&source, size);

    let rounds: usize = std::env::var("CONFIDE_BENCH_ROUNDS")
        .ok()
        .map(|v| v.parse().expect("CONFIDE_BENCH_ROUNDS is a number"))
        .unwrap_or(3);
    let (sam, ada, recordings) = server.supervised_recordings("bench", rounds);

    // The same file copied on the same disk, once to warm the page cache.
    let copy = dir.join("copy.wav");
    std::fs::copy(&source, &copy).unwrap();
    std::fs::remove_file(&copy).unwrap();
    let played_to = dir.join("played.wav");
    let pid = server.pid();
    let rss_before_kb = status_kb(pid, "VmRSS:");
    let before_kb = status_kb(pid, "VmHWM:");
    let mut peak_kb = None;
    let mut measured: [Vec<Duration>; 5] = Default::default();
    // The share of the machine's cores busy during each step, over all rounds.
    let mut busy: [(u64, u64); 5] = Default::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut ticket = String::new();
    for recording in &recordings {
        let recording = recording.as_str().unwrap();
        // Every step starts with nothing of the step before still waiting to be written, so
        // that no step pays for another's writes.
        let mut timed = |index: usize, step: &mut dyn FnMut()| {
            settle();
            let (busy_before, all_before) = cpu_ticks();
            let started = Instant::now();
            step();
            measured[index].push(started.elapsed());
            let (busy_after, all_after) = cpu_ticks();
            busy[index].0 += busy_after - busy_before;
            busy[index].1 += all_after - all_before;
        };
        // The baselines: the plain copy, and the copy flushed to disk, as an upload is
        // stored durably before it is acknowledged.
        timed(0, &mut || {
            std::fs::copy(&source, &copy).unwrap();
        });
        std::fs::remove_file(&copy).unwrap();
        timed(1, &mut || {
            std::fs::copy(&source, &copy).unwrap();
            std::fs::File::open(&copy).unwrap().sync_all().unwrap();
        });
        std::fs::remove_file(&copy).unwrap();

        let url = format!("http://{}/v1/recordings/{recording}/media", server.address);
        timed(2, &mut || {
            let code = curl(&[
                "-X",
                "PUT",
                "-T",
                source.to_str().unwrap(),
                "-H",
                &format!("Authorization: Bearer {sam}"),
                "-H",
                "Content-Type: audio/wav",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &url,
            ]);
            assert_eq!(code, "201", "the upload was refused");
        });
        // The high-water mark after the first upload, before any playback has run.
        peak_kb.get_or_insert_with(|| status_kb(pid, "VmHWM:"));

        let play = server.ok(
            &ada,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { ticketUrl } }",
            json!({ "r": recording }),
        );
        ticket = play["startPlayback"]["ticketUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let ticket_url = format!("http://{}{ticket}", server.address);
        // As a player takes it (an `<audio>` element streams and writes nothing), and saved
        // to a file on the same disk, as the copy is, in writes of a megabyte (curl writes in
        // pieces of 4 to 16 KiB, which on this machine's disk cost more than the playback).
        timed(3, &mut || {
            let streamed_bytes = curl(&["-o", "/dev/null", "-w", "%{size_download}", &ticket_url]);
            assert_eq!(streamed_bytes, size.to_string());
        });
        timed(4, &mut || {
            download(&server.address, &ticket, &played_to);
        });
        assert_eq!(std::fs::metadata(&played_to).unwrap().len(), size);
        std::fs::remove_file(&played_to).unwrap();
    }

    let mut seeks = Vec::with_capacity(SEEKS);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..SEEKS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let offset = state % (size - SEEK_BYTES);
        let started = Instant::now();
        assert_eq!(range(&server.address, &ticket, offset) as u64, SEEK_BYTES);
        seeks.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    seeks.sort_by(f64::total_cmp);

    let median = |durations: &[Duration]| {
        let mut sorted = durations.to_vec();
        sorted.sort();
        sorted[sorted.len() / 2]
    };
    let copy_rate = rate(size, median(&measured[0]));
    let durable_rate = rate(size, median(&measured[1]));
    println!(
        "Media through the server, {} MiB WAV, local encrypted store, PostgreSQL; median of {rounds} rounds (each round's figures in brackets), each step started after `sync`",
        size >> 20
    );
    println!(
        "| measure | figure | against the file copy | against the durable copy | cores busy (of {cores}) |"
    );
    println!("|---|---|---|---|---|");
    for (index, name) in [
        "plain file copy (baseline)",
        "file copy flushed to disk (baseline)",
        "upload (PUT, curl; stored durably)",
        "playback streamed to a player (GET, curl)",
        "playback saved to a file (GET, 1 MiB writes)",
    ]
    .into_iter()
    .enumerate()
    {
        let r = rate(size, median(&measured[index]));
        let each: Vec<String> = measured[index]
            .iter()
            .map(|took| format!("{:.0}", rate(size, *took)))
            .collect();
        let (busy_ticks, all_ticks) = busy[index];
        println!(
            "| {name} | {r:.0} MiB/s [{}] | {:.0}% | {:.0}% | {:.2} |",
            each.join(", "),
            r / copy_rate * 100.0,
            r / durable_rate * 100.0,
            busy_ticks as f64 / all_ticks.max(1) as f64 * cores as f64
        );
    }
    println!(
        "| server peak RSS during the first upload | {} MiB (before: {} MiB resident, peak {} MiB) | | | |",
        peak_kb.unwrap() / 1024,
        rss_before_kb / 1024,
        before_kb / 1024
    );
    println!(
        "| seek: 64 KiB at a random offset | p50 {:.2} ms, p99 {:.2} ms ({SEEKS} requests) | | | |",
        seeks[SEEKS / 2],
        seeks[SEEKS * 99 / 100]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
