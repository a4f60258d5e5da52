use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The counts are the platform's own type, shown as they are.
pub use payments_store::ImportCounts;

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
    printcolumn = r#"{"name":"Ingested","type":"integer","jsonPath":".status.counts.ingested"}"#,
    printcolumn = r#"{"name":"Rejected","type":"integer","jsonPath":".status.counts.rejected"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Import","type":"string","priority":1,"jsonPath":".status.importId"}"#
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
    /// `Ready` first, then `Validated`, `Published`, `Ingested`.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<DateTime<Utc>>,
    /// What a person should know, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A condition in the shape of `metav1.Condition`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Validated`, `Published` or `Ingested`.
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
