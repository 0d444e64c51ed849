//! Real audio for media tests: a WAV file made here, and its upload over HTTP as a client
//! would send it.

use std::net::SocketAddr;

/// A mono 16-bit PCM WAV file of `seconds` at 16 kHz: a tone that sweeps, so no two chunks of
/// it are alike.
pub fn wav(seconds: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let frames = rate * seconds;
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
        let sample = (f64::sin(t * (220.0 + 40.0 * t) * std::f64::consts::TAU) * 9_000.0) as i16;
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// The request that uploads `body` as a recording's media.
pub fn put(recording: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "PUT /v1/recordings/{recording}/media HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Uploads `body` as `recording`'s media; the status and the body of the answer.
pub async fn upload(
    address: SocketAddr,
    recording: &str,
    token: &str,
    body: &[u8],
) -> (u16, String) {
    let (status, _, answer) =
        crate::server::http_bytes(address, &put(recording, token, body)).await;
    (status, String::from_utf8_lossy(&answer).into_owned())
}
