//! Client authentication at the token endpoint: a client secret (form or HTTP
//! Basic), a certificate-signed client assertion, or none for public clients.

use axum::http::{HeaderMap, header};
use base64::Engine;
use hale_directory::{AppId, KeyCredential, ServicePrincipal, TenantId, first_party};
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
        secrets: Vec<ClientSecret>,
        keys: Vec<KeyCredential>,
    },
}

/// A client secret as authentication checks it: its digest and the time it
/// is valid from (the application's `passwordCredentials` keep the start;
/// the digest row, the end).
#[derive(Clone)]
pub(super) struct ClientSecret {
    digest: SecretDigest,
    start_date_time: OffsetDateTime,
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
    // A digest whose credential is gone from the application is not a
    // secret of it (the two are removed together; this keeps it so).
    let secrets = applications::secret_digests(tx, app.id)?
        .into_iter()
        .filter_map(|digest| {
            let credential = app
                .password_credentials
                .iter()
                .find(|c| c.key_id == digest.key_id)?;
            Some(ClientSecret {
                start_date_time: credential.start_date_time,
                digest,
            })
        })
        .collect();
    Ok(Some(Registered::Confidential {
        secrets,
        keys: app.key_credentials,
    }))
}

/// AADSTS7000112 when the client's service principal in the tenant is
/// disabled. No service principal (a first-party client, or a
/// multi-tenant application not yet consented in the tenant) is not a
/// refusal here: the grants that need one say so themselves.
pub(super) fn require_enabled(principal: Option<&ServicePrincipal>) -> Result<(), OAuthError> {
    match principal {
        Some(sp) if !sp.account_enabled => Err(OAuthError::app_disabled(
            &sp.app_id.to_string(),
            &sp.display_name,
        )),
        _ => Ok(()),
    }
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
        (Registered::Confidential { secrets, .. }, Credential::Secret(secret)) => {
            check_secret(state, secrets, secret, client_id)?;
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

/// Checks a presented secret against an application's secrets (every digest,
/// in constant time each). A matching secret counts only between its
/// `startDateTime` and `endDateTime`: one past its end is expired
/// (AADSTS7000222); one not yet valid is, as in Entra, an invalid secret
/// (AADSTS7000215).
fn check_secret(
    state: &AppState,
    secrets: &[ClientSecret],
    secret: &str,
    client_id: &str,
) -> Result<(), OAuthError> {
    let now = OffsetDateTime::now_utc();
    let matching: Vec<&ClientSecret> = secrets
        .iter()
        .filter(|s| state.secret_digester.verify(secret, &s.digest.digest))
        .collect();
    if matching
        .iter()
        .any(|s| s.start_date_time <= now && now < s.digest.end_date_time)
    {
        return Ok(());
    }
    if !matching.is_empty() && matching.iter().all(|s| s.digest.end_date_time <= now) {
        return Err(OAuthError::expired_secret(client_id));
    }
    Err(OAuthError::invalid_secret(client_id))
}
