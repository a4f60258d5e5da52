//! Handles to the local stack (`scripts/stack`) for integration tests and benchmarks: a fresh
//! database per test, unique topic names, a producer. A test that cannot reach a service fails
//! with the command that starts it; nothing is skipped.

mod platform;
pub mod report;

pub use platform::{quick_ingester, start_ingester, start_ingester_ready, TestPlatform};

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use payments_store::{ConnectOptions, PgPool};
use payments_stream::KafkaOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use secrecy::SecretString;
use uuid::Uuid;

/// Connection settings of the running local stack.
#[derive(Debug, Clone)]
pub struct Stack {
    pub database_url: String,
    pub admin_url: String,
    pub kafka_brokers: String,
    pub s3_endpoint: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    pub s3_region: String,
    pub s3_bucket: String,
    pub vars: HashMap<String, String>,
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const START_STACK: &str = "the local stack is not running: start it with `scripts/stack up` \
     (or run every test with `scripts/test`)";

/// Reads the stack's settings from `PAYMENTS_*` variables, or else from `scripts/stack env`.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let mut vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("PAYMENTS_"))
            .collect();
        if !vars.contains_key("PAYMENTS_DATABASE_ADMIN_URL") {
            vars.extend(script_exports("scripts/stack", "env", START_STACK));
        }
        let get = |key: &str| {
            vars.get(key)
                .cloned()
                .unwrap_or_else(|| panic!("{key} is not set; {START_STACK}"))
        };
        Stack {
            database_url: get("PAYMENTS_DATABASE_URL"),
            admin_url: get("PAYMENTS_DATABASE_ADMIN_URL"),
            kafka_brokers: get("PAYMENTS_KAFKA_BROKERS"),
            s3_endpoint: get("PAYMENTS_S3_ENDPOINT"),
            s3_access_key: get("PAYMENTS_S3_ACCESS_KEY"),
            s3_secret_key: get("PAYMENTS_S3_SECRET_KEY"),
            s3_region: get("PAYMENTS_S3_REGION"),
            s3_bucket: get("PAYMENTS_S3_BUCKET"),
            vars,
        }
    })
}

/// The variables `<script> <command>` prints as `export KEY=value` lines (the repository's
/// scripts print their settings that way); panics with `hint` when the script fails.
pub fn script_exports(script: &str, command: &str, hint: &str) -> HashMap<String, String> {
    let output = Command::new(repo_root().join(script))
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("{hint} ({e})"));
    assert!(
        output.status.success(),
        "{hint}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim_start_matches("export ").split_once('='))
        .map(|(key, value)| (key.to_owned(), value.trim_matches(['"', '\'']).to_owned()))
        .collect()
}

/// `prefix-<random>`: topic, group and database names that no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// A database of its own for one test: migrated, demo users seeded.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn create() -> TestDb {
        Self::create_with(true).await
    }

    /// Migrated, with or without the demo users.
    pub async fn create_with(demo_users: bool) -> TestDb {
        let db = Self::empty().await;
        payments_store::migrate(&db.pool)
            .await
            .expect("migrate test database");
        if demo_users {
            payments_store::seed_demo_users(&db.pool)
                .await
                .expect("seed demo users");
        }
        db
    }

    /// Migrated only up to `version` (a migration file's number, `20261203000017`): for tests
    /// of what a later migration does to rows written before it. `payments_store::migrate`
    /// applies the rest.
    pub async fn migrated_up_to(version: i64) -> TestDb {
        let db = Self::empty().await;
        let mut migrator = sqlx::migrate!("../../migrations");
        migrator.migrations = migrator
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        migrator.run(&db.pool).await.expect("migrate test database");
        db
    }

    /// A new database with nothing in it.
    async fn empty() -> TestDb {
        let stack = stack();
        let name = unique_name("test").replace('-', "_");
        let admin = sqlx::PgPool::connect(&stack.admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("connecting to PostgreSQL at the admin URL failed: {e}; {START_STACK}")
            });
        // `AssertSqlSafe`: DDL takes no bind parameters, and the name is generated above.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&stack.database_url, &name);
        let pool = pool(&url, 10);
        TestDb { name, url, pool }
    }

    /// Drops the database (after closing this handle's connections).
    pub async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(admin) = sqlx::PgPool::connect(&stack().admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&admin)
            .await;
        }
    }
}

/// A pool for `url` that connects lazily.
pub fn pool(url: &str, max_connections: u32) -> PgPool {
    let mut options = ConnectOptions::new(SecretString::from(url.to_owned()), "payments-test");
    options.max_connections = max_connections;
    payments_store::connect(&options).expect("valid database URL")
}

/// The same server URL pointing at another database.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{database}{query}")
}

pub fn kafka(client_id: &str) -> KafkaOptions {
    KafkaOptions::new(&stack().kafka_brokers, client_id)
}

/// Creates fresh topics with the given partition count.
pub async fn create_topics(topics: &[&str], partitions: i32) {
    kafka("payments-test")
        .ensure_topics(topics, partitions)
        .await
        .unwrap_or_else(|e| panic!("creating topics {topics:?} failed: {e}; {START_STACK}"));
}

pub fn producer() -> FutureProducer {
    kafka("payments-test").producer().expect("kafka producer")
}

/// Publishes `(key, payload)` records to `topic` and waits until the broker has them all.
pub async fn produce<I>(producer: &FutureProducer, topic: &str, records: I)
where
    I: IntoIterator<Item = (Option<String>, Vec<u8>)>,
{
    let mut in_flight = FuturesUnordered::new();
    for (key, payload) in records {
        let producer = producer.clone();
        let topic = topic.to_owned();
        in_flight.push(async move {
            let mut record = FutureRecord::<String, Vec<u8>>::to(&topic).payload(&payload);
            if let Some(key) = &key {
                record = record.key(key);
            }
            producer
                .send(record, Duration::from_secs(60))
                .await
                .map_err(|(e, _)| e)
        });
        if in_flight.len() >= 20_000 {
            if let Some(result) = in_flight.next().await {
                result.expect("publish");
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        result.expect("publish");
    }
}

/// Sum over partitions of each topic's high watermark: how many records it holds.
pub fn topic_record_count(topic: &str) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &stack().kafka_brokers)
        .set("group.id", unique_name("watermarks"))
        .create()
        .expect("kafka consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    metadata
        .topics()
        .iter()
        .flat_map(|t| {
            t.partitions()
                .iter()
                .map(move |p| (t.name().to_owned(), p.id()))
        })
        .map(|(t, p)| {
            consumer
                .fetch_watermarks(&t, p, Duration::from_secs(10))
                .map(|(low, high)| high - low)
                .expect("watermarks")
        })
        .sum()
}

/// Every record of `topic` as (key, Kafka timestamp in ms since the epoch), from the start of
/// each partition.
pub fn topic_timestamps(topic: &str) -> Vec<(String, i64)> {
    read_topic_records(topic)
        .into_iter()
        .map(|record| {
            let at = record.timestamp_ms.expect("record timestamp");
            (String::from_utf8_lossy(&record.key).into_owned(), at)
        })
        .collect()
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Drops a replication slot once its reader has let go of it (PostgreSQL refuses to drop an
/// active slot); no slot of that name is fine.
pub async fn drop_replication_slot(db: &PgPool, slot: &str) {
    wait_for(
        &format!("replication slot {slot} to be dropped"),
        Duration::from_secs(30),
        || async {
            sqlx::query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
            )
            .bind(slot)
            .execute(db)
            .await
            .ok()
            .map(|_| ())
        },
    )
    .await;
}

/// Every record's payload currently in `topic`, read from the start of each partition.
pub fn read_topic(topic: &str) -> Vec<Vec<u8>> {
    read_topic_records(topic)
        .into_iter()
        .map(|record| record.payload)
        .collect()
}

/// A record as read back from a topic.
pub struct TopicRecord {
    pub key: Vec<u8>,
    /// The record's Kafka timestamp, ms since the epoch.
    pub timestamp_ms: Option<i64>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl TopicRecord {
    /// The value of header `key`, as text.
    pub fn header(&self, key: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Every record currently in `topic`, with its headers, from the start of each partition.
pub fn read_topic_records(topic: &str) -> Vec<TopicRecord> {
    use rdkafka::message::{Headers, Message};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &stack().kafka_brokers)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("kafka consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0;
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
            .expect("watermarks");
        remaining += high - low;
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut payloads = Vec::new();
    let start = Instant::now();
    while remaining > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "reading {topic} timed out"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.expect("kafka message");
            let headers = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            payloads.push(TopicRecord {
                key: message.key().unwrap_or_default().to_vec(),
                timestamp_ms: message.timestamp().to_millis(),
                payload: message.payload().unwrap_or_default().to_vec(),
                headers,
            });
            remaining -= 1;
        }
    }
    payloads
}

/// The stack's S3 server, addressing `bucket`.
pub fn object_store(bucket: &str) -> payments_objectstore::ObjectStore {
    let stack = stack();
    payments_objectstore::ObjectStore::new(&payments_objectstore::S3Options {
        endpoint: Some(stack.s3_endpoint.clone()),
        region: stack.s3_region.clone(),
        access_key: stack.s3_access_key.clone(),
        secret_key: stack.s3_secret_key.clone().into(),
        bucket: bucket.to_owned(),
    })
}

/// How many records the ingester has applied: the sum of the next offsets it stored (topics of
/// a test start at offset 0). `None` while the database cannot be reached.
pub async fn applied_records(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("SELECT COALESCE(SUM(next_offset), 0)::int8 FROM consumer_offsets")
        .fetch_one(pool)
        .await
        .ok()
}

/// Waits until the ingester committed the offsets of `records` records (over every topic).
pub async fn wait_applied(pool: &PgPool, records: u64, timeout: Duration) {
    wait_for("the ingester to apply every record", timeout, || async {
        applied_records(pool)
            .await
            .filter(|done| *done >= records as i64)
    })
    .await;
}

/// The runtime benchmarks run on: two workers, like the machine.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// An import row to build cases from (`..import_in(status)`): `a.csv`, started by alice on
/// 25 Nov 2026 at 12:00 UTC, 10 rows of which 8 unique, 2 duplicates and 1 suspicious, all 8
/// published, 7 ingested, 1 rejected.
pub fn import_in(status: payments_domain::import::ImportStatus) -> payments_store::Import {
    use chrono::TimeZone;
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("a valid time");
    payments_store::Import {
        id: Uuid::nil(),
        file_name: "a.csv".into(),
        object_key: None,
        sha256: None,
        size_bytes: None,
        status,
        failure: None,
        error: None,
        suspicious_threshold: 8000.into(),
        dry_run: false,
        first_import_id: None,
        started_by: Some("alice".into()),
        expected_totals: None,
        approval_reasons: Vec::new(),
        decided_by: None,
        decided_at: None,
        decision_note: None,
        corrects_import_id: None,
        created_at: at,
        updated_at: at,
        counts: payments_domain::import::ImportCounts {
            rows: 10,
            unique: 8,
            duplicates: 2,
            suspicious: 1,
            invalid: 0,
            cross_file_duplicates: 0,
            published: 8,
            ingested: 7,
            rejected: 1,
        },
        totals: None,
    }
}
