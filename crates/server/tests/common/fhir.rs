//! What the FHIR service tests share: a server with one FHIR service, a
//! client application holding "FHIR Data Contributor" on it, and calls with
//! its token.

use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::Value;

use super::health::{App, FHIR_DATA_CONTRIBUTOR, Health, Reply};

pub struct Fhir {
    pub h: Health,
    pub app: App,
    /// The service's base URL (no trailing slash).
    pub base: String,
    pub token: String,
}

impl Fhir {
    pub async fn start() -> Fhir {
        Self::on(TestServer::start().await).await
    }

    pub async fn on(server: TestServer) -> Fhir {
        let h = Health::on(server).await;
        h.create_workspace("clinic").await;
        h.create_fhir("clinic", "fhir1").await;
        let app = h.register_app("fhir-tests").await;
        h.assign(
            &h.fhir_id("clinic", "fhir1"),
            FHIR_DATA_CONTRIBUTOR,
            &app.principal_id,
        )
        .await;
        let base = h.service_url("fhir", "clinic", "fhir1");
        let token = h.token_v2(&app, &base).await;
        Fhir {
            h,
            app,
            base,
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.is_empty() {
            self.base.clone()
        } else if path.starts_with('?') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// A request with a JSON body (FHIR JSON) and extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.raw(method, path, bytes, "application/fhir+json", headers)
            .await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .h
            .server
            .client()
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.header("content-type", content_type).body(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
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

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, Some(body), &[]).await
    }

    /// Creates a resource and returns it as stored.
    pub async fn create(&self, resource: &Value) -> Value {
        let t = resource["resourceType"].as_str().unwrap();
        let reply = self.post(t, resource).await;
        assert_eq!(reply.status, 201, "create {t}: {}", reply.body);
        reply.body
    }
}

/// Asserts an OperationOutcome reply with `status` and issue `code`.
pub fn assert_outcome(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(
        reply.body["resourceType"], "OperationOutcome",
        "{}",
        reply.body
    );
    assert_eq!(reply.body["issue"][0]["code"], code, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .starts_with("application/fhir+json"),
        "{}",
        reply.header("content-type")
    );
}
