//! The JSON API: uploads, an import as it stands, the history, decisions, users. Every handler
//! returns `Result<_, WebError>`: a failure answers `{"error": message}` with its status. No
//! cookies are read, so there is nothing for another site to ride on; the identity rules are the
//! pages'.

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use payments_imports::{Import, ImportReport, ImportStatus};
use serde::{Deserialize, Serialize};
use tokio_util::io::StreamReader;
use uuid::Uuid;

use crate::approval::{note, take, Choice};
use crate::error::WebError;
use crate::history::{cursor_text, next_link, page_of, BadFilter, HistoryQuery, API_PAGE_SIZE};
use crate::identity::Viewer;
use crate::pages::run_upload;
use crate::resource::ImportResource;
use crate::timeline::timeline;
use crate::{Identity, SharedState};

/// `POST /api/imports` (multipart, field `file`, optional `dry_run`): the import's report, 201,
/// or 422 when the file was refused (the report says why).
pub async fn upload(
    State(state): State<SharedState>,
    identity: Identity,
    multipart: Multipart,
) -> Result<(StatusCode, Json<ImportReport>), WebError> {
    let report = run_upload(&state, multipart, None, identity).await?;
    let status = if report.status == ImportStatus::Failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(report)))
}

/// `GET /api/imports/{id}`: the import as it stands, with its `timeline`, its `outcome` and
/// `message` (the words the page, the CLI and the PaymentImport show).
pub async fn status(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, WebError> {
    let import = state.pipeline.status(id).await.map_err(|e| match e {
        payments_imports::PipelineError::NotFound(_) => {
            WebError::new(StatusCode::NOT_FOUND, "no such import")
        }
        e => WebError::unavailable(e.to_string()),
    })?;
    described(&state, import).await
}

/// The import as the API shows it: its row with its `timeline`, `outcome` and `message`.
async fn described(
    state: &SharedState,
    import: Import,
) -> Result<Json<serde_json::Value>, WebError> {
    let steps = payments_store::import_steps(&state.db, import.id)
        .await?
        .unwrap_or_default();
    let outcome = state.pipeline.outcome(&import).await?;
    let mut object = match serde_json::to_value(ImportResource::from(&import)) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => {
            return Err(WebError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the import could not be written as JSON",
            ))
        }
    };
    let timeline = serde_json::to_value(timeline(&import, &steps)).unwrap_or_default();
    object.insert("timeline".into(), timeline);
    object.insert("message".into(), outcome.message().into());
    object.insert(
        "outcome".into(),
        serde_json::to_value(outcome).unwrap_or_default(),
    );
    Ok(Json(object.into()))
}

/// A page of the API's history.
#[derive(Serialize)]
struct HistoryPage {
    imports: Vec<ImportResource>,
    /// The `after` value of the next page; `null` on the last page.
    next_cursor: Option<String>,
    /// The next page's URL (same filters); `null` on the last page.
    next: Option<String>,
}

/// `GET /api/imports`: the history with the page's filters (`status`, `started_by`,
/// `decided_by`, `from`, `to`, `file`, `order`, `decidable=true`), `limit` and `after`; the
/// next page's link is in the body and in a `Link: <…>; rel="next"` header.
pub async fn history(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, WebError> {
    let (mut filters, limit) = query
        .filters()
        .and_then(|filters| query.limit().map(|limit| (filters, limit)))
        .map_err(|BadFilter(message)| WebError::bad_request(message))?;
    if filters.decidable {
        let me = viewer.0.ok_or_else(|| {
            WebError::new(
                StatusCode::UNAUTHORIZED,
                "decidable=true needs an identity: only a named person may approve or reject an import",
            )
        })?;
        filters.filter.decidable_by = Some(me);
    }
    let mut params = filters.params.clone();
    if limit != API_PAGE_SIZE {
        params.push(("limit", limit.to_string()));
    }
    let (imports, next) = page_of(&state, &filters.filter, limit)
        .await
        .map_err(|e| WebError::unavailable(e.to_string()))?;
    let link = next.map(|n| next_link("/api/imports", &params, n));
    let mut response = Json(HistoryPage {
        imports: imports.iter().map(ImportResource::from).collect(),
        next_cursor: next.map(cursor_text),
        next: link.clone(),
    })
    .into_response();
    if let Some(value) =
        link.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"next\"")).ok())
    {
        response.headers_mut().insert(header::LINK, value);
    }
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct DecisionBody {
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/imports/{id}/approve`: publishes the import; answers it as [`status`] does.
pub async fn approve(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
    identity: Identity,
) -> Result<Json<serde_json::Value>, WebError> {
    let import = take(&state, id, Choice::Approve, identity.0.as_deref(), None).await?;
    described(&state, import).await
}

/// `POST /api/imports/{id}/reject` (optional JSON `{"note": …}`): final; answers the import as
/// [`status`] does.
pub async fn reject(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
    identity: Identity,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<serde_json::Value>, WebError> {
    let note = note(body.and_then(|Json(b)| b.note));
    let import = take(&state, id, Choice::Reject, identity.0.as_deref(), note).await?;
    described(&state, import).await
}

/// `POST /api/users` (the CSV as the body, `Content-Type: text/csv`): adds, updates and
/// deactivates users, answering what changed and every row not loaded (200), or 422 when the
/// header is unusable. Guarded as `POST /api/imports` (the identity rules, no cookies read);
/// only `text/csv` is taken, which no cross-site form can send without a CORS preflight, and
/// this app answers none.
pub async fn users(
    State(state): State<SharedState>,
    identity: Identity,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<payments_store::UsersImport>, WebError> {
    if !is_csv(&headers) {
        return Err(WebError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the users file as the body with `Content-Type: text/csv`.",
        ));
    }
    let summary = payments_store::import_users(&state.db, limited(body, &state))
        .await
        .map_err(|e| WebError::from(e).in_doing("The users could not be loaded:"))?;
    tracing::info!(
        by = identity.0.as_deref().unwrap_or("anonymous"),
        rows = summary.rows,
        added = summary.added,
        updated = summary.updated,
        deactivated = summary.deactivated,
        not_loaded = summary.not_loaded,
        "users loaded"
    );
    Ok(Json(summary))
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/csv"))
}

/// The body as a reader that fails with `FileTooLarge` past the upload limit: `DefaultBodyLimit`
/// only binds the buffering extractors, and this body streams.
fn limited(body: Body, state: &SharedState) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
    let limit = state.config.max_upload_bytes;
    let mut read = 0usize;
    StreamReader::new(body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e))?;
        read = read.saturating_add(chunk.len());
        if read > limit {
            return Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge));
        }
        Ok(chunk)
    }))
}
