//! Subscriptions, resource groups and role assignments, and the grants an RBAC
//! decision reads.

use std::collections::BTreeMap;

use hale_arm::authz::Grant;
use hale_arm::{PrincipalType, ResourceGroup, RoleAssignment, Subscription};
use hale_directory::{ObjectId, TenantId};
use uuid::Uuid;

use crate::{Row, StoreError, Tx, Value, params};

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

/// A subscription by ID.
pub fn subscription_by_id(tx: &mut dyn Tx, id: Uuid) -> Result<Option<Subscription>, StoreError> {
    tx.query_opt(
        "SELECT id, tenant_id, display_name, state, created_at FROM subscriptions WHERE id = $1",
        params![id],
    )?
    .as_ref()
    .map(subscription)
    .transpose()
}

/// Tags as stored: a JSON object of strings.
pub(crate) fn tags_json(tags: &BTreeMap<String, String>) -> Result<String, StoreError> {
    serde_json::to_string(tags).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(crate) fn tags_from(text: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode(format!("tags: {e}")))
}

const GROUP_COLUMNS: &str = "subscription_id, name, location, tags, created_at";

fn resource_group(row: &Row) -> Result<ResourceGroup, StoreError> {
    let tags: String = row.get(3)?;
    Ok(ResourceGroup {
        subscription_id: row.get(0)?,
        name: row.get(1)?,
        location: row.get(2)?,
        tags: tags_from(&tags)?,
        created_at: row.get(4)?,
    })
}

/// Adds a resource group; its name must be unused in the subscription (ignoring case).
pub fn insert_resource_group(tx: &mut dyn Tx, g: &ResourceGroup) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO resource_groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
        params![
            g.subscription_id,
            &g.name,
            &g.location,
            tags_json(&g.tags)?,
            g.created_at
        ],
    )
    .map(drop)
}

/// The resource groups of a subscription, by name.
pub fn resource_groups(
    tx: &mut dyn Tx,
    subscription: Uuid,
) -> Result<Vec<ResourceGroup>, StoreError> {
    tx.query(
        &format!("SELECT {GROUP_COLUMNS} FROM resource_groups WHERE subscription_id = $1 ORDER BY lower(name)"),
        params![subscription],
    )?
    .iter()
    .map(resource_group)
    .collect()
}

/// A resource group by name, ignoring case (Unicode letters included, as
/// Azure does).
pub fn resource_group_by_name(
    tx: &mut dyn Tx,
    subscription: Uuid,
    name: &str,
) -> Result<Option<ResourceGroup>, StoreError> {
    if !name.is_ascii() {
        // SQLite's lower() folds ASCII only and PostgreSQL's follows its
        // locale, so names beyond ASCII are compared here, one way on both.
        let wanted = name.to_lowercase();
        return Ok(resource_groups(tx, subscription)?
            .into_iter()
            .find(|g| g.name.to_lowercase() == wanted));
    }
    tx.query_opt(
        &format!(
            "SELECT {GROUP_COLUMNS} FROM resource_groups WHERE subscription_id = $1 AND lower(name) = $2"
        ),
        params![subscription, name.to_lowercase()],
    )?
    .as_ref()
    .map(resource_group)
    .transpose()
}

/// Replaces a resource group's tags. Returns whether it exists.
pub fn update_resource_group_tags(tx: &mut dyn Tx, g: &ResourceGroup) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE resource_groups SET tags = $1 WHERE subscription_id = $2 AND name = $3",
        params![tags_json(&g.tags)?, g.subscription_id, &g.name],
    )? > 0)
}

/// Removes a resource group with everything in it: its workspaces, their
/// services, and every role assignment at or below it. Returns whether it existed.
pub fn delete_resource_group(tx: &mut dyn Tx, g: &ResourceGroup) -> Result<bool, StoreError> {
    tx.execute(
        "DELETE FROM health_services WHERE workspace_id IN
           (SELECT id FROM health_workspaces WHERE subscription_id = $1 AND resource_group = $2)",
        params![g.subscription_id, &g.name],
    )?;
    tx.execute(
        "DELETE FROM health_workspaces WHERE subscription_id = $1 AND resource_group = $2",
        params![g.subscription_id, &g.name],
    )?;
    delete_role_assignments_within(tx, &g.resource_id().to_ascii_lowercase())?;
    Ok(tx.execute(
        "DELETE FROM resource_groups WHERE subscription_id = $1 AND name = $2",
        params![g.subscription_id, &g.name],
    )? > 0)
}

const ASSIGNMENT_COLUMNS: &str = "id, tenant_id, scope, role_definition_id, principal_id, principal_type, created_at, scope_display, description, created_by, updated_at";

fn role_assignment(row: &Row) -> Result<RoleAssignment, StoreError> {
    let kind: String = row.get(5)?;
    let key: String = row.get(2)?;
    let display: Option<String> = row.get(7)?;
    let created_at = row.get(6)?;
    let created_by: Option<Uuid> = row.get(9)?;
    let updated_at: Option<time::OffsetDateTime> = row.get(10)?;
    Ok(RoleAssignment {
        id: row.get(0)?,
        tenant_id: TenantId(row.get(1)?),
        scope: display.unwrap_or(key),
        role_definition_id: row.get(3)?,
        principal_id: ObjectId(row.get(4)?),
        principal_type: PrincipalType::parse(&kind)
            .ok_or_else(|| StoreError::Decode(format!("unknown principal type {kind:?}")))?,
        description: row.get(8)?,
        created_by: created_by.map(ObjectId),
        created_at,
        updated_at: updated_at.unwrap_or(created_at),
    })
}

/// Adds a role assignment. The same role for the same principal at the same
/// scope (ignoring case) conflicts.
pub fn insert_role_assignment(tx: &mut dyn Tx, a: &RoleAssignment) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO role_assignments ({ASSIGNMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
        params![
            a.id,
            a.tenant_id.0,
            a.scope.to_ascii_lowercase(),
            a.role_definition_id,
            a.principal_id.0,
            a.principal_type.as_str(),
            a.created_at,
            &a.scope,
            a.description.as_deref(),
            a.created_by.map(|o| o.0),
            a.updated_at
        ],
    )
    .map(drop)
}

/// A role assignment by its name.
pub fn role_assignment_by_id(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<RoleAssignment>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments WHERE tenant_id = $1 AND id = $2"
        ),
        params![tenant.0, id],
    )?
    .as_ref()
    .map(role_assignment)
    .transpose()
}

/// The assignment of `role` to `principal` at exactly `scope` (ignoring case).
pub fn role_assignment_at(
    tx: &mut dyn Tx,
    scope: &str,
    role: Uuid,
    principal: ObjectId,
) -> Result<Option<RoleAssignment>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments
             WHERE scope = $1 AND role_definition_id = $2 AND principal_id = $3"
        ),
        params![scope.to_ascii_lowercase(), role, principal.0],
    )?
    .as_ref()
    .map(role_assignment)
    .transpose()
}

/// The role assignments naming `principal`, oldest first.
pub fn role_assignments_of(
    tx: &mut dyn Tx,
    principal: ObjectId,
) -> Result<Vec<RoleAssignment>, StoreError> {
    tx.query(
        &format!("SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments WHERE principal_id = $1 ORDER BY created_at, id"),
        params![principal.0],
    )?
    .iter()
    .map(role_assignment)
    .collect()
}

/// The role assignments of a tenant at `scope` or anywhere below it, oldest
/// first (`scope` as an ARM ID, any case).
pub fn role_assignments_within(
    tx: &mut dyn Tx,
    tenant: TenantId,
    scope: &str,
) -> Result<Vec<RoleAssignment>, StoreError> {
    let key = scope.to_ascii_lowercase();
    let below = format!("{key}/");
    tx.query(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments
             WHERE tenant_id = $1 AND (scope = $2 OR substr(scope, 1, length($3)) = $3)
             ORDER BY created_at, id"
        ),
        params![tenant.0, &key, &below],
    )?
    .iter()
    .map(role_assignment)
    .collect()
}

/// Removes a role assignment. Returns whether it existed.
pub fn delete_role_assignment(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM role_assignments WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id],
    )? > 0)
}

/// Removes every role assignment at the lowercased scope `key` or below it
/// (the resource there is being deleted). Returns how many there were.
pub fn delete_role_assignments_within(tx: &mut dyn Tx, key: &str) -> Result<u64, StoreError> {
    let below = format!("{key}/");
    tx.execute(
        "DELETE FROM role_assignments WHERE scope = $1 OR substr(scope, 1, length($2)) = $2",
        params![key, &below],
    )
}

/// The grants of `principal` and of every group it is in, transitively
/// (cycles tolerated), in one query: at the lowercased `scopes` only, or
/// everywhere in the tenant when `scopes` is `None`.
pub fn grants(
    tx: &mut dyn Tx,
    tenant: TenantId,
    principal: ObjectId,
    scopes: Option<&[String]>,
) -> Result<Vec<Grant>, StoreError> {
    // UNION (not UNION ALL) drops rows already found, which ends cycles.
    let mut sql = String::from(
        "WITH RECURSIVE member_of (id) AS (
             SELECT CAST($2 AS TEXT)
             UNION
             SELECT gm.group_id FROM group_members gm JOIN member_of m ON gm.member_id = m.id
             WHERE gm.tenant_id = $1
         )
         SELECT scope, role_definition_id FROM role_assignments
         WHERE tenant_id = $1 AND principal_id IN (SELECT id FROM member_of)",
    );
    let mut values: Vec<Value> = params![tenant.0, principal.0].to_vec();
    if let Some(scopes) = scopes {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..scopes.len()).map(|i| format!("${}", i + 3)).collect();
        sql.push_str(&format!(" AND scope IN ({})", placeholders.join(", ")));
        values.extend(scopes.iter().map(|s| Value::from(s.as_str())));
    }
    tx.query(&sql, &values)?
        .iter()
        .map(|row| {
            Ok(Grant {
                scope: row.get(0)?,
                role_definition_id: row.get(1)?,
            })
        })
        .collect()
}

/// The authorization epoch (schema 11): raised by triggers in every
/// transaction that changes role assignments, group members, health
/// workspaces or services. Inputs to an authorization decision read at epoch
/// `n` are still current while this returns `n`.
pub fn authz_epoch(tx: &mut dyn Tx) -> Result<i64, StoreError> {
    tx.query_opt("SELECT n FROM authz_epoch WHERE id = 1", &[])?
        .ok_or_else(|| StoreError::Decode("the authorization epoch row is missing".into()))?
        .get(0)
}
