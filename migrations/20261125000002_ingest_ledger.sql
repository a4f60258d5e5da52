-- What exactly-once ingestion and auditing need.

-- Kafka position per consumer group and partition, written in the same database transaction as
-- the rows it covers: the database, not Kafka, decides where consumption resumes.
CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Every record that was not turned into a transaction, with why.
CREATE TABLE rejected_events (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    kafka_offset  bigint      NOT NULL,
    -- Raw bytes, not text: an invalid UTF-8 record must be kept as it arrived.
    payload       bytea       NOT NULL,
    payload_bytes integer     NOT NULL,
    reason        text        NOT NULL,
    import_id     uuid        NULL,
    row_number    bigint      NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now(),
    -- A record is rejected once, however often it is replayed.
    UNIQUE (topic, partition, kafka_offset)
);

CREATE INDEX rejected_events_import_id_idx ON rejected_events (import_id) WHERE import_id IS NOT NULL;
CREATE INDEX rejected_events_rejected_at_idx ON rejected_events (rejected_at);
