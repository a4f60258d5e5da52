//! The importer role's web app: a portal page, the upload page (with a progress bar), result
//! and history pages, CSV downloads, the built-in dashboard (`/dashboard`), the JSON API and
//! `/metrics`, over the shared import pipeline.

mod api;
mod approval;
mod csrf;
mod dashboard;
mod download;
mod error;
mod history;
mod identity;
mod metrics;
mod pages;
mod present;
mod resource;
mod security;
mod timeline;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::future::BoxFuture;
use minijinja::Environment;
use payments_imports::{ImportReport, Pipeline};
use payments_store::PgPool;
use serde::Serialize;

/// Called after each handled upload with its report and whether it was a dry run, for
/// example to record the import in Kubernetes. The upload's answer waits for it (at most
/// [`HOOK_TIMEOUT`]); it logs its own failures, which never fail the upload.
pub type ImportHook = Arc<dyn Fn(ImportReport, bool) -> BoxFuture<'static, ()> + Send + Sync>;

/// Longest an upload's answer waits for the [`ImportHook`].
pub const HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Links shown on the portal (empty = hidden).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    pub metabase: Option<String>,
    pub minio_console: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Largest accepted upload in bytes; larger ones get 413.
    pub max_upload_bytes: usize,
    pub links: Links,
    pub identity: IdentityConfig,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            max_upload_bytes: 1024 * 1024 * 1024,
            links: Links::default(),
            identity: IdentityConfig::default(),
        }
    }
}

pub use identity::{Identity, IdentityConfig};
pub use metrics::WebMetrics;

pub struct AppState {
    /// Every change to an import (upload, approval, rejection, retry) goes through it.
    pub pipeline: Pipeline,
    /// Lists, figures, steps, the dashboard and the users load (no import) use
    /// `payments-store`'s queries on this pool directly.
    pub(crate) db: PgPool,
    pub config: WebConfig,
    pub metrics: WebMetrics,
    templates: Environment<'static>,
    import_hook: Option<ImportHook>,
}

pub type SharedState = Arc<AppState>;

/// The navigation's per-viewer part.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Nav {
    viewer: Option<String>,
    /// Imports awaiting this viewer's decision.
    approvals: Option<i64>,
}

impl AppState {
    pub fn new(pipeline: Pipeline, config: WebConfig) -> Self {
        let mut templates = Environment::new();
        present::register(&mut templates);
        // Templates are compiled into the binary: one image, nothing to mount.
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("index.html", include_str!("../templates/index.html")),
            ("upload.html", include_str!("../templates/upload.html")),
            ("import.html", include_str!("../templates/import.html")),
            ("imports.html", include_str!("../templates/imports.html")),
            (
                "approvals.html",
                include_str!("../templates/approvals.html"),
            ),
            ("error.html", include_str!("../templates/error.html")),
            (
                "dashboard.html",
                include_str!("../templates/dashboard.html"),
            ),
            (
                "dashboard_charts.html",
                include_str!("../templates/dashboard_charts.html"),
            ),
        ] {
            if let Err(e) = templates.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        AppState {
            db: pipeline.pool().clone(),
            pipeline,
            config,
            metrics: WebMetrics::default(),
            templates,
            import_hook: None,
        }
    }

    /// Runs `hook` after every handled upload.
    pub fn with_import_hook(mut self, hook: ImportHook) -> Self {
        self.import_hook = Some(hook);
        self
    }

    /// What the navigation shows `viewer`: how many imports await their decision (none when
    /// anonymous, or when the count cannot be read: the page itself still shows).
    pub(crate) async fn nav(&self, viewer: &identity::Viewer) -> Nav {
        let approvals = match &viewer.0 {
            Some(me) => match payments_store::count_decidable(&self.db, me).await {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::warn!(error = %e, "counting the approvals failed");
                    None
                }
            },
            None => None,
        };
        Nav {
            viewer: viewer.0.clone(),
            approvals,
        }
    }

    /// Renders a page; `.html` templates escape every value (minijinja's auto-escaping).
    /// The contexts wrap their serde types (links, nav, page models) in `value::Serde`:
    /// minijinja 3 converts plain values only, so those go through serde as before.
    pub(crate) fn render(&self, name: &str, context: minijinja::Value) -> Response {
        let rendered = self
            .templates
            .get_template(name)
            .and_then(|t| t.render(context));
        match rendered {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "rendering failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
            }
        }
    }
}

/// The whole web app.
pub fn app(state: SharedState) -> Router {
    let limit = state.config.max_upload_bytes;
    let mut registry = payments_runtime::Registry::default();
    state.metrics.register(&mut registry);
    let registry = Arc::new(registry);
    Router::new()
        .route("/", get(pages::index))
        .route("/imports/new", get(pages::upload_form))
        .route("/imports", get(history::history).post(pages::upload))
        .route("/imports/{id}", get(pages::import))
        .route("/imports/{id}/duplicates.csv", get(download::duplicates))
        .route("/imports/{id}/suspicious.csv", get(download::suspicious))
        .route("/imports/{id}/not-landed.csv", get(download::not_landed))
        .route("/api/imports", post(api::upload).get(api::history))
        .route("/api/imports/{id}", get(api::status))
        .route("/imports/{id}/decision", post(approval::decide_form))
        .route("/api/imports/{id}/approve", post(api::approve))
        .route("/api/imports/{id}/reject", post(api::reject))
        .route("/api/users", post(api::users))
        .route("/approvals", get(history::approvals))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/charts", get(dashboard::fragment))
        .route("/static/{name}", get(assets))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(pages::readyz))
        // Multipart bodies stream; the limit is enforced while reading and answered with 413.
        .layer(DefaultBodyLimit::max(limit))
        // A page handler's `PageError` becomes the error page.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_error_pages,
        ))
        .with_state(state)
        .merge(payments_runtime::metrics_router(registry))
        // Outermost, so every answer carries them: metrics, 404s and 413s included.
        .layer(axum::middleware::map_response(security::headers))
}

pub use error::{PageError, WebError};
pub use resource::ImportResource;
pub use security::{CSP, HEADERS as SECURITY_HEADERS};

/// The static files, compiled in; the pages' scripts live here rather than inline so the
/// Content-Security-Policy can refuse every inline script.
const ASSETS: [(&str, &str, &str); 5] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../static/app.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/dashboard.js"),
    ),
    (
        "upload.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/upload.js"),
    ),
    (
        "import.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/import.js"),
    ),
    (
        "time.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/time.js"),
    ),
];

/// The names under `/static/`, for tests that visit every route.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(name, _, _)| *name)
}

async fn assets(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type)], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// Human-readable byte size for pages.
pub(crate) fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        present::count(bytes as u64, "byte")
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}
