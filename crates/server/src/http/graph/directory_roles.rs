//! `/v1.0/directoryRoles`: the activated directory roles (every role Hale
//! knows is activated in every tenant), their members, and adding or removing
//! a member by `$ref`, also through `directoryRoles(roleTemplateId='…')`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::access;
use hale_directory::membership::{Member, MemberKind};
use hale_directory::{DirectoryRole, ObjectId};
use hale_store::{directory_roles, groups};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Failure;
use super::collection::{self, Listed, Resource};
use super::directory::{RoleKey, no_content, object_listed, reference, require, role_value};
use super::{GraphError, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

const ROLES: Resource = Resource {
    name: "DirectoryRole",
    type_name: "microsoft.graph.directoryRole",
    filterable: &["id", "displayName", "roleTemplateId"],
    sortable: &[],
    selectable: &[
        "id",
        "displayName",
        "description",
        "roleTemplateId",
        "deletedDateTime",
    ],
    directory_extensions: false,
};

const MEMBERS: Resource = Resource {
    name: "DirectoryObject",
    type_name: "microsoft.graph.directoryObject",
    filterable: &["id", "displayName", "userPrincipalName", "appId"],
    sortable: &["displayName"],
    selectable: &[
        "id",
        "displayName",
        "userPrincipalName",
        "mail",
        "givenName",
        "surname",
        "jobTitle",
        "accountEnabled",
        "appId",
    ],
    directory_extensions: false,
};

fn role(caller: &Caller, key: RoleKey) -> Result<DirectoryRole, GraphError> {
    match key {
        RoleKey::Id(id) => DirectoryRole::from_object_id(caller.tenant_id, ObjectId(id))
            .ok_or_else(|| GraphError::not_found(&id.to_string())),
        RoleKey::TemplateId(id) => DirectoryRole::from_template_id(id).ok_or_else(|| {
            GraphError::not_found(&format!("directoryRoles(roleTemplateId='{id}')"))
        }),
    }
}

fn path(key: RoleKey) -> String {
    match key {
        RoleKey::Id(id) => format!("directoryRoles/{id}"),
        RoleKey::TemplateId(id) => format!("directoryRoles(roleTemplateId='{id}')"),
    }
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require(access::may_read_directory_roles(
        &caller.principal,
        &caller.permissions,
    ))?;
    let q = collection::parse(&ROLES, query, headers)?;
    let items = DirectoryRole::ALL
        .into_iter()
        .map(|r| Listed {
            full: role_value(caller.tenant_id, r),
            default: None,
        })
        .collect();
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "directoryRoles",
        "directoryRoles",
    )
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    key: RoleKey,
) -> Result<Response, GraphError> {
    require(access::may_read_directory_roles(
        &caller.principal,
        &caller.permissions,
    ))?;
    let role = role(caller, key)?;
    let mut value = role_value(caller.tenant_id, role);
    value["@odata.context"] = json!(context(state, "directoryRoles/$entity"));
    Ok(respond(StatusCode::OK, value))
}

pub(super) async fn members(
    state: &AppState,
    caller: &Caller,
    key: RoleKey,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require(access::may_read_directory_roles(
        &caller.principal,
        &caller.permissions,
    ))?;
    let q = collection::parse(&MEMBERS, query, headers)?;
    let role = role(caller, key)?;
    let tenant = caller.tenant_id;
    let items = state
        .store
        .read(move |tx| {
            let mut out = Vec::new();
            for id in directory_roles::members(tx, tenant, role)? {
                if let Some(kind) = groups::object_kind(tx, tenant, id)?
                    && let Some(listed) = object_listed(tx, tenant, Member { id, kind })?
                {
                    out.push(listed);
                }
            }
            Ok::<_, Failure>(out)
        })
        .await
        .map_err(GraphError::from)?;
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "directoryObjects",
        &format!("{}/members", path(key)),
    )
}

/// `POST directoryRoles/{id}/members/$ref`: users and service principals may
/// hold directory roles (Hale's groups are not role-assignable).
pub(super) async fn add_member(
    state: &AppState,
    caller: &Caller,
    key: RoleKey,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require(access::may_write_directory_roles(
        &caller.principal,
        &caller.permissions,
    ))?;
    let role = role(caller, key)?;
    let member = reference(&body)?;
    let tenant = caller.tenant_id;
    state
        .store
        .write(move |tx| {
            match groups::object_kind(tx, tenant, member)? {
                Some(MemberKind::User | MemberKind::ServicePrincipal) => {}
                Some(MemberKind::Group) => {
                    return Err(Failure::Graph(GraphError::bad_request(
                        "Only role-assignable groups can be added to a directory role; this group is not role-assignable.",
                    )));
                }
                None => return Err(Failure::Graph(GraphError::not_found(&member.to_string()))),
            }
            if !directory_roles::add_member(tx, tenant, role, member)? {
                return Err(Failure::Graph(GraphError::bad_request(
                    "One or more added object references already exist for the following modified properties: 'members'.",
                )));
            }
            Ok(())
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(role = role.display_name(), member = %member, by = %caller.object_id, "directory role member added");
    Ok(no_content())
}

/// `DELETE directoryRoles/{id}/members/{member}/$ref`.
pub(super) async fn remove_member(
    state: &AppState,
    caller: &Caller,
    key: RoleKey,
    member: Uuid,
) -> Result<Response, GraphError> {
    require(access::may_write_directory_roles(
        &caller.principal,
        &caller.permissions,
    ))?;
    let role = role(caller, key)?;
    let tenant = caller.tenant_id;
    state
        .store
        .write(move |tx| {
            if role == DirectoryRole::GlobalAdministrator
                && directory_roles::members(tx, tenant, role)? == vec![ObjectId(member)]
            {
                return Err(Failure::Graph(GraphError::bad_request(
                    "The last Global Administrator cannot be removed from the role.",
                )));
            }
            if !directory_roles::remove_member(tx, tenant, role, ObjectId(member))? {
                return Err(Failure::Graph(GraphError::not_found(&member.to_string())));
            }
            Ok(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}
