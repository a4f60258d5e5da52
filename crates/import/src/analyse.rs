//! The streaming analysis: header, well-formedness, duplicates, suspicious rows, events.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::io::Read;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use payments_domain::event::import_transaction_id;
use payments_domain::money::shorten;
use payments_domain::{ImportEvent, Origin, ReferenceData};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{ImportError, Location, Malformed, Result};
use crate::records::{RecordError, Records};
use crate::summary::{CsvRow, Duplicate, InvalidRow, Summary, Suspicion, Suspicious};

/// The columns of an import file, in the order used for events, hashing and reports.
pub const COLUMNS: [&str; 6] = [
    "username_sender",
    "username_receiver",
    "amount",
    "currency",
    "transaction_date",
    "status",
];
const SENDER: usize = 0;
const RECEIVER: usize = 1;
const AMOUNT: usize = 2;

/// Limits and thresholds of an analysis.
#[derive(Debug, Clone)]
pub struct Options {
    /// Longest field accepted; a longer one rejects the file (no real value comes close).
    pub max_field_bytes: usize,
    /// Most columns a header may have before it is rejected unread.
    pub max_columns: usize,
    /// A row whose amount is strictly greater than this is suspicious.
    pub suspicious_threshold: Decimal,
    /// Entries kept in each list of the summary; counts stay exact beyond it.
    pub max_listed: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_field_bytes: 1024,
            max_columns: 64,
            suspicious_threshold: Decimal::from(8000),
            max_listed: 10_000,
        }
    }
}

/// The identity an import's events carry.
#[derive(Debug, Clone, Copy)]
pub struct ImportRef<'a> {
    pub import_id: Uuid,
    /// The file name shown to users (`source_file` of each event).
    pub source_file: &'a str,
    /// SHA-256 of the file, known before this pass (from storing it); verified at the end.
    pub sha256_hex: &'a str,
}

/// Reads the whole file and reports what it holds; emits nothing. Also the cheapest way to
/// validate a file and learn its SHA-256 in one pass (e.g. teed from an upload).
///
/// Memory: the record buffer is capped by the options; duplicate detection keeps 24 bytes per
/// distinct row in a hash table (about 50 MB at 1,000,000 rows, growing in powers of two), and
/// the summary lists are capped at `max_listed` entries each.
pub fn analyse<R: Read>(reader: R, options: &Options) -> Result<Summary> {
    scan(reader, options, None, |_, _, _| Ok(()))
}

/// Like [`analyse`], and hands each unique row to `emit` as an [`ImportEvent`] in row order.
///
/// `transaction_id`s derive from `import.sha256_hex`, which must therefore be known up front;
/// the bytes read are hashed and compared with it at the end, so an error says if the file
/// changed. A file rejected at row N has already emitted the unique rows before N: call
/// [`analyse`] first (when storing the file) so a publishing pass only sees accepted files.
pub fn publish<R, F, E>(
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
        |row, values, suspicious| {
            let event = event(import, row, values, suspicious);
            emit(event).map_err(|e| ImportError::Sink(e.into()))
        },
    )
}

/// Like [`analyse`], and also checks each unique row exactly as the ingester will (known users
/// and currency, amount, date, status), listing the rows that would be rejected and why.
pub fn dry_run<R: Read>(
    reader: R,
    options: &Options,
    refs: &ReferenceData,
    now: DateTime<Utc>,
) -> Result<Summary> {
    let mut invalid = Vec::new();
    let mut invalid_rows = 0;
    let probe = ImportRef {
        import_id: Uuid::nil(),
        source_file: "dry-run",
        sha256_hex: "",
    };
    let mut summary = scan(reader, options, None, |row, values, suspicious| {
        let event = event(&probe, row, values, suspicious);
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        if let Err(rejection) = payments_domain::validate(&payload, Origin::Import, refs, now) {
            invalid_rows += 1;
            if invalid.len() < options.max_listed {
                invalid.push(InvalidRow {
                    row,
                    reasons: rejection.problems.iter().map(ToString::to_string).collect(),
                    values: csv_row(values),
                });
            }
        }
        Ok(())
    })?;
    summary.lists_truncated |= (invalid.len() as u64) < invalid_rows;
    summary.invalid_rows = invalid_rows;
    summary.invalid = invalid;
    Ok(summary)
}

fn event(import: &ImportRef<'_>, row: u64, values: &[&str; 6], suspicious: bool) -> ImportEvent {
    ImportEvent {
        username_sender: values[0].to_owned(),
        username_receiver: values[1].to_owned(),
        amount: values[2].to_owned(),
        currency: values[3].to_owned(),
        transaction_date: values[4].to_owned(),
        status: values[5].to_owned(),
        source_file: import.source_file.to_owned(),
        import_id: import.import_id,
        row_number: row,
        transaction_id: import_transaction_id(import.sha256_hex, row),
        suspicious,
    }
}

fn csv_row(values: &[&str; 6]) -> CsvRow {
    CsvRow {
        username_sender: values[0].to_owned(),
        username_receiver: values[1].to_owned(),
        amount: values[2].to_owned(),
        currency: values[3].to_owned(),
        transaction_date: values[4].to_owned(),
        status: values[5].to_owned(),
    }
}

/// 128 bits of a row's hash: equal keys mean equal rows (a chance collision needs ~2^64 rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowKey(u64, u64);

impl Hash for RowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The key is already a good hash: use it as is instead of hashing it again.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Marks, in the map's value, that the first occurrence is already in the duplicates list.
const LISTED: u64 = 1 << 63;

/// The single pass every entry point shares: `unique` sees each unique row (number, values in
/// [`COLUMNS`] order, suspicious flag).
fn scan<R, F>(
    reader: R,
    options: &Options,
    expected_sha256: Option<&str>,
    mut unique: F,
) -> Result<Summary>
where
    R: Read,
    F: FnMut(u64, &[&str; 6], bool) -> Result<()>,
{
    let mut records = Records::new(reader, options.max_columns, options.max_field_bytes);
    let order = read_header(&mut records, options)?;
    let mut names = [""; 6];
    for (k, &position) in order.iter().enumerate() {
        names[position] = COLUMNS[k];
    }

    // A secret seed per run: a chance collision needs ~2^64 distinct rows, and rows crafted to
    // collide would have to hit a seed the sender never sees.
    let seed = RandomState::new().hash_one(0u8);
    let mut seen: HashMap<RowKey, u64, BuildHasherDefault<PassThrough>> = HashMap::default();
    let mut canonical: Vec<u8> = Vec::with_capacity(256);
    let mut summary = Summary {
        sha256: String::new(),
        size_bytes: 0,
        rows: 0,
        unique: 0,
        duplicate_rows: 0,
        suspicious_rows: 0,
        invalid_rows: 0,
        duplicates: Vec::new(),
        suspicious: Vec::new(),
        invalid: Vec::new(),
        lists_truncated: false,
    };
    let max = options.max_listed;
    let mut row: u64 = 0;
    while next(&mut records, Location::Row(row + 1), &names, options)? {
        row += 1;
        let at = Location::Row(row);
        if records.field_count() != COLUMNS.len() {
            return Err(malformed(
                at,
                Malformed::FieldCount {
                    expected: COLUMNS.len(),
                    found: records.field_count(),
                },
            ));
        }
        let mut values = [""; 6];
        for (k, slot) in values.iter_mut().enumerate() {
            let bytes = records.field(order[k]);
            if bytes.len() > options.max_field_bytes {
                return Err(malformed(
                    at,
                    Malformed::FieldTooLong {
                        column: COLUMNS[k].to_owned(),
                        bytes: bytes.len(),
                        max: options.max_field_bytes,
                    },
                ));
            }
            *slot = std::str::from_utf8(bytes).map_err(|_| {
                malformed(
                    at,
                    Malformed::InvalidUtf8 {
                        column: COLUMNS[k].to_owned(),
                    },
                )
            })?;
        }

        // 0xFF never occurs in UTF-8, so it separates fields unambiguously.
        canonical.clear();
        for value in &values {
            canonical.extend_from_slice(value.as_bytes());
            canonical.push(0xFF);
        }
        let hash = xxhash_rust::xxh3::xxh3_128_with_seed(&canonical, seed);
        let key = RowKey(hash as u64, (hash >> 64) as u64);
        match seen.entry(key) {
            Entry::Occupied(mut first) => {
                summary.duplicate_rows += 1;
                let first_row = *first.get() & !LISTED;
                if *first.get() & LISTED == 0 {
                    first.insert(first_row | LISTED);
                    push_capped(
                        &mut summary.duplicates,
                        max,
                        &mut summary.lists_truncated,
                        || Duplicate {
                            row: first_row,
                            first_row,
                            values: csv_row(&values),
                        },
                    );
                }
                push_capped(
                    &mut summary.duplicates,
                    max,
                    &mut summary.lists_truncated,
                    || Duplicate {
                        row,
                        first_row,
                        values: csv_row(&values),
                    },
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(row);
                summary.unique += 1;
                let reasons = suspicions(&values, options.suspicious_threshold);
                let suspicious = reasons.any();
                if suspicious {
                    summary.suspicious_rows += 1;
                    push_capped(
                        &mut summary.suspicious,
                        max,
                        &mut summary.lists_truncated,
                        || Suspicious {
                            row,
                            reasons: reasons.list(),
                            values: csv_row(&values),
                        },
                    );
                }
                unique(row, &values, suspicious)?;
            }
        }
    }
    if row == 0 {
        return Err(ImportError::HeaderOnly);
    }
    summary.rows = row;
    summary.duplicates.sort_unstable_by_key(|d| d.row);
    let digest = records.finish()?;
    if let Some(expected) = expected_sha256 {
        if !expected.eq_ignore_ascii_case(&digest.sha256) {
            return Err(ImportError::Sha256Mismatch {
                expected: expected.to_owned(),
                actual: digest.sha256,
            });
        }
    }
    summary.sha256 = digest.sha256;
    summary.size_bytes = digest.size_bytes;
    Ok(summary)
}

fn push_capped<T>(list: &mut Vec<T>, max: usize, truncated: &mut bool, item: impl FnOnce() -> T) {
    if list.len() < max {
        list.push(item());
    } else {
        *truncated = true;
    }
}

#[derive(Clone, Copy)]
struct Reasons {
    amount: bool,
    self_payment: bool,
}

impl Reasons {
    fn any(self) -> bool {
        self.amount || self.self_payment
    }

    fn list(self) -> Vec<Suspicion> {
        let mut list = Vec::with_capacity(2);
        if self.amount {
            list.push(Suspicion::AmountAboveThreshold);
        }
        if self.self_payment {
            list.push(Suspicion::SelfPayment);
        }
        list
    }
}

/// An unparsable amount is not suspicious here: the ingester rejects it with its reason.
fn suspicions(values: &[&str; 6], threshold: Decimal) -> Reasons {
    let text = values[AMOUNT].trim();
    let amount = Decimal::from_str(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok());
    Reasons {
        amount: amount.is_some_and(|a| a > threshold),
        self_payment: values[SENDER] == values[RECEIVER],
    }
}

/// Reads the next record, turning low-level problems into file rejections at `at`.
/// `names` are the column names by position in the file (empty while reading the header).
fn next<R: Read>(
    records: &mut Records<R>,
    at: Location,
    names: &[&str],
    options: &Options,
) -> Result<bool> {
    let more = records.read().map_err(|e| match e {
        RecordError::Io(e) => ImportError::Io(e),
        RecordError::TooManyFields { found } => match at {
            Location::Header => ImportError::TooManyColumns {
                found,
                max: options.max_columns,
            },
            Location::Row(_) => malformed(
                at,
                Malformed::FieldCount {
                    expected: COLUMNS.len(),
                    found,
                },
            ),
        },
        RecordError::FieldTooLong { column, bytes } => malformed(
            at,
            Malformed::FieldTooLong {
                column: names
                    .get(column)
                    .map_or_else(|| format!("#{}", column + 1), |c| (*c).to_owned()),
                bytes,
                max: options.max_field_bytes,
            },
        ),
        RecordError::UnbalancedQuote => malformed(at, Malformed::UnbalancedQuote),
    })?;
    if more {
        if records.has_nul() {
            return Err(malformed(at, Malformed::Binary));
        }
        if records.unbalanced_quotes() {
            return Err(malformed(at, Malformed::UnbalancedQuote));
        }
    }
    Ok(more)
}

fn malformed(at: Location, problem: Malformed) -> ImportError {
    ImportError::Malformed { at, problem }
}

/// Maps each of [`COLUMNS`] to its position in the file.
fn read_header<R: Read>(records: &mut Records<R>, options: &Options) -> Result<[usize; 6]> {
    if !next(records, Location::Header, &[], options)? {
        return Err(ImportError::Empty);
    }
    let count = records.field_count();
    if count > options.max_columns {
        return Err(ImportError::TooManyColumns {
            found: count,
            max: options.max_columns,
        });
    }
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let name = std::str::from_utf8(records.field(i)).map_err(|_| {
            malformed(
                Location::Header,
                Malformed::InvalidUtf8 {
                    column: format!("#{}", i + 1),
                },
            )
        })?;
        names.push(name.trim_matches([' ', '\t']));
    }
    if count == 1 && names[0].is_empty() {
        // Only blanks: an empty file, unless something follows the blank line.
        if !next(records, Location::Row(1), &[], options)? {
            return Err(ImportError::Empty);
        }
        return Err(ImportError::Header {
            missing: COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
            unknown: Vec::new(),
            repeated: Vec::new(),
        });
    }
    let mut order = [usize::MAX; 6];
    let mut unknown = Vec::new();
    let mut repeated = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(c) if order[c] == usize::MAX => order[c] = i,
            Some(c) => repeated.push(COLUMNS[c].to_owned()),
            None => unknown.push(shorten(name)),
        }
    }
    let missing: Vec<String> = COLUMNS
        .iter()
        .zip(order.iter())
        .filter(|(_, &i)| i == usize::MAX)
        .map(|(c, _)| (*c).to_owned())
        .collect();
    if !missing.is_empty() || !unknown.is_empty() || !repeated.is_empty() {
        return Err(ImportError::Header {
            missing,
            unknown,
            repeated,
        });
    }
    Ok(order)
}
