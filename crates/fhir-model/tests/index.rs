mod common;

use common::{fixture, fixtures};
use hale_fhir_model::index::{
    IndexValue, QuantityValue, ReferenceValue, StringValue, TokenValue, normalize_string,
    parse_reference,
};
use hale_fhir_model::primitives::{DateRange, days_from_civil};
use hale_fhir_model::{IndexEntry, index};

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;

fn values<'a>(entries: &'a [IndexEntry], code: &str) -> Vec<&'a IndexValue> {
    entries
        .iter()
        .filter(|e| e.code == code)
        .map(|e| &e.value)
        .collect()
}

fn tok(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token(TokenValue {
        system: system.map(Into::into),
        code: code.map(Into::into),
        text: text.map(Into::into),
    })
}

fn string(exact: &str, normalized: &str) -> IndexValue {
    IndexValue::String(StringValue {
        exact: exact.into(),
        normalized: normalized.into(),
    })
}

#[test]
fn patient_strings_tokens_dates_references() {
    let e = index(&fixture("patient"));
    assert_eq!(
        values(&e, "family"),
        vec![
            &string("Chalmers", "chalmers"),
            &string("Windsor", "windsor"),
            &string("Müller-Ñúñez", "muller-nunez")
        ]
    );
    let name = values(&e, "name");
    assert!(name.contains(&&string("James", "james")));
    assert!(name.contains(&&string("Zoë  Müller", "zoe muller")));
    assert_eq!(
        name.len(),
        6,
        "duplicates (Peter) are indexed once: {name:?}"
    );
    assert_eq!(values(&e, "gender"), vec![&tok(None, Some("male"), None)]);
    assert_eq!(values(&e, "active"), vec![&tok(None, Some("true"), None)]);
    assert_eq!(
        values(&e, "deceased"),
        vec![&tok(None, Some("false"), None)]
    );
    assert_eq!(
        values(&e, "identifier"),
        vec![&tok(
            Some("urn:oid:1.2.36.146.595.217.0.1"),
            Some("12345"),
            Some("medical record number")
        )]
    );
    assert_eq!(
        values(&e, "email"),
        vec![&tok(None, Some("peter@example.org"), None)]
    );
    assert_eq!(
        values(&e, "phone"),
        vec![&tok(None, Some("(03) 5555 6473"), Some("work"))]
    );
    let birth = days_from_civil(1974, 12, 25) * DAY;
    assert_eq!(
        values(&e, "birthdate"),
        vec![&IndexValue::Date(DateRange {
            start: birth,
            end: birth + DAY
        })]
    );
    assert_eq!(
        values(&e, "address-city"),
        vec![&string("PleasantVille", "pleasantville")]
    );
    assert_eq!(values(&e, "address").len(), 6);
    assert_eq!(
        values(&e, "organization"),
        vec![&IndexValue::Reference(ReferenceValue {
            resource_type: Some("Organization".into()),
            id: Some("1".into()),
            ..Default::default()
        })]
    );
    assert_eq!(values(&e, "link").len(), 1);
    assert_eq!(values(&e, "general-practitioner").len(), 1);
    // Common parameters.
    assert_eq!(values(&e, "_id"), vec![&tok(None, Some("example"), None)]);
    let lu = days_from_civil(2024, 5, 1) * DAY + 10 * HOUR;
    assert_eq!(
        values(&e, "_lastUpdated"),
        vec![&IndexValue::Date(DateRange {
            start: lu,
            end: lu + 1_000_000
        })]
    );
    assert_eq!(
        values(&e, "_tag"),
        vec![&tok(Some("http://example.org/tags"), Some("test"), None)]
    );
    assert_eq!(values(&e, "_security").len(), 1);
    assert_eq!(
        values(&e, "_profile"),
        vec![&IndexValue::Uri(
            "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient".into()
        )]
    );
    // Every entry's code is a parameter of Patient.
    let defs = hale_fhir_model::r4();
    assert!(
        e.iter()
            .all(|x| defs.search_param("Patient", &x.code).is_some())
    );
}

#[test]
fn observation_quantities_composites_and_references() {
    let e = index(&fixture("observation"));
    assert_eq!(
        values(&e, "code"),
        vec![
            &tok(
                Some("http://loinc.org"),
                Some("85354-9"),
                Some("blood pressure panel")
            ),
            &tok(None, None, Some("blood pressure"))
        ]
    );
    let vq = values(&e, "value-quantity");
    assert_eq!(vq.len(), 1);
    let IndexValue::Quantity(QuantityValue {
        value,
        low,
        high,
        system,
        code,
        unit,
    }) = vq[0]
    else {
        panic!()
    };
    assert_eq!(
        (*value, *low, *high),
        (Some(185.5), Some(185.45), Some(185.55))
    );
    assert_eq!(
        (system.as_deref(), code.as_deref(), unit.as_deref()),
        (Some("http://unitsofmeasure.org"), Some("cm"), Some("cm"))
    );
    // Patient reference via `where(resolve() is Patient)`.
    let pat = values(&e, "patient");
    assert_eq!(
        pat,
        vec![&IndexValue::Reference(ReferenceValue {
            resource_type: Some("Patient".into()),
            id: Some("example".into()),
            ..Default::default()
        })]
    );
    assert_eq!(values(&e, "subject").len(), 1);
    // Performer: the contained reference is not indexed, the absolute one is split.
    assert_eq!(
        values(&e, "performer"),
        vec![&IndexValue::Reference(ReferenceValue {
            base_url: Some("https://other.example/fhir".into()),
            resource_type: Some("Practitioner".into()),
            id: Some("77".into()),
            version: Some("2".into()),
            url: Some("https://other.example/fhir/Practitioner/77/_history/2".into()),
            ..Default::default()
        })]
    );
    // Reference by identifier only.
    assert_eq!(
        values(&e, "based-on"),
        vec![&IndexValue::Reference(ReferenceValue {
            identifier: Some(TokenValue {
                system: Some("http://example.org/orders".into()),
                code: Some("ORD-1".into()),
                text: None
            }),
            ..Default::default()
        })]
    );
    assert_eq!(
        values(&e, "derived-from"),
        vec![&IndexValue::Reference(ReferenceValue {
            url: Some("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a".into()),
            resource_type: Some("Observation".into()),
            ..Default::default()
        })]
    );
    // Composite: component code + quantity.
    let cvq = values(&e, "component-code-value-quantity");
    assert_eq!(cvq.len(), 2);
    let IndexValue::Composite(parts) = cvq[0] else {
        panic!()
    };
    assert_eq!(
        parts[0],
        tok(
            Some("http://loinc.org"),
            Some("8480-6"),
            Some("systolic blood pressure")
        )
    );
    assert!(
        matches!(&parts[1], IndexValue::Quantity(q) if q.value == Some(107.0) && q.code.as_deref() == Some("mm[Hg]"))
    );
    assert_eq!(values(&e, "component-code-value-concept").len(), 1);
    // combo-code covers code and component codes.
    assert_eq!(values(&e, "combo-code").len(), 5);
    // Date with day precision; instant `issued` is not a search parameter but `date` is.
    let d = days_from_civil(2024, 5, 2) * DAY;
    assert_eq!(
        values(&e, "date"),
        vec![&IndexValue::Date(DateRange {
            start: d,
            end: d + DAY
        })]
    );
    // _lastUpdated honours the +02:00 offset and the millisecond precision.
    let lu = d + 6 * HOUR + 30 * 60_000_000 + 123_000;
    assert_eq!(
        values(&e, "_lastUpdated"),
        vec![&IndexValue::Date(DateRange {
            start: lu,
            end: lu + 1000
        })]
    );
}

#[test]
fn periods_ranges_timings_and_numbers() {
    let e = index(&fixture("encounter"));
    let s = days_from_civil(2024, 5, 2) * DAY + 8 * HOUR;
    assert_eq!(
        values(&e, "date"),
        vec![&IndexValue::Date(DateRange {
            start: s,
            end: s + HOUR + 1_000_000
        })]
    );
    assert!(
        matches!(values(&e, "length")[0], IndexValue::Quantity(q) if q.value == Some(60.0) && q.low == Some(59.5))
    );
    assert_eq!(values(&e, "participant").len(), 2);
    assert_eq!(
        values(&e, "practitioner").len(),
        1,
        "where(resolve() is Practitioner)"
    );
    assert_eq!(
        values(&e, "class"),
        vec![&tok(
            Some("http://terminology.hl7.org/CodeSystem/v3-ActCode"),
            Some("AMB"),
            None
        )]
    );

    let q = index(&fixture("questionnaire"));
    let ctx = values(&q, "context-quantity");
    assert!(
        matches!(ctx[0], IndexValue::Quantity(q) if q.low == Some(18.0) && q.high == Some(65.0) && q.code.as_deref() == Some("a"))
    );
    assert_eq!(values(&q, "context-type-quantity").len(), 1);
    assert_eq!(
        values(&q, "url"),
        vec![&IndexValue::Uri(
            "http://example.org/Questionnaire/q1".into()
        )]
    );
    let y = days_from_civil(2023, 1, 1) * DAY;
    assert_eq!(
        values(&q, "date"),
        vec![&IndexValue::Date(DateRange {
            start: y,
            end: days_from_civil(2024, 1, 1) * DAY
        })]
    );
    assert_eq!(
        values(&q, "code").len(),
        1,
        "Questionnaire.item.code: top-level items only"
    );

    let m = index(&fixture("medicationrequest"));
    assert_eq!(values(&m, "code").len(), 1, "medication as CodeableConcept");
    assert_eq!(values(&m, "medication").len(), 0);
    let authored = days_from_civil(2024, 1, 15) * DAY + 9 * HOUR;
    assert_eq!(
        values(&m, "authoredon"),
        vec![&IndexValue::Date(DateRange {
            start: authored,
            end: authored + 1_000_000
        })]
    );

    let r = index(&fixture("riskassessment"));
    assert!(
        matches!(values(&r, "probability")[0], IndexValue::Number(n) if n.value == 0.25 && (n.low - 0.245).abs() < 1e-12)
    );
    assert_eq!(values(&r, "patient").len(), 0, "subject is a Group");
    assert_eq!(values(&r, "subject").len(), 1);
}

#[test]
fn every_fixture_indexes_and_unknown_types_give_nothing() {
    for f in fixtures() {
        assert!(index(&f).len() > 3, "{}", f["resourceType"]);
    }
    assert!(index(&serde_json::json!({"resourceType": "Nope", "id": "1"})).is_empty());
    assert!(index(&serde_json::json!({"id": "1"})).is_empty());
}

#[test]
fn string_folding_and_reference_parsing() {
    assert_eq!(
        normalize_string("  Ægir ÖSTLUND  Straße "),
        "aegir ostlund strasse"
    );
    assert_eq!(normalize_string("e\u{301}"), "e");
    let r = parse_reference("Patient/1/_history/3", None).unwrap();
    assert_eq!(
        (
            r.resource_type.as_deref(),
            r.id.as_deref(),
            r.version.as_deref()
        ),
        (Some("Patient"), Some("1"), Some("3"))
    );
    let c = parse_reference("http://hl7.org/fhir/ValueSet/x|4.0.1", None).unwrap();
    assert_eq!(
        (c.url.as_deref(), c.version.as_deref()),
        (Some("http://hl7.org/fhir/ValueSet/x"), Some("4.0.1"))
    );
    assert!(parse_reference("#c1", None).is_none());
    let b = parse_reference("abc", Some("Patient")).unwrap();
    assert_eq!(
        (b.resource_type.as_deref(), b.id.as_deref()),
        (Some("Patient"), Some("abc"))
    );
}
