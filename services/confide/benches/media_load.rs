//! Media through the real server, against a plain file copy of the same file on the same disk
//! in the same run (and against that copy flushed to disk, since an upload is durable before
//! it is acknowledged): upload (`PUT /v1/recordings/{id}/media` — probing, hashing, encryption,
//! the local blob store) and playback (`GET /v1/media/{ticket}` — decryption), the server's
//! peak memory while it takes the upload, and the latency of a seek (a 64 KiB range at a
//! random offset).
//!
//! Run with `cargo bench -p confide --bench media_load`. The file is a WAV of 2 GiB unless
//! `CONFIDE_BENCH_MEDIA_BYTES` says otherwise. It needs `curl` and the PostgreSQL that
//! `.ci/test` prepares (`CONFIDE_TEST_DATABASE_URL`).

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

    let (sam, ada, recordings) = server.supervised_recordings("bench", 1);
    let recording = recordings[0].as_str().unwrap().to_owned();

    // The baseline: the same file copied on the same disk, once to warm the page cache.
    let copy = dir.join("copy.wav");
    std::fs::copy(&source, &copy).unwrap();
    let started = Instant::now();
    std::fs::copy(&source, &copy).unwrap();
    let copied = started.elapsed();
    std::fs::remove_file(&copy).unwrap();
    // And copied durably, as an upload is stored before it is acknowledged: the copy made,
    // then flushed to disk.
    let started = Instant::now();
    std::fs::copy(&source, &copy).unwrap();
    std::fs::File::open(&copy).unwrap().sync_all().unwrap();
    let copied_durably = started.elapsed();
    std::fs::remove_file(&copy).unwrap();

    let pid = server.pid();
    let before_kb = status_kb(pid, "VmHWM:");
    let rss_before_kb = status_kb(pid, "VmRSS:");
    let url = format!("http://{}/v1/recordings/{recording}/media", server.address);
    let started = Instant::now();
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
    let uploaded = started.elapsed();
    assert_eq!(code, "201", "the upload was refused");
    let peak_kb = status_kb(pid, "VmHWM:");

    let play = server.ok(
        &ada,
        "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { ticketUrl } }",
        json!({ "r": recording }),
    );
    let ticket = play["startPlayback"]["ticketUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    // As a player takes it (an `<audio>` element streams and writes nothing), and saved to
    // a file on the same disk, which then also waits for the disk as the copy does.
    let started = Instant::now();
    let streamed_bytes = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("http://{}{ticket}", server.address),
    ]);
    let streamed = started.elapsed();
    assert_eq!(streamed_bytes, size.to_string());
    let played_to = dir.join("played.wav");
    let started = Instant::now();
    curl(&[
        "-o",
        played_to.to_str().unwrap(),
        &format!("http://{}{ticket}", server.address),
    ]);
    let played = started.elapsed();
    assert_eq!(std::fs::metadata(&played_to).unwrap().len(), size);
    std::fs::remove_file(&played_to).unwrap();

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

    let copy_rate = rate(size, copied);
    println!(
        "Media through the server, {} MiB WAV, local encrypted store, PostgreSQL",
        size >> 20
    );
    let durable_rate = rate(size, copied_durably);
    println!("| measure | figure | against the file copy | against the durable copy |");
    println!("|---|---|---|---|");
    println!("| plain file copy (baseline) | {copy_rate:.0} MiB/s | 100% | |");
    println!(
        "| file copy flushed to disk (baseline) | {durable_rate:.0} MiB/s | {:.0}% | 100% |",
        durable_rate / copy_rate * 100.0
    );
    for (name, took) in [
        ("upload (PUT, curl; stored durably)", uploaded),
        ("playback streamed to a player (GET, curl)", streamed),
        ("playback saved to a file (GET, curl -o)", played),
    ] {
        let r = rate(size, took);
        println!(
            "| {name} | {r:.0} MiB/s | {:.0}% | {:.0}% |",
            r / copy_rate * 100.0,
            r / durable_rate * 100.0
        );
    }
    println!(
        "| server peak RSS during the upload | {} MiB (before: {} MiB resident, peak {} MiB) | |",
        peak_kb / 1024,
        rss_before_kb / 1024,
        before_kb / 1024
    );
    println!(
        "| seek: 64 KiB at a random offset | p50 {:.2} ms, p99 {:.2} ms ({SEEKS} requests) | |",
        seeks[SEEKS / 2],
        seeks[SEEKS * 99 / 100]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
