//! One import, start to finish, for every front end (web page, JSON API, CLI, controller):
//!
//! 1. record the upload (`imports`, status `received`);
//! 2. stream the bytes once, teeing them into the S3 bucket (multipart) and into the analyser,
//!    which rejects a malformed file as a whole and yields the SHA-256, duplicates and
//!    suspicious rows (`stored`);
//! 3. if the same bytes were imported before, stop: that import owns the transactions (`done`);
//! 4. read the stored copy again and publish each unique row with its deterministic
//!    `transaction_id`, waiting for every delivery (`published`);
//! 5. the ingester does the rest; progress is counted from the database (`done` once every
//!    published row is a transaction or a rejection).
//!
//! Memory stays flat in the file size: the upload moves through in 64 KiB chunks and 8 MiB
//! multipart parts, the analyser spills its duplicate-detection records to temporary files and
//! keeps one bit per row, which the publishing pass reuses.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use payments_domain::ImportEvent;
use payments_import::{ImportError, ImportRef, Options, Resolved, Summary};
use payments_objectstore::{object_key, ObjectStore, ObjectStoreError};
use payments_store::{ImportCounts, ImportProgress, ImportStatus, NewImport, PgPool, StoreError};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;
use tokio_util::io::{StreamReader, SyncIoBridge};
use uuid::Uuid;

mod tokio_stream_shim;

/// Deliveries awaited at once while publishing; bounds memory, keeps the producer busy.
const MAX_IN_FLIGHT: usize = 50_000;
/// Read size of the upload tee.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ObjectStore(#[from] ObjectStoreError),
    #[error("publishing to kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("reading the upload: {0}")]
    Upload(#[from] io::Error),
    #[error("the import task failed: {0}")]
    Task(String),
    #[error("no import {0}")]
    NotFound(Uuid),
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// What the pipeline needs from outside.
#[derive(Clone)]
pub struct Pipeline {
    pub pool: PgPool,
    pub objects: ObjectStore,
    pub producer: FutureProducer,
    pub topic: String,
    pub options: Options,
}

/// What a caller learns when the upload has been handled.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub id: Uuid,
    pub file_name: String,
    pub object_key: Option<String>,
    pub status: &'static str,
    /// The original's message, or why the file was refused.
    pub message: String,
    /// When the same bytes were imported before: that import.
    pub first_import: Option<FirstImport>,
    /// Where the file was refused (row number or `header`), when it was.
    pub error_location: Option<String>,
    pub summary: Option<Summary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirstImport {
    pub id: Uuid,
    pub file_name: String,
    pub imported_at: chrono::DateTime<Utc>,
}

/// How far an import is, for pages, the JSON API and the controller.
#[derive(Debug, Clone, Serialize)]
pub struct ImportStatusView {
    pub id: Uuid,
    pub file_name: String,
    pub object_key: Option<String>,
    pub sha256: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub dry_run: bool,
    pub rows: i64,
    pub unique: i64,
    pub duplicates: i64,
    pub suspicious: i64,
    pub published: i64,
    pub ingested: i64,
    pub rejected: i64,
    pub first_import_id: Option<Uuid>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

impl From<ImportProgress> for ImportStatusView {
    fn from(p: ImportProgress) -> Self {
        let i = p.import;
        ImportStatusView {
            id: i.id,
            file_name: i.file_name,
            object_key: i.object_key,
            sha256: i.sha256,
            status: i.status,
            error: i.error,
            dry_run: i.dry_run,
            rows: i.rows,
            unique: i.unique_rows,
            duplicates: i.duplicates,
            suspicious: i.suspicious,
            published: i.published,
            ingested: p.ingested,
            rejected: p.rejected,
            first_import_id: i.first_import_id,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

impl Pipeline {
    /// Runs an import of `body` named `file_name`. A refused file is not an `Err`: the report
    /// says why; `Err` means the platform itself failed (storage, database, broker).
    pub async fn import<R>(&self, file_name: &str, body: R, dry_run: bool) -> Result<ImportReport>
    where
        R: AsyncRead + Unpin + Send,
    {
        let id = Uuid::new_v4();
        let result = self.import_as(id, file_name, body, dry_run).await;
        if let Err(e) = &result {
            // Leave no import stuck in `received`/`stored` when the platform failed: nobody
            // will resume an import whose id only this call knew.
            let _ = payments_store::set_status(
                &self.pool,
                id,
                ImportStatus::Failed,
                Some(&e.to_string()),
            )
            .await;
        }
        result
    }

    /// Runs the import with id `id`, or runs it again when an earlier attempt was interrupted
    /// before publishing had finished (`received`/`stored`): publishing again is harmless, as
    /// every row keeps its deterministic `transaction_id`. An import that got further is never
    /// run again; its report is returned as it stands. On `Err` the import stays resumable.
    #[tracing::instrument(name = "import", skip(self, id, body), fields(import_id = %id))]
    pub async fn import_as<R>(
        &self,
        id: Uuid,
        file_name: &str,
        body: R,
        dry_run: bool,
    ) -> Result<ImportReport>
    where
        R: AsyncRead + Unpin + Send,
    {
        let new = NewImport {
            id,
            file_name: file_name.to_owned(),
            suspicious_threshold: self.options.suspicious_threshold,
            dry_run,
        };
        let existing = payments_store::create_import(&self.pool, &new).await?;
        if existing.status() > ImportStatus::Stored {
            return self.report_as_it_stands(id).await;
        }
        let key = object_key(file_name, Utc::now());
        self.run(id, file_name, &key, body, dry_run).await
    }

    async fn report_as_it_stands(&self, id: Uuid) -> Result<ImportReport> {
        let view = self.status(id).await?;
        let status = ImportStatus::parse(&view.status).unwrap_or(ImportStatus::Failed);
        Ok(ImportReport {
            id,
            file_name: view.file_name.clone(),
            object_key: view.object_key.clone(),
            status: status.as_str(),
            message: message(&view),
            first_import: None,
            error_location: None,
            summary: self.summary(id).await?,
        })
    }

    async fn run<R>(
        &self,
        id: Uuid,
        file_name: &str,
        key: &str,
        body: R,
        dry_run: bool,
    ) -> Result<ImportReport>
    where
        R: AsyncRead + Unpin + Send,
    {
        let refs = if dry_run {
            Some(payments_store::load_reference_data(&self.pool).await?)
        } else {
            None
        };
        let (stored, analysed) = self.store_and_analyse(key, body, refs).await?;
        let report =
            |status: ImportStatus, message: String, summary: Option<Summary>| ImportReport {
                id,
                file_name: file_name.to_owned(),
                object_key: Some(stored.key.clone()),
                status: status.as_str(),
                message,
                first_import: None,
                error_location: None,
                summary,
            };
        let (summary, resolved) = match analysed {
            Ok(analysed) => analysed,
            Err(e) => {
                let message = format!("The file was not imported: {e}");
                payments_store::set_stored(
                    &self.pool,
                    id,
                    &stored.key,
                    &stored.sha256_hex,
                    stored.size as i64,
                    None,
                )
                .await?;
                payments_store::set_status(&self.pool, id, ImportStatus::Failed, Some(&message))
                    .await?;
                let mut r = report(ImportStatus::Failed, message, None);
                r.error_location = e.location().map(|l| l.to_string());
                return Ok(r);
            }
        };
        let first = if dry_run {
            None
        } else {
            payments_store::find_by_sha256(&self.pool, &summary.sha256).await?
        };
        payments_store::set_stored(
            &self.pool,
            id,
            &stored.key,
            &summary.sha256,
            stored.size as i64,
            first.as_ref().map(|f| f.id),
        )
        .await?;
        let mut counts = ImportCounts {
            rows: summary.rows as i64,
            unique_rows: summary.unique as i64,
            duplicates: summary.duplicate_rows as i64,
            suspicious: summary.suspicious_rows as i64,
            published: 0,
        };
        payments_store::set_counts(&self.pool, id, &counts).await?;
        payments_store::save_report(
            &self.pool,
            id,
            &serde_json::to_value(&summary).unwrap_or_default(),
        )
        .await?;

        if let Some(first) = first {
            payments_store::set_status(&self.pool, id, ImportStatus::Done, None).await?;
            let mut r = report(
                ImportStatus::Done,
                format!(
                    "This file was already imported on {} as {} (import {}); no new transactions were created.",
                    first.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    first.file_name,
                    first.id
                ),
                Some(summary),
            );
            r.first_import = Some(FirstImport {
                id: first.id,
                file_name: first.file_name,
                imported_at: first.created_at,
            });
            return Ok(r);
        }
        if dry_run {
            payments_store::set_status(&self.pool, id, ImportStatus::Done, None).await?;
            let message = format!(
                "Dry run: {} rows, {} unique, {} duplicates, {} suspicious, {} would be rejected; nothing was published.",
                summary.rows, summary.unique, summary.duplicate_rows, summary.suspicious_rows, summary.invalid_rows
            );
            return Ok(report(ImportStatus::Done, message, Some(summary)));
        }

        let Some(resolved) = resolved else {
            return Err(PipelineError::Task(
                "the analysis left no duplicate map to publish with".into(),
            ));
        };
        let published = self
            .publish(id, file_name, &stored.key, &summary.sha256, resolved)
            .await?;
        counts.published = published as i64;
        payments_store::set_counts(&self.pool, id, &counts).await?;
        payments_store::set_status(&self.pool, id, ImportStatus::Published, None).await?;
        let message = format!(
            "File uploaded successfully! {} rows sent to processing ({} duplicates removed, {} suspicious).",
            published, summary.duplicate_rows, summary.suspicious_rows
        );
        Ok(report(ImportStatus::Published, message, Some(summary)))
    }

    /// Streams the upload once into S3 and the analyser (or, for a dry run, the row checker).
    /// The analysis also yields the duplicate map [`Self::publish`] needs (not for a dry run).
    async fn store_and_analyse<R>(
        &self,
        key: &str,
        mut body: R,
        refs: Option<payments_domain::ReferenceData>,
    ) -> Result<(
        payments_objectstore::StoredObject,
        Result<(Summary, Option<Resolved>), ImportError>,
    )>
    where
        R: AsyncRead + Unpin + Send,
    {
        let (to_s3, s3_chunks) = mpsc::channel::<io::Result<Bytes>>(4);
        let (to_analyser, analyser_chunks) = mpsc::channel::<io::Result<Bytes>>(4);
        let options = self.options.clone();
        let analyser = tokio::task::spawn_blocking(move || {
            let reader = SyncIoBridge::new(StreamReader::new(ReceiverStream::new(analyser_chunks)));
            match refs {
                Some(refs) => payments_import::dry_run(reader, &options, &refs, Utc::now())
                    .map(|summary| (summary, None)),
                None => payments_import::analyse_resolved(reader, &options)
                    .map(|(summary, resolved)| (summary, Some(resolved))),
            }
        });
        let upload = self.objects.put_stream(
            key,
            StreamReader::new(ReceiverStream::new(s3_chunks)),
            "text/csv",
        );
        let feed = async move {
            let mut analyser_open = true;
            loop {
                let mut buffer = vec![0u8; CHUNK];
                let n = match body.read(&mut buffer).await {
                    Ok(n) => n,
                    Err(e) => {
                        let message = e.to_string();
                        let _ = to_s3.send(Err(io::Error::other(message.clone()))).await;
                        let _ = to_analyser.send(Err(io::Error::other(message))).await;
                        return Err(e);
                    }
                };
                if n == 0 {
                    return Ok(());
                }
                buffer.truncate(n);
                let chunk = Bytes::from(buffer);
                // The analyser may stop early on a malformed file; the original is still stored.
                if analyser_open && to_analyser.send(Ok(chunk.clone())).await.is_err() {
                    analyser_open = false;
                }
                if to_s3.send(Ok(chunk)).await.is_err() {
                    return Ok(());
                }
            }
        };
        let (fed, stored) = tokio::join!(feed, upload);
        let analysed = analyser
            .await
            .map_err(|e| PipelineError::Task(e.to_string()))?;
        fed?;
        Ok((stored?, analysed))
    }

    /// Reads the stored copy and publishes every unique row, as `resolved` (from analysing the
    /// upload) says, so no duplicate table is rebuilt; returns how many were delivered.
    async fn publish(
        &self,
        id: Uuid,
        file_name: &str,
        key: &str,
        sha256: &str,
        resolved: Resolved,
    ) -> Result<u64> {
        let object = self.objects.get(key).await?;
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        let options = self.options.clone();
        let file_name = file_name.to_owned();
        let sha256 = sha256.to_owned();
        let handle = tokio::runtime::Handle::current();
        // A blocking thread cannot be aborted: when this future is dropped (the controller lost
        // its lease, a request was cancelled) the flag stops the publisher at its next row.
        let traceparent = payments_stream::trace::current_traceparent();
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancelled.clone());
        let published = tokio::task::spawn_blocking(move || -> Result<u64> {
            let reader = SyncIoBridge::new(object);
            let import = ImportRef {
                import_id: id,
                source_file: &file_name,
                sha256_hex: &sha256,
            };
            let mut sink = KafkaSink {
                producer: &producer,
                topic: &topic,
                handle: &handle,
                pending: VecDeque::new(),
                delivered: 0,
                cancelled: &cancelled,
                traceparent: traceparent.as_deref(),
            };
            let id_text = id.to_string();
            payments_import::publish_resolved(reader, &options, &import, &resolved, |event| {
                sink.send(&event, &id_text)
            })
            .map_err(|e| PipelineError::Task(format!("publishing the stored file: {e}")))?;
            sink.drain()
        })
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))??;
        Ok(published)
    }

    /// Status and counts of one import; marks it `done` when every published row is accounted for.
    pub async fn status(&self, id: Uuid) -> Result<ImportStatusView> {
        payments_store::complete_if_ingested(&self.pool, id).await?;
        let progress = payments_store::get_import(&self.pool, id)
            .await?
            .ok_or(PipelineError::NotFound(id))?;
        Ok(progress.into())
    }

    /// The stored analysis of an import (capped lists).
    pub async fn summary(&self, id: Uuid) -> Result<Option<Summary>> {
        Ok(payments_store::load_report(&self.pool, id)
            .await?
            .and_then(|value| serde_json::from_value(value).ok()))
    }

    /// Newest imports first.
    pub async fn history(&self, limit: i64) -> Result<Vec<ImportStatusView>> {
        let rows = payments_store::recent_imports(&self.pool, limit, None).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// Publishes from the blocking analyser thread with bounded in-flight deliveries.
struct KafkaSink<'a> {
    producer: &'a FutureProducer,
    topic: &'a str,
    handle: &'a tokio::runtime::Handle,
    pending: VecDeque<DeliveryFuture>,
    delivered: u64,
    cancelled: &'a AtomicBool,
    /// The import's trace, stamped on every record.
    traceparent: Option<&'a str>,
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl KafkaSink<'_> {
    fn send(&mut self, event: &ImportEvent, import_id: &str) -> Result<(), PipelineError> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(PipelineError::Task("publishing was cancelled".into()));
        }
        let payload = serde_json::to_vec(event).map_err(|e| PipelineError::Task(e.to_string()))?;
        let key = event.transaction_id.to_string();
        loop {
            let headers = OwnedHeaders::new().insert(Header {
                key: "import-id",
                value: Some(import_id),
            });
            let headers = payments_stream::trace::with_traceparent(headers, self.traceparent);
            let record = FutureRecord::to(self.topic)
                .key(&key)
                .payload(&payload)
                .headers(headers);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if !self.wait_oldest()? {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if self.pending.len() >= MAX_IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest delivery; false when nothing was pending.
    fn wait_oldest(&mut self) -> Result<bool, PipelineError> {
        let Some(delivery) = self.pending.pop_front() else {
            return Ok(false);
        };
        match self.handle.block_on(delivery) {
            Ok(Ok(_)) => {
                self.delivered += 1;
                Ok(true)
            }
            Ok(Err((e, _))) => Err(e.into()),
            Err(_) => Err(PipelineError::Task(
                "the producer dropped a delivery".into(),
            )),
        }
    }

    fn drain(mut self) -> Result<u64> {
        while self.wait_oldest()? {}
        Ok(self.delivered)
    }
}

/// Options with a different suspicious threshold.
pub fn options_with_threshold(threshold: Decimal) -> Options {
    Options {
        suspicious_threshold: threshold,
        ..Options::default()
    }
}

/// One rejection of an imported row, for the result page.
#[derive(Debug, Clone, Serialize)]
pub struct RowRejection {
    pub row_number: Option<i64>,
    pub reason: String,
}

impl Pipeline {
    /// Rows of an import the ingester rejected, by row number.
    pub async fn rejections(&self, id: Uuid, limit: i64) -> Result<Vec<RowRejection>> {
        let rows = payments_store::import_rejections(&self.pool, id, limit).await?;
        Ok(rows
            .into_iter()
            .map(|(row_number, reason)| RowRejection { row_number, reason })
            .collect())
    }
}

/// The sentence a user reads about an import, from its current state.
pub fn message(view: &ImportStatusView) -> String {
    if let Some(error) = &view.error {
        return error.clone();
    }
    if view.first_import_id.is_some() {
        return "This file was already imported; no new transactions were created.".into();
    }
    if view.dry_run {
        return format!(
            "Dry run: {} rows, {} unique, {} duplicates, {} suspicious; nothing was published.",
            view.rows, view.unique, view.duplicates, view.suspicious
        );
    }
    match view.status.as_str() {
        "received" | "stored" => "The file is being checked.".into(),
        _ => format!(
            "File uploaded successfully! {} rows sent to processing ({} duplicates removed, {} suspicious).",
            view.published, view.duplicates, view.suspicious
        ),
    }
}
