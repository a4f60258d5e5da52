-- Who started an import: the operator's identity from the authenticating proxy (web), the OS
-- user or `--as` (CLI). NULL when nobody could be named (an anonymous upload, a PaymentImport).
ALTER TABLE imports
    ADD COLUMN started_by text NULL
        CHECK (started_by IS NULL OR length(started_by) BETWEEN 1 AND 256);
