//! A generated 1,000,000-row CSV (about 65 MB; `PAYMENTS_BENCH_ROWS` to change) through the
//! import pipeline against the real stack, next to baselines from the same run:
//! - upload → all rows published, against merely putting the same bytes into S3 plus
//!   publishing the same number of records with a plain producer;
//! - upload → all rows committed (an ingester with its defaults running alongside), against
//!   `COPY` of the very rows that landed into a fresh copy of the schema.

use std::time::{Duration, Instant};

use payments_csv::{Analysis, Options};
use payments_imports::Pipeline;
use payments_ingester::IngesterConfig;
use payments_testkit::report::{env_or, Figure};
use payments_testkit::{create_topics, produce, producer, unique_name, wait_for, TestDb};
use tokio_util::sync::CancellationToken;

fn main() {
    payments_testkit::bench_runtime().block_on(run());
}

async fn run() {
    let rows: usize = env_or("PAYMENTS_BENCH_ROWS", 1_000_000);
    let bytes = payments_csv::samples::large_csv(rows);
    let mb = bytes.len() as f64 / 1e6;

    let summary = Analysis::new(&Options::default())
        .run(&bytes[..])
        .map(|(summary, _)| summary)
        .expect("generated file is valid");

    let db = TestDb::create().await;
    let topic = unique_name("bench-import");
    let stream_topic = unique_name("bench-import-stream");
    let baseline_topic = unique_name("bench-baseline");
    create_topics(&[&topic, &stream_topic, &baseline_topic], 3).await;
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

    // Upload -> published, alone on the machine as the baseline was.
    let started = Instant::now();
    import(&db, &topic, &bytes).await;
    let publish_secs = started.elapsed().as_secs_f64();
    let unique = summary.unique as i64;
    assert_eq!(payments_testkit::topic_record_count(&topic), unique);
    db.drop_database().await;

    // Upload -> committed: the same file into a fresh database and topic, the ingester (with
    // its defaults) running alongside as in the platform, its group joined before the upload.
    let db = TestDb::create().await;
    let topic = unique_name("bench-import-committed");
    create_topics(&[&topic], 3).await;
    let shutdown = CancellationToken::new();
    let ingester = payments_testkit::start_ingester_ready(
        IngesterConfig {
            group_id: unique_name("bench-import"),
            stream_topic,
            import_topic: topic.clone(),
            ..IngesterConfig::default()
        },
        db.pool.clone(),
        "bench-import",
        shutdown.clone(),
    )
    .await;
    let started = Instant::now();
    import(&db, &topic, &bytes).await;
    let pool = db.pool.clone();
    wait_for(
        "the ingester to commit every row",
        Duration::from_secs(600),
        || async {
            payments_testkit::applied_records(&pool)
                .await
                .filter(|done| *done >= unique)
        },
    )
    .await;
    let commit_secs = started.elapsed().as_secs_f64();
    shutdown.cancel();
    ingester.wait().await.expect("ingester stops");
    let copy_secs = copy_the_landed_rows(&db, unique).await;

    // Cross-file duplicates, against the transactions that just landed, topped up to 1M (the
    // file's repeats did not land; the extra rows are its first rows three days later): a
    // file of new payments (the next day's) without the lookup, then with it, then the worst
    // case, a file whose every payment landed already.
    let landed = top_up(&db, 1_000_000.max(unique)).await;
    let next_day = String::from_utf8(bytes.clone())
        .expect("utf-8")
        .replace("2025-07-07", "2025-07-08");
    let unchecked = Pipeline::new(
        db.pool.clone(),
        payments_testkit::object_store(&payments_testkit::stack().s3_bucket),
        producer(),
        unique_name("bench-cross-off"),
        Options::default(),
    )
    .with_approval(payments_imports::ApprovalPolicy {
        cross_file_duplicates: false,
        ..Default::default()
    });
    let started = Instant::now();
    let report = unchecked
        .import(
            &payments_imports::ImportRequest::new("next-day.csv"),
            next_day.as_bytes(),
        )
        .await
        .expect("import");
    assert_eq!(report.status, payments_imports::ImportStatus::Published);
    let unchecked_secs = started.elapsed().as_secs_f64();
    let users = payments_domain::demo::demo_users();
    let extra = format!(
        "{},{},1.00,USD,2025-07-09 00:00:00 UTC,completed\n",
        users[0].username, users[1].username
    );
    // The lookup alone, reserving nothing (new payments again: five days on; the top-up's
    // rows are three days on).
    let looked_up_bytes = format!("{}{extra}", next_day.replace("2025-07-08", "2025-07-12"));
    let started = Instant::now();
    let looked_up = unchecked
        .with_approval(payments_imports::ApprovalPolicy {
            reservations: false,
            ..Default::default()
        })
        .import(
            &payments_imports::ImportRequest::new("day-after.csv"),
            looked_up_bytes.as_bytes(),
        )
        .await
        .expect("import");
    let looked_up_secs = started.elapsed().as_secs_f64();
    assert_eq!(looked_up.summary.map(|s| s.cross_file_duplicates), Some(0));
    let checked_bytes = format!("{next_day}{extra}");
    let started = Instant::now();
    let checked = import(
        &db,
        &unique_name("bench-cross-on"),
        checked_bytes.as_bytes(),
    )
    .await;
    let checked_secs = started.elapsed().as_secs_f64();
    assert_eq!(checked.summary.map(|s| s.cross_file_duplicates), Some(0));
    // Its one new payment is not `extra`: the import above reserved that one.
    let mut repeated = bytes.clone();
    repeated.extend_from_slice(extra.replace("00:00:00", "00:00:01").as_bytes());
    let started = Instant::now();
    let held = import(&db, &unique_name("bench-cross-all"), &repeated).await;
    let held_secs = started.elapsed().as_secs_f64();
    let held_rows = held.summary.map_or(0, |s| s.cross_file_duplicates);
    assert_eq!(held_rows as i64, unique, "every landed payment is found");
    db.drop_database().await;

    println!();
    println!(
        "import benchmark: {rows} rows, {mb:.1} MB, {} unique, same machine, same run",
        summary.unique
    );
    Figure::new(
        format!("upload -> all {}M rows published", rows as f64 / 1e6),
        format!("{publish_secs:.2} s"),
    )
    .baseline(
        format!("{baseline_secs:.2} s S3+produce"),
        publish_secs / baseline_secs,
    )
    .target(
        "<= 1.5 s and <= 1.2x",
        publish_secs <= 1.5 && publish_secs / baseline_secs <= 1.2,
    )
    .note(format!(
        "baseline: S3 put {s3_secs:.2} s + plain produce {produce_secs:.2} s"
    ))
    .record();
    Figure::new(
        format!("upload -> all {}M rows committed", rows as f64 / 1e6),
        format!("{commit_secs:.2} s"),
    )
    .baseline(format!("{copy_secs:.2} s COPY"), commit_secs / copy_secs)
    .target("<= 1.5x COPY", commit_secs / copy_secs <= 1.5)
    .note("ingester with its defaults running alongside")
    .record();
    let per_million = (checked_secs - unchecked_secs) / (rows as f64 / 1e6);
    Figure::new(
        format!(
            "upload -> published, cross-file check vs {}M landed",
            landed as f64 / 1e6
        ),
        format!("{checked_secs:.2} s"),
    )
    .baseline(
        format!("{unchecked_secs:.2} s unchecked"),
        checked_secs / unchecked_secs,
    )
    .target("<= 1.5x unchecked", checked_secs / unchecked_secs <= 1.5)
    .note(format!(
        "{rows} new payments looked up and reserved among {landed} landed: {per_million:.2} s per 1M rows"
    ))
    .record();
    let reserve_per_million = (checked_secs - looked_up_secs) / (rows as f64 / 1e6);
    Figure::new(
        "upload -> published, the lookup with reservations vs without",
        format!("{checked_secs:.2} s"),
    )
    .baseline(
        format!("{looked_up_secs:.2} s lookup only"),
        checked_secs / looked_up_secs,
    )
    .target("informational", true)
    .note(format!(
        "reserving each payment against concurrent imports: {reserve_per_million:.2} s per 1M rows"
    ))
    .record();
    Figure::new(
        "upload -> held, every row a cross-file duplicate",
        format!("{held_secs:.2} s"),
    )
    .baseline(
        format!("{unchecked_secs:.2} s unchecked"),
        held_secs / unchecked_secs,
    )
    .target("informational", true)
    .note(format!(
        "{held_rows} rows found landed, recorded and held; 1 published"
    ))
    .record();
}

/// Imports `bytes` through the pipeline into `db`, publishing to `topic`; every row is
/// published, or (cross-file duplicates) held for approval.
async fn import(db: &TestDb, topic: &str, bytes: &[u8]) -> payments_imports::ImportReport {
    let pipeline = Pipeline::new(
        db.pool.clone(),
        payments_testkit::object_store(&payments_testkit::stack().s3_bucket),
        producer(),
        topic.to_owned(),
        Options::default(),
    );
    let report = pipeline
        .import(&payments_imports::ImportRequest::new("bench.csv"), bytes)
        .await
        .expect("import");
    assert!(
        matches!(
            report.status,
            payments_imports::ImportStatus::Published
                | payments_imports::ImportStatus::AwaitingApproval
        ),
        "{}",
        report.message
    );
    report
}

/// Adds imported transactions until `db` holds `total`; returns how many it holds.
async fn top_up(db: &TestDb, total: i64) -> i64 {
    let landed: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    sqlx::query(
        "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id,
             transaction_date, status, source, import_id, import_row, suspicious)
         SELECT gen_random_uuid(), sender_id, receiver_id, amount, currency_id,
                transaction_date + interval '3 days', status, source, import_id,
                import_row + 10000000, suspicious
           FROM transactions ORDER BY import_row LIMIT $1",
    )
    .bind((total - landed).max(0))
    .execute(&db.pool)
    .await
    .expect("top up");
    sqlx::query_scalar("SELECT count(*) FROM transactions")
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

/// Copies the rows that landed out (binary `COPY TO`), then times `COPY FROM` of exactly those
/// bytes into a freshly migrated database.
async fn copy_the_landed_rows(db: &TestDb, expected: i64) -> f64 {
    const COLUMNS: &str = "transaction_id, sender_id, receiver_id, amount, currency_id, \
        transaction_date, status, source, import_id, import_row, suspicious";
    let mut conn = db.pool.acquire().await.expect("connection");
    let mut out = conn
        .copy_out_raw(&format!(
            "COPY transactions ({COLUMNS}) TO STDOUT (FORMAT binary)"
        ))
        .await
        .expect("COPY TO");
    let mut data = Vec::new();
    use futures::StreamExt;
    while let Some(chunk) = out.next().await {
        data.extend_from_slice(&chunk.expect("COPY data"));
    }
    drop(out);
    drop(conn);
    let fresh = TestDb::create().await;
    let mut conn = fresh.pool.acquire().await.expect("connection");
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY transactions ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .expect("COPY FROM");
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.expect("COPY data");
    }
    let copied = copy.finish().await.expect("finish COPY");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(copied as i64, expected);
    drop(conn);
    fresh.drop_database().await;
    took
}
