//! The password grant (ROPC) for public clients, as `hale login --username` and
//! `az login -u … -p …` use it with the Azure CLI's client ID.

use hale_testkit::{ADMIN_PASSWORD, TestServer};
use serde_json::{Value, json};

const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

async fn post(server: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = server
        .client()
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn admin_password_token(server: &TestServer, tenant: &str, scope: &str) -> (u16, Value) {
    post(
        server,
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[
            ("grant_type", "password"),
            ("client_id", CLI),
            ("username", "admin@hale.local"),
            ("password", ADMIN_PASSWORD),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn the_administrator_signs_in_with_the_cli_and_registers_an_app() {
    let server = TestServer::start().await;
    let tid = server.info().installation.tenant.id.to_string();
    for tenant in [tid.as_str(), "hale.local", "organizations"] {
        let (status, body) = admin_password_token(
            &server,
            tenant,
            "https://graph.microsoft.com/.default openid profile offline_access",
        )
        .await;
        assert_eq!(status, 200, "{tenant}: {body}");
        assert_eq!(body["token_type"], "Bearer");
        assert!(
            body["scope"]
                .as_str()
                .unwrap()
                .contains("Application.ReadWrite.All"),
            "{body}"
        );
    }
    let (_, body) = admin_password_token(
        &server,
        "hale.local",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let token = body["access_token"].as_str().unwrap();
    let (_, claims) = hale_jws::decode_unverified(token).unwrap();
    assert_eq!(claims["upn"], "admin@hale.local");
    assert_eq!(claims["appid"], CLI);
    assert_eq!(claims["appidacr"], "0");
    assert_eq!(claims["idtyp"], "user");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(
        claims["wids"],
        json!(["62e90394-69f5-4237-9190-012177145e10"])
    );
    assert_eq!(claims["tid"], tid.as_str());

    // The token is good for Graph: the seeds' registration, end to end.
    let res = server
        .client()
        .post(server.url("/v1.0/applications"))
        .bearer_auth(token)
        .json(&json!({"displayName": "Registered with a password-grant token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // ARM, for the control plane, with the Azure CLI's double-slash scope.
    let (status, body) = admin_password_token(
        &server,
        "hale.local",
        "https://management.azure.com//user_impersonation",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Scopes of resources other than Graph come back qualified, as in Entra.
    assert_eq!(
        body["scope"],
        "https://management.azure.com/user_impersonation"
    );
    // A narrower scope grants only itself.
    let (status, body) = admin_password_token(&server, "hale.local", "User.Read").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "User.Read");
    let res = server
        .client()
        .get(server.url("/v1.0/applications"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "User.Read does not read applications");
}

#[tokio::test]
async fn password_grant_mistakes_get_entras_errors() {
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let create = |body: Value| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let res = server
                .client()
                .post(server.url("/v1.0/applications"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    let confidential = create(json!({"displayName": "Confidential"})).await;
    let public = create(json!({"displayName": "Public", "isFallbackPublicClient": true})).await;
    let confidential_id = confidential["appId"].as_str().unwrap();
    let public_id = public["appId"].as_str().unwrap();
    let path = "/hale.local/oauth2/v2.0/token";
    let graph = "https://graph.microsoft.com/.default";
    fn base(client: &str) -> Vec<(&str, &str)> {
        vec![
            ("grant_type", "password"),
            ("client_id", client),
            ("username", "admin@hale.local"),
            ("scope", "https://graph.microsoft.com/.default"),
        ]
    }
    // (form, status, error, AADSTS code)
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            [base(CLI), vec![("password", "wrong")]].concat(),
            400,
            "invalid_grant",
            50126,
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLI),
                ("username", "nobody@hale.local"),
                ("password", "x"),
                ("scope", graph),
            ],
            400,
            "invalid_grant",
            50034,
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLI),
                ("scope", graph),
                ("password", "x"),
            ],
            400,
            "invalid_request",
            900144,
        ),
        (
            [
                base(CLI),
                vec![("password", ADMIN_PASSWORD), ("client_secret", "x")],
            ]
            .concat(),
            401,
            "invalid_client",
            700025,
        ),
        (
            [base(confidential_id), vec![("password", ADMIN_PASSWORD)]].concat(),
            401,
            "invalid_client",
            7000218,
        ),
        (
            [base(public_id), vec![("password", ADMIN_PASSWORD)]].concat(),
            400,
            "invalid_grant",
            65001,
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLI),
                ("username", "admin@hale.local"),
                ("password", ADMIN_PASSWORD),
                ("scope", "openid https://graph.microsoft.com/"),
            ],
            400,
            "invalid_scope",
            70011,
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLI),
                ("username", "admin@hale.local"),
                ("password", ADMIN_PASSWORD),
                (
                    "scope",
                    "https://graph.microsoft.com/User.Read https://management.azure.com/user_impersonation",
                ),
            ],
            400,
            "invalid_scope",
            28000,
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLI),
                ("username", "admin@hale.local"),
                ("password", ADMIN_PASSWORD),
                ("scope", "https://graph.microsoft.com/Mail.Send"),
            ],
            400,
            "invalid_grant",
            65001,
        ),
    ];
    for (form, status, error, code) in cases {
        let (got, body) = post(&server, path, &form).await;
        assert_eq!(got, status, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert_eq!(body["error_codes"][0], code, "{form:?}: {body}");
    }
}

#[tokio::test]
async fn userinfo_describes_the_signed_in_user() {
    let server = TestServer::start().await;
    let (status, body) =
        admin_password_token(&server, "hale.local", "openid profile email offline_access").await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (_, id_claims) = hale_jws::decode_unverified(body["id_token"].as_str().unwrap()).unwrap();

    // The discovery document leads to it.
    let discovery: Value = server
        .client()
        .get(server.url("/hale.local/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = discovery["userinfo_endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.ends_with("/oidc/userinfo"), "{endpoint}");

    // Give the administrator a profile, through Graph.
    let admin = server.admin_token("User.ReadWrite.All").await;
    let res = server
        .client()
        .patch(server.url("/v1.0/users/admin@hale.local"))
        .bearer_auth(&admin)
        .json(&json!({"givenName": "Ada", "surname": "Lovelace", "mail": "ada@hale.local"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());

    let ask = |post: bool, token: Option<String>| {
        let client = server.client().clone();
        let endpoint = endpoint.clone();
        async move {
            let req = if post {
                client.post(&endpoint)
            } else {
                client.get(&endpoint)
            };
            let req = match token {
                Some(t) => req.bearer_auth(t),
                None => req,
            };
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    for post in [false, true] {
        let (status, info) = ask(post, Some(token.clone())).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["sub"], id_claims["sub"], "the ID token's pairwise sub");
        assert_eq!(info["given_name"], "Ada");
        assert_eq!(info["family_name"], "Lovelace");
        assert_eq!(info["email"], "ada@hale.local");
        assert_eq!(info["name"], id_claims["name"]);
    }

    // Without a token, with a broken one, with an application's: Graph's 401.
    let app = server.app_token(&["User.Read.All"]).await;
    for bad in [None, Some("not-a-jwt".to_owned()), Some(app)] {
        let (status, error) = ask(false, bad).await;
        assert_eq!(status, 401, "{error}");
        assert_eq!(
            error["error"]["code"], "InvalidAuthenticationToken",
            "{error}"
        );
    }

    // A disabled user's token says nothing more about them.
    let res = server
        .client()
        .patch(server.url("/v1.0/users/admin@hale.local"))
        .bearer_auth(&admin)
        .json(&json!({"accountEnabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    let (status, error) = ask(false, Some(token)).await;
    assert_eq!(status, 401, "{error}");
}
