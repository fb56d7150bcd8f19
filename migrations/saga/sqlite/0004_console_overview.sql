-- The console's overview asks what finished in the last minutes: workflows by finish time and
-- status, and the attempts of that window (lease expiries). Both by index, never a table scan.
-- Costs one more index entry per workflow (written at submit, moved once at its end) and per
-- attempt-history row (only attempts that did not finish their activity); none per step.
CREATE INDEX workflows_finished ON workflows (finished_at, status);
CREATE INDEX attempts_finished ON attempts (finished_at);
