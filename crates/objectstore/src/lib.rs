//! Where uploaded files are kept: an S3 bucket (MinIO in the cluster, `s3s-fs` locally).
//! Files are streamed in fixed-size multipart parts, so memory stays flat whatever the file size,
//! and hashed on the way so the caller learns the SHA-256 of exactly the bytes stored.

use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

// The sanitiser is pure, so it lives in the light domain crate (fuzzed without the AWS SDK);
// re-exported so callers keep `payments_objectstore::object_key`.
pub use payments_domain::object_key::{import_object_key, object_key};

/// Size of each multipart part (S3's minimum is 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    #[error("S3 {operation} failed: {message}")]
    S3 {
        operation: &'static str,
        message: String,
    },
    #[error("reading the upload: {0}")]
    Read(#[from] std::io::Error),
}

pub type Result<T, E = ObjectStoreError> = std::result::Result<T, E>;

fn s3<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> ObjectStoreError {
    move |e| {
        // The SDK's Display is terse; the source chain says what actually happened.
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        ObjectStoreError::S3 { operation, message }
    }
}

/// How to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// `http://host:port` of MinIO or another S3 server; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key: String,
    pub secret_key: SecretString,
    pub bucket: String,
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub sha256_hex: String,
}

#[derive(Clone)]
pub struct ObjectStore {
    client: Client,
    bucket: String,
}

impl ObjectStore {
    pub fn new(options: &S3Options) -> Self {
        let credentials = Credentials::new(
            &options.access_key,
            options.secret_key.expose_secret(),
            None,
            None,
            "payments",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(options.region.clone()))
            .credentials_provider(credentials)
            // MinIO and s3s-fs address buckets by path, not by virtual host.
            .force_path_style(true)
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(120))
                    .build(),
            );
        if let Some(endpoint) = &options.endpoint {
            config = config.endpoint_url(endpoint);
        }
        ObjectStore {
            client: Client::from_conf(config.build()),
            bucket: options.bucket.clone(),
        }
    }

    /// The same server and credentials, addressing another bucket.
    pub fn with_bucket(&self, bucket: &str) -> ObjectStore {
        ObjectStore {
            client: self.client.clone(),
            bucket: bucket.to_owned(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket if it does not exist yet.
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(s3("CreateBucket")(e)),
        }
    }

    /// Streams `reader` into `key`: one PUT for a small file, a multipart upload of
    /// [`PART_SIZE`] parts otherwise (aborted if anything fails, so no half object remains).
    pub async fn put_stream<R: AsyncRead + Unpin>(
        &self,
        key: &str,
        mut reader: R,
        content_type: &str,
    ) -> Result<StoredObject> {
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let first = read_part(&mut reader).await?;
        hasher.update(&first);
        size += first.len() as u64;
        if first.len() < PART_SIZE {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(s3("PutObject"))?;
            return Ok(StoredObject {
                key: key.to_owned(),
                size,
                sha256_hex: hex::encode(hasher.finalize()),
            });
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(s3("CreateMultipartUpload"))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result = self
            .upload_parts(key, &upload_id, first, &mut reader, &mut hasher, &mut size)
            .await;
        match result {
            Ok(parts) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(s3("CompleteMultipartUpload"))?;
                Ok(StoredObject {
                    key: key.to_owned(),
                    size,
                    sha256_hex: hex::encode(hasher.finalize()),
                })
            }
            Err(e) => {
                let abort = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                if let Err(abort) = abort {
                    tracing::warn!(error = %abort, key, "aborting multipart upload failed");
                }
                Err(e)
            }
        }
    }

    async fn upload_parts<R: AsyncRead + Unpin>(
        &self,
        key: &str,
        upload_id: &str,
        first: Vec<u8>,
        reader: &mut R,
        hasher: &mut Sha256,
        size: &mut u64,
    ) -> Result<Vec<CompletedPart>> {
        let mut parts = Vec::new();
        let mut body = first;
        loop {
            let number = parts.len() as i32 + 1;
            let is_last = body.len() < PART_SIZE;
            let sent = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(s3("UploadPart"))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag().map(str::to_owned))
                    .build(),
            );
            if is_last {
                return Ok(parts);
            }
            body = read_part(reader).await?;
            if body.is_empty() {
                return Ok(parts);
            }
            hasher.update(&body);
            *size += body.len() as u64;
        }
    }

    /// The object's bytes as a stream.
    pub async fn get(&self, key: &str) -> Result<impl AsyncRead + Unpin + Send + 'static> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3("GetObject"))?;
        Ok(object.body.into_async_read())
    }

    /// The object's size, or `None` when there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or_default().max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3("HeadObject")(e)),
        }
    }

    /// Keys under `prefix`, for listings and tests.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3("ListObjectsV2"))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }
}

/// Reads up to one part; shorter only at the end of the stream.
async fn read_part<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>> {
    let mut buffer = Vec::with_capacity(PART_SIZE);
    let mut limited = reader.take(PART_SIZE as u64);
    limited.read_to_end(&mut buffer).await?;
    Ok(buffer)
}
