//! The coaching company's administrator, walked through the administrator's pages in a real
//! Chromium (`tests/browser/admin.mjs`), with axe-core checking every page at desktop and
//! phone width: the policy set to notified opt-out, a member added, a form's next version, a
//! course created, a student enrolled and the course ended, what falls due, and the access log
//! with a refused attempt, downloaded as CSV.
//!
//! Needs what `tests/browser.rs` needs (`node`, `npm ci` in `tests/browser/`, Chromium); with
//! `CI=true` a missing part fails the test. Screenshots go to `SCREENSHOTS` when it names a
//! folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use chrono::Utc;
use common::{browser_dir, parts_present};
use confide_domain::{Purpose, Role};
use confide_test_support::audio::{upload, wav};
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, spawn_app};
use serde_json::json;

const TENANT: &str = "coaching";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_runs_the_organisation_in_a_real_browser() {
    if !parts_present() {
        return;
    }
    let server = spawn_app(Backend::Sqlite).await;
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .member("eve", Role::Tutor)
        .form("Your coaching sessions are recorded for your coach's supervision.")
        .consent("sam", &[(Purpose::Supervision, &["ada"])])
        .open_over_http(&server)
        .await;
    let sam = &clinic.practitioner;
    let recording = server
        .ok(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": clinic.consent, "d": Utc::now().date_naive() }),
        )
        .await["createRecording"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        upload(server.address, &recording, sam, &wav(1)).await.0,
        201
    );
    let play =
        "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed } }";
    for (who, allowed) in [("ada", true), ("eve", false)] {
        let token = server.token(TENANT, who);
        assert_eq!(
            server.ok(&token, play, json!({ "r": recording })).await["startPlayback"]["allowed"],
            allowed
        );
    }

    let work = tempfile::tempdir().unwrap();
    let scenario = work.path().join("scenario.json");
    std::fs::write(
        &scenario,
        json!({
            "base": format!("http://{}", server.address),
            "adminToken": clinic.admin,
        })
        .to_string(),
    )
    .unwrap();
    let output = Command::new("node")
        .arg("admin.mjs")
        .current_dir(browser_dir())
        .env("SCENARIO", &scenario)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("admin: passed"),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}
