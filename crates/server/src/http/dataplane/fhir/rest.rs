//! The FHIR REST interactions of one service: routing of `[base]/…` to
//! read, vread, create, update, patch, delete (conditional ones included),
//! search, history, `$validate` and batch/transaction bundles.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use hale_arm::HealthService;
use hale_fhir_model::primitives::is_id;
use hale_fhir_model::{r4, validate};
use hale_fhir_store::{StoredResource, resources};
use serde_json::{Value, json};

use super::outcome::{
    FhirError, FhirResult, etag, fhir_bytes, fhir_json, http_date, now_micros, operation_outcome,
    outcome,
};
use super::write::{self, Applied, Change, ChangeKind};
use super::{bundle, export, patch, search};
use crate::http::AppState;

/// Largest request body the FHIR service reads (a bundle of 500 entries).
pub(super) const MAX_BODY: usize = 16 * 1024 * 1024;

/// One FHIR request after authorization.
pub(super) struct FhirRequest {
    pub state: AppState,
    pub service: HealthService,
    /// The service's base URL, without a trailing slash.
    pub base: String,
    pub method: Method,
    pub rest: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What restricts a caller holding the `smart` data action: its scopes
    /// (already checked against the request itself) and the `fhirUser`
    /// compartment they confine it to.
    pub smart: Option<hale_arm::smart::Access>,
}

impl FhirRequest {
    /// The compartment (type, id) a SMART caller is confined to: its
    /// `fhirUser`'s, when its scopes are `patient/` or `user/` ones.
    pub fn within(&self) -> Option<(String, String)> {
        let user = self.smart.as_ref()?.fhir_user.as_ref()?;
        Some((user.resource_type.clone(), user.id.clone()))
    }

    /// Whether a confined caller may see `stored` (always, unconfined).
    pub fn may_see(&self, stored: &StoredResource) -> bool {
        self.within().is_none_or(|(ctype, cid)| {
            hale_fhir_store::search::stored_in_compartment(&ctype, &cid, stored, &self.base)
        })
    }
}

/// `Prefer: return=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Return {
    Minimal,
    Representation,
    OperationOutcome,
}

/// The `Prefer` header's parts Hale honours.
#[derive(Debug, Clone, Copy)]
pub(super) struct Prefer {
    pub ret: Return,
    pub strict: bool,
}

impl Prefer {
    pub fn parse(headers: &HeaderMap) -> Prefer {
        let mut prefer = Prefer {
            ret: Return::Representation,
            strict: false,
        };
        for value in headers.get_all("prefer") {
            let Ok(text) = value.to_str() else { continue };
            for part in text.split([',', ';']) {
                let Some((k, v)) = part.trim().split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "return" => {
                        prefer.ret = match v.to_ascii_lowercase().as_str() {
                            "minimal" => Return::Minimal,
                            "operationoutcome" => Return::OperationOutcome,
                            _ => Return::Representation,
                        }
                    }
                    "handling" => prefer.strict = v.eq_ignore_ascii_case("strict"),
                    _ => {}
                }
            }
        }
        prefer
    }
}

const ID_RULES: &str = "Id must be any combination of upper or lower case ASCII letters ('A'..'Z', and 'a'..'z'), numerals ('0'..'9'), '-' and '.', with a length limit of 64 characters. (This might be an integer, an un-prefixed OID, UUID, or any other identifier pattern that meets these constraints.)";

pub(super) fn check_type(resource_type: &str) -> FhirResult<()> {
    if r4().is_resource_type(resource_type) {
        Ok(())
    } else {
        Err(FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!("Resource type '{resource_type}' is not supported."),
        ))
    }
}

pub(super) fn check_id(id: &str) -> FhirResult<()> {
    if is_id(id) {
        Ok(())
    } else {
        Err(FhirError::invalid(ID_RULES))
    }
}

/// Every request below the service URL.
pub(super) async fn handle(req: FhirRequest) -> Response {
    let headers = req.headers.clone();
    match route(req).await {
        Ok(response) => response,
        Err(e) => e.response(&headers),
    }
}

async fn route(req: FhirRequest) -> FhirResult<Response> {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let m = &req.method;
    let get = m == Method::GET || m == Method::HEAD;
    match rest.as_slice() {
        [] if m == Method::POST => bundle::process(&req).await,
        [] if get => search::search(&req, None, None, req.query.clone()).await,
        ["_search"] if m == Method::POST => {
            let params = form_params(&req)?;
            search::search(&req, None, None, params).await
        }
        ["_history"] if get => search::history(&req, None, None).await,
        ["$export"] if get => export::kick_off(&req, None, false).await,
        ["Patient", "$export"] if get => export::kick_off(&req, None, true).await,
        ["Group", id, "$export"] if get => {
            check_id(id)?;
            export::kick_off(&req, Some(id), false).await
        }
        ["_operations", "export", id] if get => export::status(&req, id).await,
        ["_operations", "export", id] if m == Method::DELETE => export::cancel(&req, id).await,
        ["_operations", "export", id, file] if get => export::file(&req, id, file).await,
        [t, "$validate"] if m == Method::POST => {
            check_type(t)?;
            validate_operation(&req, t, None)
        }
        [t, id, "$validate"] if m == Method::POST => {
            check_type(t)?;
            check_id(id)?;
            validate_operation(&req, t, Some(id))
        }
        [t, id, "$validate"] if get => {
            check_type(t)?;
            check_id(id)?;
            validate_stored(&req, t, id).await
        }
        [t] => {
            check_type(t)?;
            if get {
                search::search(&req, Some(t), None, req.query.clone()).await
            } else if m == Method::POST {
                create(&req, t).await
            } else if m == Method::PUT {
                conditional_update(&req, t).await
            } else if m == Method::DELETE {
                conditional_delete(&req, t).await
            } else if m == Method::PATCH {
                let params = req.query.clone();
                patch::conditional_patch(&req, t, &params).await
            } else {
                Err(method_not_allowed())
            }
        }
        [t, "_search"] if m == Method::POST => {
            check_type(t)?;
            let params = form_params(&req)?;
            search::search(&req, Some(t), None, params).await
        }
        [t, "_history"] if get => {
            check_type(t)?;
            search::history(&req, Some(t), None).await
        }
        [t, id] => {
            check_type(t)?;
            check_id(id)?;
            if get {
                read(&req, t, id).await
            } else if m == Method::PUT {
                update(&req, t, id).await
            } else if m == Method::DELETE {
                delete(&req, t, id).await
            } else if m == Method::PATCH {
                patch::patch(&req, t, id).await
            } else {
                Err(method_not_allowed())
            }
        }
        [t, id, "_history"] if get => {
            check_type(t)?;
            check_id(id)?;
            search::history(&req, Some(t), Some(id)).await
        }
        [t, id, "_history", v] if get => {
            check_type(t)?;
            check_id(id)?;
            vread(&req, t, id, v).await
        }
        ["Patient", id, "$everything"] if get => {
            check_id(id)?;
            search::everything(&req, id).await
        }
        [c, id, t] if get => {
            check_type(c)?;
            check_id(id)?;
            if *t != "*" {
                check_type(t)?;
            }
            let target = (*t != "*").then_some(*t);
            search::search(&req, target, Some((c, id)), req.query.clone()).await
        }
        _ => Err(FhirError::not_found("The requested route was not found.")),
    }
}

fn method_not_allowed() -> FhirError {
    FhirError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "The requested method is not allowed on this route.",
    )
}

/// The parameters of `POST …/_search` (form body) and of its query string.
fn form_params(req: &FhirRequest) -> FhirResult<Vec<(String, String)>> {
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !req.body.is_empty() && !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "POST _search takes an application/x-www-form-urlencoded body.",
        ));
    }
    let mut params = req.query.clone();
    params.extend(
        url::form_urlencoded::parse(&req.body).map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    Ok(params)
}

/// Checks the request's content type is FHIR JSON (or plain JSON).
pub(super) fn check_json_content_type(headers: &HeaderMap) -> FhirResult<()> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("application/fhir+json") || ct.starts_with("application/json") {
        Ok(())
    } else {
        Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            format!("The content type '{ct}' is not supported; send application/fhir+json."),
        ))
    }
}

/// Parses a request body as a resource of `expected` type (any type when
/// `None`), without validating it.
pub(super) fn parse_body(body: &[u8], expected: Option<&str>) -> FhirResult<Value> {
    if body.is_empty() {
        return Err(FhirError::invalid(
            "The request body is empty; send a FHIR resource.",
        ));
    }
    let value: Value = hale_fhir_model::json::from_slice(body)
        .map_err(|e| FhirError::invalid(format!("The request body is not valid JSON: {e}.")))?;
    let Some(found) = value.get("resourceType").and_then(Value::as_str) else {
        return Err(FhirError::invalid(
            "The resource has no 'resourceType'; send a FHIR resource.",
        ));
    };
    if let Some(expected) = expected
        && found != expected
    {
        return Err(FhirError::invalid(format!(
            "Resource type in the URL must match resourceType in the resource ('{expected}' ≠ '{found}')."
        )));
    }
    Ok(value)
}

/// Validates a resource against the R4 structure definitions: 400 with every
/// issue when it fails.
pub(super) fn check_valid(resource: &Value) -> FhirResult<()> {
    let issues = validate(resource);
    if issues.iter().any(|i| i.is_error()) {
        return Err(FhirError::from_issues(StatusCode::BAD_REQUEST, &issues));
    }
    Ok(())
}

/// Applies one change in its own write transaction.
pub(super) async fn apply_one(req: &FhirRequest, mut change: Change) -> FhirResult<Applied> {
    let service = req.service.id;
    let base = req.base.clone();
    let now = now_micros() / 1000 * 1000;
    let create = change.method == "POST";
    change.within = req.within();
    change.kind = write::prepare(change.kind, &change.id, now, create);
    req.state
        .store
        .write(move |tx| {
            let svc = write::partition(tx, service, true)?.unwrap_or_default();
            write::apply(tx, svc, &base, now, change)
        })
        .await
}

/// The answer to a write: the version's headers and, per `Prefer`, the
/// resource, nothing, or an OperationOutcome.
pub(super) fn written(req: &FhirRequest, stored: &StoredResource, created: bool) -> Response {
    let prefer = Prefer::parse(&req.headers);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = match prefer.ret {
        Return::Representation => fhir_bytes(status, stored.body.clone().unwrap_or_default()),
        Return::Minimal => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = status;
            r
        }
        Return::OperationOutcome => {
            let text = if created {
                format!(
                    "Successfully created resource \"{}/{}\".",
                    stored.resource_type, stored.id
                )
            } else {
                format!(
                    "Successfully updated resource \"{}/{}\".",
                    stored.resource_type, stored.id
                )
            };
            outcome(&req.headers, status, "informational", &text)
        }
    };
    version_headers(req, response.headers_mut(), stored, true);
    response
}

/// `ETag`, `Last-Modified` and (on writes) `Location`.
pub(super) fn version_headers(
    req: &FhirRequest,
    headers: &mut HeaderMap,
    stored: &StoredResource,
    location: bool,
) {
    headers.insert(header::ETAG, etag(stored.version));
    if let Ok(v) = HeaderValue::from_str(&http_date(stored.last_updated)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    if location && let Ok(v) = HeaderValue::from_str(&version_url(&req.base, stored)) {
        headers.insert(header::LOCATION, v);
    }
}

pub(super) fn version_url(base: &str, stored: &StoredResource) -> String {
    format!(
        "{base}/{}/{}/_history/{}",
        stored.resource_type, stored.id, stored.version
    )
}

/// One stored version of a resource (`None`: its current one): a keyed
/// statement once this process knows the service's partition, else a short
/// read that learns it.
async fn lookup(
    req: &FhirRequest,
    t: &str,
    id: &str,
    version: Option<i64>,
) -> FhirResult<Option<StoredResource>> {
    let store = &req.state.store;
    if let Some(svc) = write::known_partition(req.service.id) {
        return Ok(match version {
            None => resources::current_keyed(store, svc, t, id).await?,
            Some(v) => resources::version_keyed(store, svc, t, id, v).await?,
        });
    }
    let (service, ty, idc) = (req.service.id, t.to_owned(), id.to_owned());
    store
        .read_short(move |tx| -> FhirResult<Option<StoredResource>> {
            let Some(svc) = write::partition(tx, service, false)? else {
                return Ok(None);
            };
            Ok(match version {
                None => resources::current(tx, svc, &ty, &idc)?,
                Some(v) => resources::version(tx, svc, &ty, &idc, v)?,
            })
        })
        .await
}

/// The current version of a resource: 404 when it never existed (or, to a
/// caller confined to a compartment, when it is outside it), 410 when it is
/// deleted.
async fn current_version(req: &FhirRequest, t: &str, id: &str) -> FhirResult<StoredResource> {
    match lookup(req, t, id, None).await? {
        None => Err(FhirError::resource_not_found(t, id)),
        Some(s) if !s.deleted && !req.may_see(&s) => Err(FhirError::resource_not_found(t, id)),
        Some(s) if s.deleted => Err(FhirError::gone(t, id, s.version)),
        Some(s) => Ok(s),
    }
}

async fn read(req: &FhirRequest, t: &str, id: &str) -> FhirResult<Response> {
    let stored = current_version(req, t, id).await?;
    if let Some(tag) = req
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && write::parse_etag(tag) == Some(stored.version)
    {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        version_headers(req, r.headers_mut(), &stored, false);
        return Ok(r);
    }
    let projection = search::Projection::from_params(&req.query)?;
    let body = projection.apply_bytes(stored.body.clone().unwrap_or_default());
    let mut response = fhir_bytes(StatusCode::OK, body);
    version_headers(req, response.headers_mut(), &stored, false);
    Ok(response)
}

async fn vread(req: &FhirRequest, t: &str, id: &str, v: &str) -> FhirResult<Response> {
    let not_found = || {
        FhirError::not_found(format!(
            "Resource type '{t}' with id '{id}' and version '{v}' couldn't be found."
        ))
    };
    let version: i64 = v.parse().map_err(|_| not_found())?;
    // A confined caller reads versions of resources whose current version
    // is in its compartment, as their history lists them.
    if req.within().is_some() {
        let current = lookup(req, t, id, None).await?;
        if !current.is_some_and(|c| !c.deleted && req.may_see(&c)) {
            return Err(not_found());
        }
    }
    match lookup(req, t, id, Some(version)).await? {
        None => Err(not_found()),
        Some(s) if s.deleted => Err(FhirError::gone(t, id, s.version)),
        Some(s) => {
            let mut response = fhir_bytes(StatusCode::OK, s.body.clone().unwrap_or_default());
            version_headers(req, response.headers_mut(), &s, false);
            Ok(response)
        }
    }
}

/// Reads and checks the body of a create or update: JSON, the URL's type,
/// structurally valid; its conditional references resolved.
async fn resource_from_body(req: &FhirRequest, t: &str) -> FhirResult<Value> {
    check_json_content_type(&req.headers)?;
    let mut resource = parse_body(&req.body, Some(t))?;
    check_valid(&resource)?;
    let references = write::conditional_references(&resource);
    if !references.is_empty() {
        let service = req.service.id;
        let base = req.base.clone();
        let within = req.within();
        let map = req
            .state
            .store
            .read(move |tx| {
                let svc = write::partition(tx, service, false)?;
                write::resolve_conditional_references(tx, svc, &base, &references, within.as_ref())
            })
            .await?;
        write::rewrite_references(&mut resource, &map);
    }
    Ok(resource)
}

fn if_match(req: &FhirRequest) -> Option<String> {
    req.headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn create(req: &FhirRequest, t: &str) -> FhirResult<Response> {
    let resource = resource_from_body(req, t).await?;
    let id = write::new_id();
    let change = Change::new(t.to_owned(), id, ChangeKind::Upsert(resource), "POST").fresh();
    let condition = req
        .headers
        .get("if-none-exist")
        .and_then(|v| v.to_str().ok())
        .map(|q| write::if_none_exist_criteria(t, q));
    let Some(criteria) = condition else {
        return match apply_one(req, change).await? {
            Applied::Written { stored, created } => Ok(written(req, &stored, created)),
            _ => Err(FhirError::internal("create wrote nothing", &"no version")),
        };
    };
    // Conditional create: the search and the create share one transaction.
    let change = change.within(req.within());
    let within = req.within();
    let service = req.service.id;
    let base = req.base.clone();
    let ty = t.to_owned();
    let now = now_micros() / 1000 * 1000;
    let (stored, created) = req
        .state
        .store
        .write(move |tx| -> FhirResult<(StoredResource, bool)> {
            let svc = write::partition(tx, service, true)?.unwrap_or_default();
            let found =
                write::conditional_matches(tx, Some(svc), &base, &ty, &criteria, 1, within)?;
            match found.len() {
                0 => match write::apply(tx, svc, &base, now, change)? {
                    Applied::Written { stored, created } => Ok((stored, created)),
                    _ => Err(FhirError::internal("create wrote nothing", &"no version")),
                },
                1 => Ok((
                    found.into_iter().next().unwrap_or_else(|| unreachable!()),
                    false,
                )),
                _ => Err(multiple_matches()),
            }
        })
        .await?;
    Ok(written(req, &stored, created))
}

pub(super) fn multiple_matches() -> FhirError {
    FhirError::precondition(
        "Multiple resources match the search criteria; make them more selective.",
    )
}

async fn update(req: &FhirRequest, t: &str, id: &str) -> FhirResult<Response> {
    let resource = resource_from_body(req, t).await?;
    match resource.get("id").and_then(Value::as_str) {
        None => return Err(FhirError::invalid("Resource id is required for an update.")),
        Some(body_id) if body_id != id => {
            return Err(FhirError::invalid(format!(
                "Id in the URL ('{id}') must match the id in the resource ('{body_id}')."
            )));
        }
        Some(_) => {}
    }
    let change = Change::new(
        t.to_owned(),
        id.to_owned(),
        ChangeKind::Upsert(resource),
        "PUT",
    )
    .if_match(if_match(req));
    match apply_one(req, change).await? {
        Applied::Written { stored, created } => Ok(written(req, &stored, created)),
        _ => Err(FhirError::internal("update wrote nothing", &"no version")),
    }
}

async fn conditional_update(req: &FhirRequest, t: &str) -> FhirResult<Response> {
    let resource = resource_from_body(req, t).await?;
    let criteria = req.query.clone();
    let service = req.service.id;
    let base = req.base.clone();
    let ty = t.to_owned();
    let now = now_micros() / 1000 * 1000;
    let expected = if_match(req);
    let within = req.within();
    let (stored, created) = req
        .state
        .store
        .write(move |tx| -> FhirResult<(StoredResource, bool)> {
            let svc = write::partition(tx, service, true)?.unwrap_or_default();
            let found = write::conditional_matches(
                tx,
                Some(svc),
                &base,
                &ty,
                &criteria,
                1,
                within.clone(),
            )?;
            let body_id = resource
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let id = match (found.as_slice(), body_id) {
                ([], Some(id)) => {
                    check_id(&id)?;
                    id
                }
                ([], None) => write::new_id(),
                ([one], Some(id)) if one.id != id => {
                    return Err(FhirError::invalid(format!(
                        "The resource matching the criteria has id '{}', not '{id}'.",
                        one.id
                    )));
                }
                ([one], _) => one.id.clone(),
                _ => return Err(multiple_matches()),
            };
            let change = Change::new(ty, id, ChangeKind::Upsert(resource), "PUT")
                .if_match(expected)
                .within(within);
            match write::apply(tx, svc, &base, now, change)? {
                Applied::Written { stored, created } => Ok((stored, created)),
                _ => Err(FhirError::internal("update wrote nothing", &"no version")),
            }
        })
        .await?;
    Ok(written(req, &stored, created))
}

fn hard_delete(req: &FhirRequest) -> bool {
    req.query
        .iter()
        .any(|(k, v)| k == "hardDelete" && v.eq_ignore_ascii_case("true"))
}

fn no_content() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

async fn delete(req: &FhirRequest, t: &str, id: &str) -> FhirResult<Response> {
    let change = Change::new(
        t.to_owned(),
        id.to_owned(),
        if hard_delete(req) {
            ChangeKind::Purge
        } else {
            ChangeKind::Delete
        },
        "DELETE",
    )
    .if_match(if_match(req));
    let applied = apply_one(req, change).await?;
    let mut response = no_content();
    if let Applied::Written { stored, .. } = applied {
        response
            .headers_mut()
            .insert(header::ETAG, etag(stored.version));
    }
    Ok(response)
}

/// Most resources a conditional delete removes (`_count`), as Azure.
const MAX_CONDITIONAL_DELETE: u32 = 100;

async fn conditional_delete(req: &FhirRequest, t: &str) -> FhirResult<Response> {
    let count = match req.query.iter().find(|(k, _)| k == "_count") {
        None => 1,
        Some((_, v)) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_CONDITIONAL_DELETE).contains(&n) => n,
            _ => {
                return Err(FhirError::invalid(format!(
                    "The '_count' of a conditional delete must be between 1 and {MAX_CONDITIONAL_DELETE}."
                )));
            }
        },
    };
    let purge = hard_delete(req);
    let criteria = req.query.clone();
    let service = req.service.id;
    let base = req.base.clone();
    let ty = t.to_owned();
    let now = now_micros() / 1000 * 1000;
    let within = req.within();
    let deleted = req
        .state
        .store
        .write(move |tx| -> FhirResult<usize> {
            let svc = write::partition(tx, service, true)?.unwrap_or_default();
            let found = write::conditional_matches(
                tx,
                Some(svc),
                &base,
                &ty,
                &criteria,
                count,
                within.clone(),
            )?;
            if found.len() > count as usize {
                return Err(multiple_matches());
            }
            for m in &found {
                let change = Change::new(
                    ty.clone(),
                    m.id.clone(),
                    if purge {
                        ChangeKind::Purge
                    } else {
                        ChangeKind::Delete
                    },
                    "DELETE",
                )
                .within(within.clone());
                write::apply(tx, svc, &base, now, change)?;
            }
            Ok(found.len())
        })
        .await?;
    let mut response = no_content();
    if let Ok(v) = HeaderValue::from_str(&deleted.to_string()) {
        response.headers_mut().insert("items-deleted", v);
    }
    Ok(response)
}

/// `$validate`: the create/update checks, answered 200 with an
/// OperationOutcome whether or not the resource is valid (as Azure).
fn validate_operation(req: &FhirRequest, t: &str, id: Option<&str>) -> FhirResult<Response> {
    check_json_content_type(&req.headers)?;
    let mut resource = parse_body(&req.body, None)?;
    // The resource may come wrapped in a Parameters resource (`resource`).
    if resource["resourceType"] == "Parameters" {
        let inner = resource["parameter"].as_array().and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == "resource")
                .and_then(|p| p.get("resource"))
                .cloned()
        });
        resource = inner.ok_or_else(|| {
            FhirError::invalid("The Parameters resource has no 'resource' parameter.")
        })?;
    }
    let mut issues: Vec<Value> = Vec::new();
    if resource["resourceType"] != t {
        issues.push(json!({ "severity": "error", "code": "invalid", "diagnostics": format!("Resource type in the URL must match resourceType in the resource ('{t}').") }));
    }
    if let Some(id) = id
        && resource.get("id").and_then(Value::as_str) != Some(id)
    {
        issues.push(json!({ "severity": "error", "code": "invalid", "diagnostics": format!("Id in the URL ('{id}') must match the id in the resource.") }));
    }
    Ok(validation_outcome(req, issues, &resource))
}

/// `GET [type]/[id]/$validate`: the stored resource against the same checks.
async fn validate_stored(req: &FhirRequest, t: &str, id: &str) -> FhirResult<Response> {
    let stored = current_version(req, t, id).await?;
    let resource: Value = serde_json::from_slice(stored.body.as_deref().unwrap_or_default())
        .map_err(|e| FhirError::internal("a stored resource is not JSON", &e))?;
    Ok(validation_outcome(req, Vec::new(), &resource))
}

/// `$validate`'s answer: 200 with the issues found, or "All OK".
fn validation_outcome(req: &FhirRequest, mut issues: Vec<Value>, resource: &Value) -> Response {
    issues.extend(validate(resource).iter().map(|i| i.to_json()));
    if issues.is_empty() {
        issues.push(
            json!({ "severity": "information", "code": "informational", "diagnostics": "All OK" }),
        );
    }
    fhir_json(StatusCode::OK, operation_outcome(&req.headers, &issues))
}
