//! Discovery documents, JWKS and instance discovery, as MSAL fetches them.

use hale_testkit::TestServer;
use serde_json::Value;

async fn get(server: &TestServer, path: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let res = server.client().get(server.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap(), headers)
}

#[tokio::test]
async fn tenant_documents_by_guid_or_domain_name_every_endpoint_with_the_guid() {
    let server = TestServer::start().await;
    let tid = server.info().installation.tenant.id;
    let origin = server
        .info()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    for segment in [tid.to_string(), "hale.local".into(), "HALE.LOCAL".into()] {
        let (status, doc, headers) = get(
            &server,
            &format!("/{segment}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(status, 200, "{segment}: {doc}");
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        assert_eq!(doc["issuer"], format!("{origin}/{tid}/v2.0"));
        // What MSAL Python and MSAL Node require, all https on this origin.
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "device_authorization_endpoint",
            "jwks_uri",
            "end_session_endpoint",
        ] {
            let url = doc[field]
                .as_str()
                .unwrap_or_else(|| panic!("{field} missing"));
            assert!(
                url.starts_with(&format!("{origin}/{tid}/")),
                "{field}: {url}"
            );
        }
        assert_eq!(
            doc["token_endpoint"],
            format!("{origin}/{tid}/oauth2/v2.0/token")
        );
    }
    let (status, v1, _) = get(&server, &format!("/{tid}/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert_eq!(v1["issuer"], format!("{origin}/{tid}/"));
    assert_eq!(v1["token_endpoint"], format!("{origin}/{tid}/oauth2/token"));

    let (status, common, _) = get(&server, "/common/v2.0/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    assert_eq!(common["issuer"], format!("{origin}/{{tenantid}}/v2.0"));
    assert_eq!(
        common["token_endpoint"],
        format!("{origin}/common/oauth2/v2.0/token")
    );
}

#[tokio::test]
async fn unknown_tenants_get_entras_errors() {
    let server = TestServer::start().await;
    let missing = uuid::Uuid::new_v4();
    let cases = [
        (
            format!("/{missing}/v2.0/.well-known/openid-configuration"),
            90002,
            "not found",
        ),
        (
            "/contoso.example/discovery/v2.0/keys".to_owned(),
            90002,
            "not found",
        ),
        (
            "/not_a_tenant/v2.0/.well-known/openid-configuration".to_owned(),
            900023,
            "neither a valid DNS name",
        ),
    ];
    for (path, code, text) in cases {
        let res = server
            .client()
            .get(server.url(&path))
            .header("client-request-id", "6f0b5a8e-4f6e-4b8e-9a3e-2b1c0d9e8f7a")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
        assert_eq!(body["error_codes"][0], code, "{path}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")) && description.contains(text),
            "{description}"
        );
        assert_eq!(
            body["correlation_id"],
            "6f0b5a8e-4f6e-4b8e-9a3e-2b1c0d9e8f7a"
        );
    }
}

#[tokio::test]
async fn jwks_publishes_the_key_that_signs_tokens() {
    let server = TestServer::start().await;
    let tid = server.info().installation.tenant.id;
    let token = server.admin_token("User.Read").await;
    let (header, _) = hale_jws::decode_unverified(&token).unwrap();
    let kid = header.kid.unwrap();

    let (status, v2, _) = get(&server, &format!("/{tid}/discovery/v2.0/keys")).await;
    assert_eq!(status, 200);
    let keys: Vec<hale_jws::Jwk> = serde_json::from_value(v2["keys"].clone()).unwrap();
    let key = keys
        .iter()
        .find(|k| k.kid.as_deref() == Some(kid.as_str()))
        .expect("the signing key is published");
    assert_eq!(key.x5t, key.kid);
    assert_eq!(
        key.issuer.as_deref(),
        Some(format!("{}{tid}/v2.0", server.info().public_url).as_str())
    );
    let claims =
        hale_jws::verify(&token, &key.public_key().unwrap(), &[hale_jws::Alg::RS256]).unwrap();
    assert_eq!(claims["tid"], tid.to_string());

    let (status, v1, _) = get(&server, "/common/discovery/keys").await;
    assert_eq!(status, 200);
    assert!(v1["keys"][0].get("issuer").is_none());
    assert_eq!(v1["keys"][0]["kid"], kid.as_str());
}

#[tokio::test]
async fn instance_discovery_answers_for_port_less_authorities() {
    let server = TestServer::start().await;
    let tid = server.info().installation.tenant.id;
    // MSAL Python asks with the port dropped from the authority.
    let path = format!(
        "/common/discovery/instance?api-version=1.0&authorization_endpoint=https://127.0.0.1/{tid}/oauth2/v2.0/authorize"
    );
    let (status, doc, _) = get(&server, &path).await;
    assert_eq!(status, 200, "{doc}");
    let endpoint = doc["tenant_discovery_endpoint"].as_str().unwrap();
    assert_eq!(
        endpoint,
        format!(
            "{}{tid}/v2.0/.well-known/openid-configuration",
            server.info().public_url
        )
    );
    let res = server.client().get(endpoint).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn user_realm_says_which_accounts_are_managed_here() {
    let server = TestServer::start().await;
    let (status, body, _) = get(
        &server,
        "/common/userrealm/admin@hale.local?api-version=1.0",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["account_type"], "Managed");
    assert_eq!(body["domain_name"], "hale.local");
    assert_eq!(body["ver"], "1.0");
    for name in ["someone@elsewhere.example", "no-domain"] {
        let (status, body, _) = get(
            &server,
            &format!("/common/userrealm/{name}?api-version=1.0"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["account_type"], "Unknown", "{name}");
        assert!(body.get("domain_name").is_none());
    }
}
