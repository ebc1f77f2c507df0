//! FHIR search over HTTPS: parameter types, paging by `next` links,
//! includes, totals, projections, lenient and strict handling, compartments,
//! and the conditional interactions that search inside their write.

mod common;

use common::fhir::{Fhir, assert_outcome};
use reqwest::Method;
use serde_json::{Value, json};

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|x| x["search"]["mode"] == "match")
                .map(|x| x["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned())
}

async fn seed(f: &Fhir) -> (Vec<String>, Vec<String>) {
    let mut patients = Vec::new();
    let mut observations = Vec::new();
    for (i, (family, gender, birth)) in [
        ("Smith", "female", "1980-01-15"),
        ("Smythe", "male", "1990-06-01"),
        ("Jones", "female", "2001-11-30"),
        ("Müller", "male", "1975-03-03"),
    ]
    .iter()
    .enumerate()
    {
        let p = f
            .create(&json!({
                "resourceType": "Patient",
                "identifier": [{ "system": "urn:mrn", "value": format!("MRN{i}") }],
                "name": [{ "family": family, "given": ["Pat"] }],
                "gender": gender,
                "birthDate": birth
            }))
            .await;
        let pid = p["id"].as_str().unwrap().to_owned();
        for (code, value) in [("8867-4", 60 + i * 10), ("9279-1", 12 + i)] {
            let o = f
                .create(&json!({
                    "resourceType": "Observation",
                    "status": "final",
                    "code": { "coding": [{ "system": "http://loinc.org", "code": code }] },
                    "subject": { "reference": format!("Patient/{pid}") },
                    "effectiveDateTime": format!("2024-0{}-10T10:00:00Z", i + 1),
                    "valueQuantity": { "value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" }
                }))
                .await;
            observations.push(o["id"].as_str().unwrap().to_owned());
        }
        patients.push(pid);
    }
    (patients, observations)
}

#[tokio::test]
async fn parameter_types_and_modifiers() {
    let f = Fhir::start().await;
    let (patients, _) = seed(&f).await;
    let count = |q: &'static str| {
        let f = &f;
        async move {
            let r = f.get(q).await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            ids(&r.body).len()
        }
    };
    assert_eq!(count("Patient").await, 4);
    assert_eq!(
        count("Patient?family=sm").await,
        2,
        "string: starts with, folded"
    );
    assert_eq!(count("Patient?family=muller").await, 1, "accents folded");
    assert_eq!(count("Patient?family:exact=Smith").await, 1);
    assert_eq!(count("Patient?family:contains=yth").await, 1);
    assert_eq!(count("Patient?gender=female").await, 2);
    assert_eq!(count("Patient?gender:not=female").await, 2);
    assert_eq!(count("Patient?identifier=urn:mrn|MRN2").await, 1);
    assert_eq!(count("Patient?birthdate=ge1985").await, 2);
    assert_eq!(count("Patient?birthdate=1980").await, 1);
    assert_eq!(count("Patient?birthdate=gt1970&birthdate=lt1985").await, 2);
    assert_eq!(count("Observation?code=http://loinc.org|8867-4").await, 4);
    assert_eq!(count("Observation?value-quantity=gt75").await, 2);
    assert_eq!(count("Observation?date=2024-02").await, 2);
    let q = format!("Observation?subject=Patient/{}", patients[0]);
    let r = f.get(&q).await;
    assert_eq!(ids(&r.body).len(), 2, "{}", r.body);
    assert_eq!(
        count("Observation?subject:Patient.family=jones").await,
        2,
        "chained"
    );
    assert_eq!(
        count("Patient?_has:Observation:subject:value-quantity=gt85").await,
        1,
        "reverse chain"
    );
    let r = f
        .get(&format!("Patient?_id={},{}", patients[0], patients[1]))
        .await;
    assert_eq!(ids(&r.body).len(), 2);
}

#[tokio::test]
async fn paging_totals_includes_and_projections() {
    let f = Fhir::start().await;
    let (patients, observations) = seed(&f).await;

    // Paging through next links returns every match once.
    let mut url = "Observation?_count=3".to_owned();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let r = f.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.get("total").is_none(), "no total unless asked");
        seen.extend(ids(&r.body));
        match next_link(&r.body) {
            Some(next) => {
                assert!(next.contains("ct="), "{next}");
                url = next
                    .strip_prefix(&format!("{}/", f.base))
                    .unwrap()
                    .to_owned();
            }
            None => break,
        }
    }
    let mut expected = observations.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);

    let r = f.get("Observation?_total=accurate&_count=1").await;
    assert_eq!(r.body["total"], 8);
    let r = f.get("Observation?_summary=count").await;
    assert_eq!(r.body["total"], 8);
    assert!(r.body.get("entry").is_none());

    let r = f
        .get("Observation?code=http://loinc.org|8867-4&_include=Observation:subject")
        .await;
    let included: Vec<&str> = r.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(included.len(), 4, "{}", r.body);
    let r = f
        .get(&format!(
            "Patient?_id={}&_revinclude=Observation:subject",
            patients[0]
        ))
        .await;
    assert_eq!(r.body["entry"].as_array().unwrap().len(), 3);

    let r = f.get("Patient?_elements=gender&_count=1").await;
    let p = &r.body["entry"][0]["resource"];
    assert!(p.get("gender").is_some() && p.get("name").is_none(), "{p}");
    assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED");
    // A choice element by its base name.
    let r = f.get("Observation?_elements=value&_count=1").await;
    let o = &r.body["entry"][0]["resource"];
    assert!(
        o.get("valueQuantity").is_some() && o.get("subject").is_none(),
        "{o}"
    );

    let r = f.get("Patient?_sort=-birthdate").await;
    let births: Vec<String> = r.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["birthDate"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        births,
        ["2001-11-30", "1990-06-01", "1980-01-15", "1975-03-03"]
    );

    // Compartment search.
    let r = f.get(&format!("Patient/{}/Observation", patients[1])).await;
    assert_eq!(ids(&r.body).len(), 2, "{}", r.body);

    // POST _search with a form body.
    let r = f
        .raw(
            Method::POST,
            "Patient/_search",
            Some(b"gender=male".to_vec()),
            "application/x-www-form-urlencoded",
            &[],
        )
        .await;
    assert_eq!(ids(&r.body).len(), 2, "{}", r.body);
}

#[tokio::test]
async fn lenient_and_strict_handling() {
    let f = Fhir::start().await;
    seed(&f).await;
    let r = f.get("Patient?colour=blue&gender=male").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.body).len(), 2, "the unknown parameter is ignored");
    let outcome = r.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an outcome entry");
    assert_eq!(outcome["resource"]["issue"][0]["severity"], "warning");
    assert_eq!(outcome["resource"]["issue"][0]["code"], "not-supported");

    let strict = f
        .call(
            Method::GET,
            "Patient?colour=blue",
            None,
            &[("prefer", "handling=strict")],
        )
        .await;
    assert_outcome(&strict, 400, "not-supported");
    assert_outcome(&f.get("Patient?birthdate=notadate").await, 400, "invalid");
    assert_outcome(&f.get("Patient?_count=10&ct=garbage").await, 400, "invalid");

    let r = f.get("Patient?_count=5000").await;
    assert_eq!(r.status, 200);
    let info = r.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("the _count clamp is reported");
    assert!(
        info["resource"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("1000")
    );

    // `_type` naming only unknown types finds nothing (with the warning);
    // with a known type beside it, that type.
    let r = f.get("?_type=Foo").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(ids(&r.body).is_empty(), "{}", r.body);
    assert!(
        r.body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["search"]["mode"] == "outcome"),
        "{}",
        r.body
    );
    let r = f.get("?_type=Patient,Foo&_count=50").await;
    assert_eq!(ids(&r.body).len(), 4, "{}", r.body);
}

#[tokio::test]
async fn conditional_create_update_and_delete() {
    let f = Fhir::start().await;
    let p = json!({ "resourceType": "Patient", "identifier": [{ "system": "urn:mrn", "value": "C1" }], "gender": "male" });
    let first = f
        .call(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", "identifier=urn:mrn|C1")],
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = f
        .call(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", "identifier=urn:mrn|C1")],
        )
        .await;
    assert_eq!(
        again.status, 200,
        "an existing match is returned: {}",
        again.body
    );
    assert_eq!(again.body["id"], first.body["id"]);
    // The criteria may come with the type, as a search URL.
    let typed = f
        .call(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", "Patient?identifier=urn:mrn|C1")],
        )
        .await;
    assert_eq!(typed.status, 200, "{}", typed.body);
    assert_eq!(typed.body["id"], first.body["id"]);
    assert_eq!(ids(&f.get("Patient").await.body).len(), 1);

    // Conditional update: one match → updated in place; none → created.
    let mut changed = p.clone();
    changed["gender"] = json!("female");
    let updated = f.put("Patient?identifier=urn:mrn|C1", &changed).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["id"], first.body["id"]);
    assert_eq!(updated.body["meta"]["versionId"], "2");
    let other = json!({ "resourceType": "Patient", "identifier": [{ "system": "urn:mrn", "value": "C2" }] });
    let created = f.put("Patient?identifier=urn:mrn|C2", &other).await;
    assert_eq!(created.status, 201, "{}", created.body);

    // Several matches: 412, nothing changes.
    let both = f
        .put("Patient?identifier=urn:mrn|C1,urn:mrn|C2", &changed)
        .await;
    assert_eq!(both.status, 412, "{}", both.body);
    let conditional_dup = f
        .call(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", "identifier=urn:mrn|C1,urn:mrn|C2")],
        )
        .await;
    assert_eq!(conditional_dup.status, 412);
    // Unknown parameters in criteria are refused, never ignored.
    let unknown = f
        .call(Method::DELETE, "Patient?colour=blue", None, &[])
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(ids(&f.get("Patient").await.body).len(), 2);

    // Conditional delete: more matches than `_count` (default 1) → 412;
    // otherwise every match goes.
    let refused = f
        .call(
            Method::DELETE,
            "Patient?identifier=urn:mrn|C1,urn:mrn|C2",
            None,
            &[],
        )
        .await;
    assert_eq!(refused.status, 412, "{}", refused.body);
    assert_eq!(ids(&f.get("Patient").await.body).len(), 2);
    let one = f
        .call(Method::DELETE, "Patient?gender=female", None, &[])
        .await;
    assert_eq!(one.status, 204);
    assert_eq!(one.header("items-deleted"), "1");
    let rest = f
        .call(
            Method::DELETE,
            "Patient?identifier=urn:mrn|C1,urn:mrn|C2&_count=10",
            None,
            &[],
        )
        .await;
    assert_eq!(rest.status, 204);
    assert_eq!(rest.header("items-deleted"), "1");
    assert!(ids(&f.get("Patient").await.body).is_empty());

    // Transactions resolve conditional creates inside the transaction.
    let bundle = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
        { "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
          "resource": { "resourceType": "Patient", "identifier": [{ "system": "urn:mrn", "value": "T1" }] },
          "request": { "method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:mrn|T1" } },
        { "resource": { "resourceType": "Observation", "status": "final", "code": { "text": "x" },
                        "subject": { "reference": "urn:uuid:00000000-0000-4000-8000-000000000001" } },
          "request": { "method": "POST", "url": "Observation" } }
    ]});
    let one = f.post("", &bundle).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let two = f.post("", &bundle).await;
    assert_eq!(two.status, 200, "{}", two.body);
    let pid = one.body["entry"][0]["resource"]["id"].as_str().unwrap();
    assert_eq!(
        two.body["entry"][0]["resource"]["id"], pid,
        "matched, not created again"
    );
    assert_eq!(
        two.body["entry"][1]["resource"]["subject"]["reference"],
        format!("Patient/{pid}")
    );
    assert_eq!(ids(&f.get("Patient").await.body).len(), 1);
}

/// `Patient/[id]/$everything`: the patient and what it refers to first, then
/// its compartment,
/// paged by `next` links; `_type` and `_since` narrow it (the patient
/// included); an unknown patient
/// is 404, `start`/`end` (not supported) 400; the CapabilityStatement says so.
/// Also `_revinclude=*` on the same data.
#[tokio::test]
async fn patient_everything() {
    let f = Fhir::start().await;
    let (patients, observations) = seed(&f).await;
    let p0 = &patients[0];
    let encounter = f
        .create(&json!({
            "resourceType": "Encounter",
            "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB" },
            "subject": { "reference": format!("Patient/{p0}") }
        }))
        .await;
    let eid = encounter["id"].as_str().unwrap().to_owned();

    let all = f.get(&format!("Patient/{p0}/$everything")).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["type"], "searchset");
    let got = ids(&all.body);
    assert_eq!(got.first(), Some(p0), "the patient comes first: {got:?}");
    let mut rest: Vec<String> = got[1..].to_vec();
    rest.sort();
    let mut want = vec![
        observations[0].clone(),
        observations[1].clone(),
        eid.clone(),
    ];
    want.sort();
    assert_eq!(rest, want, "its compartment, nobody else's");

    // Paged: the patient once, every resource once.
    let mut seen = Vec::new();
    let mut page = f.get(&format!("Patient/{p0}/$everything?_count=1")).await;
    loop {
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(ids(&page.body));
        let Some(next) = next_link(&page.body) else {
            break;
        };
        let path = next
            .split_once("/fhir1/")
            .map(|(_, p)| p.to_owned())
            .unwrap();
        page = f.get(&path).await;
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen.iter().filter(|i| *i == p0).count(), 1);

    let only = f
        .get(&format!("Patient/{p0}/$everything?_type=Encounter"))
        .await;
    assert_eq!(ids(&only.body), vec![eid]);
    // `_since` applies to the patient too.
    let future = f
        .get(&format!(
            "Patient/{p0}/$everything?_since=2999-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(future.status, 200, "{}", future.body);
    assert_eq!(ids(&future.body), Vec::<String>::new());
    let past = f
        .get(&format!(
            "Patient/{p0}/$everything?_since=2000-01-01T00:00:00Z&_type=Patient"
        ))
        .await;
    assert_eq!(ids(&past.body), vec![p0.clone()], "{}", past.body);
    assert_outcome(
        &f.get(&format!("Patient/{p0}/$everything?_since=yesterday"))
            .await,
        400,
        "invalid",
    );

    // `_revinclude=*`: whatever refers to the matches, through any
    // reference parameter of any type.
    let rev = f.get(&format!("Patient?_id={p0}&_revinclude=*")).await;
    assert_eq!(rev.status, 200, "{}", rev.body);
    let mut included: Vec<String> = rev.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    included.sort();
    assert_eq!(included, want, "{}", rev.body);

    // What the patient refers to comes with it, on the first page.
    let org = f
        .create(&json!({"resourceType": "Organization", "name": "Ward 7"}))
        .await;
    let doc = f
        .create(&json!({"resourceType": "Practitioner", "name": [{"family": "House"}]}))
        .await;
    let (oid, did) = (org["id"].as_str().unwrap(), doc["id"].as_str().unwrap());
    let referring = f
        .create(&json!({
            "resourceType": "Patient",
            "generalPractitioner": [{"reference": format!("Practitioner/{did}")}],
            "managingOrganization": {"reference": format!("Organization/{oid}")}
        }))
        .await;
    let rid = referring["id"].as_str().unwrap();
    let with_refs = f.get(&format!("Patient/{rid}/$everything")).await;
    assert_eq!(
        ids(&with_refs.body),
        vec![rid, did, oid],
        "{}",
        with_refs.body
    );
    let typed = f
        .get(&format!("Patient/{rid}/$everything?_type=Organization"))
        .await;
    assert_eq!(ids(&typed.body), vec![oid]);

    assert_outcome(&f.get("Patient/nobody/$everything").await, 404, "not-found");
    assert_outcome(
        &f.get(&format!("Patient/{p0}/$everything?start=2024-01-01"))
            .await,
        400,
        "not-supported",
    );
    let metadata = f.get("metadata").await;
    let patient = metadata.body["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap()
        .clone();
    assert!(
        patient["operation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "everything")
    );
}

/// A parameter with hundreds of ORed values (`_id=a,b,…`, `name=…`) is one
/// search, not a database error.
#[tokio::test]
async fn long_lists_of_values() {
    let f = Fhir::start().await;
    let (patients, observations) = seed(&f).await;
    let mut many: Vec<String> = (0..1200).map(|i| format!("no-such-{i}")).collect();
    many.push(patients[2].clone());
    for (path, params, wanted) in [
        ("Patient/_search", format!("_id={}", many.join(",")), 1),
        (
            "Patient/_search",
            format!(
                "name={},Jones",
                (0..800)
                    .map(|i| format!("Nobody{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            1,
        ),
        (
            "Observation/_search",
            format!(
                "code={},http://loinc.org|8867-4",
                (0..800)
                    .map(|i| format!("http://loinc.org|0-{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            4,
        ),
    ] {
        let reply = f
            .raw(
                Method::POST,
                path,
                Some(format!("{params}&_count=100").into_bytes()),
                "application/x-www-form-urlencoded",
                &[],
            )
            .await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(ids(&reply.body).len(), wanted, "{path}: {}", reply.body);
    }
    assert_eq!(observations.len(), 8);
}

/// A `code` element's values carry the system of the value set it is bound
/// to: `gender=http://hl7.org/fhir/administrative-gender|female` finds the
/// female patients, another system none.
#[tokio::test]
async fn codes_match_their_implicit_system() {
    let f = Fhir::start().await;
    seed(&f).await;
    for (query, wanted) in [
        ("Patient?gender=female", 2),
        (
            "Patient?gender=http://hl7.org/fhir/administrative-gender|female",
            2,
        ),
        (
            "Patient?gender=http://hl7.org/fhir/administrative-gender|male,female",
            4,
        ),
        ("Patient?gender=http://example.org/other|female", 0),
        (
            "Patient?gender:not=http://hl7.org/fhir/administrative-gender|female",
            2,
        ),
        (
            "Observation?status=http://hl7.org/fhir/observation-status|final",
            8,
        ),
    ] {
        let r = f.get(&format!("{query}&_count=50")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(ids(&r.body).len(), wanted, "{query}: {}", r.body);
    }
}

#[tokio::test]
async fn compartments_other_than_patient() {
    let f = Fhir::start().await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let pr = id(&f
        .create(&json!({ "resourceType": "Practitioner", "name": [{ "family": "Osler" }] }))
        .await);
    let other_pr = id(&f
        .create(&json!({ "resourceType": "Practitioner", "name": [{ "family": "Lister" }] }))
        .await);
    let p = id(&f
        .create(&json!({
            "resourceType": "Patient",
            "generalPractitioner": [{ "reference": format!("Practitioner/{pr}") }]
        }))
        .await);
    let e = id(&f
        .create(&json!({
            "resourceType": "Encounter",
            "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB" },
            "subject": { "reference": format!("Patient/{p}") },
            "participant": [{ "individual": { "reference": format!("Practitioner/{pr}") } }]
        }))
        .await);
    let d = id(&f
        .create(&json!({ "resourceType": "Device", "status": "active" }))
        .await);
    let rp = id(&f
        .create(&json!({
            "resourceType": "RelatedPerson",
            "patient": { "reference": format!("Patient/{p}") }
        }))
        .await);
    let obs = |code: &str, extra: Value| {
        let mut o = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": code }] }
        });
        o.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        o
    };
    let o_enc = id(&f
        .create(&obs(
            "8867-4",
            json!({
                "subject": { "reference": format!("Patient/{p}") },
                "encounter": { "reference": format!("Encounter/{e}") },
                "performer": [{ "reference": format!("Practitioner/{pr}") }]
            }),
        ))
        .await);
    let o_dev = id(&f
        .create(&obs(
            "9279-1",
            json!({ "device": { "reference": format!("Device/{d}") } }),
        ))
        .await);
    let o_rp = id(&f
        .create(&obs(
            "9279-1",
            json!({ "performer": [{ "reference": format!("RelatedPerson/{rp}") }] }),
        ))
        .await);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let found = |path: String| {
        let f = &f;
        async move {
            let r = f.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            sorted(ids(&r.body))
        }
    };

    // Encounter: what points at the encounter, and the encounter itself.
    assert_eq!(
        found(format!("Encounter/{e}/Observation")).await,
        vec![o_enc.clone()]
    );
    assert_eq!(
        found(format!("Encounter/{e}/Encounter")).await,
        vec![e.clone()]
    );
    assert_eq!(
        found(format!("Encounter/{e}/*")).await,
        sorted(vec![e.clone(), o_enc.clone()])
    );
    // A type outside the compartment has no members in it.
    assert!(found(format!("Encounter/{e}/Patient")).await.is_empty());

    // Practitioner: patients it cares for, encounters it took part in,
    // observations it performed; criteria narrow as in any search.
    assert_eq!(
        found(format!("Practitioner/{pr}/Patient")).await,
        vec![p.clone()]
    );
    assert_eq!(
        found(format!("Practitioner/{pr}/Encounter")).await,
        vec![e.clone()]
    );
    assert_eq!(
        found(format!("Practitioner/{pr}/Observation?code=8867-4")).await,
        vec![o_enc.clone()]
    );
    assert!(
        found(format!("Practitioner/{pr}/Observation?code=9279-1"))
            .await
            .is_empty()
    );
    assert!(found(format!("Practitioner/{other_pr}/*")).await == vec![other_pr.clone()]);

    // RelatedPerson and Device.
    assert_eq!(
        found(format!("RelatedPerson/{rp}/Observation")).await,
        vec![o_rp.clone()]
    );
    assert_eq!(
        found(format!("RelatedPerson/{rp}/RelatedPerson")).await,
        vec![rp.clone()]
    );
    assert_eq!(
        found(format!("Device/{d}/Observation")).await,
        vec![o_dev.clone()]
    );
    // The same id under another compartment type is another compartment.
    assert!(found(format!("Device/{pr}/Observation")).await.is_empty());

    // The Patient compartment still holds the patient's resources.
    assert_eq!(
        found(format!("Patient/{p}/*")).await,
        sorted(vec![p.clone(), e.clone(), rp.clone(), o_enc.clone()])
    );

    // A type that has no compartment: a clear error.
    let r = f.get(&format!("Observation/{o_enc}/Patient")).await;
    assert_outcome(&r, 400, "not-supported");
    assert!(
        r.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("Device, Encounter, Patient, Practitioner, RelatedPerson"),
        "{}",
        r.body
    );

    // The CapabilityStatement lists the compartments.
    let meta = f.get("metadata").await;
    let comps = meta.body["rest"][0]["compartment"].as_array().unwrap();
    assert_eq!(comps.len(), 5, "{comps:?}");
    assert!(comps.contains(&json!(
        "http://hl7.org/fhir/CompartmentDefinition/relatedPerson"
    )));
}
