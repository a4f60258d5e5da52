//! Page and API handlers.

use std::collections::BTreeMap;

use axum::extract::multipart::Field;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use futures::TryStreamExt;
use minijinja::context;
use minijinja::value::Serde;
use payments_csv::{Summary, Suspicion};
use payments_imports::{
    ExpectedTotals, ImportReport, ImportRequest, ImportStatus, ImportTotals, InvalidRowsPolicy,
    PipelineError, Totals,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::io::StreamReader;
use uuid::Uuid;

use crate::error::{PageError, WebError};
use crate::history::status_text;
use crate::identity::Viewer;
use crate::resource::ImportResource;
use crate::timeline::timeline;
use crate::{csrf, human_bytes, Identity, SharedState};
use payments_imports::outcome::{import_name, outcome, OutcomeKind};

const PAGE_SIZE: usize = 50;

pub(crate) fn why(reasons: &[Suspicion]) -> String {
    reasons
        .iter()
        .map(|r| match r {
            Suspicion::AmountAboveThreshold => "amount above threshold",
            Suspicion::SelfPayment => "sender pays themselves",
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn index(State(state): State<SharedState>, viewer: Viewer) -> Response {
    let nav = state.nav(&viewer).await;
    state.render(
        "index.html",
        context! {
            links => Serde(&state.config.links),
            nav => Serde(nav),
            bucket => state.pipeline.bucket(),
        },
    )
}

#[derive(Deserialize)]
pub struct UploadQuery {
    /// Prefills the form's `corrects` (the import page's "upload corrections" link).
    corrects: Option<Uuid>,
}

pub async fn upload_form(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
) -> Response {
    let token = csrf::new_token();
    let nav = state.nav(&viewer).await;
    let mut page = state.render(
        "upload.html",
        context! {
            links => Serde(&state.config.links),
            nav => Serde(nav),
            section => "upload",
            csrf_token => &token,
            threshold => state.pipeline.suspicious_threshold().to_string(),
            invalid_rows => state.pipeline.invalid_rows().to_string(),
            corrects => query.corrects.map(|id| id.to_string()),
            max_upload => human_bytes(state.config.max_upload_bytes),
        },
    );
    if let Ok(cookie) = csrf::set_cookie(&token, csrf::over_https(&headers)).parse() {
        page.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    page
}

/// Streams the `file` part into the pipeline; the other parts come first in form order.
pub(crate) async fn run_upload(
    state: &SharedState,
    mut multipart: Multipart,
    csrf_cookie: Option<String>,
    identity: Identity,
) -> Result<ImportReport, WebError> {
    let mut csrf_ok = csrf_cookie.is_none();
    let mut dry_run = false;
    let mut expected_totals = None;
    let mut invalid_rows = None;
    let mut require_approval = false;
    let mut corrects = None;
    while let Some(field) = multipart.next_field().await? {
        match field.name().unwrap_or_default() {
            csrf::FIELD => {
                let submitted = field.text().await?;
                csrf_ok = csrf::matches(csrf_cookie.as_deref(), &submitted);
            }
            "dry_run" => dry_run = matches!(field.text().await?.as_str(), "1" | "true" | "on"),
            "corrects" => {
                let text = field.text().await?;
                if !text.trim().is_empty() {
                    corrects = Some(text.trim().parse::<Uuid>().map_err(|_| {
                        WebError::bad_request(
                            "The file was not imported: the import it corrects must be given by its id.",
                        )
                    })?);
                }
            }
            "require_approval" => {
                require_approval = matches!(field.text().await?.as_str(), "1" | "true" | "on")
            }
            "expected_totals" => {
                let text = field.text().await?;
                if !text.trim().is_empty() {
                    expected_totals = Some(text.parse::<ExpectedTotals>().map_err(|e| {
                        WebError::bad_request(format!("The file was not imported: {e}."))
                    })?);
                }
            }
            "invalid_rows" => {
                let text = field.text().await?;
                if !text.trim().is_empty() {
                    invalid_rows = Some(text.parse::<InvalidRowsPolicy>().map_err(|e| {
                        WebError::bad_request(format!(
                            "The file was not imported: invalid_rows {e}."
                        ))
                    })?);
                }
            }
            "file" => {
                if !csrf_ok {
                    return Err(WebError::new(
                        StatusCode::FORBIDDEN,
                        "The form has expired or did not come from this site; reload the upload page and try again.",
                    ));
                }
                let request = ImportRequest {
                    file_name: file_name(field.file_name()),
                    dry_run,
                    started_by: identity.0,
                    expected_totals,
                    invalid_rows,
                    require_approval,
                    corrects,
                };
                return import_field(state, &request, field).await;
            }
            _ => {}
        }
    }
    Err(WebError::bad_request(
        "No file was sent: the form has no field named file.",
    ))
}

/// Longest file name kept, in characters; the database holds at most 1024.
const MAX_FILE_NAME_CHARS: usize = 255;

/// The name an upload is recorded under: a longer one keeps its end (where the extension is),
/// an empty or missing one becomes `upload.csv`, so no name can fail the import.
fn file_name(sent: Option<&str>) -> String {
    let sent = sent.unwrap_or_default();
    let count = sent.chars().count();
    let kept: String = sent
        .chars()
        .skip(count.saturating_sub(MAX_FILE_NAME_CHARS))
        .collect();
    if kept.is_empty() {
        "upload.csv".to_owned()
    } else {
        kept
    }
}

async fn import_field(
    state: &SharedState,
    request: &ImportRequest,
    field: Field<'_>,
) -> Result<ImportReport, WebError> {
    let metrics = &state.metrics;
    let started = Instant::now();
    let field = field.inspect_ok(|chunk| {
        metrics.bytes.inc_by(chunk.len() as u64);
    });
    // The pipeline tells an upload over the limit from one that broke off by the error kind.
    let body = StreamReader::new(field.map_err(|e| {
        let kind = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            std::io::ErrorKind::FileTooLarge
        } else {
            std::io::ErrorKind::UnexpectedEof
        };
        std::io::Error::new(kind, e)
    }));
    let report = match state.pipeline.import(request, body).await {
        Ok(report) => report,
        Err(e) => {
            metrics.uploads_failed.inc();
            tracing::error!(error = %e, "import failed");
            return Err(WebError::from(e).in_doing("The import could not be completed:"));
        }
    };
    metrics.uploads.inc();
    metrics
        .publish_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Some(summary) = &report.summary {
        metrics.rows.inc_by(summary.rows);
    }
    if let Some(hook) = &state.import_hook {
        if tokio::time::timeout(crate::HOOK_TIMEOUT, hook(report.clone(), request.dry_run))
            .await
            .is_err()
        {
            tracing::warn!(import = %report.id, "the import hook timed out");
        }
    }
    Ok(report)
}

/// The form post: runs the import, then shows its page (303 so a reload does not re-upload).
pub async fn upload(
    State(state): State<SharedState>,
    identity: Identity,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Redirect, PageError> {
    // A browser form always carries the cookie set by the form page; an absent cookie is a
    // cross-site post (SameSite=Strict) or a stale form.
    let cookie = csrf::cookie_token(&headers).or_else(|| Some(String::new()));
    let report = run_upload(&state, multipart, cookie, identity)
        .await
        .map_err(|e| e.on_page("Upload failed"))?;
    Ok(Redirect::to(&format!("/imports/{}", report.id)))
}

#[derive(Deserialize)]
pub struct ImportQuery {
    dup_page: Option<usize>,
    sus_page: Option<usize>,
    inv_page: Option<usize>,
    cross_page: Option<usize>,
}

#[derive(Serialize)]
struct Paged<T: Serialize> {
    items: Vec<T>,
    page: usize,
    pages: usize,
    total: usize,
}

fn paged<T: Serialize + Clone>(all: &[T], page: Option<usize>) -> Paged<T> {
    let pages = all.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let items = all
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .cloned()
        .collect();
    Paged {
        items,
        page,
        pages,
        total: all.len(),
    }
}

#[derive(Serialize, Clone)]
struct SuspiciousRow {
    row: u64,
    why: String,
    values: payments_csv::CsvRow,
}

pub async fn import(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Query(query): Query<ImportQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let import = state.pipeline.status(id).await.map_err(|e| match e {
        PipelineError::NotFound(_) => {
            WebError::new(StatusCode::NOT_FOUND, "There is no import with this id.")
                .on_page("No such import")
        }
        e => WebError::unavailable(e.to_string()).on_page("Import unavailable"),
    })?;
    let pool = &state.db;
    let summary: Summary = match state.pipeline.summary(id).await {
        Ok(Some(summary)) => summary,
        _ => Summary::default(),
    };
    let suspicious: Vec<SuspiciousRow> = summary
        .suspicious
        .iter()
        .map(|s| SuspiciousRow {
            row: s.row,
            why: why(&s.reasons),
            values: s.values.clone(),
        })
        .collect();
    let cross_file = paged(&summary.cross_file, query.cross_page);
    // Other imports this page links to, named by their file and time rather than their id.
    let mut linked: Vec<Uuid> = cross_file.items.iter().map(|c| c.seen_import_id).collect();
    linked.extend(import.first_import_id);
    linked.extend(import.corrects_import_id);
    linked.sort_unstable();
    linked.dedup();
    // Unnamed (the names could not be read), a link still leads there.
    let names: BTreeMap<String, String> = payments_store::import_names(pool, &linked)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "naming the linked imports failed"))
        .unwrap_or_default()
        .into_iter()
        .map(|n| (n.id.to_string(), import_name(&n.file_name, n.created_at)))
        .collect();
    let first = import
        .first_import_id
        .and_then(|first| names.get(&first.to_string()));
    // Without them the timeline still lists the steps, its times "not recorded".
    let steps = payments_store::import_steps(pool, id)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "reading the step times failed"))
        .ok()
        .flatten()
        .unwrap_or_default();
    let rejected = state.pipeline.rejections(id, 500).await.unwrap_or_default();
    let awaiting = import.status == ImportStatus::AwaitingApproval;
    let token = csrf::new_token();
    let approval_reasons: Vec<&str> = import
        .approval_reasons
        .iter()
        .map(|r| r.describe())
        .collect();
    let nav = state.nav(&viewer).await;
    let outcome = outcome(&import, first.map(String::as_str));
    let mut page = state.render(
        "import.html",
        context! {
            links => Serde(&state.config.links),
            nav => Serde(nav),
            import => Serde(ImportResource::from(&import)),
            status_text => status_text(import.status),
            outcome_class => banner_class(outcome.kind),
            outcome => Serde(outcome),
            timeline => Serde(timeline(&import, &steps)),
            names,
            final_statuses => final_statuses(),
            duplicates => Serde(paged(&summary.duplicates, query.dup_page)),
            suspicious => Serde(paged(&suspicious, query.sus_page)),
            invalid => Serde(paged(&summary.invalid, query.inv_page)),
            cross_file => Serde(cross_file),
            totals_currencies => import.totals.as_ref().map(totals_currencies).unwrap_or_default(),
            totals_by => Serde(import.totals.as_ref().map(totals_by_kind).unwrap_or_default()),
            rejected => Serde(rejected),
            awaiting,
            own => awaiting && viewer.0.is_some() && viewer.0 == import.started_by,
            approval_reasons,
            csrf_token => &token,
        },
    );
    // The decision form's token, as the upload form's.
    if awaiting {
        if let Ok(cookie) = csrf::set_cookie(&token, csrf::over_https(&headers)).parse() {
            page.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    Ok(page)
}

/// The outcome banner's CSS class.
fn banner_class(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::InProgress => "outcome-progress",
        OutcomeKind::AllLanded => "outcome-ok",
        OutcomeKind::SomeRowsFailed => "outcome-partial",
        OutcomeKind::HeldForApproval => "outcome-held",
        OutcomeKind::NothingPublished => "outcome-nothing",
        OutcomeKind::Failed => "outcome-failed",
    }
}

/// Every currency in any of an import's totals, in order: the rows of its totals table.
fn totals_currencies(totals: &ImportTotals) -> Vec<String> {
    let mut currencies: Vec<String> = totals_kinds(totals)
        .iter()
        .flat_map(|(_, t)| t.currencies().iter().map(|c| c.currency.clone()))
        .collect();
    currencies.sort();
    currencies.dedup();
    currencies
}

/// `kind → currency → figures`, for the totals table's cells.
fn totals_by_kind(
    totals: &ImportTotals,
) -> BTreeMap<&'static str, BTreeMap<String, payments_imports::CurrencyTotal>> {
    totals_kinds(totals)
        .into_iter()
        .map(|(kind, t)| {
            let by_currency = t
                .currencies()
                .iter()
                .map(|c| (c.currency.clone(), c.clone()))
                .collect();
            (kind, by_currency)
        })
        .collect()
}

fn totals_kinds(totals: &ImportTotals) -> [(&'static str, &Totals); 7] {
    [
        ("file", &totals.file),
        ("unique", &totals.unique),
        ("suspicious", &totals.suspicious),
        ("invalid", &totals.invalid),
        ("publishable", &totals.publishable),
        ("held", &totals.held),
        ("ingested", &totals.ingested),
    ]
}

/// The statuses after which an import's page stops polling, space-separated for its script.
fn final_statuses() -> String {
    ImportStatus::ALL
        .into_iter()
        .filter(|s| s.is_final())
        .map(ImportStatus::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn readyz(State(state): State<SharedState>) -> Response {
    match sqlx_ping(&state).await {
        true => (StatusCode::OK, "ready").into_response(),
        false => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

async fn sqlx_ping(state: &SharedState) -> bool {
    state.pipeline.history(1).await.is_ok()
}
