-- The base backups that protect this database, as barman-cloud's catalog in the object store
-- lists them (`barman-cloud-backup-list --format json`). The chart's backup container records
-- the catalog of its server every minute, replacing what was there: a restored database soon
-- lists the backups of its new server, not those of the one it was restored from. The ingester
-- exports the newest completed one's end time, so an alert can say when backups are too old.
CREATE TABLE base_backups (
    server      text        NOT NULL,
    backup_id   text        NOT NULL,
    -- barman's status: DONE is a usable backup; STARTED, FAILED, ... are not.
    status      text        NOT NULL,
    begin_time  timestamptz,
    end_time    timestamptz,
    begin_wal   text,
    end_wal     text,
    size_bytes  bigint,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server, backup_id)
);

GRANT SELECT ON base_backups TO payments_reader;

-- barman writes times as Python's ctime() ('Thu Dec  3 13:10:14 2026'), in the time zone of
-- its session with PostgreSQL: the backup container sets PGTZ=UTC, so they are read as UTC.
CREATE FUNCTION record_base_backups(backup_server text, catalog jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    recorded integer;
BEGIN
    IF jsonb_typeof(catalog -> 'backups_list') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'not a barman-cloud-backup-list catalog: no "backups_list" array';
    END IF;
    DELETE FROM base_backups;
    INSERT INTO base_backups (server, backup_id, status, begin_time, end_time, begin_wal, end_wal, size_bytes)
    SELECT backup_server,
           b ->> 'backup_id',
           coalesce(b ->> 'status', 'UNKNOWN'),
           (b ->> 'begin_time')::timestamp AT TIME ZONE 'UTC',
           (b ->> 'end_time')::timestamp AT TIME ZONE 'UTC',
           b ->> 'begin_wal',
           b ->> 'end_wal',
           (b ->> 'size')::bigint
      FROM jsonb_array_elements(catalog -> 'backups_list') AS b;
    GET DIAGNOSTICS recorded = ROW_COUNT;
    RETURN recorded;
END
$$;
