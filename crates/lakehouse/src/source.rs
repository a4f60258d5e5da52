//! Where committed changes come from, behind a small trait so the client can be replaced:
//! PostgreSQL logical replication (`pgoutput`, protocol 1: whole transactions in commit
//! order) read with `pg_walstream`, whose slot creation exports a snapshot for the backfill.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pg_walstream::{
    CancellationToken, ChangeEvent, ColumnValue, EventType, LogicalReplicationStream,
    ReplicationStreamConfig, RowData, SharedLsnFeedback, SnapshotOutcome, SnapshotRows,
};
use tokio::sync::mpsc;

use crate::catalog::Table;
use crate::change::{Cell, Change, Lsn, Op, Transaction};
use crate::error::{LakehouseError, Result};

/// A source of committed transactions.
pub trait ChangeSource: Send {
    /// The next committed transaction, or `None` when none arrived within `wait`.
    fn next(&mut self, wait: Duration) -> impl Future<Output = Result<Option<Transaction>>> + Send;
    /// Everything committed at or before `lsn` is durably applied: the source may release it.
    fn acknowledge(&mut self, lsn: Lsn);
}

/// Connection settings of the replication client.
#[derive(Debug, Clone)]
pub struct WalSourceConfig {
    /// libpq connection string or URL of the database (without `replication=`).
    pub database_url: String,
    pub slot: String,
    pub publication: String,
    /// Transactions read ahead of the writer.
    pub read_ahead: usize,
}

impl WalSourceConfig {
    /// The URL with what a replication connection needs: the replication protocol, and text
    /// output in UTC and ISO format whatever the server's defaults are.
    fn replication_url(&self) -> String {
        let separator = if self.database_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}replication=database&options=-c%20TimeZone%3DUTC%20-c%20DateStyle%3DISO%20-c%20bytea_output%3Dhex%20-c%20extra_float_digits%3D3",
            self.database_url
        )
    }
}

/// Maps `schema.table` names to the published tables and rows to cells.
#[derive(Debug, Clone)]
struct Tables {
    tables: Arc<Vec<Table>>,
    by_name: HashMap<String, usize>,
}

impl Tables {
    fn new(tables: Arc<Vec<Table>>) -> Self {
        let by_name = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Tables { tables, by_name }
    }

    fn cells(&self, table: usize, data: &RowData, missing: Cell) -> Result<Vec<Cell>> {
        self.tables[table]
            .columns
            .iter()
            .map(|column| {
                Ok(match data.get(&column.name) {
                    None => missing.clone(),
                    Some(ColumnValue::Null) => Cell::Null,
                    Some(ColumnValue::Text(bytes)) | Some(ColumnValue::Binary(bytes)) => {
                        Cell::Text(String::from_utf8(bytes.to_vec()).map_err(|_| {
                            LakehouseError::Value {
                                table: self.tables[table].name.clone(),
                                column: column.name.clone(),
                                value: String::new(),
                                reason: "not UTF-8 text".to_owned(),
                            }
                        })?)
                    }
                })
            })
            .collect()
    }
}

/// The slot did not exist (or was rebuilt): its exported snapshot, to copy before streaming.
pub struct Backfill {
    rows: SnapshotRows,
    tables: Tables,
    consistent_point: Lsn,
}

impl Backfill {
    /// Every transaction committed before this position is in the snapshot, none after.
    pub fn consistent_point(&self) -> Lsn {
        self.consistent_point
    }

    /// The commit LSN the snapshot's rows are tagged with: just before the consistent point,
    /// so that every change streamed after it is newer.
    pub fn snapshot_lsn(&self) -> Lsn {
        self.consistent_point.saturating_sub(1)
    }

    /// The next copied row with the index of its table, or `None` at the end.
    pub async fn next_row(&mut self) -> Result<Option<(usize, Vec<Cell>)>> {
        loop {
            let Some(row) = self.rows.next_row().await? else {
                return Ok(None);
            };
            let Some(&table) = self.tables.by_name.get(row.relation.relation_name.as_ref()) else {
                continue;
            };
            return Ok(Some((
                table,
                self.tables.cells(table, &row.data, Cell::Null)?,
            )));
        }
    }

    /// The copy is done: streaming starts at the consistent point.
    pub async fn finish(self, read_ahead: usize) -> Result<WalSource> {
        let stream = self.rows.finish().await?;
        WalSource::start(stream, self.tables, read_ahead).await
    }
}

/// What opening the slot found.
pub enum Opened {
    /// The slot existed: stream from its confirmed position.
    Resumed(WalSource),
    /// The slot was created: copy its snapshot first.
    Created(Box<Backfill>),
}

/// Committed transactions read from a logical replication slot by a reader task.
pub struct WalSource {
    transactions: mpsc::Receiver<Result<Transaction>>,
    feedback: Arc<SharedLsnFeedback>,
    cancel: CancellationToken,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl WalSource {
    /// Opens the slot (creating it, with an exported snapshot, when missing).
    pub async fn open(config: &WalSourceConfig, tables: Arc<Vec<Table>>) -> Result<Opened> {
        let stream_config =
            ReplicationStreamConfig::builder(config.slot.clone(), config.publication.clone())
                .with_protocol_version(1)
                // Heartbeats arrive as (empty) transactions.
                .with_messages(true)
                .with_feedback_interval(FEEDBACK_INTERVAL);
        let stream =
            LogicalReplicationStream::new(&config.replication_url(), stream_config).await?;
        let tables = Tables::new(tables);
        match stream.snapshot().await? {
            SnapshotOutcome::Unavailable(stream) => Ok(Opened::Resumed(
                WalSource::start(stream, tables, config.read_ahead).await?,
            )),
            SnapshotOutcome::Available(snapshot) => {
                let consistent_point = snapshot.consistent_point().value();
                Ok(Opened::Created(Box::new(Backfill {
                    rows: snapshot.rows(),
                    tables,
                    consistent_point,
                })))
            }
        }
    }

    async fn start(
        mut stream: LogicalReplicationStream,
        tables: Tables,
        read_ahead: usize,
    ) -> Result<WalSource> {
        stream.start(None).await?;
        let feedback = stream.shared_lsn_feedback.clone();
        let cancel = CancellationToken::new();
        let (sender, transactions) = mpsc::channel(read_ahead.max(1));
        let reader = tokio::spawn(read_transactions(stream, tables, sender, cancel.clone()));
        Ok(WalSource {
            transactions,
            feedback,
            cancel,
            reader: Some(reader),
        })
    }

    /// Stops reading and sends the last acknowledged position to the server.
    pub async fn close(mut self) {
        self.cancel.cancel();
        if let Some(reader) = self.reader.take() {
            let _ = reader.await;
        }
    }
}

impl Drop for WalSource {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl ChangeSource for WalSource {
    async fn next(&mut self, wait: Duration) -> Result<Option<Transaction>> {
        match tokio::time::timeout(wait, self.transactions.recv()).await {
            Err(_elapsed) => Ok(None),
            Ok(Some(result)) => result.map(Some),
            Ok(None) => Err(LakehouseError::SourceClosed),
        }
    }

    fn acknowledge(&mut self, lsn: Lsn) {
        self.feedback.update_flushed_lsn(lsn);
        self.feedback.update_applied_lsn(lsn);
    }
}

/// A transaction being received.
struct Open {
    commit_lsn: Lsn,
    commit_time: DateTime<Utc>,
    changes: Vec<(usize, Change)>,
}

impl Open {
    fn push(&mut self, table: usize, op: Op, cells: Vec<Cell>) {
        let seq = u32::try_from(self.changes.len()).unwrap_or(u32::MAX);
        self.changes.push((
            table,
            Change {
                op,
                commit_lsn: self.commit_lsn,
                seq,
                commit_time: self.commit_time,
                cells,
            },
        ));
    }
}

async fn read_transactions(
    mut stream: LogicalReplicationStream,
    tables: Tables,
    sender: mpsc::Sender<Result<Transaction>>,
    cancel: CancellationToken,
) {
    let ticks = Ticks::start(&cancel);
    let mut open: Option<Open> = None;
    loop {
        let event = match stream.next_event(&ticks.current()).await {
            Ok(event) => event,
            Err(pg_walstream::ReplicationError::Cancelled(_)) if !cancel.is_cancelled() => {
                // A tick while no WAL arrives: acknowledge what was applied meanwhile.
                stream.maybe_send_feedback().await;
                continue;
            }
            Err(pg_walstream::ReplicationError::Cancelled(_)) => break,
            Err(e) => {
                let _ = sender.send(Err(e.into())).await;
                break;
            }
        };
        // pg_walstream itself looks at the feedback only every 128 messages: under a light
        // load that kept the slot's confirmed position (and the WAL it retains) minutes
        // behind the lake. Checked here on every event, sent at most once per interval.
        stream.maybe_send_feedback().await;
        match on_event(&tables, &mut open, event) {
            Ok(Some(transaction)) => {
                if sender.send(Ok(transaction)).await.is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = sender.send(Err(e)).await;
                break;
            }
        }
    }
    // Sends the last acknowledged position.
    let _ = stream.stop().await;
}

/// How often the applied position is acknowledged to PostgreSQL (when it moved).
const FEEDBACK_INTERVAL: Duration = Duration::from_secs(1);

/// A child of the reader's token, cancelled and replaced every `FEEDBACK_INTERVAL`: waiting on
/// it wakes the reader when no WAL arrives, so that it can still acknowledge. pg_walstream
/// leaves the stream usable after such a cancellation (it only stops waiting for the socket).
struct Ticks {
    current: Arc<std::sync::Mutex<CancellationToken>>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticks {
    fn start(parent: &CancellationToken) -> Ticks {
        let current = Arc::new(std::sync::Mutex::new(parent.child_token()));
        let task = tokio::spawn({
            let current = current.clone();
            let parent = parent.clone();
            async move {
                loop {
                    tokio::select! {
                        () = parent.cancelled() => break,
                        () = tokio::time::sleep(FEEDBACK_INTERVAL) => {}
                    }
                    if let Ok(mut token) = current.lock() {
                        token.cancel();
                        *token = parent.child_token();
                    }
                }
            }
        });
        Ticks { current, task }
    }

    fn current(&self) -> CancellationToken {
        match self.current.lock() {
            Ok(token) => token.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Drop for Ticks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn on_event(
    tables: &Tables,
    open: &mut Option<Open>,
    event: ChangeEvent,
) -> Result<Option<Transaction>> {
    let table_of = |name: &str| tables.by_name.get(name).copied();
    match event.event_type {
        EventType::Begin {
            final_lsn,
            commit_timestamp,
            ..
        } => {
            *open = Some(Open {
                commit_lsn: final_lsn.value(),
                commit_time: commit_timestamp,
                changes: Vec::new(),
            });
        }
        EventType::Insert { table, data, .. } => {
            if let (Some(t), Some(open)) = (table_of(&table), open.as_mut()) {
                let cells = tables.cells(t, &data, Cell::Null)?;
                open.push(t, Op::Insert, cells);
            }
        }
        EventType::Update {
            table, new_data, ..
        } => {
            if let (Some(t), Some(open)) = (table_of(&table), open.as_mut()) {
                let cells = tables.cells(t, &new_data, Cell::Unchanged)?;
                open.push(t, Op::Update, cells);
            }
        }
        EventType::Delete {
            table, old_data, ..
        } => {
            if let (Some(t), Some(open)) = (table_of(&table), open.as_mut()) {
                let cells = tables.cells(t, &old_data, Cell::Null)?;
                open.push(t, Op::Delete, cells);
            }
        }
        EventType::Truncate { tables: names, .. } => {
            // The platform never truncates its tables; a truncate replicated as nothing would
            // leave rows in the lake that PostgreSQL no longer has, so it stops the replicator.
            return Err(LakehouseError::Truncate(names.join(", ")));
        }
        EventType::Commit {
            commit_lsn,
            commit_timestamp,
            ..
        } => {
            if let Some(open) = open.take() {
                return Ok(Some(Transaction {
                    commit_lsn: commit_lsn.value(),
                    commit_time: commit_timestamp,
                    changes: open.changes,
                }));
            }
        }
        _ => {}
    }
    Ok(None)
}
