//! Subscriptions (read only: each tenant has its default one) and resource groups.

use axum::http::StatusCode;
use axum::response::Response;
use hale_arm::{ResourceGroup, ResourceId, Subscription, validate_resource_group_name};
use hale_store::{StoreError, arm};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ArmFailure, Ctx, deleted, json, list, location_of, same_location, tags_of};
use crate::http::AppState;

const READ: &str = "Microsoft.Resources/subscriptions/resourceGroups/read";
const WRITE: &str = "Microsoft.Resources/subscriptions/resourceGroups/write";
const DELETE: &str = "Microsoft.Resources/subscriptions/resourceGroups/delete";

fn subscription_json(s: &Subscription) -> Value {
    json!({
        "id": s.resource_id(),
        "subscriptionId": s.id,
        "tenantId": s.tenant_id.to_string(),
        "displayName": s.display_name,
        "state": s.state,
        "authorizationSource": "RoleBased",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "Hale",
            "spendingLimit": "Off"
        }
    })
}

pub(super) fn group_json(g: &ResourceGroup) -> Value {
    json!({
        "id": g.resource_id(),
        "name": g.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": g.location,
        "tags": g.tags,
        "properties": { "provisioningState": "Succeeded" },
    })
}

/// The subscriptions the caller holds a role in (at, above or below them).
pub(super) fn list_subscriptions(_state: &AppState, ctx: &Ctx) -> Result<Response, ArmFailure> {
    let visible = ctx
        .subscriptions
        .iter()
        .filter(|s| ctx.has_any_role_within(&ResourceId::Subscription { subscription: s.id }))
        .map(subscription_json)
        .collect();
    Ok(list(visible))
}

pub(super) fn get_subscription(
    _state: &AppState,
    ctx: &Ctx,
    id: Uuid,
) -> Result<Response, ArmFailure> {
    let s = ctx.subscription(id)?;
    if !ctx.has_any_role_within(&ResourceId::Subscription { subscription: id }) {
        return Err(ArmFailure::subscription_not_found(&id.to_string()));
    }
    Ok(json(StatusCode::OK, subscription_json(s)))
}

/// The resource groups the caller may read.
pub(super) async fn list_groups(
    state: &AppState,
    ctx: &Ctx,
    subscription: Uuid,
) -> Result<Response, ArmFailure> {
    ctx.subscription(subscription)?;
    let groups = state
        .store
        .read(move |tx| arm::resource_groups(tx, subscription))
        .await?;
    let visible = groups
        .iter()
        .filter(|g| {
            ctx.may(
                &ResourceId::ResourceGroup {
                    subscription,
                    group: g.name.clone(),
                },
                READ,
            )
        })
        .map(group_json)
        .collect();
    Ok(list(visible))
}

/// Reads a resource group the caller may see, in its subscription.
pub(super) async fn find_group(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<ResourceGroup, ArmFailure> {
    let subscription = id.subscription();
    ctx.subscription(subscription)?;
    let name = id.resource_group().unwrap_or_default().to_owned();
    let wanted = name.clone();
    state
        .store
        .read(move |tx| arm::resource_group_by_name(tx, subscription, &wanted))
        .await?
        .ok_or_else(|| ArmFailure::resource_group_not_found(&name))
}

pub(super) async fn get_group(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    ctx.require(id, READ)?;
    let g = find_group(state, ctx, id).await?;
    Ok(json(StatusCode::OK, group_json(&g)))
}

pub(super) async fn put_group(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    let subscription = id.subscription();
    ctx.subscription(subscription)?;
    let name = id.resource_group().unwrap_or_default().to_owned();
    validate_resource_group_name(&name)
        .map_err(|e| ArmFailure::bad_request("InvalidResourceGroupName", e.to_string()))?;
    ctx.require(id, WRITE)?;
    let location = location_of(&body)?;
    let requested = location.clone();
    let tags = tags_of(&body)?.unwrap_or_default();
    let group = ResourceGroup {
        subscription_id: subscription,
        name,
        location,
        tags,
        created_at: OffsetDateTime::now_utc(),
    };
    let result = state
        .store
        .write(
            move |tx| match arm::resource_group_by_name(tx, subscription, &group.name)? {
                Some(existing) if !same_location(&existing.location, &group.location) => {
                    Ok(Err(existing))
                }
                Some(mut existing) => {
                    existing.tags = group.tags;
                    arm::update_resource_group_tags(tx, &existing)?;
                    Ok(Ok((StatusCode::OK, existing)))
                }
                None => {
                    arm::insert_resource_group(tx, &group)?;
                    Ok::<_, StoreError>(Ok((StatusCode::CREATED, group)))
                }
            },
        )
        .await?;
    match result {
        Ok((status, g)) => Ok(json(status, group_json(&g))),
        Err(existing) => Err(ArmFailure::conflict(
            "InvalidResourceGroupLocation",
            format!(
                "Invalid resource group location '{}'. The Resource group already exists in location '{}'.",
                requested, existing.location
            ),
        )),
    }
}

pub(super) async fn patch_group(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    ctx.require(id, WRITE)?;
    let mut g = find_group(state, ctx, id).await?;
    if let Some(tags) = tags_of(&body)? {
        g.tags = tags;
        let updated = g.clone();
        state
            .store
            .write(move |tx| arm::update_resource_group_tags(tx, &updated))
            .await?;
    }
    Ok(json(StatusCode::OK, group_json(&g)))
}

/// Deletes a resource group and everything in it (workspaces, services,
/// role assignments), as ARM does.
pub(super) async fn delete_group(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    ctx.require(id, DELETE)?;
    let g = find_group(state, ctx, id).await?;
    let existed = state
        .store
        .write(move |tx| arm::delete_resource_group(tx, &g))
        .await?;
    Ok(deleted(existed))
}
