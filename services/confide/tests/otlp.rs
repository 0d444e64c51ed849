//! One request's telemetry, end to end: the real binary on its embedded default exports over
//! OTLP (HTTP/protobuf) to a real receiver, `oteltap`, which prints every span it gets as a
//! JSON line. The request's span must be the root of its trace and carry the tenant, the
//! resolver's span must be its child, a database span must lie beneath it, nothing personal
//! may appear in any of them, the server's JSON log line for the request must carry the same
//! trace id, and graceful shutdown must flush the metrics too.
//!
//! oteltap (PyPI) receives OTLP over HTTP only, so gRPC export is checked where the exporters
//! are built, not here. When oteltap is missing the test installs it with pip; if that fails,
//! the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TENANT: &str = "otlp-clinic";
/// User ids that must never reach a span or a log line.
const ADMIN: &str = "admin-5f1c";
const MEMBER: &str = "member-8e2d";

/// Long enough for a cold Python start on a busy machine; every wait ends as soon as the
/// awaited line arrives.
const PATIENCE: Duration = Duration::from_secs(60);

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn oteltap_importable() -> bool {
    Command::new(python())
        .args(["-c", "import oteltap"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Installs oteltap with pip when it is missing. Never skips: no receiver, no pass.
fn ensure_oteltap() {
    if oteltap_importable() {
        return;
    }
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let installed = Command::new(python())
            .args(["-m", "pip", "install", "--quiet", "oteltap"])
            .args(extra)
            .status()
            .is_ok_and(|status| status.success());
        if installed && oteltap_importable() {
            return;
        }
    }
    panic!(
        "oteltap is not installed and `{} -m pip install oteltap` failed",
        python()
    );
}

/// Lines a child prints on `stream`, as they come.
fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// The next line, or `None` once the deadline passes or the stream ends.
fn next_line(lines: &Receiver<String>, deadline: Instant) -> Option<String> {
    let left = deadline.saturating_duration_since(Instant::now());
    lines.recv_timeout(left).ok()
}

/// A running OTLP receiver.
struct Tap {
    child: Child,
    port: u16,
    lines: Receiver<String>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tap() -> Tap {
    ensure_oteltap();
    // A port that was free a moment ago may be taken by the time oteltap binds it: try again.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(python())
            .args(["-m", "oteltap", "--port", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting oteltap");
        let lines = lines_of(child.stdout.take().unwrap());
        let deadline = Instant::now() + PATIENCE;
        // oteltap prints this once its receiver is bound.
        while let Some(line) = next_line(&lines, deadline) {
            if line.starts_with("Listening for OTLP") {
                return Tap { child, port, lines };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("oteltap did not start listening");
}

fn confide(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confide"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFIDE_DATA_DIR", data_dir);
    command
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn post_graphql(address: &str, token: &str, query: &str) -> (u16, Value) {
    let body = json!({ "query": query }).to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap())
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)?["value"]["stringValue"]
        .as_str()
}

/// What the receiver has printed so far: spans by id, and the names of metrics.
#[derive(Default)]
struct Received {
    spans: HashMap<String, Value>,
    metrics: BTreeSet<String>,
}

impl Received {
    fn take(&mut self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return;
        };
        if let Some(id) = value["spanId"].as_str() {
            self.spans.insert(id.to_owned(), value);
        } else if let Some(name) = value["name"].as_str() {
            self.metrics.insert(name.to_owned());
        }
    }

    fn request(&self) -> Option<&Value> {
        self.spans
            .values()
            .find(|span| text(span, "name") == "POST /graphql")
    }

    /// Whether `span` lies beneath the span `ancestor`.
    fn descends_from(&self, span: &Value, ancestor: &str) -> bool {
        let mut parent = text(span, "parentSpanId");
        while !parent.is_empty() {
            if parent == ancestor {
                return true;
            }
            match self.spans.get(parent) {
                Some(next) => parent = text(next, "parentSpanId"),
                None => return false,
            }
        }
        false
    }

    fn of_trace(&self, trace_id: &str) -> Vec<&Value> {
        self.spans
            .values()
            .filter(|span| text(span, "traceId") == trace_id)
            .collect()
    }

    fn complete(&self) -> bool {
        let Some(request) = self.request() else {
            return false;
        };
        let request_id = text(request, "spanId");
        let spans = self.of_trace(text(request, "traceId"));
        let resolver = spans
            .iter()
            .any(|span| text(span, "name") == "Mutation.addMember");
        let database = spans.iter().any(|span| {
            text(span, "name").starts_with("eventstore.") && self.descends_from(span, request_id)
        });
        let metrics = ["confide.http.requests", "confide.eventstore.appends"]
            .iter()
            .all(|name| self.metrics.contains(*name));
        resolver && database && metrics
    }
}

#[test]
fn exports_one_requests_spans_with_their_parentage_and_no_personal_data() {
    let tap = start_tap();
    let data_dir = std::env::temp_dir().join(format!("confide-otlp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);

    let mut server = confide(&data_dir)
        .arg("serve")
        .env("CONFIDE_LISTEN", "127.0.0.1:0")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", tap.port),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("CONFIDE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting confide");
    let logs = lines_of(server.stderr.take().unwrap());
    let mut address = None;
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            address = Some(rest.trim().to_owned());
        }
        if line.contains("health:") {
            break;
        }
    }
    let address = address.expect("confide printed its address");

    // Beside the running server, with its keys (which only the server creates).
    run(confide(&data_dir).args([
        "tenant",
        "create",
        "--tenant",
        TENANT,
        "--name",
        "OTLP Clinic",
        "--admin",
        ADMIN,
    ]));
    let token = run(confide(&data_dir).args(["token", "--tenant", TENANT, "--user", ADMIN]));

    let (status, response) = post_graphql(
        &address,
        token.trim(),
        &format!(
            "mutation {{ addMember(userId: \"{MEMBER}\", roles: [PRACTITIONER]) {{ name }} }}"
        ),
    );
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        response["data"]["addMember"]["name"], "OTLP Clinic",
        "{response}"
    );

    // Graceful shutdown flushes the exporters before the process exits.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exit = server.wait().unwrap();
    assert!(
        exit.success(),
        "graceful shutdown exits cleanly, got {exit}"
    );

    let mut received = Received::default();
    let deadline = Instant::now() + PATIENCE;
    while !received.complete() {
        let Some(line) = next_line(&tap.lines, deadline) else {
            break;
        };
        received.take(&line);
    }

    let request = received.request().unwrap_or_else(|| {
        panic!(
            "no request span among {:?}",
            received
                .spans
                .values()
                .map(|s| text(s, "name"))
                .collect::<Vec<_>>()
        )
    });
    let trace_id = text(request, "traceId");
    let request_id = text(request, "spanId");
    assert_eq!(
        text(request, "parentSpanId"),
        "",
        "the request span is the root"
    );
    assert_eq!(attribute(request, "confide.tenant"), Some(TENANT));
    assert_eq!(attribute(request, "http.route"), Some("/graphql"));

    let spans = received.of_trace(trace_id);
    let names: Vec<&str> = spans.iter().map(|span| text(span, "name")).collect();
    let resolver = spans
        .iter()
        .find(|span| text(span, "name") == "Mutation.addMember")
        .unwrap_or_else(|| panic!("no resolver span in the trace: {names:?}"));
    assert_eq!(
        text(resolver, "parentSpanId"),
        request_id,
        "the resolver's span is a child of the request's"
    );
    let database = spans
        .iter()
        .find(|span| text(span, "name") == "eventstore.append")
        .unwrap_or_else(|| panic!("no append span in the trace: {names:?}"));
    assert!(
        received.descends_from(database, request_id),
        "the append's span lies beneath the request's: {names:?}"
    );
    for span in &spans {
        let printed = span.to_string();
        for personal in [ADMIN, MEMBER, token.trim()] {
            assert!(
                !printed.contains(personal),
                "a span carries {personal}: {printed}"
            );
        }
    }
    for metric in ["confide.http.requests", "confide.eventstore.appends"] {
        assert!(
            received.metrics.contains(metric),
            "{metric} was not exported: {:?}",
            received.metrics
        );
    }

    // The server has exited, so its log is complete.
    let logs: Vec<String> = logs.iter().collect();
    let served = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| text(line, "message").starts_with("served POST /graphql"))
        .unwrap_or_else(|| panic!("no JSON log line for the request in {logs:#?}"));
    assert_eq!(text(&served, "trace_id"), trace_id, "{served}");
    for line in &logs {
        assert!(
            !line.contains(MEMBER),
            "a log line carries the request: {line}"
        );
    }

    drop(tap);
    std::fs::remove_dir_all(&data_dir).unwrap();
}
