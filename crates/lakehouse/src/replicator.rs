//! The replicator: opens (or rebuilds) the slot, backfills from its snapshot when the slot is
//! new, then applies committed transactions in batches to the Delta tables and acknowledges
//! each batch to PostgreSQL only after every Delta commit of it succeeded. A crash anywhere
//! converges: what a Delta table already holds is skipped by its application-transaction
//! version, and the slot replays what was not acknowledged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use deltalake::logstore::object_store::ObjectStoreExt as _;
use deltalake::{DeltaTableBuilder, ObjectStoreError, Path};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, Table};
use crate::change::{lsn_text, Cell, Change, Lsn, Op, Transaction};
use crate::delta::{DeltaLocation, PositionTable, TablePair};
use crate::error::{LakehouseError, Result};
use crate::health::{self, Health, Metrics, TableLabels};
use crate::heap::{self, Release};
use crate::source::{Backfill, ChangeSource, Opened, WalSource, WalSourceConfig};
use crate::upkeep::{self, UpkeepConfig};

/// Everything the replicator needs.
#[derive(Debug, Clone)]
pub struct ReplicatorConfig {
    /// PostgreSQL URL of a role with `REPLICATION` and read access.
    pub database_url: String,
    pub slot: String,
    pub publication: String,
    pub location: DeltaLocation,
    /// Most row changes applied in one batch (one Delta commit per table and kind).
    pub batch_changes: usize,
    /// How long a partial batch waits for more transactions.
    pub linger: Duration,
    /// Address of `/healthz`, `/readyz`, `/metrics` (`None`: not served).
    pub http_addr: Option<SocketAddr>,
    /// Longest wait between retries after a failure.
    pub max_backoff: Duration,
    /// After this long with nothing to apply, a logical-decoding message (a heartbeat) is
    /// written, so the slot advances past WAL other databases and tables wrote and does not
    /// keep it.
    pub heartbeat: Duration,
    pub upkeep: UpkeepConfig,
}

impl ReplicatorConfig {
    /// The role's defaults (`payments replicate --help`): the platform's publication, batches
    /// of up to 50,000 changes lingering 1 s, no HTTP endpoints, retries up to 5 s apart, a
    /// heartbeat after a minute idle, upkeep every 10 minutes keeping 7 days.
    pub fn new(database_url: String, slot: String, location: DeltaLocation) -> Self {
        ReplicatorConfig {
            database_url,
            slot,
            publication: catalog::PUBLICATION.to_owned(),
            location,
            batch_changes: 50_000,
            linger: Duration::from_secs(1),
            http_addr: None,
            max_backoff: Duration::from_secs(5),
            heartbeat: Duration::from_secs(60),
            upkeep: UpkeepConfig::default(),
        }
    }
}

/// A running replicator.
pub struct Replicator {
    pub http_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    task: tokio::task::JoinHandle<()>,
}

impl Replicator {
    /// Waits until the replicator stopped (after `shutdown`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts the replicator; it runs (retrying every failure) until `shutdown`.
pub async fn start(config: ReplicatorConfig, shutdown: CancellationToken) -> Result<Replicator> {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let http_addr = match config.http_addr {
        Some(addr) => Some(health::serve(addr, health.clone(), &metrics, shutdown.clone()).await?),
        None => None,
    };
    let task = tokio::spawn(run(config, metrics.clone(), health, shutdown));
    Ok(Replicator {
        http_addr,
        metrics,
        task,
    })
}

async fn run(
    config: ReplicatorConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let started = Instant::now();
        let result = run_once(&config, &metrics, &health, &shutdown).await;
        health.set_streaming(false);
        match result {
            Ok(()) => return,
            Err(e) => {
                metrics.errors.inc();
                tracing::warn!(error = %e, "replicator failed; retrying");
                health.set_error(Some(e.to_string()));
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(250);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

/// What the database says about the slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotStatus {
    /// `reserved`, `extended`, `unreserved` or `lost` (`pg_replication_slots.wal_status`).
    pub wal_status: Option<String>,
    pub confirmed_flush: Option<Lsn>,
    pub retained_wal_bytes: Option<i64>,
    pub active: bool,
}

/// The slot's row in `pg_replication_slots`, or `None` when there is no such slot.
pub async fn slot_status(db: &PgPool, slot: &str) -> Result<Option<SlotStatus>> {
    type Row = (Option<String>, Option<i64>, Option<i64>, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT wal_status,
                (confirmed_flush_lsn - '0/0'::pg_lsn)::bigint,
                (pg_current_wal_lsn() - restart_lsn)::bigint,
                active
           FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(slot)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(wal_status, confirmed, retained, active)| SlotStatus {
            wal_status,
            confirmed_flush: confirmed.and_then(|c| Lsn::try_from(c).ok()),
            retained_wal_bytes: retained,
            active,
        }),
    )
}

/// The record that a backfill for the slot finished; without it an existing slot is a
/// half-done backfill (a crash mid-copy) and is rebuilt.
struct BackfillMarker {
    store: Arc<dyn deltalake::ObjectStore>,
    path: Path,
}

impl BackfillMarker {
    fn new(location: &DeltaLocation, slot: &str) -> Result<Self> {
        let url = location.table_url("_replicator")?;
        let store = DeltaTableBuilder::from_url(url)?
            .with_storage_options(location.storage.clone())
            .build_storage()?
            .object_store(None);
        Ok(BackfillMarker {
            store,
            path: Path::from(format!("backfill-{slot}.json")),
        })
    }

    async fn exists(&self) -> Result<bool> {
        match self.store.head(&self.path).await {
            Ok(_) => Ok(true),
            Err(ObjectStoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn write(&self, consistent_point: Lsn) -> Result<()> {
        let body = serde_json::json!({
            "consistent_point": lsn_text(consistent_point),
            "finished_at": Utc::now().to_rfc3339(),
        });
        self.store
            .put(&self.path, body.to_string().into_bytes().into())
            .await?;
        Ok(())
    }

    async fn remove(&self) -> Result<()> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(ObjectStoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Makes the slot usable: a lost slot, or one whose backfill never finished, is dropped (and
/// the marker with it) so that opening it creates a new one with a new snapshot.
async fn prepare_slot(db: &PgPool, slot: &str, marker: &BackfillMarker) -> Result<()> {
    let status = slot_status(db, slot).await?;
    let drop = match &status {
        None => {
            marker.remove().await?;
            false
        }
        Some(status) if status.wal_status.as_deref() == Some("lost") => {
            tracing::warn!(slot, "{}", LakehouseError::SlotLost(slot.to_owned()));
            true
        }
        Some(_) => !marker.exists().await?,
    };
    if drop {
        marker.remove().await?;
        // Fails while the previous reader's connection is still open; the caller retries.
        sqlx::query("SELECT pg_drop_replication_slot($1)")
            .bind(slot)
            .execute(db)
            .await?;
        tracing::info!(
            slot,
            "replication slot dropped; a new one is created with a snapshot"
        );
    }
    Ok(())
}

async fn run_once(
    config: &ReplicatorConfig,
    metrics: &Metrics,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<()> {
    let db = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&config.database_url)
        .await?;
    let tables = Arc::new(catalog::published_tables(&db, &config.publication).await?);
    let marker = BackfillMarker::new(&config.location, &config.slot)?;
    prepare_slot(&db, &config.slot, &marker).await?;

    let mut pairs = Vec::with_capacity(tables.len());
    for table in tables.iter() {
        pairs.push(TablePair::open(&config.location, &config.slot, table.clone()).await?);
    }
    let mut position = PositionTable::open(&config.location, &config.slot).await?;
    let source_config = WalSourceConfig {
        database_url: config.database_url.clone(),
        slot: config.slot.clone(),
        publication: config.publication.clone(),
        read_ahead: 256,
    };
    let mut source = match WalSource::open(&source_config, tables.clone()).await? {
        Opened::Resumed(source) => source,
        Opened::Created(backfill) => {
            let consistent_point = backfill.consistent_point();
            let snapshot_lsn = backfill.snapshot_lsn();
            let (source, rows) = copy_snapshot(*backfill, &mut pairs, metrics).await?;
            position.record(snapshot_lsn, Utc::now(), 0, rows).await?;
            marker.write(consistent_point).await?;
            metrics.backfills.inc();
            source
        }
    };
    for pair in &pairs {
        record_versions(metrics, pair);
    }
    tracing::info!(slot = %config.slot, tables = pairs.len(), "replicating");
    health.set_streaming(true);
    let mut lake = Lake {
        pairs: &mut pairs,
        position: &mut position,
    };
    let result = stream(config, &db, &mut source, &mut lake, metrics, shutdown).await;
    source.close().await;
    result
}

/// Rows copied per Delta commit during a backfill.
const SNAPSHOT_CHUNK: usize = 50_000;

/// Copies the snapshot into every table (replacing the current state, adding `snapshot` rows
/// to the change log), recording `consistent point - 1` as each table's version: the snapshot
/// holds every transaction committed before the consistent point.
async fn copy_snapshot(
    mut backfill: Backfill,
    pairs: &mut [TablePair],
    metrics: &Metrics,
) -> Result<(WalSource, usize)> {
    let done = backfill.snapshot_lsn();
    let commit_time = Utc::now();
    tracing::info!(
        consistent_point = %lsn_text(backfill.consistent_point()),
        "backfilling every table from the slot's snapshot"
    );
    let mut chunks: Vec<Vec<Change>> = vec![Vec::new(); pairs.len()];
    let mut written = vec![false; pairs.len()];
    let mut rows_copied = 0;
    while let Some((table, cells)) = backfill.next_row().await? {
        rows_copied += 1;
        let chunk = &mut chunks[table];
        chunk.push(Change {
            op: Op::Snapshot,
            commit_lsn: done,
            seq: 0,
            commit_time,
            cells,
        });
        if chunk.len() >= SNAPSHOT_CHUNK {
            let rows = std::mem::take(chunk);
            pairs[table]
                .write_snapshot_chunk(&rows, !written[table], None)
                .await?;
            written[table] = true;
            count(metrics, &rows);
        }
    }
    for (table, rows) in chunks.into_iter().enumerate() {
        pairs[table]
            .write_snapshot_chunk(&rows, !written[table], Some(done))
            .await?;
        count(metrics, &rows);
    }
    Ok((backfill.finish(256).await?, rows_copied))
}

fn count(metrics: &Metrics, changes: &[Change]) {
    metrics.changes_applied.inc_by(changes.len() as u64);
    let bytes: usize = changes
        .iter()
        .flat_map(|c| &c.cells)
        .map(|cell| match cell {
            Cell::Text(text) => text.len(),
            _ => 0,
        })
        .sum();
    metrics.bytes_applied.inc_by(bytes as u64);
}

fn record_versions(metrics: &Metrics, pair: &TablePair) {
    let (current, log) = pair.table_versions();
    metrics
        .table_version
        .get_or_create(&TableLabels {
            table: pair.table.name.clone(),
        })
        .set(current);
    metrics
        .table_version
        .get_or_create(&TableLabels {
            table: format!("{}_changes", pair.table.name),
        })
        .set(log);
}

/// The tables a batch is applied to.
struct Lake<'a> {
    pairs: &'a mut [TablePair],
    position: &'a mut PositionTable,
}

async fn stream(
    config: &ReplicatorConfig,
    db: &PgPool,
    source: &mut impl ChangeSource,
    lake: &mut Lake<'_>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<()> {
    let mut batch: Vec<Transaction> = Vec::new();
    let mut batch_changes = 0usize;
    let mut batch_started = Instant::now();
    let mut housekeeping = Housekeeping::new();
    let mut last_status = Instant::now() - Duration::from_secs(3600);
    let mut last_received = Instant::now();
    let mut heartbeat_refused = false;
    loop {
        if last_status.elapsed() >= Duration::from_secs(5) {
            observe_slot(db, &config.slot, metrics).await?;
            last_status = Instant::now();
        }
        let wait = if batch.is_empty() {
            Duration::from_millis(250)
        } else {
            config.linger.saturating_sub(batch_started.elapsed())
        };
        let next = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = source.next(wait) => next?,
        };
        match next {
            Some(transaction) => {
                last_received = Instant::now();
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch_changes += transaction.changes.len();
                batch.push(transaction);
                if batch_changes < config.batch_changes && batch_started.elapsed() < config.linger {
                    continue;
                }
            }
            None if batch.is_empty() => {
                metrics.lag_seconds.set(0.0);
                if last_received.elapsed() >= config.heartbeat {
                    last_received = Instant::now();
                    if let Err(e) = heartbeat(db).await {
                        if !heartbeat_refused {
                            tracing::warn!(error = %e, "cannot write a heartbeat: the slot keeps WAL until a published table changes");
                        }
                        heartbeat_refused = true;
                    }
                }
                housekeeping
                    .upkeep_if_due(lake, &config.upkeep, metrics)
                    .await?;
                continue;
            }
            None => {}
        }
        let transactions = std::mem::take(&mut batch);
        batch_changes = 0;
        apply(&transactions, source, lake, metrics).await?;
        // Between upkeeps too: each batch's leftovers would otherwise pile up.
        housekeeping.release.if_due();
        // Under a steady load the stream is never idle: upkeep also runs between batches.
        housekeeping
            .upkeep_if_due(lake, &config.upkeep, metrics)
            .await?;
    }
}

/// When upkeep and the return of freed heap last ran.
struct Housekeeping {
    last_upkeep: Instant,
    release: Release,
}

impl Housekeeping {
    fn new() -> Housekeeping {
        Housekeeping {
            last_upkeep: Instant::now(),
            release: Release::every(heap::RELEASE_EVERY),
        }
    }

    /// Compacts and vacuums every table once `upkeep.interval` has passed since the last time.
    async fn upkeep_if_due(
        &mut self,
        lake: &mut Lake<'_>,
        upkeep: &UpkeepConfig,
        metrics: &Metrics,
    ) -> Result<()> {
        if self.last_upkeep.elapsed() >= upkeep.interval {
            upkeep::run(lake.pairs, upkeep, metrics).await?;
            lake.position.maintain(upkeep.retention).await?;
            self.last_upkeep = Instant::now();
            // OPTIMIZE frees the most: give it back before the next batch.
            self.release.now();
        }
        Ok(())
    }
}

/// A transactional logical-decoding message: an empty transaction in the slot's stream.
async fn heartbeat(db: &PgPool) -> Result<()> {
    sqlx::query("SELECT pg_logical_emit_message(true, 'payments_lakehouse', 'heartbeat')")
        .execute(db)
        .await?;
    Ok(())
}

/// Applies `transactions` (in commit order) to every table they touch, records the position,
/// then acknowledges it to PostgreSQL.
async fn apply(
    transactions: &[Transaction],
    source: &mut impl ChangeSource,
    lake: &mut Lake<'_>,
    metrics: &Metrics,
) -> Result<()> {
    let Some(last) = transactions.last() else {
        return Ok(());
    };
    let started = Instant::now();
    let mut by_table: BTreeMap<usize, Vec<Change>> = BTreeMap::new();
    for transaction in transactions {
        for (table, change) in &transaction.changes {
            by_table.entry(*table).or_default().push(change.clone());
        }
    }
    let mut changes_applied = 0;
    for (table, changes) in &by_table {
        let pair = &mut lake.pairs[*table];
        pair.apply(changes).await?;
        record_versions(metrics, pair);
        count(metrics, changes);
        changes_applied += changes.len();
    }
    if lake.position.version() < Some(last.commit_lsn) {
        lake.position
            .record(
                last.commit_lsn,
                last.commit_time,
                transactions.len(),
                changes_applied,
            )
            .await?;
    }
    source.acknowledge(last.commit_lsn);
    metrics
        .transactions_applied
        .inc_by(transactions.len() as u64);
    metrics
        .batch_seconds
        .observe(started.elapsed().as_secs_f64());
    let lag = (Utc::now() - last.commit_time).num_milliseconds().max(0) as f64 / 1000.0;
    metrics.lag_seconds.set(lag);
    Ok(())
}

async fn observe_slot(db: &PgPool, slot: &str, metrics: &Metrics) -> Result<()> {
    if let Some(status) = slot_status(db, slot).await? {
        metrics
            .retained_wal_bytes
            .set(status.retained_wal_bytes.unwrap_or(0));
        let lost = status.wal_status.as_deref() == Some("lost");
        metrics.slot_ok.set(i64::from(!lost));
        if lost {
            return Err(LakehouseError::SlotLost(slot.to_owned()));
        }
    }
    Ok(())
}

/// The published tables, for callers that read the lake (tests, readers).
pub async fn tables(db: &PgPool, publication: &str) -> Result<Vec<Table>> {
    catalog::published_tables(db, publication).await
}
