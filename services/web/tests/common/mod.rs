//! What the browser tests share: where their Node.js scripts are, whether the browser and its
//! driver are here, and a real OpenID Connect provider ([`identity`]).

#![allow(dead_code)]

pub(crate) mod identity;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/browser`, where the scripts and their `node_modules` are.
pub(crate) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Whether the browser and its driver are here; with `CI=true`, they must be.
pub(crate) fn parts_present() -> bool {
    let chromium = std::env::var("CONFIDE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let driver = browser_dir().join("node_modules/playwright-core").is_dir();
    let provider = browser_dir().join("node_modules/oidc-provider").is_dir();
    let present = node && driver && provider && Path::new(&chromium).exists();
    if !present {
        let missing = format!(
            "the browser tests need node ({node}), `npm ci` in {} ({driver}, {provider}) and \
             {chromium}",
            browser_dir().display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{missing}");
        eprintln!("skipped outside CI: {missing}");
    }
    present
}

/// Runs `script` of `tests/browser` on the scenario at `scenario`; it passes when it exits
/// well and prints `passed`. Its output is shown if it fails.
pub(crate) fn run_script(script: &str, scenario: &Path, passed: &str) {
    let output = Command::new("node")
        .arg(script)
        .current_dir(browser_dir())
        .env("SCENARIO", scenario)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(passed),
        "{script}: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}
