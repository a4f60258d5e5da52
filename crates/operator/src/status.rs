//! The status a `PaymentImport` shows, derived from the import's row in the database (the
//! truth) and any problem met on the way. Pure, so every case is unit-tested.

use chrono::{DateTime, SecondsFormat, Utc};
use payments_imports::outcome::outcome;
use payments_imports::{Import, ImportFailure, ImportStatus};

use crate::crd::{Condition, PaymentImportStatus, RowProblem};
use crate::error::Problem;

pub const READY: &str = "Ready";
pub const VALIDATED: &str = "Validated";
pub const APPROVED: &str = "Approved";
pub const PUBLISHED: &str = "Published";
pub const INGESTED: &str = "Ingested";

/// What is known at one reconcile.
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub import_id: uuid::Uuid,
    /// The import's row, once the pipeline has created it.
    pub import: Option<&'a Import>,
    /// The earlier import of the same bytes, by its file and time, when there is one.
    pub first_import: Option<&'a str>,
    /// Why the import cannot go on right now.
    pub problem: Option<&'a Problem>,
    pub previous: Option<&'a PaymentImportStatus>,
    /// The first rows that failed the checks.
    pub invalid_rows: &'a [RowProblem],
    /// Started elsewhere (an upload): approved there, not through the PaymentImport.
    pub adopted: bool,
    pub now: DateTime<Utc>,
}

/// True, False or Unknown, with why.
struct Stage(&'static str, &'static str, String);

fn cond_true(reason: &'static str, message: String) -> Stage {
    Stage("True", reason, message)
}
fn cond_false(reason: &'static str, message: String) -> Stage {
    Stage("False", reason, message)
}
fn cond_unknown(reason: &'static str, message: String) -> Stage {
    Stage("Unknown", reason, message)
}

/// The whole status for `obs`: conditions `Ready`, `Validated`, `Approved` (only for an import
/// that needs approval), `Published`, `Ingested` (in that order), counts, times and a message.
/// A condition keeps its `lastTransitionTime` while its status stays the same.
pub fn derive(obs: &Observation<'_>) -> PaymentImportStatus {
    // What became of the import, worded once for every condition that says it.
    let said = obs
        .import
        .map(|import| outcome(import, obs.first_import).message());
    let stages = stages(obs.import, said.as_deref());
    let approved = approved(obs.import, obs.adopted);
    let mut ready = ready(obs.import, said.as_deref());
    let [validated, published, ingested] = stages;
    if let Some(problem) = obs.problem {
        ready = cond_false(problem.reason, problem.message.clone());
    }
    let message = ready.2.clone();
    let conditions = [
        Some((READY, ready)),
        Some((VALIDATED, validated)),
        approved.map(|a| (APPROVED, a)),
        Some((PUBLISHED, published)),
        Some((INGESTED, ingested)),
    ]
    .into_iter()
    .flatten()
    .map(|(type_, Stage(status, reason, message))| {
        let since = obs
            .previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
            .filter(|c| c.status == status)
            .map_or(obs.now, |c| c.last_transition_time);
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            last_transition_time: since,
            observed_generation: obs.generation,
        }
    })
    .collect();
    let finished = obs.import.filter(|v| v.status.is_final());
    PaymentImportStatus {
        conditions,
        observed_generation: obs.generation,
        import_id: Some(obs.import_id.to_string()),
        counts: obs.import.map(|v| v.counts).unwrap_or_default(),
        totals: obs.import.and_then(|v| v.totals.clone()),
        invalid_rows: obs.invalid_rows.to_vec(),
        started_by: obs.import.and_then(|v| v.started_by.clone()),
        approval_reasons: obs
            .import
            .map(|v| v.approval_reasons.clone())
            .unwrap_or_default(),
        decided_by: obs.import.and_then(|v| v.decided_by.clone()),
        decided_at: obs.import.and_then(|v| v.decided_at),
        start_time: obs
            .previous
            .and_then(|p| p.start_time)
            .or(obs.import.map(|v| v.created_at))
            .or(Some(obs.now)),
        completion_time: finished.map(|v| {
            obs.previous
                .and_then(|p| p.completion_time)
                .unwrap_or(v.updated_at)
        }),
        message: Some(message),
    }
}

/// The condition reason of a failed import: the file, or the platform on the way (an import
/// failed before failures had kinds was refused as a file).
fn failure_reason(failure: Option<ImportFailure>) -> &'static str {
    match failure {
        None | Some(ImportFailure::InvalidFile) => "InvalidFile",
        Some(ImportFailure::TooLarge) => "TooLarge",
        Some(ImportFailure::UploadInterrupted) => "UploadInterrupted",
        Some(ImportFailure::PlatformUnavailable) => "PlatformUnavailable",
        Some(ImportFailure::InvalidRows) => "InvalidRows",
        Some(ImportFailure::TotalsMismatch) => "TotalsMismatch",
        Some(ImportFailure::Abandoned) => "Abandoned",
    }
}

/// `Validated`, `Published`, `Ingested` from the import's row; `said` is its outcome's message.
fn stages(import: Option<&Import>, said: Option<&str>) -> [Stage; 3] {
    let waiting =
        |what: &str| cond_unknown("Pending", format!("Waiting for the file to be {what}."));
    let to_publish = "sent to the ingester";
    let Some(v) = import else {
        return [waiting("read"), waiting("checked"), waiting(to_publish)];
    };
    let c = &v.counts;
    let checked = format!(
        "{} rows: {} unique, {} exact duplicates removed, {} suspicious, {} failed the checks.",
        c.rows, c.unique, c.duplicates, c.suspicious, c.invalid
    );
    match v.status {
        ImportStatus::Received => [
            cond_unknown("Checking", "The file is being read and checked.".into()),
            waiting("checked"),
            waiting(to_publish),
        ],
        ImportStatus::Stored => [
            cond_true("Validated", checked),
            cond_unknown("Publishing", "The unique rows are being published.".into()),
            waiting(to_publish),
        ],
        ImportStatus::AwaitingApproval => [
            cond_true("Validated", checked),
            match &v.decided_by {
                Some(_) => {
                    cond_unknown("Publishing", "The unique rows are being published.".into())
                }
                None => cond_false(
                    "AwaitingApproval",
                    "Nothing is published until the import is approved.".into(),
                ),
            },
            waiting(to_publish),
        ],
        ImportStatus::Rejected => [
            cond_true("Validated", checked),
            cond_false("Rejected", "Rejected: nothing was published.".into()),
            cond_false("Rejected", "Rejected: nothing was ingested.".into()),
        ],
        ImportStatus::Failed => {
            let error = v
                .error
                .clone()
                .unwrap_or_else(|| "The import failed.".into());
            let reason = failure_reason(v.failure);
            [
                cond_false(reason, error.clone()),
                cond_false(reason, "Nothing was published.".into()),
                cond_false(reason, "Nothing was ingested.".into()),
            ]
        }
        _ if v.first_import_id.is_some() => {
            let message = said.unwrap_or_default().to_owned();
            [
                cond_true("Validated", checked),
                cond_false("AlreadyImported", message.clone()),
                cond_true("AlreadyImported", message),
            ]
        }
        _ if v.dry_run => [
            cond_true("Validated", checked),
            cond_false("DryRun", "Dry run: nothing was published.".into()),
            cond_false("DryRun", "Dry run: nothing was ingested.".into()),
        ],
        status => {
            let published = cond_true("Published", format!("{} rows published.", c.published));
            let accounted = format!(
                "{} of {} published rows ingested, {} rejected.",
                c.ingested, c.published, c.rejected
            );
            let ingested = if status == ImportStatus::Done {
                cond_true("Ingested", accounted)
            } else {
                cond_false("Ingesting", accounted)
            };
            [cond_true("Validated", checked), published, ingested]
        }
    }
}

/// When a decision was recorded, for messages.
fn when(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| format!(" at {}", at.to_rfc3339_opts(SecondsFormat::Secs, true)))
        .unwrap_or_default()
}

/// `Approved`, for an import the approval policy held or a person decided; `None` for the
/// others, which never needed an approval (so the condition is not there to wait for).
fn approved(import: Option<&Import>, adopted: bool) -> Option<Stage> {
    let v = import?;
    let at = when(v.decided_at);
    match (v.status, &v.decided_by) {
        (ImportStatus::Rejected, by) => {
            let by = by.as_deref().unwrap_or("a second person");
            let note = v
                .decision_note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            Some(cond_false(
                "Rejected",
                format!("Rejected by {by}{at}{note}. Nothing was published; this is final."),
            ))
        }
        (_, Some(by)) => Some(cond_true("Approved", format!("Approved by {by}{at}."))),
        (ImportStatus::AwaitingApproval, None) => {
            let why: Vec<&str> = v.approval_reasons.iter().map(|r| r.describe()).collect();
            let why = if why.is_empty() {
                "the approval policy holds it".to_owned()
            } else {
                why.join("; ")
            };
            let who = match &v.started_by {
                Some(by) => format!("someone other than {by}"),
                None => "someone other than its creator".to_owned(),
            };
            let how = if adopted {
                format!(
                    "on the import's page, with the API or `payments approve {}` (or reject it there)",
                    v.id
                )
            } else {
                format!(
                    "by setting the annotation {}=<their username> (or {} to reject it)",
                    crate::APPROVED_BY_ANNOTATION,
                    crate::REJECTED_BY_ANNOTATION
                )
            };
            Some(cond_false(
                "AwaitingApproval",
                format!(
                    "Checked and stored, waiting for approval ({why}): nothing is published until {who} approves it {how}."
                ),
            ))
        }
        _ => None,
    }
}

/// `Ready` is the last stage that matters: the file refused, still going, or finished. Its
/// message (`said`) is what became of the import, worded as on its page, in the API and the CLI.
fn ready(import: Option<&Import>, said: Option<&str>) -> Stage {
    let Some(v) = import else {
        return cond_false("Importing", "The import is starting.".into());
    };
    let message = said.unwrap_or_default().to_owned();
    match v.status {
        ImportStatus::Received => cond_false("Checking", message),
        ImportStatus::Stored => cond_false("Publishing", message),
        ImportStatus::AwaitingApproval if v.decided_by.is_some() => {
            cond_false("Publishing", message)
        }
        ImportStatus::AwaitingApproval => cond_false("AwaitingApproval", message),
        ImportStatus::Rejected => cond_false("Rejected", message),
        ImportStatus::Published => cond_false("Ingesting", message),
        ImportStatus::Failed => cond_false(failure_reason(v.failure), message),
        _ if v.first_import_id.is_some() => cond_true("AlreadyImported", message),
        _ if v.dry_run => cond_true("DryRunComplete", message),
        _ => cond_true("Ingested", message),
    }
}

/// Conditions whose status or reason changed since `previous`: each becomes an Event.
pub fn transitions<'a>(
    previous: Option<&PaymentImportStatus>,
    next: &'a PaymentImportStatus,
) -> Vec<&'a Condition> {
    next.conditions
        .iter()
        .filter(|c| c.status != "Unknown")
        .filter(|c| {
            !previous
                .and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_))
                .is_some_and(|o| o.status == c.status && o.reason == c.reason)
        })
        .collect()
}

/// Nothing will change any more: finished, or the file was refused.
pub fn is_final(import: Option<&Import>) -> bool {
    import.is_some_and(|v| v.status.is_final())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use payments_imports::ApprovalReason;

    /// As the fixture, started by nobody known.
    fn import_in(status: ImportStatus) -> Import {
        Import {
            started_by: None,
            ..payments_testkit::import_in(status)
        }
    }

    fn derive_for(import: Option<&Import>, problem: Option<&Problem>) -> PaymentImportStatus {
        derive(&Observation {
            generation: Some(1),
            import_id: uuid::Uuid::nil(),
            import,
            problem,
            previous: None,
            invalid_rows: &[],
            adopted: false,
            first_import: None,
            now: Utc::now(),
        })
    }

    fn condition<'a>(status: &'a PaymentImportStatus, type_: &str) -> &'a Condition {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present")
    }

    #[test]
    fn ready_comes_first_and_every_condition_observes_the_generation() {
        let status = derive_for(Some(&import_in(ImportStatus::Published)), None);
        let types: Vec<_> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, VALIDATED, PUBLISHED, INGESTED]);
        assert!(status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(1)));
    }

    #[test]
    fn a_done_import_is_ready_with_its_counts_and_completion_time() {
        let done = import_in(ImportStatus::Done);
        let status = derive_for(Some(&done), None);
        assert_eq!(condition(&status, READY).status, "True");
        assert_eq!(condition(&status, READY).reason, "Ingested");
        assert_eq!(condition(&status, INGESTED).status, "True");
        assert_eq!(status.counts.rows, 10);
        assert_eq!(status.counts.rejected, 1);
        assert_eq!(status.completion_time, Some(done.updated_at));
    }

    #[test]
    fn a_published_import_is_not_ready_yet_and_says_how_far_it_is() {
        let status = derive_for(Some(&import_in(ImportStatus::Published)), None);
        let ready = condition(&status, READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "Ingesting")
        );
        assert!(
            ready.message.contains("7 landed so far"),
            "{}",
            ready.message
        );
        assert_eq!(status.completion_time, None);
    }

    #[test]
    fn a_problem_shows_on_ready_with_its_reason() {
        let problem = Problem::new("ObjectNotFound", "no object x.csv in bucket b");
        let status = derive_for(None, Some(&problem));
        let ready = condition(&status, READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "ObjectNotFound")
        );
        assert_eq!(
            status.message.as_deref(),
            Some("no object x.csv in bucket b")
        );
    }

    #[test]
    fn a_refused_file_fails_validation_with_the_error() {
        let mut failed = import_in(ImportStatus::Failed);
        failed.failure = Some(ImportFailure::InvalidFile);
        failed.error = Some("row 3: amount is not a number".into());
        let status = derive_for(Some(&failed), None);
        assert_eq!(condition(&status, VALIDATED).status, "False");
        assert_eq!(condition(&status, READY).reason, "InvalidFile");
        assert_eq!(
            condition(&status, READY).message,
            "row 3: amount is not a number"
        );
        assert!(is_final(Some(&failed)));
    }

    #[test]
    fn an_import_failed_by_the_platform_is_not_an_invalid_file() {
        let failed = |failure| Import {
            failure: Some(failure),
            error: Some("publishing to kafka: broker down".into()),
            ..import_in(ImportStatus::Failed)
        };
        for (failure, reason) in [
            (ImportFailure::PlatformUnavailable, "PlatformUnavailable"),
            (ImportFailure::TooLarge, "TooLarge"),
        ] {
            let status = derive_for(Some(&failed(failure)), None);
            for type_ in [READY, VALIDATED] {
                assert_eq!(condition(&status, type_).reason, reason);
            }
        }
    }

    #[test]
    fn a_repeated_file_is_ready_without_publishing() {
        let mut again = import_in(ImportStatus::Done);
        again.first_import_id = Some(uuid::Uuid::from_u128(7));
        let status = derive_for(Some(&again), None);
        assert_eq!(condition(&status, READY).reason, "AlreadyImported");
        assert_eq!(condition(&status, READY).status, "True");
        assert_eq!(condition(&status, PUBLISHED).status, "False");
    }

    #[test]
    fn transition_times_and_events_follow_changes_only() {
        let before = derive_for(Some(&import_in(ImportStatus::Published)), None);
        let again = derive(&Observation {
            generation: Some(1),
            import_id: uuid::Uuid::nil(),
            import: Some(&import_in(ImportStatus::Published)),
            problem: None,
            previous: Some(&before),
            invalid_rows: &[],
            adopted: false,
            first_import: None,
            now: Utc::now() + chrono::Duration::hours(1),
        });
        assert_eq!(again.conditions, before.conditions);
        assert!(transitions(Some(&before), &again).is_empty());
        let done = derive(&Observation {
            generation: Some(1),
            import_id: uuid::Uuid::nil(),
            import: Some(&import_in(ImportStatus::Done)),
            problem: None,
            previous: Some(&before),
            invalid_rows: &[],
            adopted: false,
            first_import: None,
            now: Utc::now(),
        });
        let changed: Vec<_> = transitions(Some(&before), &done)
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(changed, [READY, INGESTED]);
        assert_eq!(
            condition(&done, VALIDATED).last_transition_time,
            condition(&before, VALIDATED).last_transition_time
        );
    }

    fn held(status: ImportStatus, decided_by: Option<&str>) -> Import {
        Import {
            started_by: Some("alice".into()),
            approval_reasons: vec![ApprovalReason::Requested, ApprovalReason::SuspiciousRows],
            decided_by: decided_by.map(str::to_owned),
            decided_at: decided_by.map(|_| Utc.with_ymd_and_hms(2026, 11, 25, 13, 0, 0).unwrap()),
            ..import_in(status)
        }
    }

    #[test]
    fn an_import_awaiting_approval_says_why_and_who_may_approve() {
        let waiting = held(ImportStatus::AwaitingApproval, None);
        let status = derive_for(Some(&waiting), None);
        let types: Vec<_> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, VALIDATED, APPROVED, PUBLISHED, INGESTED]);
        for type_ in [READY, APPROVED] {
            let c = condition(&status, type_);
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("False", "AwaitingApproval")
            );
            assert!(
                c.message.contains("someone other than alice"),
                "{}",
                c.message
            );
            assert!(c.message.contains("suspicious rows"), "{}", c.message);
        }
        // How to approve is the resource's own: its condition says so.
        let approved = condition(&status, APPROVED);
        assert!(
            approved.message.contains(crate::APPROVED_BY_ANNOTATION),
            "{}",
            approved.message
        );
        assert_eq!(condition(&status, VALIDATED).status, "True");
        assert_eq!(condition(&status, PUBLISHED).status, "False");
        assert_eq!(status.started_by.as_deref(), Some("alice"));
        assert_eq!(status.approval_reasons.len(), 2);
        assert_eq!(status.completion_time, None);
        assert!(!is_final(Some(&waiting)));

        // An upload is approved where it was started, not through the PaymentImport.
        let adopted = derive(&Observation {
            generation: Some(1),
            import_id: uuid::Uuid::nil(),
            import: Some(&waiting),
            problem: None,
            previous: None,
            invalid_rows: &[],
            adopted: true,
            first_import: None,
            now: Utc::now(),
        });
        let message = &condition(&adopted, APPROVED).message;
        assert!(message.contains("payments approve"), "{message}");
    }

    #[test]
    fn an_approved_import_names_who_and_when_while_publishing_and_after() {
        let publishing = derive_for(
            Some(&held(ImportStatus::AwaitingApproval, Some("bob"))),
            None,
        );
        let approved = condition(&publishing, APPROVED);
        assert_eq!(
            (approved.status.as_str(), approved.reason.as_str()),
            ("True", "Approved")
        );
        assert!(
            approved.message.contains("bob") && approved.message.contains("2026-11-25T13:00:00Z"),
            "{}",
            approved.message
        );
        assert_eq!(condition(&publishing, READY).reason, "Publishing");

        let done = derive_for(Some(&held(ImportStatus::Done, Some("bob"))), None);
        assert_eq!(condition(&done, READY).reason, "Ingested");
        assert_eq!(condition(&done, APPROVED).status, "True");
        assert_eq!(done.decided_by.as_deref(), Some("bob"));
        assert!(done.decided_at.is_some());
    }

    #[test]
    fn a_rejected_import_is_final_and_says_who_and_why() {
        let mut rejected = held(ImportStatus::Rejected, Some("bob"));
        rejected.decision_note = Some("wrong month".into());
        let status = derive_for(Some(&rejected), None);
        for type_ in [READY, APPROVED, PUBLISHED] {
            let c = condition(&status, type_);
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("False", "Rejected")
            );
        }
        let message = &condition(&status, READY).message;
        assert!(
            message.contains("bob") && message.contains("wrong month"),
            "{message}"
        );
        assert!(is_final(Some(&rejected)));
        assert_eq!(status.completion_time, Some(rejected.updated_at));
    }

    #[test]
    fn an_import_that_needed_no_approval_has_no_approved_condition() {
        let status = derive_for(Some(&import_in(ImportStatus::Done)), None);
        assert!(status.conditions.iter().all(|c| c.type_ != APPROVED));
        assert_eq!(status.decided_by, None);
    }
}
