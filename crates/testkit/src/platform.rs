//! The running platform front-end tests and benchmarks start from: a fresh database, fresh
//! topics and bucket, the import pipeline over them and the ingester in-process taking the
//! published rows in. The web app's and the controller's tests build on [`TestPlatform`]; the
//! benchmarks start an ingester with [`start_ingester_ready`].

use std::time::Duration;

use payments_csv::Options;
use payments_imports::Pipeline;
use payments_ingester::{Ingester, IngesterConfig};
use payments_objectstore::ObjectStore;
use payments_store::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{create_topics, kafka, object_store, producer, unique_name, wait_for, TestDb};

/// Ingester settings for tests: small batches, short linger and back-off, imports finalised
/// every 100 ms, no HTTP server.
pub fn quick_ingester(stream_topic: &str, import_topic: &str) -> IngesterConfig {
    IngesterConfig {
        group_id: unique_name("ingester"),
        stream_topic: stream_topic.to_owned(),
        import_topic: import_topic.to_owned(),
        batch_size: 1000,
        linger: Duration::from_millis(50),
        http_addr: None,
        max_backoff: Duration::from_millis(500),
        finalise_interval: Duration::from_millis(100),
        ..IngesterConfig::default()
    }
}

/// Starts an ingester in-process on `pool`; it runs until `shutdown` is cancelled.
pub async fn start_ingester(
    config: IngesterConfig,
    pool: PgPool,
    client_id: &str,
    shutdown: CancellationToken,
) -> Ingester {
    payments_ingester::start(config, pool, kafka(client_id), shutdown)
        .await
        .expect("start the ingester")
}

/// As [`start_ingester`], then waits until it is ready and its consumer group has settled, so
/// that what a benchmark times next does not include the group join.
pub async fn start_ingester_ready(
    config: IngesterConfig,
    pool: PgPool,
    client_id: &str,
    shutdown: CancellationToken,
) -> Ingester {
    let ingester = start_ingester(config, pool, client_id, shutdown).await;
    let health = ingester.health.clone();
    wait_for(
        "the ingester to be ready",
        Duration::from_secs(60),
        || async { health.is_ready().then_some(()) },
    )
    .await;
    // Ready means the consumer is subscribed; the partitions' assignment follows shortly.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ingester
}

/// A pipeline on its own database, topics and bucket, with an ingester running.
pub struct TestPlatform {
    pub db: TestDb,
    /// The import topic the pipeline publishes to.
    pub import_topic: String,
    /// The ingester's `payments-events` topic.
    pub stream_topic: String,
    /// The test's bucket (always the working store, whatever the pipeline was given).
    pub objects: ObjectStore,
    pub pipeline: Pipeline,
    ingester: Option<Ingester>,
    shutdown: CancellationToken,
}

impl TestPlatform {
    /// Starts one; `client_id` names its Kafka clients in the broker's logs.
    pub async fn start(client_id: &str) -> TestPlatform {
        TestPlatform::start_storing(client_id, ObjectStore::clone).await
    }

    /// As [`TestPlatform::start`], with the pipeline storing uploads through
    /// `store(test bucket)`, for example one with wrong credentials.
    pub async fn start_storing(
        client_id: &str,
        store: impl FnOnce(&ObjectStore) -> ObjectStore,
    ) -> TestPlatform {
        let db = TestDb::create().await;
        let import_topic = unique_name("import-payments-events");
        let stream_topic = unique_name("payments-events");
        create_topics(&[&import_topic, &stream_topic], 3).await;
        // A bucket per test, so listings only show this test's files.
        let objects = object_store(&unique_name("files-imported"));
        objects.ensure_bucket().await.expect("bucket");
        let pipeline = Pipeline::new(
            db.pool.clone(),
            store(&objects),
            producer(),
            import_topic.clone(),
            Options::default(),
        );
        let shutdown = CancellationToken::new();
        let ingester = start_ingester(
            quick_ingester(&stream_topic, &import_topic),
            db.pool.clone(),
            client_id,
            shutdown.clone(),
        )
        .await;
        TestPlatform {
            db,
            import_topic,
            stream_topic,
            objects,
            pipeline,
            ingester: Some(ingester),
            shutdown,
        }
    }

    /// Stops the ingester and drops the database.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(ingester) = self.ingester.take() {
            ingester.wait().await.expect("ingester stops");
        }
        self.db.drop_database().await;
    }
}
