//! `Microsoft.Authorization` over HTTP: built-in role definitions, role
//! assignments at every scope with ARM's filters and errors, and who may make
//! them (Owner and User Access Administrator, not Contributor).

mod common;

use common::health::*;
use reqwest::Method;
use serde_json::{Value, json};

fn assignments(scope: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments")
}

fn body(sub: &str, role: &str, principal: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "principalId": principal,
    }})
}

/// A role's tenant-level ID.
fn tenant_role(role: &str) -> String {
    format!("/providers/Microsoft.Authorization/roleDefinitions/{role}")
}

fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn role_definitions_are_azures_built_ins() {
    let h = Health::start().await;
    let sub = format!("/subscriptions/{}", h.sub);
    let defs = format!("{sub}/providers/Microsoft.Authorization/roleDefinitions");
    let (status, all) = h.arm(Method::GET, &defs, None).await;
    assert_eq!(status, 200);
    let roles: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["roleName"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "Owner",
            "Contributor",
            "Reader",
            "User Access Administrator",
            "FHIR Data Contributor",
            "FHIR Data Converter",
            "FHIR Data Exporter",
            "FHIR Data Importer",
            "FHIR Data Reader",
            "FHIR Data Writer",
            "FHIR SMART User",
            "DICOM Data Owner",
            "DICOM Data Reader",
        ]
    );

    let (status, one) = h
        .arm(
            Method::GET,
            &format!("{defs}?$filter=roleName eq 'FHIR Data Contributor'"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let contributor = &one["value"][0];
    assert_eq!(one["value"].as_array().unwrap().len(), 1);
    assert_eq!(contributor["name"], FHIR_DATA_CONTRIBUTOR);
    assert_eq!(contributor["id"], format!("{defs}/{FHIR_DATA_CONTRIBUTOR}"));
    assert_eq!(
        contributor["type"],
        "Microsoft.Authorization/roleDefinitions"
    );
    assert_eq!(contributor["properties"]["type"], "BuiltInRole");
    assert_eq!(
        contributor["properties"]["permissions"][0]["notDataActions"],
        json!([
            "Microsoft.HealthcareApis/services/fhir/resources/smart/action",
            "Microsoft.HealthcareApis/workspaces/fhirservices/resources/smart/action"
        ])
    );
    let (_, custom) = h
        .arm(
            Method::GET,
            &format!("{defs}?$filter=type eq 'CustomRole'"),
            None,
        )
        .await;
    assert_eq!(custom["value"], json!([]));

    // At a workspace scope and at the tenant root, IDs as ARM prints them.
    h.create_workspace("defs").await;
    let (status, got) = h
        .arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}",
                h.ws_id("defs")
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], format!("{defs}/{OWNER}"));
    assert_eq!(got["properties"]["permissions"][0]["actions"], json!(["*"]));
    let (status, root) = h
        .arm(
            Method::GET,
            &format!("/providers/Microsoft.Authorization/roleDefinitions/{READER}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        root["id"],
        format!("/providers/Microsoft.Authorization/roleDefinitions/{READER}")
    );

    for (path, code, status) in [
        (
            format!("{defs}/{}", uuid::Uuid::new_v4()),
            "RoleDefinitionDoesNotExist",
            404,
        ),
        (
            format!("{defs}/not-a-guid"),
            "RoleDefinitionDoesNotExist",
            404,
        ),
        (
            format!("{defs}?$filter=startswith(roleName,'F')"),
            "BadRequest",
            400,
        ),
    ] {
        let (got, answer) = h.arm(Method::GET, &path, None).await;
        assert_eq!(got, status, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}");
    }
}

#[tokio::test]
async fn role_assignments_at_every_scope_with_filters() {
    let h = Health::start().await;
    h.create_workspace("assign").await;
    h.create_fhir("assign", "fhir1").await;
    let app = h.register_app("assigned-client").await;
    let group = h.create_group("readers").await;
    h.add_member(&group, &app.principal_id).await;
    let sub = format!("/subscriptions/{}", h.sub);
    let ws = h.ws_id("assign");
    let fhir = h.fhir_id("assign", "fhir1");

    // PUT: created, with ARM's envelope.
    let name = uuid::Uuid::new_v4().to_string();
    let path = format!("{}/{name}", assignments(&fhir));
    let (status, created) = h
        .arm(
            Method::PUT,
            &path,
            Some(body(&h.sub, FHIR_DATA_CONTRIBUTOR, &app.principal_id)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], path);
    assert_eq!(created["name"], name);
    assert_eq!(created["type"], "Microsoft.Authorization/roleAssignments");
    let p = &created["properties"];
    assert_eq!(
        p["principalType"], "ServicePrincipal",
        "found from the directory"
    );
    assert_eq!(p["principalId"], app.principal_id);
    assert_eq!(p["scope"], fhir);
    assert_eq!(
        p["roleDefinitionId"],
        format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_CONTRIBUTOR}")
    );
    assert!(p["createdOn"].as_str().is_some());

    // PUT again, identical: 200, the same assignment.
    let (status, again) = h
        .arm(
            Method::PUT,
            &path,
            Some(body(&h.sub, FHIR_DATA_CONTRIBUTOR, &app.principal_id)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["name"], name);
    let (status, got) = h.arm(Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["properties"]["scope"], fhir);

    let at_ws = h.assign(&ws, FHIR_DATA_READER, &group).await;
    let at_sub_owner = {
        let (_, list) = h.arm(Method::GET, &assignments(&sub), None).await;
        list["value"][0]["name"].as_str().unwrap().to_owned()
    };

    // Listing at the workspace: at, above (the administrator's Owner) and below.
    let (status, list) = h.arm(Method::GET, &assignments(&ws), None).await;
    assert_eq!(status, 200);
    let mut all = vec![name.clone(), at_ws.clone(), at_sub_owner.clone()];
    all.sort();
    assert_eq!(names(&list), all);
    // atScope(): at and above only.
    let (_, list) = h
        .arm(
            Method::GET,
            &format!("{}?$filter=atScope()", assignments(&ws)),
            None,
        )
        .await;
    let mut at_or_above = vec![at_ws.clone(), at_sub_owner.clone()];
    at_or_above.sort();
    assert_eq!(names(&list), at_or_above);
    // principalId eq: that principal's only.
    let (_, list) = h
        .arm(
            Method::GET,
            &format!(
                "{}?$filter=principalId eq '{}'",
                assignments(&sub),
                app.principal_id
            ),
            None,
        )
        .await;
    assert_eq!(names(&list), vec![name.clone()]);
    // assignedTo(): the principal's and its groups'.
    let (_, list) = h
        .arm(
            Method::GET,
            &format!(
                "{}?$filter=assignedTo('{}')",
                assignments(&sub),
                app.principal_id
            ),
            None,
        )
        .await;
    let mut mine = vec![name.clone(), at_ws.clone()];
    mine.sort();
    assert_eq!(names(&list), mine);
    // Both filters together.
    let (_, list) = h
        .arm(
            Method::GET,
            &format!(
                "{}?$filter=atScope() and principalId eq '{group}'",
                assignments(&fhir)
            ),
            None,
        )
        .await;
    assert_eq!(names(&list), vec![at_ws.clone()]);

    // The assignment is found only at its own scope.
    let (status, answer) = h
        .arm(Method::GET, &format!("{}/{name}", assignments(&ws)), None)
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "RoleAssignmentNotFound");

    // DELETE: 200 with what was deleted, then 204.
    let (status, gone) = h.arm(Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(gone["name"], name);
    let (status, _) = h.arm(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, answer) = h.arm(Method::GET, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["code"], "RoleAssignmentNotFound");
}

/// Every mistake a caller can make with a role assignment.
#[tokio::test]
async fn role_assignment_errors() {
    let h = Health::start().await;
    h.create_workspace("raerr").await;
    let app = h.register_app("raerr-client").await;
    let ws = h.ws_id("raerr");
    let existing = h.assign(&ws, FHIR_DATA_READER, &app.principal_id).await;
    let fresh = || format!("{}/{}", assignments(&ws), uuid::Uuid::new_v4());
    let sub = h.sub.clone();
    let cases: Vec<(String, Value, u16, &str)> = vec![
        (
            format!("{}/not-a-guid", assignments(&ws)),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            400,
            "InvalidRoleAssignmentId",
        ),
        (
            fresh(),
            body(&sub, &uuid::Uuid::new_v4().to_string(), &app.principal_id),
            400,
            "RoleDefinitionDoesNotExist",
        ),
        (
            fresh(),
            body(&sub, FHIR_DATA_READER, &uuid::Uuid::new_v4().to_string()),
            400,
            "PrincipalNotFound",
        ),
        (
            fresh(),
            body(&sub, FHIR_DATA_READER, "not-a-guid"),
            400,
            "InvalidPrincipalId",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": tenant_role(FHIR_DATA_READER), "principalId": app.principal_id, "principalType": "User"}}),
            400,
            "UnmatchedPrincipalType",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": tenant_role(FHIR_DATA_READER), "principalId": app.principal_id, "principalType": "Robot"}}),
            400,
            "InvalidPrincipalType",
        ),
        (
            fresh(),
            json!({"properties": {"principalId": app.principal_id}}),
            400,
            "InvalidRequestContent",
        ),
        // Role definition IDs other than the role's under this subscription
        // or at the tenant root.
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": FHIR_DATA_READER, "principalId": app.principal_id}}),
            400,
            "InvalidRoleDefinitionId",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": format!("garbage/{FHIR_DATA_READER}"), "principalId": app.principal_id}}),
            400,
            "InvalidRoleDefinitionId",
        ),
        (
            fresh(),
            body(
                &uuid::Uuid::new_v4().to_string(),
                FHIR_DATA_READER,
                &app.principal_id,
            ),
            400,
            "InvalidRoleDefinitionId",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments/{FHIR_DATA_READER}"), "principalId": app.principal_id}}),
            400,
            "InvalidRoleDefinitionId",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": format!("/subscriptions/{sub}/resourceGroups/hale-default/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_READER}"), "principalId": app.principal_id}}),
            400,
            "InvalidRoleDefinitionId",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/not-a-guid", "principalId": app.principal_id}}),
            400,
            "InvalidRoleDefinitionId",
        ),
        (
            fresh(),
            json!({"properties": {"roleDefinitionId": tenant_role(FHIR_DATA_READER)}}),
            400,
            "InvalidRequestContent",
        ),
        (
            fresh(),
            json!({"properties": "x"}),
            400,
            "InvalidRequestContent",
        ),
        // The same role for the same principal at the same scope, under a new name.
        (
            fresh(),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            409,
            "RoleAssignmentExists",
        ),
        // The existing name, with something else.
        (
            format!("{}/{existing}", assignments(&ws)),
            body(&sub, FHIR_DATA_WRITER, &app.principal_id),
            409,
            "RoleAssignmentUpdateNotPermitted",
        ),
        // Scopes that do not exist.
        (
            format!(
                "{}/{}",
                assignments(&h.ws_id("nothere")),
                uuid::Uuid::new_v4()
            ),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            404,
            "ResourceNotFound",
        ),
        (
            format!(
                "{}/{}",
                assignments(&h.fhir_id("raerr", "nothere")),
                uuid::Uuid::new_v4()
            ),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            404,
            "ResourceNotFound",
        ),
        (
            format!(
                "{}/{}",
                assignments(&format!("/subscriptions/{sub}/resourceGroups/nothere")),
                uuid::Uuid::new_v4()
            ),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            404,
            "ResourceGroupNotFound",
        ),
        (
            format!(
                "{}/{}",
                assignments(&format!("/subscriptions/{}", uuid::Uuid::new_v4())),
                uuid::Uuid::new_v4()
            ),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            404,
            "SubscriptionNotFound",
        ),
        (
            format!(
                "/providers/Microsoft.Authorization/roleAssignments/{}",
                uuid::Uuid::new_v4()
            ),
            body(&sub, FHIR_DATA_READER, &app.principal_id),
            400,
            "InvalidRoleAssignmentScope",
        ),
    ];
    for (path, request, status, code) in cases {
        let (got, answer) = h.arm(Method::PUT, &path, Some(request.clone())).await;
        assert_eq!(got, status, "PUT {path} {request}: {answer}");
        assert_eq!(
            answer["error"]["code"], code,
            "PUT {path} {request}: {answer}"
        );
    }
    for (path, status, code) in [
        (
            format!("{}?$filter=roleName eq 'x'", assignments(&ws)),
            400,
            "BadRequest",
        ),
        (
            format!("{}?$filter=principalId eq 'not-a-guid'", assignments(&ws)),
            400,
            "BadRequest",
        ),
        (
            "/providers/Microsoft.Authorization/roleAssignments".to_owned(),
            400,
            "InvalidRoleAssignmentScope",
        ),
        (
            format!("{}/not-a-guid", assignments(&ws)),
            400,
            "InvalidRoleAssignmentId",
        ),
    ] {
        let (got, answer) = h.arm(Method::GET, &path, None).await;
        assert_eq!(got, status, "GET {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "GET {path}");
    }
    // The failed PUTs changed nothing.
    let (_, list) = h
        .arm(
            Method::GET,
            &format!(
                "{}?$filter=principalId eq '{}'",
                assignments(&ws),
                app.principal_id
            ),
            None,
        )
        .await;
    assert_eq!(names(&list), [existing]);
}

/// A role assignment names its role by the role definition's ID under the
/// assignment's subscription or at the tenant root, in any case.
#[tokio::test]
async fn role_definition_ids_in_azures_forms() {
    let h = Health::start().await;
    h.create_workspace("rdforms").await;
    let app = h.register_app("rdforms-client").await;
    let ws = h.ws_id("rdforms");
    let sub = h.sub.clone();
    let put = |role_definition_id: String| {
        let path = format!("{}/{}", assignments(&ws), uuid::Uuid::new_v4());
        let request = json!({"properties": {
            "roleDefinitionId": role_definition_id,
            "principalId": app.principal_id,
        }});
        let h = &h;
        async move { h.arm(Method::PUT, &path, Some(request)).await }
    };
    for (role, id) in [
        (FHIR_DATA_READER, tenant_role(FHIR_DATA_READER)),
        (
            FHIR_DATA_WRITER,
            format!(
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_WRITER}"
            ),
        ),
        (
            DICOM_DATA_READER,
            format!(
                "/SUBSCRIPTIONS/{}/PROVIDERS/microsoft.authorization/ROLEDEFINITIONS/{DICOM_DATA_READER}",
                sub.to_uppercase()
            ),
        ),
    ] {
        let (status, created) = put(id.clone()).await;
        assert_eq!(status, 201, "{id}: {created}");
        assert_eq!(
            created["properties"]["roleDefinitionId"],
            format!(
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
            ),
            "{id}"
        );
    }
    let other = uuid::Uuid::new_v4();
    for id in [
        FHIR_DATA_CONTRIBUTOR.to_owned(),
        format!("garbage/{FHIR_DATA_CONTRIBUTOR}"),
        format!(
            "/subscriptions/{other}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_CONTRIBUTOR}"
        ),
    ] {
        let (status, answer) = put(id.clone()).await;
        assert_eq!(status, 400, "{id}: {answer}");
        assert_eq!(
            answer["error"]["code"], "InvalidRoleDefinitionId",
            "{answer}"
        );
        assert_eq!(
            answer["error"]["message"],
            format!("The role definition ID '{id}' is not valid."),
        );
    }
}

/// Writing assignments needs Owner or User Access Administrator; Contributor
/// and Reader may not; nobody without a role may even list them.
#[tokio::test]
async fn who_may_assign_roles() {
    let h = Health::start().await;
    h.create_workspace("who").await;
    let ws = h.ws_id("who");
    let target = h.register_app("who-target").await;
    let mut tokens = Vec::new();
    for (alias, role) in [
        ("contrib", Some(CONTRIBUTOR)),
        ("reader", Some(READER)),
        ("uaa", Some(USER_ACCESS_ADMINISTRATOR)),
        ("nobody", None),
    ] {
        let oid = h.create_user(alias, "Str0ng-Passw0rd").await;
        if let Some(role) = role {
            h.assign(&format!("/subscriptions/{}", h.sub), role, &oid)
                .await;
        }
        let token = h
            .password_token(&format!("{alias}@hale.local"), "Str0ng-Passw0rd", ARM_SCOPE)
            .await;
        tokens.push((alias, token));
    }
    for (alias, token) in &tokens {
        let path = format!("{}/{}", assignments(&ws), uuid::Uuid::new_v4());
        let (status, answer) = h
            .arm_as(
                token,
                Method::PUT,
                &path,
                Some(body(&h.sub, FHIR_DATA_READER, &target.principal_id)),
            )
            .await;
        let (list_status, _) = h.arm_as(token, Method::GET, &assignments(&ws), None).await;
        match *alias {
            "uaa" => {
                assert_eq!(status, 201, "{alias}: {answer}");
                let (status, _) = h.arm_as(token, Method::DELETE, &path, None).await;
                assert_eq!(status, 200, "{alias} deletes");
                assert_eq!(list_status, 200);
            }
            "nobody" => {
                assert_eq!(status, 403, "{alias}: {answer}");
                assert_eq!(list_status, 403, "{alias} lists");
            }
            _ => {
                assert_eq!(status, 403, "{alias}: {answer}");
                assert_eq!(answer["error"]["code"], "AuthorizationFailed");
                assert!(
                    answer["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("'Microsoft.Authorization/roleAssignments/write'")
                );
                assert_eq!(list_status, 200, "{alias} lists");
            }
        }
    }
    // Contributor cannot delete the administrator's Owner assignment either.
    let sub = format!("/subscriptions/{}", h.sub);
    let (_, list) = h
        .arm(
            Method::GET,
            &format!("{}?$filter=atScope()", assignments(&sub)),
            None,
        )
        .await;
    let owner = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["properties"]["roleDefinitionId"]
                .as_str()
                .unwrap()
                .ends_with(OWNER)
        })
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let contrib = &tokens[0].1;
    let (status, _) = h
        .arm_as(
            contrib,
            Method::DELETE,
            &format!("{}/{owner}", assignments(&sub)),
            None,
        )
        .await;
    assert_eq!(status, 403);
}
