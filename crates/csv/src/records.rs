//! One CSV record at a time from any reader, with bounded memory.
//!
//! Built on `csv-core` (the state machine under the `csv` crate) rather than `csv::Reader`
//! because the importer must see what `csv::Reader` hides: the raw bytes of each record (an
//! unterminated quote is otherwise silently accepted up to the end of the file) and a hard cap
//! on the record buffer (otherwise one hostile field is read whole into memory).

use std::io::{self, Read};

use csv_core::ReadRecordResult;

use crate::hashing::{Digest, HashingReader};

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
    input: HashingReader<R>,
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
}

impl<R: Read> Records<R> {
    /// `max_fields` bounds the fields of any record, `max_field_bytes` the length of any field.
    pub(crate) fn new(reader: R, max_fields: usize, max_field_bytes: usize) -> Self {
        let max_fields = max_fields.max(1);
        Records {
            input: HashingReader::new(reader),
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
        }
    }

    /// Reads the next record; `false` at the end of the input.
    pub(crate) fn read(&mut self) -> Result<bool, RecordError> {
        if !self.started {
            self.start()?;
        }
        let (mut outlen, mut endlen) = (0, 0);
        self.quotes = 0;
        self.nul = false;
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
        self.len = read_retrying(&mut self.input, &mut self.buf)?;
        self.eof = self.len == 0;
        Ok(())
    }

    pub(crate) fn field_count(&self) -> usize {
        self.nfields
    }

    /// Field `i` of the current record (`i < len()`).
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.fields[start..self.ends[i]]
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
        io::copy(&mut self.input, &mut io::sink())?;
        Ok(self.input.finish())
    }
}

fn read_retrying<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
