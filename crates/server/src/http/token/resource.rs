//! Resources (the APIs tokens are for) and what a client may get on them:
//! delegated scopes from consent, app roles from assignments.

use hale_directory::{AppId, ObjectId, TenantId, first_party};
use hale_identity::OAuthError;
use hale_identity::consent::{OIDC_SCOPES, preauthorized, split_scope};
use hale_identity::token::TokenVersion;
use hale_store::{StoreError, Tx, applications, grants, principals};
use uuid::Uuid;

use super::{Endpoint, Form};

/// An app role a resource defines.
#[derive(Debug, Clone)]
pub(super) struct RoleDef {
    pub id: Uuid,
    pub value: String,
    pub for_applications: bool,
    pub for_users: bool,
}

/// A resource application as present in a tenant (through its service
/// principal), with the permissions it exposes.
#[derive(Debug, Clone)]
pub(super) struct Resource {
    pub app_id: AppId,
    pub version: TokenVersion,
    /// Its service principal in the tenant.
    pub principal: ObjectId,
    /// Its display name, for consent pages.
    pub display_name: String,
    /// Enabled delegated permission values.
    pub scopes: Vec<String>,
    /// Those of `scopes` only an administrator may consent to.
    pub admin_scopes: Vec<String>,
    pub roles: Vec<RoleDef>,
    /// Clients that may have these scopes without consent (values).
    pub preauthorized: Vec<(AppId, Vec<String>)>,
}

fn version(v: Option<u8>) -> TokenVersion {
    if v == Some(2) {
        TokenVersion::V2
    } else {
        TokenVersion::V1
    }
}

/// The resource `identifier` (App ID URI or client ID) names in `tenant`, if
/// it has a service principal there.
pub(super) fn find(
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
    // A FHIR service's URL names "Azure Healthcare APIs", as Entra resolves
    // `https://{ws}-{name}.fhir.azurehealthcareapis.com`; the v1 token's `aud`
    // is then the URL as requested.
    let first = match first {
        None if fhir_service_url(tx, tenant, trimmed)? => Some(&first_party::AZURE_HEALTHCARE_APIS),
        other => other,
    };
    if let Some(fp) = first {
        let Some(sp) = principals::by_app_id(tx, tenant, fp.app_id)? else {
            return Ok(None);
        };
        let cli = first_party::HALE_CLI.app_id;
        return Ok(Some(Resource {
            app_id: fp.app_id,
            version: version(Some(fp.access_token_version)),
            principal: sp.id,
            display_name: fp.display_name.to_owned(),
            scopes: fp.scopes.iter().map(|p| p.value.to_owned()).collect(),
            admin_scopes: fp
                .scopes
                .iter()
                .filter(|p| p.admin_consent)
                .map(|p| p.value.to_owned())
                .collect(),
            roles: fp
                .roles
                .iter()
                .map(|p| RoleDef {
                    id: p.id,
                    value: p.value.to_owned(),
                    for_applications: true,
                    for_users: false,
                })
                .collect(),
            preauthorized: preauthorized(cli, fp.app_id)
                .map(|values| vec![(cli, values.iter().map(|v| v.to_string()).collect())])
                .unwrap_or_default(),
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
    let Some(sp) = principals::by_app_id(tx, tenant, app.app_id)? else {
        return Ok(None);
    };
    let scope_value = |id: &Uuid| {
        app.api
            .oauth2_permission_scopes
            .iter()
            .find(|s| &s.id == id)
            .map(|s| s.value.clone())
    };
    Ok(Some(Resource {
        app_id: app.app_id,
        version: version(
            app.api
                .requested_access_token_version
                .and_then(|v| u8::try_from(v).ok()),
        ),
        principal: sp.id,
        display_name: app.display_name.clone(),
        admin_scopes: app
            .api
            .oauth2_permission_scopes
            .iter()
            .filter(|s| s.is_enabled && s.kind.eq_ignore_ascii_case("Admin"))
            .map(|s| s.value.clone())
            .collect(),
        scopes: app
            .api
            .oauth2_permission_scopes
            .iter()
            .filter(|s| s.is_enabled)
            .map(|s| s.value.clone())
            .collect(),
        roles: app
            .app_roles
            .iter()
            .filter(|r| r.is_enabled)
            .filter_map(|r| {
                Some(RoleDef {
                    id: r.id,
                    value: r.value.clone()?,
                    for_applications: r.allowed_member_types.iter().any(|t| t == "Application"),
                    for_users: r.allowed_member_types.iter().any(|t| t == "User"),
                })
            })
            .collect(),
        preauthorized: app
            .api
            .pre_authorized_applications
            .iter()
            .map(|p| {
                (
                    AppId(p.app_id),
                    p.delegated_permission_ids
                        .iter()
                        .filter_map(scope_value)
                        .collect(),
                )
            })
            .collect(),
    }))
}

/// Whether `url` is the URL of a FHIR service of `tenant`
/// (`{origin}/fhir/{workspace}/{name}`). The origin is not compared: behind a
/// balancer it may differ from the one the server knows, and the FHIR service
/// itself checks that `aud` is its own URL.
fn fhir_service_url(tx: &mut dyn Tx, tenant: TenantId, url: &str) -> Result<bool, StoreError> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(false);
    };
    let segments: Vec<&str> = parsed.path().trim_matches('/').split('/').collect();
    let [prefix, workspace, name] = segments.as_slice() else {
        return Ok(false);
    };
    if !prefix.eq_ignore_ascii_case("fhir") || parsed.query().is_some() {
        return Ok(false);
    }
    let found =
        hale_store::health::service_by_path(tx, hale_arm::ServiceKind::Fhir, workspace, name)?;
    Ok(found.is_some_and(|s| s.tenant_id == tenant))
}

impl Resource {
    /// The application permissions granted to the client's service principal.
    pub fn app_roles(&self, tx: &mut dyn Tx, client: ObjectId) -> Result<Vec<String>, StoreError> {
        let ids = grants::assigned_role_ids(tx, self.principal, &[client])?;
        Ok(self
            .roles
            .iter()
            .filter(|r| r.for_applications && ids.contains(&r.id))
            .map(|r| r.value.clone())
            .collect())
    }

    /// The app roles assigned to `principals` (a user and the user's groups).
    pub fn user_roles(
        &self,
        tx: &mut dyn Tx,
        principals: &[ObjectId],
    ) -> Result<Vec<String>, StoreError> {
        let ids = grants::assigned_role_ids(tx, self.principal, principals)?;
        Ok(self
            .roles
            .iter()
            .filter(|r| r.for_users && ids.contains(&r.id))
            .map(|r| r.value.clone())
            .collect())
    }

    /// The delegated scopes `client` may obtain for `user` without asking:
    /// pre-authorization plus the tenant's and the user's consent.
    pub fn consented(
        &self,
        tx: &mut dyn Tx,
        client: AppId,
        client_principal: Option<ObjectId>,
        user: ObjectId,
    ) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = self
            .preauthorized
            .iter()
            .filter(|(app, _)| *app == client)
            .flat_map(|(_, values)| values.iter().cloned())
            .collect();
        if let Some(sp) = client_principal {
            for s in grants::consented_scopes(tx, sp, self.principal, user)? {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
                    out.push(s);
                }
            }
        }
        // Only what the resource still exposes.
        out.retain(|s| self.scopes.iter().any(|d| d.eq_ignore_ascii_case(s)));
        Ok(out)
    }

    /// The canonical spelling of each requested scope the resource exposes;
    /// `Err` lists the ones it does not.
    pub fn known_scopes(&self, names: &[String]) -> Result<Vec<String>, Vec<String>> {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for name in names.iter().filter(|n| n.as_str() != ".default") {
            match self.scopes.iter().find(|d| d.eq_ignore_ascii_case(name)) {
                Some(d) => known.push(d.clone()),
                None => unknown.push(name.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(known)
        } else {
            Err(unknown)
        }
    }
}

/// Records consent: `user` (or, with `for_everyone`, an administrator for the
/// whole tenant) lets `client_principal` use `scopes` on `resource`. Widens an
/// existing grant rather than adding a second one.
pub(crate) fn record_consent(
    tx: &mut dyn Tx,
    tenant: TenantId,
    client_principal: ObjectId,
    resource: &Resource,
    user: ObjectId,
    scopes: &[String],
    for_everyone: bool,
) -> Result<(), StoreError> {
    use hale_directory::{ConsentType, OAuth2PermissionGrant};
    let (consent_type, principal_id) = if for_everyone {
        (ConsentType::AllPrincipals, None)
    } else {
        (ConsentType::Principal, Some(user))
    };
    let existing = grants::grants_between(tx, client_principal, resource.principal)?
        .into_iter()
        .find(|g| g.consent_type == consent_type && g.principal_id == principal_id);
    let more: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match existing {
        Some(grant) => {
            let widened = grant.widened(&more);
            grants::update_grant_scope(tx, tenant, grant.id, &widened.scope)?;
        }
        None => {
            let grant = OAuth2PermissionGrant {
                id: Uuid::new_v4(),
                client_id: client_principal,
                consent_type,
                principal_id,
                resource_id: resource.principal,
                scope: more.join(" "),
            };
            grants::insert_grant(tx, tenant, &grant)?;
        }
    }
    Ok(())
}

/// The scopes a delegated request asks for.
#[derive(Debug, Clone, Default)]
pub(super) struct DelegatedRequest {
    /// The resource (App ID URI or client ID), Microsoft Graph by default.
    pub resource: String,
    /// Permission names on it (`.default` for "everything consented").
    pub names: Vec<String>,
    /// `openid`: an ID token is wanted.
    pub openid: bool,
    /// `offline_access`: a refresh token is wanted.
    pub offline_access: bool,
    /// The OIDC scopes asked, echoed in `scope`.
    pub oidc: Vec<String>,
}

impl DelegatedRequest {
    /// Reads `scope` (v2) or `resource` (v1) from a token request.
    pub fn from_form(form: &Form, endpoint: Endpoint) -> Result<DelegatedRequest, OAuthError> {
        match endpoint {
            Endpoint::V1 => {
                let resource = form.required("resource")?;
                Ok(DelegatedRequest {
                    resource: resource.to_owned(),
                    names: vec![".default".into()],
                    openid: true,
                    offline_access: true,
                    oidc: Vec::new(),
                })
            }
            Endpoint::V2 => {
                if form.get("resource").is_some() {
                    return Err(OAuthError::resource_on_v2());
                }
                let scope = form.required("scope")?;
                DelegatedRequest::parse(scope)
            }
        }
    }

    /// Parses a v2 `scope`: OIDC scopes plus permissions of one resource.
    pub fn parse(scope: &str) -> Result<DelegatedRequest, OAuthError> {
        let mut request = DelegatedRequest::default();
        let mut resource: Option<String> = None;
        for s in scope.split_whitespace() {
            if OIDC_SCOPES.contains(&s) {
                request.openid |= s == "openid";
                request.offline_access |= s == "offline_access";
                if !request.oidc.iter().any(|o| o == s) {
                    request.oidc.push(s.to_owned());
                }
                continue;
            }
            let (r, name) = split_scope(s);
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
            if name.is_empty() {
                return Err(OAuthError::invalid_scope(scope));
            }
            request.names.push(name);
        }
        if scope.split_whitespace().next().is_none() {
            return Err(OAuthError::missing_parameter("scope"));
        }
        // Only OIDC scopes: a token for Microsoft Graph's User.Read, as in Entra.
        request.resource = resource.unwrap_or_else(|| {
            request.names.push("User.Read".into());
            "https://graph.microsoft.com".into()
        });
        Ok(request)
    }

    /// The granted scopes: everything consented for `.default`, else each
    /// name asked, which must be consented. `Err` lists what is missing.
    pub fn granted(&self, consented: &[String]) -> Result<Vec<String>, Vec<String>> {
        let mut granted: Vec<String> = Vec::new();
        let mut missing = Vec::new();
        for name in &self.names {
            if name == ".default" {
                if consented.is_empty() {
                    missing.push(name.clone());
                }
                for c in consented {
                    if !granted.contains(c) {
                        granted.push(c.clone());
                    }
                }
            } else {
                match consented.iter().find(|c| c.eq_ignore_ascii_case(name)) {
                    Some(c) if !granted.contains(c) => granted.push(c.clone()),
                    Some(_) => {}
                    None => missing.push(name.clone()),
                }
            }
        }
        if missing.is_empty() {
            Ok(granted)
        } else {
            Err(missing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegated_scope_parsing() {
        let r = DelegatedRequest::parse("openid profile offline_access api://x/read api://x/write")
            .unwrap();
        assert_eq!(r.resource, "api://x");
        assert_eq!(r.names, ["read", "write"]);
        assert!(r.openid && r.offline_access);
        let only_oidc = DelegatedRequest::parse("openid profile").unwrap();
        assert_eq!(only_oidc.resource, "https://graph.microsoft.com");
        assert_eq!(only_oidc.names, ["User.Read"]);
        assert_eq!(
            DelegatedRequest::parse("api://a/x api://b/y")
                .unwrap_err()
                .code,
            28000
        );
        let consented = vec!["read".to_owned(), "write".to_owned()];
        let all = DelegatedRequest::parse("api://x/.default").unwrap();
        assert_eq!(all.granted(&consented).unwrap(), consented);
        assert_eq!(all.granted(&[]).unwrap_err(), [".default"]);
        let some = DelegatedRequest::parse("api://x/READ api://x/admin").unwrap();
        assert_eq!(some.granted(&consented).unwrap_err(), ["admin"]);
    }
}
