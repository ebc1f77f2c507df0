//! Health workspaces and their FHIR and DICOM services.

use hale_arm::{CorsConfiguration, HealthService, ServiceKind, SmartIdentityProvider, Workspace};
use hale_directory::TenantId;
use serde_json::{Value as Json, json};

use crate::arm::{delete_role_assignments_within, tags_from, tags_json};
use crate::{Row, StoreError, Tx, params};

const WORKSPACE_COLUMNS: &str =
    "id, tenant_id, subscription_id, resource_group, name, location, tags, created_at, updated_at";

fn workspace(row: &Row) -> Result<Workspace, StoreError> {
    let tags: String = row.get(6)?;
    Ok(Workspace {
        id: row.get(0)?,
        tenant_id: TenantId(row.get(1)?),
        subscription_id: row.get(2)?,
        resource_group: row.get(3)?,
        name: row.get(4)?,
        location: row.get(5)?,
        tags: tags_from(&tags)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

/// Adds a workspace. Its name must be unused in the whole installation.
pub fn insert_workspace(tx: &mut dyn Tx, w: &Workspace) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO health_workspaces ({WORKSPACE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        params![
            w.id,
            w.tenant_id.0,
            w.subscription_id,
            &w.resource_group,
            &w.name,
            &w.location,
            tags_json(&w.tags)?,
            w.created_at,
            w.updated_at
        ],
    )
    .map(drop)
}

/// Replaces a workspace's tags. Returns whether it exists.
pub fn update_workspace(tx: &mut dyn Tx, w: &Workspace) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE health_workspaces SET tags = $1, updated_at = $2 WHERE id = $3",
        params![tags_json(&w.tags)?, w.updated_at, w.id],
    )? > 0)
}

/// The workspace named `name` anywhere in the installation (names are unique).
pub fn workspace_by_name(tx: &mut dyn Tx, name: &str) -> Result<Option<Workspace>, StoreError> {
    tx.query_opt(
        &format!("SELECT {WORKSPACE_COLUMNS} FROM health_workspaces WHERE name = $1"),
        params![name.to_ascii_lowercase()],
    )?
    .as_ref()
    .map(workspace)
    .transpose()
}

/// The workspaces of a subscription, or of one of its resource groups (the
/// group's name as stored), by name.
pub fn workspaces(
    tx: &mut dyn Tx,
    subscription: uuid::Uuid,
    group: Option<&str>,
) -> Result<Vec<Workspace>, StoreError> {
    let rows = match group {
        Some(group) => tx.query(
            &format!("SELECT {WORKSPACE_COLUMNS} FROM health_workspaces WHERE subscription_id = $1 AND resource_group = $2 ORDER BY name"),
            params![subscription, group],
        )?,
        None => tx.query(
            &format!("SELECT {WORKSPACE_COLUMNS} FROM health_workspaces WHERE subscription_id = $1 ORDER BY name"),
            params![subscription],
        )?,
    };
    rows.iter().map(workspace).collect()
}

/// How many services a workspace holds.
pub fn service_count(tx: &mut dyn Tx, workspace: uuid::Uuid) -> Result<i64, StoreError> {
    tx.query(
        "SELECT count(*) FROM health_services WHERE workspace_id = $1",
        params![workspace],
    )?[0]
        .get(0)
}

/// Removes an empty workspace and every role assignment at or below it.
/// Returns whether it existed.
pub fn delete_workspace(tx: &mut dyn Tx, w: &Workspace) -> Result<bool, StoreError> {
    delete_role_assignments_within(tx, &w.resource_id().key())?;
    Ok(tx.execute("DELETE FROM health_workspaces WHERE id = $1", params![w.id])? > 0)
}

const SERVICE_SELECT: &str =
    "SELECT s.id, s.kind, w.tenant_id, w.subscription_id, w.resource_group, s.workspace_id, w.name,
    s.name, s.resource_kind, s.location, s.tags, s.created_at, s.updated_at, s.cors,
    s.smart_identity_providers
    FROM health_services s JOIN health_workspaces w ON s.workspace_id = w.id";

/// A CORS configuration as stored (JSON, ARM's property names).
fn cors_json(cors: Option<&CorsConfiguration>) -> Option<String> {
    cors.map(|c| {
        json!({
            "origins": c.origins,
            "headers": c.headers,
            "methods": c.methods,
            "maxAge": c.max_age,
            "allowCredentials": c.allow_credentials,
        })
        .to_string()
    })
}

fn cors_from(text: &str) -> Result<CorsConfiguration, StoreError> {
    let v: Json =
        serde_json::from_str(text).map_err(|e| StoreError::Decode(format!("cors: {e}")))?;
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(CorsConfiguration {
        origins: list("origins"),
        headers: list("headers"),
        methods: list("methods"),
        max_age: v["maxAge"].as_u64().and_then(|a| u32::try_from(a).ok()),
        allow_credentials: v["allowCredentials"].as_bool().unwrap_or(false),
    })
}

/// SMART identity providers as stored (ARM's JSON); `None` for none.
fn smart_json(providers: &[SmartIdentityProvider]) -> Option<String> {
    (!providers.is_empty()).then(|| serde_json::to_string(providers).unwrap_or_default())
}

fn smart_from(text: &str) -> Result<Vec<SmartIdentityProvider>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Decode(format!("smart_identity_providers: {e}")))
}

fn service(row: &Row) -> Result<HealthService, StoreError> {
    let kind: String = row.get(1)?;
    let tags: String = row.get(10)?;
    Ok(HealthService {
        id: row.get(0)?,
        kind: ServiceKind::parse(&kind)
            .ok_or_else(|| StoreError::Decode(format!("unknown service kind {kind:?}")))?,
        tenant_id: TenantId(row.get(2)?),
        subscription_id: row.get(3)?,
        resource_group: row.get(4)?,
        workspace_id: row.get(5)?,
        workspace: row.get(6)?,
        name: row.get(7)?,
        resource_kind: row.get(8)?,
        location: row.get(9)?,
        tags: tags_from(&tags)?,
        cors: row
            .get::<Option<String>>(13)?
            .map(|c| cors_from(&c))
            .transpose()?,
        smart_identity_providers: row
            .get::<Option<String>>(14)?
            .map(|c| smart_from(&c))
            .transpose()?
            .unwrap_or_default(),
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

/// Adds a service to its workspace; the name must be unused there for its kind.
pub fn insert_service(tx: &mut dyn Tx, s: &HealthService) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO health_services (id, workspace_id, kind, name, resource_kind, location, tags, created_at, updated_at, cors, smart_identity_providers)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        params![
            s.id,
            s.workspace_id,
            s.kind.as_str(),
            &s.name,
            s.resource_kind.as_deref(),
            &s.location,
            tags_json(&s.tags)?,
            s.created_at,
            s.updated_at,
            cors_json(s.cors.as_ref()),
            smart_json(&s.smart_identity_providers)
        ],
    )
    .map(drop)
}

/// Replaces a service's tags, CORS settings and SMART identity providers. Returns whether it exists.
pub fn update_service(tx: &mut dyn Tx, s: &HealthService) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE health_services SET tags = $1, updated_at = $2, cors = $3,
         smart_identity_providers = $4 WHERE id = $5",
        params![
            tags_json(&s.tags)?,
            s.updated_at,
            cors_json(s.cors.as_ref()),
            smart_json(&s.smart_identity_providers),
            s.id
        ],
    )? > 0)
}

/// The `kind` service named `name` (ignoring case) in the workspace named
/// `workspace`: what a data-plane path `/fhir/{workspace}/{name}` names.
pub fn service_by_path(
    tx: &mut dyn Tx,
    kind: ServiceKind,
    workspace: &str,
    name: &str,
) -> Result<Option<HealthService>, StoreError> {
    tx.query_opt(
        &format!("{SERVICE_SELECT} WHERE w.name = $1 AND s.kind = $2 AND lower(s.name) = $3"),
        params![
            workspace.to_ascii_lowercase(),
            kind.as_str(),
            name.to_ascii_lowercase()
        ],
    )?
    .as_ref()
    .map(service)
    .transpose()
}

/// The `kind` services of a workspace, by name.
pub fn services(
    tx: &mut dyn Tx,
    workspace: uuid::Uuid,
    kind: ServiceKind,
) -> Result<Vec<HealthService>, StoreError> {
    tx.query(
        &format!(
            "{SERVICE_SELECT} WHERE s.workspace_id = $1 AND s.kind = $2 ORDER BY lower(s.name)"
        ),
        params![workspace, kind.as_str()],
    )?
    .iter()
    .map(service)
    .collect()
}

/// Removes a service and every role assignment at its scope, so that a
/// service later made under the same name inherits nothing. Returns whether
/// it existed.
pub fn delete_service(tx: &mut dyn Tx, s: &HealthService) -> Result<bool, StoreError> {
    delete_role_assignments_within(tx, &s.resource_id().key())?;
    Ok(tx.execute("DELETE FROM health_services WHERE id = $1", params![s.id])? > 0)
}

/// The data partition of a FHIR or DICOM service, if it has stored anything.
pub fn partition(tx: &mut dyn Tx, service_id: uuid::Uuid) -> Result<Option<i64>, StoreError> {
    tx.query_opt(
        "SELECT svc FROM data_partitions WHERE service_id = $1",
        params![service_id],
    )?
    .map(|row| row.get::<i64>(0))
    .transpose()
}

/// The data partition of a service, made on first use. The number never
/// changes, so callers may remember it.
pub fn ensure_partition(tx: &mut dyn Tx, service_id: uuid::Uuid) -> Result<i64, StoreError> {
    if let Some(svc) = partition(tx, service_id)? {
        return Ok(svc);
    }
    tx.execute(
        "INSERT INTO data_partitions (service_id) VALUES ($1) ON CONFLICT (service_id) DO NOTHING",
        params![service_id],
    )?;
    partition(tx, service_id)?
        .ok_or_else(|| StoreError::Decode("data partition vanished after insert".into()))
}
