//! Every role's `/metrics`, scraped from real processes after real work: the counters move, and
//! the chart's Grafana dashboard (charts/payments/files/grafana/payments-overview.json) queries
//! only metrics that a scrape shows.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, CustomResourceExt};
use payments_operator::{PaymentImport, PaymentImportSpec, Source};
use payments_testkit::{create_topics, stack, unique_name, wait_for, TestDb};

use crate::{free_addr, spawn_role, wait_ready, Roles, SERIAL};

const START_APISERVER: &str =
    "no kube-apiserver is running: start one with `scripts/k8s-tools apiserver-up` \
     (or run every test with `scripts/test`)";
/// Generated events to see delivered and applied (the generator keeps running: a process that
/// has exited cannot be scraped).
const GENERATED: u64 = 300;

fn kubeconfig_path() -> String {
    std::env::var("KUBECONFIG").unwrap_or_else(|_| {
        payments_testkit::script_exports("scripts/k8s-tools", "apiserver-env", START_APISERVER)
            .remove("KUBECONFIG")
            .unwrap_or_else(|| panic!("{START_APISERVER}"))
    })
}

async fn kube_client(path: &str) -> Client {
    let kubeconfig =
        Kubeconfig::read_from(path).unwrap_or_else(|e| panic!("{START_APISERVER} ({e})"));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "paymentimports.payments.dev",
        &PatchParams::apply("payments-e2e").force(),
        &Patch::Apply(PaymentImport::crd()),
    )
    .await
    .unwrap_or_else(|e| panic!("installing the CRD failed ({e}); {START_APISERVER}"));
}

/// The test kube-apiserver with the CRD installed and a fresh namespace.
pub(crate) struct Cluster {
    pub kubeconfig: String,
    pub client: Client,
    pub namespace: String,
}

impl Cluster {
    pub(crate) async fn new(prefix: &str) -> Cluster {
        let kubeconfig = kubeconfig_path();
        let client = kube_client(&kubeconfig).await;
        install_crd(&client).await;
        let namespace = unique_name(prefix);
        let mut ns = Namespace::default();
        ns.metadata.name = Some(namespace.clone());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        Cluster {
            kubeconfig,
            client,
            namespace,
        }
    }
}

/// A PaymentImport of `key` in the controller's bucket.
pub(crate) fn s3_import(name: &str, key: &str) -> PaymentImport {
    PaymentImport::new(name, PaymentImportSpec::of(Source::s3(key)))
}

/// A scrape, or `None` while the role is not answering.
async fn try_scrape(http: &reqwest::Client, addr: &str) -> Option<String> {
    let response = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?;
    response.error_for_status().ok()?.text().await.ok()
}

async fn scrape(http: &reqwest::Client, addr: &str) -> String {
    http.get(format!("http://{addr}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("scrape")
        .text()
        .await
        .expect("metrics text")
}

/// The value of one sample line (`name{labels} value`), if the scrape has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Sum of every sample of a metric, whatever its labels.
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Names of the samples in a scrape (`…_total`, `…_bucket` included), without labels.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every `payments_…` metric name a PromQL expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("payments_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_counts_its_work_and_the_grafana_dashboard_queries_only_real_metrics() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let stream = unique_name("metrics-events");
    let import = unique_name("metrics-imports");
    create_topics(&[&stream, &import], 3).await;
    let bucket = unique_name("metrics-files");
    let objects = payments_testkit::object_store(&bucket);
    objects.ensure_bucket().await.expect("bucket");

    let cluster = Cluster::new("metrics").await;
    let (kubeconfig, kube, namespace) = (&cluster.kubeconfig, &cluster.client, &cluster.namespace);

    let s = stack();
    let shared = [
        ("PAYMENTS_DATABASE_URL", db.url.as_str()),
        ("PAYMENTS_STREAM_TOPIC", stream.as_str()),
        ("PAYMENTS_IMPORT_TOPIC", import.as_str()),
        ("PAYMENTS_S3_ENDPOINT", s.s3_endpoint.as_str()),
        ("PAYMENTS_S3_REGION", s.s3_region.as_str()),
        ("PAYMENTS_S3_ACCESS_KEY", s.s3_access_key.as_str()),
        ("PAYMENTS_S3_SECRET_KEY", s.s3_secret_key.as_str()),
        ("PAYMENTS_S3_BUCKET", bucket.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&str, String)> {
        shared
            .iter()
            .chain(extra)
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect()
    };
    let (ingester, importer, generator, controller, replicate) = (
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
    );
    let slot = format!("metrics_{}", uuid::Uuid::new_v4().simple());
    let lake = unique_name("metrics-lake");
    let group = unique_name("metrics-group");
    let lease = unique_name("metrics-lease");
    let spawn = |role: &str, env: Vec<(&str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        spawn_role(role, &env, &format!("metrics-{role}"))
    };
    let _roles = Roles(vec![
        spawn(
            "ingester",
            with(&[
                ("PAYMENTS_INGESTER_ADDR", &ingester),
                ("PAYMENTS_GROUP_ID", &group),
            ]),
        ),
        spawn("importer", with(&[("PAYMENTS_IMPORTER_ADDR", &importer)])),
        spawn(
            "generator",
            with(&[
                ("PAYMENTS_GENERATOR_ADDR", &generator),
                ("PAYMENTS_GENERATOR_RATE", "200"),
                ("PAYMENTS_GENERATOR_INVALID_RATIO", "0.3"),
                ("PAYMENTS_GENERATOR_SEED", "5"),
            ]),
        ),
        spawn(
            "replicate",
            with(&[
                ("PAYMENTS_REPLICATE_ADDR", &replicate),
                ("PAYMENTS_REPLICATION_SLOT", &slot),
                ("PAYMENTS_LAKE_BUCKET", &lake),
                ("PAYMENTS_REPLICATE_LINGER", "200ms"),
            ]),
        ),
        spawn(
            "controller",
            with(&[
                ("PAYMENTS_CONTROLLER_ADDR", &controller),
                ("KUBECONFIG", kubeconfig),
                ("POD_NAMESPACE", namespace),
                ("PAYMENTS_LEASE_NAME", &lease),
            ]),
        ),
    ]);

    let http = reqwest::Client::new();
    for (role, addr) in [
        ("ingester", &ingester),
        ("importer", &importer),
        ("controller", &controller),
        ("replicate", &replicate),
    ] {
        wait_ready(
            addr,
            &format!("the {role}'s /readyz (log: metrics-{role}.log)"),
        )
        .await;
    }

    // An upload through the importer's API, and a PaymentImport through the controller.
    let csv =
        payments_csv::sample_csv(payments_csv::samples::SUSPICIOUS_DUPLICATED).expect("a sample");
    let part = reqwest::multipart::Part::bytes(csv.clone().into_bytes())
        .file_name("uploaded.csv")
        .mime_str("text/csv")
        .expect("mime");
    http.post(format!("http://{importer}/api/imports"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the upload is accepted");
    let regular = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("a sample");
    objects
        .put_stream("regular.csv", Cursor::new(regular.into_bytes()), "text/csv")
        .await
        .expect("the PaymentImport's object");
    let imports: Api<PaymentImport> = Api::namespaced(kube.clone(), namespace);
    imports
        .create(&PostParams::default(), &s3_import("regular", "regular.csv"))
        .await
        .expect("a PaymentImport");

    // Both imports done and every generated event applied, as the metrics tell it.
    let scraped = wait_for(
        "both imports done and every generated event ingested or rejected",
        Duration::from_secs(180),
        || async {
            let text = try_scrape(&http, &ingester).await?;
            let done = sample(&text, "payments_ingester_imports{status=\"done\"}")?;
            let generated = try_scrape(&http, &generator).await?;
            let delivered = sample(&generated, "payments_generator_events_delivered_total")?;
            let stream_applied = total(&text, "payments_ingester_records_consumed_total");
            (done >= 2.0 && delivered >= GENERATED as f64 && stream_applied >= GENERATED as f64)
                .then_some((text, generated))
        },
    )
    .await;
    let (ingester_text, generator_text) = scraped;
    let importer_text = scrape(&http, &importer).await;
    let controller_text = scrape(&http, &controller).await;

    assert!(
        total(
            &ingester_text,
            "payments_ingester_transactions_upserted_total"
        ) > 0.0
    );
    assert!(total(&ingester_text, "payments_ingester_records_consumed_total") >= GENERATED as f64);
    assert!(
        ingester_text.contains("payments_ingester_records_rejected_total{reason=\""),
        "rejections are counted by reason:\n{ingester_text}"
    );
    assert!(total(&ingester_text, "payments_ingester_batch_seconds_count") > 0.0);
    assert_eq!(
        sample(&importer_text, "payments_importer_uploads_total"),
        Some(1.0)
    );
    assert!(total(&importer_text, "payments_importer_rows_total") > 0.0);
    assert!(
        sample(&generator_text, "payments_generator_events_produced_total")
            .is_some_and(|n| n >= GENERATED as f64)
    );
    assert!(total(&controller_text, "payments_controller_reconciles_total") > 0.0);
    assert_eq!(
        sample(
            &controller_text,
            "payments_controller_imports_started_total"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&controller_text, "payments_controller_leader"),
        Some(1.0)
    );
    // The replicator has written the imports' and the stream's rows to the lake; the ingester
    // reports the replicator's slot, and librdkafka's consumer lag (reported every 5 s).
    let replicate_text = wait_for(
        "the replicator to write changes to the lake",
        Duration::from_secs(60),
        || async {
            let text = try_scrape(&http, &replicate).await?;
            (total(&text, "payments_replicator_changes_applied_total") > 0.0).then_some(text)
        },
    )
    .await;
    let lagged = wait_for(
        "the slot on the ingester's /metrics",
        Duration::from_secs(30),
        || async {
            let text = scrape(&http, &ingester).await;
            (text.contains(&format!(
                "payments_postgresql_replication_slot_retained_wal_bytes{{slot=\"{slot}\"}}"
            )) && text.contains("payments_ingester_consumer_lag{"))
            .then_some(text)
        },
    )
    .await;
    let scraped: BTreeSet<String> = [
        &lagged,
        &importer_text,
        &generator_text,
        &controller_text,
        &replicate_text,
    ]
    .iter()
    .flat_map(|text| sample_names(text))
    .collect();
    let path =
        payments_testkit::repo_root().join("charts/payments/files/grafana/payments-overview.json");
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the Grafana dashboard"))
            .expect("dashboard JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 6, "{exprs:?}");
    let mut queried = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(
                scraped.contains(&name),
                "the Grafana query `{expr}` names {name}, which no role exports"
            );
            queried.insert(name);
        }
    }
    for needed in [
        "payments_ingester_transactions_upserted_total",
        "payments_ingester_consumer_lag",
        "payments_ingester_offset_gap_records",
        "payments_ingester_batch_seconds_bucket",
        "payments_ingester_records_rejected_total",
        "payments_ingester_imports",
        "payments_controller_reconcile_errors_total",
        "payments_replicator_lag_seconds",
        "payments_postgresql_replication_slot_retained_wal_bytes",
    ] {
        assert!(queried.contains(needed), "the dashboard shows {needed}");
    }
    drop(_roles);
    payments_testkit::drop_replication_slot(&db.pool, &slot).await;
    db.drop_database().await;
}

#[test]
fn metric_names_are_found_in_promql() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(payments_ingester_batch_seconds_bucket[5m])))"
        ),
        ["payments_ingester_batch_seconds_bucket"]
    );
    assert_eq!(
        metric_names("sum(rate(payments_a_total[1m])) / sum(payments_b)"),
        ["payments_a_total", "payments_b"]
    );
}
