-- Maker-checker approval: an import the policy flags is analysed, stored and reported, then
-- waits in `awaiting_approval` until a different identity approves it (then it publishes) or
-- rejects it (`rejected`, final). Who decided and when is kept; the database itself refuses a
-- decision by the identity that started the import.
ALTER TABLE imports DROP CONSTRAINT imports_status_check;
ALTER TABLE imports
    ADD CONSTRAINT imports_status_check
        CHECK (status IN ('received', 'stored', 'awaiting_approval', 'published', 'done', 'failed',
                          'rejected')),
    -- Why it needs approval: names of `ApprovalReason`, empty when it does not.
    ADD COLUMN approval_reasons text[] NOT NULL DEFAULT '{}',
    ADD COLUMN decided_by text NULL CHECK (decided_by IS NULL OR length(decided_by) BETWEEN 1 AND 256),
    ADD COLUMN decided_at timestamptz NULL,
    ADD COLUMN decision_note text NULL CHECK (decision_note IS NULL OR length(decision_note) <= 2000),
    ADD CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    ADD CHECK (decided_by IS NULL OR started_by IS NULL OR decided_by <> started_by),
    ADD CHECK (status <> 'rejected' OR decided_by IS NOT NULL);
