-- One row per uploaded file, so "how far is my import?" always has an answer. Ingested and
-- rejected counts are not stored: they are counted from transactions and rejected_events by
-- import_id, so they can never disagree with the data.

CREATE TABLE imports (
    id                   uuid          PRIMARY KEY,
    -- As uploaded (shown to users); object keys are built from a sanitised form of it.
    file_name            text          NOT NULL CHECK (length(file_name) BETWEEN 1 AND 1024),
    object_key           text          NULL CHECK (object_key IS NULL OR length(object_key) BETWEEN 1 AND 1024),
    sha256               text          NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes           bigint        NULL CHECK (size_bytes >= 0),
    rows                 bigint        NOT NULL DEFAULT 0 CHECK (rows >= 0),
    unique_rows          bigint        NOT NULL DEFAULT 0 CHECK (unique_rows >= 0),
    duplicates           bigint        NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
    suspicious           bigint        NOT NULL DEFAULT 0 CHECK (suspicious >= 0),
    published            bigint        NOT NULL DEFAULT 0 CHECK (published >= 0),
    -- received → stored → published → done, or failed from any state but done.
    status               text          NOT NULL DEFAULT 'received'
                         CHECK (status IN ('received', 'stored', 'published', 'done', 'failed')),
    error                text          NULL,
    suspicious_threshold numeric(12,2) NOT NULL DEFAULT 8000 CHECK (suspicious_threshold >= 0),
    -- A dry run checks rows against the database and publishes nothing.
    dry_run              boolean       NOT NULL DEFAULT false,
    -- Set when the same bytes were imported before: that import owns the transactions.
    first_import_id      uuid          NULL REFERENCES imports (id),
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    CHECK (unique_rows + duplicates = rows OR rows = 0),
    CHECK (published <= unique_rows),
    CHECK (status IN ('received', 'failed') OR sha256 IS NOT NULL),
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK (first_import_id IS DISTINCT FROM id)
);

-- "Was this file imported before?" looks up by content.
CREATE INDEX imports_sha256_idx ON imports (sha256, created_at) WHERE sha256 IS NOT NULL;
-- The history page lists the newest first.
CREATE INDEX imports_created_at_idx ON imports (created_at DESC);
