//! What is replicated: the publication's tables and columns, read from PostgreSQL's catalog,
//! and the column types each becomes in Delta Lake.

use sqlx::PgPool;

use crate::error::{LakehouseError, Result};

/// The publication the migrations create: the platform's tables (with `users` minus its
/// password hashes, which have no place in an analytics store).
pub const PUBLICATION: &str = "payments_lakehouse";

/// A PostgreSQL column type the replicator can carry, and what it becomes in Delta Lake.
/// Money stays exact: `numeric(p,s)` becomes `decimal(p,s)`, never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    /// `text`, `varchar`, `char(n)`, `uuid`, `json`, `jsonb`: a Delta `string`.
    Text,
    Int16,
    Int32,
    Int64,
    Bool,
    /// `numeric(precision, scale)`; an unconstrained `numeric` is refused (no exact Delta type).
    Numeric {
        precision: u8,
        scale: u8,
    },
    /// `timestamptz`: microseconds in UTC.
    TimestampTz,
    /// `timestamp` without time zone.
    Timestamp,
    Date,
    Bytea,
    Float64,
    /// `text[]` (and other one-dimensional arrays of text-like types): a Delta `array<string>`.
    TextArray,
}

impl PgType {
    /// The type of a column from `pg_type.typname` and `pg_attribute.atttypmod`.
    pub fn from_catalog(typname: &str, typmod: i32) -> Option<PgType> {
        Some(match typname {
            "text" | "varchar" | "bpchar" | "uuid" | "json" | "jsonb" | "name" => PgType::Text,
            "int2" => PgType::Int16,
            "int4" => PgType::Int32,
            "int8" => PgType::Int64,
            "bool" => PgType::Bool,
            "numeric" if typmod >= 4 => {
                // atttypmod of numeric(p,s) is ((p << 16) | s) + VARHDRSZ.
                let packed = typmod - 4;
                let precision = u8::try_from((packed >> 16) & 0xffff).ok()?;
                let scale = u8::try_from(packed & 0xffff).ok()?;
                if precision == 0 || precision > 38 || scale > precision {
                    return None;
                }
                PgType::Numeric { precision, scale }
            }
            "timestamptz" => PgType::TimestampTz,
            "timestamp" => PgType::Timestamp,
            "date" => PgType::Date,
            "bytea" => PgType::Bytea,
            "float8" | "float4" => PgType::Float64,
            "_text" | "_varchar" | "_uuid" => PgType::TextArray,
            _ => return None,
        })
    }

    /// Whether PostgreSQL may store a value of this type out of line (TOAST), in which case an
    /// UPDATE that leaves it alone does not send it again.
    pub fn toastable(self) -> bool {
        matches!(self, PgType::Text | PgType::Bytea | PgType::TextArray)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: PgType,
    pub key: bool,
}

/// A derived partition column: the month (`YYYY-MM`, UTC) of a timestamp column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthPartition {
    pub name: String,
    pub of_column: usize,
}

/// One published table: its columns in catalog order (as the publication lists them), its
/// primary key, and how its current-state table is partitioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub partition: Option<MonthPartition>,
}

impl Table {
    pub fn key_columns(&self) -> impl Iterator<Item = (usize, &Column)> {
        self.columns.iter().enumerate().filter(|(_, c)| c.key)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// Which derived partition a table gets: `transactions` by the month of `transaction_date`
/// (analysts filter by payment date; a month holds a few large files once compacted).
fn partition_of(table: &str, columns: &[Column]) -> Option<MonthPartition> {
    let of = match table {
        "transactions" => "transaction_date",
        _ => return None,
    };
    let of_column = columns.iter().position(|c| c.name == of)?;
    Some(MonthPartition {
        name: "transaction_month".to_owned(),
        of_column,
    })
}

/// The publication's tables with their published columns, in name order.
pub async fn published_tables(db: &PgPool, publication: &str) -> Result<Vec<Table>> {
    let rows: Vec<(String, String, String, i32, bool)> = sqlx::query_as(
        "SELECT pt.tablename::text, a.attname::text, t.typname::text, a.atttypmod,
                coalesce(a.attnum = ANY (i.indkey::int2[]), false)
           FROM pg_publication_tables pt
           JOIN pg_class c ON c.relname = pt.tablename
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = pt.schemaname
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ANY (pt.attnames)
           JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
          WHERE pt.pubname = $1 AND pt.schemaname = current_schema()
          ORDER BY pt.tablename, a.attnum",
    )
    .bind(publication)
    .fetch_all(db)
    .await?;
    if rows.is_empty() {
        return Err(LakehouseError::NoPublication(publication.to_owned()));
    }
    let mut tables: Vec<Table> = Vec::new();
    for (table, column, typname, typmod, key) in rows {
        let ty = PgType::from_catalog(&typname, typmod).ok_or_else(|| {
            LakehouseError::UnsupportedColumn {
                table: table.clone(),
                column: column.clone(),
                ty: typname.clone(),
            }
        })?;
        match tables.last_mut() {
            Some(last) if last.name == table => last.columns.push(Column {
                name: column,
                ty,
                key,
            }),
            _ => tables.push(Table {
                name: table,
                columns: vec![Column {
                    name: column,
                    ty,
                    key,
                }],
                partition: None,
            }),
        }
    }
    for table in &mut tables {
        if table.key_columns().next().is_none() {
            return Err(LakehouseError::NoPrimaryKey(table.name.clone()));
        }
        table.partition = partition_of(&table.name, &table.columns);
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_keeps_its_precision_and_scale() {
        // numeric(10,2): (10 << 16 | 2) + 4
        assert_eq!(
            PgType::from_catalog("numeric", (10 << 16 | 2) + 4),
            Some(PgType::Numeric {
                precision: 10,
                scale: 2
            })
        );
        assert_eq!(PgType::from_catalog("numeric", -1), None);
        assert_eq!(PgType::from_catalog("point", -1), None);
        assert_eq!(PgType::from_catalog("uuid", -1), Some(PgType::Text));
    }
}
