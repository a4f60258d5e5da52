-- What `payments replicate` copies into the lakehouse (Delta Lake tables on the object store):
-- every committed change of these tables, read by logical replication (pgoutput). A publication
-- takes effect only with wal_level = logical; creating it does not need that setting.
-- `users` is published without its password hashes: an analytics store has no use for them,
-- and a column added to `users` later stays out until it is added here.
CREATE PUBLICATION payments_lakehouse FOR TABLE
    transactions,
    rejected_events,
    imports,
    currencies,
    users (user_id, name, username, user_creation_date, email, active);
