//! The writer task: commits batches to PostgreSQL, then acknowledges them to Kafka.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::SpanContext;
use payments_runtime::backon::Retryable;
use payments_store::{write_batch_after, Batch, PgPool, RecordOutcome, StoreError, WritePath};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::behind::{self, Committed};
use crate::health::ReasonLabel;
use crate::rebalance::ResumeFromDatabase;
use crate::{Health, Result};

/// A batch and the traces (from `traceparent` headers) of the records in it: what the consumer
/// hands a writer.
pub(crate) struct Collected {
    pub batch: Batch,
    pub traces: Vec<SpanContext>,
    /// Each record's Kafka timestamp (ms since the epoch, as its producer set it), for the
    /// produce-to-commit latency; one per record, in the same order.
    pub produced_at: Vec<Option<i64>>,
}

/// Retries database work with capped exponential backoff until it succeeds or shutdown.
#[derive(Clone)]
pub(crate) struct Retry {
    pub max_backoff: Duration,
    pub health: Arc<Health>,
    pub shutdown: CancellationToken,
}

impl Retry {
    /// `None` only when shutdown was requested before the work succeeded.
    pub async fn database<T, F, Fut>(&self, what: &str, work: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let policy = payments_runtime::retry_policy(Duration::from_millis(100), self.max_backoff);
        let attempts = work
            .retry(policy)
            .sleep(tokio::time::sleep)
            .notify(|e, retry_in| {
                tracing::warn!(error = %e, ?retry_in, "{what} failed");
                self.health
                    .set_database(false, Some(format!("{what}: {e}")));
                self.health.metrics.database_retries.inc();
            });
        tokio::select! {
            _ = self.shutdown.cancelled() => None,
            done = attempts => {
                // The policy retries forever, so only success ends it.
                let value = done.ok()?;
                self.health.set_database(true, None);
                Some(value)
            }
        }
    }
}

pub(crate) async fn run(
    mut pending: mpsc::Receiver<Collected>,
    pool: PgPool,
    consumer: Arc<StreamConsumer<ResumeFromDatabase>>,
    group: String,
    path: WritePath,
    retry: Retry,
    committed: Committed,
) -> Result<()> {
    while let Some(Collected {
        batch,
        traces,
        produced_at,
    }) = pending.recv().await
    {
        // Linked, not parented: one batch serves many uploads and events.
        let span = tracing::info_span!(
            "write_batch",
            records = batch.records.len(),
            upserted = tracing::field::Empty,
            rejected = tracing::field::Empty
        );
        for trace in traces {
            span.add_link(trace);
        }
        let started = Instant::now();
        let written = retry
            .database("write batch", || async {
                // A database behind what was committed has lost commits: not retried, the
                // partitions must be read again from the database's offsets.
                let ours = behind::snapshot(&committed);
                match write_batch_after(&pool, &group, &batch, path, &ours).await {
                    Err(behind @ StoreError::DatabaseBehind { .. }) => Ok(Err(behind)),
                    other => other.map(Ok),
                }
            })
            .instrument(span.clone())
            .await;
        let outcome = match written {
            Some(Ok(outcome)) => outcome,
            Some(Err(behind)) => return Err(behind.into()),
            // Shutdown while the database was away: nothing was committed, the batch is replayed
            // from the stored offsets by whoever consumes these partitions next.
            None => return Ok(()),
        };
        if let Ok(mut committed) = committed.lock() {
            for record in &batch.records {
                let next = committed
                    .entry((record.topic.clone(), record.partition))
                    .or_insert(0);
                *next = (*next).max(record.offset + 1);
            }
        }
        span.record("upserted", outcome.upserted);
        span.record("rejected", outcome.rejected);
        drop(span);
        let metrics = &retry.health.metrics;
        metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.batch_records.observe(batch.records.len() as f64);
        let committed_ms = chrono::Utc::now().timestamp_millis();
        for produced in produced_at.into_iter().flatten() {
            // A producer's clock ahead of ours would read as negative; count it as zero.
            let seconds = (committed_ms - produced).max(0) as f64 / 1e3;
            metrics.produce_to_commit_seconds.observe(seconds);
        }
        metrics.batches_committed.inc();
        metrics.transactions_upserted.inc_by(outcome.upserted);
        for (kind, count) in &outcome.rejected_by_kind {
            metrics
                .records_rejected
                .get_or_create(&ReasonLabel {
                    reason: kind.as_str(),
                })
                .inc_by(*count);
        }
        metrics
            .records_already_applied
            .inc_by(outcome.already_applied as u64);
        if outcome.rejected > 0 {
            log_rejections(&batch, &outcome.refused);
        }
        tracing::debug!(
            records = batch.records.len(),
            upserted = outcome.upserted,
            rejected = outcome.rejected,
            "batch committed"
        );
        acknowledge(&consumer, &batch);
    }
    Ok(())
}

fn log_rejections(batch: &Batch, refused: &[(Arc<str>, i32, i64, String)]) {
    for record in &batch.records {
        if let RecordOutcome::Rejected {
            reason,
            import_id,
            row_number,
            ..
        } = &record.outcome
        {
            tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
                import_id = ?import_id, row_number = ?row_number, reason = %reason, "record rejected");
        }
    }
    for (topic, partition, offset, reason) in refused {
        tracing::warn!(%topic, partition, offset, %reason, "record refused by the database");
    }
}

/// Stores for Kafka what the database already holds; the consumer commits stored offsets every
/// few seconds. Only for lag metrics and tools; the database's offsets decide where to resume,
/// so a failure (the partition revoked meanwhile) is logged and ignored.
fn acknowledge(consumer: &StreamConsumer<ResumeFromDatabase>, batch: &Batch) {
    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for record in &batch.records {
        let entry = next.entry((&*record.topic, record.partition)).or_insert(0);
        *entry = (*entry).max(record.offset + 1);
    }
    let mut tpl = TopicPartitionList::with_capacity(next.len());
    for ((topic, partition), offset) in next {
        if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::debug!(error = %e, "building kafka commit");
        }
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        tracing::debug!(error = %e, "kafka offset store failed (database offsets still hold)");
    }
}
