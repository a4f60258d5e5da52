//! Changes as Arrow record batches, in the two shapes the Delta tables take: the current state
//! (the row, its partition, `_commit_lsn`, `_commit_time`) and the change log (`_op`,
//! `_commit_lsn`, `_seq`, `_commit_time`, `_commit_month`, `_unchanged`, the row).

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Array, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use rust_decimal::Decimal;

use crate::catalog::{PgType, Table};
use crate::change::{Cell, Change};
use crate::error::{LakehouseError, Result};

pub const COMMIT_LSN: &str = "_commit_lsn";
pub const COMMIT_TIME: &str = "_commit_time";
pub const OP: &str = "_op";
pub const SEQ: &str = "_seq";
pub const COMMIT_MONTH: &str = "_commit_month";
/// The columns an UPDATE left unchanged (TOAST), as `,a,b,`; null when none.
pub const UNCHANGED: &str = "_unchanged";

fn utc() -> Option<Arc<str>> {
    Some("UTC".into())
}

/// The Arrow type a PostgreSQL type is carried as (and Delta stores).
pub fn arrow_type(ty: PgType) -> DataType {
    match ty {
        PgType::Text => DataType::Utf8,
        PgType::Int16 => DataType::Int16,
        PgType::Int32 => DataType::Int32,
        PgType::Int64 => DataType::Int64,
        PgType::Bool => DataType::Boolean,
        PgType::Numeric { precision, scale } => DataType::Decimal128(precision, scale as i8),
        PgType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, utc()),
        PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PgType::Date => DataType::Date32,
        PgType::Bytea => DataType::Binary,
        PgType::Float64 => DataType::Float64,
        PgType::TextArray => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
    }
}

fn row_fields(table: &Table) -> impl Iterator<Item = Field> + '_ {
    table
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.ty), true))
}

/// The current-state table: the row, its partition column, where it was last changed.
pub fn current_schema(table: &Table) -> SchemaRef {
    let mut fields: Vec<Field> = row_fields(table).collect();
    if let Some(partition) = &table.partition {
        fields.push(Field::new(&partition.name, DataType::Utf8, true));
    }
    fields.push(Field::new(COMMIT_LSN, DataType::Int64, false));
    fields.push(Field::new(
        COMMIT_TIME,
        DataType::Timestamp(TimeUnit::Microsecond, utc()),
        false,
    ));
    Arc::new(Schema::new(fields))
}

/// What MERGE reads: the current-state columns plus the operation and the unchanged cells.
pub fn merge_source_schema(table: &Table) -> SchemaRef {
    let mut fields: Vec<Field> = current_schema(table)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(OP, DataType::Utf8, false));
    fields.push(Field::new(UNCHANGED, DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// The change log: one row per change, partitioned by the month of its commit.
pub fn log_schema(table: &Table) -> SchemaRef {
    let mut fields = vec![
        Field::new(OP, DataType::Utf8, false),
        Field::new(COMMIT_LSN, DataType::Int64, false),
        Field::new(SEQ, DataType::Int64, false),
        Field::new(
            COMMIT_TIME,
            DataType::Timestamp(TimeUnit::Microsecond, utc()),
            false,
        ),
        Field::new(COMMIT_MONTH, DataType::Utf8, false),
        Field::new(UNCHANGED, DataType::Utf8, true),
    ];
    fields.extend(row_fields(table));
    Arc::new(Schema::new(fields))
}

fn month(time: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", time.year(), time.month())
}

fn lsn_value(lsn: u64) -> i64 {
    // WAL positions stay below 2^63 for the life of any database (16 EiB of WAL).
    i64::try_from(lsn).unwrap_or(i64::MAX)
}

/// The current-state rows of `changes` (already one per key), with the MERGE extras when
/// `for_merge`.
pub fn current_batch(table: &Table, changes: &[Change], for_merge: bool) -> Result<RecordBatch> {
    let mut columns = row_columns(table, changes)?;
    if let Some(partition) = &table.partition {
        let mut months = StringBuilder::new();
        for change in changes {
            match change.cells.get(partition.of_column) {
                Some(Cell::Text(text)) => {
                    let time = parse_timestamptz(text).map_err(|reason| {
                        value_error(
                            table,
                            &table.columns[partition.of_column].name,
                            text,
                            reason,
                        )
                    })?;
                    months.append_value(month(time));
                }
                _ => months.append_null(),
            }
        }
        columns.push(Arc::new(months.finish()));
    }
    columns.push(Arc::new(Int64Array::from_iter_values(
        changes.iter().map(|c| lsn_value(c.commit_lsn)),
    )));
    columns.push(commit_times(changes));
    let schema = if for_merge {
        let mut ops = StringBuilder::new();
        for change in changes {
            ops.append_value(change.op.as_str());
        }
        columns.push(Arc::new(ops.finish()));
        columns.push(unchanged_column(table, changes));
        merge_source_schema(table)
    } else {
        current_schema(table)
    };
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The change-log rows of `changes`.
pub fn log_batch(table: &Table, changes: &[Change]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut ops = StringBuilder::new();
    let mut seqs = Int64Builder::new();
    let mut months = StringBuilder::new();
    for change in changes {
        ops.append_value(change.op.as_str());
        seqs.append_value(i64::from(change.seq));
        months.append_value(month(change.commit_time));
    }
    columns.push(Arc::new(ops.finish()));
    columns.push(Arc::new(Int64Array::from_iter_values(
        changes.iter().map(|c| lsn_value(c.commit_lsn)),
    )));
    columns.push(Arc::new(seqs.finish()));
    columns.push(commit_times(changes));
    columns.push(Arc::new(months.finish()));
    columns.push(unchanged_column(table, changes));
    columns.extend(row_columns(table, changes)?);
    Ok(RecordBatch::try_new(log_schema(table), columns)?)
}

fn commit_times(changes: &[Change]) -> ArrayRef {
    let mut times = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for change in changes {
        times.append_value(change.commit_time.timestamp_micros());
    }
    Arc::new(times.finish())
}

fn unchanged_column(table: &Table, changes: &[Change]) -> ArrayRef {
    let mut unchanged = StringBuilder::new();
    for change in changes {
        let names: Vec<&str> = change
            .cells
            .iter()
            .zip(&table.columns)
            .filter(|(cell, _)| **cell == Cell::Unchanged)
            .map(|(_, column)| column.name.as_str())
            .collect();
        if names.is_empty() {
            unchanged.append_null();
        } else {
            unchanged.append_value(format!(",{},", names.join(",")));
        }
    }
    Arc::new(unchanged.finish())
}

fn value_error(table: &Table, column: &str, value: &str, reason: String) -> LakehouseError {
    LakehouseError::Value {
        table: table.name.clone(),
        column: column.to_owned(),
        value: value.chars().take(80).collect(),
        reason,
    }
}

/// One Arrow array per published column.
fn row_columns(table: &Table, changes: &[Change]) -> Result<Vec<ArrayRef>> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let cells = changes.iter().map(move |c| match c.cells.get(i) {
                Some(Cell::Text(text)) => Some(text.as_str()),
                _ => None,
            });
            column_array(column.ty, cells)
                .map_err(|(value, reason)| value_error(table, &column.name, &value, reason))
        })
        .collect()
}

type CellError = (String, String);

fn parse<T, E: std::fmt::Display>(
    text: &str,
    f: impl FnOnce(&str) -> std::result::Result<T, E>,
) -> std::result::Result<T, CellError> {
    f(text).map_err(|e| (text.to_owned(), e.to_string()))
}

fn column_array<'a>(
    ty: PgType,
    cells: impl Iterator<Item = Option<&'a str>>,
) -> std::result::Result<ArrayRef, CellError> {
    macro_rules! build {
        ($builder:expr, |$t:ident| $value:expr) => {{
            let mut builder = $builder;
            for cell in cells {
                match cell {
                    Some($t) => builder.append_value($value),
                    None => builder.append_null(),
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    Ok(match ty {
        PgType::Text => build!(StringBuilder::new(), |t| t),
        PgType::Int16 => build!(Int16Builder::new(), |t| parse(t, i16::from_str)?),
        PgType::Int32 => build!(Int32Builder::new(), |t| parse(t, i32::from_str)?),
        PgType::Int64 => build!(Int64Builder::new(), |t| parse(t, i64::from_str)?),
        PgType::Float64 => build!(Float64Builder::new(), |t| parse(t, parse_float)?),
        PgType::Bool => build!(BooleanBuilder::new(), |t| parse(t, parse_bool)?),
        PgType::Numeric { precision, scale } => build!(
            Decimal128Builder::new()
                .with_precision_and_scale(precision, scale as i8)
                .map_err(|e| (String::new(), e.to_string()))?,
            |t| parse(t, |t| parse_decimal(t, scale))?
        ),
        PgType::TimestampTz => build!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            |t| parse(t, parse_timestamptz)?.timestamp_micros()
        ),
        PgType::Timestamp => build!(TimestampMicrosecondBuilder::new(), |t| parse(
            t,
            parse_timestamp
        )?
        .and_utc()
        .timestamp_micros()),
        PgType::Date => build!(Date32Builder::new(), |t| parse(t, parse_date)?),
        PgType::Bytea => build!(BinaryBuilder::new(), |t| parse(t, parse_bytea)?),
        PgType::TextArray => {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for cell in cells {
                match cell {
                    Some(t) => {
                        for element in parse(t, parse_text_array)? {
                            builder.values().append_option(element);
                        }
                        builder.append(true);
                    }
                    None => builder.append_null(),
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }
    })
}

fn parse_bool(text: &str) -> std::result::Result<bool, String> {
    match text {
        "t" => Ok(true),
        "f" => Ok(false),
        _ => Err("not t or f".to_owned()),
    }
}

fn parse_float(text: &str) -> std::result::Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => f64::from_str(text).map_err(|e| e.to_string()),
    }
}

/// The exact unscaled value of `text` at `scale` (`12.5` at scale 2 is 1250).
pub fn parse_decimal(text: &str, scale: u8) -> std::result::Result<i128, String> {
    let mut value = Decimal::from_str(text).map_err(|e| e.to_string())?;
    if value.scale() > u32::from(scale) {
        return Err(format!("more than {scale} decimal places"));
    }
    value.rescale(u32::from(scale));
    Ok(value.mantissa())
}

/// `2026-12-04 10:15:03.123456+00` (any offset, with or without minutes or fraction).
pub fn parse_timestamptz(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| e.to_string())
}

fn parse_timestamp(text: &str) -> std::result::Result<NaiveDateTime, String> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map_err(|e| e.to_string())
}

fn parse_date(text: &str) -> std::result::Result<i32, String> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| e.to_string())?;
    Ok((date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32)
}

/// `\x00ff`, PostgreSQL's hex output of bytea.
fn parse_bytea(text: &str) -> std::result::Result<Vec<u8>, String> {
    let hex_digits = text
        .strip_prefix("\\x")
        .ok_or_else(|| "not in hex format (bytea_output must be hex)".to_owned())?;
    hex::decode(hex_digits).map_err(|e| e.to_string())
}

/// A one-dimensional array in PostgreSQL's text form: `{a,"b c",NULL,"say \\"hi\\""}`.
pub fn parse_text_array(text: &str) -> std::result::Result<Vec<Option<String>>, String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| "not an array literal".to_owned())?;
    let mut elements = Vec::new();
    if inner.is_empty() {
        return Ok(elements);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut element = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => element.push(chars.next().ok_or("dangling escape")?),
                    Some('"') => break,
                    Some(c) => element.push(c),
                    None => return Err("unterminated quote".to_owned()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' {
                    return Err("more than one dimension".to_owned());
                }
                element.push(c);
                chars.next();
            }
        }
        elements.push(if !quoted && element == "NULL" {
            None
        } else {
            Some(element)
        });
        match chars.next() {
            Some(',') => continue,
            None => return Ok(elements),
            Some(c) => return Err(format!("unexpected {c:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(parse_decimal("12.50", 2), Ok(1250));
        assert_eq!(parse_decimal("99999999.99", 2), Ok(9_999_999_999));
        assert_eq!(parse_decimal("7", 2), Ok(700));
        assert!(parse_decimal("1.005", 2).is_err());
    }

    #[test]
    fn timestamps_with_any_offset_become_utc() {
        let t = parse_timestamptz("2026-12-04 10:15:03.123456+00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-04T10:15:03.123456+00:00");
        let t = parse_timestamptz("2026-12-04 12:15:03+02").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-04T10:15:03+00:00");
        let t = parse_timestamptz("2026-12-04 15:45:03+05:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-04T10:15:03+00:00");
    }

    #[test]
    fn text_arrays_keep_quotes_commas_and_nulls() {
        assert_eq!(parse_text_array("{}"), Ok(vec![]));
        assert_eq!(
            parse_text_array(r#"{suspicious,"above amount",NULL,"a\"b"}"#),
            Ok(vec![
                Some("suspicious".to_owned()),
                Some("above amount".to_owned()),
                None,
                Some("a\"b".to_owned())
            ])
        );
        assert!(parse_text_array("{{a}}").is_err());
    }

    #[test]
    fn bytea_is_read_from_hex() {
        assert_eq!(parse_bytea("\\x00ff"), Ok(vec![0, 255]));
        assert!(parse_bytea("abc").is_err());
    }
}
