//! `payments import FILE`: the web app's import from a terminal, with a progress bar; prints
//! what became of it in the words the web page and the API use.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::PipelineArgs;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,
    /// The CSV file.
    pub(crate) file: std::path::PathBuf,
    /// Check every row against the database; publish nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Who starts the import, as recorded and shown; default: the OS user (`$USER`).
    #[arg(long = "as", value_name = "NAME")]
    pub(crate) started_by: Option<String>,
    /// The file's control totals as the sender states them, per currency `CURRENCY=AMOUNT` or
    /// `CURRENCY=ROWS:AMOUNT`, comma-separated (`USD=12:1234.50,EUR=99.00`): any difference
    /// stops the import before anything is published.
    #[arg(long, value_name = "TOTALS")]
    pub(crate) expect: Option<payments_imports::ExpectedTotals>,
    /// Hold the import until a second identity approves it, whatever the policy says.
    #[arg(long)]
    pub(crate) require_approval: bool,
    /// The file corrects this import's rows that did not land: its `row_number` column (as in
    /// the import's not-landed.csv) names the row each line replaces.
    #[arg(long, value_name = "IMPORT_ID")]
    pub(crate) corrects: Option<uuid::Uuid>,
}

/// `payments import FILE`: the request from the flags, the OS user as the one who starts it.
pub async fn exec(args: ImportArgs) -> anyhow::Result<()> {
    let started_by = args
        .started_by
        .or_else(|| std::env::var("USER").ok())
        .filter(|name| !name.trim().is_empty());
    let request = payments_imports::ImportRequest {
        dry_run: args.dry_run,
        started_by,
        expected_totals: args.expect,
        require_approval: args.require_approval,
        corrects: args.corrects,
        ..payments_imports::ImportRequest::default()
    };
    run(
        args.pipeline.pipeline("payments-csv").await?,
        &args.file,
        request,
    )
    .await
}

/// Imports `file` as `request` says (its file name is the file's).
async fn run(
    pipeline: payments_imports::Pipeline,
    file: &Path,
    request: payments_imports::ImportRequest,
) -> anyhow::Result<()> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let total = handle.metadata().await.map(|m| m.len()).unwrap_or(0);
    // Reading is storing and checking; publishing follows once the bar is full.
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}) stored and checked",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload.csv");
    let request = payments_imports::ImportRequest {
        file_name: name.to_owned(),
        ..request
    };
    let report = pipeline.import(&request, bar.wrap_async_read(handle)).await;
    bar.finish_and_clear();
    let report = report?;
    println!("{}", report.message);
    println!(
        "import id: {}  status: {}  object: {}",
        report.id,
        report.status,
        report.object_key.as_deref().unwrap_or("-")
    );
    if let Some(summary) = &report.summary {
        println!(
            "rows {}  unique {}  duplicates {}  suspicious {}  invalid {}  seen in another file {}",
            summary.rows,
            summary.unique,
            summary.duplicate_rows,
            summary.suspicious_rows,
            summary.invalid_rows,
            summary.cross_file_duplicates
        );
        let totals = &summary.totals;
        for (what, figures) in [
            ("file", &totals.file),
            ("unique", &totals.unique),
            ("suspicious", &totals.suspicious),
            ("invalid", &totals.invalid),
            ("to publish", &totals.publishable),
            ("held", &totals.held),
        ] {
            println!("totals, {what:<10}  {figures}");
        }
        for d in summary.duplicates.iter().take(50) {
            println!(
                "  duplicate row {} (same as row {}): {:?}",
                d.row, d.first_row, d.values
            );
        }
        for s in summary.suspicious.iter().take(50) {
            println!("  suspicious row {}: {:?} {:?}", s.row, s.reasons, s.values);
        }
        for i in summary.invalid.iter().take(50) {
            println!("  invalid row {}: {}", i.row, i.reasons.join("; "));
        }
        for c in summary.cross_file.iter().take(50) {
            println!(
                "  held row {}: the same payment landed from import {}, row {}",
                c.row, c.seen_import_id, c.seen_row
            );
        }
    }
    if report.status == payments_imports::ImportStatus::Failed {
        anyhow::bail!("the file was not imported");
    }
    Ok(())
}
