//! Runs the Overview dashboard's questions ([`payments_domain::dashboard`]) for the web app's
//! `/dashboard`: each on the app's pool inside a `READ ONLY` transaction with a statement timeout,
//! its rows decoded into [`Answer`]s.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use payments_domain::dashboard::Question;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::postgres::{PgRow, PgTypeInfo};
use sqlx::{Column, PgPool, Postgres, Row, Type, TypeInfo, ValueRef};
use uuid::Uuid;

use crate::{Result, StoreError};

/// A question's answer: its columns and its rows, each cell decoded from the column's
/// PostgreSQL type.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Answer {
    /// Column names in query order; empty when there are no rows (sqlx describes the columns
    /// only along with a row).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Answer {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One value of an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Text(String),
    Date(NaiveDate),
    Timestamp(DateTime<Utc>),
}

impl Cell {
    /// The cell as a number to draw, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Decimal(d) => d.to_f64(),
            _ => None,
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => Ok(()),
            Cell::Bool(b) => write!(f, "{}", if *b { "yes" } else { "no" }),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Decimal(d) => write!(f, "{d}"),
            Cell::Text(s) => f.write_str(s),
            Cell::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Cell::Timestamp(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S UTC")),
        }
    }
}

/// Longest a question may run; a slow chart must not hold a pooled connection for long.
const STATEMENT_TIMEOUT: &str = "5s";

/// The tables the questions read, each with the time that places a row in a date range: a
/// payment's transaction date, a rejection's time, an import's start.
const RANGED_TABLES: [(&str, &str); 3] = [
    ("transactions", "transaction_date"),
    ("rejected_events", "rejected_at"),
    ("imports", "created_at"),
];

/// A question's SQL limited to rows from `$1` on. Each table it reads is shadowed by a
/// common table expression of the same name holding only that table's rows in the range, so
/// the questions stay one plain text each (Metabase runs them as they are) and the range
/// needs no second copy of them. PostgreSQL inlines each expression into the query, so the
/// tables' time indexes still serve it.
/// A question kept in totals is asked of `transactions` instead ([`Question::sql_in_range`]).
fn since_sql(question: &Question) -> String {
    let shadows: Vec<String> = RANGED_TABLES
        .iter()
        .map(|(table, time)| format!("{table} AS (SELECT * FROM {table} WHERE {time} >= $1)"))
        .collect();
    format!("WITH {}\n{}", shadows.join(",\n"), in_range(question))
}

fn in_range(question: &Question) -> &'static str {
    question.sql_in_range.unwrap_or(question.sql)
}

/// As [`answer`], counting only rows from `since` on (every row when `None`).
pub async fn answer_since(
    pool: &PgPool,
    question: &Question,
    since: Option<DateTime<Utc>>,
) -> Result<Answer> {
    match since {
        None => answer(pool, question).await,
        // Built from the constant table list and the question's constant SQL; `since` is bound.
        Some(since) => {
            let sql = sqlx::AssertSqlSafe(since_sql(question));
            run(pool, question, sql, Some(since)).await
        }
    }
}

/// Folds the dashboard totals' pending rows into one row per key (migration `payment_totals`),
/// so the questions sum few rows; returns how many rows went. The answers are the same
/// before and after; only their cost changes.
pub async fn compact_totals(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT compact_payment_totals()")
        .fetch_one(pool)
        .await?)
}

/// Runs one question in a read-only transaction and decodes its rows.
pub async fn answer(pool: &PgPool, question: &Question) -> Result<Answer> {
    run(pool, question, question.sql, None).await
}

async fn run(
    pool: &PgPool,
    question: &Question,
    sql: impl sqlx::SqlSafeStr,
    since: Option<DateTime<Utc>>,
) -> Result<Answer> {
    // READ ONLY: the questions only read, and the database enforces it in case one ever doesn't.
    let mut tx = pool.begin_with("BEGIN READ ONLY").await?;
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(STATEMENT_TIMEOUT)
        .execute(&mut *tx)
        .await?;
    let mut query = sqlx::query(sql);
    if let Some(since) = since {
        query = query.bind(since);
    }
    let rows = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let columns = rows
        .first()
        .map(|row| row.columns().iter().map(|c| c.name().to_owned()).collect())
        .unwrap_or_default();
    let rows = rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| decode(question, row, i))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Answer { columns, rows })
}

/// Decodes by the column's type as PostgreSQL reports it, since the questions are plain SQL.
fn decode(question: &Question, row: &PgRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let ty = raw.type_info().into_owned();
    let cell = if is::<bool>(&ty) {
        Cell::Bool(row.try_get(i)?)
    } else if is::<i16>(&ty) {
        Cell::Int(row.try_get::<i16, _>(i)?.into())
    } else if is::<i32>(&ty) {
        Cell::Int(row.try_get::<i32, _>(i)?.into())
    } else if is::<i64>(&ty) {
        Cell::Int(row.try_get(i)?)
    } else if is::<f32>(&ty) {
        Cell::Float(row.try_get::<f32, _>(i)?.into())
    } else if is::<f64>(&ty) {
        Cell::Float(row.try_get(i)?)
    } else if is::<Decimal>(&ty) {
        Cell::Decimal(row.try_get(i)?)
    } else if is::<NaiveDate>(&ty) {
        Cell::Date(row.try_get(i)?)
    } else if is::<DateTime<Utc>>(&ty) {
        Cell::Timestamp(row.try_get(i)?)
    } else if is::<NaiveDateTime>(&ty) {
        Cell::Timestamp(row.try_get::<NaiveDateTime, _>(i)?.and_utc())
    } else if is::<Uuid>(&ty) {
        Cell::Text(row.try_get::<Uuid, _>(i)?.to_string())
    } else if is::<String>(&ty) {
        // text, varchar, char(n) and name
        Cell::Text(row.try_get(i)?)
    } else {
        return Err(StoreError::UnsupportedColumn {
            question: question.slug,
            column: row.columns()[i].name().to_owned(),
            type_name: ty.name().to_owned(),
        });
    };
    Ok(cell)
}

fn is<T: Type<Postgres>>(ty: &PgTypeInfo) -> bool {
    T::compatible(ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use payments_domain::dashboard::OVERVIEW;

    #[test]
    fn every_question_can_be_limited_to_a_range() {
        for question in OVERVIEW {
            let sql = in_range(question);
            // A question of its own WITH would not take the shadowing expressions in front.
            assert!(
                !sql.trim_start().to_ascii_uppercase().starts_with("WITH"),
                "{}",
                question.slug
            );
            let read = |table: &str| {
                sql.contains(&format!("FROM {table}")) || sql.contains(&format!("JOIN {table}"))
            };
            let ranged = RANGED_TABLES.iter().any(|(table, _)| read(table));
            assert!(ranged, "{} reads a table with a time", question.slug);
            assert!(since_sql(question).ends_with(sql));
        }
    }
}
