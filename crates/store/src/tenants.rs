//! Tenants.

use hale_directory::{Tenant, TenantId};

use crate::{Row, StoreError, Tx, params};

const COLUMNS: &str = "id, domain, display_name, is_default, created_at";

fn from_row(row: &Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId(row.get(0)?),
        domain: row.get(1)?,
        display_name: row.get(2)?,
        is_default: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// Adds a tenant. Its domain must be unused (ignoring case).
pub fn insert(tx: &mut dyn Tx, t: &Tenant) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO tenants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
        params![
            t.id.0,
            &t.domain,
            &t.display_name,
            t.is_default,
            t.created_at
        ],
    )
    .map(drop)
}

/// The tenant created at first start, if first start has run.
pub fn default_tenant(tx: &mut dyn Tx) -> Result<Option<Tenant>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM tenants WHERE is_default = 1"),
        &[],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A tenant by its ID.
pub fn get(tx: &mut dyn Tx, id: TenantId) -> Result<Option<Tenant>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"),
        params![id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A tenant by its domain, ignoring case.
pub fn by_domain(tx: &mut dyn Tx, domain: &str) -> Result<Option<Tenant>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM tenants WHERE lower(domain) = lower($1)"),
        params![domain],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Every tenant, oldest first.
pub fn list(tx: &mut dyn Tx) -> Result<Vec<Tenant>, StoreError> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM tenants ORDER BY created_at, id"),
        &[],
    )?
    .iter()
    .map(from_row)
    .collect()
}
