//! The student counsellor's story through the organisation's pages in a real Chromium, with
//! axe-core checking each page at desktop and phone width (`tests/browser/staff-story.mjs`):
//! from signing in through a real OpenID Connect provider (`oidc-provider`) and registering a
//! client to the tutor's play refused after the client withdrew.
//!
//! Needs `node`, `npm ci` in `tests/browser/`, and `/usr/bin/chromium` (or
//! `CONFIDE_CHROMIUM`). With `CI=true` a missing part fails the test. Screenshots are written
//! to `SCREENSHOTS` when it names a folder (`docs/screenshots` holds the committed ones).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::identity::{CLIENT_ID, CLIENT_SECRET, TestProvider};
use common::{browser_dir, parts_present};
use confide_domain::{Purpose, Role};
use confide_test_support::audio::wav;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, spawn_app_with_pages};
use confide_web::ProviderSettings;
use serde_json::json;

const TENANT: &str = "course";
const FORM: &str = "Recording your counselling sessions\n\nYour counsellor is a student on a counselling course. With your agreement, your sessions are recorded so that the course's tutors, named below, can assess your counsellor's work.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_practitioners_and_the_tutors_work_in_a_real_browser() {
    if !parts_present() {
        return;
    }
    // Sam and Ada sign in through the organisation's identity provider.
    let mut provider = TestProvider::start(&browser_dir());
    let issuer = provider.issuer.clone();
    let server = spawn_app_with_pages(
        Backend::Sqlite,
        Box::new(move |pages| {
            pages
                .with_identity_provider(ProviderSettings {
                    issuer,
                    client_id: CLIENT_ID.to_owned(),
                    client_secret: Some(CLIENT_SECRET.to_owned()),
                })
                .expect("the identity provider's settings")
        }),
    )
    .await;
    provider.register(
        &format!("http://{}/sign-in/callback", server.address),
        json!({ "sam": "Sam Practitioner", "ada": "Ada Tutor" }),
    );
    let _clinic = Clinic::new(TENANT)
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
            "practitioner": "sam",
            "tutor": "ada",
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
        "{}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}
