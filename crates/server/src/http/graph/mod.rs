//! Microsoft Graph v1.0 (`/v1.0/…`): the app-management subset.
//!
//! Graph addresses objects both as `applications/{id}` and as
//! `applications(appId='{appId}')`, which axum's router cannot capture, so this
//! module parses the path itself into a [`Target`] and dispatches.

mod application_query;
mod applications;
mod collection;
mod consent;
mod directory;
mod directory_roles;
mod error;
mod extension_properties;
mod groups;
mod me;
mod policies;
mod service_principals;
mod sign_ins;
mod users;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hale_directory::ObjectId;
use uuid::Uuid;

pub(crate) use error::{Failure, GraphError};

use super::AppState;
use super::auth::{self, Caller};

/// Largest Graph request body accepted.
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// What a Graph URL names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Applications,
    Application(Key),
    ApplicationAction(Key, Action),
    ApplicationOwners(Key),
    ApplicationOwnerRefs(Key),
    ApplicationOwnerRef(Key, Uuid),
    /// `applications/{key}/extensionProperties`.
    ApplicationExtensions(Key),
    ApplicationExtension(Key, Uuid),
    /// `directoryObjects/getAvailableExtensionProperties`.
    AvailableExtensionProperties,
    ServicePrincipals,
    ServicePrincipal(Key),
    /// Users, `me`, groups and directory roles (see `directory`).
    Directory(directory::DirTarget),
    /// `servicePrincipals/{key}/memberOf` and `…/transitiveMemberOf`.
    ServicePrincipalMemberOf(Key, directory::Depth),
    ServicePrincipalRelation(Key, Relation),
    ServicePrincipalRelationItem(Key, Relation, Uuid),
    OAuth2PermissionGrants,
    OAuth2PermissionGrant(Uuid),
    /// `auditLogs/signIns`.
    SignIns,
    /// `policies/claimsMappingPolicies`.
    ClaimsMappingPolicies,
    ClaimsMappingPolicy(Uuid),
    /// `servicePrincipals/{key}/claimsMappingPolicies`.
    ServicePrincipalClaimsMapping(Key),
    /// `servicePrincipals/{key}/claimsMappingPolicies/$ref`.
    ServicePrincipalClaimsMappingRefs(Key),
    /// `servicePrincipals/{key}/claimsMappingPolicies/{id}/$ref`.
    ServicePrincipalClaimsMappingRef(Key, Uuid),
}

/// What a service principal's URL may name below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    AppRoleAssignments,
    AppRoleAssignedTo,
    OAuth2PermissionGrants,
}

/// How an object is named in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id(Uuid),
    AppId(Uuid),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    AddPassword,
    RemovePassword,
    AddKey,
    RemoveKey,
}

fn parse_target(path: &str) -> Result<Target, GraphError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if let Some(target) = directory::parse(&segments) {
        return target.map(Target::Directory);
    }
    if segments.as_slice() == ["auditLogs", "signIns"] {
        return Ok(Target::SignIns);
    }
    match segments.as_slice() {
        ["policies", "claimsMappingPolicies"] => return Ok(Target::ClaimsMappingPolicies),
        [
            "directoryObjects",
            "getAvailableExtensionProperties" | "microsoft.graph.getAvailableExtensionProperties",
        ] => return Ok(Target::AvailableExtensionProperties),
        ["policies", "claimsMappingPolicies", id] => {
            return Uuid::parse_str(id)
                .map(Target::ClaimsMappingPolicy)
                .map_err(|_| {
                    GraphError::bad_request(format!("Invalid object identifier '{id}'."))
                });
        }
        _ => {}
    }
    let unknown = |segment: &str| GraphError {
        status: StatusCode::BAD_REQUEST,
        code: "BadRequest",
        message: format!("Resource not found for the segment '{segment}'."),
    };
    let guid = |text: &str| {
        Uuid::parse_str(text)
            .map_err(|_| GraphError::bad_request(format!("Invalid object identifier '{text}'.")))
    };
    // `collection(appId='…')`, with single or double quotes.
    let by_app_id = |segment: &str| -> Option<Result<(String, Key), GraphError>> {
        let (collection, rest) = segment.split_once("(appId=")?;
        let inner = rest
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix("')"))
            .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix("\")")))?;
        Some(guid(inner).map(|id| (collection.to_owned(), Key::AppId(id))))
    };
    let action = |segment: &str| match segment {
        "addPassword" | "microsoft.graph.addPassword" => Ok(Action::AddPassword),
        "removePassword" | "microsoft.graph.removePassword" => Ok(Action::RemovePassword),
        "addKey" | "microsoft.graph.addKey" => Ok(Action::AddKey),
        "removeKey" | "microsoft.graph.removeKey" => Ok(Action::RemoveKey),
        other => Err(unknown(other)),
    };
    // The collection and, when named, the object.
    let (collection, key, rest) = match segments.as_slice() {
        [] => return Err(unknown("")),
        [first, rest @ ..] => match by_app_id(first) {
            Some(named) => {
                let (collection, key) = named?;
                (collection, Some(key), rest)
            }
            None => match rest {
                [id, rest @ ..] => ((*first).to_owned(), Some(Key::Id(guid(id)?)), rest),
                [] => ((*first).to_owned(), None, rest),
            },
        },
    };
    match (collection.as_str(), key, rest) {
        ("applications", None, []) => Ok(Target::Applications),
        ("applications", Some(key), []) => Ok(Target::Application(key)),
        ("applications", Some(key), ["owners"]) => Ok(Target::ApplicationOwners(key)),
        ("applications", Some(key), ["owners", "$ref"]) => Ok(Target::ApplicationOwnerRefs(key)),
        ("applications", Some(key), ["owners", owner, "$ref"]) => {
            Ok(Target::ApplicationOwnerRef(key, guid(owner)?))
        }
        ("applications", Some(key), ["extensionProperties"]) => {
            Ok(Target::ApplicationExtensions(key))
        }
        ("applications", Some(key), ["extensionProperties", id]) => {
            Ok(Target::ApplicationExtension(key, guid(id)?))
        }
        ("applications", Some(key), [verb]) => Ok(Target::ApplicationAction(key, action(verb)?)),
        ("servicePrincipals", None, []) => Ok(Target::ServicePrincipals),
        ("servicePrincipals", Some(key), []) => Ok(Target::ServicePrincipal(key)),
        ("servicePrincipals", Some(key), ["memberOf"]) => Ok(Target::ServicePrincipalMemberOf(
            key,
            directory::Depth::Direct,
        )),
        ("servicePrincipals", Some(key), ["transitiveMemberOf"]) => Ok(
            Target::ServicePrincipalMemberOf(key, directory::Depth::Transitive),
        ),
        ("servicePrincipals", Some(key), ["claimsMappingPolicies"]) => {
            Ok(Target::ServicePrincipalClaimsMapping(key))
        }
        ("servicePrincipals", Some(key), ["claimsMappingPolicies", "$ref"]) => {
            Ok(Target::ServicePrincipalClaimsMappingRefs(key))
        }
        ("servicePrincipals", Some(key), ["claimsMappingPolicies", id, "$ref"]) => {
            Ok(Target::ServicePrincipalClaimsMappingRef(key, guid(id)?))
        }
        ("servicePrincipals", Some(key), [relation, rest @ ..]) => {
            let relation = match *relation {
                "appRoleAssignments" => Relation::AppRoleAssignments,
                "appRoleAssignedTo" => Relation::AppRoleAssignedTo,
                "oauth2PermissionGrants" => Relation::OAuth2PermissionGrants,
                other => return Err(unknown(other)),
            };
            match rest {
                [] => Ok(Target::ServicePrincipalRelation(key, relation)),
                [id] if relation != Relation::OAuth2PermissionGrants => Ok(
                    Target::ServicePrincipalRelationItem(key, relation, guid(id)?),
                ),
                [extra, ..] => Err(unknown(extra)),
            }
        }
        ("oauth2PermissionGrants", None, []) => Ok(Target::OAuth2PermissionGrants),
        ("oauth2PermissionGrants", Some(Key::Id(id)), []) => Ok(Target::OAuth2PermissionGrant(id)),
        ("applications" | "servicePrincipals", _, [extra, ..]) => Err(unknown(extra)),
        (other, _, _) => Err(unknown(other)),
    }
}

/// Every `/v1.0/…` request.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let target = parse_target(&path)?;
        let caller = auth::graph_caller(&state, &headers).await?;
        handle(&state, &caller, method, target, &query, &headers, &body).await
    }
    .await;
    match result {
        Ok(response) => response,
        Err(e) => e.into_response_for(&headers),
    }
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    method: Method,
    target: Target,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    use applications as apps;
    match (method, target) {
        (Method::GET, Target::Applications) => apps::list(state, caller, query, headers).await,
        (Method::POST, Target::Applications) => apps::create(state, caller, json_body(body)?).await,
        (Method::GET, Target::Application(key)) => apps::get(state, caller, key, query).await,
        (Method::PATCH, Target::Application(key)) => {
            apps::update(state, caller, key, json_body(body)?).await
        }
        (Method::DELETE, Target::Application(key)) => apps::delete(state, caller, key).await,
        (Method::GET, Target::ApplicationOwners(key)) => apps::owners(state, caller, key).await,
        (Method::POST, Target::ApplicationOwnerRefs(key)) => {
            apps::add_owner(state, caller, key, json_body(body)?).await
        }
        (Method::DELETE, Target::ApplicationOwnerRef(key, owner)) => {
            apps::remove_owner(state, caller, key, ObjectId(owner)).await
        }
        (Method::POST, Target::ApplicationAction(key, Action::AddPassword)) => {
            apps::add_password(state, caller, key, json_body_or_empty(body)?).await
        }
        (Method::POST, Target::ApplicationAction(key, Action::RemovePassword)) => {
            apps::remove_password(state, caller, key, json_body(body)?).await
        }
        (Method::POST, Target::ApplicationAction(key, Action::AddKey)) => {
            apps::add_key(state, caller, key, json_body(body)?).await
        }
        (Method::POST, Target::ApplicationAction(key, Action::RemoveKey)) => {
            apps::remove_key(state, caller, key, json_body(body)?).await
        }
        (Method::GET, Target::ApplicationExtensions(key)) => {
            extension_properties::list(state, caller, key).await
        }
        (Method::POST, Target::ApplicationExtensions(key)) => {
            extension_properties::create(state, caller, key, json_body(body)?).await
        }
        (Method::GET, Target::ApplicationExtension(key, id)) => {
            extension_properties::get(state, caller, key, id).await
        }
        (Method::DELETE, Target::ApplicationExtension(key, id)) => {
            extension_properties::delete(state, caller, key, id).await
        }
        (Method::POST, Target::AvailableExtensionProperties) => {
            extension_properties::available(state, caller, json_body_or_empty(body)?).await
        }
        (Method::GET, Target::ServicePrincipals) => {
            service_principals::list(state, caller, query, headers).await
        }
        (Method::POST, Target::ServicePrincipals) => {
            service_principals::create(state, caller, json_body(body)?).await
        }
        (Method::GET, Target::ServicePrincipal(key)) => {
            service_principals::get(state, caller, key, query).await
        }
        (Method::PATCH, Target::ServicePrincipal(key)) => {
            service_principals::update(state, caller, key, json_body(body)?).await
        }
        (Method::DELETE, Target::ServicePrincipal(key)) => {
            service_principals::delete(state, caller, key).await
        }
        (Method::GET, Target::ServicePrincipalMemberOf(key, depth)) => {
            service_principals::member_of(state, caller, key, depth, query, headers).await
        }
        (Method::GET, Target::ServicePrincipalRelation(key, Relation::OAuth2PermissionGrants)) => {
            consent::list_grants(state, caller, Some(key), query).await
        }
        (Method::GET, Target::ServicePrincipalRelation(key, relation)) => {
            consent::list_assignments(state, caller, key, side(relation)).await
        }
        (Method::POST, Target::ServicePrincipalRelation(key, relation))
            if relation != Relation::OAuth2PermissionGrants =>
        {
            consent::create_assignment(state, caller, key, side(relation), json_body(body)?).await
        }
        (Method::DELETE, Target::ServicePrincipalRelationItem(key, relation, id)) => {
            consent::delete_assignment(state, caller, key, side(relation), id).await
        }
        (Method::GET, Target::ClaimsMappingPolicies) => {
            policies::list(state, caller, query, headers).await
        }
        (Method::POST, Target::ClaimsMappingPolicies) => {
            policies::create(state, caller, json_body(body)?).await
        }
        (Method::GET, Target::ClaimsMappingPolicy(id)) => {
            policies::get(state, caller, id, query).await
        }
        (Method::PATCH, Target::ClaimsMappingPolicy(id)) => {
            policies::update(state, caller, id, json_body(body)?).await
        }
        (Method::DELETE, Target::ClaimsMappingPolicy(id)) => {
            policies::delete(state, caller, id).await
        }
        (Method::GET, Target::ServicePrincipalClaimsMapping(key)) => {
            policies::list_assigned(state, caller, key).await
        }
        (Method::POST, Target::ServicePrincipalClaimsMappingRefs(key)) => {
            policies::assign(state, caller, key, json_body(body)?).await
        }
        (Method::DELETE, Target::ServicePrincipalClaimsMappingRef(key, id)) => {
            policies::unassign(state, caller, key, id).await
        }
        (Method::GET, Target::SignIns) => sign_ins::list(state, caller, query).await,
        (Method::GET, Target::OAuth2PermissionGrants) => {
            consent::list_grants(state, caller, None, query).await
        }
        (Method::POST, Target::OAuth2PermissionGrants) => {
            consent::create_grant(state, caller, json_body(body)?).await
        }
        (Method::GET, Target::OAuth2PermissionGrant(id)) => {
            consent::get_grant(state, caller, id).await
        }
        (Method::PATCH, Target::OAuth2PermissionGrant(id)) => {
            consent::update_grant(state, caller, id, json_body(body)?).await
        }
        (Method::DELETE, Target::OAuth2PermissionGrant(id)) => {
            consent::delete_grant(state, caller, id).await
        }
        (method, Target::Directory(target)) => {
            directory::handle(state, caller, method, target, query, headers, body).await
        }
        (method, _) => Err(GraphError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "Request_BadRequest",
            message: format!("The HTTP method '{method}' is not allowed for this resource."),
        }),
    }
}

fn side(relation: Relation) -> consent::Side {
    match relation {
        Relation::AppRoleAssignedTo => consent::Side::Resource,
        _ => consent::Side::Principal,
    }
}

fn json_body(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, GraphError> {
    if body.len() > MAX_BODY {
        return Err(GraphError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "Request_BadRequest",
            message: format!("The request body is larger than {MAX_BODY} bytes."),
        });
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(GraphError::bad_request(format!(
            "Unable to read JSON request payload: {e}"
        ))),
    }
}

fn json_body_or_empty(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    json_body(body)
}

/// A JSON answer with Graph's content type.
fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// `@odata.context` for `fragment` (e.g. `applications/$entity`).
fn context(state: &AppState, fragment: &str) -> String {
    format!("{}v1.0/$metadata#{fragment}", state.public_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let id = Uuid::new_v4();
        let cases: Vec<(String, Result<Target, &str>)> = vec![
            ("applications".into(), Ok(Target::Applications)),
            ("applications/".into(), Ok(Target::Applications)),
            (
                format!("applications/{id}"),
                Ok(Target::Application(Key::Id(id))),
            ),
            (
                format!("applications(appId='{id}')"),
                Ok(Target::Application(Key::AppId(id))),
            ),
            (
                format!("applications/{id}/addPassword"),
                Ok(Target::ApplicationAction(Key::Id(id), Action::AddPassword)),
            ),
            (
                format!("applications(appId='{id}')/removePassword"),
                Ok(Target::ApplicationAction(
                    Key::AppId(id),
                    Action::RemovePassword,
                )),
            ),
            (
                format!("applications(appId='{id}')/extensionProperties"),
                Ok(Target::ApplicationExtensions(Key::AppId(id))),
            ),
            (
                format!("applications/{id}/extensionProperties/{id}"),
                Ok(Target::ApplicationExtension(Key::Id(id), id)),
            ),
            (
                "directoryObjects/getAvailableExtensionProperties".into(),
                Ok(Target::AvailableExtensionProperties),
            ),
            (
                "applications/not-a-guid".into(),
                Err("Invalid object identifier 'not-a-guid'."),
            ),
            (
                "applications(appId='x')".into(),
                Err("Invalid object identifier 'x'."),
            ),
            (
                format!("applications/{id}/frobnicate"),
                Err("Resource not found for the segment 'frobnicate'."),
            ),
            (
                "widgets".into(),
                Err("Resource not found for the segment 'widgets'."),
            ),
        ];
        for (path, expected) in cases {
            match (parse_target(&path), expected) {
                (Ok(t), Ok(e)) => assert_eq!(t, e, "{path}"),
                (Err(err), Err(msg)) => assert_eq!(err.message, msg, "{path}"),
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
    }
}
