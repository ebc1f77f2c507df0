//! Members of directory roles (Global Administrator, ...), beyond what first
//! start writes (`principals::add_role_member`, `principals::roles_of`).

use hale_directory::{DirectoryRole, ObjectId, TenantId};
use time::OffsetDateTime;

use crate::{StoreError, Tx, params};

/// The members of `role` in `tenant`, in the order they were added.
pub fn members(
    tx: &mut dyn Tx,
    tenant: TenantId,
    role: DirectoryRole,
) -> Result<Vec<ObjectId>, StoreError> {
    tx.query(
        "SELECT principal_id FROM directory_role_members WHERE tenant_id = $1 AND role_template_id = $2
         ORDER BY created_at, principal_id",
        params![tenant.0, role.template_id()],
    )?
    .iter()
    .map(|row| row.get(0).map(ObjectId))
    .collect()
}

/// Makes `principal` a member of `role`. Returns false when it already was.
pub fn add_member(
    tx: &mut dyn Tx,
    tenant: TenantId,
    role: DirectoryRole,
    principal: ObjectId,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "INSERT INTO directory_role_members (tenant_id, role_template_id, principal_id, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        params![
            tenant.0,
            role.template_id(),
            principal.0,
            OffsetDateTime::now_utc()
        ],
    )? > 0)
}

/// Removes `principal` from `role`. Returns whether it was a member.
pub fn remove_member(
    tx: &mut dyn Tx,
    tenant: TenantId,
    role: DirectoryRole,
    principal: ObjectId,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM directory_role_members WHERE tenant_id = $1 AND role_template_id = $2 AND principal_id = $3",
        params![tenant.0, role.template_id(), principal.0],
    )? > 0)
}
