//! Users loaded from a CSV file (`payments users import`, `POST /api/users`): added or updated,
//! never deleted, since transactions reference them; `active = false` deactivates a user and
//! keeps their history. A row with a `user_id` is matched by it, any other by its username; a
//! new user without an id gets [`derived_user_id`].
//!
//! The file is read by `payments_csv::users` (pure) on a blocking thread, streaming rows to the
//! database side, so a file is never held in memory.

use chrono::{DateTime, Utc};
use payments_csv::users::{UserProblem, UserRow, UsersFileError, UsersReader};
use payments_domain::demo::derived_user_id;
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;
use uuid::Uuid;

use crate::{Result, StoreError};

/// How far parsing may run ahead of the database.
const QUEUE: usize = 256;

/// What loading a users file did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsersImport {
    /// Data rows read (the header excluded), valid or not.
    pub rows: u64,
    pub added: u64,
    /// Existing users whose name, username, e-mail, creation date or activity changed (a
    /// reactivation included), except deactivations.
    pub updated: u64,
    /// Existing active users the file set to `active = false`.
    pub deactivated: u64,
    /// Rows that matched an existing user exactly.
    pub unchanged: u64,
    /// Rows not loaded.
    pub not_loaded: u64,
    /// Rows not loaded, in file order: the first [`MAX_LISTED`] (`not_loaded` counts them all),
    /// so a hostile file cannot make the answer grow without bound.
    pub invalid: Vec<InvalidUser>,
}

/// Rows not loaded that the answer lists.
pub const MAX_LISTED: usize = 10_000;

/// A row that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidUser {
    /// 1-based data row: the first row after the header is 1.
    pub row: u64,
    pub reason: UserProblem,
}

/// A user as stored, the columns a file can set.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct StoredUser {
    user_id: Uuid,
    name: String,
    username: String,
    email: String,
    user_creation_date: DateTime<Utc>,
    active: bool,
}

impl StoredUser {
    fn updated_by(&self, row: &UserRow) -> StoredUser {
        StoredUser {
            user_id: self.user_id,
            name: row.name.clone(),
            username: row.username.clone(),
            email: row.email.clone(),
            user_creation_date: row.created_at.unwrap_or(self.user_creation_date),
            active: row.active.unwrap_or(self.active),
        }
    }
}

enum Change {
    Added,
    Updated,
    Deactivated,
    Unchanged,
}

/// Loads a users file in one transaction: every valid row lands, every other one is reported
/// with its row number, including rows the database refuses (an e-mail or username of another
/// user), each written under its own savepoint. Fails as a whole only when the header is
/// unusable ([`StoreError::UsersHeader`]), reading breaks off ([`StoreError::UsersRead`]) or the
/// database is unavailable; then nothing is loaded.
pub async fn import_users<R>(pool: &PgPool, file: R) -> Result<UsersImport>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let (sender, mut parsed) = tokio::sync::mpsc::channel(QUEUE);
    let file = SyncIoBridge::new(file);
    let parser = tokio::task::spawn_blocking(move || -> Result<()> {
        let reader = UsersReader::new(file, Utc::now()).map_err(|e| match e {
            UsersFileError::Header(problem) => StoreError::UsersHeader(problem),
            UsersFileError::Read(e) => StoreError::UsersRead(e),
        })?;
        for item in reader.map(|item| item.map_err(StoreError::UsersRead)) {
            let broke_off = item.is_err();
            // A closed channel: the database side gave up, and reports why.
            if sender.blocking_send(item).is_err() || broke_off {
                break;
            }
        }
        Ok(())
    });
    let mut summary = UsersImport::default();
    let mut tx = pool.begin().await?;
    while let Some(item) = parsed.recv().await {
        let (row, user) = item?;
        summary.rows += 1;
        let problem = match user {
            Ok(user) => match upsert_user(&mut tx, &user).await? {
                Ok(Change::Added) => {
                    summary.added += 1;
                    continue;
                }
                Ok(Change::Updated) => {
                    summary.updated += 1;
                    continue;
                }
                Ok(Change::Deactivated) => {
                    summary.deactivated += 1;
                    continue;
                }
                Ok(Change::Unchanged) => {
                    summary.unchanged += 1;
                    continue;
                }
                Err(problem) => problem,
            },
            Err(problem) => problem,
        };
        summary.not_loaded += 1;
        if summary.invalid.len() < MAX_LISTED {
            summary.invalid.push(InvalidUser {
                row,
                reason: problem,
            });
        }
    }
    parser
        .await
        .map_err(|e| StoreError::UsersRead(std::io::Error::other(e)))??;
    tx.commit().await?;
    Ok(summary)
}

/// Spliced in with `format!`, hence `AssertSqlSafe` below: constant SQL, values are bound.
const SELECT_USER: &str =
    "SELECT user_id, name, username, email, user_creation_date, active FROM users";

/// Adds or updates one user; the inner `Err` is a refusal by the database, which leaves the
/// transaction usable.
async fn upsert_user(
    conn: &mut PgConnection,
    row: &UserRow,
) -> Result<Result<Change, UserProblem>> {
    let existing: Option<StoredUser> = match row.user_id {
        Some(id) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT_USER} WHERE user_id = $1 FOR UPDATE"
            )))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT_USER} WHERE username = $1 FOR UPDATE"
            )))
            .bind(&row.username)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    let (change, user) = match existing {
        None => (
            Change::Added,
            StoredUser {
                user_id: row
                    .user_id
                    .unwrap_or_else(|| derived_user_id(&row.username)),
                name: row.name.clone(),
                username: row.username.clone(),
                email: row.email.clone(),
                user_creation_date: row.created_at.unwrap_or_else(Utc::now),
                active: row.active.unwrap_or(true),
            },
        ),
        Some(old) => {
            let new = old.updated_by(row);
            if new == old {
                return Ok(Ok(Change::Unchanged));
            }
            let change = if old.active && !new.active {
                Change::Deactivated
            } else {
                Change::Updated
            };
            (change, new)
        }
    };
    let mut savepoint = conn.begin().await?;
    let written = write_user(&mut savepoint, &user, matches!(change, Change::Added)).await;
    match written {
        Ok(()) => {
            savepoint.commit().await?;
            Ok(Ok(change))
        }
        Err(e) => {
            savepoint.rollback().await?;
            match refusal(&e, &user) {
                Some(problem) => Ok(Err(problem)),
                None => Err(e.into()),
            }
        }
    }
}

async fn write_user(
    conn: &mut PgConnection,
    user: &StoredUser,
    new: bool,
) -> std::result::Result<(), sqlx::Error> {
    let sql = if new {
        "INSERT INTO users (user_id, name, username, email, user_creation_date, active)
         VALUES ($1, $2, $3, $4, $5, $6)"
    } else {
        "UPDATE users SET name = $2, username = $3, email = $4, user_creation_date = $5,
                          active = $6
         WHERE user_id = $1"
    };
    sqlx::query(sql)
        .bind(user.user_id)
        .bind(&user.name)
        .bind(&user.username)
        .bind(&user.email)
        .bind(user.user_creation_date)
        .bind(user.active)
        .execute(conn)
        .await?;
    Ok(())
}

/// The row's problem when the database refused its data (constraint or data exception);
/// `None` for anything else, which fails the file.
fn refusal(e: &sqlx::Error, user: &StoredUser) -> Option<UserProblem> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let code = db.code()?;
    if !(code.starts_with("22") || code.starts_with("23")) {
        return None;
    }
    Some(match db.constraint() {
        Some("users_username_key") => UserProblem::UsernameTaken(user.username.clone()),
        Some("users_email_key") => UserProblem::EmailTaken(user.email.clone()),
        Some("users_pkey") => UserProblem::UserIdTaken(user.user_id),
        _ => UserProblem::Refused(db.message().to_owned()),
    })
}
