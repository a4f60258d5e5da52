//! The consumer task: reads records, validates them and hands whole batches to the writer.

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use payments_domain::{validate, Payment, ReferenceData, Rejection, Source, Suspicions};
use payments_store::{Batch, PgPool, Record, RecordOutcome, StoreError};
use payments_stream::trace::TraceLinks;
use payments_stream::KafkaOptions;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::rebalance::ResumeFromDatabase;
use crate::write::{self, Collected};
use crate::{behind, Health, IngesterConfig, IngesterError, Result};

/// Reference data is reloaded on a miss, but not more often than this.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// A reload for an imported row's miss waits until the last load is at least this old.
const IMPORT_REFRESH_AFTER: Duration = Duration::from_millis(100);

/// Consumes until shutdown. A database found behind what this process committed (restored
/// while the ingester ran) ends the consumer and its writers, and a new consumer reads every
/// partition again from the database's offsets.
pub(crate) async fn run(
    config: IngesterConfig,
    pool: PgPool,
    kafka: KafkaOptions,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> Result<()> {
    loop {
        let consumed = consume(
            config.clone(),
            pool.clone(),
            kafka.clone(),
            health.clone(),
            shutdown.clone(),
        )
        .await;
        match consumed {
            Err(IngesterError::Store(behind @ StoreError::DatabaseBehind { .. }))
                if !shutdown.is_cancelled() =>
            {
                tracing::error!(error = %behind, "the database lost commits; consuming again from its offsets");
                health.metrics.database_behind.inc();
            }
            other => {
                health.set_stopped();
                return other;
            }
        }
    }
}

async fn consume(
    config: IngesterConfig,
    pool: PgPool,
    kafka: KafkaOptions,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> Result<()> {
    let retry = write::Retry {
        max_backoff: config.max_backoff,
        health: health.clone(),
        shutdown: shutdown.clone(),
    };
    // Migrations first: the ingester must not write into a schema older than its code.
    if retry
        .database("apply migrations", || payments_store::migrate(&pool))
        .await
        .is_none()
    {
        return Ok(());
    }
    let Some(refs) = retry
        .database("load users and currencies", || {
            payments_store::load_reference_data(&pool)
        })
        .await
    else {
        return Ok(());
    };
    tokio::spawn(crate::finalise::run(
        pool.clone(),
        health.clone(),
        config.finalise_interval,
        shutdown.clone(),
    ));
    let mut refs = References {
        data: refs,
        loaded: Instant::now(),
    };

    let context = ResumeFromDatabase {
        pool: pool.clone(),
        group: config.group_id.clone(),
        health: health.clone(),
    };
    let consumer = Arc::new(kafka.consumer(&config.group_id, context)?);
    consumer.subscribe(&[&config.stream_topic, &config.import_topic])?;
    tracing::info!(group = %config.group_id, topics = ?[&config.stream_topic, &config.import_topic], "ingester consuming");

    // Each writer owns the partitions `partition % writers` and has its own connection, so
    // PostgreSQL works on as many batches at once; per partition, batches stay in order. Two
    // batches per writer in flight at most: one being written, one being filled.
    // A writer that stops with an error ends this consumer (and its other writers) at once;
    // so does the database found behind what they committed.
    let round = shutdown.child_token();
    let committed = behind::Committed::default();
    let watcher = tokio::spawn(behind::watch(
        pool.clone(),
        config.group_id.clone(),
        vec![config.stream_topic.clone(), config.import_topic.clone()],
        committed.clone(),
        config.finalise_interval,
        round.clone(),
    ));
    let mut writers = Vec::with_capacity(config.writers);
    let mut handles = Vec::with_capacity(config.writers);
    for _ in 0..config.writers {
        let (batches, pending) = mpsc::channel::<Collected>(1);
        let writer = write::run(
            pending,
            pool.clone(),
            consumer.clone(),
            config.group_id.clone(),
            config.write_path,
            retry.clone(),
            committed.clone(),
        );
        let round = round.clone();
        handles.push(tokio::spawn(async move {
            let written = writer.await;
            if written.is_err() {
                round.cancel();
            }
            written
        }));
        writers.push(batches);
    }

    while !round.is_cancelled() {
        let Collected {
            mut batch,
            traces,
            produced_at,
        } = collect(&consumer, &config, &refs.data, &health, &round).await;
        if batch.records.is_empty() {
            continue;
        }
        // An imported row was checked by the importer against users and currencies loaded
        // before it was published: a miss on one means our copy is older than the importer's,
        // so reload now (any load started after the record arrived sees what the importer
        // saw); the short wait only bounds reloads a forged record could cause to ten a
        // second. A stream miss may be a genuinely unknown id: reload at most once a second.
        let import_miss = batch
            .records
            .iter()
            .any(|r| is_reference_miss(r) && *r.topic == *config.import_topic);
        if import_miss {
            tokio::time::sleep(IMPORT_REFRESH_AFTER.saturating_sub(refs.loaded.elapsed())).await;
        }
        let stream_reload = batch.records.iter().any(is_reference_miss)
            && refs.loaded.elapsed() >= REFRESH_AT_MOST_EVERY;
        if import_miss || stream_reload {
            // A user or currency may have been added since the last load: look again.
            if let Some(fresh) = retry
                .database("reload users and currencies", || {
                    payments_store::load_reference_data(&pool)
                })
                .await
            {
                refs = References {
                    data: fresh,
                    loaded: Instant::now(),
                };
                revalidate(&mut batch, &config, &refs.data);
            }
        }
        let collected = Collected {
            batch,
            traces,
            produced_at,
        };
        if !hand_over(collected, &writers).await {
            break;
        }
    }
    drop(writers);
    let mut result = Ok(());
    for handle in handles {
        let done = handle
            .await
            .map_err(|e| crate::IngesterError::Config(format!("writer task failed: {e}")))
            .and_then(|written| written);
        if result.is_ok() {
            result = done;
        }
    }
    consumer.unsubscribe();
    round.cancel();
    if let Ok(Some(found)) = watcher.await {
        return Err(found.into());
    }
    result
}

/// Splits a batch by partition among the writers and hands each its part; false once a writer
/// has stopped.
async fn hand_over(collected: Collected, writers: &[mpsc::Sender<Collected>]) -> bool {
    if writers.len() == 1 {
        return writers[0].send(collected).await.is_ok();
    }
    let mut parts: Vec<Collected> = (0..writers.len())
        .map(|_| Collected {
            batch: Batch::default(),
            traces: collected.traces.clone(),
            produced_at: Vec::new(),
        })
        .collect();
    for (record, produced) in collected
        .batch
        .records
        .into_iter()
        .zip(collected.produced_at)
    {
        let part = &mut parts[record.partition.unsigned_abs() as usize % writers.len()];
        part.batch.records.push(record);
        part.produced_at.push(produced);
    }
    for (part, writer) in parts.into_iter().zip(writers) {
        if !part.batch.records.is_empty() && writer.send(part).await.is_err() {
            return false;
        }
    }
    true
}

struct References {
    data: ReferenceData,
    loaded: Instant,
}

/// Most traces one batch span links to; a batch of generator events would otherwise carry
/// thousands.
const MAX_LINKS: usize = 64;

/// Reads until the batch is full, the linger time after its first record has passed, or shutdown.
async fn collect(
    consumer: &payments_stream::rdkafka::consumer::StreamConsumer<ResumeFromDatabase>,
    config: &IngesterConfig,
    refs: &ReferenceData,
    health: &Health,
    shutdown: &CancellationToken,
) -> Collected {
    let mut records = Vec::with_capacity(config.batch_size.min(100_000));
    let mut traces = TraceLinks::new(MAX_LINKS);
    let mut produced_at = Vec::with_capacity(records.capacity());
    let now = Utc::now();
    // Until the first record arrives, wake up now and then to notice shutdown.
    let mut linger = pin!(tokio::time::sleep(Duration::from_secs(1)));
    let mut first = true;
    while records.len() < config.batch_size {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            message = consumer.recv() => match message {
                Ok(message) => {
                    if first {
                        first = false;
                        health.set_kafka(true, None);
                        linger.as_mut().reset(tokio::time::Instant::now() + config.linger);
                    }
                    records.push(classify(&message, config, refs, now));
                    produced_at.push(message.timestamp().to_millis());
                    traces.add(message.headers());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "receiving from kafka failed");
                    health.set_kafka(false, Some(format!("kafka: {e}")));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            _ = &mut linger => {
                if !first {
                    break;
                }
                linger.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(1));
            }
        }
    }
    health.metrics.records_consumed.inc_by(records.len() as u64);
    Collected {
        batch: Batch { records },
        traces: traces.into_links(),
        produced_at,
    }
}

fn source(topic: &str, config: &IngesterConfig) -> Source {
    if topic == config.import_topic {
        Source::Import
    } else {
        Source::Stream
    }
}

/// Validates a record of `topic`; a stream payment is flagged by the suspicious rules here
/// (an imported row arrives flagged by the importer, which applied the same rules).
fn checked(
    payload: &[u8],
    topic: &str,
    config: &IngesterConfig,
    refs: &ReferenceData,
    now: chrono::DateTime<Utc>,
) -> Result<Payment, Rejection> {
    let source = source(topic, config);
    let mut payment = validate(payload, source, refs, now)?;
    if source == Source::Stream {
        payment.suspicious = Suspicions::of(
            &payment.sender_id,
            &payment.receiver_id,
            Some(payment.amount),
            config.suspicious_threshold,
        )
        .any();
    }
    Ok(payment)
}

fn classify(
    message: &BorrowedMessage<'_>,
    config: &IngesterConfig,
    refs: &ReferenceData,
    now: chrono::DateTime<Utc>,
) -> Record {
    let payload = message.payload().unwrap_or_default();
    let outcome = match checked(payload, message.topic(), config, refs, now) {
        Ok(payment) => RecordOutcome::Valid(payment),
        Err(rejection) => RecordOutcome::Rejected {
            payload: payload.to_vec(),
            reason: rejection.reason(),
            kind: rejection.kind(),
            import_id: rejection.import_id,
            row_number: rejection.row_number,
            reference_miss: rejection.is_reference_miss(),
        },
    };
    Record {
        topic: message.topic().into(),
        partition: message.partition(),
        offset: message.offset(),
        outcome,
    }
}

fn is_reference_miss(record: &Record) -> bool {
    matches!(
        record.outcome,
        RecordOutcome::Rejected {
            reference_miss: true,
            ..
        }
    )
}

fn revalidate(batch: &mut Batch, config: &IngesterConfig, refs: &ReferenceData) {
    let now = Utc::now();
    for record in batch.records.iter_mut().filter(|r| is_reference_miss(r)) {
        if let RecordOutcome::Rejected { payload, .. } = &record.outcome {
            if let Ok(payment) = checked(payload, &record.topic, config, refs, now) {
                record.outcome = RecordOutcome::Valid(payment);
            }
        }
    }
}
