//! Every row of an import that did not land, with why: what a team downloads to correct.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use payments_csv::CsvRow;
use payments_domain::event::import_transaction_id;
use payments_domain::import::{ImportFailure, ImportStatus};
use serde::Serialize;
use tokio_util::io::SyncIoBridge;
use uuid::Uuid;

use crate::{Pipeline, PipelineError, Result};

/// One row that did not land.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unlanded {
    /// Data row number in the uploaded file (the header excluded).
    pub row: u64,
    pub reason: String,
    pub values: CsvRow,
}

impl Pipeline {
    /// Every row of import `id` that did not land, in row order, to `sink`: refused by the
    /// checks (reasons as now: users and currencies may have changed since), rejected by the
    /// ingester, or held back with the whole import (awaiting approval, rejected, held by the
    /// invalid-rows policy or a totals mismatch, a dry run), or held alone as a cross-file
    /// duplicate (with where its payment was seen). A repeat of a row is not listed:
    /// it is the same payment, and its first occurrence is. Reads the stored copy twice
    /// (checks, then rows); memory stays flat but for the ingester's rejections. Returns how
    /// many rows were handed over.
    pub async fn unlanded<F>(&self, id: Uuid, mut sink: F) -> Result<u64>
    where
        F: FnMut(Unlanded) -> std::io::Result<()> + Send + 'static,
    {
        let import = self.status(id).await?;
        let Some(key) = import.object_key.clone() else {
            return Ok(0);
        };
        let refused_whole = matches!(
            import.failure,
            Some(
                ImportFailure::InvalidFile
                    | ImportFailure::TooLarge
                    | ImportFailure::UploadInterrupted
            )
        );
        if import.first_import_id.is_some() || refused_whole {
            // The same bytes landed with the first import; or the file itself was refused
            // (its page says where and why), so it has no rows to list.
            return Ok(0);
        }
        let held = held_reason(&import);
        let rows_only = payments_domain::import::holds_rows_only(&import.approval_reasons);
        let seen_before: HashMap<u64, payments_store::SeenBefore> =
            payments_store::held_rows(self.pool(), id)
                .await?
                .into_iter()
                .map(|seen| (seen.row, seen))
                .collect();
        let rejected: HashMap<u64, String> = payments_store::rejected_not_landed(self.pool(), id)
            .await?
            .into_iter()
            .filter_map(|(row, reason)| Some((u64::try_from(row).ok()?, reason)))
            .collect();
        let reading = self.reading(import.corrects_import_id).await?;
        // Rows a correction landed since are no longer missing.
        let sha256 = import.sha256.clone().unwrap_or_default();
        let corrected: HashSet<Uuid> = payments_store::corrected_transactions(self.pool(), id)
            .await?
            .into_iter()
            .collect();
        let refs = payments_store::load_reference_data(self.pool()).await?;
        let objects = self.objects.clone();
        let first = objects.get(&key).await?;
        let second = objects.get(&key).await?;
        tokio::task::spawn_blocking(move || -> Result<u64> {
            let now = Utc::now();
            let (_, resolved) = reading
                .analyse(SyncIoBridge::new(first), &refs, now)
                .map_err(PipelineError::Analyser)?;
            let options = &reading.options;
            let mut handed = 0;
            payments_csv::for_each_row(SyncIoBridge::new(second), options, |row, fields| {
                let landed_since = !corrected.is_empty()
                    && corrected.contains(&import_transaction_id(&sha256, row));
                if resolved.is_duplicate(row) || landed_since {
                    return Ok(());
                }
                let reason = if resolved.is_invalid(row) {
                    payments_csv::row_problems(fields, &refs, now)
                        .map(|problems| problems.join("; "))
                } else if let Some(reason) = rejected.get(&row) {
                    Some(reason.clone())
                } else if let (Some(seen), Some(why)) = (seen_before.get(&row), held.as_deref()) {
                    // Held (awaiting approval, rejected) and not approved since.
                    Some(format!(
                        "{why}; the same payment landed from import {}, row {}",
                        seen.seen_import_id, seen.seen_row
                    ))
                } else if rows_only {
                    // Only the cross-file duplicates were held; this row was published.
                    None
                } else {
                    held.clone()
                };
                let Some(reason) = reason else {
                    return Ok(());
                };
                handed += 1;
                sink(Unlanded {
                    row,
                    reason,
                    values: CsvRow::from(fields),
                })
            })
            .map_err(|e| PipelineError::Task(format!("reading the stored file: {e}")))?;
            Ok(handed)
        })
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))?
    }
}

/// Why the valid rows of an import did not land with it, when they did not.
fn held_reason(import: &payments_store::Import) -> Option<String> {
    if import.dry_run {
        return Some("dry run: nothing was published".into());
    }
    match import.status {
        ImportStatus::AwaitingApproval => Some("held: the import awaits approval".into()),
        ImportStatus::Rejected => Some(format!(
            "held: the import was rejected by {}",
            import.decided_by.as_deref().unwrap_or("a second person")
        )),
        ImportStatus::Failed => Some(match import.failure {
            Some(ImportFailure::InvalidRows) => {
                "held: other rows failed the checks and the whole file was held".into()
            }
            Some(ImportFailure::TotalsMismatch) => {
                "held: the file's control totals differ from the expected ones".into()
            }
            _ => format!(
                "not published: {}",
                import.error.as_deref().unwrap_or("the import failed")
            ),
        }),
        _ => None,
    }
}
