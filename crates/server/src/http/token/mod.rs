//! The token endpoint: `/{tenant}/oauth2/v2.0/token` and the v1
//! `/{tenant}/oauth2/token` (with `resource=`), and the device authorization
//! endpoint `/{tenant}/oauth2/v2.0/devicecode`.
//!
//! Grants: `client_credentials` (app_only.rs); `password`, `refresh_token` and
//! the device code grant (user.rs). Client authentication is client.rs; the
//! resources and what a client may get on them, resource.rs.

mod app_only;
pub(crate) mod authorize;
mod client;
pub(crate) mod device;
mod interactive;
mod obo;
mod resource;
mod user;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hale_identity::OAuthError;
use hale_identity::token::{self, TokenVersion};
use hale_store::StoreError;
use rand::RngCore;
use serde_json::{Value, json};

use super::AppState;
use super::identity::{Resolved, oauth_error, resolve, with_cors};

/// Largest token request accepted (client assertions are a few KiB).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// The signing key tokens are issued with.
pub(crate) struct TokenSigner {
    pub kid: String,
    pub signer: hale_jws::RsaSigner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    V1,
    V2,
}

pub(crate) async fn token_v2(
    state: State<AppState>,
    tenant: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(state, tenant, headers, body, Endpoint::V2).await
}

pub(crate) async fn token_v1(
    state: State<AppState>,
    tenant: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(state, tenant, headers, body, Endpoint::V1).await
}

/// The token endpoint asked with another method than POST or OPTIONS:
/// Entra's OAuth error (AADSTS900561), not an empty 405.
pub(crate) async fn not_post(method: Method, headers: HeaderMap) -> Response {
    oauth_error(&OAuthError::post_only(method.as_str()), &headers)
}

/// A browser's CORS preflight for the token endpoint: single-page
/// applications (MSAL.js) redeem codes and refresh tokens cross-origin, and
/// Entra lets any origin POST there (no cookie is involved).
pub(crate) async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    // MSAL.js sends its telemetry and correlation headers; allow what is asked.
    if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    with_cors(response)
}

async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    let issued = issue(&state, &tenant, &headers, &body, endpoint).await;
    let outcome = match &issued {
        Ok(response) => Ok(response.extensions().get::<SignInFacts>().cloned()),
        Err(e) => Err(e.clone()),
    };
    log_sign_in(&state, &tenant, &headers, &body, outcome).await;
    match issued {
        Ok(mut response) => {
            let h = response.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            with_cors(response)
        }
        Err(e) => oauth_error(&e, &headers),
    }
}

/// Who got a token, for the sign-in log (attached to the response).
#[derive(Debug, Clone)]
struct SignInFacts {
    tenant: hale_directory::TenantId,
    user: Option<(hale_directory::ObjectId, String)>,
}

/// Records a token request in the sign-in log: the client, grant, resource,
/// user and IP from the request, the outcome from the answer. Requests for an
/// unknown tenant are not logged (there is no tenant to log them in).
async fn log_sign_in(
    state: &AppState,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    outcome: Result<Option<SignInFacts>, OAuthError>,
) {
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(&body[..body.len().min(MAX_BODY)])
            .into_owned()
            .collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let facts = match &outcome {
        Ok(facts) => facts.clone(),
        Err(_) => match resolve(state, tenant_segment).await {
            Ok(Resolved::Tenant(tenant)) => Some(SignInFacts { tenant, user: None }),
            _ => None,
        },
    };
    let Some(facts) = facts else { return };
    let (code, reason) = match &outcome {
        Ok(_) => (0, None),
        Err(e) => (i64::from(e.code), Some(e.description.clone())),
    };
    // The connection's peer (behind a balancer, the balancer: X-Forwarded-For
    // is the client's to forge, so it is not trusted).
    let ip = headers
        .get(super::CLIENT_ADDRESS)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.sign_ins.record(hale_store::sign_in_log::SignInEvent {
        id: uuid::Uuid::new_v4(),
        tenant: facts.tenant,
        created_at: time::OffsetDateTime::now_utc(),
        app_id: get("client_id"),
        app_display_name: None,
        user_id: facts.user.as_ref().map(|(id, _)| id.0),
        user_principal_name: facts.user.map(|(_, upn)| upn).or_else(|| get("username")),
        ip_address: ip,
        client_app_used: get("grant_type").unwrap_or_else(|| "unknown".into()),
        resource: get("resource").or_else(|| get("scope")),
        error_code: code,
        failure_reason: reason,
    });
}

/// The form's parameters; the first occurrence of each wins.
struct Form(Vec<(String, String)>);

impl Form {
    /// A parameter that must be present: AADSTS900144 otherwise.
    fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::missing_parameter(name))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::malformed_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(OAuthError::malformed_request(
            "the request body is too large",
        ));
    }
    Ok(Form(
        url::form_urlencoded::parse(body).into_owned().collect(),
    ))
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Answers one token request; every grant type starts here.
async fn issue(
    state: &AppState,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: Endpoint,
) -> Result<Response, OAuthError> {
    let resolved = resolve(state, tenant_segment).await?;
    let form = parse_form(headers, body)?;
    let grant = form.required("grant_type")?;
    let request = Request {
        state,
        resolved,
        tenant_segment,
        form: &form,
        headers,
        endpoint,
    };
    match grant {
        "client_credentials" => app_only::client_credentials(&request).await,
        "password" => user::password(&request).await,
        "refresh_token" => user::refresh(&request).await,
        "authorization_code" => user::authorization_code(&request).await,
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => obo::on_behalf_of(&request).await,
        "device_code" | "urn:ietf:params:oauth:grant-type:device_code" => {
            user::device_code(&request).await
        }
        other => Err(OAuthError::unsupported_grant_type(other)),
    }
}

/// A token request, parsed as far as every grant needs.
struct Request<'a> {
    state: &'a AppState,
    resolved: Resolved,
    tenant_segment: &'a str,
    form: &'a Form,
    headers: &'a HeaderMap,
    endpoint: Endpoint,
}

impl Request<'_> {
    /// The tenant named in the URL, or AADSTS90133-style refusal for
    /// `common`/`organizations` where the grant needs a tenant.
    fn tenant(&self) -> Result<hale_directory::TenantId, OAuthError> {
        match self.resolved {
            Resolved::Tenant(id) => Ok(id),
            Resolved::Alias(alias) => Err(OAuthError::tenant_required(alias)),
        }
    }
}

/// A signed access token and what the response says about it.
struct Issued {
    access_token: String,
    /// The resource as requested (v1 responses echo it).
    resource: String,
    /// Granted scopes, for delegated tokens.
    scope: Option<String>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    client_info: Option<String>,
    now: i64,
    /// For the sign-in log.
    tenant: hale_directory::TenantId,
    user: Option<(hale_directory::ObjectId, String)>,
}

/// Signs `claims` in the shape of `version` (v1 tokens carry `x5t` too),
/// with the key that signs now.
async fn sign(
    state: &AppState,
    version: TokenVersion,
    claims: &Value,
) -> Result<String, OAuthError> {
    let keys = state.signing.get(&state.store).await;
    let signer = &keys.signer;
    let header = match version {
        TokenVersion::V1 => hale_jws::Header::entra_v1(&signer.kid),
        TokenVersion::V2 => hale_jws::Header::entra_v2(&signer.kid),
    };
    signer.signer.sign(&header, claims).map_err(|e| {
        tracing::error!(error = %e, "token signing failed");
        OAuthError::malformed_request("the token could not be signed")
    })
}

/// The endpoint's response body for an issued token.
fn respond(issued: Issued, endpoint: Endpoint) -> Response {
    let facts = SignInFacts {
        tenant: issued.tenant,
        user: issued.user.clone(),
    };
    let lifetime = token::ACCESS_TOKEN_LIFETIME;
    let now = issued.now;
    let mut body = match endpoint {
        Endpoint::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
        }),
        Endpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": (now - 300).to_string(),
            "resource": issued.resource,
        }),
    };
    let map = body.as_object_mut().expect("an object");
    if let Some(scope) = issued.scope {
        map.insert("scope".into(), json!(scope));
    }
    map.insert("access_token".into(), json!(issued.access_token));
    for (name, value) in [
        ("refresh_token", issued.refresh_token),
        ("id_token", issued.id_token),
        ("client_info", issued.client_info),
    ] {
        if let Some(value) = value {
            map.insert(name.into(), json!(value));
        }
    }
    let mut response = axum::Json(body).into_response();
    response.extensions_mut().insert(facts);
    response
}

fn directory_unreadable(e: StoreError) -> OAuthError {
    tracing::error!(error = %e, "token request lookup failed");
    OAuthError::malformed_request("the directory could not be read; try again")
}

/// A new bearer secret (refresh token, device code, code): 256 random bits,
/// base64url, after a short prefix that says what it is.
pub(crate) fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The keyed digest a bearer secret of `kind` is stored and found by.
pub(crate) fn secret_digest(state: &AppState, kind: &str, secret: &str) -> Vec<u8> {
    state.secret_digester.digest(&format!("{kind}:{secret}"))
}
