-- Hale schema version 13 for PostgreSQL: every raise of the authorization
-- epoch is also announced on the channel `hale_authz_epoch`, its payload the
-- new value. PostgreSQL delivers it at commit to every session listening:
-- each replica's watcher, and the committing connection itself, so that a
-- replica knows the current epoch without reading it on every request.
CREATE OR REPLACE FUNCTION hale_raise_authz_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    raised BIGINT;
BEGIN
    UPDATE authz_epoch SET n = n + 1 WHERE id = 1 RETURNING n INTO raised;
    PERFORM pg_notify('hale_authz_epoch', raised::text);
    RETURN NULL;
END
$$;
