-- The saga database: workflows, the step journal (one row per activity) and attempt history.
-- Times are microseconds since the Unix epoch from the database clock (NOW(6)).

CREATE TABLE workflows (
    id              CHAR(36) CHARACTER SET ascii NOT NULL,
    workflow_type   VARCHAR(128) NOT NULL,
    version         BIGINT NOT NULL,
    status          VARCHAR(16) CHARACTER SET ascii NOT NULL,
    current_step    BIGINT NOT NULL,
    current_kind    VARCHAR(16) CHARACTER SET ascii NOT NULL,
    input           MEDIUMTEXT NOT NULL,
    outputs         MEDIUMTEXT NOT NULL,
    error_code      VARCHAR(64) NULL,
    error_message   TEXT NULL,
    failed_step     BIGINT NULL,
    parked_reason   TEXT NULL,
    abort_requested BIGINT NOT NULL DEFAULT 0,
    idempotency_key VARCHAR(255) NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY workflows_idempotency_key (idempotency_key),
    KEY workflows_status (status, id),
    KEY workflows_type (workflow_type, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- run_at is when the row next needs a worker: the scheduled time while ready, the lease
-- expiry while leased, NULL once finished. Claims scan this one index.
CREATE TABLE activities (
    workflow_id   CHAR(36) CHARACTER SET ascii NOT NULL,
    step          BIGINT NOT NULL,
    kind          VARCHAR(16) CHARACTER SET ascii NOT NULL,
    workflow_type VARCHAR(128) NOT NULL,
    name          VARCHAR(128) NOT NULL,
    status        VARCHAR(16) CHARACTER SET ascii NOT NULL,
    attempt       BIGINT NOT NULL,
    max_attempts  BIGINT NOT NULL,
    run_at        BIGINT NULL,
    lease_owner   VARCHAR(128) NULL,
    epoch         BIGINT NOT NULL,
    claimed_at    BIGINT NULL,
    request       MEDIUMTEXT NULL,
    response      MEDIUMTEXT NULL,
    error_code    VARCHAR(64) NULL,
    error_message TEXT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT NULL,
    PRIMARY KEY (workflow_id, step, kind),
    KEY activities_due (run_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE attempts (
    workflow_id   CHAR(36) CHARACTER SET ascii NOT NULL,
    step          BIGINT NOT NULL,
    kind          VARCHAR(16) CHARACTER SET ascii NOT NULL,
    attempt       BIGINT NOT NULL,
    worker        VARCHAR(128) NULL,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL,
    outcome       VARCHAR(32) CHARACTER SET ascii NOT NULL,
    error_code    VARCHAR(64) NULL,
    error_message TEXT NULL,
    PRIMARY KEY (workflow_id, step, kind, attempt)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
