//! Extended query tags (schema 9): the tags of a service, their values per
//! stored instance, indexing errors, and the reindex operations that index
//! already-stored instances in batches (state in the database, so any
//! replica reports progress and a restarted one can resume).

use hale_dicom::eqt::{TagSpec, TagValue, level_name, value_of};
use hale_dicom::qido::QueryableTag;
use hale_dicom::{Level, Tag};
use hale_store::{StoreError, Tx, Value, params};
use serde_json::Value as Json;

use crate::instances::parse;

/// The state of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStatus {
    Adding = 0,
    Ready = 1,
    Deleting = 2,
}

impl TagStatus {
    fn from_i64(v: i64) -> TagStatus {
        match v {
            1 => TagStatus::Ready,
            2 => TagStatus::Deleting,
            _ => TagStatus::Adding,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            TagStatus::Adding => "Adding",
            TagStatus::Ready => "Ready",
            TagStatus::Deleting => "Deleting",
        }
    }
}

/// One extended query tag as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedTag {
    pub tid: i64,
    pub path: String,
    pub vr: String,
    pub level: Level,
    pub private_creator: Option<String>,
    pub status: TagStatus,
    pub query_enabled: bool,
    pub operation: Option<String>,
    pub error_count: i64,
}

fn level_code(l: Level) -> i64 {
    match l {
        Level::Study => 0,
        Level::Series => 1,
        Level::Instance => 2,
    }
}

fn level_of(c: i64) -> Level {
    match c {
        0 => Level::Study,
        1 => Level::Series,
        _ => Level::Instance,
    }
}

const TAG_COLUMNS: &str =
    "t.tid, t.path, t.vr, t.level, t.private_creator, t.status, t.query_enabled, t.operation,
    (SELECT COUNT(*) FROM dicom_extended_errors e WHERE e.tid = t.tid)";

fn tag_from_row(r: &hale_store::Row) -> Result<ExtendedTag, StoreError> {
    Ok(ExtendedTag {
        tid: r.get(0)?,
        path: r.get(1)?,
        vr: r.get(2)?,
        level: level_of(r.get(3)?),
        private_creator: r.get(4)?,
        status: TagStatus::from_i64(r.get(5)?),
        query_enabled: r.get::<i64>(6)? == 1,
        operation: r.get(7)?,
        error_count: r.get(8)?,
    })
}

/// Why tags could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddRefused {
    /// A tag with this path exists already (409).
    Exists(String),
    /// The service would have more than 128 tags (400).
    TooMany,
}

/// Adds `specs` as `Adding`, and a `notStarted` reindex operation `op_id`
/// covering them and every stored instance up to now.
pub fn add(
    tx: &mut dyn Tx,
    svc: i64,
    specs: &[TagSpec],
    op_id: &str,
    now: i64,
) -> Result<Result<(), AddRefused>, StoreError> {
    let existing: i64 = tx
        .query(
            "SELECT COUNT(*) FROM dicom_extended_tags WHERE svc = $1",
            params![svc],
        )?
        .first()
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0);
    if existing as usize + specs.len() > hale_dicom::eqt::MAX_EXTENDED_QUERY_TAGS {
        return Ok(Err(AddRefused::TooMany));
    }
    for s in specs {
        let found = tx.query(
            "SELECT 1 FROM dicom_extended_tags WHERE svc = $1 AND path = $2",
            params![svc, s.path()],
        )?;
        if !found.is_empty() {
            return Ok(Err(AddRefused::Exists(s.path())));
        }
    }
    let target: i64 = tx
        .query(
            "SELECT COALESCE(MAX(iid), 0) FROM dicom_instances WHERE svc = $1",
            params![svc],
        )?
        .first()
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0);
    let mut resources = Vec::new();
    for s in specs {
        tx.execute(
            "INSERT INTO dicom_extended_tags (svc, path, vr, level, private_creator, status, query_enabled, operation)
             VALUES ($1, $2, $3, $4, $5, 0, 1, $6)",
            params![
                svc,
                s.path(),
                s.vr.clone(),
                level_code(s.level),
                s.private_creator.clone(),
                op_id
            ],
        )?;
        resources.push(Json::String(s.path()));
    }
    tx.execute(
        "INSERT INTO dicom_operations (id, svc, kind, status, percent, created, updated, resources, watermark, target)
         VALUES ($1, $2, 'reindex', 0, 0, $3, $3, $4, 0, $5)",
        params![op_id, svc, now, Json::Array(resources).to_string(), target],
    )?;
    Ok(Ok(()))
}

/// The service's tags in path order, paged.
pub fn list(
    tx: &mut dyn Tx,
    svc: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<ExtendedTag>, StoreError> {
    tx.query(
        &format!("SELECT {TAG_COLUMNS} FROM dicom_extended_tags t WHERE t.svc = $1 ORDER BY t.path LIMIT $2 OFFSET $3"),
        params![svc, limit, offset],
    )?
    .iter()
    .map(tag_from_row)
    .collect()
}

/// One tag by path (`GGGGEEEE`, upper case).
pub fn get(tx: &mut dyn Tx, svc: i64, path: &str) -> Result<Option<ExtendedTag>, StoreError> {
    tx.query(
        &format!(
            "SELECT {TAG_COLUMNS} FROM dicom_extended_tags t WHERE t.svc = $1 AND t.path = $2"
        ),
        params![svc, path],
    )?
    .first()
    .map(tag_from_row)
    .transpose()
}

/// Enables or disables QIDO on a tag; the tag after the change.
pub fn set_query_enabled(
    tx: &mut dyn Tx,
    svc: i64,
    path: &str,
    enabled: bool,
) -> Result<Option<ExtendedTag>, StoreError> {
    tx.execute(
        "UPDATE dicom_extended_tags SET query_enabled = $3 WHERE svc = $1 AND path = $2",
        params![svc, path, i64::from(enabled)],
    )?;
    get(tx, svc, path)
}

/// Deletes a tag with its values and errors. `false` when there is none.
pub fn delete(tx: &mut dyn Tx, svc: i64, path: &str) -> Result<bool, StoreError> {
    let Some(tag) = get(tx, svc, path)? else {
        return Ok(false);
    };
    tx.execute(
        "DELETE FROM dicom_extended_values WHERE tid = $1",
        params![tag.tid],
    )?;
    tx.execute(
        "DELETE FROM dicom_extended_errors WHERE tid = $1",
        params![tag.tid],
    )?;
    tx.execute(
        "DELETE FROM dicom_extended_tags WHERE tid = $1",
        params![tag.tid],
    )?;
    Ok(true)
}

/// One indexing error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub created: i64,
    pub message: String,
}

/// The indexing errors of a tag, oldest first, paged.
pub fn errors(
    tx: &mut dyn Tx,
    tid: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<TagError>, StoreError> {
    tx.query(
        "SELECT study_uid, series_uid, sop_uid, created, message FROM dicom_extended_errors WHERE tid = $1 ORDER BY eid LIMIT $2 OFFSET $3",
        params![tid, limit, offset],
    )?
    .iter()
    .map(|r| {
        Ok(TagError {
            study_uid: r.get(0)?,
            series_uid: r.get(1)?,
            sop_uid: r.get(2)?,
            created: r.get(3)?,
            message: r.get(4)?,
        })
    })
    .collect()
}

/// The tags QIDO may filter on: Ready and Enabled.
pub fn queryable(tx: &mut dyn Tx, svc: i64) -> Result<Vec<QueryableTag>, StoreError> {
    tx.query(
        "SELECT tid, path, vr, level FROM dicom_extended_tags WHERE svc = $1 AND status = 1 AND query_enabled = 1",
        params![svc],
    )?
    .iter()
    .map(|r| {
        let path: String = r.get(1)?;
        Ok(QueryableTag {
            key: r.get(0)?,
            tag: hale_dicom::eqt::parse_tag_path(&path)
                .ok_or_else(|| StoreError::Decode(format!("bad tag path {path}")))?,
            vr: r.get(2)?,
            level: level_of(r.get(3)?),
        })
    })
    .collect()
}

struct IndexTarget {
    tid: i64,
    tag: Tag,
    vr: String,
}

/// Indexes one stored instance's values of `tags` from its metadata,
/// replacing what was indexed before (a reindex may meet an instance that
/// its STOW already indexed: reserved before the tag was added, committed
/// after).
fn index_instance(
    tx: &mut dyn Tx,
    svc: i64,
    iid: i64,
    uids: [&str; 3],
    metadata: &Json,
    tags: &[IndexTarget],
    now: i64,
) -> Result<(), StoreError> {
    for t in tags {
        tx.execute(
            "DELETE FROM dicom_extended_values WHERE tid = $1 AND iid = $2",
            params![t.tid, iid],
        )?;
        tx.execute(
            "DELETE FROM dicom_extended_errors WHERE tid = $1 AND iid = $2",
            params![t.tid, iid],
        )?;
        match value_of(metadata, t.tag, &t.vr) {
            Ok(None) => {}
            Ok(Some(v)) => {
                let (text, num): (Option<String>, Option<f64>) = match v {
                    TagValue::Text(s) => (Some(s), None),
                    TagValue::Number(n) => (None, Some(n)),
                };
                tx.execute(
                    "INSERT INTO dicom_extended_values (tid, iid, svc, study_key, series_key, text_value, num_value)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    params![
                        t.tid,
                        iid,
                        svc,
                        crate::uid_key(uids[0]),
                        crate::uid_key(uids[1]),
                        text,
                        num
                    ],
                )?;
            }
            Err(message) => {
                tx.execute(
                    "INSERT INTO dicom_extended_errors (tid, iid, study_uid, series_uid, sop_uid, created, message)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    params![t.tid, iid, uids[0], uids[1], uids[2], now, message],
                )?;
            }
        }
    }
    Ok(())
}

/// Indexes a newly stored instance for every Ready tag and every tag being
/// added (a reindex never reaches instances stored after it started).
/// Called in the transaction that commits the instance.
pub fn index_new_instance(
    tx: &mut dyn Tx,
    svc: i64,
    iid: i64,
    uids: [&str; 3],
    metadata: &Json,
    now: i64,
) -> Result<(), StoreError> {
    let rows = tx.query(
        "SELECT tid, path, vr FROM dicom_extended_tags WHERE svc = $1 AND status IN (0, 1)",
        params![svc],
    )?;
    if rows.is_empty() {
        return Ok(());
    }
    let tags = targets(&rows)?;
    index_instance(tx, svc, iid, uids, metadata, &tags, now)
}

fn targets(rows: &[hale_store::Row]) -> Result<Vec<IndexTarget>, StoreError> {
    rows.iter()
        .map(|r| {
            let path: String = r.get(1)?;
            Ok(IndexTarget {
                tid: r.get(0)?,
                tag: hale_dicom::eqt::parse_tag_path(&path)
                    .ok_or_else(|| StoreError::Decode(format!("bad tag path {path}")))?,
                vr: r.get(2)?,
            })
        })
        .collect()
}

/// Removes the values and errors of deleted instances.
pub fn forget_instance(tx: &mut dyn Tx, iid: i64) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM dicom_extended_values WHERE iid = $1",
        params![iid],
    )?;
    tx.execute(
        "DELETE FROM dicom_extended_errors WHERE iid = $1",
        params![iid],
    )?;
    Ok(())
}

/// A long-running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: String,
    pub kind: String,
    /// 0 notStarted, 1 running, 2 succeeded, 3 failed.
    pub status: i64,
    pub percent: i64,
    pub created: i64,
    pub updated: i64,
    /// Tag paths.
    pub resources: Vec<String>,
    pub error: Option<String>,
}

impl Operation {
    pub fn status_name(&self) -> &'static str {
        match self.status {
            0 => "notStarted",
            1 => "running",
            2 => "succeeded",
            _ => "failed",
        }
    }

    /// Whether it has ended (succeeded or failed).
    pub fn is_finished(&self) -> bool {
        self.status >= 2
    }
}

pub fn operation(tx: &mut dyn Tx, svc: i64, id: &str) -> Result<Option<Operation>, StoreError> {
    let rows = tx.query(
        "SELECT id, kind, status, percent, created, updated, resources, error FROM dicom_operations WHERE svc = $1 AND id = $2",
        params![svc, id],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let resources: String = r.get(6)?;
    Ok(Some(Operation {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        percent: r.get(3)?,
        created: r.get(4)?,
        updated: r.get(5)?,
        resources: serde_json::from_str(&resources).unwrap_or_default(),
        error: r.get(7)?,
    }))
}

/// Operations not finished (to resume after a restart).
pub fn unfinished_operations(tx: &mut dyn Tx) -> Result<Vec<(i64, String)>, StoreError> {
    stalled_operations(tx, i64::MAX)
}

/// Unfinished operations that have not moved since `before` (µs): their
/// runner is gone, or they never started.
pub fn stalled_operations(tx: &mut dyn Tx, before: i64) -> Result<Vec<(i64, String)>, StoreError> {
    tx.query(
        "SELECT svc, id FROM dicom_operations WHERE status IN (0, 1) AND updated < $1 ORDER BY created",
        params![before],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// Runs one batch of reindex operation `id`: up to `batch` stored instances
/// past its watermark. `Ok(true)` when the operation is finished (its tags
/// are Ready, it is `succeeded`), or gone.
pub fn reindex_step(
    tx: &mut dyn Tx,
    svc: i64,
    id: &str,
    batch: i64,
    now: i64,
) -> Result<bool, StoreError> {
    // On PostgreSQL the operation's row is locked: when two replicas run
    // the same operation (one took over from another it thought gone), their
    // steps take turns, each from the watermark the other left. SQLite's one
    // writer runs them in turn already.
    let lock = match tx.dialect() {
        hale_store::Dialect::Postgres => " FOR UPDATE",
        hale_store::Dialect::Sqlite => "",
    };
    let rows = tx.query(
        &format!(
            "SELECT watermark, target, status FROM dicom_operations WHERE svc = $1 AND id = $2{lock}"
        ),
        params![svc, id],
    )?;
    let Some(r) = rows.first() else {
        return Ok(true);
    };
    let (watermark, target, status): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
    if status >= 2 {
        return Ok(true);
    }
    let tag_rows = tx.query(
        "SELECT tid, path, vr FROM dicom_extended_tags WHERE svc = $1 AND operation = $2 AND status = 0",
        params![svc, id],
    )?;
    let tags = targets(&tag_rows)?;
    let instances = tx.query(
        "SELECT iid, study_uid, series_uid, sop_uid, metadata FROM dicom_instances
         WHERE svc = $1 AND status = 1 AND iid > $2 AND iid <= $3 ORDER BY iid LIMIT $4",
        params![svc, watermark, target, batch],
    )?;
    let mut last = watermark;
    if !tags.is_empty() {
        for r in &instances {
            let iid: i64 = r.get(0)?;
            let uids: [String; 3] = [r.get(1)?, r.get(2)?, r.get(3)?];
            let meta: Option<String> = r.get(4)?;
            let metadata = meta.map(|m| parse(&m)).unwrap_or(Json::Null);
            index_instance(
                tx,
                svc,
                iid,
                [&uids[0], &uids[1], &uids[2]],
                &metadata,
                &tags,
                now,
            )?;
            last = iid;
        }
    }
    let finished = tags.is_empty() || (instances.len() as i64) < batch || last >= target;
    if finished {
        tx.execute(
            "UPDATE dicom_extended_tags SET status = 1, operation = NULL WHERE svc = $1 AND operation = $2 AND status = 0",
            params![svc, id],
        )?;
        tx.execute(
            "UPDATE dicom_operations SET status = 2, percent = 100, updated = $3, watermark = $4 WHERE svc = $1 AND id = $2",
            params![svc, id, now, target],
        )?;
    } else {
        let percent = if target > 0 {
            (last * 100 / target).clamp(0, 99)
        } else {
            99
        };
        tx.execute(
            "UPDATE dicom_operations SET status = 1, percent = $3, updated = $4, watermark = $5 WHERE svc = $1 AND id = $2",
            params![svc, id, percent, now, last],
        )?;
    }
    Ok(finished)
}

/// Marks an operation failed (and drops the tags it was adding).
pub fn fail_operation(
    tx: &mut dyn Tx,
    svc: i64,
    id: &str,
    error: &str,
    now: i64,
) -> Result<(), StoreError> {
    let tids = tx.query(
        "SELECT tid FROM dicom_extended_tags WHERE svc = $1 AND operation = $2 AND status = 0",
        params![svc, id],
    )?;
    for r in &tids {
        let tid: i64 = r.get(0)?;
        tx.execute(
            "DELETE FROM dicom_extended_values WHERE tid = $1",
            params![tid],
        )?;
        tx.execute(
            "DELETE FROM dicom_extended_errors WHERE tid = $1",
            params![tid],
        )?;
        tx.execute(
            "DELETE FROM dicom_extended_tags WHERE tid = $1",
            params![tid],
        )?;
    }
    tx.execute(
        "UPDATE dicom_operations SET status = 3, updated = $3, error = $4 WHERE svc = $1 AND id = $2",
        params![svc, id, now, error],
    )?;
    Ok(())
}

/// The SQL condition for an extended filter at the query's level: the
/// study (series) matches when one of its instances has a matching value.
pub(crate) fn clause(
    f: &hale_dicom::qido::ExtendedFilter,
    level: Level,
    param: &mut dyn FnMut(Value) -> String,
) -> String {
    use hale_dicom::eqt::TagCondition as C;
    let tid = param(Value::Int(f.key));
    let cond = match &f.condition {
        C::Text(t) => format!("x.text_value = {}", param(Value::Text(t.clone()))),
        C::Number(n) => format!("x.num_value = {}", param(Value::Real(*n))),
        C::Range(from, to) => {
            let mut parts = vec!["x.num_value IS NOT NULL".to_owned()];
            if let Some(a) = from {
                parts.push(format!("x.num_value >= {}", param(Value::Real(*a))));
            }
            if let Some(b) = to {
                parts.push(format!("x.num_value <= {}", param(Value::Real(*b))));
            }
            parts.join(" AND ")
        }
    };
    let scope = match (f.level, level) {
        (Level::Study, Level::Study) => "x.svc = st.svc AND x.study_key = st.study_key",
        (Level::Study, _) => "x.svc = st.svc AND x.study_key = st.study_key",
        (Level::Series, Level::Instance) | (Level::Series, Level::Series) => {
            "x.svc = se.svc AND x.study_key = se.study_key AND x.series_key = se.series_key"
        }
        (Level::Series, Level::Study) => "1 = 0",
        (Level::Instance, Level::Instance) => "x.iid = i.iid",
        (Level::Instance, _) => "1 = 0",
    };
    let _ = level_name;
    format!(
        "EXISTS (SELECT 1 FROM dicom_extended_values x WHERE x.tid = {tid} AND {scope} AND {cond})"
    )
}
