//! One CSV record at a time from any reader, with bounded memory.
//!
//! Built on `csv-core` (the state machine under the `csv` crate) rather than `csv::Reader`
//! because the importer must see what `csv::Reader` hides: the raw bytes of each record (an
//! unterminated quote is otherwise silently accepted up to the end of the file) and a hard cap
//! on the record buffer (otherwise one hostile field is read whole into memory).
//!
//! Most lines of an import are plain: no quote, no CR but a final one, no NUL. Those are split
//! on commas in place (SIMD searches for the specials) instead of byte by byte through the
//! state machine; every other line goes through `csv-core`, so what a record is stays exactly
//! what `csv-core` says (the fast path only takes lines it would split the same way).

use std::io::{self, Read};

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use csv_core::ReadRecordResult;
use sha2::{Digest as _, Sha256};

use crate::hashing::{digest_of, Digest};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const INPUT_BUFFER: usize = 64 * 1024;

/// Why a record could not be read.
#[derive(Debug)]
pub(crate) enum RecordError {
    Io(io::Error),
    /// More fields than the caller allows (`found` is a lower bound).
    TooManyFields {
        found: usize,
    },
    /// The record outgrew the buffer: field `column` (0-based) is at least `bytes` long.
    FieldTooLong {
        column: usize,
        bytes: usize,
    },
    /// The record outgrew the buffer while inside an open quote.
    UnbalancedQuote,
}

impl From<io::Error> for RecordError {
    fn from(e: io::Error) -> Self {
        RecordError::Io(e)
    }
}

/// Reads records into one reused buffer; nothing is allocated per record.
pub(crate) struct Records<R> {
    input: R,
    /// The SHA-256 of every byte read (the file's identity).
    hashing: Hashing,
    bytes: u64,
    core: csv_core::Reader,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    started: bool,
    /// Field bytes of the current record, separators and quotes removed.
    fields: Vec<u8>,
    /// End offset in `fields` of each field.
    ends: Vec<usize>,
    nfields: usize,
    max_record_bytes: usize,
    /// `"` bytes seen in the raw text of the current record.
    quotes: usize,
    /// Whether the raw text of the current record holds a NUL byte.
    nul: bool,
    /// The current record was split in place: it starts at this offset of `buf` and `ends`
    /// hold each field's end in `buf` (fields are separated by one comma).
    in_place: Option<usize>,
    /// Whether `csv-core` has read the header: before it, it may still strip a second BOM, so
    /// the first record is always its.
    core_started: bool,
    /// The first `\n` at or after `pos` in `buf`, when already found (never searched twice).
    newline: Option<usize>,
    /// `buf[..scanned]` is known to hold no `\n` past `pos` (a search that found none).
    scanned: usize,
}

/// Longest line split in place (longer ones go through `csv-core`): bounds the bytes checked
/// per record whatever the line endings, and stays below any record buffer's cap (at least
/// 1024 bytes), so `csv-core` would not have refused such a line as too long.
const MAX_PLAIN_LINE: usize = 1000;

impl<R: Read> Records<R> {
    /// `max_fields` bounds the fields of any record, `max_field_bytes` the length of any field.
    pub(crate) fn new(reader: R, max_fields: usize, max_field_bytes: usize) -> Self {
        let max_fields = max_fields.max(1);
        Records {
            input: reader,
            hashing: Hashing::Inline(Sha256::new()),
            bytes: 0,
            core: csv_core::Reader::new(),
            buf: vec![0; INPUT_BUFFER].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            started: false,
            fields: vec![0; 1024],
            ends: vec![0; max_fields + 1],
            nfields: 0,
            max_record_bytes: max_field_bytes.saturating_mul(max_fields + 1).max(1024),
            quotes: 0,
            nul: false,
            in_place: None,
            core_started: false,
            newline: None,
            scanned: 0,
        }
    }

    /// Reads the next record; `false` at the end of the input.
    pub(crate) fn read(&mut self) -> Result<bool, RecordError> {
        if !self.started {
            self.start()?;
        }
        self.quotes = 0;
        self.nul = false;
        if self.core_started {
            loop {
                if self.pos == self.len && !self.eof {
                    self.fill()?;
                }
                match self.plain_line() {
                    Plain::Record => return Ok(true),
                    Plain::Blank => {}
                    Plain::No => break,
                }
            }
        }
        self.in_place = None;
        self.core_started = true;
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            if self.pos == self.len && !self.eof {
                self.fill()?;
            }
            let input = &self.buf[self.pos..self.len];
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.fields[outlen..], &mut self.ends[endlen..]);
            let consumed = &input[..nin];
            // Counting is branch-free so the compiler vectorises it.
            self.quotes += consumed.iter().filter(|&&b| b == b'"').count();
            self.nul |= consumed.contains(&0);
            self.pos += nin;
            outlen += nout;
            endlen += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if self.fields.len() >= self.max_record_bytes {
                        return Err(self.too_long(outlen, endlen));
                    }
                    let grown = (self.fields.len() * 2).min(self.max_record_bytes);
                    self.fields.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    return Err(RecordError::TooManyFields { found: endlen + 1 });
                }
                ReadRecordResult::Record => {
                    self.nfields = endlen;
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
            }
        }
    }

    /// Splits the line at `pos` in place when it is plain: what `csv-core` makes of it is then
    /// its comma-separated parts, and its state after (end of record) is the same whether it
    /// read the line or not. A blank line is skipped, as `csv-core` does.
    fn plain_line(&mut self) -> Plain {
        let Some(newline) = self.find_newline() else {
            return Plain::No;
        };
        let line = &self.buf[self.pos..newline];
        if line.len() > MAX_PLAIN_LINE {
            return Plain::No;
        }
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        if body.is_empty() {
            self.pos = newline + 1;
            return Plain::Blank;
        }
        if memchr::memchr3(b'"', b'\r', 0, body).is_some() {
            return Plain::No;
        }
        let mut n = 0;
        for comma in memchr::memchr_iter(b',', body) {
            // One more field than `ends` holds: `csv-core` reports it.
            if n + 1 >= self.ends.len() {
                return Plain::No;
            }
            self.ends[n] = self.pos + comma;
            n += 1;
        }
        self.ends[n] = self.pos + body.len();
        self.nfields = n + 1;
        self.in_place = Some(self.pos);
        self.pos = newline + 1;
        Plain::Record
    }

    /// The first `\n` at or after `pos` in the buffer; each byte is searched once per fill.
    fn find_newline(&mut self) -> Option<usize> {
        if let Some(at) = self.newline.filter(|&at| at >= self.pos) {
            return Some(at);
        }
        let from = self.pos.max(self.scanned);
        match memchr::memchr(b'\n', &self.buf[from..self.len]) {
            Some(at) => {
                self.newline = Some(from + at);
                self.newline
            }
            None => {
                self.scanned = self.len;
                None
            }
        }
    }

    fn too_long(&self, outlen: usize, endlen: usize) -> RecordError {
        if self.quotes % 2 == 1 {
            return RecordError::UnbalancedQuote;
        }
        let mut start = 0;
        let mut longest = (0, 0);
        for (column, &end) in self.ends[..endlen].iter().enumerate() {
            if end - start > longest.1 {
                longest = (column, end - start);
            }
            start = end;
        }
        if outlen - start > longest.1 {
            longest = (endlen, outlen - start);
        }
        RecordError::FieldTooLong {
            column: longest.0,
            bytes: longest.1,
        }
    }

    /// Reads until at least the length of a BOM is buffered, then skips the BOM.
    fn start(&mut self) -> io::Result<()> {
        self.started = true;
        while self.len < UTF8_BOM.len() {
            let n = read_retrying(&mut self.input, &mut self.buf[self.len..])?;
            // The buffer is not handed to a hashing thread before the first fill.
            if let Hashing::Inline(hasher) = &mut self.hashing {
                hasher.update(&self.buf[self.len..self.len + n]);
            }
            self.bytes += n as u64;
            if n == 0 {
                self.eof = true;
                break;
            }
            self.len += n;
        }
        if self.buf[..self.len].starts_with(UTF8_BOM) {
            self.pos = UTF8_BOM.len();
        }
        Ok(())
    }

    fn fill(&mut self) -> io::Result<()> {
        self.pos = 0;
        self.newline = None;
        self.scanned = 0;
        self.hashing
            .next_buffer(&mut self.buf, self.len, self.bytes)?;
        self.len = read_retrying(&mut self.input, &mut self.buf)?;
        if let Hashing::Inline(hasher) = &mut self.hashing {
            hasher.update(&self.buf[..self.len]);
        }
        self.bytes += self.len as u64;
        self.eof = self.len == 0;
        Ok(())
    }

    pub(crate) fn field_count(&self) -> usize {
        self.nfields
    }

    /// Field `i` of the current record (`i < len()`).
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        if let Some(line) = self.in_place {
            let start = if i == 0 { line } else { self.ends[i - 1] + 1 };
            return &self.buf[start..self.ends[i]];
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.fields[start..self.ends[i]]
    }

    /// The current record's fields as text, when it was split in place and is valid UTF-8.
    pub(crate) fn text(&self) -> Option<Text<'_>> {
        let start = self.in_place?;
        let end = *self.ends[..self.nfields].last()?;
        let text = std::str::from_utf8(&self.buf[start..end]).ok()?;
        Some(Text {
            text,
            start,
            ends: &self.ends[..self.nfields],
        })
    }

    /// Whether the raw text of the current record has an odd number of quotes.
    pub(crate) fn unbalanced_quotes(&self) -> bool {
        self.quotes % 2 == 1
    }

    pub(crate) fn has_nul(&self) -> bool {
        self.nul
    }

    /// Reads whatever is left (so the digest covers the whole input) and returns the digest.
    pub(crate) fn finish(mut self) -> io::Result<Digest> {
        while !self.eof {
            self.fill()?;
        }
        let hasher = self.hashing.finish(&mut self.buf, self.len)?;
        Ok(digest_of(hasher, self.bytes))
    }
}

/// Files at least this large are hashed on a thread of their own: SHA-256 is a fifth of the
/// analysis, and a small file is not worth a thread.
const HASH_THREAD_FROM: u64 = 4 << 20;
/// Input buffers in all, the one being parsed included: bounds the memory of the hashing thread
/// (it returns each buffer once hashed; the parser waits for one when it is ahead).
const BUFFERS: usize = 4;

/// The SHA-256 of the input, computed as each buffer is read, or (on large files) by a thread
/// each buffer is handed to once parsed.
enum Hashing {
    Inline(Sha256),
    Thread {
        /// Buffers to hash with their lengths; `None` once finished.
        to_hash: Option<SyncSender<(Box<[u8]>, usize)>>,
        hashed: Receiver<Box<[u8]>>,
        allocated: usize,
        thread: Option<JoinHandle<Sha256>>,
    },
}

impl Hashing {
    /// Called before `buf` is filled again: on a large file, hands it (already parsed, not yet
    /// hashed) to the hashing thread and swaps in a free buffer.
    fn next_buffer(&mut self, buf: &mut Box<[u8]>, len: usize, read: u64) -> io::Result<()> {
        if let Hashing::Inline(hasher) = self {
            if read < HASH_THREAD_FROM {
                return Ok(());
            }
            // `buf` is hashed already: from here on each buffer is hashed when handed over.
            let mut state = hasher.clone();
            let (to_hash, queue) = mpsc::sync_channel::<(Box<[u8]>, usize)>(BUFFERS);
            let (done, hashed) = mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("csv-sha256".to_owned())
                .spawn(move || {
                    for (buf, len) in queue {
                        state.update(&buf[..len]);
                        // The reader may be gone (an error stopped it): nothing to return to.
                        let _ = done.send(buf);
                    }
                    state
                });
            // Without a thread the hash goes on inline.
            let Ok(thread) = spawned else {
                return Ok(());
            };
            *self = Hashing::Thread {
                to_hash: Some(to_hash),
                hashed,
                allocated: 1,
                thread: Some(thread),
            };
            return Ok(());
        }
        let Hashing::Thread {
            to_hash,
            hashed,
            allocated,
            ..
        } = self
        else {
            return Ok(());
        };
        let free = if *allocated < BUFFERS {
            *allocated += 1;
            vec![0; INPUT_BUFFER].into_boxed_slice()
        } else {
            hashed.recv().map_err(|_| hashing_stopped())?
        };
        let full = std::mem::replace(buf, free);
        to_hash
            .as_ref()
            .ok_or_else(hashing_stopped)?
            .send((full, len))
            .map_err(|_| hashing_stopped())
    }

    /// The hash of everything, `buf[..len]` being the last buffer read.
    fn finish(&mut self, buf: &mut Box<[u8]>, len: usize) -> io::Result<Sha256> {
        match self {
            Hashing::Inline(hasher) => Ok(std::mem::take(hasher)),
            Hashing::Thread {
                to_hash, thread, ..
            } => {
                let last = std::mem::take(buf);
                if let Some(to_hash) = to_hash.take() {
                    to_hash.send((last, len)).map_err(|_| hashing_stopped())?;
                }
                thread
                    .take()
                    .ok_or_else(hashing_stopped)?
                    .join()
                    .map_err(|_| hashing_stopped())
            }
        }
    }
}

impl Drop for Hashing {
    /// An analysis stopped early (a malformed row, an error) still waits for its thread, which
    /// ends as soon as it has hashed the few buffers it holds.
    fn drop(&mut self) {
        if let Hashing::Thread {
            to_hash, thread, ..
        } = self
        {
            to_hash.take();
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn hashing_stopped() -> io::Error {
    io::Error::other("the SHA-256 thread stopped")
}

/// The fields of a record split in place, as text.
pub(crate) struct Text<'a> {
    text: &'a str,
    start: usize,
    ends: &'a [usize],
}

impl<'a> Text<'a> {
    /// Field `i` (`i < Records::field_count()`); commas are ASCII, so the bounds are
    /// character boundaries.
    pub(crate) fn field(&self, i: usize) -> &'a str {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1] + 1 - self.start
        };
        &self.text[start..self.ends[i] - self.start]
    }
}

/// What [`Records::plain_line`] made of the line at `pos`.
enum Plain {
    /// A record, split in place.
    Record,
    /// A blank line, skipped.
    Blank,
    /// Not plain (or not a whole line in the buffer): `csv-core` reads it.
    No,
}

fn read_retrying<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Hands out the input in the given read sizes, so lines straddle buffer fills.
    struct Chunks<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        next: usize,
    }

    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.next % self.sizes.len()];
            self.next += 1;
            let n = size.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn ours(data: &[u8], sizes: Vec<usize>) -> Vec<(Vec<Vec<u8>>, usize, bool)> {
        let reader = Chunks {
            data,
            sizes,
            next: 0,
        };
        let mut records = Records::new(reader, 64, 1024);
        let mut out = Vec::new();
        while records.read().unwrap() {
            let fields = (0..records.field_count())
                .map(|i| records.field(i).to_vec())
                .collect();
            out.push((fields, records.quotes % 2, records.has_nul()));
        }
        out
    }

    /// What `csv-core` alone (through the `csv` crate) makes of the same bytes.
    fn reference(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        reader
            .byte_records()
            .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Plain lines split in place and special ones read by `csv-core` give exactly the
        /// records `csv-core` gives, whatever the line endings, quotes and read sizes.
        #[test]
        fn same_records_as_csv_core(
            lines in prop::collection::vec(r#"[ab,]{0,5}|[ab,"\r\x00]{0,6}"#, 0..40),
            endings in prop::collection::vec(prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n"]), 1..4),
            last in any::<bool>(),
            sizes in prop::collection::vec(1usize..200, 1..5),
        ) {
            let mut data = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                data.extend_from_slice(line.as_bytes());
                if i + 1 < lines.len() || last {
                    data.extend_from_slice(endings[i % endings.len()].as_bytes());
                }
            }
            let ours = ours(&data, sizes);
            let fields: Vec<_> = ours.iter().map(|(f, _, _)| f.clone()).collect();
            prop_assert_eq!(&fields, &reference(&data));
            for (fields, _, nul) in &ours {
                // NUL is no special byte to `csv-core`: it is in the fields as written.
                prop_assert_eq!(*nul, fields.concat().contains(&0));
            }
        }
    }

    #[test]
    fn many_plain_lines_across_fills() {
        let mut data = b"h1,h2\n".to_vec();
        for i in 0..20_000 {
            data.extend_from_slice(format!("a{i},b{i}\r\n").as_bytes());
        }
        data.extend_from_slice(b"\"x\ny\",z\nlast,one");
        let ours = ours(&data, vec![65_536, 7, 40_000]);
        let fields: Vec<_> = ours.into_iter().map(|(f, _, _)| f).collect();
        assert_eq!(fields, reference(&data));
        assert_eq!(fields.len(), 20_003);
    }
}

#[cfg(test)]
mod hashing_tests {
    use super::*;
    use crate::sha256_of;

    /// A large file is hashed on its own thread: the same digest, and dropping the reader
    /// half-way (an analysis stopped by an error) neither hangs nor leaks the thread's buffers.
    #[test]
    fn large_inputs_hash_the_same_on_a_thread() {
        let data = crate::samples::large_csv(150_000);
        assert!(data.len() as u64 > 2 * HASH_THREAD_FROM);
        let mut records = Records::new(&data[..], 64, 1024);
        let mut n = 0;
        while records.read().unwrap() {
            n += 1;
        }
        assert_eq!(n, 150_001);
        assert!(matches!(records.hashing, Hashing::Thread { .. }));
        assert_eq!(records.finish().unwrap(), sha256_of(&data[..]).unwrap());

        let mut stopped = Records::new(&data[..], 64, 1024);
        for _ in 0..120_000 {
            assert!(stopped.read().unwrap());
        }
        assert!(matches!(stopped.hashing, Hashing::Thread { .. }));
        drop(stopped);

        // Finishing early still hashes the whole input.
        let mut early = Records::new(&data[..], 64, 1024);
        assert!(early.read().unwrap());
        assert_eq!(early.finish().unwrap(), sha256_of(&data[..]).unwrap());
    }
}
