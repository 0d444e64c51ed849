//! Outages of what Confide depends on, with the real binary under a bounded load: a private
//! PostgreSQL (never the shared one) stopped with `pg_ctl stop -m immediate` and started again,
//! and a private Garage killed during uploads and started again. Every request during an
//! outage is answered `UNAVAILABLE` (HTTP 503 with `Retry-After`) within two seconds, `/ready`
//! says the database is down, nothing is half-stored, and the service recovers on its own.
//!
//! PostgreSQL's own programs (`initdb`, `pg_ctl`) come with the PostgreSQL `.ci/test`
//! installs; as root they run as the `postgres` user. Garage comes from `.ci/garage` (started
//! here on ports of its own with its own state); without it the S3 test fails under CI and is
//! passed over, said aloud, elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{Answer, Confide, data_dir, try_exchange, try_graphql, write_wav};
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// What every answer during an outage must beat.
const QUICK: Duration = Duration::from_secs(2);
/// How long a load client waits for any answer before calling it a hang.
const PATIENCE: Duration = Duration::from_secs(15);
/// Concurrent load clients.
const CLIENTS: usize = 4;

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL

/// A PostgreSQL cluster of this test's own, in a temporary directory on a free port.
struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// Creates and starts the cluster, with the role and database Confide uses.
    async fn start() -> Self {
        let bin = postgres_bin();
        let dir =
            std::env::temp_dir().join(format!("confide-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        }
        let server = Self {
            port: free_port(1),
            dir,
            bin,
        };
        run(server
            .as_owner("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(server.data()));
        server.start_again();
        let mut admin = PgConnection::connect(&format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            server.port
        ))
        .await
        .expect("connecting to the private PostgreSQL");
        for statement in [
            "CREATE ROLE confide LOGIN PASSWORD 'confide' NOSUPERUSER NOBYPASSRLS",
            "CREATE DATABASE confide OWNER confide",
        ] {
            sqlx::query(statement).execute(&mut admin).await.unwrap();
        }
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn url(&self) -> String {
        format!("postgres://confide:confide@127.0.0.1:{}/confide", self.port)
    }

    /// `pg_ctl start`, which returns once the server accepts connections.
    fn start_again(&self) {
        run(self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "120", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                self.dir.display()
            ))
            .arg("start"));
    }

    /// `pg_ctl stop -m immediate`: every connection dropped at once, as in a crash.
    fn stop(&self) {
        run(self.as_owner("pg_ctl").arg("-D").arg(self.data()).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }

    fn as_owner(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest PostgreSQL's programs.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs under /usr/lib/postgresql (installed by .ci/test)")
        .map(|entry| entry.unwrap().path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("initdb and pg_ctl under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    let id = Command::new("id").arg("-u").output().expect("running id");
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

fn run(command: &mut Command) {
    let output = command.output().expect("running a command");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port nothing listens on, with the `span` ports after it free as well.
fn free_port(span: u16) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port.checked_add(span).is_some()
            && (1..span).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok())
        {
            return port;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load

/// One request of the load and how it was answered.
#[derive(Debug)]
struct Sample {
    started: Instant,
    took: Duration,
    what: &'static str,
    /// `None` when no answer came at all (connection refused or cut, or no answer in time).
    answer: Option<Answer>,
}

impl Sample {
    fn succeeded(&self) -> bool {
        self.answer
            .as_ref()
            .is_some_and(|a| a.status == 200 && a.body["errors"].is_null())
    }

    /// Answered as an outage: `UNAVAILABLE`, 503, told when to retry.
    fn unavailable(&self) -> bool {
        self.answer.as_ref().is_some_and(|a| {
            a.status == 503 && a.code() == "UNAVAILABLE" && a.header("retry-after").is_some()
        })
    }
}

/// Clients that read and write in turn as sam until `stop`, each request a sample.
fn load(
    address: &str,
    token: &str,
    stop: &Arc<AtomicBool>,
) -> (Receiver<Sample>, Vec<std::thread::JoinHandle<()>>) {
    let (samples, received) = channel();
    let clients = (0..CLIENTS)
        .map(|client| {
            let (samples, stop) = (samples.clone(), stop.clone());
            let (address, token) = (address.to_owned(), token.to_owned());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let (what, query, variables) = if n.is_multiple_of(2) {
                        (
                            "registerClient",
                            "mutation($n: String!) { registerClient(name: $n) }",
                            json!({ "n": format!("Client {client}-{n}") }),
                        )
                    } else {
                        ("tenant", "{ tenant { id name } }", json!({}))
                    };
                    let started = Instant::now();
                    let answer = try_graphql(&address, &token, query, variables, PATIENCE).ok();
                    let sample = Sample {
                        started,
                        took: started.elapsed(),
                        what,
                        answer,
                    };
                    if samples.send(sample).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    (received, clients)
}

/// Takes samples from the load into `all` until `enough` of them started after `since`.
fn gather(received: &Receiver<Sample>, all: &mut Vec<Sample>, since: Instant, enough: usize) {
    let mut counted = all.iter().filter(|s| s.started >= since).count();
    while counted < enough {
        let sample = received
            .recv_timeout(PATIENCE * 2)
            .expect("the load stalled");
        if sample.started >= since {
            counted += 1;
        }
        all.push(sample);
    }
}

/// `GET /ready`: its status and how long it took.
fn ready(server: &Confide) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = server.get("/ready");
    (status, started.elapsed())
}

/// The slowest, and the median, of `samples`' times.
fn times(samples: &[&Sample]) -> (Duration, Duration) {
    let mut took: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    took.sort();
    (
        took.last().copied().unwrap_or_default(),
        took.get(took.len() / 2).copied().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_is_answered_unavailable_within_two_seconds_and_recovers() {
    let postgres = PrivatePostgres::start().await;
    let server = Confide::start_on(Some(postgres.url()), &data_dir(), &[]);
    tokio::task::spawn_blocking(move || database_outage(&postgres, &server))
        .await
        .unwrap();
}

fn database_outage(postgres: &PrivatePostgres, server: &Confide) {
    server.create_tenant("outage", "admin", "written_opt_in");
    let admin = server.token("outage", "admin");
    server.ok(
        &admin,
        "mutation { addMember(userId: \"sam\", roles: [PRACTITIONER]) { id } }",
        json!({}),
    );
    let sam = server.token("outage", "sam");

    let stop = Arc::new(AtomicBool::new(false));
    let (received, clients) = load(&server.address, &sam, &stop);
    let mut all = Vec::new();
    let began = Instant::now();
    gather(&received, &mut all, began, 4 * CLIENTS);

    let stopping = Instant::now();
    postgres.stop();
    let stopped = Instant::now();
    let (status, took) = ready(server);
    assert_eq!(status, 503, "/ready says the database is down");
    assert!(took < QUICK, "/ready answered in {took:?}");
    gather(&received, &mut all, stopped, 6 * CLIENTS);

    let restarting = Instant::now();
    postgres.start_again();
    let restarted = Instant::now();
    let (status, _) = ready(server);
    assert_eq!(
        status, 200,
        "ready again once the database is back, without a restart"
    );
    gather(&received, &mut all, restarted, 4 * CLIENTS);
    stop.store(true, Ordering::SeqCst);
    drop(received);
    for client in clients {
        client.join().expect("a load client panicked");
    }

    // Every answer is a success or an outage said as such, never anything else.
    for sample in &all {
        assert!(
            sample.succeeded() || sample.unavailable(),
            "neither a success nor UNAVAILABLE: {sample:?}"
        );
    }
    for sample in all.iter().filter(|s| s.started + s.took < stopping) {
        assert!(sample.succeeded(), "before the outage: {sample:?}");
    }
    let during: Vec<&Sample> = all
        .iter()
        .filter(|s| s.started >= stopped && s.started + s.took <= restarting)
        .collect();
    assert!(
        during.len() >= 4 * CLIENTS,
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
    assert!(during.iter().any(|s| s.what == "registerClient"));
    assert!(during.iter().any(|s| s.what == "tenant"));
    let after: Vec<&Sample> = all.iter().filter(|s| s.started >= restarted).collect();
    for sample in &after {
        assert!(sample.succeeded(), "after the database is back: {sample:?}");
    }
    let (slowest, median) = times(&during);
    eprintln!(
        "database outage: {} requests answered UNAVAILABLE (503, Retry-After), median {median:?}, \
         slowest {slowest:?}; /ready said 503 in {took:?}; {} requests succeeded after the restart",
        during.len(),
        after.len()
    );
}

// ---------------------------------------------------------------------------------------------
// A private Garage

/// A Garage of this test's own, started by `.ci/garage` with its own state and ports.
struct PrivateGarage {
    state: PathBuf,
    port: u16,
    /// The `CONFIDE_TEST_S3_…` values `.ci/garage` printed.
    exports: Vec<(String, String)>,
}

impl PrivateGarage {
    /// `None` (said aloud) when Garage is not installed, outside CI; under CI that fails.
    fn start() -> Option<Self> {
        let installed = Command::new("sh")
            .args([
                "-c",
                "command -v garage || test -x \"$HOME/.cargo/bin/garage\"",
            ])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Garage is not installed: run .ci/garage (as .ci/test does), which installs it"
            );
            eprintln!("Garage is not installed here: the S3 outage is not tried");
            return None;
        }
        let mut garage = Self {
            state: std::env::temp_dir()
                .join(format!("confide-garage-{}", uuid::Uuid::new_v4().simple())),
            // S3 on the port, RPC on the next, admin on the one after that.
            port: free_port(4),
            exports: Vec::new(),
        };
        garage.start_again();
        Some(garage)
    }

    /// Runs `.ci/garage`, which starts Garage on the same state unless it runs.
    fn start_again(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/garage");
        let output = Command::new(script)
            .env("CONFIDE_GARAGE_STATE", &self.state)
            .env("CONFIDE_GARAGE_S3_PORT", self.port.to_string())
            .output()
            .expect("running .ci/garage");
        assert!(
            output.status.success(),
            ".ci/garage: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.exports = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
            .collect();
    }

    fn export(&self, name: &str) -> &str {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!(".ci/garage printed no {name}"))
    }

    /// Kills Garage with SIGKILL and returns once its S3 port refuses connections.
    fn kill(&self) {
        let pid = std::fs::read_to_string(self.state.join("garage.pid")).unwrap();
        run(Command::new("kill").args(["-KILL", pid.trim()]));
        let status = PathBuf::from(format!("/proc/{}/status", pid.trim()));
        // Gone, or a zombie whose sockets are closed: a kill takes effect at once, so this
        // only ever turns a few times.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&status).is_ok_and(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        }) {
            assert!(Instant::now() < deadline, "Garage outlived SIGKILL");
            std::thread::yield_now();
        }
        // Its listening socket closed with it; a connection that still succeeds is a passing
        // accident (a client socket connected to itself on that port), so try again.
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "Garage's port still answers");
            std::thread::yield_now();
        }
    }
}

impl Drop for PrivateGarage {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.state.join("garage.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Uploads `body` (a WAV) to a recording as `token`'s holder. With `pause`, the first
/// `pause.0` bytes are sent, then `pause.1` runs, then the rest: an outage in mid-upload.
fn upload(
    server: &Confide,
    token: &str,
    recording: &str,
    body: &[u8],
    pause: Option<(usize, &dyn Fn())>,
) -> (Answer, Duration) {
    let mut request = format!(
        "PUT /v1/recordings/{recording}/media HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let Some((at, outage)) = pause else {
        request.extend_from_slice(body);
        let started = Instant::now();
        let answer = try_exchange(&server.address, &request, PATIENCE).expect("an answer");
        return (answer, started.elapsed());
    };
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(&request).unwrap();
    stream.write_all(&body[..at]).unwrap();
    outage();
    let started = Instant::now();
    // The server may answer before it has read everything.
    let _ = stream.write_all(&body[at..]);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, json) = raw.split_once("\r\n\r\n").expect("an answer");
    (
        Answer {
            status: head.split(' ').nth(1).unwrap().parse().unwrap(),
            head: head.to_owned(),
            body: serde_json::from_str(json).unwrap_or_default(),
        },
        started.elapsed(),
    )
}

/// A recording's media as sam sees it (`null` until stored), and whether the log holds a
/// `RecordingStored` event for it.
fn stored(server: &Confide, sam: &str, admin: &str, recording: &str) -> (bool, bool) {
    let media = server.ok(
        sam,
        "query($id: UUID!) { recording(id: $id, purpose: SUPERVISION) { media { bytes } } }",
        json!({ "id": recording }),
    )["recording"]["media"]
        .clone();
    let log = server.ok(
        admin,
        "{ auditEvents(first: 1000) { nodes { eventType stream } } }",
        json!({}),
    )["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| {
            e["eventType"] == "RecordingStored" && e["stream"].as_str().unwrap().contains(recording)
        });
    (!media.is_null(), log)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_outage_during_uploads_is_unavailable_stores_nothing_and_recovers() {
    let Some(garage) = PrivateGarage::start() else {
        return;
    };
    let s3 = [
        ("CONFIDE_S3_BUCKET", garage.export("CONFIDE_TEST_S3_BUCKET")),
        (
            "CONFIDE_S3_ENDPOINT",
            garage.export("CONFIDE_TEST_S3_ENDPOINT"),
        ),
        ("CONFIDE_S3_REGION", garage.export("CONFIDE_TEST_S3_REGION")),
        ("CONFIDE_S3_FORCE_PATH_STYLE", "true"),
        (
            "CONFIDE_S3_ACCESS_KEY_ID",
            garage.export("CONFIDE_TEST_S3_ACCESS_KEY_ID"),
        ),
        (
            "CONFIDE_S3_SECRET_ACCESS_KEY",
            garage.export("CONFIDE_TEST_S3_SECRET_ACCESS_KEY"),
        ),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let s3: Vec<(&str, &str)> = s3.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Confide::start(&s3).await;
    tokio::task::spawn_blocking(move || s3_outage(garage, &server))
        .await
        .unwrap();
}

fn s3_outage(mut garage: PrivateGarage, server: &Confide) {
    let (sam, _ada, recordings) = server.supervised_recordings("s3-outage", 3);
    let admin = server.token("s3-outage", "admin");
    let recording = |i: usize| recordings[i].as_str().unwrap().to_owned();
    let dir = std::env::temp_dir().join(format!(
        "confide-s3-outage-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    write_wav(&dir.join("small.wav"), 200_000);
    // Three parts of a multipart upload: the store goes away after the first is sent.
    write_wav(&dir.join("large.wav"), 20 * 1024 * 1024);
    let small = std::fs::read(dir.join("small.wav")).unwrap();
    let large = std::fs::read(dir.join("large.wav")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let (answer, _) = upload(server, &sam, &recording(0), &small, None);
    assert_eq!(answer.status, 201, "with the store up: {answer:?}");

    // The store is down before the upload begins…
    garage.kill();
    let (answer, took) = upload(server, &sam, &recording(1), &small, None);
    assert_eq!(
        (answer.status, answer.code()),
        (503, "UNAVAILABLE"),
        "{answer:?}"
    );
    assert!(answer.header("retry-after").is_some(), "{answer:?}");
    assert!(took < QUICK, "answered in {took:?}");
    assert_eq!(stored(server, &sam, &admin, &recording(1)), (false, false));

    // …and goes away half-way through one.
    garage.start_again();
    let kill = || garage.kill();
    let (answer, mid_took) = upload(server, &sam, &recording(2), &large, Some((12 << 20, &kill)));
    assert_eq!(
        (answer.status, answer.code()),
        (503, "UNAVAILABLE"),
        "{answer:?}"
    );
    assert!(answer.header("retry-after").is_some(), "{answer:?}");
    assert!(mid_took < QUICK, "answered in {mid_took:?}");
    assert_eq!(stored(server, &sam, &admin, &recording(2)), (false, false));

    // Back: the same uploads succeed without a restart, and the first recording is intact.
    garage.start_again();
    for (i, body) in [(1, &small), (2, &large)] {
        let (answer, _) = upload(server, &sam, &recording(i), body, None);
        assert_eq!(answer.status, 201, "after the store is back: {answer:?}");
        assert_eq!(stored(server, &sam, &admin, &recording(i)), (true, true));
    }
    assert_eq!(stored(server, &sam, &admin, &recording(0)), (true, true));
    eprintln!(
        "S3 outage: an upload answered UNAVAILABLE in {took:?}; one cut half-way in {mid_took:?} \
         after the store went away"
    );
}
