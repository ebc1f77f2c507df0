//! Directory extensions: `applications/{key}/extensionProperties` (list,
//! create, get, delete) and `directoryObjects/getAvailableExtensionProperties`.
//! Users' values are set and read through `users/{key}` itself.

use axum::http::StatusCode;
use axum::response::Response;
use hale_directory::{
    EXTENSION_TARGETS, ExtensionProperty, MAX_EXTENSION_PROPERTIES_PER_APP, ObjectId,
};
use hale_store::{StoreError, applications, extension_properties};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::directory::{bool_prop, string_prop, unknown_property};
use super::{Failure, GraphError, Key, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

/// What a create request may hold.
const WRITABLE: &[&str] = &["name", "dataType", "isMultiValued", "targetObjects"];

fn path_of(key: Key) -> String {
    match key {
        Key::Id(id) => format!("applications('{id}')"),
        Key::AppId(id) => format!("applications(appId='{id}')"),
    }
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    key: Key,
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let c = caller.clone();
    let (app, properties) = state
        .store
        .read(move |tx| {
            let app = super::applications::find(tx, &c, key)?;
            let properties = extension_properties::of_application(tx, app.tenant_id, app.id)?;
            Ok::<_, Failure>((app, properties))
        })
        .await
        .map_err(GraphError::from)?;
    let value: Vec<Value> = properties
        .iter()
        .map(|p| p.to_graph(&app.display_name))
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "@odata.context": context(state, &format!("{}/extensionProperties", path_of(key))),
            "value": value,
        }),
    ))
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    key: Key,
    id: Uuid,
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let c = caller.clone();
    let (app, property) = state
        .store
        .read(move |tx| {
            let app = super::applications::find(tx, &c, key)?;
            let property = extension_properties::of_application(tx, app.tenant_id, app.id)?
                .into_iter()
                .find(|p| p.id == ObjectId(id))
                .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
            Ok::<_, Failure>((app, property))
        })
        .await
        .map_err(GraphError::from)?;
    let mut value = property.to_graph(&app.display_name);
    value["@odata.context"] = json!(context(
        state,
        &format!("{}/extensionProperties/$entity", path_of(key))
    ));
    Ok(respond(StatusCode::OK, value))
}

/// The request's definition, checked before anything is read.
struct Definition {
    name: String,
    data_type: String,
    is_multi_valued: bool,
    target_objects: Vec<String>,
}

fn definition(body: &Map<String, Value>) -> Result<Definition, GraphError> {
    if let Some(other) = body
        .keys()
        .find(|k| k.as_str() != "@odata.type" && !WRITABLE.contains(&k.as_str()))
    {
        return Err(unknown_property(other));
    }
    let required = |name: &str| {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{name}' of resource 'ExtensionProperty'."
        ))
    };
    let name = string_prop(body, "name")?.ok_or_else(|| required("name"))?;
    let data_type = string_prop(body, "dataType")?.ok_or_else(|| required("dataType"))?;
    let is_multi_valued = bool_prop(body, "isMultiValued")?.unwrap_or(false);
    let target_objects = match body.get("targetObjects") {
        Some(Value::Array(items)) if items.len() <= EXTENSION_TARGETS.len() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| required("targetObjects"))?,
        _ => return Err(required("targetObjects")),
    };
    Ok(Definition {
        name,
        data_type,
        is_multi_valued,
        target_objects,
    })
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    let d = definition(&body)?;
    let (app, property) = super::applications::change_application(
        state,
        caller,
        key,
        move |tx, app| {
            let property = ExtensionProperty::new(
                app.tenant_id,
                app.id,
                app.app_id,
                &d.name,
                &d.data_type,
                d.is_multi_valued,
                d.target_objects,
            )?;
            let existing = extension_properties::of_application(tx, app.tenant_id, app.id)?;
            if existing.len() >= MAX_EXTENSION_PROPERTIES_PER_APP {
                return Err(Failure::Graph(GraphError::bad_request(format!(
                    "An application may define at most {MAX_EXTENSION_PROPERTIES_PER_APP} extension properties."
                ))));
            }
            let duplicate = || {
                Failure::Graph(GraphError::bad_request(format!(
                    "An extension property named '{}' already exists.",
                    property.name
                )))
            };
            if existing
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&property.name))
            {
                return Err(duplicate());
            }
            match extension_properties::insert(tx, &property) {
                // Another writer registered it first (or the same name in
                // another case, which the unique index does not see).
                Err(StoreError::Conflict(_)) => Err(duplicate()),
                other => {
                    other?;
                    Ok((app, property))
                }
            }
        },
    )
    .await?;
    tracing::info!(extension = %property.name, by = %caller.object_id, "extension property created");
    let mut value = property.to_graph(&app.display_name);
    value["@odata.context"] = json!(context(
        state,
        &format!("{}/extensionProperties/$entity", path_of(key))
    ));
    Ok(respond(StatusCode::CREATED, value))
}

pub(super) async fn delete(
    state: &AppState,
    caller: &Caller,
    key: Key,
    id: Uuid,
) -> Result<Response, GraphError> {
    super::applications::change_application(state, caller, key, move |tx, app| {
        if extension_properties::delete(tx, app.tenant_id, app.id, ObjectId(id))? {
            Ok(())
        } else {
            Err(Failure::Graph(GraphError::not_found(&id.to_string())))
        }
    })
    .await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

/// `POST directoryObjects/getAvailableExtensionProperties`: every extension
/// of the tenant (`isSyncedFromOnPremises: true` finds none: Hale syncs
/// nothing from on-premises).
pub(super) async fn available(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    if hale_directory::access::may_read_users(&caller.principal, &caller.permissions) {
        // Directory readers see them, as they see users' values.
    } else {
        caller.require_read_applications()?;
    }
    if let Some(other) = body.keys().find(|k| k.as_str() != "isSyncedFromOnPremises") {
        return Err(unknown_property(other));
    }
    let synced = bool_prop(&body, "isSyncedFromOnPremises")?.unwrap_or(false);
    let tenant = caller.tenant_id;
    let listed = state
        .store
        .read(move |tx| {
            let mut out = Vec::new();
            if synced {
                return Ok(out);
            }
            let mut names: Vec<(ObjectId, String)> = Vec::new();
            for property in extension_properties::list(tx, tenant)? {
                let known = names.iter().find(|(id, _)| *id == property.application);
                let app_name = match known {
                    Some((_, name)) => name.clone(),
                    None => {
                        let name = applications::get(tx, tenant, property.application)?
                            .map(|a| a.display_name)
                            .unwrap_or_default();
                        names.push((property.application, name.clone()));
                        name
                    }
                };
                out.push(property.to_graph(&app_name));
            }
            Ok::<_, StoreError>(out)
        })
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "@odata.context": context(state, "Collection(microsoft.graph.extensionProperty)"),
            "value": listed,
        }),
    ))
}
