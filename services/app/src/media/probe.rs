//! What an upload is, judged by its bytes and never by its name: the container, whether it
//! carries video, and — by demuxing every packet with symphonia — the audio codec and how
//! long the audio really runs (a header can claim anything; the packets cannot).

use std::io::Read;

use symphonia::core::codecs::CODEC_TYPE_NULL;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// How many leading bytes [`sniff`] looks at.
pub(crate) const SNIFF_BYTES: usize = 64 * 1024;

/// A container recognised by its leading bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    Wav,
    Mp3,
    Flac,
    Ogg,
    /// ISO base media (MP4, M4A, MOV).
    Mp4,
    /// Matroska or WebM.
    Matroska,
    /// A container that only carries video, or video with sound (AVI, FLV, MPEG streams).
    VideoOnly,
    Unknown,
}

/// What the leading bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sniffed {
    pub container: Container,
    /// The container declares a video track.
    pub video: bool,
}

impl Sniffed {
    /// The media type the content is served as.
    pub(crate) fn content_type(&self) -> &'static str {
        match (self.container, self.video) {
            (Container::Wav, _) => "audio/wav",
            (Container::Mp3, _) => "audio/mpeg",
            (Container::Flac, _) => "audio/flac",
            (Container::Ogg, _) => "audio/ogg",
            (Container::Mp4, false) => "audio/mp4",
            (Container::Mp4, true) => "video/mp4",
            (Container::Matroska, false) => "audio/webm",
            (Container::Matroska, true) => "video/webm",
            (Container::VideoOnly | Container::Unknown, _) => "application/octet-stream",
        }
    }
}

/// Classifies content by its first bytes (up to [`SNIFF_BYTES`]).
pub(crate) fn sniff(head: &[u8]) -> Sniffed {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    let (container, video) = if starts(b"RIFF") && at(8, b"WAVE") {
        (Container::Wav, false)
    } else if starts(b"RIFF") && at(8, b"AVI ") {
        (Container::VideoOnly, true)
    } else if starts(b"fLaC") {
        (Container::Flac, false)
    } else if starts(b"OggS") {
        // Theora is Ogg's video codec.
        (Container::Ogg, contains(b"\x80theora"))
    } else if at(4, b"ftyp") {
        let audio_brand = [b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "]
            .iter()
            .any(|brand| at(8, *brand));
        // A track's handler box names its kind: `hdlr`, version and flags, pre-defined, then
        // the handler type.
        let video_handler = head
            .windows(16)
            .any(|w| &w[..4] == b"hdlr" && &w[12..16] == b"vide");
        (
            Container::Mp4,
            video_handler || !audio_brand && !contains(b"soun"),
        )
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        // TrackType (0x83), one byte long (0x81), value 1: a video track.
        (Container::Matroska, contains(&[0x83, 0x81, 0x01]))
    } else if starts(b"FLV")
        || starts(&[0x00, 0x00, 0x01, 0xBA])
        || starts(&[0x00, 0x00, 0x01, 0xB3])
    {
        (Container::VideoOnly, true)
    } else if head.len() > 188 && head[0] == 0x47 && head[188] == 0x47 {
        // An MPEG transport stream: a sync byte every 188 bytes.
        (Container::VideoOnly, true)
    } else if starts(b"ID3") || (head.len() > 1 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        (Container::Mp3, false)
    } else {
        (Container::Unknown, false)
    };
    Sniffed { container, video }
}

/// The audio found in an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probed {
    /// Symphonia's short name of the codec, e.g. `pcm_s16le`, `mp3`, `flac`, `vorbis`.
    pub codec: String,
    /// How long the audio runs, in milliseconds, from the last packet's end.
    pub duration_ms: u64,
}

/// Why an upload is not audio Confide can keep.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ProbeError {
    #[error("the content is not a recognised audio format ({0})")]
    Unrecognised(String),
    #[error("the content has no audio track")]
    NoAudio,
    #[error("the audio is malformed: {0}")]
    Malformed(String),
}

/// Demuxes `source` to its end and says what audio it holds. Reads everything, so whoever
/// feeds `source` is never left waiting.
pub(crate) fn probe(source: impl Read + Send + Sync + 'static) -> Result<Probed, ProbeError> {
    let stream = MediaSourceStream::new(Box::new(ReadOnlySource::new(source)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| ProbeError::Unrecognised(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(ProbeError::NoAudio)?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let codec = symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map_or_else(|| format!("{}", params.codec), |d| d.short_name.to_owned());
    let time_base = params.time_base.or_else(|| {
        params
            .sample_rate
            .map(|rate| symphonia::core::units::TimeBase::new(1, rate))
    });
    let mut end = 0u64;
    loop {
        match format.next_packet() {
            Ok(packet) if packet.track_id() == track_id => {
                end = end.max(packet.ts().saturating_add(packet.dur()));
            }
            Ok(_) => {}
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(ProbeError::Malformed(e.to_string())),
        }
    }
    // Whatever follows the last packet is read too, so the feeder never blocks.
    let mut rest = format.into_inner();
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
    if end == 0 {
        return Err(ProbeError::NoAudio);
    }
    let time_base = time_base.ok_or_else(|| {
        ProbeError::Malformed("the audio declares neither a time base nor a sample rate".into())
    })?;
    let time = time_base.calc_time(end);
    let duration_ms = time
        .seconds
        .saturating_mul(1000)
        .saturating_add((time.frac * 1000.0).round() as u64);
    Ok(Probed { codec, duration_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::wav::tests::wav;

    #[test]
    fn a_wav_file_is_pcm_audio_of_its_length() {
        let bytes = wav(8_000, 8_000 * 3 / 2);
        assert_eq!(sniff(&bytes).container, Container::Wav);
        let probed = probe(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(probed.codec, "pcm_s16le");
        assert_eq!(probed.duration_ms, 1_500);
    }

    #[test]
    fn garbage_is_not_audio() {
        let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(sniff(&garbage).container, Container::Unknown);
        assert!(probe(std::io::Cursor::new(garbage)).is_err());
    }

    #[test]
    fn video_containers_are_recognised_by_their_bytes() {
        let mut mp4 = Vec::new();
        mp4.extend_from_slice(&[0, 0, 0, 24]);
        mp4.extend_from_slice(b"ftypisom\0\0\0\0isomavc1");
        mp4.extend_from_slice(&[0, 0, 0, 33]);
        mp4.extend_from_slice(b"hdlr\0\0\0\0\0\0\0\0vide");
        let sniffed = sniff(&mp4);
        assert_eq!((sniffed.container, sniffed.video), (Container::Mp4, true));
        let mut m4a = Vec::new();
        m4a.extend_from_slice(&[0, 0, 0, 24]);
        m4a.extend_from_slice(b"ftypM4A \0\0\0\0M4A isom");
        m4a.extend_from_slice(b"hdlr\0\0\0\0\0\0\0\0soun");
        assert!(!sniff(&m4a).video);
        let mut avi = b"RIFF\0\0\0\0AVI LIST".to_vec();
        avi.resize(64, 0);
        assert!(sniff(&avi).video);
        let webm_video = [0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x83, 0x81, 0x01];
        assert!(sniff(&webm_video).video);
    }
}
