-- What an import found (duplicates, suspicious and, for dry runs, invalid rows), kept so the
-- result page can be paged and downloaded after the upload returned. Lists are capped by the
-- analyser; counts live in `imports`.
CREATE TABLE import_reports (
    import_id  uuid        PRIMARY KEY REFERENCES imports (id) ON DELETE CASCADE,
    summary    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
