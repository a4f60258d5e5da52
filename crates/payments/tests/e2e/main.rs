//! The `payments` binary as a process, against the real local stack: what happens when it is
//! killed, when PostgreSQL goes away, and what every role's `/metrics` shows.

mod cli;
mod concurrent;
mod crash;
mod faults;
mod lakehouse;
mod messages;
mod metrics;
mod outage;
mod secrets;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use payments_testkit::stack;

/// These tests stop processes and services; one at a time.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Topics {
    pub stream: String,
    pub import: String,
}

/// Starts `payments ingester` with its output in a log file under the target directory.
pub fn spawn_ingester(
    database_url: &str,
    group: &str,
    topics: &Topics,
    http_addr: &str,
    log_name: &str,
) -> Child {
    spawn_role(
        "ingester",
        &[
            ("PAYMENTS_DATABASE_URL", database_url),
            ("PAYMENTS_GROUP_ID", group),
            ("PAYMENTS_STREAM_TOPIC", &topics.stream),
            ("PAYMENTS_IMPORT_TOPIC", &topics.import),
            ("PAYMENTS_BATCH_SIZE", "2000"),
            ("PAYMENTS_INGESTER_ADDR", http_addr),
            ("PAYMENTS_MAX_BACKOFF", "1s"),
        ],
        log_name,
    )
}

/// The variable naming `role`'s HTTP address (each role has its own, so that one setting never
/// reaches another role).
pub fn addr_var(role: &str) -> &'static str {
    match role {
        "importer" => "PAYMENTS_IMPORTER_ADDR",
        "ingester" => "PAYMENTS_INGESTER_ADDR",
        "controller" => "PAYMENTS_CONTROLLER_ADDR",
        "generator" => "PAYMENTS_GENERATOR_ADDR",
        "replicate" => "PAYMENTS_REPLICATE_ADDR",
        other => panic!("{other} serves no HTTP address"),
    }
}

/// Starts `payments <role>` with only the given variables (and the stack's Kafka brokers), its
/// output in `<log_name>.log` under the target directory.
pub fn spawn_role(role: &str, env: &[(&str, &str)], log_name: &str) -> Child {
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join(format!("{log_name}.log")))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_payments"))
        .arg(role)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PAYMENTS_KAFKA_BROKERS", &stack().kafka_brokers)
        .env("PAYMENTS_LOG", "info,rdkafka=warn,sqlx=warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start payments {role}: {e}"))
}

/// Runs `payments ARGS` to its end with only the given variables (and `PATH`); whether it
/// succeeded, and everything it printed.
pub fn run_payments(args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_payments"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run payments");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// SIGKILL: no shutdown hook runs, whatever was in flight is lost by the process.
pub fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL the ingester");
    child.wait().expect("reap the ingester");
}

/// Role processes, killed however the test ends.
pub struct Roles(pub Vec<Child>);

impl Drop for Roles {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether the role at `addr` answers `/readyz` with success now.
pub async fn ready(addr: &str) -> bool {
    reqwest::get(format!("http://{addr}/readyz"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Waits until the role at `addr` answers `/readyz`; `what` names the wait in failures.
pub async fn wait_ready(addr: &str, what: &str) {
    payments_testkit::wait_for(what, Duration::from_secs(120), || async {
        ready(addr).await.then_some(())
    })
    .await;
}

/// The local stack's database `database_url`, Kafka and S3 (`bucket`) as the roles' variables.
pub fn stack_env(database_url: &str, bucket: &str) -> Vec<(&'static str, String)> {
    let s = stack();
    vec![
        ("PAYMENTS_DATABASE_URL", database_url.to_owned()),
        ("PAYMENTS_KAFKA_BROKERS", s.kafka_brokers.clone()),
        ("PAYMENTS_S3_ENDPOINT", s.s3_endpoint.clone()),
        ("PAYMENTS_S3_REGION", s.s3_region.clone()),
        ("PAYMENTS_S3_ACCESS_KEY", s.s3_access_key.clone()),
        ("PAYMENTS_S3_SECRET_KEY", s.s3_secret_key.clone()),
        ("PAYMENTS_S3_BUCKET", bucket.to_owned()),
    ]
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

/// `bad` records were rejected, each exactly once.
pub async fn assert_rejected_once(pool: &sqlx::PgPool, bad: i64) {
    let rejected: (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (topic, partition, kafka_offset)) FROM rejected_events",
    )
    .fetch_one(pool)
    .await
    .expect("count");
    assert_eq!(rejected, (bad, bad), "each bad event rejected exactly once");
}

pub async fn count(pool: &sqlx::PgPool, sql: &str) -> Option<i64> {
    // `AssertSqlSafe`: only the tests' own SQL comes here.
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .ok()
}

pub const CAUGHT_UP_TIMEOUT: Duration = Duration::from_secs(600);
