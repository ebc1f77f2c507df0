//! Consent: delegated permission grants and app role assignments.

use hale_directory::{
    AppRoleAssignment, ConsentType, OAuth2PermissionGrant, ObjectId, PrincipalKind, TenantId,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Row, StoreError, Tx, params};

const GRANT_COLUMNS: &str = "id, client_id, consent_type, principal_id, resource_id, scope";

fn consent_text(c: ConsentType) -> &'static str {
    match c {
        ConsentType::AllPrincipals => "AllPrincipals",
        ConsentType::Principal => "Principal",
    }
}

fn grant_from_row(row: &Row) -> Result<OAuth2PermissionGrant, StoreError> {
    let consent: String = row.get(2)?;
    Ok(OAuth2PermissionGrant {
        id: row.get(0)?,
        client_id: ObjectId(row.get(1)?),
        consent_type: match consent.as_str() {
            "AllPrincipals" => ConsentType::AllPrincipals,
            "Principal" => ConsentType::Principal,
            other => return Err(StoreError::Decode(format!("consent type {other:?}"))),
        },
        principal_id: row.get::<Option<Uuid>>(3)?.map(ObjectId),
        resource_id: ObjectId(row.get(4)?),
        scope: row.get(5)?,
    })
}

/// Adds a grant. One grant exists per client, resource and consenting party.
pub fn insert_grant(
    tx: &mut dyn Tx,
    tenant: TenantId,
    g: &OAuth2PermissionGrant,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO oauth2_permission_grants ({GRANT_COLUMNS}, tenant_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ),
        params![
            g.id,
            g.client_id.0,
            consent_text(g.consent_type),
            g.principal_id.map(|p| p.0),
            g.resource_id.0,
            &g.scope,
            tenant.0,
            OffsetDateTime::now_utc()
        ],
    )
    .map(drop)
}

/// Replaces a grant's scope. Returns whether it existed.
pub fn update_grant_scope(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: Uuid,
    scope: &str,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE oauth2_permission_grants SET scope = $1 WHERE tenant_id = $2 AND id = $3",
        params![scope, tenant.0, id],
    )? > 0)
}

/// Removes a grant. Returns whether it existed.
pub fn delete_grant(tx: &mut dyn Tx, tenant: TenantId, id: Uuid) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM oauth2_permission_grants WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id],
    )? > 0)
}

/// A grant by ID.
pub fn get_grant(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<OAuth2PermissionGrant>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {GRANT_COLUMNS} FROM oauth2_permission_grants WHERE tenant_id = $1 AND id = $2"
        ),
        params![tenant.0, id],
    )?
    .as_ref()
    .map(grant_from_row)
    .transpose()
}

/// A tenant's grants, optionally only those of one client service principal.
pub fn list_grants(
    tx: &mut dyn Tx,
    tenant: TenantId,
    client: Option<ObjectId>,
) -> Result<Vec<OAuth2PermissionGrant>, StoreError> {
    let rows = match client {
        Some(client) => tx.query(
            &format!("SELECT {GRANT_COLUMNS} FROM oauth2_permission_grants WHERE tenant_id = $1 AND client_id = $2 ORDER BY created_at, id"),
            params![tenant.0, client.0],
        )?,
        None => tx.query(
            &format!("SELECT {GRANT_COLUMNS} FROM oauth2_permission_grants WHERE tenant_id = $1 ORDER BY created_at, id"),
            params![tenant.0],
        )?,
    };
    rows.iter().map(grant_from_row).collect()
}

/// The grants of client `client` on resource `resource` (service principal
/// IDs): at most one tenant-wide and one per consenting user.
pub fn grants_between(
    tx: &mut dyn Tx,
    client: ObjectId,
    resource: ObjectId,
) -> Result<Vec<OAuth2PermissionGrant>, StoreError> {
    tx.query(
        &format!(
            "SELECT {GRANT_COLUMNS} FROM oauth2_permission_grants WHERE client_id = $1 AND resource_id = $2"
        ),
        params![client.0, resource.0],
    )?
    .iter()
    .map(grant_from_row)
    .collect()
}

/// The scopes `user` may obtain for client `client` on resource `resource`:
/// the union of the tenant-wide grant and the user's own.
pub fn consented_scopes(
    tx: &mut dyn Tx,
    client: ObjectId,
    resource: ObjectId,
    user: ObjectId,
) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for grant in grants_between(tx, client, resource)? {
        if grant.covers(user) {
            for s in grant.scopes() {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                    out.push(s.to_owned());
                }
            }
        }
    }
    Ok(out)
}

const ASSIGNMENT_COLUMNS: &str = "id, app_role_id, principal_id, principal_type, principal_display_name, resource_id, resource_display_name, created_at";

fn kind_text(k: PrincipalKind) -> &'static str {
    match k {
        PrincipalKind::User => "User",
        PrincipalKind::Group => "Group",
        PrincipalKind::ServicePrincipal => "ServicePrincipal",
    }
}

fn assignment_from_row(row: &Row) -> Result<AppRoleAssignment, StoreError> {
    let kind: String = row.get(3)?;
    Ok(AppRoleAssignment {
        id: row.get(0)?,
        app_role_id: row.get(1)?,
        principal_id: ObjectId(row.get(2)?),
        principal_type: match kind.as_str() {
            "User" => PrincipalKind::User,
            "Group" => PrincipalKind::Group,
            "ServicePrincipal" => PrincipalKind::ServicePrincipal,
            other => return Err(StoreError::Decode(format!("principal type {other:?}"))),
        },
        principal_display_name: row.get(4)?,
        resource_id: ObjectId(row.get(5)?),
        resource_display_name: row.get(6)?,
        created_date_time: row.get(7)?,
    })
}

/// Adds an app role assignment (unique per principal, resource and role).
pub fn insert_assignment(
    tx: &mut dyn Tx,
    tenant: TenantId,
    a: &AppRoleAssignment,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO app_role_assignments ({ASSIGNMENT_COLUMNS}, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        params![
            a.id,
            a.app_role_id,
            a.principal_id.0,
            kind_text(a.principal_type),
            &a.principal_display_name,
            a.resource_id.0,
            &a.resource_display_name,
            a.created_date_time,
            tenant.0
        ],
    )
    .map(drop)
}

/// Removes an app role assignment. Returns whether it existed.
pub fn delete_assignment(tx: &mut dyn Tx, tenant: TenantId, id: Uuid) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id],
    )? > 0)
}

/// An app role assignment by ID.
pub fn get_assignment(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<AppRoleAssignment>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM app_role_assignments WHERE tenant_id = $1 AND id = $2"
        ),
        params![tenant.0, id],
    )?
    .as_ref()
    .map(assignment_from_row)
    .transpose()
}

/// The app roles assigned to `principal` (`appRoleAssignments`).
pub fn assignments_of(
    tx: &mut dyn Tx,
    principal: ObjectId,
) -> Result<Vec<AppRoleAssignment>, StoreError> {
    tx.query(
        &format!("SELECT {ASSIGNMENT_COLUMNS} FROM app_role_assignments WHERE principal_id = $1 ORDER BY created_at, id"),
        params![principal.0],
    )?
    .iter()
    .map(assignment_from_row)
    .collect()
}

/// The assignments of resource `resource`'s roles (`appRoleAssignedTo`).
pub fn assignments_to(
    tx: &mut dyn Tx,
    resource: ObjectId,
) -> Result<Vec<AppRoleAssignment>, StoreError> {
    tx.query(
        &format!("SELECT {ASSIGNMENT_COLUMNS} FROM app_role_assignments WHERE resource_id = $1 ORDER BY created_at, id"),
        params![resource.0],
    )?
    .iter()
    .map(assignment_from_row)
    .collect()
}

/// The role IDs of `resource` assigned to any of `principals` (a client's
/// service principal; or a user and the groups the user is in).
pub fn assigned_role_ids(
    tx: &mut dyn Tx,
    resource: ObjectId,
    principals: &[ObjectId],
) -> Result<Vec<Uuid>, StoreError> {
    let mut out = Vec::new();
    for principal in principals {
        for row in tx.query(
            "SELECT app_role_id FROM app_role_assignments WHERE principal_id = $1 AND resource_id = $2",
            params![principal.0, resource.0],
        )? {
            let id: Uuid = row.get(0)?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// Removes every grant and assignment naming `object` (as client, resource
/// or principal): used when a service principal, user or group is deleted.
pub fn forget_object(tx: &mut dyn Tx, object: ObjectId) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM oauth2_permission_grants WHERE client_id = $1 OR resource_id = $1 OR principal_id = $1",
        params![object.0],
    )?;
    tx.execute(
        "DELETE FROM app_role_assignments WHERE principal_id = $1 OR resource_id = $1",
        params![object.0],
    )?;
    Ok(())
}
