//! What callers are told about an import.

use chrono::Utc;
use payments_csv::Summary;
use payments_domain::import::ImportStatus;
use serde::Serialize;
use uuid::Uuid;

use crate::outcome::Outcome;

/// What a caller learns when the upload has been handled.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub id: Uuid,
    pub file_name: String,
    pub object_key: Option<String>,
    pub status: ImportStatus,
    /// What became of it, in the words every front end shows ([`Outcome::message`]).
    pub message: String,
    pub outcome: Outcome,
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
