//! The authorization endpoint (`/{tenant}/oauth2/v2.0/authorize`, v1
//! `/{tenant}/oauth2/authorize`) with its sign-in and consent pages, the SSO
//! session cookie, and `/logout`.
//!
//! Order of checks, as in Entra: an unknown client or a redirect URI not
//! registered for it gets an error *page* (redirecting there would make Hale
//! an open redirector); every later mistake is sent back to the registered
//! redirect URI as `error`, `error_description` and `state`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hale_directory::{AppId, Application, Platform, TenantId, first_party};
use hale_identity::OAuthError;
use hale_identity::token::TokenVersion;
use hale_store::sign_in::{self, Authentication, AuthorizationCode};
use hale_store::{StoreError, applications, tenants};
use time::{Duration, OffsetDateTime};

use super::interactive::{self, Consent, Verified};
use super::resource::{self, DelegatedRequest, Resource};
use super::{Endpoint, new_secret, now_seconds, secret_digest};
use crate::http::AppState;
use crate::http::identity::{Resolved, resolve};
use crate::http::pages::{self, escape, page};

/// How long an authorization code is valid.
const CODE_LIFETIME: Duration = Duration::minutes(10);
/// How long a browser sign-in session lasts.
const SESSION_LIFETIME: Duration = Duration::hours(12);
/// The session cookie's name.
const SESSION_COOKIE: &str = "hale_session";
/// Largest authorize form accepted.
const MAX_FORM: usize = 32 * 1024;

/// The authorization request's parameters that the pages carry along.
const PARAMS: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "resource",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "login_hint",
];

type Params = HashMap<String, String>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

pub(crate) async fn authorize_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    run(
        &state,
        &tenant,
        Endpoint::V2,
        query.into_iter().collect(),
        None,
        &headers,
    )
    .await
}

pub(crate) async fn authorize_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    run(
        &state,
        &tenant,
        Endpoint::V1,
        query.into_iter().collect(),
        None,
        &headers,
    )
    .await
}

pub(crate) async fn authorize_post_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    posted(&state, &tenant, Endpoint::V2, &headers, &body).await
}

pub(crate) async fn authorize_post_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    posted(&state, &tenant, Endpoint::V1, &headers, &body).await
}

/// What the sign-in and consent forms post besides the request's parameters.
struct Posted {
    csrf_ok: bool,
    username: Option<String>,
    password: Option<String>,
    new_password: Option<String>,
    confirm_password: Option<String>,
    /// `accept` or `cancel` on the consent page.
    decision: Option<String>,
}

async fn posted(
    state: &AppState,
    tenant: &str,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if body.len() > MAX_FORM {
        return error_page(StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.");
    }
    let fields: Params = url::form_urlencoded::parse(body).into_owned().collect();
    let form = Posted {
        csrf_ok: pages::csrf_ok(headers, fields.get("csrf").map(String::as_str)),
        username: fields.get("username").filter(|v| !v.is_empty()).cloned(),
        password: fields.get("password").cloned(),
        new_password: fields.get("new_password").cloned(),
        confirm_password: fields.get("confirm_password").cloned(),
        decision: fields.get("decision").cloned(),
    };
    let params: Params = fields
        .into_iter()
        .filter(|(k, _)| PARAMS.contains(&k.as_str()))
        .collect();
    run(state, tenant, endpoint, params, Some(form), headers).await
}

/// An error shown in the browser, for mistakes that cannot be sent back to
/// the application.
fn error_page(status: StatusCode, message: &str) -> Response {
    let mut response = pages::respond(
        page(
            "Sorry, but we're having trouble signing you in.",
            &format!(r#"<p class="error">{}</p>"#, escape(message)),
        ),
        None,
    );
    *response.status_mut() = status;
    response
}

/// An OAuth error as the error page shows it: `AADSTS{code}: {description}`.
fn shown(e: &OAuthError) -> String {
    format!("AADSTS{}: {}", e.code, e.description)
}

/// Where and how answers go back to the application.
struct Reply {
    redirect_uri: String,
    mode: ResponseMode,
    state: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl Reply {
    /// Sends `pairs` (plus `state`) to the redirect URI.
    fn send(&self, mut pairs: Vec<(&str, String)>, cookies: &[String]) -> Response {
        if let Some(s) = &self.state {
            pairs.push(("state", s.clone()));
        }
        let mut response = match self.mode {
            ResponseMode::FormPost => {
                let inputs: String = pairs
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            r#"<input type="hidden" name="{}" value="{}">"#,
                            escape(k),
                            escape(v)
                        )
                    })
                    .collect();
                pages::respond(
                    page(
                        "Continue",
                        &format!(
                            r#"<form method="post" action="{}">{inputs}<p>Sign-in is complete.</p><button type="submit">Continue to the application</button></form>"#,
                            escape(&self.redirect_uri)
                        ),
                    ),
                    None,
                )
            }
            ResponseMode::Query | ResponseMode::Fragment => {
                let mut encoded = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &pairs {
                    encoded.append_pair(k, v);
                }
                let encoded = encoded.finish();
                let location = match self.mode {
                    _ if encoded.is_empty() => self.redirect_uri.clone(),
                    ResponseMode::Query if self.redirect_uri.contains('?') => {
                        format!("{}&{encoded}", self.redirect_uri)
                    }
                    ResponseMode::Query => format!("{}?{encoded}", self.redirect_uri),
                    _ => format!("{}#{encoded}", self.redirect_uri),
                };
                let mut response = StatusCode::FOUND.into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        };
        for cookie in cookies {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }

    /// Sends an OAuth error back to the application.
    fn error(&self, e: &OAuthError) -> Response {
        let body = e.to_json(None);
        let description = body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.send(
            vec![
                ("error", e.error.to_owned()),
                ("error_description", description),
            ],
            &[],
        )
    }
}

/// The redirect URI's platform, if `uri` is registered for `app`. Loopback
/// URIs of public clients match on any port, as in Entra.
fn registered_platform(app: &Application, uri: &str) -> Option<Platform> {
    let exact = |list: &[String]| list.iter().any(|u| u == uri);
    if exact(&app.web.redirect_uris) {
        return Some(Platform::Web);
    }
    if exact(&app.spa.redirect_uris) {
        return Some(Platform::Spa);
    }
    if exact(&app.public_client.redirect_uris)
        || app
            .public_client
            .redirect_uris
            .iter()
            .any(|registered| loopback_match(registered, uri))
    {
        return Some(Platform::PublicClient);
    }
    None
}

/// `http://localhost[:port]/path` against a registered loopback URI: equal
/// but for the port.
fn loopback_match(registered: &str, uri: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(uri)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
    };
    loopback(&a) && loopback(&b) && a.host_str() == b.host_str() && a.path() == b.path()
}

/// The client application of an authorization request.
enum Client {
    /// A first-party public client (the CLI): loopback redirect URIs only.
    FirstParty(AppId),
    Registered(Box<Application>),
}

impl Client {
    fn app_id(&self) -> AppId {
        match self {
            Client::FirstParty(id) => *id,
            Client::Registered(app) => app.app_id,
        }
    }

    fn platform(&self, uri: &str) -> Option<Platform> {
        match self {
            Client::FirstParty(_) => ["http://localhost", "http://localhost/"]
                .iter()
                .any(|r| loopback_match(r, uri) || uri.starts_with("http://localhost:"))
                .then_some(Platform::PublicClient),
            Client::Registered(app) => registered_platform(app, uri),
        }
    }

    fn tenant(&self) -> Option<TenantId> {
        match self {
            Client::FirstParty(_) => None,
            Client::Registered(app) => Some(app.tenant_id),
        }
    }
}

/// One pass through the authorization endpoint: the first request (GET) or a
/// form posted back from the sign-in or consent page.
async fn run(
    state: &AppState,
    tenant_segment: &str,
    endpoint: Endpoint,
    params: Params,
    form: Option<Posted>,
    headers: &HeaderMap,
) -> Response {
    match authorize(state, tenant_segment, endpoint, &params, form, headers).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "authorization request failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The directory could not be read; try again.",
            )
        }
    }
}

async fn authorize(
    state: &AppState,
    tenant_segment: &str,
    endpoint: Endpoint,
    params: &Params,
    form: Option<Posted>,
    headers: &HeaderMap,
) -> Result<Response, StoreError> {
    let resolved = match resolve(state, tenant_segment).await {
        Ok(r) => r,
        Err(e) => return Ok(error_page(StatusCode::BAD_REQUEST, &shown(&e))),
    };
    // 1. The client and its redirect URI: errors here are shown, not sent.
    let Some(client_id) = param(params, "client_id") else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        ));
    };
    let Ok(app_id) = client_id.parse::<AppId>() else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            &shown(&OAuthError::unknown_client(client_id, tenant_segment)),
        ));
    };
    let found = match first_party::by_app_id(app_id) {
        Some(fp) if fp.public_client => Some(Client::FirstParty(app_id)),
        Some(_) => None,
        None => {
            let app = state
                .store
                .read(move |tx| applications::by_app_id(tx, app_id))
                .await?;
            app.filter(|a| match resolved {
                Resolved::Tenant(t) => {
                    a.tenant_id == t
                        || a.sign_in_audience != hale_directory::SignInAudience::AzureADMyOrg
                }
                Resolved::Alias(_) => {
                    a.sign_in_audience != hale_directory::SignInAudience::AzureADMyOrg
                }
            })
            .map(|a| Client::Registered(Box::new(a)))
        }
    };
    let Some(client) = found else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            &shown(&OAuthError::unknown_client(client_id, tenant_segment)),
        ));
    };
    let Some(redirect_uri) = param(params, "redirect_uri").map(str::to_owned) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.",
        ));
    };
    let Some(platform) = client.platform(&redirect_uri) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            &shown(&OAuthError::redirect_mismatch(&redirect_uri, client_id)),
        ));
    };
    // What the application asks for: a code, an ID token (the implicit
    // flow), or both (the hybrid flow); the words in any order.
    let kinds = ResponseKinds::parse(param(params, "response_type"));
    let mode = match param(params, "response_mode") {
        // Tokens never travel in a query string.
        None if kinds.id_token => ResponseMode::Fragment,
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    let reply = Reply {
        redirect_uri: redirect_uri.clone(),
        mode,
        state: param(params, "state").map(str::to_owned),
    };
    // 2. Mistakes the application made, sent back to it.
    if let Some(other) =
        param(params, "response_mode").filter(|m| !matches!(*m, "query" | "fragment" | "form_post"))
    {
        return Ok(reply.error(&OAuthError::invalid_request(&format!(
            "The response_mode '{other}' is not supported."
        ))));
    }
    match param(params, "response_type") {
        None => return Ok(reply.error(&OAuthError::missing_parameter("response_type"))),
        Some(other) if !kinds.valid => {
            return Ok(reply.error(&OAuthError::unsupported_response_type(other)));
        }
        Some(other) if kinds.id_token => {
            let enabled = matches!(&client, Client::Registered(app)
                if app.web.implicit_grant_settings.enable_id_token_issuance);
            if !enabled {
                return Ok(reply.error(&OAuthError::unsupported_response_type(other)));
            }
            if reply.mode == ResponseMode::Query {
                return Ok(reply.error(&OAuthError::invalid_request(
                    "The response_mode 'query' is not allowed when an ID token is requested; use 'fragment' or 'form_post'.",
                )));
            }
            if param(params, "nonce").is_none_or(str::is_empty) {
                return Ok(reply.error(&OAuthError::missing_parameter("nonce")));
            }
        }
        Some(_) => {}
    }
    let request = match endpoint {
        Endpoint::V2 => match param(params, "scope") {
            Some(scope) => match DelegatedRequest::parse(scope) {
                Ok(r) => r,
                Err(e) => return Ok(reply.error(&e)),
            },
            None => return Ok(reply.error(&OAuthError::missing_parameter("scope"))),
        },
        Endpoint::V1 => match param(params, "resource") {
            Some(resource) => match DelegatedRequest::parse(&format!(
                "{}/.default openid offline_access",
                resource.trim_end_matches('/')
            )) {
                Ok(r) => r,
                Err(e) => return Ok(reply.error(&e)),
            },
            None => return Ok(reply.error(&OAuthError::missing_parameter("resource"))),
        },
    };
    if kinds.id_token && !request.openid {
        return Ok(reply.error(&OAuthError::invalid_request(
            "The 'openid' scope is required when an ID token is requested.",
        )));
    }
    let challenge = param(params, "code_challenge").map(str::to_owned);
    let method = param(params, "code_challenge_method").map(str::to_owned);
    match (&challenge, method.as_deref()) {
        (None, _)
            if !kinds.id_token && matches!(platform, Platform::Spa | Platform::PublicClient) =>
        {
            return Ok(reply.error(&OAuthError::pkce_required()));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Ok(reply.error(&OAuthError::invalid_request(&format!(
                "The code_challenge_method '{m}' is not supported; use S256."
            ))));
        }
        (Some(c), _)
            if c.len() != 43
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return Ok(reply.error(&OAuthError::bad_code_challenge()));
        }
        _ => {}
    }
    let prompt = param(params, "prompt").unwrap_or_default().to_owned();
    if !matches!(
        prompt.as_str(),
        "" | "login" | "consent" | "select_account" | "none"
    ) {
        return Ok(reply.error(&OAuthError::invalid_request(&format!(
            "The prompt value '{prompt}' is not supported."
        ))));
    }
    let login_hint = param(params, "login_hint").map(str::to_owned);

    // A disabled application: nobody signs in to it (shown, as Entra does,
    // before and after the sign-in form, whichever first knows the tenant).
    if let Some(tenant) = fixed_tenant_of(resolved)
        && let Some(page) = disabled_page(state, tenant, client.app_id()).await?
    {
        return Ok(page);
    }

    // 3. Who is signing in: the session cookie, or the sign-in form.
    let (csrf, csrf_cookie) = pages::csrf_token(state, headers);
    let mut cookies: Vec<String> = csrf_cookie.into_iter().collect();
    let mut error: Option<String> = None;
    // A user who must change the password first: the form asks for a new one.
    let mut changing: Option<String> = None;
    let mut signed_in: Option<(Authentication, Verified)> = None;
    let fixed_tenant = fixed_tenant_of(resolved);
    if let Some(form) = &form
        && let (Some(username), Some(password)) = (&form.username, &form.password)
    {
        if !form.csrf_ok {
            error = Some("Your session expired. Please sign in again.".into());
        } else {
            let tenant = match fixed_tenant {
                Some(t) => Some(t),
                None => {
                    let domain = username
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_owned())
                        .unwrap_or_default();
                    state
                        .store
                        .read(move |tx| tenants::by_domain(tx, &domain))
                        .await?
                        .map(|t| t.id)
                }
            };
            match tenant {
                None => error = Some(interactive::BAD_CREDENTIALS.into()),
                Some(tenant) => {
                    let new = form.new_password.clone().map(|p| interactive::NewPassword {
                        password: p,
                        confirmation: form.confirm_password.clone().unwrap_or_default(),
                    });
                    let was_changing = new.is_some();
                    match interactive::check_password(
                        state,
                        tenant,
                        username,
                        password.clone(),
                        new,
                        interactive::SignInContext {
                            client: client.app_id(),
                            flow: "authorization_code",
                            ip: headers
                                .get(crate::http::CLIENT_ADDRESS)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                        },
                    )
                    .await?
                    {
                        Err(interactive::Refusal::MustChangePassword) => {
                            changing = Some(username.clone());
                        }
                        Err(interactive::Refusal::Message(why)) => {
                            if was_changing {
                                changing = Some(username.clone());
                            }
                            error = Some(why);
                        }
                        Ok(verified) => {
                            let auth = Authentication {
                                tenant,
                                user: verified.user.id,
                                authenticated_at: OffsetDateTime::now_utc(),
                                methods: "pwd".into(),
                            };
                            let session = new_secret("");
                            let digest = secret_digest(state, "session", &session);
                            let record = auth.clone();
                            state
                                .store
                                .write(move |tx| {
                                    sign_in::insert_session(
                                        tx,
                                        &digest,
                                        &record,
                                        record.authenticated_at + SESSION_LIFETIME,
                                    )
                                })
                                .await?;
                            let secure = if state.public_url.scheme() == "https" {
                                "; Secure"
                            } else {
                                ""
                            };
                            cookies.push(format!(
                            "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                            SESSION_LIFETIME.whole_seconds()
                        ));
                            signed_in = Some((auth, verified));
                        }
                    }
                }
            }
        }
    }
    let forced_sign_in = matches!(prompt.as_str(), "login" | "select_account") && form.is_none();
    if signed_in.is_none()
        && error.is_none()
        && !forced_sign_in
        && let Some(session) = pages::cookie(headers, SESSION_COOKIE)
    {
        let digest = secret_digest(state, "session", &session);
        let now = OffsetDateTime::now_utc();
        if let Some(auth) = state
            .store
            .read(move |tx| sign_in::session(tx, &digest, now))
            .await?
        {
            let tenant = auth.tenant;
            let user = auth.user;
            let found = state
                .store
                .read(move |tx| {
                    let user = hale_store::users::get(tx, tenant, user)?;
                    let roles = hale_store::principals::roles_of(tx, tenant, auth.user)?;
                    Ok::<_, StoreError>(user.map(|u| (u, roles)))
                })
                .await?;
            let hinted_other = |upn: &str| {
                login_hint
                    .as_deref()
                    .is_some_and(|h| !h.eq_ignore_ascii_case(upn))
            };
            if let Some((user, roles)) = found
                && user.account_enabled
                && fixed_tenant.is_none_or(|t| t == tenant)
                && !hinted_other(&user.user_principal_name)
            {
                signed_in = Some((auth, Verified { user, roles }));
            }
        }
    }
    let client_name = {
        let id = client.app_id();
        state
            .store
            .read(move |tx| interactive::client_name(tx, id))
            .await?
    };
    let Some((auth, verified)) = signed_in else {
        if prompt == "none" {
            return Ok(reply.error(&OAuthError::login_required()));
        }
        let html = sign_in_page(
            &csrf,
            params,
            &client_name,
            login_hint.as_deref(),
            error.as_deref(),
            changing.as_deref(),
        );
        return Ok(with_cookies(pages::respond(html, None), &cookies));
    };
    if let Some(page) = disabled_page(state, auth.tenant, client.app_id()).await? {
        return Ok(with_cookies(page, &cookies));
    }
    if let Some(home) = client.tenant()
        && home != auth.tenant
        && matches!(&client, Client::Registered(app) if app.sign_in_audience == hale_directory::SignInAudience::AzureADMyOrg)
    {
        return Ok(reply.error(&OAuthError::invalid_request(
            "The application is not configured as a multi-tenant application.",
        )));
    }

    // 4. Consent.
    let tenant = auth.tenant;
    let identifier = request.resource.clone();
    let Some(resource): Option<Resource> = state
        .store
        .read(move |tx| resource::find(tx, tenant, &identifier))
        .await?
    else {
        return Ok(reply.error(&OAuthError::unknown_resource(
            &request.resource,
            &tenant.to_string(),
        )));
    };
    let decision = form.as_ref().and_then(|f| f.decision.clone());
    let accepting =
        decision.as_deref() == Some("accept") && form.as_ref().is_some_and(|f| f.csrf_ok);
    if decision.as_deref() == Some("cancel") && form.as_ref().is_some_and(|f| f.csrf_ok) {
        return Ok(reply.error(&OAuthError::consent_declined()));
    }
    let client_app = client.app_id();
    let consent = {
        let (resource, request) = (resource.clone(), request.clone());
        let verified = Verified {
            user: verified.user.clone(),
            roles: verified.roles.clone(),
        };
        state
            .store
            .write(move |tx| {
                interactive::decide_consent(
                    tx, tenant, client_app, &resource, &request, &verified, accepting,
                )
            })
            .await?
    };
    if let Some(refusal) = consent.refusal(&resource) {
        return Ok(with_cookies(
            error_page(StatusCode::FORBIDDEN, &refusal),
            &cookies,
        ));
    }
    let show_consent = match &consent {
        Consent::Needed(_) => true,
        _ => prompt == "consent" && !accepting,
    };
    if show_consent {
        if prompt == "none" {
            return Ok(reply.error(&OAuthError::silent_consent_required(
                client_id,
                &request.resource,
            )));
        }
        let scopes = match &consent {
            Consent::Needed(missing) => missing.clone(),
            _ => request.names.clone(),
        };
        let html = consent_page(
            &csrf,
            params,
            &client_name,
            &resource,
            &scopes,
            &verified.user.user_principal_name,
        );
        return Ok(with_cookies(pages::respond(html, None), &cookies));
    }

    // 5. The code, the ID token, or both.
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let code = kinds.code.then(|| new_secret("0.A"));
    if kinds.id_token {
        let mut claims = super::user::id_token_claims(
            state.public_url.as_str(),
            auth.tenant,
            client_app,
            &verified.user,
            param(params, "nonce"),
            endpoint,
            now_seconds(),
        );
        // The application was read with the request; its groups claim and
        // its claims-mapping policy (which applies to its ID tokens) need the
        // store, in one read.
        if let Client::Registered(app) = &client {
            super::user::add_optional_claims(
                &mut claims,
                &app.optional_claim_names(true),
                &verified.user,
                auth.authenticated_at,
            );
            let wants_groups = super::user::wants_groups(Some(app));
            let (tenant, user, app_id) = (auth.tenant, verified.user.id, app.app_id);
            let (groups, policy) = state
                .store
                .read(move |tx| {
                    let groups = if wants_groups {
                        Some(super::user::group_ids(tx, tenant, user)?)
                    } else {
                        None
                    };
                    let policy = hale_store::claims_mapping::assigned_to_app(tx, tenant, app_id)?;
                    Ok::<_, hale_store::StoreError>((groups, policy))
                })
                .await?;
            if let Some(groups) = groups {
                super::user::set_groups(
                    &mut claims,
                    &groups,
                    super::user::GroupsIn::Url,
                    state.public_url.as_str(),
                    user,
                );
            }
            // Checked when written; a policy that no longer parses is skipped.
            if let Some(policy) = policy {
                match hale_directory::ClaimsMapping::parse(&policy.definition) {
                    Ok(mapping) => mapping.apply(&mut claims, Some(&verified.user)),
                    Err(e) => {
                        tracing::error!(policy = %policy.id, error = %e, "unreadable claims-mapping policy")
                    }
                }
            }
        }
        if let Some(code) = &code {
            // The hybrid flow binds the two: c_hash is the left half of
            // the code's SHA-256, base64url (OpenID Connect Core 3.3.2.11).
            let digest = hale_jws::sha256_thumbprint(code.as_bytes());
            claims["c_hash"] = serde_json::json!(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
            );
        }
        match super::sign(state, TokenVersion::V2, &claims).await {
            Ok(token) => pairs.push(("id_token", token)),
            Err(e) => return Ok(reply.error(&e)),
        }
    }
    let Some(code) = code else {
        tracing::info!(client = %client_app, "issued an ID token (implicit flow)");
        return Ok(reply.send(pairs, &cookies));
    };
    let digest = secret_digest(state, "authorization_code", &code);
    let scope = match endpoint {
        Endpoint::V2 => param(params, "scope").unwrap_or_default().to_owned(),
        Endpoint::V1 => format!(
            "{}/.default openid offline_access",
            request.resource.trim_end_matches('/')
        ),
    };
    let record = AuthorizationCode {
        auth,
        client: client_app,
        redirect_uri,
        scope,
        code_challenge: challenge,
        code_challenge_method: method.or(Some("S256".into())),
        nonce: param(params, "nonce").map(str::to_owned),
        expires_at: OffsetDateTime::now_utc() + CODE_LIFETIME,
    };
    state
        .store
        .write(move |tx| sign_in::insert_code(tx, &digest, &record))
        .await?;
    tracing::info!(client = %client_app, "issued an authorization code");
    pairs.insert(0, ("code", code));
    Ok(reply.send(pairs, &cookies))
}

/// The words of `response_type`: `code`, `id_token`, or both.
struct ResponseKinds {
    code: bool,
    id_token: bool,
    /// Only those words, each once, at least one.
    valid: bool,
}

impl ResponseKinds {
    fn parse(raw: Option<&str>) -> Self {
        let words: Vec<&str> = raw.unwrap_or_default().split_whitespace().collect();
        let code = words.contains(&"code");
        let id_token = words.contains(&"id_token");
        let valid = !words.is_empty()
            && words.len() == usize::from(code) + usize::from(id_token)
            && words.iter().all(|w| matches!(*w, "code" | "id_token"));
        ResponseKinds {
            code,
            id_token: id_token && valid,
            valid,
        }
    }
}

/// The tenant named in the URL, if it names one (not an alias).
fn fixed_tenant_of(resolved: Resolved) -> Option<TenantId> {
    match resolved {
        Resolved::Tenant(t) => Some(t),
        Resolved::Alias(_) => None,
    }
}

/// The error page for signing in to an application whose service principal
/// in `tenant` is disabled (AADSTS7000112), if it is.
async fn disabled_page(
    state: &AppState,
    tenant: TenantId,
    client: AppId,
) -> Result<Option<Response>, StoreError> {
    let principal = state
        .store
        .read(move |tx| hale_store::principals::by_app_id(tx, tenant, client))
        .await?;
    Ok(super::client::require_enabled(principal.as_ref())
        .err()
        .map(|e| error_page(StatusCode::BAD_REQUEST, &shown(&e))))
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The request's parameters as hidden inputs, to come back with the form.
fn carried(params: &Params, csrf: &str) -> String {
    let mut out = format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        escape(csrf)
    );
    for name in PARAMS {
        if let Some(value) = params.get(*name) {
            out.push_str(&format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape(value)
            ));
        }
    }
    out
}

fn sign_in_page(
    csrf: &str,
    params: &Params,
    client_name: &str,
    hint: Option<&str>,
    error: Option<&str>,
    changing: Option<&str>,
) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let (title, fields, button) = match changing {
        Some(username) => (
            "Update your password",
            interactive::change_password_fields(username),
            "Update and sign in",
        ),
        None => (
            "Sign in",
            format!(
                r#"<label for="username">Email or username</label><input type="email" id="username" name="username" value="{}" autocomplete="username" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>"#,
                escape(hint.unwrap_or_default())
            ),
            "Sign in",
        ),
    };
    page(
        title,
        &format!(
            r#"<p>to continue to <strong>{app}</strong></p>{error}
<form method="post" action="authorize">{carried}
{fields}
<button type="submit">{button}</button></form>"#,
            app = escape(client_name),
            carried = carried(params, csrf),
        ),
    )
}

fn consent_page(
    csrf: &str,
    params: &Params,
    client_name: &str,
    resource: &Resource,
    scopes: &[String],
    upn: &str,
) -> String {
    let items: String = scopes
        .iter()
        .map(|s| {
            let text = if s == ".default" {
                format!("Access {}", resource.display_name)
            } else {
                format!("{s} ({})", resource.display_name)
            };
            format!("<li>{}</li>", escape(&text))
        })
        .collect();
    page(
        "Permissions requested",
        &format!(
            r#"<p>Signed in as {upn}.</p><p><strong>{app}</strong> would like to:</p><ul>{items}</ul>
<p>Accepting lets this app use your data as described above.</p>
<form method="post" action="authorize">{carried}
<button type="submit" name="decision" value="accept">Accept</button>
<button type="submit" name="decision" value="cancel">Cancel</button></form>"#,
            upn = escape(upn),
            app = escape(client_name),
            carried = carried(params, csrf),
        ),
    )
}

/// `GET /{tenant}/oauth2/v2.0/logout`: ends the browser session; goes back
/// to `post_logout_redirect_uri` when it is registered for `client_id`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let params: Params = query.into_iter().collect();
    if let Some(session) = pages::cookie(&headers, SESSION_COOKIE) {
        let digest = secret_digest(&state, "session", &session);
        if let Err(e) = state
            .store
            .write(move |tx| sign_in::end_session(tx, &digest))
            .await
        {
            tracing::error!(error = %e, "ending a session failed");
        }
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    let target = match (
        param(&params, "client_id").and_then(|c| c.parse::<AppId>().ok()),
        param(&params, "post_logout_redirect_uri"),
    ) {
        (Some(app_id), Some(uri)) => {
            let uri = uri.to_owned();
            match state
                .store
                .read(move |tx| applications::by_app_id(tx, app_id))
                .await
            {
                Ok(Some(app))
                    if registered_platform(&app, &uri).is_some()
                        || app.web.logout_url.as_deref() == Some(uri.as_str()) =>
                {
                    Some(uri)
                }
                _ => None,
            }
        }
        _ => None,
    };
    match target {
        Some(uri) => Reply {
            redirect_uri: uri,
            mode: ResponseMode::Query,
            state: param(&params, "state").map(str::to_owned),
        }
        .send(Vec::new(), &[clear]),
        None => with_cookies(
            pages::respond(
                page(
                    "You signed out of your account",
                    "<p>It's a good idea to close all browser windows.</p>",
                ),
                None,
            ),
            &[clear],
        ),
    }
}
