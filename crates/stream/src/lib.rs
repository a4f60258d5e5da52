//! Kafka plumbing shared by the roles: client configuration, topic creation and the publisher.
//! Roles own their consume loops; this crate only builds correctly configured clients.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

pub use rdkafka;

mod publish;
pub mod trace;

pub use publish::{BlockingPublisher, Publisher};

/// Default topic of the live event stream.
pub const PAYMENTS_TOPIC: &str = "payments-events";
/// Default topic of rows streamed by the CSV importer.
pub const IMPORT_TOPIC: &str = "import-payments-events";

/// Largest record the platform produces or accepts from the broker (2 MiB): above Kafka's 1 MB
/// default so an oversized record reaches the ingester and is rejected with a reason, instead of
/// failing inside a client.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the producer dropped a delivery")]
    DeliveryDropped,
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

pub type Result<T, E = StreamError> = std::result::Result<T, E>;

impl StreamError {
    /// A record the producer gave up delivering (`message.timeout.ms` passed): the broker was
    /// away too long, or the producer is stuck; a fresh producer may deliver it.
    pub fn is_delivery_timeout(&self) -> bool {
        matches!(
            self,
            StreamError::Kafka(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut
            ))
        )
    }
}

/// How to reach the brokers.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    /// `client.id` reported to the brokers.
    pub client_id: String,
    /// Extra librdkafka properties (security settings, tuning), applied last.
    pub extra: Vec<(String, String)>,
    /// How long a producer tries to deliver a record before reporting it timed out
    /// (`message.timeout.ms`).
    pub delivery_timeout: Duration,
}

impl KafkaOptions {
    pub fn new(brokers: impl Into<String>, client_id: impl Into<String>) -> Self {
        KafkaOptions {
            brokers: brokers.into(),
            client_id: client_id.into(),
            extra: Vec::new(),
            delivery_timeout: Duration::from_secs(300),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            // Loopback and in-cluster brokers can be briefly unreachable; retry quickly.
            .set("reconnect.backoff.max.ms", "2000")
            .set("log.connection.close", "false");
        config
    }

    fn finish(&self, mut config: ClientConfig) -> ClientConfig {
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }

    /// An idempotent producer: retries never duplicate or reorder records within a partition.
    pub fn producer(&self) -> Result<FutureProducer> {
        let mut config = self.base();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.size", "1000000")
            .set("compression.type", "lz4")
            .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().max(1).to_string(),
            );
        Ok(self.finish(config).create()?)
    }

    /// A group consumer that commits to Kafka only the offsets the caller stored
    /// (`store_offsets`, after its own commit), every few seconds in the background.
    pub fn consumer<C: ConsumerContext + 'static>(
        &self,
        group_id: &str,
        context: C,
    ) -> Result<StreamConsumer<C>> {
        let mut config = self.base();
        config
            .set("group.id", group_id)
            // One OffsetCommit every 5 s instead of one per batch (tens a second): they share
            // the coordinator connection with the heartbeats, which the broker answers in order.
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "5000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.min.bytes", "1")
            // The prefetch keeps every writer busy and is most of the ingester's memory. Its
            // cap is 16 MiB (librdkafka's default 64 MiB): measured in docs/benchmarks.md
            // ("The ingester's prefetch"), 0.97x the throughput at 37% less peak RSS. A
            // deployment can raise it again through the Kafka properties.
            .set("queued.min.messages", "200000")
            .set("queued.max.messages.kbytes", "16384")
            .set("session.timeout.ms", "15000")
            // Per-partition lag for the context's `stats` (the ingester's consumer_lag gauge).
            .set("statistics.interval.ms", "5000");
        Ok(self.finish(config).create_with_context(context)?)
    }

    pub fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        Ok(self.finish(self.base()).create()?)
    }

    /// Creates the topics that do not exist yet (an existing topic is not an error).
    pub async fn ensure_topics(&self, topics: &[&str], partitions: i32) -> Result<()> {
        let admin = self.admin()?;
        let max_bytes = MAX_MESSAGE_BYTES.to_string();
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                NewTopic::new(t, partitions, TopicReplication::Fixed(1))
                    .set("max.message.bytes", &max_bytes)
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.create_topics(&new, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(StreamError::CreateTopic { topic, code }),
            }
        }
        Ok(())
    }
}
