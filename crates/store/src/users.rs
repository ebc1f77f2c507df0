//! Users.

use hale_directory::{ObjectId, PasswordHash, TenantId, User};

use crate::{Row, StoreError, Tx, params};

const COLUMNS: &str =
    "id, tenant_id, user_principal_name, display_name, password_hash, account_enabled, created_at";

fn from_row(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: ObjectId(row.get(0)?),
        tenant_id: TenantId(row.get(1)?),
        user_principal_name: row.get(2)?,
        display_name: row.get(3)?,
        password: row.get::<Option<String>>(4)?.map(PasswordHash::from_phc),
        account_enabled: row.get(5)?,
        created_at: row.get(6)?,
    })
}

/// Adds a user. Its user principal name must be unused in the tenant.
pub fn insert(tx: &mut dyn Tx, u: &User) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![
            u.id.0,
            u.tenant_id.0,
            &u.user_principal_name,
            &u.display_name,
            u.password.as_ref().map(|p| p.as_phc().to_owned()),
            u.account_enabled,
            u.created_at
        ],
    )
    .map(drop)
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
