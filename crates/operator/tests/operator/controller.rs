//! `payments controller` against a real kube-apiserver and the real stack: PostgreSQL, Kafka,
//! the S3 server, and the ingester running in-process to take published rows in.

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use payments_imports::{Import, ImportRequest, ImportStatus};
use payments_operator::{
    ControllerConfig, LeaseTiming, Operator, PaymentImport, PaymentImportSpec, Source, Timing,
};
use payments_testkit::{unique_name, wait_for, TestPlatform};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);

/// A namespace of the test's own on the real kube-apiserver, over a [`TestPlatform`] (`h.db`,
/// `h.objects`, `h.pipeline`, the topics).
struct Harness {
    client: Client,
    namespace: String,
    platform: TestPlatform,
}

impl std::ops::Deref for Harness {
    type Target = TestPlatform;

    fn deref(&self) -> &TestPlatform {
        &self.platform
    }
}

async fn harness() -> Harness {
    let client = super::client().await;
    super::install_crd(&client).await;
    let namespace = unique_name("pimport");
    let mut ns = Namespace::default();
    ns.metadata.name = Some(namespace.clone());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    Harness {
        client,
        namespace,
        platform: TestPlatform::start("operator-test").await,
    }
}

impl Harness {
    fn imports(&self) -> Api<PaymentImport> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// A replica with short lease timings, so fail-over takes seconds.
    async fn controller(&self, identity: &str) -> (Operator, CancellationToken) {
        let shutdown = CancellationToken::new();
        let config = ControllerConfig {
            namespace: self.namespace.clone(),
            lease_name: "payments-controller".into(),
            identity: identity.into(),
            lease: LeaseTiming {
                lease_duration: Duration::from_secs(3),
                renew_deadline: Duration::from_secs(2),
                retry_period: Duration::from_millis(400),
            },
            timing: Timing {
                progress_interval: Duration::from_millis(300),
                first_retry: Duration::from_millis(300),
                max_retry: Duration::from_secs(2),
            },
            http_addr: Some("127.0.0.1:0".parse().expect("address")),
        };
        let operator = payments_operator::start(
            config,
            self.client.clone(),
            self.pipeline.clone(),
            shutdown.clone(),
        )
        .await
        .expect("controller starts");
        (operator, shutdown)
    }

    async fn put_sample(&self, key: &str, sample: &str) {
        let text = payments_csv::sample_csv(sample).expect("a sample name");
        self.put(key, text.as_bytes()).await;
    }

    async fn put(&self, key: &str, bytes: &[u8]) {
        self.objects
            .put_stream(key, Cursor::new(bytes.to_vec()), "text/csv")
            .await
            .expect("upload the source object");
    }

    async fn create(&self, name: &str, source: Source) -> PaymentImport {
        self.create_with(name, PaymentImportSpec::of(source)).await
    }

    async fn create_with(&self, name: &str, spec: PaymentImportSpec) -> PaymentImport {
        let import = PaymentImport::new(name, spec);
        self.imports()
            .create(&PostParams::default(), &import)
            .await
            .expect("create the PaymentImport")
    }

    /// Waits until `Ready` has `status` and `reason`; returns the object then.
    async fn wait_ready(&self, name: &str, status: &str, reason: &str) -> PaymentImport {
        let imports = self.imports();
        wait_for(
            &format!("{name} to be Ready={status} ({reason})"),
            WAIT,
            || async {
                let import = imports.get(name).await.ok()?;
                let ready = import
                    .status
                    .as_ref()?
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")?;
                (ready.status == status && ready.reason == reason).then_some(import)
            },
        )
        .await
    }

    async fn count(&self, sql: &str) -> i64 {
        // `AssertSqlSafe`: only the tests' own SQL comes here.
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }

    /// Waits for an Event with `reason` about `name`: Events are recorded after the status
    /// write they describe, so a test that saw the status may be ahead of them.
    async fn event(&self, name: &str, reason: &str) -> Event {
        let events = Api::<Event>::namespaced(self.client.clone(), &self.namespace);
        let params = ListParams::default().fields(&format!("regarding.name={name}"));
        wait_for(&format!("a {reason} event about {name}"), WAIT, || async {
            events
                .list(&params)
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        })
        .await
    }

    /// An upload as the web importer runs it (a sample with duplicates and suspicious rows),
    /// and the recorder it would record it with, acting as `client`.
    async fn upload_with_recorder(
        &self,
        client: Client,
        file_name: &str,
    ) -> (
        payments_imports::ImportReport,
        payments_operator::UploadRecorder,
    ) {
        let bytes =
            payments_csv::sample_csv(payments_csv::samples::SUSPICIOUS_DUPLICATED).expect("sample");
        let report = self
            .pipeline
            .import(
                &ImportRequest::new(file_name),
                Cursor::new(bytes.into_bytes()),
            )
            .await
            .expect("import");
        let recorder =
            payments_operator::UploadRecorder::new(client, &self.namespace, self.objects.bucket());
        (report, recorder)
    }

    /// Stops `controller` (cleanly, releasing its lease), then the harness.
    async fn finish(self, controller: Operator, stop: CancellationToken) {
        stop.cancel();
        controller.wait().await.expect("controller stops");
        self.stop().await;
    }

    async fn stop(self) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.namespace, &DeleteParams::default())
            .await;
        self.platform.stop().await;
    }
}

/// A sample with duplicates and suspicious rows, plus one row the ingester must reject.
fn sample_with_a_bad_row() -> Vec<u8> {
    let mut text = payments_csv::sample_csv(payments_csv::samples::SUSPICIOUS_DUPLICATED)
        .expect("sample exists");
    text.push_str("nobody0000,jonas9882,10.00,USD,2025-07-07 01:04:27 UTC,completed\n");
    text.into_bytes()
}

/// `spec.expectedTotals` that differ stop the import before anything is published, with the
/// difference in the condition; the same file with the right totals lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_totals_that_differ_publish_nothing() {
    let h = harness().await;
    let bytes = sample_with_a_bad_row();
    h.put("uploads/checked.csv", &bytes).await;
    let summary = payments_csv::Analysis::new(&payments_csv::Options::default())
        .run(&bytes[..])
        .map(|(summary, _)| summary)
        .expect("the sample is well-formed");
    let file = &summary.totals.file;
    let right: String = file
        .currencies()
        .iter()
        .map(|t| format!("{}={}:{}", t.currency, t.rows, t.amount))
        .collect::<Vec<_>>()
        .join(",");
    let spec = |expected: &str| PaymentImportSpec {
        expected_totals: Some(expected.parse().expect("expected totals")),
        ..PaymentImportSpec::of(Source::s3("uploads/checked.csv"))
    };
    let (controller, stop) = h.controller("replica-a").await;
    // One row short in the first currency.
    let first = &file.currencies()[0];
    let short = right.replacen(
        &format!("{}={}:", first.currency, first.rows),
        &format!("{}={}:", first.currency, first.rows - 1),
        1,
    );
    assert_ne!(short, right, "a different claim");
    h.create_with("short", spec(&short)).await;
    let failed = h.wait_ready("short", "False", "TotalsMismatch").await;
    let status = failed.status.expect("status");
    assert_eq!(status.counts.published, 0);
    assert_eq!(status.totals.as_ref().map(|t| &t.file), Some(file));
    let ready = &status.conditions[0];
    assert!(
        ready
            .message
            .contains(&format!("{}: expected", first.currency)),
        "{}",
        ready.message
    );
    h.create_with("right", spec(&right)).await;
    h.wait_ready("right", "True", "Ingested").await;
    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_from_s3_reaches_ready_with_the_right_counts() {
    let h = harness().await;
    let bytes = sample_with_a_bad_row();
    let expected = payments_csv::Analysis::new(&payments_csv::Options::default())
        .run(&bytes[..])
        .map(|(summary, _)| summary)
        .expect("the sample is well-formed");
    assert!(expected.duplicate_rows > 0 && expected.suspicious_rows > 0);
    h.put("uploads/july.csv", &bytes).await;
    let (controller, stop) = h.controller("replica-a").await;

    let created = h.create("july", Source::s3("uploads/july.csv")).await;
    let done = h.wait_ready("july", "True", "Ingested").await;
    let status = done.status.expect("status");
    let counts = &status.counts;
    assert_eq!(counts.rows, expected.rows as i64);
    assert_eq!(counts.unique, expected.unique as i64);
    assert_eq!(counts.duplicates, expected.duplicate_rows as i64);
    assert_eq!(counts.suspicious, expected.suspicious_rows as i64);
    assert_eq!(
        counts.invalid, 1,
        "the row with an unknown sender, refused at analysis"
    );
    assert_eq!(counts.published, counts.unique - 1, "never published");
    assert_eq!(counts.rejected, 0);
    assert_eq!(counts.ingested, counts.published);
    assert_eq!(status.invalid_rows.len(), 1);
    assert!(
        status.invalid_rows[0].reasons[0].contains("not a known user"),
        "{:?}",
        status.invalid_rows
    );
    let totals = status.totals.as_ref().expect("control totals");
    assert_eq!(
        totals.ingested, totals.publishable,
        "every publishable row landed"
    );
    assert_eq!(status.observed_generation, created.metadata.generation);
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    let types: Vec<_> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Ready", "Validated", "Published", "Ingested"]);
    assert!(status.conditions.iter().all(|c| c.status == "True"));

    // The rows are in PostgreSQL under this import; the refused row says why.
    let import_id = status.import_id.expect("import id");
    let uid = created.metadata.uid.expect("uid");
    assert_eq!(import_id, payments_operator::import_id(&uid).to_string());
    let in_db = h
        .count(&format!(
            "SELECT count(*) FROM transactions WHERE import_id = '{import_id}'"
        ))
        .await;
    assert_eq!(in_db, counts.ingested);
    assert!(
        status.invalid_rows[0].reasons[0].contains("nobody0000"),
        "{:?}",
        status.invalid_rows
    );
    let rejections = h
        .count(&format!(
            "SELECT count(*) FROM rejected_events WHERE import_id = '{import_id}'"
        ))
        .await;
    assert_eq!(rejections, 0, "the bad row never reached the ingester");

    // Reconciling again (any change to the object triggers it) never republishes.
    let published_before = payments_testkit::topic_record_count(&h.import_topic);
    let reconciles = controller.metrics.reconciles.get();
    h.imports()
        .patch(
            "july",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .expect("label");
    wait_for("another reconcile", WAIT, || async {
        (controller.metrics.reconciles.get() > reconciles).then_some(())
    })
    .await;
    assert_eq!(
        payments_testkit::topic_record_count(&h.import_topic),
        published_before
    );
    assert_eq!(controller.metrics.imports_started.get(), 1);

    // Each stage left an Event a person can read with `kubectl describe`.
    for reason in ["Started", "Validated", "Published", "Ingested"] {
        let event = h.event("july", reason).await;
        assert_eq!(event.type_.as_deref(), Some("Normal"));
    }

    // Health and metrics endpoints answer.
    let addr = controller.http_addr.expect("http address");
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    assert!(
        metrics.contains("payments_controller_leader 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("payments_controller_reconcile_seconds_count"),
        "{metrics}"
    );
    let ready = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_reported_and_retried_until_it_appears() {
    let h = harness().await;
    let (controller, stop) = h.controller("replica-a").await;
    h.create("later", Source::s3("uploads/later.csv")).await;
    let waiting = h.wait_ready("later", "False", "ObjectNotFound").await;
    let message = waiting.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.contains("uploads/later.csv"), "{message}");
    let warning = h.event("later", "ObjectNotFound").await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));

    // The object appears; the retry with backoff picks it up.
    h.put_sample("uploads/later.csv", payments_csv::samples::REGULAR)
        .await;
    let done = h.wait_ready("later", "True", "Ingested").await;
    assert_eq!(done.status.expect("status").counts.ingested, 40);
    assert!(controller.metrics.reconcile_errors.get() >= 1);

    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_and_recreating_does_not_duplicate_transactions() {
    let h = harness().await;
    h.put_sample("regular.csv", payments_csv::samples::REGULAR)
        .await;
    let (controller, stop) = h.controller("replica-a").await;
    h.create("regular", Source::s3("regular.csv")).await;
    h.wait_ready("regular", "True", "Ingested").await;
    let transactions = h.count("SELECT count(*) FROM transactions").await;
    assert_eq!(transactions, 40);

    h.imports()
        .delete("regular", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the PaymentImport to be gone", WAIT, || async {
        h.imports()
            .get_opt("regular")
            .await
            .ok()
            .and_then(|o| o.is_none().then_some(()))
    })
    .await;
    h.create("regular", Source::s3("regular.csv")).await;
    let again = h.wait_ready("regular", "True", "AlreadyImported").await;
    let status = again.status.expect("status");
    assert_eq!(status.counts.rows, 40);
    assert_eq!(status.counts.published, 0);
    assert_eq!(
        h.count("SELECT count(*) FROM transactions").await,
        transactions
    );

    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_import_is_resumed_by_the_next_controller() {
    let h = harness().await;
    h.put_sample("suspicious.csv", payments_csv::samples::SUSPICIOUS)
        .await;
    // A controller died right after starting this import: its row exists, nothing else.
    let created = h.create("resume", Source::s3("suspicious.csv")).await;
    let id = payments_operator::import_id(&created.metadata.uid.expect("uid"));
    payments_store::create_import(
        &h.db.pool,
        &payments_store::NewImport {
            id,
            file_name: "suspicious.csv".into(),
            suspicious_threshold: payments_csv::Options::default().suspicious_threshold,
            dry_run: false,
            started_by: None,
            expected_totals: None,
            corrects: None,
        },
    )
    .await
    .expect("the interrupted import's row");

    let (controller, stop) = h.controller("replica-b").await;
    let done = h.wait_ready("resume", "True", "Ingested").await;
    assert_eq!(controller.metrics.imports_resumed.get(), 1);
    assert_eq!(controller.metrics.imports_started.get(), 0);
    let status = done.status.expect("status");
    assert_eq!(status.import_id, Some(id.to_string()));
    assert_eq!(status.counts.ingested, 12);
    assert!(status.counts.suspicious > 0);
    assert_eq!(h.count("SELECT count(*) FROM imports").await, 1);
    h.event("resume", "Resumed").await;

    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_map_source_is_imported() {
    let h = harness().await;
    let text = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("sample");
    let mut config_map = ConfigMap::default();
    config_map.metadata.name = Some("small-file".into());
    config_map.data = Some([("payments.csv".to_owned(), text)].into());
    Api::<ConfigMap>::namespaced(h.client.clone(), &h.namespace)
        .create(&PostParams::default(), &config_map)
        .await
        .expect("config map");
    let (controller, stop) = h.controller("replica-a").await;
    h.create(
        "from-config-map",
        Source::config_map("small-file", "payments.csv"),
    )
    .await;
    let done = h.wait_ready("from-config-map", "True", "Ingested").await;
    assert_eq!(done.status.expect("status").counts.ingested, 40);
    // The original bytes are archived in the bucket like an upload's.
    let archived = h.objects.list("").await.expect("list");
    assert!(
        archived
            .iter()
            .any(|k| k.starts_with("payments_") && k.ends_with(".csv")),
        "{archived:?}"
    );

    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_both_act() {
    let h = harness().await;
    let (a, stop_a) = h.controller("replica-a").await;
    let (b, stop_b) = h.controller("replica-b").await;
    let replicas = Arc::new([a, b]);

    // Watch who leads, as often as we can, for the whole test.
    let most_leaders = Arc::new(AtomicUsize::new(0));
    let watching = CancellationToken::new();
    let sampler = {
        let (replicas, most, watching) = (replicas.clone(), most_leaders.clone(), watching.clone());
        tokio::spawn(async move {
            while !watching.is_cancelled() {
                let leaders = replicas
                    .iter()
                    .filter(|r| r.is_running() && r.metrics.is_leader())
                    .count();
                most.fetch_max(leaders, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let first = wait_for("a leader", WAIT, || async {
        replicas.iter().position(|r| r.metrics.is_leader())
    })
    .await;
    let second = 1 - first;

    h.put_sample("one.csv", payments_csv::samples::REGULAR)
        .await;
    h.create("one", Source::s3("one.csv")).await;
    h.wait_ready("one", "True", "Ingested").await;
    assert!(replicas[first].metrics.reconciles.get() > 0);
    assert_eq!(
        replicas[second].metrics.reconciles.get(),
        0,
        "the standby replica reconciled"
    );

    // The leader dies without releasing the lease; the standby takes over once it expires.
    replicas[first].kill();
    wait_for("the standby to lead", WAIT, || async {
        replicas[second].metrics.is_leader().then_some(())
    })
    .await;
    h.put_sample("two.csv", payments_csv::samples::SUSPICIOUS)
        .await;
    h.create("two", Source::s3("two.csv")).await;
    h.wait_ready("two", "True", "Ingested").await;
    assert!(replicas[second].metrics.reconciles.get() > 0);

    watching.cancel();
    sampler.await.expect("sampler");
    assert_eq!(
        most_leaders.load(Ordering::SeqCst),
        1,
        "two replicas led at the same time"
    );
    let lease = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(
        h.client.clone(),
        &h.namespace,
    )
    .get("payments-controller")
    .await
    .expect("lease");
    let spec = lease.spec.expect("lease spec");
    assert_eq!(spec.lease_transitions, Some(1));

    stop_a.cancel();
    stop_b.cancel();
    drop(replicas);
    h.stop().await;
}

/// The ServiceAccount, Role and RoleBinding the chart renders in `template`.
pub(crate) fn chart_rbac(namespace: &str, template: &str) -> (ServiceAccount, Role, RoleBinding) {
    let helm = super::k8s_tools_var("env", "PAYMENTS_HELM");
    let output = std::process::Command::new(&helm)
        .args(["template", "payments"])
        .arg(payments_testkit::repo_root().join("charts/payments"))
        .args(["--namespace", namespace])
        .args(["--show-only", template])
        .output()
        .unwrap_or_else(|e| panic!("running {helm}: {e}; build it with `scripts/k8s-tools build`"));
    assert!(
        output.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let (mut account, mut role, mut binding) = (None, None, None);
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(document).expect("yaml");
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("ServiceAccount") => account = serde_yaml::from_value(value).ok(),
            Some("Role") => role = serde_yaml::from_value(value).ok(),
            Some("RoleBinding") => binding = serde_yaml::from_value(value).ok(),
            _ => {}
        }
    }
    (
        account.expect("the chart renders a ServiceAccount"),
        role.expect("the chart renders a Role"),
        binding.expect("the chart renders a RoleBinding"),
    )
}

/// Creates the chart's ServiceAccount, Role and RoleBinding of `template` in the harness'
/// namespace; returns a client acting as that ServiceAccount.
async fn as_charts_service_account(h: &Harness, template: &str) -> Client {
    let (account, role, binding) = chart_rbac(&h.namespace, template);
    let params = PostParams::default();
    let account = Api::<ServiceAccount>::namespaced(h.client.clone(), &h.namespace)
        .create(&params, &account)
        .await
        .expect("service account");
    Api::<Role>::namespaced(h.client.clone(), &h.namespace)
        .create(&params, &role)
        .await
        .expect("role");
    Api::<RoleBinding>::namespaced(h.client.clone(), &h.namespace)
        .create(&params, &binding)
        .await
        .expect("role binding");
    let user = format!(
        "system:serviceaccount:{}:{}",
        h.namespace,
        account.metadata.name.expect("name")
    );
    super::client_as(&user).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_roles_are_all_the_controller_and_importer_need() {
    let h = harness().await;
    let restricted = as_charts_service_account(&h, "templates/controller.yaml").await;
    let importer = as_charts_service_account(&h, "templates/importer.yaml").await;
    let params = PostParams::default();

    // Least privilege: it cannot edit what people asked for, nor read secrets.
    let denied = Api::<PaymentImport>::namespaced(restricted.clone(), &h.namespace)
        .create(
            &params,
            &PaymentImport::new("sneaky", PaymentImportSpec::of(Source::s3("x.csv"))),
        )
        .await;
    assert!(matches!(denied, Err(kube::Error::Api(s)) if s.code == 403));
    let denied =
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(restricted.clone(), &h.namespace)
            .list(&ListParams::default())
            .await;
    assert!(matches!(denied, Err(kube::Error::Api(s)) if s.code == 403));

    // With only those rights, a whole import runs: lease, watch, status, events.
    h.put_sample("rbac.csv", payments_csv::samples::REGULAR)
        .await;
    let shutdown = CancellationToken::new();
    let controller = payments_operator::start(
        ControllerConfig {
            namespace: h.namespace.clone(),
            lease_name: "payments-controller".into(),
            identity: "replica-rbac".into(),
            lease: LeaseTiming::default(),
            timing: Timing::default(),
            http_addr: None,
        },
        restricted,
        h.pipeline.clone(),
        shutdown.clone(),
    )
    .await
    .expect("the controller starts with the chart's rights");
    h.create("rbac", Source::s3("rbac.csv")).await;
    h.wait_ready("rbac", "True", "Ingested").await;
    h.event("rbac", "Ingested").await;
    assert_eq!(controller.metrics.reconcile_errors.get(), 0);

    // The importer's rights are enough to record an upload, and no more.
    let other = payments_csv::sample_csv(payments_csv::samples::SUSPICIOUS).expect("sample");
    let report = h
        .pipeline
        .import(
            &ImportRequest::new("upload.csv"),
            Cursor::new(other.into_bytes()),
        )
        .await
        .expect("import");
    let recorder =
        payments_operator::UploadRecorder::new(importer.clone(), &h.namespace, h.objects.bucket());
    let threshold = payments_csv::Options::default().suspicious_threshold;
    recorder
        .record(&report, threshold, false)
        .await
        .expect("the importer may create PaymentImports");
    h.wait_ready(
        &payments_operator::upload_name(report.id),
        "True",
        "Ingested",
    )
    .await;
    let denied = Api::<PaymentImport>::namespaced(importer, &h.namespace)
        .delete("rbac", &DeleteParams::default())
        .await;
    assert!(matches!(denied, Err(kube::Error::Api(s)) if s.code == 403));

    shutdown.cancel();
    controller.wait().await.expect("controller stops");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_recorded_by_the_importer_is_reported_not_imported_again() {
    let h = harness().await;
    let (controller, stop) = h.controller("replica-a").await;
    // What the web importer does for an upload when it runs in a cluster.
    let (report, recorder) = h.upload_with_recorder(h.client.clone(), "march.csv").await;
    let threshold = payments_csv::Options::default().suspicious_threshold;
    let recorded = recorder
        .record(&report, threshold, false)
        .await
        .expect("record")
        .expect("a PaymentImport");
    assert!(
        recorder.record(&report, threshold, false).await.is_ok(),
        "twice is harmless"
    );
    let name = payments_operator::upload_name(report.id);
    assert_eq!(recorded.metadata.name.as_deref(), Some(name.as_str()));

    let done = h.wait_ready(&name, "True", "Ingested").await;
    let status = done.status.expect("status");
    assert_eq!(status.import_id, Some(report.id.to_string()));
    let summary = report.summary.expect("summary");
    assert_eq!(status.counts.duplicates, summary.duplicate_rows as i64);
    assert_eq!(status.counts.ingested, summary.unique as i64);
    assert_eq!(controller.metrics.imports_started.get(), 0);
    assert_eq!(h.count("SELECT count(*) FROM imports").await, 1);
    assert_eq!(
        payments_testkit::topic_record_count(&h.import_topic),
        summary.unique as i64,
        "published once, by the importer"
    );

    // An annotation naming no import is reported, not imported.
    let mut stray = PaymentImport::new("stray", PaymentImportSpec::of(Source::s3("march.csv")));
    stray.metadata.annotations = Some(
        [(
            payments_operator::IMPORT_ID_ANNOTATION.to_owned(),
            uuid::Uuid::new_v4().to_string(),
        )]
        .into(),
    );
    h.imports()
        .create(&PostParams::default(), &stray)
        .await
        .expect("create");
    h.wait_ready("stray", "False", "ImportNotFound").await;

    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_api_and_status_agree_on_done_without_anyone_opening_the_import() {
    let h = harness().await;
    let bytes = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("sample");
    let report = h
        .pipeline
        .import(
            &ImportRequest::new("april.csv"),
            Cursor::new(bytes.into_bytes()),
        )
        .await
        .expect("import");
    assert_eq!(report.status, ImportStatus::Published);

    // Only the history is read, as its page does: the data, not a reader, completes the import.
    let listed = wait_for("the history to show the import done", WAIT, || async {
        h.pipeline
            .history(10)
            .await
            .ok()?
            .into_iter()
            .find(|i| i.id == report.id && i.status == ImportStatus::Done)
    })
    .await;
    assert_eq!(
        listed.counts.ingested + listed.counts.rejected,
        listed.counts.published
    );
    let api = h.pipeline.status(report.id).await.expect("the API's view");
    assert!(api.totals.is_some(), "one import is read with its totals");
    let api = Import {
        totals: None,
        ..api
    };
    assert_eq!(api, listed, "the API shows what the history shows");

    // The PaymentImport recorded for the upload shows the same, once the controller looks.
    let (controller, stop) = h.controller("replica-a").await;
    let recorder =
        payments_operator::UploadRecorder::new(h.client.clone(), &h.namespace, h.objects.bucket());
    let threshold = payments_csv::Options::default().suspicious_threshold;
    recorder
        .record(&report, threshold, false)
        .await
        .expect("record");
    let done = h
        .wait_ready(
            &payments_operator::upload_name(report.id),
            "True",
            "Ingested",
        )
        .await;
    let status = done.status.expect("status");
    assert_eq!(status.counts, listed.counts);
    assert!(status.completion_time.is_some());
    h.finish(controller, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_mid_import_is_replaced_and_the_import_resumed() {
    const ROWS: usize = 150_000;
    let h = harness().await;
    h.put("big.csv", &payments_csv::samples::large_csv(ROWS))
        .await;
    let (a, stop_a) = h.controller("replica-a").await;
    wait_for("replica-a to lead", WAIT, || async {
        a.metrics.is_leader().then_some(())
    })
    .await;
    let (b, stop_b) = h.controller("replica-b").await;
    let created = h.create("big", Source::s3("big.csv")).await;
    let id = payments_operator::import_id(&created.metadata.uid.expect("uid"));

    // Kill the leader as soon as its import exists.
    wait_for("the import to start", WAIT, || async {
        payments_store::get_import(&h.db.pool, id)
            .await
            .ok()
            .flatten()
            .map(|_| ())
    })
    .await;
    a.kill();
    let status_at_kill = payments_store::get_import(&h.db.pool, id)
        .await
        .expect("read")
        .expect("row")
        .status;

    let done = h.wait_ready("big", "True", "Ingested").await;
    let counts = done.status.expect("status").counts;
    assert_eq!(counts.rows, ROWS as i64);
    assert_eq!(counts.ingested + counts.rejected, counts.published);
    assert_eq!(counts.published, counts.unique);
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM transactions WHERE import_id = '{id}'"
        ))
        .await,
        counts.ingested,
        "every unique row once, however often it was published"
    );
    assert_eq!(h.count("SELECT count(*) FROM imports").await, 1);
    if status_at_kill < ImportStatus::Published {
        assert_eq!(b.metrics.imports_resumed.get(), 1);
    } else {
        eprintln!("the import was already {status_at_kill:?} when its leader was killed");
    }
    assert_eq!(b.metrics.imports_started.get(), 0);

    stop_a.cancel();
    stop_b.cancel();
    b.wait().await.expect("controller stops");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_file_and_an_unreachable_database_show_as_conditions() {
    let h = harness().await;
    let (controller, stop) = h.controller("replica-a").await;

    // A malformed file: refused as a whole, with the row and the reason; nothing published.
    let header = "username_sender,username_receiver,amount,currency,transaction_date,status\n";
    let bad = format!(
        "{header}esme6287,jonas9882,10.00,USD,2025-07-07 01:04:27 UTC,failed\nesme6287,jonas9882\n"
    );
    h.put("bad.csv", bad.as_bytes()).await;
    h.create("bad", Source::s3("bad.csv")).await;
    let refused = h.wait_ready("bad", "False", "InvalidFile").await;
    let status = refused.status.expect("status");
    let message = status.message.clone().unwrap_or_default();
    assert!(message.contains("row 2: expected 6 fields"), "{message}");
    let validated = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Validated")
        .expect("Validated");
    assert_eq!(
        (validated.status.as_str(), validated.reason.as_str()),
        ("False", "InvalidFile")
    );
    assert_eq!(status.counts.published, 0);
    assert!(status.completion_time.is_some(), "a refused file is final");

    // The database stops taking connections: the status says so and the import waits.
    let admin = sqlx::PgPool::connect(&payments_testkit::stack().admin_url)
        .await
        .expect("admin connection");
    let database = h.db.name.clone();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
    )))
    .execute(&admin)
    .await
    .expect("refuse connections");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&database)
        .execute(&admin)
        .await
        .expect("drop connections");
    h.put_sample("later.csv", payments_csv::samples::REGULAR)
        .await;
    h.create("during-outage", Source::s3("later.csv")).await;
    let waiting = h
        .wait_ready("during-outage", "False", "DatabaseUnavailable")
        .await;
    let message = waiting.status.and_then(|s| s.message).unwrap_or_default();
    assert!(!message.is_empty());

    // It comes back: the retry with backoff finishes the import.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS true"
    )))
    .execute(&admin)
    .await
    .expect("allow connections");
    admin.close().await;
    let done = h.wait_ready("during-outage", "True", "Ingested").await;
    assert_eq!(done.status.expect("status").counts.ingested, 40);
    assert!(controller.metrics.reconcile_errors.get() >= 1);

    h.finish(controller, stop).await;
}

/// The admission policy shipped in k8s/admission, bound to the harness' namespace only: a
/// binding for every namespace would refuse the other tests' PaymentImports, which are created
/// without annotations. Checks the chart ships the same policy. Returns the binding's name.
async fn install_identity_policy(h: &Harness) -> String {
    let path = payments_testkit::repo_root().join("k8s/admission/paymentimport-identity.yaml");
    let text = std::fs::read_to_string(&path).expect("the policy manifest");
    let (mut policy, mut binding) = (None, None);
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(document).expect("yaml");
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("ValidatingAdmissionPolicy") => {
                policy = Some(
                    serde_yaml::from_value::<ValidatingAdmissionPolicy>(value).expect("policy"),
                )
            }
            Some("ValidatingAdmissionPolicyBinding") => {
                binding = Some(
                    serde_yaml::from_value::<ValidatingAdmissionPolicyBinding>(value)
                        .expect("binding"),
                )
            }
            _ => {}
        }
    }
    let (policy, mut binding) = (policy.expect("a policy"), binding.expect("a binding"));

    let helm = super::k8s_tools_var("env", "PAYMENTS_HELM");
    let output = std::process::Command::new(&helm)
        .args(["template", "payments"])
        .arg(payments_testkit::repo_root().join("charts/payments"))
        .args(["--show-only", "templates/admission.yaml"])
        .output()
        .expect("helm template");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = String::from_utf8(output.stdout).expect("utf-8");
    let charted = serde_yaml::Deserializer::from_str(&rendered)
        .filter_map(|d| {
            serde_yaml::from_value::<ValidatingAdmissionPolicy>(
                serde_yaml::Value::deserialize(d).ok()?,
            )
            .ok()
        })
        .find(|p| p.spec.as_ref().is_some_and(|s| s.validations.is_some()))
        .expect("the chart renders the policy");
    assert_eq!(
        charted.spec, policy.spec,
        "charts/payments/templates/admission.yaml differs from {path:?}"
    );

    let name = policy.metadata.name.clone().expect("policy name");
    Api::<ValidatingAdmissionPolicy>::all(h.client.clone())
        .patch(
            &name,
            &PatchParams::apply("payments-test").force(),
            &Patch::Apply(&policy),
        )
        .await
        .expect("the apiserver accepts the policy");
    let binding_name = format!("{name}-{}", h.namespace);
    binding.metadata.name = Some(binding_name.clone());
    let spec = binding.spec.as_mut().expect("binding spec");
    spec.match_resources = Some(MatchResources {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(
                [(
                    "kubernetes.io/metadata.name".to_owned(),
                    h.namespace.clone(),
                )]
                .into(),
            ),
            ..LabelSelector::default()
        }),
        ..MatchResources::default()
    });
    Api::<ValidatingAdmissionPolicyBinding>::all(h.client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    // Policies take effect once the apiserver has loaded them: wait until a PaymentImport
    // without created-by is refused (a dry run, so nothing is created).
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    wait_for("the admission policy to be enforced", WAIT, || async {
        let probe = PaymentImport::new("probe", spec_of(Source::s3("probe.csv"), false));
        h.imports()
            .create(&dry_run, &probe)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let loaded = Api::<ValidatingAdmissionPolicy>::all(h.client.clone())
        .get(&name)
        .await
        .expect("policy");
    let warnings = loaded
        .status
        .and_then(|s| s.type_checking)
        .and_then(|t| t.expression_warnings)
        .unwrap_or_default();
    assert!(warnings.is_empty(), "CEL type checking: {warnings:?}");
    binding_name
}

fn spec_of(source: Source, require_approval: bool) -> PaymentImportSpec {
    PaymentImportSpec {
        require_approval,
        ..PaymentImportSpec::of(source)
    }
}

/// Lets the users `alice`, `bob` and `carol` create, read and annotate PaymentImports in the
/// harness' namespace (what a team's Role would grant); clients acting as each.
async fn people(h: &Harness) -> [Client; 3] {
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "payment-importers"},
        "rules": [{
            "apiGroups": ["payments.dev"],
            "resources": ["paymentimports"],
            "verbs": ["get", "list", "watch", "create", "patch", "update"],
        }],
    }))
    .expect("role");
    let subjects: Vec<_> = ["alice", "bob", "carol"]
        .map(|u| serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u}))
        .into();
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "payment-importers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "payment-importers"},
        "subjects": subjects,
    }))
    .expect("role binding");
    let params = PostParams::default();
    Api::<Role>::namespaced(h.client.clone(), &h.namespace)
        .create(&params, &role)
        .await
        .expect("role");
    Api::<RoleBinding>::namespaced(h.client.clone(), &h.namespace)
        .create(&params, &binding)
        .await
        .expect("role binding");
    [
        super::client_as("alice").await,
        super::client_as("bob").await,
        super::client_as("carol").await,
    ]
}

/// Annotates `name` as `client`'s user; the apiserver's answer.
async fn annotate(
    client: &Client,
    h: &Harness,
    name: &str,
    annotations: serde_json::Value,
) -> Result<PaymentImport, kube::Error> {
    Api::<PaymentImport>::namespaced(client.clone(), &h.namespace)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": annotations}})),
        )
        .await
}

/// A refusal at admission, with the policy's message.
#[track_caller]
fn refused(result: Result<PaymentImport, kube::Error>, message: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert!(
                matches!(status.code, 403 | 422) && status.message.contains(message),
                "expected a refusal saying {message:?}, got {status:?}"
            );
        }
        other => panic!("expected a refusal saying {message:?}, got {other:?}"),
    }
}

fn approved_condition(import: &PaymentImport) -> payments_operator::Condition {
    import
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Approved"))
        .cloned()
        .expect("an Approved condition")
}

/// Maker-checker on the PaymentImport, on the real apiserver with the shipped admission
/// policy: the creator is the apiserver's user, a second user approves or rejects, nothing is
/// published before, the decision cannot be rewritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_user_approves_or_rejects_through_annotations_checked_at_admission() {
    let h = harness().await;
    let binding = install_identity_policy(&h).await;
    let [alice, bob, carol] = people(&h).await;
    h.put_sample("held.csv", payments_csv::samples::REGULAR)
        .await;
    h.put_sample("refused.csv", payments_csv::samples::SUSPICIOUS)
        .await;
    let (controller, stop) = h.controller("replica-a").await;
    let created_by = payments_operator::CREATED_BY_ANNOTATION;
    let approved_by = payments_operator::APPROVED_BY_ANNOTATION;
    let rejected_by = payments_operator::REJECTED_BY_ANNOTATION;
    let note = payments_operator::DECISION_NOTE_ANNOTATION;
    let as_user = |client: &Client, name: &str, creator: &str, key: &str| {
        let mut import = PaymentImport::new(name, spec_of(Source::s3(key), true));
        import.metadata.annotations = Some([(created_by.to_owned(), creator.to_owned())].into());
        let api = Api::<PaymentImport>::namespaced(client.clone(), &h.namespace);
        async move { api.create(&PostParams::default(), &import).await }
    };

    // Nobody can claim to be someone else, nor create without saying who they are.
    refused(
        as_user(&carol, "forged", "alice", "held.csv").await,
        "set payments.dev/created-by to your own username (kubectl auth whoami): carol",
    );
    refused(
        h.imports()
            .create(
                &PostParams::default(),
                &PaymentImport::new("anonymous", spec_of(Source::s3("held.csv"), true)),
            )
            .await,
        "set payments.dev/created-by to your own username",
    );
    let mut self_approved =
        PaymentImport::new("self-approved", spec_of(Source::s3("held.csv"), true));
    self_approved.metadata.annotations = Some(
        [
            (created_by.to_owned(), "alice".to_owned()),
            (approved_by.to_owned(), "alice".to_owned()),
        ]
        .into(),
    );
    refused(
        Api::<PaymentImport>::namespaced(alice.clone(), &h.namespace)
            .create(&PostParams::default(), &self_approved)
            .await,
        "cannot be approved or rejected as it is created",
    );

    // Alice's import is checked and stored, then waits: nothing is published.
    as_user(&alice, "held", "alice", "held.csv")
        .await
        .expect("alice creates her import");
    let waiting = h.wait_ready("held", "False", "AwaitingApproval").await;
    let approval = approved_condition(&waiting);
    assert_eq!(
        (approval.status.as_str(), approval.reason.as_str()),
        ("False", "AwaitingApproval")
    );
    assert!(
        approval.message.contains("someone other than alice"),
        "{}",
        approval.message
    );
    let status = waiting.status.as_ref().expect("status");
    assert_eq!(status.started_by.as_deref(), Some("alice"));
    assert_eq!(status.counts.published, 0);
    assert!(status.counts.unique > 0);
    assert_eq!(payments_testkit::topic_record_count(&h.import_topic), 0);

    // Alice cannot approve her own import; Bob cannot approve in Alice's name.
    refused(
        annotate(
            &alice,
            &h,
            "held",
            serde_json::json!({approved_by: "alice"}),
        )
        .await,
        "the creator cannot approve their own import",
    );
    refused(
        annotate(&bob, &h, "held", serde_json::json!({approved_by: "alice"})).await,
        "set payments.dev/approved-by to your own username (kubectl auth whoami): bob",
    );
    refused(
        annotate(&bob, &h, "held", serde_json::json!({created_by: "bob"})).await,
        "payments.dev/created-by cannot change",
    );
    assert_eq!(payments_testkit::topic_record_count(&h.import_topic), 0);

    // Bob approves as himself: the import publishes and lands, and says who approved it.
    annotate(&bob, &h, "held", serde_json::json!({approved_by: "bob"}))
        .await
        .expect("bob approves");
    let done = h.wait_ready("held", "True", "Ingested").await;
    let approval = approved_condition(&done);
    assert_eq!(
        (approval.status.as_str(), approval.reason.as_str()),
        ("True", "Approved")
    );
    assert!(approval.message.contains("bob"), "{}", approval.message);
    let status = done.status.as_ref().expect("status");
    assert_eq!(status.decided_by.as_deref(), Some("bob"));
    assert!(status.decided_at.is_some());
    assert!(status.counts.published > 0);
    assert_eq!(status.counts.ingested, status.counts.published);
    let published = payments_testkit::topic_record_count(&h.import_topic);
    assert_eq!(published, status.counts.published);
    let decided_by: Option<String> =
        sqlx::query_scalar("SELECT decided_by FROM imports WHERE id = $1")
            .bind(uuid::Uuid::parse_str(status.import_id.as_deref().expect("id")).expect("uuid"))
            .fetch_one(&h.db.pool)
            .await
            .expect("import row");
    assert_eq!(decided_by.as_deref(), Some("bob"));

    // An approval is a record: nobody rewrites it, nor adds a rejection.
    refused(
        annotate(
            &carol,
            &h,
            "held",
            serde_json::json!({approved_by: "carol"}),
        )
        .await,
        "payments.dev/approved-by cannot change once set",
    );
    refused(
        annotate(
            &carol,
            &h,
            "held",
            serde_json::json!({rejected_by: "carol"}),
        )
        .await,
        "either approved or rejected, not both",
    );

    // Bob rejects Alice's second import: final, never published.
    as_user(&alice, "refused", "alice", "refused.csv")
        .await
        .expect("alice creates another");
    h.wait_ready("refused", "False", "AwaitingApproval").await;
    annotate(
        &bob,
        &h,
        "refused",
        serde_json::json!({rejected_by: "bob", note: "wrong month"}),
    )
    .await
    .expect("bob rejects");
    let rejected = h.wait_ready("refused", "False", "Rejected").await;
    let approval = approved_condition(&rejected);
    assert_eq!(
        (approval.status.as_str(), approval.reason.as_str()),
        ("False", "Rejected")
    );
    assert!(
        approval.message.contains("bob") && approval.message.contains("wrong month"),
        "{}",
        approval.message
    );
    let status = rejected.status.as_ref().expect("status");
    assert_eq!(status.decided_by.as_deref(), Some("bob"));
    assert_eq!(status.counts.published, 0);
    assert!(status.completion_time.is_some(), "rejection is final");
    refused(
        annotate(&bob, &h, "refused", serde_json::json!({rejected_by: null})).await,
        "payments.dev/rejected-by cannot change once set",
    );
    refused(
        annotate(
            &carol,
            &h,
            "refused",
            serde_json::json!({approved_by: "carol"}),
        )
        .await,
        "either approved or rejected, not both",
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        payments_testkit::topic_record_count(&h.import_topic),
        published,
        "nothing more published"
    );

    // The importer records uploads as itself (it asks the apiserver who it is), so the policy
    // needs no exception for it; an upload is decided where it was started, not here.
    let importer = as_charts_service_account(&h, "templates/importer.yaml").await;
    let (report, recorder) = h.upload_with_recorder(importer, "upload.csv").await;
    let recorded = recorder
        .record(
            &report,
            payments_csv::Options::default().suspicious_threshold,
            false,
        )
        .await
        .expect("the policy accepts the importer's own record")
        .expect("a PaymentImport");
    let creator = recorded
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(created_by))
        .cloned();
    assert_eq!(
        creator.as_deref(),
        Some(recorder.username().await.expect("username"))
    );
    assert!(
        creator.is_some_and(|c| c.starts_with(&format!("system:serviceaccount:{}:", h.namespace)))
    );
    refused(
        annotate(
            &bob,
            &h,
            &payments_operator::upload_name(report.id),
            serde_json::json!({approved_by: "bob"}),
        )
        .await,
        "an upload is approved or rejected where it was started",
    );

    h.finish(controller, stop).await;
    let _ = Api::<ValidatingAdmissionPolicyBinding>::all(super::client().await)
        .delete(&binding, &DeleteParams::default())
        .await;
}

/// Cross-file duplicates on the PaymentImport: a file sharing rows with one that landed
/// publishes the rest, holds exactly the shared rows (counted in the status, `Approved=False`)
/// and publishes them once a second user approves at admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sharing_rows_with_a_landed_one_holds_them_until_a_second_user_approves() {
    let h = harness().await;
    let binding = install_identity_policy(&h).await;
    let [alice, bob, _] = people(&h).await;
    let regular = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("sample");
    let mut lines = regular.lines();
    let header = lines.next().expect("header");
    let shared: Vec<&str> = lines.take(3).collect();
    // Three rows of the landed file, after two of its own (amounts no row of it has).
    let tuesday = format!(
        "{header}\n{}\n{}\n{}\n",
        shared[0].replacen('.', "1.", 1),
        shared[1].replacen('.', "7.", 1),
        shared.join("\n")
    );
    h.put_sample("monday.csv", payments_csv::samples::REGULAR)
        .await;
    h.put("tuesday.csv", tuesday.as_bytes()).await;
    let (controller, stop) = h.controller("replica-a").await;
    let created_by = payments_operator::CREATED_BY_ANNOTATION;
    let approved_by = payments_operator::APPROVED_BY_ANNOTATION;
    let create = |name: &str, key: &str| {
        let mut import = PaymentImport::new(name, spec_of(Source::s3(key), false));
        import.metadata.annotations = Some([(created_by.to_owned(), "alice".to_owned())].into());
        let api = Api::<PaymentImport>::namespaced(alice.clone(), &h.namespace);
        async move { api.create(&PostParams::default(), &import).await }
    };
    create("monday", "monday.csv").await.expect("monday");
    let monday = h.wait_ready("monday", "True", "Ingested").await;
    let landed = monday.status.as_ref().expect("status").counts.ingested;

    create("tuesday", "tuesday.csv").await.expect("tuesday");
    let waiting = h.wait_ready("tuesday", "False", "AwaitingApproval").await;
    let status = waiting.status.as_ref().expect("status");
    assert_eq!(status.counts.cross_file_duplicates, 3, "{status:?}");
    assert_eq!(status.counts.published, 2, "the other rows publish at once");
    let approval = approved_condition(&waiting);
    assert_eq!(
        (approval.status.as_str(), approval.reason.as_str()),
        ("False", "AwaitingApproval")
    );
    refused(
        annotate(
            &alice,
            &h,
            "tuesday",
            serde_json::json!({approved_by: "alice"}),
        )
        .await,
        "the creator cannot approve their own import",
    );
    annotate(&bob, &h, "tuesday", serde_json::json!({approved_by: "bob"}))
        .await
        .expect("bob approves");
    let done = h.wait_ready("tuesday", "True", "Ingested").await;
    let status = done.status.as_ref().expect("status");
    assert_eq!(status.counts.published, 5);
    assert_eq!(status.counts.ingested, 5);
    assert_eq!(
        h.count("SELECT count(*) FROM transactions").await,
        landed + 5
    );
    h.finish(controller, stop).await;
    let _ = Api::<ValidatingAdmissionPolicyBinding>::all(super::client().await)
        .delete(&binding, &DeleteParams::default())
        .await;
}
