-- Hale schema version 16: claims-mapping policies and their assignment to
-- service principals. (Users' onPremisesExtensionAttributes and applications'
-- api.acceptMappedClaims live in the existing JSON bodies.) Portable SQL, as 0001.

-- Graph's claimsMappingPolicy: displayName, description, definition and
-- isOrganizationDefault as JSON; the definition was checked when written.
CREATE TABLE claims_mapping_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX claims_mapping_policies_listing ON claims_mapping_policies (tenant_id, created_at, id);

-- A service principal has at most one claims-mapping policy, as in Entra: the
-- key is the service principal. Token issuance reads this table joined to the
-- policy, by service principal.
CREATE TABLE claims_mapping_assignments (
    service_principal_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    policy_id TEXT NOT NULL REFERENCES claims_mapping_policies (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX claims_mapping_assignments_policy ON claims_mapping_assignments (policy_id);
