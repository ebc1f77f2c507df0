//! Client authentication at the token endpoint: a client secret (form or HTTP
//! Basic), a certificate-signed client assertion, or none for public clients.

use axum::http::{HeaderMap, header};
use base64::Engine;
use hale_directory::{AppId, KeyCredential, TenantId, first_party};
use hale_identity::OAuthError;
use hale_identity::assertion::{self, JWT_BEARER};
use hale_identity::token::ClientAuthentication;
use hale_store::applications::SecretDigest;
use hale_store::{StoreError, Tx, applications};
use time::OffsetDateTime;

use super::Form;
use crate::http::AppState;

/// The credential a request presents.
pub(super) enum Credential {
    None,
    Secret(String),
    Assertion(String),
}

/// Who the request says the client is, and how it proves it.
pub(super) struct Presented {
    pub client_id: String,
    pub credential: Credential,
}

impl Presented {
    /// Reads `client_id` and the credential from the form or HTTP Basic.
    pub fn from_request(form: &Form, headers: &HeaderMap) -> Result<Presented, OAuthError> {
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
        let assertion = match form.get("client_assertion") {
            Some(jwt) => {
                let kind = form.required("client_assertion_type")?;
                if kind != JWT_BEARER {
                    return Err(OAuthError::unsupported_assertion_type(kind));
                }
                Some(jwt.to_owned())
            }
            None => None,
        };
        let credential = match (secret, assertion) {
            (Some(_), Some(_)) => return Err(OAuthError::several_credentials()),
            (Some(secret), None) => Credential::Secret(secret),
            (None, Some(jwt)) => Credential::Assertion(jwt),
            (None, None) => Credential::None,
        };
        Ok(Presented {
            client_id,
            credential,
        })
    }

    /// The client ID as a GUID, or AADSTS700016.
    pub fn app_id(&self, tenant_segment: &str) -> Result<AppId, OAuthError> {
        self.client_id
            .parse()
            .map_err(|_| OAuthError::unknown_client(&self.client_id, tenant_segment))
    }
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

/// What the directory says a client must present.
#[derive(Clone)]
pub(super) enum Registered {
    /// A public client (or "Allow public client flows" on a redirect-less
    /// flow): presents nothing.
    Public,
    /// A confidential client: one of its secrets or certificates.
    Confidential {
        digests: Vec<SecretDigest>,
        keys: Vec<KeyCredential>,
    },
}

/// How a client is registered in `tenant`, or `None` if it is unknown there.
/// `public_flow` says whether the grant is one "Allow public client flows"
/// opens to the application (device code, ROPC).
pub(super) fn registered(
    tx: &mut dyn Tx,
    tenant: TenantId,
    client: AppId,
    public_flow: bool,
) -> Result<Option<Registered>, StoreError> {
    if let Some(fp) = first_party::by_app_id(client) {
        return Ok(fp.public_client.then_some(Registered::Public));
    }
    let Some(app) = applications::by_app_id(tx, client)?.filter(|a| a.tenant_id == tenant) else {
        return Ok(None);
    };
    if public_flow && app.allows_public_client_flows() {
        return Ok(Some(Registered::Public));
    }
    Ok(Some(Registered::Confidential {
        digests: applications::secret_digests(tx, app.id)?,
        keys: app.key_credentials,
    }))
}

/// The token endpoint URLs a client assertion's `aud` may name: the v2 and v1
/// endpoints under the tenant's segment as requested and under its ID.
pub(super) fn assertion_audiences(
    state: &AppState,
    tenant_segment: &str,
    tenant: TenantId,
) -> Vec<String> {
    let origin = state.public_url.as_str();
    let mut out = Vec::new();
    for segment in [tenant_segment.to_owned(), tenant.to_string()] {
        out.push(format!("{origin}{segment}/oauth2/v2.0/token"));
        out.push(format!("{origin}{segment}/oauth2/token"));
    }
    out
}

/// Checks the presented credential against the registration. Returns how the
/// client authenticated (`None`: a public client, which presented nothing).
pub(super) fn authenticate(
    state: &AppState,
    presented: &Presented,
    registered: &Registered,
    audiences: &[String],
) -> Result<Option<ClientAuthentication>, OAuthError> {
    let client_id = presented.client_id.as_str();
    match (registered, &presented.credential) {
        (Registered::Public, Credential::None) => Ok(None),
        (Registered::Public, _) => Err(OAuthError::public_client_with_secret()),
        (Registered::Confidential { .. }, Credential::None) => {
            Err(OAuthError::missing_credential())
        }
        (Registered::Confidential { digests, .. }, Credential::Secret(secret)) => {
            check_secret(state, digests, secret, client_id)?;
            Ok(Some(ClientAuthentication::Secret))
        }
        (Registered::Confidential { keys, .. }, Credential::Assertion(jwt)) => {
            let now = OffsetDateTime::now_utc();
            let audience = audiences.first().map(String::as_str).unwrap_or_default();
            let refuse = |e: assertion::AssertionError| {
                OAuthError::invalid_assertion(&e, client_id, audience)
            };
            let verified = assertion::verify(jwt, keys, now).map_err(refuse)?;
            assertion::check_client_claims(&verified.claims, client_id, audiences)
                .map_err(refuse)?;
            Ok(Some(ClientAuthentication::Certificate))
        }
    }
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
