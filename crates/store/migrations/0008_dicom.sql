-- Hale schema version 8: the DICOM service's index (instances, series,
-- studies), fuzzy-matching name words, the change feed, and the blob journal
-- that makes STOW and delete crash-safe. Portable SQL, as 0001; `INTEGER
-- PRIMARY KEY` is SQLite's rowid and becomes an identity column on PostgreSQL.
-- `svc` is the service's data partition (data_partitions, schema 7).
--
-- UIDs are kept twice: as sent (`*_uid`, for URLs and answers) and ASCII
-- lower-cased (`*_key`), because Azure compares identifiers case-insensitively.

-- One row per instance. `iid` is the instance's watermark: unique, growing,
-- part of its blob key. `status` 0 = reserved (its blob is being written;
-- swept when older than the pending lifetime), 1 = stored (blob durable).
CREATE TABLE dicom_instances (
    iid INTEGER PRIMARY KEY,
    svc BIGINT NOT NULL,
    study_key TEXT NOT NULL,
    series_key TEXT NOT NULL,
    sop_key TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    status SMALLINT NOT NULL,
    -- Microseconds since the epoch: reservation, then commit.
    created BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    frames BIGINT NOT NULL,
    -- JSON: {"study": level record, "series": level record, "instance": {DICOM JSON}}
    -- (a level record is {"attrs": {DICOM JSON}, "index": [[tag, kind, value], ...]}).
    record TEXT,
    -- The /metadata DICOM JSON object.
    metadata TEXT
);
CREATE UNIQUE INDEX dicom_instances_uids ON dicom_instances (svc, study_key, series_key, sop_key);
CREATE INDEX dicom_instances_sop ON dicom_instances (svc, sop_key);
CREATE INDEX dicom_instances_pending ON dicom_instances (status, created);

-- One row per series: the merged ("latest wins" per attribute) series record
-- and its searchable values; `latest` is the newest instance's iid.
CREATE TABLE dicom_series (
    sid INTEGER PRIMARY KEY,
    svc BIGINT NOT NULL,
    study_key TEXT NOT NULL,
    series_key TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    instances BIGINT NOT NULL,
    latest BIGINT NOT NULL,
    modality TEXT,
    model TEXT,
    pps_date BIGINT,
    record TEXT NOT NULL
);
CREATE UNIQUE INDEX dicom_series_uids ON dicom_series (svc, study_key, series_key);
CREATE INDEX dicom_series_latest ON dicom_series (svc, latest);
CREATE INDEX dicom_series_key ON dicom_series (svc, series_key);

-- One row per study, likewise. Text columns hold folded values (PN also
-- accent-folded), dates the integer yyyymmdd.
CREATE TABLE dicom_studies (
    stid INTEGER PRIMARY KEY,
    svc BIGINT NOT NULL,
    study_key TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    instances BIGINT NOT NULL,
    latest BIGINT NOT NULL,
    patient_name TEXT,
    patient_id TEXT,
    birth_date BIGINT,
    accession TEXT,
    referring TEXT,
    study_date BIGINT,
    description TEXT,
    record TEXT NOT NULL
);
CREATE UNIQUE INDEX dicom_studies_uid ON dicom_studies (svc, study_key);
CREATE INDEX dicom_studies_latest ON dicom_studies (svc, latest);
CREATE INDEX dicom_studies_patient_id ON dicom_studies (svc, patient_id);
CREATE INDEX dicom_studies_patient_name ON dicom_studies (svc, patient_name);
CREATE INDEX dicom_studies_date ON dicom_studies (svc, study_date);
CREATE INDEX dicom_studies_accession ON dicom_studies (svc, accession);

-- The words of a study's person names, for fuzzymatching=true prefix search.
-- attr: 0 = PatientName, 1 = ReferringPhysicianName.
CREATE TABLE dicom_name_words (
    svc BIGINT NOT NULL,
    stid BIGINT NOT NULL,
    attr SMALLINT NOT NULL,
    word TEXT NOT NULL
);
CREATE INDEX dicom_name_words_study ON dicom_name_words (stid, attr);
CREATE INDEX dicom_name_words_word ON dicom_name_words (svc, attr, word);

-- The change feed. `seq` is per service (dicom_feed_counters), 1, 2, 3, ...
CREATE TABLE dicom_changes (
    cid INTEGER PRIMARY KEY,
    svc BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    action TEXT NOT NULL,
    ts BIGINT NOT NULL,
    -- The instance the entry is about (its state is read from dicom_instances).
    iid BIGINT NOT NULL
);
CREATE UNIQUE INDEX dicom_changes_seq ON dicom_changes (svc, seq);
CREATE INDEX dicom_changes_ts ON dicom_changes (svc, ts);
CREATE INDEX dicom_changes_iid ON dicom_changes (iid);

CREATE TABLE dicom_feed_counters (
    svc BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

-- Blobs no index row points at any more (deleted instances, abandoned
-- reservations): removed from the blob store, then from here. Whatever a
-- crash leaves here is removed by the next sweep.
CREATE TABLE dicom_blob_trash (
    tid INTEGER PRIMARY KEY,
    blob_key TEXT NOT NULL,
    since BIGINT NOT NULL
);
