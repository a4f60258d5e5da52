//! The two Delta Lake tables of one published table, on the object store:
//! `<root>/<table>` holds the current state (MERGEd on the primary key; a change applies only
//! when its commit LSN is newer than the row's) and `<root>/<table>_changes` every change
//! (appended). Each commit carries Delta's application transaction `payments:<slot>:<table>`
//! whose version is the last commit LSN it applied, so a restart knows what is already there.

use std::collections::HashMap;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructType, Transaction};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use url::Url;

use crate::batch::{self, COMMIT_LSN, OP, UNCHANGED};
use crate::catalog::Table;
use crate::change::{last_per_key, split_new_keys, Change, Lsn};
use crate::error::Result;

/// Where the tables live and how to reach the store.
#[derive(Debug, Clone)]
pub struct DeltaLocation {
    /// `s3://bucket/prefix` (no trailing slash).
    pub root: Url,
    /// delta-rs storage options (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials, ...).
    pub storage: HashMap<String, String>,
}

/// An S3-compatible object store and the keys to it.
#[derive(Debug, Clone, Copy)]
pub struct S3Access<'a> {
    /// The store's URL for MinIO or s3s-fs (addressed by path, plain HTTP allowed); `None`
    /// for AWS itself.
    pub endpoint: Option<&'a str>,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

impl DeltaLocation {
    /// The tables under `s3://<bucket>/<prefix>`.
    pub fn s3(bucket: &str, prefix: &str, access: S3Access<'_>) -> Result<DeltaLocation> {
        let prefix = prefix.trim_matches('/');
        let root = Url::parse(&format!("s3://{bucket}/{prefix}"))?;
        let mut storage = HashMap::from([
            ("AWS_REGION".to_owned(), access.region.to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), access.access_key.to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                access.secret_key.to_owned(),
            ),
            // One writer per slot (a slot admits one reader), so no lock service is needed
            // for Delta's log commits.
            ("AWS_S3_ALLOW_UNSAFE_RENAME".to_owned(), "true".to_owned()),
        ]);
        if let Some(endpoint) = access.endpoint.filter(|e| !e.is_empty()) {
            storage.insert("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned());
            storage.insert("AWS_ALLOW_HTTP".to_owned(), "true".to_owned());
            // MinIO and s3s-fs address buckets by path.
            storage.insert(
                "AWS_VIRTUAL_HOSTED_STYLE_REQUEST".to_owned(),
                "false".to_owned(),
            );
        }
        Ok(DeltaLocation { root, storage })
    }

    pub fn table_url(&self, name: &str) -> Result<Url> {
        let root = self.root.as_str().trim_end_matches('/');
        Ok(Url::parse(&format!("{root}/{name}"))?)
    }
}

/// What one apply wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub log_rows: usize,
    pub current_rows: usize,
    pub commits: usize,
}

/// The current-state and change-log tables of one published table, with the versions their
/// last commits recorded.
pub struct TablePair {
    pub table: Table,
    app_id: String,
    current: DeltaTable,
    log: DeltaTable,
    current_version: Option<Lsn>,
    log_version: Option<Lsn>,
}

fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

/// A commit that records `version` as `app_id`'s application-transaction version, when given.
fn commit_properties(app_id: &str, version: Option<Lsn>) -> CommitProperties {
    match version {
        Some(version) => {
            let version = i64::try_from(version).unwrap_or(i64::MAX);
            CommitProperties::default()
                .with_application_transaction(Transaction::new(app_id, version))
        }
        None => CommitProperties::default(),
    }
}

/// Writes `rows` to `table`, recording `version` with the commit when given. A column a
/// migration adds to a published table is added to the Delta table.
async fn write_rows(
    table: &DeltaTable,
    rows: RecordBatch,
    mode: SaveMode,
    app_id: &str,
    version: Option<Lsn>,
) -> Result<DeltaTable> {
    Ok(table
        .clone()
        .write([rows])
        .with_save_mode(mode)
        .with_schema_mode(SchemaMode::Merge)
        .with_commit_properties(commit_properties(app_id, version))
        .await?)
}

async fn open_or_create(
    location: &DeltaLocation,
    name: &str,
    schema: &deltalake::arrow::datatypes::Schema,
    partition: Option<&str>,
) -> Result<DeltaTable> {
    let url = location.table_url(name)?;
    let table =
        DeltaTable::try_from_url_with_storage_options(url, location.storage.clone()).await?;
    if table.version().is_some() {
        return Ok(table);
    }
    let kernel: StructType = schema.try_into_kernel()?;
    let mut create = table
        .create()
        .with_table_name(name)
        .with_columns(kernel.fields().cloned());
    if let Some(partition) = partition {
        create = create.with_partition_columns([partition]);
    }
    Ok(create.await?)
}

async fn version_of(table: &DeltaTable, app_id: &str) -> Result<Option<Lsn>> {
    let version = table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await?;
    Ok(version.and_then(|v| Lsn::try_from(v).ok()))
}

impl TablePair {
    /// Opens (creating when missing) both tables of `table` and reads their versions.
    pub async fn open(location: &DeltaLocation, slot: &str, table: Table) -> Result<Self> {
        let app_id = format!("payments:{slot}:{}", table.name);
        let current = open_or_create(
            location,
            &table.name,
            &batch::current_schema(&table),
            table.partition.as_ref().map(|p| p.name.as_str()),
        )
        .await?;
        let log = open_or_create(
            location,
            &format!("{}_changes", table.name),
            &batch::log_schema(&table),
            Some(batch::COMMIT_MONTH),
        )
        .await?;
        let current_version = version_of(&current, &app_id).await?;
        let log_version = version_of(&log, &app_id).await?;
        Ok(TablePair {
            table,
            app_id,
            current,
            log,
            current_version,
            log_version,
        })
    }

    /// Delta table versions (commits) of the current-state and change-log tables.
    pub fn table_versions(&self) -> (i64, i64) {
        let v = |t: &DeltaTable| t.version().map_or(-1, |v| v as i64);
        (v(&self.current), v(&self.log))
    }

    /// Applies `changes` (in commit order, all of this table) to both tables, skipping what
    /// each already holds: one append to the change log, one MERGE into the current state,
    /// each committed with the last commit LSN as its application-transaction version.
    pub async fn apply(&mut self, changes: &[Change]) -> Result<Applied> {
        let mut applied = Applied::default();
        let Some(last) = changes.last().map(|c| c.commit_lsn) else {
            return Ok(applied);
        };
        let newer = |version: Option<Lsn>| {
            let version = version.unwrap_or(0);
            changes
                .iter()
                .filter(move |c| c.commit_lsn > version)
                .cloned()
                .collect::<Vec<_>>()
        };

        let for_log = newer(self.log_version);
        if !for_log.is_empty() {
            let rows = batch::log_batch(&self.table, &for_log)?;
            self.log =
                write_rows(&self.log, rows, SaveMode::Append, &self.app_id, Some(last)).await?;
            self.log_version = Some(last);
            applied.log_rows = for_log.len();
            applied.commits += 1;
        }

        let for_current = newer(self.current_version);
        if !for_current.is_empty() {
            let keys: Vec<usize> = self.table.key_columns().map(|(i, _)| i).collect();
            let folded = last_per_key(&for_current, &keys);
            applied.current_rows = folded.len();
            let (new, known, gone) = split_new_keys(&for_current, folded, &keys);
            if new.is_empty() && known.is_empty() {
                // Only rows inserted and deleted again: nothing to write but the version.
                self.merge(&gone, Some(last)).await?;
                applied.commits += 1;
            }
            // The MERGE first, unversioned: replayed after a crash before the append, it
            // changes nothing (a change applies only over an older `_commit_lsn`). The
            // append carries the version, so it is written once.
            if !known.is_empty() {
                let version = new.is_empty().then_some(last);
                self.merge(&known, version).await?;
                applied.commits += 1;
            }
            if !new.is_empty() {
                let rows = batch::current_batch(&self.table, &new, false)?;
                self.current = write_rows(
                    &self.current,
                    rows,
                    SaveMode::Append,
                    &self.app_id,
                    Some(last),
                )
                .await?;
                applied.commits += 1;
            }
            self.current_version = Some(last);
        }
        Ok(applied)
    }

    /// MERGEs `folded` (one change per key) into the current state, recording `version` with
    /// the commit when given. A MERGE reads every file of the table (its condition is the key
    /// alone), so [`TablePair::apply`] sends it only the keys the table may already hold.
    async fn merge(&mut self, folded: &[Change], version: Option<Lsn>) -> Result<()> {
        let source = batch::current_batch(&self.table, folded, true)?;
        let source = SessionContext::new().read_batch(source)?;
        let on = self
            .table
            .key_columns()
            .map(|(_, c)| format!("target.{0} = source.{0}", quoted(&c.name)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let newer = format!("source.{0} > target.{0}", quoted(COMMIT_LSN));
        let is_delete = format!("source.{} = 'delete'", quoted(OP));
        let schema = batch::current_schema(&self.table);
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let toastable: Vec<bool> = columns
            .iter()
            .map(|name| {
                self.table
                    .column_index(name)
                    .is_some_and(|i| self.table.columns[i].ty.toastable())
            })
            .collect();
        let table = self.current.clone();
        let (table, _metrics) = table
            .merge(source, on)
            .with_source_alias("source")
            .with_target_alias("target")
            .with_merge_schema(true)
            .with_commit_properties(commit_properties(&self.app_id, version))
            .when_matched_delete(|delete| delete.predicate(format!("{is_delete} AND {newer}")))?
            .when_matched_update(|mut update| {
                update = update.predicate(format!("NOT ({is_delete}) AND {newer}"));
                for (name, toastable) in columns.iter().zip(&toastable) {
                    let value = if *toastable {
                        // An out-of-line value the UPDATE did not send keeps the row's value.
                        format!(
                            "CASE WHEN source.{u} IS NOT NULL AND strpos(source.{u}, ',{name},') > 0 \
                             THEN target.{c} ELSE source.{c} END",
                            u = quoted(UNCHANGED),
                            c = quoted(name),
                        )
                    } else {
                        format!("source.{}", quoted(name))
                    };
                    update = update.update(name.as_str(), value);
                }
                update
            })?
            .when_not_matched_insert(|mut insert| {
                insert = insert.predicate(format!("NOT ({is_delete})"));
                for name in &columns {
                    insert = insert.set(name.as_str(), format!("source.{}", quoted(name)));
                }
                insert
            })?
            .await?;
        self.current = table;
        Ok(())
    }

    /// Writes one chunk of a backfill: the first chunk replaces the current state, later ones
    /// add to it; `done` (the snapshot's position) is recorded with the last chunk.
    pub async fn write_snapshot_chunk(
        &mut self,
        rows: &[Change],
        first: bool,
        done: Option<Lsn>,
    ) -> Result<()> {
        let mode = if first {
            SaveMode::Overwrite
        } else {
            SaveMode::Append
        };
        let current = batch::current_batch(&self.table, rows, false)?;
        self.current = write_rows(&self.current, current, mode, &self.app_id, done).await?;
        let log = batch::log_batch(&self.table, rows)?;
        self.log = write_rows(&self.log, log, SaveMode::Append, &self.app_id, done).await?;
        if let Some(version) = done {
            self.current_version = Some(version);
            self.log_version = Some(version);
        }
        Ok(())
    }
}

impl TablePair {
    /// OPTIMIZE (compaction) and VACUUM of both tables.
    pub async fn maintain(&mut self, retention: std::time::Duration) -> Result<()> {
        for table in [&mut self.current, &mut self.log] {
            *table = compact(table, retention).await?;
        }
        Ok(())
    }

    pub fn current_files(&self) -> Result<Vec<String>> {
        Ok(self.current.get_file_uris()?.collect())
    }

    pub fn log_files(&self) -> Result<Vec<String>> {
        Ok(self.log.get_file_uris()?.collect())
    }
}

/// `<root>/_replication`: one row per applied batch (the slot, the last commit LSN and commit
/// time applied, when), committed with the application transaction `payments:<slot>` after
/// the batch's data commits and before the slot is acknowledged. Its version is the position
/// the lake is complete through; readers see how fresh the lake is.
pub struct PositionTable {
    app_id: String,
    slot: String,
    table: DeltaTable,
    version: Option<Lsn>,
}

pub const POSITION_TABLE: &str = "_replication";

fn position_schema() -> deltalake::arrow::datatypes::SchemaRef {
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    std::sync::Arc::new(Schema::new(vec![
        Field::new("slot", DataType::Utf8, false),
        Field::new(COMMIT_LSN, DataType::Int64, false),
        Field::new("commit_lsn_text", DataType::Utf8, false),
        Field::new(batch::COMMIT_TIME, utc(), false),
        Field::new("applied_at", utc(), false),
        Field::new("transactions", DataType::Int64, false),
        Field::new("changes", DataType::Int64, false),
    ]))
}

impl PositionTable {
    pub async fn open(location: &DeltaLocation, slot: &str) -> Result<Self> {
        let app_id = format!("payments:{slot}");
        let table = open_or_create(location, POSITION_TABLE, &position_schema(), None).await?;
        let version = version_of(&table, &app_id).await?;
        Ok(PositionTable {
            app_id,
            slot: slot.to_owned(),
            table,
            version,
        })
    }

    /// The last position recorded for the slot.
    pub fn version(&self) -> Option<Lsn> {
        self.version
    }

    /// Records that everything committed up to `lsn` (at `commit_time`) is in the lake.
    pub async fn record(
        &mut self,
        lsn: Lsn,
        commit_time: chrono::DateTime<chrono::Utc>,
        transactions: usize,
        changes: usize,
    ) -> Result<()> {
        use deltalake::arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
        let micros = |t: chrono::DateTime<chrono::Utc>| {
            TimestampMicrosecondArray::from(vec![t.timestamp_micros()]).with_timezone("UTC")
        };
        let row = RecordBatch::try_new(
            position_schema(),
            vec![
                std::sync::Arc::new(StringArray::from(vec![self.slot.clone()])),
                std::sync::Arc::new(Int64Array::from(vec![
                    i64::try_from(lsn).unwrap_or(i64::MAX)
                ])),
                std::sync::Arc::new(StringArray::from(vec![crate::change::lsn_text(lsn)])),
                std::sync::Arc::new(micros(commit_time)),
                std::sync::Arc::new(micros(chrono::Utc::now())),
                std::sync::Arc::new(Int64Array::from(vec![transactions as i64])),
                std::sync::Arc::new(Int64Array::from(vec![changes as i64])),
            ],
        )?;
        self.table = self
            .table
            .clone()
            .write([row])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(commit_properties(&self.app_id, Some(lsn)))
            .await?;
        self.version = Some(lsn);
        Ok(())
    }

    /// OPTIMIZE (compaction) and VACUUM.
    pub async fn maintain(&mut self, retention: std::time::Duration) -> Result<()> {
        self.table = compact(&self.table, retention).await?;
        Ok(())
    }
}

/// OPTIMIZE (small files into larger ones), then VACUUM of the files no version younger than
/// `retention` uses. Delta's own 7-day floor is off: the replicator refuses anything under an
/// hour (`UpkeepConfig`).
async fn compact(table: &DeltaTable, retention: std::time::Duration) -> Result<DeltaTable> {
    let retention =
        chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::days(7));
    let (optimized, _) = table.clone().optimize().await?;
    let (vacuumed, _) = optimized
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(false)
        .await?;
    Ok(vacuumed)
}
