//! The CSV file format of imports (`payments-imports` runs them): reads an uploaded CSV as a stream (one record at a time, memory
//! bounded whatever the file's size: duplicate detection spills to temporary files), rejects malformed files as a whole with the row and
//! reason, reports exact duplicates and suspicious rows, and turns each unique row into an
//! [`ImportEvent`](payments_domain::ImportEvent). No network I/O: callers bring a reader and a
//! sink, so the web app, the CLI and the controller share exactly this code.
//!
//! Intended flow (ids must derive from the file's bytes, which are only known at the end):
//! 1. while storing the upload, run an [`Analysis`] on the same stream: it validates the
//!    whole file and yields its SHA-256, summary and duplicate map ([`Resolved`], one bit per
//!    row); a rejected file is never published;
//! 2. read the stored copy again with [`publish_resolved`], passing that SHA-256 and map: each
//!    unique row gets `transaction_id = import_transaction_id(sha256, row)` and the hash is
//!    verified at the end.

mod analyse;
mod error;
mod hashing;
#[cfg(test)]
mod hostile;
#[cfg(test)]
mod in_memory;
#[cfg(test)]
mod properties;
mod records;
pub mod samples;
mod spill;
mod summary;
mod totals;

pub use analyse::{
    for_each_row, publish_resolved, row_problems, Analysis, ImportRef, OnValid, Options, Resolved,
    COLUMNS,
};
pub use error::{ImportError, Location, Malformed, Result};
pub use hashing::{sha256_of, Digest, HashingReader};
pub use payments_domain::ImportFields;
pub use samples::{sample_csv, sample_csvs, SAMPLE_FILES};
pub use summary::{
    CrossFileDuplicate, CsvRow, Duplicate, InvalidRow, Summary, Suspicion, Suspicious,
};

#[cfg(test)]
mod tests;
pub mod users;
