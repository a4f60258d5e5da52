//! Analysis throughput on a generated 1,000,000-row CSV (about 65 MB), next to a baseline of the
//! `csv` crate reading the same bytes into a reused `ByteRecord` and doing nothing else.
//!
//! `cargo bench -p payments-csv --bench analyse` (rows with `ROWS=n`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use payments_csv::{publish_resolved, sha256_of, Analysis, ImportRef, Options};
use payments_testkit::report::{peak_rss_mib, Figure};
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

/// Set for a child run of this bench: generate the file, analyse it once with this many
/// `memory_rows` (`none`: do not analyse), print the process's peak RSS in MiB and exit. A
/// process of its own per setting, since memory freed by one analysis stays with the allocator
/// and would hide the next one's.
const PEAK_CHILD: &str = "ANALYSE_PEAK_MEMORY_ROWS";

/// The peak RSS of a child run generating `rows` rows and analysing them with `memory_rows`.
fn child_peak_mib(rows: usize, memory_rows: Option<usize>) -> f64 {
    let setting = memory_rows.map_or("none".to_owned(), |n| n.to_string());
    let output = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env(PEAK_CHILD, setting)
        .env("ROWS", rows.to_string())
        .output()
        .expect("a child run");
    assert!(output.status.success(), "child run: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the child's peak RSS")
}

fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if let Ok(setting) = std::env::var(PEAK_CHILD) {
        let data = generate(rows);
        if let Ok(memory_rows) = setting.parse() {
            let options = Options {
                memory_rows,
                ..Options::default()
            };
            Analysis::new(&options)
                .run(&data[..])
                .expect("the analysis");
        }
        println!("{:.1}", peak_rss_mib(std::process::id()));
        return;
    }
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

    // Memory against speed: past `memory_rows` the rows' records and values go to files.
    println!();
    let mut curve = Vec::new();
    for memory_rows in [1 << 14, 1 << 16, 1 << 18, rows + 1] {
        let options = Options {
            memory_rows,
            ..Options::default()
        };
        let (time, _) = best(|| Analysis::new(&options).run(&data[..]).map(|_| ()));
        let peak = child_peak_mib(rows, Some(memory_rows));
        let rate = report(
            &format!("analyse, memory_rows {memory_rows}"),
            rows,
            data.len(),
            time,
        );
        curve.push((memory_rows, rate, peak));
    }
    let holding_the_file = child_peak_mib(rows, None);
    println!();
    Figure::new(
        format!("analyse a {}M-row CSV", rows as f64 / 1e6),
        format!("{:.2}M rows/s", analysis / 1e6),
    )
    .baseline(
        format!("{:.1}M rows/s csv", baseline / 1e6),
        analysis / baseline,
    )
    .target(">= 10M rows/s", analysis >= 10e6)
    .note(format!(
        "{:.0} MB/s, rows read on one thread, SHA-256 and the duplicate records on two more; \
         csv split + SHA-256 alone: {:.1}M rows/s",
        analysis * data.len() as f64 / rows as f64 / 1e6,
        floor / 1e6
    ))
    .record();
    for (memory_rows, rate, peak) in curve {
        let default = memory_rows == Options::default().memory_rows;
        Figure::new(
            format!(
                "analyse, records in memory up to {memory_rows} rows{}",
                if default { " (default)" } else { "" }
            ),
            format!("{:.2}M rows/s", rate / 1e6),
        )
        .baseline(
            format!("{:.1}M rows/s csv split + SHA-256", floor / 1e6),
            rate / floor,
        )
        .target(">= 0.5x the floor", rate >= 0.5 * floor)
        .note(format!(
            "peak RSS {peak:.0} MiB analysing it, {holding_the_file:.0} MiB holding the file{}",
            if memory_rows > rows {
                ": nothing spilled"
            } else {
                ""
            }
        ))
        .record();
    }
    Figure::new(
        format!(
            "analyse a {}M-row CSV checking every row (uploads)",
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
