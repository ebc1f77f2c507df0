//! Consent through Graph: `oauth2PermissionGrants` (delegated permissions,
//! "Grant admin consent") and app role assignments (`appRoleAssignments` of a
//! principal, `appRoleAssignedTo` of a resource: application permissions and
//! roles for users).

use axum::http::StatusCode;
use axum::response::Response;
use hale_directory::access;
use hale_directory::{
    AppRoleAssignment, ConsentType, OAuth2PermissionGrant, ObjectId, PrincipalKind,
    ServicePrincipal, first_party,
};
use hale_store::{StoreError, Tx, applications, grants, principals, users};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Failure, GraphError, Key, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

fn string_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::bad_request(format!(
            "Property '{name}' must be a string."
        ))),
    }
}

fn guid_field(body: &Map<String, Value>, name: &str) -> Result<Option<Uuid>, GraphError> {
    string_field(body, name)?
        .map(|s| {
            Uuid::parse_str(&s).map_err(|_| {
                GraphError::bad_request(format!(
                    "Invalid value specified for property '{name}': '{s}' is not a GUID."
                ))
            })
        })
        .transpose()
}

fn required_guid(body: &Map<String, Value>, name: &str) -> Result<Uuid, GraphError> {
    guid_field(body, name)?
        .ok_or_else(|| GraphError::bad_request(format!("Property '{name}' is required.")))
}

fn only(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), GraphError> {
    match body
        .keys()
        .find(|k| k.as_str() != "@odata.type" && !allowed.contains(&k.as_str()))
    {
        Some(other) => Err(GraphError::bad_request(format!(
            "Property '{other}' does not exist as a declared property or extension property."
        ))),
        None => Ok(()),
    }
}

fn grant_value(grant: &OAuth2PermissionGrant) -> Value {
    serde_json::to_value(grant).unwrap_or_default()
}

fn service_principal(
    tx: &mut dyn Tx,
    caller: &Caller,
    key: Key,
) -> Result<ServicePrincipal, Failure> {
    let found = match key {
        Key::Id(id) => principals::get(tx, caller.tenant_id, ObjectId(id))?,
        Key::AppId(app_id) => principals::by_app_id(tx, caller.tenant_id, app_id.into())?,
    };
    found.ok_or_else(|| Failure::Graph(GraphError::not_found(&key_text(key))))
}

fn key_text(key: Key) -> String {
    match key {
        Key::Id(id) => id.to_string(),
        Key::AppId(id) => format!("servicePrincipals(appId='{id}')"),
    }
}

/// `GET /oauth2PermissionGrants` (optionally `$filter=clientId eq '…'`, or
/// any filter Graph allows, evaluated over the tenant's grants).
pub(super) async fn list_grants(
    state: &AppState,
    caller: &Caller,
    client: Option<Key>,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    caller.require(access::may_read_consent)?;
    let filter = match query.iter().find(|(k, _)| k == "$filter") {
        Some((_, text)) => Some(
            hale_odata::parse_query(
                std::iter::once(("$filter", text.as_str())),
                &hale_odata::Limits::default(),
            )
            .map_err(|e| GraphError::bad_request(e.message))?
            .filter
            .ok_or_else(|| GraphError::bad_request("Invalid filter clause."))?,
        ),
        None => None,
    };
    let caller_copy = caller.clone();
    let tenant = caller.tenant_id;
    let list = state
        .store
        .read(move |tx| {
            let client = match client {
                Some(key) => Some(service_principal(tx, &caller_copy, key)?.id),
                None => None,
            };
            Ok::<_, Failure>(grants::list_grants(tx, tenant, client)?)
        })
        .await
        .map_err(GraphError::from)?;
    let values: Vec<Value> = list
        .iter()
        .map(grant_value)
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({ "@odata.context": context(state, "oauth2PermissionGrants"), "value": values }),
    ))
}

pub(super) async fn get_grant(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Response, GraphError> {
    caller.require(access::may_read_consent)?;
    let tenant = caller.tenant_id;
    let grant = state
        .store
        .read(move |tx| grants::get_grant(tx, tenant, id))
        .await?
        .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
    let mut value = grant_value(&grant);
    value["@odata.context"] = json!(context(state, "oauth2PermissionGrants/$entity"));
    Ok(respond(StatusCode::OK, value))
}

/// The scope values `resource` exposes as delegated permissions.
fn exposed_scopes(tx: &mut dyn Tx, resource: &ServicePrincipal) -> Result<Vec<String>, StoreError> {
    if let Some(fp) = first_party::by_app_id(resource.app_id) {
        return Ok(fp.scopes.iter().map(|p| p.value.to_owned()).collect());
    }
    Ok(applications::by_app_id(tx, resource.app_id)?
        .map(|app| {
            app.api
                .oauth2_permission_scopes
                .iter()
                .filter(|s| s.is_enabled)
                .map(|s| s.value.clone())
                .collect()
        })
        .unwrap_or_default())
}

/// Refuses scope values the resource does not expose; returns them in the
/// resource's spelling.
fn check_scopes(
    exposed: &[String],
    scope: &str,
    resource: &ServicePrincipal,
) -> Result<String, GraphError> {
    let mut out = Vec::new();
    for s in scope.split_whitespace() {
        let known = exposed
            .iter()
            .find(|e| e.eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Permission entry '{s}' does not exist on the resource '{}'.",
                    resource.display_name
                ))
            })?;
        if !out.contains(known) {
            out.push(known.clone());
        }
    }
    Ok(out.join(" "))
}

/// `POST /oauth2PermissionGrants`: grant delegated permissions, tenant-wide
/// (`AllPrincipals`, admin consent) or for one user (`Principal`).
pub(super) async fn create_grant(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_grants)?;
    only(
        &body,
        &[
            "clientId",
            "consentType",
            "principalId",
            "resourceId",
            "scope",
            "startTime",
            "expiryTime",
        ],
    )?;
    let client_id = ObjectId(required_guid(&body, "clientId")?);
    let resource_id = ObjectId(required_guid(&body, "resourceId")?);
    let consent_type = match string_field(&body, "consentType")?.as_deref() {
        Some("AllPrincipals") => ConsentType::AllPrincipals,
        Some("Principal") => ConsentType::Principal,
        Some(other) => {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property 'consentType': '{other}'. Use 'AllPrincipals' or 'Principal'."
            )));
        }
        None => {
            return Err(GraphError::bad_request(
                "Property 'consentType' is required.",
            ));
        }
    };
    let principal_id = guid_field(&body, "principalId")?.map(ObjectId);
    let scope = string_field(&body, "scope")?.unwrap_or_default();
    let mut grant = OAuth2PermissionGrant {
        id: Uuid::new_v4(),
        client_id,
        consent_type,
        principal_id,
        resource_id,
        scope,
    };
    grant.validate().map_err(GraphError::from)?;
    let tenant = caller.tenant_id;
    let created = state
        .store
        .write(move |tx| {
            let client = principals::get(tx, tenant, client_id)?.ok_or_else(|| {
                GraphError::bad_request(format!("The clientId '{client_id}' does not reference a service principal in this tenant."))
            })?;
            let resource = principals::get(tx, tenant, resource_id)?.ok_or_else(|| {
                GraphError::bad_request(format!("The resourceId '{resource_id}' does not reference a service principal in this tenant."))
            })?;
            let _ = client;
            if let Some(user) = principal_id
                && users::get(tx, tenant, user)?.is_none()
            {
                return Err(Failure::Graph(GraphError::bad_request(format!("The principalId '{user}' does not reference a user in this tenant."))));
            }
            grant.scope = check_scopes(&exposed_scopes(tx, &resource)?, &grant.scope, &resource)?;
            let exists = grants::grants_between(tx, client_id, resource_id)?
                .iter()
                .any(|g| g.consent_type == grant.consent_type && g.principal_id == grant.principal_id);
            if exists {
                return Err(Failure::Graph(GraphError {
                    status: StatusCode::CONFLICT,
                    code: "Request_MultipleObjectsWithSameKeyValue",
                    message: "Permission entry already exists.".into(),
                }));
            }
            grants::insert_grant(tx, tenant, &grant)?;
            Ok(grant)
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(grant = %created.id, by = %caller.object_id, "delegated permission grant created");
    let mut value = grant_value(&created);
    value["@odata.context"] = json!(context(state, "oauth2PermissionGrants/$entity"));
    Ok(respond(StatusCode::CREATED, value))
}

/// `PATCH /oauth2PermissionGrants/{id}`: change the scope.
pub(super) async fn update_grant(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_grants)?;
    only(&body, &["scope"])?;
    let scope = string_field(&body, "scope")?.unwrap_or_default();
    let tenant = caller.tenant_id;
    state
        .store
        .write(move |tx| {
            let grant = grants::get_grant(tx, tenant, id)?
                .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
            let resource = principals::get(tx, tenant, grant.resource_id)?
                .ok_or_else(|| GraphError::not_found(&grant.resource_id.to_string()))?;
            let scope = check_scopes(&exposed_scopes(tx, &resource)?, &scope, &resource)?;
            OAuth2PermissionGrant {
                scope: scope.clone(),
                ..grant
            }
            .validate()
            .map_err(GraphError::from)?;
            grants::update_grant_scope(tx, tenant, id, &scope)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

pub(super) async fn delete_grant(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_grants)?;
    let tenant = caller.tenant_id;
    let existed = state
        .store
        .write(move |tx| grants::delete_grant(tx, tenant, id))
        .await?;
    if !existed {
        return Err(GraphError::not_found(&id.to_string()));
    }
    Ok(no_content())
}

/// Which side of an assignment a URL lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// `appRoleAssignments`: roles assigned to this principal.
    Principal,
    /// `appRoleAssignedTo`: assignments of this resource's roles.
    Resource,
}

fn assignment_value(a: &AppRoleAssignment) -> Value {
    serde_json::to_value(a).unwrap_or_default()
}

pub(super) async fn list_assignments(
    state: &AppState,
    caller: &Caller,
    key: Key,
    side: Side,
) -> Result<Response, GraphError> {
    caller.require(access::may_read_consent)?;
    let caller_copy = caller.clone();
    let list = state
        .store
        .read(move |tx| {
            let sp = service_principal(tx, &caller_copy, key)?;
            Ok::<_, Failure>(match side {
                Side::Principal => grants::assignments_of(tx, sp.id)?,
                Side::Resource => grants::assignments_to(tx, sp.id)?,
            })
        })
        .await
        .map_err(GraphError::from)?;
    let fragment = match side {
        Side::Principal => "appRoleAssignments",
        Side::Resource => "appRoleAssignedTo",
    };
    Ok(respond(
        StatusCode::OK,
        json!({
            "@odata.context": context(state, &format!("servicePrincipals('{}')/{fragment}", key_text(key))),
            "value": list.iter().map(assignment_value).collect::<Vec<_>>(),
        }),
    ))
}

/// The app roles a service principal's resource defines, by ID, with the
/// member types each allows.
fn defined_roles(
    tx: &mut dyn Tx,
    resource: &ServicePrincipal,
) -> Result<Vec<(Uuid, bool, bool)>, StoreError> {
    if let Some(fp) = first_party::by_app_id(resource.app_id) {
        return Ok(fp.roles.iter().map(|r| (r.id, true, false)).collect());
    }
    Ok(applications::by_app_id(tx, resource.app_id)?
        .map(|app| {
            app.app_roles
                .iter()
                .filter(|r| r.is_enabled)
                .map(|r| {
                    (
                        r.id,
                        r.allowed_member_types.iter().any(|t| t == "Application"),
                        r.allowed_member_types.iter().any(|t| t == "User"),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// `POST /servicePrincipals/{id}/appRoleAssignments` (the principal is `{id}`)
/// or `/appRoleAssignedTo` (the resource is `{id}`): `principalId`,
/// `resourceId`, `appRoleId`.
pub(super) async fn create_assignment(
    state: &AppState,
    caller: &Caller,
    key: Key,
    side: Side,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_assignments)?;
    only(&body, &["principalId", "resourceId", "appRoleId"])?;
    let principal_id = ObjectId(required_guid(&body, "principalId")?);
    let resource_id = ObjectId(required_guid(&body, "resourceId")?);
    let app_role_id = required_guid(&body, "appRoleId")?;
    let caller_copy = caller.clone();
    let tenant = caller.tenant_id;
    let created = state
        .store
        .write(move |tx| {
            let named = service_principal(tx, &caller_copy, key)?;
            let expected = match side {
                Side::Principal => principal_id,
                Side::Resource => resource_id,
            };
            if named.id != expected {
                return Err(Failure::Graph(GraphError::bad_request(match side {
                    Side::Principal => "The principalId must be the service principal in the URL.",
                    Side::Resource => "The resourceId must be the service principal in the URL.",
                })));
            }
            let resource = principals::get(tx, tenant, resource_id)?.ok_or_else(|| {
                GraphError::bad_request(format!("The resourceId '{resource_id}' does not reference a service principal in this tenant."))
            })?;
            let (kind, display_name) = if let Some(sp) = principals::get(tx, tenant, principal_id)? {
                (PrincipalKind::ServicePrincipal, sp.display_name)
            } else if let Some(user) = users::get(tx, tenant, principal_id)? {
                (PrincipalKind::User, user.display_name)
            } else if let Some(group) = hale_store::groups::get(tx, tenant, principal_id)? {
                (PrincipalKind::Group, group.display_name)
            } else {
                return Err(Failure::Graph(GraphError::bad_request(format!(
                    "The principalId '{principal_id}' does not reference a user, group or service principal in this tenant."
                ))));
            };
            let roles = defined_roles(tx, &resource)?;
            let allowed = app_role_id == hale_directory::DEFAULT_ACCESS_ROLE
                || roles.iter().any(|(id, for_apps, for_users)| {
                    *id == app_role_id
                        && match kind {
                            PrincipalKind::ServicePrincipal => *for_apps,
                            PrincipalKind::User | PrincipalKind::Group => *for_users,
                        }
                });
            if !allowed {
                return Err(Failure::Graph(GraphError::bad_request(format!(
                    "Permission being assigned was not found on application '{}' ({app_role_id}), or does not allow this kind of principal.",
                    resource.display_name
                ))));
            }
            let duplicate = grants::assignments_of(tx, principal_id)?
                .iter()
                .any(|a| a.resource_id == resource_id && a.app_role_id == app_role_id);
            if duplicate {
                return Err(Failure::Graph(GraphError::bad_request(
                    "Permission being assigned already exists on the object.",
                )));
            }
            let assignment = AppRoleAssignment {
                id: Uuid::new_v4(),
                app_role_id,
                principal_id,
                principal_type: kind,
                principal_display_name: display_name,
                resource_id,
                resource_display_name: resource.display_name.clone(),
                created_date_time: OffsetDateTime::now_utc(),
            };
            grants::insert_assignment(tx, tenant, &assignment)?;
            Ok(assignment)
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(assignment = %created.id, by = %caller.object_id, "app role assigned");
    let mut value = assignment_value(&created);
    value["@odata.context"] = json!(context(state, "appRoleAssignments/$entity"));
    Ok(respond(StatusCode::CREATED, value))
}

/// `DELETE /servicePrincipals/{id}/appRoleAssignments/{aid}` (or
/// `appRoleAssignedTo/{aid}`).
pub(super) async fn delete_assignment(
    state: &AppState,
    caller: &Caller,
    key: Key,
    side: Side,
    id: Uuid,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_assignments)?;
    let caller_copy = caller.clone();
    let tenant = caller.tenant_id;
    state
        .store
        .write(move |tx| {
            let sp = service_principal(tx, &caller_copy, key)?;
            let assignment = grants::get_assignment(tx, tenant, id)?
                .filter(|a| match side {
                    Side::Principal => a.principal_id == sp.id,
                    Side::Resource => a.resource_id == sp.id,
                })
                .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
            grants::delete_assignment(tx, tenant, assignment.id)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

fn no_content() -> Response {
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
}
