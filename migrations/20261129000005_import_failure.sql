-- Why an import failed, as a kind the code matches on (the file, its size, the upload, or the
-- platform) next to the free-text `error`. Rows failed before this column existed keep NULL.
ALTER TABLE imports
    ADD COLUMN failure text NULL
        CHECK (failure IN ('invalid_file', 'too_large', 'upload_interrupted', 'platform_unavailable')),
    ADD CHECK (failure IS NULL OR status = 'failed');
