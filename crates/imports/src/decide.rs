//! What an analysed upload leads to: the one decision of an import, made from what was found
//! and the policies, before anything is published. Pure, so every case is tested; `run.rs`
//! acts on it (database, Kafka) and `outcome.rs` words the state it leaves.

use payments_domain::import::{holds_rows_only, ApprovalReason, ImportFailure};
use payments_domain::{InvalidRowsPolicy, TotalsDifference};

/// What the analysis of a file found, with what the request and the policies ask.
#[derive(Debug, Clone, Default)]
pub(crate) struct Findings {
    /// The same bytes were imported before (not looked for in a dry run).
    pub already_imported: bool,
    pub dry_run: bool,
    /// Where the file's control totals differ from the expected ones.
    pub differences: Vec<TotalsDifference>,
    /// Unique rows, and of those the ones that failed the checks.
    pub unique: u64,
    pub invalid: u64,
    pub invalid_rows: InvalidRowsPolicy,
    /// Why the approval policy (or the request) wants a second identity's approval.
    pub approval: Vec<ApprovalReason>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// The earlier import of the same bytes owns its payments: publish nothing, done.
    AlreadyImported,
    /// The checks hold the whole file: publish nothing, failed.
    Hold {
        failure: ImportFailure,
        differences: Vec<TotalsDifference>,
    },
    /// Wait for a second identity; with `publish_others` only the cross-file duplicates wait
    /// and the other rows publish now.
    AwaitApproval {
        reasons: Vec<ApprovalReason>,
        publish_others: bool,
    },
    /// Checked, nothing to publish: done.
    DryRun,
    /// Publish the unique valid rows.
    Publish,
}

/// The one decision, in order: the same bytes again; the totals; rows that failed the checks
/// (all of them, or any under a holding policy); approval (never for a dry run); a dry run.
pub(crate) fn decide(found: Findings) -> Verdict {
    if found.already_imported {
        return Verdict::AlreadyImported;
    }
    if !found.differences.is_empty() {
        return Verdict::Hold {
            failure: ImportFailure::TotalsMismatch,
            differences: found.differences,
        };
    }
    let all_invalid = found.invalid > 0 && found.invalid == found.unique;
    let held_by_policy = found.invalid > 0 && found.invalid_rows == InvalidRowsPolicy::HoldFile;
    if all_invalid || held_by_policy {
        return Verdict::Hold {
            failure: ImportFailure::InvalidRows,
            differences: Vec::new(),
        };
    }
    if found.dry_run {
        return Verdict::DryRun;
    }
    if !found.approval.is_empty() {
        return Verdict::AwaitApproval {
            publish_others: holds_rows_only(&found.approval),
            reasons: found.approval,
        };
    }
    Verdict::Publish
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn clean() -> Findings {
        Findings {
            unique: 10,
            ..Findings::default()
        }
    }

    fn difference() -> TotalsDifference {
        TotalsDifference {
            currency: "EUR".into(),
            expected_rows: Some(2),
            actual_rows: 3,
            expected_amount: Decimal::new(1000, 2),
            actual_amount: Decimal::new(1500, 2),
        }
    }

    #[test]
    fn a_clean_file_publishes() {
        assert_eq!(decide(clean()), Verdict::Publish);
    }

    #[test]
    fn the_same_bytes_again_publish_nothing_whatever_else_was_found() {
        let found = Findings {
            already_imported: true,
            differences: vec![difference()],
            invalid: 10,
            approval: vec![ApprovalReason::Requested],
            ..clean()
        };
        assert_eq!(decide(found), Verdict::AlreadyImported);
    }

    #[test]
    fn differing_totals_hold_the_file_before_rows_or_approval() {
        let found = Findings {
            differences: vec![difference()],
            invalid: 10,
            approval: vec![ApprovalReason::Requested],
            ..clean()
        };
        assert_eq!(
            decide(found),
            Verdict::Hold {
                failure: ImportFailure::TotalsMismatch,
                differences: vec![difference()],
            }
        );
    }

    #[test]
    fn differing_totals_fail_a_dry_run_too() {
        let found = Findings {
            dry_run: true,
            differences: vec![difference()],
            ..clean()
        };
        assert!(matches!(
            decide(found),
            Verdict::Hold {
                failure: ImportFailure::TotalsMismatch,
                ..
            }
        ));
    }

    #[test]
    fn no_valid_row_holds_the_file_whatever_the_policy() {
        let found = Findings {
            invalid: 10,
            invalid_rows: InvalidRowsPolicy::PublishValid,
            ..clean()
        };
        assert_eq!(
            decide(found),
            Verdict::Hold {
                failure: ImportFailure::InvalidRows,
                differences: Vec::new(),
            }
        );
    }

    #[test]
    fn some_invalid_rows_hold_the_file_only_under_the_holding_policy() {
        let skip = Findings {
            invalid: 3,
            invalid_rows: InvalidRowsPolicy::PublishValid,
            ..clean()
        };
        assert_eq!(decide(skip), Verdict::Publish);
        let hold = Findings {
            invalid: 3,
            invalid_rows: InvalidRowsPolicy::HoldFile,
            ..clean()
        };
        assert!(matches!(
            decide(hold),
            Verdict::Hold {
                failure: ImportFailure::InvalidRows,
                ..
            }
        ));
    }

    #[test]
    fn a_dry_run_is_never_held_for_approval() {
        let found = Findings {
            dry_run: true,
            approval: vec![ApprovalReason::Requested],
            ..clean()
        };
        assert_eq!(decide(found), Verdict::DryRun);
    }

    #[test]
    fn approval_holds_the_file_or_only_its_cross_file_duplicates() {
        let whole = Findings {
            approval: vec![
                ApprovalReason::SuspiciousRows,
                ApprovalReason::CrossFileDuplicates,
            ],
            ..clean()
        };
        assert_eq!(
            decide(whole),
            Verdict::AwaitApproval {
                reasons: vec![
                    ApprovalReason::SuspiciousRows,
                    ApprovalReason::CrossFileDuplicates
                ],
                publish_others: false,
            }
        );
        let rows = Findings {
            approval: vec![ApprovalReason::CrossFileDuplicates],
            ..clean()
        };
        assert_eq!(
            decide(rows),
            Verdict::AwaitApproval {
                reasons: vec![ApprovalReason::CrossFileDuplicates],
                publish_others: true,
            }
        );
    }
}
