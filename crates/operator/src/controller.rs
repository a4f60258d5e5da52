//! Reconciles `PaymentImport`s with the shared import pipeline.
//!
//! The import's id is derived from the resource's uid, so the database row, not the
//! resource's status, says whether an import has started: a lost status write, a second
//! reconcile or a controller restart finds the same import and never starts another. The
//! import itself runs in a task of this process; reconciles read its progress from the
//! database and write it to the status, until every published row is ingested or rejected.
//! An import started elsewhere (an upload, named by the `payments.dev/import-id` annotation) is
//! adopted: reported on, never run or resumed here.
//!
//! An import that waits for approval is approved or rejected through the annotations
//! `payments.dev/approved-by` / `payments.dev/rejected-by`, which the admission policy only
//! lets a user other than the creator set, to their own username: the controller passes that
//! identity to the pipeline, which records it and publishes (or not). An adopted import is
//! decided where it was started (the web page, the API, `payments approve`), not here.

use std::collections::HashMap;
use std::io::Cursor;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource, ResourceExt};
use payments_imports::{Import, ImportReport, ImportStatus, Pipeline, PipelineError};
use payments_runtime::backon::{BackoffBuilder, ExponentialBackoff};
use rust_decimal::Decimal;
use tokio::io::AsyncRead;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::crd::{PaymentImport, RowProblem};
use crate::error::{Error, Problem, Result};
use crate::http::Metrics;
use crate::status::{self, Observation};

/// Field manager of the status this controller applies.
pub const MANAGER: &str = "payments-controller";

/// Namespace of the import ids derived from resource uids.
const IMPORT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5d1e_7a8c_04b1_4c55_9a43_6e2f_8d10_c0de);

/// The import a `PaymentImport` owns, from its uid: the same resource always maps to the same
/// import, a re-created one (new uid) to a new import.
pub fn import_id(uid: &str) -> Uuid {
    Uuid::new_v5(&IMPORT_ID_NAMESPACE, uid.as_bytes())
}

/// How often a running import's status is refreshed, and how retries back off.
#[derive(Debug, Clone)]
pub struct Timing {
    pub progress_interval: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            progress_interval: Duration::from_secs(2),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
        }
    }
}

type ImportTask = JoinHandle<Result<ImportReport, PipelineError>>;

/// What reconciles share while this replica leads.
pub struct Context {
    pub client: Client,
    pub pipeline: Pipeline,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub timing: Timing,
    tasks: Mutex<HashMap<Uuid, ImportTask>>,
    /// Per resource, the delays still to come since its last success.
    failures: Mutex<HashMap<String, ExponentialBackoff>>,
}

impl Context {
    pub fn new(
        client: Client,
        pipeline: Pipeline,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        timing: Timing,
    ) -> Self {
        Context {
            client,
            pipeline,
            recorder,
            metrics,
            timing,
            tasks: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ImportTask>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The outcome of this import's task, if it has finished; whether one is still running.
    fn task_state(&self, id: Uuid) -> (Option<ImportTask>, bool) {
        let mut tasks = self.tasks();
        match tasks.get(&id) {
            Some(task) if task.is_finished() => (tasks.remove(&id), false),
            Some(_) => (None, true),
            None => (None, false),
        }
    }

    /// Next retry delay for `key`, by the platform's retry policy: grows per consecutive
    /// failure, capped.
    fn backoff(&self, key: &str) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failures
            .entry(key.to_owned())
            .or_insert_with(|| {
                payments_runtime::retry_policy(self.timing.first_retry, self.timing.max_retry)
                    .build()
            })
            .next()
            .unwrap_or(self.timing.max_retry)
    }

    fn succeeded(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}

impl Drop for Context {
    /// A replica that stops leading stops importing; the next leader resumes.
    fn drop(&mut self) {
        for (_, task) in self.tasks().drain() {
            task.abort();
        }
    }
}

/// Brings one `PaymentImport`'s status up to date, starting or resuming its import when needed.
pub async fn reconcile(object: Arc<PaymentImport>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconciles.inc();
    let started = Instant::now();
    let action = bring_up_to_date(object, ctx.clone()).await;
    ctx.metrics
        .reconcile_seconds
        .observe(started.elapsed().as_secs_f64());
    action
}

async fn bring_up_to_date(object: Arc<PaymentImport>, ctx: Arc<Context>) -> Result<Action> {
    let name = object.name_any();
    let namespace = object
        .namespace()
        .ok_or_else(|| Error::MissingField(name.clone(), "namespace"))?;
    let uid = object
        .uid()
        .ok_or_else(|| Error::MissingField(name.clone(), "uid"))?;
    // An import started elsewhere (an upload) is adopted: reported on, never run here.
    let adopted = match object.annotations().get(crate::IMPORT_ID_ANNOTATION) {
        Some(text) => match Uuid::parse_str(text) {
            Ok(id) => Some(id),
            Err(e) => {
                let problem = Problem::new(
                    "InvalidSpec",
                    format!(
                        "annotation {} is not a UUID: {e}",
                        crate::IMPORT_ID_ANNOTATION
                    ),
                );
                return fail(&object, &ctx, import_id(&uid), None, problem).await;
            }
        },
        None => None,
    };
    let id = adopted.unwrap_or_else(|| import_id(&uid));

    let (finished, running) = ctx.task_state(id);
    let mut problem = match finished {
        Some(task) => match task.await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(Problem::from_pipeline(&e)),
            Err(e) => Some(Problem::new("ImportInterrupted", e.to_string())),
        },
        None => None,
    };
    let mut import = match ctx.pipeline.status(id).await {
        Ok(import) => Some(import),
        Err(PipelineError::NotFound(_)) => None,
        Err(e) => return fail(&object, &ctx, id, None, Problem::from_pipeline(&e)).await,
    };
    // Not started, or interrupted before everything was published: (re)start it, unless it
    // just failed, in which case error_policy's backoff decides when.
    let unfinished = import.as_ref().is_none_or(|v| v.status.is_resumable());
    if adopted.is_some() && import.is_none() {
        problem = Some(Problem::new(
            "ImportNotFound",
            format!(
                "annotation {} names import {id}, which does not exist.",
                crate::IMPORT_ID_ANNOTATION
            ),
        ));
    }
    let awaiting = import
        .as_ref()
        .filter(|v| v.status == ImportStatus::AwaitingApproval);
    if let (Some(awaiting), None, false, None) = (awaiting, adopted, running, &problem) {
        match decide(&object, awaiting, id, &ctx) {
            Ok(Decided::Rejected(by, note)) => {
                match ctx.pipeline.reject(id, Some(&by), note.as_deref()).await {
                    Ok(rejected) => import = Some(rejected),
                    Err(e) => problem = Some(Problem::from_pipeline(&e)),
                }
            }
            Ok(Decided::Approving) | Ok(Decided::Undecided) => {}
            Err(p) => problem = Some(p),
        }
    }
    if unfinished && adopted.is_none() && !running && problem.is_none() {
        let resuming = import.is_some();
        match start(&object, &namespace, id, &ctx).await {
            Ok(()) => {
                let (reason, note) = if resuming {
                    ctx.metrics.imports_resumed.inc();
                    (
                        "Resumed",
                        format!("Resuming import {id}, which was interrupted."),
                    )
                } else {
                    ctx.metrics.imports_started.inc();
                    ("Started", format!("Import {id} started."))
                };
                record_event(&ctx, &object, EventType::Normal, reason, note).await;
            }
            Err(p) => problem = Some(p),
        }
    }
    if let Some(p) = problem {
        return fail(&object, &ctx, id, import.as_ref(), p).await;
    }
    apply_status(&object, &ctx, id, import.as_ref(), None).await?;
    ctx.succeeded(&uid);
    Ok(if status::is_final(import.as_ref()) {
        Action::await_change()
    } else {
        Action::requeue(ctx.timing.progress_interval)
    })
}

/// Shows `problem` on the status, then hands it to [`error_policy`] for a retry with backoff.
async fn fail(
    object: &PaymentImport,
    ctx: &Context,
    id: Uuid,
    import: Option<&Import>,
    problem: Problem,
) -> Result<Action> {
    apply_status(object, ctx, id, import, Some(&problem)).await?;
    Err(Error::Import(problem))
}

/// Retries with a per-resource backoff: about 1 s, 2 s, 4 s… up to 5 minutes.
pub fn error_policy(object: Arc<PaymentImport>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.inc();
    let key = object.uid().unwrap_or_else(|| object.name_any());
    let delay = ctx.backoff(&key);
    tracing::warn!(
        name = object.name_any(),
        namespace = object.namespace(),
        error = %error,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// What the approval annotations ask of an import that waits for approval.
enum Decided {
    /// Nobody decided yet (or someone did elsewhere, whose publishing is under way).
    Undecided,
    /// An approval is being recorded and published in a task.
    Approving,
    /// To be rejected by this user, with this note.
    Rejected(String, Option<String>),
}

/// Acts on the approval annotations of an import waiting for approval: an approval runs in a
/// task (it publishes, as an import does); a rejection is one write, left to the caller.
/// Deciding again is harmless: the pipeline lets the same approver publish again (after an
/// interruption) and the import leaves `AwaitingApproval` once decided.
fn decide(
    object: &PaymentImport,
    import: &Import,
    id: Uuid,
    ctx: &Context,
) -> Result<Decided, Problem> {
    let annotations = object.annotations();
    let identity = |key: &str| {
        annotations
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    // Both set is refused at admission; without the policy, rejecting is the safe side.
    if let Some(by) = identity(crate::REJECTED_BY_ANNOTATION) {
        let note = identity(crate::DECISION_NOTE_ANNOTATION).map(str::to_owned);
        return Ok(Decided::Rejected(by.to_owned(), note));
    }
    let Some(by) = identity(crate::APPROVED_BY_ANNOTATION) else {
        return Ok(Decided::Undecided);
    };
    if import.decided_by.as_deref().is_some_and(|d| d != by) {
        return Ok(Decided::Undecided);
    }
    let pipeline = pipeline_for(object, ctx)?;
    let by = by.to_owned();
    let task = tokio::spawn(async move {
        let report = pipeline.approve(id, Some(&by)).await;
        if let Err(e) = &report {
            tracing::warn!(import = %id, approver = by, error = %e, "approval not published");
        }
        report
    });
    ctx.tasks().insert(id, task);
    Ok(Decided::Approving)
}

/// The pipeline with the spec's suspicious threshold: the import and its approval (which
/// checks the file again) count the same rows as suspicious.
fn pipeline_for(object: &PaymentImport, ctx: &Context) -> Result<Pipeline, Problem> {
    Ok(match &object.spec.suspicious_threshold {
        Some(threshold) => {
            let threshold: Decimal = threshold.parse().map_err(|e| {
                Problem::new(
                    "InvalidSpec",
                    format!("suspiciousThreshold {threshold:?} is not a decimal: {e}"),
                )
            })?;
            ctx.pipeline.with_threshold(threshold)
        }
        None => ctx.pipeline.clone(),
    })
}

/// Opens the source and runs the import in a task of this replica.
async fn start(
    object: &PaymentImport,
    namespace: &str,
    id: Uuid,
    ctx: &Context,
) -> Result<(), Problem> {
    let pipeline = pipeline_for(object, ctx)?;
    let (file_name, body) = open_source(object, namespace, ctx).await?;
    let request = payments_imports::ImportRequest {
        file_name,
        dry_run: object.spec.dry_run,
        // The admission policy guarantees the annotation is the apiserver's user that created
        // the object; the pipeline then refuses that user's own approval.
        started_by: object
            .annotations()
            .get(crate::CREATED_BY_ANNOTATION)
            .cloned(),
        expected_totals: object.spec.expected_totals.clone(),
        invalid_rows: object.spec.invalid_rows,
        require_approval: object.spec.require_approval,
        // Corrections are uploads of the rows that did not land: the web page, the API, the CLI.
        corrects: None,
    };
    let task = tokio::spawn(async move {
        let report = pipeline.import_as(id, &request, body).await;
        if let Err(e) = &report {
            tracing::warn!(import = %id, error = %e, "import interrupted");
        }
        report
    });
    ctx.tasks().insert(id, task);
    Ok(())
}

type Body = Pin<Box<dyn AsyncRead + Send + Unpin>>;

/// The file name and bytes the spec points at.
async fn open_source(
    object: &PaymentImport,
    namespace: &str,
    ctx: &Context,
) -> Result<(String, Body), Problem> {
    let source = &object.spec.source;
    match (&source.s3, &source.config_map) {
        (Some(s3), None) => {
            let body = ctx
                .pipeline
                .open_object(s3.bucket.as_deref(), &s3.key)
                .await
                .map_err(|e| Problem::new("StorageUnavailable", e.to_string()))?
                .ok_or_else(|| {
                    Problem::new(
                        "ObjectNotFound",
                        format!(
                            "There is no object {:?} in bucket {:?}; retrying until it appears.",
                            s3.key,
                            s3.bucket.as_deref().unwrap_or(ctx.pipeline.bucket())
                        ),
                    )
                })?;
            let file_name = s3.key.rsplit('/').next().unwrap_or(&s3.key).to_owned();
            Ok((file_name, Box::pin(body)))
        }
        (None, Some(reference)) => {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
            let config_map = api
                .get_opt(&reference.name)
                .await
                .map_err(|e| Problem::new("KubernetesUnavailable", e.to_string()))?
                .ok_or_else(|| {
                    Problem::new(
                        "ConfigMapNotFound",
                        format!(
                            "There is no ConfigMap {:?}; retrying until it appears.",
                            reference.name
                        ),
                    )
                })?;
            let text = config_map.data.and_then(|mut d| d.remove(&reference.key));
            let bytes = config_map
                .binary_data
                .and_then(|mut d| d.remove(&reference.key))
                .map(|b| b.0);
            let bytes = text.map(String::into_bytes).or(bytes).ok_or_else(|| {
                Problem::new(
                    "ConfigMapKeyNotFound",
                    format!(
                        "ConfigMap {:?} has no key {:?}.",
                        reference.name, reference.key
                    ),
                )
            })?;
            Ok((reference.key.clone(), Box::pin(Cursor::new(bytes))))
        }
        _ => Err(Problem::new(
            "InvalidSpec",
            "spec.source needs exactly one of s3 or configMap.",
        )),
    }
}

/// Invalid rows the status lists; the rest are on the import's page.
const STATUS_INVALID_ROWS: usize = 20;

/// The first rows of an import that failed the checks (none when its report is unreadable: the
/// count still says how many).
async fn invalid_rows(ctx: &Context, id: Uuid) -> Vec<RowProblem> {
    match ctx.pipeline.summary(id).await {
        Ok(Some(summary)) => summary
            .invalid
            .into_iter()
            .take(STATUS_INVALID_ROWS)
            .map(|r| RowProblem {
                row: r.row,
                reasons: r.reasons,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes the status by server-side apply and turns condition changes into Events.
async fn apply_status(
    object: &PaymentImport,
    ctx: &Context,
    id: Uuid,
    import: Option<&Import>,
    problem: Option<&Problem>,
) -> Result<()> {
    let previous = object.status.as_ref();
    let invalid_rows = match import {
        Some(v) if v.counts.invalid > 0 => invalid_rows(ctx, id).await,
        _ => Vec::new(),
    };
    let first_import = match import {
        Some(v) => ctx
            .pipeline
            .first_import_name(v)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "naming the first import failed"))
            .ok()
            .flatten(),
        None => None,
    };
    let next = status::derive(&Observation {
        generation: object.metadata.generation,
        import_id: id,
        import,
        first_import: first_import.as_deref(),
        problem,
        previous,
        invalid_rows: &invalid_rows,
        adopted: object
            .annotations()
            .contains_key(crate::IMPORT_ID_ANNOTATION),
        now: Utc::now(),
    });
    if previous == Some(&next) {
        return Ok(());
    }
    let api: Api<PaymentImport> =
        Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": PaymentImport::api_version(&()),
        "kind": PaymentImport::kind(&()),
        "status": next,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    for condition in status::transitions(previous, &next) {
        let type_ = if condition.status == "False" && condition.type_ == status::READY {
            match condition.reason.as_str() {
                "Checking" | "Publishing" | "Ingesting" | "Importing" | "AwaitingApproval" => {
                    EventType::Normal
                }
                _ => EventType::Warning,
            }
        } else {
            EventType::Normal
        };
        let note = format!(
            "{} is {}: {}",
            condition.type_, condition.status, condition.message
        );
        record_event(ctx, object, type_, &condition.reason, note).await;
    }
    Ok(())
}

/// Records an Event on the resource; a failure to record one is logged, never fatal.
async fn record_event(
    ctx: &Context,
    object: &PaymentImport,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        // The events API caps notes at 1 kB.
        note: Some(note.chars().take(1000).collect()),
        action: "Import".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(error = %e, "could not record an event");
    }
}
