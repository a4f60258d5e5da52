//! End-to-end latency of the stream: the generator publishes 1,000 events/s for 60 s
//! (`PAYMENTS_BENCH_RATE`, `PAYMENTS_BENCH_SECONDS`) while the ingester, with its default
//! batching, applies them. Each event's latency is exact, not sampled by polling: from the
//! record's Kafka timestamp (set by the producer when it produced it) to the commit time of the
//! transaction that wrote its row (`pg_xact_commit_timestamp`, which needs
//! `track_commit_timestamp = on`, as the stack sets). The baseline is the broker alone: a plain
//! consumer reading the same events at the same time, latency from the same timestamp to its
//! receipt.
//!
//! Run: `scripts/bench latency`.

use std::collections::HashMap;
use std::time::Duration;

use payments_generator::GeneratorConfig;
use payments_ingester::IngesterConfig;
use payments_testkit::report::{env_or, percentiles, Figure};
use payments_testkit::{create_topics, unique_name, TestDb};
use tokio_util::sync::CancellationToken;

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

async fn run() {
    let rate: f64 = env_or("PAYMENTS_BENCH_RATE", 1000.0);
    let seconds: f64 = env_or("PAYMENTS_BENCH_SECONDS", 60.0);
    let events = (rate * seconds) as u64;
    let db = TestDb::create().await;
    let enabled: String = sqlx::query_scalar("SHOW track_commit_timestamp")
        .fetch_one(&db.pool)
        .await
        .expect("setting");
    assert_eq!(
        enabled, "on",
        "track_commit_timestamp is off: run `scripts/stack up` (it sets it and restarts PostgreSQL)"
    );
    let stream_topic = unique_name("bench-latency");
    let import_topic = unique_name("bench-latency-import");
    create_topics(&[&stream_topic, &import_topic], 3).await;

    let shutdown = CancellationToken::new();
    let defaults = IngesterConfig::default();
    let config = IngesterConfig {
        group_id: unique_name("bench-latency"),
        stream_topic: stream_topic.clone(),
        import_topic,
        ..IngesterConfig::default()
    };
    // The group join happens before the first event, so it is not counted as latency.
    let ingester = payments_testkit::start_ingester_ready(
        config,
        db.pool.clone(),
        "bench-latency",
        shutdown.clone(),
    )
    .await;

    let plain = plain_consumer(stream_topic.clone(), events);

    let generator = GeneratorConfig {
        topic: stream_topic.clone(),
        rate: Some(rate),
        count: Some(events),
        invalid_ratio: 0.0,
        seed: Some(7),
        ..GeneratorConfig::default()
    };
    let delivered = payments_generator::run(
        generator,
        db.pool.clone(),
        payments_testkit::kafka("bench-latency-generator")
            .producer()
            .expect("producer"),
        shutdown.child_token(),
    )
    .await
    .expect("generator");
    assert_eq!(delivered, events, "the broker took every event");
    payments_testkit::wait_applied(&db.pool, events, Duration::from_secs(120)).await;
    shutdown.cancel();
    ingester.wait().await.expect("ingester stops");

    let produced: HashMap<String, i64> = payments_testkit::topic_timestamps(&stream_topic)
        .into_iter()
        .collect();
    let committed: Vec<(String, f64)> = sqlx::query_as(
        "SELECT transaction_id::text,
                extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 * 1000
         FROM transactions",
    )
    .fetch_all(&db.pool)
    .await
    .expect("commit times");
    db.drop_database().await;
    assert_eq!(committed.len() as u64, events, "every event became a row");
    let mut latencies: Vec<f64> = committed
        .iter()
        .map(|(id, at)| {
            let sent = produced
                .get(id)
                .unwrap_or_else(|| panic!("row {id} was never produced"));
            (at - *sent as f64).max(0.0)
        })
        .collect();
    let over_a_second = latencies.iter().filter(|l| **l > 1000.0).count();
    let [p50, p99, max] = percentiles(&mut latencies);
    let mut received = plain.join().expect("plain consumer");
    let [b50, b99, bmax] = percentiles(&mut received);

    println!();
    println!(
        "latency benchmark: {events} events at {rate:.0}/s, ingester linger {} ms, batch {}",
        defaults.linger.as_millis(),
        defaults.batch_size
    );
    let baseline = |ms: f64| format!("{ms:.1} ms consume");
    Figure::new(
        format!("latency at {rate:.0} events/s: p50"),
        format!("{p50:.1} ms"),
    )
    .baseline(baseline(b50), p50 / b50)
    .record();
    Figure::new(
        format!("latency at {rate:.0} events/s: p99"),
        format!("{p99:.1} ms"),
    )
    .baseline(baseline(b99), p99 / b99)
    .target("<= 100 ms", p99 <= 100.0)
    .record();
    Figure::new(
        format!("latency at {rate:.0} events/s: max"),
        format!("{max:.1} ms"),
    )
    .baseline(baseline(bmax), max / bmax)
    .target("<= 1000 ms", over_a_second == 0)
    .note(format!("{over_a_second} events over 1 s"))
    .record();
}

/// A plain consumer of the topic from its end, started before the generator: for each of the
/// next `events` records, the time from its Kafka timestamp to its receipt, in ms.
fn plain_consumer(topic: String, events: u64) -> std::thread::JoinHandle<Vec<f64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set(
            "bootstrap.servers",
            &payments_testkit::stack().kafka_brokers,
        )
        .set("group.id", unique_name("bench-latency-plain"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("kafka consumer");
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment
            .add_partition_offset(&topic, partition.id(), Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    std::thread::spawn(move || {
        let mut out = Vec::with_capacity(events as usize);
        while (out.len() as u64) < events {
            if let Some(message) = consumer.poll(Duration::from_secs(5)) {
                let message = message.expect("kafka message");
                let sent = message.timestamp().to_millis().expect("timestamp");
                let now = chrono::Utc::now().timestamp_millis();
                out.push((now - sent).max(0) as f64);
            }
        }
        out
    })
}
