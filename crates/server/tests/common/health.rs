//! What the control-plane and data-plane tests share: a server with the
//! administrator's real ARM and Graph tokens, ARM calls with `api-version`,
//! workspaces and services, app registrations and role assignments.

use hale_testkit::{ADMIN_PASSWORD, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

pub const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
pub const ARM_SCOPE: &str = "https://management.azure.com//user_impersonation";
pub const GRAPH_SCOPES: &str = "Application.ReadWrite.All User.ReadWrite.All Group.ReadWrite.All Directory.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All Policy.ReadWrite.ApplicationConfiguration";
pub const HEALTHCARE_API_VERSION: &str = "2023-11-01";
pub const AUTHORIZATION_API_VERSION: &str = "2022-04-01";
pub const RESOURCES_API_VERSION: &str = "2021-04-01";

pub const FHIR_DATA_READER: &str = "4c8d0bbc-75d3-4935-991f-5f3c56d81508";
pub const FHIR_DATA_WRITER: &str = "3f88fce4-5892-4214-ae73-ba5294559913";
pub const FHIR_DATA_CONTRIBUTOR: &str = "5a1fc7df-4bf1-4951-a576-89034ee01acd";
pub const FHIR_DATA_EXPORTER: &str = "3db33094-8700-4567-8da5-1501d4e7e843";
pub const FHIR_DATA_IMPORTER: &str = "4465e953-8ced-4406-a58e-0f6e3f3b530b";
pub const FHIR_DATA_CONVERTER: &str = "a1705bd2-3a8f-45a5-8683-466fcfd5cc24";
pub const FHIR_SMART_USER: &str = "4ba50f17-9666-485c-a643-ff00808643f0";
pub const DICOM_DATA_OWNER: &str = "58a3b984-7adf-4c20-983a-32417c86fbc8";
pub const DICOM_DATA_READER: &str = "e89c7a3c-2f64-4fa1-a847-3e4c9ba4283a";
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";

/// A registered client application with a secret and a service principal.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub secret: String,
    pub object_id: String,
    pub principal_id: String,
}

pub struct Health {
    pub server: TestServer,
    /// The administrator's ARM token (Owner of the default subscription),
    /// from the token endpoint.
    pub arm: String,
    /// The administrator's Graph token.
    pub graph: String,
    pub sub: String,
    pub tenant: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Health {
    pub async fn start() -> Health {
        Self::on(TestServer::start().await).await
    }

    pub async fn on(server: TestServer) -> Health {
        let tenant = server.info().installation.tenant.id.to_string();
        let sub = server.info().installation.subscription_id.to_string();
        let graph = server.admin_token(GRAPH_SCOPES).await;
        let mut h = Health {
            server,
            arm: String::new(),
            graph,
            sub,
            tenant,
        };
        h.arm = h
            .password_token("admin@hale.local", ADMIN_PASSWORD, ARM_SCOPE)
            .await;
        h
    }

    /// A user's token by the password grant through the CLI's client.
    pub async fn password_token(&self, user: &str, password: &str, scope: &str) -> String {
        let (status, body) = self
            .form(
                &format!("/{}/oauth2/v2.0/token", self.tenant),
                &[
                    ("grant_type", "password"),
                    ("client_id", CLI),
                    ("username", user),
                    ("password", password),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(status, 200, "password grant for {user}: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .server
            .client()
            .post(self.server.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The ARM path with `api-version` added when it has none.
    pub fn arm_url(&self, path: &str) -> String {
        let base = self.server.info().public_url.as_str().trim_end_matches('/');
        if path.contains("api-version=") {
            return format!("{base}{path}");
        }
        // Each type's own version, as `hale` and the Azure CLI send them.
        let lower = path.to_ascii_lowercase();
        let version = if lower.contains("microsoft.authorization") {
            AUTHORIZATION_API_VERSION
        } else if lower.contains("microsoft.healthcareapis") {
            HEALTHCARE_API_VERSION
        } else {
            RESOURCES_API_VERSION
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{base}{path}{sep}api-version={version}")
    }

    pub async fn arm(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.arm_as(&self.arm.clone(), method, path, body).await
    }

    pub async fn arm_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .server
            .client()
            .request(method, self.arm_url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn graph(&self, method: Method, path: &str, body: Value) -> Value {
        let res = self
            .server
            .client()
            .request(method, self.server.url(path))
            .bearer_auth(&self.graph)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap_or(Value::Null)
    }

    pub fn rg(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/hale-default", self.sub)
    }

    pub fn ws_id(&self, ws: &str) -> String {
        format!(
            "{}/providers/Microsoft.HealthcareApis/workspaces/{ws}",
            self.rg()
        )
    }

    pub fn fhir_id(&self, ws: &str, name: &str) -> String {
        format!("{}/fhirservices/{name}", self.ws_id(ws))
    }

    pub fn dicom_id(&self, ws: &str, name: &str) -> String {
        format!("{}/dicomservices/{name}", self.ws_id(ws))
    }

    pub async fn create_workspace(&self, ws: &str) -> Value {
        let (status, body) = self
            .arm(
                Method::PUT,
                &self.ws_id(ws),
                Some(json!({"location": "local"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn create_fhir(&self, ws: &str, name: &str) -> Value {
        let (status, body) = self
            .arm(
                Method::PUT,
                &self.fhir_id(ws, name),
                Some(json!({"location": "local", "kind": "fhir-R4"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn create_dicom(&self, ws: &str, name: &str) -> Value {
        let (status, body) = self
            .arm(
                Method::PUT,
                &self.dicom_id(ws, name),
                Some(json!({"location": "local"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The data-plane URL of a service.
    pub fn service_url(&self, kind: &str, ws: &str, name: &str) -> String {
        format!("{}{kind}/{ws}/{name}", self.server.info().public_url)
    }

    /// The seeds' registration: an app, a secret, its service principal.
    pub async fn register_app(&self, name: &str) -> App {
        let app = self
            .graph(
                Method::POST,
                "/v1.0/applications",
                json!({"displayName": name}),
            )
            .await;
        let object_id = app["id"].as_str().unwrap().to_owned();
        let client_id = app["appId"].as_str().unwrap().to_owned();
        let cred = self
            .graph(
                Method::POST,
                &format!("/v1.0/applications/{object_id}/addPassword"),
                json!({}),
            )
            .await;
        let sp = self
            .graph(
                Method::POST,
                "/v1.0/servicePrincipals",
                json!({"appId": client_id}),
            )
            .await;
        App {
            client_id,
            secret: cred["secretText"].as_str().unwrap().to_owned(),
            object_id,
            principal_id: sp["id"].as_str().unwrap().to_owned(),
        }
    }

    /// A user with a password; returns the object ID.
    pub async fn create_user(&self, alias: &str, password: &str) -> String {
        let user = self
            .graph(
                Method::POST,
                "/v1.0/users",
                json!({
                    "accountEnabled": true,
                    "displayName": alias,
                    "mailNickname": alias,
                    "userPrincipalName": format!("{alias}@hale.local"),
                    "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false},
                }),
            )
            .await;
        user["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_group(&self, name: &str) -> String {
        let group = self
            .graph(
                Method::POST,
                "/v1.0/groups",
                json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true}),
            )
            .await;
        group["id"].as_str().unwrap().to_owned()
    }

    pub async fn add_member(&self, group: &str, member: &str) {
        let base = self
            .server
            .info()
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let res = self
            .server
            .client()
            .post(
                self.server
                    .url(&format!("/v1.0/groups/{group}/members/$ref")),
            )
            .bearer_auth(&self.graph)
            .json(&json!({"@odata.id": format!("{base}/v1.0/directoryObjects/{member}")}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "add member: {}", res.status());
    }

    /// Client credentials at the v1 endpoint (`resource=`).
    pub async fn token_v1(&self, app: &App, resource: &str) -> String {
        let (status, body) = self
            .form(
                &format!("/{}/oauth2/token", self.tenant),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app.client_id),
                    ("client_secret", &app.secret),
                    ("resource", resource),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Client credentials at the v2 endpoint (`scope={resource}/.default`).
    pub async fn token_v2(&self, app: &App, resource: &str) -> String {
        let scope = format!("{resource}/.default");
        let (status, body) = self
            .form(
                &format!("/{}/oauth2/v2.0/token", self.tenant),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app.client_id),
                    ("client_secret", &app.secret),
                    ("scope", &scope),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Assigns `role` to `principal` at `scope`; returns the assignment's name.
    pub async fn assign(&self, scope: &str, role: &str, principal: &str) -> String {
        let name = uuid::Uuid::new_v4().to_string();
        let (status, body) = self
            .arm(
                Method::PUT,
                &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                Some(json!({"properties": {
                    "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", self.sub),
                    "principalId": principal,
                }})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        name
    }

    pub async fn unassign(&self, scope: &str, name: &str) {
        let (status, body) = self
            .arm(
                Method::DELETE,
                &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A data-plane request.
    pub async fn data(&self, method: Method, url: &str, token: Option<&str>) -> Reply {
        let mut req = self.server.client().request(method, url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Claims of a token Hale could have issued, for `aud`, in the default
    /// tenant, valid for an hour; `extra` is merged over them.
    pub fn claims(&self, aud: &str, extra: Value) -> Value {
        let mut claims = self.server.graph_claims(json!({ "aud": aud }));
        if let (Some(base), Value::Object(more)) = (claims.as_object_mut(), extra) {
            base.extend(more);
        }
        claims
    }

    /// PUTs each `(path, resource)` below the FHIR service at `url` with
    /// `token`, expecting 201 Created for each.
    pub async fn put_resources(
        &self,
        url: &str,
        token: &str,
        resources: &[(impl AsRef<str>, Value)],
    ) {
        for (path, body) in resources {
            let path = path.as_ref();
            let res = self
                .server
                .client()
                .put(format!("{url}/{path}"))
                .bearer_auth(token)
                .header("content-type", "application/fhir+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "PUT {path}");
        }
    }

    /// A workspace `ws` with a FHIR service `name`, and the token of an
    /// application that is FHIR Data Contributor on it: (the service's ARM
    /// ID, its URL, the token).
    pub async fn fhir_with_contributor(&self, ws: &str, name: &str) -> (String, String, String) {
        self.create_workspace(ws).await;
        self.create_fhir(ws, name).await;
        let id = self.fhir_id(ws, name);
        let url = self.service_url("fhir", ws, name);
        let writer = self.register_app(&format!("{ws}-writer")).await;
        self.assign(&id, FHIR_DATA_CONTRIBUTOR, &writer.principal_id)
            .await;
        let token = self.token_v1(&writer, &url).await;
        (id, url, token)
    }
}

/// Two patients with the given ids and an Observation of each
/// (`{id}-pulse`, its subject the patient), as `(path, resource)` for
/// [`Health::put_resources`].
pub fn two_patients(a: &str, b: &str) -> Vec<(String, Value)> {
    [a, b]
        .iter()
        .flat_map(|id| {
            [
                (
                    format!("Patient/{id}"),
                    json!({"resourceType": "Patient", "id": id}),
                ),
                (
                    format!("Observation/{id}-pulse"),
                    json!({"resourceType": "Observation", "id": format!("{id}-pulse"), "status": "final",
                           "code": {"text": "pulse"}, "subject": {"reference": format!("Patient/{id}")}}),
                ),
            ]
        })
        .collect()
}
