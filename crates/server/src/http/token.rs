//! The token endpoint: `/{tenant}/oauth2/v2.0/token` and the v1
//! `/{tenant}/oauth2/token` (with `resource=`). Grants: client credentials with
//! a client secret (form or HTTP Basic). Other grants join here.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hale_directory::{AppId, ServicePrincipal, TenantId, first_party};
use hale_identity::OAuthError;
use hale_identity::token::{self, AppOnlyToken, ClientAuthentication, TokenVersion};
use hale_store::applications::SecretDigest;
use hale_store::{StoreError, Tx, applications, principals};
use serde_json::json;
use time::OffsetDateTime;

use super::AppState;
use super::identity::{Resolved, oauth_error, resolve};

/// Largest token request accepted (client assertions are a few KiB).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// The signing key tokens are issued with.
pub(crate) struct TokenSigner {
    pub kid: String,
    pub signer: hale_jws::RsaSigner,
}

#[derive(Clone, Copy, PartialEq, Eq)]
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

async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    match issue(&state, &tenant, &headers, &body, endpoint).await {
        Ok(mut response) => {
            let h = response.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => oauth_error(&e, &headers),
    }
}

/// The form's parameters; the first occurrence of each wins.
struct Form(Vec<(String, String)>);

impl Form {
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

/// `client_id` and `client_secret` from HTTP Basic (RFC 6749 §2.3.1: both
/// form-url-encoded before base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// The resource a client-credentials request names, as found in the tenant.
struct Resource {
    /// v2 audience: the resource application's client ID.
    app_id: AppId,
    version: TokenVersion,
}

fn find_resource(
    tx: &mut dyn Tx,
    tenant: TenantId,
    identifier: &str,
) -> Result<Option<Resource>, StoreError> {
    let trimmed = identifier.trim_end_matches('/');
    let as_guid: Option<AppId> = identifier.parse().ok();
    let first = first_party::ALL.iter().find(|fp| {
        Some(fp.app_id) == as_guid
            || fp
                .identifier_uris
                .iter()
                .any(|u| u.trim_end_matches('/').eq_ignore_ascii_case(trimmed))
    });
    if let Some(fp) = first {
        let present = principals::by_app_id(tx, tenant, fp.app_id)?.is_some();
        let version = if fp.access_token_version == 2 {
            TokenVersion::V2
        } else {
            TokenVersion::V1
        };
        return Ok(present.then_some(Resource {
            app_id: fp.app_id,
            version,
        }));
    }
    let owner = match as_guid {
        Some(app_id) => applications::by_app_id(tx, app_id)?.filter(|a| a.tenant_id == tenant),
        None => match applications::identifier_uri_owner(tx, tenant, identifier)? {
            Some(id) => applications::get(tx, tenant, id)?,
            None => None,
        },
    };
    let Some(app) = owner else { return Ok(None) };
    if principals::by_app_id(tx, tenant, app.app_id)?.is_none() {
        return Ok(None);
    }
    let version = if app.api.requested_access_token_version == Some(2) {
        TokenVersion::V2
    } else {
        TokenVersion::V1
    };
    Ok(Some(Resource {
        app_id: app.app_id,
        version,
    }))
}

/// What the database says about a client-credentials request.
enum Lookup {
    UnknownClient,
    NoServicePrincipal,
    UnknownResource,
    Found {
        principal: ServicePrincipal,
        digests: Vec<SecretDigest>,
        resource: Resource,
    },
}

async fn issue(
    state: &AppState,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: Endpoint,
) -> Result<Response, OAuthError> {
    let tenant = match resolve(state, tenant_segment).await? {
        Resolved::Tenant(id) => id,
        Resolved::Alias(alias) => return Err(OAuthError::tenant_required(alias)),
    };
    let form = parse_form(headers, body)?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::missing_parameter("grant_type"))?;
    if grant != "client_credentials" {
        return Err(OAuthError::unsupported_grant_type(grant));
    }
    let basic = basic_credentials(headers);
    let client_id = form
        .get("client_id")
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| OAuthError::missing_parameter("client_id"))?;
    if form.get("client_assertion").is_some() {
        return Err(OAuthError::unsupported_client_assertion());
    }
    let secret = form
        .get("client_secret")
        .map(str::to_owned)
        .or_else(|| basic.map(|(_, secret)| secret))
        .ok_or_else(OAuthError::missing_credential)?;
    let requested = match endpoint {
        Endpoint::V2 => {
            if form.get("resource").is_some() {
                return Err(OAuthError::resource_on_v2());
            }
            token::client_credentials_resource(form.get("scope").unwrap_or_default())?
        }
        Endpoint::V1 => form
            .get("resource")
            .ok_or_else(|| OAuthError::missing_parameter("resource"))?
            .to_owned(),
    };
    let Ok(client) = client_id.parse::<AppId>() else {
        return Err(OAuthError::unknown_client(&client_id, tenant_segment));
    };

    let identifier = requested.clone();
    let lookup = state
        .store
        .read(move |tx| {
            let Some(app) = applications::by_app_id(tx, client)?.filter(|a| a.tenant_id == tenant)
            else {
                return Ok(Lookup::UnknownClient);
            };
            let Some(principal) = principals::by_app_id(tx, tenant, client)? else {
                return Ok(Lookup::NoServicePrincipal);
            };
            let digests = applications::secret_digests(tx, app.id)?;
            Ok::<_, StoreError>(match find_resource(tx, tenant, &identifier)? {
                Some(resource) => Lookup::Found {
                    principal,
                    digests,
                    resource,
                },
                None => Lookup::UnknownResource,
            })
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token request lookup failed");
            OAuthError::malformed_request("the directory could not be read; try again")
        })?;
    let (principal, digests, resource) = match lookup {
        Lookup::UnknownClient => {
            return Err(OAuthError::unknown_client(&client_id, tenant_segment));
        }
        Lookup::NoServicePrincipal => {
            return Err(OAuthError::missing_service_principal(
                &client_id,
                &tenant.to_string(),
            ));
        }
        Lookup::UnknownResource => {
            return Err(OAuthError::unknown_resource(
                &requested,
                &tenant.to_string(),
            ));
        }
        Lookup::Found {
            principal,
            digests,
            resource,
        } => (principal, digests, resource),
    };

    // Every digest is checked (constant time each), whatever matches first.
    let now = OffsetDateTime::now_utc();
    let matching: Vec<&SecretDigest> = digests
        .iter()
        .filter(|d| state.secret_digester.verify(&secret, &d.digest))
        .collect();
    if matching.is_empty() {
        return Err(OAuthError::invalid_secret(&client_id));
    }
    if matching.iter().all(|d| d.end_date_time <= now) {
        return Err(OAuthError::expired_secret(&client_id));
    }

    let audience = match resource.version {
        TokenVersion::V1 => requested.clone(),
        TokenVersion::V2 => resource.app_id.to_string(),
    };
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let claims = AppOnlyToken {
        origin: state.public_url.as_str(),
        tenant,
        client,
        client_principal: principal.id,
        audience: &audience,
        version: resource.version,
        authentication: ClientAuthentication::Secret,
        roles: &[],
        now: seconds,
    }
    .claims();
    let signer = &state.token_signer;
    let header = match resource.version {
        TokenVersion::V1 => hale_jws::Header::entra_v1(&signer.kid),
        TokenVersion::V2 => hale_jws::Header::entra_v2(&signer.kid),
    };
    let access_token = signer.signer.sign(&header, &claims).map_err(|e| {
        tracing::error!(error = %e, "token signing failed");
        OAuthError::malformed_request("the token could not be signed")
    })?;
    let lifetime = token::ACCESS_TOKEN_LIFETIME;
    let body = match endpoint {
        Endpoint::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }),
        Endpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (seconds + lifetime).to_string(),
            "not_before": (seconds - 300).to_string(),
            "resource": requested,
            "access_token": access_token,
        }),
    };
    tracing::info!(client = %client, resource = %requested, "issued an app-only token");
    Ok(axum::Json(body).into_response())
}
