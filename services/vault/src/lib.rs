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
//! - [`KeyStore`]: create a key, seal and open with it, hand out a recording's media key,
//!   destroy it. Object safe, so the application can hold an `Arc<dyn KeyStore>`.
//! - [`LocalKeyStore`]: keys kept in the event store's own database (table `data_keys`, on
//!   PostgreSQL and on SQLite), each wrapped under a [`MasterKey`] held outside the database.
//! - `media`: the streaming encryption of media ([`encrypt_stream`], [`decrypt_range`],
//!   [`ciphertext_len`], [`plaintext_len`]) under a [`MediaKey`]: fixed-size chunks that each
//!   authenticate their index, whether they are the last, the header and the recording, so
//!   any byte range decrypts on its own and no reordering, splicing or truncation goes
//!   unnoticed. The format is described in the module.
//! - `blob`: the [`BlobStore`] trait (put whole or not at all, size, ranged read, delete with
//!   every version), object keys ([`BlobKey`]) and [`LocalBlobStore`], a directory.
//! - `s3`: [`S3BlobStore`], S3 or an S3-compatible server such as Garage, configured by
//!   [`S3Config`].
//! - `blind`: [`BlindIndexKey`], keyed hashes of name tokens, so names sealed under their
//!   client's key can still be searched.
//! - `error`: [`KeyError`], [`BlobError`] and [`MediaError`], in variants a caller can act on.
//!   No message ever carries key material or plaintext.
//! - `table`: the `data_keys` reads and writes of each backend.
//! - `schema`: [`KeySchema`], the key store's own migrations (`migrations/{postgres,sqlite}`)
//!   and their readiness, in the event store's database.
//!
//! Every key is a random 256-bit XChaCha20-Poly1305 key. It is stored wrapped (encrypted)
//! under the master key, with the tenant and the key id as associated data, so a wrapped key
//! copied into another row, or another tenant's, does not unwrap. A sealed value is the
//! standard base64 of a fresh 24-byte nonce followed by the ciphertext and its tag. Media is
//! encrypted under a key derived from the recording's data key and a random salt per object.

mod blind;
mod blob;
mod error;
mod keys;
mod media;
mod s3;
mod schema;
mod table;

pub use blind::BlindIndexKey;
pub use blob::{BlobKey, BlobStore, LocalBlobStore};
pub use error::{BlobError, Damaged, InvalidMasterKey, KeyError, MediaError};
pub use keys::{KeyStore, LocalKeyStore, MAX_PLAINTEXT, MasterKey};
pub use media::{
    CHUNK_SIZE, HEADER_LEN, MediaKey, TAG_LEN, ciphertext_len, decrypt_range, encrypt_stream,
    plaintext_len,
};
pub use s3::{PART_SIZE, S3BlobStore, S3Config, S3Credentials};
pub use schema::KeySchema;
