//! `payments import FILE`: the web app's import from a terminal, with a progress bar; and
//! `payments users import FILE`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

/// Imports `file` as `request` says (its file name is the file's).
pub async fn run(
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

/// Loads the users of `file` and prints what changed and every row that was not loaded.
pub async fn users(pool: &payments_store::PgPool, file: &Path) -> anyhow::Result<()> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let summary = payments_store::import_users(pool, handle)
        .await
        .with_context(|| format!("loading users from {}", file.display()))?;
    println!(
        "rows {}  added {}  updated {}  deactivated {}  unchanged {}  invalid {}",
        summary.rows,
        summary.added,
        summary.updated,
        summary.deactivated,
        summary.unchanged,
        summary.not_loaded
    );
    for i in &summary.invalid {
        println!("  invalid row {}: {}", i.row, i.reason);
    }
    if summary.not_loaded > summary.invalid.len() as u64 {
        println!("  (the first {} of them listed)", summary.invalid.len());
    }
    Ok(())
}
