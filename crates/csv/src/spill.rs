//! Exact duplicate detection in bounded memory.
//!
//! Pass 1 appends a 32-byte record `(hash: u128, row|flags: u64, offset: u64)` per row and the
//! row's canonical bytes (the six values, each followed by `0xFF`) to a values log. Records and
//! values stay in memory up to [`Options::memory_rows`](crate::Options::memory_rows) rows; past
//! that they go to temporary files: the records to one of [`BUCKETS`] bucket files chosen by the
//! top bits of the hash, the values to one sequential file.
//!
//! Resolving reads one bucket at a time, sorts it, and for each group of equal hashes marks every
//! occurrence but the first in a duplicate bitset (1 bit per row), counts, and offers every
//! occurrence to a collector keeping the `max_listed` smallest row numbers. Only those listed
//! rows' values are read back from the values log (by offset).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::summary::CsvRow;

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
    pending: Vec<Rec>,
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
            pending: Vec::with_capacity(memory_rows.min(1 << 16)),
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
        self.pending.push(Rec {
            hash,
            row: row_and_flags,
            offset: self.offset,
        });
        self.values.extend_from_slice(canonical);
        self.offset += canonical.len() as u64;
        if self.pending.len() >= self.memory_rows {
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
        for rec in self.pending.drain(..) {
            let (writer, count) = &mut self.buckets[bucket(rec.hash)];
            writer.write_all(&rec.encode())?;
            *count += 1;
        }
        if let Some(file) = &mut self.values_file {
            file.write_all(&self.values)?;
        }
        self.values.clear();
        Ok(())
    }

    /// Finds every duplicate among rows `1..=rows`, listing the `max_listed` smallest rows of
    /// repeated groups with their values. `on_repeat` sees each repeated group once: the
    /// row's values, how many repeats (occurrences after the first) and its flags.
    pub(crate) fn resolve(
        mut self,
        rows: u64,
        max_listed: usize,
        mut on_repeat: impl FnMut(&CsvRow, u64, u64),
    ) -> io::Result<Resolution> {
        let mut out = Resolution {
            duplicate: Bitset::new(rows + 1),
            duplicate_rows: 0,
            suspicious_duplicates: 0,
            invalid_duplicates: 0,
            listed: Vec::new(),
            truncated: false,
        };
        // (row, first_row, offset of the values)
        let mut listed = Smallest::<(u64, u64)>::new(max_listed);
        let mut log;
        if self.buckets.is_empty() {
            let mut recs = std::mem::take(&mut self.pending);
            log = ValuesLog::Memory(std::mem::take(&mut self.values));
            resolve_group(&mut recs, &mut out, &mut listed, &mut log, &mut on_repeat)?;
        } else {
            self.flush()?;
            // The flushed records' memory holds each bucket in turn: a fresh allocation per
            // bucket costs its page faults.
            let mut recs = std::mem::take(&mut self.pending);
            log = ValuesLog::open(self.values_file.take())?;
            let buckets = std::mem::take(&mut self.buckets);
            for (writer, count) in buckets {
                let mut file = writer.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                let mut reader = BufReader::with_capacity(WRITE_BUFFER, file);
                recs.clear();
                recs.reserve(count as usize);
                let mut buf = [0u8; RECORD];
                for _ in 0..count {
                    reader.read_exact(&mut buf)?;
                    recs.push(Rec::decode(&buf));
                }
                resolve_group(&mut recs, &mut out, &mut listed, &mut log, &mut on_repeat)?;
            }
        }
        out.truncated = listed.truncated;
        let listed = listed.into_sorted();
        out.listed = values_of(&mut log, listed)?;
        Ok(out)
    }
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

/// Sorts `recs` and resolves every group of equal hashes in it.
fn resolve_group(
    recs: &mut [Rec],
    out: &mut Resolution,
    listed: &mut Smallest<(u64, u64)>,
    log: &mut ValuesLog,
    on_repeat: &mut impl FnMut(&CsvRow, u64, u64),
) -> io::Result<()> {
    recs.sort_unstable();
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
            on_repeat(&log.read(first.offset)?, repeats, first.row & !ROW_MASK);
            let mut listing = true;
            for (k, rec) in recs[i..j].iter().enumerate() {
                let row = rec.row & ROW_MASK;
                if k > 0 {
                    out.duplicate.set(row);
                }
                // Rows of a group ascend: once one is refused, so are the rest.
                if listing {
                    listing = listed.offer(row, || (first_row, first.offset));
                }
            }
        }
        i = j;
    }
    Ok(())
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
