//! What the directory Graph tests share: a server, callers, and Graph's
//! error assertions.
#![allow(dead_code)]

pub mod fhir;
pub mod health;

use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

pub struct Graph {
    pub server: TestServer,
    /// The administrator (Global Administrator) with every directory permission.
    pub admin: String,
}

pub const ADMIN_SCOPES: &str = "User.ReadWrite.All Group.ReadWrite.All Directory.ReadWrite.All RoleManagement.ReadWrite.Directory Application.ReadWrite.All User.Read";

impl Graph {
    pub async fn start() -> Graph {
        let server = TestServer::start().await;
        let admin = server.admin_token(ADMIN_SCOPES).await;
        Graph { server, admin }
    }

    /// A delegated token for user `oid` with `scopes`.
    pub async fn user_token(&self, oid: &str, scopes: &str) -> String {
        let claims = self.server.graph_claims(json!({
            "oid": oid, "sub": oid, "idtyp": "user", "scp": scopes,
        }));
        self.server.sign(&claims).await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.admin, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.request(token, method, path, body, &[]).await
    }

    pub async fn request(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = if path.starts_with("https://") {
            path.to_owned()
        } else {
            format!(
                "{}{}",
                self.server.info().public_url,
                path.trim_start_matches('/')
            )
        };
        let mut req = self.server.client().request(method, url).bearer_auth(token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
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

    /// Sends a raw body (for malformed JSON).
    pub async fn raw(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let res = self
            .server
            .client()
            .request(method, self.server.url(path))
            .bearer_auth(&self.admin)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    pub async fn create_user(&self, alias: &str, extra: Value) -> Value {
        let mut body = json!({
            "accountEnabled": true,
            "displayName": alias,
            "mailNickname": alias,
            "userPrincipalName": format!("{alias}@hale.local"),
            "passwordProfile": {"password": TEST_PASSWORD, "forceChangePasswordNextSignIn": false},
        });
        if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
            b.extend(more);
        }
        let (status, user) = self.call(Method::POST, "/v1.0/users", Some(body)).await;
        assert_eq!(status, 201, "{user}");
        user
    }

    pub async fn create_group(&self, name: &str) -> Value {
        let (status, group) = self
            .call(
                Method::POST,
                "/v1.0/groups",
                Some(json!({
                    "displayName": name,
                    "mailNickname": name.to_lowercase().replace(' ', "-"),
                    "mailEnabled": false,
                    "securityEnabled": true,
                })),
            )
            .await;
        assert_eq!(status, 201, "{group}");
        group
    }

    /// The IDs in a collection answer, in order.
    pub fn ids(list: &Value) -> Vec<String> {
        list["value"]
            .as_array()
            .unwrap_or_else(|| panic!("not a collection: {list}"))
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A field of every item of a collection answer.
    pub fn field(list: &Value, name: &str) -> Vec<String> {
        list["value"]
            .as_array()
            .unwrap_or_else(|| panic!("not a collection: {list}"))
            .iter()
            .map(|v| v[name].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

pub fn assert_graph_error(status: u16, body: &Value, expected: u16, code: &str, part: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(part), "{message:?} lacks {part:?}");
    assert!(
        body["error"]["innerError"]["request-id"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

/// The claims of a JWT, unverified.
pub fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The password the Graph tests give the users they create.
pub const TEST_PASSWORD: &str = "Str0ng-Passw0rd";

/// Registers an application with its service principal: (appId, service
/// principal ID, object ID).
pub async fn register(g: &Graph, body: Value) -> (String, String, String) {
    let (status, app) = g.call(Method::POST, "/v1.0/applications", Some(body)).await;
    assert_eq!(status, 201, "{app}");
    let (status, sp) = g
        .call(
            Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(status, 201, "{sp}");
    (
        app["appId"].as_str().unwrap().into(),
        sp["id"].as_str().unwrap().into(),
        app["id"].as_str().unwrap().into(),
    )
}

/// A request to the default tenant's v2 token endpoint.
pub async fn token(g: &Graph, form: &[(&str, &str)]) -> (u16, Value) {
    let tenant = g.server.info().installation.tenant.id;
    let res = g
        .server
        .client()
        .post(g.server.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The password grant for `{user}@hale.local` (password [`TEST_PASSWORD`])
/// through `client`.
pub async fn password_token(g: &Graph, client: &str, user: &str, scope: &str) -> (u16, Value) {
    token(
        g,
        &[
            ("grant_type", "password"),
            ("client_id", client),
            ("username", &format!("{user}@hale.local")),
            ("password", TEST_PASSWORD),
            ("scope", scope),
        ],
    )
    .await
}
