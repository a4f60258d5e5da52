//! `/healthz`, `/readyz` and `/metrics` of the controller.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use payments_runtime::{Counter, Gauge, Histogram, Registry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Running totals since start, and whether this replica leads.
#[derive(Debug)]
pub struct Metrics {
    /// Migrations applied and the CRD found: this replica can lead.
    pub started: AtomicBool,
    leader: Gauge,
    pub reconciles: Counter,
    pub reconcile_errors: Counter,
    pub imports_started: Counter,
    pub imports_resumed: Counter,
    pub leader_transitions: Counter,
    /// Seconds one reconcile took.
    pub reconcile_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: AtomicBool::new(false),
            leader: Gauge::default(),
            reconciles: Counter::default(),
            reconcile_errors: Counter::default(),
            imports_started: Counter::default(),
            imports_resumed: Counter::default(),
            leader_transitions: Counter::default(),
            reconcile_seconds: Histogram::new(payments_runtime::latency_buckets()),
        }
    }
}

impl Metrics {
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    pub(crate) fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    fn register(&self, registry: &mut Registry) {
        let counters = [
            (
                "payments_controller_reconciles",
                &self.reconciles,
                "Reconciles of PaymentImports",
            ),
            (
                "payments_controller_reconcile_errors",
                &self.reconcile_errors,
                "Reconciles that ended in an error and were retried with backoff",
            ),
            (
                "payments_controller_imports_started",
                &self.imports_started,
                "Imports started for PaymentImports",
            ),
            (
                "payments_controller_imports_resumed",
                &self.imports_resumed,
                "Interrupted imports resumed",
            ),
            (
                "payments_controller_leader_acquired",
                &self.leader_transitions,
                "Times this replica became the leader",
            ),
        ];
        for (name, counter, help) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "payments_controller_leader",
            "Whether this replica holds the lease",
            self.leader.clone(),
        );
        registry.register(
            "payments_controller_reconcile_seconds",
            "Seconds one reconcile took",
            self.reconcile_seconds.clone(),
        );
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
                if m.started.load(Ordering::SeqCst) {
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
