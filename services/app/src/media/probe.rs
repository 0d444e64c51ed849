//! What an upload is, judged by its bytes and never by its name: the container, whether it
//! carries video, and — by demuxing every packet with symphonia — the audio codec and how
//! long the audio really runs (a header can claim anything; the packets cannot).

use std::io::Read;
use std::sync::{Arc, Mutex};

use symphonia::core::codecs::CODEC_TYPE_NULL;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::shape::{Shape, ShapeError};
use crate::UploadRefusal;

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
    /// The media type the content is served as.
    pub content_type: &'static str,
}

/// Whether video may be kept: the organisation's policy, and the recording's medium.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VideoRule {
    pub allowed_by_policy: bool,
    pub recording_is_video: bool,
}

/// A reader that shows every byte it passes on to the container's walker, and fails as soon
/// as the walker finds the bytes are not what they claim, so demuxing stops there.
struct Walked<R> {
    inner: R,
    shape: Arc<Mutex<Shape>>,
}

impl<R: Read> Read for Walked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut shape = self.shape.lock().unwrap_or_else(|p| p.into_inner());
        shape
            .feed(&buf[..n])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(n)
    }
}

/// What the walker's verdict means for the upload.
fn refusal(error: ShapeError) -> UploadRefusal {
    match error {
        ShapeError::Trailing => UploadRefusal::BytesAfterAudio,
        ShapeError::Malformed(reason) => UploadRefusal::MalformedAudio(reason),
    }
}

/// Judges `source` from its first byte to its last and says what audio it holds: the
/// container by its first bytes (nothing may precede it), video as `video` allows, every byte
/// walked by the container's own framing up to the end it declares (nothing may follow), and
/// every packet demuxed. Returns as soon as the content is refused, dropping `source`, so
/// whoever feeds it learns to stop; otherwise reads it to its end.
pub(crate) fn probe(
    mut source: impl Read + Send + Sync + 'static,
    video: VideoRule,
) -> Result<Probed, UploadRefusal> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut source)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|_| UploadRefusal::Incomplete)?;
    let sniffed = sniff(&head);
    if sniffed.video && !video.allowed_by_policy {
        return Err(UploadRefusal::VideoNotAllowed);
    }
    if sniffed.video && !video.recording_is_video {
        return Err(UploadRefusal::VideoForAudioRecording);
    }
    let shape = match sniffed.container {
        Container::Wav => Shape::wav(),
        Container::Mp3 => Shape::mp3(),
        Container::Flac => Shape::flac(),
        Container::Ogg => Shape::ogg(),
        Container::Mp4 => Shape::mp4(),
        Container::Matroska => Shape::matroska(),
        Container::VideoOnly => return Err(UploadRefusal::UnsupportedContainer),
        Container::Unknown => return Err(UploadRefusal::NotAudio),
    };
    let shape = Arc::new(Mutex::new(shape));
    let walked = Walked {
        inner: std::io::Cursor::new(head).chain(source),
        shape: shape.clone(),
    };
    let verdict = |shape: &Arc<Mutex<Shape>>| {
        let mut shape = shape.lock().unwrap_or_else(|p| p.into_inner());
        // `feed` keeps its first error; an empty feed only asks for it.
        shape.feed(&[]).map_err(refusal)
    };
    let demuxed = demux(walked);
    // The walker's verdict comes first: demuxing may have failed because the walker stopped it.
    verdict(&shape)?;
    let (probed, mut rest, packet_bytes) = demuxed?;
    // Whatever follows the last packet is read too, so the walker sees every byte (and the
    // feeder never blocks).
    let drained = std::io::copy(&mut rest, &mut std::io::sink());
    verdict(&shape)?;
    drained.map_err(|_| UploadRefusal::Incomplete)?;
    let mut shape = shape.lock().unwrap_or_else(|p| p.into_inner());
    let end = shape.finish().map_err(refusal)?;
    if let Some(frames_start) = shape.frames_start() {
        // FLAC frames carry no length: the frames must be the packets, byte for byte.
        if end.saturating_sub(frames_start) != packet_bytes {
            return Err(UploadRefusal::MalformedAudio(
                "bytes lie between or after its FLAC frames",
            ));
        }
    }
    Ok(Probed {
        content_type: sniffed.content_type(),
        ..probed
    })
}

/// Demuxes every packet: the audio's codec and duration, the reader with whatever follows the
/// last packet, and how many bytes the packets held.
fn demux(
    walked: impl Read + Send + Sync + 'static,
) -> Result<(Probed, MediaSourceStream, u64), UploadRefusal> {
    let stream = MediaSourceStream::new(Box::new(ReadOnlySource::new(walked)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|error| {
            tracing::debug!(%error, "an upload's container could not be read");
            UploadRefusal::MalformedAudio("Confide could not read its container")
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(UploadRefusal::NoAudioTrack)?;
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
    let mut packet_bytes = 0u64;
    loop {
        match format.next_packet() {
            Ok(packet) => {
                packet_bytes += packet.buf().len() as u64;
                if packet.track_id() == track_id {
                    end = end.max(packet.ts().saturating_add(packet.dur()));
                }
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(error) => {
                tracing::debug!(%error, "an upload's packets could not be read");
                return Err(UploadRefusal::MalformedAudio(
                    "a packet of its audio could not be read",
                ));
            }
        }
    }
    let rest = format.into_inner();
    if end == 0 {
        return Err(UploadRefusal::NoAudioTrack);
    }
    let time_base = time_base.ok_or(UploadRefusal::MalformedAudio(
        "the audio declares neither a time base nor a sample rate",
    ))?;
    let time = time_base.calc_time(end);
    let duration_ms = time
        .seconds
        .saturating_mul(1000)
        .saturating_add((time.frac * 1000.0).round() as u64);
    Ok((
        Probed {
            codec,
            duration_ms,
            content_type: "application/octet-stream",
        },
        rest,
        packet_bytes,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::wav::tests::wav;

    const AUDIO_ONLY: VideoRule = VideoRule {
        allowed_by_policy: false,
        recording_is_video: false,
    };

    pub(crate) fn probe_bytes(bytes: Vec<u8>) -> Result<Probed, UploadRefusal> {
        probe(std::io::Cursor::new(bytes), AUDIO_ONLY)
    }

    fn joined(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A stored (uncompressed) zip archive holding `name` with `content`, as `zip -0` makes.
    pub(crate) fn zip_holding(name: &str, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"PK\x03\x04\x0a\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&0u32.to_le_bytes()); // CRC, unchecked here
        out.extend_from_slice(&(content.len() as u32).to_le_bytes());
        out.extend_from_slice(&(content.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(content);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\0\0\0\0\0\0\0\0\0\0");
        out
    }

    /// The first bytes of an ELF executable.
    pub(crate) const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0";
    /// An HTML page.
    pub(crate) const HTML: &[u8] =
        b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n";

    #[test]
    fn a_wav_file_is_pcm_audio_of_its_length() {
        let bytes = wav(8_000, 8_000 * 3 / 2);
        assert_eq!(sniff(&bytes).container, Container::Wav);
        let probed = probe_bytes(bytes).unwrap();
        assert_eq!(probed.codec, "pcm_s16le");
        assert_eq!(probed.duration_ms, 1_500);
        assert_eq!(probed.content_type, "audio/wav");
    }

    #[test]
    fn garbage_is_not_audio() {
        let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(sniff(&garbage).container, Container::Unknown);
        assert_eq!(probe_bytes(garbage), Err(UploadRefusal::NotAudio));
    }

    #[test]
    fn audio_must_begin_at_the_first_byte() {
        let audio = wav(8_000, 4_000);
        for prefix in [HTML, ELF, b"\0".as_slice(), b" ".as_slice()] {
            assert_eq!(
                probe_bytes(joined(&[prefix, &audio])),
                Err(UploadRefusal::NotAudio),
                "{:?}",
                String::from_utf8_lossy(&prefix[..4.min(prefix.len())])
            );
        }
        assert_eq!(
            probe_bytes(zip_holding("session.wav", &audio)),
            Err(UploadRefusal::NotAudio)
        );
    }

    #[test]
    fn nothing_may_follow_the_end_a_wav_declares() {
        let audio = wav(8_000, 4_000);
        for tail in [
            vec![0u8; 1],
            vec![0u8; 2],
            vec![0x55; 1024 * 1024],
            HTML.to_vec(),
            zip_holding("x", b"y"),
        ] {
            assert_eq!(
                probe_bytes(joined(&[&audio, &tail])),
                Err(UploadRefusal::BytesAfterAudio),
                "{} bytes after",
                tail.len()
            );
        }
        // A tail that the RIFF header was stretched to cover is a chunk: it must be one a
        // WAV file carries, and small.
        let mut stretched = audio.clone();
        let mut chunk = b"HTML".to_vec();
        chunk.extend_from_slice(&(HTML.len() as u32 + 1).to_le_bytes());
        chunk.extend_from_slice(HTML);
        chunk.extend_from_slice(b"\0\0");
        stretched.extend_from_slice(&chunk);
        let riff = (stretched.len() - 8) as u32;
        stretched[4..8].copy_from_slice(&riff.to_le_bytes());
        assert!(matches!(
            probe_bytes(stretched),
            Err(UploadRefusal::MalformedAudio(_))
        ));
        let mut big_list = audio.clone();
        big_list.extend_from_slice(b"LIST");
        big_list.extend_from_slice(&(1024 * 1024u32).to_le_bytes());
        big_list.resize(big_list.len() + 1024 * 1024, b'x');
        let riff = (big_list.len() - 8) as u32;
        big_list[4..8].copy_from_slice(&riff.to_le_bytes());
        assert!(matches!(
            probe_bytes(big_list),
            Err(UploadRefusal::MalformedAudio(_))
        ));
        // Metadata a recorder writes is kept.
        let mut tagged = audio.clone();
        tagged.extend_from_slice(b"LIST\x0c\0\0\0INFOISFT\0\0\0\0");
        let riff = (tagged.len() - 8) as u32;
        tagged[4..8].copy_from_slice(&riff.to_le_bytes());
        assert_eq!(probe_bytes(tagged).unwrap().duration_ms, 500);
    }

    #[test]
    fn a_wav_shorter_than_it_declares_is_refused() {
        let audio = wav(8_000, 4_000);
        let cut = audio[..audio.len() - 100].to_vec();
        assert!(matches!(
            probe_bytes(cut),
            Err(UploadRefusal::MalformedAudio(_))
        ));
        let mut unfinished = audio.clone();
        unfinished[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            probe_bytes(unfinished),
            Err(UploadRefusal::MalformedAudio(_))
        ));
    }

    /// CRC-8 (polynomial 0x07) and CRC-16 (0x8005) as FLAC frames use them.
    fn crc(bytes: &[u8], width: u32, poly: u32) -> u32 {
        let top = 1u32 << (width - 1);
        let mask = (1u64 << width) as u32 - 1;
        let mut crc = 0u32;
        for &b in bytes {
            crc ^= u32::from(b) << (width - 8);
            for _ in 0..8 {
                crc = (if crc & top != 0 {
                    (crc << 1) ^ poly
                } else {
                    crc << 1
                }) & mask;
            }
        }
        crc
    }

    /// A mono 16-bit FLAC stream at 16 kHz of `frames` frames of 4,096 samples, each frame
    /// stored verbatim.
    pub(crate) fn flac(frames: u8) -> Vec<u8> {
        let samples = 4_096u64 * u64::from(frames);
        let mut out = b"fLaC".to_vec();
        out.extend_from_slice(&[0x80, 0, 0, 34]);
        out.extend_from_slice(&4_096u16.to_be_bytes());
        out.extend_from_slice(&4_096u16.to_be_bytes());
        out.extend_from_slice(&[0; 6]);
        let packed: u64 = (16_000u64 << 44) | (15u64 << 36) | samples;
        out.extend_from_slice(&packed.to_be_bytes());
        out.extend_from_slice(&[0; 16]);
        for n in 0..frames {
            let mut frame = vec![0xFF, 0xF8, 0b1100_0101, 0b0000_1000, n];
            frame.push(crc(&frame, 8, 0x07) as u8);
            frame.push(0x02);
            for i in 0..4_096u32 {
                let t = f64::from(i + u32::from(n) * 4_096) / 16_000.0;
                let sample = (f64::sin(t * 440.0 * std::f64::consts::TAU) * 8_000.0) as i16;
                frame.extend_from_slice(&sample.to_be_bytes());
            }
            let footer = crc(&frame, 16, 0x8005) as u16;
            frame.extend_from_slice(&footer.to_be_bytes());
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn flac_frames_must_be_all_there_is() {
        let audio = flac(4);
        let probed = probe_bytes(audio.clone()).unwrap();
        assert_eq!((probed.codec.as_str(), probed.duration_ms), ("flac", 1_024));
        assert_eq!(probed.content_type, "audio/flac");
        assert!(probe_bytes(joined(&[&audio, &[0x55; 100_000]])).is_err());
        assert!(probe_bytes(joined(&[&audio, HTML])).is_err());
        assert_eq!(
            probe_bytes(joined(&[HTML, &audio])),
            Err(UploadRefusal::NotAudio)
        );
        // Bytes between two frames.
        let frame_len = (audio.len() - 42) / 4;
        let mut between = audio[..42 + frame_len].to_vec();
        between.extend_from_slice(HTML);
        between.extend_from_slice(&audio[42 + frame_len..]);
        assert!(probe_bytes(between).is_err());
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
        assert_eq!(
            probe_bytes(mp4.clone()),
            Err(UploadRefusal::VideoNotAllowed)
        );
        let video_policy = VideoRule {
            allowed_by_policy: true,
            recording_is_video: false,
        };
        assert_eq!(
            probe(std::io::Cursor::new(mp4), video_policy),
            Err(UploadRefusal::VideoForAudioRecording)
        );
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
