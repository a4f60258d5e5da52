//! One import, start to finish, for every front end (web page, JSON API, CLI, controller):
//!
//! 1. record the upload (`imports`, status `received`);
//! 2. stream the bytes once, teeing them into the S3 bucket (multipart) and into the analyser,
//!    which rejects a malformed file as a whole, checks every row as the ingester will, and
//!    yields the SHA-256, duplicates, suspicious and invalid rows and control totals (`stored`);
//! 3. if the same bytes were imported before, stop: that import owns the transactions (`done`);
//!    if the totals differ from the expected ones, or invalid rows hold the file (policy, or
//!    no valid row at all), stop unpublished (`failed`);
//! 4. read the stored copy again and publish each unique valid row with its deterministic
//!    `transaction_id`, waiting for every delivery (`published`);
//! 5. the ingester does the rest; progress is counted from the database, and the ingester's
//!    finaliser moves the import to `done` once every published row is a transaction or a
//!    rejection.
//!
//! Memory stays flat in the file size: the upload moves through in 64 KiB chunks and 8 MiB
//! multipart parts, the analyser spills its duplicate-detection records to temporary files and
//! keeps one bit per row, which the publishing pass reuses.
//!
//! The pipeline is closed: [`Pipeline::connect`] builds it from its configuration (or
//! [`Pipeline::new`] from handles a caller already has), and everything that changes an import
//! goes through its methods. Front ends read lists and figures with `payments-store` directly,
//! on the pool [`Pipeline::pool`] lends them once at start.

mod cross_file;
mod decide;
mod error;
pub mod outcome;
mod reading;
mod report;
mod run;
mod unlanded;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use payments_csv::{Options, Summary};
use payments_objectstore::{ObjectStore, S3Options};
use payments_store::{ConnectOptions, PgPool};
use payments_stream::{KafkaOptions, Publisher};
use rdkafka::producer::FutureProducer;
use rust_decimal::Decimal;
use tokio::io::AsyncRead;
use uuid::Uuid;

pub use error::{PipelineError, Refusal, Result};
pub use outcome::{Outcome, OutcomeKind};
pub use payments_domain::import::{
    holds_rows_only, ApprovalReason, ImportCounts, ImportFailure, ImportStatus,
};
pub use payments_domain::{CurrencyTotal, ExpectedTotals, ImportTotals, InvalidRowsPolicy, Totals};
pub use payments_store::{Decision, Import};
pub use report::{FirstImport, ImportReport, RowRejection};
pub use unlanded::Unlanded;

/// What to import: the file's name as the user gave it, whether to publish, and who asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRequest {
    pub file_name: String,
    /// Check every row against the database and publish nothing.
    pub dry_run: bool,
    /// The identity that started the import (a proxy-authenticated user, an OS user), when
    /// known; shown on the result and history pages, the API and dashboards.
    pub started_by: Option<String>,
    /// What the sender says the file holds; any difference stops the import unpublished.
    pub expected_totals: Option<ExpectedTotals>,
    /// What to do with rows that fail the checks; the pipeline's setting when `None`.
    pub invalid_rows: Option<InvalidRowsPolicy>,
    /// Hold the import for a second identity's approval whatever the policy says.
    pub require_approval: bool,
    /// The file corrects this import's rows that did not land (a `row_number` column names
    /// each row it replaces); only those rows may be corrected, each lands once.
    pub corrects: Option<Uuid>,
}

/// Which imports wait for a second identity's approval before anything is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Any suspicious row to publish.
    pub suspicious: bool,
    /// Any currency whose amount to publish is above this.
    pub above_amount: Option<Decimal>,
    /// Look up every row among the payments other imports reserved or landed, and hold the
    /// rows whose payment is there already (only them: the rest publishes) until approved.
    pub cross_file_duplicates: bool,
    /// With `cross_file_duplicates`, reserve each row's payment as it is looked up, so that
    /// two imports carrying it at once hold it in the second (off only to measure its cost).
    pub reservations: bool,
    /// An import that reserved payments and was not touched for this long, before publishing
    /// anything, has lost its importer: the next import fails it as abandoned and releases them.
    pub reservation_lease: Duration,
}

/// Longer than any analysis of a 1 GiB upload here (about a minute), renewed every batch.
pub const DEFAULT_RESERVATION_LEASE: Duration = Duration::from_secs(10 * 60);

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            suspicious: false,
            above_amount: None,
            cross_file_duplicates: true,
            reservations: true,
            reservation_lease: DEFAULT_RESERVATION_LEASE,
        }
    }
}

impl ApprovalPolicy {
    /// Why an import with this analysis (and request) needs approval; empty when it does not.
    pub fn reasons(&self, summary: &Summary, requested: bool) -> Vec<ApprovalReason> {
        let mut reasons = Vec::new();
        if requested {
            reasons.push(ApprovalReason::Requested);
        }
        if self.suspicious && summary.suspicious_rows > 0 {
            reasons.push(ApprovalReason::SuspiciousRows);
        }
        if let Some(limit) = self.above_amount {
            let publishable = summary.totals.publishable.currencies();
            if publishable.iter().any(|t| t.amount > limit) {
                reasons.push(ApprovalReason::AboveAmount);
            }
        }
        if summary.cross_file_duplicates > 0 {
            reasons.push(ApprovalReason::CrossFileDuplicates);
        }
        reasons
    }
}

impl ImportRequest {
    pub fn new(file_name: impl Into<String>) -> Self {
        ImportRequest {
            file_name: file_name.into(),
            ..ImportRequest::default()
        }
    }
}

/// Everything [`Pipeline::connect`] needs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub database: ConnectOptions,
    pub kafka: KafkaOptions,
    /// Create the import topic with this many partitions when it is missing; `None` leaves
    /// topics to whoever owns them (Strimzi in a cluster).
    pub create_topic_partitions: Option<i32>,
    pub s3: S3Options,
    /// Topic the unique rows are published to.
    pub topic: String,
    pub suspicious_threshold: Decimal,
    /// What an import does with rows that fail the checks, unless the request says otherwise.
    pub invalid_rows: InvalidRowsPolicy,
    /// Which imports wait for a second identity's approval.
    pub approval: ApprovalPolicy,
}

/// One import end to end, for every front end. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    pool: PgPool,
    objects: ObjectStore,
    /// Shared by clones; replaced by a fresh producer when one stops delivering.
    publisher: Arc<RwLock<Publisher>>,
    /// How to build that fresh producer (`None`: the caller's producer is the only one).
    kafka: Option<KafkaOptions>,
    options: Options,
    invalid_rows: InvalidRowsPolicy,
    approval: ApprovalPolicy,
}

impl Pipeline {
    /// Connects to the database (and applies its migrations), the broker (creating the topic
    /// when asked) and object storage (checking the bucket).
    pub async fn connect(config: PipelineConfig) -> Result<Pipeline> {
        let pool = payments_store::connect(&config.database)?;
        payments_store::migrate(&pool).await?;
        if let Some(partitions) = config.create_topic_partitions {
            config
                .kafka
                .ensure_topics(&[&config.topic], partitions)
                .await?;
        }
        let objects = ObjectStore::new(&config.s3);
        objects.ensure_bucket().await?;
        let mut pipeline = Pipeline::new(
            pool,
            objects,
            config.kafka.producer()?,
            config.topic,
            options_with_threshold(config.suspicious_threshold),
        )
        .with_invalid_rows(config.invalid_rows)
        .with_approval(config.approval);
        pipeline.kafka = Some(config.kafka);
        Ok(pipeline)
    }

    /// A pipeline over handles the caller already has (tests, benchmarks).
    pub fn new(
        pool: PgPool,
        objects: ObjectStore,
        producer: FutureProducer,
        topic: impl Into<String>,
        options: Options,
    ) -> Pipeline {
        Pipeline {
            pool,
            objects,
            publisher: Arc::new(RwLock::new(Publisher::new(producer, topic))),
            kafka: None,
            options,
            invalid_rows: InvalidRowsPolicy::default(),
            approval: ApprovalPolicy::default(),
        }
    }

    /// The same pipeline with another approval policy.
    pub fn with_approval(&self, approval: ApprovalPolicy) -> Pipeline {
        Pipeline {
            approval,
            ..self.clone()
        }
    }

    pub fn approval(&self) -> ApprovalPolicy {
        self.approval
    }

    /// The same pipeline with another policy for rows that fail the checks.
    pub fn with_invalid_rows(&self, policy: InvalidRowsPolicy) -> Pipeline {
        Pipeline {
            invalid_rows: policy,
            ..self.clone()
        }
    }

    pub fn invalid_rows(&self) -> InvalidRowsPolicy {
        self.invalid_rows
    }

    /// The same pipeline with another suspicious threshold.
    pub fn with_threshold(&self, threshold: Decimal) -> Pipeline {
        Pipeline {
            options: options_with_threshold(threshold),
            ..self.clone()
        }
    }

    pub fn suspicious_threshold(&self) -> Decimal {
        self.options.suspicious_threshold
    }

    /// The pipeline's database pool, lent once to a front end's read-only side (lists,
    /// figures, the dashboard); changes to imports go through the pipeline's methods.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The bucket uploads are stored in.
    pub fn bucket(&self) -> &str {
        self.objects.bucket()
    }

    /// Opens object `key` (in `bucket`, or the pipeline's own) as the source of an import;
    /// `None` when there is no such object.
    pub async fn open_object(
        &self,
        bucket: Option<&str>,
        key: &str,
    ) -> Result<Option<impl AsyncRead + Unpin + Send + 'static>> {
        let objects = match bucket {
            Some(bucket) => self.objects.with_bucket(bucket),
            None => self.objects.clone(),
        };
        if objects.size(key).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(objects.get(key).await?))
    }

    /// Status and counts of one import, as they stand (reading changes nothing).
    pub async fn status(&self, id: Uuid) -> Result<Import> {
        payments_store::get_import(&self.pool, id)
            .await?
            .ok_or(PipelineError::NotFound(id))
    }

    /// What became of `import`, in the words every front end shows.
    pub async fn outcome(&self, import: &Import) -> Result<Outcome> {
        let first = self.first_import_name(import).await?;
        Ok(outcome::outcome(import, first.as_deref()))
    }

    /// The earlier import of the same bytes as `import`, by its file and time, when there is one.
    pub async fn first_import_name(&self, import: &Import) -> Result<Option<String>> {
        let Some(first) = import.first_import_id else {
            return Ok(None);
        };
        Ok(payments_store::import_names(&self.pool, &[first])
            .await?
            .into_iter()
            .next()
            .map(|n| outcome::import_name(&n.file_name, n.created_at)))
    }

    /// The stored analysis of an import (capped lists).
    pub async fn summary(&self, id: Uuid) -> Result<Option<Summary>> {
        Ok(payments_store::load_analysis(&self.pool, id)
            .await?
            .and_then(|value| serde_json::from_value(value).ok()))
    }

    /// Newest imports first.
    pub async fn history(&self, limit: i64) -> Result<Vec<Import>> {
        Ok(payments_store::recent_imports(&self.pool, limit, None).await?)
    }

    /// Rows of an import the ingester rejected, by row number.
    pub async fn rejections(&self, id: Uuid, limit: i64) -> Result<Vec<RowRejection>> {
        let rows = payments_store::import_rejections(&self.pool, id, limit).await?;
        Ok(rows
            .into_iter()
            .map(|(row_number, reason)| RowRejection { row_number, reason })
            .collect())
    }
}

/// Options with a different suspicious threshold.
fn options_with_threshold(threshold: Decimal) -> Options {
    Options {
        suspicious_threshold: threshold,
        ..Options::default()
    }
}
