-- Hale schema version 5: health workspaces, their FHIR and DICOM services, and
-- what Azure RBAC role assignments carry beyond version 1's columns. Portable
-- SQL, as 0001.

CREATE TABLE health_workspaces (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    subscription_id TEXT NOT NULL,
    -- The resource group's name exactly as stored in resource_groups.
    resource_group TEXT NOT NULL,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (subscription_id, resource_group) REFERENCES resource_groups (subscription_id, name)
);
-- Unique across the installation: every service URL (/fhir/{ws}/{name}) carries it.
-- Names are lowercase by rule.
CREATE UNIQUE INDEX health_workspaces_name ON health_workspaces (name);
CREATE INDEX health_workspaces_group ON health_workspaces (subscription_id, resource_group);

CREATE TABLE health_services (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES health_workspaces (id),
    -- 'fhir' or 'dicom'
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- ARM's kind, e.g. 'fhir-R4'
    resource_kind TEXT,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX health_services_name ON health_services (workspace_id, kind, lower(name));

-- The scope as given (the scope column holds it lowercased, for comparison),
-- ARM's description, who made the assignment and when it last changed.
ALTER TABLE role_assignments ADD COLUMN scope_display TEXT;
ALTER TABLE role_assignments ADD COLUMN description TEXT;
ALTER TABLE role_assignments ADD COLUMN created_by TEXT;
ALTER TABLE role_assignments ADD COLUMN updated_at BIGINT;
-- One assignment of a role to a principal per scope (ARM's RoleAssignmentExists).
CREATE UNIQUE INDEX role_assignments_unique ON role_assignments (scope, role_definition_id, principal_id);
CREATE INDEX role_assignments_tenant ON role_assignments (tenant_id, principal_id);
