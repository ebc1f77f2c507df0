//! Directory extensions defined by applications, and forgetting users'
//! values of one that goes away.

use hale_directory::{ExtensionDataType, ExtensionProperty, ObjectId, TenantId};

use crate::{Row, StoreError, Tx, params, users};

const COLUMNS: &str =
    "id, tenant_id, application_id, name, data_type, is_multi_valued, target_objects, created_at";

fn from_row(row: &Row) -> Result<ExtensionProperty, StoreError> {
    let data_type: String = row.get(4)?;
    let targets: String = row.get(6)?;
    Ok(ExtensionProperty {
        id: ObjectId(row.get(0)?),
        tenant_id: TenantId(row.get(1)?),
        application: ObjectId(row.get(2)?),
        name: row.get(3)?,
        data_type: ExtensionDataType::parse(&data_type)
            .ok_or_else(|| StoreError::Decode(format!("extension data type {data_type:?}")))?,
        is_multi_valued: row.get(5)?,
        target_objects: serde_json::from_str(&targets)
            .map_err(|e| StoreError::Decode(format!("extension target objects: {e}")))?,
        created_at: row.get(7)?,
    })
}

/// Adds an extension. Its name must be unused in the tenant
/// ([`StoreError::Conflict`] otherwise).
pub fn insert(tx: &mut dyn Tx, p: &ExtensionProperty) -> Result<(), StoreError> {
    let targets =
        serde_json::to_string(&p.target_objects).map_err(|e| StoreError::Decode(e.to_string()))?;
    tx.execute(
        &format!(
            "INSERT INTO extension_properties ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ),
        params![
            p.id.0,
            p.tenant_id.0,
            p.application.0,
            &p.name,
            p.data_type.as_str(),
            p.is_multi_valued,
            targets,
            p.created_at
        ],
    )
    .map(drop)
}

/// The extensions application `application` defines, oldest first.
pub fn of_application(
    tx: &mut dyn Tx,
    tenant: TenantId,
    application: ObjectId,
) -> Result<Vec<ExtensionProperty>, StoreError> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM extension_properties WHERE tenant_id = $1 AND application_id = $2
             ORDER BY created_at, id"
        ),
        params![tenant.0, application.0],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Every extension of a tenant, oldest first.
pub fn list(tx: &mut dyn Tx, tenant: TenantId) -> Result<Vec<ExtensionProperty>, StoreError> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM extension_properties WHERE tenant_id = $1 ORDER BY created_at, id"
        ),
        params![tenant.0],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes extension `id` of application `application`, and every user's
/// value of it, so that nothing (Graph reads, token claims) shows it again.
/// Returns whether it existed.
pub fn delete(
    tx: &mut dyn Tx,
    tenant: TenantId,
    application: ObjectId,
    id: ObjectId,
) -> Result<bool, StoreError> {
    let found = of_application(tx, tenant, application)?
        .into_iter()
        .find(|p| p.id == id);
    let Some(property) = found else {
        return Ok(false);
    };
    tx.execute(
        "DELETE FROM extension_properties WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )?;
    forget_values(tx, tenant, &[property.name])?;
    Ok(true)
}

/// Removes the extensions of an application being deleted, and users'
/// values of them.
pub fn forget_application(
    tx: &mut dyn Tx,
    tenant: TenantId,
    application: ObjectId,
) -> Result<(), StoreError> {
    let names: Vec<String> = of_application(tx, tenant, application)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM extension_properties WHERE tenant_id = $1 AND application_id = $2",
        params![tenant.0, application.0],
    )?;
    forget_values(tx, tenant, &names)
}

/// Drops the values of extensions `names` from the users of `tenant` that
/// hold one.
fn forget_values(tx: &mut dyn Tx, tenant: TenantId, names: &[String]) -> Result<(), StoreError> {
    for mut user in users::list(tx, tenant)? {
        let before = user.profile.extensions.len();
        user.profile
            .extensions
            .retain(|k, _| !names.iter().any(|n| n.eq_ignore_ascii_case(k)));
        if user.profile.extensions.len() != before {
            users::update(tx, &user)?;
        }
    }
    Ok(())
}
