use payments_imports::PipelineError;

/// Everything the controller can fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{}: {}", .0.reason, .0.message)]
    Import(Problem),
    #[error("{0} has no {1}")]
    MissingField(String, &'static str),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("the controller task stopped: {0}")]
    Stopped(String),
    #[error("the PaymentImport CRD is not installed (apply k8s/crds/paymentimports.payments.dev.yaml): {0}")]
    CrdMissing(kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an import cannot go on right now, as a condition reason and a sentence for a person.
/// Every problem is retried with backoff: objects appear, services come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Problem {
            reason,
            message: message.into(),
        }
    }

    /// The reason a platform failure shows under.
    pub fn from_pipeline(error: &PipelineError) -> Self {
        let reason = match error {
            PipelineError::Store(_) => "DatabaseUnavailable",
            PipelineError::ObjectStore(_) | PipelineError::Upload(_) => "StorageUnavailable",
            PipelineError::TooLarge => "TooLarge",
            PipelineError::Kafka(_) => "BrokerUnavailable",
            PipelineError::Analyser(_) => "ScratchSpaceUnavailable",
            PipelineError::Task(_) | PipelineError::NotFound(_) => "ImportInterrupted",
            PipelineError::Refused(_) => "DecisionRefused",
            PipelineError::CannotCorrect(_) => "InvalidSpec",
        };
        Problem::new(reason, error.to_string())
    }
}

impl From<PipelineError> for Error {
    fn from(error: PipelineError) -> Self {
        Error::Import(Problem::from_pipeline(&error))
    }
}
