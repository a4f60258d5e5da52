//! Growth: what the same work costs as `transactions` grows over the years. At each size
//! (`PAYMENTS_BENCH_GROWTH`, default `0,10000000,50000000` rows) the table is filled with
//! `COPY` (timed, disk measured), then:
//! - the ingest rate of the default ingester over 500,000 fresh events (`PAYMENTS_BENCH_EVENTS`);
//! - produce → commit latency at 1,000 events/s for 60 s (`PAYMENTS_BENCH_RATE`,
//!   `PAYMENTS_BENCH_SECONDS`), exact per event as in the latency benchmark;
//! - the cross-file duplicate lookup of 1,000,000 new payments (`PAYMENTS_BENCH_ROWS`) in
//!   statements of 5,000, as an import does it: seconds per 1M rows, for payments dated
//!   anywhere in five years (the worst case) and for files of one week each (as files come);
//! - for the ingest and the lookups, why they cost what they do: WAL written and blocks of
//!   `transactions` (heap, indexes) that were not in shared buffers, per event or per row;
//! - every dashboard question, best of two runs each: the slowest one;
//! - and, as the baseline at that size, `COPY` of 1,000,000 rows into the same table.
//!
//! The bulk is what years of work leave: half from the stream and half from imports of
//! 10,000 rows, dates rising with arrival over five years, amounts up to 10,000.00, the demo
//! users and currencies, 1 % suspicious. The database is dropped at the end.
//! Run: `scripts/bench growth` (starts the stack).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use payments_domain::{Fingerprint, Status};
use payments_generator::{EventFactory, GeneratorConfig, Participants};
use payments_ingester::IngesterConfig;
use payments_store::OwnImport;
use payments_testkit::report::{env_or, percentiles, Figure};
use payments_testkit::{create_topics, produce, producer, unique_name, TestDb};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Rows per `COPY` chunk sent while the bulk is loaded.
const CHUNK: u64 = 100_000;
/// Rows an import lands per file in the bulk.
const IMPORT_ROWS: u64 = 10_000;
/// Rows per lookup statement, as the importer sends them.
const LOOKUP_BATCH: usize = 5_000;
/// The history the largest size spreads over.
const HISTORY: TimeDelta = TimeDelta::days(5 * 365);
/// The dates one file of the lookup covers.
const FILE_SPAN: TimeDelta = TimeDelta::days(7);
/// How long a backend may keep its counters before the statistics views show them: flushed
/// when it goes idle, at most once a second, else within 10 s (PostgreSQL 15 documentation,
/// "The Cumulative Statistics System": `PGSTAT_MIN_INTERVAL`, `PGSTAT_IDLE_INTERVAL`).
const STATS_FLUSH: Duration = Duration::from_secs(11);

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

/// The figures at one size of `transactions`.
struct Level {
    rows: i64,
    load_secs: f64,
    loaded: u64,
    disk_bytes: i64,
    ingest_rate: f64,
    ingest_io: Io,
    p99_ms: f64,
    p50_ms: f64,
    /// One per [`Dates::ALL`], in that order.
    lookups: Vec<LookupFigure>,
    slowest_question: (&'static str, f64),
    copy_rate: f64,
}

async fn run() {
    let sizes: Vec<u64> = std::env::var("PAYMENTS_BENCH_GROWTH")
        .unwrap_or_else(|_| "0,10000000,50000000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let events: usize = env_or("PAYMENTS_BENCH_EVENTS", 500_000);
    let lookups: usize = env_or("PAYMENTS_BENCH_ROWS", 1_000_000);
    let largest = sizes.iter().copied().max().unwrap_or(1).max(1);
    let db = TestDb::create().await;
    let (users, currencies) = payments_store::load_participants(&db.pool)
        .await
        .expect("participants");
    let mut bulk = Bulk::new(users.clone(), currencies.clone(), largest);
    let mut levels = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let before = row_count(&db.pool).await;
        let started = Instant::now();
        let loaded = size.saturating_sub(before as u64);
        if loaded > 0 {
            bulk.copy(&db.pool, loaded).await;
        }
        let load_secs = started.elapsed().as_secs_f64();
        // What autovacuum would have done over the years: statistics and the visibility map.
        sqlx::query("VACUUM ANALYZE transactions")
            .execute(&db.pool)
            .await
            .expect("vacuum");
        let rows = row_count(&db.pool).await;
        let disk_bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('transactions')")
            .fetch_one(&db.pool)
            .await
            .expect("size");
        eprintln!(
            "transactions: {rows} rows, {:.1} GiB ({loaded} loaded in {load_secs:.0} s)",
            disk_bytes as f64 / (1u64 << 30) as f64
        );
        let seed = 100 + i as u64;
        let participants = Participants {
            users: users.clone(),
            currencies: currencies.clone(),
        };
        let before = Io::now(&db.pool).await;
        let ingest_rate = ingest(&db.pool, participants, events, seed).await;
        let ingest_io = Io::now(&db.pool).await.since(&before, events);
        eprintln!("  ingest: {ingest_rate:.0} ev/s; per event {ingest_io}");
        // Another seed: the latency events must be new payments, not the ingest's again.
        let (p50_ms, p99_ms) = latency(&db.pool, seed + 1000).await;
        eprintln!("  latency: p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms");
        let mut lookup_figures = Vec::new();
        let mut before = Io::now(&db.pool).await;
        for dates in Dates::ALL {
            let secs_per_million = lookup(&db.pool, &users, &currencies, lookups, dates).await;
            let after = Io::now(&db.pool).await;
            let io = after.since(&before, lookups);
            before = after;
            eprintln!(
                "  cross-file lookup, {}: {secs_per_million:.2} s per 1M rows; per row {io}",
                dates.label()
            );
            lookup_figures.push(LookupFigure {
                secs_per_million,
                io,
            });
        }
        let slowest_question = dashboard(&db.pool).await;
        eprintln!(
            "  dashboard: slowest {} {:.2} s",
            slowest_question.0, slowest_question.1
        );
        let started = Instant::now();
        bulk.copy(&db.pool, 1_000_000).await;
        let copy_rate = 1e6 / started.elapsed().as_secs_f64();
        eprintln!("  COPY 1M: {copy_rate:.0} rows/s");
        levels.push(Level {
            rows,
            load_secs,
            loaded,
            disk_bytes,
            ingest_rate,
            ingest_io,
            p99_ms,
            p50_ms,
            lookups: lookup_figures,
            slowest_question,
            copy_rate,
        });
    }
    let final_rows = row_count(&db.pool).await;
    db.drop_database().await;
    assert_eq!(
        final_rows as u64,
        bulk.written + (events as u64 + latency_events()) * sizes.len() as u64,
        "every loaded row and every event is in the table, once"
    );
    report(&levels, events, lookups);
}

fn report(levels: &[Level], events: usize, lookups: usize) {
    let Some(first) = levels.first() else { return };
    println!();
    println!(
        "growth benchmark: at each size, {events} events ingested, {:.0} events/s for latency, \
         {lookups} rows looked up, every dashboard question, COPY of 1M rows",
        rate()
    );
    for level in levels {
        let size = format!("{:.1}M rows", level.rows as f64 / 1e6);
        let last = std::ptr::eq(level, levels.last().unwrap_or(first));
        let ingest_ratio = level.ingest_rate / first.ingest_rate;
        let mut figure = Figure::new(
            format!("growth: ingest at {size}"),
            format!("{:.0} ev/s", level.ingest_rate),
        )
        .baseline(
            format!("{:.0} ev/s at {:.1}M", first.ingest_rate, first.rows as f64 / 1e6),
            ingest_ratio,
        )
        .note(format!(
            "{:.2}x the same size's COPY ({:.0} rows/s); per event {}; table {:.1} GiB, bulk of {:.1}M rows loaded in {:.0} s",
            level.ingest_rate / level.copy_rate,
            level.copy_rate,
            level.ingest_io,
            level.disk_bytes as f64 / (1u64 << 30) as f64,
            level.loaded as f64 / 1e6,
            level.load_secs
        ));
        if last {
            figure = figure.target(">= 0.8x empty", ingest_ratio >= 0.8);
        }
        figure.record();
        let copy_ratio = level.copy_rate / first.copy_rate;
        Figure::new(
            format!("growth: COPY 1M rows at {size}"),
            format!("{:.0} rows/s", level.copy_rate),
        )
        .baseline(
            format!(
                "{:.0} rows/s at {:.1}M",
                first.copy_rate,
                first.rows as f64 / 1e6
            ),
            copy_ratio,
        )
        .target("baseline", true)
        .record();
        Figure::new(
            format!("growth: latency p99 at {size}"),
            format!("{:.1} ms", level.p99_ms),
        )
        .baseline(
            format!("{:.1} ms at {:.1}M", first.p99_ms, first.rows as f64 / 1e6),
            level.p99_ms / first.p99_ms,
        )
        .target("<= 100 ms", level.p99_ms <= 100.0)
        .note(format!("p50 {:.1} ms", level.p50_ms))
        .record();
        for ((dates, measured), first_measured) in
            Dates::ALL.iter().zip(&level.lookups).zip(&first.lookups)
        {
            let (secs, first_secs) = (measured.secs_per_million, first_measured.secs_per_million);
            let ratio = secs / first_secs;
            let mut figure = Figure::new(
                format!("growth: cross-file lookup, {}, at {size}", dates.label()),
                format!("{secs:.2} s per 1M rows"),
            )
            .baseline(
                format!("{first_secs:.2} s at {:.1}M", first.rows as f64 / 1e6),
                ratio,
            )
            .note(format!("per row {}", measured.io));
            if last {
                figure = figure.target("<= 1.5x empty", ratio <= 1.5);
            }
            figure.record();
        }
        let (question, secs) = level.slowest_question;
        Figure::new(
            format!("growth: slowest dashboard question at {size}"),
            format!("{secs:.2} s"),
        )
        .baseline(
            format!(
                "{:.2} s at {:.1}M",
                first.slowest_question.1,
                first.rows as f64 / 1e6
            ),
            secs / first.slowest_question.1,
        )
        .target("< 5 s", secs < 5.0)
        .note(format!("\"{question}\", best of 2"))
        .record();
    }
}

async fn row_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM transactions")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Publishes `events` fresh events and returns the default ingester's rate draining them
/// (group join included, as in the ingest benchmark).
async fn ingest(pool: &PgPool, participants: Participants, events: usize, seed: u64) -> f64 {
    let mut factory = EventFactory::new(participants, 0.0, Some(seed));
    let records: Vec<(Option<String>, Vec<u8>)> = (0..events)
        .map(|_| {
            let (key, payload) = factory.next_record();
            (Some(key), payload)
        })
        .collect();
    let stream_topic = unique_name("bench-growth");
    let import_topic = unique_name("bench-growth-import");
    create_topics(&[&stream_topic, &import_topic], 6).await;
    produce(&producer(), &stream_topic, records).await;
    let applied = payments_testkit::applied_records(pool).await.unwrap_or(0);
    let shutdown = CancellationToken::new();
    let config = IngesterConfig {
        group_id: unique_name("bench-growth"),
        stream_topic,
        import_topic,
        ..IngesterConfig::default()
    };
    let started = Instant::now();
    let ingester =
        payments_testkit::start_ingester(config, pool.clone(), "bench-growth", shutdown.clone())
            .await;
    payments_testkit::wait_applied(
        pool,
        applied as u64 + events as u64,
        Duration::from_secs(3600),
    )
    .await;
    let took = started.elapsed();
    shutdown.cancel();
    ingester.wait().await.expect("ingester stops");
    events as f64 / took.as_secs_f64()
}

fn rate() -> f64 {
    env_or("PAYMENTS_BENCH_RATE", 1000.0)
}

fn latency_events() -> u64 {
    (rate() * env_or("PAYMENTS_BENCH_SECONDS", 60.0)) as u64
}

/// The generator at the latency rate while the default ingester applies its events: p50 and
/// p99 from each record's Kafka timestamp to its row's commit time, in ms.
async fn latency(pool: &PgPool, seed: u64) -> (f64, f64) {
    let events = latency_events();
    let stream_topic = unique_name("bench-growth-latency");
    let import_topic = unique_name("bench-growth-latency-import");
    create_topics(&[&stream_topic, &import_topic], 3).await;
    let applied = payments_testkit::applied_records(pool).await.unwrap_or(0);
    let shutdown = CancellationToken::new();
    let config = IngesterConfig {
        group_id: unique_name("bench-growth-latency"),
        stream_topic: stream_topic.clone(),
        import_topic,
        ..IngesterConfig::default()
    };
    let ingester = payments_testkit::start_ingester_ready(
        config,
        pool.clone(),
        "bench-growth-latency",
        shutdown.clone(),
    )
    .await;
    let generator = GeneratorConfig {
        topic: stream_topic.clone(),
        rate: Some(rate()),
        count: Some(events),
        invalid_ratio: 0.0,
        seed: Some(seed),
        ..GeneratorConfig::default()
    };
    let delivered = payments_generator::run(
        generator,
        pool.clone(),
        payments_testkit::kafka("bench-growth-generator")
            .producer()
            .expect("producer"),
        shutdown.child_token(),
    )
    .await
    .expect("generator");
    assert_eq!(delivered, events, "the broker took every event");
    payments_testkit::wait_applied(pool, applied as u64 + events, Duration::from_secs(600)).await;
    shutdown.cancel();
    ingester.wait().await.expect("ingester stops");
    let produced = payments_testkit::topic_timestamps(&stream_topic);
    let ids: Vec<Uuid> = produced
        .iter()
        .map(|(id, _)| id.parse().expect("a transaction id key"))
        .collect();
    let committed: Vec<(Uuid, f64)> = sqlx::query_as(
        "SELECT transaction_id,
                extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 * 1000
           FROM transactions WHERE transaction_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
    .expect("commit times");
    assert_eq!(committed.len() as u64, events, "every event became a row");
    let sent: std::collections::HashMap<Uuid, i64> = ids
        .into_iter()
        .zip(produced.into_iter().map(|(_, at)| at))
        .collect();
    let mut latencies: Vec<f64> = committed
        .iter()
        .map(|(id, at)| (at - sent[id] as f64).max(0.0))
        .collect();
    let [p50, p99, _] = percentiles(&mut latencies);
    (p50, p99)
}

/// Where the looked-up payments' dates fall.
#[derive(Clone, Copy)]
enum Dates {
    /// Anywhere in the five years, each payment on its own: every probe lands somewhere else
    /// in the indexes (the worst case).
    Anywhere,
    /// Files of [`IMPORT_ROWS`] payments, each file within one [`FILE_SPAN`] somewhere in the
    /// landed history (in random order within the file): what statements look like.
    Files,
}

impl Dates {
    const ALL: [Dates; 2] = [Dates::Anywhere, Dates::Files];

    fn label(self) -> String {
        match self {
            Dates::Anywhere => format!("anywhere in {} years", HISTORY.num_days() / 365),
            Dates::Files => format!("files of {} days", FILE_SPAN.num_days()),
        }
    }
}

/// The cost of one lookup run at one size.
struct LookupFigure {
    secs_per_million: f64,
    io: Io,
}

/// Looks up `rows` new payments (none landed before) as one import would, in statements of
/// [`LOOKUP_BATCH`]; returns the seconds per 1M rows.
async fn lookup(
    pool: &PgPool,
    users: &[Uuid],
    currencies: &[i32],
    rows: usize,
    dates: Dates,
) -> f64 {
    let mut random = SplitMix(rows as u64);
    let (start, span) = match dates {
        Dates::Anywhere => (Utc::now() - HISTORY, HISTORY),
        Dates::Files => landed_dates(pool).await,
    };
    let seconds = |delta: TimeDelta| delta.num_seconds().max(1) as u64;
    let mut file_start = start;
    // Whole seconds, as files carry them; an amount with a tenth of a cent more than any
    // landed one makes each a miss, as for a file of new payments.
    let fingerprints: Vec<(u64, Fingerprint)> = (0..rows)
        .map(|row| {
            let (sender_id, receiver_id, amount, currency_code, status) =
                random.payment(users, currencies);
            let date = match dates {
                Dates::Anywhere => {
                    start + TimeDelta::seconds((random.next() % seconds(span)) as i64)
                }
                Dates::Files => {
                    if (row as u64).is_multiple_of(IMPORT_ROWS) {
                        let room = seconds(span - FILE_SPAN.min(span));
                        file_start = start + TimeDelta::seconds((random.next() % room) as i64);
                    }
                    file_start + TimeDelta::seconds((random.next() % seconds(FILE_SPAN)) as i64)
                }
            };
            (
                row as u64 + 1,
                Fingerprint {
                    sender_id,
                    receiver_id,
                    amount: amount + Decimal::new(1, 3),
                    currency_code,
                    transaction_date: date,
                    status,
                },
            )
        })
        .collect();
    let own = OwnImport {
        id: Uuid::new_v4(),
        corrects: None,
    };
    let started = Instant::now();
    for batch in fingerprints.chunks(LOOKUP_BATCH) {
        let seen = payments_store::find_landed_elsewhere(pool, own, batch)
            .await
            .expect("lookup");
        assert!(seen.is_empty(), "a new payment was found landed");
    }
    started.elapsed().as_secs_f64() / (rows as f64 / 1e6)
}

/// The first imported payment's date and the span to the last one (five years back from now
/// while nothing is landed).
async fn landed_dates(pool: &PgPool) -> (DateTime<Utc>, TimeDelta) {
    let (first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT min(transaction_date), max(transaction_date) FROM transactions
          WHERE import_id IS NOT NULL",
    )
    .fetch_one(pool)
    .await
    .expect("landed dates");
    match (first, last) {
        (Some(first), Some(last)) => (first, last - first),
        _ => (Utc::now() - HISTORY, HISTORY),
    }
}

/// What a piece of work cost `transactions` below the SQL: WAL written, and blocks of its heap
/// and of its indexes that were not in shared buffers (read from the OS), as running totals or,
/// after [`Io::since`], per unit of work.
#[derive(Clone, Copy, Default)]
struct Io {
    wal_bytes: f64,
    heap_reads: f64,
    index_reads: f64,
}

impl Io {
    async fn now(pool: &PgPool) -> Io {
        tokio::time::sleep(STATS_FLUSH).await;
        let (wal_bytes, heap_reads, index_reads): (f64, f64, f64) = sqlx::query_as(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8,
                    COALESCE(s.heap_blks_read, 0)::float8, COALESCE(s.idx_blks_read, 0)::float8
               FROM pg_statio_user_tables s WHERE s.relname = 'transactions'",
        )
        .fetch_one(pool)
        .await
        .expect("statistics");
        Io {
            wal_bytes,
            heap_reads,
            index_reads,
        }
    }

    fn since(&self, before: &Io, units: usize) -> Io {
        let per = |now: f64, then: f64| (now - then) / units.max(1) as f64;
        Io {
            wal_bytes: per(self.wal_bytes, before.wal_bytes),
            heap_reads: per(self.heap_reads, before.heap_reads),
            index_reads: per(self.index_reads, before.index_reads),
        }
    }
}

impl std::fmt::Display for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WAL {:.0} B, blocks read: heap {:.2}, indexes {:.2}",
            self.wal_bytes, self.heap_reads, self.index_reads
        )
    }
}

/// Every dashboard question, best of two runs each; the slowest one and its seconds.
async fn dashboard(pool: &PgPool) -> (&'static str, f64) {
    let mut slowest = ("", 0.0);
    for question in payments_domain::dashboard::OVERVIEW {
        let mut best = f64::MAX;
        for _ in 0..2 {
            let started = Instant::now();
            sqlx::query(question.sql)
                .fetch_all(pool)
                .await
                .expect("dashboard question");
            best = best.min(started.elapsed().as_secs_f64());
        }
        if best > slowest.1 {
            slowest = (question.name, best);
        }
    }
    slowest
}

/// The rows years of work leave, generated as `COPY` text.
struct Bulk {
    users: Vec<Uuid>,
    currencies: Vec<i32>,
    random: SplitMix,
    start: DateTime<Utc>,
    step: TimeDelta,
    written: u64,
    import: Uuid,
}

impl Bulk {
    fn new(users: Vec<Uuid>, currencies: Vec<i32>, largest: u64) -> Bulk {
        // Leave room for the 1M-row baselines after the largest size.
        let rows = largest + 1_000_000 * 4;
        Bulk {
            users,
            currencies,
            random: SplitMix(24),
            start: Utc::now() - HISTORY,
            step: HISTORY / i32::try_from(rows.min(i32::MAX as u64)).unwrap_or(i32::MAX),
            written: 0,
            import: Uuid::new_v4(),
        }
    }

    /// Appends `rows` rows to `transactions`, one `COPY ... FROM STDIN` per [`CHUNK`] rows: the
    /// totals' trigger sees each statement's rows at once, so one statement per chunk keeps
    /// that set small, as the ingester's batches do.
    async fn copy(&mut self, pool: &PgPool, rows: u64) {
        let mut conn = pool.acquire().await.expect("connection");
        let mut text = String::with_capacity(CHUNK as usize * 200);
        let mut left = rows;
        while left > 0 {
            let chunk = left.min(CHUNK);
            text.clear();
            for _ in 0..chunk {
                self.row(&mut text);
            }
            left -= chunk;
            let mut copy = conn
                .copy_in_raw(
                    "COPY transactions (transaction_id, sender_id, receiver_id, amount, \
                     currency_id, transaction_date, status, source, import_id, import_row, \
                     suspicious) FROM STDIN",
                )
                .await
                .expect("start COPY");
            copy.send(text.as_bytes()).await.expect("COPY data");
            let copied = copy.finish().await.expect("finish COPY");
            assert_eq!(copied, chunk);
        }
    }

    fn row(&mut self, text: &mut String) {
        let n = self.written;
        self.written += 1;
        let (sender, receiver, amount, currency, status) =
            self.random.payment(&self.users, &self.currencies);
        let date = (self.start + self.step * i32::try_from(n).unwrap_or(i32::MAX))
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        let id = self.random.uuid();
        let suspicious = self.random.next().is_multiple_of(100);
        // Half the rows came from imports of IMPORT_ROWS rows each.
        let imported = n % 2 == 1;
        if imported && (n / 2).is_multiple_of(IMPORT_ROWS) {
            self.import = self.random.uuid();
        }
        let (source, import_id, import_row) = if imported {
            (
                "import",
                self.import.to_string(),
                ((n / 2) % IMPORT_ROWS + 1).to_string(),
            )
        } else {
            ("stream", "\\N".to_owned(), "\\N".to_owned())
        };
        let _ = writeln!(
            text,
            "{id}\t{sender}\t{receiver}\t{amount}\t{currency}\t{date}\t{}\t{source}\t{import_id}\t{import_row}\t{suspicious}",
            status.as_str()
        );
    }
}

/// A fast, seeded generator: the bulk needs tens of millions of rows, not cryptographic
/// randomness.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uuid(&mut self) -> Uuid {
        let bytes = (u128::from(self.next()) << 64 | u128::from(self.next())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn payment(
        &mut self,
        users: &[Uuid],
        currencies: &[i32],
    ) -> (Uuid, Uuid, Decimal, i32, Status) {
        let sender = self.pick(users);
        let receiver = self.pick(users);
        let amount = Decimal::new((self.next() % 1_000_000 + 1) as i64, 2);
        (
            sender,
            receiver,
            amount,
            self.pick(currencies),
            self.pick(&Status::ALL),
        )
    }
}
