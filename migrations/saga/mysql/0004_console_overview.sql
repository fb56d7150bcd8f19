-- The console's overview asks what finished in the last minutes: workflows by finish time and
-- status, and the attempts of that window (lease expiries). Both by index, never a table scan.
-- Costs one more index entry per workflow (written at submit, moved once at its end) and per
-- attempt-history row (only attempts that did not finish their activity); none per step.
ALTER TABLE workflows ADD KEY workflows_finished (finished_at, status);
ALTER TABLE attempts ADD KEY attempts_finished (finished_at);
