//! Search index rows for current resource versions (issue 7: being written).

use hale_fhir_model::IndexEntry;
use hale_store::{StoreError, Tx};

/// Writes the index rows of version `rid` of a `resource_type` resource.
/// `own_base` is the service's base URL (no trailing slash): absolute
/// references under it are indexed as local ones.
pub fn insert(
    tx: &mut dyn Tx,
    svc: i64,
    rid: i64,
    resource_type: &str,
    entries: &[IndexEntry],
    own_base: &str,
) -> Result<(), StoreError> {
    let _ = (tx, svc, rid, resource_type, entries, own_base);
    Ok(())
}

/// Removes the index rows of version `rid`.
pub fn remove(tx: &mut dyn Tx, svc: i64, rid: i64) -> Result<(), StoreError> {
    let _ = (tx, svc, rid);
    Ok(())
}
