//! The server's keys. Each comes from its environment variable, else from its file, else is
//! generated into that file (mode 600) on first start — the embedded default:
//! - the checkpoint signing key (Ed25519), which signs tree heads;
//! - the token key (Ed25519), which signs client links and development tokens;
//! - the master key, which wraps every data key in the key store.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use confide_api::auth::LocalKey;

use crate::settings::{Secret, Settings};

/// The secret in `value`, else in `path`, else `generate()`d and written to `path`.
fn secret(
    value: Option<&Secret>,
    path: &Path,
    generate: impl FnOnce() -> Result<String>,
) -> Result<String> {
    if let Some(value) = value {
        return Ok(value.expose().trim().to_owned());
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
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
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// 32 random bytes in standard base64: a fresh Ed25519 seed or master key.
fn random_key() -> Result<String> {
    Ok(STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// The checkpoint signing key's seed (base64).
pub(crate) fn load_checkpoint_seed(settings: &Settings) -> Result<String> {
    secret(
        settings.signing_key.as_ref(),
        &settings.signing_key_file,
        random_key,
    )
}

pub(crate) fn load_token_key(settings: &Settings) -> Result<LocalKey> {
    let seed = secret(
        settings.token_key.as_ref(),
        &settings.token_key_file,
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
pub(crate) fn load_master_key(settings: &Settings) -> Result<String> {
    secret(
        settings.master_key.as_ref(),
        &settings.master_key_file,
        random_key,
    )
}
