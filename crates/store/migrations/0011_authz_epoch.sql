-- Hale schema version 11: the authorization epoch. One counter, raised by
-- triggers in the same transaction as any change to what a data-plane
-- authorization decision reads (role assignments, group members, health
-- workspaces and services), however the change is made (cascades included).
-- A replica may keep decisions' inputs in memory as long as the epoch it read
-- them at is still the current one. (PostgreSQL: 0011_authz_epoch.pg.sql.)
CREATE TABLE authz_epoch (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO authz_epoch (id, n) VALUES (1, 0);

CREATE TRIGGER authz_epoch_ra_insert AFTER INSERT ON role_assignments
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_ra_update AFTER UPDATE ON role_assignments
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_ra_delete AFTER DELETE ON role_assignments
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER authz_epoch_gm_insert AFTER INSERT ON group_members
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_gm_update AFTER UPDATE ON group_members
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_gm_delete AFTER DELETE ON group_members
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER authz_epoch_ws_insert AFTER INSERT ON health_workspaces
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_ws_update AFTER UPDATE ON health_workspaces
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_ws_delete AFTER DELETE ON health_workspaces
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER authz_epoch_svc_insert AFTER INSERT ON health_services
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_svc_update AFTER UPDATE ON health_services
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER authz_epoch_svc_delete AFTER DELETE ON health_services
BEGIN UPDATE authz_epoch SET n = n + 1 WHERE id = 1; END;
