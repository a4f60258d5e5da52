//! Analysis throughput on a generated 1,000,000-row CSV (about 65 MB), next to a baseline of the
//! `csv` crate reading the same bytes into a reused `ByteRecord` and doing nothing else.
//!
//! `cargo bench -p payments-csv --bench analyse` (rows with `ROWS=n`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use payments_csv::{publish_resolved, sha256_of, Analysis, ImportRef, Options};
use payments_testkit::report::Figure;
use uuid::Uuid;

const RUNS: usize = 3;

/// Deterministic rows in the sample files' shape; about 1 in 200 repeats a recent row.
fn generate(rows: usize) -> Vec<u8> {
    payments_csv::samples::large_csv(rows)
}

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = black_box(f());
        best = best.min(start.elapsed());
        last = Some(value);
    }
    match last {
        Some(value) => (best, value),
        None => unreachable!("RUNS > 0"),
    }
}

fn report(name: &str, rows: usize, bytes: usize, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    let rate = rows as f64 / secs;
    println!(
        "{name:<34} {:>8.1} ms {:>12.0} rows/s {:>8.1} MB/s",
        secs * 1e3,
        rate,
        bytes as f64 / secs / 1e6
    );
    rate
}

fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let data = generate(rows);
    println!(
        "{rows} rows, {:.1} MB generated; best of {RUNS} runs each",
        data.len() as f64 / 1e6
    );

    let (time, count) = best(|| {
        let mut reader = csv::ReaderBuilder::new().from_reader(&data[..]);
        let mut record = csv::ByteRecord::new();
        let mut count = 0usize;
        while reader.read_byte_record(&mut record).unwrap_or(false) {
            count += 1;
        }
        count
    });
    assert_eq!(count, rows);
    let baseline = report("baseline: csv ByteRecord, no work", rows, data.len(), time);

    let (time, _) = best(|| sha256_of(&data[..]).map(|d| d.size_bytes).unwrap_or(0));
    let sha = report("sha256 only", rows, data.len(), time);

    let options = Options::default();
    let (time, summary) = best(|| {
        Analysis::new(&options)
            .run(&data[..])
            .map(|(summary, _)| summary)
    });
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => panic!("analysis failed: {e}"),
    };
    assert_eq!(summary.rows, rows as u64);
    let analysis = report("analyse (no events)", rows, data.len(), time);

    // What uploads run: every row also checked as the ingester will, before publishing.
    let refs = payments_domain::ReferenceData::new(
        payments_domain::demo::demo_users()
            .into_iter()
            .map(|u| (u.user_id, u.username)),
        payments_domain::demo::CURRENCIES
            .iter()
            .map(|(code, alpha, _)| (*code, (*alpha).to_owned())),
    );
    let now = chrono::Utc::now();
    let (time, checked) = best(|| Analysis::new(&options).checked(&refs, now).run(&data[..]));
    let checked = match checked {
        Ok((checked, _)) => checked,
        Err(e) => panic!("analysis failed: {e}"),
    };
    assert_eq!(checked.invalid_rows, 0, "the generated rows are valid");
    let validated = report("analyse, every row checked", rows, data.len(), time);

    let import = ImportRef {
        import_id: Uuid::nil(),
        source_file: "bench.csv",
        sha256_hex: &summary.sha256,
        corrects: None,
    };
    // The publishing pass production runs over the stored copy, with the analysis' duplicate map.
    let resolved = match Analysis::new(&options).run(&data[..]) {
        Ok((_, resolved)) => resolved,
        Err(e) => panic!("analysis failed: {e}"),
    };
    let (time, published) = best(|| {
        let mut n = 0u64;
        publish_resolved(&data[..], &options, &import, &resolved, |e| {
            n += black_box(e).row_number & 1;
            Ok::<_, std::io::Error>(())
        })
        .map(|_| n)
    });
    assert!(published.is_ok());
    report(
        "publish_resolved (events built, no sink)",
        rows,
        data.len(),
        time,
    );

    println!(
        "unique {} duplicates {} suspicious {}",
        summary.unique, summary.duplicate_rows, summary.suspicious_rows
    );
    // What no analysis can skip: splitting the rows and the file's SHA-256 (its identity).
    let floor = 1.0 / (1.0 / baseline + 1.0 / sha);
    println!();
    Figure::new(
        format!("analyse a {}M-row CSV, one core", rows as f64 / 1e6),
        format!("{:.2}M rows/s", analysis / 1e6),
    )
    .baseline(
        format!("{:.1}M rows/s csv", baseline / 1e6),
        analysis / baseline,
    )
    .target(">= 10M rows/s", analysis >= 10e6)
    .note(format!(
        "{:.0} MB/s, SHA-256 on a second thread; csv split + SHA-256 alone: {:.1}M rows/s",
        analysis * data.len() as f64 / rows as f64 / 1e6,
        floor / 1e6
    ))
    .record();
    Figure::new(
        format!(
            "analyse a {}M-row CSV checking every row (uploads), one core",
            rows as f64 / 1e6
        ),
        format!("{:.2}M rows/s", validated / 1e6),
    )
    .baseline(
        format!("{:.2}M rows/s without the checks", analysis / 1e6),
        validated / analysis,
    )
    .note(format!(
        "the checks cost {:.0} ns per row",
        (1.0 / validated - 1.0 / analysis) * 1e9
    ))
    .record();
}
