-- Cross-file duplicates: a row whose payment (sender, receiver, amount, currency, date, status)
-- already landed from another import is held back until a second identity approves it.

-- The lookup index. Partial: only imported rows are compared, so stream rows cost nothing here.
CREATE INDEX transactions_import_fingerprint_idx
    ON transactions (sender_id, receiver_id, amount, currency_id, transaction_date, status)
    WHERE import_id IS NOT NULL;

-- Rows of an import held as cross-file duplicates, each with where the payment was seen.
CREATE TABLE import_held_rows (
    import_id      uuid   NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number     bigint NOT NULL CHECK (row_number > 0),
    seen_import_id uuid   NOT NULL,
    seen_row       bigint NOT NULL,
    PRIMARY KEY (import_id, row_number)
);

ALTER TABLE imports
    ADD COLUMN cross_file_duplicates bigint NOT NULL DEFAULT 0 CHECK (cross_file_duplicates >= 0),
    ADD CHECK (cross_file_duplicates + invalid <= unique_rows);

-- Reporting may read which rows were held and where they were seen (no secret in it).
GRANT SELECT ON import_held_rows TO payments_reader;
