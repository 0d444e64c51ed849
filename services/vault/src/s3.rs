//! The S3 blob store, over `aws-sdk-s3`: AWS S3 or any S3-compatible server (Garage, MinIO).

use std::fmt;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::blob::{BlobKey, BlobStore};
use crate::error::BlobError;

/// Bytes in each part of a multipart upload, the last excepted. S3 wants at least 5 MiB; two
/// parts are in memory at most (one uploading, one filling).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// How long opening a connection to the store may take. A store that refuses connections
/// (down) fails a call within a few hundred milliseconds, one that cannot be reached at all
/// within [`ATTEMPTS`] of this plus the backoffs (under two seconds); the API answers either
/// as an outage (`UNAVAILABLE`, 503) instead of keeping the client waiting.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Attempts of each call, the first included: a dropped connection or a 5xx is tried again.
const ATTEMPTS: u32 = 3;
/// The backoff before the first retry (doubled before the next, with jitter), and its cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Where an [`S3BlobStore`] keeps its objects, and how it signs in.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// The S3 endpoint, such as `http://127.0.0.1:3900` for a local Garage; `None` for AWS.
    pub endpoint_url: Option<String>,
    /// The region requests are signed for. Garage checks it against its `s3_region`.
    pub region: String,
    /// The bucket, which must exist.
    pub bucket: String,
    /// Address the bucket in the path (`endpoint/bucket/key`) rather than the host name
    /// (`bucket.endpoint/key`): what most S3-compatible servers need.
    pub force_path_style: bool,
    /// Explicit credentials; `None` takes them from the usual AWS chain (environment, profile,
    /// web identity, container or instance metadata).
    pub credentials: Option<S3Credentials>,
}

/// An S3 access key. `Debug` shows the key id, never the secret, and the secret is wiped
/// from memory when dropped.
#[derive(Clone)]
pub struct S3Credentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
}

impl S3Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
        }
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"..")
            .finish()
    }
}

/// A [`BlobStore`] in an S3 bucket.
///
/// A body of up to [`PART_SIZE`] is one `PutObject`; a larger one a multipart upload of
/// [`PART_SIZE`] parts, one uploading while the next fills, completed only once the body has
/// ended, and aborted on any error. If the `put` future is dropped half-way, the abort is sent
/// from a task on the runtime; a lifecycle rule aborting incomplete multipart uploads after a
/// day is the backstop for a process killed in between.
///
/// Request checksums are sent only where S3 requires them: the media carries its own
/// authentication, and S3-compatible servers differ in which checksums they accept.
///
/// Deleting removes the object, then lists the key's versions and deletes each one (delete
/// markers included), so a versioned bucket keeps nothing either. Servers that keep no
/// versions and do not implement `ListObjectVersions` (Garage answers `NotImplemented`) are
/// done after the plain delete.
#[derive(Clone, Debug)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    /// A store for `config`. Contacts nothing: a wrong endpoint, bucket or credentials show on
    /// first use.
    pub async fn new(config: S3Config) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()));
        if let Some(credentials) = &config.credentials {
            loader = loader.credentials_provider(Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.as_str(),
                None,
                None,
                "confide-settings",
            ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(ATTEMPTS)
                    .with_initial_backoff(FIRST_BACKOFF)
                    .with_max_backoff(MAX_BACKOFF),
            )
            .force_path_style(config.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint_url) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint_url);
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket,
        }
    }

    async fn put_object(&self, key: &BlobKey, body: Bytes) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| s3_error("put an object", e))?;
        Ok(())
    }

    /// Uploads `first` and the rest of `reader` as a multipart upload.
    async fn put_multipart(
        &self,
        key: &BlobKey,
        first: Bytes,
        reader: &mut PartReader<'_>,
    ) -> Result<u64, BlobError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| s3_error("start a multipart upload", e))?;
        let upload_id = created.upload_id().ok_or_else(|| BlobError::Store {
            operation: "start a multipart upload",
            retryable: false,
            source: "the server returned no upload id".into(),
        })?;
        let mut upload = PendingUpload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.as_str().to_owned(),
            upload_id: upload_id.to_owned(),
            in_flight: None,
            finished: false,
        };
        let mut parts = Vec::new();
        let mut stored = 0u64;
        let uploaded = async {
            let mut part = first;
            let mut number = 1i32;
            loop {
                stored += part.len() as u64;
                // One part uploads while the next one fills, never more.
                if let Some(previous) = upload.in_flight.take() {
                    parts.push(joined(previous).await?);
                }
                upload.in_flight = Some(tokio::spawn(upload_part(
                    upload.client.clone(),
                    upload.bucket.clone(),
                    upload.key.clone(),
                    upload.upload_id.clone(),
                    number,
                    part,
                )));
                if reader.is_done() {
                    break;
                }
                part = reader.next_part().await?;
                number += 1;
            }
            if let Some(previous) = upload.in_flight.take() {
                parts.push(joined(previous).await?);
            }
            Ok::<_, BlobError>(())
        }
        .await;
        let completed = match uploaded {
            Ok(()) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload.upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| s3_error("complete a multipart upload", e)),
            Err(error) => Err(error),
        };
        match completed {
            Ok(_) => {
                upload.finished = true;
                Ok(stored)
            }
            Err(error) => {
                upload.abort().await;
                Err(error)
            }
        }
    }

    /// Deletes every version and delete marker of exactly `key`. `Ok(false)` if the server
    /// does not list versions (it keeps none).
    async fn delete_versions(&self, key: &BlobKey) -> Result<bool, BlobError> {
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let listed = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(key.as_str())
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await;
            let listed = match listed {
                Ok(listed) => listed,
                Err(error) if not_implemented(&error) => return Ok(false),
                Err(error) => return Err(s3_error("list an object's versions", error)),
            };
            let versions = listed
                .versions()
                .iter()
                .map(|version| (version.key(), version.version_id()))
                .chain(
                    listed
                        .delete_markers()
                        .iter()
                        .map(|marker| (marker.key(), marker.version_id())),
                );
            for (found, version_id) in versions {
                // The prefix also lists longer keys; only this key's versions go.
                let (Some(found), Some(version_id)) = (found, version_id) else {
                    continue;
                };
                if found != key.as_str() {
                    continue;
                }
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key.as_str())
                    .version_id(version_id)
                    .send()
                    .await
                    .map_err(|e| s3_error("delete an object version", e))?;
            }
            if listed.is_truncated() != Some(true) {
                return Ok(true);
            }
            key_marker = listed.next_key_marker().map(str::to_owned);
            version_marker = listed.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() && version_marker.is_none() {
                return Ok(true);
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn put(
        &self,
        key: &BlobKey,
        body: BoxStream<'_, Result<Bytes, io::Error>>,
    ) -> Result<u64, BlobError> {
        let mut reader = PartReader {
            body,
            buffer: BytesMut::new(),
            ended: false,
        };
        let first = reader.next_part().await?;
        if reader.is_done() {
            let len = first.len() as u64;
            self.put_object(key, first).await?;
            return Ok(len);
        }
        self.put_multipart(key, first, &mut reader).await
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(head) => Ok(Some(
                head.content_length()
                    .and_then(|len| u64::try_from(len).ok())
                    .unwrap_or(0),
            )),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_not_found())
                    || status(&error) == Some(404) =>
            {
                Ok(None)
            }
            Err(error) => Err(s3_error("read an object's size", error)),
        }
    }

    #[tracing::instrument(skip_all, fields(key = %key, start, end))]
    async fn get_range(
        &self,
        key: &BlobKey,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        if start >= end {
            return Err(BlobError::EmptyRange { start, end });
        }
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_no_such_key())
                    || status(&error) == Some(404)
                {
                    BlobError::NotFound {
                        key: key.to_string(),
                    }
                } else if status(&error) == Some(416) || error.code() == Some("InvalidRange") {
                    BlobError::RangeNotSatisfiable {
                        key: key.to_string(),
                        start,
                    }
                } else {
                    s3_error("read an object", error)
                }
            })?;
        Ok(stream::unfold(Some(output.body), |body| async move {
            let mut body = body?;
            match body.next().await? {
                Ok(bytes) => Some((Ok(bytes), Some(body))),
                Err(error) => Some((
                    Err(BlobError::Store {
                        operation: "read an object",
                        retryable: true,
                        source: Box::new(error),
                    }),
                    None,
                )),
            }
        })
        .boxed())
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        // The plain delete first: on a versioned bucket it adds a delete marker, which the
        // listing below then finds and deletes along with every other version.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| s3_error("delete an object", e))?;
        if !self.delete_versions(key).await? {
            tracing::debug!("the server lists no object versions; the plain delete suffices");
        }
        Ok(())
    }
}

/// Cuts a body into parts of [`PART_SIZE`], reading one byte ahead so that the last part is
/// known as soon as it is read.
struct PartReader<'a> {
    body: BoxStream<'a, Result<Bytes, io::Error>>,
    buffer: BytesMut,
    ended: bool,
}

impl PartReader<'_> {
    /// The next part: [`PART_SIZE`] bytes, or what is left of the body.
    async fn next_part(&mut self) -> Result<Bytes, BlobError> {
        while !self.ended && self.buffer.len() <= PART_SIZE {
            match self.body.next().await {
                Some(Ok(frame)) => {
                    if self.buffer.capacity() == 0 {
                        self.buffer.reserve(PART_SIZE + frame.len());
                    }
                    self.buffer.extend_from_slice(&frame);
                }
                Some(Err(error)) => return Err(BlobError::Body(error)),
                None => self.ended = true,
            }
        }
        let len = self.buffer.len().min(PART_SIZE);
        Ok(self.buffer.split_to(len).freeze())
    }

    /// Whether the body has ended and every byte of it has been handed out.
    fn is_done(&self) -> bool {
        self.ended && self.buffer.is_empty()
    }
}

/// A multipart upload under way; aborted, if dropped unfinished, from a task on the runtime.
struct PendingUpload {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    in_flight: Option<JoinHandle<Result<CompletedPart, BlobError>>>,
    finished: bool,
}

impl PendingUpload {
    /// Waits for the part being uploaded, then aborts the upload, so the server keeps none of
    /// its parts.
    async fn abort(&mut self) {
        self.finished = true;
        abort_upload(
            self.in_flight.take(),
            self.client.clone(),
            self.bucket.clone(),
            self.key.clone(),
            self.upload_id.clone(),
        )
        .await;
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let in_flight = self.in_flight.take();
        let abort = abort_upload(
            in_flight,
            self.client.clone(),
            self.bucket.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.upload_id),
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(abort);
            }
            Err(_) => tracing::warn!(
                "a multipart upload was dropped outside a runtime and is left to the bucket's \
                 lifecycle rule"
            ),
        }
    }
}

async fn abort_upload(
    in_flight: Option<JoinHandle<Result<CompletedPart, BlobError>>>,
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
) {
    if let Some(part) = in_flight {
        // Its outcome no longer matters, only that it is over before the abort.
        let _ = part.await;
    }
    let aborted = client
        .abort_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await;
    if let Err(error) = aborted {
        tracing::warn!(
            key,
            error = %aws_sdk_s3::error::DisplayErrorContext(&error),
            "aborting a failed multipart upload failed; the bucket's lifecycle rule will"
        );
    }
}

async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    number: i32,
    part: Bytes,
) -> Result<CompletedPart, BlobError> {
    let uploaded = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from(part))
        .send()
        .await
        .map_err(|e| s3_error("upload a part", e))?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(uploaded.e_tag().map(str::to_owned))
        .build())
}

async fn joined(
    part: JoinHandle<Result<CompletedPart, BlobError>>,
) -> Result<CompletedPart, BlobError> {
    part.await.map_err(|e| BlobError::Store {
        operation: "upload a part",
        retryable: false,
        source: Box::new(e),
    })?
}

fn status<E>(error: &SdkError<E>) -> Option<u16> {
    error
        .raw_response()
        .map(|response| response.status().as_u16())
}

fn not_implemented<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    status(error) == Some(501) || error.code() == Some("NotImplemented")
}

/// A failed S3 call as a [`BlobError`], retryable when the service was unreachable, timed out
/// or answered with a server error or a request to slow down.
fn s3_error<E>(operation: &'static str, error: SdkError<E>) -> BlobError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            status(&error).is_some_and(|status| status >= 500 || status == 429)
                || matches!(error.code(), Some("SlowDown" | "RequestTimeout"))
        }
        _ => false,
    };
    BlobError::Store {
        operation,
        retryable,
        source: Box::new(error),
    }
}
