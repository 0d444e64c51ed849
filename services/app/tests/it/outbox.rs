//! Notices against real parts, on both backends: a real SMTP server (aiosmtpd, each message
//! parsed by Python's own e-mail parser), a webhook receiver that checks Standard Webhooks
//! signatures with code written from the specification, the SMTP server stopped part way, and
//! a send cut short by a crash. With `CI=true` a missing Python module fails the test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use confide_app::{
    App, Caller, ClientLinks, NoticeChannels, Outbox, ReadModels, RetryPolicy, SmtpMailer,
    SystemClock, WebhookSender,
};
use confide_audit::bundle::{BundleReader, Line};
use confide_audit::verify::{VerifyOptions, verify_bundle};
use confide_domain::aggregates::consent::WithdrawalScope;
use confide_domain::aggregates::tenant::AuditScope;
use confide_domain::{Actor, ClientId, Medium, Purpose, Role, SystemJob, TenantId, UserId};
use confide_eventstore::EventStore;
use confide_test_support::both_backends;
use confide_test_support::clinic::{Clinic, InApp};
use serde_json::Value;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    sqlite => confide_test_support::app_sqlite().await,
    postgres => confide_test_support::app_postgres().await,
    |store| case(store);
    the_student_counsellors_withdrawal_reaches_both_tutors_on_the_record,
    a_mail_server_outage_delays_notices_but_neither_loses_nor_duplicates_them,
    a_send_cut_short_by_a_crash_is_never_sent_again,
);

/// A Python helper from `sinks/`, started and read up to its `PORT` line.
struct Sink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sink {
    fn start(script: &str, dir: &Path, port: Option<u16>) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/sinks")
            .join(script);
        let mut command = Command::new("python3");
        command.arg(&script).arg(dir);
        if let Some(port) = port {
            command.arg(port.to_string());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (the tests need it, with aiosmtpd: .ci/test installs it)");
        let stdout = child.stdout.take().expect("piped");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        let port = first
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} did not start (is aiosmtpd installed? `pip install aiosmtpd`): {first:?}",
                    script.display()
                )
            });
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    fn stop(mut self) {
        // SIGTERM by the child's own id: aiosmtpd's controller stops cleanly.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Every record written so far.
    fn records(&self) -> Vec<Value> {
        let mut records: Vec<Value> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect();
        records.sort_by_key(|r| r.to_string());
        records
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Client links as a test issues them: recognisable, so the mail can be checked for one.
struct TestLinks;

impl ClientLinks for TestLinks {
    fn client_link(
        &self,
        _: &TenantId,
        client: ClientId,
        _: DateTime<Utc>,
    ) -> Result<String, String> {
        Ok(format!("https://confide.test/c/link-for-{client}"))
    }
}

fn channels(smtp_port: u16) -> NoticeChannels {
    NoticeChannels {
        mail: Some(Arc::new(
            SmtpMailer::new(
                &format!("smtp://127.0.0.1:{smtp_port}"),
                "Confide <notices@confide.test>",
            )
            .unwrap(),
        )),
        webhooks: Some(WebhookSender::new().unwrap()),
        links: Some(Arc::new(TestLinks)),
        // Retries a few milliseconds apart, so an outage is waited out within the test.
        retry: RetryPolicy {
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            max_attempts: 1_000,
        },
    }
}

fn app_over<S>(store: S, smtp_port: u16) -> App
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    App::new(crate::parts(store, Arc::new(SystemClock))).with_notice_channels(channels(smtp_port))
}

/// The student counsellor's clinic: Sam, a practitioner, whose client consents to Ada and
/// Bob, tutors, assessing their recordings; the tutors' addresses set by the administrator.
async fn clinic(app: &App, tenant: &str) -> InApp {
    let opened = Clinic::new(tenant)
        .member("sam", Role::Practitioner)
        .member("ada", Role::Tutor)
        .member("bob", Role::Tutor)
        .client("Morgan Ellis", "07700 900123, morgan@client.test")
        .consent("sam", &[(Purpose::CourseAssessment, &["ada", "bob"])])
        .open_in(app)
        .await;
    for (tutor, address) in [("ada", "ada@tutors.test"), ("bob", "bob@tutors.test")] {
        app.set_notice_address(&opened.admin, UserId::parse(tutor).unwrap(), address)
            .await
            .unwrap();
    }
    opened
}

/// The client withdraws with deletion and the recording is destroyed.
async fn withdraw_and_destroy(app: &App, clinic: &InApp) {
    let today = Utc::now().date_naive();
    app.create_recording(&clinic.practitioner, clinic.consent, today, Medium::Audio)
        .await
        .unwrap();
    let client = Caller {
        tenant: clinic.tenant.clone(),
        actor: Actor::client(clinic.client),
    };
    app.withdraw_consent(&client, clinic.consent, WithdrawalScope::Whole, true)
        .await
        .unwrap();
    app.run_destruction_jobs().await.unwrap();
}

/// Runs the notice job until `done` holds, or fails after 20 s.
async fn run_until(app: &App, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        app.run_notice_jobs().await.unwrap();
        if done() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn to(records: &[Value], address: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            r["rcpt_tos"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == address)
        })
        .cloned()
        .collect()
}

/// Every event of the tenant's whole log, from an audit bundle that verified.
async fn verified_events(app: &App, tenant: &TenantId) -> Vec<(String, Value)> {
    let operator = Caller {
        tenant: tenant.clone(),
        actor: Actor::system(SystemJob::Operator),
    };
    let mut bundle = Vec::new();
    app.write_audit_bundle(&operator, &AuditScope::default(), None, &mut bundle)
        .await
        .unwrap();
    let options = VerifyOptions {
        trusted_keys: vec![app.checkpoint_key().parse().unwrap()],
        previous: None,
    };
    let verified = verify_bundle(bundle.as_slice(), &options, &mut ()).unwrap();
    assert!(verified.keys_trusted);
    let mut reader = BundleReader::new(bundle.as_slice());
    let mut events = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        if let Line::Event(event) = line {
            events.push((
                event.event_type().into_owned(),
                serde_json::from_str(event.payload_json()).unwrap(),
            ));
        }
    }
    events
}

async fn the_student_counsellors_withdrawal_reaches_both_tutors_on_the_record<S>(store: S)
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    let dirs = tempfile::tempdir().unwrap();
    let smtp = Sink::start("smtp_sink.py", &dirs.path().join("smtp"), None);
    let hooks = Sink::start("webhook_sink.py", &dirs.path().join("hooks"), None);
    let app = app_over(store, smtp.port);
    let clinic = clinic(&app, "student-counselling").await;
    // The consent request's notice goes to the e-mail address among the client's contact
    // details, which the practitioner's page names.
    let details = |contact: Option<&str>| confide_app::ClientDetails {
        name: "Morgan Ellis".to_owned(),
        contact: contact.map(str::to_owned),
    };
    assert_eq!(
        app.client_mail_address(&details(Some("07700 900123, morgan@client.test")))
            .as_deref(),
        Some("morgan@client.test")
    );
    assert_eq!(
        app.client_mail_address(&details(Some("07700 900123"))),
        None
    );
    assert_eq!(app.client_mail_address(&details(None)), None);
    let added = app
        .add_webhook_endpoint(
            &clinic.admin,
            &format!("http://127.0.0.1:{}/confide", hooks.port),
        )
        .await
        .unwrap();
    assert!(added.secret.starts_with("whsec_"));
    std::fs::write(hooks.dir.join("secret"), &added.secret).unwrap();
    // Bad input is refused with a reason.
    assert!(
        app.add_webhook_endpoint(&clinic.admin, "http://hooks.example.org/")
            .await
            .is_err()
    );
    assert!(
        app.set_notice_address(&clinic.practitioner, UserId::parse("ada").unwrap(), "x@y.z")
            .await
            .is_err(),
        "only an org_admin sets addresses"
    );

    withdraw_and_destroy(&app, &clinic).await;
    // The consent request and the certificate to the client; a withdrawal notice to each tutor.
    run_until(&app, "four messages", || smtp.records().len() >= 4).await;
    let records = smtp.records();
    assert_eq!(records.len(), 4, "{records:#?}");

    for tutor in ["ada@tutors.test", "bob@tutors.test"] {
        let mail = to(&records, tutor);
        assert_eq!(mail.len(), 1, "{tutor}: {mail:#?}");
        let mail = &mail[0];
        assert_eq!(
            mail["subject"],
            "Consent withdrawn: recordings you had access to"
        );
        assert_eq!(mail["content_type"], "multipart/alternative");
        assert!(mail["text"].as_str().unwrap().contains("withdrawn"));
        assert!(mail["html"].as_str().unwrap().contains("<p>"));
        assert_eq!(mail["from"], "Confide <notices@confide.test>");
        // Nothing about the client beyond what a tutor knew: not their name or contact.
        for field in ["text", "html", "subject"] {
            let body = mail[field].as_str().unwrap();
            assert!(
                !body.contains("Morgan") && !body.contains("07700"),
                "{body}"
            );
        }
    }
    let to_client = to(&records, "morgan@client.test");
    assert_eq!(to_client.len(), 2, "{to_client:#?}");
    let request = to_client
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("consent"))
        .expect("the consent request");
    assert!(request["text"].as_str().unwrap().contains(&format!(
        "https://confide.test/c/link-for-{}",
        clinic.client
    )));
    assert_eq!(request["content_language"], "en");
    let certificate = to_client
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("Certificate"))
        .expect("the destruction certificate");
    let text = certificate["text"].as_str().unwrap();
    for part in [
        "Key destroyed:",
        "event: RecordingDestroyed",
        "inclusion path:",
        "checkpoint key:",
        "confide.test/student-counselling",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }

    // Every notice announced to the endpoint, signed, with ids and types only.
    run_until(&app, "the webhooks", || hooks.records().len() >= 4).await;
    let posted = hooks.records();
    assert!(posted.iter().all(|r| r["verified"] == true), "{posted:#?}");
    let types: Vec<&str> = posted
        .iter()
        .map(|r| r["body"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "WithdrawalNoticeIssued")
            .count(),
        2,
        "{types:?}"
    );
    for record in &posted {
        let body = record["body"].to_string();
        assert!(!body.contains("Morgan") && !body.contains('@'), "{body}");
    }

    // Every delivery is on the record, in a bundle an auditor verifies.
    let events = verified_events(&app, &clinic.tenant).await;
    let delivered: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "NoticeDelivered")
        .map(|(_, p)| p)
        .collect();
    for tutor in ["ada", "bob"] {
        assert!(
            delivered.iter().any(|p| p["notice"] == "withdrawal_notice"
                && p["recipient"]["user_id"] == tutor
                && p["channel"] == "email"),
            "{tutor}: {delivered:#?}"
        );
    }
    assert_eq!(
        delivered.len(),
        8,
        "4 e-mails and 4 webhooks: {delivered:#?}"
    );
    assert!(!events.iter().any(|(t, _)| t == "NoticeFailed"));

    // Running again, or rebuilding the outbox from the log, sends nothing more.
    app.rebuild_notice_outbox().await.unwrap();
    let again = app.run_notice_jobs().await.unwrap();
    assert_eq!((again.delivered, again.failed), (0, 0), "{again:?}");
    assert_eq!(smtp.records().len(), 4);
    let outbox = app.outbox_messages(&clinic.admin).await.unwrap();
    assert!(outbox.iter().all(|m| m.state == "delivered"), "{outbox:#?}");
}

async fn a_mail_server_outage_delays_notices_but_neither_loses_nor_duplicates_them<S>(store: S)
where
    S: EventStore + ReadModels + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    let dirs = tempfile::tempdir().unwrap();
    let smtp_dir = dirs.path().join("smtp");
    let smtp = Sink::start("smtp_sink.py", &smtp_dir, None);
    let port = smtp.port;
    let app = app_over(store, port);
    let clinic = clinic(&app, "outage-counselling").await;
    run_until(&app, "the consent request", || smtp.records().len() == 1).await;

    // The mail server stops; the withdrawal's notices are tried, and wait.
    smtp.stop();
    withdraw_and_destroy(&app, &clinic).await;
    let mut waiting = 0;
    for _ in 0..5 {
        let run = app.run_notice_jobs().await.unwrap();
        assert_eq!((run.delivered, run.failed), (0, 0), "{run:?}");
        waiting += run.retrying;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting >= 3, "attempts were made while the server was down");

    // It comes back on the same port: everything is delivered, once.
    let smtp = Sink::start("smtp_sink.py", &smtp_dir, Some(port));
    run_until(&app, "the delayed notices", || smtp.records().len() >= 4).await;
    let records = smtp.records();
    let mut ids: Vec<&str> = records
        .iter()
        .map(|r| r["message_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "no duplicates: {records:#?}");
    let events = verified_events(&app, &clinic.tenant).await;
    let retried = events
        .iter()
        .filter(|(t, p)| t == "NoticeDelivered" && p["attempts"].as_u64().unwrap() > 1)
        .count();
    assert_eq!(
        retried, 3,
        "the three delayed notices took several attempts"
    );
    assert!(!events.iter().any(|(t, _)| t == "NoticeFailed"));
}

async fn a_send_cut_short_by_a_crash_is_never_sent_again<S>(store: S)
where
    S: EventStore + ReadModels + Outbox + Clone + 'static,
    confide_vault::LocalKeyStore<S>: confide_vault::KeyStore,
{
    let dirs = tempfile::tempdir().unwrap();
    let smtp = Sink::start("smtp_sink.py", &dirs.path().join("smtp"), None);
    let app = app_over(store.clone(), smtp.port);
    let clinic = clinic(&app, "crash-counselling").await;
    app.project_notices().await.unwrap();
    let outbox = app.outbox_messages(&clinic.admin).await.unwrap();
    let request = outbox
        .iter()
        .find(|m| m.notice == "consent_request")
        .unwrap();
    // A sender claimed it eleven minutes ago and stopped before recording what happened.
    let then = Utc::now() - chrono::TimeDelta::minutes(11);
    assert_eq!(
        store
            .claim_message(&clinic.tenant, &request.message_id, then)
            .await
            .unwrap(),
        Some(1)
    );
    let run = app.run_notice_jobs().await.unwrap();
    assert_eq!((run.delivered, run.failed), (0, 1), "{run:?}");
    assert!(smtp.records().is_empty(), "not sent a second time");
    let events = verified_events(&app, &clinic.tenant).await;
    let failed: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "NoticeFailed")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("outcome unknown"),
        "{failed:?}"
    );
}
