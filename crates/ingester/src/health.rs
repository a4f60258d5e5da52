//! `/healthz`, `/readyz` and `/metrics`, read from flags the two tasks keep current.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use payments_runtime::{Counter, EncodeLabelSet, Gauge, Registry};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backups::BackupMetrics;
use crate::resume::Refusal;

payments_runtime::metrics! {
    /// What the ingester has done since start, for `/metrics`.
    pub struct Metrics in "payments_ingester" {
        /// Records read from Kafka.
        records_consumed: Counter,
        /// Rows inserted or changed in transactions.
        transactions_upserted: Counter,
        /// Records recorded in rejected_events, by the kind of their first problem.
        records_rejected: Family<ReasonLabel, Counter>,
        /// Replayed records skipped because their offset was already applied.
        records_already_applied: Counter,
        /// Database transactions committed.
        batches_committed: Counter,
        /// Times the database was found behind the offsets this process committed (a restore) and every partition was read again from its offsets.
        database_behind: Counter,
        /// Failed database operations (migrations, reference loads, batch writes) that were retried.
        database_retries: Counter,
        /// Whether the last database operation succeeded.
        database_up: Gauge,
        /// Whether the broker is reachable.
        kafka_up: Gauge,
        /// Seconds from a batch's hand-over to its commit, retries included.
        batch_seconds: Histogram = payments_runtime::latency_buckets(),
        /// Seconds from a record's Kafka timestamp (set by its producer) to its batch's commit.
        produce_to_commit_seconds: Histogram = payments_runtime::latency_buckets(),
        /// Records per committed batch (1 to 65,536).
        batch_records: Histogram = payments_runtime::exponential_buckets(1.0, 2.0, 17),
        /// Records of a partition not yet committed by this group (librdkafka's statistics).
        consumer_lag: Family<PartitionLabels, Gauge>,
        /// Imports in each status, counted in the database by the finaliser.
        imports: Family<StatusLabel, Gauge>,
        /// Records a refused partition cannot account for (deleted before applied, or applied past its end); 0 when read.
        offset_gap_records: Family<PartitionLabels, Gauge>,
    }
}

/// A rejection's kind (`payments_domain::validate::RejectKind`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

/// An import status (`payments_domain::import::ImportStatus`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: &'static str,
}

/// What the ingester knows about its dependencies, as last observed.
#[derive(Debug, Default)]
pub struct Health {
    database_up: AtomicBool,
    kafka_up: AtomicBool,
    stopped: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Partitions not read, by topic and partition (see `resume`).
    refused: Mutex<BTreeMap<(String, i32), Refusal>>,
    pub metrics: Metrics,
    pub backups: BackupMetrics,
}

impl Health {
    pub fn database_up(&self) -> bool {
        self.database_up.load(Ordering::Relaxed)
    }

    pub fn kafka_up(&self) -> bool {
        self.kafka_up.load(Ordering::Relaxed)
    }

    pub fn is_ready(&self) -> bool {
        self.database_up()
            && self.kafka_up()
            && !self.stopped.load(Ordering::Relaxed)
            && self.refused().is_empty()
    }

    /// The partitions not read, each with why.
    pub fn refused(&self) -> Vec<Refusal> {
        self.refused
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Records where a just-assigned partition resumes: a refused one makes the ingester not
    /// ready until a later assignment reads it again.
    pub(crate) fn record_resume(&self, refusal: Refusal) {
        let labels = PartitionLabels {
            topic: refusal.topic.clone(),
            partition: refusal.partition,
        };
        let missing = refusal.resume.missing_records();
        self.metrics
            .offset_gap_records
            .get_or_create(&labels)
            .set(missing);
        if let Ok(mut refused) = self.refused.lock() {
            let key = (refusal.topic.clone(), refusal.partition);
            if missing > 0 {
                refused.insert(key, refusal);
            } else {
                refused.remove(&key);
            }
        }
    }

    pub(crate) fn set_database(&self, up: bool, error: Option<String>) {
        self.database_up.store(up, Ordering::Relaxed);
        self.metrics.database_up.set(i64::from(up));
        self.remember(error);
    }

    pub(crate) fn set_kafka(&self, up: bool, error: Option<String>) {
        self.kafka_up.store(up, Ordering::Relaxed);
        self.metrics.kafka_up.set(i64::from(up));
        self.remember(error);
    }

    pub(crate) fn set_stopped(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    fn remember(&self, error: Option<String>) {
        if let Some(error) = error {
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(error);
            }
        }
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    database: bool,
    kafka: bool,
    last_error: Option<String>,
    /// Partitions not read, each with why (an offset gap after a restore, say).
    refused_partitions: Vec<String>,
}

pub(crate) async fn serve(listener: TcpListener, health: Arc<Health>, shutdown: CancellationToken) {
    let mut registry = Registry::default();
    health.metrics.register(&mut registry);
    health.backups.register(&mut registry);
    let app = Router::new()
        // Alive as long as the process answers: outages are reported by /readyz, not by restarts.
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .merge(payments_runtime::metrics_router(Arc::new(registry)));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "health endpoint stopped");
    }
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, Json<Readiness>) {
    let body = Readiness {
        ready: health.is_ready(),
        database: health.database_up(),
        kafka: health.kafka_up(),
        last_error: health.last_error(),
        refused_partitions: health.refused().iter().map(ToString::to_string).collect(),
    };
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
