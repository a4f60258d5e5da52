//! One import, one wording: what `payments import` (and `approve`/`reject`) prints is the
//! `message` of `GET /api/imports/{id}`, the sentences of the import's web page and the
//! `status.message` of its PaymentImport, for each outcome a person meets (sent to processing,
//! dry run, the same bytes again, totals that differ, held for approval, approved, rejected).
//! Real processes against the real stack and kube-apiserver.

use std::time::Duration;

use kube::api::{Api, PostParams};
use payments_operator::{PaymentImport, CREATED_BY_ANNOTATION, IMPORT_ID_ANNOTATION};
use payments_testkit::{create_topics, unique_name, wait_for, TestDb};

use crate::metrics::{s3_import, Cluster};
use crate::{free_addr, run_payments, spawn_role, stack_env, wait_ready, Roles};

/// The import's id and message from `payments import`'s output: the message is its first
/// line, the id follows `import id: `.
fn printed_import(printed: &str) -> (String, String) {
    let id = printed
        .split("import id: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no import id in: {printed}"))
        .to_owned();
    let message = printed.lines().next().unwrap_or_default().to_owned();
    (id, message)
}

/// Text as the page's templates escape it (minijinja's HTML escaping).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// A PaymentImport that reports on import `id` (started elsewhere), as the importer records
/// an upload.
fn adopting(id: &str, key: &str) -> PaymentImport {
    let mut import = s3_import(&format!("cli-{id}"), key);
    import.metadata.annotations = Some(
        [
            (IMPORT_ID_ANNOTATION.to_owned(), id.to_owned()),
            (CREATED_BY_ANNOTATION.to_owned(), "alice".to_owned()),
        ]
        .into(),
    );
    import
}

struct Front {
    http: reqwest::Client,
    importer: String,
    imports: Api<PaymentImport>,
}

impl Front {
    /// The import as the API shows it.
    async fn api(&self, id: &str) -> serde_json::Value {
        self.http
            .get(format!("http://{}/api/imports/{id}", self.importer))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /api/imports/{id}")
            .json()
            .await
            .expect("JSON")
    }

    /// Every front end words import `id` as `printed` (what the CLI printed): the API's
    /// `message`, the page's banner sentences, the PaymentImport's status (once the controller
    /// has reported this state). `case` names the outcome in failures.
    async fn assert_worded_alike(&self, case: &str, id: &str, printed: &str) {
        let api = self.api(id).await;
        assert_eq!(api["message"], printed, "{case}: the API's message");
        let details: Vec<String> = api["outcome"]["details"]
            .as_array()
            .unwrap_or_else(|| panic!("{case}: no outcome in {api}"))
            .iter()
            .map(|d| d.as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(details.join(" "), printed, "{case}: the API's outcome");
        let page = self
            .http
            .get(format!("http://{}/imports/{id}", self.importer))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /imports/{id}")
            .text()
            .await
            .expect("page");
        for detail in &details {
            assert!(
                page.contains(&format!("<p>{}</p>", html(detail))),
                "{case}: the page lacks {detail:?}"
            );
        }
        let key = api["object_key"].as_str().unwrap_or_default().to_owned();
        let name = format!("cli-{id}");
        if self.imports.get_opt(&name).await.expect("GET").is_none() {
            self.imports
                .create(&PostParams::default(), &adopting(id, &key))
                .await
                .expect("create the PaymentImport");
        }
        let shown = wait_for(
            &format!("{case}: the PaymentImport's status to say {printed:?}"),
            Duration::from_secs(120),
            || async {
                let object = self.imports.get(&name).await.ok()?;
                let message = object.status?.message?;
                (message == printed).then_some(message)
            },
        )
        .await;
        assert_eq!(shown, printed, "{case}: the PaymentImport's status");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_front_end_words_an_import_the_same() {
    let db = TestDb::create().await;
    let topic = unique_name("messages-imports");
    create_topics(&[&topic], 1).await;
    let cluster = Cluster::new("messages").await;
    let mut env = stack_env(&db.url, &unique_name("messages-files"));
    env.extend([
        ("PAYMENTS_IMPORT_TOPIC", topic.clone()),
        ("USER", "alice".to_owned()),
    ]);
    let (importer, controller) = (free_addr(), free_addr());
    let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        env.iter().chain(extra).cloned().collect()
    };
    let importer_env = with(&[("PAYMENTS_IMPORTER_ADDR", importer.clone())]);
    let controller_env = with(&[
        ("PAYMENTS_CONTROLLER_ADDR", controller),
        ("KUBECONFIG", cluster.kubeconfig.clone()),
        ("POD_NAMESPACE", cluster.namespace.clone()),
        ("PAYMENTS_LEASE_NAME", unique_name("messages-lease")),
    ]);
    let mut roles = Roles(Vec::new());
    for (role, env, log) in [
        ("importer", &importer_env, "messages-importer"),
        ("controller", &controller_env, "messages-controller"),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        roles.0.push(spawn_role(role, &env, log));
    }
    let front = Front {
        http: reqwest::Client::new(),
        importer: importer.clone(),
        imports: Api::namespaced(cluster.client.clone(), &cluster.namespace),
    };
    wait_ready(
        &importer,
        "the importer to answer (log: messages-importer.log)",
    )
    .await;

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let text = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("a sample");
    let write = |name: &str, body: &str| {
        let path = dir.join(format!("{}.csv", unique_name(name)));
        std::fs::write(&path, body).expect("sample file");
        path.to_string_lossy().into_owned()
    };
    let file = write("messages", &text);
    let totals = payments_csv::Analysis::new(&payments_csv::Options::default())
        .run(text.as_bytes())
        .expect("the sample is well-formed")
        .0
        .totals
        .file;
    let first = &totals.currencies()[0];
    let wrong = format!("{}={}:{}", first.currency, first.rows + 1, first.amount);

    let import = |args: &[&str]| {
        let (ok, printed) = run_payments(args, &env);
        assert!(ok, "payments {args:?}: {printed}");
        printed_import(&printed)
    };

    // A dry run first: it publishes nothing and does not count as an import of the bytes.
    let (id, printed) = import(&["import", &file, "--dry-run"]);
    assert!(printed.starts_with("Dry run:"), "{printed}");
    front.assert_worded_alike("dry run", &id, &printed).await;

    // Sent to processing (no ingester runs, so it stays there).
    let (id, printed) = import(&["import", &file]);
    assert!(
        printed.starts_with("File uploaded successfully!"),
        "{printed}"
    );
    front
        .assert_worded_alike("sent to processing", &id, &printed)
        .await;

    // The same bytes again: the first import is named by its file and time.
    let (id, printed) = import(&["import", &file]);
    assert!(printed.contains("already imported, as "), "{printed}");
    front
        .assert_worded_alike("the same bytes again", &id, &printed)
        .await;

    // Totals that differ: refused (the CLI exits non-zero), nothing published.
    let other = write("messages-totals", &format!("{text}\n"));
    let (ok, out) = run_payments(&["import", &other, "--expect", &wrong], &env);
    assert!(!ok, "{out}");
    let (id, printed) = printed_import(&out);
    assert!(printed.contains("control totals differ"), "{printed}");
    front
        .assert_worded_alike("totals that differ", &id, &printed)
        .await;

    // Held for approval, then approved by bob.
    let held = write("messages-held", &format!("{text}\n\n"));
    let (id, printed) = import(&["import", &held, "--require-approval"]);
    assert!(printed.contains("someone other than alice"), "{printed}");
    front
        .assert_worded_alike("held for approval", &id, &printed)
        .await;
    let (ok, printed) = run_payments(&["approve", &id, "--as", "bob"], &env);
    assert!(ok, "{printed}");
    let printed = printed.trim_end().to_owned();
    assert!(printed.contains("Approved by bob."), "{printed}");
    front.assert_worded_alike("approved", &id, &printed).await;

    // Held, then rejected by bob with a note.
    let rejected = write("messages-rejected", &format!("{text}\n\n\n"));
    let (id, _) = import(&["import", &rejected, "--require-approval"]);
    let (ok, printed) = run_payments(
        &["reject", &id, "--as", "bob", "--reason", "sent twice"],
        &env,
    );
    assert!(ok, "{printed}");
    let printed = printed.trim_end().to_owned();
    assert!(
        printed.starts_with("Rejected by bob: sent twice."),
        "{printed}"
    );
    front.assert_worded_alike("rejected", &id, &printed).await;

    drop(roles);
    db.drop_database().await;
}
