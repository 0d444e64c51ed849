//! An upload's structure, from its first byte to its last: every byte must belong to the
//! container its first bytes announce, up to the end that container declares, and nothing may
//! follow. Symphonia demuxes the packets (`probe.rs`), but it forgives what it does not
//! understand: it searches past anything that precedes a container, resynchronises over bytes
//! between frames, and stops at a WAV's `data` chunk without looking further. So each
//! container is also walked here, by its own framing, as the bytes stream past:
//!
//! - WAV: the RIFF header's size is the file's size; every chunk lies within it; one `fmt `,
//!   then one `data` chunk of whole frames; other chunks only the usual metadata, at most
//!   [`MAX_METADATA`] bytes of them.
//! - Ogg: pages back to back, each with its CRC checked, every logical stream ended by its
//!   end-of-stream page, nothing after the last.
//! - MP3: an optional ID3v2 tag of at most [`MAX_METADATA`] bytes, then frames back to back
//!   (each frame's length from its header), then an optional ID3v1 tag, then nothing.
//! - FLAC: `fLaC`, metadata blocks (at most [`MAX_METADATA`] bytes but for the seek table),
//!   then frames; the frames' bytes must be exactly the packets symphonia demuxed.
//! - MP4/M4A: top-level boxes back to back to the end, `ftyp` first, only the boxes a media
//!   file has, free space and metadata at most [`MAX_METADATA`] bytes.
//! - WebM/Matroska: the EBML header, then one segment whose elements are those of a media
//!   file (no attachments), clusters walked down to their blocks, nothing after its end.

use std::collections::HashSet;

/// The most bytes of metadata (tags, free space, anything not audio or its framing) an
/// upload may carry: enough for a recorder's tags, too little to smuggle a file in.
pub(crate) const MAX_METADATA: u64 = 256 * 1024;
/// The longest header a walker needs to see at once (an Ogg page is at most 65,307 bytes).
const MAX_HEAD: usize = 70 * 1024;

/// A skip of everything to the end of the stream.
const TO_END: u64 = u64::MAX;

/// Why the bytes are not the container they announce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ShapeError {
    /// Bytes follow the end the container declares.
    #[error("bytes follow the end of the audio")]
    Trailing,
    /// The structure is broken, in words a person can read.
    #[error("{0}")]
    Malformed(&'static str),
}

/// What a walker makes of the bytes at its position.
enum Step {
    /// The header is not all there yet.
    NeedMore,
    /// A header of `len` bytes, then `skip` bytes the walker need not see ([`TO_END`]: all
    /// that follows).
    Header { len: usize, skip: u64 },
}

/// A container's framing, one header at a time.
trait Framing: Send {
    /// Looks at the bytes at `offset` (as many as have arrived, at least one).
    fn step(&mut self, offset: u64, bytes: &[u8]) -> Result<Step, ShapeError>;
    /// The stream ended at `offset`, after whole headers and skips.
    fn finish(&mut self, offset: u64) -> Result<(), ShapeError>;
    /// Where the frames begin, for a container whose frames carry no length (FLAC).
    fn frames_start(&self) -> Option<u64> {
        None
    }
}

/// Feeds a stream to a container's [`Framing`], a slice at a time.
pub(crate) struct Shape {
    framing: Box<dyn Framing>,
    pending: Vec<u8>,
    skip: u64,
    offset: u64,
    failed: Option<ShapeError>,
}

impl Shape {
    fn new(framing: impl Framing + 'static) -> Self {
        Self {
            framing: Box::new(framing),
            pending: Vec::new(),
            skip: 0,
            offset: 0,
            failed: None,
        }
    }

    pub(crate) fn wav() -> Self {
        Self::new(Wav::default())
    }

    pub(crate) fn ogg() -> Self {
        Self::new(Ogg::default())
    }

    pub(crate) fn mp3() -> Self {
        Self::new(Mp3::default())
    }

    pub(crate) fn flac() -> Self {
        Self::new(Flac::default())
    }

    pub(crate) fn mp4() -> Self {
        Self::new(Mp4::default())
    }

    pub(crate) fn matroska() -> Self {
        Self::new(Matroska::default())
    }

    /// Where the audio's frames begin, for the containers whose frames are only delimited by
    /// decoding them (FLAC): the bytes from there to the end must be the demuxed packets.
    pub(crate) fn frames_start(&self) -> Option<u64> {
        self.framing.frames_start()
    }

    /// The next bytes of the stream. After an error, the first error is kept and returned.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(), ShapeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.feed_inner(input);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn feed_inner(&mut self, input: &[u8]) -> Result<(), ShapeError> {
        if self.skip == TO_END {
            self.offset += input.len() as u64;
            return Ok(());
        }
        let mut input = input;
        // Skipped bytes are never copied.
        if self.pending.is_empty() && self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(input.len());
            self.skip -= n as u64;
            self.offset += n as u64;
            input = &input[n..];
        }
        if input.is_empty() {
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        let mut at = 0;
        loop {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(self.pending.len() - at);
                self.skip -= n as u64;
                self.offset += n as u64;
                at += n;
            }
            if at == self.pending.len() {
                break;
            }
            match self.framing.step(self.offset, &self.pending[at..])? {
                Step::NeedMore => {
                    if self.pending.len() - at > MAX_HEAD {
                        return Err(ShapeError::Malformed("a header is impossibly long"));
                    }
                    break;
                }
                Step::Header { len, skip } => {
                    at += len;
                    self.offset += len as u64;
                    self.skip = skip;
                    if skip == TO_END {
                        self.offset += (self.pending.len() - at) as u64;
                        at = self.pending.len();
                        break;
                    }
                }
            }
        }
        self.pending.drain(..at);
        Ok(())
    }

    /// The stream has ended: whether it ended where its container says.
    pub(crate) fn finish(&mut self) -> Result<u64, ShapeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.skip > 0 && self.skip != TO_END || !self.pending.is_empty() {
            return Err(ShapeError::Malformed(
                "the file ends before the end its structure declares",
            ));
        }
        self.framing.finish(self.offset)?;
        Ok(self.offset)
    }
}

fn u16_le(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn u32_be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Adds metadata bytes to a running total, refusing more than [`MAX_METADATA`].
fn metadata(total: &mut u64, len: u64) -> Result<(), ShapeError> {
    *total = total.saturating_add(len);
    if *total > MAX_METADATA {
        return Err(ShapeError::Malformed(
            "it carries more than 256 KiB of metadata",
        ));
    }
    Ok(())
}

/// RIFF/WAVE.
#[derive(Default)]
struct Wav {
    /// The file's end, from the RIFF header.
    end: Option<u64>,
    block_align: Option<u16>,
    data: bool,
    metadata: u64,
}

/// The chunks a WAV file carries besides `fmt ` and `data`: metadata, cue points, padding.
const WAV_METADATA: [&[u8; 4]; 14] = [
    b"fact", b"LIST", b"cue ", b"bext", b"iXML", b"smpl", b"inst", b"id3 ", b"ID3 ", b"PEAK",
    b"JUNK", b"junk", b"PAD ", b"acid",
];

impl Framing for Wav {
    fn step(&mut self, offset: u64, bytes: &[u8]) -> Result<Step, ShapeError> {
        let Some(end) = self.end else {
            if bytes.len() < 12 {
                return Ok(Step::NeedMore);
            }
            if &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
                return Err(ShapeError::Malformed("it is not a RIFF/WAVE file"));
            }
            let size = u32_le(&bytes[4..8]);
            if size == 0 || size == u32::MAX {
                return Err(ShapeError::Malformed(
                    "its header does not say how long the file is (a recording that was not finished?)",
                ));
            }
            self.end = Some(8 + u64::from(size));
            return Ok(Step::Header { len: 12, skip: 0 });
        };
        if offset >= end {
            return Err(ShapeError::Trailing);
        }
        if bytes.len() < 8 {
            return Ok(Step::NeedMore);
        }
        let id = &bytes[..4];
        let size = u64::from(u32_le(&bytes[4..8]));
        let body_end = offset + 8 + size;
        if body_end > end {
            return Err(ShapeError::Malformed(
                "a chunk runs past the end the WAV header declares",
            ));
        }
        // A chunk of odd size is followed by a pad byte, unless it ends the file.
        let pad = u64::from(size % 2 == 1 && body_end < end);
        if id == b"fmt " {
            if self.block_align.is_some() || !(16..=1024).contains(&size) {
                return Err(ShapeError::Malformed("its format chunk is malformed"));
            }
            let len = 8 + size as usize;
            if bytes.len() < len {
                return Ok(Step::NeedMore);
            }
            let block_align = u16_le(&bytes[20..22]);
            if block_align == 0 {
                return Err(ShapeError::Malformed("its format chunk is malformed"));
            }
            self.block_align = Some(block_align);
            return Ok(Step::Header { len, skip: pad });
        }
        if id == b"data" {
            let Some(block_align) = self.block_align else {
                return Err(ShapeError::Malformed(
                    "its audio comes before its format chunk",
                ));
            };
            if self.data {
                return Err(ShapeError::Malformed("it has more than one data chunk"));
            }
            if size % u64::from(block_align) != 0 {
                return Err(ShapeError::Malformed(
                    "its audio is not a whole number of sample frames",
                ));
            }
            self.data = true;
            return Ok(Step::Header {
                len: 8,
                skip: size + pad,
            });
        }
        if !WAV_METADATA.iter().any(|known| id == *known) {
            return Err(ShapeError::Malformed(
                "it holds a chunk that is neither audio nor its metadata",
            ));
        }
        metadata(&mut self.metadata, size)?;
        Ok(Step::Header {
            len: 8,
            skip: size + pad,
        })
    }

    fn finish(&mut self, offset: u64) -> Result<(), ShapeError> {
        if self.end != Some(offset) {
            return Err(ShapeError::Malformed(
                "the file is shorter than its header declares",
            ));
        }
        if !self.data {
            return Err(ShapeError::Malformed("it has no audio data"));
        }
        Ok(())
    }
}

/// Ogg pages (RFC 3533).
#[derive(Default)]
struct Ogg {
    /// Logical streams begun and not yet ended.
    open: HashSet<u32>,
    pages: u64,
}

/// The Ogg CRC-32: polynomial 0x04C11DB7, not reflected, starting at zero.
fn ogg_crc(bytes: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &byte in bytes {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

impl Framing for Ogg {
    fn step(&mut self, _offset: u64, bytes: &[u8]) -> Result<Step, ShapeError> {
        let head = bytes.len().min(4);
        if bytes[..head] != b"OggS"[..head] {
            return Err(if self.pages > 0 && self.open.is_empty() {
                ShapeError::Trailing
            } else {
                ShapeError::Malformed("bytes lie between its Ogg pages")
            });
        }
        if bytes.len() < 27 {
            return Ok(Step::NeedMore);
        }
        let segments = usize::from(bytes[26]);
        if bytes.len() < 27 + segments {
            return Ok(Step::NeedMore);
        }
        let body: usize = bytes[27..27 + segments]
            .iter()
            .map(|&s| usize::from(s))
            .sum();
        let len = 27 + segments + body;
        if bytes.len() < len {
            return Ok(Step::NeedMore);
        }
        if bytes[4] != 0 {
            return Err(ShapeError::Malformed("an Ogg page has an unknown version"));
        }
        let mut page = bytes[..len].to_vec();
        let stored = u32_le(&page[22..26]);
        page[22..26].fill(0);
        if ogg_crc(&page) != stored {
            return Err(ShapeError::Malformed("an Ogg page fails its checksum"));
        }
        let flags = bytes[5];
        let serial = u32_le(&bytes[14..18]);
        if flags & 0x02 != 0 && !self.open.insert(serial) {
            return Err(ShapeError::Malformed("an Ogg stream begins twice"));
        }
        if !self.open.contains(&serial) {
            return Err(ShapeError::Malformed(
                "an Ogg page belongs to no stream that has begun",
            ));
        }
        if flags & 0x04 != 0 {
            self.open.remove(&serial);
        }
        self.pages += 1;
        Ok(Step::Header { len, skip: 0 })
    }

    fn finish(&mut self, _offset: u64) -> Result<(), ShapeError> {
        if self.pages == 0 || !self.open.is_empty() {
            return Err(ShapeError::Malformed(
                "its Ogg stream does not end with an end-of-stream page",
            ));
        }
        Ok(())
    }
}

/// MPEG audio frames, with ID3 tags around them.
#[derive(Default)]
struct Mp3 {
    frames: u64,
    /// An ID3v1 tag was read: it is the last thing in the file.
    ended: bool,
    metadata: u64,
}

/// The length in bytes of the MPEG audio frame whose header is `h`, if it is one.
fn mpeg_frame_len(h: &[u8]) -> Option<u64> {
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 0b11; // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1.
    let layer = (h[1] >> 1) & 0b11; // 1: III, 2: II, 3: I.
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 0b11);
    let padding = u64::from((h[2] >> 1) & 1);
    if version == 1 || layer == 0 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1_L1: [u64; 15] = [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ];
    const V1_L2: [u64; 15] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ];
    const V1_L3: [u64; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2_L1: [u64; 15] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ];
    const V2_L23: [u64; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let mpeg1 = version == 3;
    let kbps = match (mpeg1, layer) {
        (true, 3) => V1_L1,
        (true, 2) => V1_L2,
        (true, _) => V1_L3,
        (false, 3) => V2_L1,
        (false, _) => V2_L23,
    }[bitrate_index];
    let rate = [44_100u64, 48_000, 32_000][rate_index]
        / match version {
            3 => 1,
            2 => 2,
            _ => 4,
        };
    let bitrate = kbps * 1000;
    Some(match layer {
        3 => (12 * bitrate / rate + padding) * 4,
        1 if !mpeg1 => 72 * bitrate / rate + padding,
        _ => 144 * bitrate / rate + padding,
    })
}

impl Framing for Mp3 {
    fn step(&mut self, offset: u64, bytes: &[u8]) -> Result<Step, ShapeError> {
        if self.ended {
            return Err(ShapeError::Trailing);
        }
        if bytes.len() < 4 {
            return Ok(Step::NeedMore);
        }
        if offset == 0 && &bytes[..3] == b"ID3" {
            if bytes.len() < 10 {
                return Ok(Step::NeedMore);
            }
            if bytes[6..10].iter().any(|b| b & 0x80 != 0) {
                return Err(ShapeError::Malformed("its ID3 tag is malformed"));
            }
            let size = bytes[6..10]
                .iter()
                .fold(0u64, |n, &b| (n << 7) | u64::from(b));
            let footer = if bytes[5] & 0x10 != 0 { 10 } else { 0 };
            metadata(&mut self.metadata, size + footer)?;
            return Ok(Step::Header {
                len: 10,
                skip: size + footer,
            });
        }
        if self.frames > 0 && &bytes[..3] == b"TAG" {
            if bytes.len() < 128 {
                return Ok(Step::NeedMore);
            }
            self.ended = true;
            return Ok(Step::Header { len: 128, skip: 0 });
        }
        match mpeg_frame_len(bytes) {
            Some(len) if len > 4 => {
                self.frames += 1;
                Ok(Step::Header {
                    len: 4,
                    skip: len - 4,
                })
            }
            _ if self.frames > 0 => Err(ShapeError::Trailing),
            _ => Err(ShapeError::Malformed(
                "its first MPEG audio frame is malformed",
            )),
        }
    }

    fn finish(&mut self, _offset: u64) -> Result<(), ShapeError> {
        if self.frames == 0 {
            return Err(ShapeError::Malformed("it has no MPEG audio frames"));
        }
        Ok(())
    }
}

/// FLAC: the metadata blocks are walked here; the frames are delimited by demuxing them.
#[derive(Default)]
struct Flac {
    /// Where the frames begin, once the last metadata block has been read.
    frames_start: Option<u64>,
    metadata: u64,
}

impl Framing for Flac {
    fn step(&mut self, offset: u64, bytes: &[u8]) -> Result<Step, ShapeError> {
        if offset == 0 {
            if bytes.len() < 4 {
                return Ok(Step::NeedMore);
            }
            if &bytes[..4] != b"fLaC" {
                return Err(ShapeError::Malformed("it is not a FLAC stream"));
            }
            return Ok(Step::Header { len: 4, skip: 0 });
        }
        if self.frames_start.is_some() {
            // Frames are not delimited by a length; `probe` accounts for them.
            return Ok(Step::Header {
                len: 0,
                skip: TO_END,
            });
        }
        if bytes.len() < 4 {
            return Ok(Step::NeedMore);
        }
        let last = bytes[0] & 0x80 != 0;
        let kind = bytes[0] & 0x7F;
        let size = u64::from(u32_be(&[0, bytes[1], bytes[2], bytes[3]]));
        if kind == 127 {
            return Err(ShapeError::Malformed("a FLAC metadata block is invalid"));
        }
        // The seek table grows with the recording; everything else is metadata.
        if kind != 3 && kind != 0 {
            metadata(&mut self.metadata, size)?;
        }
        if last {
            self.frames_start = Some(offset + 4 + size);
        }
        Ok(Step::Header { len: 4, skip: size })
    }

    fn finish(&mut self, _offset: u64) -> Result<(), ShapeError> {
        if self.frames_start.is_none() {
            return Err(ShapeError::Malformed("it has no FLAC frames"));
        }
        Ok(())
    }

    fn frames_start(&self) -> Option<u64> {
        self.frames_start
    }
}

/// ISO base media (MP4, M4A): the top-level boxes.
#[derive(Default)]
struct Mp4 {
    boxes: u64,
    /// A box that runs to the end of the file was read.
    to_end: bool,
    metadata: u64,
}

impl Framing for Mp4 {
    fn step(&mut self, _offset: u64, bytes: &[u8]) -> Result<Step, ShapeError> {
        if self.to_end {
            return Err(ShapeError::Trailing);
        }
        if bytes.len() < 16 {
            // A box header is 8 bytes, or 16 with a 64-bit size; the last box may be short.
            if bytes.len() < 8 || u32_be(&bytes[..4]) == 1 {
                return Ok(Step::NeedMore);
            }
        }
        let kind: [u8; 4] = [bytes[4], bytes[5], bytes[6], bytes[7]];
        let (header, size) = match u32_be(&bytes[..4]) {
            0 => (8u64, None),
            1 => (
                16,
                Some(u64::from_be_bytes(
                    bytes[8..16].try_into().unwrap_or([0; 8]),
                )),
            ),
            n => (8, Some(u64::from(n))),
        };
        if size.is_some_and(|s| s < header) {
            return Err(ShapeError::Malformed("an MP4 box has an impossible size"));
        }
        if self.boxes == 0 && &kind != b"ftyp" {
            return Err(ShapeError::Malformed(
                "it does not begin with an MP4 file type box",
            ));
        }
        self.boxes += 1;
        let body = size.map(|s| s - header);
        match &kind {
            b"ftyp" | b"styp" | b"moov" | b"mdat" | b"moof" | b"mfra" | b"sidx" | b"prft"
            | b"emsg" => {}
            b"free" | b"skip" | b"wide" | b"udta" | b"meta" | b"pdin" | b"uuid" => {
                metadata(&mut self.metadata, body.unwrap_or(u64::MAX))?;
            }
            _ => {
                return Err(ShapeError::Malformed(
                    "it holds an MP4 box that a media file does not have",
                ));
            }
        }
        Ok(match body {
            Some(body) => Step::Header {
                len: header as usize,
                skip: body,
            },
            None => {
                self.to_end = true;
                Step::Header {
                    len: header as usize,
                    skip: TO_END,
                }
            }
        })
    }

    fn finish(&mut self, _offset: u64) -> Result<(), ShapeError> {
        if self.boxes == 0 {
            return Err(ShapeError::Malformed("it has no MP4 boxes"));
        }
        Ok(())
    }
}

/// Matroska and WebM: EBML elements.
#[derive(Default)]
struct Matroska {
    header: bool,
    /// The segment's end, once begun (`None` inside it: unknown size, to the end of the file).
    segment: Option<Option<u64>>,
    /// The current cluster's end, while inside one (`None`: unknown size).
    cluster: Option<Option<u64>>,
    metadata: u64,
}

const EBML_HEADER: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1F43_B675;
const VOID: u32 = 0xEC;
const CRC32: u32 = 0xBF;
/// A segment's children besides clusters, other than attachments (a file inside the file).
const SEGMENT_CHILDREN: [u32; 6] = [
    0x114D_9B74, // SeekHead
    0x1549_A966, // Info
    0x1654_AE6B, // Tracks
    0x1C53_BB6B, // Cues
    0x1043_A770, // Chapters
    0x1254_C367, // Tags
];
/// A cluster's children.
const CLUSTER_CHILDREN: [u32; 7] = [
    0xE7,   // Timestamp
    0xA3,   // SimpleBlock
    0xA0,   // BlockGroup
    0xA7,   // Position
    0xAB,   // PrevSize
    0x5854, // SilentTracks
    0xAF,   // EncryptedBlock
];

/// An EBML variable-length integer: (its length, its value with the marker bit kept for ids
/// and cleared for sizes, whether every value bit is one — an unknown size).
fn vint(bytes: &[u8], keep_marker: bool) -> Result<Option<(usize, u64, bool)>, ShapeError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return Err(ShapeError::Malformed("a Matroska element is malformed"));
    }
    if bytes.len() < len {
        return Ok(None);
    }
    // The value bits of the first byte (none when the integer is 8 bytes long).
    let value_bits = (0xFFu16 >> len) as u8;
    let mut value = u64::from(if keep_marker {
        first
    } else {
        first & value_bits
    });
    let mut all_ones = first | !value_bits == 0xFF;
    for &b in &bytes[1..len] {
        value = (value << 8) | u64::from(b);
        all_ones &= b == 0xFF;
    }
    Ok(Some((len, value, all_ones)))
}

impl Framing for Matroska {
    fn step(&mut self, offset: u64, bytes: &[u8]) -> Result<Step, ShapeError> {
        // Leave a cluster or the segment whose known end is here.
        if self.cluster.is_some_and(|end| end == Some(offset)) {
            self.cluster = None;
        }
        if self
            .segment
            .is_some_and(|end| end.is_some_and(|end| offset >= end))
        {
            return Err(ShapeError::Trailing);
        }
        let Some((id_len, id, _)) = vint(bytes, true)? else {
            return Ok(Step::NeedMore);
        };
        if id_len > 4 {
            return Err(ShapeError::Malformed("a Matroska element is malformed"));
        }
        let Some((size_len, size, unknown)) = vint(&bytes[id_len..], false)? else {
            return Ok(Step::NeedMore);
        };
        let len = id_len + size_len;
        let id = id as u32;
        let known = (!unknown).then_some(size);
        let end = known.map(|size| offset + len as u64 + size);
        let within = |outer: Option<u64>| match (outer, end) {
            (Some(outer), Some(end)) => end <= outer,
            // An element of unknown size (a cluster) ends where its children do, and they are
            // checked against the outer end.
            (_, None) | (None, _) => true,
        };
        if !self.header {
            if id != EBML_HEADER || known.is_none() {
                return Err(ShapeError::Malformed(
                    "it does not begin with an EBML header",
                ));
            }
            self.header = true;
            return Ok(Step::Header { len, skip: size });
        }
        let Some(segment_end) = self.segment else {
            if id != SEGMENT {
                return Err(ShapeError::Malformed(
                    "its EBML header is not followed by a segment",
                ));
            }
            self.segment = Some(end);
            return Ok(Step::Header { len, skip: 0 });
        };
        if !within(segment_end) {
            return Err(ShapeError::Malformed(
                "an element runs past the end of its segment",
            ));
        }
        if let Some(cluster_end) = self.cluster {
            if CLUSTER_CHILDREN.contains(&id) || id == VOID || id == CRC32 {
                let Some(size) = known else {
                    return Err(ShapeError::Malformed("a block has no size"));
                };
                if !within(cluster_end) {
                    return Err(ShapeError::Malformed(
                        "a block runs past the end of its cluster",
                    ));
                }
                return Ok(Step::Header { len, skip: size });
            }
            if cluster_end.is_some() {
                return Err(ShapeError::Malformed(
                    "a cluster holds an element that is not a block",
                ));
            }
            // A cluster of unknown size ends where the segment's next child begins.
            self.cluster = None;
        }
        if id == CLUSTER {
            self.cluster = Some(end);
            return Ok(Step::Header { len, skip: 0 });
        }
        let Some(size) = known else {
            return Err(ShapeError::Malformed(
                "an element other than a cluster has no size",
            ));
        };
        if SEGMENT_CHILDREN.contains(&id) {
            // Tags and chapters are metadata; the others describe the media.
            if id == 0x1254_C367 || id == 0x1043_A770 {
                metadata(&mut self.metadata, size)?;
            }
        } else if id == VOID || id == CRC32 {
            metadata(&mut self.metadata, size)?;
        } else {
            return Err(ShapeError::Malformed(
                "its segment holds an element that a media file does not have",
            ));
        }
        Ok(Step::Header { len, skip: size })
    }

    fn finish(&mut self, offset: u64) -> Result<(), ShapeError> {
        match self.segment {
            None => Err(ShapeError::Malformed("it has no Matroska segment")),
            Some(Some(end)) if end != offset => Err(ShapeError::Malformed(
                "the file is shorter than its segment declares",
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `piece` bytes and says whether the whole is well formed.
    fn walk(mut shape: Shape, bytes: &[u8], piece: usize) -> Result<u64, ShapeError> {
        for part in bytes.chunks(piece) {
            shape.feed(part)?;
        }
        shape.finish()
    }

    /// Walks `bytes` fed in pieces of several sizes, each giving the same answer.
    fn walked(make: fn() -> Shape, bytes: &[u8]) -> Result<u64, ShapeError> {
        let whole = walk(make(), bytes, bytes.len().max(1));
        for piece in [1, 3, 7, 64, 4096] {
            assert_eq!(walk(make(), bytes, piece), whole, "in pieces of {piece}");
        }
        whole
    }

    const JUNK: &[u8] = b"<!doctype html><html><body>not audio</body></html>";

    fn ogg_page(serial: u32, sequence: u32, flags: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 255);
        let mut page = b"OggS\0".to_vec();
        page.push(flags);
        page.extend_from_slice(&0u64.to_le_bytes());
        page.extend_from_slice(&serial.to_le_bytes());
        page.extend_from_slice(&sequence.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(1);
        page.push(body.len() as u8);
        page.extend_from_slice(body);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        page
    }

    #[test]
    fn ogg_pages_back_to_back_each_stream_ended_and_nothing_after() {
        let ogg = [
            ogg_page(7, 0, 0x02, b"first"),
            ogg_page(7, 1, 0x00, b"middle"),
            ogg_page(7, 2, 0x04, b"last"),
        ]
        .concat();
        assert_eq!(walked(Shape::ogg, &ogg), Ok(ogg.len() as u64));
        assert_eq!(
            walked(Shape::ogg, &[ogg.as_slice(), JUNK].concat()),
            Err(ShapeError::Trailing)
        );
        let unended = [ogg_page(7, 0, 0x02, b"first"), ogg_page(7, 1, 0, b"more")].concat();
        assert!(matches!(
            walked(Shape::ogg, &unended),
            Err(ShapeError::Malformed(_))
        ));
        let between = [
            ogg_page(7, 0, 0x02, b"first"),
            JUNK.to_vec(),
            ogg_page(7, 1, 0x04, b"last"),
        ]
        .concat();
        assert!(matches!(
            walked(Shape::ogg, &between),
            Err(ShapeError::Malformed(_))
        ));
        let mut altered = ogg.clone();
        altered[30] ^= 1;
        assert!(matches!(
            walked(Shape::ogg, &altered),
            Err(ShapeError::Malformed(_))
        ));
    }

    /// An MPEG-1 layer III frame at 128 kbit/s and 44.1 kHz: 417 bytes.
    fn mp3_frame() -> Vec<u8> {
        let mut frame = vec![0xFF, 0xFB, 0x90, 0x00];
        frame.resize(417, 0);
        frame
    }

    #[test]
    fn mp3_frames_back_to_back_between_their_tags() {
        let mut id3 = b"ID3\x04\0\0\0\0\0\x0a".to_vec();
        id3.extend_from_slice(&[0; 10]);
        let frames = [mp3_frame(), mp3_frame(), mp3_frame()].concat();
        let mut id3v1 = b"TAG".to_vec();
        id3v1.resize(128, b' ');
        let mp3 = [id3.as_slice(), &frames, &id3v1].concat();
        assert_eq!(walked(Shape::mp3, &mp3), Ok(mp3.len() as u64));
        assert_eq!(walked(Shape::mp3, &frames), Ok(frames.len() as u64));
        assert_eq!(
            walked(Shape::mp3, &[mp3.as_slice(), JUNK].concat()),
            Err(ShapeError::Trailing)
        );
        assert_eq!(
            walked(Shape::mp3, &[frames.as_slice(), &[0x55; 1000]].concat()),
            Err(ShapeError::Trailing)
        );
        let between = [mp3_frame().as_slice(), JUNK, &mp3_frame()].concat();
        assert_eq!(walked(Shape::mp3, &between), Err(ShapeError::Trailing));
        let cut = &frames[..frames.len() - 10];
        assert!(matches!(
            walked(Shape::mp3, cut),
            Err(ShapeError::Malformed(_))
        ));
        let mut big_tag = b"ID3\x04\0\0\x7f\x7f\x7f\x7f".to_vec();
        big_tag.resize(1024, 0);
        assert!(matches!(
            walked(Shape::mp3, &big_tag),
            Err(ShapeError::Malformed(_))
        ));
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn mp4_boxes_back_to_back_to_the_end() {
        let m4a = [
            mp4_box(b"ftyp", b"M4A \0\0\0\0M4A isom"),
            mp4_box(b"moov", &[1; 500]),
            mp4_box(b"mdat", &[2; 5000]),
        ]
        .concat();
        assert_eq!(walked(Shape::mp4, &m4a), Ok(m4a.len() as u64));
        assert!(walked(Shape::mp4, &[m4a.as_slice(), JUNK].concat()).is_err());
        assert!(walked(Shape::mp4, &[m4a.as_slice(), &[0; 100_000]].concat()).is_err());
        let free = [m4a.clone(), mp4_box(b"free", &vec![0; 300 * 1024])].concat();
        assert!(matches!(
            walked(Shape::mp4, &free),
            Err(ShapeError::Malformed(_))
        ));
        let zip = [m4a.clone(), mp4_box(b"PK\x03\x04", &[0; 10])].concat();
        assert!(matches!(
            walked(Shape::mp4, &zip),
            Err(ShapeError::Malformed(_))
        ));
        // An `mdat` of size 0 runs to the end: nothing can follow it.
        let mut to_end = [
            mp4_box(b"ftyp", b"M4A \0\0\0\0"),
            mp4_box(b"moov", &[1; 50]),
        ]
        .concat();
        to_end.extend_from_slice(&[0, 0, 0, 0]);
        to_end.extend_from_slice(b"mdat");
        to_end.extend_from_slice(&[3; 1000]);
        assert_eq!(walked(Shape::mp4, &to_end), Ok(to_end.len() as u64));
    }

    /// An EBML element: a 1-byte size when short enough, else an 8-byte one.
    fn ebml(id: u32, body: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = id
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        if body.len() < 127 {
            out.push(0x80 | body.len() as u8);
        } else {
            out.push(0x01);
            out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
        }
        out.extend_from_slice(body);
        out
    }

    fn cluster_children() -> Vec<u8> {
        [ebml(0xE7, &[0]), ebml(0xA3, &[0x81, 0, 0, 0x80, 1, 2, 3])].concat()
    }

    #[test]
    fn matroska_elements_of_a_media_file_within_their_segment() {
        let header = ebml(EBML_HEADER, &ebml(0x4282, b"webm"));
        let segment_body = [
            ebml(0x1549_A966, &[0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]),
            ebml(0x1654_AE6B, &[0xAE, 0x80]),
            ebml(CLUSTER, &cluster_children()),
            ebml(CLUSTER, &cluster_children()),
        ]
        .concat();
        let webm = [header.clone(), ebml(SEGMENT, &segment_body)].concat();
        assert_eq!(walked(Shape::matroska, &webm), Ok(webm.len() as u64));
        assert_eq!(
            walked(Shape::matroska, &[webm.as_slice(), JUNK].concat()),
            Err(ShapeError::Trailing)
        );
        // As a browser's recorder writes it: the segment and clusters of unknown size.
        let unknown = |id: u32| {
            let mut out = id.to_be_bytes().to_vec();
            out.push(0xFF);
            out
        };
        let live = [
            header.clone(),
            unknown(SEGMENT),
            ebml(0x1549_A966, &[0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]),
            ebml(0x1654_AE6B, &[0xAE, 0x80]),
            unknown(CLUSTER),
            cluster_children(),
            unknown(CLUSTER),
            cluster_children(),
        ]
        .concat();
        assert_eq!(walked(Shape::matroska, &live), Ok(live.len() as u64));
        assert!(walked(Shape::matroska, &[live.as_slice(), JUNK].concat()).is_err());
        let attached = [
            header.clone(),
            ebml(
                SEGMENT,
                &[segment_body.clone(), ebml(0x1941_A469, b"a file")].concat(),
            ),
        ]
        .concat();
        assert!(matches!(
            walked(Shape::matroska, &attached),
            Err(ShapeError::Malformed(_))
        ));
        assert!(walked(Shape::matroska, &[JUNK, &webm].concat()).is_err());
    }
}
