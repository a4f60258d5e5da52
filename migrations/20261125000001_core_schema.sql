-- Users, currencies and transactions: the original platform's tables, same columns and meaning.

CREATE TABLE users (
    user_id            uuid        PRIMARY KEY,
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    username           text        NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 100),
    user_creation_date timestamptz NOT NULL DEFAULT now(),
    email              text        NOT NULL UNIQUE CHECK (position('@' in email) > 1),
    active             boolean     NOT NULL DEFAULT true,
    -- Login is not part of the platform; the column exists so a password can only ever be a hash.
    password_hash      text        NULL CHECK (password_hash IS NULL OR password_hash LIKE '$argon2%')
);

CREATE TABLE currencies (
    -- ISO 4217 numeric code, as carried by `payments-events.currency_code`.
    currency_id   integer PRIMARY KEY CHECK (currency_id BETWEEN 1 AND 999),
    currency      char(3) NOT NULL UNIQUE CHECK (currency ~ '^[A-Z]{3}$'),
    currency_name text    NOT NULL
);

INSERT INTO currencies (currency_id, currency, currency_name) VALUES
    (840, 'USD', 'US Dollar'),
    (978, 'EUR', 'Euro'),
    (608, 'PHP', 'Philippine Peso'),
    (344, 'HKD', 'Hong Kong Dollar'),
    (986, 'BRL', 'Brazilian Real');

CREATE TABLE transactions (
    -- The business key is the primary key: no surrogate id and no second index on it.
    transaction_id   uuid          PRIMARY KEY,
    sender_id        uuid          NOT NULL REFERENCES users (user_id),
    receiver_id      uuid          NOT NULL REFERENCES users (user_id),
    amount           numeric(10,2) NOT NULL CHECK (amount > 0),
    currency_id      integer       NOT NULL REFERENCES currencies (currency_id),
    transaction_date timestamptz   NOT NULL,
    status           text          NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    -- Where the row came from, so dashboards and import status can tell streams from files.
    source           text          NOT NULL DEFAULT 'stream' CHECK (source IN ('stream', 'import')),
    import_id        uuid          NULL,
    import_row       bigint        NULL,
    suspicious       boolean       NOT NULL DEFAULT false,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    modified_at      timestamptz   NOT NULL DEFAULT now(),
    CHECK ((source = 'import') = (import_id IS NOT NULL))
);

CREATE INDEX transactions_transaction_date_idx ON transactions (transaction_date);
CREATE INDEX transactions_sender_id_idx ON transactions (sender_id);
CREATE INDEX transactions_receiver_id_idx ON transactions (receiver_id);
-- Import progress counts rows by import; partial, so stream rows cost nothing here.
CREATE INDEX transactions_import_id_idx ON transactions (import_id) WHERE import_id IS NOT NULL;

-- modified_at moves on every real update; created_at never does.
CREATE FUNCTION touch_modified_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.modified_at := now();
    NEW.created_at := OLD.created_at;
    RETURN NEW;
END;
$$;

CREATE TRIGGER transactions_touch_modified_at
    BEFORE UPDATE ON transactions
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION touch_modified_at();
