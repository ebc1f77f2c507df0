//! The sign-in log (Graph `auditLogs/signIns`) and smart lockout.

use std::time::Duration;

use hale_testkit::TestServer;
use serde_json::{Value, json};

async fn token(server: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let res = server
        .client()
        .post(server.url("/hale.local/oauth2/v2.0/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The log, polled until `ready` holds (events are written in batches).
async fn sign_ins(
    server: &TestServer,
    query: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let admin = server.admin_token("AuditLog.Read.All").await;
    for _ in 0..50 {
        let res = server
            .client()
            .get(server.url(&format!("/v1.0/auditLogs/signIns{query}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let events = body["value"].as_array().unwrap().clone();
        if ready(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sign-in log never showed what was expected");
}

#[tokio::test]
async fn token_requests_and_failures_are_logged_and_passwords_lock_out() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token("Application.ReadWrite.All User.ReadWrite.All")
        .await;
    let app: Value = server
        .client()
        .post(server.url("/v1.0/applications"))
        .bearer_auth(&admin)
        .json(&json!({"displayName": "Logged daemon"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let secret: Value = server
        .client()
        .post(server.url(&format!(
            "/v1.0/applications/{}/addPassword",
            app["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server
        .client()
        .post(server.url("/v1.0/servicePrincipals"))
        .bearer_auth(&admin)
        .json(&json!({"appId": app_id}))
        .send()
        .await
        .unwrap();
    let secret = secret["secretText"].as_str().unwrap().to_owned();
    let cc = |s: String| {
        let app_id = app_id.clone();
        let server = &server;
        async move {
            token(
                server,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app_id),
                    ("client_secret", &s),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await
        }
    };
    assert_eq!(cc(secret.clone()).await.0, 200);
    assert_eq!(cc("wrong".into()).await.0, 401);

    let filter = format!("?$filter=appId eq '{app_id}'");
    let events = sign_ins(&server, &filter, |e| e.len() >= 2).await;
    let codes: Vec<i64> = events
        .iter()
        .map(|e| e["status"]["errorCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [7000215, 0], "newest first: {events:?}");
    let ok = &events[1];
    assert_eq!(ok["appDisplayName"], "Logged daemon");
    assert_eq!(ok["clientAppUsed"], "client_credentials");
    assert_eq!(ok["ipAddress"], "127.0.0.1");
    assert!(
        events[0]["status"]["failureReason"]
            .as_str()
            .unwrap()
            .contains("Invalid client secret")
    );

    // Smart lockout: ten wrong passwords lock the name; the right one is then
    // refused too, until the lockout ends.
    let res = server
        .client()
        .post(server.url("/v1.0/users"))
        .bearer_auth(&admin)
        .json(&json!({"accountEnabled": true, "displayName": "Guess Target", "mailNickname": "target",
            "userPrincipalName": "target@hale.local",
            "passwordProfile": {"password": "Right-Password-1", "forceChangePasswordNextSignIn": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let ropc = |password: &'static str| {
        let server = &server;
        async move {
            token(
                server,
                &[
                    ("grant_type", "password"),
                    ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                    ("username", "target@hale.local"),
                    ("password", password),
                    ("scope", "User.Read"),
                ],
            )
            .await
        }
    };
    // A success clears earlier failures.
    for _ in 0..5 {
        assert_eq!(ropc("wrong").await.1["error_codes"][0], 50126);
    }
    assert_eq!(ropc("Right-Password-1").await.0, 200);
    for _ in 0..10 {
        assert_eq!(ropc("wrong").await.1["error_codes"][0], 50126);
    }
    let (status, body) = ropc("Right-Password-1").await;
    assert_eq!(
        (status, body["error_codes"][0].as_i64()),
        (400, Some(50053)),
        "{body}"
    );
    let events = sign_ins(
        &server,
        "?$filter=userPrincipalName eq 'target@hale.local'&$top=3",
        |e| e.first().is_some_and(|f| f["status"]["errorCode"] == 50053),
    )
    .await;
    assert_eq!(events.len(), 3, "$top");

    // Reading the log needs AuditLog.Read.All.
    let reader = server.admin_token("User.Read.All").await;
    let res = server
        .client()
        .get(server.url("/v1.0/auditLogs/signIns"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
