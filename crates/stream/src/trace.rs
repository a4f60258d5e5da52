//! W3C trace context in Kafka headers: a producer stamps each record with the `traceparent` of
//! the span it was produced in, so a consumer can link its work to the upload or event that
//! caused it. Without a tracing pipeline (no OpenTelemetry layer installed) there is no valid
//! span context and nothing is stamped.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header carrying the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current tracing span, when it is part of a trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// `headers` with the `traceparent`, if there is one.
pub fn with_traceparent(headers: OwnedHeaders, traceparent: Option<&str>) -> OwnedHeaders {
    match traceparent {
        Some(value) => headers.insert(Header {
            key: TRACEPARENT,
            value: Some(value),
        }),
        None => headers,
    }
}

/// The remote span context a record's `traceparent` header names, if it has a valid one.
pub fn span_context<H: Headers>(headers: Option<&H>) -> Option<SpanContext> {
    let headers = headers?;
    let value = headers
        .iter()
        .find(|h| h.key == TRACEPARENT)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())?;
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::OwnedHeaders;

    #[test]
    fn a_traceparent_header_round_trips() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = with_traceparent(OwnedHeaders::new(), Some(value));
        let context = span_context(Some(&headers)).expect("a valid context");
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(context.is_remote());
    }

    #[test]
    fn missing_or_malformed_headers_give_no_context() {
        assert!(span_context::<OwnedHeaders>(None).is_none());
        let headers = with_traceparent(OwnedHeaders::new(), Some("00-zz-yy-01"));
        assert!(span_context(Some(&headers)).is_none());
        assert!(with_traceparent(OwnedHeaders::new(), None).count() == 0);
    }

    #[test]
    fn outside_a_trace_nothing_is_stamped() {
        assert_eq!(current_traceparent(), None);
    }
}
