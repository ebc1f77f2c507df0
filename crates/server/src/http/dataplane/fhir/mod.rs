//! `/fhir/{ws}/{name}/…`: the FHIR service's front door. Anonymous
//! `GET /metadata`, `/.well-known/smart-configuration` and `/health/check`;
//! everything else authenticated and authorized, failures as FHIR
//! OperationOutcomes (401 `login` "Authentication failed.", 403 `forbidden`
//! "Authorization failed.").

mod bundle;
mod capability;
mod export;
mod outcome;
mod patch;
mod rest;
mod search;
mod write;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_arm::authz::{self, DataAction};
use hale_arm::smart;
use hale_arm::{HealthService, ServiceKind};
use serde_json::json;

use self::outcome::{fhir_json, now_rfc3339, outcome};
use super::{Denied, ServicePath, authorize, find_service, with_timing, www_authenticate};
use crate::http::AppState;

pub(crate) use self::export::start_sweeper as start_export_sweeper;

/// Loads the R4 tables before the first request needs them.
pub(crate) fn warm() {
    let _ = hale_fhir_model::r4();
    capability::warm();
}

/// The format a request asks for that is not JSON, if it accepts only
/// such: `_format` (which overrides `Accept`, R4 http.html §3.1.0.1.10) or
/// every media range of `Accept` (XML, Turtle, …). Bulk export's NDJSON
/// files count as JSON.
fn unsupported_format(headers: &HeaderMap, query: &[(String, String)]) -> Option<String> {
    const JSON: [&str; 7] = [
        "json",
        "application/json",
        "application/fhir+json",
        "application/json+fhir",
        "application/fhir+ndjson",
        "application/ndjson",
        "application/x-ndjson",
    ];
    let media = |range: &str| {
        range
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    if let Some((_, format)) = query.iter().rev().find(|(k, _)| k == "_format") {
        let wanted = media(format);
        return (!JSON.contains(&wanted.as_str())).then(|| format.clone());
    }
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let ranges: Vec<String> = accept.split(',').map(media).collect();
    let acceptable = ranges
        .iter()
        .any(|r| r.is_empty() || r == "*/*" || r == "application/*" || JSON.contains(&r.as_str()));
    (!acceptable).then(|| accept.to_owned())
}

/// 500 when the service could not be looked up.
fn lookup_failed(headers: &HeaderMap, e: &hale_store::StoreError) -> Response {
    tracing::error!(error = %e, "FHIR service lookup failed");
    outcome(
        headers,
        StatusCode::INTERNAL_SERVER_ERROR,
        "exception",
        "The service lookup failed; try again.",
    )
}

fn unknown_service(headers: &HeaderMap, path: &str) -> Response {
    outcome(
        headers,
        StatusCode::NOT_FOUND,
        "not-found",
        &format!("There is no FHIR service at '/fhir/{path}'."),
    )
}

/// Every request under `/fhir/`: CORS around [`serve`] (a preflight
/// answered from the service's settings, a browser's request given the
/// headers its origin is allowed).
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    Path(raw): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = ServicePath::parse(&raw);
    if let Some(path) = &path
        && let Some(answer) =
            super::preflight(&state, ServiceKind::Fhir, path, &method, &headers).await
    {
        return match answer {
            Ok(Some(response)) => response,
            Ok(None) => unknown_service(&headers, &raw),
            Err(e) => lookup_failed(&headers, &e),
        };
    }
    let response = serve(
        State(state.clone()),
        method.clone(),
        Path(raw.clone()),
        Query(query),
        headers.clone(),
        body,
    )
    .await;
    match &path {
        Some(path) => super::with_cors(&state, ServiceKind::Fhir, path, &headers, response).await,
        None => response,
    }
}

async fn serve(
    State(state): State<AppState>,
    method: Method,
    Path(raw): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(path) = ServicePath::parse(&raw) else {
        return unknown_service(&headers, &raw);
    };
    if let Some(unsupported) = unsupported_format(&headers, &query) {
        return outcome(
            &headers,
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            &format!(
                "The requested format '{unsupported}' is not supported; the FHIR service speaks application/fhir+json."
            ),
        );
    }
    let rest = path.rest();
    if matches!(method, Method::GET | Method::HEAD) {
        let anonymous = match rest.as_slice() {
            ["metadata"] => Some(Anonymous::Metadata),
            [".well-known", "smart-configuration"] => Some(Anonymous::SmartConfiguration),
            ["health", "check"] => Some(Anonymous::HealthCheck),
            _ => None,
        };
        if let Some(which) = anonymous {
            return match find_service(&state, ServiceKind::Fhir, &path).await {
                Ok(Some(service)) => anonymous_answer(&state, &service, which),
                Ok(None) => unknown_service(&headers, &raw),
                Err(e) => lookup_failed(&headers, &e),
            };
        }
    }
    let action = DataAction::Fhir(authz::fhir_action(method.as_str(), &rest, &query));
    let (decision, timing) = authorize(&state, &headers, ServiceKind::Fhir, &path, action).await;
    let response = match decision {
        Ok(authorized)
            if let Some(refused) =
                smart_refusal(&headers, &method, &rest, authorized.smart.as_ref()) =>
        {
            tracing::info!(caller = %authorized.caller, status = %refused.status(), "FHIR request outside the caller's SMART scopes");
            refused
        }
        Ok(authorized) => match axum::body::to_bytes(body, rest::MAX_BODY).await {
            Ok(body) => {
                let base = authorized
                    .service
                    .service_url(state.public_url.as_str())
                    .trim_end_matches('/')
                    .to_owned();
                rest::handle(rest::FhirRequest {
                    state: state.clone(),
                    service: authorized.service,
                    base,
                    method,
                    rest: path.rest.clone(),
                    query,
                    headers: headers.clone(),
                    body,
                    smart: authorized.smart.and_then(Result::ok),
                })
                .await
            }
            Err(_) => outcome(
                &headers,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                &format!(
                    "The request body is larger than the {} MiB the FHIR service accepts.",
                    rest::MAX_BODY / (1024 * 1024)
                ),
            ),
        },
        Err(Denied::UnknownService) => unknown_service(&headers, &raw),
        Err(Denied::Unauthenticated(_, service) | Denied::OtherTenant(service)) => {
            let mut r = outcome(
                &headers,
                StatusCode::UNAUTHORIZED,
                "login",
                "Authentication failed.",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                www_authenticate(&state, &service, ServiceKind::Fhir),
            );
            r
        }
        Err(Denied::Forbidden(_)) => outcome(
            &headers,
            StatusCode::FORBIDDEN,
            "forbidden",
            "Authorization failed.",
        ),
        Err(Denied::Storage(e)) => {
            tracing::error!(error = %e, "FHIR authorization read failed");
            outcome(
                &headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "Authorization could not be decided; try again.",
            )
        }
    };
    with_timing(response, timing)
}

/// Why a SMART caller's request is refused before it runs, if it is: 400
/// when its scopes need a `fhirUser` claim it does not have (as the FHIR
/// service answers), 403 when its scopes do not grant the request, or when
/// it is confined to a compartment and asks for a bulk export (which would
/// reach beyond it).
fn smart_refusal(
    headers: &HeaderMap,
    method: &Method,
    rest: &[&str],
    smart: Option<&Result<smart::Access, smart::FhirUserFault>>,
) -> Option<Response> {
    let forbidden = || {
        outcome(
            headers,
            StatusCode::FORBIDDEN,
            "forbidden",
            "Authorization failed.",
        )
    };
    match smart? {
        Err(fault) => Some(outcome(
            headers,
            StatusCode::BAD_REQUEST,
            "invalid",
            &fault.to_string(),
        )),
        Ok(access)
            if !access
                .scopes
                .permit_all(&smart::fhir_needs(method.as_str(), rest)) =>
        {
            Some(forbidden())
        }
        Ok(access)
            if access.fhir_user.is_some()
                && (rest.first() == Some(&"_operations") || rest.contains(&"$export")) =>
        {
            Some(forbidden())
        }
        Ok(_) => None,
    }
}

enum Anonymous {
    Metadata,
    SmartConfiguration,
    HealthCheck,
}

fn anonymous_answer(state: &AppState, service: &HealthService, which: Anonymous) -> Response {
    let origin = state.public_url.as_str();
    let tenant = service.tenant_id;
    let url = service.service_url(origin);
    let authorize = format!("{origin}{tenant}/oauth2/v2.0/authorize");
    let token = format!("{origin}{tenant}/oauth2/v2.0/token");
    match which {
        Anonymous::Metadata => fhir_json(
            StatusCode::OK,
            capability::statement(
                &url,
                &format!("FHIR service {}/{}", service.workspace, service.name),
                &authorize,
                &token,
                &now_rfc3339(),
            ),
        ),
        Anonymous::SmartConfiguration => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            json!({
                "issuer": format!("{origin}{tenant}/v2.0"),
                "jwks_uri": format!("{origin}{tenant}/discovery/v2.0/keys"),
                "authorization_endpoint": authorize,
                "token_endpoint": token,
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
                "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
                "response_types_supported": ["code"],
                // Patient and user scopes are confined to the fhirUser's
                // compartment. Standalone launch works, but no launch
                // context is issued (no `patient` token parameter):
                // `context-*` is not advertised.
                "scopes_supported": [
                    "openid", "profile", "offline_access", "fhirUser",
                    "patient/*.read", "patient/*.write", "user/*.read", "user/*.write",
                    "system/*.read", "system/*.write"
                ],
                "code_challenge_methods_supported": ["S256"],
                "capabilities": [
                    "launch-standalone", "client-public", "client-confidential-symmetric",
                    "sso-openid-connect", "permission-offline", "permission-patient",
                    "permission-user", "permission-v1", "permission-v2"
                ]
            })
            .to_string(),
        )
            .into_response(),
        Anonymous::HealthCheck => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            json!({
                "overallStatus": "Healthy",
                "details": [{ "name": "DataStoreHealthCheck", "status": "Healthy", "description": "Successfully connected." }]
            })
            .to_string(),
        )
            .into_response(),
    }
}
