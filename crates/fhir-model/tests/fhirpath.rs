mod common;

use common::{fixture, fixtures};
use hale_fhir_model::fhirpath::{Item, evaluate, parse};
use hale_fhir_model::r4;
use serde_json::{Value, json};

/// Evaluates and renders results as JSON (computed items as JSON scalars,
/// resolve() results as {"resolved": type}).
fn eval(expr: &str, resource: &Value) -> Vec<Value> {
    let e = parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    evaluate(&e, resource)
        .unwrap_or_else(|err| panic!("{expr}: {err}"))
        .into_iter()
        .map(|i| match i {
            Item::Node { value, .. } => value.clone(),
            Item::Bool(b) => json!(b),
            Item::Str(s) | Item::Temporal(s) => json!(s),
            Item::Int(n) => json!(n),
            Item::Dec(d) => json!(d),
            Item::Resolved(t) => json!({ "resolved": t }),
        })
        .collect()
}

#[test]
fn every_r4_search_parameter_expression_parses() {
    let defs = r4();
    let sps = defs.search_params();
    assert_eq!(sps.len(), 1378);
    let with_expr = sps.iter().filter(|s| s.expr.is_some()).count();
    assert_eq!(with_expr, 1375, "all but _text, _content, _query");
    let components: usize = sps.iter().map(|s| s.components.len()).sum();
    assert_eq!(components, 96);
}

#[test]
fn every_expression_evaluates_on_every_fixture_without_error() {
    let defs = r4();
    let mut evaluated = 0;
    for resource in fixtures() {
        for sp in defs.search_params() {
            let Some(e) = &sp.expr else { continue };
            if let Err(err) = evaluate(e, &resource) {
                panic!("{} on {}: {err}", sp.id, resource["resourceType"]);
            }
            evaluated += 1;
        }
    }
    assert_eq!(evaluated, 1375 * 6);
}

#[test]
fn official_r4_forms_of_expressions_parse_and_evaluate() {
    // The official 4.0.1 bundle writes `(X as T)` where Medplum rewrote to ofType.
    let obs = fixture("observation");
    let cases: &[(&str, Value)] = &[
        (
            "(Observation.value as Quantity)",
            json!([{"value": 185.5, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}]),
        ),
        ("Observation.value.as(Quantity).value", json!([185.5])),
        ("Observation.value.ofType(Quantity).code", json!(["cm"])),
        ("Observation.value as CodeableConcept", json!([])),
        ("(Observation.effective as dateTime)", json!(["2024-05-02"])),
        ("Observation.effective.ofType(Period)", json!([])),
        ("Observation.value is Quantity", json!([true])),
        ("Observation.value is FHIR.Quantity", json!([true])),
        (
            "Observation.component.value.ofType(CodeableConcept).coding.code",
            json!(["12345"]),
        ),
        (
            "Observation.component.where(code.coding.code = '8480-6').value.ofType(Quantity).value",
            json!([107]),
        ),
        (
            "Observation.subject.where(resolve() is Patient).reference",
            json!(["Patient/example"]),
        ),
        ("Observation.subject.where(resolve() is Group)", json!([])),
        (
            "Observation.performer.resolve()",
            json!([{"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Contained"}]}, {"resolved": "Practitioner"}]),
        ),
        (
            "Observation.derivedFrom.resolve()",
            json!([{"resolved": "Observation"}]),
        ),
        (
            "Observation.code.coding.code | Observation.component.code.coding.code",
            json!(["85354-9", "8480-6", "8462-4", "9999-9"]),
        ),
        ("Observation.status = 'final'", json!([true])),
        ("Observation.status != 'final'", json!([false])),
        (
            "Observation.status = 'final' and Observation.value.exists()",
            json!([true]),
        ),
        (
            "Observation.bodySite.exists() or Observation.method.empty()",
            json!([true]),
        ),
        (
            "Observation.category.first().coding.display",
            json!(["Vital Signs"]),
        ),
        ("Observation.component.count()", json!([3])),
        (
            "Observation.component[1].code.coding.code",
            json!(["8462-4"]),
        ),
        ("Observation.nothing.empty()", json!([true])),
        ("Resource.id", json!(["bp"])),
        (
            "DomainResource.meta.lastUpdated",
            json!(["2024-05-02T08:30:00.123+02:00"]),
        ),
        ("Patient.id", json!([])),
        ("Observation.code.text.startsWith('Blood')", json!([true])),
        (
            "Observation.code.coding.exists(system = 'http://loinc.org')",
            json!([true]),
        ),
        (
            "Observation.code.coding.where(system = %loinc).code",
            json!(["85354-9"]),
        ),
        ("{}", json!([])),
        ("1 + 2 * 3", json!([7.0])),
        ("'a' & 'b'", json!(["ab"])),
        (
            "iif(Observation.status = 'final', 'done', 'open')",
            json!(["done"]),
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(Value::Array(eval(expr, &obs)), *want, "{expr}");
    }
}

#[test]
fn patient_paths_extensions_and_primitive_extensions() {
    let p = fixture("patient");
    let cases: &[(&str, Value)] = &[
        ("Patient.name.given", json!(["Peter", "James", "Peter"])),
        (
            "Patient.name.where(use = 'official').family",
            json!(["Chalmers"]),
        ),
        (
            "Patient.deceased.exists() and Patient.deceased != false",
            json!([false]),
        ),
        ("Patient.deceased", json!([false])),
        (
            "Patient.telecom.where(system='email').value",
            json!(["peter@example.org"]),
        ),
        (
            "Patient.extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex').value",
            json!(["M"]),
        ),
        (
            "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value",
            json!(["1974-12-25T14:35:45-05:00"]),
        ),
        (
            "Patient.birthDate.extension.url",
            json!(["http://hl7.org/fhir/StructureDefinition/patient-birthTime"]),
        ),
        ("Patient.name[1].given.extension.value", json!(["x"])),
        (
            "Patient.link.other.where(resolve() is Patient).reference",
            json!(["Patient/pat2"]),
        ),
        ("Patient.contact.name.family", json!(["du Marché"])),
        ("Patient.multipleBirth", json!([])),
        ("Patient.name.family.first()", json!(["Chalmers"])),
        ("Patient.name.family.last()", json!(["Müller-Ñúñez"])),
        ("Patient.address.period.start", json!(["1974-12-25"])),
        ("Patient.active and Patient.gender = 'male'", json!([true])),
        ("Patient.name.given.distinct().count()", json!([2])),
    ];
    for (expr, want) in cases {
        assert_eq!(Value::Array(eval(expr, &p)), *want, "{expr}");
    }
    // A deceased patient.
    let mut dead = p.clone();
    dead.as_object_mut().unwrap().remove("deceasedBoolean");
    dead["deceasedDateTime"] = json!("2020-01-01");
    assert_eq!(
        eval(
            "Patient.deceased.exists() and Patient.deceased != false",
            &dead
        ),
        vec![json!(true)]
    );
}

#[test]
fn content_references_and_ranges_are_typed() {
    let q = fixture("questionnaire");
    assert_eq!(
        eval("Questionnaire.item.item.code.code", &q),
        vec![json!("2222-2")]
    );
    assert_eq!(
        eval("Questionnaire.item.item.linkId", &q),
        vec![json!("1.1")]
    );
    assert_eq!(
        eval("Questionnaire.useContext.value.ofType(Range).low.value", &q),
        vec![json!(18)]
    );
    assert_eq!(
        eval("Questionnaire.useContext.value.ofType(Quantity)", &q),
        Vec::<Value>::new()
    );
    // Age is a Quantity specialisation.
    let mut rr = fixture("riskassessment");
    assert_eq!(
        eval("RiskAssessment.prediction.probability.ofType(decimal)", &rr),
        vec![json!(0.25)]
    );
    rr["prediction"][0]["whenRange"] = json!({"low": {"value": 1}});
    assert_eq!(
        eval(
            "RiskAssessment.prediction.when.ofType(Range).low.value",
            &rr
        ),
        vec![json!(1)]
    );
}

#[test]
fn syntax_errors_are_reported_not_panicked() {
    for bad in [
        "Patient.",
        "Patient.name.where(",
        "(",
        "'abc",
        "Patient.name[",
        "a ! b",
        "Patient.name.)",
    ] {
        assert!(parse(bad).is_err(), "{bad} parsed");
    }
    let p = fixture("patient");
    let e = parse("Patient.name.memberOf('x')").unwrap();
    assert!(evaluate(&e, &p).is_err());
    let e = parse("Patient.name.where(1, 2)").unwrap();
    assert!(evaluate(&e, &p).is_err());
}
