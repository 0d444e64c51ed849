//! Confide's configuration, read once at start-up: defaults, overridden by a TOML file
//! (`--config` or `CONFIDE_CONFIG`), overridden by `CONFIDE_…` variables (and `DATABASE_URL`).
//!
//! The file's keys are the variables' names without `CONFIDE_`, in lower case
//! (`database_url`, `listen`, `token_issuer`, `jwks_url`, …); a key it does not know is an
//! error, so a misspelt setting is never silently ignored.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

/// Where recordings' ciphertext is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MediaStore {
    /// The embedded default: a directory (`CONFIDE_MEDIA_DIR`, else `media` in the data
    /// directory).
    Local(PathBuf),
    /// An S3-compatible bucket (`CONFIDE_S3_BUCKET`).
    S3(S3Settings),
}

/// An S3 bucket and how to reach it. Without an access key the AWS SDK's usual chain finds
/// credentials (environment, profile, instance role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct S3Settings {
    pub(crate) bucket: String,
    /// `CONFIDE_S3_ENDPOINT`, for a store other than AWS (Garage, MinIO, …).
    pub(crate) endpoint: Option<String>,
    /// `CONFIDE_S3_REGION` (the region requests are signed for).
    pub(crate) region: Option<String>,
    /// `CONFIDE_S3_FORCE_PATH_STYLE`: `bucket` in the path rather than the host name.
    pub(crate) force_path_style: bool,
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<Secret>,
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
    /// The identity provider's JWKS URL (`CONFIDE_JWKS_URL`): fetched at start-up, then
    /// periodically and when a token names a key the cached set lacks.
    pub(crate) jwks_url: Option<String>,
    /// GraphiQL for browsers (`CONFIDE_DEVELOPMENT`; on by default with SQLite).
    pub(crate) development: bool,
    /// Where recordings' ciphertext is kept.
    pub(crate) media: MediaStore,
    /// Where people reach the server (`CONFIDE_PUBLIC_URL`, e.g. `https://confide.example.org`):
    /// the base of the client links it hands out. By default, `http://` and the address it
    /// listens on. With `https://`, the pages' cookies are `Secure`.
    pub(crate) public_url: Option<String>,
    /// Where e-mail notices go.
    pub(crate) mail: MailSettings,
    /// The organisation's OpenID Connect provider, for signing in to the pages.
    pub(crate) oidc: Option<OidcSettings>,
}

/// How the pages sign people in through the organisation's OpenID Connect provider
/// (`CONFIDE_OIDC_ISSUER` and `CONFIDE_OIDC_CLIENT_ID`; the client's secret from
/// `CONFIDE_OIDC_CLIENT_SECRET`, else the file `CONFIDE_OIDC_CLIENT_SECRET_FILE`, else none
/// for a public client). Confide is registered there with the redirect URI
/// `{public URL}/sign-in/callback`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OidcSettings {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<Secret>,
}

/// Where e-mail notices go: an SMTP server (`CONFIDE_SMTP_URL`), else `.eml` files in a
/// folder (`CONFIDE_MAIL_DIR`, else `mail` in the data directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MailSettings {
    /// `smtp://…` or `smtps://…`; it may carry a password, so it is never printed.
    pub(crate) smtp_url: Option<Secret>,
    /// The sender's address (`CONFIDE_SMTP_FROM`).
    pub(crate) from: String,
    /// The folder used when no SMTP server is configured.
    pub(crate) mail_dir: PathBuf,
}

impl Settings {
    /// Reads the settings from the process environment over the configuration file at
    /// `config`, if one is given.
    pub(crate) fn load(config: Option<&Path>) -> Result<Self> {
        let file = config.map(ConfigFile::read).transpose()?;
        Self::from_sources(|name| std::env::var(name).ok(), file.as_ref()).with_context(|| {
            match config {
                Some(path) => format!("the configuration (variables over {})", path.display()),
                None => "the configuration (variables)".to_owned(),
            }
        })
    }

    /// The settings from variables (`var`) over a configuration file's values over defaults.
    fn from_sources(
        var: impl Fn(&str) -> Option<String>,
        file: Option<&ConfigFile>,
    ) -> Result<Self> {
        Self::from_lookup(|name| var(name).or_else(|| file.and_then(|f| f.get(name))))
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
        let flag = |name: &str| match var(name).as_deref() {
            Some("1" | "true" | "on") => Ok(true),
            Some("0" | "false" | "off") | None => Ok(false),
            Some(other) => Err(anyhow::anyhow!("{name} must be true or false, not {other}")),
        };
        let media = match var("CONFIDE_S3_BUCKET") {
            Some(bucket) => MediaStore::S3(S3Settings {
                bucket,
                endpoint: var("CONFIDE_S3_ENDPOINT"),
                region: var("CONFIDE_S3_REGION"),
                force_path_style: flag("CONFIDE_S3_FORCE_PATH_STYLE")?,
                access_key_id: var("CONFIDE_S3_ACCESS_KEY_ID"),
                secret_access_key: var("CONFIDE_S3_SECRET_ACCESS_KEY").map(Secret),
            }),
            None => MediaStore::Local(
                var("CONFIDE_MEDIA_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("media")),
            ),
        };
        let public_url = var("CONFIDE_PUBLIC_URL")
            .map(|url| {
                if url.starts_with("https://") || url.starts_with("http://") {
                    Ok(url.trim_end_matches('/').to_owned())
                } else {
                    Err(anyhow::anyhow!(
                        "CONFIDE_PUBLIC_URL must start with https:// or http://, not {url}"
                    ))
                }
            })
            .transpose()?;
        let mail = MailSettings {
            smtp_url: var("CONFIDE_SMTP_URL").map(Secret),
            from: var("CONFIDE_SMTP_FROM")
                .unwrap_or_else(|| "Confide <confide@localhost>".to_owned()),
            mail_dir: var("CONFIDE_MAIL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("mail")),
        };
        let oidc = match (var("CONFIDE_OIDC_ISSUER"), var("CONFIDE_OIDC_CLIENT_ID")) {
            (Some(issuer), Some(client_id)) => {
                let client_secret = match (
                    var("CONFIDE_OIDC_CLIENT_SECRET"),
                    var("CONFIDE_OIDC_CLIENT_SECRET_FILE"),
                ) {
                    (Some(secret), _) => Some(Secret(secret)),
                    (None, Some(path)) => Some(Secret(
                        std::fs::read_to_string(&path)
                            .with_context(|| {
                                format!("reading CONFIDE_OIDC_CLIENT_SECRET_FILE {path}")
                            })?
                            .trim()
                            .to_owned(),
                    )),
                    (None, None) => None,
                };
                Some(OidcSettings {
                    issuer,
                    client_id,
                    client_secret,
                })
            }
            (None, None) => None,
            _ => anyhow::bail!(
                "CONFIDE_OIDC_ISSUER and CONFIDE_OIDC_CLIENT_ID go together: set both, or neither"
            ),
        };
        Ok(Self {
            public_url,
            media,
            mail,
            oidc,
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
            jwks_url: var("CONFIDE_JWKS_URL"),
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

/// The keys a configuration file may hold: each stands for the variable `CONFIDE_<KEY>`.
const FILE_KEYS: &[&str] = &[
    "data_dir",
    "public_url",
    "database_url",
    "listen",
    "signing_key",
    "signing_key_file",
    "log_origin",
    "token_key",
    "token_key_file",
    "master_key",
    "master_key_file",
    "token_issuer",
    "token_audience",
    "jwks_file",
    "jwks_url",
    "development",
    "media_dir",
    "s3_bucket",
    "s3_endpoint",
    "s3_region",
    "s3_force_path_style",
    "s3_access_key_id",
    "s3_secret_access_key",
    "smtp_url",
    "smtp_from",
    "mail_dir",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_client_secret_file",
];

/// A configuration file's values, by the variable each stands for. It holds secrets, so it has
/// no `Debug`, and its errors never quote the file's text.
struct ConfigFile {
    values: HashMap<String, String>,
}

impl ConfigFile {
    fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the configuration file {}", path.display()))
    }

    fn parse(text: &str) -> Result<Self> {
        let table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
            // The error's own rendering quotes the offending line, which may hold a secret:
            // say where it is instead.
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(line) => anyhow::anyhow!("line {line}: {}", error.message()),
                None => anyhow::anyhow!("{}", error.message()),
            }
        })?;
        let mut values = HashMap::new();
        for (key, value) in table {
            if !FILE_KEYS.contains(&key.as_str()) {
                anyhow::bail!("unknown key `{key}`; the keys are {}", FILE_KEYS.join(", "));
            }
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Boolean(flag) => flag.to_string(),
                _ => anyhow::bail!("`{key}` must be a string (or true or false)"),
            };
            values.insert(format!("CONFIDE_{}", key.to_ascii_uppercase()), value);
        }
        Ok(Self { values })
    }

    /// The value standing for the variable `name`.
    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
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
        assert_eq!(s.media, MediaStore::Local("/srv/confide/media".into()));
    }

    #[test]
    fn a_bucket_moves_media_to_s3_and_its_secret_stays_hidden() {
        let s = settings(&[
            ("CONFIDE_DATA_DIR", "/srv/confide"),
            ("CONFIDE_S3_BUCKET", "recordings"),
            ("CONFIDE_S3_ENDPOINT", "http://127.0.0.1:3900"),
            ("CONFIDE_S3_REGION", "garage"),
            ("CONFIDE_S3_FORCE_PATH_STYLE", "true"),
            ("CONFIDE_S3_ACCESS_KEY_ID", "GK0123"),
            ("CONFIDE_S3_SECRET_ACCESS_KEY", "s3-secret-value"),
        ])
        .unwrap();
        let MediaStore::S3(s3) = &s.media else {
            panic!("not S3: {:?}", s.media);
        };
        assert_eq!(s3.bucket, "recordings");
        assert_eq!(s3.region.as_deref(), Some("garage"));
        assert!(s3.force_path_style);
        assert!(!format!("{s:?}").contains("s3-secret-value"));
        assert!(
            settings(&[
                ("CONFIDE_DATA_DIR", "/srv/confide"),
                ("CONFIDE_S3_BUCKET", "recordings"),
                ("CONFIDE_S3_FORCE_PATH_STYLE", "maybe"),
            ])
            .is_err()
        );
    }

    #[test]
    fn an_identity_provider_needs_its_issuer_and_client_and_hides_its_secret() {
        assert!(
            settings(&[("CONFIDE_DATA_DIR", "/srv/confide")])
                .unwrap()
                .oidc
                .is_none()
        );
        let secret_file =
            std::env::temp_dir().join(format!("confide-oidc-secret-{}", std::process::id()));
        std::fs::write(&secret_file, "from-a-file\n").unwrap();
        let s = settings(&[
            ("CONFIDE_DATA_DIR", "/srv/confide"),
            ("CONFIDE_OIDC_ISSUER", "https://login.example.org"),
            ("CONFIDE_OIDC_CLIENT_ID", "confide"),
            (
                "CONFIDE_OIDC_CLIENT_SECRET_FILE",
                secret_file.to_str().unwrap(),
            ),
        ])
        .unwrap();
        std::fs::remove_file(&secret_file).unwrap();
        let oidc = s.oidc.as_ref().unwrap();
        assert_eq!(oidc.issuer, "https://login.example.org");
        assert_eq!(oidc.client_id, "confide");
        assert_eq!(oidc.client_secret.as_ref().unwrap().expose(), "from-a-file");
        assert!(!format!("{s:?}").contains("from-a-file"));
        let only_issuer = settings(&[
            ("CONFIDE_DATA_DIR", "/srv/confide"),
            ("CONFIDE_OIDC_ISSUER", "https://login.example.org"),
        ]);
        assert!(format!("{:#}", only_issuer.unwrap_err()).contains("go together"));
        let missing_file = settings(&[
            ("CONFIDE_DATA_DIR", "/srv/confide"),
            ("CONFIDE_OIDC_ISSUER", "https://login.example.org"),
            ("CONFIDE_OIDC_CLIENT_ID", "confide"),
            ("CONFIDE_OIDC_CLIENT_SECRET_FILE", "/nonexistent/secret"),
        ]);
        assert!(
            format!("{:#}", missing_file.unwrap_err()).contains("CONFIDE_OIDC_CLIENT_SECRET_FILE")
        );
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

    fn from_file(vars: &[(&str, &str)], file: &str) -> Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let file = ConfigFile::parse(file)?;
        Settings::from_sources(|name| vars.get(name).cloned(), Some(&file))
    }

    #[test]
    fn variables_win_over_the_file_which_wins_over_defaults() {
        let file = r#"
            data_dir = "/srv/from-file"
            listen = "0.0.0.0:9000"
            token_issuer = "https://idp.example"
            jwks_url = "https://idp.example/jwks"
            database_url = "postgres://confide@db/confide"
            development = true
        "#;
        let s = from_file(&[], file).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/from-file"));
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.token_issuer, "https://idp.example");
        assert_eq!(s.jwks_url.as_deref(), Some("https://idp.example/jwks"));
        assert_eq!(
            s.database,
            Database::Postgres("postgres://confide@db/confide".into())
        );
        assert!(s.development);
        assert_eq!(
            s.token_audience, "confide",
            "a default the file leaves alone"
        );
        assert_eq!(
            s.token_key_file,
            PathBuf::from("/srv/from-file/token.key"),
            "defaults follow the file's data directory"
        );

        let s = from_file(
            &[
                ("CONFIDE_LISTEN", "127.0.0.1:7000"),
                ("DATABASE_URL", "sqlite:///var/lib/confide.db"),
                ("CONFIDE_DEVELOPMENT", "false"),
            ],
            file,
        )
        .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(s.database, Database::Sqlite("/var/lib/confide.db".into()));
        assert!(!s.development);
        assert_eq!(s.data_dir, PathBuf::from("/srv/from-file"));

        let s = from_file(
            &[("CONFIDE_DATABASE_URL", "postgres://other@db/confide")],
            file,
        )
        .unwrap();
        assert_eq!(
            s.database,
            Database::Postgres("postgres://other@db/confide".into())
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_by_name() {
        let error = ConfigFile::parse("listen = \"127.0.0.1:0\"\ntoken_isuer = \"x\"\n")
            .err()
            .unwrap();
        assert!(error.to_string().contains("`token_isuer`"), "{error}");
        let error = ConfigFile::parse("[database]\nurl = \"postgres://db\"\n")
            .err()
            .unwrap();
        assert!(error.to_string().contains("`database`"), "{error}");
        let error = ConfigFile::parse("CONFIDE_LISTEN = \"127.0.0.1:0\"\n")
            .err()
            .unwrap();
        assert!(error.to_string().contains("`CONFIDE_LISTEN`"), "{error}");
        let error = ConfigFile::parse("listen = 8080\n").err().unwrap();
        assert!(error.to_string().contains("`listen`"), "{error}");
        let error = from_file(&[], "listen = \"not an address\"\n").unwrap_err();
        assert!(error.to_string().contains("CONFIDE_LISTEN"), "{error}");
    }

    #[test]
    fn secrets_from_the_file_never_reach_debug_output_or_errors() {
        let file = r#"
            data_dir = "/srv/confide"
            database_url = "postgres://confide:hunter2@db/confide"
            signing_key = "c2lnbmluZy1zZWVk"
            token_key = "dG9rZW4tc2VlZA=="
            master_key = "bWFzdGVyLWtleQ=="
        "#;
        let s = from_file(&[], file).unwrap();
        assert_eq!(
            s.master_key.as_ref().map(Secret::expose),
            Some("bWFzdGVyLWtleQ==")
        );
        let printed = format!("{s:?}");
        for secret in [
            "hunter2",
            "c2lnbmluZy1zZWVk",
            "dG9rZW4tc2VlZA==",
            "bWFzdGVyLWtleQ==",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        // A syntax error names the line, not its text.
        let error = ConfigFile::parse("listen = \"127.0.0.1:0\"\ntoken_key = \"s3cr3t-seed\n")
            .err()
            .unwrap();
        let message = format!("{error:#}");
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("s3cr3t-seed"), "{message}");
    }

    #[test]
    fn a_missing_configuration_file_is_an_error() {
        let error = Settings::load(Some(Path::new("/nonexistent/confide.toml"))).unwrap_err();
        assert!(
            format!("{error:#}").contains("/nonexistent/confide.toml"),
            "{error:#}"
        );
    }

    #[test]
    fn refuses_an_unknown_database_scheme() {
        let error =
            settings(&[("CONFIDE_DATA_DIR", "/x"), ("DATABASE_URL", "mysql://db")]).unwrap_err();
        assert!(error.to_string().contains("DATABASE_URL"), "{error}");
    }
}
