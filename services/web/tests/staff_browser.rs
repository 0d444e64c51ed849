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

use common::identity::server_signing_in_through_a_provider;
use common::{parts_present, run_script};
use confide_domain::{Purpose, Role};
use confide_test_support::audio::wav;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::Backend;
use serde_json::json;

const TENANT: &str = "course";
const CREDENTIALING_FORM: &str = "Recording your coaching sessions for your coach's credential\n\nYour coach is applying for a coaching credential. With your agreement, one session is recorded and heard by the credentialing body's assessor, named below, and by nobody else. The recording is destroyed once the credentialing body has decided.";
const FORM: &str = "Recording your counselling sessions\n\nYour counsellor is a student on a counselling course. With your agreement, your sessions are recorded so that the course's tutors, named below, can assess your counsellor's work.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_practitioners_and_the_tutors_work_in_a_real_browser() {
    if !parts_present() {
        return;
    }
    // Sam and Ada sign in through the organisation's identity provider.
    let (server, _provider) = server_signing_in_through_a_provider(
        Backend::Sqlite,
        json!({ "sam": "Sam Practitioner", "ada": "Ada Tutor" }),
    )
    .await;
    Clinic::new(TENANT)
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
    run_script("staff-story.mjs", &scenario, "staff story: passed");
}

/// The credentialing story: a coach asks for consent that ends with the credentialing body's
/// decision, records a session, and lets the assessor listen; once the decision is recorded,
/// the assessor's access has expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentialing_story_ends_with_the_assessors_access_expired() {
    if !parts_present() {
        return;
    }
    let (server, _provider) = server_signing_in_through_a_provider(
        Backend::Sqlite,
        json!({ "sam": "Sam Coach", "mia": "Mia Assessor" }),
    )
    .await;
    Clinic::new("coaching")
        .named("Northside Coaching")
        .member("mia", Role::Assessor)
        .form(CREDENTIALING_FORM)
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
            "coach": "sam",
            "assessor": "mia",
            "wav": audio,
            "until": (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string(),
        })
        .to_string(),
    )
    .unwrap();
    run_script(
        "credentialing.mjs",
        &scenario,
        "credentialing story: passed",
    );
}
