//! `payments sample-csvs`: writes the deterministic sample CSV files.

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct SampleCsvsArgs {
    /// Directory to write into (created if missing).
    #[arg(default_value = "csvs")]
    pub(crate) dir: std::path::PathBuf,
}

pub fn exec(args: SampleCsvsArgs) -> anyhow::Result<()> {
    for path in payments_csv::sample_csvs(&args.dir)
        .with_context(|| format!("writing {}", args.dir.display()))?
    {
        println!("{}", path.display());
    }
    Ok(())
}
