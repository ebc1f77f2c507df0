//! Users.

use hale_directory::{ObjectId, PasswordHash, TenantId, User, UserProfile};

use crate::{Row, StoreError, Tx, params};

const COLUMNS: &str = "id, tenant_id, user_principal_name, display_name, password_hash, account_enabled, created_at, body";

fn from_row(row: &Row) -> Result<User, StoreError> {
    let body: String = row.get(7)?;
    let profile: UserProfile =
        serde_json::from_str(&body).map_err(|e| StoreError::Decode(format!("user body: {e}")))?;
    Ok(User {
        id: ObjectId(row.get(0)?),
        tenant_id: TenantId(row.get(1)?),
        user_principal_name: row.get(2)?,
        display_name: row.get(3)?,
        password: row.get::<Option<String>>(4)?.map(PasswordHash::from_phc),
        account_enabled: row.get(5)?,
        created_at: row.get(6)?,
        profile,
    })
}

fn body(u: &User) -> Result<String, StoreError> {
    serde_json::to_string(&u.profile).map_err(|e| StoreError::Decode(e.to_string()))
}

/// Adds a user. Its user principal name must be unused in the tenant.
pub fn insert(tx: &mut dyn Tx, u: &User) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        params![
            u.id.0,
            u.tenant_id.0,
            &u.user_principal_name,
            &u.display_name,
            u.password.as_ref().map(|p| p.as_phc().to_owned()),
            u.account_enabled,
            u.created_at,
            body(u)?
        ],
    )
    .map(drop)
}

/// Replaces a user's stored state (a new user principal name must be unused
/// in the tenant). Returns whether the user existed.
pub fn update(tx: &mut dyn Tx, u: &User) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE users SET user_principal_name = $1, display_name = $2, password_hash = $3,
           account_enabled = $4, body = $5 WHERE tenant_id = $6 AND id = $7",
        params![
            &u.user_principal_name,
            &u.display_name,
            u.password.as_ref().map(|p| p.as_phc().to_owned()),
            u.account_enabled,
            body(u)?,
            u.tenant_id.0,
            u.id.0
        ],
    )? > 0)
}

/// Removes a user with its group and directory role memberships. Returns
/// whether the user existed.
pub fn delete(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<bool, StoreError> {
    tx.execute(
        "DELETE FROM group_members WHERE tenant_id = $1 AND member_id = $2",
        params![tenant.0, id.0],
    )?;
    tx.execute(
        "DELETE FROM directory_role_members WHERE tenant_id = $1 AND principal_id = $2",
        params![tenant.0, id.0],
    )?;
    Ok(tx.execute(
        "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )? > 0)
}

/// A user by object ID, within a tenant.
pub fn get(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<Option<User>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"),
        params![tenant.0, id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A user by user principal name (ignoring case), within a tenant.
pub fn by_upn(tx: &mut dyn Tx, tenant: TenantId, upn: &str) -> Result<Option<User>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND lower(user_principal_name) = lower($2)"
        ),
        params![tenant.0, upn],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The users of a tenant, oldest first.
pub fn list(tx: &mut dyn Tx, tenant: TenantId) -> Result<Vec<User>, StoreError> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id"),
        params![tenant.0],
    )?
    .iter()
    .map(from_row)
    .collect()
}
