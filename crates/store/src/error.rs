/// Everything that can go wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Concurrent writers kept changing what a statement depends on; trying again may succeed.
    #[error("{0}")]
    Conflict(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("dashboard question {question}: column {column} has type {type_name}, which answers do not decode")]
    UnsupportedColumn {
        question: &'static str,
        column: String,
        type_name: String,
    },
    /// A value sqlx could not encode for a binary `COPY`.
    #[error("encoding a row for COPY failed: {0}")]
    Encode(String),
    /// A users file whose header names no usable layout; nothing of it was loaded.
    #[error("the users file's header is unusable: {0}")]
    UsersHeader(payments_csv::users::HeaderProblem),
    /// Reading a users file broke off (an upload cut short, over the size limit: see the
    /// error's kind); nothing of it was loaded.
    #[error("reading the users file failed: {0}")]
    UsersRead(std::io::Error),
    /// A partition's stored offset is behind what this process committed there: the database
    /// lost commits (a restore). Nothing was written.
    #[error("the database's offset of {topic}[{partition}] is {stored}, behind the {committed} this ingester committed: the database lost commits (restored?); reading the partition again from the database's offset")]
    DatabaseBehind {
        topic: String,
        partition: i32,
        stored: i64,
        committed: i64,
    },
    /// PostgreSQL's message only: its context would quote the statement, password included.
    #[error("setting up a login role failed: {0}")]
    Role(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// True when the database refused the data itself (constraint or data exception), as opposed
    /// to being unreachable: retrying the same statement cannot succeed.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
            StoreError::Encode(_) => true,
            _ => false,
        }
    }
}
