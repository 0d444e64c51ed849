//! The checkpoint signing key: from `CONFIDE_SIGNING_KEY`, else from its file, else generated
//! into that file on first start (the embedded default).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use confide_audit::checkpoint::NoteSigner;
use confide_eventstore::checkpoint::CheckpointSigner;

use crate::settings::Settings;

pub(crate) fn load_signer(settings: &Settings) -> Result<CheckpointSigner> {
    let name = &settings.log_origin;
    let signer = if let Some(seed) = &settings.signing_key {
        NoteSigner::from_seed_base64(name, seed.expose().trim())
            .context("CONFIDE_SIGNING_KEY is not a base64 Ed25519 seed")?
    } else {
        let path = &settings.signing_key_file;
        match std::fs::read_to_string(path) {
            Ok(seed) => NoteSigner::from_seed_base64(name, seed.trim())
                .with_context(|| format!("{} is not a base64 Ed25519 seed", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let signer = NoteSigner::generate(name).context("generating a signing key")?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                // create_new: two processes starting at once must not overwrite each other's key.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                writeln!(file, "{}", signer.seed_base64())?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), key_id = format!("{:08x}", signer.key_id()), "generated a checkpoint signing key");
                signer
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        }
    };
    Ok(CheckpointSigner::new(signer, name.clone()))
}
