//! Plumbing every role shares, from maintained crates: Prometheus metrics (`prometheus-client`)
//! served the same way at `GET /metrics`, one retry policy (`backon`) and one wait for what a
//! process needs at start ([`until_available`]).

use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::routing::get;
use axum::Router;
use backon::ExponentialBuilder;
use prometheus_client::encoding::text::encode;

pub use backon;
pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
pub use prometheus_client::registry::Registry;

/// The OpenMetrics text format, which Prometheus scrapes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry in the text format.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, registry);
    text
}

/// `GET /metrics` for `registry`, to merge into a role's router.
pub fn metrics_router<S>(registry: Arc<Registry>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
                    render(&registry),
                )
            }
        }),
    )
}

/// Declares a role's metrics once: the struct (a public field per metric, documented by its
/// help text), its `Default`, and `register`, which names each metric `<prefix>_<field>`.
/// Kinds are `Counter`, `Gauge`, `Histogram = buckets`, or a labelled `Family<Labels, Counter>`
/// / `Family<Labels, Gauge>` (labels derive `EncodeLabelSet`; keep their values few; the types
/// inside `<…>` are resolved where the macro is used).
///
/// ```
/// payments_runtime::metrics! {
///     /// What the example did.
///     pub struct ExampleMetrics in "payments_example" {
///         /// Things done.
///         things: Counter,
///         /// Seconds a thing took.
///         thing_seconds: Histogram = payments_runtime::latency_buckets(),
///     }
/// }
/// let metrics = ExampleMetrics::default();
/// metrics.things.inc();
/// let mut registry = payments_runtime::Registry::default();
/// metrics.register(&mut registry);
/// assert!(payments_runtime::render(&registry).contains("payments_example_things_total 1"));
/// ```
#[macro_export]
macro_rules! metrics {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident in $prefix:literal {
            $( #[doc = $help:literal] $field:ident: $kind:ident $(<$($generic:ty),+>)? $(= $buckets:expr)? ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug)]
        $vis struct $name {
            $( #[doc = $help] pub $field: $crate::$kind $(<$($generic),+>)?, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $crate::metrics!(@new $kind $(= $buckets)?), )* }
            }
        }

        impl $name {
            /// Registers every metric under this role's prefix.
            pub fn register(&self, registry: &mut $crate::Registry) {
                let registry = registry.sub_registry_with_prefix($prefix);
                $(
                    // The text format adds the final period.
                    registry.register(
                        stringify!($field),
                        $help.trim().trim_end_matches('.'),
                        self.$field.clone(),
                    );
                )*
            }
        }
    };
    (@new Histogram = $buckets:expr) => {
        $crate::Histogram::new($buckets)
    };
    (@new $kind:ident) => {
        ::core::default::Default::default()
    };
}

/// Seconds-scale latency buckets, 1 ms to about 33 s.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 16)
}

/// The platform's retry policy: exponential from `first`, doubling, capped at `max`, forever
/// (callers stop on shutdown), with jitter so replicas do not retry in step.
pub fn retry_policy(first: Duration, max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// Runs a start-up step until it succeeds, for at most `timeout`, with the platform's retry
/// policy from 250 ms to 5 s: a process that exits instead would be restarted by Kubernetes
/// with ever longer back-off delays while its dependencies (database, broker, object storage,
/// Metabase) come up. Each failed attempt is logged under `what`; the last error is returned.
pub async fn until_available<T, E, F, Fut>(what: &str, timeout: Duration, step: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    use backon::Retryable;
    let started = std::time::Instant::now();
    step.retry(retry_policy(
        Duration::from_millis(250),
        Duration::from_secs(5),
    ))
    .when(|_| started.elapsed() < timeout)
    .notify(|error, delay| tracing::warn!(%error, retry_in = ?delay, "{what}: not available yet"))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn the_policy_grows_to_its_cap_and_never_gives_up() {
        let max = Duration::from_millis(800);
        let delays: Vec<Duration> = retry_policy(Duration::from_millis(100), max)
            .build()
            .take(50)
            .collect();
        assert_eq!(delays.len(), 50, "retries forever");
        // Jitter adds up to one more delay on top of the base.
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200));
        assert!(delays.iter().all(|d| *d <= max * 2));
        assert!(delays[49] >= max);
    }

    #[test]
    fn metrics_render_in_the_text_format() {
        let mut registry = Registry::default();
        let counter: Counter = Counter::default();
        registry.register("payments_test_things", "Things counted", counter.clone());
        let histogram = Histogram::new(latency_buckets());
        registry.register("payments_test_seconds", "Time taken", histogram.clone());
        counter.inc_by(3);
        histogram.observe(0.25);
        let text = render(&registry);
        assert!(text.contains("payments_test_things_total 3"), "{text}");
        assert!(text.contains("payments_test_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Kind {
        kind: &'static str,
    }

    crate::metrics! {
        /// A role with a labelled counter.
        struct Labelled in "payments_test" {
            /// Things by kind.
            things: Family<Kind, Counter>,
            /// Level by kind.
            level: Family<Kind, Gauge>,
        }
    }

    #[test]
    fn families_render_one_series_per_label_value() {
        let metrics = Labelled::default();
        metrics.things.get_or_create(&Kind { kind: "a" }).inc();
        metrics.things.get_or_create(&Kind { kind: "b" }).inc_by(2);
        metrics.level.get_or_create(&Kind { kind: "a" }).set(7);
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let text = render(&registry);
        assert!(
            text.contains("payments_test_things_total{kind=\"a\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("payments_test_things_total{kind=\"b\"} 2"),
            "{text}"
        );
        assert!(text.contains("payments_test_level{kind=\"a\"} 7"), "{text}");
    }
}
