//! The README's first command, end to end: the real binary on its embedded default (SQLite and
//! a generated key in a fresh data directory), on port 0, asked for its health, stopped with
//! SIGTERM, and started again with the same key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    address: String,
    key: String,
}

fn start(data_dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confide"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFIDE_DATA_DIR", data_dir)
        .env("CONFIDE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting confide");
    // The binary prints its address once it is listening: read until then.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    let mut key = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            address = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("checkpoint key: ") {
            key = Some(rest.to_string());
        }
        if line.contains("health:") {
            break;
        }
    }
    Running {
        child,
        address: address.expect("confide printed its address"),
        key: key.expect("confide printed its checkpoint key"),
    }
}

fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

fn stop(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    assert!(
        exit.success(),
        "graceful shutdown exits cleanly, got {exit}"
    );
}

#[test]
fn serves_health_on_the_embedded_default_and_keeps_its_key() {
    let data_dir = std::env::temp_dir().join(format!("confide-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);

    let first = start(&data_dir);
    let (status, body) = get(&first.address, "/health");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backend"], "sqlite");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(get(&first.address, "/no-such-thing").0, 404);
    let key = first.key.clone();
    stop(first);

    assert!(data_dir.join("confide.db").exists());
    let mode = std::fs::metadata(data_dir.join("signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the signing key is readable by its owner only"
    );

    let second = start(&data_dir);
    assert_eq!(second.key, key, "a restart keeps the generated key");
    stop(second);
    std::fs::remove_dir_all(&data_dir).unwrap();
}
