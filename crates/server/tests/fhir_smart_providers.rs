//! A FHIR service's SMART identity providers (ARM's
//! `authenticationConfiguration.smartIdentityProviders`): Azure's validation
//! and messages, and tokens issued by a Hale tenant for another application
//! accepted by the service, reads only, within their SMART scopes.

mod common;

use common::claims_of;
use common::health::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The FHIR service's ARM body with `providers` as its SMART identity providers.
fn with_providers(providers: Value) -> Value {
    json!({
        "location": "westeurope",
        "kind": "fhir-R4",
        "properties": {"authenticationConfiguration": {"smartIdentityProviders": providers}},
    })
}

/// PATCHes the service's SMART identity providers (`null` removes them),
/// expecting 200.
async fn set_providers(h: &Health, id: &str, providers: Value) {
    let (status, body) = h
        .arm(Method::PATCH, id, Some(with_providers(providers)))
        .await;
    assert_eq!(status, 200, "{body}");
}

fn provider(authority: &str, client_id: &str, audience: &str) -> Value {
    json!({
        "authority": authority,
        "applications": [{"clientId": client_id, "audience": audience, "allowedDataActions": ["Read"]}],
    })
}

#[tokio::test]
async fn smart_identity_providers_are_validated_as_azure_does() {
    let h = Health::start().await;
    h.create_workspace("idp").await;
    let id = h.fhir_id("idp", "fhir1");
    let good = json!([provider(
        "https://login.example.org/t1/v2.0",
        "client-1",
        "api://fhir"
    )]);
    let (status, body) = h
        .arm(Method::PUT, &id, Some(with_providers(good.clone())))
        .await;
    assert_eq!(status, 201, "{body}");
    let config = &body["properties"]["authenticationConfiguration"];
    assert_eq!(config["smartIdentityProviders"], good);
    assert!(
        config["audience"]
            .as_str()
            .unwrap()
            .contains("/fhir/idp/fhir1")
    );

    let app = |client: &str, audience: &str, actions: Value| json!({"clientId": client, "audience": audience, "allowedDataActions": actions});
    let auth = "https://a.example.org";
    let cases = [
        (
            json!([
                provider("https://a.example.org", "c1", "x"),
                provider("https://b.example.org", "c2", "x"),
                provider("https://c.example.org", "c3", "x")
            ]),
            "The maximum number of SMART identity providers is 2.",
        ),
        (
            json!([provider("not a url", "c1", "x")]),
            "authority values are null, empty, or invalid",
        ),
        (
            json!([{"applications": [app("c1", "x", json!(["Read"]))]}]),
            "authority values are null, empty, or invalid",
        ),
        (
            json!([
                provider("https://a.example.org/", "c1", "x"),
                provider("https://A.example.org", "c2", "x")
            ]),
            "authorities must be unique",
        ),
        (
            json!([{"authority": auth, "applications": [app("c1", "x", json!(["Read"])), app("c2", "x", json!(["Read"])), app("c3", "x", json!(["Read"]))]}]),
            "The maximum number of SMART identity provider applications is 2.",
        ),
        (
            json!([{"authority": auth, "applications": []}]),
            "One or more SMART applications are null.",
        ),
        (
            json!([{"authority": auth}]),
            "One or more SMART applications are null.",
        ),
        (
            json!([{"authority": auth, "applications": [app("c1", "x", json!(["Read", "Read"]))]}]),
            "allowedDataActions contain duplicate elements",
        ),
        (
            json!([{"authority": auth, "applications": [app("c1", "x", json!(["Write"]))]}]),
            "allowedDataActions values are invalid",
        ),
        (
            json!([{"authority": auth, "applications": [app("c1", "x", json!([]))]}]),
            "allowedDataActions values are null or empty",
        ),
        (
            json!([{"authority": auth, "applications": [app("c1", "", json!(["Read"]))]}]),
            "audience values are null, empty, or invalid",
        ),
        (
            json!([{"authority": auth, "applications": [app("", "x", json!(["Read"]))]}]),
            "client id values are null, empty, or invalid",
        ),
        (
            json!([
                provider("https://a.example.org", "same", "x"),
                provider("https://b.example.org", "SAME", "y")
            ]),
            "client ids must be unique",
        ),
        (json!({"authority": auth}), "must be an array"),
    ];
    for (providers, message) in cases {
        for method in [Method::PUT, Method::PATCH] {
            let (status, body) = h
                .arm(method.clone(), &id, Some(with_providers(providers.clone())))
                .await;
            assert_eq!(status, 400, "{method} {providers}: {body}");
            let text = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                text.contains(message),
                "{providers}: {text:?} lacks {message:?}"
            );
        }
    }
    // Nothing changed.
    let (_, body) = h.arm(Method::GET, &id, None).await;
    assert_eq!(
        body["properties"]["authenticationConfiguration"]["smartIdentityProviders"],
        good
    );

    // PATCH replaces them; null removes them; a PATCH without them keeps them.
    let two = json!([
        provider("https://a.example.org", "c1", "x"),
        {"authority": "https://b.example.org", "applications": [app("c2", "y", json!(["Read"])), app("c3", "z", json!(["Read"]))]},
    ]);
    let (status, body) = h
        .arm(Method::PATCH, &id, Some(with_providers(two.clone())))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["properties"]["authenticationConfiguration"]["smartIdentityProviders"],
        two
    );
    let (status, _) = h
        .arm(Method::PATCH, &id, Some(json!({"tags": {"a": "b"}})))
        .await;
    assert_eq!(status, 200);
    let (_, body) = h.arm(Method::GET, &id, None).await;
    assert_eq!(
        body["properties"]["authenticationConfiguration"]["smartIdentityProviders"],
        two
    );
    let (status, body) = h
        .arm(Method::PATCH, &id, Some(with_providers(Value::Null)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["properties"]["authenticationConfiguration"]["smartIdentityProviders"],
        json!([])
    );

    // A DICOM service has no such setting.
    let dicom = h.dicom_id("idp", "dicom1");
    let (status, body) = h
        .arm(
            Method::PUT,
            &dicom,
            Some(json!({"location": "westeurope", "properties": {"authenticationConfiguration": {"smartIdentityProviders": good}}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

/// An API of the tenant with an app role, a client holding it, and a token
/// for the API (v1: `aud` is the API's identifier URI, `appid` the client).
struct SmartApi {
    client: App,
    other_client: App,
    audience: String,
}

async fn smart_api(h: &Health) -> SmartApi {
    let role_id = uuid::Uuid::new_v4();
    let audience = "api://smart-fhir-test".to_owned();
    let api = h
        .graph(
            Method::POST,
            "/v1.0/applications",
            json!({
                "displayName": "SMART FHIR API",
                "identifierUris": [audience],
                "appRoles": [{"id": role_id, "allowedMemberTypes": ["Application"], "value": "system.Patient.read",
                              "displayName": "Read patients", "description": "Read patients", "isEnabled": true}],
            }),
        )
        .await;
    let api_sp = h
        .graph(
            Method::POST,
            "/v1.0/servicePrincipals",
            json!({"appId": api["appId"]}),
        )
        .await;
    let client = h.register_app("smart-client").await;
    let other_client = h.register_app("smart-other-client").await;
    for app in [&client, &other_client] {
        let assigned = h
            .graph(
                Method::POST,
                &format!("/v1.0/servicePrincipals/{}/appRoleAssignments", app.principal_id),
                json!({"principalId": app.principal_id, "resourceId": api_sp["id"], "appRoleId": role_id}),
            )
            .await;
        assert_eq!(assigned["appRoleId"], json!(role_id), "{assigned}");
    }
    SmartApi {
        client,
        other_client,
        audience,
    }
}

#[tokio::test]
async fn tokens_of_a_smart_identity_provider_read_within_their_scopes() {
    let h = Health::start().await;
    let (id, url, writer_token) = h.fhir_with_contributor("smartidp", "fhir1").await;
    h.put_resources(&url, &writer_token, &two_patients("p1", "p2"))
        .await;

    let api = smart_api(&h).await;
    let token = h.token_v1(&api.client, &api.audience).await;
    let other = h.token_v1(&api.other_client, &api.audience).await;
    let get = |token: String, path: &'static str| {
        let h = &h;
        let url = &url;
        async move {
            h.data(Method::GET, &format!("{url}/{path}"), Some(&token))
                .await
        }
    };

    // Not a provider of the service yet: the token is for another audience.
    let reply = get(token.clone(), "Patient/p1").await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    // The tenant's v1 authority, the client and the API's audience.
    let authority = format!("{}{}", h.server.info().public_url, h.tenant);
    set_providers(
        &h,
        &id,
        json!([provider(&authority, &api.client.client_id, &api.audience)]),
    )
    .await;

    let reply = get(token.clone(), "Patient/p1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["id"], "p1");
    let reply = get(token.clone(), "Patient?_id=p1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["entry"][0]["resource"]["id"], "p1");
    // Its scopes name Patient only.
    assert_eq!(get(token.clone(), "Observation/p1-pulse").await.status, 403);
    // Reads only: allowedDataActions is `Read`.
    let res = h
        .server
        .client()
        .post(format!("{url}/Patient"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Patient"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Another client of the same API is not the configured one.
    assert_eq!(get(other.clone(), "Patient/p1").await.status, 401);
    // A token of the configured client for the service's own audience goes
    // through Azure RBAC, where the client holds nothing.
    let own = h.token_v1(&api.client, &url).await;
    assert_eq!(get(own, "Patient/p1").await.status, 403);

    // The v2 authority is another issuer: v1 tokens no longer match.
    set_providers(
        &h,
        &id,
        json!([provider(
            &format!("{authority}/v2.0"),
            &api.client.client_id,
            &api.audience
        )]),
    )
    .await;
    assert_eq!(get(token.clone(), "Patient/p1").await.status, 401);

    // Gone again with the setting.
    set_providers(
        &h,
        &id,
        json!([provider(&authority, &api.client.client_id, &api.audience)]),
    )
    .await;
    assert_eq!(get(token.clone(), "Patient/p1").await.status, 200);
    set_providers(&h, &id, Value::Null).await;
    assert_eq!(get(token, "Patient/p1").await.status, 401);
}

/// An OpenID provider on the loopback interface (as Keycloak or Azure AD
/// B2C would be elsewhere): its configuration and key set, counting how
/// often each is fetched, and tokens signed with its key.
struct ExternalProvider {
    authority: String,
    key: hale_keys::SigningKey,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ExternalProvider {
    async fn start() -> ExternalProvider {
        use axum::routing::get;
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = format!("http://{}/realms/clinic", listener.local_addr().unwrap());
        let key = hale_keys::SigningKey::generate(time::Duration::days(1)).unwrap();
        let jwk = hale_jws::Jwk::from_certificate(&key.certificate_der, None).unwrap();
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let config = json!({"issuer": authority, "jwks_uri": format!("{authority}/protocol/openid-connect/certs")});
        // An EC key the service must skip, beside the RSA one.
        let keys = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            jwk,
        ]});
        let counted = fetches.clone();
        let app = axum::Router::new()
            .route(
                "/realms/clinic/.well-known/openid-configuration",
                get(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let config = config.clone();
                    async move { axum::Json(config) }
                }),
            )
            .route(
                "/realms/clinic/protocol/openid-connect/certs",
                get(move || {
                    let keys = keys.clone();
                    async move { axum::Json(keys) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ExternalProvider {
            authority,
            key,
            fetches,
        }
    }

    /// A token of this provider: Keycloak's shape, `extra` merged over it.
    fn token(&self, extra: Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = json!({
            "iss": self.authority, "aud": "records-api", "azp": "patient-portal",
            "sub": "f0c1a2b3", "iat": now, "nbf": now, "exp": now + 600,
            "scp": "patient/*.read", "fhirUser": "Patient/p1",
        });
        if let (Some(base), Value::Object(more)) = (claims.as_object_mut(), extra) {
            base.extend(more);
        }
        sign_with(&self.key, &claims)
    }
}

fn sign_with(key: &hale_keys::SigningKey, claims: &Value) -> String {
    hale_jws::RsaSigner::from_pkcs8(key.pkcs8_der())
        .unwrap()
        .sign(&hale_jws::Header::entra_v2(&key.kid), claims)
        .unwrap()
}

#[tokio::test]
async fn an_external_identity_providers_tokens_are_checked_with_its_published_keys() {
    let h = Health::start().await;
    let (id, url, writer_token) = h.fhir_with_contributor("extidp", "fhir1").await;
    h.put_resources(&url, &writer_token, &two_patients("p1", "p2"))
        .await;

    let idp = ExternalProvider::start().await;
    set_providers(
        &h,
        &id,
        json!([provider(&idp.authority, "patient-portal", "records-api")]),
    )
    .await;
    let get = |token: String, path: &'static str| {
        let h = &h;
        let url = &url;
        async move {
            h.data(Method::GET, &format!("{url}/{path}"), Some(&token))
                .await
        }
    };

    let token = idp.token(json!({}));
    let reply = get(token.clone(), "Observation").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ids: Vec<&str> = reply.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p1-pulse"], "{}", reply.body);
    assert_eq!(get(token.clone(), "Patient/p1").await.status, 200);
    assert_eq!(get(token.clone(), "Patient/p2").await.status, 404);
    // The configuration was read once, then kept.
    assert_eq!(idp.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);

    let other_key = hale_keys::SigningKey::generate(time::Duration::days(1)).unwrap();
    let mut forged_claims = claims_of(&token);
    forged_claims["fhirUser"] = json!("Patient/p2");
    let now = forged_claims["iat"].as_u64().unwrap();
    for (why, refused) in [
        ("another key", sign_with(&other_key, &forged_claims)),
        ("another client", idp.token(json!({"azp": "someone-else"}))),
        ("another audience", idp.token(json!({"aud": "another-api"}))),
        (
            "another issuer",
            idp.token(json!({"iss": format!("{}/", idp.authority)})),
        ),
        (
            "expired",
            idp.token(json!({"exp": now - 3600, "nbf": now - 7200})),
        ),
    ] {
        let reply = get(refused, "Patient/p1").await;
        assert_eq!(reply.status, 401, "{why}: {}", reply.body);
    }
    // Without fhirUser, patient scopes get Azure's 400; a write, 403.
    let no_user = idp.token(json!({"fhirUser": null}));
    assert_eq!(get(no_user, "Patient/p1").await.status, 400);
    let res = h
        .server
        .client()
        .post(format!("{url}/Observation"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .body(
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     "subject": {"reference": "Patient/p1"}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
