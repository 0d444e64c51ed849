//! One suite for every blob store: the local directory, and S3 against a real S3-compatible
//! server (Garage, started by `.ci/garage`).
//!
//! The S3 half reads `CONFIDE_TEST_S3_ENDPOINT`, `CONFIDE_TEST_S3_REGION`,
//! `CONFIDE_TEST_S3_BUCKET`, `CONFIDE_TEST_S3_ACCESS_KEY_ID` and
//! `CONFIDE_TEST_S3_SECRET_ACCESS_KEY` (`eval "$(.ci/garage)"` sets them). Without them it
//! fails under `CI=true`, and elsewhere prints a note and does nothing.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use confide_test_support::both_backends;
use confide_vault::{
    BlobError, BlobKey, BlobStore, CHUNK_SIZE, LocalBlobStore, MediaError, MediaKey, PART_SIZE,
    S3BlobStore, S3Config, S3Credentials, ciphertext_len, decrypt_range, encrypt_stream,
    plaintext_len,
};
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};

/// A store under test, with the means to look behind it.
struct Harness {
    store: Arc<dyn BlobStore>,
    /// Every key of a test starts with this, so tests sharing a bucket do not meet.
    prefix: String,
    backend: Backend,
}

enum Backend {
    Local {
        root: PathBuf,
        _directory: tempfile::TempDir,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

fn local_store() -> Harness {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().join("blobs");
    let store = LocalBlobStore::new(&root).unwrap();
    assert_eq!(store.root(), root);
    Harness {
        store: Arc::new(store),
        prefix: unique_prefix(),
        backend: Backend::Local {
            root,
            _directory: directory,
        },
    }
}

const S3_VARIABLES: [&str; 5] = [
    "CONFIDE_TEST_S3_ENDPOINT",
    "CONFIDE_TEST_S3_REGION",
    "CONFIDE_TEST_S3_BUCKET",
    "CONFIDE_TEST_S3_ACCESS_KEY_ID",
    "CONFIDE_TEST_S3_SECRET_ACCESS_KEY",
];

/// The S3 store of the test server, or `None` (outside CI) when none is configured.
async fn s3_store() -> Option<Harness> {
    let values: Vec<Option<String>> = S3_VARIABLES
        .iter()
        .map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .collect();
    let [
        Some(endpoint),
        Some(region),
        Some(bucket),
        Some(access_key),
        Some(secret_key),
    ] = <[Option<String>; 5]>::try_from(values).unwrap()
    else {
        let message = format!(
            "the S3 blob store tests need {}: run `eval \"$(.ci/garage)\"`, which starts Garage \
             and prints them",
            S3_VARIABLES.join(", ")
        );
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("{message}");
        }
        eprintln!("note: skipping an S3 test outside CI; {message}");
        return None;
    };
    let store = S3BlobStore::new(S3Config {
        endpoint_url: Some(endpoint.clone()),
        region: region.clone(),
        bucket: bucket.clone(),
        force_path_style: true,
        credentials: Some(S3Credentials::new(&access_key, &secret_key)),
    })
    .await;
    // A client of its own, to look at what the store left in the bucket.
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
            .build(),
    );
    Some(Harness {
        store: Arc::new(store),
        prefix: unique_prefix(),
        backend: Backend::S3 { client, bucket },
    })
}

fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

both_backends!(
    local => local_store(),
    // Outside CI, with no S3 server configured, `s3_store` prints a note and the test ends.
    s3 => match s3_store().await {
        Some(harness) => harness,
        None => return,
    },
    |harness| case(harness);
    an_object_is_stored_sized_read_by_range_and_deleted,
    a_body_that_fails_leaves_nothing_and_a_retry_succeeds,
    a_large_body_round_trips_in_several_parts,
    encrypted_media_round_trips_and_is_stored_as_ciphertext,
);

impl Harness {
    fn key(&self, name: &str) -> BlobKey {
        BlobKey::parse(&format!("{}/{name}", self.prefix)).unwrap()
    }

    /// The object's bytes as stored, read around the store: the file, or a plain GET.
    async fn raw(&self, key: &BlobKey) -> Option<Vec<u8>> {
        match &self.backend {
            Backend::Local { root, .. } => std::fs::read(root.join(key.as_str())).ok(),
            Backend::S3 { client, bucket } => {
                let got = client
                    .get_object()
                    .bucket(bucket)
                    .key(key.as_str())
                    .send()
                    .await;
                match got {
                    Ok(got) => Some(got.body.collect().await.unwrap().to_vec()),
                    Err(error)
                        if error
                            .as_service_error()
                            .is_some_and(|error| error.is_no_such_key()) =>
                    {
                        None
                    }
                    Err(error) => panic!("reading {key} raw: {error:?}"),
                }
            }
        }
    }

    /// What the store holds under the test's prefix, beside the objects it committed: files
    /// other than `committed` (temporary files included), or pending multipart uploads.
    async fn leftovers(&self, committed: &[&BlobKey]) -> Vec<String> {
        match &self.backend {
            Backend::Local { root, .. } => {
                let mut files = Vec::new();
                list_files(root, &mut files);
                files
                    .into_iter()
                    .filter(|file| !committed.iter().any(|key| *file == root.join(key.as_str())))
                    .map(|file| file.display().to_string())
                    .collect()
            }
            Backend::S3 { client, bucket } => {
                let uploads = client
                    .list_multipart_uploads()
                    .bucket(bucket)
                    .prefix(&self.prefix)
                    .send()
                    .await
                    .unwrap();
                let mut found: Vec<String> = uploads
                    .uploads()
                    .iter()
                    .map(|upload| format!("multipart upload of {:?}", upload.key()))
                    .collect();
                let objects = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&self.prefix)
                    .send()
                    .await
                    .unwrap();
                found.extend(
                    objects
                        .contents()
                        .iter()
                        .filter_map(|object| object.key())
                        .filter(|key| !committed.iter().any(|c| c.as_str() == *key))
                        .map(|key| format!("object {key}")),
                );
                found
            }
        }
    }

    async fn etag(&self, key: &BlobKey) -> Option<String> {
        match &self.backend {
            Backend::Local { .. } => None,
            Backend::S3 { client, bucket } => client
                .head_object()
                .bucket(bucket)
                .key(key.as_str())
                .send()
                .await
                .unwrap()
                .e_tag()
                .map(str::to_owned),
        }
    }
}

fn list_files(directory: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// Bytes that say where they are: no 16-byte window repeats.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("<{i:014}>").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// `data` as a body of frames of varying sizes (1 byte to 100 KiB).
fn body(data: &[u8]) -> Vec<Result<Bytes, io::Error>> {
    let sizes = [1usize, 4096, 65_536, 7, 100_000, 13, 0, 31_337];
    let mut frames = Vec::new();
    let mut rest = Bytes::copy_from_slice(data);
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        frames.push(Ok(rest.split_to((*size).min(rest.len()))));
    }
    frames
}

fn boxed(frames: Vec<Result<Bytes, io::Error>>) -> BoxStream<'static, Result<Bytes, io::Error>> {
    stream::iter(frames).boxed()
}

/// `data`, then an error in place of the rest.
fn failing_body(data: &[u8]) -> BoxStream<'static, Result<Bytes, io::Error>> {
    let mut frames = body(data);
    frames.push(Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "the client went away",
    )));
    frames.push(Ok(Bytes::from_static(b"never read")));
    boxed(frames)
}

async fn read(
    store: &dyn BlobStore,
    key: &BlobKey,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, BlobError> {
    let mut stream = store.get_range(key, start, end).await?;
    let mut out = Vec::new();
    while let Some(frame) = stream.next().await {
        out.extend_from_slice(&frame?);
    }
    Ok(out)
}

async fn collect<E: std::fmt::Debug>(
    stream: impl Stream<Item = Result<Bytes, E>>,
) -> Result<Vec<u8>, E> {
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(frame) = stream.next().await {
        out.extend_from_slice(&frame?);
    }
    Ok(out)
}

async fn an_object_is_stored_sized_read_by_range_and_deleted(harness: Harness) {
    let store = harness.store.as_ref();
    let key = harness.key("recordings/one.media");
    let data = pattern(300_001);
    let len = data.len() as u64;

    assert_eq!(store.size(&key).await.unwrap(), None);
    assert!(matches!(
        read(store, &key, 0, 1).await,
        Err(BlobError::NotFound { .. })
    ));
    assert_eq!(store.put(&key, boxed(body(&data))).await.unwrap(), len);
    assert_eq!(store.size(&key).await.unwrap(), Some(len));
    assert_eq!(harness.raw(&key).await.unwrap(), data);

    for (start, end) in [
        (0, len),
        (0, 1),
        (len - 1, len),
        (1_000, 70_000),
        (65_535, 65_537),
        (len - 10, len + 100),
        (5, u64::MAX),
    ] {
        let got = read(store, &key, start, end).await.unwrap();
        assert!(
            got == data[start as usize..end.min(len) as usize],
            "range {start}..{end}"
        );
    }
    assert!(matches!(
        read(store, &key, len, len + 1).await,
        Err(BlobError::RangeNotSatisfiable { .. })
    ));
    assert!(matches!(
        read(store, &key, 7, 7).await,
        Err(BlobError::EmptyRange { .. })
    ));

    // A put replaces the object whole.
    let replacement = pattern(1_000);
    assert_eq!(
        store.put(&key, boxed(body(&replacement))).await.unwrap(),
        1_000
    );
    assert_eq!(read(store, &key, 0, u64::MAX).await.unwrap(), replacement);
    // An empty body is an empty object.
    let empty = harness.key("recordings/empty");
    assert_eq!(store.put(&empty, boxed(Vec::new())).await.unwrap(), 0);
    assert_eq!(store.size(&empty).await.unwrap(), Some(0));
    assert!(harness.leftovers(&[&key, &empty]).await.is_empty());

    store.delete(&key).await.unwrap();
    store.delete(&empty).await.unwrap();
    assert_eq!(store.size(&key).await.unwrap(), None);
    assert_eq!(harness.raw(&key).await, None);
    assert!(matches!(
        read(store, &key, 0, 1).await,
        Err(BlobError::NotFound { .. })
    ));
    // Deleting what is not there succeeds.
    store.delete(&key).await.unwrap();
    store.delete(&harness.key("never/stored")).await.unwrap();
    assert!(harness.leftovers(&[]).await.is_empty());
}

async fn a_body_that_fails_leaves_nothing_and_a_retry_succeeds(harness: Harness) {
    let store = harness.store.as_ref();
    // A small body (one request), and one that fails after more than two parts have gone.
    for (name, len) in [("small", 100_000), ("large", 2 * PART_SIZE + 1_000_000)] {
        let key = harness.key(&format!("failing/{name}"));
        let data = pattern(len);
        let failed = store.put(&key, failing_body(&data)).await;
        assert!(
            matches!(failed, Err(BlobError::Body(_))),
            "{name}: {failed:?}"
        );
        assert_eq!(store.size(&key).await.unwrap(), None, "{name}");
        assert_eq!(harness.raw(&key).await, None, "{name}");
        let leftovers = harness.leftovers(&[]).await;
        assert!(leftovers.is_empty(), "{name}: {leftovers:?}");

        // The same key again, with a body that does not fail.
        assert_eq!(
            store.put(&key, boxed(body(&data))).await.unwrap(),
            len as u64
        );
        assert!(harness.raw(&key).await.unwrap() == data, "{name}");

        // A failed replacement leaves the object as it was, and nothing else.
        let failed = store.put(&key, failing_body(&pattern(len + 5))).await;
        assert!(
            matches!(failed, Err(BlobError::Body(_))),
            "{name}: {failed:?}"
        );
        assert!(harness.raw(&key).await.unwrap() == data, "{name}");
        let leftovers = harness.leftovers(&[&key]).await;
        assert!(leftovers.is_empty(), "{name}: {leftovers:?}");
        store.delete(&key).await.unwrap();
    }
}

async fn a_large_body_round_trips_in_several_parts(harness: Harness) {
    let store = harness.store.as_ref();
    let key = harness.key("large");
    // Several parts for S3; for the directory, more than the 32 MiB after which the file is
    // flushed in the background while the rest arrives.
    let data = pattern(4 * PART_SIZE + PART_SIZE / 2 + 123);
    let len = data.len() as u64;
    assert_eq!(store.put(&key, boxed(body(&data))).await.unwrap(), len);
    assert_eq!(store.size(&key).await.unwrap(), Some(len));
    if let Some(etag) = harness.etag(&key).await {
        // S3 gives a multipart object an ETag ending in its number of parts.
        assert!(etag.trim_matches('"').ends_with("-5"), "{etag}");
    }
    assert!(read(store, &key, 0, len).await.unwrap() == data);
    let boundary = PART_SIZE as u64;
    assert!(
        read(store, &key, boundary - 3, boundary + 3).await.unwrap()
            == data[boundary as usize - 3..boundary as usize + 3]
    );
    assert!(harness.leftovers(&[&key]).await.is_empty());
    store.delete(&key).await.unwrap();
}

async fn encrypted_media_round_trips_and_is_stored_as_ciphertext(harness: Harness) {
    let store = harness.store.as_ref();
    let key = harness.key("recordings/0190-media");
    let media_key = MediaKey::generate();
    let aad = format!("acme/{}", key.as_str()).into_bytes();
    let plain = pattern(3 * 1024 * 1024 + 17);
    let len = plain.len() as u64;

    let encrypted = encrypt_stream(&media_key, &aad, stream::iter(body(&plain)));
    let stored = store.put(&key, encrypted.boxed()).await.unwrap();
    assert_eq!(stored, ciphertext_len(len));
    let size = store.size(&key).await.unwrap().unwrap();
    assert_eq!(plaintext_len(size).unwrap(), len);

    // What is stored holds none of the plaintext.
    let raw = harness.raw(&key).await.unwrap();
    assert_eq!(raw.len() as u64, size);
    for offset in [0, 1_000_000, plain.len() - 16] {
        let window = &plain[offset..offset + 16];
        assert!(
            !raw.windows(16).any(|w| w == window),
            "plaintext at {offset}"
        );
    }
    // Nor the pattern's start, anywhere (8 bytes: no chance of ciphertext matching).
    assert!(!raw.windows(8).any(|w| w == b"<0000000"));

    let chunk = u64::from(CHUNK_SIZE);
    for (start, end) in [
        (0, len),
        (len - 1, len),
        (0, 1),
        (chunk - 1, chunk + 1),
        (10 * chunk + 5, 20 * chunk),
        (len - chunk - 3, len),
    ] {
        let stream = decrypt_range(store, &key, &media_key, &aad, start..end)
            .await
            .unwrap();
        let got = collect(stream).await.unwrap();
        assert!(got == plain[start as usize..end as usize], "{start}..{end}");
    }
    // Copied under another recording, it does not decrypt.
    let stream = decrypt_range(store, &key, &media_key, b"acme/another", 0..10)
        .await
        .unwrap();
    assert!(matches!(
        collect(stream).await,
        Err(MediaError::Unauthentic { chunk: 0 })
    ));
    store.delete(&key).await.unwrap();
    assert!(matches!(
        decrypt_range(store, &key, &media_key, &aad, 0..10).await,
        Err(MediaError::NotFound { .. })
    ));
}

#[test]
fn a_key_is_a_safe_relative_path() {
    for good in ["a", "acme/recordings/0190abc.media", "x=1/y_2/z-3.v1"] {
        assert_eq!(BlobKey::parse(good).unwrap().as_str(), good);
    }
    let long = "a".repeat(1025);
    for bad in [
        "",
        "/abs",
        "a/",
        "a//b",
        "..",
        "../x",
        "a/../b",
        "a/./b",
        ".hidden",
        "a/.partial",
        "a\\b",
        "a b",
        "a\0b",
        "é",
        &long,
    ] {
        assert!(
            matches!(BlobKey::parse(bad), Err(BlobError::InvalidKey { .. })),
            "{bad:?} was accepted"
        );
    }
}

#[tokio::test]
async fn the_s3_configuration_hides_its_secret() {
    let config = S3Config {
        endpoint_url: Some("http://127.0.0.1:3900".into()),
        region: "garage".into(),
        bucket: "b".into(),
        force_path_style: true,
        credentials: Some(S3Credentials::new("GKaccess", "very-secret-value")),
    };
    let shown = format!("{config:?}");
    assert!(shown.contains("GKaccess"), "{shown}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
}
