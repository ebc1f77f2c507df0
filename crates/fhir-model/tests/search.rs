use hale_fhir_model::search::*;
use hale_fhir_model::{IssueCode, Severity, parse_search};

fn q(rt: Option<&str>, query: &[(&str, &str)]) -> Result<SearchQuery, Vec<hale_fhir_model::Issue>> {
    let params: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_search(rt, &params, false)
}

fn strict(
    rt: Option<&str>,
    query: &[(&str, &str)],
) -> Result<SearchQuery, Vec<hale_fhir_model::Issue>> {
    let params: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_search(rt, &params, true)
}

fn only(query: &SearchQuery) -> (&ParamRef, Option<&Modifier>, &[SearchValue]) {
    match query.criteria.as_slice() {
        [
            Criterion::Param {
                param,
                modifier,
                values,
            },
        ] => (param, modifier.as_ref(), values),
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults() {
    let s = q(Some("Patient"), &[]).unwrap();
    assert_eq!((s.count, s.total, s.summary), (10, Total::None, None));
    assert!(s.criteria.is_empty() && s.issues.is_empty());
}

#[test]
fn string_or_list_with_escaped_comma_and_and_of_repeats() {
    let s = q(
        Some("Patient"),
        &[("name", "Müller,van\\,Dijk"), ("name:exact", "Peter")],
    )
    .unwrap();
    assert_eq!(s.criteria.len(), 2, "repeated parameters are ANDed");
    let Criterion::Param {
        param,
        values,
        modifier,
    } = &s.criteria[0]
    else {
        panic!()
    };
    assert_eq!(
        (param.code.as_str(), param.definition.as_str(), modifier),
        ("name", "Patient-name", &None)
    );
    assert_eq!(
        values,
        &vec![
            SearchValue::String {
                exact: "Müller".into(),
                normalized: "muller".into()
            },
            SearchValue::String {
                exact: "van,Dijk".into(),
                normalized: "van,dijk".into()
            },
        ]
    );
    let Criterion::Param { modifier, .. } = &s.criteria[1] else {
        panic!()
    };
    assert_eq!(modifier, &Some(Modifier::Exact));
    let s = q(Some("Patient"), &[("family:contains", "ll")]).unwrap();
    assert_eq!(only(&s).1, Some(&Modifier::Contains));
}

#[test]
fn tokens() {
    let s = q(
        Some("Observation"),
        &[("code", "http://loinc.org|8480-6,|x,http://s|,plain")],
    )
    .unwrap();
    assert_eq!(
        only(&s).2,
        &[
            SearchValue::Token {
                system: TokenSystem::Is("http://loinc.org".into()),
                code: Some("8480-6".into())
            },
            SearchValue::Token {
                system: TokenSystem::None,
                code: Some("x".into())
            },
            SearchValue::Token {
                system: TokenSystem::Is("http://s".into()),
                code: None
            },
            SearchValue::Token {
                system: TokenSystem::Any,
                code: Some("plain".into())
            },
        ]
    );
    let s = q(Some("Observation"), &[("code:text", "Blood Préssure")]).unwrap();
    assert_eq!(only(&s).2, &[SearchValue::Text("blood pressure".into())]);
    let s = q(Some("Patient"), &[("gender:not", "male")]).unwrap();
    assert_eq!(only(&s).1, Some(&Modifier::Not));
    let s = q(Some("Patient"), &[("_id", "a,b")]).unwrap();
    assert_eq!(only(&s).0.definition, "Resource-id");
    assert!(q(Some("Observation"), &[("code", "a|b|c")]).is_err());
}

#[test]
fn dates_numbers_quantities_with_prefixes() {
    let s = q(Some("Patient"), &[("birthdate", "ge2020-01,lt2021")]).unwrap();
    let vals = only(&s).2;
    assert!(matches!(
        vals[0],
        SearchValue::Date {
            prefix: Prefix::Ge,
            precision: hale_fhir_model::primitives::DatePrecision::Month,
            ..
        }
    ));
    assert!(matches!(
        vals[1],
        SearchValue::Date {
            prefix: Prefix::Lt,
            ..
        }
    ));
    for p in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"] {
        assert!(
            q(
                Some("Observation"),
                &[("date", &format!("{p}2024-05-02T10:00:00Z"))]
            )
            .is_ok(),
            "{p}"
        );
    }
    let s = q(Some("RiskAssessment"), &[("probability", "gt0.5")]).unwrap();
    assert!(
        matches!(only(&s).2[0], SearchValue::Number { prefix: Prefix::Gt, value } if value.value == 0.5 && value.low == 0.45)
    );
    let s = q(
        Some("Observation"),
        &[("value-quantity", "le5.4|http://unitsofmeasure.org|mg")],
    )
    .unwrap();
    assert!(
        matches!(&only(&s).2[0], SearchValue::Quantity { prefix: Prefix::Le, value, system: Some(sys), code: Some(c) }
        if value.value == 5.4 && sys == "http://unitsofmeasure.org" && c == "mg")
    );
    let s = q(Some("Observation"), &[("value-quantity", "5.4||mg")]).unwrap();
    assert!(matches!(
        &only(&s).2[0],
        SearchValue::Quantity {
            system: None,
            code: Some(_),
            ..
        }
    ));
}

#[test]
fn bad_values_are_errors_even_when_lenient() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "Patient",
            "birthdate",
            "2020-13-01",
            "The date time string '2020-13-01' is not in a correct format.",
        ),
        (
            "Patient",
            "birthdate",
            "gtyesterday",
            "The date time string 'yesterday' is not in a correct format.",
        ),
        (
            "RiskAssessment",
            "probability",
            "abc",
            "Malformed search value 'abc'.",
        ),
        (
            "Observation",
            "value-quantity",
            "x|y|z",
            "Malformed search value 'x|y|z'.",
        ),
        (
            "Patient",
            "name:missing",
            "maybe",
            "Invalid value for :missing modifier. Valid values are: true, false.",
        ),
        (
            "Observation",
            "subject",
            "Nope/1",
            "Resource type 'Nope' in the reference 'Nope/1' is not supported.",
        ),
        (
            "Observation",
            "patient",
            "Group/1",
            "Resource type 'Group' in the reference 'Group/1' is not supported.",
        ),
        (
            "Observation",
            "code-value-quantity",
            "a",
            "The composite separator cannot be found.",
        ),
    ];
    for (rt, k, v, msg) in cases {
        let issues = q(Some(rt), &[(k, v)]).unwrap_err();
        assert_eq!(issues.len(), 1, "{k}={v}");
        assert_eq!(
            (
                issues[0].severity,
                issues[0].code,
                issues[0].diagnostics.as_str()
            ),
            (Severity::Error, IssueCode::Invalid, *msg),
            "{k}={v}"
        );
    }
    let issues = q(Some("Patient"), &[("name:above", "x")]).unwrap_err();
    assert_eq!(
        issues[0].diagnostics,
        "Modifier 'above' is not supported for search parameter 'name'."
    );
    assert_eq!(issues[0].code, IssueCode::NotSupported);
}

#[test]
fn unknown_parameters_warn_when_lenient_and_fail_when_strict() {
    let s = q(
        Some("Patient"),
        &[("foo", "bar"), ("name", "x"), ("_text", "y")],
    )
    .unwrap();
    assert_eq!(s.criteria.len(), 1);
    assert_eq!(s.issues.len(), 2);
    assert_eq!(s.issues[0].severity, Severity::Warning);
    assert_eq!(s.issues[0].code, IssueCode::NotSupported);
    assert_eq!(
        s.issues[0].diagnostics,
        "The search parameter 'foo' is not supported for resource type 'Patient'."
    );
    let err = strict(Some("Patient"), &[("foo", "bar")]).unwrap_err();
    assert_eq!(
        (err[0].severity, err[0].code),
        (Severity::Error, IssueCode::NotSupported)
    );
    let s = q(Some("Patient"), &[("name", "")]).unwrap();
    assert_eq!(
        s.issues.len(),
        1,
        "an empty value is ignored with a warning"
    );
    assert!(q(Some("NotAType"), &[]).is_err());
}

#[test]
fn references_and_modifiers() {
    let s = q(
        Some("Observation"),
        &[("subject", "Patient/123,456,http://x/fhir/Patient/9")],
    )
    .unwrap();
    assert_eq!(
        only(&s).2,
        &[
            SearchValue::Reference {
                resource_type: Some("Patient".into()),
                id: Some("123".into()),
                url: None,
                version: None
            },
            SearchValue::Reference {
                resource_type: None,
                id: Some("456".into()),
                url: None,
                version: None
            },
            SearchValue::Reference {
                resource_type: Some("Patient".into()),
                id: Some("9".into()),
                url: Some("http://x/fhir/Patient/9".into()),
                version: None
            },
        ]
    );
    let s = q(Some("Observation"), &[("subject:Patient", "123")]).unwrap();
    assert_eq!(only(&s).1, Some(&Modifier::Type("Patient".into())));
    assert_eq!(
        only(&s).2[0],
        SearchValue::Reference {
            resource_type: Some("Patient".into()),
            id: Some("123".into()),
            url: None,
            version: None
        }
    );
    let s = q(
        Some("Observation"),
        &[("subject:identifier", "http://ids|42")],
    )
    .unwrap();
    assert_eq!(
        only(&s).2[0],
        SearchValue::Identifier {
            system: TokenSystem::Is("http://ids".into()),
            value: Some("42".into())
        }
    );
    let s = q(Some("ValueSet"), &[("url:below", "http://hl7.org/fhir/")]).unwrap();
    assert_eq!(only(&s).1, Some(&Modifier::Below));
    let s = q(Some("Patient"), &[("birthdate:missing", "true")]).unwrap();
    assert_eq!(only(&s).2, &[SearchValue::Missing(true)]);
    let s = q(
        Some("Observation"),
        &[("code-value-quantity", "http://loinc.org|8480-6$gt100")],
    )
    .unwrap();
    assert!(
        matches!(&only(&s).2[0], SearchValue::Composite(parts) if parts.len() == 2
        && matches!(parts[1], SearchValue::Quantity { prefix: Prefix::Gt, .. }))
    );
    assert!(
        q(Some("Observation"), &[("subject:Medication", "1")]).is_err(),
        "not a target type"
    );
}

#[test]
fn chains_and_reverse_chains() {
    let s = q(Some("Observation"), &[("subject:Patient.name", "peter")]).unwrap();
    let Criterion::Chain {
        param,
        target_types,
        next,
    } = &s.criteria[0]
    else {
        panic!()
    };
    assert_eq!(
        (param.code.as_str(), target_types.as_slice()),
        ("subject", &["Patient".to_string()][..])
    );
    assert!(
        matches!(&**next, Criterion::Param { param, .. } if param.definition == "Patient-name")
    );
    // Untyped chain: every target that has the parameter.
    let s = q(Some("Observation"), &[("subject.name", "peter")]).unwrap();
    let Criterion::Chain { target_types, .. } = &s.criteria[0] else {
        panic!()
    };
    // Observation.subject targets Group, Device, Patient, Location; only
    // Patient and Location define `name` in R4.
    assert_eq!(
        target_types,
        &vec!["Patient".to_string(), "Location".to_string()]
    );
    // Multi-level.
    let s = q(
        Some("Observation"),
        &[("subject:Patient.organization.name", "acme")],
    )
    .unwrap();
    let Criterion::Chain { next, .. } = &s.criteria[0] else {
        panic!()
    };
    let Criterion::Chain {
        param,
        target_types,
        next,
    } = &**next
    else {
        panic!()
    };
    assert_eq!(
        (param.code.as_str(), target_types.as_slice()),
        ("organization", &["Organization".to_string()][..])
    );
    assert!(
        matches!(&**next, Criterion::Param { param, .. } if param.definition == "Organization-name")
    );
    // _has, nested.
    let s = q(
        Some("Patient"),
        &[("_has:Observation:patient:code", "1234-5")],
    )
    .unwrap();
    let Criterion::Has {
        source_type,
        reference,
        next,
    } = &s.criteria[0]
    else {
        panic!()
    };
    assert_eq!(
        (source_type.as_str(), reference.code.as_str()),
        ("Observation", "patient")
    );
    assert!(matches!(&**next, Criterion::Param { param, .. } if param.code == "code"));
    let s = q(
        Some("Patient"),
        &[(
            "_has:Observation:patient:_has:AuditEvent:entity:agent",
            "MyUserId",
        )],
    )
    .unwrap();
    let Criterion::Has { next, .. } = &s.criteria[0] else {
        panic!()
    };
    assert!(matches!(&**next, Criterion::Has { source_type, .. } if source_type == "AuditEvent"));
    // Errors.
    let e = q(Some("Observation"), &[("code.name", "x")]).unwrap_err();
    assert_eq!(
        e[0].diagnostics,
        "The chained parameter must be a reference search parameter type."
    );
    assert!(q(Some("Patient"), &[("_has:Observation", "x")]).is_err());
    assert!(
        q(Some("Patient"), &[("_has:Observation:code:status", "x")]).is_err(),
        "code is not a reference"
    );
    let s = q(Some("Observation"), &[("subject:Patient.nope", "x")]).unwrap();
    assert!(s.criteria.is_empty() && s.issues.len() == 1);
}

#[test]
fn includes_sort_count_total_summary_elements() {
    let s = q(
        Some("Observation"),
        &[
            (
                "_include",
                "Observation:subject:Patient,Observation:performer",
            ),
            ("_include:iterate", "Patient:general-practitioner"),
            ("_revinclude", "Provenance:target"),
            ("_sort", "-date,code,_lastUpdated"),
            ("_count", "50"),
            ("_total", "accurate"),
            ("_elements", "status,Observation.code"),
            ("ct", "opaque=="),
        ],
    )
    .unwrap();
    assert_eq!(s.includes.len(), 3);
    assert_eq!(s.includes[0].target_type.as_deref(), Some("Patient"));
    assert!(s.includes[2].iterate && !s.includes[0].iterate);
    assert_eq!(
        s.revincludes[0].param.as_ref().unwrap().definition,
        "Provenance-target"
    );
    let sort: Vec<(&str, bool)> = s
        .sort
        .iter()
        .map(|k| (k.param.code.as_str(), k.descending))
        .collect();
    assert_eq!(
        sort,
        vec![("date", true), ("code", false), ("_lastUpdated", false)]
    );
    assert_eq!((s.count, s.total), (50, Total::Accurate));
    assert_eq!(s.elements, vec!["status", "code"]);
    assert_eq!(s.continuation_token.as_deref(), Some("opaque=="));
    let s = q(Some("Patient"), &[("_include", "*")]).unwrap();
    assert!(s.includes[0].param.is_none());

    // _count clamp, _count=0, bad _count, _total, _summary.
    let s = q(Some("Patient"), &[("_count", "5000")]).unwrap();
    assert_eq!(s.count, 1000);
    assert_eq!(
        (s.issues[0].severity, s.issues[0].code),
        (Severity::Information, IssueCode::Informational)
    );
    assert_eq!(
        s.issues[0].diagnostics,
        "The '_count' parameter exceeds limit configured for server. Current limit is 1000 while `_count` parameter set to 5000."
    );
    assert_eq!(
        q(Some("Patient"), &[("_count", "0")]).unwrap().summary,
        Some(Summary::Count)
    );
    assert!(q(Some("Patient"), &[("_count", "ten")]).is_err());
    assert!(q(Some("Patient"), &[("_count", "-1")]).is_err());
    let e = q(Some("Patient"), &[("_total", "estimate")]).unwrap_err();
    assert_eq!(
        e[0].diagnostics,
        "The '_total' parameter value 'estimate' is not supported. The supported values are: none, accurate."
    );
    assert!(q(Some("Patient"), &[("_total", "lots")]).is_err());
    assert_eq!(
        q(Some("Patient"), &[("_summary", "text")]).unwrap().summary,
        Some(Summary::Text)
    );
    assert!(q(Some("Patient"), &[("_summary", "maybe")]).is_err());
    assert!(
        q(
            Some("Patient"),
            &[("_summary", "true"), ("_elements", "name")]
        )
        .is_err()
    );
    // Bad includes / sort.
    assert!(q(Some("Observation"), &[("_include", "Observation")]).is_err());
    assert!(q(Some("Observation"), &[("_include", "Observation:code")]).is_err());
    assert!(
        q(
            Some("Observation"),
            &[("_include", "Observation:subject:Medication")]
        )
        .is_err()
    );
    assert!(
        q(
            Some("Patient"),
            &[("_revinclude:iterate", "Observation:subject")]
        )
        .is_err(),
        "needs a target type"
    );
    let s = q(Some("Patient"), &[("_sort", "nope")]).unwrap();
    assert_eq!(
        s.issues[0].diagnostics,
        "Sorting by the 'nope' parameter is not supported."
    );
    assert!(strict(Some("Patient"), &[("_sort", "nope")]).is_err());
}

#[test]
fn system_search_uses_common_parameters_and_type() {
    let s = q(
        None,
        &[
            ("_lastUpdated", "gt2024"),
            ("_type", "Patient,Observation,Bogus"),
        ],
    )
    .unwrap();
    assert_eq!(s.types, vec!["Patient", "Observation"]);
    assert_eq!(s.criteria.len(), 1);
    assert_eq!(
        s.issues[0].diagnostics,
        "The '_type' parameter contains unknown resource(s): 'Bogus'"
    );
    let s = q(
        None,
        &[
            ("_tag", "http://x|y"),
            ("_profile", "http://p"),
            ("_security", "N"),
        ],
    )
    .unwrap();
    assert_eq!(s.criteria.len(), 3);
    let s = q(None, &[("name", "x")]).unwrap();
    assert!(s.criteria.is_empty() && s.issues[0].diagnostics.contains("'name'"));
    let s = q(None, &[("name", "x"), ("_type", "Patient,Practitioner")]).unwrap();
    assert_eq!(s.criteria.len(), 1, "name exists on both types");
}
