//! `/healthz`, `/readyz` and `/metrics` of the replicator.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use payments_runtime::{EncodeLabelSet, Gauge, Registry};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

payments_runtime::metrics! {
    /// What the replicator has done since start, for `/metrics`.
    pub struct Metrics in "payments_replicator" {
        /// Row changes written to the Delta tables (inserts, updates, deletes, backfilled rows).
        changes_applied: Counter,
        /// Bytes of row text written to the Delta tables (PostgreSQL's text form of each value).
        bytes_applied: Counter,
        /// Transactions applied.
        transactions_applied: Counter,
        /// Seconds from the last applied transaction's commit to its Delta commits (0 when idle and caught up).
        lag_seconds: Gauge<f64, AtomicU64>,
        /// Bytes of WAL the replication slot keeps on the database's disk (current WAL position minus the slot's restart position).
        retained_wal_bytes: Gauge,
        /// Whether the slot's WAL is still all there (1), or was removed past max_slot_wal_keep_size (0).
        slot_ok: Gauge,
        /// Times a backfill copied every table from a snapshot (a new or a lost slot).
        backfills: Counter,
        /// Failed runs (connection, Delta commit, lost slot) that were retried.
        errors: Counter,
        /// The Delta table version (number of commits) of each table.
        table_version: Family<TableLabels, Gauge>,
        /// Data files of each table's partition after the last upkeep.
        partition_files: Family<PartitionLabels, Gauge>,
        /// Seconds to apply one batch of transactions to every table it touched.
        batch_seconds: Histogram = payments_runtime::latency_buckets(),
        /// Seconds an upkeep pass (OPTIMIZE, VACUUM) took.
        upkeep_seconds: Histogram = payments_runtime::latency_buckets(),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub table: String,
    pub partition: String,
}

/// What the replicator reports about itself.
#[derive(Debug, Default)]
pub struct Health {
    streaming: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Health {
    pub fn set_streaming(&self, streaming: bool) {
        self.streaming.store(streaming, Ordering::Relaxed);
        if streaming {
            self.set_error(None);
        }
    }

    pub fn set_error(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let ready = state.health.streaming.load(Ordering::Relaxed);
    let error = state.health.last_error.lock().ok().and_then(|e| e.clone());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready, error }))
}

/// Serves the endpoints on `addr` until `shutdown`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(payments_runtime::metrics_router(Arc::new(registry)))
        .with_state(AppState { health });
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    Ok(bound)
}
