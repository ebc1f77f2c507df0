//! The change feed: one entry per create and delete, numbered 1, 2, 3, ...
//! per service.

use hale_store::{Row, StoreError, Tx, params};

/// What happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Delete,
}

impl Action {
    /// As the feed prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
        }
    }
}

/// Appends an entry; returns its sequence number.
pub(crate) fn append(
    tx: &mut dyn Tx,
    svc: i64,
    action: Action,
    uids: [&str; 3],
    iid: i64,
    now: i64,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO dicom_feed_counters (svc, last_seq) VALUES ($1, 0) ON CONFLICT (svc) DO NOTHING",
        params![svc],
    )?;
    let seq: i64 = tx
        .query_opt(
            "UPDATE dicom_feed_counters SET last_seq = last_seq + 1 WHERE svc = $1 RETURNING last_seq",
            params![svc],
        )?
        .ok_or_else(|| StoreError::Decode("no feed counter".into()))?
        .get(0)?;
    tx.execute(
        "INSERT INTO dicom_changes (svc, seq, study_uid, series_uid, sop_uid, action, ts, iid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![svc, seq, uids[0], uids[1], uids[2], action.as_str(), now, iid],
    )?;
    Ok(seq)
}

/// One change-feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub action: String,
    /// Microseconds since the epoch.
    pub ts: i64,
    /// Whether the instance is still stored (state `current`, else `deleted`).
    pub current: bool,
    /// The instance's metadata JSON text, when asked for and still stored.
    pub metadata: Option<String>,
}

fn select(include_metadata: bool) -> String {
    format!(
        "SELECT c.seq, c.study_uid, c.series_uid, c.sop_uid, c.action, c.ts, i.iid, {} FROM dicom_changes c
         LEFT JOIN dicom_instances i ON i.iid = c.iid AND i.status = 1",
        if include_metadata { "i.metadata" } else { "NULL" }
    )
}

fn entry(r: &Row) -> Result<Entry, StoreError> {
    let live: Option<i64> = r.get(6)?;
    Ok(Entry {
        seq: r.get(0)?,
        study_uid: r.get(1)?,
        series_uid: r.get(2)?,
        sop_uid: r.get(3)?,
        action: r.get(4)?,
        ts: r.get(5)?,
        current: live.is_some(),
        metadata: r.get(7)?,
    })
}

/// v1: entries with `after < seq <= after + window`, in order.
pub fn by_sequence(
    tx: &mut dyn Tx,
    svc: i64,
    after: i64,
    window: i64,
    include_metadata: bool,
) -> Result<Vec<Entry>, StoreError> {
    tx.query(
        &format!(
            "{} WHERE c.svc = $1 AND c.seq > $2 AND c.seq <= $3 ORDER BY c.seq",
            select(include_metadata)
        ),
        params![svc, after, after.saturating_add(window)],
    )?
    .iter()
    .map(entry)
    .collect()
}

/// v2: entries with `start <= ts < end` (microseconds), skipping `offset`,
/// at most `limit`, in order.
pub fn by_time(
    tx: &mut dyn Tx,
    svc: i64,
    start: i64,
    end: i64,
    offset: i64,
    limit: i64,
    include_metadata: bool,
) -> Result<Vec<Entry>, StoreError> {
    tx.query(
        &format!(
            "{} WHERE c.svc = $1 AND c.ts >= $2 AND c.ts < $3 ORDER BY c.seq LIMIT $4 OFFSET $5",
            select(include_metadata)
        ),
        params![svc, start, end, limit, offset],
    )?
    .iter()
    .map(entry)
    .collect()
}

/// The newest entry, if any.
pub fn latest(
    tx: &mut dyn Tx,
    svc: i64,
    include_metadata: bool,
) -> Result<Option<Entry>, StoreError> {
    tx.query_opt(
        &format!(
            "{} WHERE c.svc = $1 ORDER BY c.seq DESC LIMIT 1",
            select(include_metadata)
        ),
        params![svc],
    )?
    .as_ref()
    .map(entry)
    .transpose()
}
