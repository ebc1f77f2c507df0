//! `/v1.0/groups`: list, get, create, update, delete; `members` and
//! `transitiveMembers`; `members/$ref` to add and `members/{id}/$ref` to
//! remove a member; `memberOf` and `transitiveMemberOf`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::access;
use hale_directory::membership::{self, Member, MemberKind};
use hale_directory::{Group, ObjectId};
use hale_store::{Tx, groups};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Failure;
use super::collection::{self, Listed, Resource};
use super::directory::{
    Depth, MEMBER_OF, bool_prop, no_content, object_listed, reference, reference_url, require,
    string_prop, strings_prop, unknown_property,
};
use super::{GraphError, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

pub(super) const GROUPS: Resource = Resource {
    name: "Group",
    type_name: "microsoft.graph.group",
    filterable: &[
        "id",
        "displayName",
        "description",
        "mailNickname",
        "mail",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
        "visibility",
        "createdDateTime",
    ],
    sortable: &["displayName"],
    selectable: &[
        "id",
        "displayName",
        "description",
        "mailNickname",
        "mail",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
        "visibility",
        "createdDateTime",
    ],
    directory_extensions: false,
};

/// Members are users, groups and service principals: what their listings
/// may filter on and select.
const MEMBERS: Resource = Resource {
    name: "DirectoryObject",
    type_name: "microsoft.graph.directoryObject",
    filterable: &[
        "id",
        "displayName",
        "userPrincipalName",
        "mail",
        "mailNickname",
        "accountEnabled",
        "appId",
        "securityEnabled",
        "mailEnabled",
        "groupTypes",
    ],
    sortable: &["displayName"],
    selectable: &[
        "id",
        "displayName",
        "userPrincipalName",
        "mail",
        "mailNickname",
        "givenName",
        "surname",
        "jobTitle",
        "accountEnabled",
        "appId",
        "description",
        "securityEnabled",
        "mailEnabled",
        "groupTypes",
        "createdDateTime",
    ],
    directory_extensions: false,
};

const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "visibility",
];
const READ_ONLY: &[&str] = &["id", "createdDateTime", "mail"];

/// Finds group `id` in the caller's tenant.
fn find(tx: &mut dyn Tx, caller: &Caller, id: Uuid) -> Result<Group, Failure> {
    groups::get(tx, caller.tenant_id, ObjectId(id))?
        .ok_or_else(|| Failure::Graph(GraphError::not_found(&id.to_string())))
}

fn entity(
    state: &AppState,
    group: &Group,
    query: &[(String, String)],
) -> Result<Value, GraphError> {
    let select = collection::entity_select(query, GROUPS.selectable, GROUPS.type_name)?;
    let full = serde_json::to_value(group).map_err(|_| GraphError::internal())?;
    let mut value = match select {
        Some(select) => hale_odata::apply_select(&full, &select),
        None => full,
    };
    value["@odata.context"] = json!(context(state, "groups/$entity"));
    Ok(value)
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require(access::may_read_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    let q = collection::parse(&GROUPS, query, headers)?;
    let tenant = caller.tenant_id;
    let all = state.store.read(move |tx| groups::list(tx, tenant)).await?;
    let items = all
        .iter()
        .map(|g| Listed {
            full: serde_json::to_value(g).unwrap_or_default(),
            default: None,
        })
        .collect();
    collection::respond_page(state, &q, headers, query, items, "groups", "groups")
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    require(access::may_read_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    let c = caller.clone();
    let group = state
        .store
        .read(move |tx| find(tx, &c, id))
        .await
        .map_err(GraphError::from)?;
    Ok(respond(StatusCode::OK, entity(state, &group, query)?))
}

fn check_properties(body: &Map<String, Value>, allow_binds: bool) -> Result<(), GraphError> {
    for name in body.keys() {
        if name == "@odata.type"
            || WRITABLE.contains(&name.as_str())
            || (allow_binds && name == "members@odata.bind")
        {
            continue;
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        return Err(unknown_property(name));
    }
    Ok(())
}

fn required(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource 'Group'."
    ))
}

/// `group` with the body's properties applied, validated.
fn apply(group: &Group, body: &Map<String, Value>, domain: &str) -> Result<Group, GraphError> {
    let mut g = group.clone();
    for name in ["displayName", "mailNickname"] {
        if body.contains_key(name) {
            let value = string_prop(body, name)?.ok_or_else(|| required(name))?;
            match name {
                "displayName" => g.display_name = value,
                _ => g.mail_nickname = value,
            }
        }
    }
    if body.contains_key("description") {
        g.description = string_prop(body, "description")?;
    }
    if body.contains_key("visibility") {
        g.visibility = string_prop(body, "visibility")?;
    }
    for name in ["mailEnabled", "securityEnabled"] {
        if body.contains_key(name) {
            let value = bool_prop(body, name)?.ok_or_else(|| required(name))?;
            match name {
                "mailEnabled" => g.mail_enabled = value,
                _ => g.security_enabled = value,
            }
        }
    }
    if let Some(types) = strings_prop(body, "groupTypes")? {
        g.group_types = types;
    }
    g.validate(domain)?;
    Ok(g)
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require(access::may_write_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    check_properties(&body, true)?;
    for name in [
        "displayName",
        "mailNickname",
        "mailEnabled",
        "securityEnabled",
    ] {
        if body.get(name).is_none_or(Value::is_null) {
            return Err(required(name));
        }
    }
    let binds: Vec<ObjectId> = strings_prop(&body, "members@odata.bind")?
        .unwrap_or_default()
        .iter()
        .map(|url| reference_url(url))
        .collect::<Result<_, _>>()?;
    let blank = Group {
        id: ObjectId::new(),
        tenant_id: caller.tenant_id,
        display_name: String::new(),
        description: None,
        mail_nickname: String::new(),
        mail_enabled: false,
        security_enabled: false,
        group_types: Vec::new(),
        mail: None,
        visibility: None,
        created_date_time: OffsetDateTime::now_utc(),
    };
    let group = apply(&blank, &body, &caller.tenant_domain)?;
    let stored = group.clone();
    state
        .store
        .write(move |tx| {
            groups::insert(tx, &stored)?;
            for id in binds {
                let member = existing_member(tx, &stored, id)?;
                if !groups::add_member(tx, stored.tenant_id, stored.id, member)? {
                    return Err(Failure::Graph(already_member()));
                }
            }
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(group = %group.id, by = %caller.object_id, "group created");
    Ok(respond(StatusCode::CREATED, entity(state, &group, &[])?))
}

pub(super) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require(access::may_write_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    check_properties(&body, false)?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let current = find(tx, &c, id)?;
            let updated = apply(&current, &body, &c.tenant_domain)?;
            groups::update(tx, &updated)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

pub(super) async fn delete(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Response, GraphError> {
    require(access::may_write_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let group = find(tx, &c, id)?;
            groups::delete(tx, group.tenant_id, group.id)?;
            hale_store::grants::forget_object(tx, group.id)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

/// `members` and `transitiveMembers`.
pub(super) async fn members(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    depth: Depth,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require(access::may_read_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    let q = collection::parse(&MEMBERS, query, headers)?;
    let c = caller.clone();
    let items = state
        .store
        .read(move |tx| {
            let group = find(tx, &c, id)?;
            let tenant = group.tenant_id;
            let found = match depth {
                Depth::Direct => groups::members(tx, tenant, group.id)?,
                Depth::Transitive => membership::transitive(
                    Member {
                        id: group.id,
                        kind: MemberKind::Group,
                    },
                    |g| groups::members(tx, tenant, g),
                )?,
            };
            let mut out = Vec::new();
            for member in found {
                if let Some(listed) = object_listed(tx, tenant, member)? {
                    out.push(listed);
                }
            }
            Ok::<_, Failure>(out)
        })
        .await
        .map_err(GraphError::from)?;
    let nav = match depth {
        Depth::Direct => "members",
        Depth::Transitive => "transitiveMembers",
    };
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "directoryObjects",
        &format!("groups/{id}/{nav}"),
    )
}

fn already_member() -> GraphError {
    GraphError::bad_request(
        "One or more added object references already exist for the following modified properties: 'members'.",
    )
}

/// The member `id` names, which must exist in the group's tenant and not be
/// the group itself.
fn existing_member(tx: &mut dyn Tx, group: &Group, id: ObjectId) -> Result<Member, Failure> {
    if id == group.id {
        return Err(Failure::Graph(GraphError::bad_request(
            "A group cannot be added as a member of itself.",
        )));
    }
    let kind = groups::object_kind(tx, group.tenant_id, id)?
        .ok_or_else(|| Failure::Graph(GraphError::not_found(&id.to_string())))?;
    Ok(Member { id, kind })
}

/// `POST groups/{id}/members/$ref`.
pub(super) async fn add_member(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require(access::may_write_group_members(
        &caller.principal,
        &caller.permissions,
    ))?;
    let member_id = reference(&body)?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let group = find(tx, &c, id)?;
            let member = existing_member(tx, &group, member_id)?;
            if !groups::add_member(tx, group.tenant_id, group.id, member)? {
                return Err(Failure::Graph(already_member()));
            }
            Ok(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

/// `DELETE groups/{id}/members/{member}/$ref`.
pub(super) async fn remove_member(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    member: Uuid,
) -> Result<Response, GraphError> {
    require(access::may_write_group_members(
        &caller.principal,
        &caller.permissions,
    ))?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let group = find(tx, &c, id)?;
            if !groups::remove_member(tx, group.tenant_id, group.id, ObjectId(member))? {
                return Err(Failure::Graph(GraphError::not_found(&member.to_string())));
            }
            Ok(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

/// `groups/{id}/memberOf` and `transitiveMemberOf`.
pub(super) async fn member_of(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    depth: Depth,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require(access::may_read_groups(
        &caller.principal,
        &caller.permissions,
    ))?;
    let q = collection::parse(&MEMBER_OF, query, headers)?;
    let c = caller.clone();
    let items = state
        .store
        .read(move |tx| {
            let group = find(tx, &c, id)?;
            let member = Member {
                id: group.id,
                kind: MemberKind::Group,
            };
            Ok::<_, Failure>(super::directory::member_of(tx, c.tenant_id, member, depth)?)
        })
        .await
        .map_err(GraphError::from)?;
    let nav = match depth {
        Depth::Direct => "memberOf",
        Depth::Transitive => "transitiveMemberOf",
    };
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "directoryObjects",
        &format!("groups/{id}/{nav}"),
    )
}
