//! `payments replicate`: every committed change of the platform's tables into Delta Lake
//! tables on the object store (the lakehouse), exactly once, in commit order.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use payments_lakehouse::{DeltaLocation, ReplicatorConfig, S3Access, UpkeepConfig};

use crate::args::{parse_duration, S3Args};
use crate::shutdown::shutdown_on_signal;

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// PostgreSQL URL of a role with REPLICATION and read access to the published tables.
    /// Never logged.
    #[arg(
        long = "database-url",
        env = "PAYMENTS_DATABASE_URL",
        hide_env_values = true
    )]
    pub(crate) database_url: String,
    #[command(flatten)]
    pub(crate) s3: S3Args,
    /// Bucket the Delta tables are written to.
    #[arg(long, env = "PAYMENTS_LAKE_BUCKET", default_value = "lakehouse")]
    pub(crate) lake_bucket: String,
    /// Folder of the tables in the bucket (`<prefix>/<table>`, `<prefix>/<table>_changes`).
    #[arg(long, env = "PAYMENTS_LAKE_PREFIX", default_value = "payments")]
    pub(crate) lake_prefix: String,
    /// Replication slot (one per replicator; it admits one reader at a time).
    #[arg(
        long,
        env = "PAYMENTS_REPLICATION_SLOT",
        default_value = "payments_lakehouse"
    )]
    pub(crate) slot: String,
    /// Publication of the replicated tables (created by `payments migrate`).
    #[arg(long, env = "PAYMENTS_PUBLICATION", default_value = payments_lakehouse::PUBLICATION)]
    pub(crate) publication: String,
    /// Most row changes applied in one batch.
    #[arg(
        long,
        env = "PAYMENTS_REPLICATE_BATCH_CHANGES",
        default_value_t = 50_000
    )]
    pub(crate) batch_changes: usize,
    /// How long a partial batch waits for more transactions (`500ms`, `2s`).
    #[arg(long, env = "PAYMENTS_REPLICATE_LINGER", default_value = "1s", value_parser = parse_duration)]
    pub(crate) linger: Duration,
    /// How often the tables are compacted (OPTIMIZE) and vacuumed.
    #[arg(long, env = "PAYMENTS_LAKE_UPKEEP_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub(crate) upkeep_interval: Duration,
    /// How long VACUUM keeps a file no current table version uses, for readers of older
    /// versions (at least 1h).
    #[arg(long, env = "PAYMENTS_LAKE_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub(crate) retention: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_REPLICATE_ADDR", default_value = "0.0.0.0:8084")]
    pub(crate) http_addr: SocketAddr,
    /// Longest wait between retries after a failure.
    #[arg(long, env = "PAYMENTS_MAX_BACKOFF", default_value = "5s", value_parser = parse_duration)]
    pub(crate) max_backoff: Duration,
    /// After this long with nothing to replicate, a heartbeat (a logical-decoding message)
    /// lets the slot release the WAL that other tables and databases wrote meanwhile.
    #[arg(long, env = "PAYMENTS_REPLICATE_HEARTBEAT", default_value = "60s", value_parser = parse_duration)]
    pub(crate) heartbeat: Duration,
}

impl ReplicateArgs {
    fn location(&self) -> anyhow::Result<DeltaLocation> {
        let access = S3Access {
            endpoint: self.s3.endpoint.as_deref(),
            region: &self.s3.region,
            access_key: &self.s3.access_key,
            secret_key: &self.s3.secret_key,
        };
        DeltaLocation::s3(&self.lake_bucket, &self.lake_prefix, access)
            .context("--lake-bucket/--lake-prefix do not form an s3:// URL")
    }
}

pub async fn exec(args: ReplicateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.retention >= Duration::from_secs(3600),
        "--lake-retention {} is below 1h: a reader of an older table version could lose its files",
        humantime::format_duration(args.retention)
    );
    payments_objectstore::ObjectStore::new(&args.s3.options_for(&args.lake_bucket))
        .ensure_bucket()
        .await
        .context("creating the lakehouse bucket")?;
    let config = ReplicatorConfig {
        database_url: args.database_url.clone(),
        slot: args.slot.clone(),
        publication: args.publication.clone(),
        location: args.location()?,
        batch_changes: args.batch_changes,
        linger: args.linger,
        http_addr: Some(args.http_addr),
        max_backoff: args.max_backoff,
        heartbeat: args.heartbeat,
        upkeep: UpkeepConfig {
            interval: args.upkeep_interval,
            retention: args.retention,
        },
    };
    let replicator = payments_lakehouse::start(config, shutdown_on_signal()).await?;
    if let Some(addr) = replicator.http_addr {
        tracing::info!(%addr, "health endpoints listening");
    }
    replicator.wait().await;
    Ok(())
}
