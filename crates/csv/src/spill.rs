//! Exact duplicate detection in bounded memory.
//!
//! Pass 1 appends a 32-byte record `(hash: u128, row|flags: u64, offset: u64)` per row and the
//! row's canonical bytes (the six values, each followed by `0xFF`) to a values log. Each record
//! belongs to one of [`BUCKETS`] buckets, chosen by the top bits of its hash. Records and values
//! stay in memory up to [`Options::memory_rows`](crate::Options::memory_rows) rows; past that
//! they go to temporary files: the records to their bucket's file, the values to one sequential
//! file.
//!
//! Pass 1's records are made on a thread of their own ([`SpillThread`]): the reading thread hands
//! it each row's canonical bytes in batches, and it hashes them, keeps them and spills them, so
//! reading the next rows and keeping the last ones overlap.
//!
//! Resolving takes one bucket at a time (from memory or its file), sorts it, and for each group of equal hashes marks every
//! occurrence but the first in a duplicate bitset (1 bit per row), counts, and offers every
//! occurrence to a collector keeping the `max_listed` smallest row numbers. Only those listed
//! rows' values are read back from the values log (by offset).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use crate::summary::CsvRow;

/// Rows handed to the spill thread at once: few enough that a batch stays in the caches
/// (about 300 KB of values), many enough that the hand-over costs nothing per row.
const BATCH_ROWS: usize = 4096;
/// Batches queued for the spill thread before the reading thread waits for it.
const BATCHES_QUEUED: usize = 2;

/// Bucket files, chosen by the top `BUCKET_BITS` bits of the hash.
pub(crate) const BUCKETS: usize = 64;
const BUCKET_BITS: u32 = 6;
const WRITE_BUFFER: usize = 64 * 1024;
const RECORD: usize = 32;

/// Row numbers use the low 62 bits; the top two flag the row (same for equal rows).
pub(crate) const ROW_MASK: u64 = (1 << 62) - 1;
pub(crate) const SUSPICIOUS: u64 = 1 << 63;
pub(crate) const INVALID: u64 = 1 << 62;

/// One bit per row, indexed by row number.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bitset(Vec<u64>);

impl Bitset {
    pub(crate) fn new(bits: u64) -> Self {
        Bitset(vec![0; (bits / 64 + 1) as usize])
    }

    pub(crate) fn set(&mut self, i: u64) {
        if let Some(word) = self.0.get_mut((i / 64) as usize) {
            *word |= 1 << (i % 64);
        }
    }

    /// Sets bit `i`, growing the set as needed (for bits set while reading, before the row
    /// count is known).
    pub(crate) fn grow_set(&mut self, i: u64) {
        let word = (i / 64) as usize;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    /// False beyond the end.
    pub(crate) fn get(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.0.len() * 8
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    hash: u128,
    /// Row number with flags in the top bits (equal rows have equal flags, so the order of a
    /// group is the order of its row numbers).
    row: u64,
    /// Where the row's canonical bytes start in the values log.
    offset: u64,
}

impl Rec {
    fn encode(&self) -> [u8; RECORD] {
        let mut out = [0u8; RECORD];
        out[..16].copy_from_slice(&self.hash.to_le_bytes());
        out[16..24].copy_from_slice(&self.row.to_le_bytes());
        out[24..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Rec {
        let mut hash = [0u8; 16];
        let mut row = [0u8; 8];
        let mut offset = [0u8; 8];
        hash.copy_from_slice(&bytes[..16]);
        row.copy_from_slice(&bytes[16..24]);
        offset.copy_from_slice(&bytes[24..RECORD]);
        Rec {
            hash: u128::from_le_bytes(hash),
            row: u64::from_le_bytes(row),
            offset: u64::from_le_bytes(offset),
        }
    }
}

/// Keeps the `max` entries with the smallest row numbers (a max-heap on the row).
pub(crate) struct Smallest<T> {
    heap: BinaryHeap<ByRow<T>>,
    max: usize,
    pub(crate) truncated: bool,
}

struct ByRow<T>(u64, T);

impl<T> PartialEq for ByRow<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T> Eq for ByRow<T> {}
impl<T> PartialOrd for ByRow<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for ByRow<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl<T> Smallest<T> {
    pub(crate) fn new(max: usize) -> Self {
        Smallest {
            heap: BinaryHeap::with_capacity(max.min(1 << 16)),
            max,
            truncated: false,
        }
    }

    /// Offers `row`; builds the entry only when it is kept. Returns whether it was kept.
    pub(crate) fn offer(&mut self, row: u64, item: impl FnOnce() -> T) -> bool {
        if self.heap.len() < self.max {
            self.heap.push(ByRow(row, item()));
            return true;
        }
        self.truncated = true;
        match self.heap.peek() {
            Some(top) if row < top.0 => {
                self.heap.pop();
                self.heap.push(ByRow(row, item()));
                true
            }
            _ => false,
        }
    }

    /// The kept entries with their rows, in row order.
    pub(crate) fn into_sorted(self) -> Vec<(u64, T)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.0, e.1))
            .collect()
    }
}

/// What pass 1 leaves for resolving: records and values, in memory or spilled.
pub(crate) struct Spill {
    dir: Option<PathBuf>,
    memory_rows: usize,
    /// The records in memory, already split into their buckets: each is sorted on its own,
    /// small enough to stay in the caches, and spilled in one write.
    pending: Vec<Vec<Rec>>,
    pending_rows: usize,
    buckets: Vec<(BufWriter<File>, u64)>,
    values: Vec<u8>,
    values_file: Option<BufWriter<File>>,
    offset: u64,
}

/// The outcome of resolving.
pub(crate) struct Resolution {
    pub(crate) duplicate: Bitset,
    pub(crate) duplicate_rows: u64,
    /// Duplicate rows (not first occurrences) flagged suspicious / invalid.
    pub(crate) suspicious_duplicates: u64,
    pub(crate) invalid_duplicates: u64,
    /// `(row, first_row, values)` of the `max_listed` smallest rows of repeated groups.
    pub(crate) listed: Vec<(u64, u64, CsvRow)>,
    pub(crate) truncated: bool,
}

impl Spill {
    pub(crate) fn new(dir: Option<PathBuf>, memory_rows: usize) -> Self {
        let memory_rows = memory_rows.max(1);
        Spill {
            dir,
            memory_rows,
            pending: vec![Vec::new(); BUCKETS],
            pending_rows: 0,
            buckets: Vec::new(),
            values: Vec::new(),
            values_file: None,
            offset: 0,
        }
    }

    fn tempfile(&self) -> io::Result<File> {
        match &self.dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
    }

    /// Records one row: its hash, number and flags, and canonical bytes.
    pub(crate) fn push(
        &mut self,
        hash: u128,
        row_and_flags: u64,
        canonical: &[u8],
    ) -> io::Result<()> {
        self.pending[bucket(hash)].push(Rec {
            hash,
            row: row_and_flags,
            offset: self.offset,
        });
        self.pending_rows += 1;
        self.values.extend_from_slice(canonical);
        self.offset += canonical.len() as u64;
        if self.pending_rows >= self.memory_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Moves the pending records to their buckets and the pending values to the values file.
    fn flush(&mut self) -> io::Result<()> {
        if self.buckets.is_empty() {
            for _ in 0..BUCKETS {
                let file = self.tempfile()?;
                self.buckets
                    .push((BufWriter::with_capacity(WRITE_BUFFER, file), 0));
            }
            let file = self.tempfile()?;
            self.values_file = Some(BufWriter::with_capacity(WRITE_BUFFER, file));
        }
        for (recs, (writer, count)) in self.pending.iter_mut().zip(&mut self.buckets) {
            *count += recs.len() as u64;
            for rec in recs.drain(..) {
                writer.write_all(&rec.encode())?;
            }
        }
        self.pending_rows = 0;
        if let Some(file) = &mut self.values_file {
            file.write_all(&self.values)?;
        }
        self.values.clear();
        Ok(())
    }

    /// Finds every duplicate among rows `1..=rows`, listing the `max_listed` smallest rows of
    /// repeated groups with their values. `on_repeat` sees each repeated group once: the
    /// row's values, how many repeats (occurrences after the first) and its flags.
    #[cfg(test)]
    pub(crate) fn resolve(
        self,
        rows: u64,
        max_listed: usize,
        mut on_repeat: impl FnMut(&CsvRow, u64, u64),
    ) -> io::Result<Resolution> {
        let mut resolver = None;
        self.into_sorted(|sorted| {
            Resolver::take(&mut resolver, sorted, rows, max_listed, &mut on_repeat)?;
            Ok(true)
        })?;
        resolver.ok_or_else(thread_gone)?.finish()
    }

    /// Ends pass 1: hands `each` the values log, then each bucket sorted, one at a time (until
    /// `each` returns false).
    fn into_sorted(mut self, mut each: impl FnMut(Sorted) -> io::Result<bool>) -> io::Result<()> {
        if self.buckets.is_empty() {
            if !each(Sorted::Log(ValuesLog::Memory(std::mem::take(
                &mut self.values,
            ))))? {
                return Ok(());
            }
            for mut recs in std::mem::take(&mut self.pending) {
                recs.sort_unstable();
                if !each(Sorted::Bucket(recs))? {
                    break;
                }
            }
            return Ok(());
        }
        self.flush()?;
        if !each(Sorted::Log(ValuesLog::open(self.values_file.take())?))? {
            return Ok(());
        }
        for (writer, count) in std::mem::take(&mut self.buckets) {
            let mut file = writer.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(0))?;
            let mut reader = BufReader::with_capacity(WRITE_BUFFER, file);
            let mut recs = Vec::with_capacity(count as usize);
            let mut buf = [0u8; RECORD];
            for _ in 0..count {
                reader.read_exact(&mut buf)?;
                recs.push(Rec::decode(&buf));
            }
            recs.sort_unstable();
            if !each(Sorted::Bucket(recs))? {
                break;
            }
        }
        Ok(())
    }
}

/// What the end of pass 1 hands to resolving, in this order: the values log, then the buckets.
enum Sorted {
    Log(ValuesLog),
    /// One bucket's records, sorted (so equal hashes are together, rows ascending).
    Bucket(Vec<Rec>),
}

/// Resolves the sorted buckets as they come.
struct Resolver {
    out: Resolution,
    /// (row, (first_row, offset of the values))
    listed: Smallest<(u64, u64)>,
    log: ValuesLog,
}

impl Resolver {
    /// Takes the next of what pass 1 hands over; the log starts the resolver.
    fn take(
        resolver: &mut Option<Resolver>,
        sorted: Sorted,
        rows: u64,
        max_listed: usize,
        on_repeat: &mut impl FnMut(&CsvRow, u64, u64),
    ) -> io::Result<()> {
        match (sorted, resolver.as_mut()) {
            (Sorted::Log(log), _) => {
                *resolver = Some(Resolver {
                    out: Resolution {
                        duplicate: Bitset::new(rows + 1),
                        duplicate_rows: 0,
                        suspicious_duplicates: 0,
                        invalid_duplicates: 0,
                        listed: Vec::new(),
                        truncated: false,
                    },
                    listed: Smallest::new(max_listed),
                    log,
                });
                Ok(())
            }
            (Sorted::Bucket(recs), Some(resolver)) => resolver.bucket(&recs, on_repeat),
            (Sorted::Bucket(_), None) => Err(thread_gone()),
        }
    }

    /// Resolves every group of equal hashes in one sorted bucket.
    fn bucket(
        &mut self,
        recs: &[Rec],
        on_repeat: &mut impl FnMut(&CsvRow, u64, u64),
    ) -> io::Result<()> {
        let out = &mut self.out;
        let mut i = 0;
        while i < recs.len() {
            let hash = recs[i].hash;
            let mut j = i + 1;
            while j < recs.len() && recs[j].hash == hash {
                j += 1;
            }
            if j - i > 1 {
                let first = recs[i];
                let first_row = first.row & ROW_MASK;
                let repeats = (j - i - 1) as u64;
                out.duplicate_rows += repeats;
                if first.row & SUSPICIOUS != 0 {
                    out.suspicious_duplicates += repeats;
                }
                if first.row & INVALID != 0 {
                    out.invalid_duplicates += repeats;
                }
                on_repeat(
                    &self.log.read(first.offset)?,
                    repeats,
                    first.row & !ROW_MASK,
                );
                let mut listing = true;
                for (k, rec) in recs[i..j].iter().enumerate() {
                    let row = rec.row & ROW_MASK;
                    if k > 0 {
                        out.duplicate.set(row);
                    }
                    // Rows of a group ascend: once one is refused, so are the rest.
                    if listing {
                        listing = self.listed.offer(row, || (first_row, first.offset));
                    }
                }
            }
            i = j;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Resolution> {
        self.out.truncated = self.listed.truncated;
        let listed = self.listed.into_sorted();
        self.out.listed = values_of(&mut self.log, listed)?;
        Ok(self.out)
    }
}

/// Rows on their way to the spill thread: each row's canonical bytes, one after another.
pub(crate) struct Batch {
    values: Vec<u8>,
    /// Each row's number and flags, and where its bytes end in `values`.
    rows: Vec<(u64, usize)>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            values: Vec::with_capacity(BATCH_ROWS * 80),
            rows: Vec::with_capacity(BATCH_ROWS),
        }
    }

    /// The canonical bytes of the rows so far; the next row's are appended to it, then ended
    /// with [`SpillThread::end_row`].
    pub(crate) fn values(&mut self) -> &mut Vec<u8> {
        &mut self.values
    }

    /// Where the row being appended starts in [`Batch::values`].
    pub(crate) fn row_start(&self) -> usize {
        self.rows.last().map_or(0, |&(_, end)| end)
    }
}

/// A [`Spill`] kept by a thread of its own, which also hashes each row's canonical bytes
/// (`hash`, the same function the reading thread uses for the rows it lists). At the end it
/// sorts the buckets too, one ahead of the reading thread resolving them.
pub(crate) struct SpillThread {
    batch: Batch,
    to_thread: Option<SyncSender<Batch>>,
    /// Batches the thread is done with, to be filled again (no allocation per batch).
    returned: Receiver<Batch>,
    sorted: Option<Receiver<Sorted>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl SpillThread {
    pub(crate) fn start(
        mut spill: Spill,
        hash: impl Fn(&[u8]) -> u128 + Send + 'static,
    ) -> io::Result<SpillThread> {
        let (to_thread, batches) = mpsc::sync_channel::<Batch>(BATCHES_QUEUED);
        let (back, returned): (Sender<Batch>, _) = mpsc::channel();
        // One bucket sorted ahead: the memory of two more buckets at most.
        let (to_resolve, sorted) = mpsc::sync_channel::<Sorted>(1);
        let thread = std::thread::Builder::new()
            .name("payments-spill".into())
            .spawn(move || {
                for mut batch in batches {
                    let mut start = 0;
                    for &(row_and_flags, end) in &batch.rows {
                        let bytes = &batch.values[start..end];
                        spill.push(hash(bytes), row_and_flags, bytes)?;
                        start = end;
                    }
                    batch.values.clear();
                    batch.rows.clear();
                    // The reader may be gone (it failed); the batch is then simply dropped.
                    let _ = back.send(batch);
                }
                // The reader stops taking them when it fails.
                spill.into_sorted(|sorted| Ok(to_resolve.send(sorted).is_ok()))
            })?;
        Ok(SpillThread {
            batch: Batch::new(),
            to_thread: Some(to_thread),
            returned,
            sorted: Some(sorted),
            thread: Some(thread),
        })
    }

    /// The batch being filled.
    pub(crate) fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Ends the row whose canonical bytes were just appended to [`SpillThread::batch`].
    pub(crate) fn end_row(&mut self, row_and_flags: u64) -> io::Result<()> {
        let end = self.batch.values.len();
        self.batch.rows.push((row_and_flags, end));
        if self.batch.rows.len() >= BATCH_ROWS {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> io::Result<()> {
        let next = self.returned.try_recv().unwrap_or_else(|_| Batch::new());
        let full = std::mem::replace(&mut self.batch, next);
        let sent = match &self.to_thread {
            Some(to_thread) => to_thread.send(full).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread stopped on an error of its own: that error is the one to report.
            Err(self.join().err().unwrap_or_else(thread_gone))
        }
    }

    /// Hands over the last rows, then resolves the buckets as the thread sorts them: as
    /// [`Spill::resolve`] on every row pushed.
    pub(crate) fn resolve(
        mut self,
        rows: u64,
        max_listed: usize,
        mut on_repeat: impl FnMut(&CsvRow, u64, u64),
    ) -> io::Result<Resolution> {
        if !self.batch.rows.is_empty() {
            self.send()?;
        }
        // The thread ends its batches and starts sorting.
        self.to_thread = None;
        let mut resolver = None;
        if let Some(sorted) = &self.sorted {
            for sorted in sorted {
                Resolver::take(&mut resolver, sorted, rows, max_listed, &mut on_repeat)?;
            }
        }
        // Everything came, or the thread stopped on an error: that is the one to report.
        self.join()?;
        resolver.ok_or_else(thread_gone)?.finish()
    }

    fn join(&mut self) -> io::Result<()> {
        self.to_thread = None;
        // A thread waiting to hand over a sorted bucket is released.
        self.sorted = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(done)) => done,
            _ => Err(thread_gone()),
        }
    }
}

impl Drop for SpillThread {
    /// An analysis that stops early (a rejected file) still ends its thread before it returns.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

fn thread_gone() -> io::Error {
    io::Error::other("the thread keeping the rows' records stopped")
}

/// The rows' canonical bytes, read back by offset.
enum ValuesLog {
    Memory(Vec<u8>),
    // A small buffer: each read is one short row at a new offset.
    File(BufReader<File>),
}

impl ValuesLog {
    fn open(writer: Option<BufWriter<File>>) -> io::Result<ValuesLog> {
        match writer {
            None => Ok(ValuesLog::Memory(Vec::new())),
            Some(writer) => {
                let mut file = writer.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                Ok(ValuesLog::File(BufReader::with_capacity(1024, file)))
            }
        }
    }

    fn read(&mut self, offset: u64) -> io::Result<CsvRow> {
        match self {
            ValuesLog::Memory(values) => {
                let mut slice = values.get(offset as usize..).unwrap_or_default();
                read_values(&mut slice)
            }
            ValuesLog::File(reader) => {
                reader.seek(SeekFrom::Start(offset))?;
                read_values(reader)
            }
        }
    }
}

/// Reads back the values of the listed rows.
fn values_of(
    log: &mut ValuesLog,
    listed: Vec<(u64, (u64, u64))>,
) -> io::Result<Vec<(u64, u64, CsvRow)>> {
    let mut offsets: Vec<u64> = listed.iter().map(|(_, (_, offset))| *offset).collect();
    offsets.sort_unstable();
    offsets.dedup();
    let mut rows = Vec::with_capacity(offsets.len());
    for &offset in &offsets {
        rows.push(log.read(offset)?);
    }
    Ok(listed
        .into_iter()
        .map(|(row, (first_row, offset))| {
            let k = offsets.binary_search(&offset).unwrap_or_default();
            (row, first_row, rows[k].clone())
        })
        .collect())
}

fn bucket(hash: u128) -> usize {
    (hash >> (128 - BUCKET_BITS)) as usize
}

/// Six values, each ending in `0xFF`.
fn read_values<R: io::BufRead>(reader: &mut R) -> io::Result<CsvRow> {
    let mut fields: [String; 6] = Default::default();
    let mut buf = Vec::new();
    for field in &mut fields {
        buf.clear();
        reader.read_until(0xFF, &mut buf)?;
        if buf.pop() != Some(0xFF) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the values log ended early",
            ));
        }
        *field = String::from_utf8(std::mem::take(&mut buf))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(CsvRow::from_columns(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(amount: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for value in ["a", "b", amount, "USD", "2025-07-07", "completed"] {
            out.extend_from_slice(value.as_bytes());
            out.push(0xFF);
        }
        out
    }

    /// Hashes in the first, a middle and the last bucket, spilled after every row.
    #[test]
    fn duplicates_in_different_buckets() {
        let first = 1u128 << 5;
        let middle = (31u128 << 122) | 9;
        let last = (63u128 << 122) | 3;
        assert_eq!((bucket(first), bucket(middle), bucket(last)), (0, 31, 63));
        // rows:        1      2       3     4     5       6     7
        let hashes = [last, first, middle, last, first, last, 77];
        for memory_rows in [1, 3, 100] {
            let mut spill = Spill::new(None, memory_rows);
            for (i, &hash) in hashes.iter().enumerate() {
                let row = i as u64 + 1;
                let flags = if hash == last { SUSPICIOUS } else { 0 };
                let amount = format!("{}", hash % 1000);
                spill.push(hash, row | flags, &canonical(&amount)).unwrap();
            }
            assert_eq!(spill.buckets.is_empty(), memory_rows > hashes.len());
            let mut repeats = Vec::new();
            let out = spill
                .resolve(7, 4, |values, n, flags| {
                    repeats.push((values.amount.clone(), n, flags))
                })
                .unwrap();
            repeats.sort();
            let amount = |h: u128| format!("{}", h % 1000);
            let mut expected = vec![(amount(last), 2, SUSPICIOUS), (amount(first), 1, 0)];
            expected.sort();
            assert_eq!(repeats, expected);
            assert_eq!(out.duplicate_rows, 3);
            assert_eq!(out.suspicious_duplicates, 2);
            assert_eq!(out.invalid_duplicates, 0);
            let dups: Vec<u64> = (1..=7).filter(|&r| out.duplicate.get(r)).collect();
            assert_eq!(dups, [4, 5, 6]);
            let listed: Vec<(u64, u64, String)> = out
                .listed
                .iter()
                .map(|(row, first, values)| (*row, *first, values.amount.clone()))
                .collect();
            let amount = |h: u128| format!("{}", h % 1000);
            assert_eq!(
                listed,
                [
                    (1, 1, amount(last)),
                    (2, 2, amount(first)),
                    (4, 1, amount(last)),
                    (5, 2, amount(first)),
                ]
            );
            assert!(out.truncated);
        }
    }

    #[test]
    fn smallest_keeps_the_lowest_rows() {
        let mut s = Smallest::new(3);
        for row in [9, 4, 7, 1, 8, 2] {
            s.offer(row, || row * 10);
        }
        assert!(s.truncated);
        assert_eq!(s.into_sorted(), [(1, 10), (2, 20), (4, 40)]);
        let mut none = Smallest::new(0);
        assert!(!none.offer(1, || ()));
        assert!(none.truncated);
    }
}
