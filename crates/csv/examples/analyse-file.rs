//! Analyses a CSV file and prints the counts, the time taken and the process's peak memory:
//! `cargo run --release -p payments-csv --example analyse-file -- FILE`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: analyse-file FILE")?;
    let start = Instant::now();
    let file = std::fs::File::open(&path)?;
    let summary = payments_csv::Analysis::new(&payments_csv::Options::default())
        .run(file)
        .map(|(summary, _)| summary)?;
    let elapsed = start.elapsed();
    println!(
        "{path}: {} rows, {} unique, {} duplicate rows, {} suspicious, {} bytes, sha256 {}",
        summary.rows,
        summary.unique,
        summary.duplicate_rows,
        summary.suspicious_rows,
        summary.size_bytes,
        summary.sha256
    );
    println!(
        "{:.3} s, {:.0} rows/s",
        elapsed.as_secs_f64(),
        summary.rows as f64 / elapsed.as_secs_f64()
    );
    // Peak resident memory, where the platform reports it (Linux).
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
            println!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
        }
    }
    Ok(())
}
