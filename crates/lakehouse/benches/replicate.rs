//! The lakehouse replicator against the ingester, on the local stack:
//!
//! 1. **Throughput.** 1,000,000 events (`PAYMENTS_BENCH_EVENTS`) wait in Kafka; the ingester
//!    (default settings) writes them to PostgreSQL, timed; then the replicator (default
//!    settings) applies the same WAL to the Delta tables, timed. The baseline is the ingest rate
//!    of the same run: the replicator keeps up when its rate is at least the ingester's.
//! 2. **Files per partition** of `transactions` after that run, before and after one upkeep
//!    pass (OPTIMIZE + VACUUM), and the pass's time.
//! 3. **End-to-end lag** at 1,000 events/s for 60 s (`PAYMENTS_BENCH_RATE`,
//!    `PAYMENTS_BENCH_SECONDS`) with the generator, the ingester and the replicator running:
//!    per payment, from its Kafka timestamp to the moment the lake held it (the `_replication`
//!    row of the first batch at or past its commit, written after the batch's Delta commits).
//!    The baseline is the same payments' time to their PostgreSQL commit.
//!
//! Run: `scripts/bench lakehouse`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use payments_generator::{EventFactory, GeneratorConfig, Participants};
use payments_ingester::IngesterConfig;
use payments_lakehouse::catalog::{self, Table};
use payments_lakehouse::delta::TablePair;
use payments_lakehouse::health::Metrics;
use payments_lakehouse::{read, upkeep, DeltaLocation, ReplicatorConfig, S3Access, UpkeepConfig};
use payments_testkit::report::{env_or, percentiles, Figure};
use payments_testkit::{create_topics, produce, producer, stack, unique_name, wait_for, TestDb};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

async fn run() {
    let events: u64 = env_or("PAYMENTS_BENCH_EVENTS", 1_000_000);
    let rate: f64 = env_or("PAYMENTS_BENCH_RATE", 1000.0);
    let seconds: f64 = env_or("PAYMENTS_BENCH_SECONDS", 60.0);
    println!();
    println!("lakehouse benchmark: the replicator with its default batch and linger");
    throughput_and_files(events).await;
    lag(rate, seconds).await;
}

struct Bench {
    db: TestDb,
    stream_topic: String,
    location: DeltaLocation,
    slot: String,
}

impl Bench {
    async fn create(name: &str) -> Bench {
        let db = TestDb::create().await;
        let stream_topic = unique_name(&format!("bench-{name}"));
        create_topics(&[&stream_topic], 3).await;
        let bucket = unique_name("bench-lake");
        payments_testkit::object_store(&bucket)
            .ensure_bucket()
            .await
            .expect("lake bucket");
        let s = stack();
        let location = DeltaLocation::s3(
            &bucket,
            "payments",
            S3Access {
                endpoint: Some(&s.s3_endpoint),
                region: &s.s3_region,
                access_key: &s.s3_access_key,
                secret_key: &s.s3_secret_key,
            },
        )
        .expect("lake location");
        Bench {
            db,
            stream_topic,
            location,
            slot: format!("bench_{}", Uuid::new_v4().simple()),
        }
    }

    /// The replicator as `payments replicate` runs it by default (no HTTP endpoints).
    async fn replicator(&self, shutdown: CancellationToken) -> payments_lakehouse::Replicator {
        let config = ReplicatorConfig::new(
            self.db.url.clone(),
            self.slot.clone(),
            self.location.clone(),
        );
        payments_lakehouse::start(config, shutdown)
            .await
            .expect("start the replicator")
    }

    /// `count` valid events of the generator's kind, published at once.
    async fn publish(&self, count: u64) {
        let (users, currencies) = payments_store::load_participants(&self.db.pool)
            .await
            .expect("participants");
        let mut factory = EventFactory::new(Participants { users, currencies }, 0.0, Some(42));
        let records: Vec<(Option<String>, Vec<u8>)> = (0..count)
            .map(|_| {
                let (key, payload) = factory.next_record();
                (Some(key), payload)
            })
            .collect();
        produce(&producer(), &self.stream_topic, records).await;
    }

    /// The generator at `rate` events per second.
    async fn generate(&self, rate: f64, count: u64, shutdown: &CancellationToken) {
        let generator = GeneratorConfig {
            topic: self.stream_topic.clone(),
            rate: Some(rate),
            count: Some(count),
            invalid_ratio: 0.0,
            seed: Some(11),
            ..GeneratorConfig::default()
        };
        let delivered = payments_generator::run(
            generator,
            self.db.pool.clone(),
            payments_testkit::kafka("bench-lake-generator")
                .producer()
                .expect("producer"),
            shutdown.child_token(),
        )
        .await
        .expect("generator");
        assert_eq!(delivered, count, "the broker took every event");
    }

    async fn ingester(&self, shutdown: &CancellationToken) -> payments_ingester::Ingester {
        let config = IngesterConfig {
            group_id: unique_name("bench-lake"),
            stream_topic: self.stream_topic.clone(),
            import_topic: unique_name("bench-lake-import"),
            ..IngesterConfig::default()
        };
        payments_testkit::start_ingester_ready(
            config,
            self.db.pool.clone(),
            "bench-lake",
            shutdown.child_token(),
        )
        .await
    }

    async fn wait_applied(&self, events: u64) {
        payments_testkit::wait_applied(&self.db.pool, events, Duration::from_secs(1800)).await;
    }

    async fn transactions(&self) -> Table {
        catalog::published_tables(&self.db.pool, payments_lakehouse::PUBLICATION)
            .await
            .expect("published tables")
            .into_iter()
            .find(|t| t.name == "transactions")
            .expect("transactions is published")
    }

    async fn finish(self) {
        payments_testkit::drop_replication_slot(&self.db.pool, &self.slot).await;
        self.db.drop_database().await;
    }
}

async fn throughput_and_files(events: u64) {
    let bench = Bench::create("lake-throughput").await;
    // The slot (and the empty tables' backfill) first, so the run's changes are streamed.
    let shutdown = CancellationToken::new();
    let replicator = bench.replicator(shutdown.clone()).await;
    wait_for("the backfill", Duration::from_secs(120), || async {
        (replicator.metrics.backfills.get() == 1).then_some(())
    })
    .await;
    shutdown.cancel();
    replicator.wait().await;

    let shutdown = CancellationToken::new();
    bench.publish(events).await;
    let started = Instant::now();
    let ingester = bench.ingester(&shutdown).await;
    bench.wait_applied(events).await;
    let ingest_secs = started.elapsed().as_secs_f64();
    shutdown.cancel();
    ingester.wait().await.expect("ingester stops");

    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let replicator = bench.replicator(shutdown.clone()).await;
    wait_for(
        "the replicator to apply every change",
        Duration::from_secs(3600),
        || async { (replicator.metrics.changes_applied.get() >= events).then_some(()) },
    )
    .await;
    let replicate_secs = started.elapsed().as_secs_f64();
    let applied = replicator.metrics.changes_applied.get();
    shutdown.cancel();
    replicator.wait().await;

    let ingest_rate = events as f64 / ingest_secs;
    let replicate_rate = applied as f64 / replicate_secs;
    Figure::new(
        format!("replicate {events} inserts to Delta"),
        format!("{replicate_rate:.0} rows/s"),
    )
    .baseline(
        format!("{ingest_rate:.0} rows/s ingest"),
        replicate_rate / ingest_rate,
    )
    .target(">= 1.0x ingest", replicate_rate >= ingest_rate)
    .note(format!(
        "{replicate_secs:.1} s (slot to Delta, default batch 50,000) vs {ingest_secs:.1} s (Kafka to PostgreSQL)"
    ))
    .record();

    // Files per partition of the current-state table, as the run left them, then after one
    // upkeep pass.
    let table = bench.transactions().await;
    let count = |pair: &TablePair| {
        let files = upkeep::files_per_partition(pair.current_files().expect("files"));
        let most = files.values().copied().max().unwrap_or(0);
        (files.len(), most)
    };
    let mut pairs = vec![TablePair::open(&bench.location, &bench.slot, table)
        .await
        .expect("open transactions")];
    let (partitions, before) = count(&pairs[0]);
    let started = Instant::now();
    upkeep::run(&mut pairs, &UpkeepConfig::default(), &Metrics::default())
        .await
        .expect("upkeep");
    let upkeep_secs = started.elapsed().as_secs_f64();
    let (_, after) = count(&pairs[0]);
    Figure::new(
        format!("files per partition after {events} rows + upkeep"),
        format!("{after} files"),
    )
    .baseline(format!("{before} before upkeep"), after as f64 / before as f64)
    .target("<= 2", after <= 2)
    .note(format!(
        "most in any of {partitions} transaction_month partitions; OPTIMIZE + VACUUM took {upkeep_secs:.1} s"
    ))
    .record();
    bench.finish().await;
}

async fn lag(rate: f64, seconds: f64) {
    let events = (rate * seconds) as u64;
    let bench = Bench::create("lake-lag").await;
    let shutdown = CancellationToken::new();
    let ingester = bench.ingester(&shutdown).await;
    let replicator = bench.replicator(shutdown.clone()).await;
    wait_for("the backfill", Duration::from_secs(120), || async {
        (replicator.metrics.backfills.get() == 1).then_some(())
    })
    .await;
    bench.generate(rate, events, &shutdown).await;
    bench.wait_applied(events).await;
    let table = bench.transactions().await;
    let location = bench.location.clone();
    let pool = bench.db.pool.clone();
    wait_for(
        "the lake to hold every payment",
        Duration::from_secs(600),
        || async {
            let expected = read::postgres_rows(&pool, &table).await.ok()?;
            let actual = read::lake_rows(&location, &table).await.ok()?;
            (expected.len() as u64 >= events && expected == actual).then_some(())
        },
    )
    .await;
    shutdown.cancel();
    replicator.wait().await;
    ingester.wait().await.expect("ingester stops");

    let produced: HashMap<String, i64> = payments_testkit::topic_timestamps(&bench.stream_topic)
        .into_iter()
        .collect();
    let committed: Vec<(String, f64)> = sqlx::query_as(
        "SELECT transaction_id::text,
                extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 * 1000
           FROM transactions",
    )
    .fetch_all(&bench.db.pool)
    .await
    .expect("commit times (track_commit_timestamp = on, as scripts/stack sets)");
    let inserted = number_pairs(
        read::query(
            &bench.location,
            &["transactions_changes"],
            "SELECT transaction_id, _commit_lsn FROM transactions_changes WHERE _op = 'insert'",
        )
        .await
        .expect("change log"),
    );
    // Batches in position order: the lake holds a change from the first batch at or past it.
    let mut batches: Vec<(i64, f64)> = number_pairs(
        read::query(
            &bench.location,
            &["_replication"],
            "SELECT CAST(_commit_lsn AS VARCHAR), CAST(CAST(applied_at AS BIGINT) AS VARCHAR) FROM _replication",
        )
        .await
        .expect("positions"),
    )
    .into_iter()
    .map(|(lsn, micros)| (lsn.parse().expect("lsn"), micros as f64 / 1000.0))
    .collect();
    batches.sort_by_key(|(lsn, _)| *lsn);

    let mut to_lake = Vec::with_capacity(inserted.len());
    for (id, lsn) in &inserted {
        let Some(sent) = produced.get(id) else {
            continue;
        };
        let at = batches.partition_point(|(b, _)| b < lsn);
        let (_, in_lake) = batches.get(at).expect("a batch at or past every change");
        to_lake.push((in_lake - *sent as f64).max(0.0));
    }
    let mut to_postgres: Vec<f64> = committed
        .iter()
        .filter_map(|(id, at)| produced.get(id).map(|sent| (at - *sent as f64).max(0.0)))
        .collect();
    assert_eq!(
        to_lake.len() as u64,
        events,
        "every payment reached the lake"
    );
    let [p50, p99, max] = percentiles(&mut to_lake);
    let [b50, b99, _] = percentiles(&mut to_postgres);
    Figure::new(
        format!("lake lag at {rate:.0} events/s: p50"),
        format!("{:.2} s", p50 / 1000.0),
    )
    .baseline(format!("{:.3} s to PostgreSQL", b50 / 1000.0), p50 / b50)
    .record();
    Figure::new(
        format!("lake lag at {rate:.0} events/s: p99"),
        format!("{:.2} s", p99 / 1000.0),
    )
    .baseline(format!("{:.3} s to PostgreSQL", b99 / 1000.0), p99 / b99)
    .target("<= 5 s", p99 <= 5000.0)
    .note(format!(
        "Kafka timestamp to the lake's batch record; max {:.2} s; {events} payments over {seconds:.0} s",
        max / 1000.0
    ))
    .record();
    bench.finish().await;
}

/// Rows of (text, number) as the query printed them.
fn number_pairs(rows: Vec<Vec<Option<String>>>) -> Vec<(String, i64)> {
    rows.into_iter()
        .map(|row| {
            let text = row[0].clone().expect("first column");
            let number = row[1]
                .as_deref()
                .and_then(|n| n.parse().ok())
                .expect("second column is a number");
            (text, number)
        })
        .collect()
}
