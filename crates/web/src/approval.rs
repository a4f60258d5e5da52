//! Maker-checker approval on the web: the result page's Approve and Reject buttons (a form
//! with the CSRF token) and `POST /api/imports/{id}/approve|reject`. The decider must be named
//! by the authenticating proxy and must not be who started the import (the pipeline checks,
//! and the database refuses it too).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use payments_imports::{PipelineError, Refusal};
use serde::Deserialize;
use uuid::Uuid;

use crate::{csrf, Identity, SharedState};

/// Longest note kept with a decision (the database allows 2,000 characters).
const MAX_NOTE_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    Approve,
    Reject,
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf_token: String,
    decision: Choice,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize, Default)]
pub struct DecisionBody {
    #[serde(default)]
    note: Option<String>,
}

/// What the page or the API answers when a decision cannot be taken.
fn refused(e: &PipelineError) -> (StatusCode, String) {
    let status = match e {
        PipelineError::Refused(Refusal::SameIdentity) => StatusCode::FORBIDDEN,
        PipelineError::Refused(Refusal::Anonymous) => StatusCode::UNAUTHORIZED,
        PipelineError::Refused(_) => StatusCode::CONFLICT,
        PipelineError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "a decision could not be carried out");
    }
    (status, e.to_string())
}

fn note(text: Option<String>) -> Option<String> {
    text.map(|n| n.trim().chars().take(MAX_NOTE_CHARS).collect::<String>())
        .filter(|n| !n.is_empty())
}

async fn take(
    state: &SharedState,
    id: Uuid,
    choice: Choice,
    by: Option<&str>,
    note: Option<String>,
) -> Result<serde_json::Value, PipelineError> {
    Ok(match choice {
        Choice::Approve => serde_json::to_value(state.pipeline.approve(id, by).await?),
        Choice::Reject => {
            serde_json::to_value(state.pipeline.reject(id, by, note.as_deref()).await?)
        }
    }
    .unwrap_or_default())
}

/// The result page's form: checks the CSRF token, decides, and goes back to the page.
pub async fn decide_form(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
    identity: Identity,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Response {
    if !csrf::matches(csrf::cookie_token(&headers).as_deref(), &form.csrf_token) {
        return crate::pages::error_page(
            &state,
            StatusCode::FORBIDDEN,
            "Decision refused",
            "The form has expired or did not come from this site; reload the import's page and try again.",
        );
    }
    match take(
        &state,
        id,
        form.decision,
        identity.0.as_deref(),
        note(Some(form.note)),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/imports/{id}")).into_response(),
        Err(e) => {
            let (status, message) = refused(&e);
            crate::pages::error_page(&state, status, "Decision refused", &message)
        }
    }
}

/// `POST /api/imports/{id}/approve`: publishes the import (201 with its report).
pub async fn api_approve(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
    identity: Identity,
) -> Response {
    api(&state, id, Choice::Approve, identity, None).await
}

/// `POST /api/imports/{id}/reject` (optional JSON `{"note": …}`): final.
pub async fn api_reject(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
    identity: Identity,
    body: Option<Json<DecisionBody>>,
) -> Response {
    let note = note(body.and_then(|Json(b)| b.note));
    api(&state, id, Choice::Reject, identity, note).await
}

async fn api(
    state: &SharedState,
    id: Uuid,
    choice: Choice,
    identity: Identity,
    note: Option<String>,
) -> Response {
    match take(state, id, choice, identity.0.as_deref(), note).await {
        Ok(value) => (StatusCode::OK, Json(value)).into_response(),
        Err(e) => {
            let (status, message) = refused(&e);
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
    }
}
