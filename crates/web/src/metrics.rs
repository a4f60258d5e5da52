//! The importer's `/metrics`: uploads, rows, bytes and how long an upload takes to publish.

payments_runtime::metrics! {
    /// What the importer has done since start.
    pub struct WebMetrics in "payments_importer" {
        /// Uploads handled, refused files included.
        uploads: Counter,
        /// Uploads the platform could not handle (storage, database, broker, limits).
        uploads_failed: Counter,
        /// Rows read from uploaded files.
        rows: Counter,
        /// Bytes received in uploads.
        bytes: Counter,
        /// Seconds from an upload's first byte until its rows were published (or it was refused).
        publish_seconds: Histogram = payments_runtime::latency_buckets(),
    }
}
