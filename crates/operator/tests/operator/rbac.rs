//! Least privilege, asked of the real apiserver's RBAC authorizer: the chart's rendered
//! ServiceAccounts, Roles and RoleBindings are created in a scratch namespace, and a
//! SubjectAccessReview for every verb on every resource the chart mentions (and a few it must
//! never touch), in its namespace, in another one and cluster-wide, must give exactly the
//! policy written below.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;

use crate::controller::chart_rbac;

const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// `(API group, resource[/subresource])` checked for every subject: what the chart mentions
/// and what it must not touch.
const RESOURCES: [(&str, &str); 13] = [
    ("payments.dev", "paymentimports"),
    ("payments.dev", "paymentimports/status"),
    ("events.k8s.io", "events"),
    ("", "events"),
    ("coordination.k8s.io", "leases"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "pods"),
    ("", "pods/exec"),
    ("", "serviceaccounts/token"),
    ("apps", "deployments"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
];

/// A named object's verbs are asked with a name; the others (which RBAC cannot restrict by
/// name) without one.
fn named(verb: &str) -> bool {
    matches!(verb, "get" | "update" | "patch" | "delete")
}

/// The intended policy: `(group, resource, object name or "*" for any, verbs)`, only ever in
/// the release's own namespace. Anything not listed is denied.
type Policy = &'static [(
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
)];

/// The controller: reads PaymentImports, writes their status, records events, holds the
/// release's Lease, reads a ConfigMap a PaymentImport names.
fn controller_policy(
    lease: &'static str,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
)> {
    vec![
        (
            "payments.dev",
            "paymentimports",
            "*",
            &["get", "list", "watch"],
        ),
        (
            "payments.dev",
            "paymentimports/status",
            "*",
            &["get", "patch"],
        ),
        ("events.k8s.io", "events", "*", &["create", "patch"]),
        // Creating cannot be limited to a name (the object has none yet when it is
        // authorised); reading and renewing are limited to the release's Lease.
        ("coordination.k8s.io", "leases", "*", &["create"]),
        (
            "coordination.k8s.io",
            "leases",
            lease,
            &["get", "update", "patch"],
        ),
        ("", "configmaps", "*", &["get"]),
    ]
}

/// The importer: records each upload as a PaymentImport and reads it back.
const IMPORTER: Policy = &[("payments.dev", "paymentimports", "*", &["create", "get"])];

fn allowed_by(
    policy: &[(&str, &str, &str, &[&str])],
    group: &str,
    resource: &str,
    name: &str,
    verb: &str,
) -> bool {
    policy.iter().any(|(g, r, n, verbs)| {
        *g == group && *r == resource && (*n == "*" || *n == name) && verbs.contains(&verb)
    })
}

/// What the apiserver answers for `user` (a ServiceAccount, with its groups).
async fn review(
    client: &Client,
    namespace: &str,
    account: &str,
    attributes: ResourceAttributes,
) -> bool {
    let (account_namespace, _) = account.split_once('/').expect("namespace/name");
    let account_name = account.split('/').nth(1).expect("name");
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!(
                "system:serviceaccount:{account_namespace}:{account_name}"
            )),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{account_namespace}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                ..attributes
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview");
    answer.status.expect("a review's status").allowed
}

async fn create_namespace(client: &Client, name: &str) {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_owned());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_service_accounts_may_do_exactly_the_intended_policy() {
    let client = super::client().await;
    let namespace = payments_testkit::unique_name("rbac");
    let elsewhere = payments_testkit::unique_name("rbac-other");
    create_namespace(&client, &namespace).await;
    create_namespace(&client, &elsewhere).await;

    // The rendered objects, created as they are.
    let mut subjects = Vec::new();
    for (template, component) in [
        ("templates/controller.yaml", "controller"),
        ("templates/importer.yaml", "importer"),
    ] {
        let (account, role, binding) = chart_rbac(&namespace, template);
        let params = PostParams::default();
        let account = Api::<ServiceAccount>::namespaced(client.clone(), &namespace)
            .create(&params, &account)
            .await
            .expect("service account");
        let role = Api::<Role>::namespaced(client.clone(), &namespace)
            .create(&params, &role)
            .await
            .expect("role");
        Api::<RoleBinding>::namespaced(client.clone(), &namespace)
            .create(&params, &binding)
            .await
            .expect("role binding");
        // The chart names no ClusterRole: nothing it grants reaches past the namespace.
        subjects.push((
            component,
            format!("{namespace}/{}", account.metadata.name.expect("name")),
            role.metadata.name.expect("name"),
        ));
    }
    // The Lease the controller may renew is the release's, named like its Role.
    let lease: &'static str = Box::leak(subjects[0].2.clone().into_boxed_str());
    let controller = controller_policy(lease);

    // Every question, asked a few at a time.
    let mut questions = Vec::new();
    for (component, account, _) in &subjects {
        let policy: &[(&str, &str, &str, &[&str])] = if *component == "controller" {
            &controller
        } else {
            IMPORTER
        };
        for ns in [namespace.as_str(), elsewhere.as_str(), ""] {
            for (group, resource) in RESOURCES {
                for verb in VERBS {
                    let names: Vec<&str> = match (named(verb), resource) {
                        (false, _) => vec![""],
                        (true, "leases") => vec![lease, "someone-elses-lease"],
                        (true, _) => vec!["x"],
                    };
                    for name in names {
                        let expected =
                            ns == namespace && allowed_by(policy, group, resource, name, verb);
                        questions.push((
                            component.to_string(),
                            account.clone(),
                            ns.to_owned(),
                            group,
                            resource,
                            name.to_owned(),
                            verb,
                            expected,
                        ));
                    }
                }
            }
        }
    }
    let asked = questions.len();
    let answers: Vec<_> = futures::stream::iter(questions)
        .map(
            |(component, account, ns, group, resource, name, verb, expected)| {
                let client = client.clone();
                async move {
                    let (resource_name, subresource) = match resource.split_once('/') {
                        Some((r, s)) => (r, Some(s.to_owned())),
                        None => (resource, None),
                    };
                    let attributes = ResourceAttributes {
                        group: Some(group.to_owned()),
                        resource: Some(resource_name.to_owned()),
                        subresource,
                        verb: Some(verb.to_owned()),
                        name: (!name.is_empty()).then(|| name.clone()),
                        ..Default::default()
                    };
                    let allowed = review(&client, &ns, &account, attributes).await;
                    let place = if ns.is_empty() {
                        "cluster-wide".into()
                    } else {
                        ns
                    };
                    (
                        format!("{component}: {verb} {group}/{resource} {name:?} in {place}"),
                        allowed,
                        expected,
                    )
                }
            },
        )
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(answers.len(), asked);
    let wrong: BTreeSet<String> = answers
        .iter()
        .filter(|(_, allowed, expected)| allowed != expected)
        .map(|(what, allowed, _)| {
            format!("{what}: {}", if *allowed { "ALLOWED" } else { "denied" })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the apiserver's answers differ from the intended policy:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
    // The table is not vacuous: both subjects were allowed something, and denied the rest.
    let allowed = answers.iter().filter(|(_, a, _)| *a).count();
    assert_eq!(
        allowed,
        IMPORTER.iter().map(|(.., v)| v.len()).sum::<usize>()
            + controller.iter().map(|(.., v)| v.len()).sum::<usize>(),
        "each listed permission allowed once"
    );

    for ns in [&namespace, &elsewhere] {
        let _ = Api::<Namespace>::all(client.clone())
            .delete(ns, &DeleteParams::default())
            .await;
    }
}
