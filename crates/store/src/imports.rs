//! The `imports` table: one row per uploaded file and its progress. Ingested and rejected counts
//! are derived from `transactions` and `rejected_events` in the same query, never stored.
//!
//! An import's life is [`ImportStatus`]; each step is a `mark_*` function that locks the row,
//! checks inside the transaction that the current state may take that step, and moves it.
//! Completion is driven by the data: [`finalise_imports`] (run in a loop by the ingester) moves
//! a published import to `done` once every published row is a transaction or a rejection.

use chrono::{DateTime, Utc};
use payments_domain::import::{ApprovalReason, ImportCounts, ImportFailure, ImportStatus};
use payments_domain::{CurrencyTotal, ExpectedTotals, ImportTotals, Totals};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::Result;

/// What is known when an upload starts.
#[derive(Debug, Clone)]
pub struct NewImport {
    pub id: Uuid,
    pub file_name: String,
    pub suspicious_threshold: Decimal,
    pub dry_run: bool,
    /// Who started it, when known.
    pub started_by: Option<String>,
    /// What the sender says the file holds; a difference fails the import before publishing.
    pub expected_totals: Option<ExpectedTotals>,
    /// The import whose rows that did not land this one corrects.
    pub corrects: Option<Uuid>,
}

/// One import: its row of `imports` with its counts (ingested and rejected counted from the
/// data). Front ends show it through their own types (the web's `ImportResource`, the
/// PaymentImport's status).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Import {
    pub id: Uuid,
    pub file_name: String,
    pub object_key: Option<String>,
    pub sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub status: ImportStatus,
    /// Set exactly when `status` is `failed` (older rows may lack it).
    pub failure: Option<ImportFailure>,
    pub error: Option<String>,
    pub suspicious_threshold: Decimal,
    pub dry_run: bool,
    pub first_import_id: Option<Uuid>,
    /// Who started it, when known.
    pub started_by: Option<String>,
    /// What the sender said the file holds, when given.
    pub expected_totals: Option<Json<ExpectedTotals>>,
    /// Why it needs a second identity's approval (empty: it does not).
    pub approval_reasons: Vec<ApprovalReason>,
    /// Who approved or rejected it, when, and why (rejections).
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// The import whose rows that did not land this one corrects.
    pub corrects_import_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(flatten)]
    pub counts: ImportCounts,
    /// Control totals per currency, read with one import ([`get_import`]), not with lists.
    #[sqlx(skip)]
    pub totals: Option<ImportTotals>,
}

impl Import {
    /// Every published row is accounted for.
    pub fn is_complete(&self) -> bool {
        self.counts.ingested + self.counts.rejected >= self.counts.published
    }
}

/// Where the original bytes of an import are, and what they are.
#[derive(Debug, Clone)]
pub struct StoredFile<'a> {
    pub object_key: &'a str,
    pub sha256: &'a str,
    pub size_bytes: i64,
    /// The earlier import of the same bytes, if any ([`find_by_sha256`]).
    pub first_import_id: Option<Uuid>,
}

/// The columns of [`Import`] for `imports i`, `ingested` and `rejected` counted from the data.
/// Statements splice it in with `format!`, hence their `AssertSqlSafe`: constant SQL only,
/// every value is a bind parameter.
const COLUMNS: &str = r#"i.id, i.file_name, i.object_key, i.sha256, i.size_bytes, i.status,
     i.failure, i.error, i.suspicious_threshold, i.dry_run, i.first_import_id, i.started_by,
     i.expected_totals, i.approval_reasons, i.decided_by, i.decided_at, i.decision_note,
     i.corrects_import_id, i.created_at,
     i.updated_at, i.rows, i.unique_rows AS "unique", i.duplicates, i.suspicious, i.invalid,
     i.cross_file_duplicates, i.published,
    (SELECT count(*) FROM transactions t WHERE t.import_id = i.id) AS ingested,
    (SELECT count(DISTINCT r.row_number) + count(*) FILTER (WHERE r.row_number IS NULL)
       FROM rejected_events r
      WHERE r.import_id = i.id
        AND NOT EXISTS (SELECT 1 FROM transactions t
                         WHERE t.import_id = r.import_id AND t.import_row = r.row_number)
    ) AS rejected"#;

/// Records a new upload in state `received`; when an import with this id exists already (a
/// resumed import, whose id the caller derived), returns it unchanged.
pub async fn create_import(pool: &PgPool, new: &NewImport) -> Result<Import> {
    // The no-op update makes RETURNING yield the existing row too.
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO imports AS i (id, file_name, suspicious_threshold, dry_run, status,
             started_by, expected_totals, corrects_import_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id
         RETURNING {COLUMNS}"
    )))
    .bind(new.id)
    .bind(&new.file_name)
    .bind(new.suspicious_threshold)
    .bind(new.dry_run)
    .bind(ImportStatus::Received)
    .bind(&new.started_by)
    .bind(new.expected_totals.as_ref().map(Json))
    .bind(new.corrects)
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// Moves import `id` to `next` with `update` (which sets `status` and whatever goes with the
/// step) when its current state allows, checked under the row's lock in the same transaction.
/// Returns whether it moved, so a late or repeated step changes nothing.
async fn transition(
    pool: &PgPool,
    id: Uuid,
    next: ImportStatus,
    update: Query<'_, Postgres, PgArguments>,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let current: Option<ImportStatus> =
        sqlx::query_scalar("SELECT status FROM imports WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if !current.is_some_and(|c| c.may_become(next)) {
        return Ok(false);
    }
    update.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// `received` → `stored`: records where the original bytes were stored and their identity.
pub async fn mark_stored(pool: &PgPool, id: Uuid, file: &StoredFile<'_>) -> Result<bool> {
    let update = sqlx::query(
        "UPDATE imports
            SET object_key = $2, sha256 = $3, size_bytes = $4, first_import_id = $5,
                status = $6, updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(file.object_key)
    .bind(file.sha256)
    .bind(file.size_bytes)
    .bind(file.first_import_id)
    .bind(ImportStatus::Stored);
    transition(pool, id, ImportStatus::Stored, update).await
}

/// Records what the analysis found, until the import is final (`ingested` and `rejected` are
/// counted, never stored, and `published` is set by [`mark_published`]).
pub async fn set_counts(pool: &PgPool, id: Uuid, counts: &ImportCounts) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE imports
            SET rows = $2, unique_rows = $3, duplicates = $4, suspicious = $5, invalid = $7,
                cross_file_duplicates = $8, updated_at = now()
          WHERE id = $1 AND NOT status = ANY($6)",
    )
    .bind(id)
    .bind(counts.rows)
    .bind(counts.unique)
    .bind(counts.duplicates)
    .bind(counts.suspicious)
    .bind(&[ImportStatus::Done, ImportStatus::Failed][..])
    .bind(counts.invalid)
    .bind(counts.cross_file_duplicates)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `stored` → `published`, with how many rows were delivered to Kafka.
pub async fn mark_published(pool: &PgPool, id: Uuid, published: i64) -> Result<bool> {
    let update = sqlx::query(
        "UPDATE imports SET status = $2, published = $3, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(ImportStatus::Published)
    .bind(published);
    transition(pool, id, ImportStatus::Published, update).await
}

/// `stored` → `done` with nothing to wait for: a dry run, or bytes imported before.
pub async fn mark_done(pool: &PgPool, id: Uuid) -> Result<bool> {
    let update = sqlx::query("UPDATE imports SET status = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(ImportStatus::Done);
    transition(pool, id, ImportStatus::Done, update).await
}

/// `stored` → `awaiting_approval`, with why, and how many rows were published already (the
/// rows not held, when only cross-file duplicates are held).
pub async fn mark_awaiting_approval(
    pool: &PgPool,
    id: Uuid,
    reasons: &[ApprovalReason],
    published: i64,
) -> Result<bool> {
    let update = sqlx::query(
        "UPDATE imports SET status = $2, approval_reasons = $3, published = $4,
                updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(ImportStatus::AwaitingApproval)
    .bind(reasons)
    .bind(published);
    transition(pool, id, ImportStatus::AwaitingApproval, update).await
}

/// A second identity's answer to an import awaiting approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// What became of a [`decide`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Recorded: approved (publishing follows) or rejected (final).
    Recorded(Decision),
    /// Approved before by this same identity, its publishing not finished: publish again.
    AlreadyApproved,
    /// The identity that started the import may not decide it.
    SameIdentity,
    /// Another identity approved it already.
    DecidedBy(String),
    /// The import does not wait for approval (its status now).
    NotAwaiting(ImportStatus),
    NotFound,
}

/// Records `decision` by `by` on import `id`, checked under the row's lock: the import must be
/// awaiting approval and `by` must not be who started it (the database refuses that too).
/// Rejecting moves it to `rejected`; approving leaves it to the caller to publish.
pub async fn decide(
    pool: &PgPool,
    id: Uuid,
    decision: Decision,
    by: &str,
    note: Option<&str>,
) -> Result<Decided> {
    let mut tx = pool.begin().await?;
    let row: Option<(ImportStatus, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT status, started_by, decided_by FROM imports WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, started_by, decided_by)) = row else {
        return Ok(Decided::NotFound);
    };
    if status != ImportStatus::AwaitingApproval {
        return Ok(Decided::NotAwaiting(status));
    }
    if started_by.as_deref() == Some(by) {
        return Ok(Decided::SameIdentity);
    }
    if let Some(decided_by) = decided_by {
        return Ok(if decided_by == by && decision == Decision::Approve {
            Decided::AlreadyApproved
        } else {
            Decided::DecidedBy(decided_by)
        });
    }
    let status = match decision {
        Decision::Approve => ImportStatus::AwaitingApproval,
        Decision::Reject => ImportStatus::Rejected,
    };
    sqlx::query(
        "UPDATE imports SET status = $2, decided_by = $3, decided_at = now(), decision_note = $4,
                updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(by)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    if decision == Decision::Reject {
        crate::cross_file::release_unpublished(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(Decided::Recorded(decision))
}

/// Anything not final → `failed`, with why. The payments it reserved and never published are
/// released in the same transaction.
pub async fn mark_failed(
    pool: &PgPool,
    id: Uuid,
    failure: ImportFailure,
    error: &str,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let current: Option<ImportStatus> =
        sqlx::query_scalar("SELECT status FROM imports WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if !current.is_some_and(|c| c.may_become(ImportStatus::Failed)) {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE imports SET status = $2, failure = $3, error = $4, updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(ImportStatus::Failed)
    .bind(failure)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    crate::cross_file::release_unpublished(&mut tx, id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Publishing of import `id` starts: only from `stored`, and only once nobody has failed it
/// meanwhile (an import idle past the reservation lease is failed as abandoned by the next
/// import, which takes its reservations). `false`: it may not publish.
pub async fn start_publishing(pool: &PgPool, id: Uuid) -> Result<bool> {
    let started = sqlx::query(
        "UPDATE imports SET publish_started_at = COALESCE(publish_started_at, now()),
                updated_at = now()
          WHERE id = $1 AND status IN ($2, $3)",
    )
    .bind(id)
    .bind(ImportStatus::Stored)
    .bind(ImportStatus::AwaitingApproval)
    .execute(pool)
    .await?;
    Ok(started.rows_affected() == 1)
}

/// `published` → `done` for every import whose published rows are all ingested or rejected,
/// decided in one statement so concurrent finalisers agree. Returns the imports it moved.
/// Their payment reservations go in the same statement: every payment of a done import has
/// landed (the cross-file lookup finds the transaction) or was rejected (it did not land), so
/// the reservations table holds only imports in flight instead of growing with every payment.
pub async fn finalise_imports(pool: &PgPool) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH done AS (
           UPDATE imports u SET status = $2, updated_at = now()
             FROM (SELECT {COLUMNS} FROM imports i WHERE i.status = $1) p
            WHERE u.id = p.id AND u.status = $1 AND p.ingested + p.rejected >= u.published
            RETURNING u.id),
         released AS (
           DELETE FROM payment_reservations r USING done WHERE r.import_id = done.id)
         SELECT id FROM done"
    )))
    .bind(ImportStatus::Published)
    .bind(ImportStatus::Done)
    .fetch_all(pool)
    .await?)
}

/// How many imports are in each status (every status listed, zero included), for metrics.
pub async fn count_imports_by_status(pool: &PgPool) -> Result<Vec<(ImportStatus, i64)>> {
    let rows: Vec<(ImportStatus, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM imports GROUP BY status")
            .fetch_all(pool)
            .await?;
    Ok(ImportStatus::ALL
        .iter()
        .map(|status| {
            let count = rows
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            (*status, count)
        })
        .collect())
}

/// The earliest import of these exact bytes that got its rows out (published or done): a new
/// upload of them creates no transactions and points at it.
pub async fn find_by_sha256(pool: &PgPool, sha256: &str) -> Result<Option<Import>> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports i
          WHERE i.sha256 = $1 AND i.status = ANY($2) AND NOT i.dry_run
          ORDER BY i.created_at, i.id
          LIMIT 1"
    )))
    .bind(sha256)
    .bind(&[ImportStatus::Published, ImportStatus::Done][..])
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// An import with its ingested and rejected counts and its control totals (the analysis's,
/// and the ingested ones summed from its transactions), computed now.
pub async fn get_import(pool: &PgPool, id: Uuid) -> Result<Option<Import>> {
    let import: Option<Import> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports i WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(mut import) = import else {
        return Ok(None);
    };
    let analysed: Option<Json<ImportTotals>> = sqlx::query_scalar(
        "SELECT summary->'totals' FROM import_reports
          WHERE import_id = $1 AND summary ? 'totals'",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let mut totals = analysed.map(|t| t.0).unwrap_or_default();
    totals.ingested = ingested_totals(pool, id).await?;
    import.totals = Some(totals);
    Ok(Some(import))
}

/// Per currency, the transactions an import stored: counted and summed from the data.
pub async fn ingested_totals(pool: &PgPool, id: Uuid) -> Result<Totals> {
    let rows: Vec<(String, i64, Decimal)> = sqlx::query_as(
        "SELECT c.currency, count(*), sum(t.amount)
           FROM transactions t JOIN currencies c ON c.currency_id = t.currency_id
          WHERE t.import_id = $1
          GROUP BY c.currency",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Totals::new(
        rows.into_iter()
            .map(|(currency, rows, amount)| CurrencyTotal {
                currency,
                rows: rows.max(0) as u64,
                amount,
                invalid_amounts: 0,
            })
            .collect(),
    ))
}

/// The newest imports first, for the history page; `before` pages by `created_at`.
pub async fn recent_imports(
    pool: &PgPool,
    limit: i64,
    before: Option<DateTime<Utc>>,
) -> Result<Vec<Import>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports i
          WHERE $2::timestamptz IS NULL OR i.created_at < $2
          ORDER BY i.created_at DESC, i.id DESC
          LIMIT $1"
    )))
    .bind(limit)
    .bind(before)
    .fetch_all(pool)
    .await?)
}

/// Keeps what the analysis found (capped lists) for the result page (table `import_reports`).
pub async fn save_analysis(pool: &PgPool, id: Uuid, summary: &serde_json::Value) -> Result<()> {
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
pub async fn load_analysis(pool: &PgPool, id: Uuid) -> Result<Option<serde_json::Value>> {
    Ok(
        sqlx::query_scalar("SELECT summary FROM import_reports WHERE import_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The transactions landed by corrections of import `id`.
pub async fn corrected_transactions(pool: &PgPool, id: Uuid) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT t.transaction_id FROM transactions t
           JOIN imports c ON c.id = t.import_id
          WHERE c.corrects_import_id = $1",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// The rows of an import the ingester rejected and that never landed later (row number and
/// the latest reason), in row order.
pub async fn rejected_not_landed(pool: &PgPool, id: Uuid) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT ON (r.row_number) r.row_number, r.reason
           FROM rejected_events r
          WHERE r.import_id = $1 AND r.row_number IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM transactions t
                             WHERE t.import_id = r.import_id AND t.import_row = r.row_number)
          ORDER BY r.row_number, r.id DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
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

/// Which imports a history query lists, and in which order. Every field left empty matches
/// every import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFilter {
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<ImportStatus>,
    /// Started by exactly this identity.
    pub started_by: Option<String>,
    /// Approved or rejected by exactly this identity.
    pub decided_by: Option<String>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Whose file name contains this text, ignoring case.
    pub file_name_contains: Option<String>,
    /// Awaiting approval and decidable by this identity: started by someone else and not
    /// decided by anyone else (its own approval, unfinished, it may give again).
    pub decidable_by: Option<String>,
    pub order: HistoryOrder,
    /// Only imports after this one in `order` (keyset paging).
    pub after: Option<ImportCursor>,
}

/// The history's order by creation time; ties are broken by id, so paging never skips or
/// repeats an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Where a page of the history ended: the last import's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl ImportCursor {
    /// The cursor after `import`.
    pub fn after(import: &Import) -> ImportCursor {
        ImportCursor {
            created_at: import.created_at,
            id: import.id,
        }
    }
}

/// Imports matching `filter`, at most `limit`, in the filter's order. Only the conditions in
/// use are written into the statement, so each combination is planned for the indexes that
/// serve it.
pub async fn list_imports(pool: &PgPool, filter: &ImportFilter, limit: i64) -> Result<Vec<Import>> {
    let mut query =
        sqlx::QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM imports i WHERE true"));
    if !filter.statuses.is_empty() {
        query
            .push(" AND i.status = ANY(")
            .push_bind(filter.statuses.clone())
            .push(")");
    }
    if let Some(by) = &filter.started_by {
        query.push(" AND i.started_by = ").push_bind(by.clone());
    }
    if let Some(by) = &filter.decided_by {
        query.push(" AND i.decided_by = ").push_bind(by.clone());
    }
    if let Some(from) = filter.created_from {
        query.push(" AND i.created_at >= ").push_bind(from);
    }
    if let Some(before) = filter.created_before {
        query.push(" AND i.created_at < ").push_bind(before);
    }
    if let Some(text) = &filter.file_name_contains {
        query
            .push(" AND i.file_name ILIKE ")
            .push_bind(format!("%{}%", like_escaped(text)))
            .push(" ESCAPE '\\'");
    }
    if let Some(by) = &filter.decidable_by {
        query
            .push(" AND i.status = ")
            .push_bind(ImportStatus::AwaitingApproval)
            .push(" AND i.started_by IS DISTINCT FROM ")
            .push_bind(by.clone())
            .push(" AND (i.decided_by IS NULL OR i.decided_by = ")
            .push_bind(by.clone())
            .push(")");
    }
    let (compare, direction) = match filter.order {
        HistoryOrder::NewestFirst => ("<", "DESC"),
        HistoryOrder::OldestFirst => (">", "ASC"),
    };
    if let Some(after) = filter.after {
        query
            .push(format!(" AND (i.created_at, i.id) {compare} ("))
            .push_bind(after.created_at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    query
        .push(format!(
            " ORDER BY i.created_at {direction}, i.id {direction} LIMIT "
        ))
        .push_bind(limit);
    Ok(query.build_query_as().fetch_all(pool).await?)
}

/// `text` with LIKE's wildcards and escape character taken literally.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// How many imports `by` may decide now (see [`ImportFilter::decidable_by`]).
pub async fn count_decidable(pool: &PgPool, by: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM imports
          WHERE status = $1 AND started_by IS DISTINCT FROM $2
            AND (decided_by IS NULL OR decided_by = $2)",
    )
    .bind(ImportStatus::AwaitingApproval)
    .bind(by)
    .fetch_one(pool)
    .await?)
}

/// When an import reached each step after it was received (stamped by the database when its
/// status changes); `None` for a step it has not reached, or reached before they were recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportSteps {
    pub stored_at: Option<DateTime<Utc>>,
    pub awaiting_approval_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    /// Done, failed or rejected.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The step times of import `id`.
pub async fn import_steps(pool: &PgPool, id: Uuid) -> Result<Option<ImportSteps>> {
    Ok(sqlx::query_as(
        "SELECT stored_at, awaiting_approval_at, published_at, finished_at
           FROM imports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// What names an import to a person: its file and when it was received.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportName {
    pub id: Uuid,
    pub file_name: String,
    pub created_at: DateTime<Utc>,
}

/// The names of these imports (those that exist), in any order.
pub async fn import_names(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<ImportName>> {
    Ok(
        sqlx::query_as("SELECT id, file_name, created_at FROM imports WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?,
    )
}

/// The analysed control totals of these imports (those analysed), in one query, for lists;
/// `ingested` is left empty (see [`get_import`] for one import's).
pub async fn analysed_totals(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Uuid, ImportTotals)>> {
    let rows: Vec<(Uuid, Json<ImportTotals>)> = sqlx::query_as(
        "SELECT import_id, summary->'totals' FROM import_reports
          WHERE import_id = ANY($1) AND summary ? 'totals'",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, totals)| (id, totals.0))
        .collect())
}
