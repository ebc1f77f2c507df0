-- Hale schema version 9: the DICOM service's extended query tags, their
-- indexed values and indexing errors, and long-running operations (reindex).
-- Portable SQL, as 0001.

-- One row per extended query tag of a service. status: 0 = Adding,
-- 1 = Ready, 2 = Deleting; query_enabled: 1 = Enabled, 0 = Disabled.
-- `operation` is the reindex operation that is adding it.
CREATE TABLE dicom_extended_tags (
    tid INTEGER PRIMARY KEY,
    svc BIGINT NOT NULL,
    path TEXT NOT NULL,
    vr TEXT NOT NULL,
    level SMALLINT NOT NULL,
    private_creator TEXT,
    status SMALLINT NOT NULL,
    query_enabled SMALLINT NOT NULL,
    operation TEXT
);
CREATE UNIQUE INDEX dicom_extended_tags_path ON dicom_extended_tags (svc, path);

-- The indexed value of a tag for one stored instance: folded text, or a
-- number (numbers and yyyymmdd dates).
CREATE TABLE dicom_extended_values (
    tid BIGINT NOT NULL,
    iid BIGINT NOT NULL,
    svc BIGINT NOT NULL,
    study_key TEXT NOT NULL,
    series_key TEXT NOT NULL,
    text_value TEXT,
    num_value DOUBLE PRECISION
);
CREATE UNIQUE INDEX dicom_extended_values_key ON dicom_extended_values (tid, iid);
CREATE INDEX dicom_extended_values_text ON dicom_extended_values (tid, text_value);
CREATE INDEX dicom_extended_values_num ON dicom_extended_values (tid, num_value);
CREATE INDEX dicom_extended_values_iid ON dicom_extended_values (iid);

-- Instances whose value of a tag could not be indexed.
CREATE TABLE dicom_extended_errors (
    eid INTEGER PRIMARY KEY,
    tid BIGINT NOT NULL,
    iid BIGINT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    created BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX dicom_extended_errors_tid ON dicom_extended_errors (tid, eid);
CREATE INDEX dicom_extended_errors_iid ON dicom_extended_errors (iid);

-- Long-running operations. status: 0 notStarted, 1 running, 2 succeeded,
-- 3 failed. `resources`: JSON array of resource paths (tag paths).
-- `watermark`: the highest instance iid processed so far.
CREATE TABLE dicom_operations (
    id TEXT PRIMARY KEY,
    svc BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status SMALLINT NOT NULL,
    percent BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    resources TEXT NOT NULL,
    watermark BIGINT NOT NULL,
    target BIGINT NOT NULL,
    error TEXT
);
