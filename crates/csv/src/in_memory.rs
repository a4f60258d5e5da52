//! The single-pass, in-memory analysis: a hash per distinct row kept in a map while streaming.
//! Production uses the bounded two-pass path ([`Analysis`](crate::Analysis) then
//! [`publish_resolved`](crate::publish_resolved)); this simpler path stays as the tests' oracle
//! for it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::Read;

use payments_domain::{ImportEvent, ImportFields, ImportTotals, RowFigures, TotalsBuilder};

use crate::analyse::{
    empty_summary, event, row_hash, seed, suspicions, ImportRef, Options, PassThrough, Row, Rows,
};
use crate::error::{ImportError, Result};
use crate::spill::Smallest;
use crate::summary::{CsvRow, Duplicate, Summary, Suspicious};

/// Like [`analyse`](crate::analyse), and hands each unique row to `emit` as an [`ImportEvent`] in row order.
///
/// `transaction_id`s derive from `import.sha256_hex`, which must therefore be known up front;
/// the bytes read are hashed and compared with it at the end, so an error says if the file
/// changed. A file rejected at row N has already emitted the unique rows before N: call
/// [`analyse`](crate::analyse) first (when storing the file) so a publishing pass only sees accepted files.
///
/// Memory: this single pass keeps a 24-byte hash entry per distinct row (about 1.2 GB at 16
/// million rows); for large files use the bounded path.
pub(crate) fn publish<R, F, E>(
    reader: R,
    options: &Options,
    import: &ImportRef<'_>,
    mut emit: F,
) -> Result<Summary>
where
    R: Read,
    F: FnMut(ImportEvent) -> std::result::Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    scan(
        reader,
        options,
        Some(import.sha256_hex),
        |row, fields, suspicious| {
            let event = event(import, row, fields, suspicious, None);
            emit(event).map_err(|e| ImportError::Sink(e.into()))
        },
    )
}

/// 128 bits of a row's hash: equal keys mean equal rows (a chance collision needs ~2^64 rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowKey(u64, u64);

impl Hash for RowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Marks, in the map's value, that the first occurrence is already in the duplicates list.
const LISTED: u64 = 1 << 63;

/// The single-pass, in-memory path (used by [`publish`], which must know uniqueness while
/// streaming): `unique` sees each unique row (number, fields, suspicious flag). Memory grows with the number of distinct rows.
fn scan<R, F>(
    reader: R,
    options: &Options,
    expected_sha256: Option<&str>,
    mut unique: F,
) -> Result<Summary>
where
    R: Read,
    F: FnMut(u64, &ImportFields<'_>, bool) -> Result<()>,
{
    let mut rows = Rows::open(reader, options)?;
    let seed = seed();
    let mut seen: HashMap<RowKey, u64, BuildHasherDefault<PassThrough>> = HashMap::default();
    let mut canonical: Vec<u8> = Vec::with_capacity(256);
    let mut summary = empty_summary();
    let max = options.max_listed;
    let mut duplicates = Smallest::new(max);
    // The straightforward way: add each row where it belongs, as it comes.
    let (mut file, mut unique_totals, mut suspicious_totals) = Default::default();
    while let Some(Row {
        number: row,
        fields,
        ..
    }) = rows.next()?
    {
        let figures = RowFigures::of(fields.currency, fields.amount);
        TotalsBuilder::add(&mut file, &figures, 1);
        let hash = row_hash(&fields, seed, &mut canonical);
        let key = RowKey(hash as u64, (hash >> 64) as u64);
        match seen.entry(key) {
            Entry::Occupied(mut first) => {
                summary.duplicate_rows += 1;
                let first_row = *first.get() & !LISTED;
                if *first.get() & LISTED == 0 {
                    first.insert(first_row | LISTED);
                    duplicates.offer(first_row, || Duplicate {
                        row: first_row,
                        first_row,
                        values: CsvRow::from(&fields),
                    });
                }
                duplicates.offer(row, || Duplicate {
                    row,
                    first_row,
                    values: CsvRow::from(&fields),
                });
            }
            Entry::Vacant(slot) => {
                slot.insert(row);
                summary.unique += 1;
                TotalsBuilder::add(&mut unique_totals, &figures, 1);
                let reasons = suspicions(&fields, options.suspicious_threshold);
                let suspicious = reasons.any();
                if suspicious {
                    TotalsBuilder::add(&mut suspicious_totals, &figures, 1);
                    summary.suspicious_rows += 1;
                    push_capped(
                        &mut summary.suspicious,
                        max,
                        &mut summary.lists_truncated,
                        || Suspicious {
                            row,
                            reasons: reasons.list(),
                            values: CsvRow::from(&fields),
                        },
                    );
                }
                unique(row, &fields, suspicious)?;
            }
        }
    }
    summary.rows = rows.row;
    let unique_totals: TotalsBuilder = unique_totals;
    summary.totals = ImportTotals {
        file: TotalsBuilder::build(file),
        unique: unique_totals.clone().build(),
        suspicious: TotalsBuilder::build(suspicious_totals),
        invalid: Default::default(),
        publishable: unique_totals.build(),
        held: Default::default(),
        ingested: Default::default(),
    };
    summary.lists_truncated |= duplicates.truncated;
    summary.duplicates = duplicates.into_sorted().into_iter().map(|e| e.1).collect();
    let digest = rows.finish(expected_sha256)?;
    summary.sha256 = digest.sha256;
    summary.size_bytes = digest.size_bytes;
    Ok(summary)
}

/// Adds to a capped list, or notes that it was truncated.
fn push_capped<T>(list: &mut Vec<T>, max: usize, truncated: &mut bool, item: impl FnOnce() -> T) {
    if list.len() < max {
        list.push(item());
    } else {
        *truncated = true;
    }
}
