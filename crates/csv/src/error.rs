use std::fmt;

use serde::{Deserialize, Serialize};

/// Where in the file a problem was found. Data rows are numbered from 1 in record order (a
/// quoted newline does not start a new row); the header is not a data row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Header,
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Header => f.write_str("header"),
            Location::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Why the bytes are not a well-formed CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// A NUL byte: no text file has one, so this is binary data.
    Binary,
    /// A field that is not valid UTF-8.
    InvalidUtf8 {
        column: String,
    },
    /// An odd number of `"` in the record: a quoted field is not terminated, or a quote stands
    /// inside an unquoted field.
    UnbalancedQuote,
    FieldCount {
        expected: usize,
        found: usize,
    },
    FieldTooLong {
        column: String,
        bytes: usize,
        max: usize,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Binary => f.write_str("binary data (a NUL byte), not CSV text"),
            Malformed::InvalidUtf8 { column } => write!(f, "column `{column}` is not valid UTF-8"),
            Malformed::UnbalancedQuote => f.write_str(
                "unbalanced quote: a quoted field is not terminated or a `\"` stands inside an unquoted field",
            ),
            Malformed::FieldCount { expected, found } => {
                write!(f, "expected {expected} fields, found {found}")
            }
            Malformed::FieldTooLong { column, bytes, max } => write!(
                f,
                "column `{column}` is {bytes} bytes long, over the limit of {max} bytes"
            ),
        }
    }
}

/// Everything that makes an import fail as a whole. Row-level content problems (an unknown user,
/// a bad amount) are not errors: the ingester rejects such rows one by one.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    /// The analyser's temporary files (duplicate detection of a large file): the platform's
    /// fault, not the file's.
    #[error("the importer's temporary disk space failed: {0}")]
    Scratch(std::io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("the file has a header but no data rows")]
    HeaderOnly,
    /// `found` is where reading stopped, a lower bound: a hostile header is never read whole.
    #[error(
        "the header has more than the limit of {max} columns (reading stopped at column {found})"
    )]
    TooManyColumns { found: usize, max: usize },
    #[error("the header is wrong: {}", header_problems(.missing, .unknown, .repeated))]
    Header {
        missing: Vec<String>,
        unknown: Vec<String>,
        repeated: Vec<String>,
    },
    #[error("the file is not a valid CSV: {at}: {problem}")]
    Malformed { at: Location, problem: Malformed },
    #[error(
        "the file changed while it was read: expected SHA-256 {expected}, the bytes read hash to {actual}"
    )]
    Sha256Mismatch { expected: String, actual: String },
    #[error("publishing a row failed: {0}")]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}

impl ImportError {
    /// The platform failed, not the file: the upload may be tried again as it is.
    pub fn is_platform_fault(&self) -> bool {
        matches!(self, ImportError::Scratch(_) | ImportError::Sink(_))
    }

    /// Where the problem is, when it is tied to one place in the file.
    pub fn location(&self) -> Option<Location> {
        match self {
            ImportError::Malformed { at, .. } => Some(*at),
            ImportError::TooManyColumns { .. } | ImportError::Header { .. } => {
                Some(Location::Header)
            }
            _ => None,
        }
    }
}

fn header_problems(missing: &[String], unknown: &[String], repeated: &[String]) -> String {
    let list = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing column {}", list(missing)));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown column {}", list(unknown)));
    }
    if !repeated.is_empty() {
        parts.push(format!("repeated column {}", list(repeated)));
    }
    format!(
        "{} (expected {})",
        parts.join("; "),
        crate::COLUMNS.join(", ")
    )
}

pub type Result<T, E = ImportError> = std::result::Result<T, E>;
