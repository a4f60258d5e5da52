//! An import as the web shows it — the JSON API's body and the pages' `import` — in a type of
//! the web's own, converted from the database row in one place ([`From<&Import>`]), so that a
//! column of `imports` becomes an API field only by being written here.

use chrono::{DateTime, Utc};
use payments_imports::{
    ApprovalReason, ExpectedTotals, Import, ImportCounts, ImportFailure, ImportStatus, ImportTotals,
};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportResource {
    pub id: Uuid,
    pub file_name: String,
    /// Where the original bytes are in the bucket.
    pub object_key: Option<String>,
    pub sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub status: ImportStatus,
    /// Set exactly when `status` is `failed` (older imports may lack it).
    pub failure: Option<ImportFailure>,
    /// The failure's detail: where a file was unreadable, or the platform's error.
    pub error: Option<String>,
    pub suspicious_threshold: Decimal,
    pub dry_run: bool,
    /// The earlier import of the same bytes, which owns their payments.
    pub first_import_id: Option<Uuid>,
    pub started_by: Option<String>,
    /// What the sender said the file holds, when given.
    pub expected_totals: Option<ExpectedTotals>,
    /// Why it needs a second identity's approval (empty: it does not).
    pub approval_reasons: Vec<ApprovalReason>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// The import whose rows that did not land this one corrects.
    pub corrects_import_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// rows, unique, duplicates, suspicious, invalid, cross_file_duplicates, published,
    /// ingested, rejected: at the top level, as the API has always had them.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// Control totals per currency (one import's, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<ImportTotals>,
}

impl From<&Import> for ImportResource {
    fn from(row: &Import) -> ImportResource {
        ImportResource {
            id: row.id,
            file_name: row.file_name.clone(),
            object_key: row.object_key.clone(),
            sha256: row.sha256.clone(),
            size_bytes: row.size_bytes,
            status: row.status,
            failure: row.failure,
            error: row.error.clone(),
            suspicious_threshold: row.suspicious_threshold,
            dry_run: row.dry_run,
            first_import_id: row.first_import_id,
            started_by: row.started_by.clone(),
            expected_totals: row.expected_totals.as_ref().map(|t| t.0.clone()),
            approval_reasons: row.approval_reasons.clone(),
            decided_by: row.decided_by.clone(),
            decided_at: row.decided_at,
            decision_note: row.decision_note.clone(),
            corrects_import_id: row.corrects_import_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            counts: row.counts,
            totals: row.totals.clone(),
        }
    }
}
