//! `Microsoft.HealthcareApis/workspaces` and their `fhirservices` and
//! `dicomservices`. Deploying a FHIR (DICOM) service makes the "Azure
//! Healthcare APIs" ("Azure API for DICOM") first-party application present in
//! the tenant, as Entra does, so that tokens can be issued for it.

use axum::http::StatusCode;
use axum::response::Response;
use hale_arm::{
    CorsConfiguration, DICOM_AUDIENCE, FHIR_R4, HealthService, ResourceId, ServiceKind,
    SmartApplication, SmartIdentityProvider, Workspace, smart_identity_providers_problem,
    validate_service_name, validate_workspace_name,
};
use hale_directory::first_party;
use hale_store::{StoreError, health, principals};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::groups::find_group;
use super::{ArmFailure, Ctx, deleted, json, list, location_of, rfc3339, same_location, tags_of};
use crate::http::AppState;

const WS_READ: &str = "Microsoft.HealthcareApis/workspaces/read";
const WS_WRITE: &str = "Microsoft.HealthcareApis/workspaces/write";
const WS_DELETE: &str = "Microsoft.HealthcareApis/workspaces/delete";

/// `Microsoft.HealthcareApis/workspaces/{fhirservices|dicomservices}/{verb}`.
fn service_action(kind: ServiceKind, verb: &str) -> String {
    format!("{}/{verb}", kind.resource_type())
}

fn system_data(created: OffsetDateTime, modified: OffsetDateTime) -> Value {
    json!({ "createdAt": rfc3339(created), "lastModifiedAt": rfc3339(modified) })
}

fn workspace_json(w: &Workspace) -> Value {
    json!({
        "id": w.resource_id().to_string(),
        "name": w.name,
        "type": "Microsoft.HealthcareApis/workspaces",
        "location": w.location,
        "tags": w.tags,
        "properties": {
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
        },
        "systemData": system_data(w.created_at, w.updated_at),
    })
}

fn service_json(state: &AppState, s: &HealthService) -> Value {
    let url = s.service_url(state.public_url.as_str());
    let authority = format!("{}{}", state.public_url, s.tenant_id);
    let properties = match s.kind {
        ServiceKind::Fhir => json!({
            "provisioningState": "Succeeded",
            "authenticationConfiguration": {
                "authority": authority,
                "audience": url,
                "smartProxyEnabled": false,
                "smartIdentityProviders": s.smart_identity_providers,
            },
            "publicNetworkAccess": "Enabled",
        }),
        ServiceKind::Dicom => json!({
            "provisioningState": "Succeeded",
            "authenticationConfiguration": {
                "authority": authority,
                "audiences": [DICOM_AUDIENCE],
            },
            "serviceUrl": url,
            "publicNetworkAccess": "Enabled",
        }),
    };
    let mut properties = properties;
    if let Some(cors) = &s.cors {
        properties["corsConfiguration"] = json!({
            "origins": cors.origins,
            "headers": cors.headers,
            "methods": cors.methods,
            "maxAge": cors.max_age,
            "allowCredentials": cors.allow_credentials,
        });
    }
    let mut out = json!({
        "id": s.resource_id().to_string(),
        "name": s.name,
        "type": s.kind.resource_type(),
        "location": s.location,
        "tags": s.tags,
        "identity": { "type": "None" },
        "properties": properties,
        "systemData": system_data(s.created_at, s.updated_at),
    });
    if let Some(kind) = &s.resource_kind {
        out["kind"] = json!(kind);
    }
    out
}

/// `properties.authenticationConfiguration.smartIdentityProviders` of a FHIR
/// service's body: `None` when absent, an empty list when null or empty,
/// 400 `BadRequest` with Azure's messages when Azure would refuse it.
fn smart_providers_of(
    kind: ServiceKind,
    body: &Map<String, Value>,
) -> Result<Option<Vec<SmartIdentityProvider>>, ArmFailure> {
    let Some(value) = body
        .get("properties")
        .and_then(|p| p.get("authenticationConfiguration"))
        .and_then(|a| a.get("smartIdentityProviders"))
    else {
        return Ok(None);
    };
    let bad = |why: String| ArmFailure::bad_request("BadRequest", why);
    if value.is_null() {
        return Ok(Some(Vec::new()));
    }
    if kind == ServiceKind::Dicom {
        return Err(bad(
            "smartIdentityProviders is a setting of FHIR services only.".into(),
        ));
    }
    let Some(items) = value.as_array() else {
        return Err(bad("smartIdentityProviders must be an array.".into()));
    };
    // Wrong JSON types read as empty values, which the checks below refuse
    // with Azure's own messages ("null, empty, or invalid").
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let providers: Vec<SmartIdentityProvider> = items
        .iter()
        .take(hale_arm::MAX_SMART_IDENTITY_PROVIDERS + 1)
        .map(|p| SmartIdentityProvider {
            authority: text(p, "authority"),
            applications: p
                .get("applications")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(16)
                .map(|a| SmartApplication {
                    client_id: text(a, "clientId"),
                    audience: text(a, "audience"),
                    allowed_data_actions: a
                        .get("allowedDataActions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .take(16)
                        .map(|x| x.as_str().unwrap_or_default().to_owned())
                        .collect(),
                })
                .collect(),
        })
        .collect();
    if items.len() > hale_arm::MAX_SMART_IDENTITY_PROVIDERS {
        return Err(bad(
            "The maximum number of SMART identity providers is 2.".into()
        ));
    }
    match smart_identity_providers_problem(&providers) {
        Some(problem) => Err(bad(problem)),
        None => Ok(Some(providers)),
    }
}

/// `properties.corsConfiguration` of a service's body: `None` when absent,
/// `Some(None)` when null (no CORS), 400 `InvalidRequestContent` when it is
/// not what Azure takes.
fn cors_of(body: &Map<String, Value>) -> Result<Option<Option<CorsConfiguration>>, ArmFailure> {
    let Some(value) = body
        .get("properties")
        .and_then(|p| p.get("corsConfiguration"))
    else {
        return Ok(None);
    };
    if value.is_null() {
        return Ok(Some(None));
    }
    let bad = |why: String| ArmFailure::bad_request("InvalidRequestContent", why);
    let Some(o) = value.as_object() else {
        return Err(bad(
            "The corsConfiguration property must be an object.".into()
        ));
    };
    let list = |k: &str| -> Result<Vec<String>, ArmFailure> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= 64 => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .filter(|t| !t.is_empty() && t.len() <= 256)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            bad(format!(
                                "corsConfiguration.{k} must hold non-empty strings of at most 256 characters."
                            ))
                        })
                })
                .collect(),
            Some(_) => Err(bad(format!(
                "corsConfiguration.{k} must be an array of at most 64 strings."
            ))),
        }
    };
    let max_age = match o.get("maxAge") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|a| u32::try_from(a).ok())
                .ok_or_else(|| {
                    bad("corsConfiguration.maxAge must be a whole number of seconds.".into())
                })?,
        ),
    };
    let allow_credentials = match o.get("allowCredentials") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(bad(
                "corsConfiguration.allowCredentials must be true or false.".into(),
            ));
        }
    };
    let cors = CorsConfiguration {
        origins: list("origins")?,
        headers: list("headers")?,
        methods: list("methods")?,
        max_age,
        allow_credentials,
    };
    if let Some(problem) = cors.problem() {
        return Err(bad(problem));
    }
    Ok(Some((!cors.origins.is_empty()).then_some(cors)))
}

fn workspace_not_found(id: &ResourceId) -> ArmFailure {
    let (group, name) = match id {
        ResourceId::Workspace {
            group, workspace, ..
        }
        | ResourceId::Service {
            group, workspace, ..
        } => (group.as_str(), workspace.as_str()),
        _ => ("", ""),
    };
    ArmFailure::resource_not_found(
        &format!("Microsoft.HealthcareApis/workspaces/{name}"),
        group,
    )
}

fn service_not_found(id: &ResourceId) -> ArmFailure {
    match id {
        ResourceId::Service {
            group,
            workspace,
            kind,
            name,
            ..
        } => ArmFailure::resource_not_found(
            &format!("{}/{workspace}/{name}", kind.resource_type()),
            group,
        ),
        other => workspace_not_found(other),
    }
}

fn workspace_name(id: &ResourceId) -> &str {
    match id {
        ResourceId::Workspace { workspace, .. } | ResourceId::Service { workspace, .. } => {
            workspace
        }
        _ => "",
    }
}

/// The workspace `id` names, in its resource group (which must exist).
async fn find_workspace(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Workspace, ArmFailure> {
    let group = find_group(state, ctx, id).await?;
    let name = workspace_name(id).to_owned();
    let found = state
        .store
        .read(move |tx| health::workspace_by_name(tx, &name))
        .await?;
    found
        .filter(|w| w.subscription_id == group.subscription_id && w.resource_group == group.name)
        .ok_or_else(|| workspace_not_found(id))
}

pub(super) async fn list_workspaces(
    state: &AppState,
    ctx: &Ctx,
    subscription: Uuid,
    group: Option<String>,
) -> Result<Response, ArmFailure> {
    ctx.subscription(subscription)?;
    let stored_group = match &group {
        Some(name) => {
            let id = ResourceId::ResourceGroup {
                subscription,
                group: name.clone(),
            };
            Some(find_group(state, ctx, &id).await?.name)
        }
        None => None,
    };
    let found = state
        .store
        .read(move |tx| health::workspaces(tx, subscription, stored_group.as_deref()))
        .await?;
    Ok(list(
        found
            .iter()
            .filter(|w| ctx.may(&w.resource_id(), WS_READ))
            .map(workspace_json)
            .collect(),
    ))
}

pub(super) async fn get_workspace(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    ctx.require(id, WS_READ)?;
    let w = find_workspace(state, ctx, id).await?;
    Ok(json(StatusCode::OK, workspace_json(&w)))
}

pub(super) async fn put_workspace(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    let name = workspace_name(id).to_owned();
    validate_workspace_name(&name).map_err(|_| {
        ArmFailure::bad_request(
            "InvalidResourceName",
            format!("The workspace name '{name}' is invalid: it must be 3-24 lowercase letters and digits."),
        )
    })?;
    ctx.require(id, WS_WRITE)?;
    let group = find_group(state, ctx, id).await?;
    let location = location_of(&body)?;
    let tags = tags_of(&body)?.unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let workspace = Workspace {
        id: Uuid::new_v4(),
        tenant_id: ctx.tenant(),
        subscription_id: group.subscription_id,
        resource_group: group.name.clone(),
        name,
        location,
        tags,
        created_at: now,
        updated_at: now,
    };
    enum Outcome {
        Done(StatusCode, Workspace),
        Elsewhere,
        OtherLocation(String),
    }
    let outcome = state
        .store
        .write(
            move |tx| match health::workspace_by_name(tx, &workspace.name)? {
                Some(existing)
                    if existing.subscription_id != workspace.subscription_id
                        || existing.resource_group != workspace.resource_group =>
                {
                    Ok(Outcome::Elsewhere)
                }
                Some(existing) if !same_location(&existing.location, &workspace.location) => {
                    Ok(Outcome::OtherLocation(existing.location))
                }
                Some(mut existing) => {
                    existing.tags = workspace.tags;
                    existing.updated_at = workspace.updated_at;
                    health::update_workspace(tx, &existing)?;
                    Ok(Outcome::Done(StatusCode::OK, existing))
                }
                None => {
                    health::insert_workspace(tx, &workspace)?;
                    Ok::<_, StoreError>(Outcome::Done(StatusCode::CREATED, workspace))
                }
            },
        )
        .await;
    let name = workspace_name(id);
    match outcome {
        Ok(Outcome::Done(status, w)) => Ok(json(status, workspace_json(&w))),
        Ok(Outcome::Elsewhere) | Err(StoreError::Conflict(_)) => Err(ArmFailure::conflict(
            "Conflict",
            format!(
                "The workspace name '{name}' is already in use. Workspace names are unique across the whole server, because every FHIR and DICOM service URL carries them."
            ),
        )),
        Ok(Outcome::OtherLocation(existing)) => Err(ArmFailure::conflict(
            "InvalidResourceLocation",
            format!(
                "The resource '{name}' already exists in location '{existing}' in resource group '{}'. A resource with the same name cannot be created in location '{}'. Please select a new resource name.",
                group.name,
                body_location(&body)
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

fn body_location(body: &Map<String, Value>) -> &str {
    body.get("location")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(super) async fn patch_workspace(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    ctx.require(id, WS_WRITE)?;
    let mut w = find_workspace(state, ctx, id).await?;
    if let Some(tags) = tags_of(&body)? {
        w.tags = tags;
        w.updated_at = OffsetDateTime::now_utc();
        let updated = w.clone();
        state
            .store
            .write(move |tx| health::update_workspace(tx, &updated))
            .await?;
    }
    Ok(json(StatusCode::OK, workspace_json(&w)))
}

/// Deletes an empty workspace (ARM refuses while services remain) with the
/// role assignments made on it.
pub(super) async fn delete_workspace(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    ctx.require(id, WS_DELETE)?;
    let w = match find_workspace(state, ctx, id).await {
        Ok(w) => w,
        Err(e) if e.code == "ResourceNotFound" => return Ok(deleted(false)),
        Err(e) => return Err(e),
    };
    let name = w.name.clone();
    let result = state
        .store
        .write(move |tx| {
            let services = health::service_count(tx, w.id)?;
            if services > 0 {
                return Ok(Err(services));
            }
            Ok::<_, StoreError>(Ok(health::delete_workspace(tx, &w)?))
        })
        .await?;
    match result {
        Ok(existed) => Ok(deleted(existed)),
        Err(n) => Err(ArmFailure::conflict(
            "Conflict",
            format!(
                "The workspace '{name}' still holds {n} FHIR or DICOM service(s); delete them first."
            ),
        )),
    }
}

/// The workspace of a service or of a listing of services: a missing one is
/// ARM's missing parent.
async fn find_parent_workspace(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Workspace, ArmFailure> {
    find_workspace(state, ctx, id).await.map_err(|e| {
        if e.code == "ResourceNotFound" {
            ArmFailure::parent_resource_not_found(workspace_name(id))
        } else {
            e
        }
    })
}

/// The service `id` names, in its workspace (which must exist).
async fn find_service(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<(Workspace, Option<HealthService>), ArmFailure> {
    let workspace = find_parent_workspace(state, ctx, id).await?;
    let ResourceId::Service { kind, name, .. } = id else {
        return Err(service_not_found(id));
    };
    let (kind, name, ws) = (*kind, name.clone(), workspace.name.clone());
    let service = state
        .store
        .read(move |tx| health::service_by_path(tx, kind, &ws, &name))
        .await?;
    Ok((workspace, service))
}

pub(super) async fn list_services(
    state: &AppState,
    ctx: &Ctx,
    workspace: &ResourceId,
    kind: ServiceKind,
) -> Result<Response, ArmFailure> {
    ctx.subscription(workspace.subscription())?;
    let w = find_parent_workspace(state, ctx, workspace).await?;
    let found = state
        .store
        .read(move |tx| health::services(tx, w.id, kind))
        .await?;
    let read = service_action(kind, "read");
    Ok(list(
        found
            .iter()
            .filter(|s| ctx.may(&s.resource_id(), &read))
            .map(|s| service_json(state, s))
            .collect(),
    ))
}

pub(super) async fn get_service(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    let ResourceId::Service { kind, .. } = id else {
        return Err(service_not_found(id));
    };
    ctx.require(id, &service_action(*kind, "read"))?;
    let (_, service) = find_service(state, ctx, id).await?;
    let service = service.ok_or_else(|| service_not_found(id))?;
    Ok(json(StatusCode::OK, service_json(state, &service)))
}

pub(super) async fn put_service(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    let ResourceId::Service { kind, name, .. } = id else {
        return Err(service_not_found(id));
    };
    let kind = *kind;
    validate_service_name(name).map_err(|_| {
        ArmFailure::bad_request(
            "InvalidResourceName",
            format!(
                "The service name '{name}' is invalid: it must be 3-24 letters, digits and hyphens, starting and ending with a letter or digit."
            ),
        )
    })?;
    ctx.require(id, &service_action(kind, "write"))?;
    let (workspace, _) = find_service(state, ctx, id).await?;
    let resource_kind = match kind {
        ServiceKind::Fhir => match body.get("kind").and_then(Value::as_str) {
            None => Some(FHIR_R4.to_owned()),
            Some(k) if k.eq_ignore_ascii_case(FHIR_R4) => Some(FHIR_R4.to_owned()),
            Some(other) => {
                return Err(ArmFailure::bad_request(
                    "InvalidKind",
                    format!(
                        "The FHIR service kind '{other}' is not supported; Hale's FHIR services are '{FHIR_R4}'."
                    ),
                ));
            }
        },
        ServiceKind::Dicom => None,
    };
    let location = location_of(&body)?;
    let requested_location = location.clone();
    let tags = tags_of(&body)?.unwrap_or_default();
    let cors = cors_of(&body)?.flatten();
    let smart_identity_providers = smart_providers_of(kind, &body)?.unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let service = HealthService {
        id: Uuid::new_v4(),
        kind,
        tenant_id: workspace.tenant_id,
        subscription_id: workspace.subscription_id,
        resource_group: workspace.resource_group.clone(),
        workspace_id: workspace.id,
        workspace: workspace.name.clone(),
        name: name.clone(),
        resource_kind,
        location,
        tags,
        cors,
        smart_identity_providers,
        created_at: now,
        updated_at: now,
    };
    enum Outcome {
        Done(StatusCode, Box<HealthService>),
        OtherLocation(String),
    }
    let app = match kind {
        ServiceKind::Fhir => first_party::AZURE_HEALTHCARE_APIS,
        ServiceKind::Dicom => first_party::AZURE_API_FOR_DICOM,
    };
    let outcome = state
        .store
        .write(move |tx| {
            let existing = health::service_by_path(tx, kind, &service.workspace, &service.name)?;
            match existing {
                Some(e) if !same_location(&e.location, &service.location) => {
                    Ok(Outcome::OtherLocation(e.location))
                }
                Some(mut e) => {
                    // PUT replaces: the body's tags, CORS settings and
                    // identity providers.
                    e.tags = service.tags;
                    e.cors = service.cors;
                    e.smart_identity_providers = service.smart_identity_providers;
                    e.updated_at = service.updated_at;
                    health::update_service(tx, &e)?;
                    Ok(Outcome::Done(StatusCode::OK, Box::new(e)))
                }
                None => {
                    // The resource application appears in the tenant with
                    // its first service, as "APIs my organization uses".
                    if principals::by_app_id(tx, service.tenant_id, app.app_id)?.is_none() {
                        principals::insert(tx, &app.service_principal(service.tenant_id, now))?;
                    }
                    health::insert_service(tx, &service)?;
                    Ok::<_, StoreError>(Outcome::Done(StatusCode::CREATED, Box::new(service)))
                }
            }
        })
        .await;
    match outcome {
        Ok(Outcome::Done(status, s)) => {
            if status == StatusCode::CREATED {
                tracing::info!(service = %s.resource_id(), "created a health service");
            }
            Ok(json(status, service_json(state, &s)))
        }
        Ok(Outcome::OtherLocation(existing)) => Err(ArmFailure::conflict(
            "InvalidResourceLocation",
            format!(
                "The resource '{name}' already exists in location '{existing}'. A resource with the same name cannot be created in location '{requested_location}'. Please select a new resource name."
            ),
        )),
        Err(StoreError::Conflict(_)) => Err(ArmFailure::conflict(
            "Conflict",
            format!(
                "Another request is creating the service '{name}' at the same time; try again."
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn patch_service(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
    body: Map<String, Value>,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    let ResourceId::Service { kind, .. } = id else {
        return Err(service_not_found(id));
    };
    ctx.require(id, &service_action(*kind, "write"))?;
    let (_, service) = find_service(state, ctx, id).await?;
    let mut s = service.ok_or_else(|| service_not_found(id))?;
    let tags = tags_of(&body)?;
    let cors = cors_of(&body)?;
    let smart = smart_providers_of(*kind, &body)?;
    if tags.is_some() || cors.is_some() || smart.is_some() {
        if let Some(tags) = tags {
            s.tags = tags;
        }
        if let Some(smart) = smart {
            s.smart_identity_providers = smart;
        }
        if let Some(cors) = cors {
            s.cors = cors;
        }
        s.updated_at = OffsetDateTime::now_utc();
        let updated = s.clone();
        state
            .store
            .write(move |tx| health::update_service(tx, &updated))
            .await?;
    }
    Ok(json(StatusCode::OK, service_json(state, &s)))
}

/// Deletes a service: its data plane stops answering at once, and the role
/// assignments made on it go with it.
pub(super) async fn delete_service(
    state: &AppState,
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Response, ArmFailure> {
    ctx.subscription(id.subscription())?;
    let ResourceId::Service { kind, .. } = id else {
        return Err(service_not_found(id));
    };
    ctx.require(id, &service_action(*kind, "delete"))?;
    let service = match find_service(state, ctx, id).await {
        Ok((_, service)) => service,
        Err(e) if e.code == "ParentResourceNotFound" => None,
        Err(e) => return Err(e),
    };
    let Some(service) = service else {
        return Ok(deleted(false));
    };
    let existed = state
        .store
        .write(move |tx| health::delete_service(tx, &service))
        .await?;
    Ok(deleted(existed))
}

/// Checks that the resource at `scope` exists (for role assignments made on it).
pub(super) async fn require_exists(
    state: &AppState,
    ctx: &Ctx,
    scope: &ResourceId,
) -> Result<(), ArmFailure> {
    match scope {
        ResourceId::Subscription { subscription } => ctx.subscription(*subscription).map(drop),
        ResourceId::ResourceGroup { .. } => find_group(state, ctx, scope).await.map(drop),
        ResourceId::Workspace { .. } => find_workspace(state, ctx, scope).await.map(drop),
        ResourceId::Service { .. } => match find_service(state, ctx, scope).await? {
            (_, Some(_)) => Ok(()),
            (_, None) => Err(service_not_found(scope)),
        },
    }
}
