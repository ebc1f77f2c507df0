//! Bulk export (`$export`) over HTTP: kick-off, polling, the manifest, the
//! NDJSON files, the three levels, `_type`/`_since`/`_maxCount`, cancelling,
//! and every refusal.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::fhir::{Fhir, assert_outcome};
use common::health::FHIR_DATA_READER;
use reqwest::Method;
use serde_json::{Value, json};

const ASYNC: &[(&str, &str)] = &[("prefer", "respond-async")];

/// Starts an export at `path` and returns its status URL (relative to the base).
async fn kick_off(f: &Fhir, path: &str) -> String {
    let r = f.call(Method::GET, path, None, ASYNC).await;
    assert_eq!(r.status, 202, "{path}: {}", r.body);
    let location = r.headers["content-location"].to_str().unwrap().to_owned();
    let prefix = format!("{}/_operations/export/", f.base);
    assert!(location.starts_with(&prefix), "{location}");
    location[f.base.len() + 1..].to_owned()
}

/// Polls a job until it is done; returns its manifest.
async fn manifest(f: &Fhir, status: &str) -> Value {
    for _ in 0..400 {
        let r = f.get(status).await;
        match r.status {
            202 => {
                assert!(r.headers.contains_key("x-progress"));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            200 => return r.body,
            other => panic!("status {other}: {}", r.body),
        }
    }
    panic!("the export did not finish");
}

/// The ids in the manifest's files of `resource_type`, each file checked
/// against its `count`.
async fn exported_ids(f: &Fhir, manifest: &Value, resource_type: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for o in manifest["output"].as_array().unwrap() {
        if o["type"] != resource_type {
            continue;
        }
        let url = o["url"].as_str().unwrap();
        let res =
            f.h.server
                .client()
                .get(url)
                .bearer_auth(&f.token)
                .send()
                .await
                .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], "application/fhir+ndjson");
        let text = res.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, o["count"].as_u64().unwrap(), "{url}");
        for line in lines {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["resourceType"], resource_type);
            assert!(
                ids.insert(r["id"].as_str().unwrap().to_owned()),
                "once: {line}"
            );
        }
    }
    ids
}

fn types(manifest: &Value) -> BTreeSet<String> {
    manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&Value]) -> BTreeSet<String> {
    ids.iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn observation(f: &Fhir, patient: &Value) -> Value {
    let subject = format!("Patient/{}", patient["id"].as_str().unwrap());
    f.create(&json!({
        "resourceType": "Observation",
        "status": "final",
        "code": { "text": "weight" },
        "subject": { "reference": subject },
    }))
    .await
}

#[tokio::test]
async fn system_patient_and_group_exports() {
    let f = Fhir::start().await;
    let a = f
        .create(&json!({ "resourceType": "Patient", "name": [{ "family": "A" }] }))
        .await;
    let a1 = observation(&f, &a).await;
    let a2 = observation(&f, &a).await;
    let b = f
        .create(&json!({ "resourceType": "Patient", "name": [{ "family": "B" }] }))
        .await;
    let b1 = observation(&f, &b).await;
    let org = f
        .create(&json!({ "resourceType": "Organization", "name": "Clinic" }))
        .await;
    let group = f
        .create(&json!({
            "resourceType": "Group", "type": "person", "actual": true,
            "member": [{ "entity": { "reference": format!("Patient/{}", a["id"].as_str().unwrap()) } }],
        }))
        .await;
    // A deleted resource is not exported.
    let gone = f
        .create(&json!({ "resourceType": "Patient", "name": [{ "family": "Gone" }] }))
        .await;
    let del = f
        .call(
            Method::DELETE,
            &format!("Patient/{}", gone["id"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(del.status, 204);

    // System level, two resources a file.
    let status = kick_off(
        &f,
        "$export?_type=Patient,Observation,Organization&_maxCount=2",
    )
    .await;
    let m = manifest(&f, &status).await;
    assert_eq!(m["requiresAccessToken"], true);
    assert!(
        m["request"]
            .as_str()
            .unwrap()
            .contains("/$export?_type=Patient"),
        "{m}"
    );
    assert!(m["transactionTime"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(m["error"], json!([]));
    assert_eq!(
        types(&m),
        ["Observation", "Organization", "Patient"]
            .map(String::from)
            .into()
    );
    let files = |t: &str| {
        m["output"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["type"] == t)
            .count()
    };
    assert_eq!(files("Observation"), 2, "3 observations, 2 a file: {m}");
    assert_eq!(exported_ids(&f, &m, "Patient").await, set(&[&a, &b]));
    assert_eq!(
        exported_ids(&f, &m, "Observation").await,
        set(&[&a1, &a2, &b1])
    );
    assert_eq!(exported_ids(&f, &m, "Organization").await, set(&[&org]));

    // _since: only what changed after B.
    let c = f
        .create(&json!({ "resourceType": "Patient", "name": [{ "family": "C" }] }))
        .await;
    let since = b["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let status = kick_off(&f, &format!("$export?_type=Patient&_since={since}")).await;
    let m = manifest(&f, &status).await;
    assert_eq!(exported_ids(&f, &m, "Patient").await, set(&[&c]));

    // Patient level: the patients' compartments, not the organization.
    let status = kick_off(&f, "Patient/$export?_type=Patient,Observation,Organization").await;
    let m = manifest(&f, &status).await;
    assert!(!types(&m).contains("Organization"), "{m}");
    assert_eq!(exported_ids(&f, &m, "Patient").await, set(&[&a, &b, &c]));
    assert_eq!(
        exported_ids(&f, &m, "Observation").await,
        set(&[&a1, &a2, &b1])
    );

    // Without _type: every type of the compartments (the group, whose
    // member is a patient, among them), still not the organization.
    let status = kick_off(&f, "Patient/$export").await;
    let m = manifest(&f, &status).await;
    assert!(
        types(&m).contains("Group") && !types(&m).contains("Organization"),
        "{m}"
    );
    assert_eq!(
        exported_ids(&f, &m, "Observation").await,
        set(&[&a1, &a2, &b1])
    );

    // _typeFilter: a filtered type exports what any of its queries match;
    // other types are whole.
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let status = kick_off(
        &f,
        &format!(
            "$export?_type=Patient,Observation&_typeFilter=Observation%3Fsubject%3DPatient%2F{aid}"
        ),
    )
    .await;
    let m = manifest(&f, &status).await;
    assert_eq!(exported_ids(&f, &m, "Observation").await, set(&[&a1, &a2]));
    assert_eq!(exported_ids(&f, &m, "Patient").await, set(&[&a, &b, &c]));
    let status = kick_off(
        &f,
        &format!(
            "$export?_type=Observation&_typeFilter=Observation%3Fsubject%3DPatient%2F{aid},Observation%3Fsubject%3DPatient%2F{bid}"
        ),
    )
    .await;
    let m = manifest(&f, &status).await;
    assert_eq!(
        exported_ids(&f, &m, "Observation").await,
        set(&[&a1, &a2, &b1])
    );
    // In the compartments too: only patient A's own resource, everyone's observations.
    let status = kick_off(
        &f,
        "Patient/$export?_type=Patient,Observation&_typeFilter=Patient%3Ffamily%3DA",
    )
    .await;
    let m = manifest(&f, &status).await;
    assert_eq!(exported_ids(&f, &m, "Patient").await, set(&[&a]));
    assert_eq!(
        exported_ids(&f, &m, "Observation").await,
        set(&[&a1, &a2, &b1])
    );

    // Group level: its members' compartments only.
    let gid = group["id"].as_str().unwrap();
    let status = kick_off(
        &f,
        &format!("Group/{gid}/$export?_type=Patient,Observation"),
    )
    .await;
    let m = manifest(&f, &status).await;
    assert_eq!(exported_ids(&f, &m, "Patient").await, set(&[&a]));
    assert_eq!(exported_ids(&f, &m, "Observation").await, set(&[&a1, &a2]));

    // Cancelling removes the job and its files.
    let file = m["output"][0]["url"].as_str().unwrap().to_owned();
    let r = f.call(Method::DELETE, &status, None, &[]).await;
    assert_eq!(r.status, 202);
    assert_outcome(&f.get(&status).await, 404, "not-found");
    assert_outcome(
        &f.call(Method::DELETE, &status, None, &[]).await,
        404,
        "not-found",
    );
    let r =
        f.h.server
            .client()
            .get(&file)
            .bearer_auth(&f.token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn bad_exports_are_refused_and_start_nothing() {
    let f = Fhir::start().await;
    // The CapabilityStatement declares the three levels.
    let cs = f.get("metadata").await.body;
    assert_eq!(
        cs["rest"][0]["operation"][0]["name"], "export",
        "{}",
        cs["rest"][0]["operation"]
    );
    for t in ["Patient", "Group"] {
        let r = cs["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == t)
            .unwrap();
        assert!(
            r["operation"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["name"] == "export"),
            "{t}"
        );
    }
    // Without Prefer: respond-async.
    assert_outcome(&f.get("$export").await, 400, "invalid");
    for (path, code) in [
        ("$export?_type=Patient,Bogus", "invalid"),
        ("$export?_outputFormat=text/csv", "invalid"),
        ("$export?_maxCount=0", "invalid"),
        ("$export?_since=yesterday", "invalid"),
        ("$export?_typeFilter=Bogus%3Factive%3Dtrue", "invalid"),
        ("$export?_typeFilter=Observation", "invalid"),
        ("$export?_typeFilter=Observation%3F_count%3D5", "invalid"),
        (
            "$export?_typeFilter=Observation%3Fnonsense%3D1",
            "not-supported",
        ),
        (
            "$export?_type=Patient&_typeFilter=Observation%3Fstatus%3Dfinal",
            "invalid",
        ),
        ("$export?_container=mine", "not-supported"),
        ("Group/no-such-group/$export", "not-found"),
    ] {
        let r = f.call(Method::GET, path, None, ASYNC).await;
        assert_outcome(&r, if code == "not-found" { 404 } else { 400 }, code);
        assert!(!r.headers.contains_key("content-location"), "{path}");
    }
    // Unknown parameters: ignored, unless handling is strict.
    let r = f
        .call(Method::GET, "$export?_whatever=1", None, ASYNC)
        .await;
    assert_eq!(r.status, 202);
    let strict = [("prefer", "respond-async"), ("prefer", "handling=strict")];
    assert_outcome(
        &f.call(Method::GET, "$export?_whatever=1", None, &strict)
            .await,
        400,
        "not-supported",
    );
    // An unknown job, or a file of it.
    assert_outcome(&f.get("_operations/export/nope").await, 404, "not-found");
    assert_outcome(
        &f.get("_operations/export/nope/Patient-1.ndjson").await,
        404,
        "not-found",
    );

    // A reader may not export, nor look at an export.
    let reader = f.h.register_app("export-reader").await;
    f.h.assign(
        &f.h.fhir_id("clinic", "fhir1"),
        FHIR_DATA_READER,
        &reader.principal_id,
    )
    .await;
    let token = f.h.token_v2(&reader, &f.base).await;
    for path in ["$export", "_operations/export/nope"] {
        let r =
            f.h.server
                .client()
                .get(f.url(path))
                .header("prefer", "respond-async")
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
}

/// A job that ended is kept, status and files, for the retention, then
/// removed (its URLs answer 404). A running job whose replica went away is
/// reported failed at once, then marked failed and its partial files
/// removed by the sweeper.
#[tokio::test]
async fn ended_jobs_expire_and_abandoned_ones_fail() {
    let retention = Duration::from_secs(2);
    let server = hale_testkit::TestServer::start_with(|s| s.export_retention = retention).await;
    let f = Fhir::on(server).await;
    f.create(&json!({ "resourceType": "Patient", "name": [{ "family": "Kept" }] }))
        .await;
    let status = kick_off(&f, "$export?_type=Patient").await;
    let m = manifest(&f, &status).await;
    let url = m["output"][0]["url"].as_str().unwrap().to_owned();
    let file = url[f.base.len() + 1..].to_owned();
    assert_eq!(f.get(&file).await.status, 200);
    let exports = f.h.server.settings().data_dir.join("blobs/fhir-export");
    assert_eq!(walk(&exports), 1);

    // A job some replica started and then left, with a file half written.
    let store = hale_store::Store::open(&f.h.server.settings().effective_database_url())
        .await
        .unwrap();
    let svc: i64 = store
        .read(|tx| tx.query("SELECT svc FROM data_partitions", &[])?[0].get(0))
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let long_ago = now - 600_000_000;
    let abandoned = hale_fhir_store::export::Job {
        id: "0f0e0d0c-0b0a-4908-8706-050403020100".into(),
        svc,
        status: hale_fhir_store::export::Status::Running,
        request: format!("{}/$export", f.base),
        transaction_time: long_ago,
        spec: "{}".into(),
        exported: 0,
        output: "[]".into(),
        error: None,
        heartbeat: long_ago,
    };
    let job = abandoned.clone();
    store
        .write(move |tx| hale_fhir_store::export::create(tx, &job, long_ago))
        .await
        .unwrap();
    let partial = exports.join(format!("{svc}/{}/Patient-1.ndjson", abandoned.id));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, b"{\"resourceType\":\"Patient\"}\n").unwrap();
    let abandoned_status = format!("_operations/export/{}", abandoned.id);
    let r = f.get(&abandoned_status).await;
    assert_outcome(&r, 500, "exception");
    assert!(r.body.to_string().contains("went away"), "{}", r.body);

    // Within a few sweeps: the abandoned job's file is gone (it stays
    // reported failed until its retention ends), and the ended job with it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let gone = f.get(&status).await.status == 404
            && f.get(&file).await.status == 404
            && f.get(&abandoned_status).await.status == 404;
        if gone {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "jobs not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!partial.exists(), "the abandoned job's file is removed");
    assert_eq!(walk(&exports), 0);
    let rows: i64 = store
        .read(|tx| tx.query("SELECT count(*) FROM fhir_export_jobs", &[])?[0].get(0))
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // A job started now is not touched by the sweeps that removed those.
    let fresh = kick_off(&f, "$export?_type=Patient").await;
    manifest(&f, &fresh).await;
}

/// Files under `dir`, at any depth (none when it does not exist).
fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() { walk(&path) } else { 1 }
        })
        .sum()
}
