//! Cross-file duplicates: each valid row is looked up, by its payment's fingerprint, among the
//! payments other imports reserved or landed, while the analysis reads it, and reserved for
//! this import when nobody had it; a match the import would publish is held back with where it
//! was seen, and published only once a second identity approves.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use payments_csv::{CrossFileDuplicate, CsvRow, Resolved, Summary};
use payments_domain::{Fingerprint, ImportFields, RowFigures, Totals, TotalsBuilder};
use payments_store::{OwnImport, PgPool, SeenBefore};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{PipelineError, Result};

/// Rows looked up per statement: large enough to amortise the round trip, small enough that
/// the analysis reads the next batch while this one is looked up.
const BATCH: usize = 5_000;
/// Matches kept in memory with their values; the rest wait in a temporary file. A file
/// uploaded again matches every one of its rows (before the upload is known to be the same
/// bytes): 16.3M rows held 5.8 GiB in memory.
const MATCHES_IN_MEMORY: usize = 10_000;

/// Looks rows up in batches from the analyser's blocking thread (each batch on the runtime,
/// while the next is read); keeps the matches.
pub(crate) struct Lookup {
    pool: PgPool,
    import: OwnImport,
    /// Reserve what nobody had (an import that will publish), or only look (a dry run).
    reserve: bool,
    handle: Handle,
    batch: Batch,
    pending: Option<(JoinHandle<payments_store::Result<Vec<SeenBefore>>>, Batch)>,
    matches: Matches,
    failed: Option<PipelineError>,
}

/// A batch's fingerprints (moved to its lookup when sent) and, to report a match, its rows'
/// numbers and values (in one buffer).
#[derive(Default)]
struct Batch {
    fingerprints: Vec<(u64, Fingerprint)>,
    rows: Vec<u64>,
    text: String,
    /// Where each row's six values end in `text`.
    ends: Vec<[usize; 6]>,
}

impl Batch {
    fn values(&self, at: usize) -> CsvRow {
        let start = at.checked_sub(1).map_or(0, |before| self.ends[before][5]);
        let ends = self.ends[at];
        let fields = ImportFields::from_columns(std::array::from_fn(|k| {
            let from = if k == 0 { start } else { ends[k - 1] };
            &self.text[from..ends[k]]
        }));
        CsvRow::from(&fields)
    }
}

impl Lookup {
    /// `spill_dir`: where matches beyond [`MATCHES_IN_MEMORY`] wait (the system's temporary
    /// directory when `None`), as the analyser's own spill.
    pub(crate) fn new(
        pool: PgPool,
        import: OwnImport,
        reserve: bool,
        handle: Handle,
        spill_dir: Option<PathBuf>,
    ) -> Lookup {
        Lookup {
            pool,
            import,
            reserve,
            handle,
            batch: Batch::default(),
            pending: None,
            matches: Matches::new(spill_dir, MATCHES_IN_MEMORY),
            failed: None,
        }
    }

    /// Takes one valid row; blocks while the previous batch is still being looked up.
    pub(crate) fn offer(&mut self, row: u64, fields: &ImportFields<'_>, fingerprint: &Fingerprint) {
        if self.failed.is_some() {
            return;
        }
        self.batch.fingerprints.push((row, *fingerprint));
        self.batch.rows.push(row);
        let mut ends = [0; 6];
        for (end, value) in ends.iter_mut().zip(fields.columns()) {
            self.batch.text.push_str(value);
            *end = self.batch.text.len();
        }
        self.batch.ends.push(ends);
        if self.batch.fingerprints.len() == BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        let rows = std::mem::take(&mut batch.fingerprints);
        let (pool, id, reserve) = (self.pool.clone(), self.import, self.reserve);
        let lookup = self.handle.spawn(async move {
            if reserve {
                payments_store::reserve(&pool, id, &rows).await
            } else {
                payments_store::find_landed_elsewhere(&pool, id, &rows).await
            }
        });
        if let Some(previous) = self.pending.replace((lookup, batch)) {
            self.take(previous);
        }
    }

    fn take(
        &mut self,
        (lookup, batch): (JoinHandle<payments_store::Result<Vec<SeenBefore>>>, Batch),
    ) {
        let found = match self.handle.block_on(lookup) {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return self.fail(e.into()),
            Err(e) => return self.fail(PipelineError::Task(e.to_string())),
        };
        for seen in found {
            if let Ok(at) = batch.rows.binary_search(&seen.row) {
                if let Err(e) = self.matches.push(seen, batch.values(at)) {
                    return self.fail(spill_failed(e));
                }
            }
        }
    }

    fn fail(&mut self, e: PipelineError) {
        self.failed.get_or_insert(e);
    }

    /// Looks up the last rows; every match (the analysis decides later which are published).
    pub(crate) fn finish(mut self) -> Result<Matches> {
        if !self.batch.fingerprints.is_empty() {
            self.send();
        }
        if let Some(last) = self.pending.take() {
            self.take(last);
        }
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.matches),
        }
    }
}

fn spill_failed(e: io::Error) -> PipelineError {
    PipelineError::Task(format!(
        "keeping the cross-file matches on the temporary disk: {e}"
    ))
}

/// Valid rows whose payment another import reserved or landed, with their values, in row
/// order: the first in memory, the rest in a temporary file (deleted when dropped).
pub(crate) struct Matches {
    first: Vec<(SeenBefore, CsvRow)>,
    in_memory: usize,
    spill_dir: Option<PathBuf>,
    rest: Option<BufWriter<File>>,
}

impl Matches {
    fn new(spill_dir: Option<PathBuf>, in_memory: usize) -> Matches {
        Matches {
            first: Vec::new(),
            in_memory,
            spill_dir,
            rest: None,
        }
    }

    fn push(&mut self, seen: SeenBefore, values: CsvRow) -> io::Result<()> {
        if self.first.len() < self.in_memory {
            self.first.push((seen, values));
            return Ok(());
        }
        let rest = match &mut self.rest {
            Some(rest) => rest,
            None => {
                let file = match &self.spill_dir {
                    Some(dir) => tempfile::tempfile_in(dir)?,
                    None => tempfile::tempfile()?,
                };
                self.rest.insert(BufWriter::with_capacity(1 << 16, file))
            }
        };
        write_match(rest, &seen, &values)
    }

    /// Each match in row order, without those seen in an import of the same bytes
    /// (`same_file`): at the same row that is this row's own transaction id; at another row it
    /// is a payment this file repeats, which one import of the file does not hold either (its
    /// own reservation). A re-run after a failed import once held such a row against its own
    /// earlier attempt.
    fn for_each_other(
        self,
        same_file: &[Uuid],
        mut each: impl FnMut(SeenBefore, CsvRow),
    ) -> io::Result<()> {
        let mut each = |seen: SeenBefore, values| {
            if !same_file.contains(&seen.seen_import_id) {
                each(seen, values);
            }
        };
        for (seen, values) in self.first {
            each(seen, values);
        }
        let Some(rest) = self.rest else {
            return Ok(());
        };
        let mut file = rest.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        while let Some((seen, values)) = read_match(&mut reader)? {
            each(seen, values);
        }
        Ok(())
    }

    /// The matches among the rows `resolved` publishes (first occurrences), except those of
    /// imports of the same bytes: those are held.
    pub(crate) fn held(
        self,
        same_file: &[Uuid],
        resolved: &Resolved,
        max_listed: usize,
    ) -> Result<CrossFile> {
        let mut found = CrossFile::default();
        let mut totals = TotalsBuilder::default();
        self.for_each_other(same_file, |seen, values| {
            if !resolved.is_published(seen.row) {
                return;
            }
            totals.add(&RowFigures::of(&values.currency, &values.amount), 1);
            if found.listed.len() < max_listed {
                found.listed.push(CrossFileDuplicate {
                    row: seen.row,
                    seen_import_id: seen.seen_import_id,
                    seen_row: seen.seen_row,
                    values,
                });
            }
            found.held.push(seen);
        })
        .map_err(spill_failed)?;
        found.totals = totals.build();
        Ok(found)
    }
}

/// One match as bytes: the row numbers, the import's id, then each value with its length.
fn write_match(out: &mut impl Write, seen: &SeenBefore, values: &CsvRow) -> io::Result<()> {
    out.write_all(&seen.row.to_le_bytes())?;
    out.write_all(&seen.seen_row.to_le_bytes())?;
    out.write_all(seen.seen_import_id.as_bytes())?;
    for value in values.columns() {
        out.write_all(&(value.len() as u32).to_le_bytes())?;
        out.write_all(value.as_bytes())?;
    }
    Ok(())
}

/// The next match [`write_match`] wrote, or `None` at the end.
fn read_match(input: &mut impl Read) -> io::Result<Option<(SeenBefore, CsvRow)>> {
    let mut row = [0; 8];
    match input.read_exact(&mut row) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let mut seen_row = [0; 8];
    input.read_exact(&mut seen_row)?;
    let mut id = [0; 16];
    input.read_exact(&mut id)?;
    let mut values: [String; 6] = Default::default();
    for value in &mut values {
        let mut len = [0; 4];
        input.read_exact(&mut len)?;
        let mut bytes = vec![0; u32::from_le_bytes(len) as usize];
        input.read_exact(&mut bytes)?;
        *value =
            String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    let values = CsvRow::from_columns(values);
    let seen = SeenBefore {
        row: u64::from_le_bytes(row),
        seen_import_id: Uuid::from_bytes(id),
        seen_row: u64::from_le_bytes(seen_row),
    };
    Ok(Some((seen, values)))
}

/// What an import holds as cross-file duplicates.
#[derive(Debug, Default)]
pub(crate) struct CrossFile {
    /// Every held row, in row order.
    pub(crate) held: Vec<SeenBefore>,
    /// The first of them with their values, for the report.
    listed: Vec<CrossFileDuplicate>,
    totals: Totals,
}

impl CrossFile {
    /// Holds the rows in `resolved` and reports them in `summary`.
    pub(crate) fn apply(&self, summary: &mut Summary, resolved: &mut Resolved) {
        for held in &self.held {
            resolved.hold(held.row);
        }
        summary.cross_file_duplicates = self.held.len() as u64;
        summary.cross_file = self.listed.clone();
        summary.totals.held = self.totals.clone();
        summary.lists_truncated |= (self.listed.len() as u64) < summary.cross_file_duplicates;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(row: u64, seen_import_id: Uuid, seen_row: u64) -> (SeenBefore, CsvRow) {
        let values = CsvRow {
            username_sender: "alice".into(),
            username_receiver: "bob".into(),
            amount: "10.00".into(),
            currency: "EUR".into(),
            transaction_date: "2024-01-01T00:00:00Z".into(),
            status: "completed".into(),
        };
        (
            SeenBefore {
                row,
                seen_import_id,
                seen_row,
            },
            values,
        )
    }

    /// Every match in row order, as (row, seen import, seen row, amount).
    fn listed(matches: Matches, same_file: &[Uuid]) -> Vec<(u64, Uuid, u64, String)> {
        let mut left = Vec::new();
        matches
            .for_each_other(same_file, |s, values| {
                left.push((s.row, s.seen_import_id, s.seen_row, values.amount))
            })
            .expect("read back");
        left
    }

    #[test]
    fn an_earlier_import_of_the_same_bytes_is_never_another_payment() {
        let (earlier, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut matches = Matches::new(None, MATCHES_IN_MEMORY);
        for (seen, values) in [
            // The same row of the same file: its own transaction id.
            seen(7, earlier, 7),
            // A payment the file itself repeats, reserved by the earlier attempt at its other
            // row: one import of the file would not hold it either.
            seen(4978, earlier, 5200),
            // Another file's payment: held.
            seen(9, other, 3),
        ] {
            matches.push(seen, values).expect("push");
        }
        assert_eq!(
            listed(matches, &[earlier]),
            vec![(9, other, 3, "10.00".to_string())]
        );
    }

    #[test]
    fn matches_beyond_those_in_memory_come_back_from_the_disk_in_order_and_whole() {
        let (earlier, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut matches = Matches::new(None, 2);
        let mut expected = Vec::new();
        for row in 1..=7u64 {
            let from = if row % 3 == 0 { earlier } else { other };
            let (seen, mut values) = seen(row, from, row + 100);
            // Values of other lengths, an empty one and non-ASCII text survive the file.
            values.amount = format!("{row}.5{}", "0".repeat(row as usize));
            values.username_receiver = if row == 5 {
                String::new()
            } else {
                "zoë".into()
            };
            if from == other {
                expected.push((row, other, row + 100, values.amount.clone()));
            }
            matches.push(seen, values).expect("push");
        }
        assert!(matches.rest.is_some(), "five of the seven went to the disk");
        assert_eq!(listed(matches, &[earlier]), expected);
    }
}
