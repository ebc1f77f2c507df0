//! The FHIR and DICOM data planes' front door, `/fhir/{ws}/{name}/…` and
//! `/dicom/{ws}/{name}/…`: find the service, authenticate the caller and
//! authorize the request by Azure RBAC, on every request.
//!
//! [`authorize`] is what the FHIR and DICOM services call: it checks the bearer
//! token (Hale's signature, the service's own tenant as v1 or v2 issuer, the
//! service's audience, five minutes of skew), then reads, in one transaction,
//! the service and the role assignments of the token's `oid` and of every
//! group it is in at the service, its workspace, resource group and
//! subscription, and decides the one data action the request needs. Those
//! inputs are kept in memory while the database's authorization epoch is
//! unchanged ([`authz_cache`]). On SQLite the epoch is read on every request;
//! on PostgreSQL it is announced to every replica at each commit that raises
//! it ([`hale_store::Store::known_authz_epoch`]), and read only while that
//! announcement channel is down; cached inputs that would refuse are checked
//! against the epoch all the same. Either way a role assignment made through
//! any replica counts from every replica's next request; one removed counts
//! from that replica's next request, and on the others once the announcement
//! arrives (a round trip after the commit).
//! Verified token signatures are remembered too
//! ([`super::auth::VerifiedTokens`]); decisions never are. Each response says what
//! authorization cost in a `Server-Timing` header.

mod authz_cache;
mod dicom;
mod fhir;
mod smart_idp;

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, Response, header};
use hale_arm::authz::{self, DataAction, FhirDataAction};
use hale_arm::{HealthService, ResourceId, ServiceKind};
use hale_directory::{ObjectId, TenantId};
use hale_store::{StoreError, arm, health};

pub(crate) use authz_cache::AuthzCache;
pub(crate) use dicom::dispatch as dicom;
pub(crate) use dicom::start_sweeper as dicom_sweeper;
pub(crate) use fhir::dispatch as fhir;
pub(crate) use fhir::start_export_sweeper as export_sweeper;
pub(crate) use fhir::warm as warm_fhir;
pub(crate) use smart_idp::ProviderKeys;

use super::AppState;
use super::auth::{self, TokenFault};

/// A data-plane path: the service it names, and the rest of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServicePath {
    workspace: String,
    name: String,
    /// The segments below the service URL, empty ones dropped.
    rest: Vec<String>,
}

impl ServicePath {
    /// Parses what follows `/fhir/` or `/dicom/`.
    fn parse(path: &str) -> Option<ServicePath> {
        let mut segments = path.split('/');
        let workspace = segments.next().filter(|s| !s.is_empty())?.to_owned();
        let name = segments.next().filter(|s| !s.is_empty())?.to_owned();
        Some(ServicePath {
            workspace,
            name,
            rest: segments
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    fn rest(&self) -> Vec<&str> {
        self.rest.iter().map(String::as_str).collect()
    }
}

/// What authorization decided against.
#[derive(Debug)]
enum Denied {
    /// No such service (or it was deleted).
    UnknownService,
    /// The token was refused; the service's tenant, for `WWW-Authenticate`.
    Unauthenticated(TokenFault, HealthService),
    /// A token from another tenant than the service's.
    OtherTenant(HealthService),
    /// Authenticated, but no role grants the action here.
    Forbidden(HealthService),
    Storage(StoreError),
}

/// An authorized data-plane request.
#[derive(Debug)]
pub(crate) struct Authorized {
    pub service: HealthService,
    pub action: DataAction,
    pub caller: ObjectId,
    /// The caller holds FHIR's `smart` data action here: its SMART on FHIR
    /// clinical scopes (`scp`, and `roles` for applications) restrict every
    /// request, inside its `fhirUser`'s compartment when they are `patient/`
    /// or `user/` ones ([`hale_arm::smart`]); the claim's fault when that
    /// compartment cannot be known.
    pub smart: Option<Result<hale_arm::smart::Access, hale_arm::smart::FhirUserFault>>,
}

/// How long authorization took, for `Server-Timing`.
#[derive(Debug, Default, Clone, Copy)]
struct Timing {
    token_us: u128,
    rbac_us: u128,
}

impl Timing {
    fn header(&self) -> HeaderValue {
        let ms = |us: u128| us as f64 / 1000.0;
        let text = format!(
            "token;dur={:.3}, rbac;dur={:.3}, authz;dur={:.3}",
            ms(self.token_us),
            ms(self.rbac_us),
            ms(self.token_us + self.rbac_us)
        );
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("authz"))
    }
}

/// Whether `aud` is the audience the `kind` service at `url` accepts: the
/// FHIR service's URL (with or without a trailing slash, any case), or the
/// DICOM services' shared audience.
fn accepts_audience(kind: ServiceKind, url: &str, aud: &str) -> bool {
    let aud = aud.trim_end_matches('/');
    match kind {
        ServiceKind::Fhir => aud.eq_ignore_ascii_case(url),
        ServiceKind::Dicom => aud.eq_ignore_ascii_case(hale_arm::DICOM_AUDIENCE),
    }
}

/// Finds the service and decides whether the caller may perform `action` on it.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    kind: ServiceKind,
    path: &ServicePath,
    action: DataAction,
) -> (Result<Authorized, Denied>, Timing) {
    let started = Instant::now();
    let url = hale_arm::service_url(state.public_url.as_str(), kind, &path.workspace, &path.name);
    let verified =
        auth::verify_bearer(state, headers, |aud| accepts_audience(kind, &url, aud)).await;
    let token_us = started.elapsed().as_micros();
    let rbac_started = Instant::now();
    let caller: Option<(TenantId, ObjectId)> =
        verified.as_ref().ok().map(|b| (b.tenant_id, b.object_id));
    let key = authz_cache::Key {
        kind,
        workspace: path.workspace.to_ascii_lowercase(),
        name: path.name.to_ascii_lowercase(),
        caller,
    };
    // With the epoch known without asking (PostgreSQL's announcements), a
    // cached decision's inputs cost no database round trip at all. Only
    // inputs that permit are taken on the announcement's word: a grant made
    // through another replica may not have been announced here yet, so
    // inputs that would refuse are checked against the epoch first (one
    // round trip, on refusals only).
    let known = state
        .store
        .known_authz_epoch()
        .and_then(|epoch| state.authz_cache.get(&key, epoch))
        .filter(|inputs| inputs_permit(inputs, &action));
    let (read, permitted) = match known {
        Some(inputs) => (Ok(inputs), true),
        None => {
            let read = read_inputs(state, kind, key, caller).await;
            let permitted = read.as_ref().is_ok_and(|i| inputs_permit(i, &action));
            (read, permitted)
        }
    };
    let timing = Timing {
        token_us,
        rbac_us: rbac_started.elapsed().as_micros(),
    };
    let outcome = match read {
        Err(e) => Err(Denied::Storage(e)),
        Ok(inputs) => match (&inputs.service, verified, &inputs.grants) {
            (None, _, _) => Err(Denied::UnknownService),
            (Some(service), Err(fault), _) => Err(Denied::Unauthenticated(fault, service.clone())),
            (Some(service), Ok(_), None) => Err(Denied::OtherTenant(service.clone())),
            (Some(service), Ok(bearer), Some(grants)) => {
                let target = service.resource_id();
                if permitted {
                    let smart = (kind == ServiceKind::Fhir
                        && authz::permits_data_action(
                            grants,
                            &target,
                            &DataAction::Fhir(FhirDataAction::Smart),
                        ))
                    .then(|| smart_access(&bearer.claims));
                    Ok(Authorized {
                        service: service.clone(),
                        action,
                        caller: bearer.object_id,
                        smart,
                    })
                } else {
                    Err(Denied::Forbidden(service.clone()))
                }
            }
        },
    };
    // A token from one of the FHIR service's SMART identity providers fails
    // the tenant's checks (another audience, maybe another issuer): it is
    // tried against the providers, only then.
    let outcome = match outcome {
        Err(Denied::Unauthenticated(fault, service))
            if !service.smart_identity_providers.is_empty() && fault.may_be_other_issuer() =>
        {
            match smart_provider_token(state, headers, &service).await {
                Some((claims, caller)) => {
                    let reads = action == DataAction::Fhir(FhirDataAction::Read);
                    if reads {
                        Ok(Authorized {
                            caller,
                            smart: Some(smart_access(&claims)),
                            service,
                            action,
                        })
                    } else {
                        Err(Denied::Forbidden(service))
                    }
                }
                None => Err(Denied::Unauthenticated(fault, service)),
            }
        }
        other => other,
    };
    match &outcome {
        Ok(a) => {
            tracing::debug!(service = %a.service.resource_id(), caller = %a.caller, action = %a.action.operation(), "data-plane request authorized")
        }
        Err(Denied::Unauthenticated(fault, service)) => {
            tracing::info!(?fault, service = %service.resource_id(), "data-plane token refused")
        }
        Err(Denied::Forbidden(service)) => {
            tracing::info!(service = %service.resource_id(), action = %action.operation(), "data-plane request forbidden")
        }
        _ => {}
    }
    (outcome, timing)
}

/// What a token's SMART on FHIR clinical scopes allow (`scp`, and `roles`
/// for applications), and the `fhirUser` (or `extension_fhirUser`)
/// compartment `patient/` and `user/` scopes are confined to.
fn smart_access(
    claims: &serde_json::Value,
) -> Result<hale_arm::smart::Access, hale_arm::smart::FhirUserFault> {
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let roles = claims.get("roles").and_then(|r| r.as_array());
    hale_arm::smart::Access::from_claims(
        text("scp"),
        roles.into_iter().flatten().filter_map(|r| r.as_str()),
        text("fhirUser"),
        text("extension_fhirUser"),
    )
}

/// The claims of the request's token, and who it names, when one of
/// `service`'s SMART identity providers issued it for one of its
/// applications (Azure's checks: the provider's issuer, `aud` the
/// application's `audience`, `azp` or `appid` its `clientId`), besides a good
/// signature and lifetime. A provider this Hale hosts (a tenant's authority,
/// v1 or v2) is checked with Hale's own keys, its issuer being the
/// authority; any other by the issuer and keys it publishes
/// ([`smart_idp`]).
async fn smart_provider_token(
    state: &AppState,
    headers: &HeaderMap,
    service: &HealthService,
) -> Option<(Arc<serde_json::Value>, ObjectId)> {
    let token = auth::bearer(headers)?;
    for provider in &service.smart_identity_providers {
        let authority = provider.authority.trim_end_matches('/');
        let claims = if authority.starts_with(state.public_url.as_str().trim_end_matches('/')) {
            let accept = |aud: &str| provider.applications.iter().any(|a| a.audience == aud);
            auth::verify_token(state, token, accept)
                .await
                .ok()
                .filter(|b| b.text("iss").map(|i| i.trim_end_matches('/')) == Some(authority))
                .map(|b| b.claims)
        } else {
            state
                .smart_providers
                .verify(authority, token)
                .await
                .map(Arc::new)
        };
        let Some(claims) = claims else { continue };
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        let Some(client) = text("azp").or_else(|| text("appid")) else {
            continue;
        };
        let audiences = hale_jws::audiences(&claims).unwrap_or_default();
        let for_an_application = provider
            .applications
            .iter()
            .any(|a| a.client_id == client && audiences.contains(&a.audience.as_str()));
        if for_an_application {
            // Who it names: its `oid`, else its issuer and subject.
            let caller = text("oid").and_then(|o| o.parse().ok()).unwrap_or_else(|| {
                let subject = format!(
                    "{}|{}",
                    text("iss").unwrap_or_default(),
                    text("sub").unwrap_or_default()
                );
                ObjectId(uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_URL,
                    subject.as_bytes(),
                ))
            });
            return Some((claims, caller));
        }
    }
    None
}

/// Whether `inputs` name a service and grants that permit `action` there.
fn inputs_permit(inputs: &authz_cache::Inputs, action: &DataAction) -> bool {
    match (&inputs.service, &inputs.grants) {
        (Some(service), Some(grants)) => {
            authz::permits_data_action(grants, &service.resource_id(), action)
        }
        _ => false,
    }
}

/// Reads the service a path names, for the anonymous endpoints.
async fn find_service(
    state: &AppState,
    kind: ServiceKind,
    path: &ServicePath,
) -> Result<Option<HealthService>, StoreError> {
    let (ws, name) = (path.workspace.clone(), path.name.clone());
    state
        .store
        .read(move |tx| health::service_by_path(tx, kind, &ws, &name))
        .await
}

/// `WWW-Authenticate` for a 401 from `service`: where to get a token, for what.
fn www_authenticate(state: &AppState, service: &HealthService, kind: ServiceKind) -> HeaderValue {
    let resource = match kind {
        ServiceKind::Fhir => service.service_url(state.public_url.as_str()),
        ServiceKind::Dicom => hale_arm::DICOM_AUDIENCE.to_owned(),
    };
    let value = format!(
        "Bearer authorization_uri=\"{}{}\", resource_id=\"{resource}\", realm=\"{resource}\"",
        state.public_url, service.tenant_id
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"))
}

fn with_timing<B>(mut response: Response<B>, timing: Timing) -> Response<B> {
    response.headers_mut().insert(
        header::HeaderName::from_static("server-timing"),
        timing.header(),
    );
    response
}

/// Reads (or takes from the cache, when the epoch read says they are
/// current) the inputs of a decision.
async fn read_inputs(
    state: &AppState,
    kind: ServiceKind,
    key: authz_cache::Key,
    caller: Option<(TenantId, ObjectId)>,
) -> Result<Arc<authz_cache::Inputs>, StoreError> {
    let cache = state.authz_cache.clone();
    state
        .store
        .read_short(move |tx| {
            let epoch = arm::authz_epoch(tx)?;
            if let Some(inputs) = cache.get(&key, epoch) {
                return Ok::<_, StoreError>(inputs);
            }
            let service = health::service_by_path(tx, kind, &key.workspace, &key.name)?;
            let grants = match (&service, caller) {
                (Some(service), Some((tenant, oid))) if tenant == service.tenant_id => {
                    let scopes: Vec<String> = service
                        .resource_id()
                        .self_and_ancestors()
                        .iter()
                        .map(ResourceId::key)
                        .collect();
                    Some(arm::grants(tx, tenant, oid, Some(&scopes))?)
                }
                _ => None,
            };
            // Tagged with the epoch read before them: if a change committed
            // in between, the next request sees a newer epoch and reads again.
            let inputs = Arc::new(authz_cache::Inputs {
                epoch,
                service,
                grants,
            });
            cache.put(key, inputs.clone());
            Ok(inputs)
        })
        .await
}

/// A browser's request (it has an `Origin`) to a service whose CORS settings
/// allow that origin: the origin.
fn allowed_origin<'a>(service: &HealthService, headers: &'a HeaderMap) -> Option<&'a str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    service
        .cors
        .as_ref()
        .filter(|c| c.allows_origin(origin))
        .map(|_| origin)
}

/// Headers every CORS answer carries: the allowed origin (`*` when any
/// origin is, without credentials), credentials, and `Vary: Origin`.
fn cors_common(service: &HealthService, origin: &str, out: &mut HeaderMap) {
    let Some(cors) = &service.cors else { return };
    let any = cors.origins.iter().any(|o| o == "*") && !cors.allow_credentials;
    let allow = if any { "*" } else { origin };
    if let Ok(v) = HeaderValue::from_str(allow) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if cors.allow_credentials {
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    out.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// Whether a request is a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`).
fn is_preflight(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    method == axum::http::Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a CORS preflight, by the service's settings: 204 with the
/// allowed origin, methods, headers and max age when the origin, method and
/// headers asked are allowed; 204 without them (the browser then refuses)
/// otherwise. Preflights carry no token: they are answered before
/// authorization, as Azure does.
fn cors_preflight(service: &HealthService, headers: &HeaderMap) -> Response<axum::body::Body> {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = axum::http::StatusCode::NO_CONTENT;
    let (Some(origin), Some(cors)) = (allowed_origin(service, headers), &service.cors) else {
        return response;
    };
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let asked_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !cors.allows_method(method) || !cors.allows_headers(asked_headers) {
        return response;
    }
    let out = response.headers_mut();
    cors_common(service, origin, out);
    if let Ok(v) = HeaderValue::from_str(&cors.methods.join(", ")) {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !asked_headers.is_empty()
        && let Ok(v) = HeaderValue::from_str(asked_headers)
    {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    if let Some(age) = cors.max_age {
        out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    response
}

/// Response headers a browser needs to read the answer.
const CORS_EXPOSED: &str = "Location, Content-Location, ETag, Last-Modified, X-Request-Id, Server-Timing, WWW-Authenticate";

/// Adds CORS headers to the answer to a browser's request, when the
/// service's settings allow its origin.
fn add_cors(service: &HealthService, request: &HeaderMap, response: &mut HeaderMap) {
    if let Some(origin) = allowed_origin(service, request) {
        cors_common(service, origin, response);
        response.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSED),
        );
    }
}

/// CORS around a data-plane request: a preflight is answered from the
/// service's settings; any other request from a browser gets the headers
/// its origin is allowed. `None` when the request is not a preflight: run
/// it, then call [`with_cors`] on its answer.
async fn preflight(
    state: &super::AppState,
    kind: ServiceKind,
    path: &ServicePath,
    method: &axum::http::Method,
    headers: &HeaderMap,
) -> Option<Result<Option<Response<axum::body::Body>>, StoreError>> {
    if !is_preflight(method, headers) {
        return None;
    }
    Some(
        find_service(state, kind, path)
            .await
            .map(|found| found.map(|service| cors_preflight(&service, headers))),
    )
}

/// [`add_cors`] for a browser's request (one with an `Origin`), after the
/// service is looked up.
async fn with_cors(
    state: &super::AppState,
    kind: ServiceKind,
    path: &ServicePath,
    headers: &HeaderMap,
    mut response: Response<axum::body::Body>,
) -> Response<axum::body::Body> {
    if headers.contains_key(header::ORIGIN)
        && let Ok(Some(service)) = find_service(state, kind, path).await
        && service.cors.is_some()
    {
        add_cors(&service, headers, response.headers_mut());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_paths() {
        let p = ServicePath::parse("ws/fhir/Patient/1/").unwrap();
        assert_eq!(p.workspace, "ws");
        assert_eq!(p.name, "fhir");
        assert_eq!(p.rest(), ["Patient", "1"]);
        assert_eq!(
            ServicePath::parse("ws/fhir").unwrap().rest,
            Vec::<String>::new()
        );
        assert!(ServicePath::parse("ws").is_none());
        assert!(ServicePath::parse("ws/").is_none());
        assert!(ServicePath::parse("").is_none());
    }

    #[test]
    fn audiences() {
        let url = "https://h:1/fhir/ws/f";
        let cases = [
            (ServiceKind::Fhir, "https://h:1/fhir/ws/f", true),
            (ServiceKind::Fhir, "https://h:1/fhir/ws/f/", true),
            (ServiceKind::Fhir, "https://H:1/FHIR/ws/F", true),
            (ServiceKind::Fhir, "https://h:1/fhir/ws/f2", false),
            (ServiceKind::Fhir, "https://h:1/fhir/ws", false),
            (ServiceKind::Fhir, "https://azurehealthcareapis.com", false),
            (
                ServiceKind::Fhir,
                "https://dicom.healthcareapis.azure.com",
                false,
            ),
            (
                ServiceKind::Dicom,
                "https://dicom.healthcareapis.azure.com",
                true,
            ),
            (
                ServiceKind::Dicom,
                "https://dicom.healthcareapis.azure.com/",
                true,
            ),
            (ServiceKind::Dicom, url, false),
        ];
        for (kind, aud, expected) in cases {
            assert_eq!(accepts_audience(kind, url, aud), expected, "{kind:?} {aud}");
        }
    }
}
