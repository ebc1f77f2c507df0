//! Claims-mapping policies: Graph's `policies/claimsMappingPolicies` and their
//! assignment to service principals, users' `onPremisesExtensionAttributes`,
//! and SMART on FHIR's `fhirUser` claim in the tokens that follow.

mod common;

use common::{Graph, assert_graph_error, claims_of, password_token, register, token};
use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

const SCOPES: &str = "Application.ReadWrite.All User.ReadWrite.All Directory.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All Policy.ReadWrite.ApplicationConfiguration";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

async fn start() -> Graph {
    let server = TestServer::start().await;
    let admin = server.admin_token(SCOPES).await;
    Graph { server, admin }
}

/// A policy definition (Graph's array of one JSON string) from `schema`.
fn definition(schema: Value) -> Value {
    json!([json!({"ClaimsMappingPolicy": {
        "Version": 1,
        "IncludeBasicClaimSet": "true",
        "ClaimsSchema": schema,
    }})
    .to_string()])
}

fn fhir_user_definition() -> Value {
    definition(json!([
        {"Source": "user", "ID": "extensionattribute1", "JwtClaimType": "fhirUser"}
    ]))
}

async fn create_policy(g: &Graph, name: &str, definition: Value) -> String {
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({"displayName": name, "definition": definition, "isOrganizationDefault": false})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn policy_ref(g: &Graph, id: &str) -> Value {
    json!({"@odata.id": format!("{}v1.0/policies/claimsMappingPolicies/{id}", g.server.info().public_url)})
}

async fn assign(g: &Graph, sp: &str, policy: &str) -> (u16, Value) {
    g.call(
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/claimsMappingPolicies/$ref"),
        Some(policy_ref(g, policy)),
    )
    .await
}

async fn assigned(g: &Graph, sp: &str) -> Vec<String> {
    let (status, body) = g
        .call(
            Method::GET,
            &format!("/v1.0/servicePrincipals/{sp}/claimsMappingPolicies"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    Graph::ids(&body)
}

#[tokio::test]
async fn policies_are_created_read_changed_and_deleted() {
    let g = start().await;
    let (status, created) = g
        .call(
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({
                "displayName": "FHIR user",
                "description": "fhirUser from extensionAttribute1",
                "definition": fhir_user_definition(),
                "isOrganizationDefault": false,
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["displayName"], "FHIR user");
    assert_eq!(created["definition"], fhir_user_definition());
    assert_eq!(created["isOrganizationDefault"], false);
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#policies/claimsMappingPolicies/$entity")
    );

    let path = format!("/v1.0/policies/claimsMappingPolicies/{id}");
    let (status, got) = g.call(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["description"], "fhirUser from extensionAttribute1");
    let (status, list) = g
        .call(Method::GET, "/v1.0/policies/claimsMappingPolicies", None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(Graph::ids(&list), vec![id.clone()]);

    let changed = definition(json!([{"Value": "hale", "JwtClaimType": "site"}]));
    let (status, body) = g
        .call(
            Method::PATCH,
            &path,
            Some(json!({"displayName": "Renamed", "definition": changed})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = g.call(Method::GET, &path, None).await;
    assert_eq!(
        (&got["displayName"], &got["definition"]),
        (&json!("Renamed"), &changed)
    );
    assert_eq!(got["description"], "fhirUser from extensionAttribute1");

    // Who may not write policies is refused.
    let reader = g.server.admin_token("Policy.Read.All").await;
    let (status, body) = g
        .call_as(
            &reader,
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({"displayName": "x", "definition": fhir_user_definition()})),
        )
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
    let (status, _) = g.call_as(&reader, Method::GET, &path, None).await;
    assert_eq!(status, 200);

    let (status, _) = g.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, body) = g.call(Method::GET, &path, None).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &id);
    let (_, list) = g
        .call(Method::GET, "/v1.0/policies/claimsMappingPolicies", None)
        .await;
    assert!(Graph::ids(&list).is_empty(), "{list}");
}

#[tokio::test]
async fn definitions_hale_cannot_honour_are_refused_and_nothing_is_stored() {
    let g = start().await;
    let user = |id: &str, claim: &str| {
        definition(json!([{"Source": "user", "ID": id, "JwtClaimType": claim}]))
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!(["{\"ClaimsMappingPolicy\": "]), "not valid JSON"),
        (json!("not an array"), "definition"),
        (json!([]), "exactly one"),
        (user("shoesize", "fhirUser"), "shoesize"),
        (
            user("extensionattribute16", "fhirUser"),
            "extensionattribute16",
        ),
        (user("mail", "aud"), "restricted"),
        (user("mail", "sub"), "restricted"),
        (user("mail", "scp"), "restricted"),
        (user("mail", "roles"), "restricted"),
        (user("mail", "xms_custom"), "restricted"),
        (
            json!([
                json!({"ClaimsMappingPolicy": {"Version": 1, "IncludeBasicClaimSet": "false"}})
                    .to_string()
            ]),
            "IncludeBasicClaimSet",
        ),
        (
            json!([
                json!({"ClaimsMappingPolicy": {"Version": 1, "ClaimsTransformations": []}})
                    .to_string()
            ]),
            "ClaimsTransformations",
        ),
        (
            definition(
                json!([{"Source": "application", "ID": "displayname", "JwtClaimType": "app"}]),
            ),
            "application",
        ),
    ];
    for (definition, part) in cases {
        let (status, body) = g
            .call(
                Method::POST,
                "/v1.0/policies/claimsMappingPolicies",
                Some(json!({"displayName": "bad", "definition": definition})),
            )
            .await;
        assert_graph_error(status, &body, 400, "Request_BadRequest", part);
    }
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({"displayName": "org", "definition": fhir_user_definition(), "isOrganizationDefault": true})),
        )
        .await;
    assert_graph_error(
        status,
        &body,
        400,
        "Request_BadRequest",
        "isOrganizationDefault",
    );
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({"definition": fhir_user_definition()})),
        )
        .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "displayName");
    let (_, list) = g
        .call(Method::GET, "/v1.0/policies/claimsMappingPolicies", None)
        .await;
    assert!(Graph::ids(&list).is_empty(), "stored: {list}");

    // A bad PATCH leaves the stored policy as it was.
    let id = create_policy(&g, "good", fhir_user_definition()).await;
    let path = format!("/v1.0/policies/claimsMappingPolicies/{id}");
    let (status, body) = g
        .call(
            Method::PATCH,
            &path,
            Some(json!({"displayName": "changed", "definition": user("mail", "oid")})),
        )
        .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "restricted");
    let (_, got) = g.call(Method::GET, &path, None).await;
    assert_eq!(
        (&got["displayName"], &got["definition"]),
        (&json!("good"), &fhir_user_definition())
    );
}

#[tokio::test]
async fn one_policy_is_assigned_per_service_principal() {
    let g = start().await;
    let (_, sp, _) = register(&g, json!({"displayName": "FHIR proxy"})).await;
    let first = create_policy(&g, "first", fhir_user_definition()).await;
    let second = create_policy(&g, "second", fhir_user_definition()).await;
    assert!(assigned(&g, &sp).await.is_empty());

    let (status, body) = assign(&g, &sp, &first).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(assigned(&g, &sp).await, vec![first.clone()]);
    let (status, body) = assign(&g, &sp, &second).await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "already");
    let (status, body) = assign(&g, &sp, &first).await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "already");
    assert_eq!(assigned(&g, &sp).await, vec![first.clone()]);

    // An unknown policy or service principal.
    let (_, other_sp, _) = register(&g, json!({"displayName": "Other"})).await;
    let missing = uuid::Uuid::new_v4().to_string();
    let (status, body) = assign(&g, &other_sp, &missing).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &missing);
    let (status, body) = assign(&g, &missing, &first).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &missing);
    assert!(assigned(&g, &other_sp).await.is_empty());

    // Removing the reference, then deleting a policy, removes assignments.
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/servicePrincipals/{sp}/claimsMappingPolicies/{first}/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(assigned(&g, &sp).await.is_empty());
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/servicePrincipals/{sp}/claimsMappingPolicies/{first}/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = assign(&g, &sp, &second).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/policies/claimsMappingPolicies/{second}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(assigned(&g, &sp).await.is_empty());
    let (status, body) = assign(&g, &sp, &first).await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn extension_attributes_are_patched_one_by_one_and_shown_when_selected() {
    let g = start().await;
    let user = g.create_user("pat", json!({})).await;
    let path = format!("/v1.0/users/{}", user["id"].as_str().unwrap());
    let selected = format!("{path}?$select=id,onPremisesExtensionAttributes");
    let attributes = |body: &Value| body["onPremisesExtensionAttributes"].clone();

    let (status, body) = g
        .call(
            Method::PATCH,
            &path,
            Some(json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "Patient/123", "extensionAttribute15": "x"}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = g.call(Method::GET, &selected, None).await;
    assert_eq!(status, 200, "{body}");
    let shown = attributes(&body);
    assert_eq!(shown["extensionAttribute1"], "Patient/123");
    assert_eq!(shown["extensionAttribute15"], "x");
    assert_eq!(shown["extensionAttribute2"], Value::Null);
    assert_eq!(shown.as_object().unwrap().len(), 15, "{shown}");
    // Not among the properties Graph returns by default.
    let (_, plain) = g.call(Method::GET, &path, None).await;
    assert!(
        plain.get("onPremisesExtensionAttributes").is_none(),
        "{plain}"
    );

    // Only the attributes named change; null clears.
    let (status, _) = g
        .call(
            Method::PATCH,
            &path,
            Some(json!({"onPremisesExtensionAttributes": {"extensionAttribute15": null}})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, body) = g.call(Method::GET, &selected, None).await;
    assert_eq!(attributes(&body)["extensionAttribute1"], "Patient/123");
    assert_eq!(attributes(&body)["extensionAttribute15"], Value::Null);

    for (bad, part) in [
        (json!({"extensionAttribute16": "x"}), "extensionAttribute16"),
        (json!({"extensionAttribute1": 5}), "string"),
        (json!({"extensionAttribute1": "x".repeat(1025)}), "1024"),
        (json!("Patient/9"), "onPremisesExtensionAttributes"),
    ] {
        let (status, body) = g
            .call(
                Method::PATCH,
                &path,
                Some(json!({"displayName": "changed", "onPremisesExtensionAttributes": bad})),
            )
            .await;
        assert_graph_error(status, &body, 400, "Request_BadRequest", part);
    }
    let (_, body) = g
        .call(
            Method::GET,
            &format!("{path}?$select=displayName,onPremisesExtensionAttributes"),
            None,
        )
        .await;
    assert_eq!(body["displayName"], "pat");
    assert_eq!(attributes(&body)["extensionAttribute1"], "Patient/123");
}

#[tokio::test]
async fn a_mapped_fhir_user_claim_reaches_the_token_once_the_api_accepts_it() {
    let g = start().await;
    let scope = json!({"id": uuid::Uuid::new_v4(), "value": "user_impersonation", "type": "User", "isEnabled": true});
    let (_, api_sp, api_object) = register(
        &g,
        json!({"displayName": "FHIR proxy", "identifierUris": ["api://fhir-proxy"], "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [scope]}}),
    )
    .await;
    let (client, client_sp, _) = register(
        &g,
        json!({"displayName": "SMART app", "isFallbackPublicClient": true}),
    )
    .await;
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/oauth2PermissionGrants",
            Some(json!({"clientId": client_sp, "consentType": "AllPrincipals", "resourceId": api_sp, "scope": "user_impersonation"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let patient = g.create_user("patient", json!({})).await;
    g.create_user("clinician", json!({})).await;
    let (status, _) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/users/{}", patient["id"].as_str().unwrap()),
            Some(json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "Patient/123"}})),
        )
        .await;
    assert_eq!(status, 204);
    let api_scope = "api://fhir-proxy/user_impersonation";

    // Without a policy: a token, without fhirUser.
    let (status, body) = password_token(&g, &client, "patient", api_scope).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("fhirUser")
            .is_none()
    );

    // With a policy but without acceptMappedClaims: AADSTS50146.
    let policy = create_policy(&g, "fhirUser", fhir_user_definition()).await;
    let (status, body) = assign(&g, &api_sp, &policy).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = password_token(&g, &client, "patient", api_scope).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    assert_eq!(body["error_codes"], json!([50146]), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("application-specific signing key"),
        "{body}"
    );

    // The API accepts mapped claims: the patient's token carries fhirUser.
    let (status, body) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/applications/{api_object}"),
            Some(json!({"api": {"acceptMappedClaims": true}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, app) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications/{api_object}"),
            None,
        )
        .await;
    assert_eq!(app["api"]["acceptMappedClaims"], true, "{app}");
    assert_eq!(app["api"]["requestedAccessTokenVersion"], 2, "{app}");
    let with_refresh = format!("{api_scope} offline_access");
    let (status, body) = password_token(&g, &client, "patient", &with_refresh).await;
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["fhirUser"], "Patient/123", "{claims}");
    assert_eq!(claims["oid"], patient["id"], "{claims}");
    // The refresh token's next access token carries it too.
    let (status, refreshed) = token(
        &g,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("scope", &with_refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let claims = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["fhirUser"], "Patient/123", "{claims}");

    // A user without the attribute gets no fhirUser.
    let (status, body) = password_token(&g, &client, "clinician", api_scope).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("fhirUser")
            .is_none()
    );

    // An app-only token has no user, hence no fhirUser.
    let (_, _, service_object) = register(&g, json!({"displayName": "Backend service"})).await;
    let (status, secret) = g
        .call(
            Method::POST,
            &format!("/v1.0/applications/{service_object}/addPassword"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{secret}");
    let (_, service) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications/{service_object}"),
            None,
        )
        .await;
    let (status, body) = token(
        &g,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", service["appId"].as_str().unwrap()),
            ("client_secret", secret["secretText"].as_str().unwrap()),
            ("scope", "api://fhir-proxy/.default"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["idtyp"], "app", "{claims}");
    assert!(claims.get("fhirUser").is_none(), "{claims}");

    // Deleting the policy ends the mapping.
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/policies/claimsMappingPolicies/{policy}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = password_token(&g, &client, "patient", api_scope).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("fhirUser")
            .is_none()
    );
}

#[tokio::test]
async fn id_tokens_follow_the_clients_policy_and_first_party_apis_get_none() {
    let g = start().await;
    let (client, client_sp, _) = register(
        &g,
        json!({"displayName": "SMART app", "isFallbackPublicClient": true}),
    )
    .await;
    let patient = g
        .create_user(
            "patient",
            json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "Patient/7"}}),
        )
        .await;
    let (status, body) = g
        .call(
            Method::GET,
            &format!(
                "/v1.0/users/{}?$select=onPremisesExtensionAttributes",
                patient["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["onPremisesExtensionAttributes"]["extensionAttribute1"],
        "Patient/7"
    );
    let (_, graph_sp) = g
        .call(
            Method::GET,
            &format!("/v1.0/servicePrincipals(appId='{GRAPH_APP_ID}')"),
            None,
        )
        .await;
    let graph_sp = graph_sp["id"].as_str().unwrap().to_owned();
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/oauth2PermissionGrants",
            Some(json!({"clientId": client_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read openid profile"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = create_policy(
        &g,
        "fhirUser",
        definition(json!([
            {"Source": "user", "ID": "ExtensionAttribute1", "JwtClaimType": "fhirUser"},
            {"Value": "hale-test", "JwtClaimType": "site"},
        ])),
    )
    .await;
    // On the client (its ID tokens) and on Microsoft Graph (first party: ignored).
    for sp in [&client_sp, &graph_sp] {
        let (status, body) = assign(&g, sp, &policy).await;
        assert_eq!(status, 204, "{body}");
    }
    let (status, body) = password_token(&g, &client, "patient", "openid profile User.Read").await;
    assert_eq!(status, 200, "{body}");
    let id_token = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["fhirUser"], "Patient/7", "{id_token}");
    assert_eq!(id_token["site"], "hale-test", "{id_token}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert!(access.get("fhirUser").is_none(), "{access}");
    assert!(access.get("site").is_none(), "{access}");
}
