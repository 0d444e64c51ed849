//! A real OpenID Connect provider for the sign-in tests: `tests/browser/identity-provider.mjs`
//! (oidc-provider, from npm) as a child process on a port the system picks. It learns which
//! client it serves once Confide's server, and so its callback's address, exists.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use confide_test_support::server::{Backend, Server, spawn_app_with_pages};
use confide_web::ProviderSettings;
use serde_json::{Value, json};

/// Confide's client id and secret at the test provider.
pub(crate) const CLIENT_ID: &str = "confide";
pub(crate) const CLIENT_SECRET: &str = "a client secret for the sign-in tests";

/// The provider's process; it stops when this is dropped.
pub(crate) struct TestProvider {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Its issuer URL (`http://127.0.0.1:<port>`).
    pub(crate) issuer: String,
}

impl TestProvider {
    /// Starts the provider from `browser_dir` (where `npm ci` installed it).
    pub(crate) fn start(browser_dir: &Path) -> Self {
        let mut child = Command::new("node")
            .arg("identity-provider.mjs")
            .current_dir(browser_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the identity provider");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut provider = Self {
            child,
            stdin,
            stdout,
            issuer: String::new(),
        };
        provider.issuer = provider.answer()["issuer"]
            .as_str()
            .expect("the provider's issuer")
            .to_owned();
        provider
    }

    /// The next line of JSON the provider prints.
    fn answer(&mut self) -> Value {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("reading the provider's output");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("the provider printed {line:?}"))
    }

    /// Registers Confide, whose callback is `redirect_uri`, with the people's names by subject.
    pub(crate) fn register(&mut self, redirect_uri: &str, names: Value) {
        let line = json!({
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "redirectUri": redirect_uri,
            "names": names,
        });
        let stdin = self.stdin.as_mut().expect("the provider's stdin");
        writeln!(stdin, "{line}").expect("writing to the provider");
        stdin.flush().expect("writing to the provider");
        assert_eq!(self.answer()["ready"], true);
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server on `backend` whose pages sign people in through a fresh test provider, which
/// knows the people of `names` (subject to name); the provider lives as long as the pair.
pub(crate) async fn server_signing_in_through_a_provider(
    backend: Backend,
    names: Value,
) -> (Server, TestProvider) {
    let mut provider = TestProvider::start(&super::browser_dir());
    let issuer = provider.issuer.clone();
    let server = spawn_app_with_pages(
        backend,
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
        names,
    );
    (server, provider)
}
