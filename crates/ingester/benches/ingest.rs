//! Ingest throughput against `COPY`, on the same PostgreSQL in the same run.
//!
//! 1,000,000 valid events (override with `PAYMENTS_BENCH_EVENTS`) are published to Kafka first
//! (not timed). Then the ingester consumes them into an empty schema, once per write path and
//! writer count (`PAYMENTS_BENCH_WRITERS`, default `1,3`), and `COPY` loads the very same rows
//! into a fresh copy of the same schema, once before and once after the ingesters; the faster
//! `COPY` is the baseline. Run: `scripts/bench` (starts the stack) or
//! `cargo bench -p payments-ingester --bench ingest` with the stack up.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use payments_domain::{validate, Payment, Source};
use payments_generator::{EventFactory, Participants};
use payments_ingester::{IngesterConfig, WritePath};
use payments_testkit::report::{env_or, Figure};
use payments_testkit::{create_topics, produce, producer, unique_name, TestDb};
use tokio_util::sync::CancellationToken;

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

async fn run() {
    let events: usize = env_or("PAYMENTS_BENCH_EVENTS", 1_000_000);
    let batch_size: usize = env_or("PAYMENTS_BENCH_BATCH", 5000);

    let ingest_db = TestDb::create().await;
    let (users, currencies) = payments_store::load_participants(&ingest_db.pool)
        .await
        .expect("participants");
    let mut factory = EventFactory::new(Participants { users, currencies }, 0.0, Some(42));
    let records: Vec<(Option<String>, Vec<u8>)> = (0..events)
        .map(|_| {
            let (key, payload) = factory.next_record();
            (Some(key), payload)
        })
        .collect();

    // The rows COPY loads: exactly what validation makes of the same records.
    let refs = payments_store::load_reference_data(&ingest_db.pool)
        .await
        .expect("reference data");
    let now = Utc::now();
    let payments: Vec<Payment> = records
        .iter()
        .map(|(_, payload)| {
            validate(payload, Source::Stream, &refs, now).expect("generated events are valid")
        })
        .collect();
    let copy_text = copy_rows(&payments);

    let stream_topic = unique_name("bench-stream");
    let import_topic = unique_name("bench-import");
    // Six partitions, as the scale-out figure uses: every writer gets an equal share.
    create_topics(&[&stream_topic, &import_topic], 6).await;
    let started = Instant::now();
    produce(&producer(), &stream_topic, records).await;
    let produce_secs = started.elapsed().as_secs_f64();
    eprintln!("published {events} events in {produce_secs:.1} s");

    let copy_before = copy_into_fresh_schema(&copy_text, events).await;
    eprintln!("COPY (before): {:.2} s", copy_before.as_secs_f64());
    let mut ingests = Vec::new();
    let writer_counts: Vec<usize> = std::env::var("PAYMENTS_BENCH_WRITERS")
        .unwrap_or_else(|_| "1,3".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for writers in writer_counts {
        for path in [WritePath::Unnest, WritePath::Staged] {
            let took = ingest(
                &stream_topic,
                &import_topic,
                batch_size,
                path,
                writers,
                events,
            )
            .await;
            eprintln!(
                "ingester ({}, {writers} writers): {:.2} s",
                path.as_str(),
                took.as_secs_f64()
            );
            ingests.push((path, writers, took));
        }
    }
    let copy_after = copy_into_fresh_schema(&copy_text, events).await;
    eprintln!("COPY (after): {:.2} s", copy_after.as_secs_f64());
    ingest_db.drop_database().await;

    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    let copy_rate = rate(copy_before).max(rate(copy_after));
    println!();
    println!("ingest benchmark: {events} events, batch {batch_size}, same PostgreSQL, same run");
    println!(
        "  COPY into the indexed table, best of 2: {copy_rate:.0} rows/s (before {:.0}, after {:.0})",
        rate(copy_before),
        rate(copy_after)
    );
    let defaults = IngesterConfig::default();
    for (path, writers, took) in ingests {
        let ingest_rate = rate(took);
        let ratio = ingest_rate / copy_rate;
        let chosen = if path == defaults.write_path && writers == defaults.writers {
            ", default"
        } else {
            ""
        };
        Figure::new(
            format!(
                "ingest {}M events ({}, {writers} writer{}{chosen})",
                events as f64 / 1e6,
                path.as_str(),
                if writers == 1 { "" } else { "s" }
            ),
            format!("{ingest_rate:.0} ev/s"),
        )
        .baseline(format!("{copy_rate:.0} rows/s COPY"), ratio)
        .target(
            ">= 1.0x COPY and >= 100k ev/s",
            ratio >= 1.0 && ingest_rate >= 100_000.0,
        )
        .note(format!(
            "{:.2} s from start, group join included",
            took.as_secs_f64()
        ))
        .record();
    }
}

/// Runs the ingester with the given write path into a fresh database until every event is
/// applied; returns the time from start (group join included).
async fn ingest(
    stream_topic: &str,
    import_topic: &str,
    batch_size: usize,
    write_path: WritePath,
    writers: usize,
    events: usize,
) -> Duration {
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let config = IngesterConfig {
        group_id: unique_name("bench"),
        stream_topic: stream_topic.to_owned(),
        import_topic: import_topic.to_owned(),
        batch_size,
        write_path,
        writers,
        ..IngesterConfig::default()
    };
    let started = Instant::now();
    let ingester =
        payments_testkit::start_ingester(config, db.pool.clone(), "bench", shutdown.clone()).await;
    payments_testkit::wait_applied(&db.pool, events as u64, Duration::from_secs(1800)).await;
    let took = started.elapsed();
    shutdown.cancel();
    ingester.wait().await.expect("ingester stops");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(rows, events as i64, "every event became a row");
    db.drop_database().await;
    took
}

/// Loads the rows with `COPY ... FROM STDIN` into a freshly migrated database and returns the
/// time the load took (connection and schema set-up excluded).
async fn copy_into_fresh_schema(text: &str, expected: usize) -> Duration {
    let db = TestDb::create().await;
    let mut conn = db.pool.acquire().await.expect("connection");
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY transactions (transaction_id, sender_id, receiver_id, amount, currency_id, \
             transaction_date, status, source, suspicious) FROM STDIN",
        )
        .await
        .expect("start COPY");
    for chunk in text.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await.expect("COPY data");
    }
    let rows = copy.finish().await.expect("finish COPY");
    let took = started.elapsed();
    assert_eq!(rows, expected as u64);
    drop(conn);
    db.drop_database().await;
    took
}

fn copy_rows(payments: &[Payment]) -> String {
    let mut text = String::with_capacity(payments.len() * 160);
    for p in payments {
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            p.transaction_id,
            p.sender_id,
            p.receiver_id,
            p.amount,
            p.currency_code,
            p.transaction_date
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            p.status.as_str(),
            p.source.as_str(),
            p.suspicious
        );
    }
    text
}
