//! Analyses a CSV file with the bounded path, then publishes its unique rows from a second read
//! to a sink that drops them; prints counts, times and the process's peak memory:
//! `cargo run --release -p payments-csv --example publish-file -- FILE`.

use std::time::Instant;

use payments_csv::{publish_resolved, Analysis, ImportRef, Options};
use uuid::Uuid;

fn peak() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: publish-file FILE")?;
    let options = Options::default();
    let start = Instant::now();
    let (summary, resolved) = Analysis::new(&options).run(std::fs::File::open(&path)?)?;
    let analysed = start.elapsed();
    println!(
        "{path}: {} rows, {} unique, {} duplicate rows, {} suspicious; analysis {:.3} s, {:.0} rows/s, peak memory {}",
        summary.rows,
        summary.unique,
        summary.duplicate_rows,
        summary.suspicious_rows,
        analysed.as_secs_f64(),
        summary.rows as f64 / analysed.as_secs_f64(),
        peak()
    );
    let import = ImportRef {
        import_id: Uuid::new_v4(),
        source_file: "publish-file.csv",
        sha256_hex: &summary.sha256,
        corrects: None,
    };
    let start = Instant::now();
    let mut suspicious = 0u64;
    let emitted = publish_resolved(
        std::fs::File::open(&path)?,
        &options,
        &import,
        &resolved,
        |event| {
            suspicious += u64::from(event.suspicious);
            Ok::<_, std::io::Error>(())
        },
    )?;
    let published = start.elapsed();
    println!(
        "published {emitted} events ({suspicious} suspicious) in {:.3} s, {:.0} rows/s; duplicate map {} bytes",
        published.as_secs_f64(),
        summary.rows as f64 / published.as_secs_f64(),
        resolved.memory_bytes()
    );
    println!("peak memory: {}", peak());
    Ok(())
}
