//! Running one import: record it, store and analyse the upload in one pass, publish its unique
//! rows from the stored copy.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use payments_csv::{ImportError, Resolved, Summary};
use payments_domain::import::{holds_rows_only, ImportCounts, ImportFailure};
use payments_objectstore::import_object_key;
use payments_store::{Decided, Decision, Import, NewImport, StoredFile};
use payments_stream::Publisher;
use rdkafka::message::{Header, OwnedHeaders};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::io::{StreamReader, SyncIoBridge};
use uuid::Uuid;

use crate::cross_file::{Lookup, Matches};
use crate::decide::{decide, Findings, Verdict};
use crate::error::upload_error;
use crate::outcome;
use crate::reading::Reading;
use crate::{FirstImport, ImportReport, ImportRequest, Pipeline, PipelineError, Refusal, Result};

/// What the analysis of an upload yields: its summary, its row map and, when looked for, the
/// valid rows whose payment landed from another import.
type Analysed = (Summary, Resolved, Option<Result<Matches>>);

/// Attempts at publishing a file, each with a fresh producer after deliveries timed out.
const PUBLISH_ATTEMPTS: u32 = 3;
/// Deliveries awaited at once while publishing; bounds memory, keeps the producer busy. At a
/// 1 GiB upload (16.3M rows) the bound only shows when the broker is slower than the file:
/// then 50,000 in flight peaked at 176-180 MiB and 10,000 at 130 MiB in the same time; with a
/// broker that keeps up, 50,000, 10,000 and 2,000 all peak at 110-119 MiB in the same time
/// (docs/benchmarks.md, "Importer memory at a 1 GiB upload").
const MAX_IN_FLIGHT: usize = 10_000;
/// Read size of the upload tee.
const CHUNK: usize = 64 * 1024;

impl Pipeline {
    /// Runs an import of `body` as `request` says. A refused file is not an `Err`: the report
    /// says why; `Err` means the platform itself failed (storage, database, broker).
    pub async fn import<R>(&self, request: &ImportRequest, body: R) -> Result<ImportReport>
    where
        R: AsyncRead + Unpin + Send,
    {
        let id = Uuid::new_v4();
        let result = self.import_as(id, request, body).await;
        if let Err(e) = &result {
            // Leave no import stuck in `received`/`stored` when the platform failed: nobody
            // will resume an import whose id only this call knew.
            let _ = payments_store::mark_failed(&self.pool, id, e.failure(), &e.to_string()).await;
        }
        result
    }

    /// Runs the import with id `id`, or runs it again when an earlier attempt was interrupted
    /// before publishing had finished (`received`/`stored`): publishing again is harmless, as
    /// every row keeps its deterministic `transaction_id`. An import that got further is never
    /// run again; its report is returned as it stands. On `Err` the import stays resumable.
    #[tracing::instrument(name = "import", skip(self, id, request, body), fields(import_id = %id, file_name = %request.file_name))]
    pub async fn import_as<R>(
        &self,
        id: Uuid,
        request: &ImportRequest,
        body: R,
    ) -> Result<ImportReport>
    where
        R: AsyncRead + Unpin + Send,
    {
        let (file_name, dry_run) = (request.file_name.as_str(), request.dry_run);
        // A correction of an import that cannot be corrected is refused before anything.
        let reading = self.reading(request.corrects).await?;
        let new = NewImport {
            id,
            file_name: file_name.to_owned(),
            suspicious_threshold: self.options.suspicious_threshold,
            dry_run,
            started_by: request.started_by.clone(),
            expected_totals: request.expected_totals.clone(),
            corrects: request.corrects,
        };
        let existing = payments_store::create_import(&self.pool, &new).await?;
        if !existing.status.is_resumable() {
            return self.report_as_it_stands(id).await;
        }
        let key = import_object_key(file_name, Utc::now(), id);
        self.run(id, request, &key, body, reading).await
    }

    async fn report_as_it_stands(&self, id: Uuid) -> Result<ImportReport> {
        let summary = self.summary(id).await?;
        self.report(id, summary).await
    }

    /// What the caller is told about import `id` as it now stands: its state and the outcome's
    /// words, the same a later look at the import shows.
    async fn report(&self, id: Uuid, summary: Option<Summary>) -> Result<ImportReport> {
        let import = self.status(id).await?;
        let outcome = self.outcome(&import).await?;
        Ok(ImportReport {
            id,
            file_name: import.file_name.clone(),
            object_key: import.object_key.clone(),
            status: import.status,
            message: outcome.message(),
            outcome,
            first_import: None,
            error_location: None,
            summary,
        })
    }

    async fn run<R>(
        &self,
        id: Uuid,
        request: &ImportRequest,
        key: &str,
        body: R,
        reading: Reading,
    ) -> Result<ImportReport>
    where
        R: AsyncRead + Unpin + Send,
    {
        let (file_name, dry_run) = (request.file_name.as_str(), request.dry_run);
        // Users and currencies as they are now: every row is checked against them before
        // anything is published (the ingester checks again, against its own copy).
        let refs = payments_store::load_reference_data(&self.pool).await?;
        // Valid rows are looked up among what other imports reserved or landed while they are
        // read, and reserved for this one unless it is a dry run. An import whose importer died
        // holding reservations releases them first, once idle past the lease.
        let reserve = self.approval.reservations && !dry_run;
        if self.approval.cross_file_duplicates && reserve {
            let abandoned =
                payments_store::release_abandoned(&self.pool, self.approval.reservation_lease)
                    .await?;
            for import in abandoned {
                tracing::warn!(%import, "an import idle past the reservation lease was failed as abandoned and its reservations released");
            }
        }
        let lookup = self.approval.cross_file_duplicates.then(|| {
            Lookup::new(
                self.pool.clone(),
                payments_store::OwnImport {
                    id,
                    corrects: request.corrects,
                },
                reserve,
                tokio::runtime::Handle::current(),
                reading.options.spill_dir.clone(),
            )
        });
        let (stored, analysed) = self
            .store_and_analyse(key, body, refs, reading.clone(), lookup)
            .await?;
        let (mut summary, mut resolved, matches) = match analysed {
            Ok(analysed) => analysed,
            Err(e) if e.is_platform_fault() => return Err(PipelineError::Analyser(e)),
            Err(e) => {
                let message = format!("The file was not imported: {e}");
                let file = StoredFile {
                    object_key: &stored.key,
                    sha256: &stored.sha256_hex,
                    size_bytes: stored.size as i64,
                    first_import_id: None,
                };
                payments_store::mark_stored(&self.pool, id, &file).await?;
                payments_store::mark_failed(&self.pool, id, ImportFailure::InvalidFile, &message)
                    .await?;
                let mut report = self.report(id, None).await?;
                report.error_location = e.location().map(|l| l.to_string());
                return Ok(report);
            }
        };
        let first = if dry_run {
            None
        } else {
            payments_store::find_by_sha256(&self.pool, &summary.sha256).await?
        };
        let file = StoredFile {
            object_key: &stored.key,
            sha256: &summary.sha256,
            size_bytes: stored.size as i64,
            first_import_id: first.as_ref().map(|f| f.id),
        };
        payments_store::mark_stored(&self.pool, id, &file).await?;
        // Payments another import reserved or landed are held back (only they). A row seen in
        // an earlier import of these same bytes (one that failed while publishing, say) is the
        // same transaction, under the same id: it cannot land twice, so it is not held.
        let cross_file = match matches {
            Some(matches) if first.is_none() => {
                let same_file =
                    payments_store::imports_of_file(&self.pool, &summary.sha256, id).await?;
                // Matches beyond the first come back from the disk: off the runtime's threads.
                let (matches, max_listed) = (matches?, reading.options.max_listed);
                let (found, back) = tokio::task::spawn_blocking(move || {
                    let found = matches.held(&same_file, &resolved, max_listed);
                    (found, resolved)
                })
                .await
                .map_err(|e| PipelineError::Task(e.to_string()))?;
                resolved = back;
                let found = found?;
                found.apply(&mut summary, &mut resolved);
                Some(found)
            }
            _ => None,
        };
        let mut counts = counts_of(&summary);
        payments_store::set_counts(&self.pool, id, &counts).await?;
        save_summary(&self.pool, id, &summary).await?;

        let verdict = decide(Findings {
            already_imported: first.is_some(),
            dry_run,
            differences: request
                .expected_totals
                .as_ref()
                .map(|expected| expected.differences(&summary.totals.file))
                .unwrap_or_default(),
            unique: summary.unique,
            invalid: summary.invalid_rows,
            invalid_rows: request.invalid_rows.unwrap_or(self.invalid_rows),
            approval: self.approval.reasons(&summary, request.require_approval),
        });
        // Publishes the unique valid rows; `None` when another import failed this one as
        // abandoned (idle past the lease) and took its payments: then it must not publish.
        let publishing = |resolved: Resolved| async {
            if !payments_store::start_publishing(&self.pool, id).await? {
                return Ok(None);
            }
            let published = self
                .publish(
                    id,
                    file_name,
                    &stored.key,
                    &summary.sha256,
                    resolved,
                    &reading,
                )
                .await?;
            Ok::<_, PipelineError>(Some(published))
        };
        match verdict {
            Verdict::AlreadyImported => {
                // The first import owns these payments; this one publishes nothing.
                payments_store::release_reservations(&self.pool, id).await?;
                payments_store::mark_done(&self.pool, id).await?;
            }
            Verdict::Hold {
                failure,
                differences,
            } => {
                let message = outcome::held(failure, &counts, &differences).join(" ");
                payments_store::mark_failed(&self.pool, id, failure, &message).await?;
            }
            Verdict::AwaitApproval {
                reasons,
                publish_others,
            } => {
                if let Some(found) = &cross_file {
                    payments_store::save_held_rows(&self.pool, id, &found.held).await?;
                }
                // Held for cross-file duplicates alone: the other rows publish now.
                if publish_others {
                    let Some(published) = publishing(resolved).await? else {
                        return self.report_as_it_stands(id).await;
                    };
                    counts.published = published as i64;
                }
                payments_store::mark_awaiting_approval(&self.pool, id, &reasons, counts.published)
                    .await?;
            }
            Verdict::DryRun => {
                payments_store::mark_done(&self.pool, id).await?;
            }
            Verdict::Publish => {
                let Some(published) = publishing(resolved).await? else {
                    return self.report_as_it_stands(id).await;
                };
                payments_store::mark_published(&self.pool, id, published as i64).await?;
            }
        }
        let mut report = self.report(id, Some(summary)).await?;
        report.first_import = first.map(|first| FirstImport {
            id: first.id,
            file_name: first.file_name,
            imported_at: first.created_at,
        });
        Ok(report)
    }

    /// Records `by`'s approval of import `id` and publishes it: the stored copy is checked
    /// again (users and currencies as they are now) and its valid unique rows are published.
    /// Approving again after an interrupted publish (same identity) publishes again, harmlessly.
    pub async fn approve(&self, id: Uuid, by: Option<&str>) -> Result<ImportReport> {
        let by = identity(by)?;
        match payments_store::decide(&self.pool, id, Decision::Approve, by, None).await? {
            Decided::Recorded(_) | Decided::AlreadyApproved => {}
            refused => return Err(refusal(id, refused)),
        }
        let import = self.status(id).await?;
        let (Some(key), Some(sha256)) = (import.object_key.clone(), import.sha256.clone()) else {
            return Err(PipelineError::Task(
                "the approved import has no stored file".into(),
            ));
        };
        let reading = self.reading(import.corrects_import_id).await?;
        let refs = payments_store::load_reference_data(&self.pool).await?;
        let object = self.objects.get(&key).await?;
        let checking = reading.clone();
        let analysed = tokio::task::spawn_blocking(move || {
            checking.analyse(SyncIoBridge::new(object), &refs, Utc::now())
        })
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))?
        .map_err(PipelineError::Analyser)?;
        let (mut summary, mut resolved) = analysed;
        if summary.sha256 != sha256 {
            return Err(PipelineError::Task(format!(
                "the stored copy of the import changed (SHA-256 {} instead of {sha256})",
                summary.sha256
            )));
        }
        // What was held and reported at upload stays reported.
        if let Some(before) = self.summary(id).await? {
            summary.cross_file_duplicates = before.cross_file_duplicates;
            summary.cross_file = before.cross_file;
            summary.totals.held = before.totals.held;
            summary.lists_truncated |= before.lists_truncated;
        }
        // Only cross-file duplicates were held: the other rows are published already.
        let published_before = if holds_rows_only(&import.approval_reasons) {
            for held in payments_store::held_rows(&self.pool, id).await? {
                resolved.hold(held.row);
            }
            resolved = resolved.only_held();
            import.counts.published
        } else {
            0
        };
        // Users may have changed since the upload: what is published is what passes now.
        let counts = counts_of(&summary);
        payments_store::set_counts(&self.pool, id, &counts).await?;
        save_summary(&self.pool, id, &summary).await?;
        payments_store::start_publishing(&self.pool, id).await?;
        let published = published_before
            + self
                .publish(id, &import.file_name, &key, &sha256, resolved, &reading)
                .await? as i64;
        payments_store::mark_published(&self.pool, id, published).await?;
        self.report(id, Some(summary)).await
    }

    /// Records `by`'s rejection of import `id` (final: nothing is ever published).
    pub async fn reject(&self, id: Uuid, by: Option<&str>, note: Option<&str>) -> Result<Import> {
        let by = identity(by)?;
        match payments_store::decide(&self.pool, id, Decision::Reject, by, note).await? {
            Decided::Recorded(_) => self.status(id).await,
            refused => Err(refusal(id, refused)),
        }
    }

    /// Streams the upload once into S3 and the analyser, which checks every row (and hands
    /// each valid one to `lookup`); the analysis also yields the map of duplicate and invalid
    /// rows [`Self::publish`] needs.
    async fn store_and_analyse<R>(
        &self,
        key: &str,
        mut body: R,
        refs: payments_domain::ReferenceData,
        reading: Reading,
        lookup: Option<Lookup>,
    ) -> Result<(
        payments_objectstore::StoredObject,
        Result<Analysed, ImportError>,
    )>
    where
        R: AsyncRead + Unpin + Send,
    {
        let (to_s3, s3_chunks) = mpsc::channel::<io::Result<Bytes>>(4);
        let (to_analyser, analyser_chunks) = mpsc::channel::<io::Result<Bytes>>(4);
        let analyser = tokio::task::spawn_blocking(move || {
            let reader = SyncIoBridge::new(StreamReader::new(ReceiverStream::new(analyser_chunks)));
            let mut lookup = lookup;
            let (summary, resolved) =
                reading.analyse_with(reader, &refs, Utc::now(), &mut |row, values, payment| {
                    if let Some(lookup) = lookup.as_mut() {
                        lookup.offer(row, values, payment);
                    }
                })?;
            Ok((summary, resolved, lookup.map(Lookup::finish)))
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
        fed.map_err(upload_error)?;
        Ok((stored?, analysed))
    }

    /// Reads the stored copy and publishes every unique row, as `resolved` (from analysing the
    /// upload) says, so no duplicate table is rebuilt; returns how many were delivered. When
    /// deliveries time out (the broker was away longer than the producer waits, or the
    /// producer got stuck, as librdkafka can after a broker restart), it publishes again with
    /// a fresh producer: every row keeps its `transaction_id`, so a repeat lands once.
    async fn publish(
        &self,
        id: Uuid,
        file_name: &str,
        key: &str,
        sha256: &str,
        resolved: Resolved,
        reading: &Reading,
    ) -> Result<u64> {
        let mut attempt = 1;
        loop {
            let publisher = self.current_publisher()?;
            let result = self
                .publish_with(
                    publisher.clone(),
                    id,
                    file_name,
                    key,
                    sha256,
                    resolved.clone(),
                    reading,
                )
                .await;
            match (result, &self.kafka) {
                (Err(PipelineError::Kafka(e)), Some(kafka))
                    if e.is_delivery_timeout() && attempt < PUBLISH_ATTEMPTS =>
                {
                    tracing::warn!(error = %e, attempt, "deliveries timed out; publishing again with a fresh producer");
                    let fresh = Publisher::new(kafka.producer()?, publisher.topic());
                    *self
                        .publisher
                        .write()
                        .map_err(|_| PipelineError::Task("the publisher lock broke".into()))? =
                        fresh;
                    attempt += 1;
                }
                (result, _) => return result,
            }
        }
    }

    fn current_publisher(&self) -> Result<Publisher> {
        self.publisher
            .read()
            .map(|p| p.clone())
            .map_err(|_| PipelineError::Task("the publisher lock broke".into()))
    }

    /// One attempt of [`Self::publish`] with `publisher`.
    #[allow(clippy::too_many_arguments)]
    async fn publish_with(
        &self,
        publisher: Publisher,
        id: Uuid,
        file_name: &str,
        key: &str,
        sha256: &str,
        resolved: Resolved,
        reading: &Reading,
    ) -> Result<u64> {
        let object = self.objects.get(key).await?;
        let reading = reading.clone();
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
            let import = reading.import_ref(id, &file_name, &sha256);
            let options = &reading.options;
            let mut sink = publisher.blocking(handle, MAX_IN_FLIGHT);
            let id_text = id.to_string();
            payments_csv::publish_resolved(reader, options, &import, &resolved, |event| {
                if cancelled.load(Ordering::SeqCst) {
                    return Err(PipelineError::Task("publishing was cancelled".into()));
                }
                let payload =
                    serde_json::to_vec(&event).map_err(|e| PipelineError::Task(e.to_string()))?;
                let headers = OwnedHeaders::new().insert(Header {
                    key: "import-id",
                    value: Some(&id_text),
                });
                let headers =
                    payments_stream::trace::with_traceparent(headers, traceparent.as_deref());
                sink.send(&event.transaction_id.to_string(), &payload, headers)?;
                Ok(())
            })
            .map_err(|e| match e {
                // The sink's own error, kept as it is (a delivery timeout is retried).
                ImportError::Sink(inner) => match inner.downcast::<PipelineError>() {
                    Ok(e) => *e,
                    Err(other) => {
                        PipelineError::Task(format!("publishing the stored file: {other}"))
                    }
                },
                e => PipelineError::Task(format!("publishing the stored file: {e}")),
            })?;
            Ok(sink.drain()?)
        })
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))??;
        Ok(published)
    }
}

/// The analysis's counts (published, ingested and rejected come later).
fn counts_of(summary: &Summary) -> ImportCounts {
    ImportCounts {
        rows: summary.rows as i64,
        unique: summary.unique as i64,
        duplicates: summary.duplicate_rows as i64,
        suspicious: summary.suspicious_rows as i64,
        invalid: summary.invalid_rows as i64,
        cross_file_duplicates: summary.cross_file_duplicates as i64,
        ..ImportCounts::default()
    }
}

async fn save_summary(pool: &payments_store::PgPool, id: Uuid, summary: &Summary) -> Result<()> {
    let value = serde_json::to_value(summary).map_err(|e| PipelineError::Task(e.to_string()))?;
    Ok(payments_store::save_analysis(pool, id, &value).await?)
}

/// The identity deciding, which must be named.
fn identity(by: Option<&str>) -> Result<&str> {
    by.map(str::trim)
        .filter(|b| !b.is_empty())
        .ok_or(PipelineError::Refused(Refusal::Anonymous))
}

fn refusal(id: Uuid, decided: Decided) -> PipelineError {
    match decided {
        Decided::SameIdentity => Refusal::SameIdentity.into(),
        Decided::DecidedBy(by) => Refusal::DecidedBy(by).into(),
        Decided::NotAwaiting(status) => Refusal::NotAwaiting(status).into(),
        Decided::NotFound => PipelineError::NotFound(id),
        Decided::Recorded(_) | Decided::AlreadyApproved => {
            PipelineError::Task("an approval was taken for a refusal".into())
        }
    }
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
