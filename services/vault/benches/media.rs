//! Encrypted media against a plain file copy of the same file on the same disk, in one run.
//!
//! ```text
//! cargo bench -p confide-vault --bench media --no-run   # prints the binary's path
//! CONFIDE_BENCH_MEDIA_BYTES=268435456 <binary>          # default 2 GiB
//! ```
//!
//! `CONFIDE_BENCH_DIR` picks the directory (default: the system's temporary directory). The
//! phases, each on the same generated file, already in the page cache:
//! - copy: `std::fs::copy` then `fsync` of the copy (the store fsyncs too), and the copy alone;
//! - upload: the file read through a `LocalBlobStore`, `encrypt_stream`, `put` into a
//!   `LocalBlobStore` (temporary file, fsync, rename), with the process's peak resident
//!   memory reset before and read after (`/proc/self/clear_refs`, `VmHWM`);
//! - playback: `decrypt_range` of the whole object, every byte consumed; and the same read
//!   without decryption;
//! - seek: `decrypt_range` of 64 KiB at 200 random offsets, each checked against the file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark: a panic is a failure.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use confide_vault::{
    BlobKey, BlobStore, LocalBlobStore, MediaKey, ciphertext_len, decrypt_range, encrypt_stream,
};
use futures_util::StreamExt;

const SEEKS: usize = 200;
const SEEK_LEN: u64 = 64 * 1024;
const AAD: &[u8] = b"bench-tenant/recordings/0190";

fn main() {
    let size: u64 = std::env::var("CONFIDE_BENCH_MEDIA_BYTES")
        .ok()
        .map(|text| {
            text.parse()
                .expect("CONFIDE_BENCH_MEDIA_BYTES is a number of bytes")
        })
        .unwrap_or(2 << 30);
    let base = std::env::var_os("CONFIDE_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir);
    let directory = tempfile::tempdir_in(&base).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    eprintln!(
        "generating {} in {}",
        human_bytes(size),
        directory.path().display()
    );
    let sources = LocalBlobStore::new(directory.path().join("sources")).unwrap();
    let source_key = BlobKey::parse("recording.raw").unwrap();
    let source = sources.root().join(source_key.as_str());
    generate(&source, size);
    sync();

    // Baseline: a plain copy of the same file on the same disk, made durable like a put.
    let copy = directory.path().join("copy.raw");
    let started = Phase::start();
    std::fs::copy(&source, &copy).unwrap();
    File::open(&copy).unwrap().sync_all().unwrap();
    let copy_fsync = started.stop();
    std::fs::remove_file(&copy).unwrap();
    sync();
    let started = Phase::start();
    std::fs::copy(&source, &copy).unwrap();
    let copy_cached = started.stop();
    std::fs::remove_file(&copy).unwrap();
    sync();

    let store = LocalBlobStore::new(directory.path().join("vault")).unwrap();
    let key = BlobKey::parse("acme/recordings/0190.media").unwrap();
    let media_key = MediaKey::generate();

    // Upload: read, encrypt, write, fsync, rename.
    let rss_before = memory("VmRSS");
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak resident memory");
    let started = Phase::start();
    let stored = runtime.block_on(async {
        let plain = sources
            .get_range(&source_key, 0, size)
            .await
            .unwrap()
            .map(|frame| frame.map_err(io::Error::other));
        let encrypted = encrypt_stream(&media_key, AAD, plain);
        store.put(&key, encrypted.boxed()).await.unwrap()
    });
    let upload = started.stop();
    let peak = memory("VmHWM");
    assert_eq!(stored, ciphertext_len(size));
    sync();

    // The upload's two halves alone: encryption with the output dropped, and the plain file
    // stored without encryption.
    let started = Phase::start();
    let encrypted = runtime.block_on(async {
        let plain = sources
            .get_range(&source_key, 0, size)
            .await
            .unwrap()
            .map(|frame| frame.map_err(io::Error::other));
        let mut encrypted = std::pin::pin!(encrypt_stream(&media_key, AAD, plain));
        let mut len = 0u64;
        while let Some(bytes) = encrypted.next().await {
            len += bytes.unwrap().len() as u64;
        }
        len
    });
    let encrypt_only = started.stop();
    assert_eq!(encrypted, stored);
    let plain_key = BlobKey::parse("acme/recordings/0190.plain").unwrap();
    let started = Phase::start();
    runtime.block_on(async {
        let plain = sources
            .get_range(&source_key, 0, size)
            .await
            .unwrap()
            .map(|frame| frame.map_err(io::Error::other));
        store.put(&plain_key, plain.boxed()).await.unwrap()
    });
    let store_only = started.stop();
    runtime.block_on(store.delete(&plain_key)).unwrap();
    sync();

    // Playback: the whole object decrypted, and the same bytes read without decryption.
    let started = Phase::start();
    let played = runtime.block_on(async {
        let mut stream = decrypt_range(&store, &key, &media_key, AAD, 0..size)
            .await
            .unwrap();
        let mut played = 0u64;
        while let Some(bytes) = stream.next().await {
            played += bytes.unwrap().len() as u64;
        }
        played
    });
    let playback = started.stop();
    assert_eq!(played, size);
    let started = Phase::start();
    let read = runtime.block_on(async {
        let mut stream = store.get_range(&key, 0, stored).await.unwrap();
        let mut read = 0u64;
        while let Some(bytes) = stream.next().await {
            read += bytes.unwrap().len() as u64;
        }
        read
    });
    let plain_read = started.stop();
    assert_eq!(read, stored);

    // Seeks: 64 KiB at random offsets, each checked against the source.
    let source_file = File::open(&source).unwrap();
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    let mut latencies = Vec::with_capacity(SEEKS);
    for _ in 0..SEEKS {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let start = random % size;
        let end = (start + SEEK_LEN).min(size);
        let started = Instant::now();
        let got = runtime.block_on(async {
            let mut stream = decrypt_range(&store, &key, &media_key, AAD, start..end)
                .await
                .unwrap();
            let mut got = Vec::with_capacity((end - start) as usize);
            while let Some(bytes) = stream.next().await {
                got.extend_from_slice(&bytes.unwrap());
            }
            got
        });
        latencies.push(started.elapsed());
        let mut expected = vec![0; (end - start) as usize];
        source_file.read_exact_at(&mut expected, start).unwrap();
        assert!(got == expected, "the range {start}..{end} decrypted wrong");
    }
    latencies.sort();

    // Throughput relative to the baselines: the same bytes in the same time is 100%.
    let ratio = |phase: Phase| {
        format!(
            "{:.0}% of copy+fsync, {:.0}% of copy without fsync",
            100.0 * copy_fsync.wall.as_secs_f64() / phase.wall.as_secs_f64(),
            100.0 * copy_cached.wall.as_secs_f64() / phase.wall.as_secs_f64()
        )
    };
    let mut out = io::stdout().lock();
    let title = format!(
        "Media vault, {} file, same disk, one run",
        human_bytes(size)
    );
    writeln!(out, "\n{title}\n").unwrap();
    writeln!(
        out,
        "| measure | time | CPU (process) | throughput | against the baseline |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|").unwrap();
    let rows = [
        ("copy + fsync (baseline)", copy_fsync, "100%".to_owned()),
        ("copy, no fsync (page cache)", copy_cached, "—".to_owned()),
        ("encrypt + store (fsync, rename)", upload, ratio(upload)),
        (
            "  of which: encrypt only, output dropped",
            encrypt_only,
            ratio(encrypt_only),
        ),
        (
            "  of which: store only, no encryption",
            store_only,
            ratio(store_only),
        ),
        ("decrypt + read whole file", playback, ratio(playback)),
        (
            "read whole object, no decryption",
            plain_read,
            ratio(plain_read),
        ),
    ];
    for (name, phase, against) in rows {
        writeln!(
            out,
            "| {name} | {:.2} s | {:.2} s | {:.0} MiB/s | {against} |",
            phase.wall.as_secs_f64(),
            phase.cpu,
            size as f64 / phase.wall.as_secs_f64() / (1 << 20) as f64,
        )
        .unwrap();
    }
    writeln!(
        out,
        "| seek: 64 KiB at {SEEKS} random offsets | p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms | | | |",
        millis(latencies[SEEKS / 2]),
        millis(latencies[SEEKS * 99 / 100]),
        millis(latencies[SEEKS - 1])
    )
    .unwrap();
    writeln!(
        out,
        "| peak resident memory during the upload | {} (growth {} over {} before) | | | target < 100 MB |",
        human_bytes(peak),
        human_bytes(peak.saturating_sub(rss_before)),
        human_bytes(rss_before)
    )
    .unwrap();
}

/// Writes `size` bytes that do not compress or repeat, through a 1 MiB buffer.
fn generate(path: &Path, size: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = File::create(path).unwrap();
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut written = 0;
    while written < size {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let len = (size - written).min(block.len() as u64) as usize;
        file.write_all(&block[..len]).unwrap();
        written += len as u64;
    }
    file.sync_all().unwrap();
}

/// Flushes every dirty page, so one phase's writeback does not slow the next.
fn sync() {
    let status = std::process::Command::new("sync").status().unwrap();
    assert!(status.success());
}

/// A `/proc/self/status` figure, in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .unwrap();
    kib * 1024
}

/// One phase's wall-clock time and the CPU time the whole process spent in it (user and
/// system, every thread): the machine may be shared, and CPU time shows the cost regardless.
#[derive(Clone, Copy)]
struct Phase {
    wall: Duration,
    cpu: f64,
}

struct Started {
    wall: Instant,
    cpu: f64,
}

impl Phase {
    fn start() -> Started {
        Started {
            wall: Instant::now(),
            cpu: cpu_seconds(),
        }
    }
}

impl Started {
    fn stop(self) -> Phase {
        Phase {
            wall: self.wall.elapsed(),
            cpu: cpu_seconds() - self.cpu,
        }
    }
}

/// User and system time of the process so far, from `/proc/self/stat` (in clock ticks of
/// 1/100 s, Linux's `USER_HZ`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn human_bytes(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}
