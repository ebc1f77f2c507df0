//! Search and history answers: `searchset` and `history` Bundles with `self`
//! and `next` links (continuation token `ct`), `_summary`/`_elements`
//! projections, and the `search.mode = outcome` entry for ignored
//! parameters. Stored bodies are spliced into the Bundle as they are, unless a
//! projection asks for less.

use axum::http::StatusCode;
use axum::response::Response;
use hale_fhir_model::search::Summary;
use hale_fhir_model::{SearchQuery, parse_search, r4};
use hale_fhir_store::resources::{self, HistoryFilter};
use hale_fhir_store::{SearchPage, SearchScope, StoredResource};
use serde_json::{Value, json};

use super::outcome::{FhirError, FhirResult, fhir_bytes, fhir_instant, now_rfc3339, request_id};
use super::rest::{FhirRequest, Prefer};
use super::write;

/// `_summary` / `_elements` as asked.
#[derive(Debug, Clone, Default)]
pub(super) struct Projection {
    summary: Option<Summary>,
    elements: Vec<String>,
}

const SUBSETTED: &str = "SUBSETTED";

impl Projection {
    pub fn of(query: &SearchQuery) -> Projection {
        Projection {
            summary: query.summary,
            elements: query.elements.clone(),
        }
    }

    /// From a read's query string (`_summary`, `_elements`).
    pub fn from_params(params: &[(String, String)]) -> FhirResult<Projection> {
        let mut p = Projection::default();
        for (k, v) in params {
            match k.as_str() {
                "_summary" => {
                    p.summary = Some(match v.as_str() {
                        "true" => Summary::True,
                        "text" => Summary::Text,
                        "data" => Summary::Data,
                        "false" => Summary::False,
                        "count" => Summary::Count,
                        _ => {
                            return Err(FhirError::invalid(format!(
                                "The '_summary' value '{v}' is invalid; use true, text, data, count or false."
                            )));
                        }
                    })
                }
                "_elements" => p.elements.extend(
                    v.split(',')
                        .map(|s| s.trim().rsplit('.').next().unwrap_or("").to_owned())
                        .filter(|s| !s.is_empty()),
                ),
                _ => {}
            }
        }
        Ok(p)
    }

    fn is_identity(&self) -> bool {
        self.elements.is_empty() && matches!(self.summary, None | Some(Summary::False))
    }

    pub fn apply_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        if self.is_identity() {
            return body;
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => serde_json::to_vec(&self.apply(v)).unwrap_or(body),
            Err(_) => body,
        }
    }

    pub fn apply(&self, mut resource: Value) -> Value {
        if self.is_identity() {
            return resource;
        }
        let resource_type = resource["resourceType"].as_str().unwrap_or("").to_owned();
        let Some(obj) = resource.as_object_mut() else {
            return resource;
        };
        let def = r4().type_def(&resource_type);
        let top = |want: &dyn Fn(&hale_fhir_model::definitions::ElementDef) -> bool| -> Vec<(String, bool)> {
            def.map(|d| {
                d.children("")
                    .filter(|e| want(e))
                    .map(|e| (e.name().trim_end_matches("[x]").to_owned(), e.is_choice()))
                    .collect()
            })
            .unwrap_or_default()
        };
        let keep: Option<Vec<(String, bool)>> = if !self.elements.is_empty() {
            // A choice element is named by its base name (`value` keeps
            // `valueQuantity`, R4 search §3.1.1.5.9).
            let choice = |name: &str| {
                def.is_some_and(|d| {
                    d.children("")
                        .any(|e| e.is_choice() && e.name().trim_end_matches("[x]") == name)
                })
            };
            let mut keep: Vec<(String, bool)> = self
                .elements
                .iter()
                .map(|e| (e.clone(), choice(e)))
                .collect();
            keep.extend(top(&|e| e.min > 0));
            Some(keep)
        } else {
            match self.summary {
                Some(Summary::True) => Some(top(&|e| e.summary)),
                Some(Summary::Text) => {
                    let mut keep = top(&|e| e.min > 0);
                    keep.push(("text".into(), false));
                    Some(keep)
                }
                Some(Summary::Data) => {
                    obj.remove("text");
                    None
                }
                _ => None,
            }
        };
        if let Some(keep) = keep {
            let kept = |key: &str| {
                matches!(key, "resourceType" | "id" | "meta")
                    || keep.iter().any(|(name, choice)| {
                        key == name
                            || (*choice
                                && key.strip_prefix(name.as_str()).is_some_and(|rest| {
                                    rest.starts_with(|c: char| c.is_ascii_uppercase())
                                }))
                            || key.strip_prefix('_') == Some(name.as_str())
                    })
            };
            obj.retain(|k, _| kept(k));
        }
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let tags = meta.entry("tag").or_insert_with(|| json!([]));
            if let Some(tags) = tags.as_array_mut() {
                tags.push(json!({
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": SUBSETTED
                }));
            }
        }
        resource
    }
}

/// Appends `"key":<json text>` pairs to a JSON object being written.
struct JsonOut(String);

impl JsonOut {
    fn str(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

fn bundle_head(headers: &axum::http::HeaderMap, kind: &str) -> JsonOut {
    let _ = headers;
    JsonOut(format!(
        "{{\"resourceType\":\"Bundle\",\"id\":{},\"meta\":{{\"lastUpdated\":{}}},\"type\":{}",
        JsonOut::str(&uuid::Uuid::new_v4().to_string()),
        JsonOut::str(&now_rfc3339()),
        JsonOut::str(kind)
    ))
}

/// The URL of this request with `params` as its query.
fn url_with(req: &FhirRequest, params: &[(String, String)]) -> String {
    let mut url = req.base.clone();
    for segment in &req.rest {
        url.push('/');
        url.push_str(segment);
    }
    if req.method == axum::http::Method::POST && url.ends_with("/_search") {
        url.truncate(url.len() - "/_search".len());
    }
    if !params.is_empty() {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();
        url.push('?');
        url.push_str(&query);
    }
    url
}

fn links(req: &FhirRequest, params: &[(String, String)], next: Option<&str>) -> String {
    let own: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "ct").cloned().collect();
    let mut out = format!(
        "[{{\"relation\":\"self\",\"url\":{}}}",
        JsonOut::str(&url_with(req, params))
    );
    if let Some(token) = next {
        let mut next_params = own;
        next_params.push(("ct".into(), token.to_owned()));
        out.push_str(&format!(
            ",{{\"relation\":\"next\",\"url\":{}}}",
            JsonOut::str(&url_with(req, &next_params))
        ));
    }
    out.push(']');
    out
}

fn full_url(base: &str, stored: &StoredResource) -> String {
    format!("{base}/{}/{}", stored.resource_type, stored.id)
}

/// `GET [base]/[type]?…`, `[base]?…`, `[base]/[compartment]/[id]/[type]?…`.
pub(super) async fn search(
    req: &FhirRequest,
    resource_type: Option<&str>,
    compartment: Option<(&str, &str)>,
    params: Vec<(String, String)>,
) -> FhirResult<Response> {
    let prefer = Prefer::parse(&req.headers);
    let query = parse_search(resource_type, &params, prefer.strict)
        .map_err(|issues| FhirError::from_issues(StatusCode::BAD_REQUEST, &issues))?;
    let scope = SearchScope {
        resource_types: match resource_type {
            Some(t) => vec![t.to_owned()],
            None => query.types.clone(),
        },
        compartment: compartment.map(|(c, id)| (c.to_owned(), id.to_owned())),
        within: req.within(),
    };
    let service = req.service.id;
    let base = req.base.clone();
    let q = query.clone();
    let page = req
        .state
        .store
        .read(move |tx| -> FhirResult<SearchPage> {
            let Some(svc) = write::partition(tx, service, false)? else {
                return Ok(SearchPage {
                    total: Some(0),
                    ..SearchPage::default()
                });
            };
            Ok(hale_fhir_store::search::search(tx, svc, &scope, &q, &base)?)
        })
        .await?;
    Ok(searchset(req, &params, &query, page))
}

/// `GET [base]/Patient/[id]/$everything`: the patient and the resources it
/// refers to (general practitioners, managing organization), then the
/// resources of its compartment, paged like a search. `_type` narrows the types,
/// `_since` keeps resources changed since then (as `_lastUpdated=ge`),
/// `_count`, `_elements`, `_summary` and `ct` work as in a search. `start`
/// and `end` (clinical dates) are not supported: 400, rather than a bundle
/// that would silently ignore them.
pub(super) async fn everything(req: &FhirRequest, id: &str) -> FhirResult<Response> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut since: Option<i64> = None;
    for (k, v) in &req.query {
        match k.as_str() {
            "_since" => {
                since = Some(instant_param(k, v)?);
                params.push(("_lastUpdated".into(), format!("ge{v}")));
            }
            "start" | "end" => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("The parameter '{k}' of $everything is not supported."),
                ));
            }
            _ => params.push((k.clone(), v.clone())),
        }
    }
    let prefer = Prefer::parse(&req.headers);
    let query = parse_search(None, &params, prefer.strict)
        .map_err(|issues| FhirError::from_issues(StatusCode::BAD_REQUEST, &issues))?;
    let first_page = !params.iter().any(|(k, _)| k == "ct");
    let with_patient =
        first_page && (query.types.is_empty() || query.types.iter().any(|t| t == "Patient"));
    let scope = SearchScope {
        resource_types: query.types.clone(),
        compartment: Some(("Patient".to_owned(), id.to_owned())),
        within: req.within(),
    };
    let (service, base, q, pid) = (
        req.service.id,
        req.base.clone(),
        query.clone(),
        id.to_owned(),
    );
    let (patient, referenced, mut page) = req
        .state
        .store
        .read(move |tx| -> FhirResult<_> {
            let Some(svc) = write::partition(tx, service, false)? else {
                return Ok((None, Vec::new(), SearchPage::default()));
            };
            let patient = resources::current(tx, svc, "Patient", &pid)?;
            let Some(found) = patient.as_ref().filter(|p| !p.deleted) else {
                return Ok((patient, Vec::new(), SearchPage::default()));
            };
            // On the first page: what the patient refers to (its general
            // practitioners, its managing organization), as Azure adds them.
            let referenced = if first_page {
                hale_fhir_store::search::referenced_by(
                    tx,
                    svc,
                    found,
                    &["general-practitioner", "organization"],
                    &base,
                )?
            } else {
                Vec::new()
            };
            let page = hale_fhir_store::search::search(tx, svc, &scope, &q, &base)?;
            Ok((patient, referenced, page))
        })
        .await?;
    let patient = match patient {
        // A confined caller learns nothing of a patient outside its compartment.
        Some(p) if !p.deleted && !req.may_see(&p) => {
            return Err(FhirError::resource_not_found("Patient", id));
        }
        None => return Err(FhirError::resource_not_found("Patient", id)),
        Some(p) if p.deleted => return Err(FhirError::gone("Patient", id, p.version)),
        Some(p) => p,
    };
    let referenced: Vec<StoredResource> =
        referenced.into_iter().filter(|r| req.may_see(r)).collect();
    // The compartment holds the patient itself: it goes first, on the
    // first page only, whatever its place in the compartment's order.
    page.matches.retain(|m| m.rid != patient.rid);
    let wanted = |r: &StoredResource| {
        (query.types.is_empty() || query.types.contains(&r.resource_type))
            && since.is_none_or(|t| r.last_updated >= t)
            && !page.matches.iter().any(|m| m.rid == r.rid)
    };
    let mut first: Vec<StoredResource> = Vec::new();
    if with_patient && wanted(&patient) {
        first.push(patient);
    }
    first.extend(referenced.into_iter().filter(|r| wanted(r)));
    page.matches.splice(0..0, first);
    Ok(searchset(req, &params, &query, page))
}

fn searchset(
    req: &FhirRequest,
    params: &[(String, String)],
    query: &SearchQuery,
    page: SearchPage,
) -> Response {
    let mut out = bundle_head(&req.headers, "searchset");
    let count_only = query.summary == Some(Summary::Count);
    let wants_total = count_only || query.total == hale_fhir_model::search::Total::Accurate;
    if wants_total && let Some(total) = page.total {
        out.0.push_str(&format!(",\"total\":{total}"));
    }
    let next = if count_only {
        None
    } else {
        page.next.as_deref()
    };
    out.0.push_str(",\"link\":");
    out.0.push_str(&links(req, params, next));
    let projection = Projection::of(query);
    let mut entries: Vec<String> = Vec::new();
    if !count_only {
        // A SMART caller sees included resources only of types its scopes
        // let it read (the matches are of types the request could search).
        // (Those of a confined caller are members of its compartment
        // already: the store leaves the others out.)
        let readable = |r: &&StoredResource| {
            req.smart.as_ref().is_none_or(|access| {
                access
                    .scopes
                    .permit(Some(&r.resource_type), hale_arm::smart::READ)
                    || access
                        .scopes
                        .permit(Some(&r.resource_type), hale_arm::smart::SEARCH)
            })
        };
        let included: Vec<&StoredResource> = page.included.iter().filter(readable).collect();
        let matches: Vec<&StoredResource> = page.matches.iter().collect();
        for (mode, list) in [("match", &matches), ("include", &included)] {
            for stored in list.iter() {
                let Some(body) = &stored.body else { continue };
                let body = projection.apply_bytes(body.clone());
                entries.push(format!(
                    "{{\"fullUrl\":{},\"resource\":{},\"search\":{{\"mode\":\"{mode}\"}}}}",
                    JsonOut::str(&full_url(&req.base, stored)),
                    String::from_utf8_lossy(&body)
                ));
            }
        }
    }
    if !query.issues.is_empty() {
        let oo = json!({
            "resourceType": "OperationOutcome",
            "id": request_id(&req.headers),
            "issue": query.issues.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        });
        entries.push(format!(
            "{{\"resource\":{oo},\"search\":{{\"mode\":\"outcome\"}}}}"
        ));
    }
    if !entries.is_empty() {
        out.0.push_str(",\"entry\":[");
        out.0.push_str(&entries.join(","));
        out.0.push(']');
    }
    out.0.push('}');
    fhir_bytes(StatusCode::OK, out.0.into_bytes())
}

/// Most versions one history page holds.
const MAX_HISTORY_COUNT: usize = 1000;

/// `GET [base]/_history`, `[type]/_history`, `[type]/[id]/_history`.
pub(super) async fn history(
    req: &FhirRequest,
    resource_type: Option<&str>,
    id: Option<&str>,
) -> FhirResult<Response> {
    let mut filter = HistoryFilter {
        resource_type: resource_type.map(str::to_owned),
        id: id.map(str::to_owned),
        within: req.within(),
        ..HistoryFilter::default()
    };
    let mut count = 10usize;
    for (k, v) in &req.query {
        match k.as_str() {
            "_count" => {
                count = v
                    .parse::<usize>()
                    .map_err(|_| {
                        FhirError::invalid(format!("The '_count' value '{v}' is not a number."))
                    })?
                    .min(MAX_HISTORY_COUNT)
            }
            "_since" => filter.since = Some(instant_param(k, v)?),
            "_before" => filter.before = Some(instant_param(k, v)?),
            "_at" => {
                let period = date_param(k, v)?;
                filter.at = Some((period.start, period.end));
            }
            "ct" => filter.after = Some(parse_history_token(v)?),
            _ => {}
        }
    }
    let service = req.service.id;
    let f = filter.clone();
    let base = req.base.clone();
    let (versions, exists) = req
        .state
        .store
        .read(move |tx| -> FhirResult<(Vec<StoredResource>, bool)> {
            let Some(svc) = write::partition(tx, service, false)? else {
                return Ok((Vec::new(), false));
            };
            let versions = resources::history(tx, svc, &f, count + 1)?;
            let exists = match (&f.resource_type, &f.id) {
                (Some(t), Some(id)) if versions.is_empty() && f.after.is_none() => {
                    let current = resources::current(tx, svc, t, id)?;
                    // Outside a confined caller's compartment: as if absent.
                    match (&f.within, current) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some((ctype, cid)), Some(c)) => {
                            hale_fhir_store::search::stored_in_compartment(ctype, cid, &c, &base)
                        }
                    }
                }
                _ => true,
            };
            Ok((versions, exists))
        })
        .await?;
    if let (Some(t), Some(id), false) = (resource_type, id, exists) {
        return Err(FhirError::resource_not_found(t, id));
    }
    let more = versions.len() > count;
    let page = &versions[..versions.len().min(count)];
    let next = more
        .then(|| {
            page.last()
                .map(|v| format!("h{}.{}", v.last_updated, v.rid))
        })
        .flatten();
    let mut out = bundle_head(&req.headers, "history");
    out.0.push_str(",\"link\":");
    out.0.push_str(&links(req, &req.query, next.as_deref()));
    let entries: Vec<String> = page
        .iter()
        .map(|v| {
            let status = match (v.deleted, v.version) {
                (true, _) => "204",
                (false, 1) => "201",
                _ => "200",
            };
            let url = if v.method == "POST" {
                v.resource_type.clone()
            } else {
                format!("{}/{}", v.resource_type, v.id)
            };
            let resource = v
                .body
                .as_ref()
                .map(|b| format!("\"resource\":{},", String::from_utf8_lossy(b)))
                .unwrap_or_default();
            format!(
                "{{\"fullUrl\":{},{resource}\"request\":{{\"method\":\"{}\",\"url\":{}}},\"response\":{{\"status\":\"{status}\",\"etag\":\"W/\\\"{}\\\"\",\"lastModified\":\"{}\"}}}}",
                JsonOut::str(&full_url(&req.base, v)),
                v.method,
                JsonOut::str(&url),
                v.version,
                fhir_instant(v.last_updated)
            )
        })
        .collect();
    if !entries.is_empty() {
        out.0.push_str(",\"entry\":[");
        out.0.push_str(&entries.join(","));
        out.0.push(']');
    }
    out.0.push('}');
    Ok(fhir_bytes(StatusCode::OK, out.0.into_bytes()))
}

pub(super) fn instant_param(name: &str, value: &str) -> FhirResult<i64> {
    date_param(name, value).map(|range| range.start)
}

/// A date parameter's value as the period it stands for (`2024-01` is the
/// month).
fn date_param(name: &str, value: &str) -> FhirResult<hale_fhir_model::primitives::DateRange> {
    hale_fhir_model::primitives::parse_date(value, hale_fhir_model::primitives::DateSyntax::Search)
        .map(|d| d.range)
        .ok_or_else(|| {
            FhirError::invalid(format!(
                "The date time string '{value}' of '{name}' is not in a correct format."
            ))
        })
}

fn parse_history_token(token: &str) -> FhirResult<(i64, i64)> {
    token
        .strip_prefix('h')
        .and_then(|t| t.split_once('.'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| FhirError::invalid("The continuation token is invalid."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections() {
        let patient = json!({
            "resourceType": "Patient", "id": "p", "meta": {"versionId": "1"},
            "text": {"status": "generated", "div": "<div>x</div>"},
            "name": [{"family": "F"}], "birthDate": "2000-01-01", "photo": [{"data": "AA=="}],
            "deceasedBoolean": false, "maritalStatus": {"text": "M"}
        });
        let summary = Projection {
            summary: Some(Summary::True),
            elements: vec![],
        }
        .apply(patient.clone());
        assert!(summary.get("name").is_some() && summary.get("deceasedBoolean").is_some());
        assert!(
            summary.get("photo").is_none()
                && summary.get("text").is_none()
                && summary.get("maritalStatus").is_none()
        );
        assert_eq!(summary["meta"]["tag"][0]["code"], SUBSETTED);
        let data = Projection {
            summary: Some(Summary::Data),
            elements: vec![],
        }
        .apply(patient.clone());
        assert!(data.get("text").is_none() && data.get("photo").is_some());
        let elements = Projection {
            summary: None,
            elements: vec!["birthDate".into()],
        }
        .apply(patient.clone());
        let keys: Vec<&String> = elements.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "birthDate"]);
        let none = Projection::default().apply(patient.clone());
        assert_eq!(none, patient);
        assert_eq!(parse_history_token("h12.34").unwrap(), (12, 34));
        assert!(parse_history_token("x").is_err());
    }
}
