-- Who acted on a workflow, when the API asks for credentials: the subject that submitted it
-- (a JWT's `sub`, or a static token's name such as `token:1a2b3c4d`), the last that asked to
-- abort it and the last that retried it. NULL when the API runs without auth. Written by the
-- statements that already write the row (the submit's insert, the abort's and retry's
-- updates): no statement of its own, no index.
ALTER TABLE workflows
    ADD COLUMN submitted_by VARCHAR(255) NULL,
    ADD COLUMN aborted_by VARCHAR(255) NULL,
    ADD COLUMN retried_by VARCHAR(255) NULL;
