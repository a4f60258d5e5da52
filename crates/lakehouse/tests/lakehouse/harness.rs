//! One lake per test: a database, a replication slot, a bucket, and a replicator in process.

use std::time::Duration;

use payments_lakehouse::catalog::Table;
use payments_lakehouse::{
    read, DeltaLocation, ReplicatorConfig, S3Access, UpkeepConfig, PUBLICATION,
};
use payments_testkit::{stack, unique_name, wait_for, TestDb};
use sqlx::PgPool;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The lost-slot test lowers `max_slot_wal_keep_size` for the whole server: it runs alone,
/// the others share.
pub static SERVER_SETTINGS: RwLock<()> = RwLock::const_new(());

pub struct Lake {
    pub db: TestDb,
    pub slot: String,
    pub location: DeltaLocation,
}

pub fn location(bucket: &str) -> DeltaLocation {
    let s = stack();
    DeltaLocation::s3(
        bucket,
        "payments",
        S3Access {
            endpoint: Some(&s.s3_endpoint),
            region: &s.s3_region,
            access_key: &s.s3_access_key,
            secret_key: &s.s3_secret_key,
        },
    )
    .expect("lake location")
}

impl Lake {
    pub async fn create() -> Lake {
        let db = TestDb::create().await;
        let level: String = sqlx::query_scalar("SHOW wal_level")
            .fetch_one(&db.pool)
            .await
            .expect("wal_level");
        assert_eq!(
            level, "logical",
            "PostgreSQL runs with wal_level={level}: restart the stack with `scripts/stack up` (it sets wal_level=logical)"
        );
        let bucket = unique_name("lake");
        payments_testkit::object_store(&bucket)
            .ensure_bucket()
            .await
            .expect("create the lake bucket");
        Lake {
            db,
            slot: format!("lake_{}", Uuid::new_v4().simple()),
            location: location(&bucket),
        }
    }

    pub fn config(&self) -> ReplicatorConfig {
        // Small batches, quick retries and heartbeats: the tests see each behaviour in seconds.
        ReplicatorConfig {
            batch_changes: 10_000,
            linger: Duration::from_millis(200),
            http_addr: Some("127.0.0.1:0".parse().expect("addr")),
            max_backoff: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            upkeep: UpkeepConfig {
                interval: Duration::from_secs(3600),
                ..UpkeepConfig::default()
            },
            ..ReplicatorConfig::new(
                self.db.url.clone(),
                self.slot.clone(),
                self.location.clone(),
            )
        }
    }

    pub async fn start(&self) -> Running {
        let shutdown = CancellationToken::new();
        let replicator = payments_lakehouse::start(self.config(), shutdown.clone())
            .await
            .expect("start the replicator");
        Running {
            replicator,
            shutdown,
        }
    }

    pub async fn tables(&self) -> Vec<Table> {
        payments_lakehouse::catalog::published_tables(&self.db.pool, PUBLICATION)
            .await
            .expect("published tables")
    }

    /// Waits until every published table's current state in the lake equals PostgreSQL's.
    pub async fn wait_until_equal(&self) {
        let tables = self.tables().await;
        wait_for(
            "every lake table to equal its PostgreSQL table",
            Duration::from_secs(120),
            || async {
                read::lake_equals_postgres(&self.db.pool, &self.location, &tables)
                    .await
                    .ok()
                    .filter(|equal| *equal)
                    .map(|_| ())
            },
        )
        .await;
    }

    /// The lake equals PostgreSQL now (with a diff on failure).
    pub async fn assert_equal(&self) {
        for table in self.tables().await {
            let expected = read::postgres_rows(&self.db.pool, &table)
                .await
                .expect("postgres rows");
            let actual = read::lake_rows(&self.location, &table)
                .await
                .expect("lake rows");
            assert_eq!(actual.len(), expected.len(), "rows of {}", table.name);
            assert_eq!(actual, expected, "table {}", table.name);
        }
    }

    /// No change log holds a (key, commit LSN) twice.
    pub async fn assert_change_logs_have_no_duplicates(&self) {
        for table in self.tables().await {
            let duplicates = read::duplicate_changes(&self.location, &table)
                .await
                .expect("change log");
            assert_eq!(
                duplicates,
                Vec::<read::TextRow>::new(),
                "duplicate changes of {}",
                table.name
            );
        }
    }

    pub async fn drop_slot(&self) {
        payments_testkit::drop_replication_slot(&self.db.pool, &self.slot).await;
    }

    pub async fn finish(self) {
        self.drop_slot().await;
        self.db.drop_database().await;
    }
}

pub struct Running {
    pub replicator: payments_lakehouse::Replicator,
    shutdown: CancellationToken,
}

impl Running {
    pub fn metric(&self, name: &str) -> f64 {
        payments_runtime_metric(&self.replicator, name)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.replicator.wait().await;
    }
}

/// A metric's value from the replicator's own `/metrics` text (first sample of `name`).
fn payments_runtime_metric(replicator: &payments_lakehouse::Replicator, name: &str) -> f64 {
    let mut registry = payments_runtime::Registry::default();
    replicator.metrics.register(&mut registry);
    let text = payments_runtime::render(&registry);
    text.lines()
        .find(|line| line.starts_with(name) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} not in:\n{text}"))
}

/// Two demo users and a currency, for payments between them.
pub async fn parties(db: &PgPool) -> (Uuid, Uuid, i32) {
    let users: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM users ORDER BY username LIMIT 2")
            .fetch_all(db)
            .await
            .expect("users");
    let currency: i32 = sqlx::query_scalar("SELECT min(currency_id) FROM currencies")
        .fetch_one(db)
        .await
        .expect("currency");
    (users[0], users[1], currency)
}

/// Inserts `n` stream payments in one transaction; returns their ids.
pub async fn insert_payments(db: &PgPool, n: usize) -> Vec<Uuid> {
    let (sender, receiver, currency) = parties(db).await;
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let amounts: Vec<String> = (0..n)
        .map(|i| format!("{}.{:02}", 1 + i % 9000, i % 100))
        .collect();
    sqlx::query(
        "INSERT INTO transactions (transaction_id, sender_id, receiver_id, amount, currency_id, transaction_date, status)
         SELECT id, $2, $3, amount::numeric, $4, now() - (random() * interval '90 days'), 'completed'
           FROM unnest($1::uuid[], $5::text[]) AS t(id, amount)",
    )
    .bind(&ids)
    .bind(sender)
    .bind(receiver)
    .bind(currency)
    .bind(&amounts)
    .execute(db)
    .await
    .expect("insert payments");
    ids
}
