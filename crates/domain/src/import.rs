//! An import's model: where it stands, why it failed, why it waits for approval and its
//! counts. The names are the ones stored in PostgreSQL and written in JSON; with the `postgres`
//! feature they are encoded as text in queries (the database's CHECK lists the same names).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an import stands. The order of the variants is the order of progress. Stored as text
/// (the migration's CHECK lists the same names); serialised in the same lower-case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// The upload has started; nothing is known about the file yet.
    Received,
    /// The original bytes are in object storage and their SHA-256 is recorded.
    Stored,
    /// Analysed and reported; the approval policy holds it until a second identity approves
    /// (then it publishes) or rejects it.
    AwaitingApproval,
    /// Every unique row was handed to Kafka.
    Published,
    /// Every published row is either a transaction or a rejection.
    Done,
    /// The file was refused or a step broke; `failure` and `error` say why.
    Failed,
    /// A second identity refused it; nothing was published.
    Rejected,
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 7] = [
        ImportStatus::Received,
        ImportStatus::Stored,
        ImportStatus::AwaitingApproval,
        ImportStatus::Published,
        ImportStatus::Done,
        ImportStatus::Failed,
        ImportStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Received => "received",
            ImportStatus::Stored => "stored",
            ImportStatus::AwaitingApproval => "awaiting_approval",
            ImportStatus::Published => "published",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
            ImportStatus::Rejected => "rejected",
        }
    }

    /// Nothing moves an import out of these.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ImportStatus::Done | ImportStatus::Failed | ImportStatus::Rejected
        )
    }

    /// Still being read, checked or published: an interrupted import in one of these states
    /// can be run again (its rows keep their deterministic ids).
    pub fn is_resumable(self) -> bool {
        matches!(self, ImportStatus::Received | ImportStatus::Stored)
    }

    /// Whether an import in this state may move to `next`: forward only, to `failed` from
    /// anything not final, to `rejected` only from `awaiting_approval`.
    pub fn may_become(self, next: ImportStatus) -> bool {
        !self.is_final()
            && match next {
                ImportStatus::Failed => true,
                ImportStatus::Rejected => self == ImportStatus::AwaitingApproval,
                _ => self < next,
            }
    }
}

/// Why an import failed: the file itself, or the platform on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFailure {
    /// The file is not a CSV of payments (header, a malformed row, an encoding).
    InvalidFile,
    /// The upload was over the size limit.
    TooLarge,
    /// The upload broke off before its end.
    UploadInterrupted,
    /// Storage, database or broker failed; the file may be fine.
    PlatformUnavailable,
    /// Rows failed the checks and the policy holds the whole file, or no row passed them;
    /// nothing was published.
    InvalidRows,
    /// The file's control totals differ from what the sender expected; nothing was published.
    TotalsMismatch,
    /// Its importer stopped after reserving the file's payments and before publishing any, and
    /// nothing touched it for longer than the reservation lease; another import released them.
    Abandoned,
}

impl ImportFailure {
    pub const ALL: [ImportFailure; 7] = [
        ImportFailure::InvalidFile,
        ImportFailure::TooLarge,
        ImportFailure::UploadInterrupted,
        ImportFailure::PlatformUnavailable,
        ImportFailure::InvalidRows,
        ImportFailure::TotalsMismatch,
        ImportFailure::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportFailure::InvalidFile => "invalid_file",
            ImportFailure::TooLarge => "too_large",
            ImportFailure::UploadInterrupted => "upload_interrupted",
            ImportFailure::PlatformUnavailable => "platform_unavailable",
            ImportFailure::InvalidRows => "invalid_rows",
            ImportFailure::TotalsMismatch => "totals_mismatch",
            ImportFailure::Abandoned => "abandoned",
        }
    }
}

/// A name that is not one of an enum's variants.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a known {1}")]
pub struct UnknownName(String, &'static str);

/// `FromStr` and `Display` in the stored names, for an enum with `ALL` and `as_str`; and with
/// the `postgres` feature its encoding as text in queries.
macro_rules! text_enum {
    ($ty:ident, $what:literal) => {
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(text: &str) -> Result<Self, UnknownName> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| UnknownName(text.to_owned(), $what))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "postgres")]
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        #[cfg(feature = "postgres")]
        impl sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        #[cfg(feature = "postgres")]
        impl sqlx::Encode<'_, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'_, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        #[cfg(feature = "postgres")]
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $ty {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

/// Why an import waits for a second identity's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalReason {
    /// The uploader (or the PaymentImport) asked for it.
    Requested,
    /// Rows to publish are suspicious and the policy wants those approved.
    SuspiciousRows,
    /// A currency's amount to publish is above the policy's limit.
    AboveAmount,
    /// Rows whose payment already landed from another import: only they are held, the other
    /// rows publish.
    CrossFileDuplicates,
}

impl ApprovalReason {
    pub const ALL: [ApprovalReason; 4] = [
        ApprovalReason::Requested,
        ApprovalReason::SuspiciousRows,
        ApprovalReason::AboveAmount,
        ApprovalReason::CrossFileDuplicates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalReason::Requested => "requested",
            ApprovalReason::SuspiciousRows => "suspicious_rows",
            ApprovalReason::AboveAmount => "above_amount",
            ApprovalReason::CrossFileDuplicates => "cross_file_duplicates",
        }
    }

    /// What a person reads.
    pub fn describe(self) -> &'static str {
        match self {
            ApprovalReason::Requested => "approval was requested for this import",
            ApprovalReason::SuspiciousRows => "it has suspicious rows",
            ApprovalReason::AboveAmount => "its amount is above the approval limit",
            ApprovalReason::CrossFileDuplicates => {
                "rows repeat payments that already landed from another file"
            }
        }
    }
}

/// Whether an import held for `reasons` holds only some rows (its cross-file duplicates) and
/// publishes the others at once; otherwise it holds all of them.
pub fn holds_rows_only(reasons: &[ApprovalReason]) -> bool {
    reasons == [ApprovalReason::CrossFileDuplicates]
}

text_enum!(ImportStatus, "import status");
text_enum!(ImportFailure, "import failure");
text_enum!(ApprovalReason, "approval reason");

/// The file's rows: how many, unique, exact duplicates, suspicious and invalid (refused at
/// analysis, never published); then how many were published, and of those how many the
/// ingester stored or rejected.
// The one shape of these numbers, from the database to the PaymentImport status; ingested and
// rejected are counted from the data, never stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "postgres", derive(sqlx::FromRow))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportCounts {
    pub rows: i64,
    pub unique: i64,
    pub duplicates: i64,
    pub suspicious: i64,
    #[serde(default)]
    pub invalid: i64,
    /// Unique valid rows held back because their payment already landed from another import.
    #[serde(default)]
    pub cross_file_duplicates: i64,
    pub published: i64,
    pub ingested: i64,
    pub rejected: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_same_in_sql_and_json() {
        for status in ImportStatus::ALL {
            let json = serde_json::to_value(status).expect("serialises");
            assert_eq!(json, status.as_str());
            assert_eq!(status.as_str().parse::<ImportStatus>().ok(), Some(status));
        }
        for failure in ImportFailure::ALL {
            let json = serde_json::to_value(failure).expect("serialises");
            assert_eq!(json, failure.as_str());
            assert_eq!(
                failure.as_str().parse::<ImportFailure>().ok(),
                Some(failure)
            );
        }
    }

    #[test]
    fn an_import_moves_forward_or_fails_until_it_is_final() {
        use ImportStatus::*;
        assert!(Received.may_become(Stored) && Stored.may_become(Published));
        assert!(Stored.may_become(Done) && Published.may_become(Done));
        assert!(Received.may_become(Failed) && Published.may_become(Failed));
        assert!(!Published.may_become(Stored) && !Stored.may_become(Stored));
        assert!(Stored.may_become(AwaitingApproval) && AwaitingApproval.may_become(Published));
        assert!(AwaitingApproval.may_become(Rejected) && AwaitingApproval.may_become(Failed));
        assert!(!Stored.may_become(Rejected) && !Published.may_become(Rejected));
        assert!(!Rejected.may_become(Published) && !Published.may_become(AwaitingApproval));
        assert!(!Done.may_become(Failed) && !Failed.may_become(Done));
    }
}
