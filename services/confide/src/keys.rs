//! The server's keys. Each comes from its environment variable, else from its file; only the
//! server (`confide serve`) generates a missing one into that file (mode 600) on its first
//! start — the embedded default:
//! - the checkpoint signing key (Ed25519), which signs tree heads;
//! - the token key (Ed25519), which signs client links and development tokens;
//! - the master key, which wraps every data key in the key store.
//!
//! Every other command uses the server's keys and never creates one: a token signed by a key
//! the server does not have, a checkpoint key that is not the server's, or a master key that
//! unwraps nothing would each look right and be wrong. When the key is not there, the command
//! stops, saying where it looked and how to point it at the server's.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use confide_api::auth::LocalKey;

use crate::settings::{Secret, Settings};

/// What to do when a key's file does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Generate it: the server, on its first start.
    Create,
    /// Stop, naming where it was looked for: every other command.
    Refuse,
}

/// One of the server's keys: what it is called and the variables that set it.
struct Key {
    /// What the key is, for messages.
    what: &'static str,
    /// The variable holding the key itself.
    variable: &'static str,
    /// The variable naming its file.
    file_variable: &'static str,
}

const CHECKPOINT_KEY: Key = Key {
    what: "checkpoint signing key",
    variable: "CONFIDE_SIGNING_KEY",
    file_variable: "CONFIDE_SIGNING_KEY_FILE",
};

const TOKEN_KEY: Key = Key {
    what: "token key",
    variable: "CONFIDE_TOKEN_KEY",
    file_variable: "CONFIDE_TOKEN_KEY_FILE",
};

const MASTER_KEY: Key = Key {
    what: "master key",
    variable: "CONFIDE_MASTER_KEY",
    file_variable: "CONFIDE_MASTER_KEY_FILE",
};

/// The secret in `value`, else in `path`, else (for the server) `generate()`d and written to
/// `path`.
fn secret(
    key: &Key,
    value: Option<&Secret>,
    path: &Path,
    missing: Missing,
    generate: impl FnOnce() -> Result<String>,
) -> Result<String> {
    if let Some(value) = value {
        return Ok(value.expose().trim().to_owned());
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => match missing {
            Missing::Refuse => Err(anyhow::anyhow!(
                "no {what} at {path}: only `confide serve` creates the server's keys (on its \
                 first start), and this command uses them without creating any. Point it at \
                 the server's: the same data directory (CONFIDE_DATA_DIR, or data_dir in the \
                 file given with --config or CONFIDE_CONFIG), the key's file ({file_variable}), \
                 or the key itself ({variable})",
                what = key.what,
                path = path.display(),
                file_variable = key.file_variable,
                variable = key.variable,
            )),
            Missing::Create => create(path, generate),
        },
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a fresh key to `path`, which must not exist yet.
fn create(path: &Path, generate: impl FnOnce() -> Result<String>) -> Result<String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = generate()?;
    // create_new: two processes starting at once must not overwrite each other's key.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{text}")?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a key");
    Ok(text)
}

/// 32 random bytes in standard base64: a fresh Ed25519 seed or master key.
fn random_key() -> Result<String> {
    Ok(STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// The checkpoint signing key's seed (base64).
pub(crate) fn load_checkpoint_seed(settings: &Settings, missing: Missing) -> Result<String> {
    secret(
        &CHECKPOINT_KEY,
        settings.signing_key.as_ref(),
        &settings.signing_key_file,
        missing,
        random_key,
    )
}

pub(crate) fn load_token_key(settings: &Settings, missing: Missing) -> Result<LocalKey> {
    let seed = secret(
        &TOKEN_KEY,
        settings.token_key.as_ref(),
        &settings.token_key_file,
        missing,
        random_key,
    )?;
    let seed: [u8; 32] = STANDARD
        .decode(seed)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .context("the token key is not a base64 32-byte Ed25519 seed")?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    Ok(LocalKey::from_seed(&seed, public))
}

/// The master key that wraps every data key (base64 of 32 bytes).
pub(crate) fn load_master_key(settings: &Settings, missing: Missing) -> Result<String> {
    secret(
        &MASTER_KEY,
        settings.master_key.as_ref(),
        &settings.master_key_file,
        missing,
        random_key,
    )
}
