//! The generator role: a synthetic payment between two distinct demo users every interval,
//! published to `payments-events`, optionally mixed with malformed records for demos.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use chrono::{SecondsFormat, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use payments_domain::{validate::Status, StreamEvent};
use payments_runtime::backon::Retryable;
use payments_store::PgPool;
use payments_stream::Publisher;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::FutureProducer;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub topic: String,
    /// Pause between two events (ignored when `rate` is set).
    pub interval: Duration,
    /// Events per second, for load tests.
    pub rate: Option<f64>,
    /// Stop after this many events.
    pub count: Option<u64>,
    /// Share of events (0..=1) deliberately malformed.
    pub invalid_ratio: f64,
    /// Seed for reproducible runs; random when `None`.
    pub seed: Option<u64>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None` serves nothing.
    pub http_addr: Option<SocketAddr>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            topic: payments_stream::PAYMENTS_TOPIC.into(),
            interval: Duration::from_secs(2),
            rate: None,
            count: None,
            invalid_ratio: 0.0,
            seed: None,
            http_addr: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] payments_store::StoreError),
    #[error("publishing to kafka: {0}")]
    Kafka(#[from] payments_stream::StreamError),
    #[error("serving the health endpoints: {0}")]
    Http(#[from] std::io::Error),
}

pub type Result<T, E = GeneratorError> = std::result::Result<T, E>;

impl GeneratorConfig {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.invalid_ratio) {
            return Err(GeneratorError::Config(
                "invalid ratio must be within 0..=1".into(),
            ));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(GeneratorError::Config(
                    "rate must be a positive number".into(),
                ));
            }
        } else if self.interval.is_zero() {
            return Err(GeneratorError::Config("interval must be positive".into()));
        }
        Ok(())
    }

    fn period(&self) -> Duration {
        match self.rate {
            Some(rate) => Duration::from_secs_f64(1.0 / rate),
            None => self.interval,
        }
    }
}

/// Who can pay whom, read from the database.
#[derive(Debug, Clone)]
pub struct Participants {
    pub users: Vec<Uuid>,
    pub currencies: Vec<i32>,
}

impl Participants {
    /// Reads active users and currencies; waits (retrying) until the database has at least
    /// two users, so the generator can start before migrations have run.
    pub async fn load(pool: &PgPool, shutdown: &CancellationToken) -> Option<Self> {
        let policy =
            payments_runtime::retry_policy(Duration::from_millis(200), Duration::from_secs(5));
        let attempts = (|| async {
            match load_participants(pool).await {
                Ok(p) if p.users.len() >= 2 && !p.currencies.is_empty() => Ok(p),
                Ok(_) => Err("waiting for at least two users and one currency".to_owned()),
                Err(e) => Err(format!("loading users failed: {e}")),
            }
        })
        .retry(policy)
        .sleep(tokio::time::sleep)
        .notify(|why, _| tracing::warn!("{why}"));
        tokio::select! {
            _ = shutdown.cancelled() => None,
            // The policy retries forever, so only success ends it.
            loaded = attempts => loaded.ok(),
        }
    }
}

async fn load_participants(pool: &PgPool) -> payments_store::Result<Participants> {
    let (users, currencies) = payments_store::load_participants(pool).await?;
    Ok(Participants { users, currencies })
}

/// Builds events; separate from publishing so tests and benchmarks can use it directly.
pub struct EventFactory {
    rng: StdRng,
    participants: Participants,
    invalid_ratio: f64,
}

impl EventFactory {
    pub fn new(participants: Participants, invalid_ratio: f64, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            // Seeded from the thread-local generator, itself seeded by the OS.
            None => rand::make_rng(),
        };
        EventFactory {
            rng,
            participants,
            invalid_ratio,
        }
    }

    /// A valid event: distinct users, amount 500.00–10000.00, random currency and status.
    pub fn valid(&mut self) -> StreamEvent {
        let users = &self.participants.users;
        let sender = self.rng.random_range(0..users.len());
        let mut receiver = self.rng.random_range(0..users.len() - 1);
        if receiver >= sender {
            receiver += 1;
        }
        let cents: i64 = self.rng.random_range(50_000..=1_000_000);
        let currency = self.participants.currencies
            [self.rng.random_range(0..self.participants.currencies.len())];
        StreamEvent {
            transaction_id: uuid::Builder::from_random_bytes(self.rng.random()).into_uuid(),
            sender_id: users[sender],
            receiver_id: users[receiver],
            amount: Decimal::new(cents, 2),
            currency_code: currency,
            timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            status: Status::ALL[self.rng.random_range(0..3)].as_str().to_owned(),
        }
    }

    /// The next record to publish: its key (the transaction id, so updates of one transaction
    /// stay in order on one partition) and its JSON bytes.
    pub fn next_record(&mut self) -> (String, Vec<u8>) {
        let event = self.valid();
        let key = event.transaction_id.to_string();
        if self.invalid_ratio > 0.0 && self.rng.random_bool(self.invalid_ratio) {
            return (key, self.malformed(event));
        }
        (key, serde_json::to_vec(&event).unwrap_or_default())
    }

    /// One of several ways a producer gets an event wrong.
    fn malformed(&mut self, event: StreamEvent) -> Vec<u8> {
        let mut value = serde_json::to_value(&event).unwrap_or_default();
        let Some(object) = value.as_object_mut() else {
            return b"{}".to_vec();
        };
        match self.rng.random_range(0..6) {
            0 => return b"{\"transaction_id\": not json".to_vec(),
            1 => {
                object.remove("amount");
            }
            2 => {
                object.insert("amount".into(), serde_json::json!(-10.5));
            }
            3 => {
                object.insert("status".into(), serde_json::json!("refunded"));
            }
            4 => {
                object.insert("sender_id".into(), serde_json::json!(Uuid::new_v4()));
            }
            _ => {
                object.insert("currency_code".into(), serde_json::json!(999));
            }
        }
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

payments_runtime::metrics! {
    /// What the generator has done since start, for `/metrics`.
    pub struct GeneratorMetrics in "payments_generator" {
        /// Events handed to the producer.
        events_produced: Counter,
        /// Events the broker acknowledged.
        events_delivered: Counter,
        /// Events the producer gave up on.
        events_failed: Counter,
        /// Seconds from handing an event to the producer until the broker acknowledged it.
        delivery_seconds: Histogram = payments_runtime::latency_buckets(),
    }
}

/// What `/readyz` and `/metrics` show.
#[derive(Debug, Default)]
pub struct GeneratorHealth {
    /// Participants are loaded and events are being published.
    publishing: AtomicBool,
    pub metrics: GeneratorMetrics,
}

/// `/healthz` (the process answers), `/readyz` (publishing) and `/metrics`.
pub fn http_app(health: Arc<GeneratorHealth>) -> Router {
    let mut registry = payments_runtime::Registry::default();
    health.metrics.register(&mut registry);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = health.publishing.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (StatusCode::OK, "publishing")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "waiting for users")
                    }
                }
            }),
        )
        .merge(payments_runtime::metrics_router(Arc::new(registry)))
}

/// Most deliveries awaited at once; bounds memory when the broker is slow or away.
const MAX_IN_FLIGHT: usize = 10_000;

/// Publishes until `count` is reached or shutdown; returns how many events the broker acknowledged.
pub async fn run(
    config: GeneratorConfig,
    pool: PgPool,
    producer: FutureProducer,
    shutdown: CancellationToken,
) -> Result<u64> {
    config.validate()?;
    let health = Arc::new(GeneratorHealth::default());
    if let Some(addr) = config.http_addr {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "health endpoints listening");
        let app = http_app(health.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "health endpoints stopped");
            }
        });
    }
    let Some(participants) = Participants::load(&pool, &shutdown).await else {
        return Ok(0);
    };
    health.publishing.store(true, Ordering::Relaxed);
    let metrics = &health.metrics;
    tracing::info!(users = participants.users.len(), topic = %config.topic, period = ?config.period(), "generator publishing");
    let mut factory = EventFactory::new(participants, config.invalid_ratio, config.seed);
    let publisher = Publisher::new(producer, config.topic.clone());
    let mut ticker = tokio::time::interval(config.period());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = FuturesUnordered::new();
    let (mut produced, mut acknowledged) = (0u64, 0u64);
    loop {
        let more = config.count.is_none_or(|count| produced < count);
        if !more && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(delivery) = in_flight.next(), if !in_flight.is_empty() => {
                match delivery {
                    Ok(started) => {
                        acknowledged += 1;
                        metrics.events_delivered.inc();
                        metrics.delivery_seconds.observe(Instant::elapsed(&started).as_secs_f64());
                    }
                    Err(e) => {
                        metrics.events_failed.inc();
                        tracing::warn!(error = %e, "event not delivered");
                    }
                }
            }
            _ = ticker.tick(), if more && in_flight.len() < MAX_IN_FLIGHT => {
                let (key, payload) = factory.next_record();
                let publisher = publisher.clone();
                produced += 1;
                metrics.events_produced.inc();
                // One span per event: its trace follows the record into the ingester.
                let span = tracing::info_span!("generate_event", transaction_id = %key);
                let traceparent = span.in_scope(payments_stream::trace::current_traceparent);
                in_flight.push(async move {
                    let started = Instant::now();
                    let headers = payments_stream::trace::with_traceparent(OwnedHeaders::new(), traceparent.as_deref());
                    publisher.publish(&key, &payload, headers).await.map(|()| started)
                }.instrument(span));
            }
        }
    }
    // Whatever is still in flight is flushed by the producer on drop.
    tracing::info!(produced, acknowledged, "generator stopped");
    Ok(acknowledged)
}
