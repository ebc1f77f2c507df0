//! PATCH: JSON Patch (`application/json-patch+json`, RFC 6902, by the
//! `json-patch` crate) and FHIRPath Patch (a `Parameters` resource of
//! `operation`s, `application/fhir+json`). The patched resource is validated
//! like an update and written with the same `If-Match` check, read and write
//! in one transaction.

use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;
use hale_fhir_store::StoredResource;
use serde_json::{Map, Value};

use super::outcome::{FhirError, FhirResult, now_micros};
use super::rest::{FhirRequest, check_valid, multiple_matches, written};
use super::write::{self, Applied, Change, ChangeKind};

/// A patch document of either kind.
#[derive(Debug, Clone)]
pub(super) enum PatchDoc {
    Json(json_patch::Patch),
    FhirPath(Vec<Operation>),
}

#[derive(Debug, Clone)]
pub(super) struct Operation {
    kind: String,
    path: String,
    name: Option<String>,
    value: Option<Value>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

impl PatchDoc {
    /// From a PATCH request's body and content type.
    pub fn from_request(content_type: &str, body: &[u8]) -> FhirResult<PatchDoc> {
        let ct = content_type.to_ascii_lowercase();
        if ct.starts_with("application/json-patch+json") {
            let patch: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                FhirError::invalid(format!("The JSON Patch document is invalid: {e}."))
            })?;
            Ok(PatchDoc::Json(patch))
        } else if ct.starts_with("application/fhir+json") || ct.starts_with("application/json") {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                FhirError::invalid(format!("The request body is not valid JSON: {e}."))
            })?;
            PatchDoc::from_parameters(&value)
        } else {
            Err(FhirError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "not-supported",
                "PATCH takes application/json-patch+json (JSON Patch) or application/fhir+json (FHIRPath Patch).",
            ))
        }
    }

    /// From a bundle entry's resource: a `Binary` carrying a JSON Patch, or a
    /// FHIRPath Patch `Parameters`.
    pub fn from_bundle_resource(resource: &Value) -> FhirResult<PatchDoc> {
        match resource["resourceType"].as_str() {
            Some("Binary") => {
                let data = resource["data"].as_str().unwrap_or("");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|_| FhirError::invalid("The Binary patch's data is not base64."))?;
                PatchDoc::from_request("application/json-patch+json", &bytes)
            }
            Some("Parameters") => PatchDoc::from_parameters(resource),
            _ => Err(FhirError::invalid(
                "A PATCH entry carries a Binary (JSON Patch) or a Parameters (FHIRPath Patch) resource.",
            )),
        }
    }

    fn from_parameters(value: &Value) -> FhirResult<PatchDoc> {
        if value["resourceType"] != "Parameters" {
            return Err(FhirError::invalid(
                "A FHIRPath Patch is a Parameters resource of 'operation' parameters.",
            ));
        }
        let mut ops = Vec::new();
        for p in value["parameter"].as_array().into_iter().flatten() {
            if p["name"] != "operation" {
                return Err(FhirError::invalid(format!(
                    "Unknown FHIRPath Patch parameter '{}'.",
                    p["name"].as_str().unwrap_or("")
                )));
            }
            let parts = p["part"].as_array().cloned().unwrap_or_default();
            let get = |name: &str| parts.iter().find(|x| x["name"] == name);
            let text = |name: &str| {
                get(name).and_then(primitive_value).map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
            };
            let number = |name: &str| {
                get(name)
                    .and_then(primitive_value)
                    .and_then(|v| v.as_u64())
                    .map(|n| n as usize)
            };
            let op = Operation {
                kind: text("type").ok_or_else(|| {
                    FhirError::invalid("A FHIRPath Patch operation needs a 'type'.")
                })?,
                path: text("path").ok_or_else(|| {
                    FhirError::invalid("A FHIRPath Patch operation needs a 'path'.")
                })?,
                name: text("name"),
                value: get("value").map(part_value),
                index: number("index"),
                source: number("source"),
                destination: number("destination"),
            };
            ops.push(op);
        }
        Ok(PatchDoc::FhirPath(ops))
    }

    /// The patched resource.
    pub fn apply(&self, mut resource: Value) -> FhirResult<Value> {
        match self {
            PatchDoc::Json(patch) => {
                json_patch::patch(&mut resource, patch).map_err(|e| {
                    FhirError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "processing",
                        format!("The JSON Patch could not be applied: {e}."),
                    )
                })?;
                Ok(resource)
            }
            PatchDoc::FhirPath(ops) => {
                for op in ops {
                    apply_operation(&mut resource, op)?;
                }
                Ok(resource)
            }
        }
    }
}

/// The `value[x]` of a Parameters part, if it has one.
fn primitive_value(part: &Value) -> Option<Value> {
    part.as_object()?
        .iter()
        .find(|(k, _)| k.starts_with("value"))
        .map(|(_, v)| v.clone())
}

/// A part's value: its `value[x]`, or an object built from its sub-parts.
fn part_value(part: &Value) -> Value {
    if let Some(v) = primitive_value(part) {
        return v;
    }
    let mut obj = Map::new();
    for sub in part["part"].as_array().into_iter().flatten() {
        let Some(name) = sub["name"].as_str() else {
            continue;
        };
        let v = part_value(sub);
        match obj.get_mut(name) {
            Some(Value::Array(a)) => a.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                obj.insert(name.to_owned(), v);
            }
        }
    }
    Value::Object(obj)
}

fn unprocessable(text: String) -> FhirError {
    FhirError::new(StatusCode::BAD_REQUEST, "processing", text)
}

/// One step of a simple FHIRPath path: an element name, optionally indexed.
struct Step {
    name: String,
    index: Option<usize>,
}

/// Parses `Patient.name[0].given` (the form FHIRPath Patch paths take in
/// practice; functions such as `where()` are refused with a clear error).
fn parse_path(path: &str) -> FhirResult<Vec<Step>> {
    let mut steps = Vec::new();
    for (i, seg) in path.split('.').enumerate() {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => {
                let idx = rest
                    .strip_suffix(']')
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(|| unprocessable(format!("The path '{path}' has a bad index.")))?;
                (n, Some(idx))
            }
            None => (seg, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(unprocessable(format!(
                "The FHIRPath Patch path '{path}' is not supported: use element names and [n] indexes."
            )));
        }
        if i == 0 && name.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        steps.push(Step {
            name: name.to_owned(),
            index,
        });
    }
    Ok(steps)
}

/// The single node a path selects.
fn select<'a>(root: &'a mut Value, steps: &[Step], path: &str) -> FhirResult<&'a mut Value> {
    let mut node = root;
    for step in steps {
        let next = node
            .get_mut(&step.name)
            .ok_or_else(|| unprocessable(format!("The path '{path}' selects nothing.")))?;
        node = match next {
            Value::Array(a) => {
                let i = match step.index {
                    Some(i) => i,
                    None if a.len() == 1 => 0,
                    None => {
                        return Err(unprocessable(format!(
                            "The path '{path}' selects more than one element."
                        )));
                    }
                };
                a.get_mut(i)
                    .ok_or_else(|| unprocessable(format!("The path '{path}' selects nothing.")))?
            }
            v if step.index.unwrap_or(0) == 0 => v,
            _ => return Err(unprocessable(format!("The path '{path}' selects nothing."))),
        };
    }
    Ok(node)
}

fn apply_operation(resource: &mut Value, op: &Operation) -> FhirResult<()> {
    let steps = parse_path(&op.path)?;
    let need_value = || {
        op.value
            .clone()
            .ok_or_else(|| unprocessable(format!("The '{}' operation needs a 'value'.", op.kind)))
    };
    match op.kind.as_str() {
        "add" => {
            let name = op
                .name
                .clone()
                .ok_or_else(|| unprocessable("The 'add' operation needs a 'name'.".into()))?;
            let value = need_value()?;
            let target = select(resource, &steps, &op.path)?;
            let obj = target.as_object_mut().ok_or_else(|| {
                unprocessable(format!(
                    "The path '{}' is not an element with children.",
                    op.path
                ))
            })?;
            match obj.get_mut(&name) {
                Some(Value::Array(a)) => a.push(value),
                Some(_) => {
                    return Err(unprocessable(format!(
                        "The element '{name}' already has a value; use 'replace'."
                    )));
                }
                None => {
                    let is_array = resource_is_array(&op.path, &name);
                    let obj = select(resource, &steps, &op.path)?
                        .as_object_mut()
                        .ok_or_else(|| unprocessable("unreachable".into()))?;
                    obj.insert(
                        name,
                        if is_array {
                            Value::Array(vec![value])
                        } else {
                            value
                        },
                    );
                }
            }
        }
        "insert" => {
            let value = need_value()?;
            let index = op
                .index
                .ok_or_else(|| unprocessable("The 'insert' operation needs an 'index'.".into()))?;
            let (last, parent) = steps
                .split_last()
                .ok_or_else(|| unprocessable("The 'insert' path must name a list.".into()))?;
            let target = select(resource, parent, &op.path)?;
            let list = target
                .get_mut(&last.name)
                .and_then(Value::as_array_mut)
                .ok_or_else(|| unprocessable(format!("The path '{}' is not a list.", op.path)))?;
            if index > list.len() {
                return Err(unprocessable(format!("The index {index} is out of range.")));
            }
            list.insert(index, value);
        }
        "delete" => {
            let (last, parent) = steps
                .split_last()
                .ok_or_else(|| unprocessable("The 'delete' path must name an element.".into()))?;
            let Ok(target) = select(resource, parent, &op.path) else {
                return Ok(()); // nothing to delete
            };
            let Some(obj) = target.as_object_mut() else {
                return Ok(());
            };
            match (obj.get_mut(&last.name), last.index) {
                (Some(Value::Array(a)), Some(i)) if i < a.len() => {
                    a.remove(i);
                    if a.is_empty() {
                        obj.remove(&last.name);
                    }
                }
                (Some(Value::Array(a)), None) if a.len() > 1 => {
                    return Err(unprocessable(format!(
                        "The path '{}' selects more than one element.",
                        op.path
                    )));
                }
                (Some(_), None) => {
                    obj.remove(&last.name);
                }
                _ => {}
            }
        }
        "replace" => {
            let value = need_value()?;
            let target = select(resource, &steps, &op.path)?;
            *target = value;
        }
        "move" => {
            let (source, destination) = op.source.zip(op.destination).ok_or_else(|| {
                unprocessable("The 'move' operation needs 'source' and 'destination'.".into())
            })?;
            let (last, parent) = steps
                .split_last()
                .ok_or_else(|| unprocessable("The 'move' path must name a list.".into()))?;
            let target = select(resource, parent, &op.path)?;
            let list = target
                .get_mut(&last.name)
                .and_then(Value::as_array_mut)
                .ok_or_else(|| unprocessable(format!("The path '{}' is not a list.", op.path)))?;
            if source >= list.len() || destination >= list.len() {
                return Err(unprocessable("The move indexes are out of range.".into()));
            }
            let item = list.remove(source);
            list.insert(destination, item);
        }
        other => {
            return Err(unprocessable(format!(
                "Unknown FHIRPath Patch operation type '{other}'."
            )));
        }
    }
    Ok(())
}

/// Whether element `name` under `path` repeats (from the R4 definitions).
fn resource_is_array(path: &str, name: &str) -> bool {
    let mut segments = path.split('.').map(|s| s.split('[').next().unwrap_or(s));
    let Some(root) = segments.next() else {
        return false;
    };
    let rest: Vec<&str> = segments.chain(std::iter::once(name)).collect();
    hale_fhir_model::r4()
        .type_def(root)
        .and_then(|t| t.element(&rest.join(".")))
        .is_some_and(|e| e.is_array())
}

fn content_type(req: &FhirRequest) -> &str {
    req.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Patches `current` and checks the result is still the same, valid resource.
pub(super) fn patched(current: &StoredResource, doc: &PatchDoc) -> FhirResult<Value> {
    let body: Value = serde_json::from_slice(current.body.as_deref().unwrap_or(b"{}"))
        .map_err(|e| FhirError::internal("A stored resource could not be read", &e))?;
    let out = doc.apply(body)?;
    if out["resourceType"] != current.resource_type.as_str() || out["id"] != current.id.as_str() {
        return Err(FhirError::invalid(
            "A patch may not change the resource's type or id.",
        ));
    }
    check_valid(&out)?;
    Ok(out)
}

/// `PATCH [type]/[id]`.
pub(super) async fn patch(req: &FhirRequest, t: &str, id: &str) -> FhirResult<Response> {
    let doc = PatchDoc::from_request(content_type(req), &req.body)?;
    run(req, t, Target::Id(id.to_owned()), doc).await
}

/// `PATCH [type]?criteria`.
pub(super) async fn conditional_patch(
    req: &FhirRequest,
    t: &str,
    criteria: &[(String, String)],
) -> FhirResult<Response> {
    let doc = PatchDoc::from_request(content_type(req), &req.body)?;
    run(req, t, Target::Criteria(criteria.to_vec()), doc).await
}

enum Target {
    Id(String),
    Criteria(Vec<(String, String)>),
}

async fn run(req: &FhirRequest, t: &str, target: Target, doc: PatchDoc) -> FhirResult<Response> {
    let service = req.service.id;
    let base = req.base.clone();
    let ty = t.to_owned();
    let now = now_micros() / 1000 * 1000;
    let expected = req
        .headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let within = req.within();
    let stored = req
        .state
        .store
        .write(move |tx| -> FhirResult<StoredResource> {
            let svc = write::partition(tx, service, true)?.unwrap_or_default();
            let id = match target {
                Target::Id(id) => id,
                Target::Criteria(criteria) => {
                    let found = write::conditional_matches(
                        tx,
                        Some(svc),
                        &base,
                        &ty,
                        &criteria,
                        1,
                        within.clone(),
                    )?;
                    match found.as_slice() {
                        [one] => one.id.clone(),
                        [] => {
                            return Err(FhirError::not_found(
                                "No resource matches the search criteria of the conditional patch.",
                            ));
                        }
                        _ => return Err(multiple_matches()),
                    }
                }
            };
            write::lock_resource(tx, svc, &ty, &id)?;
            let current = hale_fhir_store::resources::current(tx, svc, &ty, &id)?;
            let current = match current {
                None => return Err(FhirError::resource_not_found(&ty, &id)),
                Some(c) if c.deleted => return Err(FhirError::gone(&ty, &id, c.version)),
                Some(c) => c,
            };
            let resource = patched(&current, &doc)?;
            let change = Change::new(ty, id, ChangeKind::Upsert(resource), "PATCH")
                .if_match(expected)
                .existing()
                .based_on(current.version)
                .within(within);
            match write::apply(tx, svc, &base, now, change)? {
                Applied::Written { stored, .. } => Ok(stored),
                _ => Err(FhirError::internal("patch wrote nothing", &"no version")),
            }
        })
        .await?;
    Ok(written(req, &stored, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fhirpath(ops: Value) -> PatchDoc {
        PatchDoc::from_parameters(&json!({ "resourceType": "Parameters", "parameter": ops }))
            .unwrap()
    }

    #[test]
    fn fhirpath_patch_operations() {
        let patient = json!({ "resourceType": "Patient", "id": "p", "name": [{"family": "A", "given": ["x", "y"]}], "active": true });
        let doc = fhirpath(json!([
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "replace" },
                { "name": "path", "valueString": "Patient.active" },
                { "name": "value", "valueBoolean": false } ] },
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "add" },
                { "name": "path", "valueString": "Patient" },
                { "name": "name", "valueString": "birthDate" },
                { "name": "value", "valueDate": "1990-01-01" } ] },
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "add" },
                { "name": "path", "valueString": "Patient" },
                { "name": "name", "valueString": "telecom" },
                { "name": "value", "part": [
                    { "name": "system", "valueCode": "phone" },
                    { "name": "value", "valueString": "555" } ] } ] },
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "insert" },
                { "name": "path", "valueString": "Patient.name[0].given" },
                { "name": "index", "valueInteger": 0 },
                { "name": "value", "valueString": "w" } ] },
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "move" },
                { "name": "path", "valueString": "Patient.name[0].given" },
                { "name": "source", "valueInteger": 2 },
                { "name": "destination", "valueInteger": 0 } ] },
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "delete" },
                { "name": "path", "valueString": "Patient.name[0].family" } ] }
        ]));
        let out = doc.apply(patient).unwrap();
        assert_eq!(out["active"], false);
        assert_eq!(out["birthDate"], "1990-01-01");
        assert_eq!(
            out["telecom"],
            json!([{ "system": "phone", "value": "555" }])
        );
        assert_eq!(out["name"][0]["given"], json!(["y", "w", "x"]));
        assert!(out["name"][0].get("family").is_none());
    }

    #[test]
    fn fhirpath_patch_errors() {
        let patient = json!({ "resourceType": "Patient", "id": "p" });
        let doc = fhirpath(json!([{ "name": "operation", "part": [
            { "name": "type", "valueCode": "replace" },
            { "name": "path", "valueString": "Patient.birthDate" },
            { "name": "value", "valueDate": "2000" } ] }]));
        assert_eq!(
            doc.apply(patient.clone()).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let doc = fhirpath(json!([{ "name": "operation", "part": [
            { "name": "type", "valueCode": "replace" },
            { "name": "path", "valueString": "Patient.name.where(use='official')" },
            { "name": "value", "valueString": "x" } ] }]));
        assert!(doc.apply(patient).is_err());
    }
}
