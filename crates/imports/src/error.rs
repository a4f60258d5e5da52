//! What can go wrong running an import, and what a failed import records about it.

use std::io;

use payments_domain::import::ImportFailure;
use payments_objectstore::ObjectStoreError;
use payments_store::StoreError;
use payments_stream::StreamError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ObjectStore(#[from] ObjectStoreError),
    /// The broker, while publishing or setting up.
    #[error(transparent)]
    Kafka(#[from] StreamError),
    #[error("the upload is larger than the limit")]
    TooLarge,
    #[error("reading the upload: {0}")]
    Upload(#[from] io::Error),
    #[error("the import task failed: {0}")]
    Task(String),
    /// The analyser could not do its work (its temporary disk space, say); the file may be fine.
    #[error(transparent)]
    Analyser(payments_csv::ImportError),
    #[error("no import {0}")]
    NotFound(Uuid),
    /// A correction of an import that cannot be corrected.
    #[error("the file cannot correct that import: {0}")]
    CannotCorrect(String),
    /// An approval or rejection that may not be recorded.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// Why an approval or rejection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the identity that started an import cannot approve or reject it; a second person must"
    )]
    SameIdentity,
    #[error("an identity is needed to approve or reject an import")]
    Anonymous,
    #[error("{0} decided this import already")]
    DecidedBy(String),
    #[error("the import is {0}, not awaiting approval")]
    NotAwaiting(payments_domain::import::ImportStatus),
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

impl PipelineError {
    /// What a failed import records: the upload's own fault, or the platform's.
    pub fn failure(&self) -> ImportFailure {
        match self {
            PipelineError::TooLarge => ImportFailure::TooLarge,
            PipelineError::Upload(_) => ImportFailure::UploadInterrupted,
            _ => ImportFailure::PlatformUnavailable,
        }
    }
}

/// An upload that broke off: over the limit (`io::ErrorKind::FileTooLarge`, which front ends
/// set when they cut a body off) or otherwise.
pub(crate) fn upload_error(e: io::Error) -> PipelineError {
    if e.kind() == io::ErrorKind::FileTooLarge {
        PipelineError::TooLarge
    } else {
        PipelineError::Upload(e)
    }
}
