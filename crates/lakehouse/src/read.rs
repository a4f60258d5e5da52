//! Reading the lake back with DataFusion, and the same rows from PostgreSQL in the same text
//! form: how the tests (and an operator checking a restore) compare the two row for row.

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use sqlx::PgPool;

use crate::catalog::{PgType, Table};
use crate::delta::DeltaLocation;
use crate::error::Result;

/// A row as text, one cell per selected column (`None` for null).
pub type TextRow = Vec<Option<String>>;

/// Which engine a canonical select list is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    DataFusion,
}

/// A select list that renders every published column of `table` the same way in both
/// engines: decimals with their scale, timestamps in UTC to the microsecond, bytes as hex.
pub fn canonical_columns(table: &Table, dialect: Dialect) -> String {
    table
        .columns
        .iter()
        .map(|column| {
            let c = format!("\"{}\"", column.name);
            match (column.ty, dialect) {
                (PgType::TimestampTz, Dialect::Postgres) => {
                    format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
                }
                (PgType::Timestamp, Dialect::Postgres) => {
                    format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')")
                }
                (PgType::TimestampTz | PgType::Timestamp, Dialect::DataFusion) => {
                    format!("to_char({c}, '%Y-%m-%d %H:%M:%S%.6f')")
                }
                (PgType::Bytea, _) => format!("encode({c}, 'hex')"),
                (PgType::TextArray, Dialect::Postgres) => {
                    format!("CASE WHEN {c} IS NOT NULL THEN '[' || array_to_string({c}, '|', '~') || ']' END")
                }
                (PgType::TextArray, Dialect::DataFusion) => {
                    format!("CASE WHEN {c} IS NOT NULL THEN '[' || array_to_string({c}, '|', '~') || ']' END")
                }
                (_, Dialect::Postgres) => format!("{c}::text"),
                (_, Dialect::DataFusion) => format!("CAST({c} AS VARCHAR)"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of `table` in PostgreSQL, canonical and sorted.
pub async fn postgres_rows(db: &PgPool, table: &Table) -> Result<Vec<TextRow>> {
    let sql = format!(
        "SELECT ARRAY[{}] FROM \"{}\"",
        canonical_columns(table, Dialect::Postgres),
        table.name
    );
    // `AssertSqlSafe`: the names come from PostgreSQL's own catalog, quoted.
    let rows: Vec<(Vec<Option<String>>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(db)
        .await?;
    let mut rows: Vec<TextRow> = rows.into_iter().map(|(row,)| row).collect();
    rows.sort();
    Ok(rows)
}

/// Opens a table of the lake at its latest version.
pub async fn open(location: &DeltaLocation, name: &str) -> Result<DeltaTable> {
    Ok(DeltaTable::try_from_url_with_storage_options(
        location.table_url(name)?,
        location.storage.clone(),
    )
    .await?)
}

/// Runs `sql` over the lake's `tables` (each registered under its own name) and returns the
/// rows as text, in the order the query gives.
pub async fn query(location: &DeltaLocation, tables: &[&str], sql: &str) -> Result<Vec<TextRow>> {
    let ctx = SessionContext::new();
    for name in tables {
        let table = open(location, name).await?;
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table(*name, table.table_provider().await?)?;
    }
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut rows = Vec::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for i in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        (!c.is_null(i)).then(|| c.value(i).to_owned())
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// The rows of `table`'s current-state table in the lake, canonical and sorted.
pub async fn lake_rows(location: &DeltaLocation, table: &Table) -> Result<Vec<TextRow>> {
    let sql = format!(
        "SELECT {} FROM \"{}\"",
        canonical_columns(table, Dialect::DataFusion),
        table.name
    );
    let mut rows = query(location, &[table.name.as_str()], &sql).await?;
    rows.sort();
    Ok(rows)
}

/// The application-transaction version (last commit LSN applied) each of `table`'s two Delta
/// tables holds for `slot`.
pub async fn stored_versions(
    location: &DeltaLocation,
    slot: &str,
    table: &str,
) -> Result<[Option<u64>; 2]> {
    let app_id = format!("payments:{slot}:{table}");
    let mut versions = [None, None];
    for (i, name) in [table.to_owned(), format!("{table}_changes")]
        .iter()
        .enumerate()
    {
        let delta = open(location, name).await?;
        versions[i] = delta
            .snapshot()?
            .transaction_version(delta.log_store().as_ref(), &app_id)
            .await?
            .and_then(|v| u64::try_from(v).ok());
    }
    Ok(versions)
}

/// The position the lake is complete through for `slot` (see `delta::PositionTable`).
pub async fn stored_position(location: &DeltaLocation, slot: &str) -> Result<Option<u64>> {
    let delta = open(location, crate::delta::POSITION_TABLE).await?;
    Ok(delta
        .snapshot()?
        .transaction_version(delta.log_store().as_ref(), format!("payments:{slot}"))
        .await?
        .and_then(|v| u64::try_from(v).ok()))
}

/// Whether every table's current state in the lake equals PostgreSQL's, row for row.
pub async fn lake_equals_postgres(
    db: &PgPool,
    location: &DeltaLocation,
    tables: &[Table],
) -> Result<bool> {
    for table in tables {
        if postgres_rows(db, table).await? != lake_rows(location, table).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The (key, commit LSN) pairs `table`'s change log holds more than once: none when every
/// change landed exactly once.
pub async fn duplicate_changes(location: &DeltaLocation, table: &Table) -> Result<Vec<TextRow>> {
    let keys: Vec<String> = table
        .key_columns()
        .map(|(_, column)| format!("\"{}\"", column.name))
        .collect();
    let log = format!("{}_changes", table.name);
    let sql = format!(
        "SELECT {keys}, _commit_lsn FROM \"{log}\" GROUP BY {keys}, _commit_lsn HAVING count(*) > 1",
        keys = keys.join(", ")
    );
    query(location, &[log.as_str()], &sql).await
}
