//! The device code flow end to end over HTTP: the device asks for a code and
//! polls; the user enters the code on the device-login page, signs in and
//! consents (CSRF-protected forms, no JavaScript).

use hale_testkit::{ADMIN_PASSWORD, TestServer};
use serde_json::{Value, json};

/// A form, the status and AADSTS code it gets.
type Case<'a> = (Vec<(&'a str, &'a str)>, u16, u64);

const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

async fn post_form(server: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
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

/// A browser: keeps the CSRF cookie between page loads.
struct Browser {
    client: reqwest::Client,
    cookie: String,
}

impl Browser {
    async fn open(server: &TestServer) -> (Browser, String, String) {
        let client = server.client().clone();
        let res = client.get(server.url("/devicelogin")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = res.text().await.unwrap();
        let csrf = hidden(&html, "csrf");
        (Browser { client, cookie }, csrf, html)
    }

    async fn post(&self, server: &TestServer, form: &[(&str, &str)]) -> (u16, String) {
        let res = self
            .client
            .post(server.url("/devicelogin"))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_device_signs_in_through_the_device_login_page() {
    let server = TestServer::start().await;
    let tenant = server.info().installation.tenant.id.to_string();
    let scope = "https://management.azure.com//user_impersonation openid profile offline_access";
    let (status, start) = post_form(
        &server,
        &format!("/{tenant}/oauth2/v2.0/devicecode"),
        &[("client_id", CLI), ("scope", scope)],
    )
    .await;
    assert_eq!(status, 200, "{start}");
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    let device_code = start["device_code"].as_str().unwrap().to_owned();
    assert_eq!(
        start["verification_uri"],
        format!("{}devicelogin", server.info().public_url)
    );
    assert_eq!(start["interval"], 5);
    assert_eq!(start["expires_in"], 900);
    assert!(start["message"].as_str().unwrap().contains(&user_code));

    // MSAL Python's poll (URN grant, `code` too) and MSAL Node's (short name).
    let poll = |grant: &'static str| {
        let device_code = device_code.clone();
        let server = &server;
        let tenant = tenant.clone();
        async move {
            post_form(
                server,
                &format!("/{tenant}/oauth2/v2.0/token"),
                &[
                    ("grant_type", grant),
                    ("client_id", CLI),
                    ("device_code", &device_code),
                    ("code", &device_code),
                    ("client_info", "1"),
                ],
            )
            .await
        }
    };
    let (status, body) = poll("urn:ietf:params:oauth:grant-type:device_code").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending")),
        "{body}"
    );
    assert_eq!(body["error_codes"][0], 70016);

    let (browser, csrf, html) = Browser::open(&server).await;
    assert!(html.contains("Enter code"));
    // Without the CSRF token: refused.
    let (status, _) = browser.post(&server, &[("otc", &user_code)]).await;
    assert_eq!(status, 403);
    // A wrong code.
    let (status, page) = browser
        .post(&server, &[("csrf", &csrf), ("otc", "BBBBBBBBB")])
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("didn&#39;t work"), "{page}");
    // The code, typed in lower case with a dash.
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_lowercase();
    let (_, page) = browser
        .post(&server, &[("csrf", &csrf), ("otc", &typed)])
        .await;
    assert!(page.contains("Microsoft Azure CLI"), "{page}");
    assert_eq!(hidden(&page, "otc"), user_code);
    let (_, page) = browser
        .post(
            &server,
            &[
                ("csrf", &csrf),
                ("otc", &user_code),
                ("username", "admin@hale.local"),
                ("password", "wrong"),
                ("decision", "accept"),
            ],
        )
        .await;
    assert!(page.contains("incorrect"), "{page}");
    let (status, _) = poll("device_code").await;
    assert_eq!(status, 400, "still pending after a failed sign-in");
    let (_, page) = browser
        .post(
            &server,
            &[
                ("csrf", &csrf),
                ("otc", &user_code),
                ("username", "admin@hale.local"),
                ("password", ADMIN_PASSWORD),
                ("decision", "accept"),
            ],
        )
        .await;
    assert!(page.contains("You have signed in"), "{page}");

    let (status, body) = poll("device_code").await;
    assert_eq!(status, 200, "{body}");
    for field in ["access_token", "refresh_token", "id_token", "client_info"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    assert_eq!(
        body["scope"],
        json!("https://management.azure.com/user_impersonation openid profile offline_access")
    );
    // Redeemed once only; a used code on the page is refused too.
    let (status, body) = poll("device_code").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_verification_code")),
        "{body}"
    );
    let (_, page) = browser
        .post(&server, &[("csrf", &csrf), ("otc", &user_code)])
        .await;
    assert!(page.contains("didn&#39;t work"));
}

#[tokio::test]
async fn device_code_refusals() {
    let server = TestServer::start().await;
    let tenant = server.info().installation.tenant.id.to_string();
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let res = server
        .client()
        .post(server.url("/v1.0/applications"))
        .bearer_auth(&admin)
        .json(&json!({"displayName": "Confidential web app"}))
        .send()
        .await
        .unwrap();
    let app: Value = res.json().await.unwrap();
    let confidential = app["appId"].as_str().unwrap();
    let path = format!("/{tenant}/oauth2/v2.0/devicecode");
    let cases: Vec<Case> = vec![
        (vec![("scope", "openid")], 400, 900144),
        (vec![("client_id", CLI)], 400, 900144),
        (
            vec![("client_id", confidential), ("scope", "openid")],
            401,
            7000218,
        ),
        (
            vec![
                ("client_id", "11111111-1111-1111-1111-111111111111"),
                ("scope", "openid"),
            ],
            400,
            700016,
        ),
        (
            vec![("client_id", CLI), ("scope", "api://a/x api://b/y")],
            400,
            28000,
        ),
    ];
    for (form, status, code) in cases {
        let (got, body) = post_form(&server, &path, &form).await;
        assert_eq!(got, status, "{form:?}: {body}");
        assert_eq!(body["error_codes"][0], code, "{form:?}: {body}");
    }
    // A declined request ends the polling.
    let (_, start) = post_form(&server, &path, &[("client_id", CLI), ("scope", "openid")]).await;
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    let (browser, csrf, _) = Browser::open(&server).await;
    let (_, page) = browser
        .post(
            &server,
            &[
                ("csrf", &csrf),
                ("otc", &user_code),
                ("decision", "decline"),
            ],
        )
        .await;
    assert!(page.contains("declined"), "{page}");
    let (status, body) = post_form(
        &server,
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[
            ("grant_type", "device_code"),
            ("client_id", CLI),
            ("device_code", start["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_declined")),
        "{body}"
    );
}
