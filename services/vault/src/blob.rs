//! Blob stores: where encrypted media objects live. One trait, [`BlobStore`], with a local
//! directory ([`LocalBlobStore`], the embedded default) and S3 ([`crate::S3BlobStore`]) behind
//! it; one test suite (`tests/blob_stores.rs`) runs against both.
//!
//! A write is all or nothing: only a complete body ever becomes visible under its key, and a
//! write that fails, or is dropped half-way, leaves nothing behind.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use tokio::sync::mpsc;

use crate::error::BlobError;

/// The longest key, in bytes (S3's limit).
const MAX_KEY_LEN: usize = 1024;
/// The longest segment of a key, in bytes (a file name's usual limit).
const MAX_SEGMENT_LEN: usize = 200;

/// Where blobs are kept: written whole or not at all, read by byte range, deleted with every
/// version the store keeps. Object safe, so the application holds an `Arc<dyn BlobStore>`.
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Stores `body` under `key`, replacing what was there, and returns the bytes stored. The
    /// body streams through with flat memory. Only a complete body becomes visible: if the
    /// body yields an error ([`BlobError::Body`]) or the store fails, nothing is left behind
    /// (no partial object, temporary file or pending multipart upload) and a retry with the
    /// same key starts afresh. So does dropping the returned future.
    async fn put(
        &self,
        key: &BlobKey,
        body: BoxStream<'_, Result<Bytes, io::Error>>,
    ) -> Result<u64, BlobError>;

    /// The size in bytes of the object under `key`, or `None` if there is none.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError>;

    /// The bytes `start..end` of the object (end exclusive; an `end` past the object's end
    /// stops at its end, as an HTTP range does). [`BlobError::NotFound`] if there is no object,
    /// [`BlobError::RangeNotSatisfiable`] if `start` is at or past its end,
    /// [`BlobError::EmptyRange`] unless `start < end`.
    async fn get_range(
        &self,
        key: &BlobKey,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError>;

    /// Deletes the object and every version of it the store keeps. Deleting an object that
    /// does not exist succeeds.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
}

/// An object's key: segments separated by `/`, each of ASCII letters, digits, `-`, `_`, `.`
/// and `=`, not empty and not starting with a dot; at most 1024 bytes in all. So a key is
/// always a safe relative path (no `..`, no absolute path, no hidden file) and a plain S3 key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key `text`, if it follows the rules above.
    pub fn parse(text: &str) -> Result<Self, BlobError> {
        let invalid = |reason| BlobError::InvalidKey {
            key: text.chars().take(MAX_KEY_LEN).collect(),
            reason,
        };
        if text.is_empty() || text.len() > MAX_KEY_LEN {
            return Err(invalid("a key is 1 to 1024 bytes"));
        }
        for segment in text.split('/') {
            if segment.is_empty() {
                return Err(invalid(
                    "a key has no empty segment (no leading, trailing or double '/')",
                ));
            }
            if segment.starts_with('.') {
                return Err(invalid(
                    "no segment of a key starts with '.' (no '.', '..' or hidden name)",
                ));
            }
            if segment.len() > MAX_SEGMENT_LEN {
                return Err(invalid("a segment of a key is at most 200 bytes"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
            {
                return Err(invalid(
                    "a key holds only ASCII letters, digits, '-', '_', '.', '=' and '/'",
                ));
            }
        }
        Ok(Self(text.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bytes of each read from a file, and of each item of a range's stream.
const READ_SIZE: u64 = 256 * 1024;
/// Items of a range's stream read ahead of the reader: enough to keep the disk busy, few
/// enough to keep memory flat.
const QUEUE_LEN: usize = 8;
/// Bytes of a body handed to the thread that writes it at a time.
const WRITE_BATCH_BYTES: usize = 1024 * 1024;
/// Batches queued for the thread that writes a body: enough for the body (its encryption,
/// say) to go on while the thread waits for the disk, few enough to keep memory flat.
const WRITE_QUEUE_LEN: usize = 4;

/// How much is written between two requests to flush a file being written to disk.
const BACKGROUND_SYNC_BYTES: u64 = 32 * 1024 * 1024;

/// A [`BlobStore`] in a local directory: the embedded default. An object is a file at its
/// key's path under the root.
///
/// A write goes to a temporary file beside its destination (`.{name}.{random}.partial`, a name
/// no key can have), is flushed to disk, renamed over the destination and the directory
/// flushed too; a failed or dropped write removes the temporary file. A crash half-way may
/// leave a temporary file, never a partial object. Files are written and read on blocking
/// threads, fed through short queues, so the disk and the cipher work at the same time.
#[derive(Clone, Debug)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// A store in the directory `root`, created if it does not exist.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| BlobError::io("create the store's directory", e))?;
        Ok(Self { root })
    }

    /// The directory the store keeps its objects in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |path, segment| path.join(segment))
    }
}

/// What the task streaming a body sends the thread writing it.
enum Message {
    /// Frames to write, about [`WRITE_BATCH_BYTES`] of them: one message, and one wake-up of
    /// the thread, per batch rather than per frame.
    Bytes(Vec<Bytes>),
    /// The body is complete: make it visible.
    Commit,
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        mut body: BoxStream<'_, Result<Bytes, io::Error>>,
    ) -> Result<u64, BlobError> {
        let path = self.path(key);
        let (sender, receiver) = mpsc::channel(WRITE_QUEUE_LEN);
        let writer = tokio::task::spawn_blocking(move || write_file(&path, receiver));
        let mut body_error = None;
        let mut batch = Vec::new();
        let mut batched = 0;
        loop {
            let frame = body.next().await;
            let ended = match frame {
                Some(Ok(bytes)) => {
                    batched += bytes.len();
                    batch.push(bytes);
                    false
                }
                Some(Err(error)) => {
                    body_error = Some(error);
                    break;
                }
                None => true,
            };
            if (ended && !batch.is_empty()) || batched >= WRITE_BATCH_BYTES {
                batched = 0;
                if sender
                    .send(Message::Bytes(std::mem::take(&mut batch)))
                    .await
                    .is_err()
                {
                    // The writer failed; its result says why.
                    break;
                }
            }
            if ended {
                break;
            }
        }
        if body_error.is_none() {
            // Ignored if the writer has already failed; its result says why.
            let _ = sender.send(Message::Commit).await;
        }
        // Without a commit the writer removes its temporary file.
        drop(sender);
        let written = writer
            .await
            .map_err(|e| BlobError::io("write a file", io::Error::other(e)))?;
        match (body_error, written) {
            (Some(error), _) => Err(BlobError::Body(error)),
            (None, Ok(Some(len))) => Ok(len),
            (None, Ok(None)) => Err(BlobError::io(
                "write a file",
                io::Error::other("the writer stopped before the body ended"),
            )),
            (None, Err(error)) => Err(error),
        }
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(metadata) if metadata.is_file() => Ok(Some(metadata.len())),
            Ok(_) => Ok(None),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(BlobError::io("read a file's size", error)),
        }
    }

    async fn get_range(
        &self,
        key: &BlobKey,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        if start >= end {
            return Err(BlobError::EmptyRange { start, end });
        }
        let path = self.path(key);
        let opened = tokio::task::spawn_blocking(move || -> io::Result<(File, u64)> {
            let file = File::open(&path)?;
            let metadata = file.metadata()?;
            if !metadata.is_file() {
                return Err(io::ErrorKind::NotFound.into());
            }
            Ok((file, metadata.len()))
        })
        .await
        .map_err(|e| BlobError::io("open a file", io::Error::other(e)))?;
        let (mut file, size) = match opened {
            Ok(opened) => opened,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound {
                    key: key.to_string(),
                });
            }
            Err(error) => return Err(BlobError::io("open a file", error)),
        };
        if start >= size {
            return Err(BlobError::RangeNotSatisfiable {
                key: key.to_string(),
                start,
            });
        }
        let end = end.min(size);
        let (sender, receiver) = mpsc::channel(QUEUE_LEN);
        tokio::task::spawn_blocking(move || {
            // Stops when the range is read, on an error, or when the stream is dropped.
            let mut read = || -> io::Result<()> {
                file.seek(SeekFrom::Start(start))?;
                let mut left = end - start;
                while left > 0 {
                    let len = left.min(READ_SIZE);
                    let mut buffer = Vec::with_capacity(len as usize);
                    (&mut file).take(len).read_to_end(&mut buffer)?;
                    if buffer.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file ended before the range",
                        ));
                    }
                    left -= buffer.len() as u64;
                    if sender.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                        return Ok(());
                    }
                }
                Ok(())
            };
            if let Err(error) = read() {
                let _ = sender.blocking_send(Err(BlobError::io("read a file", error)));
            }
        });
        Ok(stream::unfold(receiver, |mut receiver| async move {
            let item = receiver.recv().await?;
            Some((item, receiver))
        })
        .boxed())
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path(key);
        tokio::task::spawn_blocking(move || match fs::remove_file(&path) {
            Ok(()) => sync_parent(&path),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        })
        .await
        .map_err(|e| BlobError::io("delete a file", io::Error::other(e)))?
        .map_err(|e| BlobError::io("delete a file", e))
    }
}

/// Writes what `receiver` sends to a temporary file beside `path`, and on commit renames it
/// to `path`. `Ok(None)` if the sender went away without committing; either way, and on any
/// error, the temporary file is gone.
fn write_file(
    path: &Path,
    mut receiver: mpsc::Receiver<Message>,
) -> Result<Option<u64>, BlobError> {
    let directory = path
        .parent()
        .ok_or_else(|| BlobError::io("write a file", io::ErrorKind::InvalidInput.into()))?;
    fs::create_dir_all(directory).map_err(|e| BlobError::io("create a directory", e))?;
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| BlobError::io("write a file", io::ErrorKind::InvalidInput.into()))?;
    let mut temporary = TemporaryFile {
        path: directory.join(format!(".{name}.{:016x}.partial", OsRng.next_u64())),
        keep: false,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary.path)
        .map_err(|e| BlobError::io("create a temporary file", e))?;
    // The disk writes the file back while it is still arriving: a second thread asks for
    // what has been written so far to be made durable every `BACKGROUND_SYNC_BYTES`, so the
    // final flush has little left to do and the upload is not receiving, then waiting for
    // the disk, in turn.
    let syncing = file
        .try_clone()
        .map_err(|e| BlobError::io("open a file twice", e))?;
    let written = std::thread::scope(|scope| {
        let (wanted, requests) = std::sync::mpsc::sync_channel::<()>(1);
        let syncer = scope.spawn(move || -> io::Result<()> {
            for () in requests {
                syncing.sync_data()?;
            }
            Ok(())
        });
        let mut written = 0u64;
        let mut unsynced = 0u64;
        let outcome = 'receive: loop {
            match receiver.blocking_recv() {
                Some(Message::Bytes(batch)) => {
                    for bytes in batch {
                        if let Err(e) = file.write_all(&bytes) {
                            break 'receive Err(BlobError::io("write a file", e));
                        }
                        written += bytes.len() as u64;
                        unsynced += bytes.len() as u64;
                    }
                    // While a request is already waiting, another is dropped: the waiting
                    // one, served later, covers these bytes too.
                    if unsynced >= BACKGROUND_SYNC_BYTES && wanted.try_send(()).is_ok() {
                        unsynced = 0;
                    }
                }
                Some(Message::Commit) => break Ok(Some(written)),
                None => break Ok(None),
            }
        };
        drop(wanted);
        // An error a background flush saw is not reported again to the final one (both
        // handles share one open file), so it fails the write here.
        let synced = match syncer.join() {
            Ok(result) => result.map_err(|e| BlobError::io("flush a file to disk", e)),
            Err(_) => Err(BlobError::io(
                "flush a file to disk",
                io::Error::other("the flushing thread panicked"),
            )),
        };
        outcome.and_then(|written| synced.map(|()| written))
    })?;
    let Some(written) = written else {
        return Ok(None);
    };
    file.sync_all()
        .map_err(|e| BlobError::io("flush a file to disk", e))?;
    drop(file);
    fs::rename(&temporary.path, path).map_err(|e| BlobError::io("rename a file", e))?;
    temporary.keep = true;
    if let Err(error) = sync_parent(path) {
        // Not known to be durable: take it back rather than report a failure and leave it.
        let _ = fs::remove_file(path);
        return Err(BlobError::io("flush a directory to disk", error));
    }
    Ok(Some(written))
}

/// Flushes the directory holding `path`, so a rename or removal in it survives a crash.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(directory) => File::open(directory)?.sync_all(),
        None => Ok(()),
    }
}

/// A temporary file, removed when dropped unless kept.
struct TemporaryFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}
