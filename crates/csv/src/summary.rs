//! What an analysis found, serialisable for the JSON API and the CLI.

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

/// One occurrence of a row that appears more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub row: u64,
    /// The occurrence that is kept and published; equal to `row` for that occurrence itself.
    pub first_row: u64,
    pub values: CsvRow,
}

/// Why a row is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suspicion {
    /// The amount is strictly greater than the threshold.
    AmountAboveThreshold,
    /// Sender and receiver are the same user.
    SelfPayment,
}

/// A unique row that is published with `suspicious = true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspicious {
    pub row: u64,
    pub reasons: Vec<Suspicion>,
    pub values: CsvRow,
}

/// A unique row the ingester would reject (dry run only), with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRow {
    pub row: u64,
    pub reasons: Vec<String>,
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
    /// Unique rows the dry run found invalid (always 0 outside a dry run).
    pub invalid_rows: u64,
    /// Every occurrence of every repeated row, first occurrences included, in row order (when
    /// capped: the occurrences with the smallest row numbers).
    pub duplicates: Vec<Duplicate>,
    /// Suspicious unique rows in row order.
    pub suspicious: Vec<Suspicious>,
    /// Dry run only: invalid unique rows in row order.
    pub invalid: Vec<InvalidRow>,
    /// Whether any list above stopped at the cap.
    pub lists_truncated: bool,
}
