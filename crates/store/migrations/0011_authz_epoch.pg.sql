-- Hale schema version 11 for PostgreSQL: the authorization epoch, as in
-- 0011_authz_epoch.sql, with one statement-level trigger per table.
CREATE TABLE authz_epoch (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO authz_epoch (id, n) VALUES (1, 0);

CREATE FUNCTION hale_raise_authz_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE authz_epoch SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER authz_epoch AFTER INSERT OR UPDATE OR DELETE ON role_assignments
FOR EACH STATEMENT EXECUTE FUNCTION hale_raise_authz_epoch();
CREATE TRIGGER authz_epoch AFTER INSERT OR UPDATE OR DELETE ON group_members
FOR EACH STATEMENT EXECUTE FUNCTION hale_raise_authz_epoch();
CREATE TRIGGER authz_epoch AFTER INSERT OR UPDATE OR DELETE ON health_workspaces
FOR EACH STATEMENT EXECUTE FUNCTION hale_raise_authz_epoch();
CREATE TRIGGER authz_epoch AFTER INSERT OR UPDATE OR DELETE ON health_services
FOR EACH STATEMENT EXECUTE FUNCTION hale_raise_authz_epoch();
