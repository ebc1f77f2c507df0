//! `/v1.0/servicePrincipals`: an application's instance in the tenant. Creating
//! one (`POST {"appId": …}`) is what lets an application get tokens here.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::membership::{Member, MemberKind};
use hale_directory::{AppId, ObjectId, ServicePrincipal, first_party};
use hale_store::{StoreError, Tx, applications, principals};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::collection::{self, Listed, Resource};
use super::directory::{Depth, MEMBER_OF, no_content, unknown_property};
use super::{Failure, GraphError, Key, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

/// What the service principal listing lets callers filter, sort and select
/// (Graph's documented `$filter` properties of `servicePrincipal`).
const SERVICE_PRINCIPALS: Resource = Resource {
    name: "ServicePrincipal",
    type_name: "microsoft.graph.servicePrincipal",
    filterable: &[
        "id",
        "appId",
        "displayName",
        "appDisplayName",
        "accountEnabled",
        "servicePrincipalType",
        "servicePrincipalNames",
        "appOwnerOrganizationId",
    ],
    sortable: &["displayName"],
    selectable: &[
        "id",
        "appId",
        "displayName",
        "appDisplayName",
        "accountEnabled",
        "servicePrincipalType",
        "servicePrincipalNames",
        "appOwnerOrganizationId",
        "appRoles",
        "oauth2PermissionScopes",
    ],
    directory_extensions: false,
};

/// What a PATCH may set: the writable properties of Graph's
/// `servicePrincipal` that Hale stores. Graph's others (`tags`, `notes`,
/// `appRoleAssignmentRequired`, `servicePrincipalNames`, …) are refused as
/// unknown properties rather than accepted and lost.
const WRITABLE: &[&str] = &["accountEnabled", "displayName"];

/// What Graph computes or copies from the application; a PATCH naming one is
/// refused (secrets go through `addPassword`, as for applications).
const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "appDisplayName",
    "appOwnerOrganizationId",
    "servicePrincipalType",
    "createdDateTime",
    "deletedDateTime",
    "passwordCredentials",
];

/// What a service principal shows of its application: the permissions it
/// exposes (`appRoles` and `oauth2PermissionScopes`) and its name
/// (`appDisplayName`, which renaming the service principal does not change).
struct Exposed {
    app_roles: Value,
    scopes: Value,
    app_display_name: String,
}

fn exposed(tx: &mut dyn Tx, sp: &ServicePrincipal) -> Result<Exposed, StoreError> {
    if let Some(fp) = first_party::by_app_id(sp.app_id) {
        let roles: Vec<Value> = fp
            .roles
            .iter()
            .map(|p| {
                json!({"id": p.id, "value": p.value, "allowedMemberTypes": ["Application"],
                    "displayName": p.description, "description": p.description, "isEnabled": true, "origin": "Application"})
            })
            .collect();
        let scopes: Vec<Value> = fp
            .scopes
            .iter()
            .map(|p| {
                json!({"id": p.id, "value": p.value, "type": if p.admin_consent { "Admin" } else { "User" },
                    "adminConsentDisplayName": p.description, "adminConsentDescription": p.description,
                    "userConsentDisplayName": p.description, "userConsentDescription": p.description, "isEnabled": true})
            })
            .collect();
        return Ok(Exposed {
            app_roles: json!(roles),
            scopes: json!(scopes),
            app_display_name: fp.display_name.to_owned(),
        });
    }
    Ok(match applications::by_app_id(tx, sp.app_id)? {
        Some(app) => Exposed {
            app_roles: serde_json::to_value(&app.app_roles).unwrap_or_default(),
            scopes: serde_json::to_value(&app.api.oauth2_permission_scopes).unwrap_or_default(),
            app_display_name: app.display_name,
        },
        None => Exposed {
            app_roles: json!([]),
            scopes: json!([]),
            app_display_name: sp.display_name.clone(),
        },
    })
}

fn entity(state: &AppState, sp: &ServicePrincipal, exposed: Exposed, with_context: bool) -> Value {
    let mut value = serde_json::to_value(sp).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert("appRoles".into(), exposed.app_roles);
        map.insert("oauth2PermissionScopes".into(), exposed.scopes);
        map.insert("appDisplayName".into(), json!(exposed.app_display_name));
        map.insert("servicePrincipalType".into(), json!("Application"));
        if with_context {
            map.insert(
                "@odata.context".into(),
                json!(context(state, "servicePrincipals/$entity")),
            );
        }
    }
    value
}

fn not_found(key: Key) -> GraphError {
    match key {
        Key::Id(id) => GraphError::not_found(&id.to_string()),
        Key::AppId(id) => GraphError::not_found(&format!("servicePrincipals(appId='{id}')")),
    }
}

fn find(
    tx: &mut dyn Tx,
    caller: &Caller,
    key: Key,
) -> Result<Option<ServicePrincipal>, StoreError> {
    match key {
        Key::Id(id) => principals::get(tx, caller.tenant_id, ObjectId(id)),
        Key::AppId(app_id) => principals::by_app_id(tx, caller.tenant_id, AppId(app_id)),
    }
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let q = collection::parse(&SERVICE_PRINCIPALS, query, headers)?;
    let tenant = caller.tenant_id;
    let all = state
        .store
        .read(move |tx| {
            let mut out = Vec::new();
            for sp in principals::list(tx, tenant)? {
                let e = exposed(tx, &sp)?;
                out.push((sp, e));
            }
            Ok::<_, StoreError>(out)
        })
        .await?;
    let items = all
        .into_iter()
        .map(|(sp, e)| Listed {
            full: entity(state, &sp, e, false),
            default: None,
        })
        .collect();
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "servicePrincipals",
        "servicePrincipals",
    )
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    key: Key,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let select = collection::entity_select(
        query,
        SERVICE_PRINCIPALS.selectable,
        SERVICE_PRINCIPALS.type_name,
    )?;
    let caller_copy = caller.clone();
    let found = state
        .store
        .read(move |tx| match find(tx, &caller_copy, key)? {
            Some(sp) => {
                let e = exposed(tx, &sp)?;
                Ok::<_, StoreError>(Some((sp, e)))
            }
            None => Ok(None),
        })
        .await?;
    match found {
        Some((sp, e)) => {
            let full = entity(state, &sp, e, false);
            let mut value = match select {
                Some(select) => hale_odata::apply_select(&full, &select),
                None => full,
            };
            value["@odata.context"] = json!(context(state, "servicePrincipals/$entity"));
            Ok(respond(StatusCode::OK, value))
        }
        None => Err(not_found(key)),
    }
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require_write_applications()?;
    if let Some(other) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "appId" | "accountEnabled" | "@odata.type"))
    {
        return Err(unknown_property(other));
    }
    let app_id: AppId = body
        .get("appId")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            GraphError::bad_request("Property 'appId' is required and must be a GUID.")
        })?;
    let account_enabled = match body.get("accountEnabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(GraphError::bad_request(
                "Property 'accountEnabled' must be a boolean.",
            ));
        }
    };
    let tenant = caller.tenant_id;
    let created = state
        .store
        .write(move |tx| {
            if principals::by_app_id(tx, tenant, app_id)?.is_some() {
                return Err(Failure::Graph(GraphError {
                    status: StatusCode::CONFLICT,
                    code: "Request_MultipleObjectsWithSameKeyValue",
                    message: format!("The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."),
                }));
            }
            let (display_name, owner, mut names) = match applications::by_app_id(tx, app_id)? {
                Some(app) if app.tenant_id == tenant => (app.display_name, app.tenant_id, app.identifier_uris),
                _ => match first_party::by_app_id(app_id) {
                    Some(fp) => (
                        fp.display_name.to_owned(),
                        first_party::MICROSOFT_TENANT,
                        fp.identifier_uris.iter().map(|u| u.to_string()).collect(),
                    ),
                    None => {
                        return Err(Failure::Graph(GraphError::bad_request(format!(
                            "The appId '{app_id}' of the service principal does not reference a valid application object."
                        ))));
                    }
                },
            };
            names.insert(0, app_id.to_string());
            let sp = ServicePrincipal {
                id: ObjectId::new(),
                tenant_id: tenant,
                app_id,
                display_name,
                app_owner_organization_id: owner,
                service_principal_names: names,
                account_enabled,
                created_at: OffsetDateTime::now_utc(),
            };
            principals::insert(tx, &sp)?;
            let e = exposed(tx, &sp)?;
            Ok((sp, e))
        })
        .await
        .map_err(GraphError::from)?;
    let (created, e) = created;
    Ok(respond(
        StatusCode::CREATED,
        entity(state, &created, e, true),
    ))
}

/// `servicePrincipals/{key}/memberOf` (groups and directory roles) and
/// `…/transitiveMemberOf` (also the groups those groups are in), as for users
/// and groups.
pub(super) async fn member_of(
    state: &AppState,
    caller: &Caller,
    key: Key,
    depth: Depth,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let q = collection::parse(&MEMBER_OF, query, headers)?;
    let c = caller.clone();
    let items = state
        .store
        .read(move |tx| {
            let sp = find(tx, &c, key)?.ok_or_else(|| Failure::Graph(not_found(key)))?;
            let member = Member {
                id: sp.id,
                kind: MemberKind::ServicePrincipal,
            };
            Ok::<_, Failure>(super::directory::member_of(tx, c.tenant_id, member, depth)?)
        })
        .await
        .map_err(GraphError::from)?;
    let nav = match depth {
        Depth::Direct => "memberOf",
        Depth::Transitive => "transitiveMemberOf",
    };
    let path = match key {
        Key::Id(id) => format!("servicePrincipals/{id}/{nav}"),
        Key::AppId(id) => format!("servicePrincipals(appId='{id}')/{nav}"),
    };
    collection::respond_page(state, &q, headers, query, items, "directoryObjects", &path)
}

/// `PATCH servicePrincipals/{id}`: sets `accountEnabled` (a disabled service
/// principal gets no tokens) and `displayName`; 204 as in Graph.
pub(super) async fn update(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    for name in body.keys() {
        if name == "@odata.type" || WRITABLE.contains(&name.as_str()) {
            continue;
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        return Err(unknown_property(name));
    }
    let account_enabled = match body.get("accountEnabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value specified for property 'accountEnabled': it must be a boolean.",
            ));
        }
    };
    let display_name = match body.get("displayName") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value specified for property 'displayName': it must be a non-empty string.",
            ));
        }
    };
    change_service_principal(state, caller, key, move |tx, mut sp| {
        if let Some(enabled) = account_enabled {
            sp.account_enabled = enabled;
        }
        if let Some(name) = display_name {
            sp.display_name = name;
        }
        principals::update(tx, &sp)?;
        Ok(())
    })
    .await?;
    Ok(no_content())
}

/// `DELETE servicePrincipals/{id}`: the application can no longer get
/// tokens here (AADSTS7000229) nor be consented to; its consents, app role
/// assignments (its own and those to its roles), group and directory role
/// memberships go with it, as in Entra. Azure role assignments naming it stay,
/// as Azure keeps them ("Identity not found"): they name an object ID no
/// other object will have.
///
/// Entra lets an administrator delete some Microsoft service principals (they
/// come back when next needed). Hale refuses for every first-party one: it
/// makes them only at first start (Graph, Azure Resource Manager, the Azure
/// CLI) or with a tenant's first FHIR or DICOM service, and its token service
/// and data planes need them as resources, so deleting one would break
/// Hale's own sign-in (`hale login`) or its APIs for good.
pub(super) async fn delete(
    state: &AppState,
    caller: &Caller,
    key: Key,
) -> Result<Response, GraphError> {
    change_service_principal(state, caller, key, |tx, sp| {
        if let Some(fp) = first_party::by_app_id(sp.app_id) {
            return Err(Failure::Graph(GraphError::bad_request(format!(
                "The service principal of '{}' ({}) cannot be deleted: this server needs it.",
                fp.display_name, sp.app_id
            ))));
        }
        principals::delete(tx, sp.tenant_id, sp.id)?;
        hale_store::grants::forget_object(tx, sp.id)?;
        Ok(())
    })
    .await?;
    Ok(no_content())
}

/// Runs `change` on the service principal `key` names, in one write
/// transaction, for a caller who may manage it: with an application-managing
/// permission (and, for a user, role), or as an owner of its application, the
/// rules applications follow.
async fn change_service_principal<F, T>(
    state: &AppState,
    caller: &Caller,
    key: Key,
    change: F,
) -> Result<T, GraphError>
where
    F: FnOnce(&mut dyn Tx, ServicePrincipal) -> Result<T, Failure> + Send + 'static,
    T: Send + 'static,
{
    let manager = super::applications::manages_applications(caller)?;
    let caller = caller.clone();
    state
        .store
        .write(move |tx| {
            let sp = find(tx, &caller, key)?.ok_or_else(|| Failure::Graph(not_found(key)))?;
            if !manager {
                let owned = applications::by_app_id(tx, sp.app_id)?.is_some_and(|app| {
                    app.tenant_id == caller.tenant_id && app.owners.contains(&caller.object_id)
                });
                if !owned {
                    return Err(Failure::Graph(GraphError::forbidden()));
                }
            }
            change(tx, sp)
        })
        .await
        .map_err(GraphError::from)
}
