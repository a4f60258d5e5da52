//! Writes the deterministic sample CSVs: `cargo run -p payments-csv --example sample-csvs -- csvs`.

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "csvs".to_owned());
    for path in payments_csv::sample_csvs(std::path::Path::new(&dir))? {
        println!("{}", path.display());
    }
    Ok(())
}
