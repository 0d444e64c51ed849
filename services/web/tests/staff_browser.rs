//! The student counsellor's story through the organisation's pages in a real Chromium, with
//! axe-core checking each page at desktop and phone width (`tests/browser/staff-story.mjs`):
//! from registering a client to the tutor's play refused after the client withdrew.
//!
//! Needs `node`, `npm ci` in `tests/browser/`, and `/usr/bin/chromium` (or
//! `CONFIDE_CHROMIUM`). With `CI=true` a missing part fails the test. Screenshots are written
//! to `SCREENSHOTS` when it names a folder (`docs/screenshots` holds the committed ones).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use confide_domain::{Purpose, Role};
use confide_test_support::audio::wav;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, spawn_app};
use serde_json::json;

const TENANT: &str = "course";
const FORM: &str = "Recording your counselling sessions\n\nYour counsellor is a student on a counselling course. With your agreement, your sessions are recorded so that the course's tutors, named below, can assess your counsellor's work.";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn parts_present() -> bool {
    let chromium = std::env::var("CONFIDE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let driver = browser_dir().join("node_modules/playwright-core").is_dir();
    let present = node && driver && Path::new(&chromium).exists();
    if !present {
        let missing = format!(
            "the browser tests need node ({node}), `npm ci` in {} ({driver}) and {chromium}",
            browser_dir().display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{missing}");
        eprintln!("skipped outside CI: {missing}");
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_practitioners_and_the_tutors_work_in_a_real_browser() {
    if !parts_present() {
        return;
    }
    let server = spawn_app(Backend::Sqlite).await;
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .form(FORM)
        .consent("sam", &[(Purpose::CourseAssessment, &["ada"])])
        .open_over_http(&server)
        .await;
    let work = tempfile::tempdir().unwrap();
    let audio = work.path().join("session.wav");
    std::fs::write(&audio, wav(3)).unwrap();
    let scenario = work.path().join("scenario.json");
    std::fs::write(
        &scenario,
        json!({
            "base": format!("http://{}", server.address),
            "practitionerToken": clinic.practitioner,
            "tutorToken": server.token(TENANT, "ada"),
            "wav": audio,
        })
        .to_string(),
    )
    .unwrap();
    let output = Command::new("node")
        .arg("staff-story.mjs")
        .current_dir(browser_dir())
        .env("SCENARIO", &scenario)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("staff story: passed"),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}
