//! Pages of long lists: a tenant of 10,000 recordings, each played once (so its access log
//! holds 10,000 attempts), against a tenant of 10 in the same run, on SQLite and PostgreSQL.
//! Measured: the organisation's access log page (`GET /admin/access-log`, first, middle and
//! last page by cursor, and a filter that matches nothing, which reads the whole log) and the
//! tutor's list of what she may play (`GET /review`, first, middle and last page) over HTTP
//! through the server as the binary wires it; and the recordings list's pages
//! (`App::recordings_page`, first, middle and last by cursor, each recording with the
//! caller's access decided) in process. p50 and p99 of `REQUESTS` requests each, one at a
//! time. Target: p99 under 100 ms.
//!
//! Run with `nice -n 19 cargo bench -p confide-web --bench pages`. PostgreSQL is used when
//! `CONFIDE_TEST_DATABASE_URL` is set (as for the tests). The tenants are written through the
//! application's use cases (`create_recording`, `upload_media` of a second of audio,
//! `start_playback` by a tutor the consent does not name, so the log holds a refusal per
//! recording), so their events and read models are the server's own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench binary: a panic is a failure.

use std::time::{Duration, Instant};

use chrono::Utc;
use confide_app::{AccessLogFilter, App, Caller, MAX_PAGE, PageRequest};
use confide_domain::{Actor, Medium, Purpose, Role, UserId};
use confide_test_support::audio::wav;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, Server, spawn_app};

/// Requests per measurement.
const REQUESTS: usize = 200;
/// The rows of a page of the access log (as the page shows them) and of the recordings.
const LOG_PAGE: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

fn report(backend: &str, tenant: &str, what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{backend:<10} {tenant:<6} {what:<38} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap()),
    );
}

/// A tenant of `recordings` recordings, each played once by a tutor the consent does not
/// name: the sessions (as the `confide_staff` cookie holds them) of its administrator and of
/// Ada, the tutor the consent names, and the practitioner calling in it.
async fn fill(server: &Server, tenant: &str, recordings: usize) -> (String, String, Caller) {
    let clinic = Clinic::new(tenant)
        .member("ada", Role::Tutor)
        .member("eve", Role::Tutor)
        .consent("sam", &[(Purpose::Supervision, &["ada"])]);
    let opened = clinic.open_in(&server.app).await;
    let eve = Caller {
        tenant: opened.tenant.clone(),
        actor: Actor::user(UserId::parse("eve").unwrap()),
    };
    let started = Instant::now();
    let today = Utc::now().date_naive();
    let media = axum::body::Bytes::from(wav(1));
    for _ in 0..recordings {
        let recording = server
            .app
            .create_recording(&opened.practitioner, opened.consent, today, Medium::Audio)
            .await
            .unwrap();
        let body = media.clone();
        server
            .app
            .upload_media(
                &opened.practitioner,
                recording.id().unwrap(),
                Box::pin(futures_util::stream::once(async move { Ok(body) })),
            )
            .await
            .unwrap();
        server
            .app
            .start_playback(
                &eve,
                recording.id().unwrap(),
                Purpose::Supervision,
                Medium::Audio,
            )
            .await
            .unwrap();
    }
    eprintln!(
        "{tenant}: {recordings} recordings written and played in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let session = |user: &str| {
        let user = UserId::parse(user).unwrap();
        let app = server.app.clone();
        let tenant = opened.tenant.clone();
        async move { app.start_staff_session(&tenant, &user).await.unwrap() }
    };
    (
        session("admin").await,
        session("ada").await,
        opened.practitioner,
    )
}

/// The cursors of the first, middle and last pages of a list read `LOG_PAGE` at a time.
fn ends(cursors: &[Option<String>]) -> [(&'static str, Option<String>); 3] {
    [
        ("first", None),
        ("middle", cursors[cursors.len() / 2].clone()),
        ("last", cursors[cursors.len() - 1].clone()),
    ]
}

async fn log_cursors(app: &App, admin: &Caller) -> Vec<Option<String>> {
    let mut cursors = vec![None];
    loop {
        let request =
            PageRequest::new(LOG_PAGE, cursors.last().unwrap().clone(), LOG_PAGE).unwrap();
        let page = app
            .access_log_page(admin, &AccessLogFilter::default(), &request)
            .await
            .unwrap();
        if !page.has_next_page {
            return cursors;
        }
        cursors.push(page.rows.last().map(|(cursor, _)| cursor.clone()));
    }
}

async fn recording_cursors(app: &App, caller: &Caller) -> Vec<Option<String>> {
    let mut cursors = vec![None];
    loop {
        let request =
            PageRequest::new(LOG_PAGE, cursors.last().unwrap().clone(), MAX_PAGE).unwrap();
        let page = app
            .recordings_page(caller, Purpose::Supervision, &request)
            .await
            .unwrap();
        if !page.has_next_page {
            return cursors;
        }
        cursors.push(page.rows.last().map(|(cursor, _)| cursor.clone()));
    }
}

async fn measure(backend_name: &str, backend: Backend) {
    let server = spawn_app(backend).await;
    let http = reqwest::Client::new();
    for (tenant, recordings) in [("small", 10), ("large", 10_000)] {
        let (admin_session, tutor_session, practitioner) = fill(&server, tenant, recordings).await;
        let admin = Caller {
            tenant: practitioner.tenant.clone(),
            actor: Actor::user(UserId::parse("admin").unwrap()),
        };
        let tutor = Caller {
            tenant: practitioner.tenant.clone(),
            actor: Actor::user(UserId::parse("ada").unwrap()),
        };

        // The access log, over HTTP.
        let cursors = log_cursors(&server.app, &admin).await;
        let mut cases: Vec<(String, String, &str, &str)> = ends(&cursors)
            .into_iter()
            .map(|(name, cursor)| {
                let after = cursor.map(|c| format!("?after={c}")).unwrap_or_default();
                (
                    format!("access log, {name} page"),
                    format!("/admin/access-log{after}"),
                    admin_session.as_str(),
                    "Access log",
                )
            })
            .collect();
        cases.push((
            "access log, filter matching nothing".to_owned(),
            "/admin/access-log?person=nobody".to_owned(),
            admin_session.as_str(),
            "Access log",
        ));
        // The tutor's list of what she may play, over HTTP.
        let cursors = recording_cursors(&server.app, &tutor).await;
        for (name, cursor) in ends(&cursors) {
            let after = cursor.map(|c| format!("&after={c}")).unwrap_or_default();
            cases.push((
                format!("tutor's recordings page, {name} page"),
                format!("/review?purpose=supervision{after}"),
                tutor_session.as_str(),
                "Session of",
            ));
        }
        for (what, path, session, expected) in cases {
            let url = format!("http://{}{path}", server.address);
            let mut times = Vec::with_capacity(REQUESTS);
            for _ in 0..REQUESTS {
                let started = Instant::now();
                let response = http
                    .get(&url)
                    .header("cookie", format!("confide_staff={session}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{url}");
                let body = response.text().await.unwrap();
                times.push(started.elapsed());
                assert!(body.contains(expected), "{url}");
            }
            report(backend_name, tenant, &what, times);
        }

        // The recordings list's pages, in process.
        let cursors = recording_cursors(&server.app, &admin).await;
        for (name, cursor) in ends(&cursors) {
            let request = PageRequest::new(LOG_PAGE, cursor, MAX_PAGE).unwrap();
            let mut times = Vec::with_capacity(REQUESTS);
            for _ in 0..REQUESTS {
                let started = Instant::now();
                let page = server
                    .app
                    .recordings_page(&admin, Purpose::Supervision, &request)
                    .await
                    .unwrap();
                times.push(started.elapsed());
                assert!(!page.rows.is_empty());
            }
            report(
                backend_name,
                tenant,
                &format!("recordings, {name} page"),
                times,
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    measure("sqlite", Backend::Sqlite).await;
    if std::env::var("CONFIDE_TEST_DATABASE_URL").is_ok() {
        measure("postgresql", Backend::Postgres).await;
    } else {
        eprintln!("PostgreSQL skipped: CONFIDE_TEST_DATABASE_URL is not set");
    }
}
