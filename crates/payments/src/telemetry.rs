use tracing_subscriber::EnvFilter;

/// Logs to stderr, level from `PAYMENTS_LOG` (e.g. `info,payments_ingester=debug`), as text or
/// JSON lines (for log collectors in the cluster).
pub fn init(format: &crate::cli::LogFormat) {
    let filter = EnvFilter::try_from_env("PAYMENTS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        crate::cli::LogFormat::Json => builder.json().init(),
        crate::cli::LogFormat::Text => builder.init(),
    }
}
