use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use payments_domain::import::{ApprovalReason, ImportCounts};
/// The counts and totals are the platform's own types, shown as they are.
pub use payments_domain::{ExpectedTotals, ImportTotals, InvalidRowsPolicy};

/// Imports one CSV file of payments: the file is checked, exact duplicates are dropped,
/// suspicious rows are flagged and every unique row is sent for ingestion exactly once.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "payments.dev",
    version = "v1alpha1",
    kind = "PaymentImport",
    plural = "paymentimports",
    shortname = "pimport",
    namespaced,
    status = "PaymentImportStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Rows","type":"integer","jsonPath":".status.counts.rows"}"#,
    printcolumn = r#"{"name":"Duplicates","type":"integer","jsonPath":".status.counts.duplicates"}"#,
    printcolumn = r#"{"name":"Suspicious","type":"integer","jsonPath":".status.counts.suspicious"}"#,
    printcolumn = r#"{"name":"Invalid","type":"integer","jsonPath":".status.counts.invalid"}"#,
    printcolumn = r#"{"name":"Ingested","type":"integer","jsonPath":".status.counts.ingested"}"#,
    printcolumn = r#"{"name":"Rejected","type":"integer","jsonPath":".status.counts.rejected"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Import","type":"string","priority":1,"jsonPath":".status.importId"}"#,
    printcolumn = r#"{"name":"StartedBy","type":"string","priority":1,"jsonPath":".status.startedBy"}"#,
    printcolumn = r#"{"name":"Held","type":"integer","priority":1,"jsonPath":".status.counts.cross_file_duplicates"}"#,
    printcolumn = r#"{"name":"Approved","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Approved\")].reason"}"#,
    printcolumn = r#"{"name":"DecidedBy","type":"string","priority":1,"jsonPath":".status.decidedBy"}"#,
    printcolumn = r#"{"name":"DecidedAt","type":"date","priority":1,"jsonPath":".status.decidedAt"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self == oldSelf",
    "message": "spec is immutable: an import is a record of what was imported; delete and re-create the PaymentImport to import something else"
}]))]
pub struct PaymentImportSpec {
    /// Where the CSV file is.
    pub source: Source,
    /// Rows with an amount above this are reported as suspicious (and still imported).
    /// A decimal string; 8000 when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"))]
    pub suspicious_threshold: Option<String>,
    /// Check every row against the database and publish nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// What the sender says the file holds, per currency: `amount` (a decimal string) and,
    /// optionally, `rows`. Any difference fails the import before anything is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_totals: Option<ExpectedTotals>,
    /// Rows that fail the checks: `publish_valid` (the platform's setting when omitted) or
    /// `hold_file` (publish nothing while any row is invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_rows: Option<InvalidRowsPolicy>,
    /// Hold the import, checked and stored, until someone other than its creator approves it
    /// (annotation `payments.dev/approved-by`) or rejects it (`payments.dev/rejected-by`).
    /// The platform's approval policy may hold it too (suspicious rows, large amounts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_approval: bool,
}

impl PaymentImportSpec {
    /// An import of `source` with every other setting at its default.
    pub fn of(source: Source) -> PaymentImportSpec {
        PaymentImportSpec {
            source,
            suspicious_threshold: None,
            dry_run: false,
            expected_totals: None,
            invalid_rows: None,
            require_approval: false,
        }
    }
}

/// Exactly one of `s3` or `configMap`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.s3) != has(self.configMap)",
    "message": "set exactly one of s3 or configMap"
}]))]
pub struct Source {
    /// An object in S3 (MinIO): the usual place, any size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Object>,
    /// A key of a ConfigMap in the same namespace, for small files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapKey>,
}

impl Source {
    /// The object `key` in the platform's bucket.
    pub fn s3(key: impl Into<String>) -> Source {
        Source {
            s3: Some(S3Object {
                bucket: None,
                key: key.into(),
            }),
            config_map: None,
        }
    }

    /// The key `key` of the ConfigMap `name` in the import's namespace.
    pub fn config_map(name: impl Into<String>, key: impl Into<String>) -> Source {
        Source {
            s3: None,
            config_map: Some(ConfigMapKey {
                name: name.into(),
                key: key.into(),
            }),
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct S3Object {
    /// Bucket name; the platform's `files-imported` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Object key of the CSV file.
    pub key: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ConfigMapKey {
    /// ConfigMap name.
    pub name: String,
    /// Key holding the CSV text.
    pub key: String,
}

/// How the import went, per the Kubernetes API conventions.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentImportStatus {
    /// `Ready` first, then `Validated`, `Approved` (only when the import needs approval),
    /// `Published`, `Ingested`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The import's id in the platform (`/imports/{id}`, `GET /api/imports/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
    #[serde(default)]
    pub counts: ImportCounts,
    /// Per currency: rows and amounts of the file, its unique, suspicious, invalid and
    /// publishable rows, and of the transactions stored from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<ImportTotals>,
    /// The first rows that failed the checks (never published), with every reason; the full
    /// list is on the import's page and in the API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid_rows: Vec<RowProblem>,
    /// Who created the PaymentImport (its `payments.dev/created-by` annotation, which the
    /// admission policy checks against the apiserver's user), or who uploaded the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// Why the import waits for a second person's approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval_reasons: Vec<ApprovalReason>,
    /// Who approved or rejected the import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<DateTime<Utc>>,
    /// What a person should know, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One row of the file that failed the checks.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RowProblem {
    /// Data row number (the header excluded), 1-based.
    pub row: u64,
    pub reasons: Vec<String>,
}

/// A condition in the shape of `metav1.Condition`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Validated`, `Approved`, `Published` or `Ingested`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(regex(pattern = "^(True|False|Unknown)$"))]
    pub status: String,
    /// CamelCase reason, e.g. `ObjectNotFound`, `Published`.
    pub reason: String,
    #[serde(default)]
    pub message: String,
    pub last_transition_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
