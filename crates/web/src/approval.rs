//! Maker-checker approval on the web: the result page's Approve and Reject buttons (a form
//! with the CSRF token); the API's `POST /api/imports/{id}/approve|reject` take the same
//! decision (`api.rs`). The decider must be named
//! by the authenticating proxy and must not be who started the import (the pipeline checks,
//! and the database refuses it too).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Redirect;
use axum::Form;
use payments_imports::{Import, PipelineError};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{PageError, WebError};
use crate::{csrf, Identity, SharedState};

/// Longest note kept with a decision (the database allows 2,000 characters).
const MAX_NOTE_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Choice {
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

/// The note kept with a decision: trimmed and cut to the most kept, none when empty.
pub(crate) fn note(text: Option<String>) -> Option<String> {
    text.map(|n| n.trim().chars().take(MAX_NOTE_CHARS).collect::<String>())
        .filter(|n| !n.is_empty())
}

/// Takes `by`'s decision on import `id`: the import as it then stands.
pub(crate) async fn take(
    state: &SharedState,
    id: Uuid,
    choice: Choice,
    by: Option<&str>,
    note: Option<String>,
) -> Result<Import, PipelineError> {
    match choice {
        Choice::Approve => {
            state.pipeline.approve(id, by).await?;
            state.pipeline.status(id).await
        }
        Choice::Reject => state.pipeline.reject(id, by, note.as_deref()).await,
    }
}

/// The result page's form: checks the CSRF token, decides, and goes back to the page.
pub async fn decide_form(
    State(state): State<SharedState>,
    Path(id): Path<Uuid>,
    identity: Identity,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Result<Redirect, PageError> {
    if !csrf::matches(csrf::cookie_token(&headers).as_deref(), &form.csrf_token) {
        return Err(WebError::new(
            StatusCode::FORBIDDEN,
            "The form has expired or did not come from this site; reload the import's page and try again.",
        )
        .on_page("Decision refused"));
    }
    take(
        &state,
        id,
        form.decision,
        identity.0.as_deref(),
        note(Some(form.note)),
    )
    .await
    .map_err(|e| WebError::from(e).on_page("Decision refused"))?;
    Ok(Redirect::to(&format!("/imports/{id}")))
}
