//! Command line and environment configuration. Every flag has a `PAYMENTS_*` variable; flags win
//! over variables, variables over defaults.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use payments_generator::GeneratorConfig;
use payments_ingester::IngesterConfig;
use payments_store::{ConnectOptions, PgPool};
use payments_stream::KafkaOptions;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "payments",
    version,
    about = "Payments ingestion platform: one binary, a subcommand per role."
)]
pub struct Cli {
    /// Log output format.
    #[arg(
        long,
        env = "PAYMENTS_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply database migrations and seed the demo users, then exit.
    Migrate(MigrateArgs),
    /// Consume both topics and write every record exactly once to PostgreSQL.
    Ingester(IngesterArgs),
    /// Publish synthetic payment events.
    Generator(GeneratorArgs),
    /// Serve the upload web app and the JSON API.
    Importer(ImporterArgs),
    /// Import one CSV file from the command line, printing the same summary as the web app.
    Import(ImportArgs),
    /// Load users (add, update, deactivate) from a CSV file.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Approve an import that awaits approval: it is checked again and published. The
    /// approver must not be who started it.
    Approve(DecideArgs),
    /// Reject an import that awaits approval: nothing of it is ever published.
    Reject(DecideArgs),
    /// Write the deterministic sample CSV files into a directory.
    SampleCsvs(SampleCsvsArgs),
    /// Reconcile PaymentImport resources: run each import and report it in the status.
    Controller(ControllerArgs),
    /// Print the PaymentImport CustomResourceDefinition as YAML.
    Crd,
    /// Give Metabase a read-only database login and set it up: admin, the payments database,
    /// the Overview questions and dashboard. Converges: running it again changes nothing.
    MetabaseSetup(MetabaseSetupArgs),
}

#[derive(Debug, Args)]
struct MetabaseSetupArgs {
    // The owner's URL: it creates the read-only login role; Metabase gets the same host and
    // database with that role's credentials instead.
    #[command(flatten)]
    database: DatabaseArgs,
    /// Metabase's base URL.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    metabase_url: String,
    /// E-mail of the Metabase admin (created on first run).
    #[arg(long, env = "PAYMENTS_METABASE_ADMIN_EMAIL")]
    admin_email: String,
    /// Password of the Metabase admin. Never logged.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_ADMIN_PASSWORD",
        hide_env_values = true,
        value_parser = secret
    )]
    admin_password: SecretString,
    /// The read-only login role Metabase connects as (a member of `payments_reader`).
    #[arg(
        long,
        env = "PAYMENTS_METABASE_DB_USER",
        default_value = "payments_metabase"
    )]
    db_user: String,
    /// That role's password. Never logged.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_DB_PASSWORD",
        hide_env_values = true,
        value_parser = secret
    )]
    db_password: SecretString,
    /// Send the database password to Metabase even when nothing else changed: Metabase never
    /// shows the stored one, so a rotated password cannot be noticed otherwise.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_UPDATE_DB_PASSWORD",
        default_value_t = false
    )]
    update_db_password: bool,
    /// The payments database's name in Metabase.
    #[arg(
        long,
        env = "PAYMENTS_METABASE_DATABASE_NAME",
        default_value = "Payments"
    )]
    database_name: String,
    /// Collection holding the questions and the dashboard.
    #[arg(long, env = "PAYMENTS_METABASE_COLLECTION", default_value = "Payments")]
    collection: String,
    /// Name of the dashboard.
    #[arg(long, env = "PAYMENTS_METABASE_DASHBOARD", default_value = "Overview")]
    dashboard: String,
    #[command(flatten)]
    startup: StartupArgs,
}

/// A secret flag or variable, so it is never held as a plain `String`.
fn secret(text: &str) -> Result<SecretString, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(text))
}

#[derive(Debug, Args)]
struct ControllerArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Namespace whose PaymentImports are reconciled and where the Lease lives.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    namespace: String,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "PAYMENTS_LEASE_NAME",
        default_value = "payments-controller"
    )]
    lease_name: String,
    /// This replica's identity in the Lease and in Events; the pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// A standby replica takes over a lease it has seen unrenewed for this long.
    #[arg(long, env = "PAYMENTS_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// The leader stops acting when it could not renew the lease for this long.
    #[arg(long, env = "PAYMENTS_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    renew_deadline: Duration,
    /// How often the lease is renewed, or tried by a standby replica.
    #[arg(long, env = "PAYMENTS_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    retry_period: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_CONTROLLER_ADDR", default_value = "0.0.0.0:8082")]
    http_addr: SocketAddr,
}

#[derive(Debug, Args)]
struct S3Args {
    /// S3 endpoint (MinIO, s3s-fs); empty for AWS.
    #[arg(long = "s3-endpoint", env = "PAYMENTS_S3_ENDPOINT")]
    endpoint: Option<String>,
    #[arg(
        long = "s3-region",
        env = "PAYMENTS_S3_REGION",
        default_value = "us-east-1"
    )]
    region: String,
    #[arg(
        long = "s3-access-key",
        env = "PAYMENTS_S3_ACCESS_KEY",
        hide_env_values = true
    )]
    access_key: String,
    /// Never logged.
    #[arg(
        long = "s3-secret-key",
        env = "PAYMENTS_S3_SECRET_KEY",
        hide_env_values = true
    )]
    secret_key: String,
    /// Bucket of the original uploaded files.
    #[arg(
        long = "s3-bucket",
        env = "PAYMENTS_S3_BUCKET",
        default_value = "files-imported"
    )]
    bucket: String,
}

#[derive(Debug, Args)]
struct PipelineArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    s3: S3Args,
    /// Topic the unique rows are published to.
    #[arg(long, env = "PAYMENTS_IMPORT_TOPIC", default_value = payments_stream::IMPORT_TOPIC)]
    import_topic: String,
    /// Rows above this amount are reported as suspicious (and still published).
    #[arg(long, env = "PAYMENTS_SUSPICIOUS_THRESHOLD", default_value = "8000")]
    suspicious_threshold: rust_decimal::Decimal,
    /// Rows that fail the checks: `publish-valid` publishes the rest, `hold-file` publishes
    /// nothing while any row is invalid. Invalid rows are never published.
    #[arg(long, env = "PAYMENTS_INVALID_ROWS", default_value = "publish-valid")]
    invalid_rows: payments_imports::InvalidRowsPolicy,
    /// Hold an import with suspicious rows until a second identity approves it.
    #[arg(long, env = "PAYMENTS_APPROVE_SUSPICIOUS")]
    approve_suspicious: bool,
    /// Hold an import until a second identity approves it when any currency's amount to
    /// publish is above this.
    #[arg(long, env = "PAYMENTS_APPROVE_ABOVE", value_name = "AMOUNT")]
    approve_above: Option<rust_decimal::Decimal>,
    /// Look up every row among the payments other imports landed and hold the rows found there
    /// (only them) until a second identity approves them (`false`: do not look).
    #[arg(long, env = "PAYMENTS_HOLD_CROSS_FILE_DUPLICATES", value_name = "BOOL",
          default_value_t = true, action = clap::ArgAction::Set)]
    hold_cross_file_duplicates: bool,
    /// An import that reserved payments (so that a concurrent upload holds them) and was not
    /// touched for this long before publishing has lost its importer: the next import fails it
    /// as abandoned and releases them.
    #[arg(long, env = "PAYMENTS_RESERVATION_LEASE", default_value = "10m", value_parser = parse_duration)]
    reservation_lease: Duration,
    #[command(flatten)]
    startup: StartupArgs,
}

impl PipelineArgs {
    async fn pipeline(&self, application: &str) -> anyhow::Result<payments_imports::Pipeline> {
        let config = payments_imports::PipelineConfig {
            database: self.database.connect_options(application),
            kafka: self.kafka.options(application),
            create_topic_partitions: self
                .kafka
                .create_topics
                .then_some(self.kafka.topic_partitions),
            s3: payments_objectstore::S3Options {
                endpoint: self.s3.endpoint.clone().filter(|e| !e.is_empty()),
                region: self.s3.region.clone(),
                access_key: self.s3.access_key.clone(),
                secret_key: SecretString::from(self.s3.secret_key.clone()),
                bucket: self.s3.bucket.clone(),
            },
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

#[derive(Debug, Args)]
struct ImporterArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Address the web app listens on.
    #[arg(long, env = "PAYMENTS_IMPORTER_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Largest upload in bytes (413 above it).
    #[arg(long, env = "PAYMENTS_MAX_UPLOAD_BYTES", default_value_t = 1024 * 1024 * 1024)]
    max_upload_bytes: usize,
    /// Metabase URL linked from the portal.
    #[arg(long, env = "PAYMENTS_METABASE_URL")]
    metabase_url: Option<String>,
    /// MinIO console URL linked from the portal.
    #[arg(long, env = "PAYMENTS_MINIO_CONSOLE_URL")]
    minio_console_url: Option<String>,
    /// Create a PaymentImport for each upload (in a cluster), so `kubectl get paymentimports`
    /// lists every import; the controller reports on it and never imports it again.
    #[arg(long, env = "PAYMENTS_RECORD_IN_KUBERNETES", default_value_t = false)]
    record_in_kubernetes: bool,
    /// Namespace of those PaymentImports.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    namespace: String,
    /// Headers naming the user, tried in order, as set by the authenticating proxy in front of
    /// the app (e.g. oauth2-proxy behind ingress-nginx's `auth-url`).
    #[arg(
        long = "identity-header",
        env = "PAYMENTS_IDENTITY_HEADERS",
        value_delimiter = ',',
        default_value = "X-Forwarded-User,X-Forwarded-Email"
    )]
    identity_headers: Vec<axum::http::HeaderName>,
    /// Addresses (CIDRs) of that proxy: identity headers from anyone else are ignored.
    #[arg(
        long = "trusted-proxy",
        env = "PAYMENTS_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Refuse uploads that no trusted proxy attributes to a user (401).
    #[arg(long, env = "PAYMENTS_REQUIRE_IDENTITY", default_value_t = false)]
    require_identity: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// The CSV file.
    file: std::path::PathBuf,
    /// Check every row against the database; publish nothing.
    #[arg(long)]
    dry_run: bool,
    /// Who starts the import, as recorded and shown; default: the OS user (`$USER`).
    #[arg(long = "as", value_name = "NAME")]
    started_by: Option<String>,
    /// The file's control totals as the sender states them, per currency `CURRENCY=AMOUNT` or
    /// `CURRENCY=ROWS:AMOUNT`, comma-separated (`USD=12:1234.50,EUR=99.00`): any difference
    /// stops the import before anything is published.
    #[arg(long, value_name = "TOTALS")]
    expect: Option<payments_imports::ExpectedTotals>,
    /// Hold the import until a second identity approves it, whatever the policy says.
    #[arg(long)]
    require_approval: bool,
    /// The file corrects this import's rows that did not land: its `row_number` column (as in
    /// the import's not-landed.csv) names the row each line replaces.
    #[arg(long, value_name = "IMPORT_ID")]
    corrects: Option<uuid::Uuid>,
}

/// `payments approve` / `payments reject`.
async fn decide(args: DecideArgs, approve: bool) -> anyhow::Result<()> {
    let by = args
        .by
        .or_else(|| std::env::var("USER").ok())
        .filter(|name| !name.trim().is_empty());
    let pipeline = args.pipeline.pipeline("payments-csv").await?;
    let message = if approve {
        pipeline.approve(args.id, by.as_deref()).await?.message
    } else {
        let view = pipeline
            .reject(args.id, by.as_deref(), args.reason.as_deref())
            .await?;
        payments_imports::message(&view)
    };
    println!("{message}");
    Ok(())
}

#[derive(Debug, Args)]
struct DecideArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// The import's id (shown by `payments import`, the result page and the API).
    id: uuid::Uuid,
    /// Who decides, as recorded and shown; default: the OS user (`$USER`). Must not be who
    /// started the import.
    #[arg(long = "as", value_name = "NAME")]
    by: Option<String>,
    /// Why (kept with a rejection).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add or update the users of a CSV file: the original platform's export
    /// (`user_id,name,username,user_creation_date,email,active`) or `username,name,email`
    /// (optionally `active`). Exits 0 once the file was read, listing every row not loaded;
    /// 1 only when nothing could be loaded (no file, unusable header, database down).
    Import(UsersImportArgs),
}

#[derive(Debug, Args)]
struct UsersImportArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The CSV file.
    file: std::path::PathBuf,
    #[command(flatten)]
    startup: StartupArgs,
}

#[derive(Debug, Args)]
struct SampleCsvsArgs {
    /// Directory to write into (created if missing).
    #[arg(default_value = "csvs")]
    dir: std::path::PathBuf,
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// PostgreSQL URL (`postgres://user:password@host:port/db`). Never logged.
    #[arg(
        long = "database-url",
        env = "PAYMENTS_DATABASE_URL",
        hide_env_values = true
    )]
    url: String,
    /// Largest number of pooled connections.
    #[arg(
        long = "database-max-connections",
        env = "PAYMENTS_DATABASE_MAX_CONNECTIONS",
        default_value_t = 8
    )]
    max_connections: u32,
}

impl DatabaseArgs {
    fn connect_options(&self, application: &str) -> ConnectOptions {
        let mut options = ConnectOptions::new(SecretString::from(self.url.clone()), application);
        options.max_connections = self.max_connections;
        options
    }

    fn pool(&self, application: &str) -> anyhow::Result<PgPool> {
        Ok(payments_store::connect(&self.connect_options(application))?)
    }
}

#[derive(Debug, Args)]
struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated `host:port`.
    #[arg(
        long = "kafka-brokers",
        env = "PAYMENTS_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    brokers: String,
    /// Create missing topics at start (for local runs; in Kubernetes Strimzi owns the topics).
    #[arg(long, env = "PAYMENTS_CREATE_TOPICS", default_value_t = false)]
    create_topics: bool,
    /// Partitions of topics created by `--create-topics`.
    #[arg(long, env = "PAYMENTS_TOPIC_PARTITIONS", default_value_t = 3)]
    topic_partitions: i32,
    /// How long a producer tries to deliver a record; an import whose deliveries time out
    /// publishes again with a fresh producer (up to 3 times).
    #[arg(
        long = "kafka-delivery-timeout",
        env = "PAYMENTS_KAFKA_DELIVERY_TIMEOUT",
        default_value = "300s",
        value_parser = parse_duration
    )]
    delivery_timeout: Duration,
}

impl KafkaArgs {
    fn options(&self, client_id: &str) -> KafkaOptions {
        KafkaOptions {
            delivery_timeout: self.delivery_timeout,
            ..KafkaOptions::new(&self.brokers, client_id)
        }
    }

    /// Client options, creating `topics` first when `--create-topics` is set (waiting up to
    /// `startup_timeout` for the broker, which may start after this process).
    async fn with_topics(
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

/// How long a process waits at start for what it needs.
#[derive(Debug, Args)]
struct StartupArgs {
    /// How long to keep retrying at start while the database, Kafka or S3 cannot be reached
    /// (in a cluster they may start after this process) before giving up.
    #[arg(
        long = "startup-timeout",
        env = "PAYMENTS_STARTUP_TIMEOUT",
        default_value = "5m",
        value_parser = parse_duration
    )]
    timeout: Duration,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Do not insert the demo users.
    #[arg(long, env = "PAYMENTS_NO_DEMO_USERS")]
    no_demo_users: bool,
    #[command(flatten)]
    startup: StartupArgs,
}

#[derive(Debug, Args)]
struct IngesterArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    startup: StartupArgs,
    /// Kafka consumer group; also the key of the offsets stored in the database.
    #[arg(long, env = "PAYMENTS_GROUP_ID", default_value = "payments-ingester")]
    group_id: String,
    /// Topic of live payment events.
    #[arg(long, env = "PAYMENTS_STREAM_TOPIC", default_value = payments_stream::PAYMENTS_TOPIC)]
    stream_topic: String,
    /// Topic of rows from imported CSV files.
    #[arg(long, env = "PAYMENTS_IMPORT_TOPIC", default_value = payments_stream::IMPORT_TOPIC)]
    import_topic: String,
    /// Most records written in one database transaction.
    #[arg(long, env = "PAYMENTS_BATCH_SIZE", default_value_t = 5000)]
    batch_size: usize,
    /// How long a partial batch waits for more records (`100ms`, `1s`).
    #[arg(long, env = "PAYMENTS_BATCH_LINGER", default_value = "10ms", value_parser = parse_duration)]
    linger: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_INGESTER_ADDR", default_value = "0.0.0.0:8081")]
    http_addr: SocketAddr,
    /// Longest wait between retries while the database is unavailable.
    #[arg(long, env = "PAYMENTS_MAX_BACKOFF", default_value = "5s", value_parser = parse_duration)]
    max_backoff: Duration,
    /// How often published imports are checked for completion (every row ingested or rejected).
    #[arg(long, env = "PAYMENTS_FINALISE_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    finalise_interval: Duration,
    /// How a batch reaches the table: `staged` (binary COPY into a session-local table, then one
    /// merge) or `unnest` (one INSERT with the rows as array parameters).
    #[arg(long, env = "PAYMENTS_WRITE_PATH", default_value = "staged")]
    write_path: payments_ingester::WritePath,
    /// Batches written at once, each on its own database connection (partitions are split among
    /// them; more than the partitions this process owns is useless).
    #[arg(long, env = "PAYMENTS_WRITERS", default_value_t = 3)]
    writers: usize,
    /// Stream payments above this amount (or to oneself) are stored as suspicious, like
    /// imported rows above the importer's threshold.
    #[arg(long, env = "PAYMENTS_SUSPICIOUS_THRESHOLD", default_value = "8000")]
    suspicious_threshold: rust_decimal::Decimal,
}

#[derive(Debug, Args)]
struct GeneratorArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    startup: StartupArgs,
    /// Topic to publish to.
    #[arg(long, env = "PAYMENTS_STREAM_TOPIC", default_value = payments_stream::PAYMENTS_TOPIC)]
    topic: String,
    /// Pause between events (`2s`, `500ms`).
    #[arg(long, env = "PAYMENTS_GENERATOR_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    interval: Duration,
    /// Events per second instead of `--interval`, for load.
    #[arg(long, env = "PAYMENTS_GENERATOR_RATE")]
    rate: Option<f64>,
    /// Stop after this many events.
    #[arg(long, env = "PAYMENTS_GENERATOR_COUNT")]
    count: Option<u64>,
    /// Share of deliberately malformed events, 0 to 1.
    #[arg(long, env = "PAYMENTS_GENERATOR_INVALID_RATIO", default_value_t = 0.0)]
    invalid_ratio: f64,
    /// Seed for a reproducible sequence.
    #[arg(long, env = "PAYMENTS_GENERATOR_SEED")]
    seed: Option<u64>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "PAYMENTS_GENERATOR_ADDR", default_value = "0.0.0.0:8083")]
    http_addr: SocketAddr,
}

/// Runs a start-up step until it succeeds, with the platform's retry policy, for at most
/// `timeout`: a process that exits instead would be restarted by Kubernetes with ever longer
/// back-off delays while its dependencies (database, broker, object storage) come up. Each
/// failed attempt is logged.
async fn until_available<T, E, F, Fut>(what: &str, timeout: Duration, step: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    use payments_runtime::backon::Retryable;
    let started = std::time::Instant::now();
    step.retry(payments_runtime::retry_policy(
        Duration::from_millis(250),
        Duration::from_secs(5),
    ))
    .when(|_| started.elapsed() < timeout)
    .notify(|error, delay| tracing::warn!(%error, retry_in = ?delay, "{what}: not available yet"))
    .await
    .with_context(|| {
        format!(
            "{what} (gave up after {})",
            humantime::format_duration(timeout)
        )
    })
}

/// A humantime duration (`250ms`, `2s`, `1m`, `1h 30m`), or a bare number of seconds as
/// earlier releases accepted.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string());
    }
    humantime::parse_duration(text).map_err(|e| format!("not a duration: {text:?}: {e}"))
}

/// Cancelled on Ctrl-C or SIGTERM, so every role stops cleanly (flushes, commits).
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        cancel.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
    token
}

/// `PAYMENTS_HTTP_ADDR` was once read by every role, so one setting reached all of them and
/// two roles on one machine fought over one port. Each role now has its own variable; a
/// leftover setting is refused instead of silently ignored.
fn refuse_shared_http_addr(own: Option<&str>) -> anyhow::Result<()> {
    match (own, std::env::var_os("PAYMENTS_HTTP_ADDR")) {
        (Some(own), Some(_)) => anyhow::bail!(
            "PAYMENTS_HTTP_ADDR is no longer read (it reached every role); set {own} (or --http-addr) instead"
        ),
        _ => Ok(()),
    }
}

/// The variable naming a role's HTTP address, for the roles that serve one.
fn http_addr_var(role: &str) -> Option<&'static str> {
    match role {
        "importer" => Some("PAYMENTS_IMPORTER_ADDR"),
        "ingester" => Some("PAYMENTS_INGESTER_ADDR"),
        "controller" => Some("PAYMENTS_CONTROLLER_ADDR"),
        "generator" => Some("PAYMENTS_GENERATOR_ADDR"),
        _ => None,
    }
}

impl Cli {
    /// The subcommand's name, for logs and traces.
    pub fn role(&self) -> &'static str {
        match self.command {
            Command::Migrate(_) => "migrate",
            Command::Ingester(_) => "ingester",
            Command::Generator(_) => "generator",
            Command::Importer(_) => "importer",
            Command::Import(_) => "import",
            Command::Approve(_) => "approve",
            Command::Reject(_) => "reject",
            Command::Users(_) => "users",
            Command::SampleCsvs(_) => "sample-csvs",
            Command::Controller(_) => "controller",
            Command::Crd => "crd",
            Command::MetabaseSetup(_) => "metabase-setup",
        }
    }

    pub async fn run(self) -> anyhow::Result<()> {
        refuse_shared_http_addr(http_addr_var(self.role()))?;
        match self.command {
            Command::Migrate(args) => {
                let pool = args.database.pool("payments-migrate")?;
                until_available("applying migrations", args.startup.timeout, || {
                    payments_store::migrate(&pool)
                })
                .await?;
                if !args.no_demo_users {
                    let added = payments_store::seed_demo_users(&pool)
                        .await
                        .context("seeding demo users")?;
                    tracing::info!(added, "demo users seeded");
                }
                tracing::info!("database is up to date");
                Ok(())
            }
            Command::Ingester(args) => {
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
                let ingester =
                    payments_ingester::start(config, pool, kafka, shutdown_on_signal()).await?;
                if let Some(addr) = ingester.http_addr {
                    tracing::info!(%addr, "health endpoints listening");
                }
                ingester.wait().await?;
                Ok(())
            }
            Command::Importer(args) => {
                let pipeline = args.pipeline.pipeline("payments-importer").await?;
                let config = payments_web::WebConfig {
                    max_upload_bytes: args.max_upload_bytes,
                    links: payments_web::Links {
                        metabase: args.metabase_url,
                        minio_console: args.minio_console_url,
                    },
                    identity: payments_web::IdentityConfig {
                        headers: args.identity_headers,
                        trusted_proxies: args.trusted_proxies,
                        require: args.require_identity,
                    },
                };
                let threshold = pipeline.suspicious_threshold();
                let bucket = pipeline.bucket().to_owned();
                let mut state = payments_web::AppState::new(pipeline, config);
                if args.record_in_kubernetes {
                    let client = kube::Client::try_default()
                        .await
                        .context("connecting to the Kubernetes API (in-cluster or KUBECONFIG)")?;
                    let recorder =
                        payments_operator::UploadRecorder::new(client, &args.namespace, &bucket);
                    state = state.with_import_hook(std::sync::Arc::new(move |report, dry_run| {
                        let recorder = recorder.clone();
                        Box::pin(async move {
                            if let Err(e) = recorder.record(&report, threshold, dry_run).await {
                                tracing::warn!(import = %report.id, error = %e, "could not create its PaymentImport");
                            }
                        })
                    }));
                }
                let state = std::sync::Arc::new(state);
                let listener = tokio::net::TcpListener::bind(args.http_addr)
                    .await
                    .context("binding the web address")?;
                tracing::info!(addr = %listener.local_addr()?, "importer listening");
                let shutdown = shutdown_on_signal();
                // The peer address tells a trusted proxy's identity headers from anyone else's.
                let app = payments_web::app(state)
                    .into_make_service_with_connect_info::<std::net::SocketAddr>();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { shutdown.cancelled().await })
                    .await?;
                Ok(())
            }
            Command::Import(args) => {
                let started_by = args
                    .started_by
                    .or_else(|| std::env::var("USER").ok())
                    .filter(|name| !name.trim().is_empty());
                let request = payments_imports::ImportRequest {
                    dry_run: args.dry_run,
                    started_by,
                    expected_totals: args.expect,
                    require_approval: args.require_approval,
                    corrects: args.corrects,
                    ..payments_imports::ImportRequest::default()
                };
                crate::import::run(
                    args.pipeline.pipeline("payments-csv").await?,
                    &args.file,
                    request,
                )
                .await
            }
            Command::Users(UsersCommand::Import(args)) => {
                let pool = args.database.pool("payments-users")?;
                // As `payments import`: the schema is brought up to date first.
                until_available("applying migrations", args.startup.timeout, || {
                    payments_store::migrate(&pool)
                })
                .await?;
                crate::import::users(&pool, &args.file).await
            }
            Command::Approve(args) => decide(args, true).await,
            Command::Reject(args) => decide(args, false).await,
            Command::Controller(args) => {
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
                    payments_operator::start(config, client, pipeline, shutdown_on_signal())
                        .await?;
                if let Some(addr) = controller.http_addr {
                    tracing::info!(%addr, "health endpoints listening");
                }
                controller.wait().await?;
                Ok(())
            }
            Command::MetabaseSetup(args) => {
                let pool = args.database.pool("payments-metabase-setup")?;
                let role = until_available(
                    "creating the read-only login role",
                    args.startup.timeout,
                    || payments_store::ensure_reader_login(&pool, &args.db_user, &args.db_password),
                )
                .await?;
                tracing::info!(role = %args.db_user, ?role, "read-only login role ready");
                let config = payments_metabase::SetupConfig {
                    url: args.metabase_url,
                    admin_email: args.admin_email,
                    admin_password: args.admin_password,
                    database: payments_metabase::DatabaseConnection::from_url(
                        &args.database.url,
                        &args.db_user,
                        args.db_password,
                    )?,
                    database_name: args.database_name,
                    collection: args.collection,
                    dashboard: args.dashboard,
                    update_database_password: args.update_db_password,
                    startup_timeout: args.startup.timeout,
                };
                let summary = payments_metabase::setup(&config)
                    .await
                    .context("setting Metabase up")?;
                print!("{summary}");
                Ok(())
            }
            Command::Crd => {
                print!("{}", payments_operator::crd_yaml()?);
                Ok(())
            }
            Command::SampleCsvs(args) => {
                for path in payments_csv::sample_csvs(&args.dir)
                    .with_context(|| format!("writing {}", args.dir.display()))?
                {
                    println!("{}", path.display());
                }
                Ok(())
            }
            Command::Generator(args) => {
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
                payments_generator::run(config, pool, kafka.producer()?, shutdown_on_signal())
                    .await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Each serving role reads its own variable and has its own default port, so the roles run
    /// side by side on one machine and one override never reaches another role.
    #[test]
    fn every_role_has_its_own_http_address() {
        let command = Cli::command();
        let roles = [
            ("importer", "PAYMENTS_IMPORTER_ADDR", "0.0.0.0:8080"),
            ("ingester", "PAYMENTS_INGESTER_ADDR", "0.0.0.0:8081"),
            ("controller", "PAYMENTS_CONTROLLER_ADDR", "0.0.0.0:8082"),
            ("generator", "PAYMENTS_GENERATOR_ADDR", "0.0.0.0:8083"),
        ];
        for (role, var, default) in roles {
            let sub = command.find_subcommand(role).expect(role);
            let arg = sub
                .get_arguments()
                .find(|a| a.get_id() == "http_addr")
                .expect("--http-addr");
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(var), "{role}");
            let defaults: Vec<_> = arg.get_default_values().iter().collect();
            assert_eq!(defaults, [default], "{role}");
            assert_eq!(http_addr_var(role), Some(var), "{role}");
        }
        assert_eq!(http_addr_var("crd"), None);
        assert_eq!(http_addr_var("migrate"), None);
    }

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
}
