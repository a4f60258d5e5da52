//! Cross-file duplicates: each valid row is looked up, by its payment's fingerprint, among the
//! payments other imports reserved or landed, while the analysis reads it, and reserved for
//! this import when nobody had it; a match the import would publish is held back with where it
//! was seen, and published only once a second identity approves.

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
    matches: Vec<(SeenBefore, CsvRow)>,
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
    pub(crate) fn new(pool: PgPool, import: OwnImport, reserve: bool, handle: Handle) -> Lookup {
        Lookup {
            pool,
            import,
            reserve,
            handle,
            batch: Batch::default(),
            pending: None,
            matches: Vec::new(),
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
                self.matches.push((seen, batch.values(at)));
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
            None => Ok(Matches(self.matches)),
        }
    }
}

/// Valid rows whose payment landed from another import, with their values.
pub(crate) struct Matches(Vec<(SeenBefore, CsvRow)>);

impl Matches {
    /// Without the rows seen in an import of the same bytes (`same_file`): at the same row that
    /// is this row's own transaction id; at another row it is a payment this file repeats,
    /// which one import of the file does not hold either (its own reservation). A re-run after a
    /// failed import once held such a row against its own earlier attempt.
    pub(crate) fn without_same_transactions(mut self, same_file: &[Uuid]) -> Matches {
        self.0
            .retain(|(seen, _)| !same_file.contains(&seen.seen_import_id));
        self
    }

    /// The matches among the rows `resolved` publishes (first occurrences): those are held.
    pub(crate) fn held(self, resolved: &Resolved, max_listed: usize) -> CrossFile {
        let mut found = CrossFile::default();
        let mut totals = TotalsBuilder::default();
        for (seen, values) in self.0 {
            if !resolved.is_published(seen.row) {
                continue;
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
        }
        found.totals = totals.build();
        found
    }
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

    #[test]
    fn an_earlier_import_of_the_same_bytes_is_never_another_payment() {
        let (earlier, other) = (Uuid::new_v4(), Uuid::new_v4());
        let matches = Matches(vec![
            // The same row of the same file: its own transaction id.
            seen(7, earlier, 7),
            // A payment the file itself repeats, reserved by the earlier attempt at its other
            // row: one import of the file would not hold it either.
            seen(4978, earlier, 5200),
            // Another file's payment: held.
            seen(9, other, 3),
        ])
        .without_same_transactions(&[earlier]);
        let left: Vec<(u64, Uuid, u64)> = matches
            .0
            .iter()
            .map(|(s, _)| (s.row, s.seen_import_id, s.seen_row))
            .collect();
        assert_eq!(left, vec![(9, other, 3)]);
    }
}
