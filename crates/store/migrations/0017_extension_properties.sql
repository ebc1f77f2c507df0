-- Hale schema version 17: directory extensions (Graph's extensionProperty),
-- defined by an application. Users' values live in the users' JSON bodies,
-- under each extension's full name. Portable SQL, as 0001.

-- name is the full name, extension_{appId without dashes}_{name}, unique in
-- the tenant (the appId makes it unique across applications); target_objects
-- is a JSON array of Graph's object type names.
CREATE TABLE extension_properties (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    application_id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    is_multi_valued BIGINT NOT NULL,
    target_objects TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX extension_properties_name ON extension_properties (tenant_id, name);
CREATE INDEX extension_properties_application ON extension_properties (application_id, created_at, id);
