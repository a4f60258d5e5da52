//! Cross-file duplicates: each row an import would publish is looked up, by its payment's
//! fingerprint, among the transactions other imports landed; a match is held back with where
//! it was seen, and published only once a second identity approves.

use chrono::Utc;
use payments_csv::{CrossFileDuplicate, Resolved, Summary};
use payments_domain::{Fingerprint, ReferenceData, RowFigures, Totals, TotalsBuilder};
use payments_store::SeenBefore;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;
use uuid::Uuid;

use crate::reading::Reading;
use crate::{Pipeline, PipelineError, Result};

/// Rows looked up per statement: large enough to amortise the round trip, small enough that
/// the next batch is read while this one is looked up.
const BATCH: usize = 5_000;

/// What the lookup found.
#[derive(Debug, Default)]
pub(crate) struct CrossFile {
    /// Every held row, in row order.
    pub(crate) held: Vec<SeenBefore>,
    /// The first of them with their values, for the report.
    listed: Vec<CrossFileDuplicate>,
    totals: Totals,
}

impl CrossFile {
    /// Holds the rows in `resolved` and reports them in `summary`.
    pub(crate) fn apply(&self, summary: &mut Summary, resolved: &mut Resolved) {
        for held in &self.held {
            resolved.hold(held.row);
        }
        summary.cross_file_duplicates = self.held.len() as u64;
        summary.cross_file = self.listed.clone();
        summary.totals.held = self.totals.clone();
        summary.lists_truncated |= (self.listed.len() as u64) < summary.cross_file_duplicates;
    }
}

/// A batch being looked up, with the values of its rows (for the report and totals).
struct Pending {
    lookup: JoinHandle<payments_store::Result<Vec<SeenBefore>>>,
    rows: Vec<(u64, payments_csv::CsvRow)>,
}

impl Pipeline {
    /// Looks up every row `resolved` publishes of the stored file `key` of import `id`.
    /// Reads the stored copy once; each batch is looked up while the next one is read.
    pub(crate) async fn find_cross_file(
        &self,
        id: Uuid,
        key: &str,
        resolved: &Resolved,
        reading: &Reading,
        refs: ReferenceData,
    ) -> Result<CrossFile> {
        let object = self.objects.get(key).await?;
        let pool = self.pool.clone();
        let resolved = resolved.clone();
        let options = reading.options.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || -> Result<CrossFile> {
            let now = Utc::now();
            let mut found = Found::new(options.max_listed);
            let mut batch: Vec<(u64, Fingerprint)> = Vec::with_capacity(BATCH);
            let mut values = Vec::with_capacity(BATCH);
            let mut pending: Option<Pending> = None;
            let mut send = |batch: &mut Vec<(u64, Fingerprint)>,
                            values: &mut Vec<(u64, payments_csv::CsvRow)>,
                            pending: &mut Option<Pending>|
             -> Result<()> {
                let rows = std::mem::replace(batch, Vec::with_capacity(BATCH));
                let pool = pool.clone();
                let next = Pending {
                    lookup: handle.spawn(async move {
                        payments_store::find_landed_elsewhere(&pool, id, &rows).await
                    }),
                    rows: std::mem::replace(values, Vec::with_capacity(BATCH)),
                };
                if let Some(previous) = pending.replace(next) {
                    found.take(&handle, previous)?;
                }
                Ok(())
            };
            payments_csv::for_each_row(SyncIoBridge::new(object), &options, |row, fields| {
                if !resolved.is_published(row) {
                    return Ok(());
                }
                // A published row passed the checks, so it has a fingerprint.
                let Some(fingerprint) = Fingerprint::of_import_fields(fields, &refs, now) else {
                    return Ok(());
                };
                batch.push((row, fingerprint));
                values.push((row, payments_csv::csv_row(fields)));
                if batch.len() == BATCH {
                    send(&mut batch, &mut values, &mut pending)?;
                }
                Ok::<(), PipelineError>(())
            })
            .map_err(|e| PipelineError::Task(format!("looking for cross-file duplicates: {e}")))?;
            if !batch.is_empty() {
                send(&mut batch, &mut values, &mut pending)?;
            }
            if let Some(last) = pending {
                found.take(&handle, last)?;
            }
            Ok(found.finish())
        })
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))?
    }
}

/// The matches gathered so far.
struct Found {
    result: CrossFile,
    totals: TotalsBuilder,
    max_listed: usize,
}

impl Found {
    fn new(max_listed: usize) -> Self {
        Found {
            result: CrossFile::default(),
            totals: TotalsBuilder::default(),
            max_listed,
        }
    }

    /// Waits for a batch's lookup and keeps its matches.
    fn take(&mut self, handle: &tokio::runtime::Handle, pending: Pending) -> Result<()> {
        let matches = handle
            .block_on(pending.lookup)
            .map_err(|e| PipelineError::Task(e.to_string()))??;
        for seen in matches {
            let Ok(at) = pending
                .rows
                .binary_search_by_key(&seen.row, |(row, _)| *row)
            else {
                continue;
            };
            let values = &pending.rows[at].1;
            self.totals
                .add(&RowFigures::of(&values.currency, &values.amount), 1);
            if self.result.listed.len() < self.max_listed {
                self.result.listed.push(CrossFileDuplicate {
                    row: seen.row,
                    seen_import_id: seen.seen_import_id,
                    seen_row: seen.seen_row,
                    values: values.clone(),
                });
            }
            self.result.held.push(seen);
        }
        Ok(())
    }

    fn finish(mut self) -> CrossFile {
        self.result.totals = self.totals.build();
        self.result
    }
}
