//! The Entra ID endpoints under `/{tenant}/…`: discovery documents, JWKS and
//! MSAL's instance discovery. (The token endpoint and sign-in pages join here.)

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_directory::TenantId;
use hale_identity::discovery::{self, Scope};
use hale_identity::{OAuthError, TenantRef};
use hale_store::tenants;
use serde::Deserialize;

use super::AppState;

/// Discovery documents change only with the origin: let clients cache them.
const DOCUMENT_CACHE: &str = "max-age=86400, private";
/// Key sets change on rotation: cache for an hour.
const KEYS_CACHE: &str = "max-age=3600, private";

/// A tenant segment resolved against the directory.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved {
    Tenant(hale_directory::TenantId),
    Alias(&'static str),
}

impl Resolved {
    fn scope(&self) -> Scope<'static> {
        match self {
            Resolved::Tenant(id) => Scope::Tenant(*id),
            Resolved::Alias(alias) => Scope::Alias(alias),
        }
    }
}

/// Tenants found by URL segment, kept for a minute: every token request names
/// its tenant, tenants are never removed, and a new tenant is found at once
/// (only found tenants are kept).
#[derive(Default)]
pub(crate) struct TenantCache {
    found: std::sync::RwLock<std::collections::HashMap<String, (TenantId, std::time::Instant)>>,
}

const TENANT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
const TENANT_CACHE_MAX: usize = 10_000;

impl TenantCache {
    fn get(&self, segment: &str) -> Option<TenantId> {
        let found = self.found.read().expect("tenant cache lock");
        found
            .get(segment)
            .filter(|(_, at)| at.elapsed() < TENANT_CACHE_TTL)
            .map(|(id, _)| *id)
    }

    fn put(&self, segment: &str, id: TenantId) {
        let mut found = self.found.write().expect("tenant cache lock");
        if found.len() >= TENANT_CACHE_MAX {
            found.clear();
        }
        found.insert(segment.to_owned(), (id, std::time::Instant::now()));
    }
}

pub(crate) async fn resolve(state: &AppState, segment: &str) -> Result<Resolved, OAuthError> {
    let key = segment.to_ascii_lowercase();
    if let Some(id) = state.tenant_cache.get(&key) {
        return Ok(Resolved::Tenant(id));
    }
    let resolved = resolve_uncached(state, segment).await?;
    if let Resolved::Tenant(id) = resolved {
        state.tenant_cache.put(&key, id);
    }
    Ok(resolved)
}

async fn resolve_uncached(state: &AppState, segment: &str) -> Result<Resolved, OAuthError> {
    let reference = TenantRef::parse(segment).ok_or_else(|| OAuthError::invalid_tenant(segment))?;
    let found = match reference {
        TenantRef::Common => return Ok(Resolved::Alias("common")),
        TenantRef::Organizations => return Ok(Resolved::Alias("organizations")),
        TenantRef::Id(id) => state.store.read(move |tx| tenants::get(tx, id)).await,
        TenantRef::Domain(domain) => {
            state
                .store
                .read(move |tx| tenants::by_domain(tx, &domain))
                .await
        }
    };
    match found {
        Ok(Some(tenant)) => Ok(Resolved::Tenant(tenant.id)),
        Ok(None) => Err(OAuthError::tenant_not_found(segment)),
        Err(e) => {
            tracing::error!(error = %e, "tenant lookup failed");
            Err(OAuthError::tenant_not_found(segment))
        }
    }
}

/// Entra's error JSON with the client's correlation ID echoed.
pub(crate) fn oauth_error(error: &OAuthError, headers: &HeaderMap) -> Response {
    let correlation = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok());
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    with_cors((status, Json(error.to_json(correlation))).into_response())
}

fn document(body: serde_json::Value, cache: &'static str) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    with_cors(response)
}

/// Browsers (MSAL.js) read these documents cross-origin, as they do Entra's.
pub(crate) fn with_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn origin(state: &AppState) -> &str {
    state.public_url.as_str()
}

type DocumentBuilder = fn(&str, Scope<'_>) -> serde_json::Value;

async fn configuration(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    build: DocumentBuilder,
) -> Response {
    match resolve(state, tenant).await {
        Ok(resolved) => document(build(origin(state), resolved.scope()), DOCUMENT_CACHE),
        Err(e) => oauth_error(&e, headers),
    }
}

pub(crate) async fn openid_configuration_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    configuration(
        &state,
        &tenant,
        &headers,
        discovery::openid_configuration_v2,
    )
    .await
}

pub(crate) async fn openid_configuration_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    configuration(
        &state,
        &tenant,
        &headers,
        discovery::openid_configuration_v1,
    )
    .await
}

async fn keys(state: &AppState, tenant: &str, headers: &HeaderMap, v2: bool) -> Response {
    let resolved = match resolve(state, tenant).await {
        Ok(r) => r,
        Err(e) => return oauth_error(&e, headers),
    };
    // From memory: the keys are re-read every few seconds, not per request.
    let keys = state.signing.get(&state.store).await;
    let issuer = match (&resolved, v2) {
        (_, false) => None,
        (Resolved::Tenant(id), true) => Some(discovery::issuer_v2(origin(state), *id)),
        (Resolved::Alias(_), true) => Some(format!("{}{{tenantid}}/v2.0", origin(state))),
    };
    let body = discovery::jwks(keys.published.iter().map(Vec::as_slice), issuer.as_deref());
    document(body, KEYS_CACHE)
}

pub(crate) async fn keys_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    keys(&state, &tenant, &headers, true).await
}

pub(crate) async fn keys_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    keys(&state, &tenant, &headers, false).await
}

#[derive(Deserialize)]
pub(crate) struct InstanceQuery {
    authorization_endpoint: Option<String>,
}

/// `/common/discovery/instance`: MSAL asks which cloud an authority belongs to.
/// MSAL Python drops the port from the authority it asks about, so only the
/// path (the tenant) of `authorization_endpoint` is used.
pub(crate) async fn instance_discovery(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<InstanceQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = resolve(&state, &tenant).await {
        return oauth_error(&e, &headers);
    }
    let asked = query
        .authorization_endpoint
        .as_deref()
        .and_then(|a| url::Url::parse(a).ok())
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next())
                .map(str::to_owned)
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "common".to_owned());
    if let Err(e) = resolve(&state, &asked).await {
        return oauth_error(&e, &headers);
    }
    document(
        discovery::instance_discovery(origin(&state), &asked),
        DOCUMENT_CACHE,
    )
}

/// `GET /common/userrealm/{username}?api-version=1.0`: what kind of account
/// a user name is (MSAL asks before the password grant). Hale's tenants are
/// all managed (no federation), so a known domain is `Managed` and any other
/// `Unknown`, as Entra answers.
pub(crate) async fn user_realm(
    State(state): State<AppState>,
    Path((_tenant, username)): Path<(String, String)>,
) -> Response {
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let lookup = domain.clone();
    let known = !domain.is_empty()
        && state
            .store
            .read(move |tx| tenants::by_domain(tx, &lookup))
            .await
            .ok()
            .flatten()
            .is_some();
    let mut body = serde_json::json!({
        "ver": "1.0",
        "account_type": if known { "Managed" } else { "Unknown" },
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    });
    if known {
        body["domain_name"] = serde_json::json!(domain);
    }
    document(body, "no-store")
}
