//! The real `confide` binary on port 0 over PostgreSQL (a fresh schema of the test database
//! per server), driven over HTTP like any client would.
//!
//! PostgreSQL comes from `CONFIDE_TEST_DATABASE_URL`, which `.ci/test` prepares; a test that
//! cannot reach it fails.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

pub const DEFAULT_TEST_DATABASE_URL: &str =
    "postgres://confide:confide@127.0.0.1:5432/confide_test";

/// A running server and what it was started with.
pub struct Confide {
    child: Child,
    pub address: String,
    /// Every variable it runs with, for the CLI commands run beside it.
    env: Vec<(String, String)>,
}

impl Drop for Confide {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new, empty schema of the test database, as a URL whose connections use it.
pub async fn fresh_database() -> String {
    let url = std::env::var("CONFIDE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
    let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {url} ({e}); run .ci/test, which starts and prepares it"
        )
    });
    let schema = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("creating a schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

pub fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("confide-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Confide {
    /// Starts `confide serve` on PostgreSQL with `extra` variables; returns once it answers.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        Self::start_on(Some(fresh_database().await), &data_dir(), extra)
    }

    /// Starts `confide serve` on `database` (a `DATABASE_URL`; the embedded SQLite default in
    /// its data directory when `None`) with its keys and local media in `data_dir` (both kept,
    /// so a later server can carry on where it stopped), with `extra` variables; returns once
    /// it answers.
    pub fn start_on(
        database: Option<String>,
        data_dir: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Self {
        let mut env = vec![
            (
                "CONFIDE_DATA_DIR".to_owned(),
                data_dir.display().to_string(),
            ),
            ("CONFIDE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        if let Some(url) = database {
            env.push(("DATABASE_URL".to_owned(), url));
        }
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self::start_env(env)
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would, and waits for it to
    /// be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("sending SIGKILL");
        self.child.wait().expect("waiting for the killed server");
    }

    /// Starts the server again on the same database, keys and data directory (on a new port).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let started = Self::start_env(std::mem::take(&mut self.env));
        *self = started;
    }

    fn start_env(env: Vec<(String, String)>) -> Self {
        let mut child = command(&env)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting confide");
        let mut address = None;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                address = Some(rest.trim().to_owned());
            }
            if line.contains("health:") {
                break;
            }
        }
        let server = Self {
            child,
            address: address.expect("confide printed its address"),
            env,
        };
        assert_eq!(
            server.get("/ready").0,
            200,
            "ready once it prints its address"
        );
        server
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the server keeps its keys and local media.
    pub fn data_dir(&self) -> PathBuf {
        self.env
            .iter()
            .find(|(k, _)| k == "CONFIDE_DATA_DIR")
            .map(|(_, v)| PathBuf::from(v))
            .expect("a data directory")
    }

    /// The database the server runs on (its URL names its schema).
    pub fn database_url(&self) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.clone())
            .expect("a database URL")
    }

    /// Runs a `confide` command against the same database and keys, whatever its outcome.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        command(&self.env)
            .args(args)
            .output()
            .expect("running confide")
    }

    /// Runs a `confide` command against the same database and keys; returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self.cli_output(args);
        assert!(
            output.status.success(),
            "confide {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Creates a tenant with its first org_admin through the operator command.
    pub fn create_tenant(&self, tenant: &str, admin: &str, consent_model: &str) {
        self.cli(&[
            "tenant",
            "create",
            "--tenant",
            tenant,
            "--name",
            tenant,
            "--admin",
            admin,
            "--consent-model",
            consent_model,
        ]);
    }

    /// A new tenant where sam (a practitioner) records sessions of `n` clients, each of whom
    /// consented to audio recording for supervision by ada (a tutor): `n` recordings awaiting
    /// their media. Returns sam's token, ada's token and the recordings' ids.
    pub fn supervised_recordings(&self, tenant: &str, n: usize) -> (String, String, Vec<Value>) {
        self.create_tenant(tenant, "admin", "written_opt_in");
        let admin = self.token(tenant, "admin");
        for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
            self.ok(
                &admin,
                "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
                json!({ "u": user, "r": [role] }),
            );
        }
        let sam = self.token(tenant, "sam");
        let ada = self.token(tenant, "ada");
        let form = self.ok(
            &admin,
            "mutation { publishConsentForm(title: \"Consent\", language: \"en-GB\", text: \"I agree to audio recording for supervision.\") { id } }",
            json!({}),
        )["publishConsentForm"]["id"]
            .clone();
        let recordings = (0..n)
            .map(|i| {
                let client = self.ok(
                    &sam,
                    "mutation($n: String!) { registerClient(name: $n) }",
                    json!({ "n": format!("Client {i}") }),
                )["registerClient"]
                    .clone();
                let requested = self.ok(
                    &sam,
                    "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { token } } }",
                    json!({ "input": {
                        "clientId": client, "consentFormId": form,
                        "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
                    }}),
                )["requestConsent"]
                    .clone();
                self.ok(
                    requested["clientLink"]["token"].as_str().unwrap(),
                    "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"Client\") { id } }",
                    json!({ "id": requested["consent"]["id"] }),
                );
                self.ok(
                    &sam,
                    "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
                    json!({ "c": requested["consent"]["id"], "d": chrono::Utc::now().date_naive() }),
                )["createRecording"]["id"]
                    .clone()
            })
            .collect();
        (sam, ada, recordings)
    }

    /// A development token minted by `confide token`.
    pub fn token(&self, tenant: &str, user: &str) -> String {
        self.cli(&["token", "--tenant", tenant, "--user", user])
            .trim()
            .to_owned()
    }

    /// Uploads a recording's media as `token`'s holder: the HTTP status.
    pub fn upload(&self, token: &str, recording: &str, media: &std::path::Path) -> u16 {
        let body = std::fs::read(media).unwrap();
        let mut request = format!(
            "PUT /v1/recordings/{recording}/media HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream.write_all(&request).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let head = String::from_utf8_lossy(&raw[..raw.len().min(32)]).into_owned();
        head.split(' ').nth(1).unwrap().parse().unwrap()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        exchange(
            &self.address,
            &format!("GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\n\r\n"),
        )
    }

    /// A GraphQL request: (HTTP status, the response's JSON).
    pub fn graphql(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, body) = exchange(
            &self.address,
            &format!(
                "POST /graphql HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/graphql-response+json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// A GraphQL request that must succeed: its `data`.
    pub fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, response) = self.graphql(token, query, variables);
        assert!(
            status == 200 && response["errors"].is_null(),
            "{query}: {status} {response}"
        );
        response["data"].clone()
    }
}

/// The error code of a GraphQL response's first error.
pub fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

fn command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confide"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body).
fn exchange(address: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// An HTTP answer as a load client reads it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The status line and the header fields.
    pub head: String,
    pub body: Value,
}

impl Answer {
    /// A header field's value (the name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The code of a GraphQL answer's first error, or of a route's JSON error.
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .or_else(|| self.body["error"]["code"].as_str())
            .unwrap_or("")
    }
}

/// One HTTP/1.1 exchange over a fresh connection that gives up after `timeout`: for load
/// clients on their own threads, which must see a server that is gone or silent as an error
/// rather than a panic or a hang.
pub fn try_exchange(
    address: &str,
    request: &[u8],
    timeout: std::time::Duration,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(
        &address
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        timeout,
    )?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no complete answer")
    })?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Answer {
        status,
        head: head.to_owned(),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    })
}

/// A GraphQL request as `token`'s holder, accepting `application/graphql-response+json`,
/// that gives up after `timeout`.
pub fn try_graphql(
    address: &str,
    token: &str,
    query: &str,
    variables: Value,
    timeout: std::time::Duration,
) -> std::io::Result<Answer> {
    let body = json!({ "query": query, "variables": variables }).to_string();
    try_exchange(
        address,
        format!(
            "POST /graphql HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/graphql-response+json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
        timeout,
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// A mono 16-bit PCM WAV of about `bytes` bytes at 48 kHz.
pub fn write_wav(path: &std::path::Path, bytes: u64) -> u64 {
    let frames = (bytes.saturating_sub(44) / 2) as u32;
    let data_len = frames * 2;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut header = Vec::new();
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    for field in [
        16u32.to_le_bytes().as_slice(),
        &1u16.to_le_bytes(),
        &1u16.to_le_bytes(),
    ] {
        header.extend_from_slice(field);
    }
    header.extend_from_slice(&48_000u32.to_le_bytes());
    header.extend_from_slice(&96_000u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    file.write_all(&header).unwrap();
    // One second of a tone, repeated with a drift so no two seconds are alike.
    let second: Vec<i16> = (0..48_000)
        .map(|i| {
            (f64::sin(f64::from(i) / 48_000.0 * 440.0 * std::f64::consts::TAU) * 9_000.0) as i16
        })
        .collect();
    let mut written = 0u64;
    let mut n = 0i16;
    while written < u64::from(data_len) {
        let block: Vec<u8> = second
            .iter()
            .flat_map(|s| s.wrapping_add(n).to_le_bytes())
            .collect();
        let take = block.len().min((u64::from(data_len) - written) as usize);
        file.write_all(&block[..take]).unwrap();
        written += take as u64;
        n = n.wrapping_add(1);
    }
    file.flush().unwrap();
    44 + u64::from(data_len)
}
