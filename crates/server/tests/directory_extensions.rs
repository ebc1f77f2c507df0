//! Directory extensions: Graph's `applications/{id}/extensionProperties` and
//! `directoryObjects/getAvailableExtensionProperties`, users' values through
//! `users/{id}`, and the values in tokens, as optional claims (`extn.{name}`)
//! and through a claims-mapping policy's `ExtensionID`.

mod common;

use common::{Graph, assert_graph_error, claims_of, password_token, register};
use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

const SCOPES: &str = "Application.ReadWrite.All User.ReadWrite.All Directory.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All Policy.ReadWrite.ApplicationConfiguration";

async fn start() -> Graph {
    let server = TestServer::start().await;
    let admin = server.admin_token(SCOPES).await;
    Graph { server, admin }
}

/// Registers extension `name` on application `object`: its full name.
async fn extension(g: &Graph, object: &str, name: &str, data_type: &str, multi: bool) -> String {
    let (status, body) = g
        .call(
            Method::POST,
            &format!("/v1.0/applications/{object}/extensionProperties"),
            Some(json!({"name": name, "dataType": data_type, "isMultiValued": multi, "targetObjects": ["User"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["name"].as_str().unwrap().to_owned()
}

fn full_name(app_id: &str, name: &str) -> String {
    format!("extension_{}_{name}", app_id.replace('-', ""))
}

async fn listed(g: &Graph, object: &str) -> Vec<String> {
    let (status, body) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications/{object}/extensionProperties"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn available(g: &Graph, body: Option<Value>) -> Vec<String> {
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/directoryObjects/getAvailableExtensionProperties",
            body,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn extension_properties_are_created_listed_read_and_deleted() {
    let g = start().await;
    let (app_id, _, object) = register(&g, json!({"displayName": "FHIR proxy"})).await;
    let (status, created) = g
        .call(
            Method::POST,
            &format!("/v1.0/applications/{object}/extensionProperties"),
            Some(json!({"name": "fhirUser", "dataType": "String", "targetObjects": ["User"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let name = full_name(&app_id, "fhirUser");
    assert_eq!(created["name"], name, "{created}");
    assert_eq!(created["dataType"], "String");
    assert_eq!(created["isMultiValued"], false);
    assert_eq!(created["isSyncedFromOnPremises"], false);
    assert_eq!(created["appDisplayName"], "FHIR proxy");
    assert_eq!(created["targetObjects"], json!(["User"]));
    assert!(created["deletedDateTime"].is_null());
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/extensionProperties/$entity")
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let roles = extension(&g, &object, "smartRoles", "String", true).await;

    assert_eq!(listed(&g, &object).await, vec![name.clone(), roles.clone()]);
    // The application named by appId sees the same.
    let (status, by_app_id) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications(appId='{app_id}')/extensionProperties/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{by_app_id}");
    assert_eq!(by_app_id["name"], name);
    assert_eq!(available(&g, None).await, vec![name.clone(), roles.clone()]);
    assert_eq!(
        available(&g, Some(json!({"isSyncedFromOnPremises": false}))).await,
        vec![name.clone(), roles.clone()]
    );
    assert!(
        available(&g, Some(json!({"isSyncedFromOnPremises": true})))
            .await
            .is_empty()
    );

    let (status, body) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/applications/{object}/extensionProperties/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(listed(&g, &object).await, vec![roles.clone()]);
    let (status, body) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications/{object}/extensionProperties/{id}"),
            None,
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &id);
    let (status, body) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/applications/{object}/extensionProperties/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");

    // Readers of applications read them; only writers change them.
    let reader = g.server.app_token(&["Application.Read.All"]).await;
    let path = format!("/v1.0/applications/{object}/extensionProperties");
    let (status, body) = g.call_as(&reader, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = g
        .call_as(
            &reader,
            Method::POST,
            &path,
            Some(json!({"name": "x", "dataType": "String", "targetObjects": ["User"]})),
        )
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
    let (status, _) = g
        .call_as(
            &reader,
            Method::DELETE,
            &format!("{path}/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let nothing = g.server.admin_token("User.Read").await;
    let (status, _) = g.call_as(&nothing, Method::GET, &path, None).await;
    assert_eq!(status, 403);
    assert_eq!(listed(&g, &object).await, vec![roles.clone()]);

    // Deleting the application deletes its extensions.
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/applications/{object}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(available(&g, None).await.is_empty());
}

#[tokio::test]
async fn bad_definitions_and_duplicates_are_refused_and_nothing_is_stored() {
    let g = start().await;
    let (_, _, object) = register(&g, json!({"displayName": "API"})).await;
    let name = extension(&g, &object, "fhirUser", "String", false).await;
    let long = "a".repeat(78);
    let cases = [
        json!({"name": "fhir-user", "dataType": "String", "targetObjects": ["User"]}),
        json!({"name": "", "dataType": "String", "targetObjects": ["User"]}),
        json!({"name": long, "dataType": "String", "targetObjects": ["User"]}),
        json!({"dataType": "String", "targetObjects": ["User"]}),
        json!({"name": "x", "dataType": "Text", "targetObjects": ["User"]}),
        json!({"name": "x", "dataType": "string", "targetObjects": ["User"]}),
        json!({"name": "x", "targetObjects": ["User"]}),
        json!({"name": "x", "dataType": "String", "targetObjects": []}),
        json!({"name": "x", "dataType": "String"}),
        json!({"name": "x", "dataType": "String", "targetObjects": ["ServicePrincipal"]}),
        json!({"name": "x", "dataType": "String", "targetObjects": ["User", "User"]}),
        json!({"name": "x", "dataType": "String", "targetObjects": "User"}),
        json!({"name": "x", "dataType": "String", "isMultiValued": "yes", "targetObjects": ["User"]}),
        json!({"name": "x", "dataType": "String", "targetObjects": ["User"], "color": "red"}),
        // The same name twice, in any case.
        json!({"name": "fhirUser", "dataType": "String", "targetObjects": ["User"]}),
        json!({"name": "FHIRUSER", "dataType": "Integer", "targetObjects": ["User"]}),
    ];
    for body in cases {
        let (status, answer) = g
            .call(
                Method::POST,
                &format!("/v1.0/applications/{object}/extensionProperties"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "Request_BadRequest", "{answer}");
    }
    assert_eq!(listed(&g, &object).await, vec![name.clone()]);
    assert_eq!(available(&g, None).await, vec![name]);
    // At most 100 per application.
    for i in 1..100 {
        extension(&g, &object, &format!("x{i}"), "String", false).await;
    }
    let (status, answer) = g
        .call(
            Method::POST,
            &format!("/v1.0/applications/{object}/extensionProperties"),
            Some(json!({"name": "x100", "dataType": "String", "targetObjects": ["User"]})),
        )
        .await;
    assert_graph_error(status, &answer, 400, "Request_BadRequest", "at most 100");
    assert_eq!(listed(&g, &object).await.len(), 100);
    // An application that does not exist has none.
    let (status, _) = g
        .call(
            Method::POST,
            &format!(
                "/v1.0/applications/{}/extensionProperties",
                uuid::Uuid::new_v4()
            ),
            Some(json!({"name": "x", "dataType": "String", "targetObjects": ["User"]})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn users_values_are_checked_and_shown_only_when_selected() {
    let g = start().await;
    let (_, _, object) = register(&g, json!({"displayName": "API"})).await;
    let fhir = extension(&g, &object, "fhirUser", "String", false).await;
    let flag = extension(&g, &object, "consented", "Boolean", false).await;
    let roles = extension(&g, &object, "roles", "String", true).await;
    let user = g.create_user("pat", json!({})).await;
    let path = format!("/v1.0/users/{}", user["id"].as_str().unwrap());

    let (status, body) = g
        .call(
            Method::PATCH,
            &path,
            Some(json!({&fhir: "Patient/123", &flag: true, &roles: ["a", "b"]})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let select = format!("{path}?$select=id,{fhir},{flag},{roles}");
    let (status, shown) = g.call(Method::GET, &select, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown[&fhir], "Patient/123", "{shown}");
    assert_eq!(shown[&flag], true, "{shown}");
    assert_eq!(shown[&roles], json!(["a", "b"]), "{shown}");
    // Not without $select, in a single read or a listing.
    let (_, plain) = g.call(Method::GET, &path, None).await;
    assert!(plain.get(&fhir).is_none(), "{plain}");
    let (_, list) = g.call(Method::GET, "/v1.0/users", None).await;
    assert!(!list.to_string().contains(&fhir), "{list}");
    let (status, list) = g
        .call(Method::GET, &format!("/v1.0/users?$select=id,{fhir}"), None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u[&fhir] == "Patient/123"),
        "{list}"
    );

    // Wrong types, unregistered names: 400 and nothing changes.
    let unknown = format!("extension_{}_fhirUser", "0".repeat(32));
    let long = "x".repeat(257);
    let bad = [
        json!({&fhir: 42}),
        json!({&fhir: ["Patient/1"]}),
        json!({&fhir: long}),
        json!({&flag: "true"}),
        json!({&roles: "a"}),
        json!({&roles: ["a", 1]}),
        json!({&unknown: "x"}),
        // A good value with a bad one changes nothing either.
        json!({&fhir: "Patient/9", &flag: "no"}),
    ];
    for body in bad {
        let (status, answer) = g.call(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, answer) = g
        .call(Method::PATCH, &path, Some(json!({&unknown: "x"})))
        .await;
    assert_graph_error(
        status,
        &answer,
        400,
        "Request_BadRequest",
        "does not exist as a declared property or extension property",
    );
    let (_, after) = g.call(Method::GET, &select, None).await;
    assert_eq!(after, shown);

    // An extension of groups only is not a user property.
    let (status, created) = g
        .call(
            Method::POST,
            &format!("/v1.0/applications/{object}/extensionProperties"),
            Some(json!({"name": "team", "dataType": "String", "targetObjects": ["Group"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let team = created["name"].as_str().unwrap();
    let (status, _) = g.call(Method::PATCH, &path, Some(json!({team: "x"}))).await;
    assert_eq!(status, 400);

    // null clears a value.
    let (status, _) = g
        .call(Method::PATCH, &path, Some(json!({&flag: null})))
        .await;
    assert_eq!(status, 204);
    let (_, after) = g.call(Method::GET, &select, None).await;
    assert!(after.get(&flag).is_none(), "{after}");
    assert_eq!(after[&fhir], "Patient/123");

    // A user created with a value has it.
    let created = g.create_user("pam", json!({&fhir: "Patient/456"})).await;
    let (_, read) = g
        .call(
            Method::GET,
            &format!(
                "/v1.0/users/{}?$select={fhir}",
                created["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(read[&fhir], "Patient/456", "{read}");

    // Deleting the extension takes its values away.
    let (_, props) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications/{object}/extensionProperties"),
            None,
        )
        .await;
    let id = props["value"][0]["id"].as_str().unwrap();
    assert_eq!(props["value"][0]["name"], fhir);
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/applications/{object}/extensionProperties/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, after) = g.call(Method::GET, &select, None).await;
    assert!(after.get(&fhir).is_none(), "{after}");
    assert_eq!(after[&roles], json!(["a", "b"]));
    let (status, _) = g
        .call(Method::PATCH, &path, Some(json!({&fhir: "Patient/1"})))
        .await;
    assert_eq!(status, 400);

    // Deleting the application takes the values of its other extensions.
    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/applications/{object}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, after) = g.call(Method::GET, &select, None).await;
    assert_eq!(status, 200, "{after}");
    assert!(after.get(&roles).is_none(), "{after}");
}

/// An API and a public client consented to it, a `fhirUser` extension on
/// the API, and two users: one with a value. Returns (API appId, API
/// service principal, API object ID, client appId, client object ID,
/// extension name).
async fn smart_setup(g: &Graph) -> (String, String, String, String, String, String) {
    let scope = json!({"id": uuid::Uuid::new_v4(), "value": "user_impersonation", "type": "User", "isEnabled": true});
    let (api, api_sp, api_object) = register(
        g,
        json!({"displayName": "FHIR proxy", "identifierUris": ["api://fhir-proxy"], "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [scope]}}),
    )
    .await;
    let (client, client_sp, client_object) = register(
        g,
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
    let fhir = extension(g, &api_object, "fhirUser", "String", false).await;
    g.create_user("patient", json!({&fhir: "Patient/123"}))
        .await;
    g.create_user("clinician", json!({})).await;
    (api, api_sp, api_object, client, client_object, fhir)
}

#[tokio::test]
async fn optional_claims_carry_extension_values_as_extn() {
    let g = start().await;
    let (_, _, api_object, client, client_object, fhir) = smart_setup(&g).await;
    let api_scope = "api://fhir-proxy/user_impersonation openid";

    // Before any optional claim: none.
    let (status, body) = password_token(&g, &client, "patient", api_scope).await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert!(access.get("extn.fhirUser").is_none(), "{access}");

    let optional = json!({"optionalClaims": {"accessToken": [{"name": fhir, "source": "user"}]}});
    let (status, body) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/applications/{api_object}"),
            Some(optional),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let optional = json!({"optionalClaims": {"idToken": [{"name": fhir, "source": "user", "essential": false, "additionalProperties": []}]}});
    let (status, body) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/applications/{client_object}"),
            Some(optional),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, app) = g
        .call(
            Method::GET,
            &format!("/v1.0/applications/{client_object}"),
            None,
        )
        .await;
    assert_eq!(
        app["optionalClaims"]["idToken"][0]["source"], "user",
        "{app}"
    );

    let (status, body) = password_token(&g, &client, "patient", api_scope).await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["extn.fhirUser"], "Patient/123", "{access}");
    let id = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id["extn.fhirUser"], "Patient/123", "{id}");
    assert_eq!(id["aud"], client.as_str());

    // A user without a value: no claim.
    let (status, body) = password_token(&g, &client, "clinician", api_scope).await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert!(access.get("extn.fhirUser").is_none(), "{access}");
    let id = claims_of(body["id_token"].as_str().unwrap());
    assert!(id.get("extn.fhirUser").is_none(), "{id}");

    // Names that are not extensions, or other sources, are refused.
    for claim in [
        json!({"name": "fhirUser", "source": "user"}),
        json!({"name": fhir, "source": "group"}),
        json!({"name": fhir}),
    ] {
        let (status, body) = g
            .call(
                Method::PATCH,
                &format!("/v1.0/applications/{api_object}"),
                Some(json!({"optionalClaims": {"accessToken": [claim]}})),
            )
            .await;
        assert_eq!(status, 400, "{body}");
    }
}

#[tokio::test]
async fn a_claims_mapping_policy_maps_an_extension_to_fhir_user() {
    let g = start().await;
    let (_, api_sp, api_object, client, _, fhir) = smart_setup(&g).await;
    let definition = json!([json!({"ClaimsMappingPolicy": {
        "Version": 1,
        "IncludeBasicClaimSet": "true",
        "ClaimsSchema": [{"Source": "user", "ExtensionID": fhir, "JwtClaimType": "fhirUser"}],
    }})
    .to_string()]);
    let (status, policy) = g
        .call(
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({"displayName": "fhirUser", "definition": definition})),
        )
        .await;
    assert_eq!(status, 201, "{policy}");
    let (status, body) = g
        .call(
            Method::POST,
            &format!("/v1.0/servicePrincipals/{api_sp}/claimsMappingPolicies/$ref"),
            Some(json!({"@odata.id": format!("{}v1.0/policies/claimsMappingPolicies/{}", g.server.info().public_url, policy["id"].as_str().unwrap())})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/applications/{api_object}"),
            Some(json!({"api": {"acceptMappedClaims": true}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let api_scope = "api://fhir-proxy/user_impersonation";
    let (status, body) = password_token(&g, &client, "patient", api_scope).await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["fhirUser"], "Patient/123", "{access}");
    let (status, body) = password_token(&g, &client, "clinician", api_scope).await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert!(access.get("fhirUser").is_none(), "{access}");

    // A policy naming something that is not an extension is refused.
    let bad = json!([json!({"ClaimsMappingPolicy": {
        "Version": 1,
        "ClaimsSchema": [{"Source": "user", "ExtensionID": "fhirUser", "JwtClaimType": "fhirUser"}],
    }})
    .to_string()]);
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/policies/claimsMappingPolicies",
            Some(json!({"displayName": "bad", "definition": bad})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}
