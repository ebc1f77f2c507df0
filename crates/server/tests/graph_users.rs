//! `/v1.0/users` and `/v1.0/me` as a Graph client meets them.

mod common;

use common::{Graph, assert_graph_error};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn create_read_update_delete_and_sign_in() {
    let g = Graph::start().await;
    let user = g
        .create_user(
            "alice",
            json!({"givenName": "Alice", "surname": "Smith", "jobTitle": "Nurse",
                   "userPrincipalName": "Alice@HALE.local", "department": "Cardiology"}),
        )
        .await;
    assert!(
        user["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#users/$entity")
    );
    assert_eq!(user["userPrincipalName"], "Alice@hale.local");
    assert_eq!(user["givenName"], "Alice");
    assert_eq!(user["jobTitle"], "Nurse");
    // Graph's default properties only: no accountEnabled, department or password.
    assert!(user.get("accountEnabled").is_none(), "{user}");
    assert!(user.get("department").is_none(), "{user}");
    assert!(
        !user.to_string().contains("Str0ng"),
        "the password never comes back"
    );
    let id = user["id"].as_str().unwrap().to_owned();

    // By ID, by user principal name (any case), with $select.
    let (status, by_id) = g
        .call(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_id["surname"], "Smith");
    let (status, by_upn) = g
        .call(Method::GET, "/v1.0/users/alice@hale.local", None)
        .await;
    assert_eq!(status, 200, "{by_upn}");
    assert_eq!(by_upn["id"], id.as_str());
    let (_, selected) = g
        .call(
            Method::GET,
            &format!("/v1.0/users/{id}?$select=accountEnabled,department,passwordProfile"),
            None,
        )
        .await;
    assert_eq!(selected["accountEnabled"], true);
    assert_eq!(selected["department"], "Cardiology");
    assert_eq!(selected["passwordProfile"], Value::Null);
    assert!(selected.get("displayName").is_none());

    // The new user signs in with the password set through Graph.
    let sign_in = |password: &'static str| {
        let s = &g.server;
        async move {
            s.client()
                .post(s.url("/hale.local/oauth2/v2.0/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                    ("username", "alice@hale.local"),
                    ("password", password),
                    ("scope", "https://graph.microsoft.com/.default"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(sign_in("Str0ng-Passw0rd").await, 200);

    // PATCH: profile, password reset, disable.
    let (status, body) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/users/{id}"),
            Some(json!({"jobTitle": "Head Nurse", "surname": null,
                        "passwordProfile": {"password": "N3w-Passw0rd!",
                                            "forceChangePasswordNextSignIn": false}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, after) = g
        .call(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(after["jobTitle"], "Head Nurse");
    assert_eq!(after["surname"], Value::Null);
    assert_eq!(after["givenName"], "Alice");
    assert_eq!(sign_in("Str0ng-Passw0rd").await, 400);
    assert_eq!(sign_in("N3w-Passw0rd!").await, 200);
    let (status, _) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/users/{id}"),
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        sign_in("N3w-Passw0rd!").await,
        400,
        "a disabled account cannot sign in"
    );

    // Rename within the verified domain.
    let (status, _) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/users/{id}"),
            Some(json!({"userPrincipalName": "alice.smith@hale.local"})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = g
        .call(Method::GET, "/v1.0/users/alice.smith@hale.local", None)
        .await;
    assert_eq!(status, 200);

    let (status, _) = g
        .call(Method::DELETE, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = g
        .call(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &id);
    let (status, body) = g
        .call(Method::DELETE, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &id);
}

#[tokio::test]
async fn bad_input_gets_graphs_errors_and_changes_nothing() {
    let g = Graph::start().await;
    g.create_user("taken", json!({})).await;
    let count = || async {
        let (_, list) = g.call(Method::GET, "/v1.0/users?$top=999", None).await;
        Graph::ids(&list).len()
    };
    let before = count().await;
    let valid = json!({
        "accountEnabled": true, "displayName": "Bob", "mailNickname": "bob",
        "userPrincipalName": "bob@hale.local",
        "passwordProfile": {"password": "Str0ng-Passw0rd"},
    });
    let with = |change: Value| {
        let mut body = valid.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!({"colour": "blue"})),
            "Property 'colour' does not exist",
        ),
        (with(json!({"id": "x"})), "read-only"),
        (
            with(json!({"displayName": null})),
            "'displayName' of resource 'User'",
        ),
        (
            with(json!({"mailNickname": null})),
            "'mailNickname' of resource 'User'",
        ),
        (
            with(json!({"passwordProfile": null})),
            "'passwordProfile' of resource 'User'",
        ),
        (with(json!({"accountEnabled": "yes"})), "must be a boolean"),
        (with(json!({"jobTitle": 7})), "must be a string"),
        (
            with(json!({"businessPhones": "123"})),
            "collection of strings",
        ),
        (
            with(json!({"passwordProfile": {"password": "password"}})),
            "password complexity",
        ),
        (
            with(json!({"passwordProfile": {"password": "Sh0rt!"}})),
            "password complexity",
        ),
        (
            with(json!({"passwordProfile": {"password": "Str0ng-Passw0rd", "hint": 1}})),
            "passwordProfile.hint",
        ),
        (
            with(json!({"userPrincipalName": "bob@contoso.com"})),
            "verified domain",
        ),
        (
            with(json!({"userPrincipalName": "bob"})),
            "userPrincipalName",
        ),
        (
            with(json!({"userPrincipalName": "TAKEN@hale.local"})),
            "userPrincipalName already exists",
        ),
        (with(json!({"mailNickname": "has space"})), "mailNickname"),
        (with(json!({"displayName": " "})), "displayName"),
    ];
    for (body, part) in cases {
        let (status, answer) = g
            .call(Method::POST, "/v1.0/users", Some(body.clone()))
            .await;
        assert_graph_error(status, &answer, 400, "Request_BadRequest", part);
    }
    let (status, body) = g.raw(Method::POST, "/v1.0/users", "{not json").await;
    assert_graph_error(
        status,
        &body,
        400,
        "Request_BadRequest",
        "Unable to read JSON",
    );
    let (status, body) = g.raw(Method::POST, "/v1.0/users", "[1]").await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "JSON object");

    // PATCH: same rules, on an existing user; nothing changes.
    let (_, alice) = g
        .call(Method::GET, "/v1.0/users/taken@hale.local", None)
        .await;
    let id = alice["id"].as_str().unwrap();
    let admin_upn = "admin@hale.local";
    for (body, part) in [
        (json!({"userPrincipalName": admin_upn}), "already exists"),
        (
            json!({"userPrincipalName": "x@elsewhere.org"}),
            "verified domain",
        ),
        (json!({"accountEnabled": null}), "accountEnabled"),
        (
            json!({"passwordProfile": {"password": "weakweak"}}),
            "password complexity",
        ),
        (
            json!({"createdDateTime": "2020-01-01T00:00:00Z"}),
            "read-only",
        ),
        (json!({"manager": "x"}), "Property 'manager' does not exist"),
    ] {
        let (status, answer) = g
            .call(Method::PATCH, &format!("/v1.0/users/{id}"), Some(body))
            .await;
        assert_graph_error(status, &answer, 400, "Request_BadRequest", part);
    }
    let (_, unchanged) = g
        .call(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(unchanged, alice);
    assert_eq!(count().await, before, "nothing was created");

    // Unknown users, bad queries.
    let (status, body) = g
        .call(Method::GET, "/v1.0/users/nobody@hale.local", None)
        .await;
    assert_graph_error(
        status,
        &body,
        404,
        "Request_ResourceNotFound",
        "nobody@hale.local",
    );
    for (query, code) in [
        ("$filter=displayName%20eq", "BadRequest"),
        (
            "$filter=passwordProfile%20eq%20null",
            "Request_UnsupportedQuery",
        ),
        (
            "$filter=displayName%20ne%20%27x%27",
            "Request_UnsupportedQuery",
        ),
        ("$select=password", "BadRequest"),
        ("$orderby=jobTitle", "Request_UnsupportedQuery"),
        ("$top=1000", "Request_UnsupportedQuery"),
        ("$skiptoken=zzz", "Request_BadRequest"),
        ("$skip=1", "Request_BadRequest"),
    ] {
        let (status, body) = g
            .call(Method::GET, &format!("/v1.0/users?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
}

#[tokio::test]
async fn queries_filter_select_count_and_page() {
    let g = Graph::start().await;
    for (alias, title, city) in [
        ("amy", "Nurse", "Oslo"),
        ("ben", "Surgeon", "Bergen"),
        ("bea", "Nurse", "Bergen"),
        ("carl", "Porter", "Oslo"),
    ] {
        g.create_user(alias, json!({"jobTitle": title, "city": city}))
            .await;
    }
    let names = |v: &Value| Graph::field(v, "displayName");
    let cases: &[(&str, &[&str])] = &[
        ("$filter=displayName%20eq%20%27AMY%27", &["amy"]),
        ("$filter=startswith(displayName,%27b%27)", &["ben", "bea"]),
        (
            "$filter=jobTitle%20in%20(%27Surgeon%27,%27Porter%27)",
            &["ben", "carl"],
        ),
        (
            "$filter=jobTitle%20eq%20%27Nurse%27%20and%20city%20eq%20%27Bergen%27",
            &["bea"],
        ),
        (
            "$filter=city%20eq%20%27Oslo%27%20or%20startswith(userPrincipalName,%27ben@%27)",
            &["amy", "ben", "carl"],
        ),
        (
            "$filter=accountEnabled%20eq%20true%20and%20startswith(mailNickname,%27c%27)",
            &["carl"],
        ),
        (
            "$filter=startswith(displayName,%27b%27)&$orderby=displayName&$count=true",
            &["bea", "ben"],
        ),
    ];
    for (query, expected) in cases {
        let (status, body) = g
            .request(
                &g.admin,
                Method::GET,
                &format!("/v1.0/users?{query}"),
                None,
                &[("ConsistencyLevel", "eventual")],
            )
            .await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(names(&body), *expected, "{query}");
    }

    // $count only with ConsistencyLevel: eventual.
    let (_, counted) = g
        .request(
            &g.admin,
            Method::GET,
            "/v1.0/users?$count=true&$top=2",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(
        counted["@odata.count"], 5,
        "four users and the administrator"
    );
    let (_, uncounted) = g
        .call(Method::GET, "/v1.0/users?$count=true&$top=2", None)
        .await;
    assert!(uncounted.get("@odata.count").is_none());

    // Paging with $top and @odata.nextLink; every user once.
    let mut seen = Vec::new();
    let mut next = Some("/v1.0/users?$top=2&$select=id,displayName".to_owned());
    while let Some(url) = next {
        let (status, page) = g.call(Method::GET, &url, None).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#users")
        );
        assert!(page["value"].as_array().unwrap().len() <= 2);
        for user in page["value"].as_array().unwrap() {
            assert_eq!(user.as_object().unwrap().len(), 2, "{user}");
        }
        seen.extend(Graph::field(&page, "displayName"));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
        if let Some(link) = &next {
            assert!(link.contains("%24skiptoken="), "{link}");
        }
    }
    assert_eq!(seen, ["Administrator", "amy", "ben", "bea", "carl"]);
}

#[tokio::test]
async fn who_may_read_and_write_users() {
    let g = Graph::start().await;
    let plain = g.create_user("plain", json!({})).await;
    let plain_id = plain["id"].as_str().unwrap().to_owned();
    let new_user = json!({
        "accountEnabled": true, "displayName": "Eve", "mailNickname": "eve",
        "userPrincipalName": "eve@hale.local",
        "passwordProfile": {"password": "Str0ng-Passw0rd"},
    });

    // A user without a directory role: reads with User.Read.All, never writes.
    let reader = g.user_token(&plain_id, "User.ReadWrite.All").await;
    let (status, _) = g.call_as(&reader, Method::GET, "/v1.0/users", None).await;
    assert_eq!(status, 200);
    let (status, body) = g
        .call_as(&reader, Method::POST, "/v1.0/users", Some(new_user.clone()))
        .await;
    assert_graph_error(
        status,
        &body,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let (status, body) = g
        .call_as(
            &reader,
            Method::PATCH,
            &format!("/v1.0/users/{plain_id}"),
            Some(json!({"jobTitle": "Boss"})),
        )
        .await;
    assert_graph_error(
        status,
        &body,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );

    // With only User.Read: /me, but not the directory.
    let self_only = g.user_token(&plain_id, "User.Read").await;
    let (status, me) = g.call_as(&self_only, Method::GET, "/v1.0/me", None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userPrincipalName"], "plain@hale.local");
    let (status, body) = g
        .call_as(&self_only, Method::GET, "/v1.0/users", None)
        .await;
    assert_graph_error(
        status,
        &body,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let (status, _) = g
        .call_as(
            &self_only,
            Method::GET,
            &format!("/v1.0/users/{plain_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "a user reads their own profile by ID too");

    // Made User Administrator (by role template), the same user may write users.
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/directoryRoles(roleTemplateId='fe930be7-5e62-47db-91af-98c3a49a38b1')/members/$ref",
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{plain_id}")})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = g
        .call_as(&reader, Method::POST, "/v1.0/users", Some(new_user.clone()))
        .await;
    assert_eq!(status, 201, "{body}");

    // Applications: by their roles alone.
    let app_reader = g.server.app_token(&["User.Read.All"]).await;
    let (status, _) = g
        .call_as(&app_reader, Method::GET, "/v1.0/users", None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = g
        .call_as(
            &app_reader,
            Method::DELETE,
            &format!("/v1.0/users/{plain_id}"),
            None,
        )
        .await;
    assert_graph_error(
        status,
        &body,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let (status, body) = g.call_as(&app_reader, Method::GET, "/v1.0/me", None).await;
    assert_graph_error(
        status,
        &body,
        400,
        "BadRequest",
        "/me request is only valid with delegated authentication flow.",
    );
    let app_writer = g.server.app_token(&["User.ReadWrite.All"]).await;
    let (status, _) = g
        .call_as(
            &app_writer,
            Method::PATCH,
            &format!("/v1.0/users/{plain_id}"),
            Some(json!({"jobTitle": "Boss"})),
        )
        .await;
    assert_eq!(status, 204);

    // No token, no entry.
    let res = g
        .server
        .client()
        .get(g.server.url("/v1.0/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
