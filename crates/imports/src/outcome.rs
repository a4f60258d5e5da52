//! What became of an import, in the one wording every front end shows: the web page's banner,
//! the JSON API's `message`, the CLI's output and the PaymentImport's status. Built from the
//! import's status, failure and counts as they stand (not from a message stored when a step
//! ran), so the same state always reads the same, counts read "1 row", "2 rows" and times read
//! as times.

use payments_domain::import::{holds_rows_only, ImportCounts, ImportFailure, ImportStatus};
use payments_domain::words::{count, readable, was};
use payments_domain::TotalsDifference;
use payments_store::Import;
use serde::Serialize;

/// What became of an import, as far as it has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
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

/// A headline and the sentences under it (reasons may quote field names in backticks; the
/// web page renders them as code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub headline: String,
    pub details: Vec<String>,
}

impl Outcome {
    fn new(kind: OutcomeKind, headline: &str, details: Vec<String>) -> Outcome {
        Outcome {
            kind,
            headline: headline.to_owned(),
            details,
        }
    }

    /// The sentences as one message: what the API, the CLI and the PaymentImport say.
    pub fn message(&self) -> String {
        self.details.join(" ")
    }
}

/// Another import as a person knows it: its file and when it was received.
pub fn import_name(file_name: &str, created_at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{file_name} of {}", readable(created_at))
}

/// The outcome of `import`; `first` names the earlier import of the same bytes, when known.
pub fn outcome(import: &Import, first: Option<&str>) -> Outcome {
    let c = &import.counts;
    let who = match import.started_by.as_deref() {
        Some(by) => format!("someone other than {by}"),
        None => "a second person".to_owned(),
    };
    let rows_only = holds_rows_only(&import.approval_reasons);
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
                "Dry run: {} checked ({} unique, {}, {} suspicious, {} failed the checks{}); nothing was published.",
                count(c.rows, "row"),
                c.unique,
                count(c.duplicates, "duplicate"),
                c.suspicious,
                c.invalid,
                match c.cross_file_duplicates {
                    0 => String::new(),
                    n => format!(", {n} repeat payments that landed from other files"),
                }
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
                        "{} {} that already landed from another file (listed below with where each was seen); {} held until {who} approves {}.",
                        count(c.cross_file_duplicates, "row"),
                        if c.cross_file_duplicates == 1 { "repeats a payment" } else { "repeat payments" },
                        if c.cross_file_duplicates == 1 { "it is" } else { "they are" },
                        if c.cross_file_duplicates == 1 { "it" } else { "them" },
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
            // The original platform's words, kept for those who know them.
            let mut details = vec![format!(
                "File uploaded successfully! {} sent to processing; {} landed so far.",
                count(c.published, "row"),
                c.ingested
            )];
            details.extend(not_sent(import));
            if let Some(by) = &import.decided_by {
                details.push(format!("Approved by {by}."));
            }
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
fn invalid_rows_held(c: &ImportCounts) -> String {
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

/// Why the checks held a whole file back (`failure` is `InvalidRows` or `TotalsMismatch`):
/// the outcome's sentences, also stored as the import's message when it fails.
pub(crate) fn held(
    failure: ImportFailure,
    counts: &ImportCounts,
    differences: &[TotalsDifference],
) -> Vec<String> {
    if failure == ImportFailure::TotalsMismatch {
        let mut details = vec![
            "The file's control totals differ from the expected ones; nothing was published."
                .to_owned(),
        ];
        details.extend(differences.iter().map(|d| format!("{d}.")));
        return details;
    }
    vec![format!(
        "{} Correct the listed rows and upload the file again.",
        invalid_rows_held(counts)
    )]
}

/// What a list says about a failed import beyond its kind of failure: the stored message,
/// except where it is rebuilt here from the counts (its own wording predates these pages).
pub fn failure_detail(import: &Import) -> Option<String> {
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
        Some(failure @ (ImportFailure::InvalidRows | ImportFailure::TotalsMismatch)) => {
            let differences = match (&import.expected_totals, &import.totals) {
                (Some(expected), Some(totals)) => expected.0.differences(&totals.file),
                _ => Vec::new(),
            };
            let mut details = held(failure, c, &differences);
            if failure == ImportFailure::TotalsMismatch
                && differences.is_empty()
                && !error.is_empty()
            {
                // Lists do not read the totals; the stored message has the differences.
                details = vec![error];
            }
            Outcome::new(OutcomeKind::NothingPublished, "Nothing published", details)
        }
        // Its stored message says what was wrong with the file, and where.
        Some(ImportFailure::InvalidFile) if !error.is_empty() => {
            Outcome::new(OutcomeKind::Failed, "Import failed", vec![error])
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

#[cfg(test)]
mod tests {
    use payments_domain::import::ApprovalReason;
    use payments_domain::{CurrencyTotal, ExpectedTotals, ImportTotals, Totals};
    use rust_decimal::Decimal;

    use super::*;

    /// As the fixture, with every published row landed.
    fn import_in(status: ImportStatus) -> Import {
        let mut import = payments_testkit::import_in(status);
        import.counts.ingested = 8;
        import.counts.rejected = 0;
        import
    }

    fn failed(failure: ImportFailure, error: &str) -> Import {
        Import {
            failure: Some(failure),
            error: Some(error.into()),
            ..import_in(ImportStatus::Failed)
        }
    }

    fn said(import: &Import) -> (OutcomeKind, String, String) {
        let o = outcome(import, None);
        (o.kind, o.headline.clone(), o.message())
    }

    #[test]
    fn the_message_is_the_sentences_in_order() {
        let o = Outcome::new(OutcomeKind::Failed, "x", vec!["One.".into(), "Two.".into()]);
        assert_eq!(o.message(), "One. Two.");
    }

    #[test]
    fn a_file_being_checked_is_in_progress() {
        for status in [ImportStatus::Received, ImportStatus::Stored] {
            let (kind, _, message) = said(&import_in(status));
            assert_eq!(kind, OutcomeKind::InProgress);
            assert_eq!(message, "The file is being checked.");
        }
    }

    #[test]
    fn a_published_import_keeps_the_original_words_and_says_how_far_it_is() {
        let mut published = import_in(ImportStatus::Published);
        published.counts.ingested = 3;
        assert_eq!(
            said(&published).2,
            "File uploaded successfully! 8 rows sent to processing; 3 landed so far."
        );
        published.decided_by = Some("bob".into());
        assert!(said(&published).2.ends_with(" Approved by bob."));
    }

    #[test]
    fn a_done_import_says_all_landed_or_which_did_not() {
        let (kind, headline, message) = said(&import_in(ImportStatus::Done));
        assert_eq!(
            (kind, headline.as_str()),
            (OutcomeKind::AllLanded, "All rows landed")
        );
        assert_eq!(
            message,
            "All 8 rows landed (2 duplicates removed, 1 flagged suspicious)."
        );

        let mut partial = import_in(ImportStatus::Done);
        partial.counts.ingested = 6;
        partial.counts.rejected = 1;
        partial.counts.invalid = 1;
        let (kind, headline, message) = said(&partial);
        assert_eq!(kind, OutcomeKind::SomeRowsFailed);
        assert_eq!(headline, "Some rows failed the checks");
        assert_eq!(
            message,
            "6 rows landed. 1 row failed the checks and was not sent (listed below with the values and reasons). 1 row was refused by the ingester (listed below)."
        );

        let mut nothing = import_in(ImportStatus::Done);
        nothing.counts.published = 0;
        assert_eq!(said(&nothing).2, "The file had no row to publish.");
    }

    #[test]
    fn a_held_import_says_who_may_approve_and_why() {
        let mut held = import_in(ImportStatus::AwaitingApproval);
        held.approval_reasons = vec![ApprovalReason::SuspiciousRows, ApprovalReason::AboveAmount];
        let (kind, _, message) = said(&held);
        assert_eq!(kind, OutcomeKind::HeldForApproval);
        assert_eq!(
            message,
            "Checked and stored; nothing is published until someone other than alice approves it: it has suspicious rows; its amount is above the approval limit."
        );

        let mut rows = import_in(ImportStatus::AwaitingApproval);
        rows.approval_reasons = vec![ApprovalReason::CrossFileDuplicates];
        rows.counts.cross_file_duplicates = 1;
        rows.counts.published = 7;
        assert_eq!(
            said(&rows).2,
            "1 row repeats a payment that already landed from another file (listed below with where each was seen); it is held until someone other than alice approves it. The other 7 rows were sent to processing."
        );

        held.decided_by = Some("bob".into());
        assert!(said(&held).2.ends_with(
            "Approved by bob; publishing did not finish: bob may approve again to finish it."
        ));
    }

    #[test]
    fn a_rejection_names_who_and_why_and_what_was_published() {
        let mut rejected = import_in(ImportStatus::Rejected);
        rejected.decided_by = Some("bob".into());
        rejected.decision_note = Some("sent twice".into());
        assert_eq!(
            said(&rejected),
            (
                OutcomeKind::NothingPublished,
                "Nothing published".into(),
                "Rejected by bob: sent twice. Nothing was published.".into()
            )
        );
        rejected.approval_reasons = vec![ApprovalReason::CrossFileDuplicates];
        rejected.counts.cross_file_duplicates = 2;
        rejected.counts.published = 6;
        let (kind, _, message) = said(&rejected);
        assert_eq!(kind, OutcomeKind::SomeRowsFailed);
        assert_eq!(
            message,
            "Rejected by bob: sent twice. The 2 rows held as cross-file duplicates were not published; the other 6 rows were."
        );
    }

    #[test]
    fn a_dry_run_counts_what_it_found() {
        let mut dry = import_in(ImportStatus::Done);
        dry.dry_run = true;
        dry.counts.invalid = 1;
        assert_eq!(
            said(&dry).2,
            "Dry run: 10 rows checked (8 unique, 2 duplicates, 1 suspicious, 1 failed the checks); nothing was published."
        );
        dry.counts.cross_file_duplicates = 3;
        assert!(said(&dry)
            .2
            .contains("1 failed the checks, 3 repeat payments that landed from other files);"));
    }

    #[test]
    fn the_same_bytes_again_name_the_first_import_when_known() {
        let mut again = import_in(ImportStatus::Done);
        again.first_import_id = Some(uuid::Uuid::nil());
        assert_eq!(
            outcome(&again, Some("a.csv of 25 Nov 2026, 12:00 UTC")).message(),
            "This file was already imported, as a.csv of 25 Nov 2026, 12:00 UTC; no new transactions were created."
        );
        assert_eq!(
            said(&again).2,
            "This file was already imported; no new transactions were created."
        );
        assert_eq!(
            import_name("a.csv", again.created_at),
            "a.csv of 25 Nov 2026, 12:00 UTC"
        );
    }

    #[test]
    fn held_files_say_why_nothing_was_published() {
        let mut all = failed(ImportFailure::InvalidRows, "stored");
        all.counts.invalid = 8;
        assert_eq!(
            said(&all),
            (
                OutcomeKind::NothingPublished,
                "Nothing published".into(),
                "None of the file's 8 rows passed the checks; nothing was published. Correct the listed rows and upload the file again.".into()
            )
        );
        let mut some = failed(ImportFailure::InvalidRows, "stored");
        some.counts.invalid = 1;
        assert_eq!(
            said(&some).2,
            "1 row failed the checks and the policy holds the whole file; nothing was published. Correct the listed rows and upload the file again."
        );
        // What the failure stored is what the outcome says.
        assert_eq!(
            held(ImportFailure::InvalidRows, &some.counts, &[]).join(" "),
            said(&some).2
        );
    }

    #[test]
    fn differing_totals_list_each_currency() {
        let mut mismatch = failed(ImportFailure::TotalsMismatch, "stored differences");
        let expected: ExpectedTotals = "EUR=2:10.00".parse().expect("totals");
        mismatch.expected_totals = Some(sqlx::types::Json(expected));
        mismatch.totals = Some(ImportTotals {
            file: Totals::new(vec![CurrencyTotal {
                currency: "EUR".into(),
                rows: 3,
                amount: Decimal::new(1500, 2),
                invalid_amounts: 0,
            }]),
            ..ImportTotals::default()
        });
        let message = said(&mismatch).2;
        assert_eq!(
            message,
            "The file's control totals differ from the expected ones; nothing was published. EUR: expected 10.00 in 2 rows, the file has 15.00 in 3 rows (difference 5.00)."
        );
        // Lists do not read the totals: the stored message, which is the same sentences.
        mismatch.totals = None;
        assert_eq!(said(&mismatch).2, "stored differences");
    }

    #[test]
    fn a_refused_file_says_what_and_where() {
        let (kind, headline, message) = said(&failed(
            ImportFailure::InvalidFile,
            "The file was not imported: row 3: `amount` is not a number.",
        ));
        assert_eq!(
            (kind, headline.as_str()),
            (OutcomeKind::Failed, "Import failed")
        );
        assert_eq!(
            message,
            "The file was not imported: row 3: `amount` is not a number."
        );
        assert_eq!(
            said(&failed(ImportFailure::PlatformUnavailable, "broker down")).2,
            "Storage, the database or the broker failed on the way; the file may be fine: upload it again. broker down"
        );
        assert_eq!(
            said(&failed(ImportFailure::TooLarge, "")).2,
            "The file is larger than the upload limit."
        );
    }
}
