-- Hale schema version 1. Portable SQL: SQLite and PostgreSQL both run this file
-- (BLOB becomes BYTEA on PostgreSQL). Instants are BIGINT microseconds since the
-- Unix epoch, UTC; identifiers are lowercase hyphenated UUID text; booleans are
-- BIGINT 0/1. Rich objects keep their queryable fields as columns and the rest in
-- a JSON `body`.

-- Installation-wide facts (e.g. the check value that proves the master key).
CREATE TABLE installation (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenants_domain ON tenants (lower(domain));

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_principal_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    account_enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_upn ON users (tenant_id, lower(user_principal_name));

-- A service principal is an application's instance in a tenant. First-party
-- applications (Microsoft Graph, Azure Resource Manager, ...) are defined in code
-- and exist in a tenant only through their service principal, as in Entra.
CREATE TABLE service_principals (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    app_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    app_owner_organization_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX service_principals_app ON service_principals (tenant_id, app_id);

-- Members of Entra directory roles (Global Administrator, ...), by role template.
CREATE TABLE directory_role_members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    role_template_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, role_template_id, principal_id)
);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    display_name TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE resource_groups (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, name)
);
CREATE UNIQUE INDEX resource_groups_name ON resource_groups (subscription_id, lower(name));

-- Azure RBAC role assignments at any ARM scope (lowercased scope path).
CREATE TABLE role_assignments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    scope TEXT NOT NULL,
    role_definition_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX role_assignments_principal ON role_assignments (principal_id);
CREATE INDEX role_assignments_scope ON role_assignments (scope);

-- Token signing keys. The private key is sealed with the master key, which is
-- never stored in the database.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    certificate BLOB NOT NULL,
    sealed_private_key BLOB NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
