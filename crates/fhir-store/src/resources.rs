//! Resource versions: the `fhir_resources` table.
//!
//! Each create, update or delete appends a version row and makes it the
//! current one; reads of the current version find it among the id's versions by
//! `is_current`. Bodies are the JSON exactly as served (with `id` and `meta`
//! set), stored compressed (`codec`), so a read answers with those bytes.

use hale_store::{Row, Store, StoreError, Tx, Value, params};

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
    /// The body's stored form ([`crate::encode_body`] of `body`) when it was
    /// encoded before the transaction; else it is encoded here.
    pub stored: Option<&'a [u8]>,
}

/// The columns [`from_row`] decodes, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "rid, resource_type, id, version, last_updated, deleted, method, body"
    };
}

pub(crate) const COLUMNS: &str = columns!();

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
        body: row
            .get::<Option<Vec<u8>>>(7)?
            .map(crate::codec::decode)
            .transpose()?,
    })
}

const CURRENT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM fhir_resources WHERE svc = $1 AND resource_type = $2 AND id = $3 AND is_current = 1"
);

const VERSION: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM fhir_resources WHERE svc = $1 AND resource_type = $2 AND id = $3 AND version = $4"
);

/// The one row a keyed lookup found, decoded, if any.
fn at_most_one(rows: Vec<Row>) -> Result<Option<StoredResource>, StoreError> {
    match rows.as_slice() {
        [] => Ok(None),
        [row] => from_row(row).map(Some),
        more => Err(StoreError::Decode(format!(
            "expected at most one row, got {}",
            more.len()
        ))),
    }
}

/// The current version of a resource (a delete marker included), if any.
pub fn current(
    tx: &mut dyn Tx,
    svc: i64,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    at_most_one(tx.query(CURRENT, params![svc, resource_type, id])?)
}

/// [`current`] outside a transaction, as a keyed statement
/// ([`Store::query_keyed`]): what a read by id needs.
pub async fn current_keyed(
    store: &Store,
    svc: i64,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    at_most_one(
        store
            .query_keyed(CURRENT, params![svc, resource_type, id].to_vec())
            .await?,
    )
}

/// [`version`] outside a transaction, as a keyed statement.
pub async fn version_keyed(
    store: &Store,
    svc: i64,
    resource_type: &str,
    id: &str,
    version: i64,
) -> Result<Option<StoredResource>, StoreError> {
    at_most_one(
        store
            .query_keyed(VERSION, params![svc, resource_type, id, version].to_vec())
            .await?,
    )
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

/// One version of a resource, current or not.
pub fn version(
    tx: &mut dyn Tx,
    svc: i64,
    resource_type: &str,
    id: &str,
    version: i64,
) -> Result<Option<StoredResource>, StoreError> {
    at_most_one(tx.query(VERSION, params![svc, resource_type, id, version])?)
}

/// Appends a version and makes it the current one; returns its rid. The
/// caller has checked `version` follows the current one (inside the same
/// transaction), and moves the search index rows.
pub fn insert_version(tx: &mut dyn Tx, svc: i64, new: &NewVersion<'_>) -> Result<i64, StoreError> {
    let stored: Option<std::borrow::Cow<'_, [u8]>> = match new.stored {
        Some(s) => Some(s.into()),
        None => new.body.map(|b| crate::codec::encode(b).into()),
    };
    if new.version > 1 {
        tx.execute(
            "UPDATE fhir_resources SET is_current = 0 WHERE svc = $1 AND resource_type = $2 AND id = $3 AND is_current = 1",
            params![svc, new.resource_type, new.id],
        )?;
    }
    let row = tx
        .query_opt(
            "INSERT INTO fhir_resources (svc, resource_type, id, version, last_updated, is_current, deleted, method, body) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8) RETURNING rid",
            params![
                svc,
                new.resource_type,
                new.id,
                new.version,
                new.last_updated,
                new.body.is_none(),
                new.method,
                stored.as_deref()
            ],
        )?
        .ok_or_else(|| StoreError::Decode("INSERT … RETURNING gave no row".into()))?;
    row.get(0)
}

/// Appends version 1 of resources that have no version yet (ids the server
/// has just made), as current, with multi-row `INSERT`s: one statement for
/// up to 64 resources instead of one each (in chunks sized as the index
/// rows' are). Each body must come in its
/// stored form. Returns the rids, in the order of `news`.
pub fn insert_first_versions(
    tx: &mut dyn Tx,
    svc: i64,
    news: &[NewVersion<'_>],
) -> Result<Vec<i64>, StoreError> {
    let mut rids = Vec::with_capacity(news.len());
    let mut rest = news;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(crate::chunk_size(rest.len()));
        rest = tail;
        let mut sql = String::from(
            "INSERT INTO fhir_resources (svc, resource_type, id, version, last_updated, is_current, deleted, method, body) VALUES ",
        );
        crate::push_value_rows(&mut sql, chunk.len(), 9);
        let mut values = Vec::with_capacity(chunk.len() * 9);
        for new in chunk {
            let (1, Some(_), Some(stored)) = (new.version, new.body, new.stored) else {
                return Err(StoreError::Decode(
                    "a first version to insert has no stored body".into(),
                ));
            };
            values.extend([
                Value::from(svc),
                Value::from(new.resource_type),
                Value::from(new.id),
                Value::from(1i64),
                Value::from(new.last_updated),
                Value::from(1i64),
                Value::from(false),
                Value::from(new.method),
                Value::from(stored),
            ]);
        }
        sql.push_str(" RETURNING rid, resource_type, id");
        let rows = tx.query(&sql, &values)?;
        // RETURNING names each row; its order is not promised.
        let mut by_key = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let key: (String, String) = (row.get(1)?, row.get(2)?);
            by_key.insert(key, row.get::<i64>(0)?);
        }
        for new in chunk {
            let rid = by_key
                .remove(&(new.resource_type.to_owned(), new.id.to_owned()))
                .ok_or_else(|| StoreError::Decode("INSERT … RETURNING missed a row".into()))?;
            rids.push(rid);
        }
    }
    Ok(rids)
}

/// Removes every version of a resource (`hardDelete`, `$purge-history` keeps
/// none); returns how many versions went. The caller removes the index rows
/// of the current version first.
pub fn purge(tx: &mut dyn Tx, svc: i64, resource_type: &str, id: &str) -> Result<u64, StoreError> {
    tx.execute(
        "DELETE FROM fhir_resources WHERE svc = $1 AND resource_type = $2 AND id = $3",
        params![svc, resource_type, id],
    )
}

/// Which versions a history request lists.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Type history (`[type]/_history`), or instance history with `id`.
    pub resource_type: Option<String>,
    pub id: Option<String>,
    /// `_since`: versions updated at or after this instant (µs).
    pub since: Option<i64>,
    /// `_before`: versions updated before this instant (µs).
    pub before: Option<i64>,
    /// `_at`: versions that were current at some point of this period
    /// `[start, end)` (µs): updated before its end, and not replaced by a
    /// later version at or before its start.
    pub at: Option<(i64, i64)>,
    /// Continue after this (last_updated, rid), newest first.
    pub after: Option<(i64, i64)>,
    /// Only resources whose current version is a member of this compartment
    /// (type, id): a SMART caller's `fhirUser` compartment. Index rows exist
    /// for current versions only, so membership is the current version's;
    /// the history of a deleted resource is then out of every compartment.
    pub within: Option<(String, String)>,
}

/// Versions newest first: at most `count`, after the filter's cursor.
pub fn history(
    tx: &mut dyn Tx,
    svc: i64,
    filter: &HistoryFilter,
    count: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM fhir_resources WHERE svc = $1");
    let mut args: Vec<hale_store::Value> = vec![svc.into()];
    let mut bind = |sql: &mut String, clause: &str, value: hale_store::Value| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(t) = &filter.resource_type {
        bind(&mut sql, " AND resource_type = ?", t.as_str().into());
    }
    if let Some(id) = &filter.id {
        bind(&mut sql, " AND id = ?", id.as_str().into());
    }
    if let Some(since) = filter.since {
        bind(&mut sql, " AND last_updated >= ?", since.into());
    }
    if let Some(before) = filter.before {
        bind(&mut sql, " AND last_updated < ?", before.into());
    }
    if let Some((start, end)) = filter.at {
        bind(&mut sql, " AND last_updated < ?", end.into());
        bind(
            &mut sql,
            " AND NOT EXISTS (SELECT 1 FROM fhir_resources n WHERE n.svc = fhir_resources.svc
               AND n.resource_type = fhir_resources.resource_type AND n.id = fhir_resources.id
               AND n.version > fhir_resources.version AND n.last_updated <= ?)",
            start.into(),
        );
    }
    if let Some((ctype, cid)) = &filter.within {
        let keys = crate::search::compartment_keys(ctype);
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM fhir_resources c WHERE c.svc = fhir_resources.svc
               AND c.resource_type = fhir_resources.resource_type AND c.id = fhir_resources.id
               AND c.is_current = 1 AND c.deleted = 0 AND (c.rid IN (SELECT rid FROM fhir_ix_ref
               WHERE svc = $1 AND p IN (",
        );
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            bind(&mut sql, "?", (*key).into());
        }
        if keys.is_empty() {
            sql.push_str("NULL");
        }
        bind(&mut sql, ") AND tid = ?", cid.as_str().into());
        bind(&mut sql, " AND ttype = ?)", ctype.as_str().into());
        bind(&mut sql, " OR (c.resource_type = ?", ctype.as_str().into());
        bind(&mut sql, " AND c.id = ?)))", cid.as_str().into());
    }
    if let Some((at, rid)) = filter.after {
        bind(&mut sql, " AND (last_updated < ?", at.into());
        bind(&mut sql, " OR (last_updated = ?", at.into());
        bind(&mut sql, " AND rid < ?))", rid.into());
    }
    sql.push_str(&format!(
        " ORDER BY last_updated DESC, rid DESC LIMIT {}",
        count.min(10_000)
    ));
    tx.query(&sql, &args)?.iter().map(from_row).collect()
}
