//! Faults a real deployment meets, on the real local stack: the Kafka broker stopped and started
//! again, PostgreSQL restarted, S3 away, two ingesters in a group with one killed during a
//! rebalance, a full spill disk. Each test ends by checking the database row by row against
//! what was sent: nothing lost, nothing twice, every rejection once.

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use payments_generator::GeneratorConfig;
use payments_testkit::{
    applied_records, create_topics, producer, read_topic, repo_root, unique_name, wait_for, TestDb,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::{
    assert_rejected_once, count, free_addr, kill, ready, spawn_ingester, spawn_role, wait_ready,
    Roles, Topics, CAUGHT_UP_TIMEOUT, SERIAL,
};

const OUTAGE: Duration = Duration::from_secs(20);

/// `scripts/stack <command>` (with the environment's PAYMENTS_STACK_DIR, like the tests').
pub fn stack(command: &str) {
    let output = std::process::Command::new(repo_root().join("scripts/stack"))
        .arg(command)
        .output()
        .expect("run scripts/stack");
    assert!(
        output.status.success(),
        "scripts/stack {command} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts a stopped service again however the test ends.
struct Restart(&'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        stack(self.0);
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
    assert!(
        sent.len() >= at_least,
        "only {} events were sent",
        sent.len()
    );
    let stored = stored_stream(pool).await;
    assert_same_rows("events sent", &sent, &stored);
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
            let amount = line
                .split(',')
                .nth(2)
                .expect("amount")
                .parse()
                .expect("decimal");
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
    assert_same_rows("unique rows", &expected, &stored);
}

/// `stored` has exactly the keys of `expected`, each with the same value.
fn assert_same_rows<K: Ord, V: PartialEq>(
    what: &str,
    expected: &BTreeMap<K, V>,
    stored: &BTreeMap<K, V>,
) {
    let missing = expected.keys().filter(|k| !stored.contains_key(k)).count();
    let extra = stored.keys().filter(|k| !expected.contains_key(k)).count();
    let differing = expected
        .iter()
        .filter(|(k, v)| stored.get(k).is_some_and(|s| s != *v))
        .count();
    assert_eq!(
        (missing, extra, differing),
        (0, 0, 0),
        "{} {what}, {} stored: missing, extra, differing",
        expected.len(),
        stored.len()
    );
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
    let _ingester = Roles(vec![spawn_ingester(
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
    wait_for(
        "events landing before the outage",
        CAUGHT_UP_TIMEOUT,
        || async {
            count(&db.pool, "SELECT count(*) FROM transactions")
                .await
                .filter(|n| *n >= 500)
        },
    )
    .await;

    let restart = Restart("kafka-start");
    stack("kafka-stop");
    let stopped = Instant::now();
    let during = count(&db.pool, "SELECT count(*) FROM transactions").await;
    assert!(
        during.is_some_and(|n| n < 4000) && !generator.is_finished(),
        "the broker stopped mid-stream ({during:?} rows)"
    );
    tokio::time::sleep(OUTAGE).await;
    drop(restart);
    let outage = stopped.elapsed();

    let sent = generator
        .await
        .expect("join")
        .expect("the generator outlives the outage");
    assert_eq!(
        sent, 4000,
        "every event acknowledged once the broker is back"
    );
    wait_for("every event applied", CAUGHT_UP_TIMEOUT, || async {
        applied_records(&db.pool).await.filter(|n| *n >= 4000)
    })
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
    let output = broker_outage_during_publish("kafka-publish", &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("publishing again"),
        "no delivery timed out:\n{stderr}"
    );
}

/// The broker stays away longer than the producer waits for a delivery (12 s here, 300 s by
/// default): deliveries time out, the import publishes the file again with a fresh producer
/// (the same transaction ids), completes, and the ingester stores each unique row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_delivery_timeout_is_published_again_exactly_once() {
    let output = broker_outage_during_publish(
        "kafka-timeout",
        &[("PAYMENTS_KAFKA_DELIVERY_TIMEOUT", "12s")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("publishing again with a fresh producer"),
        "deliveries timed out and the file was published again:\n{stderr}"
    );
}

/// Stops the broker for [`OUTAGE`] while `payments import` (with `env`) publishes a large
/// file; checks that the import completes and lands each unique row once. Returns the
/// import's output.
async fn broker_outage_during_publish(prefix: &str, env: &[(&str, &str)]) -> Output {
    let _serial = SERIAL.lock().await;
    let setup = Setup::new(prefix).await;
    let db = &setup.db;
    let (import, csv) = setup.publishing_import(env).await;

    let restart = Restart("kafka-start");
    stack("kafka-stop");
    tokio::time::sleep(OUTAGE).await;
    // Still publishing: the outage really interrupted it.
    let status = count(
        &db.pool,
        "SELECT count(*) FROM imports WHERE status = 'stored'",
    )
    .await;
    assert_eq!(
        status,
        Some(1),
        "the import was still publishing when the broker came back"
    );
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

    let _ingester = Roles(vec![setup.spawn_ingester(&format!("fault-{prefix}"))]);
    wait_for("every published row stored", CAUGHT_UP_TIMEOUT, || async {
        count(
            &db.pool,
            "SELECT count(*) FROM imports WHERE status = 'done'",
        )
        .await
        .filter(|n| *n == 1)
    })
    .await;
    assert_import_landed_exactly(&db.pool, &csv).await;
    setup.finish().await;
    output
}

/// A fresh database, topics and bucket for one fault test.
pub(crate) struct Setup {
    pub(crate) db: TestDb,
    pub(crate) topics: Topics,
    bucket: String,
    /// The large file of an import, deleted at the end.
    file: std::path::PathBuf,
}

impl Setup {
    pub(crate) async fn new(prefix: &str) -> Setup {
        let db = TestDb::create().await;
        let topics = topics(prefix);
        create_topics(&[&topics.stream, &topics.import], 3).await;
        let bucket = unique_name(prefix);
        payments_testkit::object_store(&bucket)
            .ensure_bucket()
            .await
            .expect("bucket");
        let file = std::env::temp_dir().join(format!("{}.csv", unique_name(prefix)));
        Setup {
            db,
            topics,
            bucket,
            file,
        }
    }

    /// What every role is given: the database, topics and S3 bucket.
    fn env(&self) -> Vec<(&'static str, String)> {
        let s = payments_testkit::stack();
        vec![
            ("PAYMENTS_DATABASE_URL", self.db.url.clone()),
            ("PAYMENTS_KAFKA_BROKERS", s.kafka_brokers.clone()),
            ("PAYMENTS_IMPORT_TOPIC", self.topics.import.clone()),
            ("PAYMENTS_S3_ENDPOINT", s.s3_endpoint.clone()),
            ("PAYMENTS_S3_REGION", s.s3_region.clone()),
            ("PAYMENTS_S3_ACCESS_KEY", s.s3_access_key.clone()),
            ("PAYMENTS_S3_SECRET_KEY", s.s3_secret_key.clone()),
            ("PAYMENTS_S3_BUCKET", self.bucket.clone()),
        ]
    }

    /// `payments import` of the large file, output captured.
    fn import_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_payments"));
        command
            .arg("import")
            .arg(&self.file)
            .args(["--as", "fault-test"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// Writes a 600,000-row file, starts `payments import` on it (with `env`) and returns once
    /// it publishes (the file is stored and checked).
    async fn publishing_import(&self, env: &[(&str, &str)]) -> (Child, Vec<u8>) {
        let csv = payments_csv::samples::large_csv(600_000);
        std::fs::write(&self.file, &csv).expect("the file");
        let import = self
            .import_command()
            .envs(env.iter().copied())
            .spawn()
            .expect("start payments import");
        wait_for(
            "the import to start publishing",
            CAUGHT_UP_TIMEOUT,
            || async {
                count(
                    &self.db.pool,
                    "SELECT count(*) FROM imports WHERE status = 'stored'",
                )
                .await
                .filter(|n| *n == 1)
            },
        )
        .await;
        (import, csv)
    }

    /// `payments <role>` (importer, controller) with `extra` variables; returns it and the
    /// address of its HTTP endpoints.
    pub(crate) fn spawn(
        &self,
        role: &str,
        extra: &[(&'static str, &str)],
        log: &str,
    ) -> (Child, String) {
        let addr = free_addr();
        let mut env = self.env();
        env.push((crate::addr_var(role), addr.clone()));
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (spawn_role(role, &env, log), addr)
    }

    pub(crate) fn spawn_ingester(&self, log: &str) -> Child {
        spawn_ingester(
            &self.db.url,
            &unique_name(log),
            &self.topics,
            &free_addr(),
            log,
        )
    }

    pub(crate) async fn finish(self) {
        let _ = std::fs::remove_file(&self.file);
        self.db.drop_database().await;
    }
}

/// PostgreSQL is stopped for 20 s and started again while `payments import` publishes: the
/// import either completes or fails cleanly; run again, the same file lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_during_an_import_lands_each_row_once() {
    let _serial = SERIAL.lock().await;
    let setup = Setup::new("pg-import").await;
    let db = &setup.db;
    let (import, csv) = setup.publishing_import(&[]).await;
    let restart = Restart("pg-start");
    stack("pg-stop");
    tokio::time::sleep(OUTAGE).await;
    drop(restart);
    let first = tokio::task::spawn_blocking(move || import.wait_with_output())
        .await
        .expect("join")
        .expect("the import process");
    let first_log = String::from_utf8_lossy(&first.stderr).into_owned();

    // Run it again whatever happened: a completed import is not published twice, a failed
    // one publishes the same transaction ids.
    let again = setup.import_command().output().expect("the second import");
    assert!(
        again.status.success(),
        "the second run succeeds:\n{}\n{}\n(first run: {:?}\n{first_log})",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr),
        first.status,
    );

    let _ingester = Roles(vec![setup.spawn_ingester("fault-pg-import")]);
    let unique = unique_rows(&csv).len() as i64;
    // Polled by hand rather than with wait_for: a timeout says how far the ingester got.
    let deadline = Instant::now() + CAUGHT_UP_TIMEOUT;
    let stored = "SELECT count(DISTINCT transaction_id) FROM transactions";
    while count(&db.pool, stored).await.unwrap_or(0) < unique && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let landed = count(&db.pool, stored).await.unwrap_or(0);
    assert!(
        landed >= unique,
        "after {CAUGHT_UP_TIMEOUT:?}: {landed} of {unique} unique rows stored, {:?} records applied, \
         {:?} rejected; imports: {:?}\n(first run: {:?}\n{first_log})",
        count(&db.pool, "SELECT COALESCE(sum(next_offset), 0)::int8 FROM consumer_offsets").await,
        count(&db.pool, "SELECT count(*) FROM rejected_events").await,
        sqlx::query_as::<_, (String, i64)>("SELECT status::text, published FROM imports")
            .fetch_all(&db.pool)
            .await
            .ok(),
        first.status,
    );
    assert_import_landed_exactly(&db.pool, &csv).await;
    eprintln!(
        "first run during the restart: {:?}; second run: {}",
        first.status,
        String::from_utf8_lossy(&again.stdout)
            .lines()
            .next()
            .unwrap_or_default()
    );
    setup.finish().await;
}

async fn upload(addr: &str, name: &str, bytes: Vec<u8>) -> (u16, serde_json::Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("text/csv")
        .expect("mime");
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/imports"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("the upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// S3 is away during an upload: the user gets a clear error, the import is `failed` with the
/// reason, nothing is published. With S3 back, the same file imports normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_while_s3_is_away_fails_cleanly_and_imports_once_it_is_back() {
    let _serial = SERIAL.lock().await;
    let setup = Setup::new("s3-upload").await;
    let (db, topics) = (&setup.db, &setup.topics);
    let (importer, addr) = setup.spawn("importer", &[], "fault-s3-upload");
    let _importer = Roles(vec![importer]);
    wait_ready(&addr, "the importer to be ready").await;
    let csv = payments_csv::sample_csv(payments_csv::samples::SUSPICIOUS_DUPLICATED)
        .expect("a sample")
        .into_bytes();

    let restart = Restart("s3-start");
    stack("s3-stop");
    let (status, refused) = upload(&addr, "while-away.csv", csv.clone()).await;
    drop(restart);
    assert_eq!(status, 503, "{refused}");
    let message = refused["error"].as_str().unwrap_or_default();
    assert!(message.contains("could not be completed"), "{refused}");
    let (state, failure, error): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT status, failure, error FROM imports")
            .fetch_one(&db.pool)
            .await
            .expect("the failed import");
    assert_eq!(
        (state.as_str(), failure.as_deref()),
        ("failed", Some("platform_unavailable"))
    );
    assert!(error.is_some_and(|e| !e.is_empty()));
    assert_eq!(
        payments_testkit::topic_record_count(&topics.import),
        0,
        "nothing published"
    );

    let (status, report) = upload(&addr, "while-away.csv", csv.clone()).await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(report["status"], "published", "{report}");
    let _ingester = Roles(vec![setup.spawn_ingester("fault-s3-upload-ingester")]);
    wait_for("the import done", CAUGHT_UP_TIMEOUT, || async {
        count(
            &db.pool,
            "SELECT count(*) FROM imports WHERE status = 'done'",
        )
        .await
        .filter(|n| *n == 1)
    })
    .await;
    assert_import_landed_exactly(&db.pool, &csv).await;
    setup.finish().await;
}

/// A tmpfs of 1 MiB as the importer's temporary directory: a file large enough to spill its
/// duplicate detection to disk gets a clear error, and nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spill_disk_refuses_the_upload_and_publishes_nothing() {
    let _serial = SERIAL.lock().await;
    let dir = std::env::temp_dir().join(unique_name("full-spill"));
    std::fs::create_dir_all(&dir).expect("mount point");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "mounting a 1 MiB tmpfs at {} failed: this test needs root (run `scripts/test` as root, as CI does)",
        dir.display()
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _unmount = Unmount(dir.clone());

    let setup = Setup::new("full-spill").await;
    let (db, topics) = (&setup.db, &setup.topics);
    let tmp = dir.display().to_string();
    let (importer, addr) = setup.spawn("importer", &[("TMPDIR", &tmp)], "fault-full-spill");
    let _importer = Roles(vec![importer]);
    wait_ready(&addr, "the importer to be ready").await;

    let (status, refused) =
        upload(&addr, "big.csv", payments_csv::samples::large_csv(600_000)).await;
    assert!(status >= 500, "{status} {refused}");
    let message = refused["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("No space left on device") || message.contains("space"),
        "the error says the disk is full: {refused}"
    );
    let (state, failure, error): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT status, failure, error FROM imports")
            .fetch_one(&db.pool)
            .await
            .expect("the failed import");
    // The platform's fault, not the file's: the same file may be uploaded again.
    assert_eq!(
        (state.as_str(), failure.as_deref()),
        ("failed", Some("platform_unavailable")),
        "{error:?}"
    );
    assert!(error.is_some_and(|e| e.contains("temporary disk space")));
    assert_eq!(
        payments_testkit::topic_record_count(&topics.import),
        0,
        "nothing published"
    );
    // The importer is still up for the next upload.
    assert!(ready(&addr).await);
    setup.finish().await;
}

/// Two ingesters share a group over six partitions; a third joins and, during the rebalance
/// that follows, one of the first two is killed with SIGKILL. Every event lands once and every
/// bad one is rejected once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_rebalance_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let topics = topics("rebalance");
    create_topics(&[&topics.stream, &topics.import], 6).await;
    const EVENTS: u64 = 60_000;
    const BAD: usize = 12;
    let producer = producer();
    let generator = tokio::spawn({
        let pool = db.pool.clone();
        let config = GeneratorConfig {
            topic: topics.stream.clone(),
            rate: Some(2000.0),
            count: Some(EVENTS),
            seed: Some(33),
            ..GeneratorConfig::default()
        };
        let producer = producer.clone();
        async move { payments_generator::run(config, pool, producer, Default::default()).await }
    });
    let bad: Vec<(Option<String>, Vec<u8>)> = (0..BAD)
        .map(|i| {
            (
                Some(format!("bad-{i}")),
                format!("{{\"bad\": {i}}}").into_bytes(),
            )
        })
        .collect();
    payments_testkit::produce(&producer, &topics.stream, bad).await;

    let group = unique_name("rebalance");
    let mut first = spawn_ingester(&db.url, &group, &topics, &free_addr(), "fault-rebalance-1");
    let second = spawn_ingester(&db.url, &group, &topics, &free_addr(), "fault-rebalance-2");
    wait_for("both ingesters writing", CAUGHT_UP_TIMEOUT, || async {
        count(&db.pool, "SELECT count(*) FROM transactions")
            .await
            .filter(|n| *n >= 5_000)
    })
    .await;
    let third_addr = free_addr();
    let third = spawn_ingester(&db.url, &group, &topics, &third_addr, "fault-rebalance-3");
    // The group rebalances as the third joins (within a session timeout); kill during it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill(&mut first);
    let killed_at = count(&db.pool, "SELECT count(*) FROM transactions").await;
    let _survivors = Roles(vec![second, third]);

    let sent = generator.await.expect("join").expect("generator");
    assert_eq!(sent, EVENTS);
    let total = EVENTS as i64 + BAD as i64;
    wait_for("every record applied", CAUGHT_UP_TIMEOUT, || async {
        applied_records(&db.pool).await.filter(|n| *n >= total)
    })
    .await;
    assert!(
        killed_at.is_some_and(|n| n < EVENTS as i64),
        "killed mid-stream ({killed_at:?})"
    );
    assert_stream_landed_exactly(&db.pool, &topics.stream, EVENTS as usize).await;
    assert_rejected_once(&db.pool, BAD as i64).await;
    db.drop_database().await;
}

/// S3 is away when the controller opens a PaymentImport's object: `Ready=False` with
/// `StorageUnavailable`, then, with S3 back, the import completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_away_when_the_controller_opens_the_object_then_the_import_completes() {
    use kube::api::{Api, PostParams};
    use payments_operator::PaymentImport;

    let _serial = SERIAL.lock().await;
    let setup = Setup::new("s3-controller").await;
    let db = &setup.db;
    let csv = payments_csv::sample_csv(payments_csv::samples::REGULAR)
        .expect("a sample")
        .into_bytes();
    payments_testkit::object_store(&setup.bucket)
        .put_stream("regular.csv", std::io::Cursor::new(csv.clone()), "text/csv")
        .await
        .expect("the object");

    let cluster = crate::metrics::Cluster::new("s3-controller").await;
    let lease = unique_name("s3-controller");
    let (controller, addr) = setup.spawn(
        "controller",
        &[
            ("KUBECONFIG", &cluster.kubeconfig),
            ("POD_NAMESPACE", &cluster.namespace),
            ("PAYMENTS_LEASE_NAME", &lease),
        ],
        "fault-s3-controller",
    );
    let _roles = Roles(vec![
        controller,
        setup.spawn_ingester("fault-s3-controller-ingester"),
    ]);
    wait_ready(&addr, "the controller to be ready").await;

    let restart = Restart("s3-start");
    stack("s3-stop");
    let imports: Api<PaymentImport> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    imports
        .create(
            &PostParams::default(),
            &crate::metrics::s3_import("regular", "regular.csv"),
        )
        .await
        .expect("a PaymentImport");
    let ready_condition = |import: &PaymentImport| {
        import
            .status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let (status, reason, message) = wait_for(
        "Ready=False while S3 is away",
        Duration::from_secs(120),
        || async {
            let import = imports.get("regular").await.ok()?;
            ready_condition(&import).filter(|(status, _, _)| status == "False")
        },
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "StorageUnavailable"),
        "{message}"
    );
    drop(restart);

    wait_for("Ready=True once S3 is back", CAUGHT_UP_TIMEOUT, || async {
        let import = imports.get("regular").await.ok()?;
        ready_condition(&import).filter(|(status, _, _)| status == "True")
    })
    .await;
    assert_import_landed_exactly(&db.pool, &csv).await;
    setup.finish().await;
}

#[test]
fn unique_rows_number_data_rows_from_one_and_drop_exact_repeats() {
    let csv = b"h\na,b,1.00,USD,d,s\nc,d,2.50,EUR,d,s\na,b,1.00,USD,d,s\n";
    let rows = unique_rows(csv);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[&1], Decimal::new(100, 2));
    assert_eq!(rows[&2], Decimal::new(250, 2));
}
