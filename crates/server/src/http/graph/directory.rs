//! The directory part of Graph beside app management: `users`, `me`,
//! `groups` (members, `$ref`, transitive members) and `directoryRoles`. This
//! module parses their URL forms and dispatches; each resource has its file.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hale_directory::membership::{Member, MemberKind};
use hale_directory::{DirectoryRole, ObjectId, TenantId, membership};
use hale_store::{StoreError, Tx, groups as group_store, principals, users as user_store};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::Listed;
use super::{GraphError, directory_roles, groups, json_body, me, users};
use crate::http::AppState;
use crate::http::auth::Caller;

/// How a user is named in the URL: object ID or user principal name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UserKey {
    Id(Uuid),
    Upn(String),
}

/// How a directory role is named: its object ID or `(roleTemplateId='…')`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoleKey {
    Id(Uuid),
    TemplateId(Uuid),
}

/// Direct or transitive, for `memberOf` and `members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Depth {
    Direct,
    Transitive,
}

/// The actions `getMemberGroups` (group ids) and `getMemberObjects` (group
/// and directory role ids), transitive both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MemberIds {
    Groups,
    Objects,
}

fn member_ids(segment: &str) -> Option<MemberIds> {
    match segment.strip_prefix("microsoft.graph.").unwrap_or(segment) {
        "getMemberGroups" => Some(MemberIds::Groups),
        "getMemberObjects" => Some(MemberIds::Objects),
        _ => None,
    }
}

/// A directory URL this module serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DirTarget {
    Users,
    User(UserKey),
    UserMemberOf(UserKey, Depth),
    /// `users/{key}/getMemberGroups`, `…/getMemberObjects`.
    UserMemberIds(UserKey, MemberIds),
    /// `users/{key}/revokeSignInSessions`.
    UserRevokeSessions(UserKey),
    Me,
    MeMemberOf(Depth),
    MeMemberIds(MemberIds),
    Groups,
    Group(Uuid),
    GroupMembers(Uuid, Depth),
    GroupMemberRefs(Uuid),
    GroupMemberRef(Uuid, Uuid),
    GroupMemberOf(Uuid, Depth),
    DirectoryRoles,
    DirectoryRole(RoleKey),
    DirectoryRoleMembers(RoleKey),
    DirectoryRoleMemberRefs(RoleKey),
    DirectoryRoleMemberRef(RoleKey, Uuid),
}

fn unknown(segment: &str) -> GraphError {
    GraphError {
        status: StatusCode::BAD_REQUEST,
        code: "BadRequest",
        message: format!("Resource not found for the segment '{segment}'."),
    }
}

fn guid(text: &str) -> Result<Uuid, GraphError> {
    Uuid::parse_str(text)
        .map_err(|_| GraphError::bad_request(format!("Invalid object identifier '{text}'.")))
}

fn depth(segment: &str) -> Option<Depth> {
    match segment {
        "memberOf" => Some(Depth::Direct),
        "transitiveMemberOf" => Some(Depth::Transitive),
        _ => None,
    }
}

/// The target of `segments` when it is one of this module's collections;
/// `None` leaves the path to the caller.
pub(super) fn parse(segments: &[&str]) -> Option<Result<DirTarget, GraphError>> {
    let first = *segments.first()?;
    let rest = &segments[1..];
    if let Some(inner) = first
        .strip_prefix("directoryRoles(roleTemplateId=")
        .and_then(|r| r.strip_suffix(')'))
    {
        let quoted = inner
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .unwrap_or(inner);
        return Some(guid(quoted).and_then(|id| role_target(RoleKey::TemplateId(id), rest)));
    }
    let target = match first {
        "users" => match rest {
            [] => Ok(DirTarget::Users),
            [key] => Ok(DirTarget::User(user_key(key))),
            [
                key,
                "revokeSignInSessions" | "microsoft.graph.revokeSignInSessions",
            ] => Ok(DirTarget::UserRevokeSessions(user_key(key))),
            [key, nav] => match (depth(nav), member_ids(nav)) {
                (Some(d), _) => Ok(DirTarget::UserMemberOf(user_key(key), d)),
                (_, Some(ids)) => Ok(DirTarget::UserMemberIds(user_key(key), ids)),
                _ => Err(unknown(nav)),
            },
            [_, _, extra, ..] => Err(unknown(extra)),
        },
        "me" => match rest {
            [] => Ok(DirTarget::Me),
            [nav] => depth(nav)
                .map(DirTarget::MeMemberOf)
                .or_else(|| member_ids(nav).map(DirTarget::MeMemberIds))
                .ok_or_else(|| unknown(nav)),
            [_, extra, ..] => Err(unknown(extra)),
        },
        "groups" => match rest {
            [] => Ok(DirTarget::Groups),
            [id, more @ ..] => guid(id).and_then(|id| match more {
                [] => Ok(DirTarget::Group(id)),
                ["members"] => Ok(DirTarget::GroupMembers(id, Depth::Direct)),
                ["transitiveMembers"] => Ok(DirTarget::GroupMembers(id, Depth::Transitive)),
                ["members", "$ref"] => Ok(DirTarget::GroupMemberRefs(id)),
                ["members", member, "$ref"] => {
                    guid(member).map(|m| DirTarget::GroupMemberRef(id, m))
                }
                [nav] if depth(nav).is_some() => {
                    Ok(DirTarget::GroupMemberOf(id, depth(nav).expect("checked")))
                }
                [extra, ..] => Err(unknown(extra)),
            }),
        },
        "directoryRoles" => match rest {
            [] => Ok(DirTarget::DirectoryRoles),
            [id, more @ ..] => guid(id).and_then(|id| role_target(RoleKey::Id(id), more)),
        },
        _ => return None,
    };
    Some(target)
}

fn role_target(key: RoleKey, rest: &[&str]) -> Result<DirTarget, GraphError> {
    match rest {
        [] => Ok(DirTarget::DirectoryRole(key)),
        ["members"] => Ok(DirTarget::DirectoryRoleMembers(key)),
        ["members", "$ref"] => Ok(DirTarget::DirectoryRoleMemberRefs(key)),
        ["members", member, "$ref"] => {
            guid(member).map(|m| DirTarget::DirectoryRoleMemberRef(key, m))
        }
        [extra, ..] => Err(unknown(extra)),
    }
}

fn user_key(segment: &str) -> UserKey {
    match Uuid::parse_str(segment) {
        Ok(id) => UserKey::Id(id),
        Err(_) => UserKey::Upn(segment.to_owned()),
    }
}

/// Answers a request for a [`DirTarget`].
pub(super) async fn handle(
    state: &AppState,
    caller: &Caller,
    method: Method,
    target: DirTarget,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    use DirTarget as T;
    match (method, target) {
        (Method::GET, T::Users) => users::list(state, caller, query, headers).await,
        (Method::POST, T::Users) => users::create(state, caller, json_body(body)?).await,
        (Method::GET, T::User(key)) => users::get(state, caller, key, query).await,
        (Method::PATCH, T::User(key)) => users::update(state, caller, key, json_body(body)?).await,
        (Method::DELETE, T::User(key)) => users::delete(state, caller, key).await,
        (Method::POST, T::UserRevokeSessions(key)) => {
            users::revoke_sign_in_sessions(state, caller, key).await
        }
        (Method::GET, T::UserMemberOf(key, d)) => {
            users::member_of(state, caller, key, d, query, headers).await
        }
        (Method::POST, T::UserMemberIds(key, ids)) => {
            users::member_ids(state, caller, key, ids, json_body(body)?).await
        }
        (Method::GET, T::Me) => me::get(state, caller, query).await,
        (Method::POST, T::MeMemberIds(ids)) => {
            me::member_ids(state, caller, ids, json_body(body)?).await
        }
        (Method::GET, T::MeMemberOf(d)) => me::member_of(state, caller, d, query, headers).await,
        (Method::GET, T::Groups) => groups::list(state, caller, query, headers).await,
        (Method::POST, T::Groups) => groups::create(state, caller, json_body(body)?).await,
        (Method::GET, T::Group(id)) => groups::get(state, caller, id, query).await,
        (Method::PATCH, T::Group(id)) => groups::update(state, caller, id, json_body(body)?).await,
        (Method::DELETE, T::Group(id)) => groups::delete(state, caller, id).await,
        (Method::GET, T::GroupMembers(id, d)) => {
            groups::members(state, caller, id, d, query, headers).await
        }
        (Method::POST, T::GroupMemberRefs(id)) => {
            groups::add_member(state, caller, id, json_body(body)?).await
        }
        (Method::DELETE, T::GroupMemberRef(id, member)) => {
            groups::remove_member(state, caller, id, member).await
        }
        (Method::GET, T::GroupMemberOf(id, d)) => {
            groups::member_of(state, caller, id, d, query, headers).await
        }
        (Method::GET, T::DirectoryRoles) => {
            directory_roles::list(state, caller, query, headers).await
        }
        (Method::GET, T::DirectoryRole(key)) => directory_roles::get(state, caller, key).await,
        (Method::GET, T::DirectoryRoleMembers(key)) => {
            directory_roles::members(state, caller, key, query, headers).await
        }
        (Method::POST, T::DirectoryRoleMemberRefs(key)) => {
            directory_roles::add_member(state, caller, key, json_body(body)?).await
        }
        (Method::DELETE, T::DirectoryRoleMemberRef(key, member)) => {
            directory_roles::remove_member(state, caller, key, member).await
        }
        (method, _) => Err(GraphError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "Request_BadRequest",
            message: format!("The HTTP method '{method}' is not allowed for this resource."),
        }),
    }
}

/// `Ok` when `allowed`, else Graph's 403.
pub(super) fn require(allowed: bool) -> Result<(), GraphError> {
    if allowed {
        Ok(())
    } else {
        Err(GraphError::forbidden())
    }
}

pub(super) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub(super) fn unknown_property(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Property '{name}' does not exist as a declared property or extension property."
    ))
}

/// Refuses a body's properties that do not exist (not in `writable`) or
/// cannot be set (in `read_only`), in Graph's words; `@odata.type` passes.
pub(super) fn check_properties(
    body: &Map<String, Value>,
    writable: &[&str],
    read_only: &[&str],
) -> Result<(), GraphError> {
    for name in body.keys() {
        if name == "@odata.type" || writable.contains(&name.as_str()) {
            continue;
        }
        if read_only.contains(&name.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        return Err(unknown_property(name));
    }
    Ok(())
}

/// A string property of a request body: absent, `null` or a string.
pub(super) fn string_prop(
    body: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, GraphError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value specified for property '{name}': it must be a string."
        ))),
    }
}

/// A boolean property of a request body.
pub(super) fn bool_prop(body: &Map<String, Value>, name: &str) -> Result<Option<bool>, GraphError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value specified for property '{name}': it must be a boolean."
        ))),
    }
}

/// A string-collection property of a request body.
pub(super) fn strings_prop(
    body: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Invalid value specified for property '{name}': it must be a collection of strings."
                ))
            }),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value specified for property '{name}': it must be a collection of strings."
        ))),
    }
}

/// The object named by a `{"@odata.id": ".../directoryObjects/{id}"}` body
/// (also `.../users/{id}`, `.../groups/{id}`, `.../servicePrincipals/{id}`).
pub(super) fn reference(body: &Map<String, Value>) -> Result<ObjectId, GraphError> {
    if let Some(other) = body.keys().find(|k| k.as_str() != "@odata.id") {
        return Err(unknown_property(other));
    }
    let Some(Value::String(url)) = body.get("@odata.id") else {
        return Err(GraphError::bad_request(
            "The request body must hold the reference as '@odata.id'.",
        ));
    };
    reference_url(url)
}

/// The object ID at the end of a reference URL.
pub(super) fn reference_url(url: &str) -> Result<ObjectId, GraphError> {
    let invalid = || {
        GraphError::bad_request(format!(
            "Invalid URL format specified in @odata.id: '{url}'."
        ))
    };
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    match segments.as_slice() {
        [.., collection, id]
            if matches!(
                *collection,
                "directoryObjects" | "users" | "groups" | "servicePrincipals"
            ) =>
        {
            Uuid::parse_str(id).map(ObjectId).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// A directory role as Graph's `directoryRole`.
pub(super) fn role_value(tenant: TenantId, role: DirectoryRole) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.directoryRole",
        "id": role.object_id(tenant).to_string(),
        "deletedDateTime": null,
        "description": role.description(),
        "displayName": role.display_name(),
        "roleTemplateId": role.template_id().to_string(),
    })
}

/// A directory object (user, group or service principal) for a listing of
/// members, with its `@odata.type`; `None` when it no longer exists.
pub(super) fn object_listed(
    tx: &mut dyn Tx,
    tenant: TenantId,
    member: Member,
) -> Result<Option<Listed>, StoreError> {
    let (mut full, default) = match member.kind {
        MemberKind::User => match user_store::get(tx, tenant, member.id)? {
            Some(u) => (u.to_graph(), Some(hale_directory::USER_DEFAULT_PROPERTIES)),
            None => return Ok(None),
        },
        MemberKind::Group => match group_store::get(tx, tenant, member.id)? {
            Some(g) => (serde_json::to_value(&g).unwrap_or_default(), None),
            None => return Ok(None),
        },
        MemberKind::ServicePrincipal => match principals::get(tx, tenant, member.id)? {
            Some(sp) => {
                let mut v = serde_json::to_value(&sp).unwrap_or_default();
                v["appDisplayName"] = json!(sp.display_name);
                v["servicePrincipalType"] = json!("Application");
                (v, None)
            }
            None => return Ok(None),
        },
    };
    full["@odata.type"] = json!(member.kind.odata_type());
    Ok(Some(Listed { full, default }))
}

/// The groups (and directory roles) `member` belongs to, directly or through
/// nested groups, as listed objects.
pub(super) fn member_of(
    tx: &mut dyn Tx,
    tenant: TenantId,
    member: Member,
    depth: Depth,
) -> Result<Vec<Listed>, StoreError> {
    let found = match depth {
        Depth::Direct => group_store::groups_of(tx, tenant, member.id)?,
        Depth::Transitive => {
            membership::transitive(member, |id| group_store::groups_of(tx, tenant, id))?
        }
    };
    let mut out = Vec::new();
    for group in found {
        if let Some(listed) = object_listed(tx, tenant, group)? {
            out.push(listed);
        }
    }
    for role in principals::roles_of(tx, tenant, member.id)? {
        out.push(Listed {
            full: role_value(tenant, role),
            default: None,
        });
    }
    Ok(out)
}

/// Properties of `memberOf` listings (groups and directory roles).
pub(super) const MEMBER_OF: super::collection::Resource = super::collection::Resource {
    name: "DirectoryObject",
    type_name: "microsoft.graph.directoryObject",
    filterable: &[
        "id",
        "displayName",
        "mailNickname",
        "securityEnabled",
        "mailEnabled",
        "groupTypes",
        "roleTemplateId",
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
        "roleTemplateId",
        "deletedDateTime",
    ],
    directory_extensions: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let id = Uuid::new_v4();
        let m = Uuid::new_v4();
        let cases: Vec<(String, Option<Result<DirTarget, &str>>)> = vec![
            ("users".into(), Some(Ok(DirTarget::Users))),
            (
                format!("users/{id}"),
                Some(Ok(DirTarget::User(UserKey::Id(id)))),
            ),
            (
                "users/Alice@hale.local".into(),
                Some(Ok(DirTarget::User(UserKey::Upn("Alice@hale.local".into())))),
            ),
            (
                format!("users/{id}/transitiveMemberOf"),
                Some(Ok(DirTarget::UserMemberOf(
                    UserKey::Id(id),
                    Depth::Transitive,
                ))),
            ),
            ("me".into(), Some(Ok(DirTarget::Me))),
            (
                "me/memberOf".into(),
                Some(Ok(DirTarget::MeMemberOf(Depth::Direct))),
            ),
            (
                format!("groups/{id}/members/$ref"),
                Some(Ok(DirTarget::GroupMemberRefs(id))),
            ),
            (
                format!("groups/{id}/members/{m}/$ref"),
                Some(Ok(DirTarget::GroupMemberRef(id, m))),
            ),
            (
                format!("groups/{id}/transitiveMembers"),
                Some(Ok(DirTarget::GroupMembers(id, Depth::Transitive))),
            ),
            (
                format!("directoryRoles(roleTemplateId='{id}')/members/$ref"),
                Some(Ok(DirTarget::DirectoryRoleMemberRefs(RoleKey::TemplateId(
                    id,
                )))),
            ),
            (
                format!("directoryRoles/{id}/members"),
                Some(Ok(DirTarget::DirectoryRoleMembers(RoleKey::Id(id)))),
            ),
            (
                "groups/nope".into(),
                Some(Err("Invalid object identifier 'nope'.")),
            ),
            (
                format!("groups/{id}/owners"),
                Some(Err("Resource not found for the segment 'owners'.")),
            ),
            (
                "me/photo".into(),
                Some(Err("Resource not found for the segment 'photo'.")),
            ),
            ("applications".into(), None),
        ];
        for (path, expected) in cases {
            let segments: Vec<&str> = path.split('/').collect();
            match (parse(&segments), expected) {
                (None, None) => {}
                (Some(Ok(t)), Some(Ok(e))) => assert_eq!(t, e, "{path}"),
                (Some(Err(err)), Some(Err(msg))) => assert_eq!(err.message, msg, "{path}"),
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn references() {
        let id = Uuid::new_v4();
        for url in [
            format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}"),
            format!("https://127.0.0.1:8443/v1.0/users/{id}"),
        ] {
            assert_eq!(reference_url(&url).unwrap(), ObjectId(id), "{url}");
        }
        for bad in [
            "not a url".to_owned(),
            format!("https://graph.microsoft.com/v1.0/widgets/{id}"),
            "https://graph.microsoft.com/v1.0/directoryObjects/xyz".to_owned(),
        ] {
            assert!(reference_url(&bad).is_err(), "{bad}");
        }
    }
}
