//! Producing records to one topic, for the generator's async loop and the import's blocking
//! publishing thread alike: one place that keys records, waits out a full producer queue and
//! bounds the deliveries in flight.

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tokio::runtime::Handle;

use crate::{Result, StreamError};

/// How long an async caller waits for room in a full producer queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(60);

/// Publishes to one topic with the platform's producer.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: String,
}

impl Publisher {
    pub fn new(producer: FutureProducer, topic: impl Into<String>) -> Self {
        Publisher {
            producer,
            topic: topic.into(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces one record and waits for its delivery.
    pub async fn publish(&self, key: &str, payload: &[u8], headers: OwnedHeaders) -> Result<()> {
        let record = FutureRecord::to(&self.topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.producer
            .send(record, QUEUE_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(e, _)| StreamError::Kafka(e))
    }

    /// A publisher for a blocking thread of `handle`'s runtime that keeps at most
    /// `max_in_flight` deliveries pending.
    pub fn blocking(&self, handle: Handle, max_in_flight: usize) -> BlockingPublisher<'_> {
        BlockingPublisher {
            publisher: self,
            handle,
            pending: VecDeque::new(),
            delivered: 0,
            max_in_flight: max_in_flight.max(1),
        }
    }
}

/// Publishes from a blocking thread: sends without waiting for each delivery, and waits for the
/// oldest one when too many are pending or the producer's queue is full.
pub struct BlockingPublisher<'a> {
    publisher: &'a Publisher,
    handle: Handle,
    pending: VecDeque<DeliveryFuture>,
    delivered: u64,
    max_in_flight: usize,
}

impl BlockingPublisher<'_> {
    /// Hands one record to the producer.
    pub fn send(&mut self, key: &str, payload: &[u8], headers: OwnedHeaders) -> Result<()> {
        let mut record = FutureRecord::to(&self.publisher.topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        loop {
            match self.publisher.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), again)) => {
                    record = again;
                    if !self.wait_oldest()? {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if self.pending.len() >= self.max_in_flight {
            self.wait_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest delivery; false when nothing was pending.
    fn wait_oldest(&mut self) -> Result<bool> {
        let Some(delivery) = self.pending.pop_front() else {
            return Ok(false);
        };
        match self.handle.block_on(delivery) {
            Ok(Ok(_)) => {
                self.delivered += 1;
                Ok(true)
            }
            Ok(Err((e, _))) => Err(e.into()),
            Err(_) => Err(StreamError::DeliveryDropped),
        }
    }

    /// Waits for every pending delivery; returns how many records were delivered in all.
    pub fn drain(mut self) -> Result<u64> {
        while self.wait_oldest()? {}
        Ok(self.delivered)
    }
}
