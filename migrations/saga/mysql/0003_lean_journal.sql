-- A lean journal. The lease moves from the activity to the workflow row (owner, epoch, expiry
-- in run_at), taken once and kept while one worker runs the workflow step after step. An
-- activity row is written once, when the activity is done, and names the activity that
-- follows (next_*), so a worker that takes over resumes from the last row. The attempt that
-- finished an activity lives on its row; the history keeps only the others (failures that
-- were retried, expired leases, the attempt that parked).
ALTER TABLE workflows
    ADD COLUMN current_name VARCHAR(128) NOT NULL DEFAULT '' AFTER current_kind,
    ADD COLUMN run_at BIGINT NULL,
    ADD COLUMN lease_owner VARCHAR(128) NULL,
    ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN claimed_at BIGINT NULL,
    ADD COLUMN budget_step BIGINT NULL,
    ADD COLUMN budget_kind VARCHAR(16) CHARACTER SET ascii NULL,
    ADD COLUMN budget_max BIGINT NULL,
    ADD KEY workflows_due (run_at);

ALTER TABLE activities
    ADD COLUMN next_step BIGINT NULL,
    ADD COLUMN next_kind VARCHAR(16) CHARACTER SET ascii NULL,
    ADD COLUMN next_name VARCHAR(128) NULL,
    ADD COLUMN next_max_attempts BIGINT NULL,
    ADD COLUMN worker VARCHAR(128) NULL,
    ADD COLUMN outcome VARCHAR(32) CHARACTER SET ascii NULL,
    DROP KEY activities_due;

-- Workflows in flight: their current activity (due or leased, or the one a parked workflow
-- stopped at) becomes the workflow row's lease and budget, and leaves the journal.
UPDATE workflows w
    JOIN activities a ON a.workflow_id = w.id AND a.step = w.current_step AND a.kind = w.current_kind
SET w.current_name = a.name,
    w.run_at = a.run_at,
    w.lease_owner = CASE WHEN a.status = 'leased' THEN a.lease_owner END,
    w.epoch = a.epoch,
    w.claimed_at = a.claimed_at,
    w.budget_step = a.step,
    w.budget_kind = a.kind,
    w.budget_max = a.max_attempts
WHERE a.run_at IS NOT NULL OR w.status = 'failed';

DELETE a FROM activities a
    JOIN workflows w ON w.id = a.workflow_id AND a.step = w.current_step AND a.kind = w.current_kind
WHERE a.run_at IS NOT NULL OR w.status = 'failed';

-- The last done activity of each unfinished workflow names the current one.
UPDATE activities f
    JOIN (SELECT workflow_id, MAX(created_at) AS created_at FROM activities GROUP BY workflow_id) l
        ON l.workflow_id = f.workflow_id AND l.created_at = f.created_at
    JOIN workflows w ON w.id = f.workflow_id
SET f.next_step = w.current_step, f.next_kind = w.current_kind, f.next_name = w.current_name,
    f.next_max_attempts = w.budget_max
WHERE w.status IN ('pending', 'running', 'compensating', 'failed');

-- The attempt that finished each activity moves onto its row.
UPDATE activities a
    JOIN attempts t ON t.workflow_id = a.workflow_id AND t.step = a.step AND t.kind = a.kind AND t.epoch = a.epoch
SET a.outcome = t.outcome, a.worker = t.worker, a.claimed_at = t.started_at;

DELETE t FROM attempts t
    JOIN activities a ON t.workflow_id = a.workflow_id AND t.step = a.step AND t.kind = a.kind AND t.epoch = a.epoch;
