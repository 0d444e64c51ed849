//! Media through the API over a real HTTP server: a real WAV file goes up through
//! `PUT /v1/recordings/{id}/media`, is kept only as ciphertext (in a directory, and in Garage
//! over S3), plays back byte-identical through Range requests with the ticket `startPlayback`
//! gives, is refused once the consent is withdrawn, and is unrecoverable once destroyed —
//! with a destruction interrupted half way finished by the next run.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use confide_domain::aggregates::recording::RecordingEvent;
use confide_domain::{Event, KeyId, RecordingId, TenantId};
use confide_test_support::audio::{put, wav};
use confide_test_support::server::{
    Backend, Server, code, http, http_bytes, post, spawn_app, spawn_assembled_app,
};
use confide_test_support::{TempDir, app_sqlite, both_backends};
use confide_vault::{
    BlobError, BlobKey, BlobStore, KeyError, S3BlobStore, S3Config, S3Credentials,
};
use futures_util::stream::BoxStream;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

const TENANT: &str = "clinic";

fn get(path: &str, range: Option<&str>) -> Vec<u8> {
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\n{range}\r\n").into_bytes()
}

/// A tenant with a practitioner, a tutor and a client who consented to audio recording for
/// supervision by the tutor, and one recording awaiting its media. Returns (recording id,
/// consent id, the client's link).
async fn recording_awaiting_media(server: &Server) -> (String, String, String) {
    server.create_tenant(TENANT, "admin").await;
    let admin = server.token(TENANT, "admin");
    for (user, role) in [("sam", "PRACTITIONER"), ("ada", "TUTOR")] {
        server
            .ok(
                &admin,
                "mutation($u: String!, $r: [Role!]!) { addMember(userId: $u, roles: $r) { id } }",
                json!({ "u": user, "r": [role] }),
            )
            .await;
    }
    let sam = server.token(TENANT, "sam");
    let form = server
        .publish_form(&admin, "I agree to audio recording for supervision.")
        .await["id"]
        .clone();
    let client = server
        .ok(
            &sam,
            "mutation { registerClient(name: \"Jo Client\") }",
            json!({}),
        )
        .await["registerClient"]
        .clone();
    let (consent, link) = server
        .request_consent(
            &sam,
            json!({
                "clientId": client, "consentFormId": form,
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }),
        )
        .await;
    server.give_consent(&link, &consent, "Jo Client").await;
    let consent = consent.as_str().unwrap().to_owned();
    let recording = server
        .ok(
            &sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": consent, "d": Utc::now().date_naive() }),
        )
        .await["createRecording"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (recording, consent, link)
}

async fn status(server: &Server, recording: &str) -> Value {
    let sam = server.token(TENANT, "sam");
    server
        .ok(
            &sam,
            "query($r: UUID!) { recording(id: $r, purpose: SUPERVISION) { status } }",
            json!({ "r": recording }),
        )
        .await["recording"]["status"]
        .clone()
}

/// Every file under the local store's directory, with its bytes.
fn stored_files(server: &Server) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    let mut out = Vec::new();
    if let Some(dir) = &server.media_dir {
        walk(dir, &mut out);
    }
    out
}

fn recording_id(recording: &str) -> RecordingId {
    RecordingId::from_uuid(Uuid::parse_str(recording).unwrap()).unwrap()
}

async fn recording_events(server: &Server, recording: &str) -> Vec<RecordingEvent> {
    server
        .store
        .read_stream(
            &TenantId::parse(TENANT).unwrap(),
            &confide_app::StreamId::parse(&format!("recording-{recording}")).unwrap(),
            0,
            10_000,
        )
        .await
        .unwrap()
        .into_iter()
        .map(
            |e| match Event::from_stored(&e.event_type, e.schema_version, &e.payload).unwrap() {
                Event::Recording(event) => event,
                other => panic!("not a recording event: {other:?}"),
            },
        )
        .collect()
}

/// Sends the first half of an upload that announced all of it, then hangs up.
async fn interrupted_upload(server: &Server, recording: &str, token: &str, body: &[u8]) {
    let request = put(recording, token, body);
    let cut = request.len() - body.len() / 2;
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    stream.write_all(&request[..cut]).await.unwrap();
    stream.shutdown().await.unwrap();
    // The server answers (or closes) once it has seen the body end early.
    let mut answer = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer).await;
}

async fn a_wav_goes_up_encrypted_plays_back_in_ranges_and_is_shredded(server: Server, local: bool) {
    let (recording, consent, link) = recording_awaiting_media(&server).await;
    let sam = server.token(TENANT, "sam");
    let ada = server.token(TENANT, "ada");
    let audio = wav(10);
    let a = server.address;

    // Refused before anything is kept: someone other than the practitioner, garbage, video
    // where the policy allows audio only, and an upload cut off half way.
    let (status_code, _, body) = http_bytes(a, &put(&recording, &ada, &audio)).await;
    assert_eq!(status_code, 403, "{}", String::from_utf8_lossy(&body));
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (status_code, _, body) = http_bytes(a, &put(&recording, &sam, &garbage)).await;
    assert_eq!(status_code, 415, "{}", String::from_utf8_lossy(&body));
    let mut video = Vec::new();
    video.extend_from_slice(&[0, 0, 0, 24]);
    video.extend_from_slice(b"ftypisom\0\0\0\0isomavc1");
    video.extend_from_slice(&[0, 0, 0, 33]);
    video.extend_from_slice(b"hdlr\0\0\0\0\0\0\0\0vide");
    video.resize(50_000, 7);
    let (status_code, _, body) = http_bytes(a, &put(&recording, &sam, &video)).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status_code, 415, "{body}");
    assert!(body.contains("audio only"), "{body}");
    interrupted_upload(&server, &recording, &sam, &audio).await;
    assert_eq!(status(&server, &recording).await, "AWAITING_UPLOAD");
    if local {
        assert!(
            stored_files(&server).is_empty(),
            "an orphan object was left"
        );
    }

    // The real thing, sent again after the failures.
    let (status_code, _, body) = http_bytes(a, &put(&recording, &sam, &audio)).await;
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status_code, 201, "{answer}");
    assert_eq!(answer["durationMs"], 10_000);
    assert_eq!(answer["codec"], "pcm_s16le");
    assert_eq!(answer["bytes"], audio.len() as u64);
    assert_eq!(answer["sha256"], hex::encode(sha2::Sha256::digest(&audio)));
    assert_eq!(status(&server, &recording).await, "STORED");
    let (status_code, _, _) = http_bytes(a, &put(&recording, &sam, &audio)).await;
    assert_eq!(status_code, 409, "a second upload must be refused");
    let stored = recording_events(&server, &recording).await;
    let Some(RecordingEvent::RecordingStored {
        bytes,
        codec,
        object_key,
        data_key_id,
        ..
    }) = stored
        .iter()
        .find(|e| matches!(e, RecordingEvent::RecordingStored { .. }))
    else {
        panic!("no RecordingStored in {stored:?}");
    };
    assert_eq!((*bytes, codec.as_str()), (audio.len() as u64, "pcm_s16le"));

    // Only ciphertext is kept: no stretch of the audio appears in what is stored.
    let ciphertext = if local {
        let files = stored_files(&server);
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].1.clone()
    } else {
        let object = BlobKey::parse(object_key).unwrap();
        let size = server.blobs.size(&object).await.unwrap().unwrap();
        raw(server.blobs.as_ref(), &object, size).await
    };
    assert!(ciphertext.len() > audio.len());
    for at in [44, 70_000, 200_000, audio.len() - 64] {
        let window = &audio[at..at + 64];
        assert!(
            !ciphertext.windows(64).any(|w| w == window),
            "plaintext at {at} is stored in the clear"
        );
    }

    // Playback: a ticket, then the whole file and ranges across chunk boundaries.
    let play = server
        .ok(
            &ada,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed ticketUrl ticketExpiresAt } }",
            json!({ "r": recording }),
        )
        .await["startPlayback"]
        .clone();
    assert_eq!(play["allowed"], true, "{play}");
    let ticket_url = play["ticketUrl"].as_str().unwrap().to_owned();
    let (status_code, head, body) = http_bytes(a, &get(&ticket_url, None)).await;
    assert_eq!(status_code, 200, "{head}");
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    assert!(head.contains("content-type: audio/wav"), "{head}");
    assert!(body == audio, "the whole file differs");
    let total = audio.len();
    for (range, start, end) in [
        ("bytes=0-0".to_owned(), 0, 1),
        ("bytes=100-65635".to_owned(), 100, 65_636),
        ("bytes=65535-65536".to_owned(), 65_535, 65_537),
        ("bytes=-1000".to_owned(), total - 1000, total),
        ("bytes=300000-".to_owned(), 300_000, total),
        (
            format!("bytes={}-{}", total - 1, total + 50),
            total - 1,
            total,
        ),
    ] {
        let (status_code, head, body) = http_bytes(a, &get(&ticket_url, Some(&range))).await;
        assert_eq!(status_code, 206, "{range}: {head}");
        assert!(
            head.contains(&format!("content-range: bytes {start}-{}/{total}", end - 1)),
            "{range}: {head}"
        );
        assert!(body == audio[start..end], "{range}: the bytes differ");
    }
    let (status_code, head, _) =
        http_bytes(a, &get(&ticket_url, Some(&format!("bytes={total}-")))).await;
    assert_eq!(status_code, 416, "{head}");
    assert!(
        head.contains(&format!("content-range: bytes */{total}")),
        "{head}"
    );

    // A ticket is no bearer token, and a forged one is refused.
    let ticket = ticket_url.trim_start_matches("/v1/media/");
    let (status_code, _, body) = http(
        a,
        &post(
            "application/json",
            None,
            Some(ticket),
            r#"{"query":"{ tenant { id } }"}"#,
        ),
    )
    .await;
    assert_eq!(status_code, 401, "{body}");
    let (status_code, _, _) = http(
        a,
        &format!(
            "GET /v1/media/{}x HTTP/1.1\r\nHost: confide\r\nConnection: close\r\n\r\n",
            ticket
        ),
    )
    .await;
    assert_eq!(status_code, 403);

    // The client withdraws: the next range request with the same ticket is refused, and the
    // refusal is recorded.
    server
        .ok(
            &link,
            "mutation($c: UUID!) { withdrawConsent(input: { consentId: $c }) { id } }",
            json!({ "c": consent }),
        )
        .await;
    let refusals_before = recording_events(&server, &recording)
        .await
        .iter()
        .filter(|e| matches!(e, RecordingEvent::PlaybackRefused { .. }))
        .count();
    let (status_code, _, body) = http_bytes(a, &get(&ticket_url, Some("bytes=0-99"))).await;
    assert_eq!(status_code, 403, "{}", String::from_utf8_lossy(&body));
    let refusals_after = recording_events(&server, &recording)
        .await
        .iter()
        .filter(|e| matches!(e, RecordingEvent::PlaybackRefused { .. }))
        .count();
    assert_eq!(refusals_after, refusals_before + 1);

    // Destruction: the key first, then the object; the record names both.
    let destroyed = server
        .ok(
            &sam,
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { status } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(destroyed["destroyRecording"]["status"], "DESTROYED");
    let tenant = TenantId::parse(TENANT).unwrap();
    assert!(matches!(
        server.keys.media_key(&tenant, data_key_id).await,
        Err(KeyError::Destroyed { .. })
    ));
    let object = BlobKey::parse(object_key).unwrap();
    assert_eq!(server.blobs.size(&object).await.unwrap(), None);
    if local {
        assert!(stored_files(&server).is_empty());
    }
    let events = recording_events(&server, &recording).await;
    let Some(RecordingEvent::RecordingDestroyed {
        destroyed_key_id,
        object_sha256s,
        ..
    }) = events.last()
    else {
        panic!("not destroyed: {events:?}");
    };
    assert_eq!(destroyed_key_id.as_ref(), Some(data_key_id));
    assert_eq!(object_sha256s.len(), 1);
    let (status_code, _, _) = http_bytes(a, &get(&ticket_url, None)).await;
    assert_eq!(status_code, 403);
}

/// The object's bytes as stored.
async fn raw(blobs: &dyn BlobStore, key: &BlobKey, size: u64) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut stream = blobs.get_range(key, 0, size).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

both_backends!(
    sqlite => (spawn_app(Backend::Sqlite).await, true),
    postgres_and_garage => {
        let Some(blobs) = garage().await else {
            return;
        };
        (
            spawn_assembled_app(confide_test_support::app_postgres().await, blobs).await,
            false,
        )
    },
    |opened| case(opened.0, opened.1);
    a_wav_goes_up_encrypted_plays_back_in_ranges_and_is_shredded,
);

/// The Garage bucket `.ci/garage` started (its `CONFIDE_TEST_S3_…` variables). Without them
/// the test fails under CI and is passed over, said aloud, elsewhere.
async fn garage() -> Option<Arc<dyn BlobStore>> {
    let var = |name: &str| std::env::var(format!("CONFIDE_TEST_S3_{name}")).ok();
    let (Some(endpoint), Some(bucket), Some(key_id), Some(secret)) = (
        var("ENDPOINT"),
        var("BUCKET"),
        var("ACCESS_KEY_ID"),
        var("SECRET_ACCESS_KEY"),
    ) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CONFIDE_TEST_S3_* are not set: run `eval \"$(.ci/garage)\"` (as .ci/test does)"
        );
        eprintln!("Garage is not running here (no CONFIDE_TEST_S3_*): the S3 half is not run");
        return None;
    };
    Some(Arc::new(
        S3BlobStore::new(S3Config {
            endpoint_url: Some(endpoint),
            region: var("REGION").unwrap_or_else(|| "garage".to_owned()),
            bucket,
            force_path_style: true,
            credentials: Some(S3Credentials::new(key_id, secret)),
        })
        .await,
    ))
}

/// A blob store whose first deletion fails, as if the process died between shredding the
/// key and deleting the object.
#[derive(Debug)]
struct CrashOnFirstDelete {
    inner: Arc<dyn BlobStore>,
    crashed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl BlobStore for CrashOnFirstDelete {
    async fn put(
        &self,
        key: &BlobKey,
        body: BoxStream<'_, Result<Bytes, std::io::Error>>,
    ) -> Result<u64, BlobError> {
        self.inner.put(key, body).await
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        self.inner.size(key).await
    }

    async fn get_range(
        &self,
        key: &BlobKey,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        self.inner.get_range(key, start, end).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        if !self.crashed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(BlobError::Body(std::io::Error::other("the process died")));
        }
        self.inner.delete(key).await
    }
}

#[tokio::test]
async fn a_destruction_cut_short_is_finished_by_the_next_run() {
    let dir = TempDir::new("media");
    let inner: Arc<dyn BlobStore> =
        Arc::new(confide_vault::LocalBlobStore::new(dir.path()).unwrap());
    let crashing = Arc::new(CrashOnFirstDelete {
        inner: inner.clone(),
        crashed: std::sync::atomic::AtomicBool::new(false),
    });
    let server = spawn_assembled_app(app_sqlite().await, crashing).await;
    let (recording, _, _) = recording_awaiting_media(&server).await;
    let sam = server.token(TENANT, "sam");
    let (status_code, _, body) = http_bytes(server.address, &put(&recording, &sam, &wav(2))).await;
    assert_eq!(status_code, 201, "{}", String::from_utf8_lossy(&body));

    let response = server
        .graphql(
            &sam,
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { status } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(code(&response), "INTERNAL", "{response}");
    // Half done: the key is gone, the object and the recording are not, and the request is
    // on record.
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = KeyId::parse(&format!("media-{recording}")).unwrap();
    assert!(matches!(
        server.keys.media_key(&tenant, &key).await,
        Err(KeyError::Destroyed { .. })
    ));
    assert_eq!(status(&server, &recording).await, "STORED");
    let events = recording_events(&server, &recording).await;
    assert!(matches!(
        events.last(),
        Some(RecordingEvent::RecordingDestructionScheduled { .. })
    ));

    // The next run (at start-up, or the periodic one) finishes it.
    let destroyed = server
        .app_with_blobs(inner.clone())
        .carry_out_destructions(&tenant)
        .await
        .unwrap();
    assert_eq!(destroyed, vec![recording_id(&recording)]);
    assert_eq!(status(&server, &recording).await, "DESTROYED");
    assert!(
        walk_empty(dir.path()),
        "the object was left in {}",
        dir.path().display()
    );
    let events = recording_events(&server, &recording).await;
    assert!(matches!(
        events.last(),
        Some(RecordingEvent::RecordingDestroyed {
            destroyed_key_id: Some(k),
            ..
        }) if *k == key
    ));
    // Running it again finds nothing left to do.
    assert!(
        server
            .app_with_blobs(inner.clone())
            .carry_out_destructions(&tenant)
            .await
            .unwrap()
            .is_empty()
    );
}

fn walk_empty(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).unwrap().all(|entry| {
        let path = entry.unwrap().path();
        path.is_dir() && walk_empty(&path)
    })
}

#[tokio::test]
async fn a_recording_destroyed_before_its_media_arrived_takes_its_key_with_it() {
    let server = spawn_app(Backend::Sqlite).await;
    let (recording, _, _) = recording_awaiting_media(&server).await;
    let sam = server.token(TENANT, "sam");
    // A refused upload keeps no key.
    let (status_code, _, _) =
        http_bytes(server.address, &put(&recording, &sam, b"not audio at all")).await;
    assert_eq!(status_code, 415);
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = KeyId::parse(&format!("media-{recording}")).unwrap();
    assert!(matches!(
        server.keys.media_key(&tenant, &key).await,
        Err(KeyError::Unknown { .. })
    ));
    // An upload accepted and then not recorded (the process died in between) kept its key.
    server.keys.create_key(&tenant, &key).await.unwrap();
    let destroyed = server
        .ok(
            &sam,
            "mutation($r: UUID!) { destroyRecording(recordingId: $r) { status } }",
            json!({ "r": recording }),
        )
        .await;
    assert_eq!(destroyed["destroyRecording"]["status"], "DESTROYED");
    assert!(matches!(
        server.keys.media_key(&tenant, &key).await,
        Err(KeyError::Destroyed { .. })
    ));
}

/// A stored (uncompressed) zip archive holding `name` with `content`, as `zip -0` makes it.
fn zip_holding(name: &str, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"PK\x03\x04\x0a\0\0\0\0\0\0\0\0\0");
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(content.len() as u32).to_le_bytes());
    out.extend_from_slice(&(content.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(content);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\0\0\0\0\0\0\0\0\0\0");
    out
}

/// Each way of passing something else off as audio is refused with its reason, and leaves
/// nothing behind: no object, no key, no event; the recording still awaits its media, and
/// the audio alone is then accepted.
async fn only_audio_from_its_first_byte_to_its_last_is_kept(server: Server) {
    let (recording, _, _) = recording_awaiting_media(&server).await;
    let sam = server.token(TENANT, "sam");
    let audio = wav(3);
    let html =
        b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n";
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0".to_vec();
    elf.resize(4096, 0);
    let trailing: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = KeyId::parse(&format!("media-{recording}")).unwrap();
    let events_before = recording_events(&server, &recording).await.len();
    for (what, body, reason) in [
        (
            "an HTML page, then a WAV",
            [html.as_slice(), &audio].concat(),
            "NOT_AUDIO",
        ),
        (
            "an ELF header, then a WAV",
            [elf.as_slice(), &audio].concat(),
            "NOT_AUDIO",
        ),
        (
            "a zip holding a WAV",
            zip_holding("session.wav", &audio),
            "NOT_AUDIO",
        ),
        (
            "a WAV, then 1 MB more",
            [audio.as_slice(), &trailing].concat(),
            "BYTES_AFTER_AUDIO",
        ),
    ] {
        let (status_code, _, body) =
            http_bytes(server.address, &put(&recording, &sam, &body)).await;
        let answer: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{what}: {}", String::from_utf8_lossy(&body)));
        assert_eq!(status_code, 415, "{what}: {answer}");
        assert_eq!(
            answer["error"]["code"], "UNSUPPORTED_MEDIA",
            "{what}: {answer}"
        );
        assert_eq!(
            answer["error"]["reasons"],
            json!([reason]),
            "{what}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("nothing was kept"), "{what}: {message}");
        for internal in ["{", "[", "Error", "symphonia", "probe", "(", "::"] {
            assert!(!message.contains(internal), "{what}: {message}");
        }
        assert_eq!(
            status(&server, &recording).await,
            "AWAITING_UPLOAD",
            "{what}"
        );
        assert!(
            stored_files(&server).is_empty(),
            "{what}: an object was kept"
        );
        assert!(
            matches!(
                server.keys.media_key(&tenant, &key).await,
                Err(KeyError::Unknown { .. })
            ),
            "{what}: a key was kept"
        );
        assert_eq!(
            recording_events(&server, &recording).await.len(),
            events_before,
            "{what}: an event was written"
        );
    }
    let (status_code, _, body) = http_bytes(server.address, &put(&recording, &sam, &audio)).await;
    assert_eq!(status_code, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(stored_files(&server).len(), 1);
    assert!(server.keys.media_key(&tenant, &key).await.is_ok());
}

/// A ticket for ada to play `recording`.
async fn ticket(server: &Server, recording: &str) -> String {
    let ada = server.token(TENANT, "ada");
    let play = server
        .ok(
            &ada,
            "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed ticketUrl } }",
            json!({ "r": recording }),
        )
        .await["startPlayback"]
        .clone();
    assert_eq!(play["allowed"], true, "{play}");
    play["ticketUrl"].as_str().unwrap().to_owned()
}

/// RFC 9110 section 13.1.5: a Range under an If-Range is served only when the validator is
/// the media's own strong entity tag; otherwise the whole file comes back, 200.
async fn if_range_serves_the_range_only_for_the_same_strong_validator(server: Server) {
    let (recording, _, _) = recording_awaiting_media(&server).await;
    let sam = server.token(TENANT, "sam");
    let audio = wav(2);
    let (status_code, _, _) = http_bytes(server.address, &put(&recording, &sam, &audio)).await;
    assert_eq!(status_code, 201);
    let ticket_url = ticket(&server, &recording).await;
    let (status_code, head, body) = http_bytes(server.address, &get(&ticket_url, None)).await;
    assert_eq!(status_code, 200, "{head}");
    assert!(body == audio);
    let etag = head
        .lines()
        .find_map(|line| line.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no ETag: {head}"))
        .to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(sha2::Sha256::digest(&audio)))
    );
    let ranged = |if_range: &str| {
        format!(
            "GET {ticket_url} HTTP/1.1\r\nHost: confide\r\nConnection: close\r\nRange: bytes=0-99\r\nIf-Range: {if_range}\r\n\r\n"
        )
        .into_bytes()
    };
    let (status_code, head, body) = http_bytes(server.address, &ranged(&etag)).await;
    assert_eq!(status_code, 206, "{head}");
    assert!(
        head.contains(&format!("content-range: bytes 0-99/{}", audio.len())),
        "{head}"
    );
    assert!(body == audio[..100]);
    for validator in [
        format!("W/{etag}"),
        "\"0000\"".to_owned(),
        "Fri, 04 Dec 2026 08:00:00 GMT".to_owned(),
        "Thu, 01 Jan 2099 00:00:00 GMT".to_owned(),
    ] {
        let (status_code, head, body) = http_bytes(server.address, &ranged(&validator)).await;
        assert_eq!(status_code, 200, "If-Range: {validator}: {head}");
        assert!(
            !head.contains("content-range"),
            "If-Range: {validator}: {head}"
        );
        assert!(body == audio, "If-Range: {validator}: not the whole file");
    }
}

/// One GET of a whole recording, read slowly, is cut off soon after the client withdraws
/// with deletion: within `REDECIDE_EVERY` (and `REDECIDE_EVERY_BYTES`) of the withdrawal,
/// short of the file's length, and the refusal is recorded.
async fn a_download_in_progress_ends_soon_after_a_withdrawal(server: Server) {
    use confide_app::{REDECIDE_EVERY, REDECIDE_EVERY_BYTES};
    use tokio::io::AsyncReadExt;

    let (recording, consent, link) = recording_awaiting_media(&server).await;
    let sam = server.token(TENANT, "sam");
    let audio = wav(600);
    let (status_code, _, body) = http_bytes(server.address, &put(&recording, &sam, &audio)).await;
    assert_eq!(status_code, 201, "{}", String::from_utf8_lossy(&body));
    let ticket_url = ticket(&server, &recording).await;
    let refusals = |events: &[RecordingEvent]| {
        events
            .iter()
            .filter(|e| matches!(e, RecordingEvent::PlaybackRefused { .. }))
            .count()
    };
    let refused_before = refusals(&recording_events(&server, &recording).await);

    // A small receive buffer, so that little more than what is read is in flight.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    stream.write_all(&get(&ticket_url, None)).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    while received.len() < 512 * 1024 {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the download ended before the withdrawal");
        received.extend_from_slice(&buffer[..n]);
    }
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", audio.len())),
        "{head}"
    );

    server
        .ok(
            &link,
            "mutation($c: UUID!) { withdrawConsent(input: { consentId: $c, deletionRequested: true }) { id } }",
            json!({ "c": consent }),
        )
        .await;
    let withdrawn = std::time::Instant::now();
    let before = received.len() - head_end;
    let ended = loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break withdrawn.elapsed(),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
        assert!(
            withdrawn.elapsed() < REDECIDE_EVERY * 10,
            "the download goes on after the withdrawal"
        );
    };
    let body = &received[head_end..];
    eprintln!(
        "of {} bytes, {before} were read before the withdrawal and {} after it; the response ended {ended:?} after it",
        audio.len(),
        body.len() - before
    );
    assert!(
        body.len() < audio.len(),
        "the whole file was sent after the withdrawal"
    );
    assert!(
        body == &audio[..body.len()],
        "what was sent is not the file"
    );
    // The server's send buffer (at most 4 MiB here) and the response's own buffers are in
    // flight when the withdrawal commits; past them, at most the bound's bytes are sent.
    let after = body.len() - before;
    assert!(
        (after as u64) < REDECIDE_EVERY_BYTES + 5 * 1024 * 1024,
        "{after} bytes were sent after the withdrawal"
    );
    assert!(
        ended < REDECIDE_EVERY + std::time::Duration::from_secs(2),
        "the download ended {ended:?} after the withdrawal"
    );
    assert_eq!(
        refusals(&recording_events(&server, &recording).await),
        refused_before + 1,
        "the cut-off is recorded as a refused playback"
    );
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    only_audio_from_its_first_byte_to_its_last_is_kept,
    if_range_serves_the_range_only_for_the_same_strong_validator,
    a_download_in_progress_ends_soon_after_a_withdrawal,
);
