//! The application's tests, in one binary: commands, refusals and concurrency (`execute`),
//! the practices' stories (`stories`, `docs/design.md` section 7), each on both backends, and
//! background work leased across two nodes on one database (`leases`), and the
//! organisation's people's sessions on the pages (`sessions`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod access_log;
mod execute;
mod leases;
mod outbox;
mod sessions;
mod stories;

use std::sync::Arc;

use confide_app::{AppParts, Clock, ReadModels};
use confide_audit::checkpoint::NoteSigner;
use confide_eventstore::EventStore;
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_vault::{KeyStore, LocalBlobStore, LocalKeyStore, MasterKey};

/// An application's parts over `store`: its keys in the same database, its media in a fresh
/// directory, a checkpoint key of its own, and `clock`.
fn parts<S>(store: S, clock: Arc<dyn Clock>) -> AppParts
where
    S: EventStore + ReadModels + Clone + 'static,
    LocalKeyStore<S>: KeyStore,
{
    let dir = std::env::temp_dir().join(format!("confide-app-media-{}", uuid::Uuid::new_v4()));
    AppParts {
        store: Arc::new(store.clone()),
        read: Arc::new(store.clone()),
        keys: Arc::new(LocalKeyStore::new(store, MasterKey::generate())),
        blobs: Arc::new(LocalBlobStore::new(&dir).unwrap()),
        signer: Arc::new(CheckpointSigner::new(
            NoteSigner::generate("confide.test").unwrap(),
            "confide.test",
        )),
        clock,
    }
}
