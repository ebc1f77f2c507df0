//! The one way a resource changes: [`apply`] a [`Change`] inside a write
//! transaction. It reads the current version, checks `If-Match`, stamps
//! `meta.versionId`/`meta.lastUpdated`, appends the version and moves the
//! search index rows, all in the caller's transaction, so single requests and
//! every entry of a transaction bundle go through the same code.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use axum::http::StatusCode;
use hale_fhir_model::{IndexEntry, parse_search};
use hale_fhir_store::{NewVersion, SearchScope, StoredResource, index, resources, search};
use hale_store::{Tx, health};
use serde_json::{Value, json};
use uuid::Uuid;

use super::outcome::{FhirError, FhirResult, fhir_instant};

/// Partitions never change once made, so every replica may remember them.
static PARTITIONS: LazyLock<RwLock<HashMap<Uuid, i64>>> = LazyLock::new(Default::default);

/// The service's partition; made on first write (`create`), else `None`
/// when the service has never stored anything.
pub(super) fn partition(tx: &mut dyn Tx, service: Uuid, create: bool) -> FhirResult<Option<i64>> {
    if let Some(svc) = known_partition(service) {
        return Ok(Some(svc));
    }
    let svc = if create {
        Some(health::ensure_partition(tx, service)?)
    } else {
        health::partition(tx, service)?
    };
    if let (Some(svc), Ok(mut map)) = (svc, PARTITIONS.write()) {
        map.insert(service, svc);
    }
    Ok(svc)
}

/// The partition of `service` when this process has seen it already.
pub(super) fn known_partition(service: Uuid) -> Option<i64> {
    PARTITIONS
        .read()
        .ok()
        .and_then(|m| m.get(&service).copied())
}

/// An upsert's work done before its write transaction.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub entries: Vec<IndexEntry>,
    /// The body as its version 1 would be stored, for a change that is
    /// expected to create: used when the transaction finds no resource, else
    /// the body is made again with the version found.
    pub first: Option<FirstVersion>,
}

/// A body stamped as version 1: its JSON and its stored form.
#[derive(Debug, Clone)]
pub(super) struct FirstVersion {
    json: Vec<u8>,
    stored: Vec<u8>,
}

/// What a change does.
#[derive(Debug, Clone)]
pub(super) enum ChangeKind {
    /// Create or update with this resource (`id` already set to the change's).
    Upsert(Value),
    /// An upsert whose search index entries (and, for a create, stored
    /// body) were made before the transaction ([`prepare`]), keeping that
    /// work off the writer.
    Prepared { resource: Value, prepared: Prepared },
    /// Soft delete: a delete version, history kept.
    Delete,
    /// Hard delete: every version gone.
    Purge,
}

#[derive(Debug, Clone)]
pub(super) struct Change {
    pub resource_type: String,
    pub id: String,
    pub kind: ChangeKind,
    /// `POST`, `PUT`, `PATCH` or `DELETE`, for history.
    pub method: &'static str,
    /// `If-Match`: the version the client expects to replace.
    pub if_match: Option<String>,
    /// Refuse to create: the resource must exist (PATCH).
    pub must_exist: bool,
    /// The id is a new server-assigned UUID: no version of it can exist, so
    /// none is looked up.
    pub fresh: bool,
    /// The version the new body was made from (a patch's): when another has
    /// become current meanwhile, the change is refused (409) rather than
    /// undoing that one.
    pub based_on: Option<i64>,
    /// The compartment (type, id) a SMART caller is confined to: the
    /// resource must be a member of it before the change (if it exists) and
    /// after it, else the change is refused (403).
    pub within: Option<(String, String)>,
}

impl Change {
    /// A change without preconditions.
    pub fn new(
        resource_type: impl Into<String>,
        id: impl Into<String>,
        kind: ChangeKind,
        method: &'static str,
    ) -> Change {
        Change {
            resource_type: resource_type.into(),
            id: id.into(),
            kind,
            method,
            if_match: None,
            must_exist: false,
            fresh: false,
            based_on: None,
            within: None,
        }
    }

    /// Made by a caller confined to compartment `within`.
    pub fn within(mut self, within: Option<(String, String)>) -> Change {
        self.within = within;
        self
    }

    /// Made from version `version` of the resource (a patch).
    pub fn based_on(mut self, version: i64) -> Change {
        self.based_on = Some(version);
        self
    }

    /// A create under an id the server has just made (a v4 UUID): there is
    /// no current version to look up.
    pub fn fresh(mut self) -> Change {
        self.fresh = true;
        self
    }

    /// With the client's `If-Match`.
    pub fn if_match(mut self, expected: Option<String>) -> Change {
        self.if_match = expected;
        self
    }

    /// Refusing to create: the resource must exist (PATCH).
    pub fn existing(mut self) -> Change {
        self.must_exist = true;
        self
    }
}

/// What a change did.
#[derive(Debug, Clone)]
pub(super) enum Applied {
    /// A version was written; `created` when it is version 1 or revives a
    /// deleted resource.
    Written {
        stored: StoredResource,
        created: bool,
    },
    /// A delete of something already deleted or never there: nothing written.
    NothingToDelete,
    /// A hard delete removed every version.
    Purged,
}

/// A confined caller may change only what is in its compartment, and only
/// into what stays there: the live version (if any) and the new body (if
/// the change writes one) must both be members. Judged from the bodies, so
/// that a transaction's entries, whose index rows are written at its end,
/// are judged as they will be indexed.
fn check_within(
    ctype: &str,
    cid: &str,
    base: &str,
    change: &Change,
    live: Option<&StoredResource>,
) -> FhirResult<()> {
    let before = live.is_none_or(|c| search::stored_in_compartment(ctype, cid, c, base));
    let after = match &change.kind {
        ChangeKind::Upsert(resource) | ChangeKind::Prepared { resource, .. } => {
            search::in_compartment(
                ctype,
                cid,
                &change.resource_type,
                &change.id,
                resource,
                base,
            )
        }
        ChangeKind::Delete | ChangeKind::Purge => true,
    };
    if before && after {
        return Ok(());
    }
    Err(FhirError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "Authorization failed: {}/{} is not in the compartment of the fhirUser {ctype}/{cid}.",
            change.resource_type, change.id
        ),
    ))
}

/// Parses `W/"3"`, `"3"` or `3`.
pub(super) fn parse_etag(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

/// Applies one change in `tx`, its search index rows included. `now` is the
/// version's lastUpdated (µs, whole milliseconds).
pub(super) fn apply(
    tx: &mut dyn Tx,
    svc: i64,
    base: &str,
    now: i64,
    change: Change,
) -> FhirResult<Applied> {
    let mut pending = index::Pending::default();
    let applied = apply_deferred(tx, svc, base, now, change, &mut pending)?;
    pending.flush(tx)?;
    Ok(applied)
}

/// Applies one change in `tx`, leaving the new version's search index rows
/// in `pending`, to be written with those of the transaction's other
/// changes ([`index::Pending`]; flushed here before rows are removed).
pub(super) fn apply_deferred(
    tx: &mut dyn Tx,
    svc: i64,
    base: &str,
    now: i64,
    change: Change,
    pending: &mut index::Pending,
) -> FhirResult<Applied> {
    let current = if change.fresh {
        None
    } else {
        lock_resource(tx, svc, &change.resource_type, &change.id)?;
        resources::current(tx, svc, &change.resource_type, &change.id)?
    };
    if let Some(expected) = &change.if_match {
        let Some(wanted) = parse_etag(expected) else {
            return Err(FhirError::invalid(format!(
                "The If-Match value '{expected}' is not a version ETag (W/\"n\")."
            )));
        };
        match &current {
            None => {
                return Err(FhirError::not_found(format!(
                    "Resource type '{}' with id '{}' and version '{wanted}' couldn't be found.",
                    change.resource_type, change.id
                )));
            }
            Some(c) if c.deleted || c.version != wanted => {
                return Err(FhirError::version_mismatch(expected));
            }
            Some(_) => {}
        }
    }
    if let Some(base) = change.based_on
        && current.as_ref().map(|c| c.version) != Some(base)
    {
        return Err(FhirError::from(hale_store::StoreError::Conflict(format!(
            "{}/{} changed after version {base} was read",
            change.resource_type, change.id
        ))));
    }
    // Versions of one resource are stamped in order, even when the version
    // before this one committed with a later clock reading.
    let now = match &current {
        Some(c) if c.last_updated >= now => c.last_updated + 1000,
        _ => now,
    };
    let live = current.as_ref().filter(|c| !c.deleted);
    if change.must_exist && live.is_none() {
        return Err(match &current {
            Some(c) => FhirError::gone(&change.resource_type, &change.id, c.version),
            None => FhirError::resource_not_found(&change.resource_type, &change.id),
        });
    }
    if let Some((ctype, cid)) = &change.within {
        check_within(ctype, cid, base, &change, live)?;
    }
    let version = current.as_ref().map_or(1, |c| c.version + 1);
    match change.kind {
        ChangeKind::Purge => {
            if let Some(c) = live {
                pending.flush(tx)?;
                index::remove(tx, svc, c.rid)?;
            }
            resources::purge(tx, svc, &change.resource_type, &change.id)?;
            Ok(Applied::Purged)
        }
        ChangeKind::Delete => {
            let Some(c) = live else {
                return Ok(Applied::NothingToDelete);
            };
            pending.flush(tx)?;
            index::remove(tx, svc, c.rid)?;
            let new = NewVersion {
                resource_type: &change.resource_type,
                id: &change.id,
                version,
                last_updated: now,
                method: "DELETE",
                body: None,
                stored: None,
            };
            let rid = resources::insert_version(tx, svc, &new)?;
            Ok(Applied::Written {
                stored: StoredResource {
                    rid,
                    resource_type: change.resource_type,
                    id: change.id,
                    version,
                    last_updated: now,
                    deleted: true,
                    method: "DELETE".into(),
                    body: None,
                },
                created: false,
            })
        }
        kind @ (ChangeKind::Upsert(_) | ChangeKind::Prepared { .. }) => {
            let (mut resource, prepared) = match kind {
                ChangeKind::Prepared { resource, prepared } => (resource, Some(prepared)),
                ChangeKind::Upsert(resource) => (resource, None),
                _ => unreachable!(),
            };
            let (entries, first) = match prepared {
                Some(p) => (p.entries, p.first.filter(|_| version == 1)),
                None => (hale_fhir_model::index(&resource), None),
            };
            let (body, stored) = match first {
                Some(f) => (f.json, Some(f.stored)),
                None => {
                    stamp(&mut resource, &change.id, version, now);
                    // An update that changes nothing makes no version (as
                    // Azure): the current one is the answer.
                    if let Some(c) = live
                        && unchanged(c, &resource)
                    {
                        return Ok(Applied::Written {
                            stored: c.clone(),
                            created: false,
                        });
                    }
                    (serialize(&resource)?, None)
                }
            };
            if let Some(c) = live {
                pending.flush(tx)?;
                index::remove(tx, svc, c.rid)?;
            }
            let new = NewVersion {
                resource_type: &change.resource_type,
                id: &change.id,
                version,
                last_updated: now,
                method: change.method,
                body: Some(&body),
                stored: stored.as_deref(),
            };
            let rid = resources::insert_version(tx, svc, &new)?;
            pending.add(svc, rid, &change.resource_type, &entries, base);
            Ok(Applied::Written {
                stored: StoredResource {
                    rid,
                    resource_type: change.resource_type,
                    id: change.id,
                    version,
                    last_updated: now,
                    deleted: false,
                    method: change.method.into(),
                    body: Some(body),
                },
                created: live.is_none(),
            })
        }
    }
}

/// Whether `resource` (stamped as the next version) says what the current
/// version `current` says: the same JSON but for `meta.versionId` and
/// `meta.lastUpdated`.
fn unchanged(current: &StoredResource, resource: &Value) -> bool {
    let Some(Ok(mut before)) = current.body.as_deref().map(serde_json::from_slice::<Value>) else {
        return false;
    };
    let mut after = resource.clone();
    for r in [&mut before, &mut after] {
        if let Some(meta) = r.get_mut("meta").and_then(Value::as_object_mut) {
            meta.remove("versionId");
            meta.remove("lastUpdated");
            if meta.is_empty()
                && let Some(o) = r.as_object_mut()
            {
                o.remove("meta");
            }
        }
    }
    before == after
}

/// A create under an id the server has just made, prepared before its
/// transaction (index entries and stored body as version 1).
pub(super) struct FreshCreate {
    resource_type: String,
    id: String,
    entries: Vec<IndexEntry>,
    first: FirstVersion,
}

impl FreshCreate {
    /// The create, when `prepared` holds its version 1 body.
    pub fn of(
        resource_type: String,
        id: String,
        prepared: Prepared,
    ) -> Result<FreshCreate, Prepared> {
        match prepared.first {
            Some(first) => Ok(FreshCreate {
                resource_type,
                id,
                entries: prepared.entries,
                first,
            }),
            None => Err(prepared),
        }
    }
}

/// Writes fresh creates together: their versions with multi-row `INSERT`s,
/// their index rows into `pending`. What [`apply_deferred`] does for each
/// one, with one statement per 64 resources instead of one each.
pub(super) fn create_fresh(
    tx: &mut dyn Tx,
    svc: i64,
    base: &str,
    now: i64,
    creates: Vec<FreshCreate>,
    pending: &mut index::Pending,
) -> FhirResult<Vec<StoredResource>> {
    let news: Vec<NewVersion<'_>> = creates
        .iter()
        .map(|c| NewVersion {
            resource_type: &c.resource_type,
            id: &c.id,
            version: 1,
            last_updated: now,
            method: "POST",
            body: Some(&c.first.json),
            stored: Some(&c.first.stored),
        })
        .collect();
    let rids = resources::insert_first_versions(tx, svc, &news)?;
    drop(news);
    Ok(creates
        .into_iter()
        .zip(rids)
        .map(|(c, rid)| {
            pending.add(svc, rid, &c.resource_type, &c.entries, base);
            StoredResource {
                rid,
                resource_type: c.resource_type,
                id: c.id,
                version: 1,
                last_updated: now,
                deleted: false,
                method: "POST".into(),
                body: Some(c.first.json),
            }
        })
        .collect())
}

/// Does an upsert's CPU work ahead of its transaction: its search index
/// entries (they depend on `id` and `meta.lastUpdated`, never on the
/// version) and, when it is expected to `create`, its body as version 1,
/// serialized and encoded for storage.
pub(super) fn prepare(kind: ChangeKind, id: &str, now: i64, create: bool) -> ChangeKind {
    match kind {
        ChangeKind::Upsert(resource) => {
            let (resource, prepared) = prepare_upsert(resource, id, now, create);
            ChangeKind::Prepared { resource, prepared }
        }
        other => other,
    }
}

/// [`prepare`] for an upsert's resource: the resource stamped, and the work done.
pub(super) fn prepare_upsert(
    mut resource: Value,
    id: &str,
    now: i64,
    create: bool,
) -> (Value, Prepared) {
    stamp(&mut resource, id, 1, now);
    let entries = hale_fhir_model::index(&resource);
    let first = create
        .then(|| serialize(&resource).ok())
        .flatten()
        .map(|json| FirstVersion {
            stored: hale_fhir_store::encode_body(&json),
            json,
        });
    (resource, Prepared { entries, first })
}

fn serialize(resource: &Value) -> FhirResult<Vec<u8>> {
    serde_json::to_vec(resource)
        .map_err(|e| FhirError::internal("The resource could not be serialised", &e))
}

/// Sets `id`, `meta.versionId` and `meta.lastUpdated`, keeping the rest of
/// the client's `meta` (tags, profiles, security labels).
fn stamp(resource: &mut Value, id: &str, version: i64, now: i64) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    obj.insert("id".into(), Value::String(id.to_owned()));
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("versionId".into(), Value::String(version.to_string()));
        meta.insert("lastUpdated".into(), Value::String(fhir_instant(now)));
    }
    // Keep resourceType first and id second, as clients print them.
    let mut ordered = serde_json::Map::with_capacity(obj.len());
    for key in ["resourceType", "id", "meta"] {
        if let Some(v) = obj.remove(key) {
            ordered.insert(key.into(), v);
        }
    }
    ordered.append(obj);
    *obj = ordered;
}

/// The current resources matching conditional criteria (`If-None-Exist`, a
/// conditional update's or delete's query), at most `limit + 1` so that the
/// caller can tell "more than `limit`". Criteria that name unknown
/// parameters are refused rather than ignored: ignoring one would widen the
/// match to resources the client did not mean.
pub(super) fn conditional_matches(
    tx: &mut dyn Tx,
    svc: Option<i64>,
    base: &str,
    resource_type: &str,
    criteria: &[(String, String)],
    limit: u32,
    within: Option<(String, String)>,
) -> FhirResult<Vec<StoredResource>> {
    let criteria: Vec<(String, String)> = criteria
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "hardDelete" | "_count"))
        .cloned()
        .collect();
    if criteria.is_empty() {
        return Err(FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            "invalid",
            "Conditional operations require at least one search criterion.",
        ));
    }
    let mut query = parse_search(Some(resource_type), &criteria, true)
        .map_err(|issues| FhirError::from_issues(StatusCode::BAD_REQUEST, &issues))?;
    let Some(svc) = svc else {
        return Ok(Vec::new());
    };
    if tx.dialect() == hale_store::Dialect::Postgres {
        // Writers that search the same criteria take turns until their
        // transactions end, so that two conditional creates (or updates)
        // racing on PostgreSQL, where write transactions run side by side,
        // cannot both find nothing and both create. (SQLite's one writer
        // runs them one after the other already.)
        tx.query(
            "SELECT pg_advisory_xact_lock($1)",
            &[hale_store::Value::Int(criteria_lock_key(
                svc,
                resource_type,
                &criteria,
            ))],
        )?;
    }
    query.count = limit + 1;
    query.sort.clear();
    query.includes.clear();
    query.revincludes.clear();
    let scope = SearchScope {
        resource_types: vec![resource_type.to_owned()],
        compartment: None,
        within,
    };
    Ok(search::search(tx, svc, &scope, &query, base)?.matches)
}

/// The conditional references (`Patient?identifier=x|1`) in a resource, each
/// once, in the order found.
pub(super) fn conditional_references(resource: &Value) -> Vec<String> {
    fn walk(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(obj) => {
                for (k, v) in obj {
                    match v {
                        Value::String(s)
                            if k == "reference"
                                && !s.contains("://")
                                && s.contains('?')
                                && !found.contains(s) =>
                        {
                            found.push(s.clone())
                        }
                        _ => walk(v, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(resource, &mut found);
    found
}

/// Resolves each conditional reference to the `Type/id` of the one resource
/// its search matches (R4 http.html, "conditional references"): 400 when
/// none or several match.
pub(super) fn resolve_conditional_references(
    tx: &mut dyn Tx,
    svc: Option<i64>,
    base: &str,
    references: &[String],
    within: Option<&(String, String)>,
) -> FhirResult<HashMap<String, String>> {
    let mut map = HashMap::with_capacity(references.len());
    for reference in references {
        let Some((t, query)) = reference.split_once('?') else {
            continue;
        };
        // A confined caller's references resolve inside its compartment,
        // so that they cannot find (and copy the id of) what it may not see.
        let found = conditional_matches(tx, svc, base, t, &parse_query(query), 1, within.cloned())?;
        match found.as_slice() {
            [one] => {
                map.insert(reference.clone(), format!("{t}/{}", one.id));
            }
            [] => {
                return Err(FhirError::invalid(format!(
                    "Given conditional reference '{reference}' does not resolve to a resource."
                )));
            }
            _ => {
                return Err(FhirError::invalid(format!(
                    "Given conditional reference '{reference}' resolved to multiple resources."
                )));
            }
        }
    }
    Ok(map)
}

/// Replaces every `reference` found in `map` (urn:uuid and other fullUrls,
/// conditional references).
pub(super) fn rewrite_references(value: &mut Value, map: &HashMap<String, String>) {
    match value {
        Value::Object(obj) => {
            for (k, v) in obj.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = v
                    && let Some(to) = map.get(s.as_str())
                {
                    *s = to.clone();
                    continue;
                }
                rewrite_references(v, map);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_references(v, map)),
        _ => {}
    }
}

/// The criteria of an `If-None-Exist` header for a create of `t`:
/// `identifier=x`, `?identifier=x` or `Patient?identifier=x`.
pub(super) fn if_none_exist_criteria(t: &str, header: &str) -> Vec<(String, String)> {
    let query = header
        .strip_prefix(t)
        .and_then(|q| q.strip_prefix('?'))
        .unwrap_or(header);
    parse_query(query.trim_start_matches('?'))
}

/// The advisory lock of a service's conditional criteria on a type: FNV-1a
/// over the service, the type and the criteria in order of name, so that
/// every replica computes the same key.
fn criteria_lock_key(svc: i64, resource_type: &str, criteria: &[(String, String)]) -> i64 {
    let mut sorted: Vec<&(String, String)> = criteria.iter().collect();
    sorted.sort();
    let mut parts: Vec<&[u8]> = vec![b"criteria", resource_type.as_bytes()];
    for (k, v) in sorted {
        parts.push(k.as_bytes());
        parts.push(v.as_bytes());
    }
    lock_key(svc, &parts)
}

/// A new server-assigned resource id: a UUID, as Azure's are, but of
/// version 7, whose first 48 bits are the time in milliseconds (then a
/// counter and 62 random bits). Ids made one after the other sort one after
/// the other, so the rows keyed by a new id (the version index, and the
/// reference index rows of resources pointing at it, which mostly come in
/// the same bundle or soon after) land at the end of their B-trees, on a few
/// pages a commit writes anyway, instead of on a random page each. The
/// creation time it reveals is the resource's `meta.lastUpdated` already.
pub(super) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Makes writers of one resource take turns until their transactions end,
/// so that the second reads the version the first made and follows it, where
/// both would otherwise make the same version and the loser get a 409 it
/// never asked for (no If-Match). Call it before reading the version a write
/// builds on. On PostgreSQL write transactions run side by side; SQLite's one
/// writer runs them one after the other already. Taking it twice in one
/// transaction is harmless (advisory locks stack).
pub(super) fn lock_resource(
    tx: &mut dyn Tx,
    svc: i64,
    resource_type: &str,
    id: &str,
) -> FhirResult<()> {
    if tx.dialect() == hale_store::Dialect::Postgres {
        tx.query(
            "SELECT pg_advisory_xact_lock($1)",
            &[hale_store::Value::Int(resource_lock_key(
                svc,
                resource_type,
                id,
            ))],
        )?;
    }
    Ok(())
}

/// The advisory lock of one resource of a service (by type and id).
fn resource_lock_key(svc: i64, resource_type: &str, id: &str) -> i64 {
    lock_key(svc, &[b"resource", resource_type.as_bytes(), id.as_bytes()])
}

/// FNV-1a over the service and `parts`, each followed by 0xff (which UTF-8
/// never contains), so that every replica computes the same key.
fn lock_key(svc: i64, parts: &[&[u8]]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&svc.to_le_bytes());
    for part in parts {
        eat(part);
    }
    h as i64
}

/// The query pairs of a conditional URL's query string (`Patient?identifier=x`).
pub(super) fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body made before the transaction is the one stored when the
    /// change does create; when the resource turns out to exist, the version
    /// found is stamped instead. Either way the stored form decodes to the
    /// body answered.
    #[tokio::test]
    async fn a_prepared_body_is_used_only_for_a_first_version() {
        let dir = tempfile::tempdir().unwrap();
        let url = hale_store::DatabaseUrl::Sqlite(dir.path().join("hale.db"));
        let store = hale_store::Store::open(&url).await.unwrap();
        let now = 1_700_000_000_123_000;
        for (family, version) in [("First", "1"), ("Second", "2")] {
            let resource = json!({ "resourceType": "Patient", "name": [{ "family": family }] });
            let kind = prepare(ChangeKind::Upsert(resource), "p1", now, true);
            assert!(matches!(
                &kind,
                ChangeKind::Prepared { prepared, .. } if prepared.first.is_some()
            ));
            let change = Change::new("Patient", "p1", kind, "POST");
            let applied = store
                .write(move |tx| apply(tx, 1, "https://hale.test/fhir/ws/f", now, change))
                .await
                .unwrap();
            let Applied::Written { stored, created } = applied else {
                panic!("not written");
            };
            assert_eq!(created, version == "1");
            let body: Value = serde_json::from_slice(stored.body.as_deref().unwrap()).unwrap();
            assert_eq!(body["meta"]["versionId"], version);
            assert_eq!(body["id"], "p1");
            assert_eq!(body["name"][0]["family"], family);
            let current = store
                .read(|tx| resources::current(tx, 1, "Patient", "p1"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                current.body, stored.body,
                "stored form decodes to the answer"
            );
        }
    }

    #[test]
    fn etags() {
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("5"), Some(5));
        assert_eq!(parse_etag("W/\"x\""), None);
    }

    #[test]
    fn stamping_keeps_client_meta() {
        let mut r = json!({ "name": [{"family": "X"}], "resourceType": "Patient", "meta": { "tag": [{"code": "t"}], "versionId": "99" } });
        stamp(&mut r, "abc", 2, 1_709_210_096_789_000);
        assert_eq!(r["id"], "abc");
        assert_eq!(r["meta"]["versionId"], "2");
        assert_eq!(r["meta"]["lastUpdated"], "2024-02-29T12:34:56.789+00:00");
        assert_eq!(r["meta"]["tag"][0]["code"], "t");
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "name"]);
    }
}
