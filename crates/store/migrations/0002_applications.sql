-- App registrations. The Graph object (minus secret digests) is the JSON body;
-- the columns are what lookups and uniqueness need.
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    app_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A client ID names one application everywhere (multitenant apps are found by it).
CREATE UNIQUE INDEX applications_app_id ON applications (app_id);
CREATE INDEX applications_display_name ON applications (tenant_id, lower(display_name));

-- App ID URIs are unique in a tenant, ignoring case.
CREATE TABLE application_identifier_uris (
    tenant_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, uri)
);

-- Keyed digests of client secrets; the secrets themselves are never stored.
CREATE TABLE application_secrets (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    digest BLOB NOT NULL,
    end_date_time BIGINT NOT NULL,
    PRIMARY KEY (application_id, key_id)
);
