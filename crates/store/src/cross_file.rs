//! Cross-file duplicates: rows of an import whose payment already landed from another import,
//! found by their [`Fingerprint`] in one indexed lookup per batch, and the rows held for it.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use payments_domain::Fingerprint;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use payments_domain::import::{ImportFailure, ImportStatus};

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

/// The reservation key of a payment: the first 8 bytes of SHA-256 over its fingerprint as
/// text, `sender|receiver|amount|currency|epoch microseconds|status`, the amount without
/// trailing zeros (10.50 and 10.5 are one payment, as `numeric` compares them). The same as
/// SQL's `payment_fingerprint_key` (migration 18). Two payments sharing a key is a collision
/// that can only hold a row for review, never let a payment through twice.
pub fn fingerprint_key(f: &Fingerprint) -> i64 {
    use std::fmt::Write;
    let mut text = String::with_capacity(128);
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "{}|{}|{}|{}|{}|{}",
        f.sender_id,
        f.receiver_id,
        f.amount.normalize(),
        f.currency_code,
        f.transaction_date.timestamp_micros(),
        f.status.as_str()
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Rows as array parameters, one array per fingerprint column, and their reservation keys.
struct Columns<'a> {
    keys: Vec<i64>,
    numbers: Vec<i64>,
    senders: Vec<Uuid>,
    receivers: Vec<Uuid>,
    amounts: Vec<Decimal>,
    currencies: Vec<i32>,
    dates: Vec<DateTime<Utc>>,
    statuses: Vec<&'a str>,
}

impl Columns<'_> {
    fn of(rows: &[(u64, Fingerprint)]) -> Columns<'static> {
        let mut c = Columns {
            keys: Vec::with_capacity(rows.len()),
            numbers: Vec::with_capacity(rows.len()),
            senders: Vec::with_capacity(rows.len()),
            receivers: Vec::with_capacity(rows.len()),
            amounts: Vec::with_capacity(rows.len()),
            currencies: Vec::with_capacity(rows.len()),
            dates: Vec::with_capacity(rows.len()),
            statuses: Vec::with_capacity(rows.len()),
        };
        for (row, f) in rows {
            c.keys.push(fingerprint_key(f));
            c.numbers.push(i64::try_from(*row).unwrap_or(i64::MAX));
            c.senders.push(f.sender_id);
            c.receivers.push(f.receiver_id);
            c.amounts.push(f.amount);
            c.currencies.push(f.currency_code);
            c.dates.push(f.transaction_date);
            c.statuses.push(f.status.as_str());
        }
        c
    }
}

/// The rows of a statement as `q(row_number, <fingerprint>, fingerprint_key)`, from
/// parameters $2 to $9. This and the fragments below are spliced in with `format!`, hence the
/// statements' `AssertSqlSafe`: constant SQL only, every value is a bind parameter.
const ROWS: &str = "unnest($2::int8[], $3::uuid[], $4::uuid[], $5::numeric[], $6::int[],
                           $7::timestamptz[], $8::text[], $9::int8[])
                    AS q(row_number, sender_id, receiver_id, amount, currency_id,
                         transaction_date, status, fingerprint_key)";

/// The earliest transaction another import landed with `q`'s payment (not one of `$1`, the
/// import's own ids): found by the fingerprint's hash (the index, migration
/// `fingerprint_date_index`: the date, then the hash), then compared column by column.
const LANDED_ELSEWHERE: &str = "SELECT t.import_id, COALESCE(t.import_row, 0) AS import_row
                  FROM transactions t
                 WHERE t.import_id IS NOT NULL
                   AND payment_fingerprint_hash(t.sender_id, t.receiver_id, t.amount,
                                                t.currency_id, t.transaction_date, t.status)
                     = payment_fingerprint_hash(q.sender_id, q.receiver_id, q.amount,
                                                q.currency_id, q.transaction_date, q.status)
                   AND t.import_id <> ALL($1)
                   AND t.sender_id = q.sender_id AND t.receiver_id = q.receiver_id
                   AND t.amount = q.amount AND t.currency_id = q.currency_id
                   AND t.transaction_date = q.transaction_date AND t.status = q.status
                 ORDER BY t.created_at, t.transaction_id
                 LIMIT 1";

/// The reservation `r` is `q`'s payment's (or, on a collision, another payment's: held for
/// review all the same).
const RESERVATION_OF_Q: &str = "r.fingerprint_key = q.fingerprint_key";

macro_rules! bind_rows {
    ($query:expr, $own:expr, $c:expr) => {
        $query
            .bind($own)
            .bind(&$c.numbers)
            .bind(&$c.senders)
            .bind(&$c.receivers)
            .bind(&$c.amounts)
            .bind(&$c.currencies)
            .bind(&$c.dates)
            .bind(&$c.statuses)
            .bind(&$c.keys)
    };
}

/// The ids an import treats as its own: itself and, for a correction, the import it corrects
/// (a corrected row keeps the transaction id of the row it replaces, so it cannot land twice).
#[derive(Debug, Clone, Copy)]
pub struct OwnImport {
    pub id: Uuid,
    pub corrects: Option<Uuid>,
}

impl OwnImport {
    fn ids(self) -> Vec<Uuid> {
        std::iter::once(self.id).chain(self.corrects).collect()
    }
}

/// Which of `rows` (row number and fingerprint, of import `own`) another import has seen:
/// reserved (about to publish, or published) or landed, each with that import and row.
/// Reserves nothing: for dry runs. One statement; every row is two index lookups.
pub async fn find_landed_elsewhere(
    pool: &PgPool,
    own: OwnImport,
    rows: &[(u64, Fingerprint)],
) -> Result<Vec<SeenBefore>> {
    let c = Columns::of(rows);
    let own = own.ids();
    let found: Vec<(i64, Uuid, i64)> = bind_rows!(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT q.row_number, s.import_id, s.import_row
               FROM {ROWS}
              CROSS JOIN LATERAL (
                    (SELECT r.import_id, r.row_number AS import_row
                       FROM payment_reservations r
                      WHERE {RESERVATION_OF_Q} AND r.import_id <> ALL($1))
                    UNION ALL ({LANDED_ELSEWHERE})
                    LIMIT 1) s
              ORDER BY q.row_number"
        ))),
        &own,
        c
    )
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().map(SeenBefore::from_row).collect())
}

/// A row's number, its payment's reservation (import and row) and, when that is the row's own
/// import's, the earliest transaction another import landed with it (import and row).
type Owners = (i64, Option<Uuid>, Option<i64>, Option<Uuid>, Option<i64>);

/// Times a batch is reserved again when a reservation it met was released meanwhile.
const RESERVE_ROUNDS: usize = 5;

/// Reserves the payments of `rows` for import `own`, and returns the rows another import
/// has seen: reserved first (whether or not it has landed) or landed (before reservations
/// existed, or published with the lookup off), with that import and row. Those rows are not
/// reserved here. Also renews the import's lease (`updated_at`).
///
/// The reservations are inserted in key order, so two imports reserving overlapping
/// batches at once wait for each other in one order and never deadlock; the unique key makes
/// exactly one of them the owner. Each batch commits on its own: what an import reserved stays
/// reserved until it publishes or is released (failed before publishing, rejected, abandoned).
pub async fn reserve(
    pool: &PgPool,
    own: OwnImport,
    rows: &[(u64, Fingerprint)],
) -> Result<Vec<SeenBefore>> {
    let (import_id, own) = (own.id, own.ids());
    sqlx::query("UPDATE imports SET updated_at = now() WHERE id = $1 AND status IN ($2, $3)")
        .bind(import_id)
        .bind(ImportStatus::Received)
        .bind(ImportStatus::Stored)
        .execute(pool)
        .await?;
    let mut seen = Vec::new();
    let mut pending = rows.to_vec();
    for _ in 0..RESERVE_ROUNDS {
        let c = Columns::of(&pending);
        sqlx::query(
            "INSERT INTO payment_reservations (fingerprint_key, import_id, row_number)
             SELECT q.fingerprint_key, $1, q.row_number
               FROM unnest($2::int8[], $3::int8[]) AS q(fingerprint_key, row_number)
              ORDER BY q.fingerprint_key, q.row_number
                 ON CONFLICT DO NOTHING",
        )
        .bind(import_id)
        .bind(&c.keys)
        .bind(&c.numbers)
        .execute(pool)
        .await?;
        // A new statement sees the reservations other imports committed while this one waited.
        let owners: Vec<Owners> = bind_rows!(
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT q.row_number, r.import_id, r.row_number, l.import_id, l.import_row
                   FROM {ROWS}
                   LEFT JOIN payment_reservations r ON {RESERVATION_OF_Q}
                   LEFT JOIN LATERAL (SELECT l0.* FROM ({LANDED_ELSEWHERE}) l0
                                       WHERE r.import_id = ANY($1)) l ON true
                  ORDER BY q.row_number"
            ))),
            &own,
            c
        )
        .fetch_all(pool)
        .await?;
        let mut released = BTreeSet::new();
        for (row, owner, owner_row, landed, landed_row) in owners {
            match (owner, owner_row, landed, landed_row) {
                (Some(owner), Some(owner_row), _, _) if !own.contains(&owner) => {
                    seen.push(SeenBefore::from_row((row, owner, owner_row)))
                }
                (Some(_), _, Some(landed), Some(landed_row)) => {
                    seen.push(SeenBefore::from_row((row, landed, landed_row)))
                }
                (Some(_), _, _, _) => {}
                // Reserved by an import that released it before this statement: again.
                (None, ..) => {
                    released.insert(row);
                }
            }
        }
        if released.is_empty() {
            seen.sort_by_key(|s| s.row);
            return Ok(seen);
        }
        pending.retain(|(row, _)| released.contains(&(*row as i64)));
    }
    Err(crate::StoreError::Conflict(format!(
        "{} payments of import {import_id} were reserved and released again {RESERVE_ROUNDS} times",
        pending.len()
    )))
}

/// Releases what import `import_id` reserved and never published: everything when it never
/// started publishing, else the rows it held (they are published only if approved).
pub(crate) async fn release_unpublished(conn: &mut PgConnection, import_id: Uuid) -> Result<()> {
    sqlx::query(
        "DELETE FROM payment_reservations r
          USING imports i
          WHERE r.import_id = $1 AND i.id = $1
            AND (i.publish_started_at IS NULL
                 OR EXISTS (SELECT 1 FROM import_held_rows h
                             WHERE h.import_id = $1 AND h.row_number = r.row_number))",
    )
    .bind(import_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The other imports of the file with SHA-256 `sha256` (their rows share its transaction ids).
pub async fn imports_of_file(pool: &PgPool, sha256: &str, except: Uuid) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM imports WHERE sha256 = $1 AND id <> $2")
            .bind(sha256)
            .bind(except)
            .fetch_all(pool)
            .await?,
    )
}

/// Releases what import `id` reserved and never published (see [`reserve`]).
pub async fn release_reservations(pool: &PgPool, id: Uuid) -> Result<()> {
    let mut conn = pool.acquire().await?;
    release_unpublished(&mut conn, id).await
}

/// Fails, as abandoned, every import that reserved payments, never started publishing and was
/// not touched for `lease` (its importer died), and releases its reservations; returns them.
/// Run by each import before it reserves, so a dead importer blocks no payment for long.
pub async fn release_abandoned(pool: &PgPool, lease: Duration) -> Result<Vec<Uuid>> {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let mut tx = pool.begin().await?;
    let abandoned: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE imports i
            SET status = $1, failure = $2, updated_at = now(),
                error = 'Its importer stopped before publishing anything; nothing was published and its payments were released. Upload the file again.'
          WHERE i.status IN ($3, $4) AND i.publish_started_at IS NULL
            AND i.updated_at < now() - $5::interval
            AND EXISTS (SELECT 1 FROM payment_reservations r WHERE r.import_id = i.id)
          RETURNING i.id",
    )
    .bind(ImportStatus::Failed)
    .bind(ImportFailure::Abandoned)
    .bind(ImportStatus::Received)
    .bind(ImportStatus::Stored)
    .bind(lease)
    .fetch_all(&mut *tx)
    .await?;
    for id in &abandoned {
        release_unpublished(&mut tx, *id).await?;
    }
    tx.commit().await?;
    Ok(abandoned)
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
