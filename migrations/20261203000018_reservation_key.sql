-- Reservations keyed by a 64-bit hash of the fingerprint instead of the fingerprint itself.
-- Measured (docs/benchmarks.md): the six-column key, its foreign key check and
-- `ON CONFLICT` cost 10.9 s per 1M rows, twice the lookup. An int8 key is a fraction of the
-- index and of the tuple. A collision of two different payments (about 1 in 3,700 for 100M
-- reservations in flight at once; the table holds only imports in flight) can only hold a row
-- for review as "seen in import X, row N" — it never lets a payment through twice.

-- The key: the first 8 bytes of SHA-256 over the fingerprint as text,
-- `sender|receiver|amount|currency|epoch microseconds|status`, the amount without trailing
-- zeros (10.50 and 10.5 are one payment, as `numeric` compares them). The importer computes
-- the same in Rust (payments_store::fingerprint_key); a store test checks both agree.
CREATE FUNCTION payment_fingerprint_key(sender_id uuid, receiver_id uuid, amount numeric,
                                        currency_id int, transaction_date timestamptz,
                                        status text)
    RETURNS int8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ('x' || encode(substring(sha256(convert_to(concat_ws('|',
                sender_id::text, receiver_id::text, trim_scale(amount)::text,
                currency_id::text,
                (extract(epoch FROM transaction_date) * 1000000)::int8::text,
                status), 'UTF8')) FROM 1 FOR 8), 'hex'))::bit(64)::int8;

ALTER TABLE payment_reservations RENAME TO payment_reservations_by_fingerprint;
ALTER INDEX payment_reservations_import_idx RENAME TO payment_reservations_by_fingerprint_import_idx;

-- No foreign key to `imports`: its check was a fifth of the insert's cost, and imports are
-- never deleted (a reservation names the import that holds it; `release_abandoned` and
-- `finalise_imports` remove reservations by import).
CREATE TABLE payment_reservations (
    fingerprint_key int8   PRIMARY KEY,
    import_id       uuid   NOT NULL,
    row_number      bigint NOT NULL CHECK (row_number > 0)
);
-- Released by import (failed before publishing, rejected, abandoned, done).
CREATE INDEX payment_reservations_import_idx ON payment_reservations (import_id);

-- Imports in flight keep what they reserved; on a collision the earlier reservation stays.
INSERT INTO payment_reservations (fingerprint_key, import_id, row_number)
SELECT payment_fingerprint_key(sender_id, receiver_id, amount, currency_id, transaction_date,
                               status),
       import_id, row_number
  FROM payment_reservations_by_fingerprint
 ORDER BY reserved_at, import_id, row_number
    ON CONFLICT DO NOTHING;

DROP TABLE payment_reservations_by_fingerprint;

GRANT SELECT ON payment_reservations TO payments_reader;
