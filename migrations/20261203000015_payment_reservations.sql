-- The same payment in two uploads at once: each import reserves the payments it is about to
-- publish, while its upload is analysed. A payment has one reservation: the first import to
-- reserve it. Another import that meets the reservation holds the row ("seen in import X, row
-- N") exactly as it holds a payment that landed, whether or not the first has landed yet; the
-- unique key decides between two imports at once, and between importer replicas.
CREATE TABLE payment_reservations (
    sender_id        uuid        NOT NULL,
    receiver_id      uuid        NOT NULL,
    amount           numeric     NOT NULL,
    currency_id      int         NOT NULL,
    transaction_date timestamptz NOT NULL,
    status           text        NOT NULL,
    import_id        uuid        NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number       bigint      NOT NULL CHECK (row_number > 0),
    reserved_at      timestamptz NOT NULL DEFAULT now(),
    -- The whole fingerprint, not a hash of it: no collision can hold a payment by mistake.
    PRIMARY KEY (sender_id, receiver_id, amount, currency_id, transaction_date, status)
);
-- Released by import (failed before publishing, rejected, abandoned).
CREATE INDEX payment_reservations_import_idx ON payment_reservations (import_id);

-- An import's importer may die after reserving and before publishing. Such an import, idle for
-- longer than the reservation lease, is failed as `abandoned` and its reservations released by
-- the next import; publishing starts only by setting `publish_started_at` on a `stored`
-- import that was not abandoned, so a slow importer cannot publish what another took over.
ALTER TABLE imports ADD COLUMN publish_started_at timestamptz NULL;

ALTER TABLE imports DROP CONSTRAINT imports_failure_check;
ALTER TABLE imports
    ADD CONSTRAINT imports_failure_check
        CHECK (failure IN ('invalid_file', 'too_large', 'upload_interrupted', 'platform_unavailable',
                           'invalid_rows', 'totals_mismatch', 'abandoned'));

GRANT SELECT ON payment_reservations TO payments_reader;
