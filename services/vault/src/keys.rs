use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use confide_domain::{KeyId, Sealed, TenantId};
use confide_eventstore::StoreError;
use zeroize::Zeroizing;

use crate::error::{Damaged, InvalidMasterKey, KeyError};
use crate::media::MediaKey;
use crate::table::{Stored, Table};

/// Bytes in a key: the master key and every data key.
const KEY_LEN: usize = 32;
/// Bytes in an XChaCha20-Poly1305 nonce.
const NONCE_LEN: usize = 24;
/// Bytes in a Poly1305 tag.
const TAG_LEN: usize = 16;
/// Associated data that opens every wrapped key, ahead of its tenant and id, so a wrapped key
/// can never be taken for anything else encrypted under the master key.
const WRAP_CONTEXT: &[u8] = b"confide-vault data key v1";

/// The longest plaintext [`KeyStore::seal`] accepts: its sealed form, nonce and tag included,
/// fits the largest ciphertext a `confide_domain::Sealed` holds.
pub const MAX_PLAINTEXT: usize = Sealed::MAX_CIPHERTEXT / 4 * 3 - NONCE_LEN - TAG_LEN;

/// Per-tenant data keys: created, used to seal and open, destroyed to erase.
///
/// A key belongs to one tenant; the same key id under another tenant is another key (or none).
/// Destroying a key is final: the id stays taken, and whatever was sealed under it can no
/// longer be opened through any key store.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates a new random key `key_id` for `tenant`. A key id that exists, or existed and was
    /// destroyed, is refused with [`KeyError::Exists`].
    async fn create_key(&self, tenant: &TenantId, key_id: &KeyId) -> Result<(), KeyError>;

    /// Keeps `key`, made in memory by [`MediaKey::generate`], as the key `key_id` of `tenant`.
    /// An upload encrypts under a key the store does not yet hold, and keeps it only once the
    /// upload is accepted, so a refused upload leaves no key behind. A key id that exists, or
    /// existed and was destroyed, is refused with [`KeyError::Exists`] and nothing is written.
    async fn keep_media_key(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        key: &MediaKey,
    ) -> Result<(), KeyError>;

    /// Encrypts `plaintext` under the key, with a fresh random nonce, so sealing the same
    /// plaintext twice gives two different values. The result is the standard base64 of the
    /// nonce followed by the ciphertext and its tag, ready for `Sealed::new(key_id, ..)`.
    async fn seal(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        plaintext: &[u8],
    ) -> Result<String, KeyError>;

    /// Decrypts a value [`KeyStore::seal`] produced under the same key. A value that was
    /// altered, or sealed under another key, is [`KeyError::Corrupt`].
    async fn open(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        sealed: &str,
    ) -> Result<Vec<u8>, KeyError>;

    /// The unwrapped data key itself, for the streaming encryption of a recording's media
    /// (`crate::media`), which cannot go through [`KeyStore::seal`]: media is far larger than a
    /// sealed value and is encrypted chunk by chunk as it streams. The same errors as
    /// [`KeyStore::open`]: [`KeyError::Destroyed`] once destroyed, [`KeyError::Unknown`] for
    /// another tenant's key, [`KeyError::Corrupt`] if the wrapped key does not unwrap.
    ///
    /// The key is read afresh on every call; hold it no longer than one upload or playback, so
    /// that destroying the key stops the next one.
    async fn media_key(&self, tenant: &TenantId, key_id: &KeyId) -> Result<MediaKey, KeyError>;

    /// Destroys the key (crypto-shredding): its wrapped form is removed and a tombstone with
    /// the time of destruction kept, so opening afterwards is [`KeyError::Destroyed`]. Returns
    /// whether a live key was destroyed by this call; destroying a destroyed or unknown key
    /// changes nothing and returns `false`.
    async fn destroy(&self, tenant: &TenantId, key_id: &KeyId) -> Result<bool, KeyError>;

    /// Whether the store's schema is ready: every key-store migration applied unchanged
    /// ([`StoreError::NotReady`] naming the first that is not), or the database unreachable
    /// ([`StoreError::Unavailable`]). The key store's part of `/ready`.
    async fn ready(&self) -> Result<(), StoreError>;
}

/// The key every data key is wrapped under. It lives outside the database (a setting or a
/// file), so a copy of the database alone, or a backup of it, opens nothing.
///
/// Its `Debug` shows no key material, and its bytes are wiped from memory when it is dropped.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    /// A new random master key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// The master key whose standard base64 is `text`, as [`MasterKey::to_base64`] writes it.
    /// Surrounding whitespace (a key file's final newline) is ignored.
    pub fn from_base64(text: &str) -> Result<Self, InvalidMasterKey> {
        let decoded = Zeroizing::new(BASE64.decode(text.trim()).map_err(|_| InvalidMasterKey)?);
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        if decoded.len() != KEY_LEN {
            return Err(InvalidMasterKey);
        }
        bytes.copy_from_slice(&decoded);
        Ok(Self(bytes))
    }

    /// The key as standard base64, for a setting or a key file. Whoever holds it can unwrap
    /// every key that has not been destroyed.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_ref())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// A [`KeyStore`] over the event store's own database: keys are rows of `data_keys`, each
/// wrapped under the master key. Implemented for `confide_eventstore::PgEventStore` (every
/// statement in a transaction scoped to the tenant, under row-level security) and
/// `confide_eventstore::SqliteEventStore`.
///
/// Nothing is cached: every seal and open reads the key's row, so a key destroyed through any
/// store, on any node, is unusable at once.
///
/// Destroying a key clears its row. The database may keep the old bytes for a while (dead
/// row versions until vacuum, the write-ahead log, free pages) and its backups keep them for
/// as long as backups are kept. Those bytes are still wrapped under the master key: only
/// someone holding both such a copy and the master key could recover the data key, until the
/// copies have aged out.
#[derive(Clone, Debug)]
pub struct LocalKeyStore<B> {
    backend: B,
    master_key: MasterKey,
}

impl<B> LocalKeyStore<B> {
    /// A key store over `backend` (a migrated `PgEventStore` or `SqliteEventStore`), wrapping
    /// keys under `master_key`.
    pub fn new(backend: B, master_key: MasterKey) -> Self {
        Self {
            backend,
            master_key,
        }
    }
}

/// Wraps `key` under the master key and stores it as `key_id`, unless the id is taken.
async fn insert_key(
    backend: &impl Table,
    master_key: &MasterKey,
    tenant: &TenantId,
    key_id: &KeyId,
    key: &[u8; KEY_LEN],
) -> Result<(), KeyError> {
    let wrapped = encrypt(&master_key.cipher(), key, &wrap_context(tenant, key_id))?;
    if backend.insert(tenant, key_id, &wrapped).await? {
        Ok(())
    } else {
        Err(KeyError::Exists {
            tenant: tenant.clone(),
            key_id: key_id.clone(),
        })
    }
}

#[async_trait]
impl<B: Table> KeyStore for LocalKeyStore<B> {
    async fn ready(&self) -> Result<(), StoreError> {
        self.backend.keys_ready().await
    }

    async fn create_key(&self, tenant: &TenantId, key_id: &KeyId) -> Result<(), KeyError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        insert_key(&self.backend, &self.master_key, tenant, key_id, &key).await
    }

    async fn keep_media_key(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        key: &MediaKey,
    ) -> Result<(), KeyError> {
        insert_key(&self.backend, &self.master_key, tenant, key_id, key.bytes()).await
    }

    async fn seal(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        plaintext: &[u8],
    ) -> Result<String, KeyError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(KeyError::TooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT,
            });
        }
        let key = data_key(&self.backend, &self.master_key, tenant, key_id).await?;
        Ok(BASE64.encode(encrypt(&cipher(&key), plaintext, &[])?))
    }

    async fn open(
        &self,
        tenant: &TenantId,
        key_id: &KeyId,
        sealed: &str,
    ) -> Result<Vec<u8>, KeyError> {
        let key = data_key(&self.backend, &self.master_key, tenant, key_id).await?;
        let key = cipher(&key);
        BASE64
            .decode(sealed)
            .ok()
            .and_then(|bytes| decrypt(&key, &bytes, &[]))
            .ok_or_else(|| KeyError::Corrupt {
                tenant: tenant.clone(),
                key_id: key_id.clone(),
                damaged: Damaged::Sealed,
            })
    }

    async fn media_key(&self, tenant: &TenantId, key_id: &KeyId) -> Result<MediaKey, KeyError> {
        let key = data_key(&self.backend, &self.master_key, tenant, key_id).await?;
        Ok(MediaKey::from_bytes(key))
    }

    async fn destroy(&self, tenant: &TenantId, key_id: &KeyId) -> Result<bool, KeyError> {
        self.backend.destroy(tenant, key_id).await
    }
}

/// The data key as a cipher ready to seal and open with.
fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(Key::from_slice(key))
}

/// The unwrapped data key.
async fn data_key(
    table: &impl Table,
    master_key: &MasterKey,
    tenant: &TenantId,
    key_id: &KeyId,
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let wrapped = match table.fetch(tenant, key_id).await? {
        Some(Stored::Live(wrapped)) => wrapped,
        Some(Stored::Destroyed) => {
            return Err(KeyError::Destroyed {
                tenant: tenant.clone(),
                key_id: key_id.clone(),
            });
        }
        None => {
            return Err(KeyError::Unknown {
                tenant: tenant.clone(),
                key_id: key_id.clone(),
            });
        }
    };
    let corrupt = || KeyError::Corrupt {
        tenant: tenant.clone(),
        key_id: key_id.clone(),
        damaged: Damaged::WrappedKey,
    };
    let unwrapped = Zeroizing::new(
        decrypt(
            &master_key.cipher(),
            &wrapped,
            &wrap_context(tenant, key_id),
        )
        .ok_or_else(corrupt)?,
    );
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if unwrapped.len() != KEY_LEN {
        return Err(corrupt());
    }
    key.copy_from_slice(&unwrapped);
    Ok(key)
}

/// The associated data of a wrapped key: a fixed label, then the tenant and the key id, each
/// preceded by its length so no two pairs give the same bytes.
fn wrap_context(tenant: &TenantId, key_id: &KeyId) -> Vec<u8> {
    let (tenant, key_id) = (tenant.as_str().as_bytes(), key_id.as_str().as_bytes());
    let mut context = Vec::with_capacity(WRAP_CONTEXT.len() + 16 + tenant.len() + key_id.len());
    context.extend_from_slice(WRAP_CONTEXT);
    for part in [tenant, key_id] {
        context.extend_from_slice(&(part.len() as u64).to_be_bytes());
        context.extend_from_slice(part);
    }
    context
}

/// A fresh random nonce followed by the ciphertext and tag of `plaintext`.
fn encrypt(cipher: &XChaCha20Poly1305, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    // Encryption fails only past the cipher's length limit, far beyond `MAX_PLAINTEXT`.
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| KeyError::TooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT,
        })?;
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// The plaintext of nonce ‖ ciphertext ‖ tag, or `None` if it does not authenticate.
fn decrypt(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}
