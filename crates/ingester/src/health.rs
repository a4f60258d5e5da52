//! `/healthz`, `/readyz` and `/metrics`, read from flags the two tasks keep current.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use payments_runtime::{Counter, Gauge, Histogram, Registry};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the ingester has done since start, for `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    pub records_consumed: Counter,
    pub transactions_upserted: Counter,
    pub records_rejected: Counter,
    pub records_already_applied: Counter,
    pub batches_committed: Counter,
    pub database_retries: Counter,
    database_up: Gauge,
    kafka_up: Gauge,
    /// Seconds from a batch's hand-over to its commit, retries included.
    pub batch_seconds: Histogram,
    /// Records per committed batch.
    pub batch_records: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            records_consumed: Counter::default(),
            transactions_upserted: Counter::default(),
            records_rejected: Counter::default(),
            records_already_applied: Counter::default(),
            batches_committed: Counter::default(),
            database_retries: Counter::default(),
            database_up: Gauge::default(),
            kafka_up: Gauge::default(),
            batch_seconds: Histogram::new(payments_runtime::latency_buckets()),
            // 1 to 65,536 records.
            batch_records: Histogram::new(payments_runtime::exponential_buckets(1.0, 2.0, 17)),
        }
    }
}

impl Metrics {
    fn register(&self, registry: &mut Registry) {
        let counters = [
            (
                "payments_ingester_records_consumed",
                &self.records_consumed,
                "Records read from Kafka",
            ),
            (
                "payments_ingester_transactions_upserted",
                &self.transactions_upserted,
                "Rows inserted or changed in transactions",
            ),
            (
                "payments_ingester_records_rejected",
                &self.records_rejected,
                "Records recorded in rejected_events",
            ),
            (
                "payments_ingester_records_already_applied",
                &self.records_already_applied,
                "Replayed records skipped because their offset was already applied",
            ),
            (
                "payments_ingester_batches_committed",
                &self.batches_committed,
                "Database transactions committed",
            ),
            (
                "payments_ingester_database_retries",
                &self.database_retries,
                "Failed database operations (migrations, reference loads, batch writes) that were retried",
            ),
        ];
        for (name, counter, help) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "payments_ingester_database_up",
            "Whether the last database operation succeeded",
            self.database_up.clone(),
        );
        registry.register(
            "payments_ingester_kafka_up",
            "Whether the broker is reachable",
            self.kafka_up.clone(),
        );
        registry.register(
            "payments_ingester_batch_seconds",
            "Seconds from a batch's hand-over to its commit, retries included",
            self.batch_seconds.clone(),
        );
        registry.register(
            "payments_ingester_batch_records",
            "Records per committed batch",
            self.batch_records.clone(),
        );
    }
}

/// What the ingester knows about its dependencies, as last observed.
#[derive(Debug, Default)]
pub struct Health {
    database_up: AtomicBool,
    kafka_up: AtomicBool,
    stopped: AtomicBool,
    last_error: Mutex<Option<String>>,
    pub metrics: Metrics,
}

impl Health {
    pub fn database_up(&self) -> bool {
        self.database_up.load(Ordering::Relaxed)
    }

    pub fn kafka_up(&self) -> bool {
        self.kafka_up.load(Ordering::Relaxed)
    }

    pub fn is_ready(&self) -> bool {
        self.database_up() && self.kafka_up() && !self.stopped.load(Ordering::Relaxed)
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
}

pub(crate) async fn serve(listener: TcpListener, health: Arc<Health>, shutdown: CancellationToken) {
    let mut registry = Registry::default();
    health.metrics.register(&mut registry);
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
    };
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
