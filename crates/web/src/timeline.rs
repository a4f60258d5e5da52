//! An import's timeline: each step it went through, when, and who or what took it. Read from
//! the `imports` row (created and decided times, who started and decided) and its step times
//! (stamped by the database when the status changes).

use chrono::{DateTime, Utc};
use payments_imports::{Import, ImportFailure, ImportStatus};
use payments_store::ImportSteps;
use serde::Serialize;

use crate::present::count;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    Received,
    Stored,
    AwaitingApproval,
    Approved,
    Rejected,
    Published,
    Done,
    Failed,
}

impl Step {
    fn words(self) -> &'static str {
        match self {
            Step::Received => "Received",
            Step::Stored => "Stored and checked",
            Step::AwaitingApproval => "Awaiting approval",
            Step::Approved => "Approved",
            Step::Rejected => "Rejected",
            Step::Published => "Published",
            Step::Done => "Done",
            Step::Failed => "Failed",
        }
    }
}

/// Who takes a step that no person takes.
const IMPORTER: &str = "importer";
const INGESTER: &str = "ingester";

/// One step of the timeline. `at` is `None` for a step taken before step times were recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Event {
    pub step: Step,
    /// The step in words, for the page.
    pub title: &'static str,
    pub at: Option<DateTime<Utc>>,
    /// The person or the role that took it.
    pub by: Option<String>,
    /// The decision's note, the failure's reason, how many rows.
    pub detail: Option<String>,
}

fn event(step: Step, at: Option<DateTime<Utc>>, by: Option<&str>, detail: Option<String>) -> Event {
    Event {
        step,
        title: step.words(),
        at,
        by: by.map(str::to_owned),
        detail,
    }
}

/// The steps `import` has taken, in order.
pub(crate) fn timeline(import: &Import, steps: &ImportSteps) -> Vec<Event> {
    let c = &import.counts;
    let mut events = vec![event(
        Step::Received,
        Some(import.created_at),
        import.started_by.as_deref(),
        import.corrects_import_id.map(|_| "a correction".to_owned()),
    )];
    // Stored means the bytes are kept and their SHA-256 known.
    if steps.stored_at.is_some() || import.sha256.is_some() {
        events.push(event(
            Step::Stored,
            steps.stored_at,
            Some(IMPORTER),
            (c.rows > 0).then(|| {
                format!(
                    "{}: {} unique, {} suspicious, {} failed the checks",
                    count(c.rows, "row"),
                    c.unique,
                    c.suspicious,
                    c.invalid
                )
            }),
        ));
    }
    if steps.awaiting_approval_at.is_some() || !import.approval_reasons.is_empty() {
        let why: Vec<&str> = import
            .approval_reasons
            .iter()
            .map(|r| r.describe())
            .collect();
        events.push(event(
            Step::AwaitingApproval,
            steps.awaiting_approval_at,
            Some(IMPORTER),
            (!why.is_empty()).then(|| why.join("; ")),
        ));
    }
    if let Some(by) = &import.decided_by {
        let step = if import.status == ImportStatus::Rejected {
            Step::Rejected
        } else {
            Step::Approved
        };
        events.push(event(
            step,
            import.decided_at,
            Some(by),
            import.decision_note.clone(),
        ));
    }
    let published =
        matches!(import.status, ImportStatus::Published | ImportStatus::Done) && c.published > 0;
    if steps.published_at.is_some() || published {
        events.push(event(
            Step::Published,
            steps.published_at,
            Some(IMPORTER),
            Some(format!("{} sent to processing", count(c.published, "row"))),
        ));
    }
    match import.status {
        ImportStatus::Done => events.push(event(
            Step::Done,
            steps.finished_at,
            Some(if c.published > 0 { INGESTER } else { IMPORTER }),
            (c.published > 0).then(|| {
                format!(
                    "{} landed, {} refused by the ingester",
                    count(c.ingested, "row"),
                    c.rejected
                )
            }),
        )),
        ImportStatus::Failed => events.push(event(
            Step::Failed,
            steps.finished_at,
            None,
            Some(match import.failure {
                Some(failure) => failure_words(failure).to_owned(),
                None => "the import stopped".to_owned(),
            }),
        )),
        _ => {}
    }
    events
}

pub(crate) fn failure_words(failure: ImportFailure) -> &'static str {
    match failure {
        ImportFailure::InvalidFile => "the file is not a readable CSV of payments",
        ImportFailure::TooLarge => "the file is larger than the upload limit",
        ImportFailure::UploadInterrupted => "the upload broke off",
        ImportFailure::PlatformUnavailable => "storage, the database or the broker failed",
        ImportFailure::InvalidRows => "rows failed the checks; nothing was published",
        ImportFailure::TotalsMismatch => "the totals differ from the expected ones",
        ImportFailure::Abandoned => "its importer stopped before publishing",
    }
}
