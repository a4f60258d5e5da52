//! The streaming analysis: header, well-formedness, duplicates, suspicious rows, events.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use payments_domain::event::import_transaction_id;
use payments_domain::money::shorten;
use payments_domain::{
    Fingerprint, ImportEvent, ImportFields, ImportTotals, ReferenceData, Suspicions,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{ImportError, Location, Malformed, Result};
use crate::records::{RecordError, Records};
use crate::spill::{Bitset, Spill, SpillThread, INVALID, ROW_MASK, SUSPICIOUS};
use crate::summary::{CsvRow, Duplicate, InvalidRow, Summary, Suspicious};
use crate::totals::{plain_cents, Figure, TotalsBuilders};

pub use payments_domain::fields::COLUMNS;

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
    /// Where temporary files of large analyses go (the system's temporary directory if `None`).
    pub spill_dir: Option<PathBuf>,
    /// Rows whose duplicate-detection records (32 bytes each) stay in memory before they are
    /// spilled to temporary files.
    pub memory_rows: usize,
    /// The file corrects rows of an earlier import: a `row_number` column names the earlier
    /// file's row each row replaces (a `reason` column, as in the download, is ignored).
    pub correction: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_field_bytes: 1024,
            max_columns: 64,
            suspicious_threshold: Decimal::from(8000),
            max_listed: 10_000,
            spill_dir: None,
            // Measured (docs/benchmarks.md): no slower than 2^18 rows, and 26 MiB less memory.
            memory_rows: 1 << 14,
            correction: false,
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
    /// For a correction: SHA-256 of the corrected import's file. A row's `transaction_id` is
    /// then that of the row it replaces, so each corrected payment lands once.
    pub corrects: Option<&'a str>,
}

/// One analysis of a file, set up as a builder (as `csv::ReaderBuilder`) and run once on a
/// reader: every row is read, exact duplicates found, suspicious rows flagged and control totals
/// summed; with [`Analysis::checked`] every row is also checked exactly as the ingester will.
/// Memory is bounded whatever the file's size (see [`Analysis::run`]).
///
/// ```
/// # use payments_csv::{Analysis, Options};
/// let options = Options::default();
/// let text = "username_sender,username_receiver,amount,currency,transaction_date,status\n\
///             a,b,1.00,EUR,2025-07-07 01:03:41 UTC,completed\n";
/// let (summary, _resolved) = Analysis::new(&options).run(text.as_bytes()).unwrap();
/// assert_eq!(summary.rows, 1);
/// ```
pub struct Analysis<'a> {
    options: &'a Options,
    checks: Option<(&'a ReferenceData, DateTime<Utc>)>,
    may_correct: Option<&'a dyn Fn(u64) -> bool>,
    on_valid: Option<OnValid<'a>>,
}

/// What [`Analysis::on_valid`] hands over for each valid row, in row order (repeats included):
/// its number, fields and the payment it is.
pub type OnValid<'a> = &'a mut dyn FnMut(u64, &ImportFields<'_>, &Fingerprint);

impl<'a> Analysis<'a> {
    /// An analysis with these limits and threshold; it checks nothing against the database.
    pub fn new(options: &'a Options) -> Analysis<'a> {
        Analysis {
            options,
            checks: None,
            may_correct: None,
            on_valid: None,
        }
    }

    /// Also checks every row as the ingester will (known users and currency, amount, date,
    /// status) against `refs`, dates no later than `now`: the invalid rows are listed with every
    /// reason and [`publish_resolved`] leaves them out, so nothing is published that will be
    /// refused.
    pub fn checked(self, refs: &'a ReferenceData, now: DateTime<Utc>) -> Analysis<'a> {
        Analysis {
            checks: Some((refs, now)),
            ..self
        }
    }

    /// The file is a correction ([`Options::correction`]): each row must also name, in
    /// `row_number`, a row of the corrected import that `may_correct` allows (one that did not
    /// land); any other row is invalid and never published. Needs [`Analysis::checked`].
    pub fn corrections(self, may_correct: &'a dyn Fn(u64) -> bool) -> Analysis<'a> {
        Analysis {
            may_correct: Some(may_correct),
            ..self
        }
    }

    /// Hands each valid row to `on_valid` as it is read, so a row is checked and its payment
    /// known in one pass. Needs [`Analysis::checked`].
    pub fn on_valid(self, on_valid: OnValid<'a>) -> Analysis<'a> {
        Analysis {
            on_valid: Some(on_valid),
            ..self
        }
    }

    /// Reads the whole file once: what it holds, and which rows are duplicates or invalid, so
    /// that [`publish_resolved`] can publish the rest of the stored copy without finding them
    /// again.
    ///
    /// Memory: the record buffer is capped by the options; duplicates are found exactly with a
    /// 32-byte record per row kept in memory up to [`Options::memory_rows`] rows and spilled to
    /// 64 temporary bucket files beyond that (plus a log of the rows' values, read back only for
    /// the listed duplicates), then resolved one bucket at a time; the result is one bit per
    /// row. The summary lists are capped at `max_listed` entries each. Temporary disk use is
    /// about the file's size plus 32 bytes per row; the files are deleted when the analysis
    /// ends.
    pub fn run<R: Read>(self, reader: R) -> Result<(Summary, Resolved)> {
        let Analysis {
            options,
            checks,
            may_correct,
            mut on_valid,
        } = self;
        let Some((refs, now)) = checks else {
            return spill_scan(reader, options, |_, _, _| None);
        };
        spill_scan(reader, options, |row, fields, original| {
            let target = may_correct.and_then(|may_correct| match original {
                None => Some(
                    "`row_number` is not the number of a row of the corrected import".to_owned(),
                ),
                Some(row) if !may_correct(row) => Some(format!(
                    "row {row} of the corrected import landed already or is not one of its rows \
                     that did not land"
                )),
                Some(_) => None,
            });
            match (target, payments_domain::check_import_row(fields, refs, now)) {
                (None, Ok(fingerprint)) => {
                    if let Some(on_valid) = on_valid.as_mut() {
                        on_valid(row, fields, &fingerprint);
                    }
                    None
                }
                (None, Err(problems)) => Some(problems.iter().map(ToString::to_string).collect()),
                (Some(target), checked) => Some(
                    std::iter::once(target)
                        .chain(checked.err().into_iter().flatten().map(|p| p.to_string()))
                        .collect(),
                ),
            }
        })
    }
}

/// Publishes the unique (and, after a checked [`Analysis`], valid) rows of the file that was
/// analysed (typically its
/// stored copy) as [`ImportEvent`]s in row order, using `resolved` instead of finding
/// duplicates again: memory stays flat. Returns the number of rows emitted.
///
/// The bytes read are hashed and compared with `import.sha256_hex` and with the analysed file
/// at the end; a difference is an error (rows before it may have been emitted).
pub fn publish_resolved<R, F, E>(
    reader: R,
    options: &Options,
    import: &ImportRef<'_>,
    resolved: &Resolved,
    mut emit: F,
) -> Result<u64>
where
    R: Read,
    F: FnMut(ImportEvent) -> std::result::Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !import.sha256_hex.eq_ignore_ascii_case(&resolved.sha256) {
        return Err(ImportError::Sha256Mismatch {
            expected: import.sha256_hex.to_owned(),
            actual: resolved.sha256.clone(),
        });
    }
    let mut rows = Rows::open(reader, options)?;
    let mut emitted = 0;
    while let Some(Row {
        number: row,
        fields,
        original,
    }) = rows.next()?
    {
        if row > resolved.rows || !resolved.is_published(row) {
            continue;
        }
        let suspicious = suspicions(&fields, options.suspicious_threshold).any();
        emit(event(import, row, &fields, suspicious, original))
            .map_err(|e| ImportError::Sink(e.into()))?;
        emitted += 1;
    }
    rows.finish(Some(import.sha256_hex))?;
    Ok(emitted)
}

/// Reads the file's rows in order and hands each one's number and fields to `row`; stops at the first malformed row or error of `row`. Returns the rows read.
pub fn for_each_row<R, F, E>(reader: R, options: &Options, mut row: F) -> Result<u64>
where
    R: Read,
    F: FnMut(u64, &ImportFields<'_>) -> std::result::Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut rows = Rows::open(reader, options)?;
    while let Some(Row { number, fields, .. }) = rows.next()? {
        row(number, &fields).map_err(|e| ImportError::Sink(e.into()))?;
    }
    let read = rows.row;
    rows.finish(None)?;
    Ok(read)
}

/// Why `fields` (a row of a file) would be refused, every reason; `None` when valid. The
/// ingester's own rules for these fields ([`payments_domain::check_import_fields`]), without
/// building the record.
pub fn row_problems(
    fields: &ImportFields<'_>,
    refs: &ReferenceData,
    now: DateTime<Utc>,
) -> Option<Vec<String>> {
    let problems = payments_domain::check_import_fields(fields, refs, now);
    (!problems.is_empty()).then(|| problems.iter().map(ToString::to_string).collect())
}

pub(crate) fn event(
    import: &ImportRef<'_>,
    row: u64,
    fields: &ImportFields<'_>,
    suspicious: bool,
    original: Option<u64>,
) -> ImportEvent {
    let transaction_id = match (import.corrects, original) {
        (Some(corrected), Some(original)) => import_transaction_id(corrected, original),
        _ => import_transaction_id(import.sha256_hex, row),
    };
    ImportEvent {
        username_sender: fields.username_sender.to_owned(),
        username_receiver: fields.username_receiver.to_owned(),
        amount: fields.amount.to_owned(),
        currency: fields.currency.to_owned(),
        transaction_date: fields.transaction_date.to_owned(),
        status: fields.status.to_owned(),
        source_file: import.source_file.to_owned(),
        import_id: import.import_id,
        row_number: row,
        transaction_id,
        suspicious,
    }
}

/// The key is already a good hash: use it as is instead of hashing it again.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

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

/// The rows of a file after its header, each checked for shape, length and UTF-8.
pub(crate) struct Rows<'o, R: Read> {
    records: Records<R>,
    options: &'o Options,
    header: Header,
    names: [&'static str; 6],
    pub(crate) row: u64,
}

/// One row: its number, its fields and, in a correction, the corrected file's row it replaces
/// (`None` there when unreadable).
pub(crate) struct Row<'a> {
    pub(crate) number: u64,
    pub(crate) fields: ImportFields<'a>,
    pub(crate) original: Option<u64>,
}

impl<'o, R: Read> Rows<'o, R> {
    pub(crate) fn open(reader: R, options: &'o Options) -> Result<Self> {
        let mut records = Records::new(reader, options.max_columns, options.max_field_bytes);
        let header = read_header(&mut records, options)?;
        let mut names = [""; 6];
        for (k, &position) in header.order.iter().enumerate() {
            // Names of the six columns by position, for messages; extra columns stay unnamed.
            if let Some(name) = names.get_mut(position) {
                *name = COLUMNS[k];
            }
        }
        Ok(Rows {
            records,
            options,
            header,
            names,
            row: 0,
        })
    }

    /// The next row.
    pub(crate) fn next(&mut self) -> Result<Option<Row<'_>>> {
        if !next(
            &mut self.records,
            Location::Row(self.row + 1),
            &self.names,
            self.options,
        )? {
            return Ok(None);
        }
        self.row += 1;
        let at = Location::Row(self.row);
        if self.records.field_count() != self.header.width {
            return Err(malformed(
                at,
                Malformed::FieldCount {
                    expected: self.header.width,
                    found: self.records.field_count(),
                },
            ));
        }
        let original = self.header.row_number.and_then(|at| {
            std::str::from_utf8(self.records.field(at))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .filter(|row| (1..=ROW_MASK).contains(row))
        });
        // A line split in place is checked for UTF-8 once; any other record field by field.
        let text = self.records.text();
        let mut values = [""; 6];
        for (k, slot) in values.iter_mut().enumerate() {
            if let Some(text) = &text {
                let value = text.field(self.header.order[k]);
                if value.len() > self.options.max_field_bytes {
                    return Err(malformed(
                        at,
                        Malformed::FieldTooLong {
                            column: COLUMNS[k].to_owned(),
                            bytes: value.len(),
                            max: self.options.max_field_bytes,
                        },
                    ));
                }
                *slot = value;
                continue;
            }
            let bytes = self.records.field(self.header.order[k]);
            if bytes.len() > self.options.max_field_bytes {
                return Err(malformed(
                    at,
                    Malformed::FieldTooLong {
                        column: COLUMNS[k].to_owned(),
                        bytes: bytes.len(),
                        max: self.options.max_field_bytes,
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
        Ok(Some(Row {
            number: self.row,
            fields: ImportFields::from_columns(values),
            original,
        }))
    }

    /// Reads the rest, checks the SHA-256 against `expected` (when given), returns the digest.
    pub(crate) fn finish(self, expected_sha256: Option<&str>) -> Result<crate::hashing::Digest> {
        if self.row == 0 {
            return Err(ImportError::HeaderOnly);
        }
        let digest = self.records.finish()?;
        if let Some(expected) = expected_sha256 {
            if !expected.eq_ignore_ascii_case(&digest.sha256) {
                return Err(ImportError::Sha256Mismatch {
                    expected: expected.to_owned(),
                    actual: digest.sha256,
                });
            }
        }
        Ok(digest)
    }
}

/// A secret seed per run: a chance collision needs ~2^64 distinct rows, and rows crafted to
/// collide would have to hit a seed the sender never sees.
pub(crate) fn seed() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// 128-bit hash of a row's fields; `canonical` is left holding the bytes hashed.
#[cfg(test)]
pub(crate) fn row_hash(fields: &ImportFields<'_>, seed: u64, canonical: &mut Vec<u8>) -> u128 {
    canonical.clear();
    append_canonical(fields, canonical);
    hash_canonical(canonical, seed)
}

/// Appends a row's canonical bytes: each value, in [`COLUMNS`] order, followed by 0xFF, which
/// never occurs in UTF-8, so it separates fields unambiguously.
fn append_canonical(fields: &ImportFields<'_>, out: &mut Vec<u8>) {
    for value in fields.columns() {
        out.extend_from_slice(value.as_bytes());
        out.push(0xFF);
    }
}

pub(crate) fn hash_canonical(canonical: &[u8], seed: u64) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(canonical, seed)
}

pub(crate) fn empty_summary() -> Summary {
    Summary {
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
        cross_file_duplicates: 0,
        cross_file: Vec::new(),
        lists_truncated: false,
        totals: ImportTotals::default(),
    }
}

/// What an [`Analysis`] learned about a file's duplicates, for [`publish_resolved`]:
/// one bit per row (about 2 MB at 16 million rows), plus the file's identity.
#[derive(Debug, Clone)]
pub struct Resolved {
    duplicate: Bitset,
    /// Rows refused by the checks of a checked [`Analysis`] (none without them).
    invalid: Bitset,
    /// Rows held as cross-file duplicates ([`Resolved::hold`]).
    held: Bitset,
    /// Publish the held rows only (an approval of them), instead of all but them.
    only_held: bool,
    rows: u64,
    sha256: String,
}

impl Resolved {
    /// Whether `row` (1-based) repeats an earlier row and is therefore not published.
    pub fn is_duplicate(&self, row: u64) -> bool {
        self.duplicate.get(row)
    }

    /// Whether `row` is refused by the row checks.
    pub fn is_invalid(&self, row: u64) -> bool {
        self.invalid.get(row)
    }

    /// Whether `row` is held back as a cross-file duplicate.
    pub fn is_held(&self, row: u64) -> bool {
        self.held.get(row)
    }

    /// Whether `row` is published: its first occurrence, valid, and not held (or, after
    /// [`Resolved::only_held`], held).
    pub fn is_published(&self, row: u64) -> bool {
        !self.is_duplicate(row) && !self.is_invalid(row) && self.is_held(row) == self.only_held
    }

    /// Holds `row` back: it is not published (a cross-file duplicate awaiting approval).
    pub fn hold(&mut self, row: u64) {
        self.held.grow_set(row);
    }

    /// The same map publishing only the held rows (once they are approved).
    pub fn only_held(mut self) -> Resolved {
        self.only_held = true;
        self
    }

    /// Data rows of the analysed file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// SHA-256 of the analysed file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Bytes held by the bitsets.
    pub fn memory_bytes(&self) -> usize {
        self.duplicate.bytes() + self.invalid.bytes() + self.held.bytes()
    }
}

/// Keeps the first `max` rows with a flag, skipping rows whose hash was already kept.
///
/// Exact with bounded memory: equal rows have equal flags, so while fewer than `max` distinct
/// flagged rows have been seen every flagged row so far has been examined, and a flagged row
/// whose hash is new is a first occurrence (a unique row).
struct FirstFlagged<T> {
    seen: HashSet<u128, BuildHasherDefault<PassThrough>>,
    list: Vec<T>,
    max: usize,
}

impl<T> FirstFlagged<T> {
    fn new(max: usize) -> Self {
        FirstFlagged {
            seen: HashSet::default(),
            list: Vec::new(),
            max,
        }
    }

    /// `hash` is only computed while the list has room.
    fn offer(&mut self, hash: impl FnOnce() -> u128, item: impl FnOnce() -> T) {
        if self.list.len() < self.max && self.seen.insert(hash()) {
            self.list.push(item());
        }
    }
}

/// The bounded-memory path: pass 1 spills `(hash, row)` records, then duplicates are resolved
/// bucket by bucket. `check` sees every row (duplicates included) and returns why it is invalid.
fn spill_scan<R, C>(reader: R, options: &Options, mut check: C) -> Result<(Summary, Resolved)>
where
    R: Read,
    C: FnMut(u64, &ImportFields<'_>, Option<u64>) -> Option<Vec<String>>,
{
    let mut rows = Rows::open(reader, options)?;
    let seed = seed();
    let spill = Spill::new(options.spill_dir.clone(), options.memory_rows);
    // The rows' records are hashed and kept by a thread of their own; this one hashes only the
    // rows it lists (the same bytes, so the same hash).
    let mut spill = SpillThread::start(spill, move |canonical| hash_canonical(canonical, seed))
        .map_err(ImportError::Scratch)?;
    let max = options.max_listed;
    let mut suspicious = FirstFlagged::new(max);
    let mut invalid = FirstFlagged::new(max);
    let (mut suspicious_rows, mut invalid_rows) = (0u64, 0u64);
    let mut invalid_bits = Bitset::default();
    let mut totals = TotalsBuilders::default();
    while let Some(Row {
        number: row,
        fields,
        original,
    }) = rows.next()?
    {
        let batch = spill.batch();
        let start = batch.row_start();
        append_canonical(&fields, batch.values());
        if let Some(original) = original {
            // Corrections of two different rows are two payments, whatever their values.
            batch.values().extend_from_slice(&original.to_le_bytes());
        }
        let canonical = &batch.values()[start..];
        let hash = || hash_canonical(canonical, seed);
        let mut flags = 0;
        // One read of the amount for the suspicion rule and the totals when it is plain.
        let cents = plain_cents(fields.amount);
        let reasons = match cents {
            Some(cents) => Suspicions::of(
                fields.username_sender,
                fields.username_receiver,
                Some(Decimal::new(cents, 2)),
                options.suspicious_threshold,
            ),
            None => suspicions(&fields, options.suspicious_threshold),
        };
        if reasons.any() {
            flags |= SUSPICIOUS;
            suspicious_rows += 1;
            suspicious.offer(hash, || Suspicious {
                row,
                reasons: reasons.list(),
                values: CsvRow::from(&fields),
            });
        }
        if let Some(reasons) = check(row, &fields, original) {
            flags |= INVALID;
            invalid_rows += 1;
            invalid_bits.grow_set(row);
            invalid.offer(hash, || InvalidRow {
                row,
                reasons,
                values: CsvRow::from(&fields),
            });
        }
        totals.add(&fields, Figure::of(fields.amount, cents), flags);
        spill
            .end_row((row & ROW_MASK) | flags)
            .map_err(ImportError::Scratch)?;
    }
    let row_count = rows.row;
    let digest = rows.finish(None)?;
    let resolution = spill
        .resolve(row_count, max, |values, repeats, flags| {
            totals.remove_repeats(values, repeats, flags)
        })
        .map_err(ImportError::Scratch)?;
    let mut summary = empty_summary();
    summary.sha256 = digest.sha256.clone();
    summary.size_bytes = digest.size_bytes;
    summary.rows = row_count;
    summary.duplicate_rows = resolution.duplicate_rows;
    summary.unique = row_count - resolution.duplicate_rows;
    summary.suspicious_rows = suspicious_rows - resolution.suspicious_duplicates;
    summary.invalid_rows = invalid_rows - resolution.invalid_duplicates;
    summary.duplicates = resolution
        .listed
        .into_iter()
        .map(|(row, first_row, values)| Duplicate {
            row,
            first_row,
            values,
        })
        .collect();
    summary.suspicious = suspicious.list;
    summary.invalid = invalid.list;
    summary.totals = totals.build();
    summary.lists_truncated = resolution.truncated
        || (summary.suspicious.len() as u64) < summary.suspicious_rows
        || (summary.invalid.len() as u64) < summary.invalid_rows;
    let resolved = Resolved {
        duplicate: resolution.duplicate,
        invalid: invalid_bits,
        held: Bitset::default(),
        only_held: false,
        rows: row_count,
        sha256: digest.sha256,
    };
    Ok((summary, resolved))
}

/// An unparsable amount is not suspicious here: the row checks refuse it with their reason.
pub(crate) fn suspicions(fields: &ImportFields<'_>, threshold: Decimal) -> Suspicions {
    let text = fields.amount.trim();
    let amount = Decimal::from_str(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok());
    Suspicions::of(
        fields.username_sender,
        fields.username_receiver,
        amount,
        threshold,
    )
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

/// Where the columns are: each of [`COLUMNS`], and a correction's `row_number`.
struct Header {
    order: [usize; 6],
    row_number: Option<usize>,
    /// Fields every row must have.
    width: usize,
}

/// A correction's extra columns.
const ROW_NUMBER: &str = "row_number";
const REASON: &str = "reason";

/// Maps each of [`COLUMNS`] (and a correction's `row_number`) to its position in the file.
fn read_header<R: Read>(records: &mut Records<R>, options: &Options) -> Result<Header> {
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
    let mut row_number = None;
    let mut reason = false;
    let mut unknown = Vec::new();
    let mut repeated = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(c) if order[c] == usize::MAX => order[c] = i,
            Some(c) => repeated.push(COLUMNS[c].to_owned()),
            None if options.correction && name.eq_ignore_ascii_case(ROW_NUMBER) => {
                if row_number.replace(i).is_some() {
                    repeated.push(ROW_NUMBER.to_owned());
                }
            }
            None if options.correction && name.eq_ignore_ascii_case(REASON) => {
                if std::mem::replace(&mut reason, true) {
                    repeated.push(REASON.to_owned());
                }
            }
            None => unknown.push(shorten(name)),
        }
    }
    let mut missing: Vec<String> = COLUMNS
        .iter()
        .zip(order.iter())
        .filter(|(_, &i)| i == usize::MAX)
        .map(|(c, _)| (*c).to_owned())
        .collect();
    if options.correction && row_number.is_none() {
        missing.push(ROW_NUMBER.to_owned());
    }
    if !missing.is_empty() || !unknown.is_empty() || !repeated.is_empty() {
        return Err(ImportError::Header {
            missing,
            unknown,
            repeated,
        });
    }
    Ok(Header {
        order,
        row_number,
        width: count,
    })
}
