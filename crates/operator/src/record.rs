//! Makes an import that started elsewhere (the web importer, the JSON API) visible to
//! `kubectl`: a `PaymentImport` that names the import by annotation, which the controller
//! adopts and reports on instead of importing the file again.

use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use payments_imports::ImportReport;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::crd::{PaymentImport, PaymentImportSpec, S3Object, Source};
use crate::Result;

/// Names the import a `PaymentImport` reports on, when the import was started elsewhere.
pub const IMPORT_ID_ANNOTATION: &str = "payments.dev/import-id";
/// The uploaded file's name, for people.
pub const FILE_NAME_ANNOTATION: &str = "payments.dev/file-name";

/// The resource name of an upload's `PaymentImport`.
pub fn upload_name(id: Uuid) -> String {
    format!("upload-{id}")
}

/// Creates `PaymentImport`s for uploads, in one namespace.
#[derive(Clone)]
pub struct UploadRecorder {
    api: Api<PaymentImport>,
    bucket: String,
}

impl UploadRecorder {
    pub fn new(client: Client, namespace: &str, bucket: &str) -> Self {
        UploadRecorder {
            api: Api::namespaced(client, namespace),
            bucket: bucket.to_owned(),
        }
    }

    /// Records an upload that has been handled; `Ok(None)` when there is nothing to point at
    /// (the bytes never reached storage). Recording twice is harmless.
    pub async fn record(
        &self,
        report: &ImportReport,
        threshold: Decimal,
        dry_run: bool,
    ) -> Result<Option<PaymentImport>> {
        let Some(key) = &report.object_key else {
            return Ok(None);
        };
        let name = upload_name(report.id);
        let import = PaymentImport {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_owned(),
                        "payments-importer".to_owned(),
                    )]
                    .into(),
                ),
                annotations: Some(
                    [
                        (IMPORT_ID_ANNOTATION.to_owned(), report.id.to_string()),
                        (FILE_NAME_ANNOTATION.to_owned(), report.file_name.clone()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: PaymentImportSpec {
                source: Source {
                    s3: Some(S3Object {
                        bucket: Some(self.bucket.clone()),
                        key: key.clone(),
                    }),
                    config_map: None,
                },
                suspicious_threshold: Some(threshold.normalize().to_string()),
                dry_run,
                // The web import ran already; its page and API hold what it was checked against.
                expected_totals: None,
                invalid_rows: None,
            },
            status: None,
        };
        match self.api.create(&PostParams::default(), &import).await {
            Ok(created) => Ok(Some(created)),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Ok(Some(self.api.get(&name).await?))
            }
            Err(e) => Err(e.into()),
        }
    }
}
