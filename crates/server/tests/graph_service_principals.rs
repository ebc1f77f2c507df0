//! `/v1.0/servicePrincipals`.

mod common;

use common::{Graph, assert_graph_error};
use hale_testkit::TestServer;
use serde_json::{Value, json};

async fn call(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
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
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn service_principals_are_created_once_per_app_and_listed() {
    let server = TestServer::start().await;
    let token = server.admin_token("Application.ReadWrite.All").await;
    let (_, app) = call(
        &server,
        &token,
        reqwest::Method::POST,
        "/v1.0/applications",
        Some(json!({"displayName": "Web app", "identifierUris": ["api://web"]})),
    )
    .await;
    let app_id = app["appId"].as_str().unwrap();

    let (status, sp) = call(
        &server,
        &token,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(status, 201, "{sp}");
    assert_eq!(sp["appId"], app_id);
    assert_eq!(sp["displayName"], "Web app");
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(sp["servicePrincipalNames"], json!([app_id, "api://web"]));
    assert_eq!(
        sp["appOwnerOrganizationId"],
        server.info().installation.tenant.id.to_string()
    );

    let (status, again) = call(
        &server,
        &token,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(
        again["error"]["code"],
        "Request_MultipleObjectsWithSameKeyValue"
    );

    let (status, by_app) = call(
        &server,
        &token,
        reqwest::Method::GET,
        &format!("/v1.0/servicePrincipals(appId='{app_id}')"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_app["id"], sp["id"]);
    let (status, by_id) = call(
        &server,
        &token,
        reqwest::Method::GET,
        &format!("/v1.0/servicePrincipals/{}", sp["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_id["appId"], app_id);

    // First-party apps are there from the start (Graph, ARM, the CLI) with Microsoft as owner.
    let (status, list) = call(
        &server,
        &token,
        reqwest::Method::GET,
        "/v1.0/servicePrincipals",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["displayName"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Microsoft Graph") && names.contains(&"Web app"),
        "{names:?}"
    );
    let graph = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["displayName"] == "Microsoft Graph")
        .unwrap();
    assert_eq!(
        graph["appOwnerOrganizationId"],
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
    );
}

#[tokio::test]
async fn bad_service_principal_requests_change_nothing() {
    let server = TestServer::start().await;
    let token = server.admin_token("Application.ReadWrite.All").await;
    let (_, before) = call(
        &server,
        &token,
        reqwest::Method::GET,
        "/v1.0/servicePrincipals",
        None,
    )
    .await;
    let cases = [
        (
            json!({"appId": uuid::Uuid::new_v4().to_string()}),
            400,
            "does not reference a valid application",
        ),
        (json!({"appId": "nope"}), 400, "appId"),
        (json!({}), 400, "appId"),
        (
            json!({"appId": "00000003-0000-0000-c000-000000000000", "colour": 1}),
            400,
            "colour",
        ),
        (
            json!({"appId": "00000003-0000-0000-c000-000000000000"}),
            409,
            "already in use",
        ),
    ];
    for (body, status, text) in cases {
        let (got, err) = call(
            &server,
            &token,
            reqwest::Method::POST,
            "/v1.0/servicePrincipals",
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(text),
            "{body}: {err}"
        );
    }
    let reader = server.admin_token("Application.Read.All").await;
    let (got, _) = call(
        &server,
        &reader,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({"appId": "797f4846-ba00-4fd7-ba43-dac1f8f63013"})),
    )
    .await;
    assert_eq!(got, 403);
    let (_, after) = call(
        &server,
        &token,
        reqwest::Method::GET,
        "/v1.0/servicePrincipals",
        None,
    )
    .await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn service_principals_show_the_permissions_their_application_exposes() {
    let server = TestServer::start().await;
    let admin = server.admin_token("Application.ReadWrite.All").await;
    // Microsoft Graph's, by its well-known IDs (what `az ad sp show` scripts read).
    let (status, graph) = call(
        &server,
        &admin,
        reqwest::Method::GET,
        "/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')",
        None,
    )
    .await;
    assert_eq!(status, 200, "{graph}");
    let role = graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "User.Read.All")
        .expect("User.Read.All");
    assert_eq!(role["id"], "df021288-bdef-4463-88db-98f22de89214");
    assert_eq!(role["allowedMemberTypes"], json!(["Application"]));
    let scope = graph["oauth2PermissionScopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["value"] == "User.Read")
        .expect("User.Read");
    assert_eq!(scope["id"], "e1fe6dd8-ba31-4d61-89e7-88639da4683d");
    assert_eq!(scope["type"], "User");

    // A registered API's, as its registration defines them, also when listed.
    let role_id = "0b6c7a3e-3d1f-4c55-9d2a-7f0e1c2b3a4d";
    let (_, app) = call(
        &server,
        &admin,
        reqwest::Method::POST,
        "/v1.0/applications",
        Some(json!({"displayName": "Exposing API", "appRoles": [
            {"id": role_id, "allowedMemberTypes": ["Application"], "value": "Thing.Read", "displayName": "Read", "description": "Read", "isEnabled": true}
        ]})),
    )
    .await;
    let (status, sp) = call(
        &server,
        &admin,
        reqwest::Method::POST,
        "/v1.0/servicePrincipals",
        Some(json!({"appId": app["appId"]})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(sp["appRoles"][0]["id"], role_id);
    let (_, list) = call(
        &server,
        &admin,
        reqwest::Method::GET,
        "/v1.0/servicePrincipals",
        None,
    )
    .await;
    let listed = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["appId"] == app["appId"])
        .unwrap();
    assert_eq!(listed["appRoles"][0]["value"], "Thing.Read");
}

#[tokio::test]
async fn service_principals_answer_filter_top_and_select() {
    let g = Graph::start().await;
    let mut app_ids = Vec::new();
    for (name, enabled) in [
        ("Query alpha", true),
        ("Query beta", false),
        ("Other gamma", true),
    ] {
        let (status, app) = g
            .call(
                reqwest::Method::POST,
                "/v1.0/applications",
                Some(json!({"displayName": name})),
            )
            .await;
        assert_eq!(status, 201, "{app}");
        let app_id = app["appId"].as_str().unwrap().to_owned();
        let (status, sp) = g
            .call(
                reqwest::Method::POST,
                "/v1.0/servicePrincipals",
                Some(json!({"appId": app_id, "accountEnabled": enabled})),
            )
            .await;
        assert_eq!(status, 201, "{sp}");
        app_ids.push(app_id);
    }
    let names = |list: &Value| -> Vec<String> {
        let mut names = Graph::field(list, "displayName");
        names.sort();
        names
    };
    let alpha_filter = format!("$filter=appId%20eq%20%27{}%27", app_ids[0]);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (alpha_filter, vec!["Query alpha"]),
        (
            "$filter=displayName%20eq%20%27query%20BETA%27".into(),
            vec!["Query beta"],
        ),
        (
            "$filter=startswith(displayName,%27Query%27)".into(),
            vec!["Query alpha", "Query beta"],
        ),
        (
            "$filter=accountEnabled%20eq%20false".into(),
            vec!["Query beta"],
        ),
        (
            "$filter=servicePrincipalType%20eq%20%27Application%27%20and%20startswith(displayName,%27Other%27)"
                .into(),
            vec!["Other gamma"],
        ),
    ];
    for (query, expected) in cases {
        let (status, list) = g
            .call(
                reqwest::Method::GET,
                &format!("/v1.0/servicePrincipals?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(names(&list), expected, "{query}: {list}");
    }

    // $top pages; $select shows only what is asked (on a listing and on one
    // service principal).
    let (status, page) = g
        .call(
            reqwest::Method::GET,
            "/v1.0/servicePrincipals?$filter=startswith(displayName,%27Query%27)&$top=1&$select=appId,displayName",
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let mut keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["appId", "displayName"], "{page}");
    let next = page["@odata.nextLink"].as_str().unwrap();
    let (status, rest) = g.call(reqwest::Method::GET, next, None).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["value"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest.get("@odata.nextLink").is_none(), "{rest}");
    let (status, one) = g
        .call(
            reqwest::Method::GET,
            &format!(
                "/v1.0/servicePrincipals(appId='{}')?$select=accountEnabled",
                app_ids[1]
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["accountEnabled"], false, "{one}");
    assert!(one.get("displayName").is_none(), "{one}");

    // Mistakes: Graph's errors, as on the other collections.
    for (query, expected, code, part) in [
        ("$filter=displayName%20eq", 400, "BadRequest", ""),
        (
            "$filter=homepage%20eq%20%27x%27",
            400,
            "Request_UnsupportedQuery",
            "homepage",
        ),
        ("$select=passwordCredentials", 400, "BadRequest", ""),
        ("$top=1000", 400, "Request_UnsupportedQuery", ""),
    ] {
        let (status, body) = g
            .call(
                reqwest::Method::GET,
                &format!("/v1.0/servicePrincipals?{query}"),
                None,
            )
            .await;
        assert_graph_error(status, &body, expected, code, part);
    }
}

/// A client-credentials token request for Microsoft Graph: status and body.
async fn client_credentials(server: &TestServer, app_id: &str, secret: &str) -> (u16, Value) {
    let tenant = server.info().installation.tenant.id;
    let res = server
        .client()
        .post(server.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app_id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// An application with a secret and a service principal: (appId, secret,
/// service principal object ID).
async fn app_with_service_principal(g: &Graph, name: &str) -> (String, String, String) {
    let (status, app) = g
        .call(
            reqwest::Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": name})),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let (status, cred) = g
        .call(
            reqwest::Method::POST,
            &format!(
                "/v1.0/applications/{}/addPassword",
                app["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{cred}");
    let (status, sp) = g
        .call(
            reqwest::Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(status, 201, "{sp}");
    (
        app["appId"].as_str().unwrap().to_owned(),
        cred["secretText"].as_str().unwrap().to_owned(),
        sp["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn patching_a_service_principal_disables_and_renames_it() {
    let g = Graph::start().await;
    let (app_id, secret, sp_id) = app_with_service_principal(&g, "Patched app").await;
    assert_eq!(client_credentials(&g.server, &app_id, &secret).await.0, 200);

    // Off (by object ID): no tokens, AADSTS7000112.
    let (status, body) = g
        .call(
            reqwest::Method::PATCH,
            &format!("/v1.0/servicePrincipals/{sp_id}"),
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, sp) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals/{sp_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(sp["accountEnabled"], false, "{sp}");
    let (status, body) = client_credentials(&g.server, &app_id, &secret).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert_eq!(body["error_codes"][0], 7000112, "{body}");

    // On again (by appId), and renamed: the application's name stays
    // `appDisplayName`.
    let (status, body) = g
        .call(
            reqwest::Method::PATCH,
            &format!("/v1.0/servicePrincipals(appId='{app_id}')"),
            Some(json!({"accountEnabled": true, "displayName": "Enterprise name"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = client_credentials(&g.server, &app_id, &secret).await;
    assert_eq!(status, 200, "{body}");
    let (_, sp) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals/{sp_id}"),
            None,
        )
        .await;
    assert_eq!(sp["accountEnabled"], true, "{sp}");
    assert_eq!(sp["displayName"], "Enterprise name", "{sp}");
    assert_eq!(sp["appDisplayName"], "Patched app", "{sp}");
    assert_eq!(sp["appId"], app_id.as_str(), "{sp}");
}

#[tokio::test]
async fn bad_service_principal_patches_change_nothing() {
    let g = Graph::start().await;
    let (app_id, _, sp_id) = app_with_service_principal(&g, "Guarded app").await;
    let path = format!("/v1.0/servicePrincipals/{sp_id}");
    let (_, before) = g.call(reqwest::Method::GET, &path, None).await;
    let cases = [
        // Graph's other properties, which Hale does not keep: refused, not lost.
        (json!({"tags": ["HideApp"]}), "'tags' does not exist"),
        (
            json!({"appRoleAssignmentRequired": true}),
            "'appRoleAssignmentRequired' does not exist",
        ),
        (json!({"notes": "x"}), "'notes' does not exist"),
        (json!({"colour": 1}), "'colour' does not exist"),
        (json!({"appId": app_id}), "'appId' is read-only"),
        (json!({"id": sp_id}), "'id' is read-only"),
        (json!({"accountEnabled": "no"}), "accountEnabled"),
        (json!({"accountEnabled": null}), "accountEnabled"),
        (json!({"displayName": ""}), "displayName"),
        (json!({"displayName": 7}), "displayName"),
        // A valid change beside a bad one is not made either.
        (
            json!({"accountEnabled": false, "tags": []}),
            "'tags' does not exist",
        ),
    ];
    for (body, part) in cases {
        let (status, err) = g
            .call(reqwest::Method::PATCH, &path, Some(body.clone()))
            .await;
        assert_graph_error(status, &err, 400, "Request_BadRequest", part);
    }
    let (status, err) = g.raw(reqwest::Method::PATCH, &path, "[1]").await;
    assert_graph_error(status, &err, 400, "Request_BadRequest", "JSON object");
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/v1.0/servicePrincipals/{missing}"),
        format!("/v1.0/servicePrincipals(appId='{missing}')"),
    ] {
        let (status, err) = g
            .call(
                reqwest::Method::PATCH,
                &path,
                Some(json!({"accountEnabled": false})),
            )
            .await;
        assert_graph_error(status, &err, 404, "Request_ResourceNotFound", "");
    }

    // Who may: a reader may not; a user without a role may change only the
    // service principal of an application they own.
    let reader = g.server.admin_token("Application.Read.All").await;
    let (status, err) = g
        .call_as(
            &reader,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_graph_error(status, &err, 403, "Authorization_RequestDenied", "");
    let dev = g.create_user("spdev", json!({})).await;
    let dev_token = g
        .user_token(dev["id"].as_str().unwrap(), "Application.ReadWrite.All")
        .await;
    let (status, err) = g
        .call_as(
            &dev_token,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_graph_error(status, &err, 403, "Authorization_RequestDenied", "");
    let (_, after) = g.call(reqwest::Method::GET, &path, None).await;
    assert_eq!(before, after);

    let (status, owned) = g
        .call_as(
            &dev_token,
            reqwest::Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "Dev's app"})),
        )
        .await;
    assert_eq!(status, 201, "{owned}");
    let (status, sp) = g
        .call(
            reqwest::Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": owned["appId"]})),
        )
        .await;
    assert_eq!(status, 201, "{sp}");
    let (status, body) = g
        .call_as(
            &dev_token,
            reqwest::Method::PATCH,
            &format!("/v1.0/servicePrincipals/{}", sp["id"].as_str().unwrap()),
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";

/// Places `sp_id` in a new group and in the Application Administrator role;
/// returns the group's ID.
async fn make_member(g: &Graph, sp_id: &str, group_name: &str) -> String {
    let group = g.create_group(group_name).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let reference =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{sp_id}")});
    for path in [
        format!("/v1.0/groups/{group_id}/members/$ref"),
        format!("/v1.0/directoryRoles(roleTemplateId='{APPLICATION_ADMINISTRATOR}')/members/$ref"),
    ] {
        let (status, body) = g
            .call(reqwest::Method::POST, &path, Some(reference.clone()))
            .await;
        assert_eq!(status, 204, "{path}: {body}");
    }
    group_id
}

#[tokio::test]
async fn deleting_a_service_principal_removes_it_and_what_names_it() {
    let g = Graph::start().await;
    let (app_id, secret, sp_id) = app_with_service_principal(&g, "Doomed app").await;
    let (_, graph_sp) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals(appId='{GRAPH_APP_ID}')"),
            None,
        )
        .await;
    let graph_sp = graph_sp["id"].as_str().unwrap().to_owned();
    // An application permission, a delegated consent, a group and a role.
    let (status, body) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments"),
            Some(json!({"principalId": sp_id, "resourceId": graph_sp,
                "appRoleId": "df021288-bdef-4463-88db-98f22de89214"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = g
        .call(
            reqwest::Method::POST,
            "/v1.0/oauth2PermissionGrants",
            Some(json!({"clientId": sp_id, "consentType": "AllPrincipals",
                "resourceId": graph_sp, "scope": "User.Read"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let group_id = make_member(&g, &sp_id, "Doomed group").await;
    let role_members =
        format!("/v1.0/directoryRoles(roleTemplateId='{APPLICATION_ADMINISTRATOR}')/members");
    let names_it = |list: &Value| Graph::ids(list).contains(&sp_id);
    let related = [
        format!("/v1.0/servicePrincipals/{graph_sp}/appRoleAssignedTo"),
        "/v1.0/oauth2PermissionGrants".to_owned(),
        format!("/v1.0/groups/{group_id}/members"),
        role_members.clone(),
    ];
    let principal_ids = |list: &Value| -> Vec<String> {
        let mut ids = Graph::field(list, "principalId");
        ids.extend(Graph::field(list, "clientId"));
        ids
    };
    for path in &related {
        let (status, list) = g.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {list}");
        assert!(
            names_it(&list) || principal_ids(&list).contains(&sp_id),
            "{path}: {list}"
        );
    }
    assert_eq!(client_credentials(&g.server, &app_id, &secret).await.0, 200);

    let path = format!("/v1.0/servicePrincipals/{sp_id}");
    let (status, body) = g.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = g.call(reqwest::Method::GET, &path, None).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &sp_id);
    for path in &related {
        let (status, list) = g.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {list}");
        assert!(
            !names_it(&list) && !principal_ids(&list).contains(&sp_id),
            "{path}: {list}"
        );
    }
    // The application is still registered, but gets no tokens here.
    let (status, body) = client_credentials(&g.server, &app_id, &secret).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    assert_eq!(body["error_codes"][0], 7000229, "{body}");
    let (status, body) = g.call(reqwest::Method::DELETE, &path, None).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", "");

    // By appId, and a new one can be made for the application afterwards.
    let (status, body) = g
        .call(
            reqwest::Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app_id})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(client_credentials(&g.server, &app_id, &secret).await.0, 200);
    let by_app = format!("/v1.0/servicePrincipals(appId='{app_id}')");
    let (status, body) = g.call(reqwest::Method::DELETE, &by_app, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = g.call(reqwest::Method::GET, &by_app, None).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", "");
}

#[tokio::test]
async fn first_party_service_principals_and_strangers_cannot_delete() {
    let g = Graph::start().await;
    // Hale's own (Graph, ARM, the CLI): refused, they stay.
    for app_id in [
        GRAPH_APP_ID,
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    ] {
        let path = format!("/v1.0/servicePrincipals(appId='{app_id}')");
        let (status, body) = g.call(reqwest::Method::DELETE, &path, None).await;
        assert_graph_error(
            status,
            &body,
            400,
            "Request_BadRequest",
            "cannot be deleted",
        );
        let (status, body) = g.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
    }
    // A reader, or a user who does not own the application: 403.
    let (_, _, sp_id) = app_with_service_principal(&g, "Kept app").await;
    let path = format!("/v1.0/servicePrincipals/{sp_id}");
    let reader = g.server.admin_token("Application.Read.All").await;
    let dev = g.create_user("stranger", json!({})).await;
    let dev_token = g
        .user_token(dev["id"].as_str().unwrap(), "Application.ReadWrite.All")
        .await;
    for token in [&reader, &dev_token] {
        let (status, body) = g.call_as(token, reqwest::Method::DELETE, &path, None).await;
        assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
    }
    let (status, _) = g.call(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn service_principals_list_the_groups_and_roles_they_are_in() {
    let g = Graph::start().await;
    let (app_id, _, sp_id) = app_with_service_principal(&g, "Member app").await;
    let inner = make_member(&g, &sp_id, "Inner group").await;
    let outer = g.create_group("Outer group").await;
    let outer = outer["id"].as_str().unwrap().to_owned();
    let (status, body) = g
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/groups/{outer}/members/$ref"),
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{inner}")})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let role = "Application Administrator";
    let sorted = |list: &Value| {
        let mut names = Graph::field(list, "displayName");
        names.sort();
        names
    };
    let cases = [
        (
            format!("/v1.0/servicePrincipals/{sp_id}/memberOf"),
            vec![role, "Inner group"],
        ),
        (
            format!("/v1.0/servicePrincipals(appId='{app_id}')/memberOf"),
            vec![role, "Inner group"],
        ),
        (
            format!("/v1.0/servicePrincipals/{sp_id}/transitiveMemberOf"),
            vec![role, "Inner group", "Outer group"],
        ),
        (
            format!(
                "/v1.0/servicePrincipals/{sp_id}/transitiveMemberOf?$filter=startswith(displayName,%27Outer%27)"
            ),
            vec!["Outer group"],
        ),
    ];
    for (path, expected) in cases {
        let (status, list) = g.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {list}");
        assert_eq!(sorted(&list), expected, "{path}: {list}");
    }
    let (_, list) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals/{sp_id}/memberOf"),
            None,
        )
        .await;
    let types = Graph::field(&list, "@odata.type");
    assert!(
        types.contains(&"#microsoft.graph.group".to_owned())
            && types.contains(&"#microsoft.graph.directoryRole".to_owned()),
        "{list}"
    );

    // One in nothing lists nothing; a missing one is 404; a caller who may not
    // read applications is refused.
    let (status, list) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals(appId='{GRAPH_APP_ID}')/memberOf"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["value"], json!([]), "{list}");
    let (status, body) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals/{}/memberOf", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", "");
    let (status, body) = g
        .call(
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals/{sp_id}/memberOf?$filter=colour%20eq%201"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let outsider = g.server.admin_token("User.Read").await;
    let (status, body) = g
        .call_as(
            &outsider,
            reqwest::Method::GET,
            &format!("/v1.0/servicePrincipals/{sp_id}/memberOf"),
            None,
        )
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
}
