-- The dashboard's totals, kept as rows land, so its questions read a few thousand summary rows
-- instead of every transaction: grouping 50M transactions by day took longer than the
-- dashboard's 5 s budget (docs/capacity.md, the growth benchmark).
--
-- Kept exact by statement-level triggers on `transactions` that append each statement's change
-- (new rows minus old rows, grouped) as `pending` rows: one summary insert per ingester batch,
-- not per row. Appending, not updating one row per key, so writers never wait for each other:
-- with one row per day, a transaction left open on any payment (an operator's psql session, a
-- slow batch) held that day's row and stopped every other writer of the day until it ended.
-- Readers sum per key; `compact_payment_totals()` folds the pending rows of a key into one
-- (the ingester calls it every minute). Days are UTC days.

CREATE TABLE daily_payment_totals (
    day         date    NOT NULL,
    currency_id integer NOT NULL,
    status      text    NOT NULL,
    source      text    NOT NULL,
    payments    bigint  NOT NULL,
    volume      numeric NOT NULL,
    suspicious  bigint  NOT NULL,
    pending     boolean NOT NULL DEFAULT true
);
CREATE INDEX daily_payment_totals_key_idx
    ON daily_payment_totals (day, currency_id, status, source);
CREATE INDEX daily_payment_totals_pending_idx ON daily_payment_totals (day) WHERE pending;

CREATE TABLE user_payment_totals (
    user_id  uuid    NOT NULL,
    sent     bigint  NOT NULL,
    received bigint  NOT NULL,
    pending  boolean NOT NULL DEFAULT true
);
CREATE INDEX user_payment_totals_user_idx ON user_payment_totals (user_id);
CREATE INDEX user_payment_totals_pending_idx ON user_payment_totals (user_id) WHERE pending;

-- Appends a statement's change to both summaries: its new rows (`new_rows`, after INSERT and
-- UPDATE) counted in, its old rows (`old_rows`, after UPDATE and DELETE) counted out. A key's
-- sum can reach zero (every payment of it moved or deleted); the questions skip such keys.
CREATE FUNCTION add_payment_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    columns constant text := 'transaction_date, currency_id, status, source, amount, suspicious, '
                             'sender_id, receiver_id';
    change text;
BEGIN
    change := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS sign FROM new_rows', columns)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS sign FROM old_rows', columns)
        ELSE format('SELECT %1$s, 1 AS sign FROM new_rows UNION ALL SELECT %1$s, -1 FROM old_rows',
                    columns)
    END;
    -- Transition tables are visible to EXECUTE; the statement is built from constants only.
    -- A data-modifying WITH runs to completion whether or not the outer statement reads it.
    EXECUTE format($q$
        WITH change AS (%s),
        daily AS (
            INSERT INTO daily_payment_totals
                   (day, currency_id, status, source, payments, volume, suspicious)
            SELECT (transaction_date AT TIME ZONE 'UTC')::date, currency_id, status, source,
                   sum(sign), sum(sign * amount),
                   coalesce(sum(sign) FILTER (WHERE suspicious), 0)
              FROM change
             GROUP BY 1, 2, 3, 4)
        INSERT INTO user_payment_totals (user_id, sent, received)
        SELECT user_id, sum(sent), sum(received)
          FROM (SELECT sender_id AS user_id, sign AS sent, 0 AS received FROM change
                UNION ALL
                SELECT receiver_id, 0, sign FROM change) c
         GROUP BY 1$q$,
        change);
    RETURN NULL;
END;
$$;

-- One trigger per event: PostgreSQL allows transition tables only on single-event triggers.
CREATE TRIGGER transactions_totals_insert AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION add_payment_totals();
CREATE TRIGGER transactions_totals_update AFTER UPDATE ON transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION add_payment_totals();
CREATE TRIGGER transactions_totals_delete AFTER DELETE ON transactions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION add_payment_totals();
CREATE FUNCTION clear_payment_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE daily_payment_totals, user_payment_totals;
    RETURN NULL;
END;
$$;
CREATE TRIGGER transactions_totals_truncate AFTER TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION clear_payment_totals();

-- Folds each key's pending rows (and its folded row) into one folded row; returns how many
-- rows it removed. Safe beside writers: it deletes only committed rows, which no writer
-- locks, and rows appended meanwhile stay pending for the next call. One call at a time (an
-- advisory lock; a second caller returns 0 at once).
CREATE FUNCTION compact_payment_totals() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    daily_removed bigint;
    user_removed bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('compact_payment_totals')) THEN
        RETURN 0;
    END IF;
    WITH keys AS (
        SELECT DISTINCT day, currency_id, status, source FROM daily_payment_totals WHERE pending),
    gone AS (
        DELETE FROM daily_payment_totals t USING keys k
         WHERE (t.day, t.currency_id, t.status, t.source)
             = (k.day, k.currency_id, k.status, k.source)
        RETURNING t.*),
    folded AS (
        INSERT INTO daily_payment_totals
               (day, currency_id, status, source, payments, volume, suspicious, pending)
        SELECT day, currency_id, status, source, sum(payments), sum(volume), sum(suspicious),
               false
          FROM gone
         GROUP BY 1, 2, 3, 4
        RETURNING 1)
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded) INTO daily_removed;
    WITH keys AS (SELECT DISTINCT user_id FROM user_payment_totals WHERE pending),
    gone AS (
        DELETE FROM user_payment_totals t USING keys k WHERE t.user_id = k.user_id
        RETURNING t.*),
    folded AS (
        INSERT INTO user_payment_totals (user_id, sent, received, pending)
        SELECT user_id, sum(sent), sum(received), false FROM gone GROUP BY 1
        RETURNING 1)
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded) INTO user_removed;
    RETURN daily_removed + user_removed;
END;
$$;

-- The rows already there (one scan, at upgrade), folded.
INSERT INTO daily_payment_totals (day, currency_id, status, source, payments, volume, suspicious,
                                  pending)
SELECT (transaction_date AT TIME ZONE 'UTC')::date, currency_id, status, source, count(*),
       sum(amount), count(*) FILTER (WHERE suspicious), false
  FROM transactions
 GROUP BY 1, 2, 3, 4;
INSERT INTO user_payment_totals (user_id, sent, received, pending)
SELECT user_id, sum(sent), sum(received), false
  FROM (SELECT sender_id AS user_id, 1 AS sent, 0 AS received FROM transactions
        UNION ALL
        SELECT receiver_id, 0, 1 FROM transactions) c
 GROUP BY 1;

-- The latest suspicious payments without walking every recent payment (1 % are suspicious).
CREATE INDEX transactions_suspicious_date_idx ON transactions (transaction_date)
    WHERE suspicious;

-- Reporting (Metabase) reads the totals; nothing secret in them.
GRANT SELECT ON daily_payment_totals, user_payment_totals TO payments_reader;
