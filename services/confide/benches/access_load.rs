//! Access decisions as a tenant grows: `startPlayback` offered at a constant 200 requests/s
//! (open loop: each request leaves when it is due, whether or not the ones before it have
//! been answered, and its latency counts from then) over HTTP to the release binary on
//! PostgreSQL, in a tenant of `CONFIDE_BENCH_EVENTS` events (default 1,000,000) where one
//! client holds 2,000 consents, against a small tenant on the same server and `GET /health`
//! in the same run.
//!
//! Two sets of rows: while the server does its start-up work (the notice outbox's first
//! catch-up over the whole log, and the delivery of what it finds due), and once that is done
//! (the target's rows); after each row, how far that work had got and PostgreSQL's checkpoint
//! count, so that a slow row can be put down to what ran beside it.
//!
//! Run with `cargo bench -p confide --bench access_load`. It needs PostgreSQL with a database
//! the `confide` role owns: `CONFIDE_BENCH_DATABASE_URL`, by default
//! `postgres://confide:confide@127.0.0.1:5432/confide_perf`. The large tenant is written
//! once, into the schema `access_<events>` of that database with its server's keys in the
//! target directory, and used again by later runs; delete that schema (or the directory) to
//! write it again.
//!
//! How the large tenant is written: its first unit (a client, a session consent asked and
//! given through the client's link, a recording of the session with its media uploaded, a
//! grant to an external assessor and a play) is made through the API. Its events are then
//! copied, with new ids, into units of the same shape, appended through the event store in
//! appends of a few thousand events, with the read models written in each append as the
//! server writes them. The copies are the server's own events with other ids: real events of
//! every kind a service writes (their sealed names and media name keys and objects that only
//! the first unit has, which no decision reads). One client, registered through the API, is
//! given 2,000 of these units, one session a day.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench binary: a panic is a failure.

#[path = "../../../e2e/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};
use common::Confide;
use confide_app::WithReadModels;
use confide_eventstore::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, PgEventStore, StreamId, TenantId,
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

/// How long each measurement offers its load.
const SECONDS: u32 = 15;
/// The offered rate.
const RATE: u32 = 200;
/// The consents (one per session) of the client who has had many sessions.
const MANY: usize = 2_000;
/// Plays recorded in each copied unit (so most of the log is plays, as in a service).
const PLAYS_PER_UNIT: usize = 14;
/// Recordings played in each measurement, in turn: plays of one recording are serialised by
/// its stream, and a service's viewers rarely share one.
const PLAYED: usize = 20;
/// Events per append while the tenant is written.
const EVENTS_PER_APPEND: usize = 4_000;
const LARGE: &str = "large";

const PLAY: &str = "mutation($r: UUID!, $p: Purpose!) { startPlayback(recordingId: $r, purpose: $p) { allowed ticketUrl access { reasons } } }";

fn database_url() -> String {
    std::env::var("CONFIDE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://confide:confide@127.0.0.1:5432/confide_perf".to_owned())
}

fn in_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// What a later run needs of a written tenant.
#[derive(serde::Serialize, serde::Deserialize)]
struct Written {
    events: u64,
    /// Recordings of ordinary clients (one consent each), media stored.
    ordinary: Vec<String>,
    /// Recordings of the client with `MANY` consents, media stored.
    many: Vec<String>,
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::var("CONFIDE_BENCH_EVENTS")
        .ok()
        .map(|v| v.parse().expect("CONFIDE_BENCH_EVENTS is a number"))
        .unwrap_or(1_000_000);
    let url = database_url();
    let schema = format!("access_{events}");
    let data_dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("access-bench-{events}"));
    let marker = data_dir.join("written.json");
    let written: Option<Written> = std::fs::read(&marker)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e} (see the bench's doc comment)"));
    if written.is_none() {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    let schema_url = in_schema(&url, &schema);
    let server = Confide::start_on(Some(schema_url.clone()), &data_dir, &[]);
    let written = match written {
        Some(written) => {
            println!(
                "using the tenant of {} events written before",
                written.events
            );
            written
        }
        None => {
            let written = write_large_tenant(&server, &schema_url, events).await;
            // After a bulk load, as an operator would: statistics for the planner now, rather
            // than whenever autovacuum gets to the new rows. Without it, the first rows
            // measured ran on plans made for empty tables (see docs/performance.md).
            let mut schema_admin = PgConnection::connect(&schema_url).await.unwrap();
            sqlx::query("ANALYZE")
                .execute(&mut schema_admin)
                .await
                .unwrap();
            std::fs::write(&marker, serde_json::to_vec(&written).unwrap()).unwrap();
            written
        }
    };
    let store = PgEventStore::connect(&schema_url, 2).await.unwrap();
    let large = TenantId::parse(LARGE).unwrap();
    let size = store.tree_head(&large).await.unwrap().map_or(0, |h| h.size);
    // Row-level security hides every row from a session that names no tenant.
    let mut counter = PgConnection::connect(&schema_url).await.unwrap();
    sqlx::query("SELECT set_config('confide.all_tenants', 'on', false)")
        .execute(&mut counter)
        .await
        .unwrap();
    let (links, states): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM stream_links), (SELECT count(*) FROM aggregate_states)",
    )
    .fetch_one(&mut counter)
    .await
    .unwrap();

    // The baseline: a small tenant on the same server, written afresh by every run.
    let small = format!("small-{}", Utc::now().timestamp());
    let (sam, small_ada, small_recordings) = server.supervised_recordings(&small, PLAYED);
    let media = data_dir.join("session.wav");
    common::write_wav(&media, 96_044);
    for recording in &small_recordings {
        assert_eq!(
            server.upload(&sam, recording.as_str().unwrap(), &media),
            201
        );
    }
    let small_recordings: Vec<String> = small_recordings
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let small_size = store
        .tree_head(&TenantId::parse(&small).unwrap())
        .await
        .unwrap()
        .map_or(0, |h| h.size);

    let ada = server.token(LARGE, "ada");
    let eve = server.token(LARGE, "eve");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let graphql = format!("http://{}/graphql", server.address);
    let health = format!("http://{}/health", server.address);
    let plays = |recordings: &[String], purpose: &str| -> Vec<String> {
        recordings
            .iter()
            .map(|r| json!({ "query": PLAY, "variables": { "r": r, "p": purpose } }).to_string())
            .collect()
    };

    println!(
        "startPlayback offered at {RATE}/s for {SECONDS} s each (open loop), PostgreSQL, \
         large tenant: {size} events ({states} streams and {links} links in the server's tables), \
         small tenant: {small_size} events"
    );
    // (request, tenant, URL, token, bodies, what each answer must be)
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Vec<String>,
        Expect,
    );
    let baseline: Row<'_> = (
        "startPlayback, allowed",
        "small (baseline)",
        &graphql,
        Some(small_ada.as_str()),
        plays(&small_recordings, "SUPERVISION"),
        Expect::Allowed,
    );
    let refusal: Row<'_> = (
        "startPlayback, refused: the client with 2,000 consents",
        "large",
        &graphql,
        Some(eve.as_str()),
        plays(&written.many, "SUPERVISION"),
        Expect::Refused,
    );
    let header = "| request | tenant | requests/s served | p50 ms | p99 ms | max ms | unexpected | \
                  after it: outbox read to / log size, notices due, checkpoints |\n\
                  |---|---|---:|---:|---:|---:|---:|---|";

    // While the server's start-up work runs: the notice outbox's first catch-up over the
    // whole log, and the delivery of what it finds due.
    let started = Instant::now();
    println!("\nWhile the server catches up after starting (rows in the order run):\n{header}");
    for row in [baseline.clone(), refusal.clone()] {
        measure_row(&http, row, &mut counter, &store, &large).await;
    }
    // Then until it has: the outbox read to the log's head and nothing left due.
    let settled = loop {
        let now = background(&mut counter, &store, &large).await;
        if now.caught_up() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(45 * 60),
            "the server did not catch up within 45 minutes: {now}"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    println!(
        "\nThe start-up work was done {:.0} s after the first row began ({}).",
        settled.as_secs_f64(),
        background(&mut counter, &store, &large).await
    );

    println!("\nOnce it is done (rows in the order run):\n{header}");
    let rows: Vec<Row<'_>> = vec![
        (
            "GET /health (baseline)",
            "—",
            &health,
            None,
            vec![String::new()],
            Expect::Health,
        ),
        baseline,
        // Refusals measured twice, first and last, so that the order of the rows (the
        // database's work left by the rows before) shows in the figures.
        refusal.clone(),
        (
            "startPlayback, allowed: clients with one consent",
            "large",
            &graphql,
            Some(ada.as_str()),
            plays(&written.ordinary, "SUPERVISION"),
            Expect::Allowed,
        ),
        (
            "startPlayback, allowed: the client with 2,000 consents",
            "large",
            &graphql,
            Some(ada.as_str()),
            plays(&written.many, "SUPERVISION"),
            Expect::Allowed,
        ),
        refusal,
    ];
    for row in rows {
        measure_row(&http, row, &mut counter, &store, &large).await;
    }
}

/// Offers one row's load, then prints its figures and what the server's background work had
/// done by its end.
async fn measure_row(
    http: &reqwest::Client,
    (name, tenant, url, token, bodies, expect): (
        &str,
        &str,
        &str,
        Option<&str>,
        Vec<String>,
        Expect,
    ),
    counter: &mut PgConnection,
    store: &PgEventStore,
    large: &TenantId,
) {
    let f = offer(http, url, token, &bodies, expect).await;
    let after = background(counter, store, large).await;
    println!(
        "| {name} | {tenant} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {after} |",
        f.served, f.p50_ms, f.p99_ms, f.max_ms, f.unexpected
    );
}

/// What the server's background work has done, as its database shows: how far the notice
/// outbox's projection has read the large tenant's log (which the notices' outcomes lengthen),
/// the notices still due, and PostgreSQL's checkpoints since its statistics were reset.
struct Background {
    /// The next position of the log the outbox will read.
    outbox_at: i64,
    log_size: u64,
    due: i64,
    checkpoints: i64,
}

impl Background {
    fn caught_up(&self) -> bool {
        u64::try_from(self.outbox_at).unwrap_or(0) >= self.log_size && self.due == 0
    }
}

impl std::fmt::Display for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {}, {} due, {} checkpoints",
            self.outbox_at, self.log_size, self.due, self.checkpoints
        )
    }
}

async fn background(
    counter: &mut PgConnection,
    store: &PgEventStore,
    large: &TenantId,
) -> Background {
    let (outbox_at, due, checkpoints): (Option<i64>, i64, i64) = sqlx::query_as(
        "SELECT (SELECT max(position) FROM consumer_positions
                  WHERE consumer = 'notice_outbox' AND tenant_id = $1),
                (SELECT count(*) FROM notice_outbox
                  WHERE tenant_id = $1 AND state = 'pending' AND due_at <= now()),
                (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)",
    )
    .bind(LARGE)
    .fetch_one(counter)
    .await
    .unwrap();
    let log_size = store.tree_head(large).await.unwrap().map_or(0, |h| h.size);
    Background {
        outbox_at: outbox_at.unwrap_or(0),
        log_size,
        due,
        checkpoints,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Health,
    Allowed,
    Refused,
}

struct Figures {
    served: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    unexpected: usize,
}

/// Offers `RATE` requests a second for `SECONDS`, the bodies in turn (none for a GET): each
/// leaves when it is due, on a free pooled connection or a new one, and its latency runs from
/// when it was due to its whole answer, so a server that falls behind is charged for the
/// queue. "Served" is the answers over the time from the first send to the last answer.
async fn offer(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    bodies: &[String],
    expect: Expect,
) -> Figures {
    // A few requests first, so connections are open and nothing is measured cold.
    for body in bodies.iter().take(4) {
        let _ = send(http, url, token, body, expect).await;
    }
    let total = RATE * SECONDS;
    let interval = Duration::from_secs(1) / RATE;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..total {
        let due = start + interval * i;
        tokio::time::sleep_until(due).await;
        let (http, url) = (http.clone(), url.to_owned());
        let token = token.map(str::to_owned);
        let body = bodies[i as usize % bodies.len()].clone();
        tasks.spawn(async move {
            let ok = send(&http, &url, token.as_deref(), &body, expect).await;
            (due.elapsed(), Instant::now(), ok)
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut unexpected = 0;
    let mut last = start;
    while let Some(done) = tasks.join_next().await {
        let (latency, at, ok) = done.unwrap();
        latencies.push(latency.as_secs_f64() * 1000.0);
        last = last.max(at);
        if !ok {
            unexpected += 1;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        served: latencies.len() as f64 / (last - start).as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        unexpected,
    }
}

/// One request; whether it was answered as expected.
async fn send(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &str,
    expect: Expect,
) -> bool {
    let mut request = if expect == Expect::Health {
        http.get(url)
    } else {
        http.post(url)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let Ok(response) = request.send().await else {
        return false;
    };
    let status = response.status().as_u16();
    let Ok(text) = response.text().await else {
        return false;
    };
    if status != 200 {
        return false;
    }
    match expect {
        Expect::Health => true,
        Expect::Allowed | Expect::Refused => {
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let play = &answer["data"]["startPlayback"];
            match expect {
                Expect::Allowed => play["allowed"] == true && play["ticketUrl"].is_string(),
                _ => play["allowed"] == false,
            }
        }
    }
}

/// Writes the large tenant (see the module's documentation): the first unit and the client
/// with many sessions through the API, then copies until the tenant holds `events` events.
async fn write_large_tenant(server: &Confide, schema_url: &str, events: u64) -> Written {
    let began = std::time::Instant::now();
    server.create_tenant(LARGE, "admin", "written_opt_in");
    let admin = server.token(LARGE, "admin");
    for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
        server.ok(
            &admin,
            "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
            json!({ "u": user, "r": [role] }),
        );
    }
    let sam = server.token(LARGE, "sam");
    let ada = server.token(LARGE, "ada");
    let form = server.ok(
        &admin,
        "mutation { publishConsentForm(title: \"Consent\", language: \"en-GB\", text: \"I agree to audio recording for supervision and for my counsellor's credentialing.\") { id } }",
        json!({}),
    )["publishConsentForm"]["id"]
        .clone();
    let today = Utc::now().date_naive();
    let client = server.ok(
        &sam,
        "mutation { registerClient(name: \"Client 0\") }",
        json!({}),
    )["registerClient"]
        .as_str()
        .unwrap()
        .to_owned();
    let many_client = server.ok(
        &sam,
        "mutation { registerClient(name: \"The client of many sessions\") }",
        json!({}),
    )["registerClient"]
        .as_str()
        .unwrap()
        .to_owned();
    let requested = server.ok(
        &sam,
        "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { token } } }",
        json!({ "input": {
            "clientId": client, "consentFormId": form, "sessionOn": today,
            "purposes": [
                { "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] },
                { "purpose": "CREDENTIALING", "users": ["eve"], "media": ["AUDIO"] },
            ],
        }}),
    )["requestConsent"]
        .clone();
    let consent = requested["consent"]["id"].as_str().unwrap().to_owned();
    server.ok(
        requested["clientLink"]["token"].as_str().unwrap(),
        "mutation($id: UUID!) { giveConsent(consentId: $id, typedName: \"Client\") { id } }",
        json!({ "id": consent }),
    );
    let recording = server.ok(
        &sam,
        "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
        json!({ "c": consent, "d": today }),
    )["createRecording"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let media = server.data_dir().join("template.wav");
    common::write_wav(&media, 96_044);
    assert_eq!(server.upload(&sam, &recording, &media), 201);
    let grant = server.ok(
        &sam,
        "mutation($input: GrantAccessInput!) { grantAccess(input: $input) }",
        json!({ "input": {
            "recordingId": recording, "consentId": consent, "userId": "eve",
            "externalAssessor": true, "purpose": "CREDENTIALING",
            "expiresAt": Utc::now() + TimeDelta::days(300),
        }}),
    )["grantAccess"]
        .as_str()
        .unwrap()
        .to_owned();
    let played = server.ok(&ada, PLAY, json!({ "r": recording, "p": "SUPERVISION" }));
    assert_eq!(played["startPlayback"]["allowed"], true, "{played}");

    let store = PgEventStore::connect(schema_url, 4)
        .await
        .unwrap()
        .with_read_models();
    let tenant = TenantId::parse(LARGE).unwrap();
    let read = |kind: &str, id: &str| {
        let stream = StreamId::parse(&format!("{kind}-{id}")).unwrap();
        let (store, tenant) = (store.clone(), tenant.clone());
        async move {
            store
                .read_stream(&tenant, &stream, 1, 1_000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.event_type, e.schema_version, e.payload, e.metadata))
                .collect::<Vec<_>>()
        }
    };
    let template = Template {
        client: client.clone(),
        consent: consent.clone(),
        recording: recording.clone(),
        grant: grant.clone(),
        client_events: read("client", &client).await,
        consent_events: read("consent", &consent).await,
        recording_events: read("recording", &recording).await,
        grant_events: read("grant", &grant).await,
    };
    let kinds: Vec<&str> = template
        .recording_events
        .iter()
        .map(|e| e.0.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["RecordingCreated", "RecordingStored", "PlaybackStarted"],
        "the template recording"
    );

    let mut size = store.tree_head(&tenant).await.unwrap().unwrap().size;
    let mut ordinary = Vec::new();
    let mut many = Vec::new();
    let mut request = AppendRequest::new(Utc::now());
    let mut pending = 0;
    let mut unit = 0usize;
    let mut next_report = 100_000;
    while size + (pending as u64) < events {
        // The client of many sessions first, then ordinary clients until the size is reached.
        let (writes, recording) = if unit < MANY {
            let day = today - TimeDelta::days(unit as i64 + 1);
            template.copy(Some(&many_client), day, 1)
        } else {
            template.copy(None, today, PLAYS_PER_UNIT)
        };
        if unit < MANY && many.len() < PLAYED {
            many.push(recording);
        } else if unit >= MANY && ordinary.len() < PLAYED {
            ordinary.push(recording);
        }
        unit += 1;
        for (stream, events) in writes {
            pending += events.len();
            request = request.write(stream, ExpectedVersion::NoStream, events);
        }
        if pending >= EVENTS_PER_APPEND {
            let result = store
                .append(
                    &tenant,
                    std::mem::replace(&mut request, AppendRequest::new(Utc::now())),
                )
                .await
                .unwrap();
            size = result.tree_size();
            pending = 0;
            if size >= next_report {
                println!(
                    "written {size} events in {:.0} s",
                    began.elapsed().as_secs_f64()
                );
                next_report += 100_000;
            }
        }
    }
    if pending > 0 {
        size = store.append(&tenant, request).await.unwrap().tree_size();
    }
    assert!(
        ordinary.len() == PLAYED && many.len() == PLAYED,
        "the tenant is too small to measure"
    );
    println!(
        "wrote the large tenant: {size} events, {unit} copied units, in {:.0} s",
        began.elapsed().as_secs_f64()
    );
    Written {
        events: size,
        ordinary,
        many,
    }
}

type StoredEvent = (String, u32, Value, Value);

/// The first unit's streams, as the server wrote them.
struct Template {
    client: String,
    consent: String,
    recording: String,
    grant: String,
    client_events: Vec<StoredEvent>,
    consent_events: Vec<StoredEvent>,
    recording_events: Vec<StoredEvent>,
    grant_events: Vec<StoredEvent>,
}

impl Template {
    /// A unit like the template with new ids: a new client (or `client`, who then gains a
    /// consent), a consent for the session of `day`, its recording with `plays` plays, and a
    /// grant. Returns its writes and the recording's id.
    fn copy(
        &self,
        client: Option<&str>,
        day: NaiveDate,
        plays: usize,
    ) -> (Vec<(StreamId, Vec<NewEvent>)>, String) {
        let new_client = client.map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
        let ids = [
            (self.client.as_str(), new_client.clone()),
            (self.consent.as_str(), Uuid::new_v4().to_string()),
            (self.recording.as_str(), Uuid::new_v4().to_string()),
            (self.grant.as_str(), Uuid::new_v4().to_string()),
        ];
        let renamed = |value: &Value| -> Value {
            let mut text = value.to_string();
            for (old, new) in &ids {
                text = text.replace(old, new);
            }
            serde_json::from_str(&text).unwrap()
        };
        let events = |stored: &[StoredEvent], repeat_last: usize| -> Vec<NewEvent> {
            let mut out: Vec<NewEvent> = stored
                .iter()
                .map(|(event_type, schema_version, payload, metadata)| {
                    let mut payload = renamed(payload);
                    if let Some(on) = payload.get_mut("session_on") {
                        *on = json!(day);
                    }
                    if let Some(on) = payload.pointer_mut("/scope/session_on") {
                        *on = json!(day);
                    }
                    NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: event_type.clone(),
                        schema_version: *schema_version,
                        payload,
                        metadata: renamed(metadata),
                    }
                })
                .collect();
            if let Some(last) = out.last().cloned() {
                for _ in 1..repeat_last.max(1) {
                    out.push(NewEvent {
                        event_id: Uuid::now_v7(),
                        ..last.clone()
                    });
                }
                if repeat_last == 0 {
                    out.pop();
                }
            }
            out
        };
        let stream = |kind: &str, id: &str| StreamId::parse(&format!("{kind}-{id}")).unwrap();
        let mut writes = Vec::with_capacity(4);
        if client.is_none() {
            writes.push((stream("client", &ids[0].1), events(&self.client_events, 1)));
        }
        writes.push((
            stream("consent", &ids[1].1),
            events(&self.consent_events, 1),
        ));
        writes.push((
            stream("recording", &ids[2].1),
            events(&self.recording_events, plays),
        ));
        writes.push((stream("grant", &ids[3].1), events(&self.grant_events, 1)));
        (writes, ids[2].1.clone())
    }
}
