//! Writes a large deterministic CSV for load tests: `large-csv PATH ROWS` (16,300,000 rows ≈ 1 GiB).

use std::io::BufWriter;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "large.csv".into());
    let rows: usize = args
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let file = std::fs::File::create(&path)?;
    payments_csv::samples::write_large_csv(BufWriter::with_capacity(1 << 20, file), rows)?;
    eprintln!("wrote {rows} rows to {path}");
    Ok(())
}
