//! Cutting a WAV upload at the client's stop: nothing after the offset the client asked to
//! stop at is kept. PCM in a RIFF/WAVE file is a header and then frames of a fixed size, so
//! the cut is exact: the header's sizes are rewritten and the frames after the stop are never
//! stored (or even encrypted). Other containers (a browser's WebM/Opus, say) cannot be cut
//! exactly here: they pass through whole, and the recording's own rule refuses one whose
//! packets run past the stop (`RecordingCommand::StoreMedia`), so nothing after it is kept
//! either way.

use bytes::{Bytes, BytesMut};

/// The most header a WAV upload may have before its `data` chunk.
const MAX_HEADER: usize = 64 * 1024;

/// Why a WAV upload cannot be cut at the stop.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TrimError {
    #[error("the WAV header is malformed: {0}")]
    Malformed(&'static str),
}

impl From<TrimError> for crate::UploadRefusal {
    fn from(error: TrimError) -> Self {
        match error {
            TrimError::Malformed(reason) => Self::MalformedAudio(reason),
        }
    }
}

/// What the bytes gathered so far turn out to be.
enum Parsed {
    /// Not yet known: more bytes are needed.
    Incomplete,
    /// Not PCM in RIFF/WAVE: passed through whole.
    NotWav,
    Wav(Header),
}

/// A stream's WAV cut at `stop_ms`, fed a frame at a time.
pub(crate) struct WavTrim {
    stop_ms: u64,
    state: State,
}

enum State {
    Header(BytesMut),
    Body {
        remaining: u64,
    },
    /// Not a WAV file: everything is kept, for the recording's rule to judge.
    Whole,
}

impl WavTrim {
    pub(crate) fn new(stop_ms: u64) -> Self {
        Self {
            stop_ms,
            state: State::Header(BytesMut::new()),
        }
    }

    /// The bytes of `input` to keep (possibly none yet, while the header is gathered).
    pub(crate) fn feed(&mut self, input: Bytes) -> Result<Bytes, TrimError> {
        match &mut self.state {
            State::Whole => Ok(input),
            State::Body { remaining } => {
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                Ok(input.slice(..take))
            }
            State::Header(buffer) => {
                buffer.extend_from_slice(&input);
                let header = match parse(buffer)? {
                    Parsed::Wav(header) => header,
                    Parsed::NotWav => {
                        let whole = std::mem::take(buffer).freeze();
                        self.state = State::Whole;
                        return Ok(whole);
                    }
                    Parsed::Incomplete => {
                        if buffer.len() > MAX_HEADER {
                            return Err(TrimError::Malformed(
                                "its WAV header has no data chunk in the first 64 KiB",
                            ));
                        }
                        return Ok(Bytes::new());
                    }
                };
                let mut buffer = std::mem::take(buffer);
                let frames = self.stop_ms.saturating_mul(u64::from(header.byte_rate))
                    / 1000
                    / u64::from(header.block_align);
                let mut keep = frames * u64::from(header.block_align);
                if let Some(declared) = header.declared_data {
                    keep = keep.min(declared);
                }
                let data_len = u32::try_from(keep)
                    .map_err(|_| TrimError::Malformed("it is too long for a WAV file"))?;
                let riff_len = u32::try_from(header.data_start as u64 - 8 + keep)
                    .map_err(|_| TrimError::Malformed("it is too long for a WAV file"))?;
                buffer[4..8].copy_from_slice(&riff_len.to_le_bytes());
                buffer[header.data_start - 4..header.data_start]
                    .copy_from_slice(&data_len.to_le_bytes());
                let body = buffer.split_off(header.data_start).freeze();
                let take = body.len().min(usize::try_from(keep).unwrap_or(usize::MAX));
                self.state = State::Body {
                    remaining: keep - take as u64,
                };
                let mut out = buffer;
                out.extend_from_slice(&body[..take]);
                Ok(out.freeze())
            }
        }
    }
}

struct Header {
    data_start: usize,
    byte_rate: u32,
    block_align: u16,
    /// The data chunk's size, unless it says "unknown" (0 or all ones, as streaming
    /// recorders write).
    declared_data: Option<u64>,
}

/// The header once `buffer` holds all of it up to the `data` chunk's first byte.
fn parse(buffer: &[u8]) -> Result<Parsed, TrimError> {
    if buffer.len() < 12 {
        return Ok(Parsed::Incomplete);
    }
    if &buffer[..4] != b"RIFF" || &buffer[8..12] != b"WAVE" {
        return Ok(Parsed::NotWav);
    }
    let u32_at = |at: usize| {
        u32::from_le_bytes([buffer[at], buffer[at + 1], buffer[at + 2], buffer[at + 3]])
    };
    let mut at = 12;
    let mut format: Option<(u32, u16)> = None;
    while buffer.len() >= at + 8 {
        let id = &buffer[at..at + 4];
        let size = u32_at(at + 4) as usize;
        if id == b"data" {
            let (byte_rate, block_align) = format.ok_or(TrimError::Malformed(
                "its audio comes before its format chunk",
            ))?;
            let declared = u32_at(at + 4);
            return Ok(Parsed::Wav(Header {
                data_start: at + 8,
                byte_rate,
                block_align,
                declared_data: (declared != 0 && declared != u32::MAX)
                    .then_some(u64::from(declared)),
            }));
        }
        if id == b"fmt " {
            if buffer.len() < at + 8 + 16 {
                return Ok(Parsed::Incomplete);
            }
            let tag = u16::from_le_bytes([buffer[at + 8], buffer[at + 9]]);
            // 1: integer PCM, 3: float PCM, 0xFFFE: extensible (PCM in practice).
            if !matches!(tag, 1 | 3 | 0xFFFE) {
                return Ok(Parsed::NotWav);
            }
            let byte_rate = u32_at(at + 16);
            let block_align = u16::from_le_bytes([buffer[at + 20], buffer[at + 21]]);
            if byte_rate == 0 || block_align == 0 {
                return Err(TrimError::Malformed("its format chunk is malformed"));
            }
            format = Some((byte_rate, block_align));
        }
        at += 8 + size + size % 2;
    }
    Ok(Parsed::Incomplete)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A mono 16-bit PCM WAV file of `frames` frames at `rate` Hz: a 440 Hz tone.
    pub(crate) fn wav(rate: u32, frames: u32) -> Vec<u8> {
        let data_len = frames * 2;
        let mut out = Vec::with_capacity(44 + data_len as usize);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..frames {
            let t = f64::from(i) / f64::from(rate);
            let sample = (f64::sin(t * 440.0 * std::f64::consts::TAU) * 8_000.0) as i16;
            out.extend_from_slice(&sample.to_le_bytes());
        }
        out
    }

    fn trim(input: &[u8], stop_ms: u64, frame: usize) -> Result<Vec<u8>, TrimError> {
        let mut trim = WavTrim::new(stop_ms);
        let mut out = Vec::new();
        for piece in input.chunks(frame) {
            out.extend_from_slice(&trim.feed(Bytes::copy_from_slice(piece))?);
        }
        Ok(out)
    }

    #[test]
    fn a_wav_is_cut_exactly_at_the_stop_whatever_the_frames() {
        let whole = wav(8_000, 8_000 * 3);
        for frame in [1, 7, 44, 45, 1000, 100_000] {
            let cut = trim(&whole, 1_250, frame).unwrap();
            assert_eq!(cut.len(), 44 + 10_000 * 2, "frame {frame}");
            assert_eq!(&cut[44..], &whole[44..44 + 20_000]);
            assert_eq!(&cut[4..8], &(36u32 + 20_000).to_le_bytes());
            assert_eq!(&cut[40..44], &20_000u32.to_le_bytes());
            let probed = crate::media::probe::tests::probe_bytes(cut).unwrap();
            assert_eq!(probed.duration_ms, 1_250);
        }
        // A stop past the end keeps everything.
        assert_eq!(trim(&whole, 60_000, 512).unwrap(), whole);
    }

    #[test]
    fn only_wav_is_cut_and_other_containers_pass_whole() {
        let mp3 = b"ID3\x04\0\0\0\0\0\0\xff\xfb";
        for frame in [1, 4, 100] {
            assert_eq!(
                trim(mp3, 1_000, frame).unwrap(),
                mp3.to_vec(),
                "frame {frame}"
            );
        }
        // A RIFF/WAVE file of compressed audio (not PCM) cannot be cut by frames either.
        let mut adpcm = wav(8_000, 8_000);
        adpcm[20..22].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(trim(&adpcm, 500, 7).unwrap(), adpcm);
        let mut no_data = wav(8_000, 10)[..36].to_vec();
        no_data.extend(std::iter::repeat_n(0u8, MAX_HEADER + 10));
        assert!(trim(&no_data, 1_000, 4096).is_err());
    }
}
