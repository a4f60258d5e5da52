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

/// The raw `traceparent` header of a record, if it has one.
fn traceparent<H: Headers>(headers: Option<&H>) -> Option<&[u8]> {
    headers?
        .iter()
        .find(|h| h.key == TRACEPARENT)
        .and_then(|h| h.value)
}

/// The remote span context a `traceparent` value names, if it is valid.
fn parse(value: &[u8]) -> Option<SpanContext> {
    let value = std::str::from_utf8(value).ok()?;
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// The distinct traces of a run of records, at most `cap`. Cheap on the consume path: a header
/// equal to the previous record's (every row of one import carries the same) is not parsed again.
#[derive(Debug)]
pub struct TraceLinks {
    links: Vec<SpanContext>,
    last: Vec<u8>,
    cap: usize,
}

impl TraceLinks {
    pub fn new(cap: usize) -> Self {
        TraceLinks {
            links: Vec::new(),
            last: Vec::new(),
            cap,
        }
    }

    /// Notes the trace of one record's headers.
    pub fn add<H: Headers>(&mut self, headers: Option<&H>) {
        if self.links.len() >= self.cap {
            return;
        }
        let Some(value) = traceparent(headers) else {
            return;
        };
        if value == self.last.as_slice() {
            return;
        }
        self.last = value.to_vec();
        if let Some(context) = parse(value) {
            if !self
                .links
                .iter()
                .any(|l| l.trace_id() == context.trace_id())
            {
                self.links.push(context);
            }
        }
    }

    pub fn into_links(self) -> Vec<SpanContext> {
        self.links
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::OwnedHeaders;

    fn span_context(headers: Option<&OwnedHeaders>) -> Option<SpanContext> {
        traceparent(headers).and_then(parse)
    }

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
        assert!(span_context(None).is_none());
        let headers = with_traceparent(OwnedHeaders::new(), Some("00-zz-yy-01"));
        assert!(span_context(Some(&headers)).is_none());
        assert!(with_traceparent(OwnedHeaders::new(), None).count() == 0);
    }

    #[test]
    fn links_are_distinct_traces_up_to_the_cap() {
        let one = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let same_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01";
        let two = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let three = "00-6bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut links = TraceLinks::new(2);
        for value in [
            Some(one),
            Some(one),
            None,
            Some(same_trace),
            Some(two),
            Some(three),
        ] {
            let headers = with_traceparent(OwnedHeaders::new(), value);
            links.add(Some(&headers));
        }
        let traces: Vec<String> = links
            .into_links()
            .iter()
            .map(|l| l.trace_id().to_string())
            .collect();
        assert_eq!(
            traces,
            [
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "5bf92f3577b34da6a3ce929d0e0e4736"
            ]
        );
    }

    #[test]
    fn outside_a_trace_nothing_is_stamped() {
        assert_eq!(current_traceparent(), None);
    }
}
