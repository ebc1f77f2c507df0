//! Resource versions: the `fhir_resources` table.
//!
//! Each create, update or delete appends a version row and makes it the
//! current one; reads of the current version use the partial unique index on
//! `is_current`. Bodies are stored exactly as served (UTF-8 JSON with `id` and
//! `meta` set), so a read answers with the stored bytes.

use hale_store::{Row, StoreError, Tx, params};

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// The version row's key; the search indexes point at current rids.
    pub rid: i64,
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    /// Microseconds since the epoch.
    pub last_updated: i64,
    /// This version records a delete.
    pub deleted: bool,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The JSON served for this version; `None` for a delete.
    pub body: Option<Vec<u8>>,
}

/// A version about to be written.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub version: i64,
    pub last_updated: i64,
    pub method: &'a str,
    /// `None` records a delete.
    pub body: Option<&'a [u8]>,
}

pub(crate) const COLUMNS: &str =
    "rid, resource_type, id, version, last_updated, deleted, method, body";

/// Decodes a row selected with [`COLUMNS`].
pub(crate) fn from_row(row: &Row) -> Result<StoredResource, StoreError> {
    Ok(StoredResource {
        rid: row.get(0)?,
        resource_type: row.get(1)?,
        id: row.get(2)?,
        version: row.get(3)?,
        last_updated: row.get(4)?,
        deleted: row.get::<i64>(5)? != 0,
        method: row.get(6)?,
        body: row.get(7)?,
    })
}

/// The current version of a resource (a delete marker included), if any.
pub fn current(
    tx: &mut dyn Tx,
    svc: i64,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM fhir_resources WHERE svc = $1 AND resource_type = $2 AND id = $3 AND is_current = 1"
        ),
        params![svc, resource_type, id],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Current versions by rid, in the order of `rids` (missing ones skipped).
pub fn by_rids(tx: &mut dyn Tx, rids: &[i64]) -> Result<Vec<StoredResource>, StoreError> {
    let mut out = Vec::with_capacity(rids.len());
    for chunk in rids.chunks(500) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows = tx.query(
            &format!("SELECT {COLUMNS} FROM fhir_resources WHERE rid IN ({list})"),
            &[],
        )?;
        let mut found = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        found.sort_by_key(|r| chunk.iter().position(|x| *x == r.rid));
        out.extend(found);
    }
    Ok(out)
}
