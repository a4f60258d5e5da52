//! No secret leaks: the database password, the S3 secret key and the Metabase admin password
//! never show in `--help`, in any role's logs (at debug level, working or failing), in
//! `/metrics`, or in the Metabase provisioning Job's output.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use payments_testkit::{create_topics, stack, unique_name, wait_for, TestDb};

use crate::{free_addr, spawn_role, wait_ready, Roles, SERIAL};

const DB_PASSWORD: &str = "db-pw-7Hq2Zs9Kx4";
const S3_WRONG_SECRET: &str = "s3-secret-Vn8Lp3Qw6R";
const MB_PASSWORD: &str = "mb-pw-Tz5Cy1Jm8E";

/// Every secret a test hands the processes, the stack's real S3 secret key included, with a
/// label: a failure names the secret and shows the text with it blacked out, so the test's own
/// output leaks nothing either.
fn secrets() -> [(&'static str, &'static str); 4] {
    [
        ("the database password", DB_PASSWORD),
        ("the wrong S3 secret key", S3_WRONG_SECRET),
        ("the Metabase admin password", MB_PASSWORD),
        ("the stack's S3 secret key", stack().s3_secret_key.as_str()),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for (label, secret) in secrets() {
        assert!(
            !text.contains(secret),
            "{what} shows {label} (as ########):\n{}",
            text.replace(secret, "########")
        );
    }
}

/// `url` with `DB_PASSWORD` as its password (the test database trusts local connections, so
/// any password connects).
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.split_once('@').expect("a user in the URL");
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    format!("{scheme}://{user}:{DB_PASSWORD}@{host}")
}

/// The variables every process gets: all three secrets, whether the role reads them or not.
fn secret_env(database_url: &str) -> Vec<(&'static str, String)> {
    let s = stack();
    vec![
        ("PAYMENTS_DATABASE_URL", with_password(database_url)),
        ("PAYMENTS_KAFKA_BROKERS", s.kafka_brokers.clone()),
        ("PAYMENTS_S3_ENDPOINT", s.s3_endpoint.clone()),
        ("PAYMENTS_S3_REGION", s.s3_region.clone()),
        ("PAYMENTS_S3_ACCESS_KEY", s.s3_access_key.clone()),
        ("PAYMENTS_S3_SECRET_KEY", s.s3_secret_key.clone()),
        ("MB_ADMIN_PASSWORD", MB_PASSWORD.to_owned()),
        ("PAYMENTS_LOG", "debug".to_owned()),
    ]
}

/// What `payments ARGS` printed, working or failing.
fn payments(args: &[&str], env: &[(&str, String)]) -> String {
    crate::run_payments(args, env).1
}

#[test]
fn no_help_text_shows_a_secret_from_the_environment() {
    let env = secret_env("postgres://payments@127.0.0.1:5432/payments");
    let top = payments(&["--help"], &env);
    assert_no_secret("payments --help", &top);
    // The subcommands as the help lists them, so a new one is checked too.
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .split("Options:")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(
        commands.len() >= 8 && commands.iter().any(|c| c == "importer"),
        "{commands:?}"
    );
    for command in &commands {
        let help = payments(&[command, "--help"], &env);
        assert!(help.contains("Usage: payments"), "{command}: {help}");
        assert_no_secret(&format!("payments {command} --help"), &help);
        assert_no_secret(
            &format!("payments help {command}"),
            &payments(&["help", command], &env),
        );
    }
    // The value is hidden, not the variable: the help still says where the setting comes from.
    let importer = payments(&["importer", "--help"], &env);
    assert!(
        importer.contains("[env: PAYMENTS_DATABASE_URL]"),
        "{importer}"
    );
    assert!(
        importer.contains("[env: PAYMENTS_S3_SECRET_KEY]"),
        "{importer}"
    );
}

fn log_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.log"))
}

/// (role, log name, environment, address whose `/metrics` to scrape when the run works)
type Role = (
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
    Option<String>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_role_logs_or_serves_a_secret_working_or_failing() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let stream = unique_name("secrets-events");
    let import = unique_name("secrets-imports");
    create_topics(&[&stream, &import], 1).await;
    let bucket = unique_name("secrets-files");
    payments_testkit::object_store(&bucket)
        .ensure_bucket()
        .await
        .expect("bucket");
    let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_else(|_| {
        payments_testkit::script_exports(
            "scripts/k8s-tools",
            "apiserver-env",
            "no kube-apiserver: start one with `scripts/k8s-tools apiserver-up`",
        )
        .remove("KUBECONFIG")
        .expect("KUBECONFIG from scripts/k8s-tools apiserver-env")
    });

    let mut env = secret_env(&db.url);
    env.extend([
        ("PAYMENTS_STREAM_TOPIC", stream.clone()),
        ("PAYMENTS_IMPORT_TOPIC", import.clone()),
        ("PAYMENTS_S3_BUCKET", bucket.clone()),
        ("PAYMENTS_STARTUP_TIMEOUT", "5s".to_owned()),
    ]);
    let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        env.iter().chain(extra).cloned().collect()
    };
    // A working run of each role, and failing ones: a database that is not there, S3 refusing
    // the secret key.
    let dead_db = with_password("postgres://payments@127.0.0.1:1/payments");
    let wrong_s3 = ("PAYMENTS_S3_SECRET_KEY", S3_WRONG_SECRET.to_owned());
    let roles: Vec<Role> = {
        let (ingester, importer, generator, controller, bad_importer) = (
            free_addr(),
            free_addr(),
            free_addr(),
            free_addr(),
            free_addr(),
        );
        vec![
            (
                "ingester",
                "secrets-ingester",
                with(&[
                    ("PAYMENTS_INGESTER_ADDR", ingester.clone()),
                    ("PAYMENTS_GROUP_ID", unique_name("secrets")),
                ]),
                Some(ingester),
            ),
            (
                "importer",
                "secrets-importer",
                with(&[("PAYMENTS_IMPORTER_ADDR", importer.clone())]),
                Some(importer),
            ),
            (
                "generator",
                "secrets-generator",
                with(&[
                    ("PAYMENTS_GENERATOR_ADDR", generator.clone()),
                    ("PAYMENTS_GENERATOR_RATE", "50".to_owned()),
                    ("PAYMENTS_GENERATOR_COUNT", "100".to_owned()),
                ]),
                Some(generator),
            ),
            (
                "controller",
                "secrets-controller",
                with(&[
                    ("PAYMENTS_CONTROLLER_ADDR", controller.clone()),
                    ("KUBECONFIG", kubeconfig.clone()),
                    ("POD_NAMESPACE", unique_name("secrets-absent")),
                    ("PAYMENTS_LEASE_NAME", unique_name("secrets-lease")),
                ]),
                Some(controller),
            ),
            (
                "importer",
                "secrets-importer-wrong-s3",
                with(&[("PAYMENTS_IMPORTER_ADDR", bad_importer), wrong_s3.clone()]),
                None,
            ),
            (
                "ingester",
                "secrets-ingester-no-db",
                with(&[
                    ("PAYMENTS_INGESTER_ADDR", free_addr()),
                    ("PAYMENTS_DATABASE_URL", dead_db.clone()),
                ]),
                None,
            ),
        ]
    };
    let mut running = Roles(Vec::new());
    for (role, log, env, _) in &roles {
        let _ = std::fs::remove_file(log_path(log));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        running.0.push(spawn_role(role, &env, log));
    }

    // Every working role's /metrics, once it serves it; the importer also handles an upload.
    let http = reqwest::Client::new();
    for (role, log, _, addr) in &roles {
        let Some(addr) = addr else { continue };
        let metrics = wait_for(
            &format!("the {role}'s /metrics (log: {log}.log)"),
            Duration::from_secs(120),
            || async {
                let response = http
                    .get(format!("http://{addr}/metrics"))
                    .send()
                    .await
                    .ok()?;
                response.text().await.ok()
            },
        )
        .await;
        assert!(metrics.contains("# TYPE"), "{role}: {metrics}");
        assert_no_secret(&format!("the {role}'s /metrics"), &metrics);
    }
    let importer = roles[1].3.clone().expect("importer address");
    wait_ready(&importer, "the importer to be ready").await;
    let csv = payments_csv::sample_csv(payments_csv::samples::REGULAR).expect("a sample");
    let part = reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("secrets.csv");
    let response = http
        .post(format!("http://{importer}/api/imports"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 201);
    assert_no_secret("an upload's answer", &response.text().await.expect("body"));

    // The command-line import and the migration, as one-shot processes.
    let sample = log_path("secrets-sample").with_extension("csv");
    std::fs::write(
        &sample,
        payments_csv::sample_csv(payments_csv::samples::SUSPICIOUS).expect("a sample"),
    )
    .expect("sample file");
    let sample = sample.to_string_lossy().into_owned();
    let imported = payments(&["import", &sample], &env);
    assert!(
        imported.contains("File uploaded successfully"),
        "{imported}"
    );
    let mut one_shots = vec![
        ("migrate", payments(&["migrate"], &env)),
        ("import", imported),
        (
            "import with a wrong S3 secret",
            payments(
                &["import", &sample],
                &env.iter()
                    .cloned()
                    .chain([wrong_s3.clone()])
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "migrate without a database",
            payments(
                &["migrate"],
                &env.iter()
                    .cloned()
                    .chain([("PAYMENTS_DATABASE_URL", dead_db.clone())])
                    .collect::<Vec<_>>(),
            ),
        ),
    ];
    assert!(
        one_shots[2].1.to_lowercase().contains("s3")
            || one_shots[2].1.to_lowercase().contains("signature")
            || one_shots[2].1.to_lowercase().contains("access"),
        "the wrong S3 secret fails the import: {}",
        one_shots[2].1
    );

    // Let the failing ones retry a few times, then stop everything and read the logs.
    tokio::time::sleep(Duration::from_secs(6)).await;
    drop(running);
    for (_, log, _, _) in &roles {
        let mut text = String::new();
        std::fs::File::open(log_path(log))
            .and_then(|mut f| f.read_to_string(&mut text))
            .unwrap_or_else(|e| panic!("{log}.log: {e}"));
        one_shots.push((*log, text));
    }
    for (what, text) in &one_shots {
        assert!(text.len() > 100, "{what} logged something: {text}");
        assert_no_secret(what, text);
    }
    // The failing runs did log their failure (so the check above looked at error paths).
    let failing = |name: &str| {
        one_shots
            .iter()
            .find(|(what, _)| *what == name)
            .map(|(_, text)| text.to_lowercase())
            .unwrap_or_default()
    };
    assert!(
        failing("secrets-ingester-no-db").contains("error")
            || failing("secrets-ingester-no-db").contains("warn"),
        "{}",
        failing("secrets-ingester-no-db")
    );
    db.drop_database().await;
}

/// A stand-in for Metabase that answers every request with an error quoting the request body,
/// as a verbose server might.
fn echoing_metabase() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(6) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 8192];
            // Headers, then the body by its Content-Length.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0usize);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            let (status, answer) = match path.as_str() {
                "/api/health" => ("200 OK", r#"{"status":"ok"}"#.to_owned()),
                "/api/session/properties" => (
                    "200 OK",
                    r#"{"has-user-setup":false,"setup-token":"token"}"#.to_owned(),
                ),
                _ => (
                    "400 Bad Request",
                    format!("{{\"message\":\"invalid request\",\"request\":{body}}}"),
                ),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (format!("http://{addr}"), handle)
}

/// `payments metabase-setup` against a Metabase stand-in that refuses the setup and quotes the
/// request (the admin password) back: the command fails, and neither its output nor its error
/// carries a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabase_setup_never_prints_its_passwords() {
    let (url, _server) = echoing_metabase();
    let db = TestDb::create().await;
    let output = Command::new(env!("CARGO_BIN_EXE_payments"))
        .arg("metabase-setup")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PAYMENTS_LOG", "debug")
        .env("PAYMENTS_METABASE_URL", &url)
        .env("PAYMENTS_METABASE_ADMIN_EMAIL", "admin@example.com")
        .env("PAYMENTS_METABASE_ADMIN_PASSWORD", MB_PASSWORD)
        .env("PAYMENTS_METABASE_DB_PASSWORD", MB_PASSWORD)
        .env("PAYMENTS_DATABASE_URL", with_password(&db.url))
        .env("PAYMENTS_STARTUP_TIMEOUT", "5s")
        .stdin(Stdio::null())
        .output()
        .expect("run payments metabase-setup");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success() && text.contains("400"),
        "the stand-in refuses the setup and the command reports it: {text}"
    );
    assert_no_secret("metabase-setup's output", &text);
    db.drop_database().await;
}
