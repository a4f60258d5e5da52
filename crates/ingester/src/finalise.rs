//! Moves imports to `done` once the data says so, so the history page, the JSON API, the
//! `PaymentImport` status and dashboards agree without anyone reading an import first.
//!
//! A loop rather than a step of every batch transaction: counting an import's rows is a scan
//! of its transactions, which per batch would cost as much as the batch itself for a large file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use payments_store::PgPool;
use tokio_util::sync::CancellationToken;

use crate::health::{Health, StatusLabel};

/// The dashboard totals gain rows with every batch; folding them every minute keeps the
/// dashboard's questions reading few rows (one fold is a few index lookups per changed key).
const COMPACT_TOTALS_EVERY: Duration = Duration::from_secs(60);

/// Also keeps the `imports{status}` gauge current and compacts the dashboard totals: the
/// finaliser is the one loop that already works on the database on a schedule.
pub(crate) async fn run(
    pool: PgPool,
    health: Arc<Health>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut compacted = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        match payments_store::finalise_imports(&pool).await {
            Ok(done) => {
                for id in done {
                    tracing::info!(import = %id, "import done: every published row ingested or rejected");
                }
            }
            // The next tick tries again; the write path reports database outages on /readyz.
            Err(e) => tracing::debug!(error = %e, "could not finalise imports"),
        }
        if let Ok(counts) = payments_store::count_imports_by_status(&pool).await {
            for (status, count) in counts {
                health
                    .metrics
                    .imports
                    .get_or_create(&StatusLabel {
                        status: status.as_str(),
                    })
                    .set(count);
            }
        }
        if compacted.elapsed() >= COMPACT_TOTALS_EVERY {
            compacted = Instant::now();
            match payments_store::dashboard::compact_totals(&pool).await {
                Ok(folded) => tracing::debug!(folded, "dashboard totals compacted"),
                Err(e) => tracing::debug!(error = %e, "could not compact the dashboard totals"),
            }
        }
    }
}
