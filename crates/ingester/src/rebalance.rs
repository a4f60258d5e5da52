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
use crate::Health;

/// Consumer context that seeks each newly assigned partition to the offset the database says
/// comes next. Kafka's own committed offsets trail the database's (they are committed after it),
/// so this only skips records that are already applied; `write_batch` drops any that still
/// arrive, which keeps the result exactly-once even if this seek cannot be done.
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
                self.seek_to_stored(tpl);
                tracing::info!(partitions = ?partitions(tpl), "partitions assigned");
                // Joining the group proves the brokers are reachable.
                self.health.set_kafka(true, None);
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
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
    fn seek_to_stored(&self, tpl: &mut TopicPartitionList) {
        let Ok(handle) = Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            tracing::warn!("not on a multi-threaded runtime; resuming from Kafka's offsets");
            return;
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
            Ok(Ok(stored)) => {
                for offset in stored {
                    let found = tpl
                        .find_partition(&offset.topic, offset.partition)
                        .is_some();
                    if found {
                        let target = Offset::Offset(offset.next_offset);
                        if let Err(e) =
                            tpl.set_partition_offset(&offset.topic, offset.partition, target)
                        {
                            tracing::warn!(error = %e, "could not set resume offset");
                        }
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading stored offsets failed; replays will be skipped")
            }
            Err(_) => tracing::warn!("reading stored offsets timed out; replays will be skipped"),
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<String> {
    tpl.elements()
        .iter()
        .map(|e| format!("{}[{}]@{:?}", e.topic(), e.partition(), e.offset()))
        .collect()
}
