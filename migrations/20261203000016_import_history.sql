-- An import's timeline and the history's filters.
--
-- When each step happened: `created_at` is when it was received and `decided_at` when someone
-- approved or rejected it; these are the other steps. A trigger stamps them whenever the status
-- changes, so every code path that moves an import (the pipeline, the ingester's finaliser,
-- the controller) records them without knowing about them, and a step is stamped once.
ALTER TABLE imports
    ADD COLUMN stored_at            timestamptz NULL,
    ADD COLUMN awaiting_approval_at timestamptz NULL,
    ADD COLUMN published_at         timestamptz NULL,
    -- done, failed or rejected
    ADD COLUMN finished_at          timestamptz NULL;

CREATE FUNCTION imports_stamp_step() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    CASE NEW.status
        WHEN 'stored' THEN
            NEW.stored_at := coalesce(NEW.stored_at, now());
        WHEN 'awaiting_approval' THEN
            NEW.awaiting_approval_at := coalesce(NEW.awaiting_approval_at, now());
        WHEN 'published' THEN
            NEW.published_at := coalesce(NEW.published_at, now());
        WHEN 'done', 'failed', 'rejected' THEN
            NEW.finished_at := coalesce(NEW.finished_at, now());
        ELSE
            NULL;
    END CASE;
    RETURN NEW;
END
$$;

CREATE TRIGGER imports_stamp_step
    BEFORE INSERT OR UPDATE OF status ON imports
    FOR EACH ROW EXECUTE FUNCTION imports_stamp_step();

-- Imports finished before this migration: nothing moves a final import, so its last update is
-- when it finished. The earlier steps were not recorded and stay unknown.
UPDATE imports SET finished_at = updated_at
 WHERE status IN ('done', 'failed', 'rejected') AND finished_at IS NULL;

-- The history pages by (created_at, id) in either direction, filtered by status (the approvals
-- queue is `awaiting_approval`), by who started or decided, or by a time range.
DROP INDEX imports_created_at_idx;
CREATE INDEX imports_created_at_id_idx ON imports (created_at, id);
CREATE INDEX imports_status_created_at_idx ON imports (status, created_at, id);
CREATE INDEX imports_started_by_created_at_idx ON imports (started_by, created_at, id)
    WHERE started_by IS NOT NULL;
CREATE INDEX imports_decided_by_created_at_idx ON imports (decided_by, created_at, id)
    WHERE decided_by IS NOT NULL;
