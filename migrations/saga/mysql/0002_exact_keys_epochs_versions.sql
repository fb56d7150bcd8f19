-- Idempotency keys are compared byte for byte: the column was case-insensitive and padded
-- (utf8mb4 with a PAD SPACE collation), so `Order-X1`, `order-x1` and `Order-X1 ` were one
-- key to the unique index and three keys to every other comparison.
ALTER TABLE workflows MODIFY idempotency_key VARBINARY(255) NULL;

-- The definition version on each journal row, so a claim takes only the types and versions
-- its worker has loaded (rolling deploys).
ALTER TABLE activities ADD COLUMN version BIGINT NOT NULL DEFAULT 1 AFTER workflow_type;
UPDATE activities a JOIN workflows w ON w.id = a.workflow_id SET a.version = w.version;

-- Attempt history is keyed by the lease epoch, which every claim raises: two rows of one
-- activity can never share a key (attempt numbers repeat when a lease with no attempt left
-- expires again). Older rows take their attempt number as epoch: every later lease has a
-- larger epoch, since a claim raises the epoch at least as much as the attempt.
ALTER TABLE attempts ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0 AFTER attempt;
UPDATE attempts SET epoch = attempt;
ALTER TABLE attempts DROP PRIMARY KEY, ADD PRIMARY KEY (workflow_id, step, kind, epoch);
