-- Idempotency keys: SQLite's default BINARY collation already compares byte for byte, with
-- trailing spaces significant; nothing to change.

-- The definition version on each journal row, so a claim takes only the types and versions
-- its worker has loaded (rolling deploys).
ALTER TABLE activities ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
UPDATE activities SET version = (SELECT w.version FROM workflows w WHERE w.id = activities.workflow_id);

-- Attempt history is keyed by the lease epoch, which every claim raises (see the MySQL
-- migration); older rows take their attempt number as epoch.
CREATE TABLE attempts_by_epoch (
    workflow_id   TEXT NOT NULL,
    step          INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    epoch         INTEGER NOT NULL,
    worker        TEXT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    error_code    TEXT NULL,
    error_message TEXT NULL,
    PRIMARY KEY (workflow_id, step, kind, epoch)
);
INSERT INTO attempts_by_epoch (workflow_id, step, kind, attempt, epoch, worker, started_at, finished_at,
                               outcome, error_code, error_message)
    SELECT workflow_id, step, kind, attempt, attempt, worker, started_at, finished_at, outcome,
           error_code, error_message FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_by_epoch RENAME TO attempts;
