//! Streaming authenticated encryption of a recording's media, readable from any byte offset.
//!
//! An encrypted media object is a header followed by chunks:
//!
//! ```text
//! header = magic "CFDMEDIA" (8) ‖ version 1 (1) ‖ chunk size, u32 big-endian (4) ‖ salt (32)
//! chunk i = ChaCha20-Poly1305(payload key, nonce(i, last), aad = header ‖ caller's aad,
//!                             plaintext[i·chunk size ..][.. chunk size]) ‖ tag (16)
//! payload key = HKDF-SHA-256(ikm = media key, salt = header's salt, info = PAYLOAD_KEY_INFO)
//! nonce(i, last) = i as an 11-byte big-endian counter ‖ 0x01 if chunk i is the last, else 0x00
//! ```
//!
//! This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) as age uses it:
//! the nonce binds each chunk to its index, so chunks cannot be reordered, duplicated or
//! dropped, and to whether it is the last, so the object cannot be truncated at a chunk
//! boundary. The random salt gives every object its own payload key, so two uploads under the
//! same media key (a retry) never share a nonce. Every chunk authenticates the whole header
//! and the caller's associated data (tenant and recording), so an object copied under another
//! recording does not decrypt. Each chunk stands alone, so any range is decrypted by reading
//! the header and the chunks that cover it.
//!
//! Every chunk but the last holds exactly the chunk size in plaintext; the last holds 1 to
//! chunk size bytes, or none when the whole plaintext is empty (then it is the only chunk). So
//! the plaintext length follows from the ciphertext length ([`plaintext_len`]).
//!
//! ChaCha20-Poly1305 comes from aws-lc-rs, whose assembly is about twice as fast here as the
//! portable XChaCha20-Poly1305 used for sealed values; the per-object payload key makes the
//! 96-bit nonce safe, as XChaCha's longer nonce would.

use std::io;
use std::ops::Range;
use std::pin::Pin;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use bytes::{Bytes, BytesMut};
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt, future};
use zeroize::Zeroizing;

use crate::blob::{BlobKey, BlobStore};
use crate::error::{BlobError, MediaError};

/// Plaintext bytes in every chunk but the last, for objects this build writes. Readers take
/// the chunk size from the header, so it can change without a new format version.
pub const CHUNK_SIZE: u32 = 64 * 1024;
/// Bytes of the header at the start of every encrypted media object.
pub const HEADER_LEN: u64 = 45;
/// Bytes of the Poly1305 tag at the end of every chunk.
pub const TAG_LEN: u64 = 16;

const MAGIC: &[u8; 8] = b"CFDMEDIA";
const VERSION: u8 = 1;
const SALT_LEN: usize = 32;
/// The largest chunk size a reader accepts from a header, so an altered header cannot make it
/// buffer more than this before authentication fails.
const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// HKDF info of the payload key, so the media key is never used for anything else as is.
const PAYLOAD_KEY_INFO: &[u8] = b"confide-vault media v1 payload key";
/// Bytes of the chunk counter in a nonce; the last nonce byte is the last-chunk flag.
const COUNTER_LEN: usize = NONCE_LEN - 1;

/// A recording's data key, unwrapped, for [`encrypt_stream`] and [`decrypt_range`].
///
/// From `KeyStore::media_key`. Its `Debug` shows no key material, and its bytes are wiped from
/// memory when it is dropped.
pub struct MediaKey(Zeroizing<[u8; 32]>);

impl MediaKey {
    pub(crate) fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    /// The key's bytes: to keep it wrapped, and for keys derived from it inside the vault
    /// (`crate::blind`).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A new random key from the operating system's generator: an upload's key before it is
    /// kept (`KeyStore::keep_media_key`), or a key for tests and benchmarks.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(..)")
    }
}

/// The length of the encrypted object for `plain_len` bytes of plaintext.
pub fn ciphertext_len(plain_len: u64) -> u64 {
    ciphertext_len_with(plain_len, CHUNK_SIZE)
}

/// The plaintext length of an encrypted object of `cipher_len` bytes that this build wrote
/// (chunks of [`CHUNK_SIZE`]). A length no object can have is [`MediaError::InvalidLength`].
pub fn plaintext_len(cipher_len: u64) -> Result<u64, MediaError> {
    plaintext_len_with(cipher_len, CHUNK_SIZE)
}

fn ciphertext_len_with(plain_len: u64, chunk_size: u32) -> u64 {
    let chunks = plain_len.div_ceil(u64::from(chunk_size)).max(1);
    HEADER_LEN + plain_len + chunks * TAG_LEN
}

fn plaintext_len_with(cipher_len: u64, chunk_size: u32) -> Result<u64, MediaError> {
    let invalid = MediaError::InvalidLength { len: cipher_len };
    let body = cipher_len
        .checked_sub(HEADER_LEN + TAG_LEN)
        .ok_or(MediaError::InvalidLength { len: cipher_len })?
        + TAG_LEN;
    let full = u64::from(chunk_size) + TAG_LEN;
    let chunks = body.div_ceil(full);
    let last = body - (chunks - 1) * full;
    // The last chunk holds a tag and, unless it is the only one, at least one byte.
    if last < TAG_LEN || (chunks > 1 && last == TAG_LEN) {
        return Err(invalid);
    }
    Ok(body - chunks * TAG_LEN)
}

/// The header of an encrypted object: its bytes, which every chunk authenticates, and the
/// chunk size they give.
struct Header {
    bytes: [u8; HEADER_LEN as usize],
    chunk_size: u32,
}

impl Header {
    fn generate(chunk_size: u32) -> Self {
        let mut bytes = [0u8; HEADER_LEN as usize];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8] = VERSION;
        bytes[9..13].copy_from_slice(&chunk_size.to_be_bytes());
        OsRng.fill_bytes(&mut bytes[13..]);
        Self { bytes, chunk_size }
    }

    fn parse(bytes: &[u8]) -> Result<Self, MediaError> {
        let bytes: [u8; HEADER_LEN as usize] = bytes
            .try_into()
            .map_err(|_| MediaError::UnsupportedFormat)?;
        if &bytes[..8] != MAGIC || bytes[8] != VERSION {
            return Err(MediaError::UnsupportedFormat);
        }
        let chunk_size = u32::from_be_bytes([bytes[9], bytes[10], bytes[11], bytes[12]]);
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(MediaError::UnsupportedFormat);
        }
        Ok(Self { bytes, chunk_size })
    }

    fn salt(&self) -> &[u8] {
        &self.bytes[13..13 + SALT_LEN]
    }
}

/// One object's payload key and associated data.
struct ChunkCipher {
    key: LessSafeKey,
    /// The header's bytes followed by the caller's associated data. The header has a fixed
    /// length, so no two (header, aad) pairs give the same bytes.
    aad: Vec<u8>,
}

impl ChunkCipher {
    fn new(media_key: &MediaKey, header: &Header, aad: &[u8]) -> Self {
        let prk = Salt::new(HKDF_SHA256, header.salt()).extract(media_key.0.as_ref());
        // HKDF-SHA-256 gives up to 255 × 32 bytes; a 32-byte key is always within that.
        let okm = prk
            .expand(&[PAYLOAD_KEY_INFO], &CHACHA20_POLY1305)
            .expect("32 bytes is within HKDF-SHA-256's output limit");
        let mut associated = Vec::with_capacity(header.bytes.len() + aad.len());
        associated.extend_from_slice(&header.bytes);
        associated.extend_from_slice(aad);
        Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            aad: associated,
        }
    }

    fn nonce(index: u64, last: bool) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[COUNTER_LEN - 8..COUNTER_LEN].copy_from_slice(&index.to_be_bytes());
        nonce[COUNTER_LEN] = u8::from(last);
        Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypts the plaintext in `chunk` in place and appends its tag.
    fn seal(&self, index: u64, last: bool, chunk: &mut BytesMut) -> io::Result<()> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Self::nonce(index, last),
                Aad::from(self.aad.as_slice()),
                chunk,
            )
            .map_err(|_| io::Error::other("ChaCha20-Poly1305 refused to encrypt a chunk"))?;
        chunk.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts ciphertext ‖ tag in place; the plaintext's length, or `None` if it does not
    /// authenticate.
    fn open(&self, index: u64, last: bool, chunk: &mut [u8]) -> Option<usize> {
        self.key
            .open_in_place(
                Self::nonce(index, last),
                Aad::from(self.aad.as_slice()),
                chunk,
            )
            .ok()
            .map(|plaintext| plaintext.len())
    }
}

/// Encrypts `plaintext`, a stream of frames of any sizes (an HTTP body), into an encrypted
/// media object: the header, then one item per chunk. Memory stays flat whatever the length:
/// one chunk is filled at a time, and the stream reads one byte ahead to know which chunk is
/// the last.
///
/// `aad` is authenticated with every chunk and must be given again to decrypt: pass what
/// identifies the object's place (tenant and recording id), so an object copied elsewhere does
/// not decrypt. An error of `plaintext` is passed on and ends the stream, so a store writing
/// it stores nothing. An empty plaintext gives a header and one empty last chunk.
pub fn encrypt_stream<S>(
    key: &MediaKey,
    aad: &[u8],
    plaintext: S,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + use<S>
where
    S: Stream<Item = Result<Bytes, io::Error>> + Send,
{
    encrypt_stream_with(key, aad, plaintext, CHUNK_SIZE)
}

fn encrypt_stream_with<S>(
    key: &MediaKey,
    aad: &[u8],
    plaintext: S,
    chunk_size: u32,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + use<S>
where
    S: Stream<Item = Result<Bytes, io::Error>> + Send,
{
    let header = Header::generate(chunk_size);
    let encryptor = Encryptor {
        cipher: ChunkCipher::new(key, &header, aad),
        header: Some(Bytes::copy_from_slice(&header.bytes)),
        input: Box::pin(plaintext),
        chunk_size: chunk_size as usize,
        chunk: BytesMut::with_capacity(chunk_size as usize + TAG_LEN as usize),
        carry: Bytes::new(),
        index: 0,
        done: false,
    };
    stream::unfold(encryptor, |mut encryptor| async move {
        let item = encryptor.next_item().await?;
        Some((item, encryptor))
    })
}

struct Encryptor<S> {
    cipher: ChunkCipher,
    /// The header, until it has been yielded.
    header: Option<Bytes>,
    input: Pin<Box<S>>,
    chunk_size: usize,
    /// The plaintext of the chunk being filled.
    chunk: BytesMut,
    /// What is left of the input's last frame after filling `chunk`.
    carry: Bytes,
    index: u64,
    done: bool,
}

impl<S: Stream<Item = Result<Bytes, io::Error>>> Encryptor<S> {
    async fn next_item(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        if let Some(header) = self.header.take() {
            return Some(Ok(header));
        }
        loop {
            if self.carry.is_empty() {
                match self.input.next().await {
                    Some(Ok(frame)) => self.carry = frame,
                    Some(Err(error)) => {
                        self.done = true;
                        return Some(Err(error));
                    }
                    // The input ended: what is in `chunk` (maybe nothing) is the last chunk.
                    None => return Some(self.seal(true)),
                }
                continue;
            }
            if self.chunk.len() == self.chunk_size {
                // More input follows a full chunk, so it is not the last.
                return Some(self.seal(false));
            }
            let take = (self.chunk_size - self.chunk.len()).min(self.carry.len());
            self.chunk.extend_from_slice(&self.carry.split_to(take));
        }
    }

    fn seal(&mut self, last: bool) -> io::Result<Bytes> {
        let capacity = if last {
            0
        } else {
            self.chunk_size + TAG_LEN as usize
        };
        let mut chunk = std::mem::replace(&mut self.chunk, BytesMut::with_capacity(capacity));
        self.done = last;
        let sealed = self.cipher.seal(self.index, last, &mut chunk);
        if sealed.is_err() {
            self.done = true;
        }
        self.index += 1;
        sealed.map(|()| chunk.freeze())
    }
}

/// Decrypts the plaintext bytes `range` (end exclusive) of the encrypted media object `object`
/// in `store`, reading only what covers them: the header (a 45-byte GET, sent at the same time
/// as the next) and one ranged GET of the chunks that hold the range, plus one byte, which
/// tells whether the last of them is the object's last chunk.
///
/// Errors found before any chunk is decrypted come back at once: [`MediaError::NotFound`],
/// [`MediaError::UnsupportedFormat`], [`MediaError::InvalidLength`] (shorter than a header),
/// [`MediaError::EmptyRange`], and [`MediaError::OutOfRange`] when the range starts past the
/// last chunk. The stream then yields the range's bytes in order; a chunk that does not
/// authenticate ends it with [`MediaError::Unauthentic`] and none of its bytes, and a range
/// that reaches past the end of the media ends it with [`MediaError::OutOfRange`] after the
/// bytes that exist. So check the range against [`plaintext_len`] of the object's size first
/// (as an HTTP Range request needs anyway).
pub async fn decrypt_range(
    store: &dyn BlobStore,
    object: &BlobKey,
    key: &MediaKey,
    aad: &[u8],
    range: Range<u64>,
) -> Result<impl Stream<Item = Result<Bytes, MediaError>> + Send + Unpin + use<>, MediaError> {
    let Range { start, end } = range;
    if start >= end {
        return Err(MediaError::EmptyRange { start, end });
    }
    // Read the header and, assuming this build's chunk size, the chunks at the same time;
    // should the header give another chunk size, the chunks are read again.
    let (header, body) = future::join(
        read_header(store, object),
        read_chunks(store, object, CHUNK_SIZE, start..end),
    )
    .await;
    let header = header?;
    let body = if header.chunk_size == CHUNK_SIZE {
        body?
    } else {
        read_chunks(store, object, header.chunk_size, start..end).await?
    };
    let chunk_size = u64::from(header.chunk_size);
    let first = start / chunk_size;
    let decryptor = Decryptor {
        cipher: ChunkCipher::new(key, &header, aad),
        body,
        chunk_len: chunk_size as usize + TAG_LEN as usize,
        buffer: BytesMut::new(),
        index: first,
        skip: (start - first * chunk_size) as usize,
        remaining: end - start,
        range: start..end,
        media_ended: false,
        failed: false,
    };
    // Boxed, so the caller can poll it without pinning it first.
    Ok(Box::pin(stream::unfold(
        decryptor,
        |mut decryptor| async move {
            let item = decryptor.next_item().await?;
            Some((item, decryptor))
        },
    )))
}

async fn read_header(store: &dyn BlobStore, object: &BlobKey) -> Result<Header, MediaError> {
    let mut body = store
        .get_range(object, 0, HEADER_LEN)
        .await
        .map_err(|error| match error {
            BlobError::RangeNotSatisfiable { .. } => MediaError::InvalidLength { len: 0 },
            error => MediaError::from(error),
        })?;
    let mut bytes = Vec::with_capacity(HEADER_LEN as usize);
    while let Some(frame) = body.next().await {
        bytes.extend_from_slice(&frame?);
    }
    if bytes.len() < HEADER_LEN as usize {
        return Err(MediaError::InvalidLength {
            len: bytes.len() as u64,
        });
    }
    Header::parse(&bytes)
}

/// The ciphertext of the chunks that hold the plaintext `range`, and one byte more if the
/// object has one.
async fn read_chunks(
    store: &dyn BlobStore,
    object: &BlobKey,
    chunk_size: u32,
    range: Range<u64>,
) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, MediaError> {
    let chunk_size = u64::from(chunk_size);
    let chunk_len = chunk_size + TAG_LEN;
    let first = range.start / chunk_size;
    let last = (range.end - 1) / chunk_size;
    let start = HEADER_LEN + first * chunk_len;
    let end = HEADER_LEN + (last + 1) * chunk_len + 1;
    store
        .get_range(object, start, end)
        .await
        .map_err(|error| match error {
            BlobError::RangeNotSatisfiable { .. } => MediaError::OutOfRange {
                start: range.start,
                end: range.end,
            },
            error => MediaError::from(error),
        })
}

struct Decryptor {
    cipher: ChunkCipher,
    body: BoxStream<'static, Result<Bytes, BlobError>>,
    /// Ciphertext bytes of a full chunk, tag included.
    chunk_len: usize,
    /// Ciphertext read and not yet decrypted.
    buffer: BytesMut,
    /// The index of the chunk at the start of `buffer`.
    index: u64,
    /// Plaintext bytes to leave out at the start of the next chunk (the range's start).
    skip: usize,
    /// Plaintext bytes of the range not yet yielded.
    remaining: u64,
    range: Range<u64>,
    /// Whether the object's last chunk has been decrypted.
    media_ended: bool,
    /// Whether an error has been yielded, after which nothing is.
    failed: bool,
}

impl Decryptor {
    async fn next_item(&mut self) -> Option<Result<Bytes, MediaError>> {
        if self.failed || self.remaining == 0 {
            return None;
        }
        if self.media_ended {
            // The media ended inside the range, after the bytes that exist were yielded.
            return Some(Err(self.fail(self.out_of_range())));
        }
        // A full chunk followed by at least one more byte is not the last; whatever is left
        // when the object ends is.
        let last = loop {
            if self.buffer.len() > self.chunk_len {
                break false;
            }
            match self.body.next().await {
                Some(Ok(frame)) => self.buffer.extend_from_slice(&frame),
                Some(Err(error)) => return Some(Err(self.fail(MediaError::from(error)))),
                None => break true,
            }
        };
        Some(self.decrypt_next(last).map_err(|error| self.fail(error)))
    }

    fn fail(&mut self, error: MediaError) -> MediaError {
        self.failed = true;
        error
    }

    fn out_of_range(&self) -> MediaError {
        MediaError::OutOfRange {
            start: self.range.start,
            end: self.range.end,
        }
    }

    fn decrypt_next(&mut self, last: bool) -> Result<Bytes, MediaError> {
        let index = self.index;
        let mut chunk = if last {
            self.buffer.split()
        } else {
            self.buffer.split_to(self.chunk_len)
        };
        let plain_len = self
            .cipher
            .open(index, last, &mut chunk)
            .ok_or(MediaError::Unauthentic { chunk: index })?;
        self.index += 1;
        self.media_ended = last;
        let from = std::mem::take(&mut self.skip);
        if from >= plain_len {
            // Only an authentic last chunk ends before the range starts: the range begins
            // past the end of the media.
            return Err(self.out_of_range());
        }
        let to = match usize::try_from(self.remaining) {
            Ok(remaining) => plain_len.min(from.saturating_add(remaining)),
            Err(_) => plain_len,
        };
        self.remaining -= (to - from) as u64;
        Ok(chunk.freeze().slice(from..to))
    }
}

impl From<BlobError> for MediaError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::NotFound { key } => Self::NotFound { key },
            error => Self::Blob(error),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use proptest::prelude::*;

    use super::*;

    /// Objects in memory; ranged reads come back in 7-byte frames, so decryption has to
    /// reassemble chunks, and every read is recorded.
    #[derive(Debug, Default)]
    struct MemoryStore {
        objects: Mutex<HashMap<String, Bytes>>,
        reads: Mutex<Vec<(u64, u64)>>,
    }

    impl MemoryStore {
        fn with(object: &[u8]) -> (Self, BlobKey) {
            let store = Self::default();
            let key = BlobKey::parse("t/rec").unwrap();
            store.set(&key, object);
            (store, key)
        }

        fn set(&self, key: &BlobKey, object: &[u8]) {
            self.objects
                .lock()
                .unwrap()
                .insert(key.to_string(), Bytes::copy_from_slice(object));
        }
    }

    #[async_trait]
    impl BlobStore for MemoryStore {
        async fn put(
            &self,
            key: &BlobKey,
            mut body: BoxStream<'_, Result<Bytes, io::Error>>,
        ) -> Result<u64, BlobError> {
            let mut object = Vec::new();
            while let Some(frame) = body.next().await {
                object.extend_from_slice(&frame.map_err(BlobError::Body)?);
            }
            self.set(key, &object);
            Ok(object.len() as u64)
        }

        async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
            let objects = self.objects.lock().unwrap();
            Ok(objects.get(key.as_str()).map(|object| object.len() as u64))
        }

        async fn get_range(
            &self,
            key: &BlobKey,
            start: u64,
            end: u64,
        ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
            assert!(start < end);
            self.reads.lock().unwrap().push((start, end));
            let object = self
                .objects
                .lock()
                .unwrap()
                .get(key.as_str())
                .cloned()
                .ok_or_else(|| BlobError::NotFound {
                    key: key.to_string(),
                })?;
            if start >= object.len() as u64 {
                return Err(BlobError::RangeNotSatisfiable {
                    key: key.to_string(),
                    start,
                });
            }
            let range = object.slice(start as usize..(end as usize).min(object.len()));
            let frames: Vec<_> = range
                .chunks(7)
                .map(|frame| Ok(Bytes::copy_from_slice(frame)))
                .collect();
            Ok(stream::iter(frames).boxed())
        }

        async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
            self.objects.lock().unwrap().remove(key.as_str());
            Ok(())
        }
    }

    const AAD: &[u8] = b"tenant acme, recording 0190";

    /// A recognisable plaintext: no two of its 4-byte windows at different offsets are equal
    /// over the sizes used.
    fn plaintext(len: usize) -> Vec<u8> {
        (0..len as u32)
            .flat_map(|i| (i / 4).to_le_bytes().into_iter().nth((i % 4) as usize))
            .map(|b| b ^ 0x5a)
            .collect()
    }

    /// `data` cut into frames whose sizes cycle through `frames`.
    fn framed(data: &[u8], frames: &[usize]) -> Vec<Result<Bytes, io::Error>> {
        let mut out = Vec::new();
        let mut rest = data;
        for size in frames.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (frame, tail) = rest.split_at((*size).min(rest.len()));
            out.push(Ok(Bytes::copy_from_slice(frame)));
            // An empty frame now and then, as an HTTP body may give.
            if *size == 1 {
                out.push(Ok(Bytes::new()));
            }
            rest = tail;
        }
        out
    }

    async fn encrypt(
        key: &MediaKey,
        aad: &[u8],
        plain: &[u8],
        chunk: u32,
        frames: &[usize],
    ) -> Vec<u8> {
        let stream = encrypt_stream_with(key, aad, stream::iter(framed(plain, frames)), chunk);
        let mut out = Vec::new();
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            out.extend_from_slice(&item.unwrap());
        }
        out
    }

    /// The bytes yielded before the end, and the error that ended it, if any.
    async fn decrypt(
        store: &MediaStoreRef<'_>,
        key: &MediaKey,
        aad: &[u8],
        range: Range<u64>,
    ) -> (Vec<u8>, Option<MediaError>) {
        let stream = match decrypt_range(store.0, &store.1, key, aad, range).await {
            Ok(stream) => stream,
            Err(error) => return (Vec::new(), Some(error)),
        };
        let mut stream = std::pin::pin!(stream);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(bytes) => {
                    assert!(!bytes.is_empty(), "an empty item");
                    out.extend_from_slice(&bytes);
                }
                Err(error) => {
                    assert!(stream.next().await.is_none(), "an item after an error");
                    return (out, Some(error));
                }
            }
        }
        (out, None)
    }

    struct MediaStoreRef<'a>(&'a MemoryStore, BlobKey);

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn round_trips_at_the_chunk_boundaries_in_frames_of_any_size() {
        let key = MediaKey::generate();
        let chunk = CHUNK_SIZE as usize;
        for len in [1, chunk - 1, chunk, chunk + 1, 3 * chunk + 4321] {
            for frames in [&[1usize, 4093, 7][..], &[65_537], &[1 << 20], &[chunk]] {
                let plain = plaintext(len);
                let object = encrypt(&key, AAD, &plain, CHUNK_SIZE, frames).await;
                assert_eq!(object.len() as u64, ciphertext_len(len as u64), "len {len}");
                assert_eq!(plaintext_len(object.len() as u64).unwrap(), len as u64);
                let (store, name) = MemoryStore::with(&object);
                let store = MediaStoreRef(&store, name);
                let (out, error) = decrypt(&store, &key, AAD, 0..len as u64).await;
                assert!(error.is_none(), "len {len}: {error:?}");
                assert!(out == plain, "len {len}, frames {frames:?}");
                // The stored object does not hold the plaintext.
                let probe = &plain[..plain.len().min(16)];
                if probe.len() >= 8 {
                    assert!(!object.windows(probe.len()).any(|w| w == probe));
                }
            }
        }
    }

    #[tokio::test]
    async fn reads_only_the_chunks_that_cover_a_range() {
        let key = MediaKey::generate();
        let chunk = u64::from(CHUNK_SIZE);
        let plain = plaintext(5 * chunk as usize + 10);
        let object = encrypt(&key, AAD, &plain, CHUNK_SIZE, &[10_000]).await;
        let (store, name) = MemoryStore::with(&object);
        let media = MediaStoreRef(&store, name);
        let (start, end) = (2 * chunk + 100, 3 * chunk + 5);
        let (out, error) = decrypt(&media, &key, AAD, start..end).await;
        assert!(error.is_none(), "{error:?}");
        assert!(out == plain[start as usize..end as usize]);
        let full = chunk + TAG_LEN;
        assert_eq!(
            *store.reads.lock().unwrap(),
            [
                (0, HEADER_LEN),
                (HEADER_LEN + 2 * full, HEADER_LEN + 4 * full + 1)
            ]
        );
    }

    #[tokio::test]
    async fn every_range_decrypts_to_its_slice() {
        let key = MediaKey::generate();
        for len in [1usize, 15, 16, 17, 50] {
            let plain = plaintext(len);
            let object = encrypt(&key, AAD, &plain, 16, &[3, 1, 20]).await;
            assert_eq!(object.len() as u64, ciphertext_len_with(len as u64, 16));
            let (store, name) = MemoryStore::with(&object);
            let store = MediaStoreRef(&store, name);
            for start in 0..len {
                for end in start + 1..=len {
                    let (out, error) = decrypt(&store, &key, AAD, start as u64..end as u64).await;
                    assert!(error.is_none(), "{len}: {start}..{end}: {error:?}");
                    assert_eq!(out, &plain[start..end], "{len}: {start}..{end}");
                }
            }
            // Past the end: what exists, then the error; starting past the end: the error.
            let (out, error) = decrypt(&store, &key, AAD, 0..len as u64 + 1).await;
            assert_eq!(out, plain);
            assert!(
                matches!(error, Some(MediaError::OutOfRange { .. })),
                "{error:?}"
            );
            let (out, error) = decrypt(&store, &key, AAD, len as u64..len as u64 + 3).await;
            assert!(out.is_empty());
            assert!(
                matches!(error, Some(MediaError::OutOfRange { .. })),
                "{error:?}"
            );
            let (_, error) = decrypt(&store, &key, AAD, 3..3).await;
            assert!(
                matches!(error, Some(MediaError::EmptyRange { .. })),
                "{error:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_empty_plaintext_is_a_header_and_an_empty_last_chunk() {
        let key = MediaKey::generate();
        let object = encrypt(&key, AAD, b"", CHUNK_SIZE, &[1]).await;
        assert_eq!(object.len() as u64, HEADER_LEN + TAG_LEN);
        assert_eq!(ciphertext_len(0), HEADER_LEN + TAG_LEN);
        assert_eq!(plaintext_len(HEADER_LEN + TAG_LEN).unwrap(), 0);
        let (store, name) = MemoryStore::with(&object);
        let store = MediaStoreRef(&store, name);
        let (out, error) = decrypt(&store, &key, AAD, 0..1).await;
        assert!(out.is_empty());
        assert!(
            matches!(error, Some(MediaError::OutOfRange { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn only_lengths_of_real_objects_have_a_plaintext_length() {
        // Every length up to five chunks, for small chunk sizes: a length has a plaintext
        // length exactly when some plaintext encrypts to it.
        for chunk in [1u32, 2, 16, 100] {
            let limit = 5 * u64::from(chunk) + 3;
            let expected: HashMap<u64, u64> = (0..=limit)
                .map(|plain| (ciphertext_len_with(plain, chunk), plain))
                .collect();
            for len in 0..ciphertext_len_with(limit, chunk) {
                assert_eq!(
                    plaintext_len_with(len, chunk).ok(),
                    expected.get(&len).copied(),
                    "chunk {chunk}, len {len}"
                );
            }
        }
        // This build's chunk size, around the boundaries and far out.
        let chunk = u64::from(CHUNK_SIZE);
        for plain in [
            0,
            1,
            chunk - 1,
            chunk,
            chunk + 1,
            7 * chunk,
            1 << 31,
            1 << 40,
        ] {
            assert_eq!(plaintext_len(ciphertext_len(plain)).unwrap(), plain);
        }
        for len in [
            0,
            HEADER_LEN,
            HEADER_LEN + TAG_LEN - 1,
            HEADER_LEN + chunk + 2 * TAG_LEN,
        ] {
            assert!(
                matches!(plaintext_len(len), Err(MediaError::InvalidLength { len: l }) if l == len),
                "{len}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_range_of_any_object_decrypts_to_its_slice(
            len in 1usize..300,
            chunk in 1u32..40,
            frames in proptest::collection::vec(1usize..70, 1..6),
            range in (0usize..300, 1usize..300),
        ) {
            let start = range.0 % len;
            let end = start + 1 + range.1 % (len - start);
            let runtime = runtime();
            let key = MediaKey::generate();
            let plain = plaintext(len);
            let object = runtime.block_on(encrypt(&key, AAD, &plain, chunk, &frames));
            prop_assert_eq!(object.len() as u64, ciphertext_len_with(len as u64, chunk));
            prop_assert_eq!(plaintext_len_with(object.len() as u64, chunk).unwrap(), len as u64);
            let (store, name) = MemoryStore::with(&object);
            let store = MediaStoreRef(&store, name);
            let (out, error) =
                runtime.block_on(decrypt(&store, &key, AAD, start as u64..end as u64));
            prop_assert!(error.is_none(), "{:?}", error);
            prop_assert_eq!(out, &plain[start..end]);
        }
    }

    /// A 4-chunk object of chunk size 16, its plaintext and its chunks' ciphertext.
    async fn sample(key: &MediaKey, aad: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let plain = plaintext(16 * 3 + 5);
        let object = encrypt(key, aad, &plain, 16, &[7]).await;
        (plain, object)
    }

    const CHUNK: usize = 16 + 16;
    const HEADER: usize = HEADER_LEN as usize;

    fn chunk_at(object: &[u8], index: usize) -> std::ops::Range<usize> {
        let start = HEADER + index * CHUNK;
        start..(start + CHUNK).min(object.len())
    }

    /// Decrypts all of `object`, which must fail with `Unauthentic` at `chunk` after yielding
    /// exactly the plaintext of the chunks before it.
    async fn assert_unauthentic_at(
        object: &[u8],
        key: &MediaKey,
        aad: &[u8],
        plain: &[u8],
        chunk: u64,
    ) {
        let (store, name) = MemoryStore::with(object);
        let store = MediaStoreRef(&store, name);
        let (out, error) = decrypt(&store, key, aad, 0..plain.len() as u64).await;
        match error {
            Some(MediaError::Unauthentic { chunk: found }) => assert_eq!(found, chunk),
            other => panic!("expected chunk {chunk} to be unauthentic, got {other:?}"),
        }
        assert_eq!(out, &plain[..16 * chunk as usize]);
    }

    #[tokio::test]
    async fn a_flipped_byte_anywhere_is_caught() {
        let key = MediaKey::generate();
        let (plain, object) = sample(&key, AAD).await;
        for position in 0..object.len() {
            let mut tampered = object.clone();
            tampered[position] ^= 0x01;
            let (store, name) = MemoryStore::with(&tampered);
            let store = MediaStoreRef(&store, name);
            let (out, error) = decrypt(&store, &key, AAD, 0..plain.len() as u64).await;
            assert!(
                error.is_some(),
                "a flipped byte at {position} went unnoticed"
            );
            if position < HEADER {
                // The header: refused as a format, or no chunk authenticates.
                assert!(out.is_empty(), "{position}");
            } else {
                let chunk = (position - HEADER) / CHUNK;
                assert!(
                    matches!(error, Some(MediaError::Unauthentic { chunk: c }) if c == chunk as u64),
                    "{position}: {error:?}"
                );
                assert_eq!(out, &plain[..16 * chunk]);
            }
        }
    }

    #[tokio::test]
    async fn swapped_dropped_and_duplicated_chunks_are_caught() {
        let key = MediaKey::generate();
        let (plain, object) = sample(&key, AAD).await;
        let chunks: Vec<&[u8]> = (0..4).map(|i| &object[chunk_at(&object, i)]).collect();
        let rebuild = |order: &[usize]| {
            let mut out = object[..HEADER].to_vec();
            for i in order {
                out.extend_from_slice(chunks[*i]);
            }
            out
        };
        assert_eq!(rebuild(&[0, 1, 2, 3]), object);
        assert_unauthentic_at(&rebuild(&[1, 0, 2, 3]), &key, AAD, &plain, 0).await;
        assert_unauthentic_at(&rebuild(&[0, 2, 1, 3]), &key, AAD, &plain, 1).await;
        // Chunk 1 dropped: chunk 2 sits at index 1.
        assert_unauthentic_at(&rebuild(&[0, 2, 3]), &key, AAD, &plain, 1).await;
        // Chunk 1 twice.
        assert_unauthentic_at(&rebuild(&[0, 1, 1, 2, 3]), &key, AAD, &plain, 2).await;
    }

    #[tokio::test]
    async fn truncation_is_caught_even_at_a_chunk_boundary() {
        let key = MediaKey::generate();
        let (plain, object) = sample(&key, AAD).await;
        // Inside the last chunk, inside its tag, and exactly at the boundary before it.
        for cut in [object.len() - 1, object.len() - 17, HEADER + 3 * CHUNK] {
            let truncated = &object[..cut];
            let (store, name) = MemoryStore::with(truncated);
            let store = MediaStoreRef(&store, name);
            let (out, error) = decrypt(&store, &key, AAD, 0..plain.len() as u64).await;
            assert!(
                matches!(error, Some(MediaError::Unauthentic { chunk: 2 | 3 })),
                "cut at {cut}: {error:?}"
            );
            assert!(out.len() <= 48 && out == plain[..out.len()], "cut at {cut}");
        }
        // Two whole chunks gone: the new last chunk was not sealed as the last.
        assert_unauthentic_at(&object[..HEADER + 2 * CHUNK], &key, AAD, &plain, 1).await;
        // Bytes appended after the last chunk.
        let mut extended = object.clone();
        extended.extend_from_slice(&[0; 20]);
        assert_unauthentic_at(&extended, &key, AAD, &plain, 3).await;
        // Both cut lengths are those of real objects: only the last-chunk flag tells.
        assert!(plaintext_len_with((HEADER + 3 * CHUNK) as u64, 16).is_ok());
        assert!(plaintext_len_with((object.len() - 1) as u64, 16).is_ok());
    }

    #[tokio::test]
    async fn a_chunk_of_another_object_key_or_recording_does_not_decrypt() {
        let key = MediaKey::generate();
        let (plain, object) = sample(&key, AAD).await;
        // The same plaintext uploaded again under the same key and recording (a retry).
        let (_, again) = sample(&key, AAD).await;
        assert_ne!(object, again, "each object has its own salt");
        let mut spliced = object.clone();
        spliced[chunk_at(&object, 2)].copy_from_slice(&again[chunk_at(&again, 2)]);
        assert_unauthentic_at(&spliced, &key, AAD, &plain, 2).await;
        // The other object's header with this one's chunks.
        let mut reheaded = object.clone();
        reheaded[..HEADER].copy_from_slice(&again[..HEADER]);
        assert_unauthentic_at(&reheaded, &key, AAD, &plain, 0).await;
        // Another key, and the right key with another recording's associated data.
        assert_unauthentic_at(&object, &MediaKey::generate(), AAD, &plain, 0).await;
        assert_unauthentic_at(&object, &key, b"tenant acme, recording 0191", &plain, 0).await;
        assert_unauthentic_at(&object, &key, b"", &plain, 0).await;
    }

    #[tokio::test]
    async fn a_header_of_another_format_is_refused() {
        let key = MediaKey::generate();
        let (plain, object) = sample(&key, AAD).await;
        for (position, value) in [(0, b'X'), (8, 2), (9, 0xff), (12, 0)] {
            let mut tampered = object.clone();
            tampered[position] = value;
            let (store, name) = MemoryStore::with(&tampered);
            let store = MediaStoreRef(&store, name);
            let (_, error) = decrypt(&store, &key, AAD, 0..plain.len() as u64).await;
            assert!(
                matches!(error, Some(MediaError::UnsupportedFormat)),
                "{position}: {error:?}"
            );
        }
        let (store, name) = MemoryStore::with(&object[..HEADER - 1]);
        let store = MediaStoreRef(&store, name);
        let (_, error) = decrypt(&store, &key, AAD, 0..1).await;
        assert!(
            matches!(error, Some(MediaError::InvalidLength { .. })),
            "{error:?}"
        );
        let missing = MediaStoreRef(store.0, BlobKey::parse("t/other").unwrap());
        let (_, error) = decrypt(&missing, &key, AAD, 0..1).await;
        assert!(
            matches!(error, Some(MediaError::NotFound { .. })),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_input_error_is_passed_on_and_ends_the_stream() {
        let key = MediaKey::generate();
        let input = stream::iter(vec![
            Ok(Bytes::from(vec![1; 100_000])),
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            )),
            Ok(Bytes::from(vec![2; 10])),
        ]);
        let stream = encrypt_stream(&key, AAD, input);
        let items: Vec<_> = stream.collect().await;
        assert!(items.len() >= 2);
        let (last, before) = items.split_last().unwrap();
        assert!(before.iter().all(Result::is_ok));
        assert_eq!(
            last.as_ref().unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
    }

    #[test]
    fn a_media_key_shows_nothing() {
        let key = MediaKey::generate();
        assert_eq!(format!("{key:?}"), "MediaKey(..)");
        let message = MediaError::Unauthentic { chunk: 3 }.to_string();
        assert_eq!(message, "chunk 3 of the media does not authenticate");
    }
}
