//! The ingester's write path: one database transaction per batch that upserts the valid rows,
//! records the rejections and advances the consumer offsets together.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use payments_domain::validate::RejectKind;
use payments_domain::Payment;
use rust_decimal::Decimal;
use sqlx::postgres::PgArgumentBuffer;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use crate::{Result, StoreError};

/// Rejected payloads are kept whole up to this size; larger ones are cut (their size is kept).
const MAX_STORED_PAYLOAD: usize = 1024 * 1024;

/// One consumed Kafka record and what validation made of it.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub outcome: RecordOutcome,
}

#[derive(Debug, Clone)]
pub enum RecordOutcome {
    Valid(Payment),
    Rejected {
        payload: Vec<u8>,
        reason: String,
        /// The first problem's kind, for counting by reason.
        kind: RejectKind,
        import_id: Option<Uuid>,
        row_number: Option<i64>,
        /// An unknown user or currency: worth validating again after reloading them.
        reference_miss: bool,
    },
}

/// Records in the order they were consumed.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub records: Vec<Record>,
}

/// What a committed batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Rows inserted or changed in `transactions`.
    pub upserted: u64,
    /// Rows newly recorded in `rejected_events`, including those PostgreSQL itself refused.
    pub rejected: u64,
    /// Records skipped because an earlier transaction already applied their offset.
    pub already_applied: usize,
    /// Reasons PostgreSQL gave for rows that passed validation but violated a constraint.
    pub refused: Vec<(Arc<str>, i32, i64, String)>,
    /// The newly recorded rejections by kind (PostgreSQL's refusals as `Database`).
    pub rejected_by_kind: BTreeMap<RejectKind, u64>,
}

/// The stored resume position of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffset {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

/// Where consumption of each partition of these topics resumes for this group.
pub async fn load_offsets(
    pool: &PgPool,
    group: &str,
    topics: &[String],
) -> Result<Vec<StoredOffset>> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM consumer_offsets
         WHERE group_id = $1 AND topic = ANY($2)",
    )
    .bind(group)
    .bind(topics)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(topic, partition, next_offset)| StoredOffset {
            topic,
            partition,
            next_offset,
        })
        .collect())
}

/// Applies a batch exactly once.
///
/// The offset rows of the batch's partitions are locked first and records below the stored
/// offsets are dropped, so a replay after a crash, a rebalance or a zombie consumer changes
/// nothing. Valid rows go in with one set-based upsert (within a batch the last record of a
/// `transaction_id` wins; an identical replay does not touch the row). If PostgreSQL refuses
/// the set (a user deleted since validation, say), the rows are retried one by one under
/// savepoints and the refused ones become rejections with the database's reason.
pub async fn write_batch(pool: &PgPool, group: &str, batch: &Batch) -> Result<BatchOutcome> {
    write_batch_via(pool, group, batch, WritePath::default()).await
}

/// [`write_batch`] by a chosen [`WritePath`] (the benchmark measures both).
pub async fn write_batch_via(
    pool: &PgPool,
    group: &str,
    batch: &Batch,
    path: WritePath,
) -> Result<BatchOutcome> {
    write_batch_after(pool, group, batch, path, &CommittedOffsets::new()).await
}

/// The next offset of each partition as a writer last committed it, by topic and partition.
pub type CommittedOffsets = HashMap<(Arc<str>, i32), i64>;

/// The first partition (in topic and partition order) whose stored offset is behind what was
/// committed there, as the error that says so. `stored` gives a partition's stored offset, or
/// `None` for a partition not to compare. Offsets move forward only, so only a database that
/// lost commits (restored from a backup, say) is ever behind.
pub fn database_behind(
    committed: &CommittedOffsets,
    stored: impl Fn(&str, i32) -> Option<i64>,
) -> Option<StoreError> {
    let mut partitions: Vec<_> = committed.iter().collect();
    partitions.sort();
    partitions
        .into_iter()
        .find_map(|((topic, partition), &ours)| {
            let at = stored(topic, *partition)?;
            (at < ours).then(|| StoreError::DatabaseBehind {
                topic: topic.to_string(),
                partition: *partition,
                stored: at,
                committed: ours,
            })
        })
}

/// [`write_batch_via`], refusing to write when the database's offset of a partition is behind
/// what this writer committed there (`committed`): the database lost commits (restored from a
/// backup, say), and the records between are not in this batch. Nothing is written then
/// ([`StoreError::DatabaseBehind`]); the caller reads the partition again from the database's
/// offset. Offsets move forward only, so in any other case the stored one is at least the
/// writer's.
pub async fn write_batch_after(
    pool: &PgPool,
    group: &str,
    batch: &Batch,
    path: WritePath,
    committed: &CommittedOffsets,
) -> Result<BatchOutcome> {
    let mut tx = pool.begin().await?;
    let resume = lock_offsets(&mut tx, group, batch).await?;
    // The batch's partitions only (`lock_offsets` returned each of them).
    if let Some(behind) = database_behind(committed, |topic, partition| {
        resume.get(&(topic, partition)).copied()
    }) {
        return Err(behind);
    }
    let mut fresh: Vec<&Record> = Vec::with_capacity(batch.records.len());
    let mut seen: HashMap<(&str, i32), i64> = HashMap::new();
    let mut already_applied = 0;
    for record in &batch.records {
        let key = (&*record.topic, record.partition);
        let floor = match seen.get(&key) {
            Some(last) => last + 1,
            None => resume.get(&key).copied().unwrap_or(0),
        };
        if record.offset < floor {
            already_applied += 1;
            continue;
        }
        seen.insert(key, record.offset);
        fresh.push(record);
    }

    let payments = last_per_transaction(&fresh);
    let mut refused = Vec::new();
    let upserted = match upsert_with(
        &mut tx,
        &payments.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        path,
    )
    .await
    {
        Ok(n) => n,
        Err(e) if e.is_data_error() => {
            // Start over without the failed statement, then isolate the offending rows.
            tx.rollback().await?;
            tx = pool.begin().await?;
            lock_offsets(&mut tx, group, batch).await?;
            upsert_one_by_one(&mut tx, &payments, &mut refused).await?
        }
        Err(e) => return Err(e),
    };
    let rejected = insert_rejections(&mut tx, &fresh, &refused).await?;
    store_offsets(&mut tx, group, &fresh).await?;
    tx.commit().await?;
    let mut rejected_by_kind = BTreeMap::new();
    for record in &fresh {
        if let RecordOutcome::Rejected { kind, .. } = &record.outcome {
            *rejected_by_kind.entry(*kind).or_insert(0) += 1;
        }
    }
    if !refused.is_empty() {
        rejected_by_kind.insert(RejectKind::Database, refused.len() as u64);
    }
    Ok(BatchOutcome {
        upserted,
        rejected,
        already_applied,
        rejected_by_kind,
        refused: refused
            .into_iter()
            .map(|(r, reason)| (r.topic.clone(), r.partition, r.offset, reason))
            .collect(),
    })
}

/// Ensures an offset row per partition of the batch, locks them in a fixed order (so two
/// writers cannot deadlock) and returns the stored next offsets.
async fn lock_offsets<'b>(
    conn: &mut PgConnection,
    group: &str,
    batch: &'b Batch,
) -> Result<HashMap<(&'b str, i32), i64>> {
    let mut partitions: Vec<(&'b str, i32)> = batch
        .records
        .iter()
        .map(|r| (&*r.topic, r.partition))
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    let topics: Vec<&str> = partitions.iter().map(|(t, _)| *t).collect();
    let numbers: Vec<i32> = partitions.iter().map(|(_, p)| *p).collect();
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "INSERT INTO consumer_offsets AS o (group_id, topic, partition, next_offset)
         SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS x(t, p) ORDER BY t, p
         ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = o.next_offset
         RETURNING topic, partition, next_offset",
    )
    .bind(group)
    .bind(&topics)
    .bind(&numbers)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(topic, partition, next)| {
            partitions
                .iter()
                .find(|(t, p)| *t == topic && *p == partition)
                .map(|key| (*key, next))
        })
        .collect())
}

/// Keeps, per `transaction_id`, the last valid record of the batch (in consumption order),
/// sorted by `transaction_id` so the primary key's index is walked in order, not at random.
fn last_per_transaction<'a>(records: &[&'a Record]) -> Vec<(&'a Record, &'a Payment)> {
    let mut position: HashMap<Uuid, usize> = HashMap::new();
    let mut out: Vec<(&Record, &Payment)> = Vec::new();
    for record in records {
        if let RecordOutcome::Valid(payment) = &record.outcome {
            match position.get(&payment.transaction_id) {
                Some(&i) => out[i] = (record, payment),
                None => {
                    position.insert(payment.transaction_id, out.len());
                    out.push((record, payment));
                }
            }
        }
    }
    out.sort_unstable_by_key(|(_, p)| p.transaction_id);
    out
}

/// Column arrays for `unnest`.
#[derive(Default)]
struct Columns {
    transaction_id: Vec<Uuid>,
    sender_id: Vec<Uuid>,
    receiver_id: Vec<Uuid>,
    amount: Vec<Decimal>,
    currency_id: Vec<i32>,
    transaction_date: Vec<DateTime<Utc>>,
    status: Vec<&'static str>,
    source: Vec<&'static str>,
    import_id: Vec<Option<Uuid>>,
    import_row: Vec<Option<i64>>,
    suspicious: Vec<bool>,
}

impl Columns {
    fn new(payments: &[&Payment]) -> Self {
        let mut c = Columns::default();
        for p in payments {
            c.transaction_id.push(p.transaction_id);
            c.sender_id.push(p.sender_id);
            c.receiver_id.push(p.receiver_id);
            c.amount.push(p.amount);
            c.currency_id.push(p.currency_code);
            c.transaction_date.push(p.transaction_date);
            c.status.push(p.status.as_str());
            c.source.push(p.source.as_str());
            c.import_id.push(p.import_id);
            c.import_row.push(p.import_row);
            c.suspicious.push(p.suspicious);
        }
        c
    }
}

/// The conflict rule both write paths share: the last record wins, an identical one changes
/// nothing (so `modified_at` only moves on a real change).
macro_rules! upsert_from {
    ($source:literal) => {
        concat!(
            "INSERT INTO transactions AS t (transaction_id, sender_id, receiver_id, amount,
                currency_id, transaction_date, status, source, import_id, import_row, suspicious) ",
            $source,
            " ON CONFLICT (transaction_id) DO UPDATE SET
    sender_id = EXCLUDED.sender_id, receiver_id = EXCLUDED.receiver_id, amount = EXCLUDED.amount,
    currency_id = EXCLUDED.currency_id, transaction_date = EXCLUDED.transaction_date,
    status = EXCLUDED.status, source = EXCLUDED.source, import_id = EXCLUDED.import_id,
    import_row = EXCLUDED.import_row, suspicious = EXCLUDED.suspicious
WHERE (t.sender_id, t.receiver_id, t.amount, t.currency_id, t.transaction_date, t.status,
       t.source, t.import_id, t.import_row, t.suspicious)
   IS DISTINCT FROM
      (EXCLUDED.sender_id, EXCLUDED.receiver_id, EXCLUDED.amount, EXCLUDED.currency_id,
       EXCLUDED.transaction_date, EXCLUDED.status, EXCLUDED.source, EXCLUDED.import_id,
       EXCLUDED.import_row, EXCLUDED.suspicious)"
        )
    };
}

const UPSERT_UNNEST: &str = upsert_from!(
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[], $5::int[],
    $6::timestamptz[], $7::text[], $8::text[], $9::uuid[], $10::int8[], $11::bool[])"
);

const UPSERT_STAGED: &str = upsert_from!("SELECT * FROM ingest_staging");

/// A session-local table the batch is `COPY`ed into; emptied at every commit.
const CREATE_STAGING: &str = "DO $$ BEGIN
    IF to_regclass('pg_temp.ingest_staging') IS NULL THEN
        CREATE TEMP TABLE ingest_staging (
            transaction_id uuid, sender_id uuid, receiver_id uuid, amount numeric,
            currency_id integer, transaction_date timestamptz, status text, source text,
            import_id uuid, import_row bigint, suspicious boolean
        ) ON COMMIT DELETE ROWS;
    END IF;
END $$";

/// How a batch's rows reach `transactions`. Both give the same rows; which is faster is a
/// question for `scripts/bench ingest`, which measures both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WritePath {
    /// One `INSERT … SELECT FROM unnest(arrays)` with the rows as bind parameters.
    Unnest,
    /// Binary `COPY` into a session-local staging table, then one `INSERT … SELECT`.
    #[default]
    Staged,
}

impl WritePath {
    pub fn as_str(self) -> &'static str {
        match self {
            WritePath::Unnest => "unnest",
            WritePath::Staged => "staged",
        }
    }
}

impl std::str::FromStr for WritePath {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "unnest" => Ok(WritePath::Unnest),
            "staged" => Ok(WritePath::Staged),
            other => Err(format!("{other:?} is not a write path (staged, unnest)")),
        }
    }
}

async fn upsert_with(
    conn: &mut PgConnection,
    payments: &[&Payment],
    path: WritePath,
) -> Result<u64> {
    if payments.is_empty() {
        return Ok(0);
    }
    match path {
        WritePath::Unnest => upsert_unnest(conn, payments).await,
        WritePath::Staged => upsert_staged(conn, payments).await,
    }
}

async fn upsert_unnest(conn: &mut PgConnection, payments: &[&Payment]) -> Result<u64> {
    let c = Columns::new(payments);
    let done = sqlx::query(UPSERT_UNNEST)
        .bind(&c.transaction_id)
        .bind(&c.sender_id)
        .bind(&c.receiver_id)
        .bind(&c.amount)
        .bind(&c.currency_id)
        .bind(&c.transaction_date)
        .bind(&c.status)
        .bind(&c.source)
        .bind(&c.import_id)
        .bind(&c.import_row)
        .bind(&c.suspicious)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

async fn upsert_staged(conn: &mut PgConnection, payments: &[&Payment]) -> Result<u64> {
    sqlx::query(CREATE_STAGING).execute(&mut *conn).await?;
    let data = copy_binary(payments)?;
    let mut copy = conn
        .copy_in_raw("COPY ingest_staging FROM STDIN (FORMAT binary)")
        .await?;
    copy.send(data.as_slice()).await?;
    copy.finish().await?;
    let done = sqlx::query(UPSERT_STAGED).execute(&mut *conn).await?;
    Ok(done.rows_affected())
}

/// The rows in PostgreSQL's binary `COPY` format, each value encoded by sqlx's own binary
/// encoder for its type (the same bytes a bind parameter would carry).
fn copy_binary(payments: &[&Payment]) -> Result<Vec<u8>> {
    const FIELDS: i16 = 11;
    let mut buf = PgArgumentBuffer::default();
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for p in payments {
        buf.extend_from_slice(&FIELDS.to_be_bytes());
        field(&mut buf, &p.transaction_id)?;
        field(&mut buf, &p.sender_id)?;
        field(&mut buf, &p.receiver_id)?;
        field(&mut buf, &p.amount)?;
        field(&mut buf, &p.currency_code)?;
        field(&mut buf, &p.transaction_date)?;
        field(&mut buf, &p.status.as_str())?;
        field(&mut buf, &p.source.as_str())?;
        field(&mut buf, &p.import_id)?;
        field(&mut buf, &p.import_row)?;
        field(&mut buf, &p.suspicious)?;
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(std::mem::take(&mut *buf))
}

/// One field: its length (or -1 for NULL), then its binary encoding.
fn field<'q, T: sqlx::Encode<'q, Postgres>>(buf: &mut PgArgumentBuffer, value: &T) -> Result<()> {
    let at = buf.len();
    buf.extend_from_slice(&0i32.to_be_bytes());
    let is_null = value
        .encode_by_ref(buf)
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    let length = if is_null.is_null() {
        -1
    } else {
        i32::try_from(buf.len() - at - 4).map_err(|e| StoreError::Encode(e.to_string()))?
    };
    buf[at..at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

async fn upsert_one_by_one<'a>(
    conn: &mut PgConnection,
    payments: &[(&'a Record, &'a Payment)],
    refused: &mut Vec<(&'a Record, String)>,
) -> Result<u64> {
    let mut upserted = 0;
    for (record, payment) in payments {
        sqlx::query("SAVEPOINT one_row").execute(&mut *conn).await?;
        match upsert_unnest(conn, &[payment]).await {
            Ok(n) => {
                upserted += n;
                sqlx::query("RELEASE SAVEPOINT one_row")
                    .execute(&mut *conn)
                    .await?;
            }
            Err(e) if e.is_data_error() => {
                sqlx::query("ROLLBACK TO SAVEPOINT one_row")
                    .execute(&mut *conn)
                    .await?;
                let reason = match &e {
                    StoreError::Database(sqlx::Error::Database(db)) => {
                        format!("refused by the database: {}", db.message())
                    }
                    other => other.to_string(),
                };
                refused.push((record, reason));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(upserted)
}

async fn insert_rejections(
    conn: &mut PgConnection,
    fresh: &[&Record],
    refused: &[(&Record, String)],
) -> Result<u64> {
    let mut rows = Rejections::default();
    for record in fresh {
        if let RecordOutcome::Rejected {
            payload,
            reason,
            import_id,
            row_number,
            ..
        } = &record.outcome
        {
            rows.push(record, payload, reason, *import_id, *row_number);
        }
    }
    for (record, reason) in refused {
        if let RecordOutcome::Valid(p) = &record.outcome {
            // The payment as validated; the raw bytes were not kept for valid records.
            let payload = format!("{p:?}");
            rows.push(
                record,
                payload.as_bytes(),
                reason,
                p.import_id,
                p.import_row,
            );
        }
    }
    if rows.topic.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "INSERT INTO rejected_events (topic, partition, kafka_offset, payload, payload_bytes,
             reason, import_id, row_number)
         SELECT * FROM unnest($1::text[], $2::int[], $3::int8[], $4::bytea[], $5::int[],
             $6::text[], $7::uuid[], $8::int8[])
         ON CONFLICT (topic, partition, kafka_offset) DO NOTHING",
    )
    .bind(&rows.topic)
    .bind(&rows.partition)
    .bind(&rows.offset)
    .bind(&rows.payload)
    .bind(&rows.payload_bytes)
    .bind(&rows.reason)
    .bind(&rows.import_id)
    .bind(&rows.row_number)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

#[derive(Default)]
struct Rejections {
    topic: Vec<String>,
    partition: Vec<i32>,
    offset: Vec<i64>,
    payload: Vec<Vec<u8>>,
    payload_bytes: Vec<i32>,
    reason: Vec<String>,
    import_id: Vec<Option<Uuid>>,
    row_number: Vec<Option<i64>>,
}

impl Rejections {
    fn push(
        &mut self,
        r: &Record,
        bytes: &[u8],
        reason: &str,
        import: Option<Uuid>,
        row: Option<i64>,
    ) {
        self.topic.push(r.topic.to_string());
        self.partition.push(r.partition);
        self.offset.push(r.offset);
        self.payload_bytes
            .push(i32::try_from(bytes.len()).unwrap_or(i32::MAX));
        self.payload
            .push(bytes[..bytes.len().min(MAX_STORED_PAYLOAD)].to_vec());
        self.reason.push(reason.to_owned());
        self.import_id.push(import);
        self.row_number.push(row);
    }
}

async fn store_offsets(conn: &mut PgConnection, group: &str, fresh: &[&Record]) -> Result<()> {
    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for r in fresh {
        let entry = next.entry((&*r.topic, r.partition)).or_insert(0);
        *entry = (*entry).max(r.offset + 1);
    }
    if next.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = next.keys().map(|(t, _)| *t).collect();
    let partitions: Vec<i32> = next.keys().map(|(_, p)| *p).collect();
    let offsets: Vec<i64> = next.values().copied().collect();
    sqlx::query(
        "UPDATE consumer_offsets AS o
         SET next_offset = GREATEST(o.next_offset, x.n), updated_at = now()
         FROM unnest($2::text[], $3::int[], $4::int8[]) AS x(t, p, n)
         WHERE o.group_id = $1 AND o.topic = x.t AND o.partition = x.p",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
