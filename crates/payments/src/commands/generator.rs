//! `payments generator`: publishes synthetic payment events.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use payments_generator::GeneratorConfig;

use crate::args::{parse_duration, DatabaseArgs, KafkaArgs, StartupArgs};
use crate::shutdown::shutdown_on_signal;

#[derive(Debug, Args)]
pub struct GeneratorArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    pub(crate) startup: StartupArgs,
    /// Topic to publish to.
    #[arg(long, env = "PAYMENTS_STREAM_TOPIC", default_value = payments_stream::PAYMENTS_TOPIC)]
    pub(crate) topic: String,
    /// Pause between events (`2s`, `500ms`).
    #[arg(long, env = "PAYMENTS_GENERATOR_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub(crate) interval: Duration,
    /// Events per second instead of `--interval`, for load.
    #[arg(long, env = "PAYMENTS_GENERATOR_RATE")]
    pub(crate) rate: Option<f64>,
    /// Stop after this many events.
    #[arg(long, env = "PAYMENTS_GENERATOR_COUNT")]
    pub(crate) count: Option<u64>,
    /// Share of deliberately malformed events, 0 to 1.
    #[arg(long, env = "PAYMENTS_GENERATOR_INVALID_RATIO", default_value_t = 0.0)]
    pub(crate) invalid_ratio: f64,
    /// Seed for a reproducible sequence.
    #[arg(long, env = "PAYMENTS_GENERATOR_SEED")]
    pub(crate) seed: Option<u64>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_GENERATOR_ADDR", default_value = "0.0.0.0:8083")]
    pub(crate) http_addr: SocketAddr,
}

pub async fn exec(args: GeneratorArgs) -> anyhow::Result<()> {
    let pool = args.database.pool("payments-generator")?;
    let kafka = args
        .kafka
        .with_topics("payments-generator", &[&args.topic], args.startup.timeout)
        .await?;
    let config = GeneratorConfig {
        topic: args.topic,
        interval: args.interval,
        rate: args.rate,
        count: args.count,
        invalid_ratio: args.invalid_ratio,
        seed: args.seed,
        http_addr: Some(args.http_addr),
    };
    payments_generator::run(config, pool, kafka.producer()?, shutdown_on_signal()).await?;
    Ok(())
}
