-- Hale schema version 7: the data planes' partitions and the FHIR service's
-- resources and search indexes. Portable SQL, as 0001; `INTEGER PRIMARY KEY`
-- is SQLite's rowid and becomes an identity column on PostgreSQL.

-- One small integer per FHIR or DICOM service, so that every data row names
-- its service in a few bytes rather than a 36-byte UUID.
CREATE TABLE data_partitions (
    svc INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL UNIQUE
);

-- Every version of every FHIR resource. `rid` identifies one version; the
-- search indexes point at the rid of the current version only.
CREATE TABLE fhir_resources (
    rid INTEGER PRIMARY KEY,
    svc BIGINT NOT NULL,
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- Microseconds since the epoch: meta.lastUpdated.
    last_updated BIGINT NOT NULL,
    -- 1 for the newest version of (svc, resource_type, id), else 0.
    is_current SMALLINT NOT NULL,
    -- 1 when this version records a delete (body is NULL then).
    deleted SMALLINT NOT NULL,
    -- How the version was made: POST, PUT, PATCH or DELETE (history's request.method).
    method TEXT NOT NULL,
    -- The resource as served, UTF-8 JSON with id and meta set, compressed
    -- (hale-fhir-store's codec: the first byte names the format).
    body BLOB
);
-- Also finds the current version (the id's few versions, filtered on
-- is_current), and makes two concurrent writes of one version collide.
CREATE UNIQUE INDEX fhir_resources_version ON fhir_resources (svc, resource_type, id, version);
-- Type and system history, newest first, and type-level listings.
CREATE INDEX fhir_resources_type_history ON fhir_resources (svc, resource_type, last_updated);
CREATE INDEX fhir_resources_history ON fhir_resources (svc, last_updated);

-- ---- search indexes (crates/fhir-store/src/index.rs) below this line ----
--
-- One table per kind of value. Rows exist only for current, not deleted
-- versions (`rid`). `p` is the parameter key: the FNV-1a 64-bit hash of
-- "Type.code" as a signed BIGINT ("Type.code:text" for a token's display
-- text, "Type.code:identifier" for Reference.identifier), so rows carry no
-- parameter or type text and a key names one resource type's parameter.
-- Each primary key starts (svc, p, value…) and ends with rid, so an equality
-- search walks the key in rid order and can stop at the page size. There is
-- no index by rid: removing a version's rows recomputes its entries from the
-- stored body and deletes them by key. SQLite stores these tables as their
-- primary key (WITHOUT ROWID; the clause is dropped for PostgreSQL). Absent
-- parts are '' (primary key columns are NOT NULL).

-- string: folded value (UTF-8 bytes, compared bytewise on both backends) and
-- the value as written when it differs from the folded one ('' otherwise).
CREATE TABLE fhir_ix_str (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    norm BLOB NOT NULL,
    rid BIGINT NOT NULL,
    ex BLOB NOT NULL,
    PRIMARY KEY (svc, p, norm, rid, ex)
) WITHOUT ROWID;

-- token: code ('' when only a system is known) and the system's key (the
-- FNV-1a 64-bit hash of the system URL, 0 for none: only equality is asked of
-- systems, and they are the longest part of most rows).
CREATE TABLE fhir_ix_tok (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    code TEXT NOT NULL,
    rid BIGINT NOT NULL,
    sys BIGINT NOT NULL,
    PRIMARY KEY (svc, p, code, rid, sys)
) WITHOUT ROWID;

-- reference: a local target (tid = id, ttype = type) or a URL (tid = the
-- URL without |version, ttype = '').
CREATE TABLE fhir_ix_ref (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    tid TEXT NOT NULL,
    ttype TEXT NOT NULL,
    rid BIGINT NOT NULL,
    PRIMARY KEY (svc, p, tid, ttype, rid)
) WITHOUT ROWID;

-- date: [lo, hi) in microseconds since the epoch.
CREATE TABLE fhir_ix_date (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    lo BIGINT NOT NULL,
    hi BIGINT NOT NULL,
    rid BIGINT NOT NULL,
    PRIMARY KEY (svc, p, lo, hi, rid)
) WITHOUT ROWID;

-- number and quantity: [lo, hi] (lo = hi for a single value; a Range's
-- bounds), with the quantity's system key (as tokens) and code.
CREATE TABLE fhir_ix_num (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    lo DOUBLE PRECISION NOT NULL,
    hi DOUBLE PRECISION NOT NULL,
    rid BIGINT NOT NULL,
    sys BIGINT NOT NULL,
    code TEXT NOT NULL,
    PRIMARY KEY (svc, p, lo, hi, rid, sys, code)
) WITHOUT ROWID;

-- uri.
CREATE TABLE fhir_ix_uri (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    uri TEXT NOT NULL,
    rid BIGINT NOT NULL,
    PRIMARY KEY (svc, p, uri, rid)
) WITHOUT ROWID;

-- composite: the first component's (s1, c1) (token system key and code, or a
-- reference's type key and id), the second's system key a2, text b2 (code,
-- folded string or uri) and range (lo2, hi2), a third component's range
-- (lo3, hi3).
CREATE TABLE fhir_ix_comp (
    svc BIGINT NOT NULL,
    p BIGINT NOT NULL,
    c1 TEXT NOT NULL,
    rid BIGINT NOT NULL,
    s1 BIGINT NOT NULL,
    a2 BIGINT NOT NULL,
    b2 TEXT NOT NULL,
    lo2 DOUBLE PRECISION NOT NULL,
    hi2 DOUBLE PRECISION NOT NULL,
    lo3 DOUBLE PRECISION NOT NULL,
    hi3 DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (svc, p, c1, rid, s1, a2, b2, lo2, hi2, lo3, hi3)
) WITHOUT ROWID;
