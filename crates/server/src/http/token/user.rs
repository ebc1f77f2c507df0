//! Delegated grants, where a user signed in: `password` (ROPC),
//! `refresh_token` and the device code grant. All end in [`issue_for_user`],
//! which applies consent and mints the access, refresh and ID tokens.

use hale_directory::{AppId, ClaimsMapping, ObjectId, TenantId, User, first_party};
use hale_identity::OAuthError;
use hale_identity::token::{ClientAuthentication, IdToken, TokenVersion, UserToken, client_info};
use hale_store::sign_in::{self, Authentication, DeviceStatus};
use hale_store::{StoreError, Tx, principals, tenants, users};
use time::{Duration, OffsetDateTime};

use super::client::{self, Presented, Registered};
use super::resource::{self, DelegatedRequest};
use super::{
    Endpoint, Issued, Request, directory_unreadable, new_secret, now_seconds, respond,
    secret_digest, sign,
};
use crate::http::AppState;

/// How long a refresh token lives without use (Entra: 90 days).
pub(crate) const REFRESH_TOKEN_INACTIVITY: Duration = Duration::days(90);

/// A signed-in user's request for tokens, after client authentication.
pub(super) struct UserGrant {
    pub tenant: TenantId,
    pub client: AppId,
    pub client_authentication: Option<ClientAuthentication>,
    pub auth: Authentication,
    pub request: DelegatedRequest,
    pub nonce: Option<String>,
}

/// What [`issue_for_user`] needs from the directory, read in one transaction.
struct Context {
    user: Option<User>,
    resource: Option<resource::Resource>,
    /// The client's service principal in the grant's tenant.
    client_principal: Option<hale_directory::ServicePrincipal>,
    consented: Vec<String>,
    roles: Vec<String>,
    directory_roles: Vec<String>,
    /// The `groups` claim of the ID token, when the client asks for it.
    id_token_groups: Option<Vec<String>>,
    /// The `groups` claim of the access token, when the resource asks for it.
    access_token_groups: Option<Vec<String>>,
    /// The optional claims the client asks for in its ID tokens.
    id_token_optional: Vec<String>,
    /// The optional claims the resource asks for in its access tokens.
    access_token_optional: Vec<String>,
    /// The claims-mapping policy of the resource (access tokens), and whether
    /// the resource application accepts mapped claims.
    access_token_mapping: Option<ClaimsMapping>,
    accepts_mapped_claims: bool,
    /// The claims-mapping policy of the client (its ID tokens).
    id_token_mapping: Option<ClaimsMapping>,
}

fn read_context(
    tx: &mut dyn Tx,
    grant_tenant: TenantId,
    client: AppId,
    user: ObjectId,
    identifier: &str,
) -> Result<Context, StoreError> {
    let found = users::get(tx, grant_tenant, user)?;
    let resource = resource::find(tx, grant_tenant, identifier)?;
    let client_principal = principals::by_app_id(tx, grant_tenant, client)?;
    let client_sp = client_principal.as_ref().map(|sp| sp.id);
    // The groups the user is in, nested ones included: for app roles
    // assigned to a group, and the `groups` claim.
    let groups = transitive_groups(tx, grant_tenant, user)?;
    let mut principals_of_user = vec![user];
    principals_of_user.extend(groups.iter().copied());
    let (consented, roles) = match &resource {
        Some(r) => (
            r.consented(tx, client, client_sp, user)?,
            r.user_roles(tx, &principals_of_user)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    // `groupMembershipClaims` of the client (ID token) and of the resource
    // (access token) decide whether the `groups` claim is emitted.
    let client_app = hale_store::applications::by_app_id(tx, client)?;
    let resource_app = match &resource {
        Some(r) => hale_store::applications::by_app_id(tx, r.app_id)?,
        None => None,
    };
    let client_wants_groups = wants_groups(client_app.as_ref());
    let resource_wants_groups = wants_groups(resource_app.as_ref());
    let names = |app: Option<&hale_directory::Application>, id_token: bool| {
        app.map(|a| a.optional_claim_names(id_token))
            .unwrap_or_default()
    };
    let directory_roles = principals::roles_of(tx, grant_tenant, user)?
        .iter()
        .map(|r| r.template_id().to_string())
        .collect();
    let group_ids: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let resource_sp = resource.as_ref().map(|r| (r.principal, r.app_id));
    let client_sp_app = client_sp.map(|sp| (sp, client));
    let (access_token_mapping, id_token_mapping) =
        mappings(tx, grant_tenant, resource_sp, client_sp_app)?;
    let accepts_mapped_claims = resource_app
        .as_ref()
        .and_then(|a| a.api.accept_mapped_claims)
        .unwrap_or(false);
    Ok(Context {
        access_token_mapping,
        accepts_mapped_claims,
        id_token_mapping,
        user: found,
        client_principal,
        resource,
        consented,
        roles,
        directory_roles,
        id_token_groups: client_wants_groups.then(|| group_ids.clone()),
        access_token_groups: resource_wants_groups.then_some(group_ids),
        id_token_optional: names(client_app.as_ref(), true),
        access_token_optional: names(resource_app.as_ref(), false),
    })
}

/// The claims-mapping policies of a token's resource and client, in one
/// read: `(access token's, ID token's)`. First-party applications (Microsoft
/// Graph, Azure Healthcare APIs, the Azure CLI…) never get mapped claims, as
/// in Entra, so their service principals are not even looked up.
fn mappings(
    tx: &mut dyn Tx,
    tenant: TenantId,
    resource: Option<(ObjectId, AppId)>,
    client: Option<(ObjectId, AppId)>,
) -> Result<(Option<ClaimsMapping>, Option<ClaimsMapping>), StoreError> {
    let own = |p: Option<(ObjectId, AppId)>| {
        p.filter(|(_, app)| first_party::by_app_id(*app).is_none())
            .map(|(sp, _)| sp)
    };
    let (resource, client) = (own(resource), own(client));
    let wanted: Vec<ObjectId> = resource.iter().chain(client.iter()).copied().collect();
    if wanted.is_empty() {
        return Ok((None, None));
    }
    let assigned = hale_store::claims_mapping::assigned(tx, tenant, &wanted)?;
    let of = |sp: Option<ObjectId>| -> Result<Option<ClaimsMapping>, StoreError> {
        let Some(sp) = sp else { return Ok(None) };
        assigned
            .iter()
            .find(|(holder, _)| *holder == sp)
            .map(|(_, policy)| {
                // Checked when written; a failure here is a damaged store.
                ClaimsMapping::parse(&policy.definition).map_err(|e| {
                    StoreError::Decode(format!("claims-mapping policy {}: {e}", policy.id))
                })
            })
            .transpose()
    };
    Ok((of(resource)?, of(client)?))
}

/// Whether the application `app` asks for the `groups` claim in the tokens
/// issued to it (ID tokens) or for it (access tokens): its
/// `groupMembershipClaims`.
pub(super) fn wants_groups(app: Option<&hale_directory::Application>) -> bool {
    app.and_then(|a| a.group_membership_claims.as_deref())
        .is_some_and(|c| {
            matches!(
                c,
                "SecurityGroup" | "All" | "ApplicationGroup" | "DirectoryRole"
            )
        })
}

/// The ids of the groups `user` is in, nested ones included: the `groups`
/// claim.
pub(super) fn group_ids(
    tx: &mut dyn Tx,
    tenant: TenantId,
    user: ObjectId,
) -> Result<Vec<String>, StoreError> {
    Ok(transitive_groups(tx, tenant, user)?
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// Adds the optional claims `names` (see
/// [`hale_directory::OPTIONAL_CLAIM_NAMES`]) from `user`'s profile; a claim
/// whose attribute is empty is left out, as Entra leaves it out. A directory
/// extension (`extension_{appId}_{name}`) goes in as `extn.{name}`, Entra's
/// JWT name for it, when the user has a value.
pub(super) fn add_optional_claims(
    claims: &mut serde_json::Value,
    names: &[String],
    user: &User,
    authenticated_at: OffsetDateTime,
) {
    let p = &user.profile;
    for name in names {
        if let Some(short) = hale_directory::extension_short_name(name) {
            if let Some(value) = p.extension(name) {
                claims[format!("extn.{short}")] = value.clone();
            }
            continue;
        }
        let value = match name.as_str() {
            "email" => p.mail.as_deref().map(serde_json::Value::from),
            "family_name" => p.surname.as_deref().map(serde_json::Value::from),
            "given_name" => p.given_name.as_deref().map(serde_json::Value::from),
            "upn" => Some(user.user_principal_name.as_str().into()),
            "xms_pl" => p.preferred_language.as_deref().map(serde_json::Value::from),
            // Hale's users are all members of their tenant (no guests).
            "acct" => Some(0.into()),
            "auth_time" => Some(authenticated_at.unix_timestamp().into()),
            _ => None,
        };
        if let Some(value) = value {
            claims[name.as_str()] = value;
        }
    }
}

/// Where a `groups` claim goes, which bounds how many ids it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupsIn {
    /// A token from the token endpoint: at most 200 ids.
    Jwt,
    /// An ID token of the implicit or hybrid flow, which travels in a URL:
    /// at most 5 ids.
    Url,
}

/// Puts the `groups` claim in `claims`, or Entra's overage indication when
/// there are more ids than fit: `hasgroups: true` in a token that travels in
/// a URL, else `_claim_names`/`_claim_sources` naming where the whole list
/// is (Hale's Graph `getMemberObjects` for the user).
pub(super) fn set_groups(
    claims: &mut serde_json::Value,
    groups: &[String],
    within: GroupsIn,
    origin: &str,
    user: ObjectId,
) {
    let limit = match within {
        GroupsIn::Jwt => 200,
        GroupsIn::Url => 5,
    };
    if groups.len() <= limit {
        claims["groups"] = serde_json::json!(groups);
    } else if within == GroupsIn::Url {
        claims["hasgroups"] = serde_json::json!(true);
    } else {
        claims["_claim_names"] = serde_json::json!({ "groups": "src1" });
        claims["_claim_sources"] = serde_json::json!({
            "src1": { "endpoint": format!("{origin}v1.0/users/{user}/getMemberObjects") }
        });
    }
}

/// The groups `user` is in, directly or through other groups.
fn transitive_groups(
    tx: &mut dyn Tx,
    tenant: TenantId,
    user: ObjectId,
) -> Result<Vec<ObjectId>, StoreError> {
    Ok(hale_directory::membership::transitive(
        hale_directory::membership::Member {
            id: user,
            kind: hale_directory::membership::MemberKind::User,
        },
        |id| hale_store::groups::groups_of(tx, tenant, id),
    )?
    .into_iter()
    .map(|m| m.id)
    .collect())
}

/// Applies consent and mints the tokens of a delegated grant.
pub(super) async fn issue_for_user(
    state: &AppState,
    endpoint: Endpoint,
    grant: UserGrant,
) -> Result<axum::response::Response, OAuthError> {
    let UserGrant {
        tenant,
        client,
        client_authentication,
        auth,
        request,
        nonce,
    } = grant;
    let identifier = request.resource.clone();
    let user_id = auth.user;
    let context = state
        .store
        .read(move |tx| read_context(tx, tenant, client, user_id, &identifier))
        .await
        .map_err(directory_unreadable)?;
    client::require_enabled(context.client_principal.as_ref())?;
    let user = context.user.ok_or_else(OAuthError::refresh_token_invalid)?;
    if !user.account_enabled {
        return Err(OAuthError::user_disabled());
    }
    let resource = context
        .resource
        .ok_or_else(|| OAuthError::unknown_resource(&request.resource, &tenant.to_string()))?;
    let client_id = client.to_string();
    let granted = request
        .granted(&context.consented)
        .map_err(|_| OAuthError::consent_required(&client_id, &request.resource))?;
    // Entra will not put mapped claims in a token for an API that has not
    // said it checks them (AADSTS50146).
    if context.access_token_mapping.is_some() && !context.accepts_mapped_claims {
        return Err(OAuthError::mapped_claims_not_accepted());
    }
    let scp = granted.join(" ");
    let now = now_seconds();
    let aud = super::app_only::audience(&resource, &request.resource);
    let origin = state.public_url.as_str();
    let methods: Vec<&str> = auth.methods.split_whitespace().collect();
    let claims = UserToken {
        origin,
        tenant,
        client,
        authentication: client_authentication,
        user: user.id,
        user_principal_name: &user.user_principal_name,
        name: &user.display_name,
        directory_roles: context.directory_roles,
        methods: &methods,
        audience: &aud,
        version: resource.version,
        scopes: &scp,
        roles: &context.roles,
        now,
    }
    .claims();
    let mut claims = claims;
    if let Some(groups) = &context.access_token_groups {
        set_groups(&mut claims, groups, GroupsIn::Jwt, origin, user.id);
    }
    add_optional_claims(
        &mut claims,
        &context.access_token_optional,
        &user,
        auth.authenticated_at,
    );
    if let Some(mapping) = &context.access_token_mapping {
        mapping.apply(&mut claims, Some(&user));
    }
    let access_token = sign(state, resource.version, &claims).await?;
    let v1 = endpoint == Endpoint::V1;
    let id_token = if request.openid || v1 {
        let mut claims = id_token_claims(
            origin,
            tenant,
            client,
            &user,
            nonce.as_deref(),
            endpoint,
            now,
        );
        if let Some(groups) = &context.id_token_groups {
            set_groups(&mut claims, groups, GroupsIn::Jwt, origin, user.id);
        }
        add_optional_claims(
            &mut claims,
            &context.id_token_optional,
            &user,
            auth.authenticated_at,
        );
        if let Some(mapping) = &context.id_token_mapping {
            mapping.apply(&mut claims, Some(&user));
        }
        Some(sign(state, TokenVersion::V2, &claims).await?)
    } else {
        None
    };
    let refresh_token = if request.offline_access || v1 {
        let token = new_secret("1.");
        let digest = secret_digest(state, "refresh_token", &token);
        let issued_at = OffsetDateTime::now_utc();
        let record = auth.clone();
        state
            .store
            .write(move |tx| {
                sign_in::insert_refresh_token(
                    tx,
                    &digest,
                    client,
                    &record,
                    issued_at,
                    issued_at + REFRESH_TOKEN_INACTIVITY,
                )
            })
            .await
            .map_err(directory_unreadable)?;
        Some(token)
    } else {
        None
    };
    let mut scope: Vec<String> = granted
        .iter()
        .map(|s| qualified_scope(&request.resource, resource.app_id, s))
        .collect();
    scope.extend(request.oidc.iter().cloned());
    tracing::info!(client = %client, resource = %request.resource, "issued a delegated token");
    Ok(respond(
        Issued {
            access_token,
            resource: request.resource.clone(),
            scope: Some(scope.join(" ")),
            refresh_token,
            id_token,
            client_info: Some(client_info(user.id, tenant)),
            now,
            tenant,
            user: Some((user.id, user.user_principal_name.clone())),
        },
        endpoint,
    ))
}

/// A granted scope as the v2 response names it: Microsoft Graph's bare
/// (`User.Read`), other resources' qualified (`api://x/read`).
fn qualified_scope(resource: &str, app_id: AppId, scope: &str) -> String {
    if app_id == first_party::MICROSOFT_GRAPH.app_id {
        scope.to_owned()
    } else {
        format!("{}/{scope}", resource.trim_end_matches('/'))
    }
}

/// The resource-owner password grant (ROPC): public clients (or "Allow public
/// client flows"), or confidential clients with their credential.
pub(super) async fn password(
    request: &Request<'_>,
) -> Result<axum::response::Response, OAuthError> {
    let (state, form) = (request.state, request.form);
    let presented = Presented::from_request(form, request.headers)?;
    let username = form.required("username")?.to_owned();
    let password = form.required("password")?.to_owned();
    let delegated = DelegatedRequest::from_form(form, request.endpoint)?;
    let client = presented.app_id(request.tenant_segment)?;

    let upn = username.clone();
    let resolved = request.resolved;
    let lookup = state
        .store
        .read(move |tx| {
            let Some(tenant) = tenant_for(tx, &resolved, Some(&upn))? else {
                return Ok(None);
            };
            let registered = client::registered(tx, tenant, client, true)?;
            let user = users::by_upn(tx, tenant, &upn)?;
            Ok::<_, StoreError>(Some((tenant, registered, user)))
        })
        .await
        .map_err(directory_unreadable)?;
    let (tenant, registered, user) =
        lookup.ok_or_else(|| OAuthError::unknown_user(&username, request.tenant_segment))?;
    let registered = registered
        .ok_or_else(|| OAuthError::unknown_client(&presented.client_id, request.tenant_segment))?;
    let authentication = authenticate_delegated(request, &presented, &registered, tenant)?;
    let user = user.ok_or_else(|| OAuthError::unknown_user(&username, &tenant.to_string()))?;
    match super::interactive::password_attempt(
        state,
        tenant,
        &user.user_principal_name,
        user.password.clone(),
        password,
    )
    .await
    .map_err(directory_unreadable)?
    {
        super::interactive::Attempt::Right => {}
        super::interactive::Attempt::Wrong => return Err(OAuthError::invalid_credentials()),
        super::interactive::Attempt::Locked => return Err(OAuthError::account_locked()),
    }
    if !user.account_enabled {
        return Err(OAuthError::user_disabled());
    }
    if user.profile.force_change_password_next_sign_in {
        return Err(OAuthError::password_expired());
    }
    issue_for_user(
        state,
        request.endpoint,
        UserGrant {
            tenant,
            client,
            client_authentication: authentication,
            auth: Authentication {
                tenant,
                user: user.id,
                authenticated_at: OffsetDateTime::now_utc(),
                methods: "pwd".into(),
            },
            request: delegated,
            nonce: None,
        },
    )
    .await
}

/// Client authentication for a delegated grant: a confidential client with
/// no credential is told "Allow public client flows" is off (AADSTS7000218).
fn authenticate_delegated(
    request: &Request<'_>,
    presented: &Presented,
    registered: &Registered,
    tenant: TenantId,
) -> Result<Option<ClientAuthentication>, OAuthError> {
    if matches!(registered, Registered::Confidential { .. })
        && matches!(presented.credential, client::Credential::None)
    {
        return Err(OAuthError::public_flows_disabled());
    }
    let audiences = client::assertion_audiences(request.state, request.tenant_segment, tenant);
    client::authenticate(request.state, presented, registered, &audiences)
}

/// `refresh_token`: a new access token (for any consented resource) and a new
/// refresh token. The presented token stays valid until its own expiry, as in
/// Entra; revocation (password change, `revokeSignInSessions`) ends them all.
pub(super) async fn refresh(request: &Request<'_>) -> Result<axum::response::Response, OAuthError> {
    let (state, form) = (request.state, request.form);
    let presented = Presented::from_request(form, request.headers)?;
    let token = form.required("refresh_token")?;
    let client = presented.app_id(request.tenant_segment)?;
    let digest = secret_digest(state, "refresh_token", token);
    let stored = state
        .store
        .read(move |tx| {
            let Some(stored) = sign_in::refresh_token(tx, &digest)? else {
                return Ok(None);
            };
            let registered = client::registered(tx, stored.auth.tenant, client, true)?;
            // Apps with public-client redirect URIs (SPA, mobile and desktop)
            // may refresh without a credential; web-only apps may not.
            let public_capable = match hale_store::applications::by_app_id(tx, client)? {
                Some(app) => {
                    app.allows_public_client_flows()
                        || !app.spa.redirect_uris.is_empty()
                        || !app.public_client.redirect_uris.is_empty()
                }
                None => true,
            };
            Ok::<_, StoreError>(Some((stored, registered, public_capable)))
        })
        .await
        .map_err(directory_unreadable)?;
    let (stored, registered, public_capable) =
        stored.ok_or_else(OAuthError::refresh_token_invalid)?;
    if stored.client != client {
        return Err(OAuthError::refresh_token_invalid());
    }
    if let Resolved::Tenant(t) = request.resolved
        && t != stored.auth.tenant
    {
        return Err(OAuthError::refresh_token_invalid());
    }
    if stored.expires_at <= OffsetDateTime::now_utc() {
        return Err(OAuthError::refresh_token_expired());
    }
    let registered = registered
        .ok_or_else(|| OAuthError::unknown_client(&presented.client_id, request.tenant_segment))?;
    let tenant = stored.auth.tenant;
    let authentication = match (&registered, &presented.credential) {
        // A client with public-client platforms refreshes without a
        // credential; one that presents a credential must pass.
        (Registered::Confidential { .. }, client::Credential::None) if public_capable => None,
        (Registered::Confidential { .. }, client::Credential::None) => {
            return Err(OAuthError::missing_credential());
        }
        _ => authenticate_delegated(request, &presented, &registered, tenant)?,
    };
    let mut delegated = DelegatedRequest::from_form(form, request.endpoint)?;
    // A refresh always keeps offline access.
    delegated.offline_access = true;
    if state.strict_refresh_token_rotation {
        // Strict rotation: this token is spent; a second use is refused.
        let spent = secret_digest(state, "refresh_token", token);
        state
            .store
            .write(move |tx| sign_in::revoke_refresh_token(tx, &spent))
            .await
            .map_err(directory_unreadable)?;
    }
    issue_for_user(
        state,
        request.endpoint,
        UserGrant {
            tenant,
            client,
            client_authentication: authentication,
            auth: stored.auth,
            request: delegated,
            nonce: None,
        },
    )
    .await
}

/// The device code grant: the device polls until the user has signed in on
/// the device-login page.
pub(super) async fn device_code(
    request: &Request<'_>,
) -> Result<axum::response::Response, OAuthError> {
    let (state, form) = (request.state, request.form);
    let presented = Presented::from_request(form, request.headers)?;
    let code = form
        .get("device_code")
        .or_else(|| form.get("code"))
        .ok_or_else(|| OAuthError::missing_parameter("device_code"))?;
    let client = presented.app_id(request.tenant_segment)?;
    let digest = secret_digest(state, "device_code", code);
    let lookup_digest = digest.clone();
    let found = state
        .store
        .read(move |tx| sign_in::device_code(tx, &lookup_digest))
        .await
        .map_err(directory_unreadable)?
        .filter(|d| d.client == client)
        .ok_or_else(OAuthError::bad_verification_code)?;
    if found.expires_at <= OffsetDateTime::now_utc() {
        return Err(OAuthError::device_code_expired());
    }
    let auth = match found.status {
        DeviceStatus::Pending => return Err(OAuthError::authorization_pending()),
        DeviceStatus::Declined => return Err(OAuthError::authorization_declined()),
        DeviceStatus::Redeemed => return Err(OAuthError::bad_verification_code()),
        DeviceStatus::Approved => found.auth.ok_or_else(OAuthError::bad_verification_code)?,
    };
    let tenant = auth.tenant;
    let registered = state
        .store
        .read(move |tx| client::registered(tx, tenant, client, true))
        .await
        .map_err(directory_unreadable)?
        .ok_or_else(|| OAuthError::unknown_client(&presented.client_id, request.tenant_segment))?;
    let authentication = authenticate_delegated(request, &presented, &registered, tenant)?;
    let redeemed = state
        .store
        .write(move |tx| sign_in::redeem_device_code(tx, &digest))
        .await
        .map_err(directory_unreadable)?;
    if !redeemed {
        return Err(OAuthError::bad_verification_code());
    }
    let delegated = DelegatedRequest::parse(&found.scope)?;
    issue_for_user(
        state,
        request.endpoint,
        UserGrant {
            tenant,
            client,
            client_authentication: authentication,
            auth,
            request: delegated,
            nonce: None,
        },
    )
    .await
}

use crate::http::identity::Resolved;

/// Reads the tenant a delegated request is for: the one in the URL, or for
/// `common`/`organizations` the user's domain.
pub(super) fn tenant_for(
    tx: &mut dyn Tx,
    resolved: &Resolved,
    username: Option<&str>,
) -> Result<Option<TenantId>, StoreError> {
    match resolved {
        Resolved::Tenant(id) => Ok(Some(*id)),
        Resolved::Alias(_) => match username.and_then(|u| u.rsplit_once('@')) {
            Some((_, domain)) => Ok(tenants::by_domain(tx, domain)?.map(|t| t.id)),
            None => Ok(None),
        },
    }
}

/// `authorization_code`: redeems a code from the authorization endpoint, once,
/// with the same redirect URI and (when a challenge was sent) the PKCE
/// verifier. Web redirect URIs need the client's credential; SPA and public
/// client ones do not. The client is authenticated before the code is spent,
/// so a request that fails client authentication (or names another client)
/// leaves the code to the right retry, as in Entra.
pub(super) async fn authorization_code(
    request: &Request<'_>,
) -> Result<axum::response::Response, OAuthError> {
    use base64::Engine as _;
    use hale_store::applications;
    use hale_store::sign_in::Redemption;
    let (state, form) = (request.state, request.form);
    let presented = Presented::from_request(form, request.headers)?;
    let code = form.required("code")?;
    let redirect_uri = form.required("redirect_uri")?.to_owned();
    let client = presented.app_id(request.tenant_segment)?;
    let digest = secret_digest(state, "authorization_code", code);
    let spend = |redemption: Redemption| match redemption {
        Redemption::Unknown => Err(OAuthError::code_invalid("The code is not known.")),
        Redemption::AlreadyRedeemed => Err(OAuthError::code_redeemed()),
        Redemption::Redeemed(code) => Ok(*code),
    };

    // 1. The code as issued, unspent, and the client it was issued to.
    let peek_digest = digest.clone();
    let issued = spend(
        state
            .store
            .read(move |tx| sign_in::peek_code(tx, &peek_digest))
            .await
            .map_err(directory_unreadable)?,
    )?;
    if issued.client != client {
        return Err(OAuthError::code_invalid("It was issued to another client."));
    }

    // 2. Client authentication.
    let tenant = issued.auth.tenant;
    let uri = redirect_uri.clone();
    let registered = state
        .store
        .read(move |tx| {
            if let Some(fp) = first_party::by_app_id(client) {
                return Ok(fp.public_client.then_some(Registered::Public));
            }
            let Some(app) = applications::by_app_id(tx, client)? else {
                return Ok(None);
            };
            if app.web.redirect_uris.contains(&uri) {
                client::registered(tx, app.tenant_id, client, false)
            } else {
                Ok::<_, StoreError>(Some(Registered::Public))
            }
        })
        .await
        .map_err(directory_unreadable)?
        .ok_or_else(|| OAuthError::unknown_client(&presented.client_id, request.tenant_segment))?;
    let authentication = match (&registered, &presented.credential) {
        (Registered::Confidential { .. }, client::Credential::None) => {
            return Err(OAuthError::missing_credential());
        }
        _ => {
            let audiences = client::assertion_audiences(state, request.tenant_segment, tenant);
            client::authenticate(state, &presented, &registered, &audiences)?
        }
    };

    // 3. The code, spent: once, whatever follows.
    let now = OffsetDateTime::now_utc();
    let code = spend(
        state
            .store
            .write(move |tx| sign_in::redeem_code(tx, &digest, now))
            .await
            .map_err(directory_unreadable)?,
    )?;
    if code.expires_at <= now {
        return Err(OAuthError::code_expired());
    }
    if code.redirect_uri != redirect_uri {
        return Err(OAuthError::code_invalid(
            "The redirect_uri differs from the one of the authorization request.",
        ));
    }
    if let Some(challenge) = &code.code_challenge {
        let verifier = form
            .get("code_verifier")
            .ok_or_else(OAuthError::pkce_mismatch)?;
        let digest = hale_jws::sha256_thumbprint(verifier.as_bytes());
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        if !crate::http::pages::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
            return Err(OAuthError::pkce_mismatch());
        }
    }
    let delegated = DelegatedRequest::parse(&code.scope)?;
    issue_for_user(
        state,
        request.endpoint,
        UserGrant {
            tenant: code.auth.tenant,
            client,
            client_authentication: authentication,
            auth: code.auth,
            request: delegated,
            nonce: code.nonce,
        },
    )
    .await
}

/// The claims of the ID token issued to `client` for `user`: v1-shaped from the
/// v1 endpoints, v2-shaped from the v2 ones.
pub(super) fn id_token_claims(
    origin: &str,
    tenant: TenantId,
    client: AppId,
    user: &User,
    nonce: Option<&str>,
    endpoint: Endpoint,
    now: i64,
) -> serde_json::Value {
    IdToken {
        origin,
        tenant,
        client,
        user: user.id,
        user_principal_name: &user.user_principal_name,
        name: &user.display_name,
        nonce,
        version: match endpoint {
            Endpoint::V1 => TokenVersion::V1,
            Endpoint::V2 => TokenVersion::V2,
        },
        now,
    }
    .claims()
}
