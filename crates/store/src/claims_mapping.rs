//! Claims-mapping policies and their assignment to service principals (at
//! most one per service principal).

use hale_directory::{AppId, ClaimsMappingPolicy, ObjectId, TenantId};
use time::OffsetDateTime;

use crate::{Row, StoreError, Tx, params};

const COLUMNS: &str = "id, tenant_id, body, created_at";

fn from_row(row: &Row) -> Result<ClaimsMappingPolicy, StoreError> {
    let body: String = row.get(2)?;
    let mut policy: ClaimsMappingPolicy = serde_json::from_str(&body)
        .map_err(|e| StoreError::Decode(format!("claims-mapping policy body: {e}")))?;
    policy.id = ObjectId(row.get(0)?);
    policy.tenant_id = TenantId(row.get(1)?);
    policy.created_at = row.get(3)?;
    Ok(policy)
}

fn body(policy: &ClaimsMappingPolicy) -> Result<String, StoreError> {
    serde_json::to_string(policy).map_err(|e| StoreError::Decode(e.to_string()))
}

/// Adds a policy.
pub fn insert(tx: &mut dyn Tx, p: &ClaimsMappingPolicy) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO claims_mapping_policies (id, tenant_id, body, created_at) VALUES ($1, $2, $3, $4)",
        params![p.id.0, p.tenant_id.0, body(p)?, p.created_at],
    )
    .map(drop)
}

/// Replaces a policy's stored state. Returns whether it existed.
pub fn update(tx: &mut dyn Tx, p: &ClaimsMappingPolicy) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE claims_mapping_policies SET body = $1 WHERE tenant_id = $2 AND id = $3",
        params![body(p)?, p.tenant_id.0, p.id.0],
    )? > 0)
}

/// Removes a policy and its assignments. Returns whether it existed.
pub fn delete(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<bool, StoreError> {
    tx.execute(
        "DELETE FROM claims_mapping_assignments WHERE tenant_id = $1 AND policy_id = $2",
        params![tenant.0, id.0],
    )?;
    Ok(tx.execute(
        "DELETE FROM claims_mapping_policies WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )? > 0)
}

/// A policy by object ID, within a tenant.
pub fn get(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: ObjectId,
) -> Result<Option<ClaimsMappingPolicy>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM claims_mapping_policies WHERE tenant_id = $1 AND id = $2"),
        params![tenant.0, id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The policies of a tenant, oldest first.
pub fn list(tx: &mut dyn Tx, tenant: TenantId) -> Result<Vec<ClaimsMappingPolicy>, StoreError> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM claims_mapping_policies WHERE tenant_id = $1 ORDER BY created_at, id"
        ),
        params![tenant.0],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Assigns `policy` to the service principal `principal`. Returns `false`,
/// changing nothing, when the service principal already has a policy.
pub fn assign(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principal: ObjectId,
    policy: ObjectId,
) -> Result<bool, StoreError> {
    if assigned_id(tx, tenant, principal)?.is_some() {
        return Ok(false);
    }
    match tx.execute(
        "INSERT INTO claims_mapping_assignments (service_principal_id, tenant_id, policy_id, created_at)
         VALUES ($1, $2, $3, $4)",
        params![principal.0, tenant.0, policy.0, OffsetDateTime::now_utc()],
    ) {
        // Another writer assigned one first.
        Err(StoreError::Conflict(_)) => Ok(false),
        other => other.map(|_| true),
    }
}

/// Removes `policy` from the service principal `principal`. Returns whether
/// it was assigned.
pub fn unassign(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principal: ObjectId,
    policy: ObjectId,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM claims_mapping_assignments WHERE tenant_id = $1 AND service_principal_id = $2 AND policy_id = $3",
        params![tenant.0, principal.0, policy.0],
    )? > 0)
}

/// Forgets the assignment of a service principal being deleted.
pub fn forget_principal(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principal: ObjectId,
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM claims_mapping_assignments WHERE tenant_id = $1 AND service_principal_id = $2",
        params![tenant.0, principal.0],
    )
    .map(drop)
}

fn assigned_id(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principal: ObjectId,
) -> Result<Option<ObjectId>, StoreError> {
    tx.query_opt(
        "SELECT policy_id FROM claims_mapping_assignments WHERE tenant_id = $1 AND service_principal_id = $2",
        params![tenant.0, principal.0],
    )?
    .map(|row| row.get(0).map(ObjectId))
    .transpose()
}

/// The policies assigned to each of `principals` (at most two: a token's
/// client and resource), in one read: `(service principal, policy)`.
pub fn assigned(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principals: &[ObjectId],
) -> Result<Vec<(ObjectId, ClaimsMappingPolicy)>, StoreError> {
    let (first, second) = match principals {
        [] => return Ok(Vec::new()),
        [one] => (one, one),
        [one, two, ..] => (one, two),
    };
    tx.query(
        "SELECT p.id, p.tenant_id, p.body, p.created_at, a.service_principal_id
           FROM claims_mapping_assignments a
           JOIN claims_mapping_policies p ON p.id = a.policy_id
          WHERE a.tenant_id = $1 AND a.service_principal_id IN ($2, $3)",
        params![tenant.0, first.0, second.0],
    )?
    .iter()
    .map(|row| Ok((ObjectId(row.get(4)?), from_row(row)?)))
    .collect()
}

/// The policy assigned to the service principal of application `app` in
/// `tenant`, in one read (an ID token from the authorization endpoint knows
/// the client's application, not its service principal).
pub fn assigned_to_app(
    tx: &mut dyn Tx,
    tenant: TenantId,
    app: AppId,
) -> Result<Option<ClaimsMappingPolicy>, StoreError> {
    tx.query_opt(
        "SELECT p.id, p.tenant_id, p.body, p.created_at
           FROM service_principals s
           JOIN claims_mapping_assignments a ON a.service_principal_id = s.id
           JOIN claims_mapping_policies p ON p.id = a.policy_id
          WHERE s.tenant_id = $1 AND s.app_id = $2",
        params![tenant.0, app.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}
