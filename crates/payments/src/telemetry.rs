//! Logs and traces. Logs go to stderr as text or JSON lines. Spans also become OpenTelemetry
//! spans, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`)
//! is set; the standard `OTEL_*` variables (headers, timeout, `OTEL_SERVICE_NAME`) apply.
//! The trace context crosses Kafka in a `traceparent` header (`payments_stream::trace`).
//! JSON log lines inside a span carry its `trace_id` and `span_id` when traces are on, so a
//! log search leads to the trace and back.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::LogFormat;

/// Flushes buffered spans when dropped, so the last ones are not lost at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("flushing traces failed: {e}");
            }
        }
    }
}

/// The log filter under `PAYMENTS_LOG`'s directives. Two of the lake's libraries log normal
/// events as problems: deltalake warns at every MERGE that a scan metric is missing, and the
/// Delta kernel logs an ERROR for each table that does not exist yet (the replicator's first
/// start). Both errors reach our own code as values, which decides what to log.
const BASE_LOG_FILTER: &str =
    "info,rdkafka=warn,sqlx=warn,deltalake_core::operations::merge=error,buoyant_kernel::snapshot=off";

/// `PAYMENTS_LOG` added to the base filter: a later directive for the same target replaces the
/// base's, so `debug` raises the level of everything the base does not name, and
/// `rdkafka=debug` still reaches librdkafka. An invalid value leaves the base, with the reason.
fn log_filter(configured: Option<&str>) -> (EnvFilter, Option<String>) {
    let base = || EnvFilter::new(BASE_LOG_FILTER);
    match configured.map(str::trim).filter(|v| !v.is_empty()) {
        None => (base(), None),
        Some(directives) => match EnvFilter::try_new(format!("{BASE_LOG_FILTER},{directives}")) {
            Ok(filter) => (filter, None),
            Err(e) => (base(), Some(format!("PAYMENTS_LOG {directives:?} is not a log filter ({e}); logging with {BASE_LOG_FILTER:?}"))),
        },
    }
}

/// Log level from `PAYMENTS_LOG` (e.g. `info,payments_ingester=debug`); `role` names the
/// service in traces (`payments-<role>` unless `OTEL_SERVICE_NAME` is set).
pub fn init(format: &LogFormat, role: &str) -> Telemetry {
    let configured = std::env::var("PAYMENTS_LOG").ok();
    let (filter, invalid) = log_filter(configured.as_deref());
    let dispatch = Arc::new(OnceLock::new());
    let logs = log_layer(format, std::io::stderr, dispatch.clone());
    let (provider, problem) = if otlp_configured() {
        match tracer_provider(role) {
            Ok(provider) => (Some(provider), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("payments")));
    let subscriber: Dispatch = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .into();
    let _ = dispatch.set(subscriber.downgrade());
    subscriber.init();
    if let Some(e) = problem {
        tracing::warn!(error = %e, "traces are not exported");
    }
    if let Some(reason) = invalid {
        tracing::warn!("{reason}");
    }
    Telemetry { provider }
}

/// Log lines to `writer`, as text or JSON lines (with the trace ids, read through `dispatch`:
/// the subscriber this layer ends up in, set once it is built).
fn log_layer<S, W>(
    format: &LogFormat,
    writer: W,
    dispatch: Arc<OnceLock<WeakDispatch>>,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .event_format(JsonWithTraceIds {
                format: tracing_subscriber::fmt::format().json(),
                dispatch,
            })
            .with_writer(writer)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
    }
}

/// tracing-subscriber's JSON lines, plus `trace_id` and `span_id` of the OpenTelemetry span
/// the event happened in (when the OpenTelemetry layer is installed and the span is sampled).
/// The dispatch is held rather than looked up: while an event is being dispatched,
/// `tracing::dispatcher::get_default` answers "none" (it guards against re-entry).
struct JsonWithTraceIds {
    format: Format<Json>,
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        let ids = ctx
            .lookup_current()
            .zip(dispatch)
            .and_then(|(span, dispatch)| {
                tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)
                    .map(|cx| cx.span().span_context().clone())
                    .filter(|ids| ids.is_valid())
            });
        let Some(ids) = ids else {
            return self.format.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.format
            .format_event(ctx, Writer::new(&mut line), event)?;
        // One JSON object per line: the ids go in before its closing brace.
        match line.trim_end().strip_suffix('}') {
            Some(object) => writeln!(
                writer,
                "{object},\"trace_id\":\"{}\",\"span_id\":\"{}\"}}",
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
}

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

fn tracer_provider(
    role: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    // Reads the OTEL_EXPORTER_OTLP_* variables; batches on its own thread.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| format!("payments-{role}"));
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(captured: &Captured) -> Vec<serde_json::Value> {
        let bytes = captured.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn json_lines_in_a_span_carry_its_trace_and_span_ids() {
        let captured = Captured::default();
        let writer = captured.clone();
        let provider = SdkTracerProvider::builder().build();
        let cell = Arc::new(OnceLock::new());
        let dispatch: Dispatch = tracing_subscriber::registry()
            .with(log_layer(
                &LogFormat::Json,
                move || writer.clone(),
                cell.clone(),
            ))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .into();
        cell.set(dispatch.downgrade()).expect("set once");
        let expected = tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("work", item = 7);
            let _entered = span.enter();
            tracing::info!(rows = 3, "inside");
            let cx = span.context();
            let ids = cx.span().span_context().clone();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        let lines = lines(&captured);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
        assert_eq!(lines[1]["fields"]["message"], "inside");
        assert_eq!(lines[1]["fields"]["rows"], 3);
        assert_eq!(lines[1]["trace_id"], expected.0.as_str());
        assert_eq!(lines[1]["span_id"], expected.1.as_str());
        assert_eq!(expected.0.len(), 32);
    }

    /// The JSON lines `events` log through `filter` (none: every level), without traces.
    fn json_lines_of(filter: Option<EnvFilter>, events: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let cell = Arc::new(OnceLock::new());
        let dispatch: Dispatch = tracing_subscriber::registry()
            .with(filter)
            .with(log_layer(
                &LogFormat::Json,
                move || writer.clone(),
                cell.clone(),
            ))
            .into();
        cell.set(dispatch.downgrade()).expect("set once");
        tracing::dispatcher::with_default(&dispatch, events);
        lines(&captured)
    }

    #[test]
    fn json_lines_without_traces_are_plain() {
        let lines = json_lines_of(None, || {
            let span = tracing::info_span!("work");
            let _entered = span.enter();
            tracing::warn!("no exporter");
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["level"], "WARN");
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
    }

    /// Which of the events below a filter lets through, as "target level" words.
    fn passed(filter: EnvFilter) -> Vec<String> {
        json_lines_of(Some(filter), || {
            tracing::warn!(target: "deltalake_core::operations::merge", "merge warning");
            tracing::error!(target: "deltalake_core::operations::merge", "merge error");
            tracing::error!(target: "buoyant_kernel::snapshot", "kernel error");
            tracing::info!(target: "rdkafka::client", "rdkafka info");
            tracing::debug!(target: "rdkafka::client", "rdkafka debug");
            tracing::info!(target: "payments_lakehouse", "ours info");
            tracing::debug!(target: "payments_lakehouse", "ours debug");
        })
        .iter()
        .map(|line| {
            format!(
                "{} {}",
                line["target"].as_str().unwrap_or("?"),
                line["level"]
            )
        })
        .collect()
    }

    #[test]
    fn the_base_filter_hides_the_lake_libraries_normal_events_and_keeps_their_errors() {
        let (filter, invalid) = log_filter(None);
        assert_eq!(invalid, None);
        assert_eq!(
            passed(filter),
            [
                "deltalake_core::operations::merge \"ERROR\"",
                "payments_lakehouse \"INFO\""
            ]
        );
    }

    #[test]
    fn payments_log_adds_to_the_base_filter() {
        let (filter, invalid) = log_filter(Some("debug"));
        assert_eq!(invalid, None);
        assert_eq!(
            passed(filter),
            [
                "deltalake_core::operations::merge \"ERROR\"",
                "payments_lakehouse \"INFO\"",
                "payments_lakehouse \"DEBUG\""
            ],
            "debug raises what the base does not name"
        );
        let (filter, _) = log_filter(Some("info,rdkafka=debug"));
        assert_eq!(
            passed(filter),
            [
                "deltalake_core::operations::merge \"ERROR\"",
                "rdkafka::client \"INFO\"",
                "rdkafka::client \"DEBUG\"",
                "payments_lakehouse \"INFO\""
            ],
            "a named target replaces the base's directive"
        );
    }

    #[test]
    fn an_invalid_payments_log_keeps_the_base_filter_and_says_why() {
        let (filter, invalid) = log_filter(Some("info,payments=loud"));
        let reason = invalid.expect("a reason");
        assert!(
            reason.contains("PAYMENTS_LOG \"info,payments=loud\" is not a log filter"),
            "{reason}"
        );
        assert_eq!(passed(filter).len(), 2);
        assert_eq!(log_filter(Some("  ")).1, None, "blank is unset");
    }
}
