-- The saga database: workflows, the step journal (one row per activity) and attempt history.
-- Times are microseconds since the Unix epoch from the database clock.

CREATE TABLE workflows (
    id              TEXT NOT NULL PRIMARY KEY,
    workflow_type   TEXT NOT NULL,
    version         INTEGER NOT NULL,
    status          TEXT NOT NULL,
    current_step    INTEGER NOT NULL,
    current_kind    TEXT NOT NULL,
    input           TEXT NOT NULL,
    outputs         TEXT NOT NULL,
    error_code      TEXT NULL,
    error_message   TEXT NULL,
    failed_step     INTEGER NULL,
    parked_reason   TEXT NULL,
    abort_requested INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER NULL
);
CREATE INDEX workflows_status ON workflows (status, id);
CREATE INDEX workflows_type ON workflows (workflow_type, id);

-- run_at is when the row next needs a worker: the scheduled time while ready, the lease
-- expiry while leased, NULL once finished. Claims scan this one index.
CREATE TABLE activities (
    workflow_id   TEXT NOT NULL,
    step          INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    run_at        INTEGER NULL,
    lease_owner   TEXT NULL,
    epoch         INTEGER NOT NULL,
    claimed_at    INTEGER NULL,
    request       TEXT NULL,
    response      TEXT NULL,
    error_code    TEXT NULL,
    error_message TEXT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER NULL,
    PRIMARY KEY (workflow_id, step, kind)
);
CREATE INDEX activities_due ON activities (run_at);

CREATE TABLE attempts (
    workflow_id   TEXT NOT NULL,
    step          INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    worker        TEXT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    error_code    TEXT NULL,
    error_message TEXT NULL,
    PRIMARY KEY (workflow_id, step, kind, attempt)
);
