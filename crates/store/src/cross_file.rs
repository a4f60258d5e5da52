//! Cross-file duplicates: rows of an import whose payment already landed from another import,
//! found by their [`Fingerprint`] in one indexed lookup per batch, and the rows held for it.

use chrono::{DateTime, Utc};
use payments_domain::Fingerprint;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// A row of an import whose payment was seen before: in `seen_import_id`, row `seen_row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenBefore {
    pub row: u64,
    pub seen_import_id: Uuid,
    pub seen_row: u64,
}

impl SeenBefore {
    /// From `(row, seen_import_id, seen_row)` as the queries return it.
    fn from_row((row, seen_import_id, seen_row): (i64, Uuid, i64)) -> SeenBefore {
        SeenBefore {
            row: row.max(0) as u64,
            seen_import_id,
            seen_row: seen_row.max(0) as u64,
        }
    }
}

/// Rows held per statement when they are saved.
const SAVE_BATCH: usize = 10_000;

/// Which of `rows` (row number and fingerprint, of import `import_id`) match a transaction
/// that landed from another import, each with the earliest such transaction's import and row.
/// One statement; every row is an index lookup (`transactions_import_fingerprint_idx`).
pub async fn find_landed_elsewhere(
    pool: &PgPool,
    import_id: Uuid,
    rows: &[(u64, Fingerprint)],
) -> Result<Vec<SeenBefore>> {
    let mut numbers = Vec::with_capacity(rows.len());
    let mut senders = Vec::with_capacity(rows.len());
    let mut receivers = Vec::with_capacity(rows.len());
    let mut amounts: Vec<Decimal> = Vec::with_capacity(rows.len());
    let mut currencies = Vec::with_capacity(rows.len());
    let mut dates: Vec<DateTime<Utc>> = Vec::with_capacity(rows.len());
    let mut statuses = Vec::with_capacity(rows.len());
    for (row, f) in rows {
        numbers.push(i64::try_from(*row).unwrap_or(i64::MAX));
        senders.push(f.sender_id);
        receivers.push(f.receiver_id);
        amounts.push(f.amount);
        currencies.push(f.currency_code);
        dates.push(f.transaction_date);
        statuses.push(f.status.as_str());
    }
    let found: Vec<(i64, Uuid, i64)> = sqlx::query_as(
        "SELECT q.row_number, s.import_id, s.import_row
           FROM unnest($2::int8[], $3::uuid[], $4::uuid[], $5::numeric[], $6::int[],
                       $7::timestamptz[], $8::text[])
                AS q(row_number, sender_id, receiver_id, amount, currency_id, transaction_date,
                     status)
          CROSS JOIN LATERAL (
                SELECT t.import_id, COALESCE(t.import_row, 0) AS import_row
                  FROM transactions t
                 WHERE t.import_id IS NOT NULL AND t.import_id <> $1
                   AND t.sender_id = q.sender_id AND t.receiver_id = q.receiver_id
                   AND t.amount = q.amount AND t.currency_id = q.currency_id
                   AND t.transaction_date = q.transaction_date AND t.status = q.status
                 ORDER BY t.created_at, t.transaction_id
                 LIMIT 1) s
          ORDER BY q.row_number",
    )
    .bind(import_id)
    .bind(&numbers)
    .bind(&senders)
    .bind(&receivers)
    .bind(&amounts)
    .bind(&currencies)
    .bind(&dates)
    .bind(&statuses)
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().map(SeenBefore::from_row).collect())
}

/// Records the rows of import `import_id` held as cross-file duplicates (again: no change).
pub async fn save_held_rows(pool: &PgPool, import_id: Uuid, held: &[SeenBefore]) -> Result<()> {
    for batch in held.chunks(SAVE_BATCH) {
        let rows: Vec<i64> = batch.iter().map(|h| h.row as i64).collect();
        let seen_imports: Vec<Uuid> = batch.iter().map(|h| h.seen_import_id).collect();
        let seen_rows: Vec<i64> = batch.iter().map(|h| h.seen_row as i64).collect();
        sqlx::query(
            "INSERT INTO import_held_rows (import_id, row_number, seen_import_id, seen_row)
             SELECT $1, * FROM unnest($2::int8[], $3::uuid[], $4::int8[])
             ON CONFLICT (import_id, row_number) DO NOTHING",
        )
        .bind(import_id)
        .bind(&rows)
        .bind(&seen_imports)
        .bind(&seen_rows)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// The rows of import `import_id` held as cross-file duplicates, in row order.
pub async fn held_rows(pool: &PgPool, import_id: Uuid) -> Result<Vec<SeenBefore>> {
    let rows: Vec<(i64, Uuid, i64)> = sqlx::query_as(
        "SELECT row_number, seen_import_id, seen_row FROM import_held_rows
          WHERE import_id = $1 ORDER BY row_number",
    )
    .bind(import_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(SeenBefore::from_row).collect())
}
