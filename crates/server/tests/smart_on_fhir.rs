//! SMART on FHIR end to end, with Hale as the identity provider: a user's
//! `fhirUser` kept in a directory attribute, a claims-mapping policy that puts
//! it in the access tokens of an API exposing SMART scopes, a FHIR service
//! that takes that API's tokens (its SMART identity provider), and a patient
//! who then reads her own record and nobody else's.

mod common;

use common::claims_of;
use common::health::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "Correct-Horse-9-battery";

/// Graph with the administrator's token, any status.
async fn graph(h: &Health, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = h
        .server
        .client()
        .request(method, h.server.url(path))
        .bearer_auth(&h.graph);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_patient_reads_her_own_record_through_a_smart_identity_provider() {
    let h = Health::start().await;
    let (service, url, writer_token) = h.fhir_with_contributor("clinic", "records").await;
    // The records: two patients, an observation each.
    h.put_resources(&url, &writer_token, &two_patients("alice", "bob"))
        .await;

    // Alice, whose FHIR record is Patient/alice.
    let alice = h.create_user("alice", PASSWORD).await;
    let (status, body) = graph(
        &h,
        Method::PATCH,
        &format!("/v1.0/users/{alice}"),
        Some(json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "Patient/alice"}})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The API that stands for the FHIR service in the SMART world: its scopes
    // are SMART scopes (Entra's spelling, dots for slashes).
    let audience = "api://smart-records";
    let scope_id = uuid::Uuid::new_v4();
    let (status, api) = graph(
        &h,
        Method::POST,
        "/v1.0/applications",
        Some(json!({
            "displayName": "SMART records API",
            "identifierUris": [audience],
            "api": {
                "acceptMappedClaims": true,
                "oauth2PermissionScopes": [{"id": scope_id, "value": "patient.all.read", "type": "User",
                    "isEnabled": true, "adminConsentDisplayName": "Read the patient's record",
                    "adminConsentDescription": "Read the patient's record"}],
            },
        })),
    )
    .await;
    assert_eq!(status, 201, "{api}");
    let (status, api_sp) = graph(
        &h,
        Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({"appId": api["appId"]})),
    )
    .await;
    assert_eq!(status, 201, "{api_sp}");

    // fhirUser from extensionAttribute1, in the API's tokens.
    let definition = json!({"ClaimsMappingPolicy": {"Version": 1, "IncludeBasicClaimSet": "true",
        "ClaimsSchema": [{"Source": "user", "ID": "extensionattribute1", "JwtClaimType": "fhirUser"}]}});
    let (status, policy) = graph(
        &h,
        Method::POST,
        "/v1.0/policies/claimsMappingPolicies",
        Some(json!({"definition": [definition.to_string()], "displayName": "fhirUser", "isOrganizationDefault": false})),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let graph_base = h
        .server
        .info()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let (status, body) = graph(
        &h,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{}/claimsMappingPolicies/$ref", api_sp["id"].as_str().unwrap()),
        Some(json!({"@odata.id": format!("{graph_base}/v1.0/policies/claimsMappingPolicies/{}", policy["id"].as_str().unwrap())})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The SMART app: a public client, consented for everyone.
    let (status, app) = graph(
        &h,
        Method::POST,
        "/v1.0/applications",
        Some(json!({"displayName": "Patient portal", "isFallbackPublicClient": true})),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let (status, app_sp) = graph(
        &h,
        Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({"appId": client_id})),
    )
    .await;
    assert_eq!(status, 201, "{app_sp}");
    let (status, body) = graph(
        &h,
        Method::POST,
        "/v1.0/oauth2PermissionGrants",
        Some(
            json!({"clientId": app_sp["id"], "consentType": "AllPrincipals",
                    "resourceId": api_sp["id"], "scope": "patient.all.read"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The FHIR service takes the tenant's tokens for that API from that app.
    let authority = format!("{}{}", h.server.info().public_url, h.tenant);
    let (status, body) = h
        .arm(
            Method::PATCH,
            &service,
            Some(json!({"properties": {"authenticationConfiguration": {"smartIdentityProviders": [
                {"authority": authority, "applications": [
                    {"clientId": client_id, "audience": audience, "allowedDataActions": ["Read"]}]}]}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Alice signs in (the password grant stands in for the browser).
    let (status, body) = h
        .form(
            &format!("/{}/oauth2/v2.0/token", h.tenant),
            &[
                ("grant_type", "password"),
                ("client_id", &client_id),
                ("username", "alice@hale.local"),
                ("password", PASSWORD),
                ("scope", &format!("{audience}/patient.all.read")),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["fhirUser"], "Patient/alice", "{claims}");
    assert_eq!(claims["scp"], "patient.all.read", "{claims}");

    let get = |path: String| {
        let h = &h;
        let token = token.clone();
        async move { h.data(Method::GET, &path, Some(&token)).await }
    };
    let reply = get(format!("{url}/Patient/alice")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = get(format!("{url}/Observation")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ids: Vec<&str> = reply.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice-pulse"], "{}", reply.body);
    assert_eq!(get(format!("{url}/Patient/bob")).await.status, 404);
    assert_eq!(
        get(format!("{url}/Observation/bob-pulse")).await.status,
        404
    );

    // Bob has no fhirUser: his token for the API is refused by the service.
    let bob = h.create_user("bob", PASSWORD).await;
    assert!(!bob.is_empty());
    let (status, body) = h
        .form(
            &format!("/{}/oauth2/v2.0/token", h.tenant),
            &[
                ("grant_type", "password"),
                ("client_id", &client_id),
                ("username", "bob@hale.local"),
                ("password", PASSWORD),
                ("scope", &format!("{audience}/patient.all.read")),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let bob_token = body["access_token"].as_str().unwrap().to_owned();
    assert!(claims_of(&bob_token).get("fhirUser").is_none());
    let reply = h
        .data(Method::GET, &format!("{url}/Observation"), Some(&bob_token))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}
