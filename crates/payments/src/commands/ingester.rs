//! `payments ingester`: consumes both topics and writes every record exactly once.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use payments_ingester::IngesterConfig;

use crate::args::{parse_duration, DatabaseArgs, KafkaArgs, StartupArgs};
use crate::shutdown::shutdown_on_signal;

#[derive(Debug, Args)]
pub struct IngesterArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    pub(crate) startup: StartupArgs,
    /// Kafka consumer group; also the key of the offsets stored in the database.
    #[arg(long, env = "PAYMENTS_GROUP_ID", default_value = "payments-ingester")]
    pub(crate) group_id: String,
    /// Topic of live payment events.
    #[arg(long, env = "PAYMENTS_STREAM_TOPIC", default_value = payments_stream::PAYMENTS_TOPIC)]
    pub(crate) stream_topic: String,
    /// Topic of rows from imported CSV files.
    #[arg(long, env = "PAYMENTS_IMPORT_TOPIC", default_value = payments_stream::IMPORT_TOPIC)]
    pub(crate) import_topic: String,
    /// Most records written in one database transaction.
    #[arg(long, env = "PAYMENTS_BATCH_SIZE", default_value_t = 5000)]
    pub(crate) batch_size: usize,
    /// How long a partial batch waits for more records (`100ms`, `1s`).
    #[arg(long, env = "PAYMENTS_BATCH_LINGER", default_value = "10ms", value_parser = parse_duration)]
    pub(crate) linger: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_INGESTER_ADDR", default_value = "0.0.0.0:8081")]
    pub(crate) http_addr: SocketAddr,
    /// Longest wait between retries while the database is unavailable.
    #[arg(long, env = "PAYMENTS_MAX_BACKOFF", default_value = "5s", value_parser = parse_duration)]
    pub(crate) max_backoff: Duration,
    /// How often published imports are checked for completion (every row ingested or rejected).
    #[arg(long, env = "PAYMENTS_FINALISE_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub(crate) finalise_interval: Duration,
    /// How a batch reaches the table: `staged` (binary COPY into a session-local table, then one
    /// merge) or `unnest` (one INSERT with the rows as array parameters).
    #[arg(long, env = "PAYMENTS_WRITE_PATH", default_value = "staged")]
    pub(crate) write_path: payments_ingester::WritePath,
    /// Batches written at once, each on its own database connection (partitions are split among
    /// them; more than the partitions this process owns is useless).
    #[arg(long, env = "PAYMENTS_WRITERS", default_value_t = 3)]
    pub(crate) writers: usize,
    /// Stream payments above this amount (or to oneself) are stored as suspicious, like
    /// imported rows above the importer's threshold.
    #[arg(long, env = "PAYMENTS_SUSPICIOUS_THRESHOLD", default_value = "8000")]
    pub(crate) suspicious_threshold: rust_decimal::Decimal,
}

pub async fn exec(args: IngesterArgs) -> anyhow::Result<()> {
    // Each writer holds a connection for its whole batch; the finaliser and the
    // rebalance lookups need one more each.
    anyhow::ensure!(
        args.writers + 2 <= args.database.max_connections as usize,
        "--writers {} needs at least {} database connections, --database-max-connections is {}",
        args.writers,
        args.writers + 2,
        args.database.max_connections
    );
    let pool = args.database.pool("payments-ingester")?;
    let kafka = args
        .kafka
        .with_topics(
            "payments-ingester",
            &[&args.stream_topic, &args.import_topic],
            args.startup.timeout,
        )
        .await?;
    let config = IngesterConfig {
        group_id: args.group_id,
        stream_topic: args.stream_topic,
        import_topic: args.import_topic,
        batch_size: args.batch_size,
        linger: args.linger,
        http_addr: Some(args.http_addr),
        max_backoff: args.max_backoff,
        finalise_interval: args.finalise_interval,
        write_path: args.write_path,
        writers: args.writers,
        suspicious_threshold: args.suspicious_threshold,
    };
    let ingester = payments_ingester::start(config, pool, kafka, shutdown_on_signal()).await?;
    if let Some(addr) = ingester.http_addr {
        tracing::info!(%addr, "health endpoints listening");
    }
    ingester.wait().await?;
    Ok(())
}
