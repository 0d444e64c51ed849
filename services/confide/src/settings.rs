//! Confide's configuration: defaults, overridden by `CONFIDE_…` variables (and `DATABASE_URL`),
//! read once at start-up.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// Where events are kept.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Database {
    /// The embedded default: one SQLite file.
    Sqlite(PathBuf),
    /// A `postgres://` URL; it may carry a password, so it is never printed whole.
    Postgres(String),
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f.write_str("Postgres(<redacted>)"),
        }
    }
}

/// A secret that never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Where the embedded default keeps its database, key and media.
    pub(crate) data_dir: PathBuf,
    pub(crate) database: Database,
    pub(crate) listen: SocketAddr,
    /// The checkpoint signing key's seed (base64), from `CONFIDE_SIGNING_KEY`. Without it the
    /// key is read from `signing_key_file`, which is created on first start if missing.
    pub(crate) signing_key: Option<Secret>,
    pub(crate) signing_key_file: PathBuf,
    /// The prefix of every checkpoint's origin line and the signing key's name.
    pub(crate) log_origin: String,
    /// The Ed25519 seed (base64) that signs client links and development tokens, from
    /// `CONFIDE_TOKEN_KEY`, else `token_key_file` (created on first start).
    pub(crate) token_key: Option<Secret>,
    pub(crate) token_key_file: PathBuf,
    /// The key (base64, 32 bytes) that wraps every data key, from `CONFIDE_MASTER_KEY`, else
    /// `master_key_file` (created on first start).
    pub(crate) master_key: Option<Secret>,
    pub(crate) master_key_file: PathBuf,
    /// The `iss` and `aud` every token must carry.
    pub(crate) token_issuer: String,
    pub(crate) token_audience: String,
    /// The identity provider's public keys as a JWK set file (`CONFIDE_JWKS_FILE`).
    pub(crate) jwks_file: Option<PathBuf>,
    /// GraphiQL for browsers (`CONFIDE_DEVELOPMENT`; on by default with SQLite).
    pub(crate) development: bool,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub(crate) fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let data_dir = match var("CONFIDE_DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => default_data_dir()?,
        };
        let database = match var("DATABASE_URL").or_else(|| var("CONFIDE_DATABASE_URL")) {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres(url)
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) => Database::Sqlite(PathBuf::from(path)),
                None => anyhow::bail!(
                    "DATABASE_URL must start with postgres://, postgresql:// or sqlite://"
                ),
            },
            None => Database::Sqlite(data_dir.join("confide.db")),
        };
        let listen = var("CONFIDE_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
            .parse()
            .context("CONFIDE_LISTEN must be an address such as 127.0.0.1:8080")?;
        let signing_key_file = var("CONFIDE_SIGNING_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("signing.key"));
        let log_origin = var("CONFIDE_LOG_ORIGIN").unwrap_or_else(|| "confide".to_owned());
        let development = match var("CONFIDE_DEVELOPMENT").as_deref() {
            Some("1" | "true" | "on") => true,
            Some("0" | "false" | "off") => false,
            Some(other) => anyhow::bail!("CONFIDE_DEVELOPMENT must be true or false, not {other}"),
            None => matches!(database, Database::Sqlite(_)),
        };
        Ok(Self {
            token_key: var("CONFIDE_TOKEN_KEY").map(Secret),
            token_key_file: var("CONFIDE_TOKEN_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("token.key")),
            master_key: var("CONFIDE_MASTER_KEY").map(Secret),
            master_key_file: var("CONFIDE_MASTER_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("master.key")),
            token_issuer: var("CONFIDE_TOKEN_ISSUER").unwrap_or_else(|| "confide".to_owned()),
            token_audience: var("CONFIDE_TOKEN_AUDIENCE").unwrap_or_else(|| "confide".to_owned()),
            jwks_file: var("CONFIDE_JWKS_FILE").map(PathBuf::from),
            development,
            data_dir,
            database,
            listen,
            signing_key: var("CONFIDE_SIGNING_KEY").map(Secret),
            signing_key_file,
            log_origin,
        })
    }
}

/// `$XDG_DATA_HOME/confide`, else `~/.local/share/confide`.
fn default_data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("confide"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither CONFIDE_DATA_DIR nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/confide"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_to_sqlite_in_the_data_dir() {
        let s = settings(&[("CONFIDE_DATA_DIR", "/srv/confide")]).unwrap();
        assert_eq!(
            s.database,
            Database::Sqlite("/srv/confide/confide.db".into())
        );
        assert_eq!(
            s.signing_key_file,
            PathBuf::from("/srv/confide/signing.key")
        );
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let s = settings(&[
            ("CONFIDE_DATA_DIR", "/srv/confide"),
            ("DATABASE_URL", "postgres://confide:hunter2@db/confide"),
            ("CONFIDE_SIGNING_KEY", "c2VjcmV0LXNlZWQ="),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("c2VjcmV0LXNlZWQ="), "{printed}");
    }

    #[test]
    fn refuses_an_unknown_database_scheme() {
        let error =
            settings(&[("CONFIDE_DATA_DIR", "/x"), ("DATABASE_URL", "mysql://db")]).unwrap_err();
        assert!(error.to_string().contains("DATABASE_URL"), "{error}");
    }
}
