//! `payments import FILE`: the web app's import from a terminal, with a progress line.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, ReadBuf};

/// Counts the bytes read, for the progress line.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read
            .fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        poll
    }
}

pub async fn run(
    pipeline: payments_pipeline::Pipeline,
    file: &Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let total = handle.metadata().await.map(|m| m.len()).unwrap_or(0).max(1);
    let read = Arc::new(AtomicU64::new(0));
    let progress = tokio::spawn({
        let read = read.clone();
        async move {
            loop {
                let done = read.load(Ordering::Relaxed);
                eprint!(
                    "\r{:>5.1}% of {} bytes",
                    100.0 * done as f64 / total as f64,
                    total
                );
                if done >= total {
                    eprintln!("\rstored and checked; publishing…");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload.csv");
    let report = pipeline
        .import(
            name,
            Counting {
                inner: handle,
                read,
            },
            dry_run,
        )
        .await;
    progress.abort();
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
            "rows {}  unique {}  duplicates {}  suspicious {}",
            summary.rows, summary.unique, summary.duplicate_rows, summary.suspicious_rows
        );
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
    }
    if report.status == "failed" {
        anyhow::bail!("the file was not imported");
    }
    Ok(())
}
