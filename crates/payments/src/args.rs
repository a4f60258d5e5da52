//! Argument groups several commands share, declared once: the database, Kafka, S3, the
//! import pipeline and the start-up wait. Every flag has a `PAYMENTS_*` variable; flags win
//! over variables, variables over defaults.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use payments_store::{ConnectOptions, PgPool};
use payments_stream::KafkaOptions;
use secrecy::SecretString;

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL (`postgres://user:password@host:port/db`). Never logged.
    #[arg(
        long = "database-url",
        env = "PAYMENTS_DATABASE_URL",
        hide_env_values = true
    )]
    pub(crate) url: String,
    /// Largest number of pooled connections.
    #[arg(
        long = "database-max-connections",
        env = "PAYMENTS_DATABASE_MAX_CONNECTIONS",
        default_value_t = 8
    )]
    pub(crate) max_connections: u32,
}

impl DatabaseArgs {
    pub fn connect_options(&self, application: &str) -> ConnectOptions {
        let mut options = ConnectOptions::new(SecretString::from(self.url.clone()), application);
        options.max_connections = self.max_connections;
        options
    }

    pub fn pool(&self, application: &str) -> anyhow::Result<PgPool> {
        Ok(payments_store::connect(&self.connect_options(application))?)
    }
}

#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated `host:port`.
    #[arg(
        long = "kafka-brokers",
        env = "PAYMENTS_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub(crate) brokers: String,
    /// Create missing topics at start (for local runs; in Kubernetes Strimzi owns the topics).
    #[arg(long, env = "PAYMENTS_CREATE_TOPICS", default_value_t = false)]
    pub(crate) create_topics: bool,
    /// Partitions of topics created by `--create-topics`.
    #[arg(long, env = "PAYMENTS_TOPIC_PARTITIONS", default_value_t = 3)]
    pub(crate) topic_partitions: i32,
    /// How long a producer tries to deliver a record; an import whose deliveries time out
    /// publishes again with a fresh producer (up to 3 times).
    #[arg(
        long = "kafka-delivery-timeout",
        env = "PAYMENTS_KAFKA_DELIVERY_TIMEOUT",
        default_value = "300s",
        value_parser = parse_duration
    )]
    pub(crate) delivery_timeout: Duration,
    /// Extra librdkafka properties, `key=value`, applied after the role's own (security
    /// settings, or memory against throughput: docs/capacity.md). Repeat the flag, or separate
    /// them with commas in the variable; an empty one (a variable set to nothing) means none.
    #[arg(
        long = "kafka-property",
        env = "PAYMENTS_KAFKA_PROPERTIES",
        value_delimiter = ',',
        value_parser = parse_property
    )]
    pub(crate) properties: Vec<Option<(String, String)>>,
}

/// `key=value`, both non-empty; nothing at all is no property (`PAYMENTS_KAFKA_PROPERTIES=`, or
/// a trailing comma).
fn parse_property(text: &str) -> Result<Option<(String, String)>, String> {
    match text.split_once('=') {
        None if text.trim().is_empty() => Ok(None),
        Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => {
            Ok(Some((key.trim().to_owned(), value.trim().to_owned())))
        }
        _ => Err(format!(
            "`{text}` is not a librdkafka property: write key=value, e.g. queued.max.messages.kbytes=16384"
        )),
    }
}

impl KafkaArgs {
    pub fn options(&self, client_id: &str) -> KafkaOptions {
        KafkaOptions {
            delivery_timeout: self.delivery_timeout,
            extra: self.properties.iter().flatten().cloned().collect(),
            ..KafkaOptions::new(&self.brokers, client_id)
        }
    }

    /// Client options, creating `topics` first when `--create-topics` is set (waiting up to
    /// `startup_timeout` for the broker, which may start after this process).
    pub async fn with_topics(
        &self,
        client_id: &str,
        topics: &[&str],
        startup_timeout: Duration,
    ) -> anyhow::Result<KafkaOptions> {
        let kafka = self.options(client_id);
        if self.create_topics {
            until_available("creating topics", startup_timeout, || {
                kafka.ensure_topics(topics, self.topic_partitions)
            })
            .await?;
        }
        Ok(kafka)
    }
}

#[derive(Debug, Args)]
pub struct S3Args {
    /// S3 endpoint (MinIO, s3s-fs); empty for AWS.
    #[arg(long = "s3-endpoint", env = "PAYMENTS_S3_ENDPOINT")]
    pub(crate) endpoint: Option<String>,
    #[arg(
        long = "s3-region",
        env = "PAYMENTS_S3_REGION",
        default_value = "us-east-1"
    )]
    pub(crate) region: String,
    #[arg(
        long = "s3-access-key",
        env = "PAYMENTS_S3_ACCESS_KEY",
        hide_env_values = true
    )]
    pub(crate) access_key: String,
    /// Never logged.
    #[arg(
        long = "s3-secret-key",
        env = "PAYMENTS_S3_SECRET_KEY",
        hide_env_values = true
    )]
    pub(crate) secret_key: String,
    /// Bucket of the original uploaded files.
    #[arg(
        long = "s3-bucket",
        env = "PAYMENTS_S3_BUCKET",
        default_value = "files-imported"
    )]
    pub(crate) bucket: String,
}

impl S3Args {
    /// Client options for `bucket` on this store.
    pub fn options_for(&self, bucket: &str) -> payments_objectstore::S3Options {
        payments_objectstore::S3Options {
            endpoint: self.endpoint.clone().filter(|e| !e.is_empty()),
            region: self.region.clone(),
            access_key: self.access_key.clone(),
            secret_key: SecretString::from(self.secret_key.clone()),
            bucket: bucket.to_owned(),
        }
    }
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    s3: S3Args,
    /// Topic the unique rows are published to.
    #[arg(long, env = "PAYMENTS_IMPORT_TOPIC", default_value = payments_stream::IMPORT_TOPIC)]
    pub(crate) import_topic: String,
    /// Rows above this amount are reported as suspicious (and still published).
    #[arg(long, env = "PAYMENTS_SUSPICIOUS_THRESHOLD", default_value = "8000")]
    pub(crate) suspicious_threshold: rust_decimal::Decimal,
    /// Rows that fail the checks: `publish-valid` publishes the rest, `hold-file` publishes
    /// nothing while any row is invalid. Invalid rows are never published.
    #[arg(long, env = "PAYMENTS_INVALID_ROWS", default_value = "publish-valid")]
    pub(crate) invalid_rows: payments_imports::InvalidRowsPolicy,
    /// Hold an import with suspicious rows until a second identity approves it.
    #[arg(long, env = "PAYMENTS_APPROVE_SUSPICIOUS")]
    pub(crate) approve_suspicious: bool,
    /// Hold an import until a second identity approves it when any currency's amount to
    /// publish is above this.
    #[arg(long, env = "PAYMENTS_APPROVE_ABOVE", value_name = "AMOUNT")]
    pub(crate) approve_above: Option<rust_decimal::Decimal>,
    /// Look up every row among the payments other imports landed and hold the rows found there
    /// (only them) until a second identity approves them (`false`: do not look).
    #[arg(long, env = "PAYMENTS_HOLD_CROSS_FILE_DUPLICATES", value_name = "BOOL",
          default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) hold_cross_file_duplicates: bool,
    /// An import that reserved payments (so that a concurrent upload holds them) and was not
    /// touched for this long before publishing has lost its importer: the next import fails it
    /// as abandoned and releases them.
    #[arg(long, env = "PAYMENTS_RESERVATION_LEASE", default_value = "10m", value_parser = parse_duration)]
    pub(crate) reservation_lease: Duration,
    #[command(flatten)]
    pub(crate) startup: StartupArgs,
}

impl PipelineArgs {
    pub async fn pipeline(&self, application: &str) -> anyhow::Result<payments_imports::Pipeline> {
        let config = payments_imports::PipelineConfig {
            database: self.database.connect_options(application),
            kafka: self.kafka.options(application),
            create_topic_partitions: self
                .kafka
                .create_topics
                .then_some(self.kafka.topic_partitions),
            s3: self.s3.options_for(&self.s3.bucket),
            topic: self.import_topic.clone(),
            suspicious_threshold: self.suspicious_threshold,
            invalid_rows: self.invalid_rows,
            approval: payments_imports::ApprovalPolicy {
                suspicious: self.approve_suspicious,
                above_amount: self.approve_above,
                cross_file_duplicates: self.hold_cross_file_duplicates,
                reservation_lease: self.reservation_lease,
                ..Default::default()
            },
        };
        until_available(
            "connecting the import pipeline (database, broker, object storage)",
            self.startup.timeout,
            || payments_imports::Pipeline::connect(config.clone()),
        )
        .await
    }
}

/// How long a process waits at start for what it needs.
#[derive(Debug, Args)]
pub struct StartupArgs {
    /// How long to keep retrying at start while the database, Kafka or S3 cannot be reached
    /// (in a cluster they may start after this process) before giving up.
    #[arg(
        long = "startup-timeout",
        env = "PAYMENTS_STARTUP_TIMEOUT",
        default_value = "5m",
        value_parser = parse_duration
    )]
    pub(crate) timeout: Duration,
}

/// A secret flag or variable, so it is never held as a plain `String`.
pub fn secret(text: &str) -> Result<SecretString, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(text))
}

/// A humantime duration (`250ms`, `2s`, `1m`, `1h 30m`), or a bare number of seconds as
/// earlier releases accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string());
    }
    humantime::parse_duration(text).map_err(|e| format!("not a duration: {text:?}: {e}"))
}

/// [`payments_runtime::until_available`], failing with what was waited for and for how long.
pub async fn until_available<T, E, F, Fut>(
    what: &str,
    timeout: Duration,
    step: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    payments_runtime::until_available(what, timeout, step)
        .await
        .with_context(|| {
            format!(
                "{what} (gave up after {})",
                humantime::format_duration(timeout)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("2 parsecs").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn empty_kafka_properties_mean_none() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            kafka: KafkaArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "payments",
            "--kafka-property=",
            "--kafka-property",
            "linger.ms=5,",
        ])
        .expect("parses");
        assert_eq!(
            cli.kafka.options("test").extra,
            vec![("linger.ms".to_owned(), "5".to_owned())]
        );
    }

    #[test]
    fn kafka_properties() {
        assert_eq!(
            parse_property("queued.max.messages.kbytes=16384"),
            Ok(Some(("queued.max.messages.kbytes".into(), "16384".into())))
        );
        assert_eq!(
            parse_property(" sasl.mechanism = SCRAM-SHA-512 "),
            Ok(Some(("sasl.mechanism".into(), "SCRAM-SHA-512".into())))
        );
        assert_eq!(parse_property(""), Ok(None));
        assert_eq!(parse_property("  "), Ok(None));
        for bad in ["key", "key=", "=value", " = "] {
            let error = parse_property(bad).expect_err(bad);
            assert!(error.contains("key=value"), "{error}");
        }
    }
}
