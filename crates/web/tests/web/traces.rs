//! Distributed tracing: an upload's trace travels with its rows through Kafka (`traceparent`
//! header) and the ingester's batch spans link back to it. Spans are collected by the
//! OpenTelemetry SDK's in-memory exporter, installed once for this test binary.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::spawn_app;

fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("web-test"))
            .with_filter(
                Targets::new()
                    .with_target("payments_imports", tracing::Level::INFO)
                    .with_target("payments_ingester", tracing::Level::INFO),
            );
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the only global subscriber of this test binary");
        // Spans are exported for the whole run of the binary.
        std::mem::forget(provider);
        exporter
    })
}

fn spans() -> Vec<SpanData> {
    exporter().get_finished_spans().expect("finished spans")
}

fn has_attribute(span: &SpanData, key: &str, value: &str) -> bool {
    span.attributes
        .iter()
        .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploads_trace_follows_its_rows_into_the_ingester() {
    exporter();
    let app = spawn_app(1024 * 1024).await;
    let bytes = std::fs::read(payments_testkit::repo_root().join("csvs/regular_transactions.csv"))
        .expect("sample file");
    let (status, body) = app.upload("regular_transactions.csv", bytes).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    app.wait_done(&id).await;

    let import = spans()
        .into_iter()
        .find(|s| s.name == "import" && has_attribute(s, "import_id", &id))
        .expect("an `import` span for the upload");
    let trace: TraceId = import.span_context.trace_id();

    let records = payments_testkit::read_topic_records(&app.import_topic);
    assert_eq!(records.len(), 40);
    for record in &records {
        let traceparent = record.header("traceparent").expect("a traceparent header");
        assert!(
            traceparent.starts_with(&format!("00-{trace}-")),
            "{traceparent} is not in trace {trace}"
        );
        assert_eq!(record.header("import-id").as_deref(), Some(id.as_str()));
    }

    payments_testkit::wait_for(
        "an ingester batch span linked to the upload's trace",
        Duration::from_secs(30),
        || async {
            spans()
                .into_iter()
                .filter(|s| s.name == "write_batch")
                .any(|s| {
                    s.links
                        .links
                        .iter()
                        .any(|l| l.span_context.trace_id() == trace)
                })
                .then_some(())
        },
    )
    .await;
    app.stop().await;
}
