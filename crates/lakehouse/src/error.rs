use thiserror::Error;

#[derive(Debug, Error)]
pub enum LakehouseError {
    #[error("publication {0} has no tables: run `payments migrate` (it creates the publication)")]
    NoPublication(String),
    #[error(
        "table {table}: column {column} has type {ty}, which the lakehouse cannot store exactly"
    )]
    UnsupportedColumn {
        table: String,
        column: String,
        ty: String,
    },
    #[error("table {0} has no primary key, which its current-state table is merged on")]
    NoPrimaryKey(String),
    #[error("table {table}, column {column}: value {value:?} cannot be stored: {reason}")]
    Value {
        table: String,
        column: String,
        value: String,
        reason: String,
    },
    #[error("tables {0} were truncated; the lakehouse does not replicate TRUNCATE, rebuild it by dropping the replication slot")]
    Truncate(String),
    #[error("replication slot {0} is lost (its WAL passed max_slot_wal_keep_size); it is rebuilt from a new snapshot")]
    SlotLost(String),
    #[error("the replication stream ended")]
    SourceClosed,
    #[error("replication: {0}")]
    Replication(#[from] pg_walstream::ReplicationError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("delta lake: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("delta lake schema: {0}")]
    Kernel(#[from] deltalake::kernel::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("datafusion: {0}")]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("object store: {0}")]
    ObjectStore(#[from] deltalake::ObjectStoreError),
    #[error("table location: {0}")]
    Url(#[from] url::ParseError),
    #[error("health endpoint: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = LakehouseError> = std::result::Result<T, E>;
