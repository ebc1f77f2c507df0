-- Consent, and the short- and long-lived secrets of interactive sign-in.
-- Every bearer secret (refresh token, authorization code, device code, session
-- cookie) is stored only as its keyed digest, the primary key it is found by.

-- Delegated permission grants (Graph oAuth2PermissionGrant). client_id and
-- resource_id are service principal object IDs; principal_id is NULL for
-- tenant-wide (AllPrincipals) consent.
CREATE TABLE oauth2_permission_grants (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    client_id TEXT NOT NULL,
    consent_type TEXT NOT NULL,
    principal_id TEXT,
    resource_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX oauth2_permission_grants_key
    ON oauth2_permission_grants (client_id, resource_id, consent_type, coalesce(principal_id, ''));
CREATE INDEX oauth2_permission_grants_resource ON oauth2_permission_grants (resource_id);

-- App role assignments: application permissions granted to a service
-- principal, and app roles assigned to users and groups.
CREATE TABLE app_role_assignments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    app_role_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_display_name TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    resource_display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX app_role_assignments_key
    ON app_role_assignments (principal_id, resource_id, app_role_id);
CREATE INDEX app_role_assignments_resource ON app_role_assignments (resource_id);

-- Browser sign-in sessions (the SSO cookie).
CREATE TABLE sign_in_sessions (
    digest BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    methods TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL
);
CREATE INDEX sign_in_sessions_user ON sign_in_sessions (user_id);

-- Refresh tokens: bound to a user and a client, usable for any resource the
-- user consented to; sliding expiry (last_used_at + window) up to expires_at.
CREATE TABLE refresh_tokens (
    digest BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL,
    client_app_id TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    methods TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Authorization codes: single use, ten minutes.
CREATE TABLE authorization_codes (
    digest BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    client_app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    nonce TEXT,
    authenticated_at BIGINT NOT NULL,
    methods TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT
);

-- Device authorization (RFC 8628): the device polls with device_code; the
-- user enters user_code on the device-login page and signs in.
CREATE TABLE device_codes (
    digest BLOB PRIMARY KEY,
    user_code TEXT NOT NULL,
    tenant_id TEXT,
    client_app_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT,
    authenticated_at BIGINT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (user_code);
