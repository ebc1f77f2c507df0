//! Service principals and directory role membership.

use hale_directory::{AppId, DirectoryRole, ObjectId, ServicePrincipal, TenantId};
use time::OffsetDateTime;

use crate::{Row, StoreError, Tx, params};

const COLUMNS: &str =
    "id, tenant_id, app_id, display_name, app_owner_organization_id, body, created_at";

fn from_row(row: &Row) -> Result<ServicePrincipal, StoreError> {
    let body: String = row.get(5)?;
    let mut sp: ServicePrincipal = serde_json::from_str(&body)
        .map_err(|e| StoreError::Decode(format!("service principal body: {e}")))?;
    sp.id = ObjectId(row.get(0)?);
    sp.tenant_id = TenantId(row.get(1)?);
    sp.created_at = row.get(6)?;
    Ok(sp)
}

/// Adds a service principal. An application has at most one per tenant.
pub fn insert(tx: &mut dyn Tx, sp: &ServicePrincipal) -> Result<(), StoreError> {
    let body = serde_json::to_string(sp).map_err(|e| StoreError::Decode(e.to_string()))?;
    tx.execute(
        &format!("INSERT INTO service_principals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![
            sp.id.0,
            sp.tenant_id.0,
            sp.app_id.0,
            &sp.display_name,
            sp.app_owner_organization_id.0,
            body,
            sp.created_at
        ],
    )
    .map(drop)
}

/// Stores a changed service principal (display name and body). Returns
/// whether it existed.
pub fn update(tx: &mut dyn Tx, sp: &ServicePrincipal) -> Result<bool, StoreError> {
    let body = serde_json::to_string(sp).map_err(|e| StoreError::Decode(e.to_string()))?;
    Ok(tx.execute(
        "UPDATE service_principals SET display_name = $3, body = $4 WHERE tenant_id = $1 AND id = $2",
        params![sp.tenant_id.0, sp.id.0, &sp.display_name, body],
    )? > 0)
}

/// Removes a service principal with its group and directory role
/// memberships and its claims-mapping policy assignment (its grants and
/// assignments: `grants::forget_object`). Returns whether it existed.
pub fn delete(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<bool, StoreError> {
    tx.execute(
        "DELETE FROM group_members WHERE tenant_id = $1 AND member_id = $2",
        params![tenant.0, id.0],
    )?;
    tx.execute(
        "DELETE FROM directory_role_members WHERE tenant_id = $1 AND principal_id = $2",
        params![tenant.0, id.0],
    )?;
    crate::claims_mapping::forget_principal(tx, tenant, id)?;
    Ok(tx.execute(
        "DELETE FROM service_principals WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )? > 0)
}

/// The service principals of a tenant, oldest first.
pub fn list(tx: &mut dyn Tx, tenant: TenantId) -> Result<Vec<ServicePrincipal>, StoreError> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM service_principals WHERE tenant_id = $1 ORDER BY created_at, id"
        ),
        params![tenant.0],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// A tenant's service principal for `app_id`.
pub fn by_app_id(
    tx: &mut dyn Tx,
    tenant: TenantId,
    app_id: AppId,
) -> Result<Option<ServicePrincipal>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM service_principals WHERE tenant_id = $1 AND app_id = $2"),
        params![tenant.0, app_id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A service principal by object ID, within a tenant.
pub fn get(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: ObjectId,
) -> Result<Option<ServicePrincipal>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM service_principals WHERE tenant_id = $1 AND id = $2"),
        params![tenant.0, id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Makes `principal` a member of `role` in `tenant` (no-op if already).
pub fn add_role_member(
    tx: &mut dyn Tx,
    tenant: TenantId,
    role: DirectoryRole,
    principal: ObjectId,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO directory_role_members (tenant_id, role_template_id, principal_id, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        params![
            tenant.0,
            role.template_id(),
            principal.0,
            OffsetDateTime::now_utc()
        ],
    )
    .map(drop)
}

/// The directory roles `principal` holds in `tenant`.
pub fn roles_of(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principal: ObjectId,
) -> Result<Vec<DirectoryRole>, StoreError> {
    let rows = tx.query(
        "SELECT role_template_id FROM directory_role_members WHERE tenant_id = $1 AND principal_id = $2",
        params![tenant.0, principal.0],
    )?;
    let mut roles = Vec::new();
    for row in rows {
        if let Some(role) = DirectoryRole::from_template_id(row.get(0)?) {
            roles.push(role);
        }
    }
    Ok(roles)
}
