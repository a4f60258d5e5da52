//! The importer web app over real HTTP, with the real stack behind it: PostgreSQL, Kafka, S3,
//! and the ingester running in-process to take the published rows into the database.

mod approval;
mod browser;
mod checks;
mod cross_file;
mod dashboard;
mod history;
mod hostile;
mod identity;
mod outcomes;
mod samples;
mod security;
mod traces;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use payments_imports::ImportStatus;
use payments_objectstore::ObjectStore;
use payments_testkit::TestPlatform;
use payments_web::{AppState, ImportHook, WebConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The app's settings when the authenticating proxy is on this host (tests send its header),
/// requiring an identity for uploads or not.
pub fn trusting_localhost(require: bool) -> WebConfig {
    WebConfig {
        identity: payments_web::IdentityConfig {
            trusted_proxies: vec!["127.0.0.1/32".parse().expect("cidr")],
            require,
            ..payments_web::IdentityConfig::default()
        },
        ..WebConfig::default()
    }
}

/// A status as the JSON API names it.
pub fn named(status: ImportStatus) -> Value {
    serde_json::to_value(status).expect("a status serialises")
}

/// The app served over HTTP on a [`TestPlatform`] (its database, topics, bucket, pipeline and
/// ingester); `app.db`, `app.objects` and the topics are the platform's.
pub struct App {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    platform: TestPlatform,
    shutdown: CancellationToken,
}

impl std::ops::Deref for App {
    type Target = TestPlatform;

    fn deref(&self) -> &TestPlatform {
        &self.platform
    }
}

pub async fn spawn_app(max_upload_bytes: usize) -> App {
    spawn_app_with_hook(max_upload_bytes, None).await
}

pub async fn spawn_app_with_hook(max_upload_bytes: usize, hook: Option<ImportHook>) -> App {
    let config = WebConfig {
        max_upload_bytes,
        ..WebConfig::default()
    };
    spawn_app_with(config, hook).await
}

pub async fn spawn_app_with(config: WebConfig, hook: Option<ImportHook>) -> App {
    spawn_app_storing(config, hook, |objects| objects.clone()).await
}

/// As [`spawn_app_with`], but the app stores uploads through `store(test bucket)`, for example
/// one with wrong credentials; `App::objects` stays the working one.
pub async fn spawn_app_storing(
    config: WebConfig,
    hook: Option<ImportHook>,
    store: impl FnOnce(&ObjectStore) -> ObjectStore,
) -> App {
    let platform = TestPlatform::start_storing("web-test", store).await;
    let mut state = AppState::new(platform.pipeline.clone(), config);
    if let Some(hook) = hook {
        state = state.with_import_hook(hook);
    }
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        // As in production: the peer address decides whether identity headers are believed.
        let app = payments_web::app(state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .expect("serve");
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    App {
        addr,
        client,
        platform,
        shutdown,
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /api/imports` with `bytes` as the file part.
    pub async fn upload(&self, file_name: &str, bytes: Vec<u8>) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str("text/csv")
            .expect("mime");
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = self
            .client
            .post(self.url("/api/imports"))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    pub async fn status(&self, id: &str) -> Value {
        self.client
            .get(self.url(&format!("/api/imports/{id}")))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json")
    }

    /// Waits until the import is `done` (every published row ingested or rejected).
    pub async fn wait_done(&self, id: &str) -> Value {
        payments_testkit::wait_for(
            "the import to be done",
            Duration::from_secs(120),
            || async {
                let status = self.status(id).await;
                (status["status"] == named(ImportStatus::Done)).then_some(status)
            },
        )
        .await
    }

    pub async fn page(&self, path: &str) -> (u16, String) {
        let response = self.client.get(self.url(path)).send().await.expect("page");
        (
            response.status().as_u16(),
            response.text().await.expect("text"),
        )
    }

    pub async fn count(&self, sql: &str) -> i64 {
        // `AssertSqlSafe`: only the tests' own SQL comes here.
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.db.pool)
            .await
            .expect(sql)
    }

    /// A count whose query binds one text parameter (`$1`).
    pub async fn count_bound(&self, sql: &str, value: &str) -> i64 {
        // `AssertSqlSafe`: only the tests' own SQL comes here.
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_one(&self.db.pool)
            .await
            .expect(sql)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.platform.stop().await;
    }
}
