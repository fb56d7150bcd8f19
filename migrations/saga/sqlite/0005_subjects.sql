-- Who acted on a workflow: the subject that submitted it, the last that asked to abort it and
-- the last that retried it; NULL without auth. See the MySQL migration for the whole story.
ALTER TABLE workflows ADD COLUMN submitted_by TEXT NULL;
ALTER TABLE workflows ADD COLUMN aborted_by TEXT NULL;
ALTER TABLE workflows ADD COLUMN retried_by TEXT NULL;
