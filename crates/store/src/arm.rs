//! Subscriptions, resource groups and role assignments.

use hale_arm::{PrincipalType, ResourceGroup, RoleAssignment, Subscription};
use hale_directory::{ObjectId, TenantId};
use uuid::Uuid;

use crate::{Row, StoreError, Tx, params};

fn subscription(row: &Row) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        id: row.get(0)?,
        tenant_id: TenantId(row.get(1)?),
        display_name: row.get(2)?,
        state: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// Adds a subscription.
pub fn insert_subscription(tx: &mut dyn Tx, s: &Subscription) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO subscriptions (id, tenant_id, display_name, state, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![s.id, s.tenant_id.0, &s.display_name, &s.state, s.created_at],
    )
    .map(drop)
}

/// The subscriptions of a tenant, oldest first.
pub fn subscriptions(tx: &mut dyn Tx, tenant: TenantId) -> Result<Vec<Subscription>, StoreError> {
    tx.query(
        "SELECT id, tenant_id, display_name, state, created_at FROM subscriptions WHERE tenant_id = $1 ORDER BY created_at, id",
        params![tenant.0],
    )?
    .iter()
    .map(subscription)
    .collect()
}

/// Adds a resource group; its name must be unused in the subscription (ignoring case).
pub fn insert_resource_group(tx: &mut dyn Tx, g: &ResourceGroup) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO resource_groups (subscription_id, name, location, tags, created_at) VALUES ($1, $2, $3, '{}', $4)",
        params![g.subscription_id, &g.name, &g.location, g.created_at],
    )
    .map(drop)
}

/// The resource groups of a subscription, by name.
pub fn resource_groups(
    tx: &mut dyn Tx,
    subscription: Uuid,
) -> Result<Vec<ResourceGroup>, StoreError> {
    tx.query(
        "SELECT subscription_id, name, location, created_at FROM resource_groups WHERE subscription_id = $1 ORDER BY lower(name)",
        params![subscription],
    )?
    .iter()
    .map(|row| {
        Ok(ResourceGroup {
            subscription_id: row.get(0)?,
            name: row.get(1)?,
            location: row.get(2)?,
            created_at: row.get(3)?,
        })
    })
    .collect()
}

/// Adds a role assignment.
pub fn insert_role_assignment(tx: &mut dyn Tx, a: &RoleAssignment) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO role_assignments (id, tenant_id, scope, role_definition_id, principal_id, principal_type, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            a.id,
            a.tenant_id.0,
            a.scope.to_ascii_lowercase(),
            a.role_definition_id,
            a.principal_id.0,
            a.principal_type.as_str(),
            a.created_at
        ],
    )
    .map(drop)
}

/// The role assignments naming `principal`, oldest first.
pub fn role_assignments_of(
    tx: &mut dyn Tx,
    principal: ObjectId,
) -> Result<Vec<RoleAssignment>, StoreError> {
    tx.query(
        "SELECT id, tenant_id, scope, role_definition_id, principal_id, principal_type, created_at
         FROM role_assignments WHERE principal_id = $1 ORDER BY created_at, id",
        params![principal.0],
    )?
    .iter()
    .map(|row| {
        let kind: String = row.get(5)?;
        Ok(RoleAssignment {
            id: row.get(0)?,
            tenant_id: TenantId(row.get(1)?),
            scope: row.get(2)?,
            role_definition_id: row.get(3)?,
            principal_id: ObjectId(row.get(4)?),
            principal_type: PrincipalType::parse(&kind)
                .ok_or_else(|| StoreError::Decode(format!("unknown principal type {kind:?}")))?,
            created_at: row.get(6)?,
        })
    })
    .collect()
}
