//! On-behalf-of: a middle-tier API trades the user's token it received for a
//! downstream API's token, within the consent the middle tier has.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hale_testkit::{ADMIN_PASSWORD, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// An assertion, the presenting client, the scope, its secret, the status and AADSTS code.
type Case = (String, String, &'static str, Option<String>, u16, u64);

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn call(server: &TestServer, token: &str, method: Method, path: &str, body: Value) -> Value {
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

async fn token(server: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let tenant = server.info().installation.tenant.id;
    let res = server
        .client()
        .post(server.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Registers an app with its service principal: (appId, service principal ID, object ID).
async fn register(server: &TestServer, admin: &str, body: Value) -> (String, String, String) {
    let app = call(server, admin, Method::POST, "/v1.0/applications", body).await;
    let sp = call(
        server,
        admin,
        Method::POST,
        "/v1.0/servicePrincipals",
        json!({"appId": app["appId"]}),
    )
    .await;
    (
        app["appId"].as_str().unwrap().into(),
        sp["id"].as_str().unwrap().into(),
        app["id"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn a_middle_tier_calls_downstream_as_the_user() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token("Application.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All")
        .await;
    let scope = |value: &str| json!({"id": uuid::Uuid::new_v4(), "value": value, "type": "User", "isEnabled": true});
    let (middle, middle_sp, middle_object) = register(
        &server,
        &admin,
        json!({"displayName": "Middle API", "identifierUris": ["api://middle"], "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [scope("access_as_user")]}}),
    )
    .await;
    let (_, down_sp, _) = register(
        &server,
        &admin,
        json!({"displayName": "Downstream API", "identifierUris": ["api://down"], "api": {"oauth2PermissionScopes": [scope("Down.Read"), scope("Down.Write")]}}),
    )
    .await;
    let (desktop, desktop_sp, _) = register(
        &server,
        &admin,
        json!({"displayName": "Desktop", "isFallbackPublicClient": true}),
    )
    .await;
    let secret = call(
        &server,
        &admin,
        Method::POST,
        &format!("/v1.0/applications/{middle_object}/addPassword"),
        json!({}),
    )
    .await;
    let secret = secret["secretText"].as_str().unwrap().to_owned();
    // Admin consent: the desktop app on the middle API, the middle API downstream.
    for (client, resource, scope) in [
        (&desktop_sp, &middle_sp, "access_as_user"),
        (&middle_sp, &down_sp, "Down.Read"),
    ] {
        call(&server, &admin, Method::POST, "/v1.0/oauth2PermissionGrants", json!({"clientId": client, "consentType": "AllPrincipals", "resourceId": resource, "scope": scope})).await;
    }

    // The user signs in to the desktop app for the middle API.
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "password"),
            ("client_id", &desktop),
            ("username", "admin@hale.local"),
            ("password", ADMIN_PASSWORD),
            ("scope", "api://middle/access_as_user"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let user_token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&user_token)["aud"], middle.as_str());

    let obo = |assertion: String, client: String, scope: &'static str, secret: Option<String>| {
        let server = &server;
        async move {
            let mut form = vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
                ("requested_token_use", "on_behalf_of".to_owned()),
                ("client_id", client),
                ("assertion", assertion),
                ("scope", scope.to_owned()),
            ];
            if let Some(secret) = secret {
                form.push(("client_secret", secret));
            }
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(server, &pairs).await
        }
    };
    let (status, body) = obo(
        user_token.clone(),
        middle.clone(),
        "api://down/Down.Read",
        Some(secret.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let down = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(down["aud"], "api://down");
    assert_eq!(
        down["appid"],
        middle.as_str(),
        "the middle tier is the client"
    );
    assert_eq!(down["upn"], "admin@hale.local", "the same user");
    assert_eq!(down["scp"], "Down.Read");
    assert_eq!(body["scope"], "api://down/Down.Read");

    // Mistakes.
    let app_token = {
        let (_, body) = token(
            &server,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &middle),
                ("client_secret", &secret),
                ("scope", "api://down/.default"),
            ],
        )
        .await;
        body["access_token"].as_str().unwrap().to_owned()
    };
    let tampered = format!("{}x", &user_token[..user_token.len() - 1]);
    let cases: Vec<Case> = vec![
        (
            user_token.clone(),
            middle.clone(),
            "api://down/Down.Write",
            Some(secret.clone()),
            400,
            65001,
        ),
        (
            user_token.clone(),
            middle.clone(),
            "api://down/Down.Read",
            None,
            401,
            7000218,
        ),
        (
            user_token.clone(),
            middle.clone(),
            "api://down/Down.Read",
            Some("wrong".into()),
            401,
            7000215,
        ),
        (
            user_token.clone(),
            desktop.clone(),
            "api://down/Down.Read",
            None,
            400,
            50013,
        ),
        (
            app_token,
            middle.clone(),
            "api://down/Down.Read",
            Some(secret.clone()),
            400,
            50013,
        ),
        (
            tampered,
            middle.clone(),
            "api://down/Down.Read",
            Some(secret.clone()),
            400,
            50013,
        ),
        (
            "not-a-jwt".into(),
            middle.clone(),
            "api://down/Down.Read",
            Some(secret.clone()),
            400,
            50013,
        ),
    ];
    for (assertion, client, scope, secret, status, code) in cases {
        let (got, body) = obo(assertion, client.clone(), scope, secret).await;
        assert_eq!(
            (got, body["error_codes"][0].as_u64()),
            (status, Some(code)),
            "{client} {scope}: {body}"
        );
    }
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", &middle),
            ("client_secret", &secret),
            ("assertion", &user_token),
            ("scope", "api://down/Down.Read"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(900144)),
        "{body}"
    );
}
