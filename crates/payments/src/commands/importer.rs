//! `payments importer`: serves the upload web app and the JSON API.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use crate::args::PipelineArgs;
use crate::shutdown::shutdown_on_signal;

#[derive(Debug, Args)]
pub struct ImporterArgs {
    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,
    /// Address the web app listens on.
    #[arg(long, env = "PAYMENTS_IMPORTER_ADDR", default_value = "0.0.0.0:8080")]
    pub(crate) http_addr: SocketAddr,
    /// Largest upload in bytes (413 above it).
    #[arg(long, env = "PAYMENTS_MAX_UPLOAD_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub(crate) max_upload_bytes: usize,
    /// Metabase's address as a browser reaches it, linked from the portal (not the in-cluster
    /// address `metabase-setup` calls, PAYMENTS_METABASE_URL).
    #[arg(long, env = "PAYMENTS_METABASE_LINK")]
    pub(crate) metabase_link: Option<String>,
    /// The MinIO console's address as a browser reaches it, linked from the portal.
    #[arg(long, env = "PAYMENTS_MINIO_CONSOLE_LINK")]
    pub(crate) minio_console_link: Option<String>,
    /// Create a PaymentImport for each upload (in a cluster), so `kubectl get paymentimports`
    /// lists every import; the controller reports on it and never imports it again.
    #[arg(long, env = "PAYMENTS_RECORD_IN_KUBERNETES", default_value_t = false)]
    pub(crate) record_in_kubernetes: bool,
    /// Namespace of those PaymentImports.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub(crate) namespace: String,
    /// Headers naming the user, tried in order, as set by the authenticating proxy in front of
    /// the app (e.g. oauth2-proxy behind ingress-nginx's `auth-url`).
    #[arg(
        long = "identity-header",
        env = "PAYMENTS_IDENTITY_HEADERS",
        value_delimiter = ',',
        default_value = "X-Forwarded-User,X-Forwarded-Email"
    )]
    pub(crate) identity_headers: Vec<axum::http::HeaderName>,
    /// Addresses (CIDRs) of that proxy: identity headers from anyone else are ignored.
    #[arg(
        long = "trusted-proxy",
        env = "PAYMENTS_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    /// Refuse uploads that no trusted proxy attributes to a user (401).
    #[arg(long, env = "PAYMENTS_REQUIRE_IDENTITY", default_value_t = false)]
    pub(crate) require_identity: bool,
}

pub async fn exec(args: ImporterArgs) -> anyhow::Result<()> {
    // Earlier releases read the portal's link from the variable that now only names Metabase's
    // in-cluster address for metabase-setup.
    if args.metabase_link.is_none() && std::env::var_os("PAYMENTS_METABASE_URL").is_some() {
        tracing::warn!("PAYMENTS_METABASE_URL is Metabase's address for metabase-setup; the portal links PAYMENTS_METABASE_LINK, which is not set");
    }
    let pipeline = args.pipeline.pipeline("payments-importer").await?;
    let config = payments_web::WebConfig {
        max_upload_bytes: args.max_upload_bytes,
        links: payments_web::Links {
            metabase: args.metabase_link,
            minio_console: args.minio_console_link,
        },
        identity: payments_web::IdentityConfig {
            headers: args.identity_headers,
            trusted_proxies: args.trusted_proxies,
            require: args.require_identity,
        },
    };
    let threshold = pipeline.suspicious_threshold();
    let bucket = pipeline.bucket().to_owned();
    let mut state = payments_web::AppState::new(pipeline, config);
    if args.record_in_kubernetes {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (in-cluster or KUBECONFIG)")?;
        let recorder = payments_operator::UploadRecorder::new(client, &args.namespace, &bucket);
        state = state.with_import_hook(std::sync::Arc::new(move |report, dry_run| {
                let recorder = recorder.clone();
                Box::pin(async move {
                    if let Err(e) = recorder.record(&report, threshold, dry_run).await {
                        tracing::warn!(import = %report.id, error = %e, "could not create its PaymentImport");
                    }
                })
            }));
    }
    let state = std::sync::Arc::new(state);
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .context("binding the web address")?;
    tracing::info!(addr = %listener.local_addr()?, "importer listening");
    let shutdown = shutdown_on_signal();
    // The peer address tells a trusted proxy's identity headers from anyone else's.
    let app =
        payments_web::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
