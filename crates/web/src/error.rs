//! What went wrong with a request, as one type that becomes a response: the JSON API answers
//! `{"error": message}` with its status; a page shows the same message on the error page
//! ([`PageError`], rendered by [`render_error_pages`] with the app's templates).

use axum::extract::multipart::MultipartError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use payments_imports::{PipelineError, Refusal};
use payments_store::StoreError;

use crate::SharedState;

/// The upload limit's sentence, wherever a body is over it.
pub(crate) const TOO_LARGE: &str = "The file is larger than the upload limit.";

/// A request that failed: its status and the sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebError {
    pub status: StatusCode,
    pub message: String,
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> WebError {
        WebError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The platform (database, storage, broker) failed; logged, as nobody else sees it.
    pub fn unavailable(message: impl Into<String>) -> WebError {
        let message = message.into();
        tracing::warn!(error = %message, "a request could not be served");
        WebError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// A failure of the platform (5xx) says what could not be done first, `prefix` ("The
    /// import could not be completed:"); the caller's own mistakes keep their message.
    pub fn in_doing(self, prefix: &str) -> WebError {
        if !self.status.is_server_error() {
            return self;
        }
        WebError {
            message: format!("{prefix} {}", self.message),
            ..self
        }
    }

    /// Shown on the error page titled `title`.
    pub fn on_page(self, title: &'static str) -> PageError {
        PageError { title, error: self }
    }
}

/// The pipeline's errors by what the caller can do about them: name themselves, ask another
/// person, look elsewhere, send a smaller file, or try again later.
impl From<PipelineError> for WebError {
    fn from(e: PipelineError) -> WebError {
        let status = match &e {
            PipelineError::Refused(Refusal::SameIdentity) => StatusCode::FORBIDDEN,
            PipelineError::Refused(Refusal::Anonymous) => StatusCode::UNAUTHORIZED,
            PipelineError::Refused(_) => StatusCode::CONFLICT,
            PipelineError::NotFound(_) => StatusCode::NOT_FOUND,
            PipelineError::TooLarge => {
                return WebError::new(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
            }
            PipelineError::CannotCorrect(why) => {
                return WebError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("The file was not imported: it cannot correct that import: {why}."),
                )
            }
            _ => return WebError::unavailable(e.to_string()),
        };
        WebError::new(status, e.to_string())
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> WebError {
        match e {
            StoreError::UsersHeader(_) => {
                WebError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            StoreError::UsersRead(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                WebError::new(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
            }
            StoreError::UsersRead(e) => {
                WebError::bad_request(format!("The upload could not be read: {e}"))
            }
            e => WebError::unavailable(e.to_string()),
        }
    }
}

impl From<MultipartError> for WebError {
    fn from(e: MultipartError) -> WebError {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return WebError::new(status, TOO_LARGE);
        }
        WebError::new(
            status,
            format!("The upload could not be read: {}", e.body_text()),
        )
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// A page that failed: its error shown on the error page under `title`.
#[derive(Debug, Clone)]
pub struct PageError {
    title: &'static str,
    error: WebError,
}

impl IntoResponse for PageError {
    /// An empty response with the status, carrying the error for [`render_error_pages`].
    fn into_response(self) -> Response {
        let mut response = self.error.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders the error page for every response a page handler failed with.
pub async fn render_error_pages(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    match response.extensions().get::<PageError>() {
        Some(failed) => error_page(
            &state,
            failed.error.status,
            failed.title,
            &failed.error.message,
        ),
        None => response,
    }
}

/// The error page with `title` and `message`, answered with `status`.
pub(crate) fn error_page(
    state: &SharedState,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let mut page = state.render(
        "error.html",
        minijinja::context! {
            links => minijinja::value::Serde(&state.config.links),
            title,
            message,
        },
    );
    *page.status_mut() = status;
    page
}
