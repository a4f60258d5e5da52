//! The banner on an import's page: what became of the file, in words and a style that match.
//! Built from the import's status, failure and counts (not from its stored message), so the
//! counts read "1 row", "2 rows" and times read as times.

use payments_imports::{ApprovalReason, Import, ImportFailure, ImportStatus};
use serde::Serialize;

use crate::present::{count, readable, was};

/// What became of an import, as far as it has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OutcomeKind {
    /// Still being checked, or published and being ingested.
    InProgress,
    /// Every row it sent landed, and none failed.
    AllLanded,
    /// It landed, but some rows did not: they failed the checks, the ingester refused them, or
    /// held rows were rejected.
    SomeRowsFailed,
    /// Rows, or the whole file, wait for a second person's approval.
    HeldForApproval,
    /// Deliberately nothing: a dry run, the same bytes again, a hold by the checks or the
    /// totals, a rejection.
    NothingPublished,
    /// The file could not be imported: unreadable, too large, interrupted, the platform.
    Failed,
}

impl OutcomeKind {
    /// The banner's CSS class.
    pub(crate) fn class(self) -> &'static str {
        match self {
            OutcomeKind::InProgress => "outcome-progress",
            OutcomeKind::AllLanded => "outcome-ok",
            OutcomeKind::SomeRowsFailed => "outcome-partial",
            OutcomeKind::HeldForApproval => "outcome-held",
            OutcomeKind::NothingPublished => "outcome-nothing",
            OutcomeKind::Failed => "outcome-failed",
        }
    }
}

/// The banner: a headline and the sentences under it (reasons may quote field names in
/// backticks; the template renders them with the `reason` filter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Outcome {
    pub kind: OutcomeKind,
    pub class: &'static str,
    pub headline: String,
    pub details: Vec<String>,
}

impl Outcome {
    fn new(kind: OutcomeKind, headline: &str, details: Vec<String>) -> Outcome {
        Outcome {
            kind,
            class: kind.class(),
            headline: headline.to_owned(),
            details,
        }
    }
}

/// Another import as a person knows it: its file and when it was received.
pub(crate) fn import_name(file_name: &str, created_at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{file_name} of {}", readable(created_at))
}

/// The outcome of `import`; `first` names the earlier import of the same bytes, when known.
pub(crate) fn outcome(import: &Import, first: Option<&str>) -> Outcome {
    let c = &import.counts;
    let who = match import.started_by.as_deref() {
        Some(by) => format!("someone other than {by}"),
        None => "a second person".to_owned(),
    };
    let rows_only = import.approval_reasons == [ApprovalReason::CrossFileDuplicates];
    match import.status {
        ImportStatus::Failed => failed(import),
        _ if import.first_import_id.is_some() => Outcome::new(
            OutcomeKind::NothingPublished,
            "Nothing published",
            vec![match first {
                Some(first) => format!(
                    "This file was already imported, as {first}; no new transactions were created."
                ),
                None => "This file was already imported; no new transactions were created."
                    .to_owned(),
            }],
        ),
        _ if import.dry_run => Outcome::new(
            OutcomeKind::NothingPublished,
            "Nothing published",
            vec![format!(
                "Dry run: {} checked ({} unique, {}, {} suspicious, {} failed the checks); nothing was published.",
                count(c.rows, "row"),
                c.unique,
                count(c.duplicates, "duplicate"),
                c.suspicious,
                c.invalid
            )],
        ),
        ImportStatus::Received | ImportStatus::Stored => Outcome::new(
            OutcomeKind::InProgress,
            "In progress",
            vec!["The file is being checked.".to_owned()],
        ),
        ImportStatus::AwaitingApproval => {
            let mut details = if rows_only {
                vec![
                    format!(
                        "{} repeat payments that already landed from another file (listed below with where each was seen); they are held until {who} approves them.",
                        count(c.cross_file_duplicates, "row")
                    ),
                    format!(
                        "The other {} were sent to processing.",
                        count(c.published, "row")
                    ),
                ]
            } else {
                let why: Vec<&str> = import.approval_reasons.iter().map(|r| r.describe()).collect();
                vec![format!(
                    "Checked and stored; nothing is published until {who} approves it: {}.",
                    why.join("; ")
                )]
            };
            if let Some(by) = &import.decided_by {
                details.push(format!(
                    "Approved by {by}; publishing did not finish: {by} may approve again to finish it."
                ));
            }
            Outcome::new(
                OutcomeKind::HeldForApproval,
                "Rows held for approval",
                details,
            )
        }
        ImportStatus::Rejected => {
            let by = import.decided_by.as_deref().unwrap_or("a second person");
            let note = import
                .decision_note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            if rows_only {
                Outcome::new(
                    OutcomeKind::SomeRowsFailed,
                    "Some rows did not land",
                    vec![format!(
                        "Rejected by {by}{note}. The {} held as cross-file duplicates were not published; the other {} were.",
                        count(c.cross_file_duplicates, "row"),
                        count(c.published, "row")
                    )],
                )
            } else {
                Outcome::new(
                    OutcomeKind::NothingPublished,
                    "Nothing published",
                    vec![format!("Rejected by {by}{note}. Nothing was published.")],
                )
            }
        }
        ImportStatus::Published => {
            let mut details = vec![format!(
                "{} sent to processing; {} landed so far.",
                count(c.published, "row"),
                c.ingested
            )];
            details.extend(not_sent(import));
            Outcome::new(OutcomeKind::InProgress, "In progress", details)
        }
        ImportStatus::Done if c.published == 0 => Outcome::new(
            OutcomeKind::NothingPublished,
            "Nothing published",
            vec!["The file had no row to publish.".to_owned()],
        ),
        ImportStatus::Done if c.invalid > 0 || c.rejected > 0 => {
            let headline = if c.invalid > 0 {
                "Some rows failed the checks"
            } else {
                "Some rows did not land"
            };
            let mut details = vec![format!("{} landed.", count(c.ingested, "row"))];
            details.extend(not_sent(import));
            if c.rejected > 0 {
                details.push(format!(
                    "{} {} refused by the ingester (listed below).",
                    count(c.rejected, "row"),
                    was(c.rejected)
                ));
            }
            Outcome::new(OutcomeKind::SomeRowsFailed, headline, details)
        }
        ImportStatus::Done => {
            let mut details = vec![format!(
                "All {} landed ({} removed, {} flagged suspicious).",
                count(c.ingested, "row"),
                count(c.duplicates, "duplicate"),
                c.suspicious
            )];
            if let Some(by) = &import.decided_by {
                details.push(format!("Approved by {by}."));
            }
            Outcome::new(OutcomeKind::AllLanded, "All rows landed", details)
        }
    }
}

/// The rows the checks kept back, when there are any.
fn not_sent(import: &Import) -> Option<String> {
    (import.counts.invalid > 0).then(|| {
        format!(
            "{} failed the checks and {} not sent (listed below with the values and reasons).",
            count(import.counts.invalid, "row"),
            was(import.counts.invalid)
        )
    })
}

/// Why rows that failed the checks held the whole file.
fn invalid_rows_held(c: &payments_imports::ImportCounts) -> String {
    if c.invalid > 0 && c.invalid == c.unique {
        format!(
            "None of the file's {} passed the checks; nothing was published.",
            count(c.unique, "row")
        )
    } else {
        format!(
            "{} failed the checks and the policy holds the whole file; nothing was published.",
            count(c.invalid, "row")
        )
    }
}

/// What a list says about a failed import beyond its kind of failure: the stored message,
/// except where it is rebuilt here from the counts (its own wording predates these pages).
pub(crate) fn failure_detail(import: &Import) -> Option<String> {
    match import.failure {
        Some(ImportFailure::InvalidRows) => Some(invalid_rows_held(&import.counts)),
        // The differences need the import's totals, which lists do not read.
        Some(ImportFailure::TotalsMismatch) => None,
        _ => import.error.clone(),
    }
}

/// A failed import: held back on purpose by the checks or the totals (nothing published), or
/// the file or the platform failed.
fn failed(import: &Import) -> Outcome {
    let c = &import.counts;
    let error = import.error.clone().unwrap_or_default();
    match import.failure {
        Some(ImportFailure::InvalidRows) => Outcome::new(
            OutcomeKind::NothingPublished,
            "Nothing published",
            vec![format!(
                "{} Correct the listed rows and upload the file again.",
                invalid_rows_held(c)
            )],
        ),
        Some(ImportFailure::TotalsMismatch) => {
            let mut details = vec![
                "The file's control totals differ from the expected ones; nothing was published."
                    .to_owned(),
            ];
            let differences = match (&import.expected_totals, &import.totals) {
                (Some(expected), Some(totals)) => expected.0.differences(&totals.file),
                _ => Vec::new(),
            };
            for d in &differences {
                let expected_rows = d
                    .expected_rows
                    .map(|rows| format!(" in {}", count(rows, "row")))
                    .unwrap_or_default();
                details.push(format!(
                    "{}: expected {:.2}{expected_rows}, the file has {:.2} in {} (difference {:.2}).",
                    d.currency,
                    d.expected_amount,
                    d.actual_amount,
                    count(d.actual_rows, "row"),
                    d.actual_amount - d.expected_amount
                ));
            }
            if differences.is_empty() && !error.is_empty() {
                details.push(error);
            }
            Outcome::new(OutcomeKind::NothingPublished, "Nothing published", details)
        }
        failure => {
            let what = match failure {
                Some(ImportFailure::InvalidFile) => "The file is not a CSV of payments this importer can read.",
                Some(ImportFailure::TooLarge) => "The file is larger than the upload limit.",
                Some(ImportFailure::UploadInterrupted) => "The upload broke off before the end of the file.",
                Some(ImportFailure::PlatformUnavailable) => "Storage, the database or the broker failed on the way; the file may be fine: upload it again.",
                Some(ImportFailure::Abandoned) => "Its importer stopped before publishing anything; upload the file again.",
                _ => "The import stopped.",
            };
            let mut details = vec![what.to_owned()];
            if !error.is_empty() {
                details.push(error);
            }
            Outcome::new(OutcomeKind::Failed, "Import failed", details)
        }
    }
}
