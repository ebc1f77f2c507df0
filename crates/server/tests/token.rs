//! The token endpoint: client credentials with a client secret, as MSAL and
//! azure-identity send them, and Entra's errors for each mistake.

use hale_testkit::TestServer;
use serde_json::{Value, json};

struct Setup {
    server: TestServer,
    graph: String,
    client_id: String,
    secret: String,
    app_object_id: String,
    principal_id: String,
}

async fn graph(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let res = server
        .client()
        .request(method, server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

/// The seeds' steps: register an app, add a secret, and (as the portal does)
/// create its service principal.
async fn setup() -> Setup {
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let app = graph(
        &server,
        &admin,
        reqwest::Method::POST,
        "/v1.0/applications",
        json!({"displayName": "Daemon"}),
    )
    .await;
    let id = app["id"].as_str().unwrap().to_owned();
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let cred = graph(
        &server,
        &admin,
        reqwest::Method::POST,
        &format!("/v1.0/applications/{id}/addPassword"),
        json!({}),
    )
    .await;
    let sp = graph(
        &server,
        &admin,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        json!({"appId": client_id}),
    )
    .await;
    Setup {
        graph: admin,
        client_id,
        secret: cred["secretText"].as_str().unwrap().to_owned(),
        app_object_id: id,
        principal_id: sp["id"].as_str().unwrap().to_owned(),
        server,
    }
}

impl Setup {
    fn tenant(&self) -> String {
        self.server.info().installation.tenant.id.to_string()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .server
            .client()
            .post(self.server.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn client_credentials(&self, scope: &str) -> (u16, Value) {
        let path = format!("/{}/oauth2/v2.0/token", self.tenant());
        self.post(
            &path,
            &[
                ("client_id", &self.client_id),
                ("grant_type", "client_credentials"),
                ("client_info", "1"),
                ("client_secret", &self.secret),
                ("scope", scope),
            ],
        )
        .await
    }

    async fn verify(&self, token: &str) -> Value {
        let res = self
            .server
            .client()
            .get(
                self.server
                    .url(&format!("/{}/discovery/v2.0/keys", self.tenant())),
            )
            .send()
            .await
            .unwrap();
        let jwks: Value = res.json().await.unwrap();
        let keys: Vec<hale_jws::Jwk> = serde_json::from_value(jwks["keys"].clone()).unwrap();
        let (header, _) = hale_jws::decode_unverified(token).unwrap();
        let key = keys
            .iter()
            .find(|k| k.kid == header.kid)
            .expect("the kid is published");
        hale_jws::verify(token, &key.public_key().unwrap(), &[hale_jws::Alg::RS256]).unwrap()
    }
}

fn assert_aadsts(status: u16, body: &Value, expected_status: u16, error: &str, code: u64) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}: ")),
        "{body}"
    );
    assert!(
        body["trace_id"].is_string()
            && body["correlation_id"].is_string()
            && body["timestamp"].is_string()
    );
}

#[tokio::test]
async fn an_app_gets_a_graph_token_with_its_secret() {
    let s = setup().await;
    let (status, body) = s
        .client_credentials("https://graph.microsoft.com/.default")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    let claims = s.verify(token).await;
    let tid = s.tenant();
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(
        claims["iss"],
        format!("{}{tid}/", s.server.info().public_url)
    );
    assert_eq!(claims["tid"], tid.as_str());
    assert_eq!(claims["appid"], s.client_id.as_str());
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["oid"], s.principal_id.as_str());
    assert_eq!(claims["sub"], s.principal_id.as_str());
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "1.0");
    let (header, _) = hale_jws::decode_unverified(token).unwrap();
    assert_eq!(header.x5t, header.kid, "v1 tokens carry x5t");

    // Graph accepts the token and authorizes by its (absent) roles: 403, not 401.
    let res = s
        .server
        .client()
        .get(s.server.url("/v1.0/applications"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // HTTP Basic client authentication, and the tenant named by its domain.
    let res = s
        .server
        .client()
        .post(s.server.url("/hale.local/oauth2/v2.0/token"))
        .basic_auth(&s.client_id, Some(&s.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let claims = s.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "https://management.azure.com");
}

#[tokio::test]
async fn the_v1_endpoint_takes_a_resource_and_answers_in_strings() {
    let s = setup().await;
    let path = format!("/{}/oauth2/token", s.tenant());
    let (status, body) = s
        .post(
            &path,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("resource", "https://management.azure.com/"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], "3599");
    assert_eq!(body["resource"], "https://management.azure.com/");
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    let claims = s.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        claims["aud"], "https://management.azure.com/",
        "v1 audience is the resource as requested"
    );
}

#[tokio::test]
async fn a_custom_api_asking_for_v2_tokens_gets_them() {
    let s = setup().await;
    let api = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        "/v1.0/applications",
        json!({"displayName": "My API", "identifierUris": ["api://my-api"], "api": {"requestedAccessTokenVersion": 2}}),
    )
    .await;
    let api_app_id = api["appId"].as_str().unwrap().to_owned();
    // Without its service principal the API is not in the tenant.
    let (status, body) = s.client_credentials("api://my-api/.default").await;
    assert_aadsts(status, &body, 400, "invalid_resource", 500011);
    graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        json!({"appId": api_app_id}),
    )
    .await;

    let (status, body) = s.client_credentials("api://my-api/.default").await;
    assert_eq!(status, 200, "{body}");
    let claims = s.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], api_app_id.as_str());
    assert_eq!(
        claims["iss"],
        format!("{}{}/v2.0", s.server.info().public_url, s.tenant())
    );
    assert_eq!(claims["azp"], s.client_id.as_str());
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["ver"], "2.0");
    // The API's client ID works as the resource too.
    let (status, _) = s
        .client_credentials(&format!("{api_app_id}/.default"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_mistake_gets_entras_error() {
    let s = setup().await;
    let tid = s.tenant();
    let v2 = format!("/{tid}/oauth2/v2.0/token");
    let graph_scope = "https://graph.microsoft.com/.default";
    let unknown = uuid::Uuid::new_v4().to_string();
    // (path, form, status, error, AADSTS code)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            v2.clone(),
            vec![
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("scope", graph_scope),
            ],
            400,
            "invalid_request",
            900144,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "urn:example:no-such-grant"),
                ("client_id", &s.client_id),
            ],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &unknown),
                ("client_secret", "x"),
                ("scope", graph_scope),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", "wrong"),
                ("scope", graph_scope),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("scope", graph_scope),
            ],
            401,
            "invalid_client",
            7000218,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("scope", "https://graph.microsoft.com/User.Read"),
            ],
            400,
            "invalid_scope",
            1002012,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                (
                    "scope",
                    "https://graph.microsoft.com/.default https://management.azure.com/.default",
                ),
            ],
            400,
            "invalid_scope",
            28000,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("scope", "api://nothing/.default"),
            ],
            400,
            "invalid_resource",
            500011,
        ),
        (
            v2.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("resource", "https://graph.microsoft.com"),
            ],
            400,
            "invalid_request",
            901002,
        ),
        (
            "/common/oauth2/v2.0/token".into(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("scope", graph_scope),
            ],
            400,
            "invalid_request",
            900023,
        ),
        (
            format!("/{unknown}/oauth2/v2.0/token"),
            vec![("grant_type", "client_credentials")],
            400,
            "invalid_request",
            90002,
        ),
        (
            format!("/{tid}/oauth2/token"),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
            ],
            400,
            "invalid_request",
            900144,
        ),
    ];
    for (path, form, status, error, code) in cases {
        let (got, body) = s.post(&path, &form).await;
        assert_aadsts(got, &body, status, error, code);
    }
    // Too large (in Entra's shape, not the HTTP stack's).
    let big = "x".repeat(100 * 1024);
    let (status, body) = s
        .post(
            &v2,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &s.client_id),
                ("client_secret", &big),
            ],
        )
        .await;
    assert_aadsts(status, &body, 400, "invalid_request", 9002313);
    // Not a form.
    let res = s
        .server
        .client()
        .post(s.server.url(&v2))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_aadsts(
        status,
        &res.json().await.unwrap(),
        400,
        "invalid_request",
        9002313,
    );
    // A service principal is needed: a second app without one.
    let other = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        "/v1.0/applications",
        json!({"displayName": "No SP"}),
    )
    .await;
    let other_id = other["id"].as_str().unwrap();
    let cred = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        &format!("/v1.0/applications/{other_id}/addPassword"),
        json!({}),
    )
    .await;
    let (status, body) = s
        .post(
            &v2,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", other["appId"].as_str().unwrap()),
                ("client_secret", cred["secretText"].as_str().unwrap()),
                ("scope", graph_scope),
            ],
        )
        .await;
    assert_aadsts(status, &body, 400, "invalid_client", 7000229);
}

#[tokio::test]
async fn removed_and_expired_secrets_stop_working() {
    let s = setup().await;
    let (status, _) = s
        .client_credentials("https://graph.microsoft.com/.default")
        .await;
    assert_eq!(status, 200);

    // Expired: move the secret's end into the past, behind the API's back.
    let store = hale_store::Store::open(&s.server.settings().effective_database_url())
        .await
        .unwrap();
    store
        .write(|tx| tx.execute("UPDATE application_secrets SET end_date_time = 0", &[]))
        .await
        .unwrap();
    let (status, body) = s
        .client_credentials("https://graph.microsoft.com/.default")
        .await;
    assert_aadsts(status, &body, 401, "invalid_client", 7000222);

    // Removed: a new secret works, and stops working once removed.
    let cred = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        &format!("/v1.0/applications/{}/addPassword", s.app_object_id),
        json!({}),
    )
    .await;
    let fresh = cred["secretText"].as_str().unwrap();
    let path = format!("/{}/oauth2/v2.0/token", s.tenant());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", s.client_id.as_str()),
        ("client_secret", fresh),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    assert_eq!(s.post(&path, &form).await.0, 200);
    graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        &format!("/v1.0/applications/{}/removePassword", s.app_object_id),
        json!({"keyId": cred["keyId"]}),
    )
    .await;
    let (status, body) = s.post(&path, &form).await;
    assert_aadsts(status, &body, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn a_disabled_service_principal_gets_no_tokens() {
    let s = setup().await;
    // An application whose service principal is created disabled; public
    // client flows on, so that a user's grant needs no secret.
    let app = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        "/v1.0/applications",
        json!({"displayName": "Switched off", "isFallbackPublicClient": true}),
    )
    .await;
    let app_id = app["appId"].as_str().unwrap();
    let cred = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        &format!(
            "/v1.0/applications/{}/addPassword",
            app["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    let sp = graph(
        &s.server,
        &s.graph,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        json!({"appId": app_id, "accountEnabled": false}),
    )
    .await;
    assert_eq!(sp["accountEnabled"], false);
    let expected = format!("AADSTS7000112: Application '{app_id}'(Switched off) is disabled.");
    let v2 = format!("/{}/oauth2/v2.0/token", s.tenant());
    let v1 = format!("/{}/oauth2/token", s.tenant());
    let secret = cred["secretText"].as_str().unwrap();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            &v2,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", app_id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        ),
        (
            &v1,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", app_id),
                ("client_secret", secret),
                ("resource", "https://graph.microsoft.com"),
            ],
        ),
        (
            &v2,
            vec![
                ("grant_type", "password"),
                ("client_id", app_id),
                ("username", "admin@hale.local"),
                ("password", hale_testkit::ADMIN_PASSWORD),
                ("scope", "https://graph.microsoft.com/User.Read"),
            ],
        ),
    ];
    for (path, form) in cases {
        let (status, body) = s.post(path, &form).await;
        assert_aadsts(status, &body, 400, "unauthorized_client", 7000112);
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(&expected),
            "{body}"
        );
    }
    // The enabled application next to it is unaffected.
    let (status, body) = s
        .client_credentials("https://graph.microsoft.com/.default")
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_secret_counts_only_from_its_start() {
    let s = setup().await;
    let at = |offset: time::Duration| {
        (time::OffsetDateTime::now_utc() + offset)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let path = format!("/{}/oauth2/v2.0/token", s.tenant());
    // Started an hour ago: valid. Starting tomorrow: not yet.
    for (start, expected) in [
        (time::Duration::hours(-1), 200),
        (time::Duration::days(1), 401),
    ] {
        let cred = graph(
            &s.server,
            &s.graph,
            reqwest::Method::POST,
            &format!("/v1.0/applications/{}/addPassword", s.app_object_id),
            json!({"passwordCredential": {
                "displayName": "scheduled",
                "startDateTime": at(start),
                "endDateTime": at(time::Duration::days(30)),
            }}),
        )
        .await;
        let (status, body) = s
            .post(
                &path,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &s.client_id),
                    ("client_secret", cred["secretText"].as_str().unwrap()),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        if expected == 200 {
            assert_eq!(status, 200, "{body}");
        } else {
            assert_aadsts(status, &body, 401, "invalid_client", 7000215);
        }
    }
}

#[tokio::test]
async fn the_token_endpoint_answers_other_methods_and_browsers() {
    let s = setup().await;
    let v2 = format!("/{}/oauth2/v2.0/token", s.tenant());
    let v1 = format!("/{}/oauth2/token", s.tenant());
    // Not POST: Entra's error JSON, not an empty 405.
    for (path, method) in [
        (&v2, reqwest::Method::GET),
        (&v1, reqwest::Method::GET),
        (&v2, reqwest::Method::PUT),
    ] {
        let res = s
            .server
            .client()
            .request(method.clone(), s.server.url(path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_aadsts(status, &body, 400, "invalid_request", 900561);
        assert!(
            body["error_description"].as_str().unwrap().starts_with(&format!(
                "AADSTS900561: The endpoint only accepts POST requests. Received a {method} request."
            )),
            "{body}"
        );
    }
    // A single-page application's preflight, then its POST: both readable
    // cross-origin, success and error alike.
    let res = s
        .server
        .client()
        .request(reqwest::Method::OPTIONS, s.server.url(&v2))
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-client-sku,x-client-ver",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(
        header(&res, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert_eq!(
        header(&res, "access-control-allow-headers").as_deref(),
        Some("content-type,x-client-sku,x-client-ver")
    );
    for (secret, status) in [(s.secret.as_str(), 200), ("wrong", 401)] {
        let res = s
            .server
            .client()
            .post(s.server.url(&v2))
            .header("origin", "https://spa.example")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", s.client_id.as_str()),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(
            header(&res, "access-control-allow-origin").as_deref(),
            Some("*")
        );
    }
}
