-- Hale schema version 12: FHIR bulk export jobs ($export). Portable SQL, as 0001.
-- A job is run by the replica that accepted it; any replica answers its
-- status from this row. `heartbeat` moves while the job runs: a running job
-- whose heartbeat stops (its replica went away) is reported failed.
CREATE TABLE fhir_export_jobs (
    id TEXT PRIMARY KEY,
    svc BIGINT NOT NULL,
    -- running | completed | failed | cancelled
    status TEXT NOT NULL,
    -- The kick-off request URL, as the manifest repeats it.
    request TEXT NOT NULL,
    -- Microseconds since the epoch: resources changed after this are not exported.
    transaction_time BIGINT NOT NULL,
    -- JSON: what to export (level, types, since, group).
    spec TEXT NOT NULL,
    exported BIGINT NOT NULL DEFAULT 0,
    -- JSON array of {"type", "file", "count"}: the files written so far.
    output TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created BIGINT NOT NULL,
    heartbeat BIGINT NOT NULL
);
CREATE INDEX fhir_export_jobs_svc ON fhir_export_jobs (svc, created);
