//! The Kubernetes side of the platform. `PaymentImport` asks for a CSV in object storage (or a
//! ConfigMap) to be imported with the shared pipeline; the controller runs that import and
//! reports it the way `kubectl get` and the Kubernetes API conventions expect (conditions with
//! `Ready` first, counts, times, Events). One replica acts at a time, elected by a Lease.

pub mod controller;
pub mod crd;
pub mod error;
pub mod http;
pub mod lease;
pub mod record;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{watcher, Controller};
use kube::{Api, Client};
use payments_imports::Pipeline;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use controller::{error_policy, import_id, reconcile, Context, Timing};
pub use crd::{
    Condition, ConfigMapKey, ImportCounts, PaymentImport, PaymentImportSpec, PaymentImportStatus,
    S3Object, Source,
};
pub use error::{Error, Problem, Result};
pub use http::Metrics;
pub use lease::{LeaseLock, LeaseTiming};
pub use record::{
    upload_name, UploadRecorder, APPROVED_BY_ANNOTATION, CREATED_BY_ANNOTATION,
    DECISION_NOTE_ANNOTATION, IMPORT_ID_ANNOTATION, REJECTED_BY_ANNOTATION,
};

/// The CRD as YAML, as committed under `k8s/crds/` and in the chart.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&PaymentImport::crd())
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Namespace whose PaymentImports are reconciled and where the Lease lives.
    pub namespace: String,
    pub lease_name: String,
    /// This replica's name in the Lease and in Events (the pod name in a cluster).
    pub identity: String,
    pub lease: LeaseTiming,
    pub timing: Timing,
    /// Where `/healthz`, `/readyz` and `/metrics` listen; `None` for none.
    pub http_addr: Option<SocketAddr>,
}

impl ControllerConfig {
    pub fn validate(&self) -> Result<(), String> {
        let lease = &self.lease;
        if lease.renew_deadline >= lease.lease_duration {
            return Err(
                "the renew deadline must be shorter than the lease duration, \
                 or two replicas could act at once"
                    .into(),
            );
        }
        if lease.retry_period >= lease.renew_deadline {
            return Err("the retry period must be shorter than the renew deadline".into());
        }
        if self.namespace.is_empty() || self.lease_name.is_empty() || self.identity.is_empty() {
            return Err("namespace, lease name and identity must not be empty".into());
        }
        Ok(())
    }
}

/// A running controller replica.
pub struct Operator {
    pub metrics: Arc<Metrics>,
    pub http_addr: Option<SocketAddr>,
    task: JoinHandle<Result<()>>,
}

impl Operator {
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Waits until the replica stops (after its shutdown token is cancelled).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .unwrap_or_else(|e| Err(Error::Stopped(e.to_string())))
    }

    /// Stops the replica at once, as a crash would: the Lease is not released.
    pub fn kill(&self) {
        self.task.abort();
    }
}

/// Checks the CRD is installed, serves health and metrics, then stands
/// by for the Lease and reconciles while it holds it, until `shutdown`.
pub async fn start(
    config: ControllerConfig,
    client: Client,
    pipeline: Pipeline,
    shutdown: CancellationToken,
) -> Result<Operator> {
    config.validate().map_err(Error::Config)?;
    let imports: Api<PaymentImport> = Api::namespaced(client.clone(), &config.namespace);
    imports
        .list(&ListParams::default().limit(1))
        .await
        .map_err(Error::CrdMissing)?;
    let metrics = Arc::new(Metrics::default());
    metrics.ready.set(1);
    let http_addr = match config.http_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Config(format!("binding {addr}: {e}")))?;
            let bound = listener.local_addr().ok();
            let (metrics, shutdown) = (metrics.clone(), shutdown.clone());
            tokio::spawn(async move {
                if let Err(e) = http::serve(listener, metrics, shutdown).await {
                    tracing::error!(error = %e, "health endpoint stopped");
                }
            });
            bound
        }
        None => None,
    };
    let task = tokio::spawn(lead(config, client, pipeline, metrics.clone(), shutdown));
    Ok(Operator {
        metrics,
        http_addr,
        task,
    })
}

/// Why a term as leader ended.
enum TermEnd {
    Shutdown,
    LeaseLost,
    ControllerStopped,
}

async fn lead(
    config: ControllerConfig,
    client: Client,
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut lock = LeaseLock::new(
        Api::namespaced(client.clone(), &config.namespace),
        &config.lease_name,
        &config.identity,
        config.lease.clone(),
    );
    let reporter = Reporter {
        controller: controller::MANAGER.into(),
        instance: Some(config.identity.clone()),
    };
    loop {
        if !stand_by(&mut lock, &shutdown).await {
            return Ok(());
        }
        metrics.set_leader(true);
        metrics.leader_acquired.inc();
        tracing::info!(
            identity = config.identity,
            lease = config.lease_name,
            "leading"
        );
        let ctx = Arc::new(Context::new(
            client.clone(),
            pipeline.clone(),
            Recorder::new(client.clone(), reporter.clone()),
            metrics.clone(),
            config.timing.clone(),
        ));
        let api: Api<PaymentImport> = Api::namespaced(client.clone(), &config.namespace);
        let controller = Controller::new(api, watcher::Config::default())
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "reconcile did not finish");
                }
            });
        let end = tokio::select! {
            _ = controller => TermEnd::ControllerStopped,
            _ = hold(&mut lock) => TermEnd::LeaseLost,
            _ = shutdown.cancelled() => TermEnd::Shutdown,
        };
        // The controller (and with it the context, which aborts running imports) is dropped.
        metrics.set_leader(false);
        match end {
            TermEnd::Shutdown => {
                if let Err(e) = lock.release().await {
                    tracing::warn!(error = %e, "could not release the lease");
                }
                return Ok(());
            }
            TermEnd::LeaseLost => tracing::warn!("lost the lease; standing by"),
            TermEnd::ControllerStopped => tracing::warn!("the controller stopped; standing by"),
        }
    }
}

/// Waits until this replica holds the lease (true) or shutdown (false).
async fn stand_by(lock: &mut LeaseLock, shutdown: &CancellationToken) -> bool {
    let retry = lock.timing().retry_period;
    loop {
        if shutdown.is_cancelled() {
            return false;
        }
        match tokio::time::timeout(retry, lock.try_acquire_or_renew()).await {
            Ok(Ok(true)) => return true,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not read the lease"),
            Err(_) => tracing::warn!("reading the lease timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.cancelled() => return false,
        }
    }
}

/// Renews the lease until it is lost: taken by another replica, or not renewed within the
/// renew deadline (then others may take it soon, so this replica must stop first).
async fn hold(lock: &mut LeaseLock) {
    let timing = lock.timing().clone();
    let mut renewed = Instant::now();
    loop {
        let deadline = renewed + timing.renew_deadline;
        tokio::time::sleep(timing.retry_period).await;
        match tokio::time::timeout_at(deadline, lock.try_acquire_or_renew()).await {
            Ok(Ok(true)) => renewed = Instant::now(),
            Ok(Ok(false)) => return,
            Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the lease"),
            Err(_) => return,
        }
        if Instant::now() >= renewed + timing.renew_deadline {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    /// The committed CRD is what the code generates: regenerate with
    /// `cargo run -p payments -- crd > k8s/crds/paymentimports.payments.dev.yaml`.
    #[test]
    fn committed_crd_has_not_drifted() {
        let generated = super::crd_yaml().expect("CRD serialises");
        for (path, committed) in [
            (
                "k8s/crds/paymentimports.payments.dev.yaml",
                include_str!("../../../k8s/crds/paymentimports.payments.dev.yaml"),
            ),
            (
                "charts/payments/crds/paymentimports.payments.dev.yaml",
                include_str!("../../../charts/payments/crds/paymentimports.payments.dev.yaml"),
            ),
        ] {
            assert!(
                committed == generated,
                "{path} is stale: regenerate it with `cargo run -p payments -- crd > {path}`"
            );
        }
    }
}
