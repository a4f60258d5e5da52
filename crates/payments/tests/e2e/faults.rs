//! Faults a real deployment meets, on the real local stack: the Kafka broker stopped and started
//! again, PostgreSQL restarted, S3 away, two ingesters in a group with one killed during a
//! rebalance, a full spill disk. Each test ends by checking the database row by row against
//! what was sent: nothing lost, nothing twice, every rejection once.

use std::collections::{BTreeMap, HashSet};
use std::process::Child;
use std::time::{Duration, Instant};

use payments_generator::GeneratorConfig;
use payments_testkit::{
    applied_records, create_topics, producer, read_topic, repo_root, unique_name, wait_for, TestDb,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::{count, free_addr, kill, spawn_ingester, spawn_role, Topics, CAUGHT_UP_TIMEOUT, SERIAL};

const OUTAGE: Duration = Duration::from_secs(20);

/// `scripts/stack <command>` (with the environment's PAYMENTS_STACK_DIR, like the tests').
pub fn stack(command: &str) {
    let status = std::process::Command::new(repo_root().join("scripts/stack"))
        .arg(command)
        .status()
        .expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {command} failed");
}

/// Starts a stopped service again however the test ends.
struct Restart(&'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        stack(self.0);
    }
}

/// Kills role processes however the test ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if child.try_wait().ok().flatten().is_none() {
                kill(child);
            }
        }
    }
}

/// A payment as sent and as stored: what is compared row by row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sent {
    amount: Decimal,
    currency: i32,
    status: String,
    sender: Uuid,
    receiver: Uuid,
}

/// The valid events of a stream topic, by transaction id (the last record of an id wins).
fn sent_events(topic: &str) -> BTreeMap<Uuid, Sent> {
    read_topic(topic)
        .into_iter()
        .filter_map(|payload| serde_json::from_slice::<serde_json::Value>(&payload).ok())
        .filter_map(|event| {
            let id = event["transaction_id"].as_str()?.parse().ok()?;
            let sent = Sent {
                amount: event["amount"].to_string().parse().ok()?,
                currency: i32::try_from(event["currency_code"].as_i64()?).ok()?,
                status: event["status"].as_str()?.to_owned(),
                sender: event["sender_id"].as_str()?.parse().ok()?,
                receiver: event["receiver_id"].as_str()?.parse().ok()?,
            };
            Some((id, sent))
        })
        .collect()
}

async fn stored_stream(pool: &sqlx::PgPool) -> BTreeMap<Uuid, Sent> {
    let rows: Vec<(Uuid, Decimal, i32, String, Uuid, Uuid)> = sqlx::query_as(
        "SELECT transaction_id, amount, currency_id, status, sender_id, receiver_id
           FROM transactions WHERE source = 'stream'",
    )
    .fetch_all(pool)
    .await
    .expect("stored rows");
    rows.into_iter()
        .map(|(id, amount, currency, status, sender, receiver)| {
            let sent = Sent {
                amount,
                currency,
                status,
                sender,
                receiver,
            };
            (id, sent)
        })
        .collect()
}

/// Every sent event is stored once, with the values sent; nothing else is.
async fn assert_stream_landed_exactly(pool: &sqlx::PgPool, topic: &str, at_least: usize) {
    let sent = sent_events(topic);
    assert!(sent.len() >= at_least, "only {} events were sent", sent.len());
    let stored = stored_stream(pool).await;
    let missing = sent.keys().filter(|id| !stored.contains_key(id)).count();
    let extra = stored.keys().filter(|id| !sent.contains_key(id)).count();
    let differing = sent
        .iter()
        .filter(|(id, s)| stored.get(id).is_some_and(|t| t != *s))
        .count();
    assert_eq!(
        (missing, extra, differing),
        (0, 0, 0),
        "{} sent, {} stored: missing, extra, differing",
        sent.len(),
        stored.len()
    );
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT transaction_id) FROM transactions")
            .fetch_one(pool)
            .await
            .expect("count");
    assert_eq!(rows, distinct, "no transaction twice");
}

/// The unique rows of a CSV (exact repeats of a line are duplicates), by data row number
/// (1 = the first line after the header), with their amounts.
fn unique_rows(csv: &[u8]) -> BTreeMap<i64, Decimal> {
    let text = std::str::from_utf8(csv).expect("utf-8");
    let mut seen = HashSet::new();
    text.lines()
        .skip(1)
        .enumerate()
        .filter(|(_, line)| seen.insert(*line))
        .map(|(i, line)| {
            let amount = line.split(',').nth(2).expect("amount").parse().expect("decimal");
            (i as i64 + 1, amount)
        })
        .collect()
}

/// Every unique row of the file is one transaction of the import, with its amount.
async fn assert_import_landed_exactly(pool: &sqlx::PgPool, csv: &[u8]) {
    let expected = unique_rows(csv);
    let rows: Vec<(i64, Decimal)> = sqlx::query_as(
        "SELECT import_row, amount FROM transactions WHERE source = 'import' ORDER BY import_row",
    )
    .fetch_all(pool)
    .await
    .expect("stored rows");
    let stored: BTreeMap<i64, Decimal> = rows.iter().copied().collect();
    assert_eq!(rows.len(), stored.len(), "no row twice");
    let missing = expected.keys().filter(|r| !stored.contains_key(r)).count();
    let extra = stored.keys().filter(|r| !expected.contains_key(r)).count();
    let differing = expected
        .iter()
        .filter(|(r, a)| stored.get(r).is_some_and(|s| s != *a))
        .count();
    assert_eq!(
        (missing, extra, differing),
        (0, 0, 0),
        "{} unique rows, {} stored: missing, extra, differing",
        expected.len(),
        stored.len()
    );
}

async fn ready(addr: &str) -> bool {
    reqwest::get(format!("http://{addr}/readyz"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn wait_ready(addr: &str, what: &str) {
    wait_for(what, Duration::from_secs(120), || async {
        ready(addr).await.then_some(())
    })
    .await;
}

fn topics(prefix: &str) -> Topics {
    Topics {
        stream: unique_name(&format!("{prefix}-stream")),
        import: unique_name(&format!("{prefix}-import")),
    }
}

/// The broker stops for 20 s while events flow and the ingester writes: the producer buffers,
/// the ingester waits, and afterwards every event is in the database once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_during_ingest_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let topics = topics("kafka-ingest");
    create_topics(&[&topics.stream, &topics.import], 3).await;
    let addr = free_addr();
    let _ingester = Processes(vec![spawn_ingester(
        &db.url,
        &unique_name("kafka-ingest"),
        &topics,
        &addr,
        "fault-kafka-ingest",
    )]);
    wait_ready(&addr, "the ingester to be ready").await;

    let generator = tokio::spawn({
        let pool = db.pool.clone();
        let config = GeneratorConfig {
            topic: topics.stream.clone(),
            rate: Some(100.0),
            count: Some(4000),
            seed: Some(21),
            ..GeneratorConfig::default()
        };
        async move { payments_generator::run(config, pool, producer(), Default::default()).await }
    });
    wait_for("events landing before the outage", CAUGHT_UP_TIMEOUT, || async {
        count(&db.pool, "SELECT count(*) FROM transactions")
            .await
            .filter(|n| *n >= 500)
    })
    .await;

    let restart = Restart("kafka-start");
    stack("kafka-stop");
    let stopped = Instant::now();
    let during = count(&db.pool, "SELECT count(*) FROM transactions").await;
    tokio::time::sleep(OUTAGE).await;
    drop(restart);
    let outage = stopped.elapsed();

    let sent = generator
        .await
        .expect("join")
        .expect("the generator outlives the outage");
    assert_eq!(sent, 4000, "every event acknowledged once the broker is back");
    wait_for(
        "every event applied",
        CAUGHT_UP_TIMEOUT,
        || async { applied_records(&db.pool).await.filter(|n| *n >= 4000) },
    )
    .await;
    assert!(ready(&addr).await, "ready again after the outage");
    assert_stream_landed_exactly(&db.pool, &topics.stream, 4000).await;
    eprintln!("broker down for {outage:?}; {during:?} rows when it stopped");
    db.drop_database().await;
}

/// The broker stops for 20 s while `payments import` publishes a large file: the idempotent
/// producer resumes when it is back, the import completes, and the ingester stores each unique
/// row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_during_an_imports_publish_completes_it_exactly_once() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let topics = topics("kafka-publish");
    create_topics(&[&topics.stream, &topics.import], 3).await;
    let bucket = unique_name("kafka-publish");
    payments_testkit::object_store(&bucket)
        .ensure_bucket()
        .await
        .expect("bucket");
    const ROWS: usize = 600_000;
    let csv = payments_csv::samples::large_csv(ROWS);
    let file = std::env::temp_dir().join(format!("{}.csv", unique_name("kafka-publish")));
    std::fs::write(&file, &csv).expect("the file");

    let s = payments_testkit::stack();
    let file_arg = file.display().to_string();
    let mut import = std::process::Command::new(env!("CARGO_BIN_EXE_payments"))
        .args(["import", &file_arg, "--as", "fault-test"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PAYMENTS_DATABASE_URL", &db.url)
        .env("PAYMENTS_KAFKA_BROKERS", &s.kafka_brokers)
        .env("PAYMENTS_IMPORT_TOPIC", &topics.import)
        .env("PAYMENTS_S3_ENDPOINT", &s.s3_endpoint)
        .env("PAYMENTS_S3_REGION", &s.s3_region)
        .env("PAYMENTS_S3_ACCESS_KEY", &s.s3_access_key)
        .env("PAYMENTS_S3_SECRET_KEY", &s.s3_secret_key)
        .env("PAYMENTS_S3_BUCKET", &bucket)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start payments import");

    // Publishing starts once the file is stored and checked.
    wait_for("the import to start publishing", CAUGHT_UP_TIMEOUT, || async {
        count(&db.pool, "SELECT count(*) FROM imports WHERE status = 'stored'")
            .await
            .filter(|n| *n == 1)
    })
    .await;
    let restart = Restart("kafka-start");
    stack("kafka-stop");
    tokio::time::sleep(OUTAGE).await;
    drop(restart);

    let output = tokio::task::spawn_blocking(move || import.wait_with_output())
        .await
        .expect("join")
        .expect("the import process");
    assert!(
        output.status.success(),
        "the import completes after the outage:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, unique, published): (String, i64, i64) =
        sqlx::query_as("SELECT status, unique_rows, published FROM imports")
            .fetch_one(&db.pool)
            .await
            .expect("the import");
    assert_eq!((status.as_str(), published), ("published", unique));

    let addr = free_addr();
    let _ingester = Processes(vec![spawn_ingester(
        &db.url,
        &unique_name("kafka-publish"),
        &topics,
        &addr,
        "fault-kafka-publish",
    )]);
    wait_for("every published row stored", CAUGHT_UP_TIMEOUT, || async {
        count(&db.pool, "SELECT count(*) FROM imports WHERE status = 'done'")
            .await
            .filter(|n| *n == 1)
    })
    .await;
    assert_import_landed_exactly(&db.pool, &csv).await;
    let _ = std::fs::remove_file(&file);
    db.drop_database().await;
}

#[test]
fn unique_rows_number_data_rows_from_one_and_drop_exact_repeats() {
    let csv = b"h\na,b,1.00,USD,d,s\nc,d,2.50,EUR,d,s\na,b,1.00,USD,d,s\n";
    let rows = unique_rows(csv);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[&1], Decimal::new(100, 2));
    assert_eq!(rows[&2], Decimal::new(250, 2));
    let _ = spawn_role;
}
