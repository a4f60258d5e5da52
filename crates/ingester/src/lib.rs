//! The ingester role: consumes the stream and import topics, validates every record and applies
//! each batch exactly once to PostgreSQL (see `payments_store::write_batch`).
//!
//! Two tasks form a pipeline so parsing overlaps database writes: the consumer task builds and
//! validates batches, the writer task commits them and only then acknowledges them to Kafka.

mod backups;
mod behind;
mod consume;
mod finalise;
mod health;
mod rebalance;
mod resume;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use payments_store::PgPool;
use payments_stream::KafkaOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use backups::BackupMetrics;
pub use health::{Health, Metrics};
pub use payments_store::WritePath;
pub use resume::{Refusal, Resume, Retained};

/// Everything the ingester needs to know.
#[derive(Debug, Clone)]
pub struct IngesterConfig {
    pub group_id: String,
    pub stream_topic: String,
    pub import_topic: String,
    /// Most records per database transaction.
    pub batch_size: usize,
    /// How long a partial batch waits for more records.
    pub linger: Duration,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None` serves nothing.
    pub http_addr: Option<SocketAddr>,
    /// Longest pause between two attempts when the database or broker is unavailable.
    pub max_backoff: Duration,
    /// How often published imports are checked for completion (every row ingested or rejected).
    pub finalise_interval: Duration,
    /// How a batch's rows reach the table (the benchmark compares both).
    pub write_path: WritePath,
    /// Batches written at once, each on its own connection, partitions split among them.
    pub writers: usize,
    /// A stream payment above this amount (or to oneself) is stored with `suspicious = true`,
    /// by the same rules the importer flags a file's rows with.
    pub suspicious_threshold: rust_decimal::Decimal,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            group_id: "payments-ingester".into(),
            stream_topic: payments_stream::PAYMENTS_TOPIC.into(),
            import_topic: payments_stream::IMPORT_TOPIC.into(),
            batch_size: 5000,
            linger: Duration::from_millis(10),
            http_addr: None,
            max_backoff: Duration::from_secs(5),
            finalise_interval: Duration::from_secs(1),
            write_path: WritePath::default(),
            writers: 3,
            suspicious_threshold: payments_domain::suspicion::DEFAULT_THRESHOLD,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    #[error(transparent)]
    Stream(#[from] payments_stream::StreamError),
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] payments_store::StoreError),
    #[error("serving health endpoints: {0}")]
    Http(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T, E = IngesterError> = std::result::Result<T, E>;

impl IngesterConfig {
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(IngesterError::Config(
                "batch size must be at least 1".into(),
            ));
        }
        if self.writers == 0 || self.writers > 16 {
            return Err(IngesterError::Config(
                "writers must be between 1 and 16".into(),
            ));
        }
        if self.finalise_interval.is_zero() {
            return Err(IngesterError::Config(
                "the finalise interval must be longer than zero".into(),
            ));
        }
        if self.suspicious_threshold.is_sign_negative() {
            return Err(IngesterError::Config(
                "the suspicious threshold must not be negative".into(),
            ));
        }
        if self.stream_topic == self.import_topic {
            return Err(IngesterError::Config(
                "stream and import topics must differ".into(),
            ));
        }
        Ok(())
    }
}

/// A running ingester: its health handle and the address of its HTTP endpoints.
pub struct Ingester {
    pub health: Arc<Health>,
    pub http_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Ingester {
    /// False once the ingester stopped, by shutdown or by a fatal configuration error.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Waits until the ingester stops (after `shutdown` is cancelled, having flushed its batch).
    pub async fn wait(self) -> Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(IngesterError::Config(format!("ingester task failed: {e}"))),
        }
    }
}

/// Starts the ingester. Neither the database nor the broker needs to be reachable yet: both are
/// retried until they are, and `/readyz` says which one is missing.
pub async fn start(
    config: IngesterConfig,
    pool: PgPool,
    kafka: KafkaOptions,
    shutdown: CancellationToken,
) -> Result<Ingester> {
    config.validate()?;
    let health = Arc::new(Health::default());
    let http_addr = match config.http_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            tokio::spawn(health::serve(listener, health.clone(), shutdown.clone()));
            Some(bound)
        }
        None => None,
    };
    tokio::spawn(backups::watch(
        pool.clone(),
        health.clone(),
        shutdown.clone(),
    ));
    let task = tokio::spawn(consume::run(config, pool, kafka, health.clone(), shutdown));
    Ok(Ingester {
        health,
        http_addr,
        task,
    })
}
