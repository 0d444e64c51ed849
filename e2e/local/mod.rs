//! The multi-node topology of `infra/local/confide-local` (etcd, PostgreSQL under Patroni
//! with a synchronous standby, a three-node Garage, three Confide nodes behind HAProxy, an
//! OTLP receiver), started for one test on loopback ports of its own and a state directory
//! of its own, and a load of writes, uploads and plays through HAProxy that records every
//! answer and every acknowledgement.
//!
//! The script installs what is missing from the package registries; under `CI=true` a part
//! that cannot be had fails the test.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Test code.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Answer, try_exchange, try_graphql};

/// How long one request of the load may take before it counts as unanswered.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One topology at a time: two cores do not run two.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running topology; stopped and deleted when dropped.
pub struct Topology {
    state: PathBuf,
    base: u16,
    /// `CONFIDE_LOCAL_API` and the others, as the script printed them.
    exports: Vec<(String, String)>,
    /// How long `confide-local up` took.
    pub started_in: Duration,
    _turn: MutexGuard<'static, ()>,
}

/// The offsets from the base port the script uses.
const OFFSETS: &[u16] = &[
    8, 9, 79, 80, 81, 82, 83, 318, 379, 380, 431, 432, 433, 900, 910, 911, 913, 920, 921, 923, 930,
    931, 933,
];

/// A base port whose every offset is free, below the ephemeral range (32768 and up), so no
/// client connection takes one of them between this look and the bind.
fn free_base() -> u16 {
    let seed = std::process::id() as u16;
    (0..200u16)
        .map(|i| 20_000 + (seed.wrapping_add(i) % 12) * 1_000)
        .find(|base| {
            OFFSETS
                .iter()
                .all(|offset| TcpListener::bind(("127.0.0.1", base + offset)).is_ok())
        })
        .expect("a free range of ports")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/local/confide-local")
}

impl Topology {
    /// `confide-local up` with its own state and ports, and the binary cargo built.
    pub fn up() -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let state =
            std::env::temp_dir().join(format!("confide-local-{}", uuid::Uuid::new_v4().simple()));
        let base = free_base();
        let mut topology = Self {
            state,
            base,
            exports: Vec::new(),
            started_in: Duration::ZERO,
            _turn: turn,
        };
        let started = Instant::now();
        let output = topology.script(&["up"]);
        topology.started_in = started.elapsed();
        assert!(
            output.status.success(),
            "confide-local up failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            topology.logs()
        );
        topology.exports = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        topology
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        Command::new(script())
            .args(args)
            .env("CONFIDE_LOCAL_STATE", &self.state)
            .env("CONFIDE_LOCAL_PORT", self.base.to_string())
            .env("CONFIDE_BIN", env!("CARGO_BIN_EXE_confide"))
            .output()
            .expect("running infra/local/confide-local")
    }

    /// Runs `confide-local ARGS`, which must succeed; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.script(args);
        assert!(
            output.status.success(),
            "confide-local {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The end of every part's log, for a failure's message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.state.join("log")) {
            for entry in entries.flatten() {
                let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                text.push_str(&format!("--- {}\n", entry.path().display()));
                for line in tail.iter().rev() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        text
    }

    /// One part's whole log (`confide2`, `oteltap`, …).
    pub fn log_of(&self, part: &str) -> String {
        std::fs::read_to_string(self.state.join("log").join(format!("{part}.log")))
            .unwrap_or_default()
    }

    pub fn export(&self, name: &str) -> &str {
        self.exports
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("confide-local printed no {name}"))
    }

    /// HAProxy's address for the API.
    pub fn api(&self) -> String {
        self.export("CONFIDE_LOCAL_API").to_owned()
    }

    /// Runs a `confide` command with node 1's settings (the shared database and keys).
    pub fn cli(&self, args: &[&str]) -> String {
        let env = std::fs::read_to_string(self.state.join("confide1/env")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_confide"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for line in env.lines() {
            if let Some((k, v)) = line.split_once('=')
                && !k.starts_with("OTEL_")
            {
                command.env(k, v);
            }
        }
        let output = command.args(args).output().expect("running confide");
        assert!(
            output.status.success(),
            "confide {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The status HAProxy's statistics give a server of a backend (`UP`, `DOWN`, …).
    pub fn haproxy_status(&self, backend: &str, server: &str) -> String {
        let raw = raw_get(self.export("CONFIDE_LOCAL_STATS"), "/;csv");
        raw.lines()
            .map(|line| line.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 17 && f[0] == backend && f[1] == server)
            .map(|f| f[17].to_owned())
            .unwrap_or_default()
    }

    /// Polls `condition` until it holds; fails after `deadline`.
    pub fn until(&self, what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(
                started.elapsed() < deadline,
                "{what}: not within {deadline:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100)); // The interval between two probes.
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = self.script(&["down", "--purge"]);
    }
}

/// A plain GET's whole answer, head and body, as text.
fn raw_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

// ---------------------------------------------------------------------------------------------
// A clinic to load

/// A tenant set up through HAProxy: sam records, ada (a tutor) plays for supervision.
pub struct Clinic {
    pub tenant: String,
    pub admin: String,
    pub sam: String,
    pub ada: String,
    /// Recordings with media, one for each player: plays of one recording at once contend for
    /// its stream (each play is an event in it) and some end in `CONFLICT`.
    pub played: Vec<String>,
    /// Recordings awaiting their media, for the uploads.
    pub pending: Arc<Mutex<Vec<String>>>,
}

/// How many recordings the players play (at most one player each).
pub const PLAYED: usize = 4;

fn ok(api: &str, token: &str, query: &str, variables: Value) -> Value {
    let answer = try_graphql(api, token, query, variables, PATIENCE).expect("an answer");
    assert!(
        answer.status == 200 && answer.body["errors"].is_null(),
        "{query}: {answer:?}"
    );
    answer.body["data"].clone()
}

/// A mono 16-bit WAV of about `bytes` bytes.
pub fn wav(bytes: u64) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("confide-drill-{}.wav", uuid::Uuid::new_v4()));
    crate::common::write_wav(&path, bytes);
    let body = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    body
}

/// `PUT /v1/recordings/{id}/media` through `api`.
pub fn upload(api: &str, token: &str, recording: &str, body: &[u8]) -> std::io::Result<Answer> {
    let mut request = format!(
        "PUT /v1/recordings/{recording}/media HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    try_exchange(api, &request, PATIENCE)
}

impl Clinic {
    pub fn new(topology: &Topology, tenant: &str, recordings: usize) -> Self {
        let api = topology.api();
        topology.cli(&[
            "tenant",
            "create",
            "--tenant",
            tenant,
            "--name",
            tenant,
            "--admin",
            "admin",
            "--consent-model",
            "written_opt_in",
        ]);
        let token = |user: &str| {
            topology
                .cli(&["token", "--tenant", tenant, "--user", user])
                .trim()
                .to_owned()
        };
        let admin = token("admin");
        for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
            ok(
                &api,
                &admin,
                "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
                json!({ "u": user, "r": [role] }),
            );
        }
        let (sam, ada) = (token("sam"), token("ada"));
        let form = ok(
            &api,
            &admin,
            "mutation { publishConsentForm(title: \"Consent\", language: \"en-GB\", text: \"I agree to audio recording for supervision.\") { id } }",
            json!({}),
        )["publishConsentForm"]["id"]
            .clone();
        let client = ok(
            &api,
            &sam,
            "mutation { registerClient(name: \"Client\") }",
            json!({}),
        )["registerClient"]
            .clone();
        let requested = ok(
            &api,
            &sam,
            "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { token } } }",
            json!({ "input": {
                "clientId": client, "consentFormId": form,
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }}),
        )["requestConsent"]
            .clone();
        let consent = requested["consent"]["id"].clone();
        ok(
            &api,
            requested["clientLink"]["token"].as_str().unwrap(),
            "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"Client\") { id } }",
            json!({ "id": consent }),
        );
        let mut ids: Vec<String> = (0..recordings + PLAYED)
            .map(|_| {
                ok(
                    &api,
                    &sam,
                    "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
                    json!({ "c": consent, "d": chrono::Utc::now().date_naive() }),
                )["createRecording"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let played: Vec<String> = ids.split_off(ids.len() - PLAYED);
        let media = wav(256 * 1024);
        for recording in &played {
            let answer = upload(&api, &sam, recording, &media).expect("an answer");
            assert_eq!(answer.status, 201, "{answer:?}");
        }
        Self {
            tenant: tenant.to_owned(),
            admin,
            sam,
            ada,
            played,
            pending: Arc::new(Mutex::new(ids)),
        }
    }

    /// The tenant's whole log through `api`, as JSON lines.
    pub fn log(&self, api: &str) -> String {
        let mut log = String::new();
        let mut after = Value::Null;
        loop {
            let page = ok(
                api,
                &self.admin,
                "query($after: String) { auditEvents(first: 1000, after: $after) { nodes { sequence stream eventType payload } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )["auditEvents"]
                .clone();
            for event in page["nodes"].as_array().unwrap() {
                log.push_str(&event.to_string());
                log.push('\n');
            }
            if page["pageInfo"]["hasNextPage"] != true {
                return log;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Write,
    Upload,
    Play,
}

/// One request of the load and how it was answered.
#[derive(Debug)]
pub struct Sample {
    pub kind: Kind,
    pub started: Instant,
    pub took: Duration,
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    pub code: String,
    pub retry_after: bool,
    /// What the answer acknowledged: a client's or a recording's id, or a play.
    pub acknowledged: Option<String>,
}

impl Sample {
    pub fn succeeded(&self) -> bool {
        self.acknowledged.is_some()
    }

    pub fn ended(&self) -> Instant {
        self.started + self.took
    }

    /// Answered as an outage: `UNAVAILABLE`, 503, told when to retry.
    pub fn unavailable(&self) -> bool {
        self.status == Some(503) && self.code == "UNAVAILABLE" && self.retry_after
    }
}

/// Writers, players and (optionally) uploaders through `api` until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    received: Receiver<Sample>,
    pub samples: Vec<Sample>,
}

fn sample(
    kind: Kind,
    started: Instant,
    answer: std::io::Result<Answer>,
    ack: impl FnOnce(&Answer) -> Option<String>,
) -> Sample {
    match answer {
        Ok(answer) => Sample {
            kind,
            started,
            took: started.elapsed(),
            status: Some(answer.status),
            code: answer.code().to_owned(),
            retry_after: answer.header("retry-after").is_some(),
            acknowledged: ack(&answer),
        },
        Err(_) => Sample {
            kind,
            started,
            took: started.elapsed(),
            status: None,
            code: String::new(),
            retry_after: false,
            acknowledged: None,
        },
    }
}

fn play(api: &str, clinic_ada: &str, recording: &str) -> Sample {
    let started = Instant::now();
    let answer = try_graphql(
        api,
        clinic_ada,
        "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed ticketUrl } }",
        json!({ "r": recording }),
        PATIENCE,
    );
    let url = match &answer {
        Ok(a) if a.body["data"]["startPlayback"]["allowed"] == true => {
            a.body["data"]["startPlayback"]["ticketUrl"]
                .as_str()
                .map(str::to_owned)
        }
        _ => None,
    };
    let Some(url) = url else {
        return sample(Kind::Play, started, answer, |_| None);
    };
    // The ticket's path, whatever host the server named.
    let path = url
        .find("/v1/")
        .map(|at| url[at..].to_owned())
        .unwrap_or(url);
    let media = try_exchange(
        api,
        format!("GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nRange: bytes=0-65535\r\n\r\n").as_bytes(),
        PATIENCE,
    );
    sample(Kind::Play, started, media, |a| {
        (a.status == 206).then(|| "play".to_owned())
    })
}

impl Load {
    /// `writers` registering clients, `players` playing `clinic.played`, `uploaders` storing
    /// media for the pending recordings (each upload a 200 kB WAV).
    pub fn start(
        api: &str,
        clinic: &Clinic,
        writers: usize,
        players: usize,
        uploaders: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (samples, received) = channel();
        let counter = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(wav(200 * 1024));
        let mut threads = Vec::new();
        for _ in 0..writers {
            let (stop, samples, counter) = (stop.clone(), samples.clone(), counter.clone());
            let (api, sam) = (api.to_owned(), clinic.sam.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let started = Instant::now();
                    let answer = try_graphql(
                        &api,
                        &sam,
                        "mutation($n: String!) { registerClient(name: $n) }",
                        json!({ "n": format!("Client {n}") }),
                        PATIENCE,
                    );
                    let s = sample(Kind::Write, started, answer, |a| {
                        a.body["data"]["registerClient"].as_str().map(str::to_owned)
                    });
                    if samples.send(s).is_err() {
                        return;
                    }
                }
            }));
        }
        assert!(players <= PLAYED, "one recording per player");
        for player in 0..players {
            let (stop, samples) = (stop.clone(), samples.clone());
            let (api, ada) = (api.to_owned(), clinic.ada.clone());
            let played = clinic.played[player].clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if samples.send(play(&api, &ada, &played)).is_err() {
                        return;
                    }
                }
            }));
        }
        for _ in 0..uploaders {
            let (stop, samples, body) = (stop.clone(), samples.clone(), body.clone());
            let (api, sam, pending) = (api.to_owned(), clinic.sam.clone(), clinic.pending.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(recording) = pending.lock().unwrap().pop() else {
                        return;
                    };
                    let started = Instant::now();
                    let answer = upload(&api, &sam, &recording, &body);
                    let failed = !matches!(&answer, Ok(a) if a.status == 201);
                    let s = sample(Kind::Upload, started, answer, |a| {
                        (a.status == 201).then(|| recording.clone())
                    });
                    if failed {
                        // Tried again later: a recording's media is stored once.
                        pending.lock().unwrap().insert(0, recording);
                    }
                    if samples.send(s).is_err() {
                        return;
                    }
                }
            }));
        }
        Self {
            stop,
            threads,
            received,
            samples: Vec::new(),
        }
    }

    /// Takes samples until `enough` succeeded after `since` (of `kind`, if given); fails if
    /// that does not happen within `deadline`.
    pub fn until_successes(
        &mut self,
        since: Instant,
        enough: usize,
        kind: Option<Kind>,
        deadline: Duration,
    ) {
        let started = Instant::now();
        let count = |samples: &[Sample]| {
            samples
                .iter()
                .filter(|s| s.started >= since && s.succeeded() && kind.is_none_or(|k| s.kind == k))
                .count()
        };
        while count(&self.samples) < enough {
            assert!(
                started.elapsed() < deadline,
                "only {} successes since the mark within {deadline:?}; the last answers: {:?}",
                count(&self.samples),
                self.samples.iter().rev().take(5).collect::<Vec<_>>()
            );
            if let Ok(sample) = self.received.recv_timeout(Duration::from_millis(200)) {
                self.samples.push(sample);
            }
        }
    }

    /// Takes samples until `enough` of them (successful or not) started after `since`.
    pub fn until_answers(&mut self, since: Instant, enough: usize, deadline: Duration) {
        let started = Instant::now();
        while self.samples.iter().filter(|s| s.started >= since).count() < enough {
            assert!(started.elapsed() < deadline, "the load stalled");
            if let Ok(sample) = self.received.recv_timeout(Duration::from_millis(200)) {
                self.samples.push(sample);
            }
        }
    }

    /// Takes samples for `span`.
    pub fn run_for(&mut self, span: Duration) {
        let started = Instant::now();
        while started.elapsed() < span {
            if let Ok(sample) = self.received.recv_timeout(Duration::from_millis(100)) {
                self.samples.push(sample);
            }
        }
    }

    /// Takes every sample that arrived.
    pub fn drain(&mut self) {
        while let Ok(sample) = self.received.try_recv() {
            self.samples.push(sample);
        }
    }

    /// Stops the clients and takes the rest of their samples.
    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        for thread in std::mem::take(&mut self.threads) {
            while !thread.is_finished() {
                self.drain();
                std::thread::sleep(Duration::from_millis(20)); // Between two looks.
            }
            thread.join().expect("a load client panicked");
        }
        self.drain();
        self.samples
    }
}

/// What a drill measured.
#[derive(Debug, Default)]
pub struct Figures {
    pub requests: usize,
    pub failed: usize,
    pub unavailable: usize,
    /// From the fault to the end of the last failed request.
    pub until_none_fail: Duration,
    /// The longest time after the fault in which no request completed successfully.
    pub without_service: Duration,
    pub per_second: f64,
    /// The failures by HTTP status and error code (`none` when no answer came).
    pub failures: std::collections::BTreeMap<String, usize>,
}

/// The figures of `samples` around a fault at `fault`.
pub fn figures(samples: &[Sample], fault: Instant) -> Figures {
    let first = samples.iter().map(|s| s.started).min().unwrap_or(fault);
    let last = samples.iter().map(Sample::ended).max().unwrap_or(fault);
    let failed: Vec<&Sample> = samples.iter().filter(|s| !s.succeeded()).collect();
    let until_none_fail = failed
        .iter()
        .map(|s| s.ended().saturating_duration_since(fault))
        .max()
        .unwrap_or_default();
    let mut ends: Vec<Instant> = samples
        .iter()
        .filter(|s| s.succeeded() && s.ended() >= fault)
        .map(Sample::ended)
        .collect();
    ends.sort();
    let mut without_service = Duration::ZERO;
    let mut previous = fault;
    for end in ends.iter().chain(std::iter::once(&last)) {
        without_service = without_service.max(end.saturating_duration_since(previous));
        previous = *end;
    }
    Figures {
        requests: samples.len(),
        failed: failed.len(),
        unavailable: failed.iter().filter(|s| s.unavailable()).count(),
        until_none_fail,
        without_service,
        failures: failed.iter().fold(Default::default(), |mut by, s| {
            let key = match s.status {
                Some(status) => format!("{status} {}", s.code),
                None => "none".to_owned(),
            };
            *by.entry(key).or_insert(0) += 1;
            by
        }),
        per_second: samples.len() as f64
            / last
                .saturating_duration_since(first)
                .as_secs_f64()
                .max(0.001),
    }
}

/// Requests per second, p50 and p99 of the successful requests among `samples`.
pub fn throughput(samples: &[Sample]) -> (f64, Duration, Duration) {
    let mut took: Vec<Duration> = samples
        .iter()
        .filter(|s| s.succeeded())
        .map(|s| s.took)
        .collect();
    took.sort();
    let first = samples.iter().map(|s| s.started).min();
    let last = samples.iter().map(Sample::ended).max();
    let span = match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let at = |q: f64| {
        took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (took.len() as f64 / span.max(0.001), at(0.5), at(0.99))
}

/// Every acknowledged write, upload and play of `samples` is in the tenant's log, and the
/// store verifies: the end of every drill.
pub fn everything_acknowledged_is_there(
    topology: &Topology,
    clinic: &Clinic,
    samples: &[Sample],
) -> String {
    let log = clinic.log(&topology.api());
    let mut checked = 0;
    for sample in samples.iter().filter(|s| s.succeeded()) {
        match sample.kind {
            Kind::Write => {
                let id = sample.acknowledged.as_deref().unwrap();
                assert!(
                    log.contains(id),
                    "acknowledged client {id} is not in the log"
                );
                checked += 1;
            }
            Kind::Upload => {
                let id = sample.acknowledged.as_deref().unwrap();
                assert!(
                    log.lines()
                        .any(|l| l.contains("RecordingStored") && l.contains(id)),
                    "acknowledged upload of {id} is not in the log"
                );
                checked += 1;
            }
            Kind::Play => {}
        }
    }
    let plays = samples
        .iter()
        .filter(|s| s.kind == Kind::Play && s.succeeded())
        .count();
    let logged_plays = log
        .lines()
        .filter(|l| l.contains("\"PlaybackStarted\""))
        .count();
    assert!(
        logged_plays >= plays,
        "{plays} plays acknowledged, {logged_plays} in the log"
    );
    let verified = topology.cli(&["audit", "verify-store", "--tenant", &clinic.tenant]);
    assert!(
        verified.starts_with(&format!("{}: ", clinic.tenant)),
        "{verified}"
    );
    format!(
        "{checked} acknowledged writes and uploads and {plays} plays read back; {}",
        verified.trim()
    )
}
