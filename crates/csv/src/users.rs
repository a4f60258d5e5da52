//! Users files (`payments users import`, `POST /api/users`), read where CSVs are read: the header
//! checked, each row parsed into a [`UserRow`] or the [`UserProblem`] that keeps it out. Two
//! layouts, columns in any order and named case-insensitively: the original platform's export
//! (`user_id,name,username,user_creation_date,email,active`) and the short `username,name,email`
//! (optionally `active`). Pure and streaming ([`UsersReader`]); the store writes the rows.

use std::fmt;
use std::io::{self, Read};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use payments_domain::money::shorten;
use payments_domain::time::parse_timestamp;
use serde::Serialize;
use uuid::Uuid;

/// Why a users file cannot be read at all; nothing of it is loaded.
#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    #[error("the users file's header cannot be used: {0}")]
    Header(HeaderProblem),
    #[error("reading the users file failed: {0}")]
    Read(io::Error),
}

/// Longest field read, in bytes: no column of `users` needs more, and a longer one is a wrong
/// file rather than a user.
pub const MAX_FIELD_BYTES: usize = 1024;
/// The `users` table's limits, in characters as PostgreSQL counts them.
const MAX_USERNAME_CHARS: usize = 100;
const MAX_NAME_CHARS: usize = 200;

/// Why a row was not loaded. Serialised as its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserProblem {
    /// The CSV reader's own complaint: a wrong number of fields, text that is not UTF-8.
    Unreadable(String),
    FieldTooLong(Column),
    Missing(Column),
    TooManyChars {
        column: Column,
        max: usize,
    },
    Email(String),
    UserId(String),
    CreationDate(String),
    Active(String),
    UsernameTaken(String),
    EmailTaken(String),
    UserIdTaken(Uuid),
    /// Any other refusal by the database, with its message.
    Refused(String),
}

impl fmt::Display for UserProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserProblem::Unreadable(why) => write!(f, "unreadable row: {why}"),
            UserProblem::FieldTooLong(column) => {
                write!(f, "`{column}` is longer than {MAX_FIELD_BYTES} bytes")
            }
            UserProblem::Missing(column) => write!(f, "`{column}` is empty"),
            UserProblem::TooManyChars { column, max } => {
                write!(f, "`{column}` is longer than {max} characters")
            }
            UserProblem::Email(value) => {
                write!(f, "`email` has no '@' after its first character: {value:?}")
            }
            UserProblem::UserId(value) => write!(f, "`user_id` is not a UUID: {value:?}"),
            UserProblem::CreationDate(value) => write!(
                f,
                "`user_creation_date` is not a past `YYYY-MM-DD HH:MM:SS` (UTC) nor an ISO-8601 \
                 timestamp with offset: {value:?}"
            ),
            UserProblem::Active(value) => {
                write!(f, "`active` is not true/false, 1/0 or yes/no: {value:?}")
            }
            UserProblem::UsernameTaken(username) => {
                write!(f, "username {username:?} belongs to another user")
            }
            UserProblem::EmailTaken(email) => {
                write!(f, "email {email:?} belongs to another user")
            }
            UserProblem::UserIdTaken(id) => write!(
                f,
                "user_id {id} (derived from the username) belongs to another user"
            ),
            UserProblem::Refused(message) => write!(f, "refused by the database: {message}"),
        }
    }
}

impl Serialize for UserProblem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The columns a users file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    UserId,
    Name,
    Username,
    CreationDate,
    Email,
    Active,
}

impl Column {
    const ALL: [Column; 6] = [
        Column::UserId,
        Column::Name,
        Column::Username,
        Column::CreationDate,
        Column::Email,
        Column::Active,
    ];
    const REQUIRED: [Column; 3] = [Column::Username, Column::Name, Column::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Column::UserId => "user_id",
            Column::Name => "name",
            Column::Username => "username",
            Column::CreationDate => "user_creation_date",
            Column::Email => "email",
            Column::Active => "active",
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a header cannot be read as a users file; nothing of such a file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    Empty,
    Unknown(String),
    Duplicate(Column),
    Missing(Column),
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderProblem::Empty => f.write_str("the file is empty"),
            HeaderProblem::Unknown(name) => write!(
                f,
                "unknown column {:?} (known: user_id, name, username, user_creation_date, \
                 email, active)",
                shorten(name)
            ),
            HeaderProblem::Duplicate(column) => write!(f, "column `{column}` appears twice"),
            HeaderProblem::Missing(column) => write!(
                f,
                "column `{column}` is missing (username, name and email are required)"
            ),
        }
    }
}

/// One valid row. Absent optional values leave an existing user's as they are; a new user
/// gets [`payments_domain::demo::derived_user_id`], the current time and `active`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub user_id: Option<Uuid>,
    pub username: String,
    pub name: String,
    pub email: String,
    pub created_at: Option<DateTime<Utc>>,
    pub active: Option<bool>,
}

/// A data row's number and what it holds.
pub type ParsedRow = (u64, Result<UserRow, UserProblem>);

/// Where each column is in the file.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    positions: [Option<usize>; Column::ALL.len()],
}

impl Layout {
    fn from_header(header: &csv::StringRecord) -> Result<Layout, HeaderProblem> {
        if header.iter().all(|name| name.trim().is_empty()) {
            return Err(HeaderProblem::Empty);
        }
        let mut layout = Layout::default();
        for (position, name) in header.iter().enumerate() {
            let name = name.trim();
            let index = Column::ALL
                .iter()
                .position(|c| c.as_str().eq_ignore_ascii_case(name))
                .ok_or_else(|| HeaderProblem::Unknown(name.to_owned()))?;
            if layout.positions[index].replace(position).is_some() {
                return Err(HeaderProblem::Duplicate(Column::ALL[index]));
            }
        }
        match Column::REQUIRED
            .into_iter()
            .find(|c| layout.position(*c).is_none())
        {
            Some(missing) => Err(HeaderProblem::Missing(missing)),
            None => Ok(layout),
        }
    }

    fn position(&self, column: Column) -> Option<usize> {
        let index = Column::ALL.iter().position(|c| *c == column)?;
        self.positions[index]
    }

    /// The column's trimmed value; empty or absent is `None`.
    fn value<'r>(&self, record: &'r csv::StringRecord, column: Column) -> Option<&'r str> {
        self.position(column)
            .and_then(|p| record.get(p))
            .filter(|v| !v.is_empty())
    }

    fn row(&self, record: &csv::StringRecord, now: DateTime<Utc>) -> Result<UserRow, UserProblem> {
        if let Some(position) = record.iter().position(|v| v.len() > MAX_FIELD_BYTES) {
            let column = Column::ALL
                .into_iter()
                .find(|c| self.position(*c) == Some(position))
                .unwrap_or(Column::Name);
            return Err(UserProblem::FieldTooLong(column));
        }
        let text = |column: Column, max: usize| {
            let value = self
                .value(record, column)
                .ok_or(UserProblem::Missing(column))?;
            if value.chars().count() > max {
                return Err(UserProblem::TooManyChars { column, max });
            }
            Ok(value.to_owned())
        };
        let username = text(Column::Username, MAX_USERNAME_CHARS)?;
        let name = text(Column::Name, MAX_NAME_CHARS)?;
        let email = text(Column::Email, MAX_FIELD_BYTES)?;
        // The table's check: an '@' that is not the first character.
        if !email.char_indices().any(|(i, c)| c == '@' && i > 0) {
            return Err(UserProblem::Email(shorten(&email)));
        }
        let user_id = self
            .value(record, Column::UserId)
            .map(|v| Uuid::parse_str(v).map_err(|_| UserProblem::UserId(shorten(v))))
            .transpose()?;
        let created_at = self
            .value(record, Column::CreationDate)
            .map(|v| {
                parse_creation_date(v, now).ok_or_else(|| UserProblem::CreationDate(shorten(v)))
            })
            .transpose()?;
        let active = self
            .value(record, Column::Active)
            .map(|v| parse_active(v).ok_or_else(|| UserProblem::Active(shorten(v))))
            .transpose()?;
        Ok(UserRow {
            user_id,
            username,
            name,
            email,
            created_at,
            active,
        })
    }
}

/// The original platform's `YYYY-MM-DD HH:MM:SS`, read as UTC, or any timestamp the payments
/// files accept; rounded to microseconds as PostgreSQL stores it, so a reload compares equal.
fn parse_creation_date(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    parse_timestamp(text, now)
        .or_else(|_| parse_timestamp(&format!("{text} UTC"), now))
        .ok()
        .and_then(|t| t.duration_round(TimeDelta::microseconds(1)).ok())
}

/// The original platform writes `True`/`False`; spreadsheets write `1`/`0` or `yes`/`no`.
fn parse_active(text: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "1", "yes"];
    const FALSE: [&str; 3] = ["false", "0", "no"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(text)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(text)) {
        Some(false)
    } else {
        None
    }
}

/// The rows of a users file, read one at a time. Yields an error only when reading itself
/// fails (the file broke off); a bad row is an `Err` inside the item.
pub struct UsersReader<R> {
    csv: csv::Reader<R>,
    layout: Layout,
    record: csv::StringRecord,
    row: u64,
    now: DateTime<Utc>,
}

impl<R: Read> UsersReader<R> {
    /// Reads the header. Dates more than a day after `now` are refused, as in payments.
    pub fn new(reader: R, now: DateTime<Utc>) -> Result<Self, UsersFileError> {
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header = csv
            .headers()
            .map_err(|e| UsersFileError::Read(read_error(e)))?;
        let layout = Layout::from_header(header).map_err(UsersFileError::Header)?;
        Ok(UsersReader {
            csv,
            layout,
            record: csv::StringRecord::new(),
            row: 0,
            now,
        })
    }
}

impl<R: Read> Iterator for UsersReader<R> {
    type Item = Result<ParsedRow, io::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let read = self.csv.read_record(&mut self.record);
        match read {
            Ok(false) => None,
            Ok(true) => {
                self.row += 1;
                Some(Ok((self.row, self.layout.row(&self.record, self.now))))
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => Some(Err(read_error(e))),
            Err(e) => {
                self.row += 1;
                Some(Ok((self.row, Err(UserProblem::Unreadable(row_error(&e))))))
            }
        }
    }
}

fn read_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// The csv crate's message without its position, which counts lines, not data rows.
fn row_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    /// The rows of `text`, or why the file cannot be read.
    fn read(text: &str) -> Result<Vec<ParsedRow>, UsersFileError> {
        UsersReader::new(text.as_bytes(), now())?
            .collect::<Result<_, _>>()
            .map_err(UsersFileError::Read)
    }

    fn problems(text: &str) -> Vec<(u64, UserProblem)> {
        read(text)
            .unwrap()
            .into_iter()
            .filter_map(|(row, user)| user.err().map(|p| (row, p)))
            .collect()
    }

    #[test]
    fn reads_the_original_platforms_export() {
        let rows = read(
            "user_id,name,username,user_creation_date,email,active\n\
             46262ec5-3785-4148-b23a-721d2e78a9cc,Marcos Pampuch,marcos2349,2025-01-01 12:34:45,marcos2349@gmail.com,True\n\
             0b9c6f3e-2f4d-4a43-9a53-000000000002,Ana Lima,ana77,2024-12-31 23:59:59,ana77@example.com,False\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            (
                1,
                Ok(UserRow {
                    user_id: Some("46262ec5-3785-4148-b23a-721d2e78a9cc".parse().unwrap()),
                    username: "marcos2349".into(),
                    name: "Marcos Pampuch".into(),
                    email: "marcos2349@gmail.com".into(),
                    created_at: Some("2025-01-01T12:34:45Z".parse().unwrap()),
                    active: Some(true),
                })
            )
        );
        assert_eq!(rows[1].1.as_ref().unwrap().active, Some(false));
    }

    #[test]
    fn reads_the_short_form_in_any_order_and_case() {
        let rows = read(" Email ,USERNAME,name\nbob@example.com, bob ,Bob Stone\n").unwrap();
        assert_eq!(
            rows,
            vec![(
                1,
                Ok(UserRow {
                    user_id: None,
                    username: "bob".into(),
                    name: "Bob Stone".into(),
                    email: "bob@example.com".into(),
                    created_at: None,
                    active: None,
                })
            )]
        );
    }

    #[test]
    fn an_unusable_header_names_the_column() {
        let header = |text: &str| match read(text) {
            Err(UsersFileError::Header(problem)) => problem,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            header("username,name,email,phone\n"),
            HeaderProblem::Unknown("phone".into())
        );
        assert_eq!(
            header("username,name\n"),
            HeaderProblem::Missing(Column::Email)
        );
        assert_eq!(
            header("username,name,email,Name\n"),
            HeaderProblem::Duplicate(Column::Name)
        );
        assert_eq!(header(""), HeaderProblem::Empty);
        assert!(HeaderProblem::Unknown("phone".into())
            .to_string()
            .contains("unknown column \"phone\""));
    }

    #[test]
    fn each_bad_row_is_named_and_the_rest_are_read() {
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        let text = format!(
            "username,name,email,active,user_id,user_creation_date\n\
             ok,Fine,ok@example.com,yes,,\n\
             ,No Name,a@example.com,,,\n\
             c,C,@example.com,,,\n\
             d,D,d@example.com,maybe,,\n\
             e,E,e@example.com,,not-a-uuid,\n\
             f,F,f@example.com,,,yesterday\n\
             g,G,g@example.com,,,2030-01-01 00:00:00\n\
             h,{long},h@example.com,,,\n\
             {},I,i@example.com,,,\n\
             j,J\n\
             k,K,k@example.com,NO,,2025-01-01T10:00:00+02:00\n",
            "u".repeat(MAX_USERNAME_CHARS + 1),
        );
        let found = problems(&text);
        let rows: Vec<u64> = found.iter().map(|(row, _)| *row).collect();
        assert_eq!(rows, [2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(found[0].1, UserProblem::Missing(Column::Username));
        assert_eq!(found[1].1, UserProblem::Email("@example.com".into()));
        assert_eq!(found[2].1, UserProblem::Active("maybe".into()));
        assert_eq!(found[3].1, UserProblem::UserId("not-a-uuid".into()));
        assert_eq!(found[4].1, UserProblem::CreationDate("yesterday".into()));
        assert!(matches!(found[5].1, UserProblem::CreationDate(_)), "future");
        assert_eq!(found[6].1, UserProblem::FieldTooLong(Column::Name));
        assert_eq!(
            found[7].1,
            UserProblem::TooManyChars {
                column: Column::Username,
                max: MAX_USERNAME_CHARS
            }
        );
        assert_eq!(
            found[8].1.to_string(),
            "unreadable row: 2 fields where the header has 6"
        );
        let last = read(&text).unwrap().pop().unwrap();
        let last = last.1.unwrap();
        assert_eq!(last.active, Some(false));
        assert_eq!(
            last.created_at,
            Some("2025-01-01T08:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn active_accepts_the_usual_spellings() {
        for (text, value) in [
            ("True", Some(true)),
            ("FALSE", Some(false)),
            ("1", Some(true)),
            ("0", Some(false)),
            ("Yes", Some(true)),
            ("no", Some(false)),
            ("y", None),
            ("2", None),
        ] {
            assert_eq!(parse_active(text), value, "{text}");
        }
    }

    #[test]
    fn reasons_serialise_as_their_message() {
        assert_eq!(
            serde_json::to_value(UserProblem::EmailTaken("a@example.com".into())).unwrap(),
            serde_json::json!("email \"a@example.com\" belongs to another user")
        );
    }
}
