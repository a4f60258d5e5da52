//! A generated 1,000,000-row CSV (about 65 MB; `PAYMENTS_BENCH_ROWS` to change) through the
//! import pipeline against the real stack, next to baselines from the same run:
//! - analysis alone (in memory) in rows/s;
//! - upload → all rows published, against the time to merely put the same bytes into S3 plus
//!   publish the same number of records with a plain producer.

use std::time::Instant;

use payments_csv::{analyse, Options};
use payments_imports::Pipeline;
use payments_testkit::{create_topics, produce, producer, unique_name, TestDb};

const ANALYSIS_TARGET: f64 = 1_000_000.0;
const PUBLISH_TARGET_SECS: f64 = 5.0;

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn run() {
    let rows: usize = std::env::var("PAYMENTS_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bytes = payments_csv::samples::large_csv(rows);
    let mb = bytes.len() as f64 / 1e6;

    let started = Instant::now();
    let summary = analyse(&bytes[..], &Options::default()).expect("generated file is valid");
    let analysis_secs = started.elapsed().as_secs_f64();
    let analysis_rate = rows as f64 / analysis_secs;

    let db = TestDb::create().await;
    let topic = unique_name("bench-import");
    let baseline_topic = unique_name("bench-baseline");
    create_topics(&[&topic, &baseline_topic], 3).await;
    let objects = payments_testkit::object_store(&payments_testkit::stack().s3_bucket);
    objects.ensure_bucket().await.expect("bucket");

    // Baseline: the two transfers the pipeline cannot avoid, done plainly.
    let started = Instant::now();
    objects
        .put_stream(
            &format!("{}.csv", unique_name("baseline")),
            &bytes[..],
            "text/csv",
        )
        .await
        .expect("put");
    let s3_secs = started.elapsed().as_secs_f64();
    let records: Vec<(Option<String>, Vec<u8>)> = (0..summary.unique)
        .map(|i| {
            (
                Some(format!("{i:036}")),
                format!("{{\"row\":{i},\"padding\":\"{}\"}}", "x".repeat(230)).into_bytes(),
            )
        })
        .collect();
    let started = Instant::now();
    produce(&producer(), &baseline_topic, records).await;
    let produce_secs = started.elapsed().as_secs_f64();
    let baseline_secs = s3_secs + produce_secs;

    let pipeline = Pipeline::new(
        db.pool.clone(),
        objects,
        producer(),
        topic.clone(),
        Options::default(),
    );
    let started = Instant::now();
    let report = pipeline
        .import(
            &payments_imports::ImportRequest::new("bench.csv"),
            &bytes[..],
        )
        .await
        .expect("import");
    let publish_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        report.status,
        payments_imports::ImportStatus::Published,
        "{}",
        report.message
    );
    assert_eq!(
        payments_testkit::topic_record_count(&topic) as u64,
        summary.unique
    );
    db.drop_database().await;

    println!();
    println!(
        "import benchmark: {rows} rows, {mb:.1} MB, {} unique, same machine, same run",
        summary.unique
    );
    println!(
        "  analysis (in memory):         {:>10.0} rows/s  {:.2} s  (target >= {ANALYSIS_TARGET:.0})  {}",
        analysis_rate,
        analysis_secs,
        if analysis_rate >= ANALYSIS_TARGET { "MET" } else { "NOT MET" }
    );
    println!("  baseline S3 put + plain produce: {baseline_secs:>7.2} s  (S3 {s3_secs:.2} s, produce {produce_secs:.2} s)");
    println!(
        "  upload -> all published:      {:>10.2} s  ({:.2}x baseline; target <= {PUBLISH_TARGET_SECS} s)  {}",
        publish_secs,
        publish_secs / baseline_secs,
        if publish_secs <= PUBLISH_TARGET_SECS { "MET" } else { "NOT MET" }
    );
    println!("  peak RSS of this process:     {:>10.0} MiB (includes the {mb:.0} MB file held in memory)", peak_rss_mib());
}
