//! Makes an import that started elsewhere (the web importer, the JSON API) visible to
//! `kubectl`: a `PaymentImport` that names the import by annotation, which the controller
//! adopts and reports on instead of importing the file again.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use payments_imports::ImportReport;
use rust_decimal::Decimal;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::crd::{PaymentImport, PaymentImportSpec, S3Object, Source};
use crate::{Error, Result};

/// Names the import a `PaymentImport` reports on, when the import was started elsewhere.
pub const IMPORT_ID_ANNOTATION: &str = "payments.dev/import-id";
/// The uploaded file's name, for people.
pub const FILE_NAME_ANNOTATION: &str = "payments.dev/file-name";
/// The Kubernetes user that created the `PaymentImport`. The admission policy
/// (`k8s/admission/paymentimport-identity.yaml`) refuses any other value, so it is the
/// apiserver's word, and it never changes afterwards.
pub const CREATED_BY_ANNOTATION: &str = "payments.dev/created-by";
/// Set by a user other than the creator (the admission policy checks both) to approve an
/// import that waits for approval; set once, never changed.
pub const APPROVED_BY_ANNOTATION: &str = "payments.dev/approved-by";
/// As [`APPROVED_BY_ANNOTATION`], to reject it (final).
pub const REJECTED_BY_ANNOTATION: &str = "payments.dev/rejected-by";
/// Why it was rejected, for people (optional).
pub const DECISION_NOTE_ANNOTATION: &str = "payments.dev/decision-note";

/// The resource name of an upload's `PaymentImport`.
pub fn upload_name(id: Uuid) -> String {
    format!("upload-{id}")
}

/// Creates `PaymentImport`s for uploads, in one namespace.
#[derive(Clone)]
pub struct UploadRecorder {
    client: Client,
    api: Api<PaymentImport>,
    bucket: String,
    /// This client's username, asked once, shared by the clones.
    username: std::sync::Arc<OnceCell<String>>,
}

impl UploadRecorder {
    pub fn new(client: Client, namespace: &str, bucket: &str) -> Self {
        UploadRecorder {
            api: Api::namespaced(client.clone(), namespace),
            client,
            bucket: bucket.to_owned(),
            username: Default::default(),
        }
    }

    /// The username the apiserver knows this client by, for `payments.dev/created-by` (the
    /// admission policy accepts no other). Asked of the apiserver (a SelfSubjectReview, what
    /// `kubectl auth whoami` does) rather than read from a variable the chart sets: it is
    /// right for any credential (a ServiceAccount, a kubeconfig outside a cluster) and
    /// cannot drift from the real one. Every authenticated user may ask.
    pub async fn username(&self) -> Result<&str> {
        let username = self
            .username
            .get_or_try_init(|| async {
                let review = Api::<SelfSubjectReview>::all(self.client.clone())
                    .create(&PostParams::default(), &SelfSubjectReview::default())
                    .await?;
                review
                    .status
                    .and_then(|s| s.user_info)
                    .and_then(|u| u.username)
                    .ok_or_else(|| {
                        Error::MissingField("SelfSubjectReview".into(), "status.userInfo.username")
                    })
            })
            .await?;
        Ok(username)
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
        let created_by = self.username().await?.to_owned();
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
                        (CREATED_BY_ANNOTATION.to_owned(), created_by),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            // The web import ran already: its page and API hold what it was checked against
            // (no expected totals here), and whether it waits for approval was decided there
            // too; it is approved on the web (page, API, `payments approve`), never through this
            // object.
            spec: PaymentImportSpec {
                suspicious_threshold: Some(threshold.normalize().to_string()),
                dry_run,
                ..PaymentImportSpec::of(Source {
                    s3: Some(S3Object {
                        bucket: Some(self.bucket.clone()),
                        key: key.clone(),
                    }),
                    config_map: None,
                })
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
