-- Every row is checked before anything is published: `invalid` counts the unique rows refused
-- at analysis (never published). Two new reasons an import fails before publishing: rows the
-- policy will not let through (`invalid_rows`) and control totals that differ from what the
-- sender expected (`totals_mismatch`). The expected totals are kept with the import.
ALTER TABLE imports
    ADD COLUMN invalid bigint NOT NULL DEFAULT 0 CHECK (invalid >= 0),
    ADD COLUMN expected_totals jsonb NULL,
    ADD CHECK (invalid <= unique_rows),
    ADD CHECK (published + invalid <= unique_rows);

ALTER TABLE imports DROP CONSTRAINT imports_failure_check;
ALTER TABLE imports
    ADD CONSTRAINT imports_failure_check
        CHECK (failure IN ('invalid_file', 'too_large', 'upload_interrupted', 'platform_unavailable',
                           'invalid_rows', 'totals_mismatch'));
