//! The search suite: index rows and search compiled to SQL. Runs on SQLite by
//! default and on PostgreSQL when `HALE_TEST_DATABASE_URL` is set.

use hale_fhir_model::{SearchQuery, parse_search};
use hale_fhir_store::index;
use hale_fhir_store::search::{self, SearchError, SearchPage, SearchScope};
use hale_store::test_support::TestDatabase;
use hale_store::{Store, StoreError, Tx, Value, params};
use serde_json::{Value as Json, json};

const BASE: &str = "https://hale.test/fhir/ws-svc";
const SVC: i64 = 1;

struct Fx {
    store: Store,
    _db: TestDatabase,
}

fn query(rtype: Option<&str>, q: &str) -> SearchQuery {
    let params: Vec<(String, String)> = q
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    parse_search(rtype, &params, true).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

/// Writes a new current version (the lead's write path, reduced): the old
/// version's index rows go, the new one's come, in one transaction.
fn put_tx(tx: &mut dyn Tx, svc: i64, resource: &Json, clock: i64) -> Result<i64, StoreError> {
    let rtype = resource["resourceType"].as_str().unwrap().to_owned();
    let id = resource["id"].as_str().unwrap().to_owned();
    let old = tx.query_opt(
        "SELECT rid, version FROM fhir_resources WHERE svc = $1 AND resource_type = $2 AND id = $3 AND is_current = 1",
        params![svc, rtype.as_str(), id.as_str()],
    )?;
    let mut version = 1;
    if let Some(old) = old {
        let old_rid: i64 = old.get(0)?;
        version = old.get::<i64>(1)? + 1;
        index::remove(tx, svc, old_rid)?;
        tx.execute(
            "UPDATE fhir_resources SET is_current = 0 WHERE rid = $1",
            params![old_rid],
        )?;
    }
    let body = serde_json::to_vec(resource).unwrap();
    let row = tx.query_opt(
        "INSERT INTO fhir_resources (svc, resource_type, id, version, last_updated, is_current, deleted, method, body) VALUES ($1, $2, $3, $4, $5, 1, 0, 'PUT', $6) RETURNING rid",
        &[
            svc.into(),
            rtype.as_str().into(),
            id.as_str().into(),
            version.into(),
            clock.into(),
            Value::Blob(body),
        ],
    )?;
    let rid: i64 = row.unwrap().get(0)?;
    index::insert(
        tx,
        svc,
        rid,
        &rtype,
        &hale_fhir_model::index(resource),
        BASE,
    )?;
    Ok(rid)
}

impl Fx {
    async fn new() -> Fx {
        let db = TestDatabase::create().await.expect("test database");
        let store = Store::open(&db.url).await.expect("open store");
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO data_partitions (svc, service_id) VALUES (1, 'a'), (2, 'b')",
                    &[],
                )
            })
            .await
            .unwrap();
        Fx { store, _db: db }
    }

    async fn put(&self, resource: Json) -> i64 {
        self.put_in(SVC, resource).await
    }

    async fn put_in(&self, svc: i64, resource: Json) -> i64 {
        self.store
            .write(move |tx| {
                let clock: i64 = tx
                    .query_opt(
                        "SELECT COALESCE(MAX(last_updated), 1600000000000000) FROM fhir_resources",
                        &[],
                    )?
                    .unwrap()
                    .get(0)?;
                put_tx(tx, svc, &resource, clock + 1_000_000)
            })
            .await
            .unwrap()
    }

    async fn delete(&self, rtype: &'static str, id: &'static str) {
        self.store
            .write(move |tx| {
                let old = tx
                    .query_opt(
                        "SELECT rid, version FROM fhir_resources WHERE svc = $1 AND resource_type = $2 AND id = $3 AND is_current = 1",
                        params![SVC, rtype, id],
                    )?
                    .unwrap();
                let rid: i64 = old.get(0)?;
                index::remove(tx, SVC, rid)?;
                tx.execute("UPDATE fhir_resources SET is_current = 0 WHERE rid = $1", params![rid])?;
                tx.execute(
                    "INSERT INTO fhir_resources (svc, resource_type, id, version, last_updated, is_current, deleted, method, body) VALUES ($1, $2, $3, $4, $5, 1, 1, 'DELETE', NULL)",
                    params![SVC, rtype, id, old.get::<i64>(1)? + 1, 1_900_000_000_000_000i64],
                )?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap()
    }

    async fn run(&self, scope: SearchScope, q: SearchQuery) -> Result<SearchPage, SearchError> {
        self.store
            .read(move |tx| search::search(tx, SVC, &scope, &q, BASE))
            .await
    }

    async fn page(&self, rtype: &str, q: &str) -> SearchPage {
        let scope = SearchScope {
            resource_types: vec![rtype.to_owned()],
            compartment: None,
            within: None,
        };
        self.run(scope, query(Some(rtype), q))
            .await
            .unwrap_or_else(|e| panic!("{rtype}?{q}: {e:?}"))
    }

    /// Ids of the matches, sorted.
    async fn ids(&self, rtype: &str, q: &str) -> Vec<String> {
        let mut ids = self.ordered(rtype, &format!("{q}&_count=1000")).await;
        ids.sort();
        ids
    }

    /// Ids of the matches in page order.
    async fn ordered(&self, rtype: &str, q: &str) -> Vec<String> {
        self.page(rtype, q)
            .await
            .matches
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    async fn count_rows(&self) -> i64 {
        self.store
            .read(|tx| {
                let mut n = 0;
                for t in [
                    "fhir_ix_str",
                    "fhir_ix_tok",
                    "fhir_ix_ref",
                    "fhir_ix_date",
                    "fhir_ix_num",
                    "fhir_ix_uri",
                    "fhir_ix_comp",
                ] {
                    n += tx.query(&format!("SELECT COUNT(*) FROM {t}"), &[])?[0].get::<i64>(0)?;
                }
                Ok::<_, StoreError>(n)
            })
            .await
            .unwrap()
    }
}

fn v(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn observation(
    id: &str,
    system: &str,
    code: &str,
    subject: &str,
    date: &str,
    value: f64,
    unit: &str,
) -> Json {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": system, "code": code, "display": format!("Display {code}")}], "text": if code == "1234-5" { "Glucose" } else { "Other" }},
        "subject": {"reference": subject},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    })
}

/// A small world: three patients, a practitioner, an organization, an
/// encounter, observations and a risk assessment.
async fn world() -> Fx {
    let fx = Fx::new().await;
    fx.put(json!({"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Who", "given": ["Doctor"]}]})).await;
    fx.put(json!({"resourceType": "Organization", "id": "org1", "name": "Acme Health"}))
        .await;
    fx.put(json!({
        "resourceType": "Patient", "id": "p1",
        "meta": {"tag": [{"system": "http://t", "code": "vip"}]},
        "identifier": [{"system": "http://hosp", "value": "MRN1"}],
        "name": [{"family": "Smith", "given": ["John"]}],
        "gender": "male", "birthDate": "1980-05-01",
        "address": [{"city": "Zürich"}],
        "generalPractitioner": [{"reference": "Practitioner/dr1"}]
    }))
    .await;
    fx.put(json!({
        "resourceType": "Patient", "id": "p2",
        "meta": {"profile": ["http://example.org/fhir/StructureDefinition/pat"]},
        "name": [{"family": "Smythe", "given": ["Ann"]}],
        "gender": "female", "birthDate": "1990",
        "managingOrganization": {"reference": "Organization/org1"}
    }))
    .await;
    fx.put(json!({
        "resourceType": "Patient", "id": "p3",
        "name": [{"family": "Müller", "given": ["Jürgen"]}],
        "gender": "male"
    }))
    .await;
    fx.put(json!({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"}})).await;
    let mut o1 = observation(
        "o1",
        "http://loinc.org",
        "1234-5",
        "Patient/p1",
        "2021-01-01T10:00:00Z",
        5.4,
        "mg",
    );
    o1["encounter"] = json!({"reference": "Encounter/e1"});
    fx.put(o1).await;
    fx.put(observation(
        "o2",
        "http://loinc.org",
        "1234-5",
        "Patient/p2",
        "2021-06-15",
        7.0,
        "mg",
    ))
    .await;
    let mut o3 = observation(
        "o3",
        "http://loinc.org",
        "9999-9",
        "Patient/p1",
        "2020-12-31",
        72.0,
        "/min",
    );
    o3["performer"] = json!([{"reference": "Practitioner/dr1"}]);
    fx.put(o3).await;
    fx.put(observation(
        "o4",
        "http://snomed.info/sct",
        "1234-5",
        &format!("{BASE}/Patient/p3"),
        "2019-03-03",
        1.0,
        "mg",
    ))
    .await;
    fx.put(observation(
        "o5",
        "http://loinc.org",
        "8888-8",
        "http://other.org/fhir/Patient/p1",
        "2022-02-02",
        3.0,
        "mg",
    ))
    .await;
    fx.put(json!({
        "resourceType": "RiskAssessment", "id": "ra1", "status": "final",
        "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.7}]
    }))
    .await;
    fx
}

#[tokio::test]
async fn tokens_strings_and_identifiers() {
    let fx = world().await;
    assert_eq!(
        fx.ids("Observation", "code=http://loinc.org|1234-5").await,
        v(&["o1", "o2"])
    );
    assert_eq!(
        fx.ids("Observation", "code=1234-5").await,
        v(&["o1", "o2", "o4"])
    );
    assert_eq!(fx.ids("Observation", "code=|1234-5").await, v(&[]));
    assert_eq!(
        fx.ids("Observation", "code=http://snomed.info/sct|").await,
        v(&["o4"])
    );
    assert_eq!(
        fx.ids("Observation", "code=9999-9,8888-8").await,
        v(&["o3", "o5"])
    );
    assert_eq!(
        fx.ids("Observation", "code:not=1234-5").await,
        v(&["o3", "o5"])
    );
    assert_eq!(
        fx.ids("Observation", "code:text=gluc").await,
        v(&["o1", "o2", "o4"])
    );
    assert_eq!(
        fx.ids("Observation", "code:text=display 99").await,
        v(&["o3"])
    );
    // ANDed parameters.
    assert_eq!(
        fx.ids("Observation", "code=1234-5&subject=Patient/p1")
            .await,
        v(&["o1"])
    );
    assert_eq!(fx.ids("Patient", "gender=male").await, v(&["p1", "p3"]));
    assert_eq!(
        fx.ids("Patient", "identifier=http://hosp|MRN1").await,
        v(&["p1"])
    );
    assert_eq!(fx.ids("Patient", "identifier=MRN2").await, v(&[]));
    assert_eq!(fx.ids("Patient", "_tag=http://t|vip").await, v(&["p1"]));
    assert_eq!(
        fx.ids("Patient", "_tag:missing=true").await,
        v(&["p2", "p3"])
    );
    assert_eq!(fx.ids("Patient", "_id=p1,p3").await, v(&["p1", "p3"]));
    // Strings: starts-with on the folded value, :exact, :contains.
    assert_eq!(fx.ids("Patient", "name=smi").await, v(&["p1"]));
    assert_eq!(fx.ids("Patient", "name=SM").await, v(&["p1", "p2"]));
    assert_eq!(fx.ids("Patient", "family=muller").await, v(&["p3"]));
    assert_eq!(fx.ids("Patient", "given=jürg").await, v(&["p3"]));
    assert_eq!(fx.ids("Patient", "name:exact=Smith").await, v(&["p1"]));
    assert_eq!(fx.ids("Patient", "name:exact=smith").await, v(&[]));
    assert_eq!(fx.ids("Patient", "name:contains=YTH").await, v(&["p2"]));
    assert_eq!(fx.ids("Patient", "address-city=zurich").await, v(&["p1"]));
    assert_eq!(fx.ids("Organization", "name=acme").await, v(&["org1"]));
    // uri: _profile, :below, :above.
    let profile = "http://example.org/fhir/StructureDefinition/pat";
    assert_eq!(
        fx.ids("Patient", &format!("_profile={profile}")).await,
        v(&["p2"])
    );
    assert_eq!(
        fx.ids("Patient", "_profile:below=http://example.org/fhir")
            .await,
        v(&["p2"])
    );
    assert_eq!(
        fx.ids("Patient", "_profile:below=http://example.org/other")
            .await,
        v(&[])
    );
    assert_eq!(
        fx.ids("Patient", &format!("_profile:above={profile}/v2"))
            .await,
        v(&["p2"])
    );
}

#[tokio::test]
async fn dates_numbers_quantities_and_composites() {
    let fx = world().await;
    // A panel whose component carries the 9999-9 code.
    fx.put(json!({
        "resourceType": "Observation", "id": "o6", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4444-4"}]},
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "9999-9"}]}, "valueQuantity": {"value": 120, "unit": "mm"}}]
    }))
    .await;
    assert_eq!(fx.ids("Observation", "date=2021").await, v(&["o1", "o2"]));
    assert_eq!(fx.ids("Observation", "date=2021-01-01").await, v(&["o1"]));
    assert_eq!(
        fx.ids("Observation", "date=ge2021-01-01").await,
        v(&["o1", "o2", "o5"])
    );
    assert_eq!(
        fx.ids("Observation", "date=gt2021-01-01").await,
        v(&["o2", "o5"])
    );
    assert_eq!(fx.ids("Observation", "date=lt2021").await, v(&["o3", "o4"]));
    assert_eq!(
        fx.ids("Observation", "date=le2020-12-31").await,
        v(&["o3", "o4"])
    );
    assert_eq!(
        fx.ids("Observation", "date=sa2021-01-01").await,
        v(&["o2", "o5"])
    );
    assert_eq!(
        fx.ids("Observation", "date=eb2021-01-01").await,
        v(&["o3", "o4"])
    );
    assert_eq!(
        fx.ids("Observation", "date=ne2021").await,
        v(&["o3", "o4", "o5"])
    );
    assert_eq!(
        fx.ids("Observation", "date=ge2021-01-01&date=lt2022").await,
        v(&["o1", "o2"])
    );
    assert_eq!(fx.ids("Patient", "birthdate=1980").await, v(&["p1"]));
    assert_eq!(fx.ids("Patient", "birthdate=1990-06").await, v(&[]));
    assert_eq!(fx.ids("Patient", "birthdate=ap1990-06").await, v(&["p2"]));
    assert_eq!(
        fx.ids("Patient", "birthdate:missing=true").await,
        v(&["p3"])
    );
    assert_eq!(
        fx.ids("Patient", "birthdate:missing=false").await,
        v(&["p1", "p2"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=5.4").await,
        v(&["o1"])
    );
    assert_eq!(fx.ids("Observation", "value-quantity=5").await, v(&["o1"]));
    assert_eq!(fx.ids("Observation", "value-quantity=6").await, v(&[]));
    assert_eq!(
        fx.ids("Observation", "value-quantity=5.40").await,
        v(&["o1"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=gt6").await,
        v(&["o2", "o3"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=ge7").await,
        v(&["o2", "o3"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=le3").await,
        v(&["o4", "o5"])
    );
    assert_eq!(
        fx.ids(
            "Observation",
            "value-quantity=lt6|http://unitsofmeasure.org|mg"
        )
        .await,
        v(&["o1", "o4", "o5"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=gt6||mg").await,
        v(&["o2"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=ap70").await,
        v(&["o3"])
    );
    assert_eq!(
        fx.ids("Observation", "value-quantity=ne5.4&value-quantity=lt6")
            .await,
        v(&["o4", "o5"])
    );
    assert_eq!(
        fx.ids("RiskAssessment", "probability=gt0.5").await,
        v(&["ra1"])
    );
    assert_eq!(
        fx.ids("RiskAssessment", "probability=0.7").await,
        v(&["ra1"])
    );
    assert_eq!(fx.ids("RiskAssessment", "probability=lt0.5").await, v(&[]));
    // combo-* parameters read the plain and the component rows.
    assert_eq!(
        fx.ids("Observation", "combo-code=9999-9,4444-4").await,
        v(&["o3", "o6"])
    );
    assert_eq!(
        fx.ids("Observation", "combo-value-quantity=gt100").await,
        v(&["o6"])
    );
    assert_eq!(
        fx.ids("Observation", "component-code=9999-9").await,
        v(&["o6"])
    );
    assert_eq!(
        fx.ids("Observation", "combo-code-value-quantity=9999-9$gt100")
            .await,
        v(&["o6"])
    );
    assert_eq!(
        fx.ids("Observation", "combo-code-value-quantity=9999-9$gt60")
            .await,
        v(&["o3", "o6"])
    );
    assert_eq!(
        fx.ids("Observation", "code-value-quantity=9999-9$gt100")
            .await,
        v(&[])
    );
    // Composites.
    assert_eq!(
        fx.ids(
            "Observation",
            "code-value-quantity=http://loinc.org|1234-5$gt6"
        )
        .await,
        v(&["o2"])
    );
    assert_eq!(
        fx.ids("Observation", "code-value-quantity=1234-5$lt6")
            .await,
        v(&["o1", "o4"])
    );
    assert_eq!(
        fx.ids("Observation", "code-value-quantity=9999-9$lt6")
            .await,
        v(&[])
    );
}

#[tokio::test]
async fn references_chains_and_reverse_chains() {
    let fx = world().await;
    assert_eq!(
        fx.ids("Observation", "subject=Patient/p1").await,
        v(&["o1", "o3"])
    );
    assert_eq!(fx.ids("Observation", "subject=p1").await, v(&["o1", "o3"]));
    assert_eq!(
        fx.ids("Observation", "subject:Patient=p1").await,
        v(&["o1", "o3"])
    );
    assert_eq!(fx.ids("Observation", "patient=p3").await, v(&["o4"]));
    assert_eq!(
        fx.ids("Observation", &format!("subject={BASE}/Patient/p3"))
            .await,
        v(&["o4"])
    );
    assert_eq!(
        fx.ids("Observation", "subject=http://other.org/fhir/Patient/p1")
            .await,
        v(&["o5"])
    );
    assert_eq!(
        fx.ids("Observation", "encounter:missing=false").await,
        v(&["o1"])
    );
    // Chains, typed and untyped, multi-level.
    assert_eq!(
        fx.ids("Observation", "subject:Patient.name=smi").await,
        v(&["o1", "o3"])
    );
    assert_eq!(
        fx.ids("Observation", "subject:Patient.name=sm").await,
        v(&["o1", "o2", "o3"])
    );
    assert_eq!(
        fx.ids("Observation", "patient.gender=female").await,
        v(&["o2"])
    );
    assert_eq!(
        fx.ids(
            "Observation",
            "subject:Patient.general-practitioner.name=who"
        )
        .await,
        v(&["o1", "o3"])
    );
    assert_eq!(
        fx.ids("Observation", "subject:Patient.organization.name=acme")
            .await,
        v(&["o2"])
    );
    assert_eq!(
        fx.ids("Encounter", "subject:Patient.birthdate=lt1985")
            .await,
        v(&["e1"])
    );
    // _has, and nested _has.
    assert_eq!(
        fx.ids("Patient", "_has:Observation:subject:code=1234-5")
            .await,
        v(&["p1", "p2", "p3"])
    );
    assert_eq!(
        fx.ids(
            "Patient",
            "_has:Observation:subject:code=http://loinc.org|1234-5"
        )
        .await,
        v(&["p1", "p2"])
    );
    assert_eq!(
        fx.ids("Patient", "_has:Observation:patient:date=2020")
            .await,
        v(&["p1"])
    );
    assert_eq!(
        fx.ids(
            "Practitioner",
            "_has:Patient:general-practitioner:_has:Observation:subject:code=9999-9"
        )
        .await,
        v(&["dr1"])
    );
    assert_eq!(
        fx.ids(
            "Practitioner",
            "_has:Patient:general-practitioner:_has:Observation:subject:code=8888-8"
        )
        .await,
        v(&[])
    );
    // Compartments.
    let comp = |t: &str| SearchScope {
        resource_types: vec![t.to_owned()],
        compartment: Some(("Patient".into(), "p1".into())),
        within: None,
    };
    let ids = |p: SearchPage| {
        let mut v: Vec<String> = p.matches.into_iter().map(|r| r.id).collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(fx
            .run(comp("Observation"), query(Some("Observation"), ""))
            .await
            .unwrap()),
        v(&["o1", "o3"])
    );
    assert_eq!(
        ids(fx
            .run(
                comp("Observation"),
                query(Some("Observation"), "code=9999-9")
            )
            .await
            .unwrap()),
        v(&["o3"])
    );
    assert_eq!(
        ids(fx
            .run(comp("Encounter"), query(Some("Encounter"), ""))
            .await
            .unwrap()),
        v(&["e1"])
    );
    let all = SearchScope {
        resource_types: vec![],
        compartment: Some(("Patient".into(), "p1".into())),
        within: None,
    };
    assert_eq!(
        ids(fx.run(all, query(None, "_count=100")).await.unwrap()),
        v(&["e1", "o1", "o3", "p1", "ra1"])
    );
    // The Encounter compartment: what refers to the encounter, and itself.
    let encounter = SearchScope {
        resource_types: vec![],
        compartment: Some(("Encounter".into(), "e1".into())),
        within: None,
    };
    assert_eq!(
        ids(fx.run(encounter, query(None, "_count=100")).await.unwrap()),
        v(&["e1", "o1"])
    );
    // Other compartments: the same id under another type is another
    // compartment (nothing here refers to a Device or an Encounter `p1`).
    let device = SearchScope {
        resource_types: vec!["Observation".into()],
        compartment: Some(("Device".into(), "p1".into())),
        within: None,
    };
    assert!(
        ids(fx
            .run(device, query(Some("Observation"), ""))
            .await
            .unwrap())
        .is_empty()
    );
    // A type without a compartment is refused.
    let bad = SearchScope {
        resource_types: vec!["Observation".into()],
        compartment: Some(("Observation".into(), "o1".into())),
        within: None,
    };
    assert!(matches!(
        fx.run(bad, query(Some("Observation"), "")).await,
        Err(SearchError::Invalid(_))
    ));
}

#[tokio::test]
async fn system_search_and_partitions() {
    let fx = world().await;
    // Another service's resources are invisible.
    fx.put_in(
        2,
        json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]}),
    )
    .await;
    let sys = |q: &str| query(None, q);
    let ids = |p: SearchPage| {
        let mut v: Vec<String> = p
            .matches
            .into_iter()
            .map(|r| format!("{}/{}", r.resource_type, r.id))
            .collect();
        v.sort();
        v
    };
    let all = ids(fx
        .run(SearchScope::default(), sys("_count=100"))
        .await
        .unwrap());
    assert_eq!(all.len(), 12, "{all:?}");
    assert_eq!(
        ids(fx.run(SearchScope::default(), sys("_id=p1")).await.unwrap()),
        vec!["Patient/p1".to_owned()]
    );
    assert_eq!(
        ids(fx
            .run(
                SearchScope::default(),
                sys("_type=Patient,Practitioner&name=w")
            )
            .await
            .unwrap()),
        vec!["Practitioner/dr1".to_owned()]
    );
    assert_eq!(
        ids(fx
            .run(SearchScope::default(), sys("_tag=vip"))
            .await
            .unwrap()),
        vec!["Patient/p1".to_owned()]
    );
    assert_eq!(fx.ids("Patient", "name=smith").await, v(&["p1"]));
    let total = fx
        .run(SearchScope::default(), sys("_summary=count"))
        .await
        .unwrap();
    assert_eq!(total.total, Some(12));
    assert!(total.matches.is_empty());
}

#[tokio::test]
async fn sorting_paging_and_totals() {
    let fx = world().await;
    assert_eq!(
        fx.ordered("Patient", "_sort=birthdate").await,
        ["p1", "p2", "p3"]
    );
    assert_eq!(
        fx.ordered("Patient", "_sort=-birthdate").await,
        ["p2", "p1", "p3"]
    );
    assert_eq!(
        fx.ordered("Patient", "_sort=family").await,
        ["p3", "p1", "p2"]
    );
    assert_eq!(
        fx.ordered("Patient", "_sort=gender,-birthdate").await,
        ["p2", "p1", "p3"]
    );
    assert_eq!(
        fx.ordered("Patient", "_sort=-_lastUpdated").await,
        ["p3", "p2", "p1"]
    );
    assert_eq!(
        fx.ordered("Observation", "_sort=value-quantity").await,
        ["o4", "o5", "o1", "o2", "o3"]
    );
    assert_eq!(
        fx.ordered("Observation", "_sort=-date&_count=2").await,
        ["o5", "o2"]
    );
    assert_eq!(
        fx.ordered("Observation", "_sort=code,_id").await,
        ["o1", "o2", "o4", "o5", "o3"]
    );

    // Walk every sort one resource per page: the same order as one page.
    for sort in [
        "",
        "_sort=birthdate",
        "_sort=-birthdate",
        "_sort=family",
        "_sort=-_lastUpdated",
        "_sort=gender,-birthdate",
        "_sort=_id",
    ] {
        let whole = fx.ordered("Patient", &format!("{sort}&_count=100")).await;
        let mut walked = Vec::new();
        let mut ct: Option<String> = None;
        loop {
            let q = match &ct {
                Some(t) => format!("{sort}&_count=1&ct={t}"),
                None => format!("{sort}&_count=1"),
            };
            let page = fx.page("Patient", &q).await;
            walked.extend(page.matches.into_iter().map(|r| r.id));
            match page.next {
                Some(t) => ct = Some(t),
                None => break,
            }
            assert!(walked.len() <= 3, "{sort}: {walked:?}");
        }
        assert_eq!(walked, whole, "{sort}");
    }

    // Paging is stable while resources are written between pages.
    let first = fx.page("Observation", "_count=2").await;
    assert_eq!(first.matches.len(), 2);
    let ct = first.next.clone().unwrap();
    fx.put(observation(
        "o6",
        "http://loinc.org",
        "1234-5",
        "Patient/p1",
        "2021",
        1.0,
        "mg",
    ))
    .await;
    fx.delete("Observation", "o3").await;
    let second = fx.page("Observation", &format!("_count=2&ct={ct}")).await;
    let second: Vec<String> = second.matches.into_iter().map(|r| r.id).collect();
    assert_eq!(second, ["o4", "o5"]);

    // Totals.
    let page = fx
        .page("Observation", "code=1234-5&_total=accurate&_count=1")
        .await;
    assert_eq!(page.total, Some(4));
    assert_eq!(page.matches.len(), 1);
    assert!(page.next.is_some());
    let page = fx.page("Observation", "_summary=count").await;
    assert_eq!(page.total, Some(5));
    assert!(page.matches.is_empty() && page.next.is_none());
    assert_eq!(fx.page("Observation", "_count=0").await.total, Some(5));
    assert_eq!(fx.page("Observation", "").await.total, None);

    // Bad tokens.
    for bad in ["zz", "00", "7b7d", &"ab".repeat(5000)] {
        let r = fx
            .run(
                SearchScope {
                    resource_types: vec!["Patient".into()],
                    compartment: None,
                    within: None,
                },
                query(Some("Patient"), &format!("ct={bad}")),
            )
            .await;
        assert!(matches!(r, Err(SearchError::Invalid(_))), "{bad}");
    }
    // A token from another sort is refused.
    let sorted = fx
        .page("Patient", "_sort=family&_count=1")
        .await
        .next
        .unwrap();
    let r = fx
        .run(
            SearchScope {
                resource_types: vec!["Patient".into()],
                compartment: None,
                within: None,
            },
            query(Some("Patient"), &format!("_count=1&ct={sorted}")),
        )
        .await;
    match r {
        Err(SearchError::Invalid(issues)) => {
            assert_eq!(issues[0].diagnostics, "The continuation token is invalid.")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn includes_and_revincludes() {
    let fx = world().await;
    let inc = |p: &SearchPage| {
        let mut v: Vec<String> = p
            .included
            .iter()
            .map(|r| format!("{}/{}", r.resource_type, r.id))
            .collect();
        v.sort();
        v
    };
    let p = fx
        .page("Observation", "_id=o1&_include=Observation:subject")
        .await;
    assert_eq!(inc(&p), ["Patient/p1"]);
    let p = fx
        .page(
            "Observation",
            "_id=o1,o3&_include=Observation:subject&_include=Observation:performer",
        )
        .await;
    assert_eq!(inc(&p), ["Patient/p1", "Practitioner/dr1"]);
    let p = fx
        .page("Observation", "_id=o1&_include=Observation:subject:Group")
        .await;
    assert!(p.included.is_empty());
    let p = fx.page("Observation", "_id=o1&_include=*").await;
    assert_eq!(inc(&p), ["Encounter/e1", "Patient/p1"]);
    // External references are not included.
    let p = fx
        .page("Observation", "_id=o5&_include=Observation:subject")
        .await;
    assert!(p.included.is_empty());
    let p = fx
        .page("Observation", "_id=o4&_include=Observation:subject")
        .await;
    assert_eq!(inc(&p), ["Patient/p3"]);
    // _include:iterate follows the included resources' references.
    let p = fx
        .page(
            "Observation",
            "_id=o2&_include=Observation:subject&_include:iterate=Patient:organization",
        )
        .await;
    assert_eq!(inc(&p), ["Organization/org1", "Patient/p2"]);
    let p = fx
        .page(
            "Observation",
            "_id=o2&_include=Observation:subject&_include=Patient:organization",
        )
        .await;
    assert_eq!(inc(&p), ["Patient/p2"]);
    // _revinclude, and with :iterate.
    let p = fx
        .page("Patient", "_id=p1&_revinclude=Observation:subject")
        .await;
    assert_eq!(inc(&p), ["Observation/o1", "Observation/o3"]);
    let p = fx
        .page("Practitioner", "_revinclude=Patient:general-practitioner&_revinclude:iterate=Observation:subject:Patient")
        .await;
    assert_eq!(inc(&p), ["Observation/o1", "Observation/o3", "Patient/p1"]);
    // Deleted resources are never included.
    fx.delete("Observation", "o3").await;
    let p = fx
        .page("Patient", "_id=p1&_revinclude=Observation:subject")
        .await;
    assert_eq!(inc(&p), ["Observation/o1"]);
}

#[tokio::test]
async fn updates_and_deletes_keep_the_index_exact() {
    let fx = world().await;
    let before = fx.count_rows().await;
    assert!(before > 50, "{before}");
    // An update replaces the index rows; a delete removes them.
    fx.put(json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Jones"}], "gender": "other"})).await;
    assert_eq!(fx.ids("Patient", "name=smith").await, v(&[]));
    assert_eq!(fx.ids("Patient", "name=jones").await, v(&["p1"]));
    assert_eq!(fx.ids("Patient", "gender=male").await, v(&["p3"]));
    assert_eq!(fx.ids("Patient", "_tag=vip").await, v(&[]));
    fx.delete("Patient", "p2").await;
    assert_eq!(fx.ids("Patient", "").await, v(&["p1", "p3"]));
    assert_eq!(fx.ids("Patient", "_id=p2").await, v(&[]));
    assert_eq!(
        fx.ids("Observation", "subject:Patient.gender=female").await,
        v(&[])
    );
    // Removing every resource leaves no index row behind.
    for (t, id) in [
        ("Practitioner", "dr1"),
        ("Organization", "org1"),
        ("Patient", "p1"),
        ("Patient", "p3"),
        ("Encounter", "e1"),
        ("Observation", "o1"),
        ("Observation", "o2"),
        ("Observation", "o3"),
        ("Observation", "o4"),
        ("Observation", "o5"),
        ("RiskAssessment", "ra1"),
    ] {
        fx.delete(t, id).await;
    }
    assert_eq!(fx.count_rows().await, 0);
    assert_eq!(fx.page("Patient", "_summary=count").await.total, Some(0));
}

#[tokio::test]
async fn many_intermediate_ids_in_chains_and_has() {
    // 1,500 patients named "Many", each with one observation: chained and
    // reverse-chained searches go through sub-selects, never id lists.
    let fx = Fx::new().await;
    fx.store
        .write(|tx| {
            for i in 0..1500i64 {
                put_tx(tx, SVC, &json!({"resourceType": "Patient", "id": format!("m{i}"), "name": [{"family": "Many"}]}), i)?;
                put_tx(tx, SVC, &observation(&format!("x{i}"), "http://loinc.org", "1111-1", &format!("Patient/m{i}"), "2021", 1.0, "mg"), i)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    // PostgreSQL plans by table statistics; a deployment has them (autovacuum
    // analyzes growing tables), a table filled a moment ago does not yet.
    fx.store
        .write(|tx| match tx.dialect() {
            hale_store::Dialect::Postgres => tx.batch("ANALYZE"),
            hale_store::Dialect::Sqlite => Ok(()),
        })
        .await
        .unwrap();
    let p = fx
        .page(
            "Observation",
            "subject:Patient.name=many&_total=accurate&_count=5",
        )
        .await;
    assert_eq!(p.total, Some(1500));
    assert_eq!(p.matches.len(), 5);
    let p = fx
        .page(
            "Patient",
            "_has:Observation:subject:code=1111-1&_total=accurate&_count=5",
        )
        .await;
    assert_eq!(p.total, Some(1500));
}

/// A lone index criterion sorted by rid is cut to one page inside the index
/// set: pages still hold every match once (a resource matching through two
/// codings included), end without `next`, and stay exact across updates.
#[tokio::test]
async fn a_lone_index_criterion_pages_exactly() {
    let fx = Fx::new().await;
    for i in 0..7 {
        let mut coding = vec![json!({"system": "http://loinc.org", "code": "8867-4"})];
        if i % 3 == 0 {
            // The same code in a second system: two index rows, one match.
            coding.push(json!({"system": "urn:other", "code": "8867-4"}));
        }
        fx.put(
            json!({"resourceType": "Observation", "id": format!("hr{i}"), "status": "final",
            "code": {"coding": coding}}),
        )
        .await;
        fx.put(
            json!({"resourceType": "Observation", "id": format!("bw{i}"), "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}}),
        )
        .await;
    }
    for (q, expected) in [
        ("code=8867-4", 7),
        ("code=http://loinc.org|8867-4", 7),
        ("code=urn:other|8867-4", 3),
        ("code=8867-4,29463-7", 14),
    ] {
        let mut walked = Vec::new();
        let mut ct: Option<String> = None;
        loop {
            let page = match &ct {
                Some(t) => {
                    fx.page("Observation", &format!("{q}&_count=2&ct={t}"))
                        .await
                }
                None => fx.page("Observation", &format!("{q}&_count=2")).await,
            };
            assert!(page.matches.len() <= 2);
            walked.extend(page.matches.into_iter().map(|r| r.id));
            if walked.len() == 2 && ct.is_none() && expected > 4 {
                // An update between pages moves bw6 to a new rid, after the
                // cursor: it may show up twice, as keyset paging allows.
                fx.put(
                    json!({"resourceType": "Observation", "id": "bw6", "status": "amended",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}}),
                )
                .await;
            }
            match page.next {
                Some(t) => ct = Some(t),
                None => break,
            }
            assert!(walked.len() <= 20, "{q}: {walked:?}");
        }
        let mut unique = walked.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), expected, "{q}: {walked:?}");
        assert_eq!(
            fx.ids("Observation", q).await.len(),
            expected,
            "{q}: one page of 1000"
        );
    }
}

/// `export::page` walks a type in `(last_updated, rid)` order, `limit` at a
/// time, from a cursor: every current resource once, pages splitting the
/// resources of one instant, `since` and `till` bounding the instants.
#[tokio::test]
async fn export_pages_split_one_instant_without_loss() {
    use hale_fhir_store::export::{self, Cursor};
    let fx = Fx::new().await;
    // Instants 10, 20 (four resources), 30; another type at 20.
    let writes: Vec<(String, i64)> = [
        ("a", 10),
        ("b", 20),
        ("c", 20),
        ("d", 20),
        ("e", 20),
        ("f", 30),
    ]
    .iter()
    .map(|(id, t)| (id.to_string(), *t))
    .collect();
    fx.store
        .write(move |tx| {
            for (id, t) in &writes {
                put_tx(tx, SVC, &json!({"resourceType": "Patient", "id": id}), *t)?;
            }
            put_tx(
                tx,
                SVC,
                &json!({"resourceType": "Group", "id": "g", "type": "person", "actual": true}),
                20,
            )?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let walk = |since: i64, till: i64, limit: i64| {
        let store = &fx.store;
        async move {
            let mut from = Cursor::start(since);
            let mut seen = Vec::new();
            loop {
                let page = store
                    .read(move |tx| export::page(tx, SVC, "Patient", from, till, limit))
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                from = Cursor::after(last);
                seen.extend(page.iter().map(|r| r.id.clone()));
            }
            seen
        }
    };
    for limit in [1, 2, 3, 10] {
        assert_eq!(
            walk(0, 100, limit).await,
            ["a", "b", "c", "d", "e", "f"],
            "limit {limit}"
        );
    }
    assert_eq!(walk(10, 100, 2).await, ["b", "c", "d", "e", "f"]);
    assert_eq!(walk(0, 20, 3).await, ["a", "b", "c", "d", "e"]);
}
