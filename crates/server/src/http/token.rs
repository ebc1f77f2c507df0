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
use hale_store::{StoreError, Tx, applications, principals, tenants, users};
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
    let resolved = resolve(state, tenant_segment).await?;
    let form = parse_form(headers, body)?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::missing_parameter("grant_type"))?;
    match grant {
        "client_credentials" => {
            let tenant = match resolved {
                Resolved::Tenant(id) => id,
                Resolved::Alias(alias) => return Err(OAuthError::tenant_required(alias)),
            };
            client_credentials(state, tenant, tenant_segment, &form, headers, endpoint).await
        }
        "password" => password(state, resolved, tenant_segment, &form, headers, endpoint).await,
        other => Err(OAuthError::unsupported_grant_type(other)),
    }
}

/// The client ID and secret, from the form or HTTP Basic. Client assertions are
/// refused until certificate credentials exist.
fn client_credentials_of(
    form: &Form,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), OAuthError> {
    if form.get("client_assertion").is_some() {
        return Err(OAuthError::unsupported_client_assertion());
    }
    let basic = basic_credentials(headers);
    let client_id = form
        .get("client_id")
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| OAuthError::missing_parameter("client_id"))?;
    let secret = form
        .get("client_secret")
        .map(str::to_owned)
        .or_else(|| basic.map(|(_, secret)| secret));
    Ok((client_id, secret))
}

/// Checks a presented secret against an application's digests (every digest,
/// in constant time each).
fn check_secret(
    state: &AppState,
    digests: &[SecretDigest],
    secret: &str,
    client_id: &str,
) -> Result<(), OAuthError> {
    let now = OffsetDateTime::now_utc();
    let matching: Vec<&SecretDigest> = digests
        .iter()
        .filter(|d| state.secret_digester.verify(secret, &d.digest))
        .collect();
    if matching.is_empty() {
        return Err(OAuthError::invalid_secret(client_id));
    }
    if matching.iter().all(|d| d.end_date_time <= now) {
        return Err(OAuthError::expired_secret(client_id));
    }
    Ok(())
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Signs `claims` in the resource's token shape and answers in the endpoint's
/// response shape. `scope` is the granted scope of a delegated token.
fn respond(
    state: &AppState,
    version: TokenVersion,
    claims: &serde_json::Value,
    endpoint: Endpoint,
    requested: &str,
    scope: Option<&str>,
    now: i64,
) -> Result<Response, OAuthError> {
    let signer = &state.token_signer;
    let header = match version {
        TokenVersion::V1 => hale_jws::Header::entra_v1(&signer.kid),
        TokenVersion::V2 => hale_jws::Header::entra_v2(&signer.kid),
    };
    let access_token = signer.signer.sign(&header, claims).map_err(|e| {
        tracing::error!(error = %e, "token signing failed");
        OAuthError::malformed_request("the token could not be signed")
    })?;
    let lifetime = token::ACCESS_TOKEN_LIFETIME;
    let mut body = match endpoint {
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
            "expires_on": (now + lifetime).to_string(),
            "not_before": (now - 300).to_string(),
            "resource": requested,
            "access_token": access_token,
        }),
    };
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    Ok(axum::Json(body).into_response())
}

fn audience(version: TokenVersion, requested: &str, resource: &Resource) -> String {
    match version {
        TokenVersion::V1 => requested.trim_end_matches("/.default").to_owned(),
        TokenVersion::V2 => resource.app_id.to_string(),
    }
}

async fn client_credentials(
    state: &AppState,
    tenant: TenantId,
    tenant_segment: &str,
    form: &Form,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<Response, OAuthError> {
    let (client_id, secret) = client_credentials_of(form, headers)?;
    let secret = secret.ok_or_else(OAuthError::missing_credential)?;
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
        .map_err(directory_unreadable)?;
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
    check_secret(state, &digests, &secret, &client_id)?;

    let now = now_seconds();
    let aud = audience(resource.version, &requested, &resource);
    let claims = AppOnlyToken {
        origin: state.public_url.as_str(),
        tenant,
        client,
        client_principal: principal.id,
        audience: &aud,
        version: resource.version,
        authentication: ClientAuthentication::Secret,
        roles: &[],
        now,
    }
    .claims();
    tracing::info!(client = %client, resource = %requested, "issued an app-only token");
    respond(
        state,
        resource.version,
        &claims,
        endpoint,
        &requested,
        None,
        now,
    )
}

fn directory_unreadable(e: StoreError) -> OAuthError {
    tracing::error!(error = %e, "token request lookup failed");
    OAuthError::malformed_request("the directory could not be read; try again")
}

/// The client of a delegated flow, as the directory knows it.
enum Client {
    /// A public client: may not present a secret.
    Public,
    /// A confidential client: must present one of these secrets.
    Confidential(Vec<SecretDigest>),
}

/// What a password grant needs from the directory.
struct PasswordLookup {
    tenant: TenantId,
    client: Option<Client>,
    user: Option<hale_directory::User>,
    resource: Option<Resource>,
    roles: Vec<String>,
}

/// The resource-owner password grant (ROPC): only for public clients (or "Allow
/// public client flows"), or confidential clients with their secret.
async fn password(
    state: &AppState,
    resolved: Resolved,
    tenant_segment: &str,
    form: &Form,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<Response, OAuthError> {
    let (client_id, secret) = client_credentials_of(form, headers)?;
    let username = form
        .get("username")
        .ok_or_else(|| OAuthError::missing_parameter("username"))?
        .to_owned();
    let password = form
        .get("password")
        .ok_or_else(|| OAuthError::missing_parameter("password"))?
        .to_owned();
    // The resource and the permissions asked for it.
    let (requested, names): (String, Vec<String>) = match endpoint {
        Endpoint::V1 => (
            form.get("resource")
                .ok_or_else(|| OAuthError::missing_parameter("resource"))?
                .to_owned(),
            vec![".default".into()],
        ),
        Endpoint::V2 => {
            let scope = form
                .get("scope")
                .ok_or_else(|| OAuthError::missing_parameter("scope"))?;
            let mut resource: Option<String> = None;
            let mut names = Vec::new();
            for s in scope
                .split_whitespace()
                .filter(|s| !hale_identity::consent::OIDC_SCOPES.contains(s))
            {
                let (r, name) = hale_identity::consent::split_scope(s);
                match &resource {
                    Some(existing)
                        if !existing
                            .trim_end_matches('/')
                            .eq_ignore_ascii_case(r.trim_end_matches('/')) =>
                    {
                        return Err(OAuthError::several_resources(scope));
                    }
                    _ => resource = Some(r),
                }
                names.push(name);
            }
            (
                resource.ok_or_else(|| OAuthError::invalid_scope(scope))?,
                names,
            )
        }
    };
    let Ok(client) = client_id.parse::<AppId>() else {
        return Err(OAuthError::unknown_client(&client_id, tenant_segment));
    };

    let upn = username.clone();
    let identifier = requested.clone();
    let lookup = state
        .store
        .read(move |tx| {
            let tenant = match resolved {
                Resolved::Tenant(id) => Some(id),
                // `organizations`/`common`: the user's domain names the tenant.
                Resolved::Alias(_) => match upn.rsplit_once('@') {
                    Some((_, domain)) => tenants::by_domain(tx, domain)?.map(|t| t.id),
                    None => None,
                },
            };
            let Some(tenant) = tenant else {
                return Ok(None);
            };
            let client = match first_party::by_app_id(client) {
                Some(fp) if fp.public_client => Some(Client::Public),
                Some(_) => None,
                None => {
                    match applications::by_app_id(tx, client)?.filter(|a| a.tenant_id == tenant) {
                        Some(app) if app.allows_public_client_flows() => Some(Client::Public),
                        Some(app) => Some(Client::Confidential(applications::secret_digests(
                            tx, app.id,
                        )?)),
                        None => None,
                    }
                }
            };
            let user = users::by_upn(tx, tenant, &upn)?;
            let roles = match &user {
                Some(u) => principals::roles_of(tx, tenant, u.id)?
                    .iter()
                    .map(|r| r.template_id().to_string())
                    .collect(),
                None => Vec::new(),
            };
            let resource = find_resource(tx, tenant, &identifier)?;
            Ok::<_, StoreError>(Some(PasswordLookup {
                tenant,
                client,
                user,
                resource,
                roles,
            }))
        })
        .await
        .map_err(directory_unreadable)?
        .ok_or_else(|| OAuthError::unknown_user(&username, tenant_segment))?;
    let tenant = lookup.tenant;
    match (lookup.client, &secret) {
        (None, _) => return Err(OAuthError::unknown_client(&client_id, tenant_segment)),
        (Some(Client::Public), Some(_)) => return Err(OAuthError::public_client_with_secret()),
        (Some(Client::Public), None) => {}
        (Some(Client::Confidential(_)), None) => return Err(OAuthError::public_flows_disabled()),
        (Some(Client::Confidential(digests)), Some(secret)) => {
            check_secret(state, &digests, secret, &client_id)?
        }
    }
    let user = lookup
        .user
        .ok_or_else(|| OAuthError::unknown_user(&username, &tenant.to_string()))?;
    // argon2id is deliberately slow: keep it off the async workers.
    let hash = user.password.clone();
    let valid = tokio::task::spawn_blocking(move || hash.is_some_and(|h| h.verify(&password)))
        .await
        .unwrap_or(false);
    if !valid {
        return Err(OAuthError::invalid_credentials());
    }
    if !user.account_enabled {
        return Err(OAuthError::user_disabled());
    }
    let resource = lookup
        .resource
        .ok_or_else(|| OAuthError::unknown_resource(&requested, &tenant.to_string()))?;
    let consented = hale_identity::consent::preauthorized(client, resource.app_id)
        .ok_or_else(|| OAuthError::consent_required(&client_id, &requested))?;
    let granted: Vec<&str> = if names.iter().all(|n| n == ".default") {
        consented.to_vec()
    } else {
        let mut granted = Vec::new();
        for name in &names {
            let known = consented
                .iter()
                .find(|c| c.eq_ignore_ascii_case(name))
                .ok_or_else(|| OAuthError::consent_required(&client_id, &requested))?;
            granted.push(*known);
        }
        granted
    };
    let scp = granted.join(" ");
    let now = now_seconds();
    let aud = audience(resource.version, &requested, &resource);
    let claims = hale_identity::token::UserToken {
        origin: state.public_url.as_str(),
        tenant,
        client,
        authentication: secret.as_ref().map(|_| ClientAuthentication::Secret),
        user: user.id,
        user_principal_name: &user.user_principal_name,
        name: &user.display_name,
        directory_roles: lookup.roles,
        methods: &["pwd"],
        audience: &aud,
        version: resource.version,
        scopes: &scp,
        now,
    }
    .claims();
    // FIXME(issue 5): refresh and ID tokens (and client_info) for MSAL's account cache.
    tracing::info!(client = %client, resource = %requested, "issued a delegated token (password grant)");
    respond(
        state,
        resource.version,
        &claims,
        endpoint,
        &requested,
        Some(&scp),
        now,
    )
}
