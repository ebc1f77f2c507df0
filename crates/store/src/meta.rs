//! Installation-wide values, by name.

use crate::{StoreError, Tx, params};

/// The value stored under `name`.
pub fn get(tx: &mut dyn Tx, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    tx.query_opt(
        "SELECT value FROM installation WHERE name = $1",
        params![name],
    )?
    .map(|row| row.get(0))
    .transpose()
}

/// Stores `value` under `name`; fails with a conflict if the name is taken.
pub fn insert(tx: &mut dyn Tx, name: &str, value: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO installation (name, value) VALUES ($1, $2)",
        params![name, value],
    )
    .map(drop)
}
