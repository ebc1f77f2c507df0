//! `hale ad app permission …` and `hale ad app credential reset --cert`: API
//! permissions (`requiredResourceAccess`), consent (delegated grants and app
//! role assignments) and certificate upload, in the spirit of `az ad app
//! permission …`, through Graph only.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{Output, Session, find_application, graph, print};

#[derive(clap::Subcommand)]
pub enum Permission {
    /// Request API permissions ("API permissions > Add a permission").
    Add {
        /// The application (client ID or object ID).
        #[arg(long)]
        id: String,
        /// The API's client ID, e.g. 00000003-0000-0000-c000-000000000000 for Microsoft Graph.
        #[arg(long)]
        api: String,
        /// Permissions as `{id}=Scope` (delegated) or `{id}=Role` (application), or by
        /// value, e.g. `User.Read=Scope`.
        #[arg(long, num_args = 1.., required = true)]
        api_permissions: Vec<String>,
    },
    /// List the permissions an application requests.
    List {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Grant delegated permissions for the whole tenant.
    Grant {
        #[arg(long)]
        id: String,
        #[arg(long)]
        api: String,
        /// Space-separated scope values, e.g. "User.Read".
        #[arg(long)]
        scope: String,
        #[command(flatten)]
        output: Output,
    },
    /// Grant every permission the application requests, for the whole tenant
    /// ("Grant admin consent").
    AdminConsent {
        #[arg(long)]
        id: String,
    },
}

/// A resource API's service principal and the permissions it exposes.
struct Api {
    principal: Value,
}

impl Api {
    async fn find(session: &Session, app_id: &str) -> Result<Api, String> {
        let principal = graph(
            session,
            Method::GET,
            &format!("servicePrincipals(appId='{app_id}')"),
            None,
        )
        .await
        .map_err(|e| format!("the API {app_id} has no service principal in this tenant: {e}"))?;
        Ok(Api { principal })
    }

    fn id(&self) -> &str {
        self.principal["id"].as_str().unwrap_or_default()
    }

    /// Resolves `value-or-id` of a scope (`Scope`) or app role (`Role`).
    fn resolve(&self, name: &str, kind: &str) -> Result<(String, String), String> {
        let list = match kind {
            "Scope" => &self.principal["oauth2PermissionScopes"],
            "Role" => &self.principal["appRoles"],
            other => return Err(format!("permission type '{other}' must be Scope or Role")),
        };
        list.as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(name))
                    || p["value"]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(name))
            })
            .map(|p| {
                (
                    p["id"].as_str().unwrap_or_default().to_owned(),
                    p["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .ok_or_else(|| {
                format!(
                    "{} exposes no {kind} '{name}'",
                    self.principal["displayName"].as_str().unwrap_or("the API")
                )
            })
    }
}

/// The client's own service principal, created if it does not exist yet (as
/// the portal does on consent).
async fn client_principal(session: &Session, app_id: &str) -> Result<Value, String> {
    match graph(
        session,
        Method::GET,
        &format!("servicePrincipals(appId='{app_id}')"),
        None,
    )
    .await
    {
        Ok(sp) => Ok(sp),
        Err(_) => {
            graph(
                session,
                Method::POST,
                "servicePrincipals",
                Some(json!({"appId": app_id})),
            )
            .await
        }
    }
}

/// Grants `scopes` on `api` for everyone, widening an existing grant.
async fn grant_scopes(
    session: &Session,
    client_sp: &str,
    api: &Api,
    scopes: &[String],
) -> Result<Value, String> {
    let filter = format!("clientId eq '{client_sp}'");
    let path = format!(
        "oauth2PermissionGrants?$filter={}",
        url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    );
    let existing = graph(session, Method::GET, &path, None).await?;
    let found = existing["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| {
            g["resourceId"].as_str() == Some(api.id()) && g["consentType"] == "AllPrincipals"
        });
    match found {
        Some(grant) => {
            let mut all: Vec<String> = grant["scope"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            for s in scopes {
                if !all.iter().any(|a| a.eq_ignore_ascii_case(s)) {
                    all.push(s.clone());
                }
            }
            let id = grant["id"].as_str().unwrap_or_default();
            graph(session, Method::PATCH, &format!("oauth2PermissionGrants/{id}"), Some(json!({"scope": all.join(" ")}))).await?;
            graph(session, Method::GET, &format!("oauth2PermissionGrants/{id}"), None).await
        }
        None => {
            graph(
                session,
                Method::POST,
                "oauth2PermissionGrants",
                Some(json!({"clientId": client_sp, "consentType": "AllPrincipals", "resourceId": api.id(), "scope": scopes.join(" ")})),
            )
            .await
        }
    }
}

pub(crate) async fn run(session: &Session, command: Permission) -> Result<(), String> {
    match command {
        Permission::Add {
            id,
            api,
            api_permissions,
        } => {
            let (path, app) = find_application(session, &id).await?;
            let resource = Api::find(session, &api).await?;
            let mut required: Vec<Value> = app["requiredResourceAccess"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let index = match required.iter().position(|r| {
                r["resourceAppId"]
                    .as_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&api))
            }) {
                Some(i) => i,
                None => {
                    required.push(json!({"resourceAppId": api, "resourceAccess": []}));
                    required.len() - 1
                }
            };
            for entry in &api_permissions {
                let (name, kind) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("'{entry}' must be {{id}}=Scope or {{id}}=Role"))?;
                let (perm_id, _) = resource.resolve(name, kind)?;
                let list = required[index]["resourceAccess"]
                    .as_array_mut()
                    .expect("an array");
                if !list
                    .iter()
                    .any(|a| a["id"] == perm_id.as_str() && a["type"] == kind)
                {
                    list.push(json!({"id": perm_id, "type": kind}));
                }
            }
            graph(
                session,
                Method::PATCH,
                &path,
                Some(json!({"requiredResourceAccess": required})),
            )
            .await?;
            eprintln!(
                "Requested. Run `hale ad app permission admin-consent --id {id}` to grant them for the tenant."
            );
        }
        Permission::List { id, output } => {
            let (_, app) = find_application(session, &id).await?;
            print(
                &app["requiredResourceAccess"],
                &output,
                &["resourceAppId", "resourceAccess"],
            )?;
        }
        Permission::Grant {
            id,
            api,
            scope,
            output,
        } => {
            let (_, app) = find_application(session, &id).await?;
            let app_id = app["appId"].as_str().unwrap_or_default().to_owned();
            let client = client_principal(session, &app_id).await?;
            let resource = Api::find(session, &api).await?;
            let scopes: Vec<String> = scope
                .split_whitespace()
                .map(|s| resource.resolve(s, "Scope").map(|(_, value)| value))
                .collect::<Result<_, _>>()?;
            let grant = grant_scopes(
                session,
                client["id"].as_str().unwrap_or_default(),
                &resource,
                &scopes,
            )
            .await?;
            print(
                &grant,
                &output,
                &["clientId", "consentType", "resourceId", "scope"],
            )?;
        }
        Permission::AdminConsent { id } => {
            let (_, app) = find_application(session, &id).await?;
            let app_id = app["appId"].as_str().unwrap_or_default().to_owned();
            let client = client_principal(session, &app_id).await?;
            let client_sp = client["id"].as_str().unwrap_or_default().to_owned();
            let assigned = graph(
                session,
                Method::GET,
                &format!("servicePrincipals/{client_sp}/appRoleAssignments"),
                None,
            )
            .await?;
            for required in app["requiredResourceAccess"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let api_id = required["resourceAppId"].as_str().unwrap_or_default();
                let resource = Api::find(session, api_id).await?;
                let mut scopes = Vec::new();
                for access in required["resourceAccess"].as_array().into_iter().flatten() {
                    let perm_id = access["id"].as_str().unwrap_or_default();
                    match access["type"].as_str() {
                        Some("Scope") => scopes.push(resource.resolve(perm_id, "Scope")?.1),
                        Some("Role") => {
                            let (role_id, _) = resource.resolve(perm_id, "Role")?;
                            let exists =
                                assigned["value"].as_array().into_iter().flatten().any(|a| {
                                    a["appRoleId"].as_str() == Some(role_id.as_str())
                                        && a["resourceId"].as_str() == Some(resource.id())
                                });
                            if !exists {
                                graph(
                                    session,
                                    Method::POST,
                                    &format!("servicePrincipals/{client_sp}/appRoleAssignments"),
                                    Some(json!({"principalId": client_sp, "resourceId": resource.id(), "appRoleId": role_id})),
                                )
                                .await?;
                            }
                        }
                        _ => {}
                    }
                }
                if !scopes.is_empty() {
                    grant_scopes(session, &client_sp, &resource, &scopes).await?;
                }
            }
            eprintln!(
                "Admin consent granted for {}.",
                app["displayName"].as_str().unwrap_or(&id)
            );
        }
    }
    Ok(())
}

/// `credential reset --cert`: uploads a certificate (PEM or DER file, public
/// part only), keeping the application's other certificates.
pub(crate) async fn upload_certificate(
    session: &Session,
    id: &str,
    file: &str,
    output: &Output,
) -> Result<(), String> {
    let path = file.strip_prefix('@').unwrap_or(file);
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let (app_path, app) = find_application(session, id).await?;
    let mut keys: Vec<Value> = app["keyCredentials"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| json!({"keyId": k["keyId"], "type": k["type"], "usage": k["usage"]}))
        .collect();
    keys.push(json!({
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64::engine::general_purpose::STANDARD.encode(&bytes),
    }));
    graph(
        session,
        Method::PATCH,
        &app_path,
        Some(json!({"keyCredentials": keys})),
    )
    .await?;
    let (_, app) = find_application(session, id).await?;
    let added = app["keyCredentials"]
        .as_array()
        .and_then(|k| k.last())
        .cloned()
        .unwrap_or(Value::Null);
    let shown = json!({
        "appId": app["appId"],
        "keyId": added["keyId"],
        "customKeyIdentifier": added["customKeyIdentifier"],
        "displayName": added["displayName"],
        "endDateTime": added["endDateTime"],
        "tenant": session.tenant,
    });
    print(
        &shown,
        output,
        &["appId", "keyId", "displayName", "endDateTime"],
    )
}
