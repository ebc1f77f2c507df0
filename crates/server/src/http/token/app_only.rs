//! `client_credentials`: an application acting as itself. Costs no database
//! write: one read transaction finds the client, its credentials, the
//! resource and the app roles granted on it, so removing a secret or a
//! permission takes effect on the very next request on every replica.

use hale_directory::ServicePrincipal;
use hale_identity::OAuthError;
use hale_identity::token::{self, AppOnlyToken};
use hale_store::{StoreError, principals};

use super::client::{self, Presented, Registered};
use super::resource::{self, Resource};
use super::{Endpoint, Issued, Request, directory_unreadable, now_seconds, respond, sign};

/// What the database says about a client-credentials request.
enum Lookup {
    UnknownClient,
    NoServicePrincipal,
    UnknownResource,
    Found(Box<Found>),
}

struct Found {
    registered: Registered,
    principal: ServicePrincipal,
    resource: Resource,
    roles: Vec<String>,
}

pub(super) async fn client_credentials(
    request: &Request<'_>,
) -> Result<axum::response::Response, OAuthError> {
    let (state, form) = (request.state, request.form);
    let tenant = request.tenant()?;
    let presented = Presented::from_request(form, request.headers)?;
    if matches!(presented.credential, client::Credential::None) {
        return Err(OAuthError::missing_credential());
    }
    let requested = match request.endpoint {
        Endpoint::V2 => {
            if form.get("resource").is_some() {
                return Err(OAuthError::resource_on_v2());
            }
            token::client_credentials_resource(form.get("scope").unwrap_or_default())?
        }
        Endpoint::V1 => form.required("resource")?.to_owned(),
    };
    let client = presented.app_id(request.tenant_segment)?;

    let identifier = requested.clone();
    let lookup = state
        .store
        .read(move |tx| {
            let Some(registered) = client::registered(tx, tenant, client, false)? else {
                return Ok(Lookup::UnknownClient);
            };
            let Some(principal) = principals::by_app_id(tx, tenant, client)? else {
                return Ok(Lookup::NoServicePrincipal);
            };
            let Some(resource) = resource::find(tx, tenant, &identifier)? else {
                return Ok(Lookup::UnknownResource);
            };
            let roles = resource.app_roles(tx, principal.id)?;
            Ok::<_, StoreError>(Lookup::Found(Box::new(Found {
                registered,
                principal,
                resource,
                roles,
            })))
        })
        .await
        .map_err(directory_unreadable)?;
    let (registered, principal, resource, roles) = match lookup {
        Lookup::UnknownClient => {
            return Err(OAuthError::unknown_client(
                &presented.client_id,
                request.tenant_segment,
            ));
        }
        Lookup::NoServicePrincipal => {
            return Err(OAuthError::missing_service_principal(
                &presented.client_id,
                &tenant.to_string(),
            ));
        }
        Lookup::UnknownResource => {
            return Err(OAuthError::unknown_resource(
                &requested,
                &tenant.to_string(),
            ));
        }
        Lookup::Found(found) => {
            let Found {
                registered,
                principal,
                resource,
                roles,
            } = *found;
            (registered, principal, resource, roles)
        }
    };
    client::require_enabled(Some(&principal))?;
    let audiences = client::assertion_audiences(state, request.tenant_segment, tenant);
    let authentication = client::authenticate(state, &presented, &registered, &audiences)?
        .ok_or_else(OAuthError::missing_credential)?;

    let now = now_seconds();
    let aud = audience(&resource, &requested);
    let claims = AppOnlyToken {
        origin: state.public_url.as_str(),
        tenant,
        client,
        client_principal: principal.id,
        audience: &aud,
        version: resource.version,
        authentication,
        roles: &roles,
        now,
    }
    .claims();
    let access_token = sign(state, resource.version, &claims).await?;
    tracing::info!(client = %client, resource = %requested, "issued an app-only token");
    Ok(respond(
        Issued {
            access_token,
            resource: requested,
            scope: None,
            refresh_token: None,
            id_token: None,
            client_info: None,
            now,
            tenant,
            user: None,
        },
        request.endpoint,
    ))
}

/// `aud`: v1 tokens carry the resource as requested (without `/.default`),
/// v2 tokens the resource's client ID.
pub(super) fn audience(resource: &Resource, requested: &str) -> String {
    match resource.version {
        hale_identity::token::TokenVersion::V1 => {
            requested.trim_end_matches("/.default").to_owned()
        }
        hale_identity::token::TokenVersion::V2 => resource.app_id.to_string(),
    }
}
