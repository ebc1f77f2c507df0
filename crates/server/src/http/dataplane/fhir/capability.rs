//! `GET [base]/metadata`: the CapabilityStatement, built from what the
//! service really does — every R4 resource type with the interactions the
//! REST layer routes, and every search parameter the store indexes (the
//! R4 definitions' parameters with an expression; `special` ones are not).

use std::sync::LazyLock;

use hale_fhir_model::{SearchParamType, r4};
use serde_json::{Value, json};

/// The per-type part, the same for every service.
static RESOURCES: LazyLock<Value> = LazyLock::new(|| {
    let defs = r4();
    let interactions: Vec<Value> = [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ]
    .iter()
    .map(|code| json!({ "code": code }))
    .collect();
    let resources: Vec<Value> = defs
        .resource_types()
        .into_iter()
        .map(|t| {
            let mut params: Vec<Value> = defs
                .search_params_for(t)
                .into_iter()
                .filter(|sp| sp.expression.is_some() && sp.kind != SearchParamType::Special)
                .map(|sp| {
                    json!({
                        "name": sp.code,
                        "definition": sp.url(),
                        "type": sp.kind.as_str(),
                    })
                })
                .collect();
            params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            let mut operations = vec![json!({
                "name": "validate",
                "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"
            })];
            if t == "Patient" {
                operations.push(json!({
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                }));
            }
            if t == "Patient" || t == "Group" {
                operations.push(json!({
                    "name": "export",
                    "definition": format!("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{}-export", t.to_ascii_lowercase())
                }));
            }
            json!({
                "type": t,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{t}"),
                "interaction": interactions,
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "multiple",
                "referencePolicy": ["literal", "logical"],
                "searchInclude": ["*"],
                "searchRevInclude": ["*"],
                "searchParam": params,
                "operation": operations,
            })
        })
        .collect();
    Value::Array(resources)
});

/// Touches the tables so the first `/metadata` does not pay for them.
pub(super) fn warm() {
    LazyLock::force(&RESOURCES);
}

/// The CapabilityStatement of the service at `url`, whose tokens come from
/// `authorize`/`token`.
pub(super) fn statement(
    url: &str,
    description: &str,
    authorize: &str,
    token: &str,
    date: &str,
) -> Value {
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Hale",
        "kind": "instance",
        "software": { "name": "Hale FHIR service", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": description, "url": url },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/fhir+json", "application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        { "url": "token", "valueUri": token },
                        { "url": "authorize", "valueUri": authorize },
                    ]
                }],
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR"
                    }]
                }]
            },
            "resource": RESOURCES.clone(),
            "interaction": [
                { "code": "transaction" },
                { "code": "batch" },
                { "code": "search-system" },
                { "code": "history-system" }
            ],
            // `[type]/[id]/[type]` searches: every compartment R4 defines.
            "compartment": r4()
                .compartment_types()
                .iter()
                .map(|c| format!("http://hl7.org/fhir/CompartmentDefinition/{}", compartment_id(c)))
                .collect::<Vec<_>>(),
            "searchParam": [
                { "name": "_id", "type": "token" },
                { "name": "_lastUpdated", "type": "date" },
                { "name": "_tag", "type": "token" },
                { "name": "_profile", "type": "uri" },
                { "name": "_security", "type": "token" },
                { "name": "_type", "type": "token" },
                { "name": "_count", "type": "number" },
                { "name": "_sort", "type": "string" },
                { "name": "_total", "type": "token" },
                { "name": "_summary", "type": "token" },
                { "name": "_elements", "type": "string" },
                { "name": "_include", "type": "string" },
                { "name": "_revinclude", "type": "string" },
                { "name": "_has", "type": "string" },
                { "name": "ct", "type": "string" }
            ],
            "operation": [{
                "name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
            }]
        }]
    })
}

/// The id of a compartment's CompartmentDefinition: its code with a lower-case
/// first letter (`RelatedPerson` → `relatedPerson`).
fn compartment_id(code: &str) -> String {
    let mut chars = code.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
