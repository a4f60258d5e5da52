//! The `imports` table: one row per uploaded file and its progress. Ingested and rejected counts
//! are derived from `transactions` and `rejected_events` in the same query, never stored.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// Where an import stands. The order of the variants is the order of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImportStatus {
    /// The upload has started; nothing is known about the file yet.
    Received,
    /// The original bytes are in object storage and their SHA-256 is recorded.
    Stored,
    /// Every unique row was handed to Kafka.
    Published,
    /// Every published row is either a transaction or a rejection.
    Done,
    /// The file was refused or a step broke; `error` says why.
    Failed,
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 5] = [
        ImportStatus::Received,
        ImportStatus::Stored,
        ImportStatus::Published,
        ImportStatus::Done,
        ImportStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Received => "received",
            ImportStatus::Stored => "stored",
            ImportStatus::Published => "published",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing moves an import out of these.
    pub fn is_final(self) -> bool {
        matches!(self, ImportStatus::Done | ImportStatus::Failed)
    }
}

/// What is known when an upload starts.
#[derive(Debug, Clone)]
pub struct NewImport {
    pub id: Uuid,
    pub file_name: String,
    pub suspicious_threshold: Decimal,
    pub dry_run: bool,
}

/// The counts an analysis and the publisher produce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub rows: i64,
    pub unique_rows: i64,
    pub duplicates: i64,
    pub suspicious: i64,
    pub published: i64,
}

/// One row of `imports`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ImportRow {
    pub id: Uuid,
    pub file_name: String,
    pub object_key: Option<String>,
    pub sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub rows: i64,
    pub unique_rows: i64,
    pub duplicates: i64,
    pub suspicious: i64,
    pub published: i64,
    pub status: String,
    pub error: Option<String>,
    pub suspicious_threshold: Decimal,
    pub dry_run: bool,
    pub first_import_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImportRow {
    /// The status as an enum; the table's CHECK guarantees it parses.
    pub fn status(&self) -> ImportStatus {
        ImportStatus::parse(&self.status).unwrap_or(ImportStatus::Failed)
    }
}

/// An import with how far the ingester has got with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportProgress {
    pub import: ImportRow,
    /// Transactions carrying this import's id.
    pub ingested: i64,
    /// Distinct rows of this import the ingester rejected and that did not become a
    /// transaction later (a row rejected on one delivery and stored on another counts once).
    pub rejected: i64,
}

impl ImportProgress {
    /// Every published row is accounted for.
    pub fn is_complete(&self) -> bool {
        self.ingested + self.rejected >= self.import.published
    }
}

const COLUMNS: &str = "id, file_name, object_key, sha256, size_bytes, rows, unique_rows, \
     duplicates, suspicious, published, status, error, suspicious_threshold, dry_run, \
     first_import_id, created_at, updated_at";

/// `ingested` and `rejected` of import `i.id`, as SQL expressions.
const PROGRESS: &str = "
    (SELECT count(*) FROM transactions t WHERE t.import_id = i.id) AS ingested,
    (SELECT count(DISTINCT r.row_number) + count(*) FILTER (WHERE r.row_number IS NULL)
       FROM rejected_events r
      WHERE r.import_id = i.id
        AND NOT EXISTS (SELECT 1 FROM transactions t
                         WHERE t.import_id = r.import_id AND t.import_row = r.row_number)
    ) AS rejected";

/// Records a new upload in state `received`; when an import with this id exists already (a
/// resumed import, whose id the caller derived), returns it unchanged.
pub async fn create_import(pool: &PgPool, new: &NewImport) -> Result<ImportRow> {
    // The no-op update makes RETURNING yield the existing row too.
    let row = sqlx::query_as(&format!(
        "INSERT INTO imports (id, file_name, suspicious_threshold, dry_run)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id
         RETURNING {COLUMNS}"
    ))
    .bind(new.id)
    .bind(&new.file_name)
    .bind(new.suspicious_threshold)
    .bind(new.dry_run)
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// Records where the original bytes were stored and their identity, and moves to `stored`.
/// `first_import_id` is the earlier import of the same bytes, if any ([`find_by_sha256`]).
pub async fn set_stored(
    pool: &PgPool,
    id: Uuid,
    object_key: &str,
    sha256: &str,
    size_bytes: i64,
    first_import_id: Option<Uuid>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE imports
            SET object_key = $2, sha256 = $3, size_bytes = $4, first_import_id = $5,
                status = 'stored', updated_at = now()
          WHERE id = $1 AND status = 'received'",
    )
    .bind(id)
    .bind(object_key)
    .bind(sha256)
    .bind(size_bytes)
    .bind(first_import_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the counts (not allowed once the import is final).
pub async fn set_counts(pool: &PgPool, id: Uuid, counts: &ImportCounts) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE imports
            SET rows = $2, unique_rows = $3, duplicates = $4, suspicious = $5, published = $6,
                updated_at = now()
          WHERE id = $1 AND status NOT IN ('done', 'failed')",
    )
    .bind(id)
    .bind(counts.rows)
    .bind(counts.unique_rows)
    .bind(counts.duplicates)
    .bind(counts.suspicious)
    .bind(counts.published)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves an import forward only: to a later status, or to `failed` from anything but `done`
/// (with `error`). Returns whether it moved, so a late or repeated step changes nothing.
pub async fn set_status(
    pool: &PgPool,
    id: Uuid,
    status: ImportStatus,
    error: Option<&str>,
) -> Result<bool> {
    let error = match status {
        ImportStatus::Failed => Some(error.unwrap_or("failed")),
        _ => None,
    };
    let earlier: Vec<&str> = ImportStatus::ALL
        .into_iter()
        .filter(|s| !s.is_final() && (*s < status || status == ImportStatus::Failed))
        .map(ImportStatus::as_str)
        .collect();
    let done = sqlx::query(
        "UPDATE imports SET status = $2, error = $3, updated_at = now()
          WHERE id = $1 AND status = ANY($4)",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(error)
    .bind(&earlier)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The earliest import of these exact bytes that got its rows out (published or done): a new
/// upload of them creates no transactions and points at it.
pub async fn find_by_sha256(pool: &PgPool, sha256: &str) -> Result<Option<ImportRow>> {
    let row = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports
          WHERE sha256 = $1 AND status IN ('published', 'done') AND NOT dry_run
          ORDER BY created_at, id
          LIMIT 1"
    ))
    .bind(sha256)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

#[derive(sqlx::FromRow)]
struct ProgressRow {
    #[sqlx(flatten)]
    import: ImportRow,
    ingested: i64,
    rejected: i64,
}

impl From<ProgressRow> for ImportProgress {
    fn from(row: ProgressRow) -> Self {
        ImportProgress {
            import: row.import,
            ingested: row.ingested,
            rejected: row.rejected,
        }
    }
}

/// An import with its ingested and rejected counts, computed now.
pub async fn get_import(pool: &PgPool, id: Uuid) -> Result<Option<ImportProgress>> {
    let row: Option<ProgressRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {PROGRESS} FROM imports i WHERE i.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

/// The newest imports first, for the history page; `before` pages by `created_at`.
pub async fn recent_imports(
    pool: &PgPool,
    limit: i64,
    before: Option<DateTime<Utc>>,
) -> Result<Vec<ImportProgress>> {
    let rows: Vec<ProgressRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {PROGRESS} FROM imports i
          WHERE $2::timestamptz IS NULL OR i.created_at < $2
          ORDER BY i.created_at DESC, i.id DESC
          LIMIT $1"
    ))
    .bind(limit)
    .bind(before)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Moves a `published` import to `done` once every published row is ingested or rejected,
/// deciding in one statement so concurrent callers agree. Returns whether it moved.
pub async fn complete_if_ingested(pool: &PgPool, id: Uuid) -> Result<bool> {
    let done = sqlx::query(&format!(
        "UPDATE imports u SET status = 'done', updated_at = now()
          FROM (SELECT i.id, {PROGRESS} FROM imports i WHERE i.id = $1) p
         WHERE u.id = p.id AND u.status = 'published' AND p.ingested + p.rejected >= u.published"
    ))
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps what the analysis found (capped lists) for the result page.
pub async fn save_report(pool: &PgPool, id: Uuid, summary: &serde_json::Value) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_reports (import_id, summary) VALUES ($1, $2)
         ON CONFLICT (import_id) DO UPDATE SET summary = EXCLUDED.summary",
    )
    .bind(id)
    .bind(summary)
    .execute(pool)
    .await?;
    Ok(())
}

/// The stored analysis of an import, if any.
pub async fn load_report(pool: &PgPool, id: Uuid) -> Result<Option<serde_json::Value>> {
    Ok(
        sqlx::query_scalar("SELECT summary FROM import_reports WHERE import_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Rejections of an import's rows (row number, reason), in row order.
pub async fn import_rejections(
    pool: &PgPool,
    id: Uuid,
    limit: i64,
) -> Result<Vec<(Option<i64>, String)>> {
    Ok(sqlx::query_as(
        "SELECT row_number, reason FROM rejected_events WHERE import_id = $1
          ORDER BY row_number NULLS LAST, id LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
