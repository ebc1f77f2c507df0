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
    -- The resource as served, UTF-8 JSON with id and meta set.
    body BLOB
);
CREATE UNIQUE INDEX fhir_resources_version ON fhir_resources (svc, resource_type, id, version);
CREATE UNIQUE INDEX fhir_resources_current ON fhir_resources (svc, resource_type, id) WHERE is_current = 1;
-- Type and system history, newest first, and type-level listings.
CREATE INDEX fhir_resources_type_history ON fhir_resources (svc, resource_type, last_updated);
CREATE INDEX fhir_resources_history ON fhir_resources (svc, last_updated);

-- ---- search indexes (crates/fhir-store/src/index.rs) below this line ----
