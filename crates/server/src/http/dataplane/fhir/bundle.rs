//! Batch and transaction bundles (`POST [base]`), at most 500 entries.
//!
//! A transaction runs in one write transaction: conditional entries are
//! resolved there, `urn:uuid:` (and other `fullUrl`) references are rewritten
//! to the ids assigned, entries run in the specification's order (DELETE,
//! POST, PUT/PATCH, GET), and any failure rolls everything back and answers
//! one OperationOutcome. A batch runs each entry on its own; a failed entry
//! gets its OperationOutcome in `response.outcome`.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use hale_fhir_store::{SearchScope, StoredResource, index, resources};
use hale_store::Tx;
use serde_json::{Value, json};

use super::outcome::{
    FhirError, FhirResult, fhir_bytes, fhir_instant, now_micros, now_rfc3339, operation_outcome,
};
use super::patch::{PatchDoc, patched};
use super::rest::{
    FhirRequest, Prefer, Return, check_id, check_json_content_type, check_type, check_valid,
    multiple_matches, parse_body,
};
use super::search::Projection;
use super::write::{self, Applied, Change, ChangeKind};

/// Azure's limit on bundle entries.
pub(super) const MAX_ENTRIES: usize = 500;

/// What one entry asks for.
#[derive(Debug, Clone)]
enum Op {
    Create {
        t: String,
        resource: Value,
        if_none_exist: Option<Vec<(String, String)>>,
    },
    Update {
        t: String,
        id: String,
        resource: Value,
        if_match: Option<String>,
    },
    ConditionalUpdate {
        t: String,
        criteria: Vec<(String, String)>,
        resource: Value,
    },
    Delete {
        t: String,
        id: String,
        purge: bool,
    },
    ConditionalDelete {
        t: String,
        criteria: Vec<(String, String)>,
        purge: bool,
    },
    Patch {
        t: String,
        id: String,
        doc: PatchDoc,
        if_match: Option<String>,
    },
    Read {
        t: String,
        id: String,
        version: Option<String>,
    },
    Search {
        t: String,
        params: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    /// `METHOD url` as the client wrote it, for error messages.
    label: String,
    full_url: Option<String>,
    op: Op,
    /// Work done before the transaction (search index entries, a create's
    /// stored body), when ids could be assigned without it.
    prepared: Option<write::Prepared>,
}

/// One entry's answer.
#[derive(Debug, Clone)]
enum Answer {
    Written {
        stored: StoredResource,
        created: bool,
    },
    Deleted {
        version: Option<i64>,
    },
    Resource(StoredResource),
    Bundle(Value),
}

fn order(op: &Op) -> u8 {
    match op {
        Op::Delete { .. } | Op::ConditionalDelete { .. } => 0,
        Op::Create { .. } => 1,
        Op::Update { .. } | Op::ConditionalUpdate { .. } | Op::Patch { .. } => 2,
        Op::Read { .. } | Op::Search { .. } => 3,
    }
}

fn is_write(op: &Op) -> bool {
    order(op) < 3
}

/// `POST [base]` with a batch or transaction Bundle.
pub(super) async fn process(req: &FhirRequest) -> FhirResult<Response> {
    check_json_content_type(&req.headers)?;
    let bundle = parse_body(&req.body, None)?;
    if bundle["resourceType"] != "Bundle" {
        return Err(FhirError::invalid(
            "Only a bundle can be submitted for batch or transaction processing.",
        ));
    }
    let transaction = match bundle["type"].as_str() {
        Some("transaction") => true,
        Some("batch") => false,
        _ => {
            return Err(FhirError::invalid(
                "Bundle type is not present. Possible values are: transaction or batch",
            ));
        }
    };
    check_bundle_elements(&bundle)?;
    let raw_entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    if raw_entries.len() > MAX_ENTRIES {
        return Err(FhirError::invalid(format!(
            "The number of entries in the bundle exceeded the configured limit of {MAX_ENTRIES}."
        )));
    }
    check_full_urls(&raw_entries)?;
    let parsed: Vec<FhirResult<Entry>> = raw_entries
        .iter()
        .map(|e| parse_entry(e, &req.base))
        .collect();
    let prefer = Prefer::parse(&req.headers);
    if transaction {
        let mut entries = Vec::with_capacity(parsed.len());
        for (i, p) in parsed.into_iter().enumerate() {
            entries.push(p.map_err(|e| in_entry(e, i, None))?);
        }
        transaction_response(req, entries, prefer).await
    } else {
        batch_response(req, parsed, prefer).await
    }
}

/// Prefixes an error's diagnostics with the entry it came from.
fn in_entry(mut e: FhirError, index: usize, label: Option<&str>) -> FhirError {
    for issue in &mut e.issues {
        if let Some(d) = issue.get("diagnostics").and_then(Value::as_str) {
            let what = label.map_or(format!("entry {index}"), |l| {
                format!("entry {index} ('{l}')")
            });
            issue["diagnostics"] = Value::String(format!("Bundle {what}: {d}"));
        }
    }
    e
}

fn parse_entry(entry: &Value, base: &str) -> FhirResult<Entry> {
    let request = entry
        .get("request")
        .ok_or_else(|| FhirError::invalid("The entry has no 'request'."))?;
    let method = request["method"]
        .as_str()
        .unwrap_or("")
        .to_ascii_uppercase();
    let url = request["url"]
        .as_str()
        .ok_or_else(|| FhirError::invalid("The entry's request has no 'url'."))?;
    let label = format!("{method} {url}");
    // Entries may use the service's absolute URL.
    let relative = url
        .strip_prefix(base)
        .map(|u| u.trim_start_matches('/'))
        .unwrap_or(url);
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let params = write::parse_query(query);
    let resource = entry.get("resource").cloned();
    let need_resource = |t: &str| -> FhirResult<Value> {
        let r = resource
            .clone()
            .ok_or_else(|| FhirError::invalid("The entry has no 'resource'."))?;
        if r["resourceType"] != t {
            return Err(FhirError::invalid(format!(
                "Resource type in the URL must match resourceType in the resource ('{t}')."
            )));
        }
        check_valid(&r)?;
        Ok(r)
    };
    let header = |name: &str| request[name].as_str().map(str::to_owned);
    let purge = params
        .iter()
        .any(|(k, v)| k == "hardDelete" && v.eq_ignore_ascii_case("true"));
    let op = match (method.as_str(), segments.as_slice()) {
        ("POST", [t]) => {
            check_type(t)?;
            Op::Create {
                t: t.to_string(),
                resource: need_resource(t)?,
                if_none_exist: header("ifNoneExist").map(|q| write::if_none_exist_criteria(t, &q)),
            }
        }
        ("PUT", [t]) if !params.is_empty() => {
            check_type(t)?;
            Op::ConditionalUpdate {
                t: t.to_string(),
                criteria: params,
                resource: need_resource(t)?,
            }
        }
        ("PUT", [t, id]) => {
            check_type(t)?;
            check_id(id)?;
            let resource = need_resource(t)?;
            if resource["id"] != *id {
                return Err(FhirError::invalid(format!(
                    "Id in the URL ('{id}') must match the id in the resource."
                )));
            }
            Op::Update {
                t: t.to_string(),
                id: id.to_string(),
                resource,
                if_match: header("ifMatch"),
            }
        }
        ("DELETE", [t, id]) => {
            check_type(t)?;
            check_id(id)?;
            Op::Delete {
                t: t.to_string(),
                id: id.to_string(),
                purge,
            }
        }
        ("DELETE", [t]) if !params.is_empty() => {
            check_type(t)?;
            Op::ConditionalDelete {
                t: t.to_string(),
                criteria: params,
                purge,
            }
        }
        ("PATCH", [t, id]) => {
            check_type(t)?;
            check_id(id)?;
            let r = resource
                .as_ref()
                .ok_or_else(|| FhirError::invalid("The PATCH entry has no 'resource'."))?;
            Op::Patch {
                t: t.to_string(),
                id: id.to_string(),
                doc: PatchDoc::from_bundle_resource(r)?,
                if_match: header("ifMatch"),
            }
        }
        ("GET", [t, id]) | ("GET", [t, id, "_history", _]) => {
            check_type(t)?;
            check_id(id)?;
            Op::Read {
                t: t.to_string(),
                id: id.to_string(),
                version: segments.get(3).map(|v| v.to_string()),
            }
        }
        ("GET", [t]) => {
            check_type(t)?;
            Op::Search {
                t: t.to_string(),
                params,
            }
        }
        _ => {
            return Err(FhirError::invalid(format!(
                "The entry's request '{label}' is not supported in a bundle."
            )));
        }
    };
    Ok(Entry {
        label,
        full_url: entry["fullUrl"].as_str().map(str::to_owned),
        op,
        prepared: None,
    })
}

/// Runs one entry in `tx`, its search index rows written. Create and
/// conditional update ids were assigned (and references rewritten) by the
/// caller. `within`: the compartment a SMART caller is confined to.
#[allow(clippy::too_many_arguments)]
fn run_entry(
    tx: &mut dyn Tx,
    svc: i64,
    base: &str,
    now: i64,
    op: Op,
    assigned_id: Option<String>,
    prepared: Option<write::Prepared>,
    within: Option<&(String, String)>,
) -> FhirResult<Answer> {
    let mut pending = index::Pending::default();
    let answer = run_entry_deferred(
        tx,
        svc,
        base,
        now,
        op,
        assigned_id,
        prepared,
        within,
        &mut pending,
    )?;
    pending.flush(tx)?;
    Ok(answer)
}

/// [`run_entry`], leaving the search index rows of what it writes in
/// `pending` (a transaction writes them all together); flushed first when
/// the entry reads the index.
#[allow(clippy::too_many_arguments)]
fn run_entry_deferred(
    tx: &mut dyn Tx,
    svc: i64,
    base: &str,
    now: i64,
    op: Op,
    assigned_id: Option<String>,
    prepared: Option<write::Prepared>,
    within: Option<&(String, String)>,
    pending: &mut index::Pending,
) -> FhirResult<Answer> {
    let upsert = |resource: Value| match prepared {
        Some(prepared) => ChangeKind::Prepared { resource, prepared },
        None => ChangeKind::Upsert(resource),
    };
    // Searches below see every version written before them.
    if matches!(
        op,
        Op::Create {
            if_none_exist: Some(_),
            ..
        } | Op::ConditionalDelete { .. }
            | Op::Search { .. }
    ) {
        pending.flush(tx)?;
    }
    let mut written = |tx: &mut dyn Tx, change: Change| -> FhirResult<Answer> {
        let change = change.within(within.cloned());
        match write::apply_deferred(tx, svc, base, now, change, pending)? {
            Applied::Written { stored, created } if !stored.deleted => {
                Ok(Answer::Written { stored, created })
            }
            Applied::Written { stored, .. } => Ok(Answer::Deleted {
                version: Some(stored.version),
            }),
            Applied::NothingToDelete | Applied::Purged => Ok(Answer::Deleted { version: None }),
        }
    };
    match op {
        Op::Create {
            t,
            resource,
            if_none_exist,
        } => {
            let conditional = if_none_exist.is_some();
            if let Some(criteria) = if_none_exist {
                let found = write::conditional_matches(
                    tx,
                    Some(svc),
                    base,
                    &t,
                    &criteria,
                    1,
                    within.cloned(),
                )?;
                match found.len() {
                    0 => {}
                    1 => {
                        let stored = found.into_iter().next().unwrap_or_else(|| unreachable!());
                        return Ok(Answer::Written {
                            stored,
                            created: false,
                        });
                    }
                    _ => return Err(multiple_matches()),
                }
            }
            let id = assigned_id.unwrap_or_else(write::new_id);
            let change = Change::new(t, id, upsert(resource), "POST");
            // Without If-None-Exist the id is a UUID just made; with it,
            // it may be that of a match resolve_ids found and an earlier
            // entry deleted, whose versions exist.
            written(tx, if conditional { change } else { change.fresh() })
        }
        Op::Update {
            t,
            id,
            resource,
            if_match,
        } => written(
            tx,
            Change::new(t, id, upsert(resource), "PUT").if_match(if_match),
        ),
        Op::ConditionalUpdate { t, resource, .. } => {
            let id = assigned_id
                .ok_or_else(|| FhirError::internal("conditional update without id", &"bug"))?;
            written(tx, Change::new(t, id, upsert(resource), "PUT"))
        }
        Op::Delete { t, id, purge } => written(
            tx,
            Change::new(
                t,
                id,
                if purge {
                    ChangeKind::Purge
                } else {
                    ChangeKind::Delete
                },
                "DELETE",
            ),
        ),
        Op::ConditionalDelete { t, criteria, purge } => {
            let found =
                write::conditional_matches(tx, Some(svc), base, &t, &criteria, 1, within.cloned())?;
            if found.len() > 1 {
                return Err(multiple_matches());
            }
            for m in found {
                written(
                    tx,
                    Change::new(
                        t.clone(),
                        m.id,
                        if purge {
                            ChangeKind::Purge
                        } else {
                            ChangeKind::Delete
                        },
                        "DELETE",
                    ),
                )?;
            }
            Ok(Answer::Deleted { version: None })
        }
        Op::Patch {
            t,
            id,
            doc,
            if_match,
        } => {
            write::lock_resource(tx, svc, &t, &id)?;
            let current = match resources::current(tx, svc, &t, &id)? {
                None => return Err(FhirError::resource_not_found(&t, &id)),
                Some(c) if c.deleted => return Err(FhirError::gone(&t, &id, c.version)),
                Some(c) => c,
            };
            let resource = patched(&current, &doc)?;
            written(
                tx,
                Change::new(t, id, ChangeKind::Upsert(resource), "PATCH")
                    .if_match(if_match)
                    .existing()
                    .based_on(current.version),
            )
        }
        Op::Read { t, id, version } => {
            let found = match &version {
                Some(v) => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| FhirError::resource_not_found(&t, &id))?;
                    resources::version(tx, svc, &t, &id, n)?
                }
                None => resources::current(tx, svc, &t, &id)?,
            };
            // A confined caller reads what its compartment holds now, as
            // a read outside a bundle does.
            let visible = |tx: &mut dyn Tx| -> FhirResult<bool> {
                let Some((ctype, cid)) = within else {
                    return Ok(true);
                };
                let current = resources::current(tx, svc, &t, &id)?;
                Ok(current.is_some_and(|c| {
                    hale_fhir_store::search::stored_in_compartment(ctype, cid, &c, base)
                }))
            };
            match found {
                None => Err(FhirError::resource_not_found(&t, &id)),
                Some(s) if !s.deleted && !visible(tx)? => {
                    Err(FhirError::resource_not_found(&t, &id))
                }
                Some(s) if s.deleted => Err(FhirError::gone(&t, &id, s.version)),
                Some(s) => Ok(Answer::Resource(s)),
            }
        }
        Op::Search { t, params } => {
            let query = hale_fhir_model::parse_search(Some(&t), &params, false)
                .map_err(|issues| FhirError::from_issues(StatusCode::BAD_REQUEST, &issues))?;
            let scope = SearchScope {
                resource_types: vec![t],
                compartment: None,
                within: within.cloned(),
            };
            let page = hale_fhir_store::search::search(tx, svc, &scope, &query, base)?;
            let projection = Projection::of(&query);
            let entries: Vec<Value> = page
                .matches
                .iter()
                .chain(page.included.iter())
                .filter_map(|s| {
                    let body: Value = serde_json::from_slice(s.body.as_deref()?).ok()?;
                    Some(json!({
                        "fullUrl": format!("{base}/{}/{}", s.resource_type, s.id),
                        "resource": projection.apply(body),
                    }))
                })
                .collect();
            let mut bundle = json!({
                "resourceType": "Bundle",
                "id": uuid::Uuid::new_v4().to_string(),
                "meta": { "lastUpdated": now_rfc3339() },
                "type": "searchset",
                "entry": entries,
            });
            if let Some(total) = page.total {
                bundle["total"] = json!(total);
            }
            Ok(Answer::Bundle(bundle))
        }
    }
}

fn no_transaction() -> FhirError {
    FhirError::internal(
        "a conditional entry was resolved outside its transaction",
        &"bug",
    )
}

/// Whether resolving the entries' ids needs the database (conditional
/// create or update).
fn needs_transaction(entries: &[Entry]) -> bool {
    entries.iter().any(|e| {
        matches!(
            e.op,
            Op::Create {
                if_none_exist: Some(_),
                ..
            } | Op::ConditionalUpdate { .. }
        ) || written_resource(&e.op).is_some_and(|r| !write::conditional_references(r).is_empty())
    })
}

/// The resource a create or update entry writes.
fn written_resource(op: &Op) -> Option<&Value> {
    match op {
        Op::Create { resource, .. }
        | Op::Update { resource, .. }
        | Op::ConditionalUpdate { resource, .. } => Some(resource),
        _ => None,
    }
}

/// The resource an entry writes or deletes, by type and id, when known
/// before it runs.
fn written_identity<'a>(op: &'a Op, id: Option<&'a str>) -> Option<(&'a str, &'a str)> {
    match op {
        Op::Create { t, .. } | Op::Update { t, .. } | Op::ConditionalUpdate { t, .. } => {
            id.map(|id| (t.as_str(), id))
        }
        Op::Delete { t, id, .. } | Op::Patch { t, id, .. } => Some((t, id)),
        _ => None,
    }
}

/// A transaction may change each resource once (R4 http.html: identities
/// that overlap in the DELETE, POST and PUT/PATCH steps fail it).
fn check_distinct(entries: &[Entry], ids: &[Option<String>]) -> FhirResult<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let id = ids.get(i).and_then(Option::as_deref);
        if let Some((t, id)) = written_identity(&entry.op, id)
            && !seen.insert((t, id))
        {
            return Err(in_entry(
                FhirError::invalid(format!(
                    "Bundle contains multiple entries that refers to the same resource '{t}/{id}'."
                )),
                i,
                Some(&entry.label),
            ));
        }
    }
    Ok(())
}

/// The Bundle's own elements and its entries' are R4's (the resources in
/// the entries are validated as each is run): an unknown one is a 400, as
/// it is in any resource.
fn check_bundle_elements(bundle: &Value) -> FhirResult<()> {
    const BUNDLE: [&str; 12] = [
        "resourceType",
        "id",
        "meta",
        "implicitRules",
        "language",
        "identifier",
        "type",
        "timestamp",
        "total",
        "link",
        "entry",
        "signature",
    ];
    const ENTRY: [&str; 9] = [
        "id",
        "extension",
        "modifierExtension",
        "link",
        "fullUrl",
        "resource",
        "search",
        "request",
        "response",
    ];
    let unknown = |obj: &Value, known: &[&str], at: &str| -> FhirResult<()> {
        match obj.as_object() {
            Some(o) => match o.keys().find(|k| !known.contains(&k.as_str())) {
                Some(k) => Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "structure",
                    format!("Unrecognized element '{k}' in {at}"),
                )),
                None => Ok(()),
            },
            None => Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "structure",
                format!("{at} must be an object."),
            )),
        }
    };
    unknown(bundle, &BUNDLE, "the Bundle")?;
    if let Some(entries) = bundle.get("entry") {
        let Some(entries) = entries.as_array() else {
            return Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "structure",
                "Bundle.entry must be an array.",
            ));
        };
        for (i, e) in entries.iter().enumerate() {
            unknown(e, &ENTRY, &format!("Bundle.entry[{i}]"))?;
        }
    }
    Ok(())
}

/// Entries' `fullUrl`s are unique within a bundle (bdl-7), but for versions
/// of one resource.
fn check_full_urls(raw_entries: &[Value]) -> FhirResult<()> {
    let mut seen = std::collections::HashSet::new();
    for entry in raw_entries {
        let Some(full_url) = entry["fullUrl"].as_str() else {
            continue;
        };
        let version = entry["resource"]["meta"]["versionId"].as_str();
        if !seen.insert((full_url, version)) {
            return Err(FhirError::invalid(format!(
                "Bundle contains multiple entries with the fullUrl '{full_url}'."
            )));
        }
    }
    Ok(())
}

/// Extracts the index entries of creates and updates whose ids are known
/// (their references already rewritten), before the transaction.
fn prepare(entries: &mut [Entry], ids: &[Option<String>], now: i64) {
    for (entry, id) in entries.iter_mut().zip(ids) {
        let Some(id) = id else { continue };
        let (resource, create) = match &mut entry.op {
            Op::Create { resource, .. } => (resource, true),
            Op::Update { resource, .. } => (resource, false),
            _ => continue,
        };
        let (stamped, prepared) = write::prepare_upsert(std::mem::take(resource), id, now, create);
        *resource = stamped;
        entry.prepared = Some(prepared);
    }
}

/// Resolves the ids of creates and conditional updates and rewrites the
/// references to them, inside the transaction.
fn resolve_ids(
    mut tx: Option<&mut dyn Tx>,
    svc: i64,
    base: &str,
    entries: &mut [Entry],
    within: Option<&(String, String)>,
) -> FhirResult<Vec<Option<String>>> {
    let mut ids = Vec::with_capacity(entries.len());
    let mut map: HashMap<String, String> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let id = match &entry.op {
            Op::Create {
                t, if_none_exist, ..
            } => {
                let mut id = write::new_id();
                if let Some(criteria) = if_none_exist {
                    let tx = tx.as_deref_mut().ok_or_else(no_transaction)?;
                    let found = write::conditional_matches(
                        tx,
                        Some(svc),
                        base,
                        t,
                        criteria,
                        1,
                        within.cloned(),
                    )
                    .map_err(|e| in_entry(e, i, Some(&entry.label)))?;
                    if let [one] = found.as_slice() {
                        id = one.id.clone();
                    }
                }
                Some((t.clone(), id))
            }
            Op::ConditionalUpdate {
                t,
                criteria,
                resource,
            } => {
                let tx = tx.as_deref_mut().ok_or_else(no_transaction)?;
                let found = write::conditional_matches(
                    tx,
                    Some(svc),
                    base,
                    t,
                    criteria,
                    1,
                    within.cloned(),
                )
                .map_err(|e| in_entry(e, i, Some(&entry.label)))?;
                let id = match found.as_slice() {
                    [] => resource["id"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(write::new_id),
                    [one] => one.id.clone(),
                    _ => return Err(in_entry(multiple_matches(), i, Some(&entry.label))),
                };
                Some((t.clone(), id))
            }
            Op::Update { t, id, .. } => Some((t.clone(), id.clone())),
            _ => None,
        };
        if let (Some((t, id)), Some(full)) = (&id, &entry.full_url) {
            map.insert(full.clone(), format!("{t}/{id}"));
        }
        ids.push(id.map(|(_, id)| id));
    }
    // Conditional references name what was stored before the bundle.
    if let Some(tx) = tx {
        for (i, entry) in entries.iter().enumerate() {
            let Some(resource) = written_resource(&entry.op) else {
                continue;
            };
            let mut references = write::conditional_references(resource);
            references.retain(|r| !map.contains_key(r));
            let resolved =
                write::resolve_conditional_references(tx, Some(svc), base, &references, within)
                    .map_err(|e| in_entry(e, i, Some(&entry.label)))?;
            map.extend(resolved);
        }
    }
    if !map.is_empty() {
        for entry in entries.iter_mut() {
            match &mut entry.op {
                Op::Create { resource, .. }
                | Op::Update { resource, .. }
                | Op::ConditionalUpdate { resource, .. } => {
                    write::rewrite_references(resource, &map)
                }
                _ => {}
            }
        }
    }
    Ok(ids)
}

async fn transaction_response(
    req: &FhirRequest,
    mut entries: Vec<Entry>,
    prefer: Prefer,
) -> FhirResult<Response> {
    let service = req.service.id;
    let base = req.base.clone();
    let now = now_micros() / 1000 * 1000;
    let count = entries.len();
    let within = req.within();
    // Without conditional entries, ids are assigned and the index entries
    // extracted here, in parallel with other requests, not in the writer.
    let known_ids = if needs_transaction(&entries) {
        None
    } else {
        let ids = resolve_ids(None, 0, &base, &mut entries, None)?;
        prepare(&mut entries, &ids, now);
        Some(ids)
    };
    let answers = req
        .state
        .store
        .write(move |tx| -> FhirResult<Vec<Answer>> {
            let svc = write::partition(tx, service, true)?.unwrap_or_default();
            let ids = match known_ids {
                Some(ids) => ids,
                None => resolve_ids(Some(&mut *tx), svc, &base, &mut entries, within.as_ref())?,
            };
            check_distinct(&entries, &ids)?;
            let mut slots: Vec<Option<Answer>> = vec![None; count];
            let mut indexes: Vec<usize> = (0..count).collect();
            indexes.sort_by_key(|&i| order(&entries[i].op));
            // Each entry is run once: moved out, not copied.
            let mut entries: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
            // The index rows of every entry, written together.
            let mut pending = index::Pending::default();
            // Runs of plain creates (no If-None-Exist, prepared before the
            // transaction) are written together, at the place of the run in
            // the order, so that what the other entries see is unchanged.
            let mut run: Vec<(usize, write::FreshCreate)> = Vec::new();
            let write_run = |tx: &mut dyn Tx,
                             run: &mut Vec<(usize, write::FreshCreate)>,
                             slots: &mut Vec<Option<Answer>>,
                             pending: &mut index::Pending|
             -> FhirResult<()> {
                if run.is_empty() {
                    return Ok(());
                }
                let (at, creates): (Vec<usize>, Vec<write::FreshCreate>) =
                    std::mem::take(run).into_iter().unzip();
                // What fails here is the database, for the run as a whole
                // (the entries were checked before the transaction): the
                // error names no entry.
                let stored = write::create_fresh(tx, svc, &base, now, creates, pending)?;
                for (i, stored) in at.into_iter().zip(stored) {
                    slots[i] = Some(Answer::Written {
                        stored,
                        created: true,
                    });
                }
                Ok(())
            };
            for i in indexes {
                let Some(mut entry) = entries[i].take() else {
                    continue;
                };
                // A confined caller's creates go one by one through the
                // compartment check.
                if within.is_none()
                    && let (
                        Op::Create {
                            t,
                            if_none_exist: None,
                            ..
                        },
                        Some(id),
                        Some(prepared),
                    ) = (&entry.op, &ids[i], entry.prepared.take())
                {
                    match write::FreshCreate::of(t.clone(), id.clone(), prepared) {
                        Ok(create) => {
                            run.push((i, create));
                            continue;
                        }
                        Err(prepared) => entry.prepared = Some(prepared),
                    }
                }
                write_run(tx, &mut run, &mut slots, &mut pending)?;
                let answer = run_entry_deferred(
                    tx,
                    svc,
                    &base,
                    now,
                    entry.op,
                    ids[i].clone(),
                    entry.prepared,
                    within.as_ref(),
                    &mut pending,
                )
                .map_err(|e| in_entry(e, i, Some(&entry.label)))?;
                slots[i] = Some(answer);
            }
            write_run(tx, &mut run, &mut slots, &mut pending)?;
            pending.flush(tx)?;
            Ok(slots.into_iter().flatten().collect())
        })
        .await?;
    Ok(response_bundle(
        req,
        "transaction-response",
        answers.into_iter().map(Ok).collect(),
        prefer,
    ))
}

async fn batch_response(
    req: &FhirRequest,
    parsed: Vec<FhirResult<Entry>>,
    prefer: Prefer,
) -> FhirResult<Response> {
    let mut answers = Vec::with_capacity(parsed.len());
    for (i, entry) in parsed.into_iter().enumerate() {
        let answer = match entry {
            Err(e) => Err(e),
            Ok(entry) => run_alone(req, entry).await,
        };
        answers.push(answer.map_err(|e| in_entry(e, i, None)));
    }
    Ok(response_bundle(req, "batch-response", answers, prefer))
}

/// One batch entry in its own transaction.
async fn run_alone(req: &FhirRequest, mut entry: Entry) -> FhirResult<Answer> {
    let service = req.service.id;
    let base = req.base.clone();
    let now = now_micros() / 1000 * 1000;
    let within = req.within();
    if is_write(&entry.op) {
        req.state
            .store
            .write(move |tx| {
                let svc = write::partition(tx, service, true)?.unwrap_or_default();
                let ids = resolve_ids(
                    Some(&mut *tx),
                    svc,
                    &base,
                    std::slice::from_mut(&mut entry),
                    within.as_ref(),
                )?;
                run_entry(
                    tx,
                    svc,
                    &base,
                    now,
                    entry.op,
                    ids.into_iter().next().flatten(),
                    None,
                    within.as_ref(),
                )
            })
            .await
    } else {
        req.state
            .store
            .read(move |tx| {
                let Some(svc) = write::partition(tx, service, false)? else {
                    return match entry.op {
                        Op::Read { t, id, .. } => Err(FhirError::resource_not_found(&t, &id)),
                        _ => run_entry(tx, -1, &base, now, entry.op, None, None, None),
                    };
                };
                run_entry(tx, svc, &base, now, entry.op, None, None, within.as_ref())
            })
            .await
    }
}

fn response_bundle(
    req: &FhirRequest,
    kind: &str,
    answers: Vec<FhirResult<Answer>>,
    prefer: Prefer,
) -> Response {
    let base = &req.base;
    let entries: Vec<Value> = answers
        .into_iter()
        .map(|answer| match answer {
            Ok(Answer::Written { stored, created }) => {
                let mut entry = json!({
                    "fullUrl": format!("{base}/{}/{}", stored.resource_type, stored.id),
                    "response": {
                        "status": if created { "201 Created" } else { "200 OK" },
                        "location": format!("{base}/{}/{}/_history/{}", stored.resource_type, stored.id, stored.version),
                        "etag": format!("W/\"{}\"", stored.version),
                        "lastModified": fhir_instant(stored.last_updated),
                    }
                });
                if prefer.ret == Return::Representation
                    && let Some(body) = stored.body.as_deref().and_then(|b| serde_json::from_slice::<Value>(b).ok())
                {
                    entry["resource"] = body;
                }
                entry
            }
            Ok(Answer::Deleted { version }) => {
                let mut response = json!({ "status": "204 No Content" });
                if let Some(v) = version {
                    response["etag"] = json!(format!("W/\"{v}\""));
                }
                json!({ "response": response })
            }
            Ok(Answer::Resource(stored)) => json!({
                "fullUrl": format!("{base}/{}/{}", stored.resource_type, stored.id),
                "resource": stored.body.as_deref().and_then(|b| serde_json::from_slice::<Value>(b).ok()),
                "response": {
                    "status": "200 OK",
                    "etag": format!("W/\"{}\"", stored.version),
                    "lastModified": fhir_instant(stored.last_updated),
                }
            }),
            Ok(Answer::Bundle(bundle)) => json!({
                "resource": bundle,
                "response": { "status": "200 OK" }
            }),
            Err(e) => json!({
                "response": {
                    "status": format!("{} {}", e.status.as_u16(), e.status.canonical_reason().unwrap_or("")).trim_end().to_owned(),
                    "outcome": operation_outcome(&req.headers, &e.issues),
                }
            }),
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": now_rfc3339() },
        "type": kind,
        "entry": entries,
    });
    fhir_bytes(StatusCode::OK, bundle.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_rewritten_everywhere() {
        let mut r = json!({
            "resourceType": "Observation",
            "subject": { "reference": "urn:uuid:1" },
            "performer": [{ "reference": "urn:uuid:2" }, { "reference": "Practitioner/x" }],
            "component": [{ "extension": [{ "valueReference": { "reference": "urn:uuid:1" } }] }]
        });
        let map = HashMap::from([
            ("urn:uuid:1".to_owned(), "Patient/a".to_owned()),
            ("urn:uuid:2".to_owned(), "Practitioner/b".to_owned()),
        ]);
        write::rewrite_references(&mut r, &map);
        assert_eq!(r["subject"]["reference"], "Patient/a");
        assert_eq!(r["performer"][0]["reference"], "Practitioner/b");
        assert_eq!(r["performer"][1]["reference"], "Practitioner/x");
        assert_eq!(
            r["component"][0]["extension"][0]["valueReference"]["reference"],
            "Patient/a"
        );
    }

    #[test]
    fn entries_parse_and_refuse() {
        let base = "https://h/fhir/ws/f";
        let e = parse_entry(
            &json!({ "request": { "method": "GET", "url": "https://h/fhir/ws/f/Patient/1" } }),
            base,
        )
        .unwrap();
        assert!(matches!(e.op, Op::Read { ref id, .. } if id == "1"));
        let e = parse_entry(
            &json!({ "request": { "method": "DELETE", "url": "Patient?identifier=x" } }),
            base,
        )
        .unwrap();
        assert!(matches!(e.op, Op::ConditionalDelete { .. }));
        assert!(
            parse_entry(
                &json!({ "request": { "method": "POST", "url": "Patient" } }),
                base
            )
            .is_err()
        );
        assert!(parse_entry(&json!({ "request": { "method": "POST", "url": "Nope" }, "resource": {"resourceType": "Nope"} }), base).is_err());
        assert!(parse_entry(&json!({ "request": { "method": "POST", "url": "Patient" }, "resource": {"resourceType": "Observation"} }), base).is_err());
        assert!(parse_entry(&json!({ "request": { "method": "PUT", "url": "Patient/1" }, "resource": {"resourceType": "Patient", "id": "2"} }), base).is_err());
    }
}
