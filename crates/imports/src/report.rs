//! What callers are told about an import.

use chrono::Utc;
use payments_csv::Summary;
use payments_store::{Import, ImportCounts, ImportStatus};
use serde::Serialize;
use uuid::Uuid;

/// What a caller learns when the upload has been handled.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub id: Uuid,
    pub file_name: String,
    pub object_key: Option<String>,
    pub status: ImportStatus,
    /// The original's message, or why the file was refused.
    pub message: String,
    /// When the same bytes were imported before: that import.
    pub first_import: Option<FirstImport>,
    /// Where the file was refused (row number or `header`), when it was.
    pub error_location: Option<String>,
    pub summary: Option<Summary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirstImport {
    pub id: Uuid,
    pub file_name: String,
    pub imported_at: chrono::DateTime<Utc>,
}

/// One rejection of an imported row, for the result page.
#[derive(Debug, Clone, Serialize)]
pub struct RowRejection {
    pub row_number: Option<i64>,
    pub reason: String,
}

/// The sentence a user reads about an import, from its current state.
pub fn message(view: &Import) -> String {
    if let Some(error) = &view.error {
        return error.clone();
    }
    if view.first_import_id.is_some() {
        return "This file was already imported; no new transactions were created.".into();
    }
    if view.dry_run {
        return format!(
            "Dry run: {} rows, {} unique, {} duplicates, {} suspicious; nothing was published.",
            view.counts.rows, view.counts.unique, view.counts.duplicates, view.counts.suspicious
        );
    }
    if view.status.is_resumable() {
        return "The file is being checked.".into();
    }
    if view.status == ImportStatus::AwaitingApproval {
        return crate::run::awaiting_message(
            &view.approval_reasons,
            view.started_by.as_deref(),
            &view.counts,
        );
    }
    if view.status == ImportStatus::Rejected {
        let by = view.decided_by.as_deref().unwrap_or("a second identity");
        let note = view
            .decision_note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default();
        if crate::run::holds_rows_only(&view.approval_reasons) {
            return format!(
                "Rejected by {by}{note}. The {} rows held as cross-file duplicates were not published; the other {} rows were.",
                view.counts.cross_file_duplicates, view.counts.published
            );
        }
        return format!("Rejected by {by}{note}. Nothing was published.");
    }
    published_message(view.counts.published, &view.counts)
}

/// What a user reads once the rows are on their way.
pub(crate) fn published_message(published: i64, counts: &ImportCounts) -> String {
    let invalid = match counts.invalid {
        0 => String::new(),
        n => format!(", {n} rows failed the checks and were not sent: see the list"),
    };
    format!(
        "File uploaded successfully! {} rows sent to processing ({} duplicates removed, {} suspicious{invalid}).",
        published, counts.duplicates, counts.suspicious
    )
}
