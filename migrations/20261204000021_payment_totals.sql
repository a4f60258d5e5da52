-- The dashboard's totals, kept as rows land, so its questions read a few thousand summary rows
-- instead of every transaction: grouping 50M transactions by day took longer than the
-- dashboard's 5 s budget (docs/capacity.md, the growth benchmark).
--
-- Kept exact by statement-level triggers on `transactions` that add each statement's change
-- (new rows minus old rows, grouped) in one statement: one summary write per ingester batch,
-- not per row. Concurrent writers meet on the same day's rows; each applies its change in key
-- order, so they wait for each other briefly and never deadlock. Days are UTC days.

CREATE TABLE daily_payment_totals (
    day         date    NOT NULL,
    currency_id integer NOT NULL,
    status      text    NOT NULL,
    source      text    NOT NULL,
    payments    bigint  NOT NULL,
    volume      numeric NOT NULL,
    suspicious  bigint  NOT NULL,
    PRIMARY KEY (day, currency_id, status, source)
);

CREATE TABLE user_payment_totals (
    user_id  uuid   PRIMARY KEY,
    sent     bigint NOT NULL,
    received bigint NOT NULL
);

-- Adds a statement's change to both summaries: its new rows (`new_rows`, after INSERT and
-- UPDATE) counted in, its old rows (`old_rows`, after UPDATE and DELETE) counted out. A group
-- can reach zero (every payment of it moved or deleted); the questions skip such rows.
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
            INSERT INTO daily_payment_totals AS d
                   (day, currency_id, status, source, payments, volume, suspicious)
            SELECT (transaction_date AT TIME ZONE 'UTC')::date, currency_id, status, source,
                   sum(sign), sum(sign * amount),
                   coalesce(sum(sign) FILTER (WHERE suspicious), 0)
              FROM change
             GROUP BY 1, 2, 3, 4
             ORDER BY 1, 2, 3, 4
                ON CONFLICT (day, currency_id, status, source) DO UPDATE
               SET payments = d.payments + excluded.payments,
                   volume = d.volume + excluded.volume,
                   suspicious = d.suspicious + excluded.suspicious)
        INSERT INTO user_payment_totals AS u (user_id, sent, received)
        SELECT user_id, sum(sent), sum(received)
          FROM (SELECT sender_id AS user_id, sign AS sent, 0 AS received FROM change
                UNION ALL
                SELECT receiver_id, 0, sign FROM change) c
         GROUP BY 1
         ORDER BY 1
            ON CONFLICT (user_id) DO UPDATE
           SET sent = u.sent + excluded.sent, received = u.received + excluded.received$q$,
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

-- The rows already there (one scan, at upgrade).
INSERT INTO daily_payment_totals (day, currency_id, status, source, payments, volume, suspicious)
SELECT (transaction_date AT TIME ZONE 'UTC')::date, currency_id, status, source, count(*),
       sum(amount), count(*) FILTER (WHERE suspicious)
  FROM transactions
 GROUP BY 1, 2, 3, 4;
INSERT INTO user_payment_totals (user_id, sent, received)
SELECT user_id, sum(sent), sum(received)
  FROM (SELECT sender_id AS user_id, 1 AS sent, 0 AS received FROM transactions
        UNION ALL
        SELECT receiver_id, 0, 1 FROM transactions) c
 GROUP BY 1;

-- The latest suspicious payments without walking every recent payment (1 % are suspicious).
CREATE INDEX transactions_suspicious_date_idx ON transactions (transaction_date)
    WHERE suspicious;

-- Reporting (Metabase) reads the totals; nothing secret in them.
GRANT SELECT ON daily_payment_totals, user_payment_totals TO payments_reader;
