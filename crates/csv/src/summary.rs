//! What an analysis found, serialisable for the JSON API and the CLI.

use payments_domain::ImportFields;
use serde::{Deserialize, Serialize};

/// The six values of one row, by column name (whatever their order in the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvRow {
    pub username_sender: String,
    pub username_receiver: String,
    pub amount: String,
    pub currency: String,
    pub transaction_date: String,
    pub status: String,
}

impl CsvRow {
    /// The values in `payments_domain::COLUMNS` order.
    pub fn columns(&self) -> [&str; 6] {
        [
            &self.username_sender,
            &self.username_receiver,
            &self.amount,
            &self.currency,
            &self.transaction_date,
            &self.status,
        ]
    }

    /// The row from its values in `payments_domain::COLUMNS` order (as a spill file keeps them).
    pub fn from_columns(values: [String; 6]) -> CsvRow {
        let [username_sender, username_receiver, amount, currency, transaction_date, status] =
            values;
        CsvRow {
            username_sender,
            username_receiver,
            amount,
            currency,
            transaction_date,
            status,
        }
    }
}

impl From<&ImportFields<'_>> for CsvRow {
    fn from(fields: &ImportFields<'_>) -> Self {
        CsvRow {
            username_sender: fields.username_sender.to_owned(),
            username_receiver: fields.username_receiver.to_owned(),
            amount: fields.amount.to_owned(),
            currency: fields.currency.to_owned(),
            transaction_date: fields.transaction_date.to_owned(),
            status: fields.status.to_owned(),
        }
    }
}

/// One occurrence of a row that appears more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub row: u64,
    /// The occurrence that is kept and published; equal to `row` for that occurrence itself.
    pub first_row: u64,
    pub values: CsvRow,
}

pub use payments_domain::Suspicion;

/// A unique row that is published with `suspicious = true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspicious {
    pub row: u64,
    pub reasons: Vec<Suspicion>,
    pub values: CsvRow,
}

/// A unique row the ingester would reject, with every reason: never published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRow {
    pub row: u64,
    pub reasons: Vec<String>,
    pub values: CsvRow,
}

/// A unique valid row whose payment already landed from another import: held back, published
/// only once a second identity approves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossFileDuplicate {
    pub row: u64,
    /// Where the same payment was seen: that import and its row.
    pub seen_import_id: uuid::Uuid,
    pub seen_row: u64,
    pub values: CsvRow,
}

/// The outcome of reading a whole, well-formed file.
///
/// Counts are exact; the lists are capped at [`crate::Options::max_listed`] entries each (see
/// `lists_truncated`) so a hostile file cannot make them grow without bound.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub sha256: String,
    pub size_bytes: u64,
    /// Data rows (the header excluded).
    pub rows: u64,
    /// Rows kept: the first occurrence of each distinct row.
    pub unique: u64,
    /// Rows dropped because an earlier row is identical (`rows - unique`).
    pub duplicate_rows: u64,
    /// Unique rows flagged suspicious.
    pub suspicious_rows: u64,
    /// Unique rows the row checks refused (0 when the file was analysed without them).
    pub invalid_rows: u64,
    /// Every occurrence of every repeated row, first occurrences included, in row order (when
    /// capped: the occurrences with the smallest row numbers).
    pub duplicates: Vec<Duplicate>,
    /// Suspicious unique rows in row order.
    pub suspicious: Vec<Suspicious>,
    /// Invalid unique rows in row order.
    pub invalid: Vec<InvalidRow>,
    /// Unique valid rows whose payment already landed from another import (0 when not
    /// looked for): held back until approved.
    #[serde(default)]
    pub cross_file_duplicates: u64,
    /// Those rows in row order, each with where it was seen (capped like the other lists).
    #[serde(default)]
    pub cross_file: Vec<CrossFileDuplicate>,
    /// Whether any list above stopped at the cap.
    pub lists_truncated: bool,
    /// Per currency: rows and amounts of the file, its unique, suspicious, invalid and
    /// publishable rows (ingested is filled in when the import is read).
    #[serde(default)]
    pub totals: payments_domain::ImportTotals,
}
