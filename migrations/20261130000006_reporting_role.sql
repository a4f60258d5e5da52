-- A read-only group role for reporting (Metabase): it can read every table but cannot write,
-- and it cannot read `users.password_hash`. Login roles join it (`payments metabase-setup`);
-- the group itself never logs in.

-- Roles are cluster-wide while migrations run per database, possibly several at once on one
-- server (tests, or two releases sharing a PostgreSQL): the existence check alone races, so the
-- error a concurrent CREATE ROLE raises is swallowed too.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'payments_reader') THEN
        CREATE ROLE payments_reader NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO payments_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO payments_reader;
-- Column-level grant: every column of users except the password hash. A column added later is
-- not readable until a migration grants it, which is the point.
REVOKE SELECT ON users FROM payments_reader;
GRANT SELECT (user_id, name, username, user_creation_date, email, active) ON users TO payments_reader;

-- No ALTER DEFAULT PRIVILEGES on purpose: a future table holding a secret (a token, another
-- hash) would become readable by Metabase without anyone deciding so. A migration that adds a
-- table grants SELECT on it explicitly; the metabase tests fail for a table nobody decided
-- about, and run every dashboard question as the reader.
