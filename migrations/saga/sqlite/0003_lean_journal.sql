-- A lean journal: the lease on the workflow row, one activity row written once when the
-- activity is done (naming the one that follows), history only for attempts that did not
-- finish their activity. See the MySQL migration for the whole story.
ALTER TABLE workflows ADD COLUMN current_name TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN run_at INTEGER NULL;
ALTER TABLE workflows ADD COLUMN lease_owner TEXT NULL;
ALTER TABLE workflows ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflows ADD COLUMN claimed_at INTEGER NULL;
ALTER TABLE workflows ADD COLUMN budget_step INTEGER NULL;
ALTER TABLE workflows ADD COLUMN budget_kind TEXT NULL;
ALTER TABLE workflows ADD COLUMN budget_max INTEGER NULL;
CREATE INDEX workflows_due ON workflows (run_at);

ALTER TABLE activities ADD COLUMN next_step INTEGER NULL;
ALTER TABLE activities ADD COLUMN next_kind TEXT NULL;
ALTER TABLE activities ADD COLUMN next_name TEXT NULL;
ALTER TABLE activities ADD COLUMN next_max_attempts INTEGER NULL;
ALTER TABLE activities ADD COLUMN worker TEXT NULL;
ALTER TABLE activities ADD COLUMN outcome TEXT NULL;
DROP INDEX activities_due;

UPDATE workflows
SET current_name = a.name,
    run_at = a.run_at,
    lease_owner = CASE WHEN a.status = 'leased' THEN a.lease_owner END,
    epoch = a.epoch,
    claimed_at = a.claimed_at,
    budget_step = a.step,
    budget_kind = a.kind,
    budget_max = a.max_attempts
FROM activities a
WHERE a.workflow_id = workflows.id AND a.step = workflows.current_step AND a.kind = workflows.current_kind
  AND (a.run_at IS NOT NULL OR workflows.status = 'failed');

DELETE FROM activities
WHERE EXISTS (SELECT 1 FROM workflows w
              WHERE w.id = activities.workflow_id AND w.current_step = activities.step
                AND w.current_kind = activities.kind
                AND (activities.run_at IS NOT NULL OR w.status = 'failed'));

UPDATE activities
SET next_step = w.current_step, next_kind = w.current_kind, next_name = w.current_name,
    next_max_attempts = w.budget_max
FROM workflows w
WHERE w.id = activities.workflow_id
  AND w.status IN ('pending', 'running', 'compensating', 'failed')
  AND activities.created_at = (SELECT MAX(x.created_at) FROM activities x WHERE x.workflow_id = activities.workflow_id);

UPDATE activities
SET outcome = t.outcome, worker = t.worker, claimed_at = t.started_at
FROM attempts t
WHERE t.workflow_id = activities.workflow_id AND t.step = activities.step AND t.kind = activities.kind
  AND t.epoch = activities.epoch;

DELETE FROM attempts
WHERE EXISTS (SELECT 1 FROM activities a
              WHERE a.workflow_id = attempts.workflow_id AND a.step = attempts.step
                AND a.kind = attempts.kind AND a.epoch = attempts.epoch);
