//! `/healthz`, `/readyz` and `/metrics` of the controller.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Running totals since start, and whether this replica leads.
#[derive(Debug, Default)]
pub struct Metrics {
    pub leader: AtomicBool,
    /// Migrations applied and the CRD found: this replica can lead.
    pub started: AtomicBool,
    pub reconciles: AtomicU64,
    pub reconcile_errors: AtomicU64,
    pub imports_started: AtomicU64,
    pub imports_resumed: AtomicU64,
    pub leader_transitions: AtomicU64,
}

impl Metrics {
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    fn prometheus(&self) -> String {
        let counters = [
            (
                "payments_controller_reconciles_total",
                &self.reconciles,
                "Reconciles of PaymentImports.",
            ),
            (
                "payments_controller_reconcile_errors_total",
                &self.reconcile_errors,
                "Reconciles that ended in an error and were retried with backoff.",
            ),
            (
                "payments_controller_imports_started_total",
                &self.imports_started,
                "Imports started for PaymentImports.",
            ),
            (
                "payments_controller_imports_resumed_total",
                &self.imports_resumed,
                "Interrupted imports resumed.",
            ),
            (
                "payments_controller_leader_acquired_total",
                &self.leader_transitions,
                "Times this replica became the leader.",
            ),
        ];
        let mut out = String::new();
        for (name, value, help) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP payments_controller_leader Whether this replica holds the lease.\n\
             # TYPE payments_controller_leader gauge\npayments_controller_leader {}\n",
            u8::from(self.is_leader())
        ));
        out
    }
}

/// A standby replica is ready too: it is healthy and waiting for the lease.
pub fn router(metrics: Arc<Metrics>) -> Router {
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
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    m.prometheus(),
                )
            }),
        )
        .with_state(metrics)
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
