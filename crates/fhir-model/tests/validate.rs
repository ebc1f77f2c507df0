mod common;

use common::{fixture, fixtures};
use hale_fhir_model::{IssueCode, validate};
use serde_json::{Value, json};

#[test]
fn fixtures_are_valid() {
    for f in fixtures() {
        let issues = validate(&f);
        assert!(issues.is_empty(), "{}: {issues:#?}", f["resourceType"]);
    }
    let minimal = json!({"resourceType": "Basic", "code": {"text": "x"}});
    assert_eq!(validate(&minimal), vec![]);
    let bundle = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "resource": fixture("patient")}]});
    assert_eq!(validate(&bundle), vec![]);
}

/// Applies `edit` to a fixture and expects exactly one issue with `code` at `expression`.
fn one_issue(name: &str, edit: impl FnOnce(&mut Value), code: IssueCode, expression: &str) {
    let mut r = fixture(name);
    edit(&mut r);
    let issues = validate(&r);
    assert_eq!(
        issues.len(),
        1,
        "expected one issue at {expression}: {issues:#?}"
    );
    assert_eq!(
        (issues[0].code, issues[0].expression[0].as_str()),
        (code, expression),
        "{issues:#?}"
    );
    assert!(issues[0].is_error());
}

#[test]
fn one_invalid_case_per_rule() {
    // Unknown elements, at the root, in a datatype and in a backbone element.
    one_issue(
        "patient",
        |r| r["foo"] = json!(1),
        IssueCode::Structure,
        "Patient.foo",
    );
    one_issue(
        "patient",
        |r| r["name"][0]["nickname"] = json!("P"),
        IssueCode::Structure,
        "Patient.name[0].nickname",
    );
    one_issue(
        "patient",
        |r| r["contact"][0]["age"] = json!(3),
        IssueCode::Structure,
        "Patient.contact[0].age",
    );
    // Wrong JSON types.
    one_issue(
        "patient",
        |r| r["active"] = json!("true"),
        IssueCode::Structure,
        "Patient.active",
    );
    one_issue(
        "patient",
        |r| r["gender"] = json!(1),
        IssueCode::Structure,
        "Patient.gender",
    );
    one_issue(
        "patient",
        |r| r["managingOrganization"] = json!("Organization/1"),
        IssueCode::Structure,
        "Patient.managingOrganization",
    );
    // Primitive formats.
    one_issue(
        "patient",
        |r| r["birthDate"] = json!("1974-13-25"),
        IssueCode::Value,
        "Patient.birthDate",
    );
    one_issue(
        "observation",
        |r| r["issued"] = json!("2024-05-02"),
        IssueCode::Value,
        "Observation.issued",
    );
    one_issue(
        "observation",
        |r| r["effectiveDateTime"] = json!("2024-05-02T10:00:00"),
        IssueCode::Value,
        "Observation.effectiveDateTime",
    );
    one_issue(
        "patient",
        |r| r["gender"] = json!(" male"),
        IssueCode::Value,
        "Patient.gender",
    );
    one_issue(
        "patient",
        |r| r["telecom"][0]["rank"] = json!(0),
        IssueCode::Value,
        "Patient.telecom[0].rank",
    );
    one_issue(
        "patient",
        |r| r["multipleBirthInteger"] = json!(1.5),
        IssueCode::Structure,
        "Patient.multipleBirthInteger",
    );
    one_issue(
        "patient",
        |r| r["identifier"][0]["system"] = json!("not a uri"),
        IssueCode::Value,
        "Patient.identifier[0].system",
    );
    one_issue(
        "patient",
        |r| r["photo"] = json!([{"data": "abc"}]),
        IssueCode::Value,
        "Patient.photo[0].data",
    );
    one_issue(
        "patient",
        |r| r["name"][0]["family"] = json!(""),
        IssueCode::Value,
        "Patient.name[0].family",
    );
    one_issue(
        "observation",
        |r| r["valueQuantity"]["value"] = json!("185"),
        IssueCode::Structure,
        "Observation.valueQuantity.value",
    );
    one_issue(
        "patient",
        |r| r["text"]["div"] = json!("plain text"),
        IssueCode::Value,
        "Patient.text.div",
    );
    // Cardinality: array vs single, max, empty arrays and objects.
    one_issue(
        "patient",
        |r| r["name"] = json!({"family": "x"}),
        IssueCode::Structure,
        "Patient.name",
    );
    one_issue(
        "patient",
        |r| r["gender"] = json!(["male"]),
        IssueCode::Structure,
        "Patient.gender",
    );
    one_issue(
        "patient",
        |r| r["address"] = json!([]),
        IssueCode::Structure,
        "Patient.address",
    );
    one_issue(
        "patient",
        |r| r["maritalStatus"] = json!({}),
        IssueCode::Structure,
        "Patient.maritalStatus",
    );
    // Required elements, at the root and in a backbone element.
    one_issue(
        "observation",
        |r| {
            r.as_object_mut().unwrap().remove("status");
        },
        IssueCode::Required,
        "Observation.status",
    );
    one_issue(
        "patient",
        |r| {
            r["link"][0].as_object_mut().unwrap().remove("type");
        },
        IssueCode::Required,
        "Patient.link[0].type",
    );
    one_issue(
        "patient",
        |r| r["extension"][0] = json!({"valueCode": "M"}),
        IssueCode::Required,
        "Patient.extension[0].url",
    );
    // Choice types: exactly one value[x].
    one_issue(
        "patient",
        |r| r["deceasedDateTime"] = json!("2020-01-01"),
        IssueCode::Structure,
        "Patient.deceased[x]",
    );
    one_issue(
        "observation",
        |r| r["valueFoo"] = json!(1),
        IssueCode::Structure,
        "Observation.valueFoo",
    );
    // Primitive extensions.
    one_issue(
        "patient",
        |r| r["_birthDate"] = json!("x"),
        IssueCode::Structure,
        "Patient._birthDate",
    );
    one_issue(
        "patient",
        |r| r["_birthDate"]["extension"][0]["bogus"] = json!(1),
        IssueCode::Structure,
        "Patient._birthDate.extension[0].bogus",
    );
    one_issue(
        "patient",
        |r| r["name"][1]["_given"] = json!([null, null]),
        IssueCode::Structure,
        "Patient.name[1]._given",
    );
    one_issue(
        "patient",
        |r| r["_name"] = json!({}),
        IssueCode::Structure,
        "Patient._name",
    );
    one_issue(
        "patient",
        |r| r["name"][0]["given"] = json!(["A", null]),
        IssueCode::Structure,
        "Patient.name[0].given[1]",
    );
    // Extensions: value and nested extensions not both.
    one_issue(
        "patient",
        |r| r["extension"][0]["extension"] = json!([{"url": "a", "valueString": "b"}]),
        IssueCode::Structure,
        "Patient.extension[0]",
    );
    one_issue(
        "patient",
        |r| r["modifierExtension"] = json!([{"url": "http://x"}]),
        IssueCode::Structure,
        "Patient.modifierExtension[0]",
    );
    // Contained resources.
    one_issue(
        "observation",
        |r| {
            r["contained"][0].as_object_mut().unwrap().remove("id");
            r["performer"].as_array_mut().unwrap().remove(0); // would point at nothing
        },
        IssueCode::Required,
        "Observation.contained[0].id",
    );
    one_issue(
        "observation",
        |r| r["contained"][0]["gender"] = json!("x  y"),
        IssueCode::Value,
        "Observation.contained[0].gender",
    );
    one_issue(
        "observation",
        |r| r["contained"][0]["resourceType"] = json!("Nope"),
        IssueCode::NotSupported,
        "Observation.contained[0].resourceType",
    );
    // Reference formats and targets.
    one_issue(
        "patient",
        |r| r["managingOrganization"]["reference"] = json!("Organization"),
        IssueCode::Value,
        "Patient.managingOrganization.reference",
    );
    one_issue(
        "patient",
        |r| r["managingOrganization"]["reference"] = json!("Foo/1"),
        IssueCode::Value,
        "Patient.managingOrganization.reference",
    );
    one_issue(
        "patient",
        |r| r["managingOrganization"]["reference"] = json!("Organization/a_b"),
        IssueCode::Value,
        "Patient.managingOrganization.reference",
    );
    one_issue(
        "patient",
        |r| r["managingOrganization"]["reference"] = json!("Patient/1"),
        IssueCode::Value,
        "Patient.managingOrganization.reference",
    );
    one_issue(
        "patient",
        |r| r["managingOrganization"]["reference"] = json!("urn:uuid:xyz"),
        IssueCode::Value,
        "Patient.managingOrganization.reference",
    );
    one_issue(
        "observation",
        |r| r["performer"][0]["reference"] = json!("#missing"),
        IssueCode::Invalid,
        "Observation.performer[0].reference",
    );
    // resourceType and id.
    one_issue(
        "patient",
        |r| r["resourceType"] = json!("Patients"),
        IssueCode::NotSupported,
        "resourceType",
    );
    one_issue(
        "patient",
        |r| {
            r.as_object_mut().unwrap().remove("resourceType");
        },
        IssueCode::Required,
        "Resource",
    );
    one_issue(
        "patient",
        |r| r["id"] = json!("has space"),
        IssueCode::Value,
        "Patient.id",
    );
}

#[test]
fn valid_reference_forms_and_nested_structures() {
    let mut p = fixture("patient");
    for r in [
        "Organization/1/_history/2",
        "https://x.example/fhir/Organization/1",
        "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
        "urn:oid:1.2.3",
    ] {
        p["managingOrganization"]["reference"] = json!(r);
        assert_eq!(validate(&p), vec![], "{r}");
    }
    // Reference(Any) accepts every type; identifier-only references are fine.
    let prov = json!({"resourceType": "Provenance", "recorded": "2024-01-01T00:00:00Z",
        "target": [{"reference": "Patient/1"}, {"identifier": {"value": "x"}}],
        "agent": [{"who": {"reference": "Practitioner/1"}}]});
    assert_eq!(validate(&prov), vec![]);
    // contentReference (Questionnaire.item.item) validates nested items.
    let mut q = fixture("questionnaire");
    q["item"][0]["item"][0]["bogus"] = json!(true);
    let issues = validate(&q);
    assert_eq!(
        issues[0].expression,
        vec!["Questionnaire.item[0].item[0].bogus"]
    );
    q["item"][0]["item"][0]
        .as_object_mut()
        .unwrap()
        .remove("bogus");
    q["item"][0]["item"][0]
        .as_object_mut()
        .unwrap()
        .remove("linkId");
    assert_eq!(
        validate(&q)[0].expression,
        vec!["Questionnaire.item[0].item[0].linkId"]
    );
    // Not an object at all.
    assert_eq!(validate(&json!([1]))[0].code, IssueCode::Structure);
    // Several problems are all reported.
    let bad = json!({"resourceType": "Observation", "foo": 1, "code": {"text": 5}});
    assert_eq!(validate(&bad).len(), 3, "{:#?}", validate(&bad));
}
