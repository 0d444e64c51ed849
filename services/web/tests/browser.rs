//! The student counsellor's client and the course's auditor, walked through the pages in a
//! real Chromium (Debian's, driven by Playwright's driver from `tests/browser/`), with axe-core
//! checking every page at desktop and phone width: the client opens the link, reads the form
//! and gives consent by keyboard; a tutor plays and another is refused; the client sees both,
//! withdraws with deletion, sees the recording destroyed and the receipt verified in the
//! page; the auditor exports the log and verifies the bundle in the page, and a tampered copy
//! is rejected by name.
//!
//! Needs `node`, `npm ci` in `tests/browser/`, and `/usr/bin/chromium` (or
//! `CONFIDE_CHROMIUM`); `.ci/test` installs them. With `CI=true` a missing part fails the
//! test. Screenshots are written to `SCREENSHOTS` when it names a folder
//! (`docs/screenshots` holds the committed ones).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use chrono::Utc;
use common::{browser_dir, parts_present};
use confide_domain::{Purpose, Role};
use confide_test_support::audio::{upload, wav};
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, Server, spawn_app};
use serde_json::{Value, json};

const TENANT: &str = "course";
const FORM: &str = "Recording your counselling sessions\n\nYour counsellor is a student on a counselling course. With your agreement, your sessions are recorded so that the course's tutors, named below, can assess your counsellor's work.\n\nOnly the people named may listen. The recordings are encrypted, and destroyed once the course has finished. You can withdraw your consent at any time, and ask for the recordings to be destroyed; this will not affect your counselling.";

/// Runs one phase of `story.mjs`; its output is shown if it fails.
fn phase(scenario: &Path, work: &Path, name: &str) {
    let mut command = Command::new("node");
    command
        .arg("story.mjs")
        .arg(name)
        .current_dir(browser_dir())
        .env("SCENARIO", scenario)
        .env("WORK_DIR", work);
    let output = command.output().expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "phase {name} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("phase {name}: passed")),
        "{stdout}"
    );
}

async fn play(server: &Server, user: &str, recording: &str) -> bool {
    server
        .ok(
            &server.token(TENANT, user),
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: COURSE_ASSESSMENT) { allowed } }",
            json!({ "r": recording }),
        )
        .await["startPlayback"]["allowed"]
        .as_bool()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_and_the_auditors_work_in_a_real_browser() {
    if !parts_present() {
        return;
    }
    let server = spawn_app(Backend::Sqlite).await;
    // The course: the student counsellor sam, tutors ada and ben (named), eve (not named).
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .member("ben", Role::Tutor)
        .member("eve", Role::Tutor)
        .member("audrey", Role::Auditor)
        .form(FORM)
        .consent("sam", &[(Purpose::CourseAssessment, &["ada", "ben"])])
        .open_over_http(&server)
        .await;
    let sam = &clinic.practitioner;
    let client = server
        .register_client(sam, "Chris Client", "chris@example.org")
        .await;
    let requested = server
        .ok(
            sam,
            "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { url } } }",
            json!({ "input": {
                "clientId": client, "consentFormId": clinic.form["id"],
                "purposes": [{ "purpose": "COURSE_ASSESSMENT", "users": ["ada", "ben"], "media": ["AUDIO"] }],
            } }),
        )
        .await["requestConsent"]
        .clone();
    let consent = requested["consent"]["id"].as_str().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    let scenario = work.path().join("scenario.json");
    let write = |extra: Value| {
        let mut value = json!({
            "base": format!("http://{}", server.address),
            "link": requested["clientLink"]["url"],
            "consent": consent,
            "formText": FORM,
            "formSha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(FORM.as_bytes())),
            "auditorToken": server.token(TENANT, "audrey"),
        });
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        std::fs::write(&scenario, value.to_string()).unwrap();
    };
    write(json!({}));

    phase(&scenario, work.path(), "give");

    // The session is recorded; ada listens, eve is refused.
    let recording = server
        .ok(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": consent, "d": Utc::now().date_naive() }),
        )
        .await["createRecording"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        upload(server.address, &recording, sam, &wav(2)).await.0,
        201
    );
    assert!(play(&server, "ada", &recording).await);
    assert!(!play(&server, "eve", &recording).await);
    write(json!({ "recording": recording }));

    phase(&scenario, work.path(), "withdraw");
    // The destruction job, as the server runs it every minute.
    assert_eq!(server.app.run_destruction_jobs().await.unwrap(), 1);
    phase(&scenario, work.path(), "destroyed");
    phase(&scenario, work.path(), "auditor");
    let failure = std::fs::read_to_string(work.path().join("tampered-failure.txt")).unwrap();
    println!("the tampered bundle, as the page names it:\n{failure}");
}
