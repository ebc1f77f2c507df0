//! The ARM control plane for health workspaces over HTTP: resource groups,
//! workspaces, FHIR and DICOM services, their envelopes, the first-party
//! applications they bring, ARM's errors for every mistake, and RBAC on
//! every call.

mod common;

use common::health::*;
use reqwest::Method;
use serde_json::{Value, json};

fn assert_arm_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
}

#[tokio::test]
async fn workspaces_and_services_lifecycle() {
    let h = Health::start().await;
    let origin = h.server.info().public_url.to_string();

    // Workspace: create, update tags, read, list at both levels.
    let ws = h.create_workspace("clinic").await;
    assert_eq!(ws["id"], h.ws_id("clinic"));
    assert_eq!(ws["name"], "clinic");
    assert_eq!(ws["type"], "Microsoft.HealthcareApis/workspaces");
    assert_eq!(ws["location"], "local");
    assert_eq!(ws["properties"]["provisioningState"], "Succeeded");
    let (status, again) = h
        .arm(
            Method::PUT,
            &h.ws_id("clinic"),
            Some(json!({"location": "Local", "tags": {"env": "dev"}})),
        )
        .await;
    assert_eq!(status, 200, "a second PUT updates: {again}");
    assert_eq!(again["tags"]["env"], "dev");
    let (status, got) = h.arm(Method::GET, &h.ws_id("clinic"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["tags"]["env"], "dev");
    for list in [
        format!("{}/providers/Microsoft.HealthcareApis/workspaces", h.rg()),
        format!(
            "/subscriptions/{}/providers/Microsoft.HealthcareApis/workspaces",
            h.sub
        ),
    ] {
        let (status, listed) = h.arm(Method::GET, &list, None).await;
        assert_eq!(status, 200);
        assert_eq!(listed["value"][0]["name"], "clinic", "{list}");
    }
    let (status, patched) = h
        .arm(
            Method::PATCH,
            &h.ws_id("clinic"),
            Some(json!({"tags": {"team": "ward"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["tags"], json!({"team": "ward"}));
    // IDs are case-insensitive.
    let (status, _) = h
        .arm(
            Method::GET,
            &h.ws_id("clinic")
                .replace("resourceGroups", "RESOURCEGROUPS"),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // FHIR service.
    let fhir = h.create_fhir("clinic", "Patients").await;
    let fhir_url = format!("{origin}fhir/clinic/patients");
    assert_eq!(fhir["id"], h.fhir_id("clinic", "Patients"));
    assert_eq!(fhir["name"], "Patients");
    assert_eq!(
        fhir["type"],
        "Microsoft.HealthcareApis/workspaces/fhirservices"
    );
    assert_eq!(fhir["kind"], "fhir-R4");
    assert_eq!(fhir["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        fhir["properties"]["authenticationConfiguration"]["audience"],
        fhir_url
    );
    assert_eq!(
        fhir["properties"]["authenticationConfiguration"]["authority"],
        format!("{origin}{}", h.tenant)
    );
    // DICOM service, and its first-party application.
    let dicom_sp = "/v1.0/servicePrincipals(appId='75e725bf-66ce-4cea-9b9a-5c4caae57f33')";
    let before = h
        .server
        .client()
        .get(h.server.url(dicom_sp))
        .bearer_auth(&h.graph)
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 404);
    let dicom = h.create_dicom("clinic", "images").await;
    assert_eq!(
        dicom["type"],
        "Microsoft.HealthcareApis/workspaces/dicomservices"
    );
    assert_eq!(
        dicom["properties"]["serviceUrl"],
        format!("{origin}dicom/clinic/images")
    );
    assert_eq!(
        dicom["properties"]["authenticationConfiguration"]["audiences"],
        json!(["https://dicom.healthcareapis.azure.com"])
    );
    assert!(dicom.get("kind").is_none());
    let sp = h.graph(Method::GET, dicom_sp, json!(null)).await;
    assert_eq!(sp["displayName"], "Azure API for DICOM");
    // A second DICOM service does not add a second service principal.
    h.create_dicom("clinic", "images2").await;
    let sps = h
        .graph(Method::GET, "/v1.0/servicePrincipals", json!(null))
        .await;
    let dicom_sps = sps["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["displayName"] == "Azure API for DICOM")
        .count();
    assert_eq!(dicom_sps, 1);

    let (status, listed) = h
        .arm(
            Method::GET,
            &format!("{}/dicomservices", h.ws_id("clinic")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["images", "images2"]);
    let (status, got) = h
        .arm(Method::GET, &h.fhir_id("clinic", "PATIENTS"), None)
        .await;
    assert_eq!(status, 200, "service names ignore case");
    assert_eq!(got["name"], "Patients");
    let (status, patched) = h
        .arm(
            Method::PATCH,
            &h.fhir_id("clinic", "Patients"),
            Some(json!({"tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["tags"]["a"], "b");

    // A workspace holding services cannot go; its services can.
    let (status, body) = h.arm(Method::DELETE, &h.ws_id("clinic"), None).await;
    assert_arm_error(status, &body, 409, "Conflict");
    for id in [
        h.fhir_id("clinic", "Patients"),
        h.dicom_id("clinic", "images"),
        h.dicom_id("clinic", "images2"),
    ] {
        let (status, _) = h.arm(Method::DELETE, &id, None).await;
        assert_eq!(status, 200, "{id}");
        let (status, _) = h.arm(Method::DELETE, &id, None).await;
        assert_eq!(status, 204, "{id} again");
        let (status, body) = h.arm(Method::GET, &id, None).await;
        assert_arm_error(status, &body, 404, "ResourceNotFound");
    }
    let (status, _) = h.arm(Method::DELETE, &h.ws_id("clinic"), None).await;
    assert_eq!(status, 200);
    let (status, _) = h.arm(Method::DELETE, &h.ws_id("clinic"), None).await;
    assert_eq!(status, 204);
    let (status, body) = h.arm(Method::GET, &h.ws_id("clinic"), None).await;
    assert_arm_error(status, &body, 404, "ResourceNotFound");
}

#[tokio::test]
async fn resource_groups_and_subscriptions() {
    let h = Health::start().await;
    let sub = format!("/subscriptions/{}", h.sub);
    let rg = format!("{sub}/resourceGroups/Research-RG");

    let (status, subs) = h.arm(Method::GET, "/subscriptions", None).await;
    assert_eq!(status, 200);
    assert_eq!(subs["value"][0]["subscriptionId"], h.sub);
    assert_eq!(subs["value"][0]["tenantId"], h.tenant);
    let (status, one) = h.arm(Method::GET, &sub, None).await;
    assert_eq!(status, 200);
    assert_eq!(one["state"], "Enabled");

    let (status, created) = h
        .arm(
            Method::PUT,
            &rg,
            Some(json!({"location": "local", "tags": {"k": "v"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["type"], "Microsoft.Resources/resourceGroups");
    assert_eq!(created["properties"]["provisioningState"], "Succeeded");
    let (status, _) = h
        .arm(Method::PUT, &rg, Some(json!({"location": "local"})))
        .await;
    assert_eq!(status, 200);
    let (status, body) = h
        .arm(Method::PUT, &rg, Some(json!({"location": "westus"})))
        .await;
    assert_arm_error(status, &body, 409, "InvalidResourceGroupLocation");
    let (status, body) = h
        .arm(
            Method::PUT,
            &format!("{sub}/resourceGroups/research-rg"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_eq!(status, 200, "names ignore case: {body}");
    assert_eq!(body["name"], "Research-RG");
    let (status, listed) = h
        .arm(Method::GET, &format!("{sub}/resourcegroups"), None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hale-default", "Research-RG"]);
    let (status, patched) = h.arm(Method::PATCH, &rg, Some(json!({"tags": {}}))).await;
    assert_eq!(status, 200);
    assert_eq!(patched["tags"], json!({}));

    // Deleting a group takes its workspaces, services and assignments.
    let ws = format!("{rg}/providers/Microsoft.HealthcareApis/workspaces/research");
    let (status, _) = h
        .arm(Method::PUT, &ws, Some(json!({"location": "local"})))
        .await;
    assert_eq!(status, 201);
    let (status, _) = h
        .arm(
            Method::PUT,
            &format!("{ws}/fhirservices/cohort"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_eq!(status, 201);
    let app = h.register_app("research-client").await;
    h.assign(
        &format!("{ws}/fhirservices/cohort"),
        FHIR_DATA_READER,
        &app.principal_id,
    )
    .await;
    let (status, _) = h.arm(Method::DELETE, &rg, None).await;
    assert_eq!(status, 200);
    let (status, body) = h.arm(Method::GET, &rg, None).await;
    assert_arm_error(status, &body, 404, "ResourceGroupNotFound");
    let (status, body) = h.arm(Method::DELETE, &rg, None).await;
    assert_arm_error(status, &body, 404, "ResourceGroupNotFound");
    let (_, left) = h
        .arm(
            Method::GET,
            &format!("{sub}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{}'", app.principal_id),
            None,
        )
        .await;
    assert_eq!(left["value"], json!([]), "{left}");
    let reply = h
        .data(
            Method::GET,
            &format!(
                "{}fhir/research/cohort/metadata",
                h.server.info().public_url
            ),
            None,
        )
        .await;
    assert_eq!(reply.status, 404);
    // The name is free again.
    h.create_workspace("research").await;
}

/// SDKs percent-encode the names they put in paths (`rg(1)` as `rg%281%29`);
/// ARM decodes them before validating, and stores and answers the decoded names.
#[tokio::test]
async fn percent_encoded_names_are_decoded() {
    let h = Health::start().await;
    let sub = format!("/subscriptions/{}", h.sub);

    let (status, group) = h
        .arm(
            Method::PUT,
            &format!("{sub}/resourcegroups/rg%281%29"),
            Some(json!({"location": "westus"})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["name"], "rg(1)");
    assert_eq!(group["id"], format!("{sub}/resourceGroups/rg(1)"));
    let (status, got) = h
        .arm(Method::GET, &format!("{sub}/resourceGroups/rg(1)"), None)
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["name"], "rg(1)");

    // Unicode letters, in any case, with periods, underscores and hyphens.
    let (status, group) = h
        .arm(
            Method::PUT,
            &format!("{sub}/resourceGroups/%C3%84rzte.Team_1-x"),
            Some(json!({"location": "westus"})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["name"], "Ärzte.Team_1-x");
    assert_eq!(group["id"], format!("{sub}/resourceGroups/Ärzte.Team_1-x"));
    let (status, got) = h
        .arm(
            Method::GET,
            &format!("{sub}/resourceGroups/%C3%A4rzte.team_1-x"),
            None,
        )
        .await;
    assert_eq!(status, 200, "names ignore case beyond ASCII: {got}");
    assert_eq!(got["name"], "Ärzte.Team_1-x");
    // The first segment too, as every other ARM path segment.
    let upper = format!("/SUBSCRIPTIONS/{}/resourcegroups/rg(1)", h.sub);
    let (status, got) = h.arm(Method::GET, &upper, None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], format!("{sub}/resourceGroups/rg(1)"));
    let (status, got) = h
        .arm(
            Method::GET,
            "/Providers/Microsoft.HealthcareApis/operations",
            None,
        )
        .await;
    let (lower_status, lower) = h
        .arm(
            Method::GET,
            "/providers/Microsoft.HealthcareApis/operations",
            None,
        )
        .await;
    assert_eq!((status, &got), (lower_status, &lower));
    let (status, listed) = h
        .arm(Method::GET, &format!("{sub}/resourcegroups"), None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hale-default", "rg(1)", "Ärzte.Team_1-x"]);

    // Workspaces, services and role assignments under an encoded group.
    let rg = format!("{sub}/resourceGroups/rg(1)");
    let encoded_ws = format!(
        "{sub}/resourceGroups/rg%281%29/providers/Microsoft.HealthcareApis/workspaces/ward%31"
    );
    let (status, ws) = h
        .arm(
            Method::PUT,
            &encoded_ws,
            Some(json!({"location": "westus"})),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    assert_eq!(ws["name"], "ward1");
    let ws_id = format!("{rg}/providers/Microsoft.HealthcareApis/workspaces/ward1");
    assert_eq!(ws["id"], ws_id);
    let (status, listed) = h
        .arm(
            Method::GET,
            &format!(
                "{sub}/resourceGroups/rg%281%29/providers/Microsoft.HealthcareApis/workspaces"
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["value"][0]["id"], ws_id, "{listed}");
    let (status, fhir) = h
        .arm(
            Method::PUT,
            &format!("{encoded_ws}/fhirservices/fhir%2Done"),
            Some(json!({"location": "westus"})),
        )
        .await;
    assert_eq!(status, 201, "{fhir}");
    assert_eq!(fhir["name"], "fhir-one");
    let fhir_id = format!("{ws_id}/fhirservices/fhir-one");
    assert_eq!(fhir["id"], fhir_id);
    let (status, got) = h.arm(Method::GET, &fhir_id, None).await;
    assert_eq!(status, 200, "{got}");

    let app = h.register_app("encoded-client").await;
    let name = uuid::Uuid::new_v4().to_string();
    let encoded_name = format!("%{:02X}{}", name.as_bytes()[0], &name[1..]);
    let (status, assignment) = h
        .arm(
            Method::PUT,
            &format!(
                "{encoded_ws}/fhirservices/fhir%2Done/providers/Microsoft.Authorization/roleAssignments/{encoded_name}"
            ),
            Some(json!({"properties": {
                "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{FHIR_DATA_READER}"),
                "principalId": app.principal_id,
            }})),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    assert_eq!(assignment["name"], name);
    assert_eq!(assignment["properties"]["scope"], fhir_id);
    assert_eq!(
        assignment["id"],
        format!("{fhir_id}/providers/Microsoft.Authorization/roleAssignments/{name}")
    );
    let (status, listed) = h
        .arm(
            Method::GET,
            &format!(
                "{rg}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{}'",
                app.principal_id
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["value"][0]["name"], name, "{listed}");

    // What does not decode to a name is refused.
    for bad in ["a%2Fb", "%FF"] {
        let (status, body) = h
            .arm(
                Method::PUT,
                &format!("{sub}/resourceGroups/{bad}"),
                Some(json!({"location": "westus"})),
            )
            .await;
        assert_arm_error(status, &body, 400, "BadRequest");
    }
}

/// `HEAD` on a resource group (`az group exists`), workspace or service: 204
/// when it exists, 404 when not, never a body.
#[tokio::test]
async fn head_checks_existence() {
    let h = Health::start().await;
    h.create_workspace("present").await;
    h.create_fhir("present", "fhir1").await;
    let head = |path: String, token: Option<String>| {
        let mut req = h.server.client().head(h.arm_url(&path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            assert!(body.is_empty(), "HEAD {path}: {body:?}");
            status
        }
    };
    let sub = format!("/subscriptions/{}", h.sub);
    let me = Some(h.arm.clone());
    let cases = [
        (h.rg(), 204),
        (format!("{sub}/resourcegroups/HALE-DEFAULT"), 204),
        (format!("{sub}/resourcegroups/nothere"), 404),
        (h.ws_id("present"), 204),
        (h.ws_id("absent"), 404),
        (h.fhir_id("present", "fhir1"), 204),
        (h.fhir_id("present", "fhir2"), 404),
        (h.dicom_id("absent", "dicom1"), 404),
    ];
    for (path, want) in cases {
        assert_eq!(head(path.clone(), me.clone()).await, want, "HEAD {path}");
    }
    assert_eq!(head(h.rg(), None).await, 401);
}

/// Each type answers the api-versions Azure publishes for it, and refuses any
/// other in ARM's words: NoRegisteredProviderFound from Microsoft.HealthcareApis,
/// InvalidApiVersionParameter from ARM's own types and Microsoft.Authorization.
#[tokio::test]
async fn api_versions_are_those_azure_publishes() {
    let h = Health::start().await;
    h.create_workspace("versions").await;
    h.create_fhir("versions", "fhir1").await;
    let sub = format!("/subscriptions/{}", h.sub);
    let assignments = format!("{sub}/providers/Microsoft.Authorization/roleAssignments");
    let definitions = format!("{sub}/providers/Microsoft.Authorization/roleDefinitions");
    let with = |path: &str, version: &str| format!("{path}?api-version={version}");

    // What the README, the tests, `hale`, the Azure CLI and the SDKs send.
    let accepted = [
        with("/subscriptions", "2022-12-01"),
        with("/subscriptions", "2021-04-01"),
        with("/subscriptions", "2016-06-01"),
        with(&sub, "2020-01-01"),
        with(&h.rg(), "2024-11-01"),
        with(&h.rg(), "2014-04-01"),
        with(&format!("{sub}/resourcegroups"), "2019-05-10"),
        with(&h.ws_id("versions"), "2023-11-01"),
        with(&h.ws_id("versions"), "2021-06-01-preview"),
        with(&h.ws_id("versions"), "2024-03-31"),
        with(&h.ws_id("versions"), "2025-03-01-preview"),
        with(&h.fhir_id("versions", "fhir1"), "2022-06-01"),
        with(
            &format!("{}/dicomservices", h.ws_id("versions")),
            "2023-12-01",
        ),
        with(&assignments, "2022-04-01"),
        with(&assignments, "2020-04-01-preview"),
        with(&assignments, "2015-07-01"),
        with(&definitions, "2022-04-01"),
        with(&definitions, "2022-05-01-preview"),
        with(&definitions, "2018-01-01-preview"),
        // Versions Azure published after these lists were written (dated
        // after the newest listed, before today).
        with(&h.rg(), "2025-06-01"),
        with(&h.ws_id("versions"), "2025-09-01-preview"),
        with(&assignments, "2024-01-01"),
    ];
    for path in accepted {
        let (status, body) = h.arm(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    let (status, body) = h
        .arm(
            Method::PUT,
            &with(&h.ws_id("versions"), "2099-01-01"),
            Some(json!({"location": "westus"})),
        )
        .await;
    assert_arm_error(status, &body, 400, "NoRegisteredProviderFound");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("No registered resource provider found for location 'westus' and API version '2099-01-01' for type 'workspaces'. The supported api-versions are '2025-04-01-preview, 2025-03-01-preview, 2024-03-31, "),
        "{message}"
    );
    assert!(message.contains(", 2023-11-01, "), "{message}");
    let (status, body) = h
        .arm(
            Method::GET,
            &with(&h.fhir_id("versions", "fhir1"), "2021-04-01"),
            None,
        )
        .await;
    assert_arm_error(status, &body, 400, "NoRegisteredProviderFound");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("for type 'workspaces/fhirservices'"),
        "{body}"
    );

    let refused = [
        (with("/subscriptions", "2099-01-01"), "2024-11-01"),
        (with(&h.rg(), "2023-11-01"), "2021-04-01"),
        (with(&assignments, "2021-01-01"), "2022-04-01"),
        (
            with(&definitions, "2020-04-01-preview"),
            "2022-05-01-preview",
        ),
    ];
    for (path, listed) in refused {
        let (status, body) = h.arm(Method::GET, &path, None).await;
        assert_arm_error(status, &body, 400, "InvalidApiVersionParameter");
        let version = path.rsplit('=').next().unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "The api-version '{version}' is invalid. The supported versions are '"
            )),
            "{path}: {message}"
        );
        assert!(message.contains(listed), "{path}: {message}");
    }
}

/// A FHIR or DICOM service is a nested resource: under a workspace that does
/// not exist, ARM answers that the parent is missing, not the service.
#[tokio::test]
async fn services_of_a_missing_workspace() {
    let h = Health::start().await;
    let missing = |body: &Value| {
        assert_eq!(
            body["error"]["message"],
            "Can not perform requested operation on nested resource. Parent resource 'nosuchws' not found.",
            "{body}"
        );
    };
    for id in [
        h.fhir_id("nosuchws", "newfhir"),
        h.dicom_id("nosuchws", "newdicom"),
    ] {
        let (status, body) = h
            .arm(Method::PUT, &id, Some(json!({"location": "local"})))
            .await;
        assert_arm_error(status, &body, 404, "ParentResourceNotFound");
        missing(&body);
        let (status, body) = h.arm(Method::GET, &id, None).await;
        assert_arm_error(status, &body, 404, "ParentResourceNotFound");
        missing(&body);
        let (status, body) = h.arm(Method::PATCH, &id, Some(json!({"tags": {}}))).await;
        assert_arm_error(status, &body, 404, "ParentResourceNotFound");
        let collection = id.rsplit_once('/').unwrap().0;
        let (status, body) = h.arm(Method::GET, collection, None).await;
        assert_arm_error(status, &body, 404, "ParentResourceNotFound");
        missing(&body);
        // Deleting what is not there stays a 204.
        let (status, _) = h.arm(Method::DELETE, &id, None).await;
        assert_eq!(status, 204, "{id}");
    }
    // The workspace itself is a top-level resource: ResourceNotFound.
    let (status, body) = h.arm(Method::GET, &h.ws_id("nosuchws"), None).await;
    assert_arm_error(status, &body, 404, "ResourceNotFound");
    // A service missing from a workspace that exists is the service's own 404.
    h.create_workspace("realws").await;
    let (status, body) = h
        .arm(Method::GET, &h.fhir_id("realws", "newfhir"), None)
        .await;
    assert_arm_error(status, &body, 404, "ResourceNotFound");
}

/// Every mistake a caller can make against the control plane, and ARM's answer.
#[tokio::test]
async fn every_control_plane_error() {
    let h = Health::start().await;
    h.create_workspace("errs").await;
    h.create_fhir("errs", "fhir1").await;
    let sub = format!("/subscriptions/{}", h.sub);
    let ws = h.ws_id("errs");
    let loc = || Some(json!({"location": "local"}));
    let mut other_rg = h.rg().replace("hale-default", "other");
    let (status, _) = h.arm(Method::PUT, &other_rg, loc()).await;
    assert_eq!(status, 201);
    other_rg.push_str("/providers/Microsoft.HealthcareApis/workspaces/errs");
    let many_tags: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("t{i}"), json!("v"))).collect();
    let missing_sub = format!("/subscriptions/{}", uuid::Uuid::new_v4());

    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::GET,
            format!("{ws}?api-version=latest"),
            None,
            400,
            "InvalidApiVersionParameter",
        ),
        (
            Method::GET,
            "/subscriptions/not-a-guid".into(),
            None,
            400,
            "InvalidSubscriptionId",
        ),
        (
            Method::GET,
            missing_sub.clone(),
            None,
            404,
            "SubscriptionNotFound",
        ),
        (
            Method::PUT,
            format!("{missing_sub}/resourceGroups/rg"),
            loc(),
            404,
            "SubscriptionNotFound",
        ),
        (
            Method::PUT,
            format!("{sub}/resourceGroups/bad name"),
            loc(),
            400,
            "InvalidResourceGroupName",
        ),
        (
            Method::PUT,
            format!("{sub}/resourceGroups/rg2"),
            Some(json!({})),
            400,
            "LocationRequired",
        ),
        (
            Method::GET,
            format!("{sub}/resourceGroups/nope"),
            None,
            404,
            "ResourceGroupNotFound",
        ),
        (
            Method::PUT,
            format!("{sub}/resourceGroups/nope/providers/Microsoft.HealthcareApis/workspaces/wsx"),
            loc(),
            404,
            "ResourceGroupNotFound",
        ),
        (
            Method::PUT,
            h.ws_id("ab"),
            loc(),
            400,
            "InvalidResourceName",
        ),
        (
            Method::PUT,
            h.ws_id("UpperCase"),
            loc(),
            400,
            "InvalidResourceName",
        ),
        (
            Method::PUT,
            h.ws_id("has-dash"),
            loc(),
            400,
            "InvalidResourceName",
        ),
        (
            Method::PUT,
            h.ws_id("wsnew"),
            Some(json!({"tags": {}})),
            400,
            "LocationRequired",
        ),
        (
            Method::PUT,
            h.ws_id("wsnew"),
            Some(json!(["location"])),
            400,
            "InvalidRequestContent",
        ),
        (
            Method::PUT,
            h.ws_id("wsnew"),
            Some(json!({"location": "local", "tags": {"n": 1}})),
            400,
            "InvalidRequestContent",
        ),
        (
            Method::PUT,
            h.ws_id("wsnew"),
            Some(json!({"location": "local", "tags": many_tags})),
            400,
            "InvalidTag",
        ),
        (
            Method::PUT,
            h.ws_id("wsnew"),
            Some(json!({"location": "local", "tags": {"a/b": "x"}})),
            400,
            "InvalidTag",
        ),
        (
            Method::PUT,
            ws.clone(),
            Some(json!({"location": "westeurope"})),
            409,
            "InvalidResourceLocation",
        ),
        (Method::PUT, other_rg, loc(), 409, "Conflict"),
        (
            Method::GET,
            h.ws_id("nothere"),
            None,
            404,
            "ResourceNotFound",
        ),
        (
            Method::PATCH,
            h.ws_id("nothere"),
            Some(json!({"tags": {}})),
            404,
            "ResourceNotFound",
        ),
        (
            Method::PUT,
            h.fhir_id("nothere", "fhir1"),
            loc(),
            404,
            "ParentResourceNotFound",
        ),
        (
            Method::PUT,
            h.fhir_id("errs", "-bad"),
            loc(),
            400,
            "InvalidResourceName",
        ),
        (
            Method::PUT,
            h.fhir_id("errs", "ab"),
            loc(),
            400,
            "InvalidResourceName",
        ),
        (
            Method::PUT,
            h.dicom_id("errs", "under_score"),
            loc(),
            400,
            "InvalidResourceName",
        ),
        (
            Method::PUT,
            h.fhir_id("errs", "stu3"),
            Some(json!({"location": "local", "kind": "fhir-Stu3"})),
            400,
            "InvalidKind",
        ),
        (
            Method::PUT,
            h.fhir_id("errs", "fhir2"),
            Some(json!({"kind": "fhir-R4"})),
            400,
            "LocationRequired",
        ),
        (
            Method::PUT,
            h.fhir_id("errs", "fhir1"),
            Some(json!({"location": "eastus"})),
            409,
            "InvalidResourceLocation",
        ),
        (
            Method::GET,
            h.fhir_id("errs", "missing"),
            None,
            404,
            "ResourceNotFound",
        ),
        (
            Method::PATCH,
            h.dicom_id("errs", "missing"),
            Some(json!({})),
            404,
            "ResourceNotFound",
        ),
        (
            Method::GET,
            format!("{ws}/iotconnectors"),
            None,
            404,
            "NotFound",
        ),
        (
            Method::GET,
            format!("{sub}/providers/Microsoft.Compute/virtualMachines"),
            None,
            404,
            "NotFound",
        ),
        (Method::POST, ws.clone(), None, 405, "MethodNotAllowed"),
        (Method::DELETE, sub.clone(), None, 405, "MethodNotAllowed"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = h.arm(method.clone(), &path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
    }

    // A malformed body.
    let res = h
        .server
        .client()
        .put(h.arm_url(&h.ws_id("wsnew")))
        .bearer_auth(&h.arm)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidRequestContent");

    // api-version is required.
    let base = h
        .server
        .info()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let res = h
        .server
        .client()
        .get(format!("{base}{ws}"))
        .bearer_auth(&h.arm)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MissingApiVersionParameter");
    assert_eq!(
        body["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );

    // Tokens: none, for Graph, expired, from an unknown tenant.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let admin_oid = h.server.info().installation.tenant.id; // any GUID will do for refused tokens
    let arm_claims = |extra: Value| h.claims("https://management.azure.com/", extra);
    let tokens: Vec<(Option<String>, &str)> = vec![
        (None, "AuthenticationFailed"),
        (Some("garbage".into()), "InvalidAuthenticationToken"),
        (Some(h.graph.clone()), "InvalidAuthenticationTokenAudience"),
        (
            Some(
                h.server
                    .sign(&arm_claims(
                        json!({"oid": admin_oid.to_string(), "exp": now - 600}),
                    ))
                    .await,
            ),
            "ExpiredAuthenticationToken",
        ),
        (
            Some({
                let t = uuid::Uuid::new_v4();
                h.server
                    .sign(&arm_claims(json!({"oid": admin_oid.to_string(), "tid": t.to_string(), "iss": format!("{}{t}/", h.server.info().public_url)})))
                    .await
            }),
            "InvalidAuthenticationTokenTenant",
        ),
    ];
    for (token, code) in tokens {
        let mut req = h.server.client().get(h.arm_url(&ws));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{code}");
        assert!(res.headers().get("www-authenticate").is_some(), "{code}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
    }
}

/// RBAC on the control plane: what Reader, Contributor and no role may do, for
/// users and for service principals, and lists filtered to what one may read.
#[tokio::test]
async fn control_plane_calls_are_authorized_by_role_assignments() {
    let h = Health::start().await;
    h.create_workspace("rbac").await;
    h.create_workspace("rbacother").await;
    let user = h.create_user("operator", "Str0ng-Passw0rd").await;
    let token = h
        .password_token("operator@hale.local", "Str0ng-Passw0rd", ARM_SCOPE)
        .await;
    let ws = h.ws_id("rbac");
    let fhir = h.fhir_id("rbac", "fhir1");

    // No role at all: refused, and lists come back empty.
    let (status, body) = h.arm_as(&token, Method::GET, &ws, None).await;
    assert_arm_error(status, &body, 403, "AuthorizationFailed");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "The client 'operator@hale.local' with object id '{user}' does not have authorization to perform action 'Microsoft.HealthcareApis/workspaces/read' over scope '{ws}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        )
    );
    let (status, listed) = h
        .arm_as(
            &token,
            Method::GET,
            &format!("{}/providers/Microsoft.HealthcareApis/workspaces", h.rg()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["value"], json!([]));
    let (_, subs) = h.arm_as(&token, Method::GET, "/subscriptions", None).await;
    assert_eq!(subs["value"], json!([]));

    // Reader on one workspace: reads it (and sees the subscription), writes nothing.
    let reader = h.assign(&ws, READER, &user).await;
    let (status, _) = h.arm_as(&token, Method::GET, &ws, None).await;
    assert_eq!(status, 200);
    let (_, listed) = h
        .arm_as(
            &token,
            Method::GET,
            &format!("{}/providers/Microsoft.HealthcareApis/workspaces", h.rg()),
            None,
        )
        .await;
    let names: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rbac"], "only what the caller may read");
    let (_, subs) = h.arm_as(&token, Method::GET, "/subscriptions", None).await;
    assert_eq!(subs["value"].as_array().unwrap().len(), 1);
    let (status, body) = h
        .arm_as(
            &token,
            Method::PUT,
            &fhir,
            Some(json!({"location": "local"})),
        )
        .await;
    assert_arm_error(status, &body, 403, "AuthorizationFailed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.HealthcareApis/workspaces/fhirservices/write")
    );
    let (status, body) = h
        .arm_as(&token, Method::GET, &h.ws_id("rbacother"), None)
        .await;
    assert_arm_error(status, &body, 403, "AuthorizationFailed");
    h.unassign(&ws, &reader).await;

    // Contributor on the workspace: manages services in it, not elsewhere.
    h.assign(&ws, CONTRIBUTOR, &user).await;
    let (status, body) = h
        .arm_as(
            &token,
            Method::PUT,
            &fhir,
            Some(json!({"location": "local"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = h.arm_as(&token, Method::DELETE, &fhir, None).await;
    assert_eq!(status, 200);
    let (status, body) = h
        .arm_as(
            &token,
            Method::PUT,
            &h.fhir_id("rbacother", "fhir1"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_arm_error(status, &body, 403, "AuthorizationFailed");
    let (status, body) = h
        .arm_as(
            &token,
            Method::PUT,
            &h.ws_id("rbacnew"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_arm_error(status, &body, 403, "AuthorizationFailed");

    // A service principal with Contributor on the resource group, by client credentials.
    let app = h.register_app("deployer").await;
    let app_token = h.token_v2(&app, "https://management.azure.com").await;
    let (status, body) = h
        .arm_as(
            &app_token,
            Method::PUT,
            &h.ws_id("bydeployer"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_arm_error(status, &body, 403, "AuthorizationFailed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("'{}'", app.client_id))
    );
    h.assign(&h.rg(), CONTRIBUTOR, &app.principal_id).await;
    let (status, body) = h
        .arm_as(
            &app_token,
            Method::PUT,
            &h.ws_id("bydeployer"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A service's `corsConfiguration`: stored and answered by ARM, refused
/// when Azure would refuse it, and applied by the data plane: preflights
/// answered without a token for allowed origins, answers to browsers
/// carrying the allowed origin; other origins get no CORS headers.
#[tokio::test]
async fn cors_configuration_is_stored_and_applied() {
    let h = Health::start().await;
    h.create_workspace("corsws").await;
    let cors = json!({ "origins": ["https://app.example.org"], "headers": ["authorization", "content-type"],
                       "methods": ["GET", "POST"], "maxAge": 1440, "allowCredentials": false });
    let (status, body) = h
        .arm(
            Method::PUT,
            &h.fhir_id("corsws", "fhir1"),
            Some(json!({"location": "local", "kind": "fhir-R4", "properties": { "corsConfiguration": cors }})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["corsConfiguration"], cors);
    let (_, got) = h
        .arm(Method::GET, &h.fhir_id("corsws", "fhir1"), None)
        .await;
    assert_eq!(got["properties"]["corsConfiguration"], cors);

    for bad in [
        json!({ "origins": ["not an origin"], "methods": ["GET"] }),
        json!({ "origins": ["https://a.example/path"], "methods": ["GET"] }),
        json!({ "origins": ["*"], "methods": ["FETCH"] }),
        json!({ "origins": ["*"], "methods": ["GET"], "maxAge": 100000 }),
        json!({ "origins": ["*"], "methods": ["GET"], "allowCredentials": true }),
        json!({ "origins": "https://app.example.org" }),
    ] {
        let (status, body) = h
            .arm(
                Method::PUT,
                &h.fhir_id("corsws", "fhir2"),
                Some(json!({"location": "local", "kind": "fhir-R4", "properties": { "corsConfiguration": bad }})),
            )
            .await;
        assert_arm_error(status, &body, 400, "InvalidRequestContent");
    }
    let (status, _) = h
        .arm(Method::GET, &h.fhir_id("corsws", "fhir2"), None)
        .await;
    assert_eq!(status, 404, "nothing was created");

    let url = format!("{}/Patient", h.service_url("fhir", "corsws", "fhir1"));
    let preflight = |origin: &'static str, method: &'static str| {
        let (h, url) = (&h, url.clone());
        async move {
            h.server
                .client()
                .request(Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", "Authorization")
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("https://app.example.org", "GET").await;
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    assert_eq!(ok.headers()["access-control-allow-methods"], "GET, POST");
    assert_eq!(
        ok.headers()["access-control-allow-headers"],
        "Authorization"
    );
    assert_eq!(ok.headers()["access-control-max-age"], "1440");
    for (origin, method) in [
        ("https://evil.example", "GET"),
        ("https://app.example.org", "DELETE"),
    ] {
        let refused = preflight(origin, method).await;
        assert_eq!(refused.status(), 204);
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin} {method}"
        );
    }

    // A browser's request: the allowed origin on the answer, even a 401.
    let res = h
        .server
        .client()
        .get(&url)
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("Location")
    );
    let res = h
        .server
        .client()
        .get(&url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // PATCH with null removes it; DICOM services take it too.
    let (status, body) = h
        .arm(
            Method::PATCH,
            &h.fhir_id("corsws", "fhir1"),
            Some(json!({"properties": { "corsConfiguration": null }})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["properties"].get("corsConfiguration").is_none(),
        "{body}"
    );
    assert!(
        preflight("https://app.example.org", "GET")
            .await
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let (status, body) = h
        .arm(
            Method::PUT,
            &h.dicom_id("corsws", "dicom1"),
            Some(json!({"location": "local", "properties": { "corsConfiguration": { "origins": ["*"], "methods": ["GET"], "headers": ["*"] } }})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let res = h
        .server
        .client()
        .request(
            Method::OPTIONS,
            format!("{}/v2/studies", h.service_url("dicom", "corsws", "dicom1")),
        )
        .header("origin", "https://viewer.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization, accept")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}
