//! Ingester against the real local stack: PostgreSQL and Kafka.

mod corpus;
mod flows;
mod restore;

use std::time::Duration;

use payments_ingester::{Ingester, IngesterConfig};
use payments_testkit::{create_topics, unique_name, TestDb};
use tokio_util::sync::CancellationToken;

/// An ingester running in-process on fresh topics and a fresh database.
pub struct App {
    pub db: TestDb,
    pub stream_topic: String,
    pub import_topic: String,
    pub config: IngesterConfig,
    pub ingester: Option<Ingester>,
    pub shutdown: CancellationToken,
}

pub async fn spawn_app() -> App {
    let db = TestDb::create().await;
    let stream_topic = unique_name("payments-events");
    let import_topic = unique_name("import-payments-events");
    create_topics(&[&stream_topic, &import_topic], 3).await;
    let config = IngesterConfig {
        group_id: unique_name("ingester"),
        stream_topic: stream_topic.clone(),
        import_topic: import_topic.clone(),
        batch_size: 500,
        linger: Duration::from_millis(50),
        http_addr: Some("127.0.0.1:0".parse().expect("addr")),
        max_backoff: Duration::from_millis(500),
        finalise_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let mut app = App {
        db,
        stream_topic,
        import_topic,
        config,
        ingester: None,
        shutdown: CancellationToken::new(),
    };
    app.start_ingester().await;
    app
}

impl App {
    /// Starts an ingester with the app's configuration on its database (a new one after
    /// `stop_ingester`, as after a restart).
    pub async fn start_ingester(&mut self) {
        self.shutdown = CancellationToken::new();
        let ingester = payments_testkit::start_ingester(
            self.config.clone(),
            self.db.pool.clone(),
            "ingester-test",
            self.shutdown.clone(),
        )
        .await;
        self.ingester = Some(ingester);
    }

    /// Stops the ingester, keeping the database and the topics.
    pub async fn stop_ingester(&mut self) {
        self.shutdown.cancel();
        if let Some(ingester) = self.ingester.take() {
            ingester.wait().await.expect("ingester stops cleanly");
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        // `AssertSqlSafe`: only the tests' own SQL comes here.
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.db.pool)
            .await
            .expect(sql)
    }

    /// Waits until the ingester has committed every record currently in both topics.
    pub async fn wait_caught_up(&self) {
        let total = payments_testkit::topic_record_count(&self.stream_topic)
            + payments_testkit::topic_record_count(&self.import_topic);
        payments_testkit::wait_for(
            "the ingester to commit every record",
            Duration::from_secs(120),
            || async {
                assert!(
                    self.ingester.as_ref().is_some_and(Ingester::is_running),
                    "the ingester stopped"
                );
                payments_testkit::applied_records(&self.db.pool)
                    .await
                    .filter(|done| *done >= total)
                    .map(|_| ())
            },
        )
        .await;
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(ingester) = self.ingester.take() {
            ingester.wait().await.expect("ingester stops cleanly");
        }
        self.db.drop_database().await;
    }
}

/// A tiny HTTP/1.1 GET, enough for the health endpoints.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}
