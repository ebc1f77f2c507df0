//! On-behalf-of (`urn:ietf:params:oauth:grant-type:jwt-bearer` with
//! `requested_token_use=on_behalf_of`): a middle-tier API trades the user's
//! access token it received for a token to a downstream API, as the same
//! user, within what the user (or an administrator) consented to for the
//! middle tier.

use hale_directory::AppId;
use hale_identity::OAuthError;
use hale_store::StoreError;
use hale_store::sign_in::Authentication;
use serde_json::Value;
use time::OffsetDateTime;

use super::client::{self, Presented, Registered};
use super::resource::DelegatedRequest;
use super::user::{UserGrant, issue_for_user};
use super::{Request, directory_unreadable};

pub(super) async fn on_behalf_of(
    request: &Request<'_>,
) -> Result<axum::response::Response, OAuthError> {
    let (state, form) = (request.state, request.form);
    match form.get("requested_token_use") {
        Some("on_behalf_of") => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(&format!(
                "requested_token_use '{other}' is not supported; use 'on_behalf_of'."
            )));
        }
        None => return Err(OAuthError::missing_parameter("requested_token_use")),
    }
    let assertion = form.required("assertion")?;
    let tenant = request.tenant()?;
    let presented = Presented::from_request(form, request.headers)?;
    let client = presented.app_id(request.tenant_segment)?;

    // The assertion: a user's access token Hale issued in this tenant, to
    // this client (its audience is checked below, against the client's URIs).
    let bearer = crate::http::auth::verify_token(state, assertion, |_| true)
        .await
        .map_err(|fault| {
            use crate::http::auth::TokenFault as F;
            match fault {
                F::Lifetime => OAuthError::user_assertion_expired(),
                F::Malformed => OAuthError::invalid_user_assertion("the assertion is not a JWT."),
                F::Signature => OAuthError::invalid_user_assertion("its signature is invalid."),
                F::NoObjectId => OAuthError::invalid_user_assertion("it names no user."),
                _ => OAuthError::invalid_user_assertion("it was not issued by this tenant."),
            }
        })?;
    if bearer.tenant_id != tenant {
        return Err(OAuthError::invalid_user_assertion(
            "it was not issued by this tenant.",
        ));
    }
    if bearer.is_app {
        return Err(OAuthError::invalid_user_assertion(
            "it is an application token; on-behalf-of needs a user's token.",
        ));
    }
    let claims = bearer.claims;
    let user = bearer.object_id;
    let audiences: Vec<String> = hale_jws::audiences(&claims)
        .map_err(|_| OAuthError::invalid_user_assertion("it has no audience."))?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let methods = claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "pwd".into());

    let lookup = state
        .store
        .read(move |tx| {
            let registered = client::registered(tx, tenant, client, false)?;
            let identifier_uris = hale_store::applications::by_app_id(tx, client)?
                .filter(|a| a.tenant_id == tenant)
                .map(|a| a.identifier_uris)
                .unwrap_or_default();
            Ok::<_, StoreError>((registered, identifier_uris))
        })
        .await
        .map_err(directory_unreadable)?;
    let (registered, identifier_uris) = lookup;
    let registered = registered
        .ok_or_else(|| OAuthError::unknown_client(&presented.client_id, request.tenant_segment))?;
    if !audience_is_client(&audiences, client, &identifier_uris) {
        return Err(OAuthError::invalid_user_assertion(
            "the assertion's audience is not the client presenting it.",
        ));
    }
    if matches!(registered, Registered::Public) {
        return Err(OAuthError::missing_credential());
    }
    let audiences_ok = client::assertion_audiences(state, request.tenant_segment, tenant);
    let authentication = client::authenticate(state, &presented, &registered, &audiences_ok)?;
    let delegated = DelegatedRequest::from_form(form, request.endpoint)?;
    issue_for_user(
        state,
        request.endpoint,
        UserGrant {
            tenant,
            client,
            client_authentication: authentication,
            auth: Authentication {
                tenant,
                user,
                authenticated_at: OffsetDateTime::now_utc(),
                methods,
            },
            request: delegated,
            nonce: None,
        },
    )
    .await
}

/// Whether the assertion was issued to the client presenting it: its client
/// ID (v2 tokens) or one of its App ID URIs (v1 tokens).
fn audience_is_client(audiences: &[String], client: AppId, identifier_uris: &[String]) -> bool {
    audiences.iter().any(|aud| {
        aud.parse::<AppId>().ok() == Some(client)
            || identifier_uris.iter().any(|u| {
                u.trim_end_matches('/')
                    .eq_ignore_ascii_case(aud.trim_end_matches('/'))
            })
    })
}
