-- A correction: an upload of rows of an earlier import that did not land, corrected. Its rows
-- take the transaction ids of the rows they replace, so each lands once.
ALTER TABLE imports
    ADD COLUMN corrects_import_id uuid NULL REFERENCES imports (id),
    ADD CHECK (corrects_import_id IS DISTINCT FROM id);
CREATE INDEX imports_corrects_import_id_idx ON imports (corrects_import_id)
    WHERE corrects_import_id IS NOT NULL;
