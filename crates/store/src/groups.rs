//! Groups and their direct members.

use hale_directory::membership::{Member, MemberKind};
use hale_directory::{Group, ObjectId, TenantId};
use time::OffsetDateTime;

use crate::{Row, StoreError, Tx, params};

const COLUMNS: &str = "id, tenant_id, body";

fn from_row(row: &Row) -> Result<Group, StoreError> {
    let body: String = row.get(2)?;
    let mut group: Group =
        serde_json::from_str(&body).map_err(|e| StoreError::Decode(format!("group body: {e}")))?;
    group.id = ObjectId(row.get(0)?);
    group.tenant_id = TenantId(row.get(1)?);
    Ok(group)
}

fn body(group: &Group) -> Result<String, StoreError> {
    serde_json::to_string(group).map_err(|e| StoreError::Decode(e.to_string()))
}

/// Adds a group.
pub fn insert(tx: &mut dyn Tx, g: &Group) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO groups (id, tenant_id, display_name, mail_nickname, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![
            g.id.0,
            g.tenant_id.0,
            &g.display_name,
            &g.mail_nickname,
            body(g)?,
            g.created_date_time
        ],
    )
    .map(drop)
}

/// Replaces a group's stored state. Returns whether it existed.
pub fn update(tx: &mut dyn Tx, g: &Group) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE groups SET display_name = $1, mail_nickname = $2, body = $3 WHERE tenant_id = $4 AND id = $5",
        params![&g.display_name, &g.mail_nickname, body(g)?, g.tenant_id.0, g.id.0],
    )? > 0)
}

/// A group by object ID, within a tenant.
pub fn get(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<Option<Group>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM groups WHERE tenant_id = $1 AND id = $2"),
        params![tenant.0, id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The groups of a tenant, oldest first.
pub fn list(tx: &mut dyn Tx, tenant: TenantId) -> Result<Vec<Group>, StoreError> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM groups WHERE tenant_id = $1 ORDER BY created_at, id"),
        params![tenant.0],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes a group: its own member list, and its membership in other groups.
/// Returns whether it existed.
pub fn delete(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<bool, StoreError> {
    tx.execute(
        "DELETE FROM group_members WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)",
        params![tenant.0, id.0],
    )?;
    Ok(tx.execute(
        "DELETE FROM groups WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )? > 0)
}

/// Makes `member` a direct member of `group`. Returns false when it already was.
pub fn add_member(
    tx: &mut dyn Tx,
    tenant: TenantId,
    group: ObjectId,
    member: Member,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "INSERT INTO group_members (tenant_id, group_id, member_id, member_kind, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        params![
            tenant.0,
            group.0,
            member.id.0,
            member.kind.as_str(),
            OffsetDateTime::now_utc()
        ],
    )? > 0)
}

/// Removes `member` from `group`'s direct members. Returns whether it was one.
pub fn remove_member(
    tx: &mut dyn Tx,
    tenant: TenantId,
    group: ObjectId,
    member: ObjectId,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3",
        params![tenant.0, group.0, member.0],
    )? > 0)
}

fn member_from_row(row: &Row) -> Result<Member, StoreError> {
    let kind: String = row.get(1)?;
    Ok(Member {
        id: ObjectId(row.get(0)?),
        kind: MemberKind::parse(&kind)
            .ok_or_else(|| StoreError::Decode(format!("unknown member kind {kind:?}")))?,
    })
}

/// The direct members of `group`, in the order they were added.
pub fn members(
    tx: &mut dyn Tx,
    tenant: TenantId,
    group: ObjectId,
) -> Result<Vec<Member>, StoreError> {
    tx.query(
        "SELECT member_id, member_kind FROM group_members WHERE tenant_id = $1 AND group_id = $2
         ORDER BY created_at, member_id",
        params![tenant.0, group.0],
    )?
    .iter()
    .map(member_from_row)
    .collect()
}

/// The groups `member` is a direct member of, in the order it joined them.
pub fn groups_of(
    tx: &mut dyn Tx,
    tenant: TenantId,
    member: ObjectId,
) -> Result<Vec<Member>, StoreError> {
    tx.query(
        "SELECT group_id, 'group' FROM group_members WHERE tenant_id = $1 AND member_id = $2
         ORDER BY created_at, group_id",
        params![tenant.0, member.0],
    )?
    .iter()
    .map(member_from_row)
    .collect()
}

/// What kind of directory object `id` is in `tenant`: a user, a group or a
/// service principal; `None` when there is no such object.
pub fn object_kind(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: ObjectId,
) -> Result<Option<MemberKind>, StoreError> {
    let row = tx.query_opt(
        "SELECT 'user' FROM users WHERE tenant_id = $1 AND id = $2
         UNION ALL SELECT 'group' FROM groups WHERE tenant_id = $1 AND id = $2
         UNION ALL SELECT 'servicePrincipal' FROM service_principals WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )?;
    match row {
        Some(row) => {
            let kind: String = row.get(0)?;
            Ok(MemberKind::parse(&kind))
        }
        None => Ok(None),
    }
}
