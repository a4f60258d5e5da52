use std::process::Command;
use std::time::{Duration, Instant};

use payments_generator::GeneratorConfig;
use payments_testkit::{
    applied_records, create_topics, producer, repo_root, topic_record_count, unique_name, wait_for,
    TestDb,
};

use crate::{count, kill, spawn_ingester, Topics, CAUGHT_UP_TIMEOUT, SERIAL};

const OUTAGE: Duration = Duration::from_secs(20);

fn stack(command: &str) {
    let status = Command::new(repo_root().join("scripts/stack"))
        .arg(command)
        .status()
        .expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {command} failed");
}

/// Starts PostgreSQL again even if the test fails half-way.
struct RestartPostgres;

impl Drop for RestartPostgres {
    fn drop(&mut self) {
        stack("pg-start");
    }
}

async fn readyz(addr: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// PostgreSQL stops for 20 s while events keep flowing: the ingester stays up, reports itself
/// unready, and catches up afterwards with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingester_survives_a_database_outage_and_catches_up() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let topics = Topics {
        stream: unique_name("outage-stream"),
        import: unique_name("outage-import"),
    };
    create_topics(&[&topics.stream, &topics.import], 3).await;
    let addr = crate::free_addr();
    let mut child = spawn_ingester(
        &db.url,
        &unique_name("outage-group"),
        &topics,
        &addr,
        "outage",
    );
    wait_for(
        "the ingester to be ready",
        Duration::from_secs(60),
        || async { (readyz(&addr).await == Some(200)).then_some(()) },
    )
    .await;

    // 50 events a second for about 40 s: before, during and after the outage.
    let generator = tokio::spawn({
        let pool = db.pool.clone();
        let config = GeneratorConfig {
            topic: topics.stream.clone(),
            rate: Some(50.0),
            count: Some(2000),
            seed: Some(11),
            ..GeneratorConfig::default()
        };
        async move { payments_generator::run(config, pool, producer(), Default::default()).await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;

    let restart = RestartPostgres;
    stack("pg-stop");
    let stopped = Instant::now();
    wait_for("/readyz to report the outage", OUTAGE, || async {
        (readyz(&addr).await == Some(503)).then_some(())
    })
    .await;
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    assert!(
        child.try_wait().expect("child status").is_none(),
        "the ingester survived the outage"
    );
    drop(restart);

    let sent = generator.await.expect("generator task").expect("generator");
    assert_eq!(sent, 2000);
    let total = topic_record_count(&topics.stream);
    assert_eq!(total, 2000);
    wait_for("the ingester to catch up", CAUGHT_UP_TIMEOUT, || async {
        applied_records(&db.pool).await.filter(|n| *n >= total)
    })
    .await;
    wait_for("/readyz to recover", Duration::from_secs(60), || async {
        (readyz(&addr).await == Some(200)).then_some(())
    })
    .await;
    assert!(
        child.try_wait().expect("child status").is_none(),
        "the ingester is still running"
    );
    kill(&mut child);
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM transactions").await,
        Some(2000),
        "nothing lost"
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM rejected_events").await,
        Some(0)
    );
    db.drop_database().await;
}
