//! The PaymentImport CRD against a real kube-apiserver and etcd (built from source by
//! `scripts/k8s-tools`): the structural schema is accepted, objects validate, status works.

mod controller;
mod rbac;

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, CustomResourceExt};
use payments_operator::{
    ImportCounts, PaymentImport, PaymentImportSpec, PaymentImportStatus, Source,
};

const START: &str =
    "no kube-apiserver is running: start one with `scripts/k8s-tools apiserver-up` \
     (or run every test with `scripts/test`)";

/// A variable `scripts/k8s-tools <command>` exports, unless it is set already.
fn k8s_tools_var(command: &str, name: &str) -> String {
    if let Ok(value) = std::env::var(name) {
        return value;
    }
    payments_testkit::script_exports("scripts/k8s-tools", command, START)
        .remove(name)
        .unwrap_or_else(|| panic!("{START} (`scripts/k8s-tools {command}` gave no {name})"))
}

async fn config() -> Config {
    let kubeconfig = k8s_tools_var("apiserver-env", "KUBECONFIG");
    let kubeconfig = Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| panic!("{START} ({e})"));
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig")
}

/// A client with the test's administrator rights.
async fn client() -> Client {
    Client::try_from(config().await).expect("client")
}

/// A client acting as `user` (for example a ServiceAccount), with only that user's rights.
async fn client_as(user: &str) -> Client {
    let mut config = config().await;
    config.auth_info.impersonate = Some(user.to_owned());
    Client::try_from(config).expect("client")
}

async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("payments-test").force();
    crds.patch(
        "paymentimports.payments.dev",
        &params,
        &Patch::Apply(PaymentImport::crd()),
    )
    .await
    .expect("the structural schema is accepted");
    payments_testkit::wait_for(
        "the CRD to be established",
        Duration::from_secs(30),
        || async {
            let crd = crds.get("paymentimports.payments.dev").await.ok()?;
            let established = crd
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        },
    )
    .await;
}

fn import(name: &str, threshold: Option<&str>) -> PaymentImport {
    PaymentImport::new(
        name,
        PaymentImportSpec {
            suspicious_threshold: threshold.map(str::to_owned),
            ..PaymentImportSpec::of(Source::s3("regular_transactions.csv"))
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_installs_and_its_objects_validate() {
    let client = client().await;
    install_crd(&client).await;
    let namespace = payments_testkit::unique_name("pimport");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(namespace.clone());
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");

    let imports: Api<PaymentImport> = Api::namespaced(client.clone(), &namespace);
    let created = imports
        .create(&PostParams::default(), &import("good", Some("8000.50")))
        .await
        .expect("a valid object");
    assert_eq!(
        created.spec.suspicious_threshold.as_deref(),
        Some("8000.50")
    );

    let refused = imports
        .create(&PostParams::default(), &import("bad", Some("lots")))
        .await;
    let message = format!(
        "{:?}",
        refused.expect_err("the schema refuses a threshold that is not a decimal")
    );
    assert!(message.contains("suspiciousThreshold"), "{message}");

    let mut both = import("both", None);
    both.spec.source.config_map = Some(payments_operator::ConfigMapKey {
        name: "small".into(),
        key: "file.csv".into(),
    });
    let refused = imports.create(&PostParams::default(), &both).await;
    let message = format!("{:?}", refused.expect_err("two sources are refused"));
    assert!(
        message.contains("exactly one of s3 or configMap"),
        "{message}"
    );

    // An import is a record of what was imported: its spec cannot be edited afterwards.
    let edited = imports
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"dryRun": true}})),
        )
        .await;
    let message = format!("{:?}", edited.expect_err("the spec is immutable"));
    assert!(message.contains("spec is immutable"), "{message}");

    // The status subresource takes the shape the controller will write.
    let status = PaymentImportStatus {
        conditions: vec![payments_operator::Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Ingested".into(),
            message: "every row is in the database".into(),
            last_transition_time: chrono::Utc::now(),
            observed_generation: created.metadata.generation,
        }],
        observed_generation: created.metadata.generation,
        import_id: Some("6f1d2c4e-9a7b-4e0a-8c55-3d1f0b9e7a21".into()),
        counts: ImportCounts {
            rows: 40,
            unique: 40,
            published: 40,
            ingested: 40,
            ..ImportCounts::default()
        },
        message: Some("Imported.".into()),
        ..PaymentImportStatus::default()
    };
    let patch = serde_json::json!({
        "apiVersion": "payments.dev/v1alpha1",
        "kind": "PaymentImport",
        "status": status,
    });
    imports
        .patch_status(
            "good",
            &PatchParams::apply("payments-test").force(),
            &Patch::Apply(&patch),
        )
        .await
        .expect("status by server-side apply");
    let read = imports.get("good").await.expect("read back");
    let read_status = read.status.expect("status");
    assert_eq!(read_status.counts.ingested, 40);
    assert_eq!(read_status.conditions[0].type_, "Ready");

    let refused = imports
        .patch_status(
            "good",
            &PatchParams::apply("payments-test").force(),
            &Patch::Apply(serde_json::json!({
                "apiVersion": "payments.dev/v1alpha1", "kind": "PaymentImport",
                "status": { "conditions": [{ "type": "Ready", "status": "Maybe", "reason": "X", "lastTransitionTime": "2026-01-01T00:00:00Z" }] }
            })),
        )
        .await;
    assert!(
        refused.is_err(),
        "condition status must be True, False or Unknown"
    );
    namespaces
        .delete(&namespace, &Default::default())
        .await
        .expect("delete namespace");
}
