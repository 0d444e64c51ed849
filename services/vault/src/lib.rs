//! Confide's key store: the per-tenant data keys that personal data in events and recordings'
//! media are encrypted under, and the crypto-shredding that erases them.
//!
//! A client's names and contact details travel through the log as `Sealed` values, ciphertext
//! under a key of their own; a recording's media is encrypted under its own data key. Erasing
//! the client or destroying the recording destroys the key, after which every copy of the
//! ciphertext (events, object versions, backups of either) is noise, while the events that hold
//! it stay intact and so does the log's Merkle tree.
//!
//! Layout:
//! - [`KeyStore`]: create a key, seal and open with it, destroy it. Object safe, so the
//!   application can hold an `Arc<dyn KeyStore>`.
//! - [`LocalKeyStore`]: keys kept in the event store's own database (table `data_keys`, on
//!   PostgreSQL and on SQLite), each wrapped under a [`MasterKey`] held outside the database.
//! - [`KeyError`]: what a caller can act on. No message ever carries key material.
//! - `table`: the `data_keys` reads and writes of each backend.
//!
//! Every key is a random 256-bit XChaCha20-Poly1305 key. It is stored wrapped (encrypted)
//! under the master key, with the tenant and the key id as associated data, so a wrapped key
//! copied into another row, or another tenant's, does not unwrap. A sealed value is the
//! standard base64 of a fresh 24-byte nonce followed by the ciphertext and its tag.

mod error;
mod keys;
mod table;

pub use error::{Damaged, InvalidMasterKey, KeyError};
pub use keys::{KeyStore, LocalKeyStore, MAX_PLAINTEXT, MasterKey};
