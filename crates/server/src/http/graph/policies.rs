//! `/v1.0/policies/claimsMappingPolicies` (list, create, get, update, delete)
//! and a service principal's `claimsMappingPolicies` (list, assign with
//! `$ref`, remove). A definition is checked in full before anything is
//! stored, so the token service never meets a policy it cannot honour.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::{ClaimsMapping, ClaimsMappingPolicy, ObjectId, access};
use hale_store::{Tx, claims_mapping, principals};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::collection::{self, Listed, Resource};
use super::directory::{bool_prop, no_content, string_prop, unknown_property};
use super::{Failure, GraphError, Key, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

pub(super) const POLICIES: Resource = Resource {
    name: "ClaimsMappingPolicy",
    type_name: "microsoft.graph.claimsMappingPolicy",
    filterable: &["id", "displayName"],
    sortable: &["displayName"],
    selectable: &[
        "id",
        "deletedDateTime",
        "displayName",
        "description",
        "definition",
        "isOrganizationDefault",
    ],
    directory_extensions: false,
};

const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "definition",
    "isOrganizationDefault",
];
const READ_ONLY: &[&str] = &["id", "deletedDateTime"];
/// The longest `displayName` and `description` accepted.
const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 1024;

fn graph_value(policy: &ClaimsMappingPolicy) -> Value {
    let mut value = serde_json::to_value(policy).unwrap_or_default();
    value["id"] = json!(policy.id.to_string());
    value["deletedDateTime"] = Value::Null;
    value
}

fn entity(state: &AppState, policy: &ClaimsMappingPolicy, select: Option<&[String]>) -> Value {
    let listed = Listed {
        full: graph_value(policy),
        default: None,
    };
    let mut value = listed.shown(select);
    value["@odata.context"] = json!(context(state, "policies/claimsMappingPolicies/$entity"));
    value
}

fn find(tx: &mut dyn Tx, caller: &Caller, id: Uuid) -> Result<ClaimsMappingPolicy, Failure> {
    claims_mapping::get(tx, caller.tenant_id, ObjectId(id))?
        .ok_or_else(|| Failure::Graph(GraphError::not_found(&id.to_string())))
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    caller.require(access::may_read_policies)?;
    let q = collection::parse(&POLICIES, query, headers)?;
    let tenant = caller.tenant_id;
    let all = state
        .store
        .read(move |tx| claims_mapping::list(tx, tenant))
        .await?;
    let items = all
        .iter()
        .map(|p| Listed {
            full: graph_value(p),
            default: None,
        })
        .collect();
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "policies/claimsMappingPolicies",
        "policies/claimsMappingPolicies",
    )
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    caller.require(access::may_read_policies)?;
    let select = collection::entity_select(query, POLICIES.selectable, POLICIES.type_name)?;
    let c = caller.clone();
    let policy = state
        .store
        .read(move |tx| find(tx, &c, id))
        .await
        .map_err(GraphError::from)?;
    Ok(respond(
        StatusCode::OK,
        entity(state, &policy, select.as_deref()),
    ))
}

/// Refuses properties that do not exist or cannot be set.
fn check_properties(body: &Map<String, Value>) -> Result<(), GraphError> {
    super::directory::check_properties(body, WRITABLE, READ_ONLY)
}

/// `policy` with the body's properties applied, every one checked: the
/// definition parses into rules Hale honours, the names have sane sizes, and
/// `isOrganizationDefault` stays `false` (Hale applies policies only through
/// assignment).
fn apply(policy: &mut ClaimsMappingPolicy, body: &Map<String, Value>) -> Result<(), GraphError> {
    check_properties(body)?;
    if body.contains_key("displayName") {
        let name = string_prop(body, "displayName")?.unwrap_or_default();
        if name.trim().is_empty() || name.chars().count() > MAX_NAME {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property 'displayName' of resource 'ClaimsMappingPolicy': it must be 1 to {MAX_NAME} characters."
            )));
        }
        policy.display_name = name;
    }
    if body.contains_key("description") {
        let description = string_prop(body, "description")?;
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property 'description': it must be at most {MAX_DESCRIPTION} characters."
            )));
        }
        policy.description = description;
    }
    if body.contains_key("definition") {
        let definition = super::directory::strings_prop(body, "definition")?.unwrap_or_default();
        ClaimsMapping::parse(&definition)?;
        policy.definition = definition;
    }
    if bool_prop(body, "isOrganizationDefault")? == Some(true) {
        return Err(GraphError::bad_request(
            "Invalid value specified for property 'isOrganizationDefault': Hale applies claims-mapping policies only to the service principals they are assigned to; it must be false.",
        ));
    }
    Ok(())
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_policies)?;
    for required in ["displayName", "definition"] {
        if matches!(body.get(required), None | Some(Value::Null)) {
            return Err(GraphError::bad_request(format!(
                "Required property '{required}' of resource 'ClaimsMappingPolicy' is missing."
            )));
        }
    }
    let mut policy = ClaimsMappingPolicy {
        id: ObjectId::new(),
        tenant_id: caller.tenant_id,
        display_name: String::new(),
        description: None,
        definition: Vec::new(),
        is_organization_default: false,
        created_at: OffsetDateTime::now_utc(),
    };
    apply(&mut policy, &body)?;
    let stored = policy.clone();
    state
        .store
        .write(move |tx| claims_mapping::insert(tx, &stored))
        .await?;
    tracing::info!(policy = %policy.id, by = %caller.object_id, "claims-mapping policy created");
    Ok(respond(StatusCode::CREATED, entity(state, &policy, None)))
}

pub(super) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(access::may_write_policies)?;
    // Checked before the transaction too, so bad input never waits for it.
    apply(
        &mut ClaimsMappingPolicy {
            id: ObjectId(id),
            tenant_id: caller.tenant_id,
            display_name: String::new(),
            description: None,
            definition: Vec::new(),
            is_organization_default: false,
            created_at: OffsetDateTime::now_utc(),
        },
        &body,
    )?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let mut policy = find(tx, &c, id)?;
            apply(&mut policy, &body)?;
            claims_mapping::update(tx, &policy)?;
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
    caller.require(access::may_write_policies)?;
    let tenant = caller.tenant_id;
    let existed = state
        .store
        .write(move |tx| claims_mapping::delete(tx, tenant, ObjectId(id)))
        .await?;
    if !existed {
        return Err(GraphError::not_found(&id.to_string()));
    }
    Ok(no_content())
}

/// The service principal `key` names in the caller's tenant.
fn principal(tx: &mut dyn Tx, caller: &Caller, key: Key) -> Result<ObjectId, Failure> {
    let found = match key {
        Key::Id(id) => principals::get(tx, caller.tenant_id, ObjectId(id))?,
        Key::AppId(app_id) => principals::by_app_id(tx, caller.tenant_id, app_id.into())?,
    };
    found.map(|sp| sp.id).ok_or_else(|| {
        Failure::Graph(match key {
            Key::Id(id) => GraphError::not_found(&id.to_string()),
            Key::AppId(id) => GraphError::not_found(&format!("servicePrincipals(appId='{id}')")),
        })
    })
}

/// `GET servicePrincipals/{key}/claimsMappingPolicies`.
pub(super) async fn list_assigned(
    state: &AppState,
    caller: &Caller,
    key: Key,
) -> Result<Response, GraphError> {
    caller.require(access::may_read_policies)?;
    caller.require_read_applications()?;
    let c = caller.clone();
    let assigned = state
        .store
        .read(move |tx| {
            let sp = principal(tx, &c, key)?;
            Ok::<_, Failure>(claims_mapping::assigned(tx, c.tenant_id, &[sp])?)
        })
        .await
        .map_err(GraphError::from)?;
    let value: Vec<Value> = assigned.iter().map(|(_, p)| graph_value(p)).collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "@odata.context": context(state, "policies/claimsMappingPolicies"),
            "value": value,
        }),
    ))
}

/// The policy a `{"@odata.id": ".../policies/claimsMappingPolicies/{id}"}`
/// body names.
fn policy_reference(body: &Map<String, Value>) -> Result<ObjectId, GraphError> {
    if let Some(other) = body.keys().find(|k| k.as_str() != "@odata.id") {
        return Err(unknown_property(other));
    }
    let Some(Value::String(url)) = body.get("@odata.id") else {
        return Err(GraphError::bad_request(
            "The request body must hold the reference as '@odata.id'.",
        ));
    };
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
        [.., "claimsMappingPolicies", id] | [.., "directoryObjects", id] => {
            Uuid::parse_str(id).map(ObjectId).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// `POST servicePrincipals/{key}/claimsMappingPolicies/$ref`: one policy per
/// service principal, as in Entra; a second is a 400.
pub(super) async fn assign(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(access::may_assign_policies)?;
    let policy = policy_reference(&body)?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let sp = principal(tx, &c, key)?;
            if claims_mapping::get(tx, c.tenant_id, policy)?.is_none() {
                return Err(Failure::Graph(GraphError::not_found(&policy.to_string())));
            }
            if !claims_mapping::assign(tx, c.tenant_id, sp, policy)? {
                return Err(Failure::Graph(GraphError::bad_request(
                    "Adding policy to this object is disallowed: a policy of type ClaimsMappingPolicy is already assigned to it. Remove it first.",
                )));
            }
            Ok(())
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(%policy, by = %caller.object_id, "claims-mapping policy assigned");
    Ok(no_content())
}

/// `DELETE servicePrincipals/{key}/claimsMappingPolicies/{id}/$ref`.
pub(super) async fn unassign(
    state: &AppState,
    caller: &Caller,
    key: Key,
    policy: Uuid,
) -> Result<Response, GraphError> {
    caller.require(access::may_assign_policies)?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let sp = principal(tx, &c, key)?;
            if !claims_mapping::unassign(tx, c.tenant_id, sp, ObjectId(policy))? {
                return Err(Failure::Graph(GraphError::not_found(&policy.to_string())));
            }
            Ok(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}
