//! `/healthz`, `/readyz` and `/metrics`, read from flags the two tasks keep current.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Running totals since start.
#[derive(Debug, Default)]
pub struct Metrics {
    pub records_consumed: AtomicU64,
    pub transactions_upserted: AtomicU64,
    pub records_rejected: AtomicU64,
    pub records_already_applied: AtomicU64,
    pub batches_committed: AtomicU64,
    pub database_retries: AtomicU64,
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
        self.remember(error);
    }

    pub(crate) fn set_kafka(&self, up: bool, error: Option<String>) {
        self.kafka_up.store(up, Ordering::Relaxed);
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

    fn prometheus(&self) -> String {
        let m = &self.metrics;
        let counters = [
            (
                "payments_ingester_records_consumed_total",
                &m.records_consumed,
                "Records read from Kafka.",
            ),
            (
                "payments_ingester_transactions_upserted_total",
                &m.transactions_upserted,
                "Rows inserted or changed in transactions.",
            ),
            (
                "payments_ingester_records_rejected_total",
                &m.records_rejected,
                "Records recorded in rejected_events.",
            ),
            (
                "payments_ingester_records_already_applied_total",
                &m.records_already_applied,
                "Replayed records skipped because their offset was already applied.",
            ),
            (
                "payments_ingester_batches_committed_total",
                &m.batches_committed,
                "Database transactions committed.",
            ),
            (
                "payments_ingester_database_retries_total",
                &m.database_retries,
                "Failed database operations (migrations, reference loads, batch writes) that were retried.",
            ),
        ];
        let mut out = String::new();
        for (name, value, help) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        for (name, up) in [
            ("payments_ingester_database_up", self.database_up()),
            ("payments_ingester_kafka_up", self.kafka_up()),
        ] {
            out.push_str(&format!("# TYPE {name} gauge\n{name} {}\n", u8::from(up)));
        }
        out
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
    let app = Router::new()
        // Alive as long as the process answers: outages are reported by /readyz, not by restarts.
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(h): State<Arc<Health>>| async move { h.prometheus() }),
        )
        .with_state(health);
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
