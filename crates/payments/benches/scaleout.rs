//! Scale-out: `payments-events` with 6 partitions holding 1,000,000 events
//! (`PAYMENTS_BENCH_EVENTS`), drained by 1, 2 and 3 `payments ingester` processes in one
//! consumer group, each into a fresh database: events/s for each, against the same run's single
//! process. Then exactly-once under rebalance: two processes start, a third joins a third of the
//! way through and one of the first two leaves (SIGTERM) two thirds of the way through; the
//! stored rows must match what was produced in count and in the sum of amounts.
//!
//! Also the ingester's peak RSS (VmHWM) in every run. Run: `scripts/bench scaleout`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use payments_domain::{validate, Source};
use payments_generator::{EventFactory, Participants};
use payments_testkit::report::{anon_rss_mib, env_or, peak_rss_mib, CpuTimes, Figure};
use payments_testkit::{create_topics, produce, producer, stack, unique_name, TestDb};
use rust_decimal::Decimal;

const PARTITIONS: i32 = 6;

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

struct Topics {
    stream: String,
    import: String,
}

async fn run() {
    let events: usize = env_or("PAYMENTS_BENCH_EVENTS", 1_000_000);
    let seed_db = TestDb::create().await;
    let (users, currencies) = payments_store::load_participants(&seed_db.pool)
        .await
        .expect("participants");
    let refs = payments_store::load_reference_data(&seed_db.pool)
        .await
        .expect("reference data");
    seed_db.drop_database().await;
    let mut factory = EventFactory::new(Participants { users, currencies }, 0.0, Some(11));
    let now = Utc::now();
    let mut expected_sum = Decimal::ZERO;
    let records: Vec<(Option<String>, Vec<u8>)> = (0..events)
        .map(|_| {
            let (key, payload) = factory.next_record();
            let payment =
                validate(&payload, Source::Stream, &refs, now).expect("generated events are valid");
            expected_sum += payment.amount;
            (Some(key), payload)
        })
        .collect();
    let topics = Topics {
        stream: unique_name("bench-scale"),
        import: unique_name("bench-scale-import"),
    };
    create_topics(&[&topics.stream, &topics.import], PARTITIONS).await;
    produce(&producer(), &topics.stream, records).await;

    println!();
    println!("scale-out benchmark: {events} events on {PARTITIONS} partitions, `payments ingester` processes in one group");
    let mut single = None;
    let default_writers = payments_ingester::IngesterConfig::default().writers;
    // `PAYMENTS_BENCH_SCALE=1x1,2x1` picks the runs (processes x writers).
    let runs: Vec<(usize, usize)> = match std::env::var("PAYMENTS_BENCH_SCALE") {
        Ok(list) => list
            .split(',')
            .filter_map(|run| run.split_once('x'))
            .filter_map(|(p, w)| Some((p.trim().parse().ok()?, w.trim().parse().ok()?)))
            .collect(),
        Err(_) => vec![(1, 1), (2, 1), (3, 1), (1, default_writers)],
    };
    for (processes, writers) in runs {
        let run = drain(&topics, processes, writers, events, expected_sum, None).await;
        let rate = events as f64 / run.took.as_secs_f64();
        let base = *single.get_or_insert(rate);
        let mut figure = Figure::new(
            format!(
                "scale-out: {processes} process{} x {writers} writer{}",
                if processes == 1 { "" } else { "es" },
                if writers == 1 { "" } else { "s" }
            ),
            format!("{rate:.0} ev/s"),
        )
        .note(format!(
            "CPU {:.0}% busy; peak RSS {:.0} MiB per process",
            run.cpu_busy * 100.0,
            run.peak_rss_mib
        ));
        if single.is_some() && (processes, writers) != (1, 1) {
            figure = figure
                .baseline(format!("{base:.0} ev/s x1"), rate / base)
                .target("grows until PostgreSQL/CPU is the limit", true);
        }
        figure.record();
        // Issue 24's goal: at most 96 MiB, at 0.9x the default's throughput or better.
        Figure::new(
            format!("ingester peak RSS ({processes} x {writers} run)"),
            format!("{:.0} MiB", run.peak_rss_mib),
        )
        .target("<= 96 MiB", run.peak_rss_mib <= 96.0)
        .note(format!(
            "anonymous (without the binary's code) {:.0} MiB at most{}",
            run.peak_anon_mib,
            kafka_properties()
                .map(|p| format!("; PAYMENTS_KAFKA_PROPERTIES={p}"))
                .unwrap_or_default()
        ))
        .record();
    }
    let run = drain(
        &topics,
        2,
        default_writers,
        events,
        expected_sum,
        Some(events),
    )
    .await;
    Figure::new(
        "exactly-once: 2 processes, +1 joins, 1 leaves",
        format!("{} rows, sum {}", run.rows, run.sum),
    )
    .baseline(format!("{events} produced, sum {expected_sum}"), 1.0)
    .target("count and sum equal", true)
    .note(format!(
        "{:.0} ev/s through both rebalances",
        events as f64 / run.took.as_secs_f64()
    ))
    .record();
}

struct Drained {
    took: Duration,
    cpu_busy: f64,
    peak_rss_mib: f64,
    /// The largest `RssAnon` sampled (every 50 ms): the peak without the binary's code.
    peak_anon_mib: f64,
    rows: i64,
    sum: Decimal,
}

/// Drains the topic with `processes` ingesters of `writers` connections into a fresh database and checks count and sum.
/// With `churn`, a further process joins after a third and the first leaves after two thirds.
async fn drain(
    topics: &Topics,
    processes: usize,
    writers: usize,
    events: usize,
    expected_sum: Decimal,
    churn: Option<usize>,
) -> Drained {
    let db = TestDb::create().await;
    let group = unique_name("bench-scale");
    let cpu = CpuTimes::now();
    let started = Instant::now();
    let mut children: Vec<Child> = (0..processes)
        .map(|_| spawn_ingester(&db.url, &group, topics, writers))
        .collect();
    let (mut peak, mut peak_anon): (f64, f64) = (0.0, 0.0);
    let (mut joined, mut left) = (false, false);
    loop {
        let applied = payments_testkit::applied_records(&db.pool)
            .await
            .unwrap_or(0) as usize;
        for child in &children {
            peak = peak.max(peak_rss_mib(child.id()));
            peak_anon = peak_anon.max(anon_rss_mib(child.id()));
        }
        if applied >= events {
            break;
        }
        if let Some(total) = churn {
            if !joined && applied >= total / 3 {
                joined = true;
                children.push(spawn_ingester(&db.url, &group, topics, writers));
            }
            if !left && applied >= total * 2 / 3 {
                left = true;
                let mut leaving = children.remove(0);
                stop(&mut leaving);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{processes} ingesters did not apply {events} events in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let cpu_busy = cpu.busy_since();
    for child in &mut children {
        stop(child);
    }
    let (rows, sum): (i64, Decimal) =
        sqlx::query_as("SELECT count(*), COALESCE(sum(amount), 0) FROM transactions")
            .fetch_one(&db.pool)
            .await
            .expect("count and sum");
    let rejected: i64 = sqlx::query_scalar("SELECT count(*) FROM rejected_events")
        .fetch_one(&db.pool)
        .await
        .expect("rejections");
    db.drop_database().await;
    assert_eq!(rows, events as i64, "every event is one row");
    assert_eq!(
        sum, expected_sum,
        "the stored amounts add up to the produced ones"
    );
    assert_eq!(rejected, 0, "no valid event was rejected");
    Drained {
        took,
        cpu_busy,
        peak_rss_mib: peak,
        peak_anon_mib: peak_anon,
        rows,
        sum,
    }
}

fn kafka_properties() -> Option<String> {
    std::env::var("PAYMENTS_KAFKA_PROPERTIES")
        .ok()
        .filter(|p| !p.is_empty())
}

fn spawn_ingester(database_url: &str, group: &str, topics: &Topics, writers: usize) -> Child {
    Command::new(env!("CARGO_BIN_EXE_payments"))
        .arg("ingester")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PAYMENTS_KAFKA_BROKERS", &stack().kafka_brokers)
        .env("PAYMENTS_DATABASE_URL", database_url)
        .env("PAYMENTS_GROUP_ID", group)
        .env("PAYMENTS_STREAM_TOPIC", &topics.stream)
        .env("PAYMENTS_IMPORT_TOPIC", &topics.import)
        .env("PAYMENTS_INGESTER_ADDR", "127.0.0.1:0")
        .env("PAYMENTS_LOG", "warn")
        // What the memory curve varies (librdkafka's queue), when set.
        .envs(kafka_properties().map(|p| ("PAYMENTS_KAFKA_PROPERTIES", p)))
        // One connection per process: scale-out by processes, as a sink connector scales.
        .env("PAYMENTS_WRITERS", writers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start payments ingester")
}

/// SIGTERM, then wait: the process leaves the group after committing its batch.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
