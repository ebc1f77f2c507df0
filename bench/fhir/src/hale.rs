//! Hale's side of the benchmark's set-up, over its public APIs only, as the
//! README's quickstart does it: the administrator signs in (password grant
//! through the Azure CLI's client), creates a workspace and a FHIR service
//! through ARM, registers an application with a secret and its service
//! principal through Graph, assigns it "FHIR Data Contributor" on the service,
//! and gets a client-credentials token whose audience is the service URL.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

/// The Azure CLI's public client ID, which Hale pre-authorizes like Entra.
const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const FHIR_DATA_CONTRIBUTOR: &str = "5a1fc7df-4bf1-4951-a576-89034ee01acd";
const HEALTHCARE_API: &str = "api-version=2023-11-01";
const AUTHORIZATION_API: &str = "api-version=2022-04-01";

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method.clone(), &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let res = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn token(&self, token_url: &str, form: &[(&str, &str)]) -> Result<String, String> {
        let res = self
            .client
            .post(token_url)
            .form(form)
            .send()
            .await
            .map_err(|e| format!("token endpoint: {e}"))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            // Entra's error JSON carries no secret; the request's form is not shown.
            .ok_or_else(|| format!("token endpoint: {status} {}", body["error_description"]))
    }
}

pub async fn setup(
    url: &str,
    ca: &Path,
    password: &str,
    workspace: &str,
    service: &str,
    token_out: &Path,
) -> Result<(), String> {
    let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&pem).map_err(|e| format!("the CA: {e}"))?,
        )
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let api = Api {
        client,
        base: url.trim_end_matches('/').to_owned(),
    };
    let admin_token = |scope: &'static str| {
        let api = &api;
        async move {
            api.token(
                &format!("{}/hale.local/oauth2/v2.0/token", api.base),
                &[
                    ("grant_type", "password"),
                    ("client_id", CLI),
                    ("username", "admin@hale.local"),
                    ("password", password),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    let graph = admin_token("https://graph.microsoft.com/.default").await?;
    let arm = admin_token("https://management.azure.com//user_impersonation").await?;

    let subscriptions = api
        .call(
            &arm,
            Method::GET,
            "/subscriptions?api-version=2022-12-01",
            None,
        )
        .await?;
    let sub = subscriptions["value"][0]["subscriptionId"]
        .as_str()
        .ok_or("no subscription")?;
    let ws = format!(
        "/subscriptions/{sub}/resourceGroups/hale-default/providers/Microsoft.HealthcareApis/workspaces/{workspace}"
    );
    let svc = format!("{ws}/fhirservices/{service}");
    let location = json!({"location": "local"});
    api.call(
        &arm,
        Method::PUT,
        &format!("{ws}?{HEALTHCARE_API}"),
        Some(location.clone()),
    )
    .await?;
    let created = api
        .call(
            &arm,
            Method::PUT,
            &format!("{svc}?{HEALTHCARE_API}"),
            Some(location),
        )
        .await?;
    let auth = &created["properties"]["authenticationConfiguration"];
    let fhir_url = auth["audience"]
        .as_str()
        .ok_or("the FHIR service has no audience")?
        .to_owned();
    let authority = auth["authority"]
        .as_str()
        .ok_or("the FHIR service has no authority")?
        .to_owned();

    let app = api
        .call(
            &graph,
            Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "hale-bench-fhir"})),
        )
        .await?;
    let object_id = app["id"].as_str().ok_or("no application id")?;
    let client_id = app["appId"].as_str().ok_or("no appId")?.to_owned();
    let secret = api
        .call(
            &graph,
            Method::POST,
            &format!("/v1.0/applications/{object_id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "bench"}})),
        )
        .await?;
    let secret = secret["secretText"].as_str().ok_or("no secret")?.to_owned();
    let sp = api
        .call(
            &graph,
            Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": client_id})),
        )
        .await?;
    let principal = sp["id"].as_str().ok_or("no service principal id")?;
    let assignment = uuid::Uuid::new_v4();
    api.call(
        &arm,
        Method::PUT,
        &format!(
            "{svc}/providers/Microsoft.Authorization/roleAssignments/{assignment}?{AUTHORIZATION_API}"
        ),
        Some(json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_CONTRIBUTOR}"),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }})),
    )
    .await?;

    let token = api
        .token(
            &format!("{authority}/oauth2/v2.0/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("scope", &format!("{fhir_url}/.default")),
            ],
        )
        .await?;
    write_secret(token_out, &token)?;
    println!("{fhir_url}");
    Ok(())
}

fn write_secret(path: &Path, value: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(value.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
