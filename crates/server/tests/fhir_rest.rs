//! The FHIR service's REST interactions over HTTPS with a real token and role
//! assignment: create, read, vread, update, delete (soft and hard), history,
//! patch, bundles, `$validate`, `/metadata`, and each bad input answered with
//! an OperationOutcome that changes nothing.

mod common;

use common::fhir::{Fhir, assert_outcome};
use reqwest::Method;
use serde_json::{Value, json};

fn patient(family: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:oid:1.2.36.146.595.217.0.1", "value": family }],
        "name": [{ "family": family, "given": ["Ann"] }],
        "gender": "female",
        "birthDate": "1974-12-25"
    })
}

#[tokio::test]
async fn create_read_update_delete_and_history() {
    let f = Fhir::start().await;
    let created = f.post("Patient", &patient("Chalmers")).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "server ids are GUIDs: {id}"
    );
    assert_eq!(created.body["meta"]["versionId"], "1");
    assert!(
        created.body["meta"]["lastUpdated"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    assert_eq!(created.header("etag"), "W/\"1\"");
    assert_eq!(
        created.header("location"),
        format!("{}/Patient/{id}/_history/1", f.base)
    );
    assert!(created.header("last-modified").ends_with(" GMT"));
    assert_eq!(created.body["name"][0]["family"], "Chalmers");

    let read = f.get(&format!("Patient/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body, "read returns what create stored");
    assert_eq!(read.header("etag"), "W/\"1\"");

    // Update with the right If-Match.
    let mut changed = read.body.clone();
    changed["gender"] = json!("other");
    let updated = f
        .call(
            Method::PUT,
            &format!("Patient/{id}"),
            Some(&changed),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["meta"]["versionId"], "2");
    assert_eq!(updated.header("etag"), "W/\"2\"");
    assert_eq!(updated.body["gender"], "other");

    // A stale If-Match is refused and changes nothing.
    changed["gender"] = json!("male");
    let stale = f
        .call(
            Method::PUT,
            &format!("Patient/{id}"),
            Some(&changed),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_outcome(&stale, 412, "conflict");
    assert!(
        stale.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("W/\"1\"")
    );
    assert_eq!(
        f.get(&format!("Patient/{id}")).await.body["gender"],
        "other"
    );

    // vread of both versions; an unknown version is 404.
    let v1 = f.get(&format!("Patient/{id}/_history/1")).await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.body["gender"], "female");
    assert_eq!(
        f.get(&format!("Patient/{id}/_history/2")).await.body["gender"],
        "other"
    );
    assert_outcome(
        &f.get(&format!("Patient/{id}/_history/9")).await,
        404,
        "not-found",
    );

    // If-None-Match on the current version: 304.
    let unchanged = f
        .call(
            Method::GET,
            &format!("Patient/{id}"),
            None,
            &[("if-none-match", "W/\"2\"")],
        )
        .await;
    assert_eq!(unchanged.status, 304);

    // Soft delete: 204, then 410 with the delete's ETag; history keeps all.
    let deleted = f
        .call(Method::DELETE, &format!("Patient/{id}"), None, &[])
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.header("etag"), "W/\"3\"");
    let gone = f.get(&format!("Patient/{id}")).await;
    assert_outcome(&gone, 410, "deleted");
    assert_eq!(gone.header("etag"), "W/\"3\"");
    // Deleting again is fine and writes nothing.
    assert_eq!(
        f.call(Method::DELETE, &format!("Patient/{id}"), None, &[])
            .await
            .status,
        204
    );

    let history = f.get(&format!("Patient/{id}/_history")).await;
    assert_eq!(history.status, 200);
    assert_eq!(history.body["type"], "history");
    let entries = history.body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{}", history.body);
    assert_eq!(entries[0]["request"]["method"], "DELETE");
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[1]["resource"]["meta"]["versionId"], "2");
    assert_eq!(entries[2]["request"]["method"], "POST");
    assert_eq!(entries[2]["response"]["status"], "201");

    // Paged history: one version a page, following `next`.
    let mut url = format!("Patient/{id}/_history?_count=1");
    let mut versions = Vec::new();
    for _ in 0..5 {
        let page = f.get(&url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for e in page.body["entry"].as_array().unwrap() {
            versions.push(e["response"]["etag"].as_str().unwrap().to_owned());
        }
        let next = page.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
        match next {
            Some(n) => url = n.strip_prefix(&format!("{}/", f.base)).unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(versions, ["W/\"3\"", "W/\"2\"", "W/\"1\""]);

    // Update revives a deleted resource.
    let mut again = patient("Chalmers");
    again["id"] = json!(id);
    let revived = f.put(&format!("Patient/{id}"), &again).await;
    assert_eq!(revived.status, 201, "{}", revived.body);
    assert_eq!(revived.body["meta"]["versionId"], "4");

    // Hard delete: every version gone.
    let purged = f
        .call(
            Method::DELETE,
            &format!("Patient/{id}?hardDelete=true"),
            None,
            &[],
        )
        .await;
    assert_eq!(purged.status, 204);
    assert_outcome(&f.get(&format!("Patient/{id}")).await, 404, "not-found");
    assert_outcome(
        &f.get(&format!("Patient/{id}/_history/1")).await,
        404,
        "not-found",
    );
    assert_outcome(
        &f.get(&format!("Patient/{id}/_history")).await,
        404,
        "not-found",
    );
}

#[tokio::test]
async fn create_on_update_prefer_and_request_ids() {
    let f = Fhir::start().await;
    let mut p = patient("Client");
    p["id"] = json!("my-id.1");
    let created = f.put("Patient/my-id.1", &p).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["id"], "my-id.1");
    assert_eq!(
        created.header("location"),
        format!("{}/Patient/my-id.1/_history/1", f.base)
    );

    let minimal = f
        .call(
            Method::POST,
            "Patient",
            Some(&patient("Min")),
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!(minimal.status, 201);
    assert_eq!(minimal.body, Value::String(String::new()));
    assert!(minimal.header("location").contains("/Patient/"));

    let oo = f
        .call(
            Method::POST,
            "Patient",
            Some(&patient("OO")),
            &[
                ("prefer", "return=OperationOutcome"),
                ("x-request-id", "req-42"),
            ],
        )
        .await;
    assert_eq!(oo.status, 201);
    assert_eq!(oo.body["resourceType"], "OperationOutcome");
    assert_eq!(oo.body["id"], "req-42");
    assert_eq!(oo.header("x-request-id"), "req-42");

    let missing = f
        .call(
            Method::GET,
            "Patient/nope",
            None,
            &[("x-request-id", "req-43")],
        )
        .await;
    assert_outcome(&missing, 404, "not-found");
    assert_eq!(missing.body["id"], "req-43");
    assert_eq!(
        missing.body["issue"][0]["diagnostics"],
        "Resource type 'Patient' with id 'nope' couldn't be found."
    );
}

/// What was sent (name, method, path, body, content type) and the status
/// and issue code expected.
type BadCase = (
    &'static str,
    Method,
    &'static str,
    Vec<u8>,
    &'static str,
    u16,
    &'static str,
);

/// Every bad input gets an OperationOutcome and stores nothing.
#[tokio::test]
async fn bad_input_changes_nothing() {
    let f = Fhir::start().await;
    let cases: Vec<BadCase> = vec![
        ("malformed JSON", Method::POST, "Patient", b"{\"resourceType\": ".to_vec(), "application/fhir+json", 400, "invalid"),
        ("not a resource", Method::POST, "Patient", b"[1,2]".to_vec(), "application/fhir+json", 400, "invalid"),
        ("empty body", Method::POST, "Patient", Vec::new(), "application/fhir+json", 400, "invalid"),
        ("wrong type for the URL", Method::POST, "Patient", patient("X").to_string().replace("\"Patient\"", "\"Observation\"").into_bytes(), "application/fhir+json", 400, "invalid"),
        ("unknown element", Method::POST, "Patient", json!({"resourceType": "Patient", "colour": "blue"}).to_string().into_bytes(), "application/fhir+json", 400, "structure"),
        ("bad date", Method::POST, "Patient", json!({"resourceType": "Patient", "birthDate": "1974-13-45"}).to_string().into_bytes(), "application/fhir+json", 400, "value"),
        ("bad reference", Method::POST, "Observation", json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Nope/1"}}).to_string().into_bytes(), "application/fhir+json", 400, "value"),
        ("required element missing", Method::POST, "Observation", json!({"resourceType": "Observation", "code": {"text": "x"}}).to_string().into_bytes(), "application/fhir+json", 400, "required"),
        ("XML", Method::POST, "Patient", b"<Patient/>".to_vec(), "application/fhir+xml", 415, "not-supported"),
        ("invalid id", Method::PUT, "Patient/bad$id", patient("X").to_string().into_bytes(), "application/fhir+json", 400, "invalid"),
        ("id mismatch", Method::PUT, "Patient/a", json!({"resourceType": "Patient", "id": "b"}).to_string().into_bytes(), "application/fhir+json", 400, "invalid"),
        ("update without id", Method::PUT, "Patient/a", json!({"resourceType": "Patient"}).to_string().into_bytes(), "application/fhir+json", 400, "invalid"),
        ("unknown type", Method::POST, "Spaceship", json!({"resourceType": "Spaceship"}).to_string().into_bytes(), "application/fhir+json", 404, "not-supported"),
        ("oversize", Method::POST, "Patient", vec![b' '; 17 * 1024 * 1024], "application/fhir+json", 413, "too-costly"),
        ("bundle of the wrong type", Method::POST, "", json!({"resourceType": "Bundle", "type": "collection"}).to_string().into_bytes(), "application/fhir+json", 400, "invalid"),
        ("not a bundle", Method::POST, "", patient("X").to_string().into_bytes(), "application/fhir+json", 400, "invalid"),
        ("a property twice", Method::POST, "Patient", br#"{"resourceType":"Patient","gender":"male","gender":"female"}"#.to_vec(), "application/fhir+json", 400, "invalid"),
        ("unknown bundle element", Method::POST, "", json!({"resourceType": "Bundle", "type": "transaction", "foo": 1, "entry": [{"resource": patient("X"), "request": {"method": "POST", "url": "Patient"}}]}).to_string().into_bytes(), "application/fhir+json", 400, "structure"),
        ("unknown entry element", Method::POST, "", json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": patient("X"), "request": {"method": "POST", "url": "Patient"}, "bar": true}]}).to_string().into_bytes(), "application/fhir+json", 400, "structure"),
        ("code outside its required value set", Method::POST, "Patient", json!({"resourceType": "Patient", "gender": "notacode"}).to_string().into_bytes(), "application/fhir+json", 400, "code-invalid"),
        ("code outside a datatype's required value set", Method::POST, "Patient", json!({"resourceType": "Patient", "name": [{"use": "bogususe", "family": "X"}]}).to_string().into_bytes(), "application/fhir+json", 400, "code-invalid"),
        ("status outside its value set", Method::POST, "Observation", json!({"resourceType": "Observation", "status": "notastatus", "code": {"text": "x"}}).to_string().into_bytes(), "application/fhir+json", 400, "code-invalid"),
    ];
    for (what, method, path, body, ct, status, code) in cases {
        let reply = f.raw(method, path, Some(body), ct, &[]).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_outcome(&reply, status, code);
    }
    let everything = f.get("_history").await;
    assert_eq!(everything.status, 200);
    assert!(
        everything.body.get("entry").is_none(),
        "nothing stored: {}",
        everything.body
    );
}

#[tokio::test]
async fn json_patch_and_fhirpath_patch() {
    let f = Fhir::start().await;
    let p = f.create(&patient("Patchy")).await;
    let id = p["id"].as_str().unwrap();

    let ops = json!([
        { "op": "replace", "path": "/gender", "value": "male" },
        { "op": "add", "path": "/name/0/given/-", "value": "Beth" }
    ]);
    let patched = f
        .raw(
            Method::PATCH,
            &format!("Patient/{id}"),
            Some(ops.to_string().into_bytes()),
            "application/json-patch+json",
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["gender"], "male");
    assert_eq!(patched.body["name"][0]["given"], json!(["Ann", "Beth"]));
    assert_eq!(patched.body["meta"]["versionId"], "2");

    // A patch that leaves a code outside its required value set is refused.
    let bad = json!([{ "op": "replace", "path": "/gender", "value": "notacode" }]);
    let refused = f
        .raw(
            Method::PATCH,
            &format!("Patient/{id}"),
            Some(bad.to_string().into_bytes()),
            "application/json-patch+json",
            &[],
        )
        .await;
    assert_outcome(&refused, 400, "code-invalid");
    assert_eq!(
        f.get(&format!("Patient/{id}")).await.body["meta"]["versionId"],
        "2"
    );

    let fhirpath = json!({ "resourceType": "Parameters", "parameter": [{ "name": "operation", "part": [
        { "name": "type", "valueCode": "add" },
        { "name": "path", "valueString": "Patient" },
        { "name": "name", "valueString": "active" },
        { "name": "value", "valueBoolean": true } ] }] });
    let patched = f
        .call(
            Method::PATCH,
            &format!("Patient/{id}"),
            Some(&fhirpath),
            &[],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["active"], true);
    assert_eq!(patched.body["meta"]["versionId"], "3");

    // A patch that makes the resource invalid, a failing test op, a stale
    // If-Match and a missing resource change nothing.
    let invalid = json!([{ "op": "add", "path": "/colour", "value": "blue" }]);
    let failing = json!([{ "op": "test", "path": "/gender", "value": "female" }]);
    for (what, body, headers, status) in [
        ("invalid result", invalid.clone(), vec![], 400),
        ("failing test", failing, vec![], 422),
        (
            "stale If-Match",
            json!([{ "op": "remove", "path": "/active" }]),
            vec![("if-match", "W/\"1\"")],
            412,
        ),
    ] {
        let reply = f
            .raw(
                Method::PATCH,
                &format!("Patient/{id}"),
                Some(body.to_string().into_bytes()),
                "application/json-patch+json",
                &headers,
            )
            .await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
    }
    let missing = f
        .raw(
            Method::PATCH,
            "Patient/nobody",
            Some(invalid.to_string().into_bytes()),
            "application/json-patch+json",
            &[],
        )
        .await;
    assert_outcome(&missing, 404, "not-found");
    let now = f.get(&format!("Patient/{id}")).await;
    assert_eq!(now.body["meta"]["versionId"], "3");
}

/// The checks after a failed transaction: the patient still has its two
/// versions, and the patient the transaction would have created is not there.
async fn nothing_of_failed(f: &Fhir, patient_id: &str) {
    let history = f.get(&format!("Patient/{patient_id}/_history")).await;
    assert_eq!(
        history.body["entry"].as_array().unwrap().len(),
        2,
        "nothing of the failed transaction (the patient has two versions): {}",
        history.body
    );
    let never = f.get("Patient?family=Never&_total=accurate").await;
    assert_eq!(never.body["total"], 0, "{}", never.body);
}

#[tokio::test]
async fn transactions_are_atomic_and_resolve_references() {
    let f = Fhir::start().await;
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            { "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
              "resource": patient("Tx"),
              "request": { "method": "POST", "url": "Patient" } },
            { "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
              "resource": { "resourceType": "Observation", "status": "final",
                            "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
                            "subject": { "reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a" },
                            "valueQuantity": { "value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" } },
              "request": { "method": "POST", "url": "Observation" } }
        ]
    });
    let reply = f.post("", &bundle).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["type"], "transaction-response");
    let entries = reply.body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["response"]["status"], "201 Created");
    let patient_id = entries[0]["resource"]["id"].as_str().unwrap();
    let obs = &entries[1]["resource"];
    assert_eq!(obs["subject"]["reference"], format!("Patient/{patient_id}"));
    let stored = f
        .get(&format!("Observation/{}", obs["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        stored.body["subject"]["reference"],
        format!("Patient/{patient_id}")
    );

    // A transaction's searches see its own writes, and an update moves the
    // search index: the index rows of all entries are written together,
    // before any entry searches and before the commit.
    let moving = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            { "resource": { "resourceType": "Patient", "id": patient_id, "name": [{ "family": "Moved" }] },
              "request": { "method": "PUT", "url": format!("Patient/{patient_id}") } },
            { "resource": { "resourceType": "Observation", "status": "final",
                            "code": { "coding": [{ "system": "http://loinc.org", "code": "2339-0" }] },
                            "subject": { "reference": format!("Patient/{patient_id}") } },
              "request": { "method": "POST", "url": "Observation" } },
            { "request": { "method": "GET", "url": "Patient?family=Moved" } },
            { "request": { "method": "GET", "url": "Patient?family=Tx" } },
            { "request": { "method": "GET", "url": format!("Observation?subject=Patient/{patient_id}&code=2339-0") } }
        ]
    });
    let reply = f.post("", &moving).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let found = |i: usize| {
        reply.body["entry"][i]["resource"]["entry"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!((found(2), found(3), found(4)), (1, 0, 1), "{}", reply.body);
    for (query, n) in [
        ("Patient?family=Moved", 1),
        ("Patient?family=Tx", 0),
        ("Observation?code=2339-0", 1),
        ("Observation?code=8867-4", 1),
    ] {
        let page = f.get(query).await;
        assert_eq!(
            page.body["entry"].as_array().map_or(0, Vec::len),
            n,
            "{query}: {}",
            page.body
        );
    }

    // Plain creates are written 64 to a statement: each answer, each stored
    // version and each index row belongs to its own entry.
    let many: Vec<Value> = (0..130)
        .map(|n| json!({ "resource": patient(&format!("Many{n}")), "request": { "method": "POST", "url": "Patient" } }))
        .collect();
    let reply = f
        .post(
            "",
            &json!({ "resourceType": "Bundle", "type": "transaction", "entry": many }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for n in [0usize, 63, 64, 65, 127, 128, 129] {
        let entry = &reply.body["entry"][n];
        assert_eq!(entry["response"]["status"], "201 Created");
        assert_eq!(entry["resource"]["name"][0]["family"], format!("Many{n}"));
        let id = entry["resource"]["id"].as_str().unwrap();
        let found = f.get(&format!("Patient?family:exact=Many{n}")).await;
        assert_eq!(
            found.body["entry"][0]["resource"]["id"], id,
            "{n}: {}",
            found.body
        );
        assert_eq!(found.body["entry"].as_array().unwrap().len(), 1);
        assert_eq!(
            f.get(&format!("Patient/{id}")).await.body["name"][0]["family"],
            format!("Many{n}")
        );
    }

    // One bad entry (a stale ifMatch) rolls back the whole transaction.
    let failing = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            { "resource": patient("Never"), "request": { "method": "POST", "url": "Patient" } },
            { "resource": { "resourceType": "Patient", "id": patient_id, "gender": "male" },
              "request": { "method": "PUT", "url": format!("Patient/{patient_id}"), "ifMatch": "W/\"7\"" } }
        ]
    });
    let reply = f.post("", &failing).await;
    assert_outcome(&reply, 412, "conflict");
    nothing_of_failed(&f, patient_id).await;

    // A structurally invalid entry fails before anything is written.
    let invalid = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            { "resource": patient("Never"), "request": { "method": "POST", "url": "Patient" } },
            { "resource": { "resourceType": "Patient", "birthDate": "yesterday" }, "request": { "method": "POST", "url": "Patient" } }
        ]
    });
    let reply = f.post("", &invalid).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("entry 1")
    );
    nothing_of_failed(&f, patient_id).await;

    // Over 500 entries is refused.
    let big: Vec<Value> = (0..501)
        .map(|_| json!({ "resource": patient("Big"), "request": { "method": "POST", "url": "Patient" } }))
        .collect();
    let reply = f
        .post(
            "",
            &json!({ "resourceType": "Bundle", "type": "batch", "entry": big }),
        )
        .await;
    assert_outcome(&reply, 400, "invalid");
    assert!(
        reply.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("500")
    );
}

#[tokio::test]
async fn batches_answer_each_entry() {
    let f = Fhir::start().await;
    let existing = f.create(&patient("Batch")).await;
    let id = existing["id"].as_str().unwrap();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            { "resource": patient("B1"), "request": { "method": "POST", "url": "Patient" } },
            { "request": { "method": "GET", "url": format!("Patient/{id}") } },
            { "request": { "method": "GET", "url": "Patient/missing" } },
            { "resource": { "resourceType": "Patient", "birthDate": "bad" }, "request": { "method": "POST", "url": "Patient" } },
            { "request": { "method": "DELETE", "url": format!("Patient/{id}") } }
        ]
    });
    let reply = f.post("", &bundle).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["type"], "batch-response");
    let e = reply.body["entry"].as_array().unwrap();
    assert_eq!(e[0]["response"]["status"], "201 Created");
    assert_eq!(e[1]["response"]["status"], "200 OK");
    assert_eq!(e[1]["resource"]["id"], id);
    assert_eq!(e[2]["response"]["status"], "404 Not Found");
    assert_eq!(
        e[2]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(e[3]["response"]["status"], "400 Bad Request");
    assert_eq!(e[4]["response"]["status"], "204 No Content");
    assert_eq!(f.get(&format!("Patient/{id}")).await.status, 410);
}

#[tokio::test]
async fn validate_and_capabilities() {
    let f = Fhir::start().await;
    let ok = f.post("Patient/$validate", &patient("V")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["issue"][0]["severity"], "information");
    let bad = f
        .post(
            "Patient/$validate",
            &json!({ "resourceType": "Patient", "gender": 3 }),
        )
        .await;
    assert_eq!(bad.status, 200, "$validate answers 200 even when invalid");
    assert_eq!(bad.body["issue"][0]["severity"], "error");
    assert!(
        f.get("Patient/_history").await.body.get("entry").is_none(),
        "$validate stores nothing"
    );

    let metadata = f.get("metadata").await;
    assert_eq!(metadata.status, 200);
    let rest = &metadata.body["rest"][0];
    let patient = rest["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    assert!(
        patient["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "birthdate")
    );
    assert_eq!(patient["versioning"], "versioned");
    let system: Vec<&str> = rest["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(system.contains(&"transaction") && system.contains(&"batch"));
    assert_eq!(
        metadata.body["patchFormat"],
        json!(["application/fhir+json", "application/json-patch+json"])
    );
}

/// History `_at`: the versions that were current at some point of the
/// period the value names (an instant to the millisecond, or a whole day).
#[tokio::test]
async fn history_at_a_point_in_time() {
    let f = Fhir::start().await;
    let created = f.create(&patient("Before")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut stamps = vec![created["meta"]["lastUpdated"].as_str().unwrap().to_owned()];
    for family in ["During", "After"] {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut body = patient(family);
        body["id"] = json!(id);
        let updated = f.put(&format!("Patient/{id}"), &body).await;
        assert_eq!(updated.status, 200, "{}", updated.body);
        stamps.push(
            updated.body["meta"]["lastUpdated"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let versions_at = |at: String| {
        let f = &f;
        let id = id.clone();
        async move {
            let reply = f
                .get(&format!(
                    "Patient/{id}/_history?_at={}",
                    at.replace('+', "%2B")
                ))
                .await;
            assert_eq!(reply.status, 200, "{at}: {}", reply.body);
            reply.body["entry"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .map(|e| {
                            e["resource"]["meta"]["versionId"]
                                .as_str()
                                .unwrap()
                                .to_owned()
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    for (v, stamp) in stamps.iter().enumerate() {
        assert_eq!(
            versions_at(stamp.clone()).await,
            vec![(v + 1).to_string()],
            "at {stamp}"
        );
    }
    let day = &stamps[0][..10];
    assert_eq!(versions_at(day.to_owned()).await, ["3", "2", "1"]);
    assert_eq!(versions_at("1999-01-01".into()).await, Vec::<String>::new());
    assert_eq!(versions_at("2999-01-01".into()).await, ["3"]);
    // Type history too.
    let typed = f
        .get(&format!(
            "Patient/_history?_at={}",
            stamps[1].replace('+', "%2B")
        ))
        .await;
    assert_eq!(
        typed.body["entry"].as_array().map(Vec::len),
        Some(1),
        "{}",
        typed.body
    );
    assert_outcome(
        &f.get(&format!("Patient/{id}/_history?_at=soon")).await,
        400,
        "invalid",
    );
}

/// Conditional references (`Patient?identifier=…`) name the one resource
/// their search matches, in transactions, batches and single writes; none or
/// several matches refuse the write. A transaction changes each resource
/// once, and a bundle's fullUrls are its own.
#[tokio::test]
async fn conditional_references_and_bundle_identities() {
    let f = Fhir::start().await;
    let mut one = patient("Cref");
    one["identifier"] = json!([{ "system": "urn:cref", "value": "1" }]);
    let target = f.create(&one).await;
    let target_id = target["id"].as_str().unwrap();
    for _ in 0..2 {
        let mut twin = patient("Twin");
        twin["identifier"] = json!([{ "system": "urn:cref", "value": "twin" }]);
        f.create(&twin).await;
    }
    let observation = |reference: &str| {
        json!({ "resourceType": "Observation", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
                "subject": { "reference": reference } })
    };
    let entry = |reference: &str| json!({ "resource": observation(reference), "request": { "method": "POST", "url": "Observation" } });
    let bundle = |kind: &str, entries: Vec<Value>| json!({ "resourceType": "Bundle", "type": kind, "entry": entries });

    // A transaction: the reference is rewritten, and so is the index.
    let reply = f
        .post(
            "",
            &bundle("transaction", vec![entry("Patient?identifier=urn:cref|1")]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let wanted = format!("Patient/{target_id}");
    assert_eq!(
        reply.body["entry"][0]["resource"]["subject"]["reference"],
        wanted
    );
    let found = f
        .get(&format!("Observation?subject={wanted}&_total=accurate"))
        .await;
    assert_eq!(found.body["total"], 1, "{}", found.body);

    // A single create does the same.
    let reply = f
        .post("Observation", &observation("Patient?identifier=urn:cref|1"))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["subject"]["reference"], wanted);

    // No match, several matches: refused, nothing stored.
    for (reference, words) in [
        ("Patient?identifier=urn:cref|none", "does not resolve"),
        ("Patient?identifier=urn:cref|twin", "multiple resources"),
    ] {
        let reply = f
            .post(
                "",
                &bundle(
                    "transaction",
                    vec![
                        json!({ "resource": patient("Never"), "request": { "method": "POST", "url": "Patient" } }),
                        entry(reference),
                    ],
                ),
            )
            .await;
        assert_outcome(&reply, 400, "invalid");
        let said = reply.body["issue"][0]["diagnostics"].as_str().unwrap();
        assert!(said.contains(words) && said.contains(reference), "{said}");
        let reply = f.post("Observation", &observation(reference)).await;
        assert_outcome(&reply, 400, "invalid");
        // A batch answers the entry alone.
        let reply = f.post("", &bundle("batch", vec![entry(reference)])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            reply.body["entry"][0]["response"]["status"], "400 Bad Request",
            "{}",
            reply.body
        );
    }
    let never = f.get("Patient?family=Never&_total=accurate").await;
    assert_eq!(never.body["total"], 0, "{}", never.body);
    let all = f.get("Observation?_total=accurate").await;
    assert_eq!(all.body["total"], 2, "{}", all.body);

    // A criterion naming an unknown type is refused by validation.
    let reply = f.post("Observation", &observation("Nothing?x=1")).await;
    assert_outcome(&reply, 400, "value");

    // One resource written twice in a transaction: refused, nothing written.
    let same = |second: Value| {
        bundle(
            "transaction",
            vec![
                json!({ "resource": { "resourceType": "Patient", "id": "same1", "gender": "male" },
                        "request": { "method": "PUT", "url": "Patient/same1" } }),
                second,
            ],
        )
    };
    for second in [
        json!({ "resource": { "resourceType": "Patient", "id": "same1", "gender": "female" },
                "request": { "method": "PUT", "url": "Patient/same1" } }),
        json!({ "request": { "method": "DELETE", "url": "Patient/same1" } }),
    ] {
        let reply = f.post("", &same(second)).await;
        assert_outcome(&reply, 400, "invalid");
        assert!(
            reply.body["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains("Patient/same1"),
            "{}",
            reply.body
        );
        assert_eq!(f.get("Patient/same1").await.status, 404);
    }

    // Two entries with one fullUrl: refused, in batches too.
    for kind in ["transaction", "batch"] {
        let twice = json!({ "fullUrl": "urn:uuid:0c3bbd8c-59de-4ba5-9e53-4d1b4ed8ec52",
                            "resource": patient("Never"), "request": { "method": "POST", "url": "Patient" } });
        let reply = f.post("", &bundle(kind, vec![twice.clone(), twice])).await;
        assert_outcome(&reply, 400, "invalid");
    }
    let never = f.get("Patient?family=Never&_total=accurate").await;
    assert_eq!(never.body["total"], 0, "{}", never.body);
}

/// What the FHIR service answers around the edges of its formats and
/// preconditions: only JSON is spoken (406 for XML and other formats, by
/// `Accept` or `_format`), a stored resource can be `$validate`d by GET, an
/// `If-Match` that is no ETag is a 400 and one on an unknown resource a 404,
/// history with `_count=0` lists nothing, and a client's `X-Request-Id`
/// that is no FHIR id is echoed but not used as the OperationOutcome's id.
#[tokio::test]
async fn formats_validation_of_stored_resources_and_preconditions() {
    let f = Fhir::start().await;
    let p = f.create(&patient("Edge")).await;
    let id = p["id"].as_str().unwrap();

    for (path, headers) in [
        (
            format!("Patient/{id}"),
            vec![("accept", "application/fhir+xml")],
        ),
        (format!("Patient/{id}?_format=xml"), vec![]),
        ("Patient?_format=application/fhir%2Bxml".into(), vec![]),
        ("metadata?_format=ttl".into(), vec![]),
        (
            "metadata".into(),
            vec![("accept", "application/xml, text/turtle;q=0.5")],
        ),
    ] {
        let reply = f.call(Method::GET, &path, None, &headers).await;
        assert_outcome(&reply, 406, "not-supported");
    }
    for (path, headers) in [
        (
            format!("Patient/{id}"),
            vec![("accept", "application/json")],
        ),
        (format!("Patient/{id}?_format=json"), vec![]),
        (
            format!("Patient/{id}?_format=application/fhir%2Bjson"),
            vec![("accept", "application/fhir+xml")],
        ),
        (
            "metadata".into(),
            vec![("accept", "text/html,application/xml;q=0.9,*/*;q=0.8")],
        ),
        (
            "Patient".into(),
            vec![("accept", "application/fhir+json; fhirVersion=4.0")],
        ),
    ] {
        let reply = f.call(Method::GET, &path, None, &headers).await;
        assert_eq!(reply.status, 200, "{path} {headers:?}: {}", reply.body);
    }

    // $validate of the stored resource.
    let reply = f.get(&format!("Patient/{id}/$validate")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["resourceType"], "OperationOutcome");
    assert_eq!(reply.body["issue"][0]["severity"], "information");
    assert_outcome(
        &f.get("Patient/missing-one/$validate").await,
        404,
        "not-found",
    );

    // If-Match that is not an ETag; If-Match on a resource that does not exist.
    let mut changed = p.clone();
    changed["gender"] = json!("female");
    let reply = f
        .call(
            Method::PUT,
            &format!("Patient/{id}"),
            Some(&changed),
            &[("if-match", "garbage")],
        )
        .await;
    assert_outcome(&reply, 400, "invalid");
    let mut fresh = patient("Fresh");
    fresh["id"] = json!("not-there-yet");
    let reply = f
        .call(
            Method::PUT,
            "Patient/not-there-yet",
            Some(&fresh),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_outcome(&reply, 404, "not-found");
    assert_eq!(f.get("Patient/not-there-yet").await.status, 404);
    assert_eq!(
        f.get(&format!("Patient/{id}")).await.body["meta"]["versionId"],
        "1"
    );

    // An update that changes nothing makes no version.
    let current = f.get(&format!("Patient/{id}")).await.body;
    let same = f.put(&format!("Patient/{id}"), &current).await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body["meta"]["versionId"], "1", "{}", same.body);
    assert_eq!(same.header("etag"), "W/\"1\"");
    let mut no_meta = current.clone();
    no_meta.as_object_mut().unwrap().remove("meta");
    let same = f.put(&format!("Patient/{id}"), &no_meta).await;
    assert_eq!(same.body["meta"]["versionId"], "1", "{}", same.body);
    let history = f.get(&format!("Patient/{id}/_history")).await;
    assert_eq!(history.body["entry"].as_array().unwrap().len(), 1);

    // History with _count=0: no entries, no next link.
    let reply = f.get(&format!("Patient/{id}/_history?_count=0")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body["entry"].as_array().is_none_or(Vec::is_empty),
        "{}",
        reply.body
    );
    assert!(
        !reply.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next"),
        "{}",
        reply.body
    );

    // A request id that is no FHIR id: echoed, not the outcome's id.
    let reply = f
        .call(
            Method::GET,
            "Patient/missing-one",
            None,
            &[("x-request-id", "a b/c!")],
        )
        .await;
    assert_outcome(&reply, 404, "not-found");
    assert_eq!(reply.header("x-request-id"), "a b/c!");
    assert!(reply.body.get("id").is_none(), "{}", reply.body);
}

/// Writers racing each other: conditional creates with the same criteria
/// make one resource; concurrent patches each build on the version before
/// (or are refused with 409), so no acknowledged patch is lost; versions are
/// stamped in order. On PostgreSQL the writes run side by side.
#[tokio::test]
async fn racing_conditional_creates_and_patches() {
    let f = std::sync::Arc::new(Fhir::start().await);
    let mut racers = Vec::new();
    for _ in 0..8 {
        let f = f.clone();
        racers.push(tokio::spawn(async move {
            let p = json!({ "resourceType": "Patient", "identifier": [{ "system": "urn:race", "value": "1" }] });
            f.call(
                Method::POST,
                "Patient",
                Some(&p),
                &[("if-none-exist", "identifier=urn:race|1")],
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 201]);
    let found = f.get("Patient?identifier=urn:race|1&_total=accurate").await;
    assert_eq!(found.body["total"], 1, "{}", found.body);
    let id = found.body["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut patchers = Vec::new();
    for n in 0..6 {
        let (f, id) = (f.clone(), id.clone());
        patchers.push(tokio::spawn(async move {
            let op = json!([{ "op": "add", "path": "/identifier/-", "value": { "system": "urn:patch", "value": n.to_string() } }]);
            f.raw(
                Method::PATCH,
                &format!("Patient/{id}"),
                Some(op.to_string().into_bytes()),
                "application/json-patch+json",
                &[],
            )
            .await
            .status
        }));
    }
    let mut applied = 0;
    for p in patchers {
        match p.await.unwrap() {
            200 => applied += 1,
            409 => {}
            other => panic!("patch answered {other}"),
        }
    }
    assert!(applied >= 1);
    let now = f.get(&format!("Patient/{id}")).await.body;
    assert_eq!(
        now["identifier"].as_array().unwrap().len(),
        1 + applied,
        "every acknowledged patch is in the current version: {now}"
    );
    assert_eq!(now["meta"]["versionId"], (1 + applied).to_string());
    let history = f.get(&format!("Patient/{id}/_history")).await.body;
    let versions: Vec<String> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let newest_first: Vec<String> = (1..=1 + applied).rev().map(|v| v.to_string()).collect();
    assert_eq!(versions, newest_first, "history is newest first");
}

/// Patches without If-Match racing on one resource all succeed, each on the
/// version the one before it made: every appended identifier is kept. Half
/// come as `PATCH` requests, half as batch entries. On PostgreSQL the writes
/// run side by side, and without taking turns they made one version twice
/// (a 409 the client never asked for).
#[tokio::test]
async fn racing_patches_without_if_match_all_apply() {
    let f = std::sync::Arc::new(Fhir::start().await);
    let p = json!({ "resourceType": "Patient", "id": "race-patch", "identifier": [{ "value": "first" }] });
    assert_eq!(
        f.call(Method::PUT, "Patient/race-patch", Some(&p), &[])
            .await
            .status,
        201
    );
    let mut racers = Vec::new();
    for n in 0..12 {
        let f = f.clone();
        racers.push(tokio::spawn(async move {
            let ops = json!([{ "op": "add", "path": "/identifier/-", "value": { "value": format!("n{n}") } }]);
            if n % 2 == 0 {
                let r = f
                    .raw(
                        Method::PATCH,
                        "Patient/race-patch",
                        Some(ops.to_string().into_bytes()),
                        "application/json-patch+json",
                        &[],
                    )
                    .await;
                (r.status, r.body.to_string())
            } else {
                let patch = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    ops.to_string(),
                );
                let batch = json!({ "resourceType": "Bundle", "type": "batch", "entry": [{
                    "resource": { "resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch },
                    "request": { "method": "PATCH", "url": "Patient/race-patch" }
                }]});
                let r = f.call(Method::POST, "", Some(&batch), &[]).await;
                let status = r.body["entry"][0]["response"]["status"].clone();
                (if status.as_str().is_some_and(|s| s.starts_with("200")) { 200 } else { 0 }, r.body.to_string())
            }
        }));
    }
    for r in racers {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let now = f.get("Patient/race-patch").await.body;
    assert_eq!(now["meta"]["versionId"], "13", "{now}");
    let mut values: Vec<String> = now["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap().to_owned())
        .collect();
    values.sort();
    let mut wanted: Vec<String> = (0..12).map(|n| format!("n{n}")).collect();
    wanted.push("first".to_owned());
    wanted.sort();
    assert_eq!(values, wanted, "no patch lost");
}

/// Updates without If-Match racing on one resource all succeed, as a client
/// that did not ask for optimistic locking expects: each makes its own
/// version, in turn (no 409, no version made twice). Racing deletes of one
/// resource delete it once. On PostgreSQL the writes run side by side.
#[tokio::test]
async fn racing_updates_without_if_match_all_succeed() {
    let f = std::sync::Arc::new(Fhir::start().await);
    let mut racers = Vec::new();
    for n in 0..10 {
        let f = f.clone();
        racers.push(tokio::spawn(async move {
            let p = json!({ "resourceType": "Patient", "id": "race-put", "gender": "other", "birthDate": format!("19{:02}-01-01", 50 + n) });
            f.call(Method::PUT, "Patient/race-put", Some(&p), &[]).await.status
        }));
    }
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    let now = f.get("Patient/race-put").await.body;
    assert_eq!(now["meta"]["versionId"], "10", "{now}");
    let history = f.get("Patient/race-put/_history?_count=50").await.body;
    assert_eq!(history["entry"].as_array().unwrap().len(), 10, "{history}");

    let mut deleters = Vec::new();
    for _ in 0..6 {
        let f = f.clone();
        deleters.push(tokio::spawn(async move {
            f.call(Method::DELETE, "Patient/race-put", None, &[])
                .await
                .status
        }));
    }
    for d in deleters {
        assert_eq!(d.await.unwrap(), 204);
    }
    let history = f.get("Patient/race-put/_history?_count=50").await.body;
    assert_eq!(
        history["entry"].as_array().unwrap().len(),
        11,
        "one delete: {history}"
    );
    assert_eq!(f.get("Patient/race-put").await.status, 410);
}
