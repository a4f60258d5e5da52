//! `/healthz`, `/readyz` and `/metrics` of the controller.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use payments_runtime::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

payments_runtime::metrics! {
    /// Running totals since start, and whether this replica leads.
    pub struct Metrics in "payments_controller" {
        /// Whether migrations are applied and the CRD found: this replica can lead.
        ready: Gauge,
        /// Whether this replica holds the lease.
        leader: Gauge,
        /// Reconciles of PaymentImports.
        reconciles: Counter,
        /// Reconciles that ended in an error and were retried with backoff.
        reconcile_errors: Counter,
        /// Imports started for PaymentImports.
        imports_started: Counter,
        /// Interrupted imports resumed.
        imports_resumed: Counter,
        /// Times this replica became the leader.
        leader_acquired: Counter,
        /// Seconds one reconcile took.
        reconcile_seconds: Histogram = payments_runtime::latency_buckets(),
    }
}

impl Metrics {
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    pub(crate) fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

/// A standby replica is ready too: it is healthy and waiting for the lease.
pub fn router(metrics: Arc<Metrics>) -> Router {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move {
                if m.ready.get() == 1 {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .with_state(metrics)
        .merge(payments_runtime::metrics_router(Arc::new(registry)))
}

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
