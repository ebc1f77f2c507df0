//! `hale healthcareapis …` and `hale role …`: health workspaces, FHIR and DICOM
//! services, and Azure RBAC role assignments, in the spirit of
//! `az healthcareapis` and `az role`, through Hale's ARM API only (and Graph,
//! to resolve an assignee).

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::admin::{self, Output, Session};

const HEALTHCARE_API_VERSION: &str = "2023-11-01";
const AUTHORIZATION_API_VERSION: &str = "2022-04-01";
const RESOURCES_API_VERSION: &str = "2021-04-01";
/// The resource group every tenant has out of the box.
const DEFAULT_GROUP: &str = "hale-default";

#[derive(clap::Args, Clone)]
pub struct Place {
    /// The resource group.
    #[arg(long, short = 'g', default_value = DEFAULT_GROUP)]
    resource_group: String,
    /// The subscription ID; the first one you can see by default.
    #[arg(long)]
    subscription: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum HealthcareApis {
    /// Health workspaces.
    #[command(subcommand)]
    Workspace(Workspace),
    /// FHIR services in a workspace.
    #[command(subcommand)]
    FhirService(Service),
    /// DICOM services in a workspace.
    #[command(subcommand)]
    DicomService(Service),
}

#[derive(clap::Subcommand)]
pub enum Workspace {
    /// Create a workspace (3-24 lowercase letters and digits).
    Create {
        #[arg(long, short = 'n')]
        name: String,
        /// The location; the resource group's by default.
        #[arg(long, short = 'l')]
        location: Option<String>,
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        output: Output,
    },
    /// List the workspaces of a resource group.
    List {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        output: Output,
    },
    /// Show a workspace.
    Show {
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        output: Output,
    },
    /// Delete an (empty) workspace.
    Delete {
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        place: Place,
    },
}

#[derive(clap::Subcommand)]
pub enum Service {
    /// Create a service in a workspace.
    Create {
        #[arg(long)]
        workspace_name: String,
        #[arg(long, short = 'n')]
        name: String,
        /// The location; the workspace's by default.
        #[arg(long, short = 'l')]
        location: Option<String>,
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        output: Output,
    },
    /// List the services of a workspace.
    List {
        #[arg(long)]
        workspace_name: String,
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        output: Output,
    },
    /// Show a service.
    Show {
        #[arg(long)]
        workspace_name: String,
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a service (its data plane stops answering at once).
    Delete {
        #[arg(long)]
        workspace_name: String,
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        place: Place,
    },
}

#[derive(clap::Subcommand)]
pub enum Role {
    /// Role assignments.
    #[command(subcommand)]
    Assignment(Assignment),
    /// Role definitions.
    #[command(subcommand)]
    Definition(Definition),
}

#[derive(clap::Subcommand)]
pub enum Assignment {
    /// Assign a role to a user, group or service principal at a scope.
    Create {
        /// A user (UPN or object ID), a group (object ID), or a service
        /// principal (its application's client ID or its object ID).
        #[arg(long)]
        assignee: String,
        /// A role name (e.g. "FHIR Data Contributor") or definition ID.
        #[arg(long)]
        role: String,
        /// The scope: a subscription, resource group, workspace or service ID;
        /// the subscription by default.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List role assignments at a scope (and above and below it).
    List {
        #[arg(long)]
        scope: Option<String>,
        /// Only this principal's.
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Delete role assignments by ID, or by assignee, role and scope.
    Delete {
        /// Role assignment resource IDs.
        #[arg(long, num_args = 1.., conflicts_with_all = ["assignee", "role"])]
        ids: Vec<String>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
    },
}

#[derive(clap::Subcommand)]
pub enum Definition {
    /// List role definitions.
    List {
        /// Only the role with this name.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

fn run(f: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    match admin::runtime().block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => admin::fail(&e),
    }
}

pub fn healthcareapis(command: HealthcareApis) -> ExitCode {
    match admin::load() {
        Ok(session) => run(healthcareapis_inner(session, command)),
        Err(e) => admin::fail(&e),
    }
}

pub fn role(command: Role) -> ExitCode {
    match admin::load() {
        Ok(session) => run(role_inner(session, command)),
        Err(e) => admin::fail(&e),
    }
}

/// One ARM call with the session's ARM token; ARM's error message on failure.
async fn arm(
    session: &Session,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let token = session
        .arm_access_token
        .as_deref()
        .ok_or("this session has no Azure Resource Manager token: run `hale login` again")?;
    let lower = path.to_ascii_lowercase();
    let version = if lower.contains("/providers/microsoft.authorization/") {
        AUTHORIZATION_API_VERSION
    } else if lower.contains("/providers/microsoft.healthcareapis/") {
        HEALTHCARE_API_VERSION
    } else {
        RESOURCES_API_VERSION
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{sep}api-version={version}", session.authority);
    let mut req = admin::client(session.ca_cert.as_deref())?
        .request(method, &url)
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", session.authority))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let value: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_success() {
        return Ok(value);
    }
    let code = value["error"]["code"].as_str().unwrap_or("Error");
    let message = value["error"]["message"]
        .as_str()
        .unwrap_or("request failed");
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(format!("({code}) {message} Run `hale login` again."));
    }
    Err(format!("({code}) {message}"))
}

/// The subscription to use: the one given, or the first the caller can see.
async fn subscription(session: &Session, given: Option<&str>) -> Result<String, String> {
    if let Some(s) = given {
        return Ok(s.to_owned());
    }
    let subs = arm(session, reqwest::Method::GET, "/subscriptions", None).await?;
    subs["value"][0]["subscriptionId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "you can see no subscription; give --subscription".to_owned())
}

async fn group_path(session: &Session, place: &Place) -> Result<String, String> {
    let sub = subscription(session, place.subscription.as_deref()).await?;
    Ok(format!(
        "/subscriptions/{sub}/resourceGroups/{}",
        place.resource_group
    ))
}

fn workspace_path(group: &str, name: &str) -> String {
    format!("{group}/providers/Microsoft.HealthcareApis/workspaces/{name}")
}

/// Adds `resourceGroup`, as `az` shows it, to an ARM resource or a list of them.
fn with_group(mut value: Value) -> Value {
    let add = |v: &mut Value| {
        let group = v["id"]
            .as_str()
            .and_then(|id| {
                let segments: Vec<&str> = id.split('/').collect();
                segments
                    .iter()
                    .position(|s| s.eq_ignore_ascii_case("resourceGroups"))
                    .and_then(|i| segments.get(i + 1).map(|s| s.to_string()))
            })
            .unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            map.insert("resourceGroup".into(), json!(group));
        }
    };
    match &mut value {
        Value::Array(items) => items.iter_mut().for_each(add),
        other => add(other),
    }
    value
}

const WORKSPACE_COLUMNS: &[&str] = &[
    "name",
    "resourceGroup",
    "location",
    "properties.provisioningState",
];

async fn healthcareapis_inner(session: Session, command: HealthcareApis) -> Result<(), String> {
    use reqwest::Method;
    let session = &session;
    match command {
        HealthcareApis::Workspace(Workspace::Create {
            name,
            location,
            place,
            output,
        }) => {
            let group = group_path(session, &place).await?;
            let location = match location {
                Some(l) => l,
                None => arm(session, Method::GET, &group, None).await?["location"]
                    .as_str()
                    .unwrap_or("local")
                    .to_owned(),
            };
            let ws = arm(
                session,
                Method::PUT,
                &workspace_path(&group, &name),
                Some(json!({ "location": location })),
            )
            .await?;
            admin::print(&with_group(ws), &output, WORKSPACE_COLUMNS)?;
        }
        HealthcareApis::Workspace(Workspace::List { place, output }) => {
            let group = group_path(session, &place).await?;
            let list = arm(
                session,
                Method::GET,
                &format!("{group}/providers/Microsoft.HealthcareApis/workspaces"),
                None,
            )
            .await?;
            admin::print(
                &with_group(list["value"].clone()),
                &output,
                WORKSPACE_COLUMNS,
            )?;
        }
        HealthcareApis::Workspace(Workspace::Show {
            name,
            place,
            output,
        }) => {
            let group = group_path(session, &place).await?;
            let ws = arm(session, Method::GET, &workspace_path(&group, &name), None).await?;
            admin::print(&with_group(ws), &output, WORKSPACE_COLUMNS)?;
        }
        HealthcareApis::Workspace(Workspace::Delete { name, place }) => {
            let group = group_path(session, &place).await?;
            arm(
                session,
                Method::DELETE,
                &workspace_path(&group, &name),
                None,
            )
            .await?;
        }
        HealthcareApis::FhirService(command) => service(session, "fhirservices", command).await?,
        HealthcareApis::DicomService(command) => service(session, "dicomservices", command).await?,
    }
    Ok(())
}

async fn service(session: &Session, collection: &str, command: Service) -> Result<(), String> {
    use reqwest::Method;
    // The service URL: FHIR's audience, DICOM's serviceUrl.
    let url_column = if collection == "fhirservices" {
        "properties.authenticationConfiguration.audience"
    } else {
        "properties.serviceUrl"
    };
    let columns = [
        "name",
        "resourceGroup",
        "location",
        "properties.provisioningState",
        url_column,
    ];
    let path = |group: &str, ws: &str, name: &str| {
        format!("{}/{collection}/{name}", workspace_path(group, ws))
    };
    match command {
        Service::Create {
            workspace_name,
            name,
            location,
            place,
            output,
        } => {
            let group = group_path(session, &place).await?;
            let location = match location {
                Some(l) => l,
                None => arm(
                    session,
                    Method::GET,
                    &workspace_path(&group, &workspace_name),
                    None,
                )
                .await?["location"]
                    .as_str()
                    .unwrap_or("local")
                    .to_owned(),
            };
            let mut body = json!({ "location": location });
            if collection == "fhirservices" {
                body["kind"] = json!("fhir-R4");
            }
            let created = arm(
                session,
                Method::PUT,
                &path(&group, &workspace_name, &name),
                Some(body),
            )
            .await?;
            admin::print(&with_group(created), &output, &columns)?;
        }
        Service::List {
            workspace_name,
            place,
            output,
        } => {
            let group = group_path(session, &place).await?;
            let list = arm(
                session,
                Method::GET,
                &format!("{}/{collection}", workspace_path(&group, &workspace_name)),
                None,
            )
            .await?;
            admin::print(&with_group(list["value"].clone()), &output, &columns)?;
        }
        Service::Show {
            workspace_name,
            name,
            place,
            output,
        } => {
            let group = group_path(session, &place).await?;
            let found = arm(
                session,
                Method::GET,
                &path(&group, &workspace_name, &name),
                None,
            )
            .await?;
            admin::print(&with_group(found), &output, &columns)?;
        }
        Service::Delete {
            workspace_name,
            name,
            place,
        } => {
            let group = group_path(session, &place).await?;
            arm(
                session,
                Method::DELETE,
                &path(&group, &workspace_name, &name),
                None,
            )
            .await?;
        }
    }
    Ok(())
}

/// A principal: its object ID and ARM principal type.
async fn resolve_assignee(
    session: &Session,
    assignee: &str,
) -> Result<(String, &'static str), String> {
    use reqwest::Method;
    let found = |v: Value| v["id"].as_str().map(str::to_owned);
    if assignee.contains('@') {
        if let Ok(user) =
            admin::graph(session, Method::GET, &format!("users/{assignee}"), None).await
            && let Some(id) = found(user)
        {
            return Ok((id, "User"));
        }
    } else {
        let tries = [
            (
                format!("servicePrincipals(appId='{assignee}')"),
                "ServicePrincipal",
            ),
            (format!("servicePrincipals/{assignee}"), "ServicePrincipal"),
            (format!("users/{assignee}"), "User"),
            (format!("groups/{assignee}"), "Group"),
        ];
        for (path, kind) in tries {
            if let Ok(v) = admin::graph(session, Method::GET, &path, None).await
                && let Some(id) = found(v)
            {
                return Ok((id, kind));
            }
        }
    }
    Err(format!(
        "cannot find a user, group or service principal '{assignee}' in the directory"
    ))
}

/// The built-in role definitions: (ID, name).
async fn definitions(session: &Session, sub: &str) -> Result<Vec<(String, String)>, String> {
    let list = arm(
        session,
        reqwest::Method::GET,
        &format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions"),
        None,
    )
    .await?;
    Ok(list["value"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|d| {
                    Some((
                        d["name"].as_str()?.to_owned(),
                        d["properties"]["roleName"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// A role named by name (any case) or definition ID.
fn resolve_role(defs: &[(String, String)], role: &str) -> Result<String, String> {
    defs.iter()
        .find(|(id, name)| name.eq_ignore_ascii_case(role) || id.eq_ignore_ascii_case(role))
        .map(|(id, _)| id.clone())
        .ok_or_else(|| format!("Role '{role}' doesn't exist."))
}

/// A role assignment flattened as `az role assignment` prints it.
fn flat_assignment(a: &Value, defs: &[(String, String)]) -> Value {
    let p = &a["properties"];
    let role_id = p["roleDefinitionId"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .unwrap_or_default();
    let role_name = defs
        .iter()
        .find(|(id, _)| id == role_id)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    json!({
        "id": a["id"],
        "name": a["name"],
        "principalId": p["principalId"],
        "principalType": p["principalType"],
        "roleDefinitionId": p["roleDefinitionId"],
        "roleDefinitionName": role_name,
        "scope": p["scope"],
    })
}

const ASSIGNMENT_COLUMNS: &[&str] = &[
    "principalId",
    "principalType",
    "roleDefinitionName",
    "scope",
    "name",
];

async fn role_inner(session: Session, command: Role) -> Result<(), String> {
    use reqwest::Method;
    let session = &session;
    match command {
        Role::Assignment(Assignment::Create {
            assignee,
            role,
            scope,
            subscription: given,
            output,
        }) => {
            let sub = subscription(session, given.as_deref()).await?;
            let defs = definitions(session, &sub).await?;
            let role_id = resolve_role(&defs, &role)?;
            let (principal, kind) = resolve_assignee(session, &assignee).await?;
            let scope = scope.unwrap_or_else(|| format!("/subscriptions/{sub}"));
            let name = uuid::Uuid::new_v4();
            let created = arm(
                session,
                Method::PUT,
                &format!(
                    "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
                    scope.trim_end_matches('/')
                ),
                Some(json!({ "properties": {
                    "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"),
                    "principalId": principal,
                    "principalType": kind,
                }})),
            )
            .await?;
            admin::print(
                &flat_assignment(&created, &defs),
                &output,
                ASSIGNMENT_COLUMNS,
            )?;
        }
        Role::Assignment(Assignment::List {
            scope,
            assignee,
            subscription: given,
            output,
        }) => {
            let sub = subscription(session, given.as_deref()).await?;
            let defs = definitions(session, &sub).await?;
            let scope = scope.unwrap_or_else(|| format!("/subscriptions/{sub}"));
            let mut path = format!(
                "{}/providers/Microsoft.Authorization/roleAssignments",
                scope.trim_end_matches('/')
            );
            if let Some(assignee) = assignee {
                let (principal, _) = resolve_assignee(session, &assignee).await?;
                path.push_str(&format!("?$filter=principalId eq '{principal}'"));
            }
            let list = arm(session, Method::GET, &path, None).await?;
            let flat: Vec<Value> = list["value"]
                .as_array()
                .map(|items| items.iter().map(|a| flat_assignment(a, &defs)).collect())
                .unwrap_or_default();
            admin::print(&Value::Array(flat), &output, ASSIGNMENT_COLUMNS)?;
        }
        Role::Assignment(Assignment::Delete {
            ids,
            assignee,
            role,
            scope,
            subscription: given,
        }) => {
            let ids = if !ids.is_empty() {
                ids
            } else {
                let (Some(assignee), Some(role)) = (assignee, role) else {
                    return Err("give --ids, or --assignee and --role (and --scope)".into());
                };
                let sub = subscription(session, given.as_deref()).await?;
                let defs = definitions(session, &sub).await?;
                let role_id = resolve_role(&defs, &role)?;
                let (principal, _) = resolve_assignee(session, &assignee).await?;
                let scope = scope.unwrap_or_else(|| format!("/subscriptions/{sub}"));
                let scope = scope.trim_end_matches('/').to_owned();
                let list = arm(
                    session,
                    Method::GET,
                    &format!("{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope() and principalId eq '{principal}'"),
                    None,
                )
                .await?;
                let found: Vec<String> = list["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| {
                        a["properties"]["scope"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(&scope))
                            && a["properties"]["roleDefinitionId"]
                                .as_str()
                                .is_some_and(|r| r.ends_with(&role_id))
                    })
                    .filter_map(|a| a["id"].as_str().map(str::to_owned))
                    .collect();
                if found.is_empty() {
                    return Err("no matching role assignment was found".into());
                }
                found
            };
            for id in ids {
                arm(session, Method::DELETE, &id, None).await?;
            }
        }
        Role::Definition(Definition::List {
            name,
            subscription: given,
            output,
        }) => {
            let sub = subscription(session, given.as_deref()).await?;
            let mut path =
                format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions");
            if let Some(name) = name {
                path.push_str(&format!(
                    "?$filter=roleName eq '{}'",
                    name.replace('\'', "''")
                ));
            }
            let list = arm(session, Method::GET, &path, None).await?;
            admin::print(
                &list["value"],
                &output,
                &["properties.roleName", "name", "properties.description"],
            )?;
        }
    }
    Ok(())
}
