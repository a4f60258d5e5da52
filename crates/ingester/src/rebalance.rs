//! Resuming from the offsets stored in PostgreSQL when partitions are assigned.

use std::sync::Arc;
use std::time::Duration;

use payments_store::PgPool;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::health::PartitionLabels;
use crate::resume::{Refusal, Resume, Retained};
use crate::Health;

/// Consumer context that seeks each newly assigned partition to the offset the database says
/// comes next. Kafka's own committed offsets trail the database's (they are committed after it),
/// so this only skips records that are already applied; `write_batch` drops any that still
/// arrive, which keeps the result exactly-once even if this seek cannot be done. A partition
/// the database has no offset for is read from its beginning (a restored database may be
/// behind the group's offsets in Kafka); one whose needed records Kafka no longer has is not
/// assigned at all (see `resume`).
pub(crate) struct ResumeFromDatabase {
    pub pool: PgPool,
    pub group: String,
    pub health: Arc<Health>,
}

impl ClientContext for ResumeFromDatabase {
    /// librdkafka's periodic statistics (`statistics.interval.ms`): the lag of each assigned
    /// partition, behind the offsets this group commits after the database has the rows.
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in statistics.topics {
            for (partition, p) in stats.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a negative lag is unknown.
                if partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                self.health
                    .metrics
                    .consumer_lag
                    .get_or_create(&PartitionLabels {
                        topic: topic.clone(),
                        partition,
                    })
                    .set(p.consumer_lag);
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
        self.health
            .set_kafka(false, Some(format!("kafka: {reason}")));
    }
}

impl ConsumerContext for ResumeFromDatabase {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let readable = self.seek_to_stored(consumer, tpl);
                tracing::info!(partitions = ?partitions(&readable), "partitions assigned");
                // Joining the group proves the brokers are reachable.
                self.health.set_kafka(true, None);
                if cooperative {
                    consumer.incremental_assign(&readable)
                } else {
                    consumer.assign(&readable)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = ?partitions(tpl), "partitions revoked");
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "applying rebalance failed");
        }
    }
}

impl ResumeFromDatabase {
    /// The partitions of `tpl` to read, each at the offset it resumes from; the refused ones
    /// are left out (and reported by `Health`).
    fn seek_to_stored(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> TopicPartitionList {
        let Some(stored) = self.stored_offsets(tpl) else {
            // Unknown: Kafka's offsets, which trail the database's (replays are dropped).
            return tpl.clone();
        };
        let mut readable = TopicPartitionList::with_capacity(tpl.count());
        for element in tpl.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let next = stored
                .iter()
                .find(|o| o.topic == topic && o.partition == partition)
                .map(|o| o.next_offset);
            let retained = match consumer.fetch_watermarks(topic, partition, WATERMARK_TIMEOUT) {
                Ok((low, high)) => Some(Retained { low, high }),
                Err(e) => {
                    tracing::warn!(topic, partition, error = %e, "reading the offsets Kafka retains failed; resuming from the database's offset unchecked");
                    None
                }
            };
            let resume = Resume::decide(next, retained);
            let refusal = Refusal {
                topic: topic.to_owned(),
                partition,
                resume,
            };
            let offset = match resume {
                Resume::At(next) => Offset::Offset(next),
                Resume::Beginning => Offset::Beginning,
                Resume::Gap { .. } | Resume::Ahead { .. } => {
                    tracing::error!(
                        topic,
                        partition,
                        missing_records = resume.missing_records(),
                        "{refusal}"
                    );
                    self.health.record_resume(refusal);
                    continue;
                }
            };
            self.health.record_resume(refusal);
            if let Err(e) = readable.add_partition_offset(topic, partition, offset) {
                tracing::warn!(topic, partition, error = %e, "could not set resume offset");
            }
        }
        readable
    }

    /// The database's next offsets for the topics of `tpl`; `None` when they cannot be read.
    fn stored_offsets(
        &self,
        tpl: &TopicPartitionList,
    ) -> Option<Vec<payments_store::StoredOffset>> {
        let Ok(handle) = Handle::try_current() else {
            return None;
        };
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            tracing::warn!("not on a multi-threaded runtime; resuming from Kafka's offsets");
            return None;
        }
        let mut topics: Vec<String> = tpl
            .elements()
            .iter()
            .map(|e| e.topic().to_owned())
            .collect();
        topics.sort();
        topics.dedup();
        let query = payments_store::load_offsets(&self.pool, &self.group, &topics);
        let stored = tokio::task::block_in_place(|| {
            handle.block_on(tokio::time::timeout(Duration::from_secs(5), query))
        });
        match stored {
            Ok(Ok(stored)) => Some(stored),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading stored offsets failed; replays will be skipped");
                None
            }
            Err(_) => {
                tracing::warn!("reading stored offsets timed out; replays will be skipped");
                None
            }
        }
    }
}

/// How long the offsets Kafka retains may take to read, per partition assigned.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

fn partitions(tpl: &TopicPartitionList) -> Vec<String> {
    tpl.elements()
        .iter()
        .map(|e| format!("{}[{}]@{:?}", e.topic(), e.partition(), e.offset()))
        .collect()
}
