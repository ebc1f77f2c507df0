//! The authorization code flow with PKCE, driven like a browser: the sign-in
//! page, the consent page, the redirect back with the code, its redemption,
//! single sign-on by the session cookie, `prompt`, `response_mode`, logout,
//! and Entra's answer to each mistake.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hale_testkit::{ADMIN_PASSWORD, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

const VERIFIER: &str = "a-code-verifier-that-is-long-enough-for-pkce-0123456789";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(hale_jws::sha256_thumbprint(verifier.as_bytes()))
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A browser that does not follow redirects and keeps cookies by name.
struct Browser {
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        let pem = std::fs::read(server.info().ca_cert.as_ref().unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        Browser {
            client,
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for value in res.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, url: &str) -> (u16, Option<String>, String) {
        let res = self
            .client
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(res).await
    }

    async fn post(
        &mut self,
        url: &str,
        form: &[(String, String)],
    ) -> (u16, Option<String>, String) {
        let res = self
            .client
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.answer(res).await
    }

    async fn answer(&mut self, res: reqwest::Response) -> (u16, Option<String>, String) {
        self.keep(&res);
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, res.text().await.unwrap())
    }
}

/// The form a page carries: its hidden inputs.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let name = part
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value = part
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let unescape = |s: &str| {
            s.replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        };
        out.push((name.to_owned(), unescape(value)));
    }
    out
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

struct Setup {
    server: TestServer,
    tenant: String,
    app_id: String,
    secret: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let call = |method: Method, path: String, body: Value| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let res = server
                .client()
                .request(method, server.url(&path))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let api = call(
        Method::POST,
        "/v1.0/applications".into(),
        json!({"displayName": "Notes API", "identifierUris": ["api://notes"], "api": {"oauth2PermissionScopes": [
            {"id": uuid::Uuid::new_v4(), "value": "Notes.Read", "type": "User", "isEnabled": true}
        ]}}),
    )
    .await;
    call(
        Method::POST,
        "/v1.0/servicePrincipals".into(),
        json!({"appId": api["appId"]}),
    )
    .await;
    let app = call(
        Method::POST,
        "/v1.0/applications".into(),
        json!({
            "displayName": "Notes web",
            "web": {"redirectUris": ["https://app.example/signin-oidc"]},
            "spa": {"redirectUris": ["https://spa.example/"]},
            "publicClient": {"redirectUris": ["http://localhost"]}
        }),
    )
    .await;
    call(
        Method::POST,
        "/v1.0/servicePrincipals".into(),
        json!({"appId": app["appId"]}),
    )
    .await;
    let secret = call(
        Method::POST,
        format!(
            "/v1.0/applications/{}/addPassword",
            app["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    Setup {
        tenant: server.info().installation.tenant.id.to_string(),
        app_id: app["appId"].as_str().unwrap().to_owned(),
        secret: secret["secretText"].as_str().unwrap().to_owned(),
        server,
    }
}

impl Setup {
    fn authorize_url(&self, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
        let mut url = self
            .server
            .url(&format!("/{}/oauth2/v2.0/authorize", self.tenant));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.app_id);
            q.append_pair("response_type", "code");
            q.append_pair("redirect_uri", redirect_uri);
            q.append_pair(
                "scope",
                "openid profile offline_access api://notes/Notes.Read",
            );
            q.append_pair("state", "state-1");
            q.append_pair("nonce", "nonce-1");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    fn action(&self) -> String {
        self.server
            .url(&format!("/{}/oauth2/v2.0/authorize", self.tenant))
            .to_string()
    }

    async fn redeem(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let mut all = vec![
            ("grant_type", "authorization_code"),
            ("client_id", self.app_id.as_str()),
        ];
        all.extend_from_slice(form);
        let res = self
            .server
            .client()
            .post(
                self.server
                    .url(&format!("/{}/oauth2/v2.0/token", self.tenant)),
            )
            .form(&all)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }
}

#[tokio::test]
async fn a_public_client_signs_a_user_in_with_pkce_and_sso() {
    let s = setup().await;
    let mut browser = Browser::new(&s.server);
    let redirect = "http://localhost:5173/";
    let pkce = challenge(VERIFIER);
    let url = s.authorize_url(
        redirect,
        &[
            ("code_challenge", &pkce),
            ("code_challenge_method", "S256"),
            ("login_hint", "admin@hale.local"),
        ],
    );

    // The sign-in page, carrying the request; the login hint prefilled.
    let (status, _, page) = browser.get(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Notes web") && page.contains("value=\"admin@hale.local\""),
        "{page}"
    );
    let mut form = hidden_inputs(&page);
    assert!(
        form.iter()
            .any(|(k, v)| k == "code_challenge" && *v == pkce)
    );
    // A wrong password, then the right one.
    form.push(("username".into(), "admin@hale.local".into()));
    let mut wrong = form.clone();
    wrong.push(("password".into(), "nope".into()));
    let (status, _, page) = browser.post(&s.action(), &wrong).await;
    assert_eq!(status, 200);
    assert!(page.contains("incorrect"), "{page}");
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    let (status, _, page) = browser.post(&s.action(), &form).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Permissions requested") && page.contains("Notes.Read (Notes API)"),
        "{page}"
    );
    assert!(
        browser.cookies.iter().any(|(n, _)| n == "hale_session"),
        "signed in: a session"
    );

    // Accept: back to the app with a code and the state.
    let mut accept = hidden_inputs(&page);
    accept.push(("decision".into(), "accept".into()));
    let (status, location, _) = browser.post(&s.action(), &accept).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(redirect), "{location}");
    let pairs = query_of(&location);
    assert_eq!(get(&pairs, "state"), Some("state-1"));
    let code = get(&pairs, "code").unwrap().to_owned();

    // Redemption: the verifier is checked; the code works once.
    let (status, body) = s
        .redeem(&[
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"],
        "api://notes/Notes.Read openid profile offline_access"
    );
    assert_eq!(
        claims_of(body["id_token"].as_str().unwrap())["nonce"],
        "nonce-1"
    );
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["scp"],
        "Notes.Read"
    );
    assert!(body["refresh_token"].is_string());
    let (status, body) = s
        .redeem(&[
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(54005)),
        "{body}"
    );

    // Single sign-on: the session and the recorded consent skip both pages.
    let (status, location, _) = browser.get(&url).await;
    assert_eq!(status, 302);
    let code = get(&query_of(&location.unwrap()), "code")
        .unwrap()
        .to_owned();
    let cases: [(&[(&str, &str)], u64); 3] = [
        (
            &[
                ("redirect_uri", redirect),
                (
                    "code_verifier",
                    "a-different-verifier-that-is-long-enough-000000",
                ),
            ],
            501481,
        ),
        (
            &[
                ("redirect_uri", "http://localhost:5174/"),
                ("code_verifier", VERIFIER),
            ],
            54005,
        ),
        (
            &[("redirect_uri", redirect), ("code_verifier", VERIFIER)],
            54005,
        ),
    ];
    for (i, (form, code_expected)) in cases.iter().enumerate() {
        let mut all = vec![("code", code.as_str())];
        all.extend_from_slice(form);
        let (status, body) = s.redeem(&all).await;
        assert_eq!(
            (status, body["error_codes"][0].as_u64()),
            (400, Some(*code_expected)),
            "case {i}: {body}"
        );
    }
    // prompt=login asks again; prompt=none answers silently.
    let (status, _, page) = browser
        .get(&s.authorize_url(redirect, &[("code_challenge", &pkce), ("prompt", "login")]))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign in"));
    let (status, location, _) = browser
        .get(&s.authorize_url(redirect, &[("code_challenge", &pkce), ("prompt", "none")]))
        .await;
    assert_eq!(status, 302);
    assert!(get(&query_of(&location.unwrap()), "code").is_some());
    // A login hint naming someone else asks for a sign-in.
    let (status, _, _) = browser
        .get(&s.authorize_url(
            redirect,
            &[
                ("code_challenge", &pkce),
                ("login_hint", "someone@hale.local"),
            ],
        ))
        .await;
    assert_eq!(status, 200);

    // Logout ends the session: prompt=none now fails with login_required.
    let logout = s.server.url(&format!("/{}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri=https://app.example/signin-oidc", s.tenant, s.app_id)).to_string();
    let (status, location, _) = browser.get(&logout).await;
    assert_eq!(
        (status, location.as_deref()),
        (302, Some("https://app.example/signin-oidc"))
    );
    let (status, location, _) = browser
        .get(&s.authorize_url(redirect, &[("code_challenge", &pkce), ("prompt", "none")]))
        .await;
    assert_eq!(status, 302);
    let pairs = query_of(&location.unwrap());
    assert_eq!(get(&pairs, "error"), Some("login_required"));
    assert!(
        get(&pairs, "error_description")
            .unwrap()
            .starts_with("AADSTS50058")
    );
}

#[tokio::test]
async fn a_web_app_redeems_with_its_secret_and_mistakes_get_entras_answers() {
    let s = setup().await;
    let web = "https://app.example/signin-oidc";

    // Shown, not sent: unknown client, unregistered redirect URI.
    let mut browser = Browser::new(&s.server);
    let unknown = s
        .authorize_url(web, &[])
        .replace(&s.app_id, "11111111-1111-1111-1111-111111111111");
    let (status, location, page) = browser.get(&unknown).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("AADSTS700016"), "{page}");
    let (status, location, page) = browser
        .get(&s.authorize_url("https://evil.example/cb", &[]))
        .await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("AADSTS50011"), "{page}");

    // Sent back to the app: each with Entra's error and code.
    let pkce = challenge(VERIFIER);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            s.authorize_url("https://spa.example/", &[]),
            "invalid_request",
            "AADSTS9002325",
        ),
        (
            s.authorize_url("http://localhost", &[]),
            "invalid_request",
            "AADSTS9002325",
        ),
        (
            s.authorize_url(
                web,
                &[
                    ("code_challenge", &pkce),
                    ("code_challenge_method", "plain"),
                ],
            ),
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            s.authorize_url(web, &[("code_challenge", "short")]),
            "invalid_request",
            "AADSTS50147",
        ),
        (
            s.authorize_url(web, &[("prompt", "sometimes")]),
            "invalid_request",
            "AADSTS9002313",
        ),
        (
            s.authorize_url(web, &[("prompt", "none")]),
            "login_required",
            "AADSTS50058",
        ),
        (
            s.authorize_url(web, &[])
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
            "AADSTS700054",
        ),
        (
            s.authorize_url(web, &[]).replace(
                "api%3A%2F%2Fnotes%2FNotes.Read",
                "api%3A%2F%2Fa%2Fx+api%3A%2F%2Fb%2Fy",
            ),
            "invalid_scope",
            "AADSTS28000",
        ),
    ];
    for (url, error, code) in cases {
        let (status, location, page) = browser.get(&url).await;
        assert_eq!(status, 302, "{url}: {page}");
        let pairs = query_of(&location.unwrap());
        assert_eq!(get(&pairs, "error"), Some(error), "{url}: {pairs:?}");
        assert!(
            get(&pairs, "error_description").unwrap().starts_with(code),
            "{url}: {pairs:?}"
        );
        assert_eq!(get(&pairs, "state"), Some("state-1"));
    }

    // A web app: PKCE optional, the code delivered by form_post, redemption
    // needs the secret.
    let (_, _, page) = browser
        .get(&s.authorize_url(web, &[("response_mode", "form_post")]))
        .await;
    let mut form = hidden_inputs(&page);
    form.push(("username".into(), "admin@hale.local".into()));
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    let (_, _, page) = browser.post(&s.action(), &form).await;
    // Cancel on the consent page: access_denied, delivered by form_post.
    let mut cancel = hidden_inputs(&page);
    cancel.push(("decision".into(), "cancel".into()));
    let (status, _, answer) = browser.post(&s.action(), &cancel).await;
    assert_eq!(status, 200);
    assert!(
        answer.contains(&format!("action=\"{web}\"")) && answer.contains("access_denied"),
        "{answer}"
    );
    let mut accept = hidden_inputs(&page);
    accept.push(("decision".into(), "accept".into()));
    let (status, _, answer) = browser.post(&s.action(), &accept).await;
    assert_eq!(status, 200);
    let posted = hidden_inputs(&answer);
    let code = get(&posted, "code").unwrap().to_owned();
    assert_eq!(get(&posted, "state"), Some("state-1"));
    let (status, body) = s.redeem(&[("code", &code), ("redirect_uri", web)]).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000218)),
        "{body}"
    );
    // Failed client authentication leaves the code unspent: a wrong secret,
    // then the right one.
    let (status, body) = s
        .redeem(&[
            ("code", &code),
            ("redirect_uri", web),
            ("client_secret", "not-the-secret"),
        ])
        .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000215)),
        "{body}"
    );
    let (status, body) = s
        .redeem(&[
            ("code", &code),
            ("redirect_uri", web),
            ("client_secret", &s.secret),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["appidacr"], "1");
    // The web app's refresh token needs the secret too.
    let rt = body["refresh_token"].as_str().unwrap();
    let res = s
        .server
        .client()
        .post(s.server.url(&format!("/{}/oauth2/v2.0/token", s.tenant)))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", s.app_id.as_str()),
            ("refresh_token", rt),
            ("scope", "api://notes/Notes.Read"),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        status, 200,
        "the app also has public-client platforms: {body}"
    );
    let (status, body) = s
        .redeem(&[
            ("code", "0.Anot-a-code"),
            ("redirect_uri", web),
            ("client_secret", &s.secret),
        ])
        .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70000)),
        "{body}"
    );
}

#[tokio::test]
async fn a_user_who_must_change_the_password_does_it_at_sign_in() {
    let s = setup().await;
    let admin = s.server.admin_token("User.ReadWrite.All").await;
    let res = s
        .server
        .client()
        .post(s.server.url("/v1.0/users"))
        .bearer_auth(admin)
        .json(&json!({
            "accountEnabled": true, "displayName": "New Hire", "mailNickname": "newhire",
            "userPrincipalName": "newhire@hale.local",
            "passwordProfile": {"password": "Temporary-Pass-1", "forceChangePasswordNextSignIn": true}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let ropc = |password: &'static str| {
        let server = &s.server;
        async move {
            let res = server
                .client()
                .post(server.url("/hale.local/oauth2/v2.0/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                    ("username", "newhire@hale.local"),
                    ("password", password),
                    ("scope", "User.Read"),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ropc("Temporary-Pass-1").await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50055)),
        "{body}"
    );

    let mut browser = Browser::new(&s.server);
    let redirect = "https://app.example/signin-oidc";
    let (_, _, page) = browser.get(&s.authorize_url(redirect, &[])).await;
    let mut form = hidden_inputs(&page);
    form.push(("username".into(), "newhire@hale.local".into()));
    form.push(("password".into(), "Temporary-Pass-1".into()));
    let (_, _, page) = browser.post(&s.action(), &form).await;
    assert!(page.contains("Update your password"), "{page}");
    let change = |new: &str, confirm: &str| {
        let mut f = hidden_inputs(&page);
        f.push(("password".into(), "Temporary-Pass-1".into()));
        f.push(("new_password".into(), new.into()));
        f.push(("confirm_password".into(), confirm.into()));
        f
    };
    let (_, _, again) = browser
        .post(&s.action(), &change("Brand-New-Pass-2", "Brand-New-Pass-3"))
        .await;
    assert!(
        again.contains("don&#39;t match") && again.contains("Update your password"),
        "{again}"
    );
    let (_, _, again) = browser.post(&s.action(), &change("short", "short")).await;
    assert!(
        again.contains("Update your password") && again.contains("class=\"error\""),
        "{again}"
    );
    let (status, _, consent) = browser
        .post(&s.action(), &change("Brand-New-Pass-2", "Brand-New-Pass-2"))
        .await;
    assert_eq!(status, 200);
    assert!(consent.contains("Permissions requested"), "{consent}");
    // The old password no longer works; the new one does, without a change.
    let (status, body) = ropc("Temporary-Pass-1").await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50126)),
        "{body}"
    );
    let (status, body) = ropc("Brand-New-Pass-2").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn nobody_signs_in_to_an_application_whose_service_principal_is_disabled() {
    let s = setup().await;
    let admin = s.server.admin_token("Application.ReadWrite.All").await;
    let res = s
        .server
        .client()
        .post(s.server.url("/v1.0/applications"))
        .bearer_auth(&admin)
        .json(&json!({
            "displayName": "Retired app",
            "signInAudience": "AzureADMultipleOrgs",
            "web": {"redirectUris": ["https://retired.example/cb"]}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let app: Value = res.json().await.unwrap();
    let app_id = app["appId"].as_str().unwrap();
    let res = s
        .server
        .client()
        .post(s.server.url("/v1.0/servicePrincipals"))
        .bearer_auth(&admin)
        .json(&json!({"appId": app_id, "accountEnabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let expected =
        format!("AADSTS7000112: Application &#39;{app_id}&#39;(Retired app) is disabled.");
    let url = |tenant: &str| {
        let mut url = s.server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
        url.query_pairs_mut()
            .append_pair("client_id", app_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", "https://retired.example/cb")
            .append_pair("scope", "openid User.Read")
            .append_pair("state", "state-1");
        url.to_string()
    };

    // The tenant in the URL: refused before the sign-in form, on a page
    // (not sent back to the application).
    let mut browser = Browser::new(&s.server);
    let (status, location, page) = browser.get(&url(&s.tenant)).await;
    assert_eq!((status, location), (400, None), "{page}");
    assert!(page.contains(&expected), "{page}");

    // `organizations`: the tenant is known once the user signs in.
    let (status, _, page) = browser.get(&url("organizations")).await;
    assert_eq!(status, 200, "{page}");
    let mut form = hidden_inputs(&page);
    form.push(("username".into(), "admin@hale.local".into()));
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    let action = s
        .server
        .url("/organizations/oauth2/v2.0/authorize")
        .to_string();
    let (status, location, page) = browser.post(&action, &form).await;
    assert_eq!((status, location), (400, None), "{page}");
    assert!(page.contains(&expected), "{page}");
}

#[tokio::test]
async fn a_code_survives_requests_that_fail_client_authentication() {
    let s = setup().await;
    let mut browser = Browser::new(&s.server);
    let redirect = "http://localhost:5173/";
    let pkce = challenge(VERIFIER);
    let url = s.authorize_url(redirect, &[("code_challenge", &pkce)]);
    let (_, _, page) = browser.get(&url).await;
    let mut form = hidden_inputs(&page);
    form.push(("username".into(), "admin@hale.local".into()));
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    let (_, _, page) = browser.post(&s.action(), &form).await;
    let mut accept = hidden_inputs(&page);
    accept.push(("decision".into(), "accept".into()));
    let (_, location, _) = browser.post(&s.action(), &accept).await;
    let code = get(&query_of(&location.unwrap()), "code")
        .unwrap()
        .to_owned();

    // Each refused without spending the code. The first of a repeated
    // parameter wins, so the pair given here comes before the app's own.
    let cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
    let cases = [
        // Another client.
        (("client_id", cli), 400, "invalid_grant", 70000),
        // A public redirect URI's redemption presenting a secret.
        (("client_secret", "a-secret"), 401, "invalid_client", 700025),
        // A credential-less, unknown client ID.
        (
            ("client_id", "11111111-1111-1111-1111-111111111111"),
            400,
            "invalid_grant",
            70000,
        ),
    ];
    for (i, (extra, status_expected, error, code_expected)) in cases.into_iter().enumerate() {
        let form = [
            ("grant_type", "authorization_code"),
            extra,
            ("client_id", s.app_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ];
        let res = s
            .server
            .client()
            .post(s.server.url(&format!("/{}/oauth2/v2.0/token", s.tenant)))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            (
                status,
                body["error"].as_str(),
                body["error_codes"][0].as_u64()
            ),
            (status_expected, Some(error), Some(code_expected)),
            "case {i}: {body}"
        );
    }
    // The right request still redeems it, once.
    let right = [
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = s.redeem(&right).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.redeem(&right).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(54005)),
        "{body}"
    );
}

#[tokio::test]
async fn silent_requests_say_what_interaction_is_needed() {
    let s = setup().await;
    let mut browser = Browser::new(&s.server);
    let redirect = "https://app.example/signin-oidc";
    let silent = s.authorize_url(redirect, &[("prompt", "none")]);
    let error_of = |location: Option<String>| {
        let pairs = query_of(&location.unwrap());
        (
            get(&pairs, "error").unwrap().to_owned(),
            get(&pairs, "error_description").unwrap()[..12].to_owned(),
            get(&pairs, "state").map(str::to_owned),
        )
    };
    // No session: login_required.
    let (status, location, _) = browser.get(&silent).await;
    assert_eq!(status, 302);
    assert_eq!(
        error_of(location),
        (
            "login_required".into(),
            "AADSTS50058:".into(),
            Some("state-1".into())
        )
    );
    // Signed in, but nothing consented yet: consent_required.
    let (_, _, page) = browser.get(&s.authorize_url(redirect, &[])).await;
    let mut form = hidden_inputs(&page);
    form.push(("username".into(), "admin@hale.local".into()));
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    let (_, _, page) = browser.post(&s.action(), &form).await;
    assert!(page.contains("Permissions requested"), "{page}");
    let (status, location, _) = browser.get(&silent).await;
    assert_eq!(status, 302);
    assert_eq!(
        error_of(location),
        (
            "consent_required".into(),
            "AADSTS65001:".into(),
            Some("state-1".into())
        )
    );
}

fn fragment_of(location: &str) -> Vec<(String, String)> {
    let fragment = location.split_once('#').map(|(_, f)| f).unwrap_or_default();
    url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn id_tokens_come_by_the_implicit_and_hybrid_flows_once_enabled() {
    let s = setup().await;
    let web = "https://app.example/signin-oidc";
    let mut browser = Browser::new(&s.server);
    let implicit = |kind: &str, extra: &[(&str, &str)]| {
        s.authorize_url(web, extra)
            .replace("response_type=code", &format!("response_type={kind}"))
    };

    // Not enabled on the app (Entra's default): AADSTS700054, in the fragment.
    let (status, location, page) = browser.get(&implicit("id_token", &[])).await;
    assert_eq!(status, 302, "{page}");
    let pairs = fragment_of(&location.unwrap());
    assert_eq!(
        get(&pairs, "error"),
        Some("unsupported_response_type"),
        "{pairs:?}"
    );
    assert!(
        get(&pairs, "error_description")
            .unwrap()
            .contains("AADSTS700054")
    );

    // The administrator enables ID token issuance.
    let admin = s.server.admin_token("Application.ReadWrite.All").await;
    let res = s
        .server
        .client()
        .patch(
            s.server
                .url(&format!("/v1.0/applications(appId='{}')", s.app_id)),
        )
        .bearer_auth(&admin)
        .json(&json!({"web": {"redirectUris": [web],
                              "implicitGrantSettings": {"enableIdTokenIssuance": true}},
                      "groupMembershipClaims": "SecurityGroup",
                      "optionalClaims": {"idToken": [{"name": "upn"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    // The user is in a group, which the app asks to see in ID tokens.
    let groups_admin = s.server.admin_token("Group.ReadWrite.All User.Read").await;
    let graph = |method: Method, path: &str, body: Value| {
        let request = s
            .server
            .client()
            .request(method, s.server.url(path))
            .bearer_auth(&groups_admin);
        async move {
            let request = if body.is_null() {
                request
            } else {
                request.json(&body)
            };
            let res = request.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, me) = graph(Method::GET, "/v1.0/me", Value::Null).await;
    assert_eq!(status, 200, "{me}");
    // A new security group with the signed-in user in it: its id.
    let join_group = |nickname: String| {
        let (graph, me) = (&graph, &me);
        async move {
            let (status, group) = graph(
                Method::POST,
                "/v1.0/groups",
                json!({"displayName": nickname, "mailEnabled": false,
                       "mailNickname": nickname, "securityEnabled": true}),
            )
            .await;
            assert_eq!(status, 201, "{group}");
            let id = group["id"].as_str().unwrap().to_owned();
            let (status, _) = graph(
                Method::POST,
                &format!("/v1.0/groups/{id}/members/$ref"),
                json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}",
                                            me["id"].as_str().unwrap())}),
            )
            .await;
            assert_eq!(status, 204);
            id
        }
    };
    let group_id = join_group("web-readers".into()).await;

    // Mistakes, sent back: no nonce, tokens in a query string, no openid,
    // an access token asked of the authorization endpoint.
    let no_openid = implicit("id_token", &[]).replace("openid+", "");
    let cases = [
        (
            implicit("id_token", &[]).replace("&nonce=nonce-1", ""),
            "invalid_request",
        ),
        (
            implicit("id_token", &[("response_mode", "query")]),
            "invalid_request",
        ),
        (no_openid, "invalid_request"),
        (implicit("id_token+token", &[]), "unsupported_response_type"),
        (implicit("code+code", &[]), "unsupported_response_type"),
    ];
    for (url, error) in cases {
        let (status, location, page) = browser.get(&url).await;
        assert_eq!(status, 302, "{url}: {page}");
        let location = location.unwrap();
        let pairs = if location.contains('#') {
            fragment_of(&location)
        } else {
            query_of(&location)
        };
        assert_eq!(get(&pairs, "error"), Some(error), "{url}: {pairs:?}");
        assert!(get(&pairs, "id_token").is_none());
    }

    // A claims-mapping policy on the app's service principal applies to its
    // ID tokens, from the authorization endpoint too.
    let policy_admin = s
        .server
        .admin_token("Application.ReadWrite.All Policy.ReadWrite.ApplicationConfiguration User.ReadWrite.All")
        .await;
    let as_policy_admin = |method: Method, path: String, body: Value| {
        let request = s
            .server
            .client()
            .request(method, s.server.url(&path))
            .bearer_auth(&policy_admin)
            .json(&body);
        async move {
            let res = request.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, policy) = as_policy_admin(
        Method::POST,
        "/v1.0/policies/claimsMappingPolicies".into(),
        json!({"displayName": "fhirUser", "definition": [json!({"ClaimsMappingPolicy": {
            "Version": 1, "IncludeBasicClaimSet": "true", "ClaimsSchema": [
                {"Source": "user", "ID": "extensionattribute1", "JwtClaimType": "fhirUser"},
                {"Value": "hale", "JwtClaimType": "site"},
            ]}}).to_string()]}),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let (status, body) = as_policy_admin(
        Method::POST,
        format!("/v1.0/servicePrincipals(appId='{}')/claimsMappingPolicies/$ref", s.app_id),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/policies/claimsMappingPolicies/{}", policy["id"].as_str().unwrap())}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = as_policy_admin(
        Method::PATCH,
        format!("/v1.0/users/{}", me["id"].as_str().unwrap()),
        json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "Practitioner/9"}}),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The implicit flow: sign in, consent, and the ID token in the fragment.
    let (status, _, page) = browser.get(&implicit("id_token", &[])).await;
    assert_eq!(status, 200, "{page}");
    let mut form = hidden_inputs(&page);
    form.push(("username".into(), "admin@hale.local".into()));
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    let (status, _, page) = browser.post(&s.action(), &form).await;
    assert_eq!(status, 200, "{page}");
    let mut accept = hidden_inputs(&page);
    accept.push(("decision".into(), "accept".into()));
    let (status, location, _) = browser.post(&s.action(), &accept).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(&format!("{web}#")), "{location}");
    let pairs = fragment_of(&location);
    assert_eq!(get(&pairs, "state"), Some("state-1"));
    assert!(get(&pairs, "code").is_none());
    let id = claims_of(get(&pairs, "id_token").unwrap());
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["aud"], s.app_id.as_str());
    assert_eq!(id["preferred_username"], "admin@hale.local");
    assert_eq!(id["ver"], "2.0");
    assert_eq!(id["groups"], json!([group_id]));
    assert_eq!(id["upn"], "admin@hale.local");
    assert!(id.get("c_hash").is_none());
    assert_eq!(
        (&id["fhirUser"], &id["site"]),
        (&json!("Practitioner/9"), &json!("hale"))
    );

    // In six groups, too many for a token in a URL: Entra's `hasgroups`
    // instead; the token endpoint's ID token still lists them.
    let mut all_groups = vec![group_id.clone()];
    for n in 0..5 {
        all_groups.push(join_group(format!("ward-{n}")).await);
    }
    all_groups.sort();

    // The hybrid flow, signed in already: a code and an ID token bound to it
    // by c_hash, by form_post; the code redeems as any other.
    let (status, _, page) = browser
        .get(&implicit(
            "code+id_token",
            &[("response_mode", "form_post")],
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    let posted = hidden_inputs(&page);
    let code = get(&posted, "code").unwrap().to_owned();
    let id = claims_of(get(&posted, "id_token").unwrap());
    let digest = hale_jws::sha256_thumbprint(code.as_bytes());
    assert_eq!(id["c_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["hasgroups"], true);
    assert!(id.get("groups").is_none(), "{id}");
    let (status, body) = s
        .redeem(&[
            ("code", &code),
            ("redirect_uri", web),
            ("client_secret", &s.secret),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let redeemed = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(redeemed["sub"], id["sub"]);
    assert_eq!(redeemed["fhirUser"], "Practitioner/9", "{redeemed}");
    // The API has no policy: its access token has no mapped claims.
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("fhirUser")
            .is_none()
    );
    let mut listed: Vec<String> = serde_json::from_value(redeemed["groups"].clone()).unwrap();
    listed.sort();
    assert_eq!(listed, all_groups);
    assert!(redeemed.get("hasgroups").is_none());
}
