//! The key store on both backends: sealing round trips, destruction is final, and nothing
//! opens under the wrong tenant, key, row or master key.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use confide_domain::{KeyId, Sealed, TenantId};
use confide_eventstore::{PgEventStore, SqliteEventStore};
use confide_test_support::{both_backends, postgres};
use confide_vault::{
    Damaged, KeyError, KeySchema, KeyStore, LocalKeyStore, MAX_PLAINTEXT, MasterKey,
};

/// A migrated database of either kind, with raw access to `data_keys` for the tests that
/// play the part of someone who can write to the database.
#[derive(Clone)]
enum Db {
    Postgres(PgEventStore),
    Sqlite(SqliteEventStore),
}

impl From<SqliteEventStore> for Db {
    fn from(store: SqliteEventStore) -> Self {
        Self::Sqlite(store)
    }
}

impl From<PgEventStore> for Db {
    fn from(store: PgEventStore) -> Self {
        Self::Postgres(store)
    }
}

impl Db {
    /// The store with the key store's migrations applied over the log's (the helpers of
    /// `confide_test_support` migrate the log only).
    async fn migrated<S: KeySchema + Into<Self>>(store: S) -> Self {
        store
            .migrate_keys()
            .await
            .expect("applying the key store's migrations");
        store.into()
    }

    fn keys(&self, master_key: MasterKey) -> Arc<dyn KeyStore> {
        match self {
            Self::Postgres(store) => Arc::new(LocalKeyStore::new(store.clone(), master_key)),
            Self::Sqlite(store) => Arc::new(LocalKeyStore::new(store.clone(), master_key)),
        }
    }

    /// The row of a key: its wrapped form and whether it is marked destroyed.
    async fn row(&self, tenant: &TenantId, key_id: &KeyId) -> Option<(Option<Vec<u8>>, bool)> {
        match self {
            Self::Postgres(store) => {
                let mut tx = store.begin_tenant(tenant).await.unwrap();
                let row = sqlx::query_as(
                    "SELECT wrapped, destroyed_at IS NOT NULL FROM data_keys
                      WHERE tenant_id = $1 AND key_id = $2",
                )
                .bind(tenant.as_str())
                .bind(key_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                row
            }
            Self::Sqlite(store) => sqlx::query_as(
                "SELECT wrapped, destroyed_at IS NOT NULL FROM data_keys
                  WHERE tenant_id = ?1 AND key_id = ?2",
            )
            .bind(tenant.as_str())
            .bind(key_id.as_str())
            .fetch_optional(store.pool())
            .await
            .unwrap(),
        }
    }

    /// How many rows of the whole table hold exactly these wrapped bytes.
    async fn rows_holding(&self, tenant: &TenantId, wrapped: &[u8]) -> i64 {
        match self {
            Self::Postgres(store) => {
                let mut tx = store.begin_tenant(tenant).await.unwrap();
                let count = sqlx::query_scalar("SELECT count(*) FROM data_keys WHERE wrapped = $1")
                    .bind(wrapped)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                count
            }
            Self::Sqlite(store) => {
                sqlx::query_scalar("SELECT count(*) FROM data_keys WHERE wrapped = ?1")
                    .bind(wrapped)
                    .fetch_one(store.pool())
                    .await
                    .unwrap()
            }
        }
    }

    /// Overwrites a key's wrapped form, as someone with write access to the database could.
    async fn set_wrapped(&self, tenant: &TenantId, key_id: &KeyId, wrapped: &[u8]) {
        let done = match self {
            Self::Postgres(store) => {
                let mut tx = store.begin_tenant(tenant).await.unwrap();
                let done = sqlx::query(
                    "UPDATE data_keys SET wrapped = $3 WHERE tenant_id = $1 AND key_id = $2",
                )
                .bind(tenant.as_str())
                .bind(key_id.as_str())
                .bind(wrapped)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                done.rows_affected()
            }
            Self::Sqlite(store) => sqlx::query(
                "UPDATE data_keys SET wrapped = ?3 WHERE tenant_id = ?1 AND key_id = ?2",
            )
            .bind(tenant.as_str())
            .bind(key_id.as_str())
            .bind(wrapped)
            .execute(store.pool())
            .await
            .unwrap()
            .rows_affected(),
        };
        assert_eq!(done, 1, "no row for {tenant}/{key_id}");
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn key(name: &str) -> KeyId {
    KeyId::parse(name).unwrap()
}

const NAME: &[u8] = "Ada Lovelace <ada@example.org> ✓".as_bytes();

both_backends!(
    |store| case(Db::migrated(store).await);
    a_sealed_value_opens_again_with_the_same_key,
    sealing_the_same_plaintext_twice_gives_different_values,
    a_destroyed_key_is_gone_and_opens_nothing,
    a_tampered_value_is_corrupt,
    another_tenant_cannot_use_a_tenants_key,
    a_wrapped_key_copied_to_another_row_does_not_unwrap,
    a_wrong_master_key_unwraps_nothing,
    a_key_id_is_created_once,
    an_unknown_key_opens_nothing,
    a_media_key_is_the_same_key_until_destroyed,
);

async fn a_sealed_value_opens_again_with_the_same_key(db: Db) {
    let master = MasterKey::generate();
    let keys = db.keys(master.clone());
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    keys.create_key(&acme, &client).await.unwrap();

    let sealed = keys.seal(&acme, &client, NAME).await.unwrap();
    assert_eq!(keys.open(&acme, &client, &sealed).await.unwrap(), NAME);

    // Standard padded base64 of nonce (24) ‖ ciphertext ‖ tag (16), fit for an event.
    let raw = BASE64.decode(&sealed).unwrap();
    assert_eq!(raw.len(), 24 + NAME.len() + 16);
    assert!(!raw.windows(NAME.len()).any(|w| w == NAME));
    Sealed::new(client.clone(), sealed.clone()).unwrap();

    // Another store over the same database and master key (a restart, another node).
    let restarted = db.keys(MasterKey::from_base64(&master.to_base64()).unwrap());
    assert_eq!(restarted.open(&acme, &client, &sealed).await.unwrap(), NAME);

    // The empty plaintext and the largest one round trip too; one byte more is refused.
    let empty = keys.seal(&acme, &client, b"").await.unwrap();
    assert!(keys.open(&acme, &client, &empty).await.unwrap().is_empty());
    let largest = vec![0x5a; MAX_PLAINTEXT];
    let sealed_largest = keys.seal(&acme, &client, &largest).await.unwrap();
    Sealed::new(client.clone(), sealed_largest.clone()).unwrap();
    assert_eq!(
        keys.open(&acme, &client, &sealed_largest).await.unwrap(),
        largest
    );
    let too_large = keys.seal(&acme, &client, &vec![0; MAX_PLAINTEXT + 1]).await;
    assert!(
        matches!(too_large, Err(KeyError::TooLarge { .. })),
        "{too_large:?}"
    );

    // The row holds the wrapped key only: 24 + 32 + 16 bytes, not the key itself.
    let (wrapped, destroyed) = db.row(&acme, &client).await.unwrap();
    assert_eq!(wrapped.unwrap().len(), 24 + 32 + 16);
    assert!(!destroyed);
}

async fn sealing_the_same_plaintext_twice_gives_different_values(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    keys.create_key(&acme, &client).await.unwrap();

    let first = keys.seal(&acme, &client, NAME).await.unwrap();
    let second = keys.seal(&acme, &client, NAME).await.unwrap();
    assert_ne!(first, second);
    // Different nonces, not only different ciphertexts.
    assert_ne!(
        BASE64.decode(&first).unwrap()[..24],
        BASE64.decode(&second).unwrap()[..24]
    );
    assert_eq!(keys.open(&acme, &client, &first).await.unwrap(), NAME);
    assert_eq!(keys.open(&acme, &client, &second).await.unwrap(), NAME);

    // Two keys created alike are different keys.
    let other = key("client-key-2");
    keys.create_key(&acme, &other).await.unwrap();
    let under_other = keys.seal(&acme, &other, NAME).await.unwrap();
    assert!(matches!(
        keys.open(&acme, &client, &under_other).await,
        Err(KeyError::Corrupt {
            damaged: Damaged::Sealed,
            ..
        })
    ));
}

async fn a_destroyed_key_is_gone_and_opens_nothing(db: Db) {
    let master = MasterKey::generate();
    let keys = db.keys(master.clone());
    let (acme, client, kept) = (tenant("acme"), key("client-key-1"), key("client-key-2"));
    keys.create_key(&acme, &client).await.unwrap();
    keys.create_key(&acme, &kept).await.unwrap();
    let sealed = keys.seal(&acme, &client, NAME).await.unwrap();
    let sealed_kept = keys.seal(&acme, &kept, NAME).await.unwrap();
    let (wrapped, _) = db.row(&acme, &client).await.unwrap();
    let wrapped = wrapped.unwrap();

    assert!(keys.destroy(&acme, &client).await.unwrap());

    let opened = keys.open(&acme, &client, &sealed).await;
    assert!(
        matches!(opened, Err(KeyError::Destroyed { .. })),
        "{opened:?}"
    );
    let resealed = keys.seal(&acme, &client, NAME).await;
    assert!(
        matches!(resealed, Err(KeyError::Destroyed { .. })),
        "{resealed:?}"
    );

    // The wrapped key is gone from the table; a tombstone with the time remains.
    assert_eq!(db.row(&acme, &client).await, Some((None, true)));
    assert_eq!(db.rows_holding(&acme, &wrapped).await, 0);
    // So even a store holding the master key opens nothing.
    let with_master = db.keys(master);
    let opened = with_master.open(&acme, &client, &sealed).await;
    assert!(
        matches!(opened, Err(KeyError::Destroyed { .. })),
        "{opened:?}"
    );

    // Idempotent; the id stays taken; the tenant's other keys are untouched.
    assert!(!keys.destroy(&acme, &client).await.unwrap());
    assert_eq!(db.row(&acme, &client).await, Some((None, true)));
    let recreated = keys.create_key(&acme, &client).await;
    assert!(
        matches!(recreated, Err(KeyError::Exists { .. })),
        "{recreated:?}"
    );
    assert_eq!(keys.open(&acme, &kept, &sealed_kept).await.unwrap(), NAME);
}

async fn a_tampered_value_is_corrupt(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    keys.create_key(&acme, &client).await.unwrap();
    let sealed = keys.seal(&acme, &client, NAME).await.unwrap();
    let raw = BASE64.decode(&sealed).unwrap();

    let mut tampered = Vec::new();
    // One bit flipped in the nonce, the ciphertext and the tag.
    for at in [0, 24, raw.len() - 1] {
        let mut bytes = raw.clone();
        bytes[at] ^= 0x01;
        tampered.push(BASE64.encode(bytes));
    }
    // Truncated, extended, shorter than a nonce and a tag, empty, not base64.
    tampered.push(BASE64.encode(&raw[..raw.len() - 1]));
    tampered.push(BASE64.encode([raw.as_slice(), b"x"].concat()));
    tampered.push(BASE64.encode(&raw[..39]));
    tampered.push(String::new());
    tampered.push(format!("{sealed}!"));

    for value in &tampered {
        let opened = keys.open(&acme, &client, value).await;
        assert!(
            matches!(
                opened,
                Err(KeyError::Corrupt {
                    damaged: Damaged::Sealed,
                    ..
                })
            ),
            "{value}: {opened:?}"
        );
    }
    // The untouched value still opens.
    assert_eq!(keys.open(&acme, &client, &sealed).await.unwrap(), NAME);
}

async fn another_tenant_cannot_use_a_tenants_key(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, globex, client) = (tenant("acme"), tenant("globex"), key("client-key-1"));
    keys.create_key(&acme, &client).await.unwrap();
    let sealed = keys.seal(&acme, &client, NAME).await.unwrap();

    let opened = keys.open(&globex, &client, &sealed).await;
    assert!(
        matches!(opened, Err(KeyError::Unknown { .. })),
        "{opened:?}"
    );
    let resealed = keys.seal(&globex, &client, NAME).await;
    assert!(
        matches!(resealed, Err(KeyError::Unknown { .. })),
        "{resealed:?}"
    );
    assert!(!keys.destroy(&globex, &client).await.unwrap());
    assert_eq!(db.row(&globex, &client).await, None);
    assert_eq!(keys.open(&acme, &client, &sealed).await.unwrap(), NAME);

    // The same id under the other tenant is another key.
    keys.create_key(&globex, &client).await.unwrap();
    let opened = keys.open(&globex, &client, &sealed).await;
    assert!(
        matches!(
            opened,
            Err(KeyError::Corrupt {
                damaged: Damaged::Sealed,
                ..
            })
        ),
        "{opened:?}"
    );
    // Destroying it leaves the first tenant's key alone.
    assert!(keys.destroy(&globex, &client).await.unwrap());
    assert_eq!(keys.open(&acme, &client, &sealed).await.unwrap(), NAME);
}

async fn a_wrapped_key_copied_to_another_row_does_not_unwrap(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let (first, second) = (key("client-key-1"), key("client-key-2"));
    keys.create_key(&acme, &first).await.unwrap();
    keys.create_key(&acme, &second).await.unwrap();
    keys.create_key(&globex, &first).await.unwrap();
    let sealed = keys.seal(&acme, &first, NAME).await.unwrap();
    let (wrapped, _) = db.row(&acme, &first).await.unwrap();
    let wrapped = wrapped.unwrap();

    // Copied to another key id of the same tenant: the key would open `sealed`, but it does
    // not unwrap under that row's tenant and id.
    db.set_wrapped(&acme, &second, &wrapped).await;
    // Copied to the same key id of another tenant.
    db.set_wrapped(&globex, &first, &wrapped).await;

    for (tenant, key_id) in [(&acme, &second), (&globex, &first)] {
        let opened = keys.open(tenant, key_id, &sealed).await;
        assert!(
            matches!(
                opened,
                Err(KeyError::Corrupt {
                    damaged: Damaged::WrappedKey,
                    ..
                })
            ),
            "{tenant}/{key_id}: {opened:?}"
        );
        let resealed = keys.seal(tenant, key_id, NAME).await;
        assert!(
            matches!(
                resealed,
                Err(KeyError::Corrupt {
                    damaged: Damaged::WrappedKey,
                    ..
                })
            ),
            "{tenant}/{key_id}: {resealed:?}"
        );
    }

    // A bit flipped in a stored wrapped key is caught the same way.
    let mut flipped = wrapped.clone();
    flipped[30] ^= 0x01;
    db.set_wrapped(&acme, &first, &flipped).await;
    let opened = keys.open(&acme, &first, &sealed).await;
    assert!(
        matches!(
            opened,
            Err(KeyError::Corrupt {
                damaged: Damaged::WrappedKey,
                ..
            })
        ),
        "{opened:?}"
    );
    // Put back, it opens again: the failures above were the copies, not the key.
    db.set_wrapped(&acme, &first, &wrapped).await;
    assert_eq!(keys.open(&acme, &first, &sealed).await.unwrap(), NAME);
}

async fn a_wrong_master_key_unwraps_nothing(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    keys.create_key(&acme, &client).await.unwrap();
    let sealed = keys.seal(&acme, &client, NAME).await.unwrap();

    let wrong = db.keys(MasterKey::generate());
    let opened = wrong.open(&acme, &client, &sealed).await;
    assert!(
        matches!(
            opened,
            Err(KeyError::Corrupt {
                damaged: Damaged::WrappedKey,
                ..
            })
        ),
        "{opened:?}"
    );
    let resealed = wrong.seal(&acme, &client, NAME).await;
    assert!(
        matches!(
            resealed,
            Err(KeyError::Corrupt {
                damaged: Damaged::WrappedKey,
                ..
            })
        ),
        "{resealed:?}"
    );
    assert_eq!(keys.open(&acme, &client, &sealed).await.unwrap(), NAME);
}

async fn a_key_id_is_created_once(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    keys.create_key(&acme, &client).await.unwrap();
    let sealed = keys.seal(&acme, &client, NAME).await.unwrap();
    let (before, _) = db.row(&acme, &client).await.unwrap();

    let again = keys.create_key(&acme, &client).await;
    assert!(matches!(again, Err(KeyError::Exists { .. })), "{again:?}");
    // The existing key was not replaced.
    assert_eq!(db.row(&acme, &client).await.unwrap().0, before);
    assert_eq!(keys.open(&acme, &client, &sealed).await.unwrap(), NAME);
}

async fn an_unknown_key_opens_nothing(db: Db) {
    let keys = db.keys(MasterKey::generate());
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    let opened = keys.open(&acme, &client, "AAAA").await;
    assert!(
        matches!(opened, Err(KeyError::Unknown { .. })),
        "{opened:?}"
    );
    let sealed = keys.seal(&acme, &client, NAME).await;
    assert!(
        matches!(sealed, Err(KeyError::Unknown { .. })),
        "{sealed:?}"
    );
    // Destroying a key that never existed changes nothing.
    assert!(!keys.destroy(&acme, &client).await.unwrap());
    assert_eq!(db.row(&acme, &client).await, None);
}

/// Row-level security is a second wall: a transaction scoped to one tenant sees none of
/// another tenant's keys, even when it asks for all rows.
#[tokio::test]
async fn postgres_row_level_security_hides_other_tenants_keys() {
    let store = postgres().await;
    store.migrate_keys().await.unwrap();
    let keys = LocalKeyStore::new(store.clone(), MasterKey::generate());
    keys.create_key(&tenant("acme"), &key("client-key-1"))
        .await
        .unwrap();
    keys.create_key(&tenant("acme"), &key("client-key-2"))
        .await
        .unwrap();

    let count = |name: &'static str| {
        let store = store.clone();
        async move {
            let mut tx = store.begin_tenant(&tenant(name)).await.unwrap();
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM data_keys")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            count
        }
    };
    assert_eq!(count("acme").await, 2);
    assert_eq!(count("globex").await, 0);

    // Nor can it write a row for another tenant.
    let mut tx = store.begin_tenant(&tenant("globex")).await.unwrap();
    let refused = sqlx::query(
        "INSERT INTO data_keys (tenant_id, key_id, wrapped) VALUES ('acme', 'client-key-3', '\\x00')",
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    // insufficient_privilege: "new row violates row-level security policy".
    let code = refused.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("42501"), "{refused:?}");
}

#[test]
fn a_master_key_round_trips_through_base64_and_never_prints() {
    let master = MasterKey::generate();
    let text = master.to_base64();
    assert_eq!(text.len(), 44);
    assert_eq!(BASE64.decode(&text).unwrap().len(), 32);
    // A key file's final newline is fine.
    let loaded = MasterKey::from_base64(&format!("{text}\n")).unwrap();
    assert_eq!(loaded.to_base64(), text);
    assert_ne!(MasterKey::generate().to_base64(), text);

    let debug = format!("{master:?} {loaded:?}");
    assert!(!debug.contains(&text), "{debug}");
    assert!(!debug.contains(&text[..8]), "{debug}");

    // Wrong lengths and non-base64 are refused without repeating the input.
    let short = BASE64.encode([7u8; 31]);
    let long = BASE64.encode([7u8; 33]);
    let garbled = format!("{}#", &text[..43]);
    for bad in [
        short.as_str(),
        long.as_str(),
        garbled.as_str(),
        "",
        "not a key",
    ] {
        let error = MasterKey::from_base64(bad).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(bad.is_empty() || !shown.contains(bad), "{shown}");
    }
}

#[test]
fn errors_name_the_tenant_and_the_key() {
    let (acme, client) = (tenant("acme"), key("client-key-1"));
    let errors = [
        KeyError::Unknown {
            tenant: acme.clone(),
            key_id: client.clone(),
        },
        KeyError::Destroyed {
            tenant: acme.clone(),
            key_id: client.clone(),
        },
        KeyError::Exists {
            tenant: acme.clone(),
            key_id: client.clone(),
        },
        KeyError::Corrupt {
            tenant: acme.clone(),
            key_id: client.clone(),
            damaged: Damaged::WrappedKey,
        },
    ];
    for error in errors {
        let shown = error.to_string();
        assert!(
            shown.contains("acme") && shown.contains("client-key-1"),
            "{shown}"
        );
        assert!(!error.is_retryable());
    }
}

async fn a_media_key_is_the_same_key_until_destroyed(db: Db) {
    use confide_vault::{BlobKey, BlobStore, LocalBlobStore, decrypt_range, encrypt_stream};
    use futures_util::StreamExt;

    let master = MasterKey::generate();
    let keys = db.keys(master.clone());
    let (acme, globex, recording) = (tenant("acme"), tenant("globex"), key("recording-0190"));
    keys.create_key(&acme, &recording).await.unwrap();
    let media_key = keys.media_key(&acme, &recording).await.unwrap();
    assert_eq!(format!("{media_key:?}"), "MediaKey(..)");

    // Media encrypted under it decrypts under the key fetched again, by another store.
    let directory = tempfile::tempdir().unwrap();
    let blobs = LocalBlobStore::new(directory.path()).unwrap();
    let object = BlobKey::parse("acme/recording-0190").unwrap();
    let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let frames = futures_util::stream::iter(vec![Ok(bytes::Bytes::from(plain.clone()))]);
    let encrypted = encrypt_stream(&media_key, b"acme/0190", frames);
    blobs.put(&object, encrypted.boxed()).await.unwrap();
    let again = db.keys(master).media_key(&acme, &recording).await.unwrap();
    let mut stream = decrypt_range(&blobs, &object, &again, b"acme/0190", 0..200_000)
        .await
        .unwrap();
    let mut decrypted = Vec::new();
    while let Some(bytes) = stream.next().await {
        decrypted.extend_from_slice(&bytes.unwrap());
    }
    assert!(decrypted == plain);

    // Another tenant's key, an unknown key, a damaged wrapped key, a destroyed key.
    let other = keys.media_key(&globex, &recording).await;
    assert!(matches!(other, Err(KeyError::Unknown { .. })), "{other:?}");
    let unknown = keys.media_key(&acme, &key("recording-0191")).await;
    assert!(
        matches!(unknown, Err(KeyError::Unknown { .. })),
        "{unknown:?}"
    );
    let (wrapped, _) = db.row(&acme, &recording).await.unwrap();
    let wrapped = wrapped.unwrap();
    let mut flipped = wrapped.clone();
    flipped[40] ^= 0x01;
    db.set_wrapped(&acme, &recording, &flipped).await;
    let damaged = keys.media_key(&acme, &recording).await;
    assert!(
        matches!(
            damaged,
            Err(KeyError::Corrupt {
                damaged: Damaged::WrappedKey,
                ..
            })
        ),
        "{damaged:?}"
    );
    db.set_wrapped(&acme, &recording, &wrapped).await;
    assert!(keys.destroy(&acme, &recording).await.unwrap());
    let destroyed = keys.media_key(&acme, &recording).await;
    assert!(
        matches!(destroyed, Err(KeyError::Destroyed { .. })),
        "{destroyed:?}"
    );
}
