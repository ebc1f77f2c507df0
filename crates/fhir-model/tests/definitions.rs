use hale_fhir_model::definitions::{Max, SearchParamType, TypeKind};
use hale_fhir_model::primitives::check_primitive;
use hale_fhir_model::r4;
use serde_json::{Value, json};

#[test]
fn types_elements_and_lookups() {
    let d = r4();
    assert_eq!(d.fhir_version, "4.0.1");
    assert_eq!(
        d.resource_types().len(),
        147,
        "concrete resource StructureDefinitions in profiles-resources.json"
    );
    assert!(
        d.is_resource_type("Patient")
            && !d.is_resource_type("DomainResource")
            && !d.is_resource_type("HumanName")
    );
    let p = d.type_def("Patient").unwrap();
    assert_eq!(
        (p.kind, p.base.as_deref()),
        (TypeKind::Resource, Some("DomainResource"))
    );
    let dec = p.element("deceased[x]").unwrap();
    assert!(
        dec.is_choice()
            && dec.types == ["boolean", "dateTime"]
            && dec.max == Max::Bounded(1)
            && dec.summary
    );
    let link_other = p.element("link.other").unwrap();
    assert_eq!(
        (link_other.min, link_other.targets.as_slice()),
        (1, &["Patient".to_string(), "RelatedPerson".to_string()][..])
    );
    assert_eq!(p.element("id").unwrap().types, ["id"]);
    let qi = d
        .type_def("Questionnaire")
        .unwrap()
        .element("item.item")
        .unwrap();
    assert_eq!(qi.content_reference.as_deref(), Some("Questionnaire.item"));
    assert!(
        d.is_subtype("Age", "Quantity")
            && d.is_subtype("Patient", "Resource")
            && !d.is_subtype("Quantity", "Age")
    );
    assert_eq!(
        d.primitive("date")
            .unwrap()
            .regex
            .as_deref()
            .map(|r| r.starts_with("([0-9]")),
        Some(true)
    );
    // Search parameters.
    let name = d.search_param("Patient", "name").unwrap();
    assert_eq!(
        (name.id.as_str(), name.kind),
        ("Patient-name", SearchParamType::String)
    );
    assert_eq!(
        name.url(),
        "http://hl7.org/fhir/SearchParameter/Patient-name"
    );
    assert_eq!(d.search_param("Patient", "_id").unwrap().id, "Resource-id");
    assert_eq!(
        d.search_param("Observation", "patient").unwrap().id,
        "clinical-patient"
    );
    assert!(d.search_param("Patient", "nope").is_none());
    let comp = d
        .search_param("Observation", "component-code-value-quantity")
        .unwrap();
    assert_eq!(comp.components.len(), 2);
    assert_eq!(
        d.search_param_by_id(&comp.components[0].definition)
            .unwrap()
            .code,
        "component-code"
    );
    let all = d.search_params_for("Patient");
    assert!(
        all.iter().any(|s| s.code == "_lastUpdated") && all.iter().any(|s| s.code == "birthdate")
    );
    let kinds: std::collections::HashSet<_> = d.search_params().iter().map(|s| s.kind).collect();
    assert_eq!(kinds.len(), 9);
    // Patient compartment.
    let c = d.patient_compartment();
    assert_eq!(
        c.get("Observation").unwrap(),
        &vec!["subject".to_string(), "performer".to_string()]
    );
    assert!(c.len() > 60);
}

/// The hand-written format checks agree with the specification's regexes.
#[test]
fn primitive_checks_agree_with_the_spec_regexes() {
    let samples: &[(&str, &[&str])] = &[
        (
            "date",
            &[
                "2020",
                "2020-02",
                "2020-02-29",
                "0001",
                "2020-1",
                "20-01-01",
                "2020-02-30x",
                "2020-00",
                "0000",
            ],
        ),
        (
            "dateTime",
            &[
                "2020",
                "2020-01-01T10:00:00Z",
                "2020-01-01T10:00:00.123+05:30",
                "2020-01-01T10:00",
                "2020-01-01T10:00:00",
                "2020-01-01T25:00:00Z",
            ],
        ),
        (
            "instant",
            &[
                "2020-01-01T10:00:00Z",
                "2020-01-01T10:00:00.1-01:00",
                "2020-01-01",
                "2020-01-01T10:00:00",
            ],
        ),
        (
            "time",
            &["10:00:00", "23:59:59.999", "24:00:00", "10:00", "1:00:00"],
        ),
        ("id", &["a", "A-1.b", "a_b", "", "has space"]),
        ("code", &["a", "a b", " a", "a  b", "a\tb"]),
        (
            "oid",
            &["urn:oid:1.2.3", "urn:oid:3.1", "urn:oid:1", "1.2.3"],
        ),
        (
            "uuid",
            &[
                "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
                "urn:uuid:c757873d",
                "c757873d-ec9a-4326-a141-556f43239520",
            ],
        ),
        ("base64Binary", &["aGVsbG8=", "aGVs bG8=", "abc"]),
        ("uri", &["http://x", "urn:x", "a b"]),
    ];
    let d = r4();
    for (ty, values) in samples {
        let re = d.primitive(ty).unwrap().regex.clone().unwrap();
        let re = regex_lite::Regex::new(&format!("^(?:{re})$")).unwrap();
        for v in *values {
            let by_regex = re.is_match(v);
            let by_us = check_primitive(ty, &Value::String(v.to_string())).is_ok();
            assert_eq!(
                by_us, by_regex,
                "{ty} {v:?}: ours {by_us}, regex {by_regex}"
            );
        }
    }
    // Semantic rules stricter than the regexes: real calendar dates, base64 padding.
    assert!(check_primitive("base64Binary", &json!("a===")).is_err());
    assert!(check_primitive("date", &json!("2021-02-29")).is_err());
    assert!(
        regex_lite::Regex::new(&format!(
            "^(?:{})$",
            d.primitive("date").unwrap().regex.clone().unwrap()
        ))
        .unwrap()
        .is_match("2021-02-29")
    );
}
