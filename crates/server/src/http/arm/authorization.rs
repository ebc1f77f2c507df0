//! `Microsoft.Authorization`: the built-in role definitions, and role
//! assignments at subscription, resource group, workspace and service scope.
//! Writing and deleting assignments needs `Microsoft.Authorization/roleAssignments/
//! write|delete` at the scope: Owner or User Access Administrator, not Contributor.

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hale_arm::{PrincipalType, ResourceId, RoleAssignment, RoleDefinition, key_is_within, roles};
use hale_directory::ObjectId;
use hale_directory::membership::{self, Member, MemberKind};
use hale_store::{StoreError, arm, groups};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::workspaces::require_exists;
use super::{ArmFailure, Ctx, json, list, rfc3339};
use crate::http::AppState;

const ASSIGNMENTS_READ: &str = "Microsoft.Authorization/roleAssignments/read";
const ASSIGNMENTS_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
const ASSIGNMENTS_DELETE: &str = "Microsoft.Authorization/roleAssignments/delete";

/// A role definition's ID as ARM prints it under `scope`: subscription-level
/// when the scope is in a subscription, tenant-level otherwise.
fn definition_id(scope: Option<&ResourceId>, role: Uuid) -> String {
    match scope {
        Some(s) => format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            s.subscription()
        ),
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
    }
}

fn definition_json(scope: Option<&ResourceId>, r: &RoleDefinition) -> Value {
    json!({
        "id": definition_id(scope, r.id),
        "name": r.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.name,
            "type": "BuiltInRole",
            "description": r.description,
            "assignableScopes": ["/"],
            "permissions": [{
                "actions": r.actions,
                "notActions": r.not_actions,
                "dataActions": r.data_actions,
                "notDataActions": r.not_data_actions,
            }],
            "createdOn": null,
            "updatedOn": null,
            "createdBy": null,
            "updatedBy": null,
        }
    })
}

fn assignment_json(a: &RoleAssignment) -> Value {
    let scope = ResourceId::parse(&a.scope).ok();
    json!({
        "id": a.resource_id(),
        "name": a.id,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": definition_id(scope.as_ref(), a.role_definition_id),
            "principalId": a.principal_id.to_string(),
            "principalType": a.principal_type.as_str(),
            "scope": a.scope,
            "condition": null,
            "conditionVersion": null,
            "description": a.description,
            "createdOn": rfc3339(a.created_at),
            "updatedOn": rfc3339(a.updated_at),
            "createdBy": a.created_by.map(|o| o.to_string()),
            "updatedBy": a.created_by.map(|o| o.to_string()),
            "delegatedManagedIdentityResourceId": null,
        }
    })
}

fn unsupported_filter(filter: &str) -> ArmFailure {
    ArmFailure::bad_request(
        "BadRequest",
        format!(
            "The $filter '{filter}' is not supported. Supported: atScope(), principalId eq '{{id}}', assignedTo('{{id}}'), roleName eq '{{name}}', type eq 'BuiltInRole', joined by 'and'."
        ),
    )
}

/// The quoted argument of `name eq '…'` or `name('…')`.
fn quoted(text: &str) -> Option<&str> {
    let text = text.trim();
    text.strip_prefix('\'')?.strip_suffix('\'')
}

/// The `and`-joined clauses of a `$filter`.
fn clauses(filter: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = filter.trim();
    while let Some(at) = rest.to_ascii_lowercase().find(" and ") {
        out.push(rest[..at].trim());
        rest = rest[at + 5..].trim();
    }
    out.push(rest);
    out
}

fn filter_of(query: &[(String, String)]) -> Option<&str> {
    query
        .iter()
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

pub(super) async fn list_definitions(
    _state: &AppState,
    ctx: &Ctx,
    scope: Option<&ResourceId>,
    query: &[(String, String)],
) -> Result<Response, ArmFailure> {
    if let Some(s) = scope {
        ctx.subscription(s.subscription())?;
    }
    let mut name: Option<&str> = None;
    let mut builtin: Option<bool> = None;
    if let Some(filter) = filter_of(query) {
        for clause in clauses(filter) {
            let (field, value) = clause
                .split_once(" eq ")
                .ok_or_else(|| unsupported_filter(filter))?;
            let value = quoted(value).ok_or_else(|| unsupported_filter(filter))?;
            match field.trim() {
                f if f.eq_ignore_ascii_case("roleName") => name = Some(value),
                f if f.eq_ignore_ascii_case("type") => {
                    builtin = Some(value.eq_ignore_ascii_case("BuiltInRole"))
                }
                _ => return Err(unsupported_filter(filter)),
            }
        }
    }
    let found = roles::BUILT_IN
        .iter()
        .filter(|r| name.is_none_or(|n| r.name.eq_ignore_ascii_case(n)))
        .filter(|_| builtin != Some(false))
        .map(|r| definition_json(scope, r))
        .collect();
    Ok(list(found))
}

fn definition_not_found(id: &str) -> ArmFailure {
    ArmFailure::new(
        StatusCode::NOT_FOUND,
        "RoleDefinitionDoesNotExist",
        format!("The specified role definition with ID '{id}' does not exist."),
    )
}

pub(super) async fn get_definition(
    _state: &AppState,
    ctx: &Ctx,
    scope: Option<&ResourceId>,
    id: &str,
) -> Result<Response, ArmFailure> {
    if let Some(s) = scope {
        ctx.subscription(s.subscription())?;
    }
    let role = Uuid::parse_str(id)
        .ok()
        .and_then(roles::by_id)
        .ok_or_else(|| definition_not_found(id))?;
    Ok(json(StatusCode::OK, definition_json(scope, role)))
}

/// Role assignments live at a resource; the tenant root is not a scope Hale
/// assigns at.
fn require_scope(scope: Option<&ResourceId>) -> Result<&ResourceId, ArmFailure> {
    scope.ok_or_else(|| {
        ArmFailure::bad_request(
            "InvalidRoleAssignmentScope",
            "Role assignments are made at a subscription, resource group, workspace or service scope.",
        )
    })
}

/// What a role assignment listing keeps.
#[derive(Default)]
struct AssignmentFilter {
    at_scope: bool,
    principal: Option<ObjectId>,
    assigned_to: Option<ObjectId>,
}

fn parse_assignment_filter(query: &[(String, String)]) -> Result<AssignmentFilter, ArmFailure> {
    let mut out = AssignmentFilter::default();
    let Some(filter) = filter_of(query) else {
        return Ok(out);
    };
    let object_id = |text: &str| -> Result<ObjectId, ArmFailure> {
        quoted(text)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unsupported_filter(filter))
    };
    for clause in clauses(filter) {
        let lower = clause.to_ascii_lowercase();
        if lower.replace(' ', "") == "atscope()" {
            out.at_scope = true;
        } else if let Some(rest) = lower.strip_prefix("assignedto(") {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| unsupported_filter(filter))?;
            out.assigned_to = Some(object_id(inner)?);
        } else if let Some((field, value)) = clause.split_once(" eq ") {
            if !field.trim().eq_ignore_ascii_case("principalId") {
                return Err(unsupported_filter(filter));
            }
            out.principal = Some(object_id(value)?);
        } else {
            return Err(unsupported_filter(filter));
        }
    }
    Ok(out)
}

/// Lists assignments at the scope, above it and (without `atScope()`) below it.
pub(super) async fn list_assignments(
    state: &AppState,
    ctx: &Ctx,
    scope: Option<&ResourceId>,
    query: &[(String, String)],
) -> Result<Response, ArmFailure> {
    let scope = require_scope(scope)?;
    ctx.subscription(scope.subscription())?;
    let filter = parse_assignment_filter(query)?;
    ctx.require(scope, ASSIGNMENTS_READ)?;
    let tenant = ctx.tenant();
    let subscription = format!("/subscriptions/{}", scope.subscription());
    let assigned_to = filter.assigned_to;
    let (candidates, principals) = state
        .store
        .read(move |tx| {
            let candidates = arm::role_assignments_within(tx, tenant, &subscription)?;
            // assignedTo: the principal and every group it is in.
            let principals = match assigned_to {
                Some(id) => {
                    let start = Member {
                        id,
                        kind: MemberKind::User,
                    };
                    let mut set: HashSet<ObjectId> =
                        membership::transitive(start, |x| groups::groups_of(tx, tenant, x))?
                            .into_iter()
                            .map(|m| m.id)
                            .collect();
                    set.insert(id);
                    Some(set)
                }
                None => None,
            };
            Ok::<_, StoreError>((candidates, principals))
        })
        .await?;
    let key = scope.key();
    let kept = candidates
        .iter()
        .filter(|a| {
            let at = a.scope.to_ascii_lowercase();
            let above_or_at = key_is_within(&key, &at);
            let below = key_is_within(&at, &key);
            above_or_at || (!filter.at_scope && below)
        })
        .filter(|a| filter.principal.is_none_or(|p| a.principal_id == p))
        .filter(|a| {
            principals
                .as_ref()
                .is_none_or(|set| set.contains(&a.principal_id))
        })
        .map(assignment_json)
        .collect();
    Ok(list(kept))
}

fn assignment_not_found(name: &str) -> ArmFailure {
    ArmFailure::new(
        StatusCode::NOT_FOUND,
        "RoleAssignmentNotFound",
        format!("The role assignment '{name}' is not found."),
    )
}

fn assignment_id(name: &str) -> Result<Uuid, ArmFailure> {
    Uuid::parse_str(name).map_err(|_| {
        ArmFailure::bad_request(
            "InvalidRoleAssignmentId",
            format!("The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."),
        )
    })
}

/// The assignment named `name` at exactly `scope`.
async fn find_assignment(
    state: &AppState,
    ctx: &Ctx,
    scope: &ResourceId,
    name: &str,
) -> Result<Option<RoleAssignment>, ArmFailure> {
    let id = assignment_id(name)?;
    let tenant = ctx.tenant();
    let found = state
        .store
        .read(move |tx| arm::role_assignment_by_id(tx, tenant, id))
        .await?;
    Ok(found.filter(|a| a.scope.eq_ignore_ascii_case(&scope.to_string())))
}

pub(super) async fn get_assignment(
    state: &AppState,
    ctx: &Ctx,
    scope: Option<&ResourceId>,
    name: &str,
) -> Result<Response, ArmFailure> {
    let scope = require_scope(scope)?;
    ctx.subscription(scope.subscription())?;
    ctx.require(scope, ASSIGNMENTS_READ)?;
    let found = find_assignment(state, ctx, scope, name)
        .await?
        .ok_or_else(|| assignment_not_found(name))?;
    Ok(json(StatusCode::OK, assignment_json(&found)))
}

pub(super) async fn delete_assignment(
    state: &AppState,
    ctx: &Ctx,
    scope: Option<&ResourceId>,
    name: &str,
) -> Result<Response, ArmFailure> {
    let scope = require_scope(scope)?;
    ctx.subscription(scope.subscription())?;
    assignment_id(name)?;
    ctx.require(scope, ASSIGNMENTS_DELETE)?;
    let Some(found) = find_assignment(state, ctx, scope, name).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let (tenant, id) = (ctx.tenant(), found.id);
    state
        .store
        .write(move |tx| arm::delete_role_assignment(tx, tenant, id))
        .await?;
    tracing::info!(assignment = %found.resource_id(), "deleted a role assignment");
    Ok(json(StatusCode::OK, assignment_json(&found)))
}

/// The built-in role a role assignment's `roleDefinitionId` names. Azure takes
/// the role's ID under the assignment's own subscription
/// (`/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}`)
/// or at the tenant root (`/providers/Microsoft.Authorization/roleDefinitions/{guid}`),
/// any case, and nothing else: not a bare GUID, not another subscription's ID.
fn role_definition_from(
    value: &str,
    subscription: Uuid,
) -> Result<&'static RoleDefinition, ArmFailure> {
    let invalid = || {
        ArmFailure::bad_request(
            "InvalidRoleDefinitionId",
            format!("The role definition ID '{value}' is not valid."),
        )
    };
    let definitions = |p: &str, namespace: &str, collection: &str| {
        p.eq_ignore_ascii_case("providers")
            && namespace.eq_ignore_ascii_case("Microsoft.Authorization")
            && collection.eq_ignore_ascii_case("roleDefinitions")
    };
    let trimmed = value.strip_suffix('/').unwrap_or(value);
    let segments: Vec<&str> = trimmed.split('/').collect();
    let guid = match segments.as_slice() {
        ["", s, sub, p, ns, c, guid]
            if s.eq_ignore_ascii_case("subscriptions")
                && Uuid::parse_str(sub).ok() == Some(subscription)
                && definitions(p, ns, c) =>
        {
            guid
        }
        ["", p, ns, c, guid] if definitions(p, ns, c) => guid,
        _ => return Err(invalid()),
    };
    let id = Uuid::parse_str(guid).map_err(|_| invalid())?;
    roles::by_id(id).ok_or_else(|| {
        ArmFailure::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{guid}' does not exist."),
        )
    })
}

fn principal_type_of(kind: MemberKind) -> PrincipalType {
    match kind {
        MemberKind::User => PrincipalType::User,
        MemberKind::Group => PrincipalType::Group,
        MemberKind::ServicePrincipal => PrincipalType::ServicePrincipal,
    }
}

/// Creates a role assignment named `name` (a GUID) at `scope`.
pub(super) async fn put_assignment(
    state: &AppState,
    ctx: &Ctx,
    scope: Option<&ResourceId>,
    name: &str,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    let scope = require_scope(scope)?.clone();
    ctx.subscription(scope.subscription())?;
    let id = assignment_id(name)?;
    require_exists(state, ctx, &scope).await?;
    ctx.require(&scope, ASSIGNMENTS_WRITE)?;

    let empty = Map::new();
    let properties = match body.get("properties") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(ArmFailure::invalid_content(
                "'properties' must be an object",
            ));
        }
        None => &empty,
    };
    let text = |field: &str| -> Result<&str, ArmFailure> {
        match properties.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
            _ => Err(ArmFailure::invalid_content(format!(
                "'properties.{field}' is required and must be a string"
            ))),
        }
    };
    let role = role_definition_from(text("roleDefinitionId")?, scope.subscription())?;
    let principal_text = text("principalId")?;
    let principal: ObjectId = principal_text.parse().map_err(|_| {
        ArmFailure::bad_request(
            "InvalidPrincipalId",
            format!("The principal ID '{principal_text}' is not a valid GUID."),
        )
    })?;
    let declared = match properties.get("principalType") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(PrincipalType::parse(t).ok_or_else(|| {
            ArmFailure::bad_request(
                "InvalidPrincipalType",
                format!("The principal type '{t}' is not one of User, Group, ServicePrincipal."),
            )
        })?),
        Some(_) => {
            return Err(ArmFailure::invalid_content(
                "'properties.principalType' must be a string",
            ));
        }
    };
    let description = properties
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);

    let tenant = ctx.tenant();
    let now = OffsetDateTime::now_utc();
    let assignment = RoleAssignment {
        id,
        tenant_id: tenant,
        scope: scope.to_string(),
        role_definition_id: role.id,
        principal_id: principal,
        principal_type: declared.unwrap_or(PrincipalType::User),
        description,
        created_by: Some(ctx.caller()),
        created_at: now,
        updated_at: now,
    };
    enum Outcome {
        Created(RoleAssignment),
        Same(RoleAssignment),
        NoPrincipal,
        TypeMismatch(PrincipalType),
        UpdateNotPermitted,
        Exists,
    }
    let outcome = state
        .store
        .write(move |tx| {
            let Some(kind) = groups::object_kind(tx, tenant, principal)? else {
                return Ok(Outcome::NoPrincipal);
            };
            let actual = principal_type_of(kind);
            if declared.is_some_and(|d| d != actual) {
                return Ok(Outcome::TypeMismatch(actual));
            }
            let mut assignment = assignment;
            assignment.principal_type = actual;
            if let Some(existing) = arm::role_assignment_by_id(tx, tenant, assignment.id)? {
                let same = existing.scope.eq_ignore_ascii_case(&assignment.scope)
                    && existing.role_definition_id == assignment.role_definition_id
                    && existing.principal_id == assignment.principal_id;
                return Ok(if same {
                    Outcome::Same(existing)
                } else {
                    Outcome::UpdateNotPermitted
                });
            }
            if arm::role_assignment_at(
                tx,
                &assignment.scope,
                assignment.role_definition_id,
                principal,
            )?
            .is_some()
            {
                return Ok(Outcome::Exists);
            }
            arm::insert_role_assignment(tx, &assignment)?;
            Ok::<_, StoreError>(Outcome::Created(assignment))
        })
        .await;
    match outcome {
        Ok(Outcome::Created(a)) => {
            tracing::info!(assignment = %a.resource_id(), role = role.name, "created a role assignment");
            Ok(json(StatusCode::CREATED, assignment_json(&a)))
        }
        Ok(Outcome::Same(a)) => Ok(json(StatusCode::OK, assignment_json(&a))),
        Ok(Outcome::NoPrincipal) => Err(ArmFailure::bad_request(
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID.",
                principal.0.simple()
            ),
        )),
        Ok(Outcome::TypeMismatch(actual)) => Err(ArmFailure::bad_request(
            "UnmatchedPrincipalType",
            format!(
                "The PrincipalId '{}' has type '{}' , which is different from specified PrincipalType '{}'.",
                principal.0.simple(),
                actual.as_str(),
                declared.map(PrincipalType::as_str).unwrap_or_default()
            ),
        )),
        Ok(Outcome::UpdateNotPermitted) => Err(ArmFailure::conflict(
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        )),
        Ok(Outcome::Exists) | Err(StoreError::Conflict(_)) => Err(ArmFailure::conflict(
            "RoleAssignmentExists",
            "The role assignment already exists.",
        )),
        Err(e) => Err(e.into()),
    }
}
