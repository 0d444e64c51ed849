//! The README's first command, end to end: the real binary on its embedded default (SQLite and
//! a generated key in a fresh data directory), on port 0, asked for its health and readiness,
//! stopped with SIGTERM, and started again with the same key; and the same binary configured
//! by a file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    address: String,
    key: String,
    data_dir: String,
    /// The banner's `notices:` line.
    notices: String,
}

/// The binary with no variables but `PATH`.
fn confide() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confide"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn start(data_dir: &Path) -> Running {
    let mut command = confide();
    command
        .arg("serve")
        .env("CONFIDE_DATA_DIR", data_dir)
        .env("CONFIDE_LISTEN", "127.0.0.1:0");
    run(command)
}

fn run(mut command: Command) -> Running {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting confide");
    // The binary prints its address once it is listening: read until then.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    let mut key = None;
    let mut data_dir = None;
    let mut notices = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            address = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("checkpoint key: ") {
            key = Some(rest.to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("data: ") {
            data_dir = Some(rest.to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("notices: ") {
            notices = Some(rest.to_string());
        }
        if line.contains("health:") {
            break;
        }
    }
    let running = Running {
        child,
        address: address.expect("confide printed its address"),
        key: key.expect("confide printed its checkpoint key"),
        data_dir: data_dir.expect("confide printed its data directory"),
        notices: notices.expect("confide said where notices go"),
    };
    // Answered once the server is serving: only then is SIGTERM a graceful shutdown.
    assert_eq!(get(&running.address, "/health").0, 200);
    running
}

fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

fn stop(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    assert!(
        exit.success(),
        "graceful shutdown exits cleanly, got {exit}"
    );
}

#[test]
fn serves_health_on_the_embedded_default_and_keeps_its_key() {
    let data_dir = std::env::temp_dir().join(format!("confide-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);

    let first = start(&data_dir);
    let (status, body) = get(&first.address, "/health");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backend"], "sqlite");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let (status, body) = get(&first.address, "/ready");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({ "status": "ready" })
    );
    assert_eq!(get(&first.address, "/no-such-thing").0, 404);
    let key = first.key.clone();
    stop(first);

    assert!(data_dir.join("confide.db").exists());
    let mode = std::fs::metadata(data_dir.join("signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the signing key is readable by its owner only"
    );

    let second = start(&data_dir);
    assert_eq!(second.key, key, "a restart keeps the generated key");
    stop(second);
    std::fs::remove_dir_all(&data_dir).unwrap();
}

/// Runs SQL against the embedded default's database, behind the server's back.
fn tamper(database: &Path, statement: &str) {
    let url = format!("sqlite://{}", database.display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
        });
}

#[test]
fn is_not_ready_while_a_migration_is_missing() {
    let data_dir = std::env::temp_dir().join(format!("confide-e2e-ready-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let running = start(&data_dir);
    assert_eq!(get(&running.address, "/ready").0, 200);

    let database = data_dir.join("confide.db");
    tamper(
        &database,
        "CREATE TABLE saved AS SELECT * FROM _sqlx_migrations; \
         DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM saved)",
    );
    let (status, body) = get(&running.address, "/ready");
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap().contains("is not applied"),
        "{body}"
    );
    assert_eq!(
        get(&running.address, "/health").0,
        200,
        "alive, though not ready"
    );

    tamper(
        &database,
        "INSERT INTO _sqlx_migrations SELECT * FROM saved \
         WHERE version NOT IN (SELECT version FROM _sqlx_migrations); DROP TABLE saved",
    );
    assert_eq!(get(&running.address, "/ready").0, 200);
    stop(running);
    std::fs::remove_dir_all(&data_dir).unwrap();
}

#[test]
fn reads_a_configuration_file_under_the_variables() {
    let dir = std::env::temp_dir().join(format!("confide-e2e-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("confide.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\ndevelopment = false\n",
            dir.join("from-file").display()
        ),
    )
    .unwrap();

    let mut command = confide();
    command.args(["--config", config.to_str().unwrap(), "serve"]);
    let running = run(command);
    assert_eq!(
        running.data_dir,
        dir.join("from-file").display().to_string()
    );
    stop(running);
    assert!(dir.join("from-file/confide.db").exists());

    // CONFIDE_CONFIG names the file too, and a variable wins over it.
    let mut command = confide();
    command
        .arg("serve")
        .env("CONFIDE_CONFIG", &config)
        .env("CONFIDE_DATA_DIR", dir.join("from-variable"));
    let running = run(command);
    assert_eq!(
        running.data_dir,
        dir.join("from-variable").display().to_string()
    );
    stop(running);

    // A key the file should not have stops the binary before it does anything, naming the key.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nlisten_adress = \"0.0.0.0:80\"\n",
    )
    .unwrap();
    let output = confide()
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`listen_adress`"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `confide <arguments>` on the embedded default in `data_dir`: its exit status, standard
/// output and standard error.
fn command_in(data_dir: &Path, arguments: &[&str]) -> (bool, String, String) {
    let output = confide()
        .args(arguments)
        .env("CONFIDE_DATA_DIR", data_dir)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The names in `directory`, sorted (none if it does not exist).
fn files_in(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A GraphQL query over HTTP with a bearer token: the status and the body.
fn graphql(address: &str, token: &str, query: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "query": query }).to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap())
}

#[test]
fn only_the_server_creates_keys_and_the_commands_beside_it_use_them() {
    let data_dir = std::env::temp_dir().join(format!("confide-e2e-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let shown = data_dir.display().to_string();

    // Before the server has ever started: no key, so each command stops, saying where it
    // looked and how to point it at the server's, and leaves nothing behind.
    for (arguments, file, variable) in [
        (
            &["token", "--tenant", "clinic", "--user", "admin"][..],
            "token.key",
            "CONFIDE_TOKEN_KEY_FILE",
        ),
        (
            &["audit", "key"][..],
            "signing.key",
            "CONFIDE_SIGNING_KEY_FILE",
        ),
        (
            &[
                "tenant", "create", "--tenant", "clinic", "--name", "Clinic", "--admin", "admin",
            ][..],
            "master.key",
            "CONFIDE_MASTER_KEY_FILE",
        ),
        (
            &["checkpoint", "--tenant", "clinic"][..],
            "master.key",
            "CONFIDE_MASTER_KEY_FILE",
        ),
    ] {
        let (ok, stdout, stderr) = command_in(&data_dir, arguments);
        assert!(!ok, "{arguments:?} succeeded: {stdout}");
        for needed in [
            format!("{shown}/{file}"),
            "confide serve".to_owned(),
            "CONFIDE_DATA_DIR".to_owned(),
            "--config".to_owned(),
            variable.to_owned(),
        ] {
            assert!(
                stderr.contains(&needed),
                "{arguments:?}: {needed} in {stderr}"
            );
        }
        assert_eq!(files_in(&data_dir), Vec::<String>::new(), "{arguments:?}");
    }
    // Migrating needs no key, and creates none.
    let (ok, _, stderr) = command_in(&data_dir, &["migrate"]);
    assert!(ok, "{stderr}");
    assert!(
        !files_in(&data_dir)
            .iter()
            .any(|name| name.ends_with(".key")),
        "{:?}",
        files_in(&data_dir)
    );

    // The server creates its keys on first start; the commands beside it use them.
    let running = start(&data_dir);
    for key in ["master.key", "signing.key", "token.key"] {
        assert!(files_in(&data_dir).contains(&key.to_owned()), "{key}");
    }
    let (ok, stdout, stderr) = command_in(&data_dir, &["audit", "key"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), running.key, "the server's checkpoint key");

    // A token for a tenant that does not exist is refused, naming it.
    let (ok, stdout, stderr) = command_in(
        &data_dir,
        &["token", "--tenant", "no-such-clinic", "--user", "admin"],
    );
    assert!(!ok, "{stdout}");
    assert!(stdout.is_empty(), "no token printed: {stdout}");
    assert!(
        stderr.contains("tenant no-such-clinic does not exist")
            && stderr.contains("confide tenant create"),
        "{stderr}"
    );

    let (ok, _, stderr) = command_in(
        &data_dir,
        &[
            "tenant", "create", "--tenant", "clinic", "--name", "Clinic", "--admin", "admin",
        ],
    );
    assert!(ok, "{stderr}");
    let (ok, token, stderr) = command_in(
        &data_dir,
        &["token", "--tenant", "clinic", "--user", "admin"],
    );
    assert!(ok, "{stderr}");
    let (status, answer) = graphql(&running.address, token.trim(), "{ tenant { name } }");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"]["tenant"]["name"], "Clinic",
        "the server accepts the token: {answer}"
    );
    stop(running);
    std::fs::remove_dir_all(&data_dir).unwrap();
}

/// With no mail server configured, notices are written as `.eml` files into the data
/// directory, as the banner says, and each delivery is recorded in the log.
#[test]
fn without_a_mail_server_notices_are_eml_files_in_the_data_directory() {
    let data_dir = std::env::temp_dir().join(format!("confide-e2e-mail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let running = start(&data_dir);
    let mail_dir = data_dir.join("mail");
    assert_eq!(
        running.notices,
        format!(
            "e-mail written to {} (one .eml file each)",
            mail_dir.display()
        )
    );
    let (ok, _, stderr) = command_in(
        &data_dir,
        &[
            "tenant", "create", "--tenant", "clinic", "--name", "Clinic", "--admin", "admin",
        ],
    );
    assert!(ok, "{stderr}");
    let token = |user: &str| {
        let (ok, token, stderr) =
            command_in(&data_dir, &["token", "--tenant", "clinic", "--user", user]);
        assert!(ok, "{stderr}");
        token.trim().to_owned()
    };
    let admin = token("admin");
    let call = |token: &str, query: &str| {
        let (status, answer) = graphql(&running.address, token, query);
        assert!(status == 200 && answer["errors"].is_null(), "{answer}");
        answer["data"].clone()
    };
    call(
        &admin,
        "mutation { addMember(userId: \"sam\", roles: [PRACTITIONER]) { id } }",
    );
    call(
        &admin,
        "mutation { addMember(userId: \"ada\", roles: [TUTOR]) { id } }",
    );
    let form = call(
        &admin,
        "mutation { publishConsentForm(title: \"Recording consent\", language: \"de\", text: \"Ich willige ein.\") { id } }",
    )["publishConsentForm"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sam = token("sam");
    let client = call(
        &sam,
        "mutation { registerClient(name: \"Morgan Ellis\", contact: \"morgan@client.test\") }",
    )["registerClient"]
        .as_str()
        .unwrap()
        .to_owned();
    let requested = call(
        &sam,
        &format!(
            "mutation {{ requestConsent(input: {{ clientId: \"{client}\", consentFormId: \"{form}\", purposes: [{{ purpose: COURSE_ASSESSMENT, users: [\"ada\"], media: [AUDIO] }}] }}) {{ clientLink {{ url }} }} }}"
        ),
    );
    let link = requested["requestConsent"]["clientLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    // The notice job wakes on the append: wait for the file, with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let eml = loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&mail_dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(file) = files
            .iter()
            .find(|f| f.extension().is_some_and(|x| x == "eml"))
        {
            break std::fs::read_to_string(file).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file in {}",
            mail_dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(eml.contains("To: morgan@client.test"), "{eml}");
    assert!(eml.contains("Content-Language: de"), "{eml}");
    assert!(eml.contains("multipart/alternative"), "{eml}");
    // The link the message carries is the page the API gives out: the client link's URL.
    let unfolded = eml.replace("=\r\n", "").replace("=3D", "=");
    assert!(
        link.starts_with(&format!("http://{}/link/", running.address)),
        "{link}"
    );
    let prefix: String = link.chars().take(60).collect();
    assert!(unfolded.contains(&prefix), "{prefix} in {eml}");
    stop(running);
    std::fs::remove_dir_all(&data_dir).unwrap();
}
