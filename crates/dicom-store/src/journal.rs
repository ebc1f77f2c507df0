//! The blob journal: blob keys no index row points at any more. Removing a
//! blob is always "put its key in the trash (in the transaction that drops
//! the row), remove the blob, forget the key", so a crash in between leaves a
//! trash row that the next sweep finishes.

use hale_store::{StoreError, Tx, params};

/// Adds a blob key to the trash; returns its trash ID.
pub fn put_in_trash(tx: &mut dyn Tx, blob_key: &str, now: i64) -> Result<i64, StoreError> {
    let row = tx.query_opt(
        "INSERT INTO dicom_blob_trash (blob_key, since) VALUES ($1, $2) RETURNING tid",
        params![blob_key, now],
    )?;
    row.ok_or_else(|| StoreError::Decode("no trash ID returned".into()))?
        .get(0)
}

/// Gives up a reservation (its blob could not be written or indexed): the
/// reserved row, if still there, is removed and the blob key goes to the
/// trash. Returns the trash ID.
pub fn abandon(
    tx: &mut dyn Tx,
    svc: i64,
    iid: i64,
    blob_key: &str,
    now: i64,
) -> Result<i64, StoreError> {
    tx.execute(
        "DELETE FROM dicom_instances WHERE svc = $1 AND iid = $2 AND status = 0",
        params![svc, iid],
    )?;
    put_in_trash(tx, blob_key, now)
}

/// Moves reservations made before `cutoff` (microseconds) to the trash: their
/// writer crashed or gave up without saying so. Returns how many.
pub fn expire_reservations(tx: &mut dyn Tx, cutoff: i64, now: i64) -> Result<usize, StoreError> {
    let rows = tx.query(
        "SELECT iid, blob_key FROM dicom_instances WHERE status = 0 AND created < $1 ORDER BY iid LIMIT 1000",
        params![cutoff],
    )?;
    for r in &rows {
        let iid: i64 = r.get(0)?;
        let key: String = r.get(1)?;
        let gone = tx.execute(
            "DELETE FROM dicom_instances WHERE iid = $1 AND status = 0",
            params![iid],
        )?;
        if gone == 1 {
            put_in_trash(tx, &key, now)?;
        }
    }
    Ok(rows.len())
}

/// Marks reservations `iids` as alive at `now` (their writer is still
/// writing their blobs), so that [`expire_reservations`] keeps them. Returns
/// how many are still reservations.
pub fn refresh_reservations(tx: &mut dyn Tx, iids: &[i64], now: i64) -> Result<u64, StoreError> {
    let mut alive = 0;
    for iid in iids {
        alive += tx.execute(
            "UPDATE dicom_instances SET created = $1 WHERE iid = $2 AND status = 0",
            params![now, *iid],
        )?;
    }
    Ok(alive)
}

/// Up to `limit` trash entries: `(trash ID, blob key)`, oldest first.
pub fn trash(tx: &mut dyn Tx, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
    tx.query(
        "SELECT tid, blob_key FROM dicom_blob_trash ORDER BY tid LIMIT $1",
        params![limit],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// Forgets trash entries whose blobs are removed.
pub fn forget(tx: &mut dyn Tx, tids: &[i64]) -> Result<(), StoreError> {
    for tid in tids {
        tx.execute("DELETE FROM dicom_blob_trash WHERE tid = $1", params![*tid])?;
    }
    Ok(())
}
