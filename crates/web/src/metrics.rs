//! The importer's `/metrics`: uploads, rows, bytes and how long an upload takes to publish.

use payments_runtime::{Counter, Histogram, Registry};

#[derive(Debug)]
pub struct WebMetrics {
    /// Uploads handled (refused files included; broken-off uploads not).
    pub uploads: Counter,
    /// Uploads the platform could not handle (storage, database, broker, limits).
    pub uploads_failed: Counter,
    /// Rows read from uploaded files.
    pub rows: Counter,
    /// Bytes received in uploads.
    pub bytes: Counter,
    /// Seconds from an upload's first byte until its rows were published (or it was refused).
    pub publish_seconds: Histogram,
}

impl Default for WebMetrics {
    fn default() -> Self {
        WebMetrics {
            uploads: Counter::default(),
            uploads_failed: Counter::default(),
            rows: Counter::default(),
            bytes: Counter::default(),
            publish_seconds: Histogram::new(payments_runtime::latency_buckets()),
        }
    }
}

impl WebMetrics {
    pub(crate) fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        let counters = [
            (
                "payments_importer_uploads",
                &self.uploads,
                "Uploads handled, refused files included",
            ),
            (
                "payments_importer_uploads_failed",
                &self.uploads_failed,
                "Uploads the platform could not handle",
            ),
            (
                "payments_importer_rows",
                &self.rows,
                "Rows read from uploaded files",
            ),
            (
                "payments_importer_bytes",
                &self.bytes,
                "Bytes received in uploads",
            ),
        ];
        for (name, counter, help) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "payments_importer_publish_seconds",
            "Seconds from an upload's first byte until its rows were published (or it was refused)",
            self.publish_seconds.clone(),
        );
        registry
    }
}
