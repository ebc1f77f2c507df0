-- Hale schema version 4: users' Graph profile, groups and their members, and a
-- case-folded application display name for $filter. Portable SQL, as 0001.

-- Graph's other user properties (givenName, mail, jobTitle, ...) as JSON.
ALTER TABLE users ADD COLUMN body TEXT NOT NULL DEFAULT '{}';

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    display_name TEXT NOT NULL,
    mail_nickname TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX groups_listing ON groups (tenant_id, created_at, id);

-- Direct members of a group: users, service principals or groups (member_kind
-- says which). Nesting is resolved by reading this table level by level.
CREATE TABLE group_members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    member_kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id);

-- The display name lowercased as Graph's $filter compares it (Unicode, by
-- character), so that eq and startswith run in SQL the same on both databases.
-- NULL for applications written before this version: they are always
-- candidates, and the exact comparison is made after reading them.
ALTER TABLE applications ADD COLUMN display_name_folded TEXT;
CREATE INDEX applications_listing ON applications (tenant_id, created_at, id);
CREATE INDEX applications_folded_name ON applications (tenant_id, display_name_folded);
