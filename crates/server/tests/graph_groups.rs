//! `/v1.0/groups`, members by `$ref`, nested membership, and `directoryRoles`.

mod common;

use common::{Graph, assert_graph_error};
use reqwest::Method;
use serde_json::{Value, json};

fn reference(id: &str) -> Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn groups_crud_and_errors() {
    let g = Graph::start().await;
    let clinicians = g.create_group("Clinicians").await;
    assert!(
        clinicians["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#groups/$entity")
    );
    assert_eq!(clinicians["securityEnabled"], true);
    assert_eq!(clinicians["groupTypes"], json!([]));
    assert_eq!(clinicians["mail"], Value::Null);
    let (status, m365) = g
        .call(
            Method::POST,
            "/v1.0/groups",
            Some(json!({"displayName": "Ward 7", "mailNickname": "ward7", "mailEnabled": true,
                        "securityEnabled": false, "groupTypes": ["Unified"], "visibility": "Private"})),
        )
        .await;
    assert_eq!(status, 201, "{m365}");
    assert_eq!(m365["mail"], "ward7@hale.local");

    let gid = id(&clinicians);
    let (status, got) = g
        .call(
            Method::GET,
            &format!("/v1.0/groups/{gid}?$select=displayName"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["displayName"], "Clinicians");
    assert!(got.get("mailNickname").is_none());
    let (status, _) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/groups/{gid}"),
            Some(json!({"description": "Doctors and nurses"})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, list) = g
        .call(
            Method::GET,
            "/v1.0/groups?$filter=startswith(description,%27doctors%27)",
            None,
        )
        .await;
    assert_eq!(Graph::ids(&list), [gid.as_str()]);
    let (_, list) = g
        .call(
            Method::GET,
            "/v1.0/groups?$filter=groupTypes/any(t:t%20eq%20%27Unified%27)",
            None,
        )
        .await;
    assert_eq!(Graph::field(&list, "displayName"), ["Ward 7"]);
    let (_, list) = g
        .call(
            Method::GET,
            "/v1.0/groups?$filter=mailEnabled%20eq%20false",
            None,
        )
        .await;
    assert_eq!(Graph::field(&list, "displayName"), ["Clinicians"]);

    let count = || async {
        let (_, list) = g.call(Method::GET, "/v1.0/groups", None).await;
        Graph::ids(&list).len()
    };
    let base = json!({"displayName": "X", "mailNickname": "x", "mailEnabled": false, "securityEnabled": true});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    for (body, part) in [
        (
            with("displayName", Value::Null),
            "'displayName' of resource 'Group'",
        ),
        (
            with("mailNickname", Value::Null),
            "'mailNickname' of resource 'Group'",
        ),
        (
            with("securityEnabled", Value::Null),
            "'securityEnabled' of resource 'Group'",
        ),
        (with("mailEnabled", json!(true)), "mailEnabled"),
        (with("securityEnabled", json!(false)), "securityEnabled"),
        (
            with("groupTypes", json!(["DynamicMembership"])),
            "groupTypes",
        ),
        (
            with("mailNickname", json!("no spaces please")),
            "mailNickname",
        ),
        (with("visibility", json!("Public")), "visibility"),
        (
            with("owners", json!([])),
            "Property 'owners' does not exist",
        ),
        (with("mail", json!("x@hale.local")), "read-only"),
        (
            with(
                "members@odata.bind",
                json!(["https://graph.microsoft.com/v1.0/widgets/1"]),
            ),
            "Invalid URL",
        ),
    ] {
        let (status, answer) = g.call(Method::POST, "/v1.0/groups", Some(body)).await;
        assert_graph_error(status, &answer, 400, "Request_BadRequest", part);
    }
    let missing = uuid_like();
    let (status, answer) = g
        .call(
            Method::POST,
            "/v1.0/groups",
            Some(with(
                "members@odata.bind",
                json!([format!("https://graph.microsoft.com/v1.0/users/{missing}")]),
            )),
        )
        .await;
    assert_graph_error(status, &answer, 404, "Request_ResourceNotFound", &missing);
    assert_eq!(
        count().await,
        2,
        "no group was created by a refused request"
    );
    let (status, answer) = g
        .call(
            Method::PATCH,
            &format!("/v1.0/groups/{gid}"),
            Some(json!({"mailEnabled": true})),
        )
        .await;
    assert_graph_error(status, &answer, 400, "Request_BadRequest", "mailEnabled");
    let (status, answer) = g
        .raw(Method::PATCH, &format!("/v1.0/groups/{gid}"), "{")
        .await;
    assert_graph_error(status, &answer, 400, "Request_BadRequest", "JSON");
    for (query, code) in [
        (
            "$filter=owners/any(o:o%20eq%20%27x%27)",
            "Request_UnsupportedQuery",
        ),
        ("$filter=startswith(displayName", "BadRequest"),
        ("$select=owners", "BadRequest"),
    ] {
        let (status, body) = g
            .call(Method::GET, &format!("/v1.0/groups?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }

    let (status, _) = g
        .call(Method::DELETE, &format!("/v1.0/groups/{gid}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = g
        .call(Method::GET, &format!("/v1.0/groups/{gid}"), None)
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &gid);
    let (status, body) = g.call(Method::GET, "/v1.0/groups/not-a-guid", None).await;
    assert_graph_error(
        status,
        &body,
        400,
        "Request_BadRequest",
        "Invalid object identifier",
    );
}

fn uuid_like() -> String {
    "5b1a9d2c-0f3e-4b6a-9c7d-2e8f1a3b4c5d".into()
}

#[tokio::test]
async fn members_nest_transitively_and_cycles_are_tolerated() {
    let g = Graph::start().await;
    let (outer, middle, inner) = (
        g.create_group("Outer").await,
        g.create_group("Middle").await,
        g.create_group("Inner").await,
    );
    let (o, m, i) = (id(&outer), id(&middle), id(&inner));
    let alice = id(&g.create_user("alice", json!({})).await);
    let bob = id(&g.create_user("bob", json!({})).await);
    let (_, app) = g
        .call(
            Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "daemon"})),
        )
        .await;
    let (status, sp) = g
        .call(
            Method::POST,
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(status, 201, "{sp}");
    let sp = id(&sp);

    let add = |group: String, member: String| {
        let g = &g;
        async move {
            g.call(
                Method::POST,
                &format!("/v1.0/groups/{group}/members/$ref"),
                Some(reference(&member)),
            )
            .await
        }
    };
    // outer ⊃ {middle, alice}; middle ⊃ {inner, sp}; inner ⊃ {bob, outer (a cycle)}
    for (group, member) in [
        (&o, &m),
        (&o, &alice),
        (&m, &i),
        (&m, &sp),
        (&i, &bob),
        (&i, &o),
    ] {
        let (status, body) = add(group.clone(), member.clone()).await;
        assert_eq!(status, 204, "{body}");
    }

    let (status, direct) = g
        .call(Method::GET, &format!("/v1.0/groups/{o}/members"), None)
        .await;
    assert_eq!(status, 200, "{direct}");
    assert!(
        direct["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#directoryObjects")
    );
    assert_eq!(Graph::ids(&direct), [m.clone(), alice.clone()]);
    assert_eq!(
        Graph::field(&direct, "@odata.type"),
        ["#microsoft.graph.group", "#microsoft.graph.user"]
    );
    let (_, all) = g
        .call(
            Method::GET,
            &format!("/v1.0/groups/{o}/transitiveMembers"),
            None,
        )
        .await;
    let mut got = Graph::ids(&all);
    got.sort();
    let mut want = vec![m.clone(), alice.clone(), i.clone(), sp.clone(), bob.clone()];
    want.sort();
    assert_eq!(
        got, want,
        "every nested member once, the group itself excluded"
    );
    let (_, users_only) = g
        .call(
            Method::GET,
            &format!(
                "/v1.0/groups/{o}/transitiveMembers?$filter=startswith(userPrincipalName,%27b%27)"
            ),
            None,
        )
        .await;
    assert_eq!(Graph::ids(&users_only), [bob.as_str()]);

    // Bob's memberships: inner directly; inner, middle and outer transitively.
    let (_, direct_of) = g
        .call(Method::GET, &format!("/v1.0/users/{bob}/memberOf"), None)
        .await;
    assert_eq!(Graph::ids(&direct_of), [i.as_str()]);
    let (_, all_of) = g
        .call(
            Method::GET,
            "/v1.0/users/bob@hale.local/transitiveMemberOf",
            None,
        )
        .await;
    let mut got = Graph::field(&all_of, "displayName");
    got.sort();
    assert_eq!(got, ["Inner", "Middle", "Outer"]);
    let (_, group_of) = g
        .call(
            Method::GET,
            &format!("/v1.0/groups/{i}/transitiveMemberOf"),
            None,
        )
        .await;
    let mut got = Graph::field(&group_of, "displayName");
    got.sort();
    assert_eq!(got, ["Middle", "Outer"]);

    // Errors: twice, unknown object, self, malformed references, non-member removal.
    let (status, body) = add(o.clone(), m.clone()).await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "already exist");
    let (status, body) = add(o.clone(), uuid_like()).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &uuid_like());
    let (status, body) = add(o.clone(), o.clone()).await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "itself");
    for body in [
        json!({}),
        json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/not-a-guid"}),
        json!({"@odata.id": 5}),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{bob}"), "extra": 1}),
    ] {
        let (status, answer) = g
            .call(
                Method::POST,
                &format!("/v1.0/groups/{o}/members/$ref"),
                Some(body),
            )
            .await;
        assert_graph_error(status, &answer, 400, "Request_BadRequest", "");
    }
    let (status, body) = g
        .call(
            Method::POST,
            &format!("/v1.0/groups/{}/members/$ref", uuid_like()),
            Some(reference(&bob)),
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", "");
    let (_, unchanged) = g
        .call(Method::GET, &format!("/v1.0/groups/{o}/members"), None)
        .await;
    assert_eq!(Graph::ids(&unchanged), [m.clone(), alice.clone()]);

    let (status, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/groups/{i}/members/{bob}/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/groups/{i}/members/{bob}/$ref"),
            None,
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", &bob);
    let (_, none) = g
        .call(
            Method::GET,
            &format!("/v1.0/users/{bob}/transitiveMemberOf"),
            None,
        )
        .await;
    assert_eq!(Graph::ids(&none), Vec::<String>::new());

    // Deleting a group takes it out of every group; deleting a user too.
    let (status, _) = g
        .call(Method::DELETE, &format!("/v1.0/groups/{m}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = g
        .call(Method::DELETE, &format!("/v1.0/users/{alice}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, left) = g
        .call(Method::GET, &format!("/v1.0/groups/{o}/members"), None)
        .await;
    assert_eq!(Graph::ids(&left), Vec::<String>::new());
}

#[tokio::test]
async fn who_may_manage_groups_and_members() {
    let g = Graph::start().await;
    let group = id(&g.create_group("Team").await);
    let user = id(&g.create_user("member", json!({})).await);
    let body = json!({"displayName": "T2", "mailNickname": "t2", "mailEnabled": false, "securityEnabled": true});

    let reader = g.server.app_token(&["Group.Read.All"]).await;
    let (status, _) = g.call_as(&reader, Method::GET, "/v1.0/groups", None).await;
    assert_eq!(status, 200);
    let (status, answer) = g
        .call_as(&reader, Method::POST, "/v1.0/groups", Some(body.clone()))
        .await;
    assert_graph_error(
        status,
        &answer,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let (status, answer) = g
        .call_as(
            &reader,
            Method::POST,
            &format!("/v1.0/groups/{group}/members/$ref"),
            Some(reference(&user)),
        )
        .await;
    assert_graph_error(
        status,
        &answer,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );

    // GroupMember.ReadWrite.All: members yes, groups no.
    let member_writer = g.server.app_token(&["GroupMember.ReadWrite.All"]).await;
    let (status, answer) = g
        .call_as(
            &member_writer,
            Method::POST,
            "/v1.0/groups",
            Some(body.clone()),
        )
        .await;
    assert_graph_error(
        status,
        &answer,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let (status, _) = g
        .call_as(
            &member_writer,
            Method::POST,
            &format!("/v1.0/groups/{group}/members/$ref"),
            Some(reference(&user)),
        )
        .await;
    assert_eq!(status, 204);

    // A signed-in user needs a role on top of the permission.
    let plain = g.user_token(&user, "Group.ReadWrite.All").await;
    let (status, answer) = g
        .call_as(
            &plain,
            Method::DELETE,
            &format!("/v1.0/groups/{group}"),
            None,
        )
        .await;
    assert_graph_error(
        status,
        &answer,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
    );
    let (_, still) = g
        .call(Method::GET, &format!("/v1.0/groups/{group}"), None)
        .await;
    assert_eq!(still["displayName"], "Team");
    let (_, members) = g
        .call(Method::GET, &format!("/v1.0/groups/{group}/members"), None)
        .await;
    assert_eq!(Graph::ids(&members), [user.as_str()]);
}

#[tokio::test]
async fn directory_roles_list_and_take_members() {
    let g = Graph::start().await;
    let (status, roles) = g.call(Method::GET, "/v1.0/directoryRoles", None).await;
    assert_eq!(status, 200, "{roles}");
    let templates = Graph::field(&roles, "roleTemplateId");
    for t in [
        "62e90394-69f5-4237-9190-012177145e10",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ] {
        assert!(templates.contains(&t.to_owned()), "{t} in {templates:?}");
    }
    let global = roles["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["displayName"] == "Global Administrator")
        .unwrap()
        .clone();
    let global_id = id(&global);
    let (_, members) = g
        .call(
            Method::GET,
            &format!("/v1.0/directoryRoles/{global_id}/members"),
            None,
        )
        .await;
    assert_eq!(
        Graph::field(&members, "userPrincipalName"),
        ["admin@hale.local"]
    );
    let (_, again) = g.call(Method::GET, "/v1.0/directoryRoles", None).await;
    assert_eq!(
        Graph::ids(&again),
        Graph::ids(&roles),
        "role object IDs are stable"
    );

    // Application Administrator, by template ID; then the user can change
    // applications it does not own.
    let user = id(&g.create_user("appadmin", json!({})).await);
    let path =
        "/v1.0/directoryRoles(roleTemplateId='9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3')/members";
    let token = g.user_token(&user, "Application.ReadWrite.All").await;
    let (_, others) = g
        .call(
            Method::POST,
            "/v1.0/applications",
            Some(json!({"displayName": "someone else's"})),
        )
        .await;
    let others = format!("/v1.0/applications/{}", others["id"].as_str().unwrap());
    let (status, _) = g
        .call_as(
            &token,
            Method::PATCH,
            &others,
            Some(json!({"description": "before"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = g
        .call(
            Method::POST,
            &format!("{path}/$ref"),
            Some(reference(&user)),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = g
        .call_as(
            &token,
            Method::PATCH,
            &others,
            Some(json!({"description": "after"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, listed) = g.call(Method::GET, path, None).await;
    assert_eq!(Graph::ids(&listed), [user.as_str()]);
    let (_, of) = g
        .call(Method::GET, &format!("/v1.0/users/{user}/memberOf"), None)
        .await;
    assert_eq!(
        Graph::field(&of, "@odata.type"),
        ["#microsoft.graph.directoryRole"]
    );
    assert_eq!(
        Graph::field(&of, "displayName"),
        ["Application Administrator"]
    );

    // Errors: twice, a group, unknown template, no permission; the last Global Administrator stays.
    let (status, body) = g
        .call(
            Method::POST,
            &format!("{path}/$ref"),
            Some(reference(&user)),
        )
        .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "already exist");
    let group = id(&g.create_group("Admins").await);
    let (status, body) = g
        .call(
            Method::POST,
            &format!("{path}/$ref"),
            Some(reference(&group)),
        )
        .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest", "role-assignable");
    let (status, body) = g
        .call(
            Method::GET,
            "/v1.0/directoryRoles(roleTemplateId='00000000-0000-0000-0000-000000000001')/members",
            None,
        )
        .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound", "");
    let no_role_mgmt = g.server.admin_token("Directory.ReadWrite.All").await;
    let (status, body) = g
        .call_as(
            &no_role_mgmt,
            Method::POST,
            &format!("{path}/$ref"),
            Some(reference(&group)),
        )
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
    let (_, admin) = g.call(Method::GET, "/v1.0/me", None).await;
    let admin_id = id(&admin);
    let (status, body) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/directoryRoles/{global_id}/members/{admin_id}/$ref"),
            None,
        )
        .await;
    assert_graph_error(
        status,
        &body,
        400,
        "Request_BadRequest",
        "last Global Administrator",
    );
    let (status, _) = g
        .call(Method::DELETE, &format!("{path}/{user}/$ref"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = g
        .call_as(
            &token,
            Method::PATCH,
            &others,
            Some(json!({"description": "gone"})),
        )
        .await;
    assert_eq!(status, 403, "the role is gone");
}

/// The Azure CLI's Graph token carries `Directory.AccessAsUser.All`: the
/// signed-in user's directory roles decide, as in Entra.
#[tokio::test]
async fn directory_access_as_user_follows_the_users_roles() {
    let g = Graph::start().await;
    let cli_scopes = "Application.ReadWrite.All Directory.AccessAsUser.All User.Read";
    let admin = g.server.admin_token(cli_scopes).await;
    let user = id(&g.create_user("delegate", json!({})).await);
    let path =
        "/v1.0/directoryRoles(roleTemplateId='fdd7a751-b60b-444a-984c-02652fe8fa1c')/members/$ref";
    let (status, body) = g
        .call_as(&admin, Method::POST, path, Some(reference(&user)))
        .await;
    assert_eq!(status, 204, "{body}");
    // The user, now Groups Administrator, manages groups but not users or roles.
    let token = g.user_token(&user, cli_scopes).await;
    let (status, body) = g
        .call_as(&token, Method::POST, "/v1.0/groups",
            Some(json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = g.call_as(&token, Method::GET, "/v1.0/users", None).await;
    assert_eq!(status, 200);
    let (status, body) = g
        .call_as(&token, Method::DELETE, &format!("/v1.0/users/{user}"), None)
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
    let (status, body) = g
        .call_as(&token, Method::POST, path, Some(reference(&user)))
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");
    // An application never has it.
    let app = g.server.app_token(&["Directory.AccessAsUser.All"]).await;
    let (status, _) = g.call_as(&app, Method::GET, "/v1.0/groups", None).await;
    assert_eq!(status, 403);
}

/// `getMemberGroups` and `getMemberObjects` on `users/{id}` and `me`: the
/// transitive groups (and directory roles), `securityEnabledOnly`, and the
/// errors. What an application calls on a groups overage claim.
#[tokio::test]
async fn member_groups_and_objects() {
    let g = Graph::start().await;
    let user = id(&g.create_user("overage", json!({})).await);
    let (ward, hospital) = (
        id(&g.create_group("Ward").await),
        id(&g.create_group("Hospital").await),
    );
    let (status, team) = g
        .call(
            Method::POST,
            "/v1.0/groups",
            Some(
                json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true,
                        "securityEnabled": false, "groupTypes": ["Unified"]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{team}");
    let team = id(&team);
    let add = |group: String, member: String| {
        let g = &g;
        async move {
            let (status, body) = g
                .call(
                    Method::POST,
                    &format!("/v1.0/groups/{group}/members/$ref"),
                    Some(reference(&member)),
                )
                .await;
            assert_eq!(status, 204, "{body}");
        }
    };
    add(ward.clone(), user.clone()).await;
    add(hospital.clone(), ward.clone()).await;
    add(team.clone(), user.clone()).await;
    let (status, body) = g
        .call(
            Method::POST,
            "/v1.0/directoryRoles(roleTemplateId='9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3')/members/$ref",
            Some(reference(&user)),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, role) = g
        .call(
            Method::GET,
            "/v1.0/directoryRoles(roleTemplateId='9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3')",
            None,
        )
        .await;
    let role = id(&role);

    let sorted = |body: &Value| {
        let mut v: Vec<String> = body["value"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let want = |ids: &[&String]| {
        let mut v: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
        v.sort();
        v
    };
    let ask = |path: String, security: bool| {
        let g = &g;
        async move {
            let (status, body) = g
                .call(
                    Method::POST,
                    &path,
                    Some(json!({"securityEnabledOnly": security})),
                )
                .await;
            assert_eq!(status, 200, "{path}: {body}");
            assert!(
                body["@odata.context"]
                    .as_str()
                    .unwrap()
                    .ends_with("$metadata#Collection(Edm.String)")
            );
            sorted(&body)
        }
    };
    let at = format!("/v1.0/users/{user}");
    assert_eq!(
        ask(format!("{at}/getMemberGroups"), false).await,
        want(&[&ward, &hospital, &team])
    );
    assert_eq!(
        ask(format!("{at}/microsoft.graph.getMemberGroups"), true).await,
        want(&[&ward, &hospital])
    );
    assert_eq!(
        ask(format!("{at}/getMemberObjects"), false).await,
        want(&[&ward, &hospital, &team, &role])
    );
    assert_eq!(
        ask(format!("{at}/getMemberObjects"), true).await,
        want(&[&ward, &hospital])
    );

    // The user itself, by `me`, with User.Read only.
    let own = g.user_token(&user, "User.Read").await;
    let (status, body) = g
        .call_as(
            &own,
            Method::POST,
            "/v1.0/me/getMemberObjects",
            Some(json!({"securityEnabledOnly": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sorted(&body), want(&[&ward, &hospital, &team, &role]));
    // …but not someone else's.
    let other = id(&g.create_user("someone", json!({})).await);
    let (status, body) = g
        .call_as(
            &own,
            Method::POST,
            &format!("/v1.0/users/{other}/getMemberGroups"),
            Some(json!({"securityEnabledOnly": false})),
        )
        .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied", "");

    // Bad input: a missing or mistyped parameter, an unknown property, a
    // GET, an unknown user, `me` with an application token.
    for (body, part) in [
        (json!({}), "securityEnabledOnly"),
        (json!({"securityEnabledOnly": "yes"}), "securityEnabledOnly"),
        (json!({"securityEnabledOnly": true, "extra": 1}), "extra"),
    ] {
        let (status, reply) = g
            .call(Method::POST, &format!("{at}/getMemberGroups"), Some(body))
            .await;
        assert_graph_error(status, &reply, 400, "Request_BadRequest", part);
    }
    let (status, _) = g
        .call(Method::GET, &format!("{at}/getMemberGroups"), None)
        .await;
    assert_eq!(status, 405);
    let (status, reply) = g
        .call(
            Method::POST,
            &format!("/v1.0/users/{}/getMemberGroups", uuid_like()),
            Some(json!({"securityEnabledOnly": true})),
        )
        .await;
    assert_graph_error(status, &reply, 404, "Request_ResourceNotFound", "");
    let app = g.server.app_token(&["Directory.Read.All"]).await;
    let (status, reply) = g
        .call_as(
            &app,
            Method::POST,
            "/v1.0/me/getMemberGroups",
            Some(json!({"securityEnabledOnly": true})),
        )
        .await;
    assert_graph_error(status, &reply, 400, "BadRequest", "/me");
}
