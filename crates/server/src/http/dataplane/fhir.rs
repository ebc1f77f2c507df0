//! `/fhir/{ws}/{name}/…`: the FHIR service's front door. Anonymous
//! `GET /metadata`, `/.well-known/smart-configuration` and `/health/check`;
//! everything else authenticated and authorized, failures as FHIR
//! OperationOutcomes (401 `login` "Authentication failed.", 403 `forbidden`
//! "Authorization failed.").

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_arm::authz::{self, DataAction};
use hale_arm::{HealthService, ServiceKind};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    Authorized, Denied, ServicePath, authorize, find_service, with_timing, www_authenticate,
};
use crate::http::{AppState, REQUEST_ID};

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// An OperationOutcome with one issue, its `id` the request's ID.
fn outcome(headers: &HeaderMap, status: StatusCode, code: &str, diagnostics: &str) -> Response {
    let id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let severity = if status.is_success() {
        "information"
    } else {
        "error"
    };
    let body = json!({
        "resourceType": "OperationOutcome",
        "id": id,
        "meta": { "lastUpdated": now() },
        "issue": [{ "severity": severity, "code": code, "diagnostics": diagnostics }],
    });
    fhir_json(status, body)
}

fn fhir_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        body.to_string(),
    )
        .into_response()
}

fn unknown_service(headers: &HeaderMap, path: &str) -> Response {
    outcome(
        headers,
        StatusCode::NOT_FOUND,
        "not-found",
        &format!("There is no FHIR service at '/fhir/{path}'."),
    )
}

/// Every request under `/fhir/`.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    Path(raw): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let Some(path) = ServicePath::parse(&raw) else {
        return unknown_service(&headers, &raw);
    };
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
                Err(e) => {
                    tracing::error!(error = %e, "FHIR service lookup failed");
                    outcome(
                        &headers,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "exception",
                        "The service lookup failed; try again.",
                    )
                }
            };
        }
    }
    let action = DataAction::Fhir(authz::fhir_action(method.as_str(), &rest, &query));
    let (decision, timing) = authorize(&state, &headers, ServiceKind::Fhir, &path, action).await;
    let response = match decision {
        Ok(authorized) => not_implemented(&headers, &authorized),
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

/// FIXME(issue 7): the FHIR service's interactions. Until they exist, an
/// authorized request is answered 501, saying which data action authorized it
/// (so that "authorized" is visible: unauthorized requests get 401 or 403).
fn not_implemented(headers: &HeaderMap, authorized: &Authorized) -> Response {
    let smart = if authorized.smart {
        " SMART on FHIR scope and fhirUser restrictions apply to this caller."
    } else {
        ""
    };
    let mut response = outcome(
        headers,
        StatusCode::NOT_IMPLEMENTED,
        "not-supported",
        &format!(
            "Authorized: the caller holds '{}' on this FHIR service.{smart} The FHIR interactions themselves are not implemented yet (issue 7).",
            authorized.action.operation()
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&authorized.action.operation()) {
        response.headers_mut().insert(
            header::HeaderName::from_static("x-hale-authorized-action"),
            v,
        );
    }
    response
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
        // FIXME(issue 7): list the resources and interactions the FHIR service
        // supports once it exists; today it truthfully supports none.
        Anonymous::Metadata => fhir_json(
            StatusCode::OK,
            json!({
                "resourceType": "CapabilityStatement",
                "status": "active",
                "date": now(),
                "publisher": "Hale",
                "kind": "instance",
                "software": { "name": "Hale FHIR service", "version": env!("CARGO_PKG_VERSION") },
                "implementation": { "description": format!("FHIR service {}/{}", service.workspace, service.name), "url": url },
                "fhirVersion": "4.0.1",
                "format": ["application/fhir+json", "json"],
                "rest": [{
                    "mode": "server",
                    "security": {
                        "extension": [{
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [
                                { "url": "token", "valueUri": token },
                                { "url": "authorize", "valueUri": authorize },
                            ]
                        }],
                        "service": [{
                            "coding": [{
                                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                "code": "SMART-on-FHIR"
                            }]
                        }]
                    }
                }]
            }),
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
                "scopes_supported": ["openid", "profile", "offline_access", "fhirUser", "launch", "launch/patient"],
                "code_challenge_methods_supported": ["S256"],
                "capabilities": [
                    "launch-standalone", "client-public", "client-confidential-symmetric",
                    "sso-openid-connect", "context-standalone-patient", "permission-offline",
                    "permission-patient", "permission-user"
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
