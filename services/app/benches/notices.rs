//! The outbox's throughput: messages per second delivered to a local SMTP server (aiosmtpd,
//! `tests/it/sinks/smtp_sink.py`). A tenant on SQLite (the embedded default) asks `N` clients
//! for consent, then one timed `run_notice_jobs` projects the outbox and delivers the `N`
//! consent requests (eight sends at a time, each claimed, sent and recorded as an event).
//!
//!     cargo bench -p confide-app --bench notices [-- N]

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark: a panic is a failure.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use confide_app::{
    App, AppParts, ClientDetails, ClientLinks, ConsentRequested, NoticeChannels, RetryPolicy,
    SmtpMailer, SystemClock,
};
use confide_audit::checkpoint::NoteSigner;
use confide_domain::{Purpose, Role};
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_test_support::clinic::Clinic;
use confide_vault::{LocalBlobStore, LocalKeyStore, MasterKey};

struct Links;

impl ClientLinks for Links {
    fn client_link(
        &self,
        _: &confide_domain::TenantId,
        client: confide_domain::ClientId,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, String> {
        Ok(format!("https://confide.test/c/{client}"))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/sinks/smtp_sink.py");
    let mut sink = Command::new("python3")
        .arg(script)
        .arg(dir.path().join("smtp"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sink.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first.trim().strip_prefix("PORT ").unwrap().parse().unwrap();

    let store = confide_test_support::app_sqlite().await;
    let app = App::new(AppParts {
        store: Arc::new(store.clone()),
        read: Arc::new(store.clone()),
        keys: Arc::new(LocalKeyStore::new(store, MasterKey::generate())),
        blobs: Arc::new(LocalBlobStore::new(dir.path().join("media")).unwrap()),
        signer: Arc::new(CheckpointSigner::new(
            NoteSigner::generate("bench").unwrap(),
            "bench",
        )),
        clock: Arc::new(SystemClock),
    })
    .with_notice_channels(NoticeChannels {
        mail: Some(Arc::new(
            SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), "notices@confide.test").unwrap(),
        )),
        webhooks: None,
        links: Some(Arc::new(Links)),
        retry: RetryPolicy::default(),
    });
    let clinic = Clinic::new("bench")
        .member("sam", Role::Practitioner)
        .member("ada", Role::Tutor)
        .consent("sam", &[(Purpose::CourseAssessment, &["ada"])])
        .open_in(&app)
        .await;
    for i in 1..n {
        let client = app
            .register_client(
                &clinic.practitioner,
                ClientDetails {
                    name: format!("Client {i}"),
                    contact: Some(format!("client{i}@clients.test")),
                },
            )
            .await
            .unwrap();
        app.request_consent(
            &clinic.practitioner,
            ConsentRequested {
                client_id: client,
                consent_form_id: clinic.form.id,
                form_version: None,
                terms: clinic_terms(),
                session_on: None,
                course_id: None,
                expiry: None,
            },
        )
        .await
        .unwrap();
    }
    let started = Instant::now();
    let run = app.run_notice_jobs().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(run.delivered, n, "{run:?}");
    let received = std::fs::read_dir(dir.path().join("smtp")).unwrap().count();
    assert_eq!(received, n);
    println!(
        "outbox: {n} consent requests projected and delivered to aiosmtpd in {:.2} s: {:.0} messages/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    let _ = sink.kill();
    let _ = sink.wait();
}

fn clinic_terms() -> Vec<confide_domain::aggregates::consent::PurposeTerms> {
    Clinic::new("bench")
        .consent("sam", &[(Purpose::CourseAssessment, &["ada"])])
        .terms()
}
