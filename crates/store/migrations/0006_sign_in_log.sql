-- Hale schema version 6: the sign-in log (Graph auditLogs/signIns) and smart
-- lockout counters. Portable SQL, as 0001.

-- One row per token request or interactive sign-in, success (error_code 0) or
-- failure (the AADSTS code). Written in batches, off the request path.
CREATE TABLE sign_in_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    app_id TEXT,
    app_display_name TEXT,
    user_id TEXT,
    user_principal_name TEXT,
    ip_address TEXT,
    client_app_used TEXT NOT NULL,
    resource TEXT,
    error_code BIGINT NOT NULL,
    failure_reason TEXT
);
CREATE INDEX sign_in_events_time ON sign_in_events (tenant_id, created_at);

-- Failed password attempts per user name, shared by every replica: ten in a
-- row lock the name for a while (AADSTS50053).
CREATE TABLE sign_in_lockouts (
    tenant_id TEXT NOT NULL,
    user_principal_name TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (tenant_id, user_principal_name)
);
