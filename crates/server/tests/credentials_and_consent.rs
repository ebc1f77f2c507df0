//! Certificates (upload, addKey/removeKey with proof, client assertions as
//! the Microsoft clients sign them), app role assignments in the `roles`
//! claim, delegated consent, refresh tokens and ID tokens.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use hale_jws::{Alg, Header, RsaSigner};
use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

const CLIENT_CERT: &str = include_str!("fixtures/client-cert.pem");
const CLIENT_KEY: &str = include_str!("fixtures/client-key.pem");
const OTHER_CERT: &str = include_str!("fixtures/other-cert.pem");
const OTHER_KEY: &str = include_str!("fixtures/other-key.pem");

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn signer(key_pem: &str) -> RsaSigner {
    RsaSigner::from_pkcs8(&pem_body(key_pem)).unwrap()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn call(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server
        .client()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn token(server: &TestServer, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
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

/// PATCHes `path` with each of `values` as `property`: each is Graph's 400.
async fn patch_refused<const N: usize>(
    server: &TestServer,
    admin: &str,
    path: &str,
    property: &str,
    values: [Value; N],
) {
    for value in values {
        let (status, body) = call(
            server,
            admin,
            Method::PATCH,
            path,
            Some(json!({ property: value })),
        )
        .await;
        assert_eq!(status, 400, "{value}: {body}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{body}");
    }
}

/// The password grant for the administrator, from `client_id`, for `scope`.
async fn admin_password_token(server: &TestServer, client_id: &str, scope: &str) -> (u16, Value) {
    token(
        server,
        "hale.local",
        &[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", "admin@hale.local"),
            ("password", hale_testkit::ADMIN_PASSWORD),
            ("scope", scope),
        ],
    )
    .await
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

struct App {
    object_id: String,
    app_id: String,
    principal_id: String,
}

/// Registers an application from `body` and creates its service principal.
async fn register(server: &TestServer, admin: &str, body: Value) -> App {
    let (status, app) = call(
        server,
        admin,
        Method::POST,
        "/v1.0/applications",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let (status, sp) = call(
        server,
        admin,
        Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({ "appId": app_id })),
    )
    .await;
    assert_eq!(status, 201, "{sp}");
    App {
        object_id: app["id"].as_str().unwrap().to_owned(),
        app_id,
        principal_id: sp["id"].as_str().unwrap().to_owned(),
    }
}

fn assertion(key: &str, header: Header, claims: &Value) -> String {
    signer(key).sign(&header, claims).unwrap()
}

#[tokio::test]
async fn certificates_upload_and_sign_client_assertions() {
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let app = register(&server, &admin, json!({"displayName": "Cert daemon"})).await;
    let path = format!("/v1.0/applications/{}", app.object_id);
    let cert_der = pem_body(CLIENT_CERT);

    // Bad uploads change nothing.
    let bad = [
        json!([{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(CLIENT_KEY)}]),
        json!([{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode("not a certificate")}]),
        json!([{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "%%%"}]),
        json!([{"type": "Symmetric", "usage": "Verify", "key": STANDARD.encode(&cert_der)}]),
        json!([{"type": "AsymmetricX509Cert", "usage": "Sign", "key": STANDARD.encode(&cert_der)}]),
        json!([{"type": "AsymmetricX509Cert", "usage": "Verify"}]),
        json!([{"key": STANDARD.encode(&cert_der), "colour": "blue"}]),
        json!("not a list"),
    ];
    patch_refused(&server, &admin, &path, "keyCredentials", bad).await;
    let (_, fetched) = call(&server, &admin, Method::GET, &path, None).await;
    assert_eq!(fetched["keyCredentials"], json!([]));

    // The portal's upload: PEM text, base64-encoded, as Graph's `key`.
    let (status, body) = call(
        &server,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(CLIENT_CERT)}]})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, fetched) = call(&server, &admin, Method::GET, &path, None).await;
    let key = &fetched["keyCredentials"][0];
    assert_eq!(
        key["customKeyIdentifier"],
        STANDARD.encode(hale_jws::sha1_thumbprint(&cert_der))
    );
    assert_eq!(key["displayName"], "CN=hale-test-client");
    assert_eq!(
        key["key"],
        Value::Null,
        "the certificate comes back only when selected"
    );
    let (_, selected) = call(
        &server,
        &admin,
        Method::GET,
        &format!("{path}?$select=keyCredentials"),
        None,
    )
    .await;
    assert_eq!(
        selected["keyCredentials"][0]["key"],
        STANDARD.encode(&cert_der)
    );
    assert!(selected.get("displayName").is_none());
    let key_id = key["keyId"].as_str().unwrap().to_owned();

    let tenant = server.info().installation.tenant.id.to_string();
    let endpoint = server
        .url(&format!("/{tenant}/oauth2/v2.0/token"))
        .to_string();
    let base = |jwt: String| -> Vec<(String, String)> {
        vec![
            ("grant_type".into(), "client_credentials".into()),
            ("client_id".into(), app.app_id.clone()),
            (
                "scope".into(),
                "https://graph.microsoft.com/.default".into(),
            ),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), jwt),
        ]
    };
    let claims = |aud: &str, iss: &str, exp: f64| json!({"aud": aud, "iss": iss, "sub": app.app_id, "jti": "j-1", "iat": now(), "exp": exp});
    let good_claims = claims(&endpoint, &app.app_id, now() + 600.0);
    let sha1 = hale_jws::sha1_thumbprint(&cert_der);
    let sha256 = hale_jws::sha256_thumbprint(&cert_der);
    // MSAL Python: RS256, padded x5t, float times.
    let python = Header {
        x5t: Some(URL_SAFE.encode(sha1)),
        ..Header::new(Alg::RS256)
    };
    // MSAL Node / @azure/identity: PS256, unpadded x5t#S256.
    let node = Header {
        x5t_s256: Some(URL_SAFE_NO_PAD.encode(sha256)),
        ..Header::new(Alg::PS256)
    };
    // azure-identity with send_certificate_chain: x5c and x5t.
    let chain = Header {
        x5t: Some(URL_SAFE.encode(sha1)),
        x5c: Some(vec![STANDARD.encode(&cert_der)]),
        ..Header::new(Alg::RS256)
    };
    for header in [python, node.clone(), chain] {
        let form = base(assertion(CLIENT_KEY, header.clone(), &good_claims));
        let (status, body) = token(
            &server,
            &tenant,
            &form
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(status, 200, "{header:?}: {body}");
        let access = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(access["appidacr"], "2", "certificate authentication");
        assert_eq!(access["oid"], app.principal_id);
    }
    // The same assertion again (MSAL caches them): still accepted.
    let reused = base(assertion(CLIENT_KEY, node.clone(), &good_claims));
    for _ in 0..2 {
        let (status, _) = token(
            &server,
            &tenant,
            &reused
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(status, 200);
    }

    let other_der = pem_body(OTHER_CERT);
    let cases: Vec<(String, u64)> = vec![
        // Signed by another key, naming the registered certificate.
        (assertion(OTHER_KEY, node.clone(), &good_claims), 700027),
        // Naming a certificate the app does not have.
        (
            assertion(
                OTHER_KEY,
                Header {
                    x5t: Some(URL_SAFE_NO_PAD.encode(hale_jws::sha1_thumbprint(&other_der))),
                    ..Header::new(Alg::RS256)
                },
                &good_claims,
            ),
            700027,
        ),
        (
            assertion(
                CLIENT_KEY,
                node.clone(),
                &claims("https://elsewhere/token", &app.app_id, now() + 600.0),
            ),
            700212,
        ),
        (
            assertion(
                CLIENT_KEY,
                node.clone(),
                &claims(&endpoint, &app.app_id, now() - 1000.0),
            ),
            700024,
        ),
        (
            assertion(
                CLIENT_KEY,
                node.clone(),
                &claims(&endpoint, "someone-else", now() + 600.0),
            ),
            700021,
        ),
        ("not.a.jwt".into(), 50027),
    ];
    for (jwt, code) in cases {
        let form = base(jwt);
        let (status, body) = token(
            &server,
            &tenant,
            &form
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(status, 401, "{code}: {body}");
        assert_eq!(body["error"], "invalid_client", "{body}");
        assert_eq!(body["error_codes"][0], code, "{body}");
    }
    // A secret and an assertion together.
    let mut both = base(assertion(CLIENT_KEY, node.clone(), &good_claims));
    both.push(("client_secret".into(), "x".into()));
    let (status, body) = token(
        &server,
        &tenant,
        &both
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );

    // addKey: a second certificate, proven with the first.
    let proof_claims = json!({"aud": "00000002-0000-0000-c000-000000000000", "iss": app.object_id, "nbf": now() as i64, "exp": now() as i64 + 600});
    let proof = assertion(
        CLIENT_KEY,
        Header {
            x5t: Some(URL_SAFE_NO_PAD.encode(sha1)),
            ..Header::new(Alg::RS256)
        },
        &proof_claims,
    );
    let bad_proof = assertion(OTHER_KEY, Header::new(Alg::RS256), &proof_claims);
    let add = |proof: &str| json!({"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(&other_der)}, "passwordCredential": null, "proof": proof});
    let (status, body) = call(
        &server,
        &admin,
        Method::POST,
        &format!("{path}/addKey"),
        Some(add(&bad_proof)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(
        &server,
        &admin,
        Method::POST,
        &format!("{path}/addKey"),
        Some(add(&proof)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "CN=hale-other-client");
    let (_, fetched) = call(&server, &admin, Method::GET, &path, None).await;
    assert_eq!(fetched["keyCredentials"].as_array().unwrap().len(), 2);
    // Now the other key signs valid assertions.
    let form = base(assertion(
        OTHER_KEY,
        Header {
            x5t_s256: Some(URL_SAFE_NO_PAD.encode(hale_jws::sha256_thumbprint(&other_der))),
            ..Header::new(Alg::PS256)
        },
        &good_claims,
    ));
    let (status, body) = token(
        &server,
        &tenant,
        &form
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // removeKey of the first certificate; its assertions stop working at once.
    let (status, body) = call(
        &server,
        &admin,
        Method::POST,
        &format!("{path}/removeKey"),
        Some(json!({"keyId": key_id, "proof": proof})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = token(
        &server,
        &tenant,
        &reused
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027)),
        "{body}"
    );
}

#[tokio::test]
async fn app_role_assignments_become_the_roles_claim() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token("Application.ReadWrite.All AppRoleAssignment.ReadWrite.All")
        .await;
    let role_id = uuid::Uuid::new_v4().to_string();
    let api = register(
        &server,
        &admin,
        json!({
            "displayName": "Orders API",
            "identifierUris": ["api://orders-test"],
            "appRoles": [
                {"id": role_id, "allowedMemberTypes": ["Application"], "value": "Orders.Read.All", "displayName": "Read orders", "description": "Read all orders", "isEnabled": true}
            ]
        }),
    )
    .await;
    let daemon = register(&server, &admin, json!({"displayName": "Orders daemon"})).await;
    let (_, cred) = call(
        &server,
        &admin,
        Method::POST,
        &format!("/v1.0/applications/{}/addPassword", daemon.object_id),
        Some(json!({})),
    )
    .await;
    let secret = cred["secretText"].as_str().unwrap().to_owned();
    let tenant = server.info().installation.tenant.id.to_string();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", daemon.app_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "api://orders-test/.default"),
    ];
    let (status, body) = token(&server, &tenant, &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );

    // Refusals: a role the API lacks, a principal that is not the URL's, an
    // unknown resource, a caller without the permission.
    let assignments = format!(
        "/v1.0/servicePrincipals/{}/appRoleAssignments",
        daemon.principal_id
    );
    let refusals = [
        json!({"principalId": daemon.principal_id, "resourceId": api.principal_id, "appRoleId": uuid::Uuid::new_v4()}),
        json!({"principalId": api.principal_id, "resourceId": api.principal_id, "appRoleId": role_id}),
        json!({"principalId": daemon.principal_id, "resourceId": uuid::Uuid::new_v4(), "appRoleId": role_id}),
        json!({"principalId": daemon.principal_id, "resourceId": api.principal_id}),
        json!({"principalId": daemon.principal_id, "resourceId": api.principal_id, "appRoleId": role_id, "extra": 1}),
    ];
    for body in refusals {
        let (status, answer) = call(
            &server,
            &admin,
            Method::POST,
            &assignments,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let reader = server.admin_token("Application.Read.All").await;
    let grant = json!({"principalId": daemon.principal_id, "resourceId": api.principal_id, "appRoleId": role_id});
    let (status, _) = call(
        &server,
        &reader,
        Method::POST,
        &assignments,
        Some(grant.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (_, listed) = call(&server, &admin, Method::GET, &assignments, None).await;
    assert_eq!(listed["value"], json!([]));

    // "Grant admin consent" for the application permission.
    let (status, created) = call(
        &server,
        &admin,
        Method::POST,
        &assignments,
        Some(grant.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["principalType"], "ServicePrincipal");
    assert_eq!(created["resourceDisplayName"], "Orders API");
    let (status, _) = call(&server, &admin, Method::POST, &assignments, Some(grant)).await;
    assert_eq!(status, 400, "a duplicate assignment");
    let (_, assigned_to) = call(
        &server,
        &admin,
        Method::GET,
        &format!(
            "/v1.0/servicePrincipals/{}/appRoleAssignedTo",
            api.principal_id
        ),
        None,
    )
    .await;
    assert_eq!(assigned_to["value"][0]["id"], created["id"]);

    let (status, body) = token(&server, &tenant, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["roles"],
        json!(["Orders.Read.All"])
    );

    // Revoked: the very next token has no role.
    let (status, _) = call(
        &server,
        &admin,
        Method::DELETE,
        &format!("{assignments}/{}", created["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = token(&server, &tenant, &form).await;
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );
}

#[tokio::test]
async fn delegated_consent_refresh_tokens_and_id_tokens() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token("Application.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All")
        .await;
    let scope_id = uuid::Uuid::new_v4().to_string();
    let api = register(
        &server,
        &admin,
        json!({
            "displayName": "Notes API",
            "identifierUris": ["api://notes-test"],
            "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [
                {"id": scope_id, "value": "Notes.Read", "type": "User", "isEnabled": true, "adminConsentDisplayName": "Read notes", "adminConsentDescription": "Read notes"}
            ]}
        }),
    )
    .await;
    let client = register(
        &server,
        &admin,
        json!({"displayName": "Notes desktop", "isFallbackPublicClient": true}),
    )
    .await;
    let tenant = server.info().installation.tenant.id.to_string();
    let ropc = |scope: &'static str| {
        let client_id = client.app_id.clone();
        let server = &server;
        async move { admin_password_token(server, &client_id, scope).await }
    };
    let (status, body) = ropc("openid offline_access api://notes-test/Notes.Read").await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(65001)),
        "{body}"
    );

    // Admin consent for the tenant, through Graph.
    let grants = "/v1.0/oauth2PermissionGrants";
    let refusals = [
        json!({"clientId": client.principal_id, "consentType": "AllPrincipals", "resourceId": api.principal_id, "scope": "Notes.Write"}),
        json!({"clientId": client.principal_id, "consentType": "Everyone", "resourceId": api.principal_id, "scope": "Notes.Read"}),
        json!({"clientId": client.principal_id, "consentType": "Principal", "resourceId": api.principal_id, "scope": "Notes.Read"}),
        json!({"clientId": uuid::Uuid::new_v4(), "consentType": "AllPrincipals", "resourceId": api.principal_id, "scope": "Notes.Read"}),
    ];
    for body in refusals {
        let (status, answer) =
            call(&server, &admin, Method::POST, grants, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, grant) = call(
        &server,
        &admin,
        Method::POST,
        grants,
        Some(json!({"clientId": client.principal_id, "consentType": "AllPrincipals", "resourceId": api.principal_id, "scope": "notes.read"})),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["scope"], "Notes.Read", "the resource's spelling");
    let (_, listed) = call(
        &server,
        &admin,
        Method::GET,
        &format!("{grants}?$filter=clientId eq '{}'", client.principal_id),
        None,
    )
    .await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);

    let (status, body) = ropc("openid profile offline_access api://notes-test/Notes.Read").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"],
        "api://notes-test/Notes.Read openid profile offline_access"
    );
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        access["aud"], api.app_id,
        "a v2 resource's audience is its client ID"
    );
    assert_eq!(access["scp"], "Notes.Read");
    assert_eq!(access["ver"], "2.0");
    let id_token = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], client.app_id);
    assert_eq!(
        id_token["iss"],
        format!("{}{tenant}/v2.0", server.info().public_url)
    );
    assert_eq!(id_token["preferred_username"], "admin@hale.local");
    let info: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(body["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["uid"], id_token["oid"]);
    assert_eq!(info["utid"], tenant);

    // Silent refresh, also for another consented resource (Graph's User.Read
    // is not consented for this client: 65001).
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let form = |rt: &str, scope: &str| -> Vec<(String, String)> {
        vec![
            ("grant_type".into(), "refresh_token".into()),
            ("client_id".into(), client.app_id.clone()),
            ("refresh_token".into(), rt.into()),
            ("scope".into(), scope.into()),
        ]
    };
    let send = |f: Vec<(String, String)>| {
        let server = &server;
        let tenant = tenant.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            token(server, &tenant, &pairs).await
        }
    };
    let (status, body) = send(form(
        &refresh,
        "openid offline_access api://notes-test/Notes.Read",
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|rt| rt != refresh)
    );
    let (status, body) = send(form(&refresh, "https://graph.microsoft.com/User.Read")).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(65001)),
        "{body}"
    );
    let (status, body) = send(form("1.not-a-token", "api://notes-test/Notes.Read")).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70000)),
        "{body}"
    );
    let mut other_client = form(&refresh, "api://notes-test/Notes.Read");
    other_client[1].1 = api.app_id.clone();
    let (status, body) = send(other_client).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70000)),
        "another client's refresh token: {body}"
    );

    // Consent withdrawn: the refresh token no longer yields the scope.
    let (status, _) = call(
        &server,
        &admin,
        Method::DELETE,
        &format!("{grants}/{}", grant["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = send(form(&refresh, "api://notes-test/Notes.Read")).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(65001)),
        "{body}"
    );
}

#[tokio::test]
async fn password_changes_and_revocation_end_refresh_tokens() {
    let server = TestServer::start().await;
    let admin = server.admin_token("User.ReadWrite.All").await;
    let (status, user) = call(
        &server,
        &admin,
        Method::POST,
        "/v1.0/users",
        Some(json!({
            "accountEnabled": true,
            "displayName": "Rita Refresh",
            "mailNickname": "rita",
            "userPrincipalName": "rita@hale.local",
            "passwordProfile": {"password": "First-Password-1", "forceChangePasswordNextSignIn": false}
        })),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
    let sign_in = |password: &'static str| {
        let server = &server;
        async move {
            let (status, body) = token(
                server,
                "hale.local",
                &[
                    ("grant_type", "password"),
                    ("client_id", cli),
                    ("username", "rita@hale.local"),
                    ("password", password),
                    ("scope", "openid offline_access User.Read"),
                ],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["refresh_token"].as_str().unwrap().to_owned()
        }
    };
    let refresh = |rt: String| {
        let server = &server;
        async move {
            token(
                server,
                "hale.local",
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", cli),
                    ("refresh_token", rt.as_str()),
                    ("scope", "User.Read"),
                ],
            )
            .await
        }
    };
    let rt = sign_in("First-Password-1").await;
    assert_eq!(refresh(rt.clone()).await.0, 200);
    let path = format!(
        "/v1.0/users/{}/revokeSignInSessions",
        user["id"].as_str().unwrap()
    );
    let (status, body) = call(&server, &admin, Method::POST, &path, None).await;
    assert_eq!((status, &body["value"]), (200, &json!(true)), "{body}");
    let (status, body) = refresh(rt).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70000)),
        "{body}"
    );
    let reader = server.admin_token("User.Read.All").await;
    let (status, _) = call(&server, &reader, Method::POST, &path, None).await;
    assert_eq!(status, 403);

    // A password change by the administrator does the same.
    let rt = sign_in("First-Password-1").await;
    let (status, body) = call(
        &server,
        &admin,
        Method::PATCH,
        &format!("/v1.0/users/{}", user["id"].as_str().unwrap()),
        Some(json!({"passwordProfile": {"password": "Second-Password-2", "forceChangePasswordNextSignIn": false}})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = refresh(rt).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70000)),
        "{body}"
    );
    sign_in("Second-Password-2").await;
}

#[tokio::test]
async fn groups_claims_and_roles_assigned_to_groups() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token("Application.ReadWrite.All AppRoleAssignment.ReadWrite.All Group.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All")
        .await;
    let me: Value = {
        let token = server.admin_token("User.Read").await;
        server
            .client()
            .get(server.url("/v1.0/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let (status, outer) = call(&server, &admin, Method::POST, "/v1.0/groups", Some(json!({"displayName": "Clinicians", "mailEnabled": false, "mailNickname": "clinicians", "securityEnabled": true}))).await;
    assert_eq!(status, 201, "{outer}");
    let (_, inner) = call(&server, &admin, Method::POST, "/v1.0/groups", Some(json!({"displayName": "Nurses", "mailEnabled": false, "mailNickname": "nurses", "securityEnabled": true}))).await;
    let bind = |id: &Value| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", id.as_str().unwrap())});
    let add_member = |group: Value, member: Value| {
        let (server, admin) = (&server, &admin);
        async move {
            let path = format!("/v1.0/groups/{}/members/$ref", group.as_str().unwrap());
            let (status, body) =
                call(server, admin, Method::POST, &path, Some(bind(&member))).await;
            assert_eq!(status, 204, "{body}");
        }
    };
    add_member(outer["id"].clone(), inner["id"].clone()).await;
    add_member(inner["id"].clone(), me["id"].clone()).await;

    let role_id = uuid::Uuid::new_v4().to_string();
    let api = register(
        &server,
        &admin,
        json!({"displayName": "Charts API", "identifierUris": ["api://charts"], "groupMembershipClaims": "SecurityGroup",
            "api": {"oauth2PermissionScopes": [{"id": uuid::Uuid::new_v4(), "value": "Charts.Read", "type": "User", "isEnabled": true}]},
            "appRoles": [{"id": role_id, "allowedMemberTypes": ["User"], "value": "Clinician", "displayName": "Clinician", "description": "Clinician", "isEnabled": true}]}),
    )
    .await;
    let client = register(&server, &admin, json!({"displayName": "Charts desktop", "isFallbackPublicClient": true, "groupMembershipClaims": "SecurityGroup"})).await;
    call(&server, &admin, Method::POST, "/v1.0/oauth2PermissionGrants", Some(json!({"clientId": client.principal_id, "consentType": "AllPrincipals", "resourceId": api.principal_id, "scope": "Charts.Read"}))).await;
    // The role goes to the outer group; the user is in it through the inner one.
    let (status, body) = call(
        &server,
        &admin,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", api.principal_id),
        Some(json!({"principalId": outer["id"], "resourceId": api.principal_id, "appRoleId": role_id})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["principalType"], "Group");

    let (status, body) =
        admin_password_token(&server, &client.app_id, "openid api://charts/Charts.Read").await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        access["roles"],
        json!(["Clinician"]),
        "assigned through nested groups"
    );
    let mut groups: Vec<String> = access["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect();
    groups.sort();
    let mut expected = vec![
        outer["id"].as_str().unwrap().to_owned(),
        inner["id"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(groups, expected);
    let id_token = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["groups"].as_array().unwrap().len(), 2);

    // In 201 groups: more than a JWT holds. Entra's overage claim instead,
    // naming where the whole list is; that endpoint answers it.
    for n in 0..199 {
        let (status, group) = call(&server, &admin, Method::POST, "/v1.0/groups", Some(json!({"displayName": format!("Unit {n}"), "mailEnabled": false, "mailNickname": format!("unit-{n}"), "securityEnabled": true}))).await;
        assert_eq!(status, 201, "{group}");
        add_member(group["id"].clone(), inner["id"].clone()).await;
    }
    let (status, body) =
        admin_password_token(&server, &client.app_id, "openid api://charts/Charts.Read").await;
    assert_eq!(status, 200, "{body}");
    for jwt in [&body["access_token"], &body["id_token"]] {
        let claims = claims_of(jwt.as_str().unwrap());
        assert!(claims.get("groups").is_none(), "{claims}");
        assert_eq!(claims["_claim_names"], json!({"groups": "src1"}));
        let endpoint = claims["_claim_sources"]["src1"]["endpoint"]
            .as_str()
            .unwrap();
        assert_eq!(
            endpoint,
            server
                .url(&format!(
                    "/v1.0/users/{}/getMemberObjects",
                    me["id"].as_str().unwrap()
                ))
                .as_str()
        );
        // The roles still come through the groups.
        if claims["aud"] != client.app_id.as_str() {
            assert_eq!(claims["roles"], json!(["Clinician"]));
        }
    }
    let graph = server.admin_token("User.Read").await;
    let (status, listed) = call(
        &server,
        &graph,
        Method::POST,
        &format!(
            "/v1.0/users/{}/getMemberObjects",
            me["id"].as_str().unwrap()
        ),
        Some(json!({"securityEnabledOnly": true})),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["value"].as_array().unwrap().len(), 201, "{listed}");

    // v1 device authorization takes `resource=`.
    let tenant = server.info().installation.tenant.id;
    let res = server
        .client()
        .post(server.url(&format!("/{tenant}/oauth2/devicecode")))
        .form(&[
            ("client_id", client.app_id.as_str()),
            ("resource", "api://charts"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let started: Value = res.json().await.unwrap();
    assert!(started["user_code"].is_string(), "{started}");
}

#[tokio::test]
async fn strict_rotation_makes_each_refresh_token_work_once() {
    let server = TestServer::start_with(|s| s.strict_refresh_token_rotation = true).await;
    let cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
    let (status, body) = admin_password_token(&server, cli, "offline_access User.Read").await;
    assert_eq!(status, 200, "{body}");
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let server = &server;
        async move {
            token(
                server,
                "hale.local",
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", cli),
                    ("refresh_token", rt.as_str()),
                    ("scope", "User.Read"),
                ],
            )
            .await
        }
    };
    let (status, body) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(first).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70000)),
        "a spent refresh token: {body}"
    );
    assert_eq!(refresh(second).await.0, 200);
}

#[tokio::test]
async fn healthcare_api_permissions_wait_for_a_fhir_service() {
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    let app = register(&server, &admin, json!({"displayName": "FHIR client"})).await;
    let path = format!("/v1.0/applications/{}", app.object_id);
    let healthcare = "4f6778d8-5aef-43dc-a1ff-b073724b9495";
    let (_, sp) = call(
        &server,
        &admin,
        Method::GET,
        &format!("/v1.0/servicePrincipals(appId='{healthcare}')"),
        None,
    )
    .await;
    assert_eq!(
        sp["error"]["code"], "Request_ResourceNotFound",
        "not in the tenant yet: {sp}"
    );
    let scope_id = "e53a2c4c-0ba6-4a2c-8a8b-5f2f3b1b6b21";
    let request = json!({"requiredResourceAccess": [{"resourceAppId": healthcare, "resourceAccess": [{"id": scope_id, "type": "Scope"}]}]});
    let (status, body) = call(&server, &admin, Method::PATCH, &path, Some(request.clone())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FHIR service"),
        "{body}"
    );
    // Graph permissions that do not exist are refused too.
    let (status, _) = call(
        &server,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{"id": uuid::Uuid::new_v4(), "type": "Scope"}]}]})),
    )
    .await;
    assert_eq!(status, 400);

    // A FHIR service (through ARM), then the permission can be requested.
    let (status, arm) = admin_password_token(
        &server,
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "https://management.azure.com//user_impersonation",
    )
    .await;
    assert_eq!(status, 200, "{arm}");
    let arm = arm["access_token"].as_str().unwrap().to_owned();
    let ws = format!(
        "/subscriptions/{}/resourceGroups/hale-default/providers/Microsoft.HealthcareApis/workspaces/gatedws",
        server.info().installation.subscription_id
    );
    for (url, body) in [
        (
            format!("{ws}?api-version=2023-11-01"),
            json!({"location": "local"}),
        ),
        (
            format!("{ws}/fhirservices/fhir1?api-version=2023-11-01"),
            json!({"location": "local", "kind": "fhir-R4"}),
        ),
    ] {
        let res = server
            .client()
            .put(server.url(&url))
            .bearer_auth(&arm)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
    }
    let (status, body) = call(&server, &admin, Method::PATCH, &path, Some(request)).await;
    assert_eq!(status, 204, "{body}");
}

/// `optionalClaims`: stored and shown as Graph shows them, refused when Hale
/// would not emit them, and emitted from the user's profile: the client's
/// `idToken` list in its ID tokens, the resource's `accessToken` list in
/// access tokens for it; a claim whose attribute is empty is left out.
#[tokio::test]
async fn optional_claims_come_from_the_user_profile() {
    let server = TestServer::start().await;
    let admin = server
        .admin_token(
            "Application.ReadWrite.All User.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All",
        )
        .await;
    let (status, me) = call(
        &server,
        &server.admin_token("User.Read").await,
        Method::GET,
        "/v1.0/me",
        None,
    )
    .await;
    assert_eq!(status, 200, "{me}");
    let (status, body) = call(
        &server,
        &admin,
        Method::PATCH,
        &format!("/v1.0/users/{}", me["id"].as_str().unwrap()),
        Some(json!({"givenName": "Ada", "surname": "Lovelace", "mail": "ada@hale.local"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let api = register(
        &server,
        &admin,
        json!({"displayName": "Notes API", "identifierUris": ["api://notes"],
            "api": {"requestedAccessTokenVersion": 2,
                    "oauth2PermissionScopes": [{"id": uuid::Uuid::new_v4(), "value": "Notes.Read", "type": "User", "isEnabled": true}]},
            "optionalClaims": {"accessToken": [{"name": "given_name"}, {"name": "family_name"}, {"name": "email"}, {"name": "acct"}]}}),
    )
    .await;
    let client = register(
        &server,
        &admin,
        json!({"displayName": "Notes desktop", "isFallbackPublicClient": true}),
    )
    .await;
    let app_path = format!("/v1.0/applications/{}", client.object_id);
    let (status, app) = call(&server, &admin, Method::GET, &app_path, None).await;
    assert_eq!(status, 200);
    assert_eq!(app["optionalClaims"], Value::Null, "Graph's default");
    let (status, body) = call(
        &server,
        &admin,
        Method::PATCH,
        &app_path,
        Some(json!({"optionalClaims": {"idToken": [{"name": "upn", "essential": false}, {"name": "auth_time"}, {"name": "xms_pl"}]}})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, app) = call(&server, &admin, Method::GET, &app_path, None).await;
    assert_eq!(app["optionalClaims"]["idToken"][0]["name"], "upn");
    assert_eq!(app["optionalClaims"]["idToken"][0]["source"], Value::Null);
    assert_eq!(app["optionalClaims"]["accessToken"], json!([]));

    // Refused, and nothing changes: a claim Hale does not emit, a directory
    // extension, an unknown property, a claim named twice.
    let bad = [
        json!({"idToken": [{"name": "ipaddr"}]}),
        json!({"idToken": [{"name": "extension_fhirUser", "source": "user"}]}),
        json!({"idToken": [{"name": "upn", "emit": true}]}),
        json!({"accessToken": [{"name": "upn"}, {"name": "upn"}]}),
        json!({"idTokens": []}),
    ];
    patch_refused(&server, &admin, &app_path, "optionalClaims", bad).await;
    let (_, after) = call(&server, &admin, Method::GET, &app_path, None).await;
    assert_eq!(after["optionalClaims"], app["optionalClaims"]);

    call(&server, &admin, Method::POST, "/v1.0/oauth2PermissionGrants", Some(json!({"clientId": client.principal_id, "consentType": "AllPrincipals", "resourceId": api.principal_id, "scope": "Notes.Read"}))).await;
    let (status, body) =
        admin_password_token(&server, &client.app_id, "openid api://notes/Notes.Read").await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["given_name"], "Ada");
    assert_eq!(access["family_name"], "Lovelace");
    assert_eq!(access["email"], "ada@hale.local");
    assert_eq!(access["acct"], 0);
    assert!(access.get("auth_time").is_none(), "{access}");
    let id_token = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["upn"], "admin@hale.local");
    let auth_time = id_token["auth_time"].as_i64().unwrap();
    assert!(
        (id_token["iat"].as_i64().unwrap() - auth_time).abs() < 600,
        "{id_token}"
    );
    // No preferred language on the profile: no xms_pl.
    assert!(id_token.get("xms_pl").is_none(), "{id_token}");
    assert!(id_token.get("given_name").is_none(), "{id_token}");
}
