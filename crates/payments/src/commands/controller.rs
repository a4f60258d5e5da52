//! `payments controller`: reconciles PaymentImport resources.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::args::{parse_duration, PipelineArgs};
use crate::shutdown::shutdown_on_signal;

#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,
    /// Namespace whose PaymentImports are reconciled and where the Lease lives.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub(crate) namespace: String,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "PAYMENTS_LEASE_NAME",
        default_value = "payments-controller"
    )]
    pub(crate) lease_name: String,
    /// This replica's identity in the Lease and in Events; the pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    pub(crate) identity: Option<String>,
    /// A standby replica takes over a lease it has seen unrenewed for this long.
    #[arg(long, env = "PAYMENTS_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub(crate) lease_duration: Duration,
    /// The leader stops acting when it could not renew the lease for this long.
    #[arg(long, env = "PAYMENTS_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub(crate) renew_deadline: Duration,
    /// How often the lease is renewed, or tried by a standby replica.
    #[arg(long, env = "PAYMENTS_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub(crate) retry_period: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_CONTROLLER_ADDR", default_value = "0.0.0.0:8082")]
    pub(crate) http_addr: SocketAddr,
}

pub async fn exec(args: ControllerArgs) -> anyhow::Result<()> {
    let pipeline = args.pipeline.pipeline("payments-controller").await?;
    let identity = match args.identity {
        Some(identity) => identity,
        None => format!("payments-controller-{}", uuid::Uuid::new_v4()),
    };
    let config = payments_operator::ControllerConfig {
        namespace: args.namespace,
        lease_name: args.lease_name,
        identity,
        lease: payments_operator::LeaseTiming {
            lease_duration: args.lease_duration,
            renew_deadline: args.renew_deadline,
            retry_period: args.retry_period,
        },
        timing: payments_operator::Timing::default(),
        http_addr: Some(args.http_addr),
    };
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster or KUBECONFIG)")?;
    let controller =
        payments_operator::start(config, client, pipeline, shutdown_on_signal()).await?;
    if let Some(addr) = controller.http_addr {
        tracing::info!(%addr, "health endpoints listening");
    }
    controller.wait().await?;
    Ok(())
}
