//! `/v1.0/servicePrincipals`: an application's instance in the tenant. Creating
//! one (`POST {"appId": …}`) is what lets an application get tokens here.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::{AppId, ObjectId, ServicePrincipal, first_party};
use hale_store::{StoreError, Tx, applications, principals};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::collection::{self, Listed, Resource};
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
};

/// The permissions a service principal's application exposes, as Graph lists
/// them on the service principal: `appRoles` and `oauth2PermissionScopes`.
type Exposed = (Value, Value);

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
        return Ok((json!(roles), json!(scopes)));
    }
    Ok(match applications::by_app_id(tx, sp.app_id)? {
        Some(app) => (
            serde_json::to_value(&app.app_roles).unwrap_or_default(),
            serde_json::to_value(&app.api.oauth2_permission_scopes).unwrap_or_default(),
        ),
        None => (json!([]), json!([])),
    })
}

fn entity(state: &AppState, sp: &ServicePrincipal, exposed: Exposed, with_context: bool) -> Value {
    let mut value = serde_json::to_value(sp).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert("appRoles".into(), exposed.0);
        map.insert("oauth2PermissionScopes".into(), exposed.1);
        map.insert("appDisplayName".into(), json!(sp.display_name));
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
        None => Err(match key {
            Key::Id(id) => GraphError::not_found(&id.to_string()),
            Key::AppId(id) => GraphError::not_found(&format!("servicePrincipals(appId='{id}')")),
        }),
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
        return Err(GraphError::bad_request(format!(
            "Property '{other}' does not exist as a declared property or extension property."
        )));
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
