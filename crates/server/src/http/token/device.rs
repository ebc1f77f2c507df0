//! The device authorization grant (RFC 8628) as Entra runs it: the device
//! asks `/{tenant}/oauth2/v2.0/devicecode` for a user code, the user types it
//! on `/devicelogin`, signs in and consents, and the device's polling of the
//! token endpoint (user.rs) then gets the tokens.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hale_directory::{AppId, TenantId, first_party};
use hale_identity::OAuthError;
use hale_store::sign_in::{self, Authentication, DeviceCode, DeviceStatus};
use hale_store::{StoreError, Tx, applications};
use rand::Rng;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::client::{self, Registered};
use super::interactive;
use super::resource::{self, DelegatedRequest, Resource};
use super::user::tenant_for;
use super::{directory_unreadable, new_secret, parse_form, secret_digest};
use crate::http::AppState;
use crate::http::identity::{oauth_error, resolve};
use crate::http::pages::{self, escape, page};

/// How long a device code is valid (Entra: 15 minutes).
const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(15);
/// Seconds between polls the device is told to wait.
const POLL_INTERVAL: i64 = 5;
/// User codes: 9 characters from an alphabet without look-alikes.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
const USER_CODE_LEN: usize = 9;

fn user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..USER_CODE_LEN)
        .map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

/// A typed user code in canonical form: upper case, no spaces or dashes.
fn normalize_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .take(32)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`: `client_id` and `scope`.
pub(crate) async fn device_authorization(
    State(state): State<AppState>,
    Path(tenant_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start(&state, &tenant_segment, &headers, &body, false).await {
        Ok(response) => response,
        Err(e) => oauth_error(&e, &headers),
    }
}

/// `POST /{tenant}/oauth2/devicecode` (v1): `client_id` and `resource`.
pub(crate) async fn device_authorization_v1(
    State(state): State<AppState>,
    Path(tenant_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start(&state, &tenant_segment, &headers, &body, true).await {
        Ok(response) => response,
        Err(e) => oauth_error(&e, &headers),
    }
}

async fn start(
    state: &AppState,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    v1: bool,
) -> Result<Response, OAuthError> {
    let resolved = resolve(state, tenant_segment).await?;
    let form = parse_form(headers, body)?;
    let client_id = form.required("client_id")?.to_owned();
    // v1 names a resource; the device then gets its `.default` with an ID
    // and a refresh token, as the v1 endpoint gives.
    let scope = if v1 {
        let resource = form.required("resource")?;
        format!(
            "{}/.default openid offline_access",
            resource.trim_end_matches('/')
        )
    } else {
        form.required("scope")?.to_owned()
    };
    DelegatedRequest::parse(&scope)?;
    let client: AppId = client_id
        .parse()
        .map_err(|_| OAuthError::unknown_client(&client_id, tenant_segment))?;
    let tenant = match resolved {
        crate::http::identity::Resolved::Tenant(id) => Some(id),
        crate::http::identity::Resolved::Alias(_) => None,
    };
    let device = new_secret("DAQ.");
    let code = user_code();
    let now = OffsetDateTime::now_utc();
    let record = DeviceCode {
        user_code: code.clone(),
        tenant,
        client,
        scope,
        status: DeviceStatus::Pending,
        auth: None,
        expires_at: now + DEVICE_CODE_LIFETIME,
    };
    let digest = secret_digest(state, "device_code", &device);
    let known = state
        .store
        .write(move |tx| {
            let known = match tenant {
                Some(t) => client::registered(tx, t, client, true)?,
                // A multi-tenant request: the client must exist somewhere.
                None => match first_party::by_app_id(client) {
                    Some(_) => Some(Registered::Public),
                    None => applications::by_app_id(tx, client)?.map(|_| Registered::Public),
                },
            };
            if matches!(known, Some(Registered::Public)) {
                sign_in::insert_device_code(tx, &digest, &record, now)?;
            }
            Ok::<_, StoreError>(known)
        })
        .await
        .map_err(directory_unreadable)?;
    match known {
        None => return Err(OAuthError::unknown_client(&client_id, tenant_segment)),
        Some(Registered::Confidential { .. }) => return Err(OAuthError::public_flows_disabled()),
        Some(Registered::Public) => {}
    }
    let verification_uri = format!("{}devicelogin", state.public_url);
    Ok(axum::Json(json!({
        "user_code": code,
        "device_code": device,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_LIFETIME.whole_seconds(),
        "interval": POLL_INTERVAL,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {code} to authenticate."),
    }))
    .into_response())
}

fn code_form(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    page(
        "Enter code",
        &format!(
            r#"<p>Enter the code displayed on your app or device.</p>{error}
<form method="post" action="devicelogin">
<input type="hidden" name="csrf" value="{csrf}">
<label for="otc">Code</label><input type="text" id="otc" name="otc" autocomplete="off" autofocus required>
<button type="submit">Next</button></form>"#,
            csrf = escape(csrf)
        ),
    )
}

/// `GET /devicelogin`: the code entry page.
pub(crate) async fn device_login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let (csrf, cookie) = pages::csrf_token(&state, &headers);
    pages::respond(code_form(&csrf, None), cookie)
}

/// What the device-login form posts.
struct Posted {
    otc: String,
    username: Option<String>,
    password: Option<String>,
    new_password: Option<interactive::NewPassword>,
    decline: bool,
}

/// `POST /devicelogin`: a code, then the sign-in and consent.
pub(crate) async fn device_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (csrf, cookie) = pages::csrf_token(&state, &headers);
    let fields: HashMap<String, String> =
        url::form_urlencoded::parse(&body[..body.len().min(16 * 1024)])
            .into_owned()
            .collect();
    if !pages::csrf_ok(&headers, fields.get("csrf").map(String::as_str)) {
        let mut response = pages::respond(
            code_form(
                &csrf,
                Some("Your session expired. Please enter the code again."),
            ),
            cookie,
        );
        *response.status_mut() = axum::http::StatusCode::FORBIDDEN;
        return response;
    }
    let posted = Posted {
        otc: normalize_user_code(fields.get("otc").map(String::as_str).unwrap_or_default()),
        username: fields.get("username").filter(|u| !u.is_empty()).cloned(),
        password: fields.get("password").cloned(),
        new_password: fields
            .get("new_password")
            .map(|p| interactive::NewPassword {
                password: p.clone(),
                confirmation: fields.get("confirm_password").cloned().unwrap_or_default(),
            }),
        decline: fields.get("decision").is_some_and(|d| d == "decline"),
    };
    let html = match proceed(&state, &csrf, posted).await {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "device login failed");
            page("Something went wrong", "<p>Please try again.</p>")
        }
    };
    pages::respond(html, cookie)
}

/// What the pages need to know about a pending device request.
struct Pending {
    device: DeviceCode,
    client_name: String,
    resource: Option<Resource>,
    request: DelegatedRequest,
}

fn read_pending(
    tx: &mut dyn Tx,
    otc: &str,
    tenant_hint: Option<TenantId>,
) -> Result<Option<Pending>, StoreError> {
    let Some(device) = sign_in::device_code_by_user_code(tx, otc)? else {
        return Ok(None);
    };
    let client_name = interactive::client_name(tx, device.client)?;
    let Ok(request) = DelegatedRequest::parse(&device.scope) else {
        return Ok(None);
    };
    let resource = match device.tenant.or(tenant_hint) {
        Some(t) => resource::find(tx, t, &request.resource)?,
        None => None,
    };
    Ok(Some(Pending {
        device,
        client_name,
        resource,
        request,
    }))
}

fn sign_in_form(csrf: &str, pending: &Pending, error: Option<&str>) -> String {
    sign_in_or_change(csrf, pending, error, None)
}

/// The sign-in form; with `changing` (a user name), the change-password form
/// a user with `forceChangePasswordNextSignIn` must pass first.
fn sign_in_or_change(
    csrf: &str,
    pending: &Pending,
    error: Option<&str>,
    changing: Option<&str>,
) -> String {
    let asked: Vec<String> = match &pending.resource {
        Some(r) if pending.request.names.iter().any(|n| n == ".default") => {
            vec![format!("Access {}", r.display_name)]
        }
        Some(r) => pending
            .request
            .names
            .iter()
            .map(|n| format!("{n} ({})", r.display_name))
            .collect(),
        None => pending.request.names.clone(),
    };
    let permissions: String = asked
        .iter()
        .chain(
            pending
                .request
                .offline_access
                .then(|| "Maintain access to data you have given it access to".to_owned())
                .iter(),
        )
        .map(|p| format!("<li>{}</li>", escape(p)))
        .collect();
    let error = error
        .map(|e| format!(r#"<p class="error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            r#"<p>Sign in to <strong>{app}</strong> on your device. It asks to:</p><ul>{permissions}</ul>{error}
<form method="post" action="devicelogin">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="otc" value="{otc}">
{fields}
<p>Signing in accepts these permissions for you.</p>
<button type="submit" name="decision" value="accept">Sign in and accept</button>
<button type="submit" name="decision" value="decline" formnovalidate>Cancel</button>
</form>"#,
            app = escape(&pending.client_name),
            csrf = escape(csrf),
            otc = escape(&pending.device.user_code),
            fields = match changing {
                Some(username) => interactive::change_password_fields(username),
                None => SIGN_IN_FIELDS.to_owned(),
            },
        ),
    )
}

const SIGN_IN_FIELDS: &str = r#"<label for="username">Email or username</label><input type="email" id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>"#;

async fn proceed(state: &AppState, csrf: &str, posted: Posted) -> Result<String, StoreError> {
    let otc = posted.otc.clone();
    let domain_tenant = match &posted.username {
        Some(u) => {
            let u = u.clone();
            state
                .store
                .read(move |tx| {
                    tenant_for(
                        tx,
                        &crate::http::identity::Resolved::Alias("organizations"),
                        Some(&u),
                    )
                })
                .await?
        }
        None => None,
    };
    let pending = state
        .store
        .read(move |tx| read_pending(tx, &otc, domain_tenant))
        .await?;
    let now = OffsetDateTime::now_utc();
    let Some(pending) =
        pending.filter(|p| p.device.status == DeviceStatus::Pending && p.device.expires_at > now)
    else {
        return Ok(code_form(
            csrf,
            Some("That code didn't work. Check the code and try again."),
        ));
    };
    if posted.decline {
        let otc = pending.device.user_code.clone();
        state
            .store
            .write(move |tx| sign_in::answer_device_code(tx, &otc, None))
            .await?;
        return Ok(page(
            "Sign-in cancelled",
            &format!(
                "<p>You declined to sign in to <strong>{}</strong>. You may close this window.</p>",
                escape(&pending.client_name)
            ),
        ));
    }
    let (Some(username), Some(password)) = (posted.username.clone(), posted.password.clone())
    else {
        return Ok(sign_in_form(csrf, &pending, None));
    };
    let Some(tenant) = pending.device.tenant.or(domain_tenant) else {
        return Ok(sign_in_form(
            csrf,
            &pending,
            Some(interactive::BAD_CREDENTIALS),
        ));
    };
    let changing = posted.new_password.is_some();
    let verified = match interactive::check_password(
        state,
        tenant,
        &username,
        password,
        posted.new_password,
        interactive::SignInContext {
            client: pending.device.client,
            flow: "device_code",
            ip: None,
        },
    )
    .await?
    {
        Ok(verified) => verified,
        Err(interactive::Refusal::MustChangePassword) => {
            return Ok(sign_in_or_change(csrf, &pending, None, Some(&username)));
        }
        Err(interactive::Refusal::Message(why)) if changing => {
            return Ok(sign_in_or_change(
                csrf,
                &pending,
                Some(&why),
                Some(&username),
            ));
        }
        Err(interactive::Refusal::Message(why)) => {
            return Ok(sign_in_form(csrf, &pending, Some(&why)));
        }
    };
    let Some(resource) = pending.resource.clone() else {
        return Ok(page(
            "Sign-in failed",
            "<p>The resource the app asks for does not exist in your organization.</p>",
        ));
    };
    let client = pending.device.client;
    let request = pending.request.clone();
    let user_code = pending.device.user_code.clone();
    let auth = Authentication {
        tenant,
        user: verified.user.id,
        authenticated_at: now,
        methods: "pwd".into(),
    };
    let outcome = state
        .store
        .write(move |tx| {
            let consent = interactive::decide_consent(
                tx, tenant, client, &resource, &request, &verified, true,
            )?;
            if let Some(refusal) = consent.refusal(&resource) {
                return Ok(Err(refusal));
            }
            sign_in::answer_device_code(tx, &user_code, Some(&auth))?;
            Ok::<_, StoreError>(Ok(()))
        })
        .await?;
    Ok(match outcome {
        Ok(()) => page(
            "You're signed in",
            &format!(
                "<p>You have signed in to <strong>{}</strong> on your device. You may now close this window.</p>",
                escape(&pending.client_name)
            ),
        ),
        Err(why) => sign_in_form(csrf, &pending, Some(&why)),
    })
}
