-- The cross-file lookup's index keyed by the payment's date first, then the fingerprint's hash
-- (migration `fingerprint_hash_index`), instead of the hash alone.
--
-- - A file's payments fall within days, so its probes share the leaves of those days instead of
--   landing at random across years of imports: in `psql`, 5,000 probes of one week among 25M
--   imported rows read 305 blocks from outside shared buffers, against 773 through the time
--   index and 2,584 for 5,000 probes anywhere in five years (docs/benchmarks.md, growth).
-- - With the hash alone, PostgreSQL probed through the time index
--   (`transactions_transaction_date_idx`), which holds every payment of that second, stream ones
--   included. At 1,000 imported payments a second it read 1,000 of its entries a probe: 5,000
--   probes took 161 ms, against 35 ms with this index, which holds only the matching entries.
-- - New imported rows are dated now, so they are added at the index's right end instead of at
--   a random leaf.
-- It is larger: 30 bytes an entry instead of 22 (751 MB against 536 MB at 25M imported rows).
CREATE INDEX transactions_import_fingerprint_date_idx
    ON transactions (transaction_date,
                     payment_fingerprint_hash(sender_id, receiver_id, amount, currency_id,
                                              transaction_date, status))
    WHERE import_id IS NOT NULL;

DROP INDEX transactions_import_fingerprint_hash_idx;
