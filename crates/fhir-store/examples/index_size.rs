//! Ingest rate, bytes per resource and token-search latency on SQLite for a
//! Synthea-like mix (per patient: 1 Patient, 4 Encounters, 3 Conditions, 24
//! Observations with LOINC codes and quantities).
//!
//! `cargo run --release -p hale-fhir-store --example index_size -- [patients] [--no-index]`
//! The database is created in a temporary directory and deleted afterwards.

use std::time::Instant;

use hale_fhir_store::{index, search};
use hale_store::{DatabaseUrl, Store, StoreError, Tx};
use serde_json::{Value as Json, json};

const BASE: &str = "https://hale.test/fhir/ws-svc";

fn uuid(n: u64) -> String {
    // Deterministic UUID-shaped ids (the form Synthea uses).
    let h = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555_aaaa_1234_5678;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        (n & 0xfff) as u16,
        ((h >> 4) & 0xfff) as u16,
        n * 7919 + (h & 0xffff)
    )
}

fn meta(n: u64) -> Json {
    json!({"versionId": "1", "lastUpdated": format!("2024-05-{:02}T10:{:02}:{:02}.123+00:00", 1 + n % 28, n % 60, (n / 60) % 60)})
}

fn patient_bundle(p: u64) -> Vec<Json> {
    let pid = uuid(p * 1000);
    let mut out = vec![json!({
        "resourceType": "Patient", "id": pid, "meta": meta(p),
        "identifier": [
            {"system": "https://github.com/synthetichealth/synthea", "value": pid},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical Record Number"}], "text": "Medical Record Number"}, "system": "http://hospital.smarthealthit.org", "value": pid}
        ],
        "name": [{"use": "official", "family": format!("Family{}", p % 997), "given": [format!("Given{}", p % 313)], "prefix": ["Mr."]}],
        "telecom": [{"system": "phone", "value": format!("555-{:03}-{:04}", p % 1000, p % 10000), "use": "home"}],
        "gender": if p.is_multiple_of(2) { "male" } else { "female" },
        "birthDate": format!("{}-{:02}-{:02}", 1940 + p % 70, 1 + p % 12, 1 + p % 28),
        "address": [{"line": [format!("{} Main St", p % 900)], "city": "Boston", "state": "MA", "postalCode": "02101", "country": "US"}],
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "M"}], "text": "M"},
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US", "display": "English"}], "text": "English"}}]
    })];
    for e in 0..4 {
        let eid = uuid(p * 1000 + 1 + e);
        out.push(json!({
            "resourceType": "Encounter", "id": eid, "meta": meta(p + e), "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up"}], "text": "Encounter for check up"}],
            "subject": {"reference": format!("Patient/{pid}"), "display": "Mr. Given Family"},
            "participant": [{"individual": {"reference": "Practitioner/0000016f-57cb-cdaa-0000-000000000032", "display": "Dr. X"}}],
            "period": {"start": format!("20{:02}-03-0{}T09:00:00+00:00", 10 + e, 1 + e), "end": format!("20{:02}-03-0{}T09:30:00+00:00", 10 + e, 1 + e)},
            "serviceProvider": {"reference": "Organization/ef58ea08-d883-3957-8300-150554edc8fb", "display": "Hospital"}
        }));
        for c in 0..(if e < 3 { 1 } else { 0 }) {
            out.push(json!({
                "resourceType": "Condition", "id": uuid(p * 1000 + 100 + e * 10 + c), "meta": meta(p + c),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": format!("{}", 40055000 + (p + e) % 50), "display": "Chronic sinusitis (disorder)"}], "text": "Chronic sinusitis (disorder)"},
                "subject": {"reference": format!("Patient/{pid}")},
                "encounter": {"reference": format!("Encounter/{eid}")},
                "onsetDateTime": "2015-03-01T09:00:00+00:00", "recordedDate": "2015-03-01T09:00:00+00:00"
            }));
        }
        for o in 0..6 {
            let code = format!("{}-{}", 8000 + (o * 37 + e * 11 + p) % 60, o % 10);
            out.push(json!({
                "resourceType": "Observation", "id": uuid(p * 1000 + 200 + e * 10 + o), "meta": meta(p + o), "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "Body Height"}], "text": "Body Height"},
                "subject": {"reference": format!("Patient/{pid}")},
                "encounter": {"reference": format!("Encounter/{eid}")},
                "effectiveDateTime": format!("20{:02}-03-0{}T09:00:00+00:00", 10 + e, 1 + e),
                "issued": format!("20{:02}-03-0{}T09:00:00.123+00:00", 10 + e, 1 + e),
                "valueQuantity": {"value": 150.0 + ((p * 7 + o) % 400) as f64 / 10.0, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}
            }));
        }
    }
    out
}

fn write_all(
    tx: &mut dyn Tx,
    svc: i64,
    items: &[(Json, Vec<hale_fhir_model::IndexEntry>)],
    with_index: bool,
) -> Result<(), StoreError> {
    for (r, entries) in items {
        let rtype = r["resourceType"].as_str().unwrap_or_default();
        let id = r["id"].as_str().unwrap_or_default();
        let body = serde_json::to_vec(r).unwrap_or_default();
        let rid = hale_fhir_store::resources::insert_version(
            tx,
            svc,
            &hale_fhir_store::NewVersion {
                stored: None,
                resource_type: rtype,
                id,
                version: 1,
                last_updated: 1_700_000_000_000_000,
                method: "POST",
                body: Some(&body),
            },
        )?;
        if with_index {
            index::insert(tx, svc, rid, rtype, entries, BASE)?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let patients: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(500);
    let with_index = !args.iter().any(|a| a == "--no-index");
    let dir = std::env::temp_dir().join(format!("hale-index-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(&DatabaseUrl::Sqlite(dir.join("hale.db"))).await?;
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO data_partitions (svc, service_id) VALUES (1, 'a')",
                &[],
            )
        })
        .await?;

    // Index entries are computed outside the write (as the HTTP layer would).
    let mut bundles = Vec::new();
    let mut resources = 0usize;
    let mut entries_total = 0usize;
    let mut body_bytes = 0usize;
    for p in 0..patients {
        let items: Vec<(Json, Vec<hale_fhir_model::IndexEntry>)> = patient_bundle(p)
            .into_iter()
            .map(|r| {
                let e = hale_fhir_model::index(&r);
                (r, e)
            })
            .collect();
        resources += items.len();
        entries_total += items.iter().map(|i| i.1.len()).sum::<usize>();
        body_bytes += items
            .iter()
            .map(|i| serde_json::to_vec(&i.0).map(|b| b.len()).unwrap_or(0))
            .sum::<usize>();
        bundles.push(items);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in bundles.chunks(bundles.len().div_ceil(4).max(1)) {
        let chunk = chunk.to_vec();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for items in chunk {
                store
                    .write(move |tx| write_all(tx, 1, &items, with_index))
                    .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let (pages, page_size, free): (i64, i64, i64) = store
        .read(|tx| {
            let n: i64 = tx.query("PRAGMA page_count", &[])?[0].get(0)?;
            let s: i64 = tx.query("PRAGMA page_size", &[])?[0].get(0)?;
            let f: i64 = tx.query("PRAGMA freelist_count", &[])?[0].get(0)?;
            Ok::<_, StoreError>((n, s, f))
        })
        .await?;
    let bytes = (pages - free) * page_size;
    println!(
        "{resources} resources ({patients} patients), {:.1} index entries/resource, {:.0} B JSON body/resource, index {}",
        entries_total as f64 / resources as f64,
        body_bytes as f64 / resources as f64,
        if with_index { "on" } else { "off" }
    );
    println!(
        "ingest: {:.0} resources/s ({:.2} s); database: {} B = {:.0} B/resource",
        resources as f64 / secs,
        secs,
        bytes,
        bytes as f64 / resources as f64
    );
    if with_index {
        let mut times = Vec::new();
        for i in 0..200 {
            let code = format!("http://loinc.org|{}-{}", 8000 + (i * 7) % 60, i % 10);
            let q = hale_fhir_model::parse_search(
                Some("Observation"),
                &[("code".into(), code), ("_count".into(), "50".into())],
                false,
            )
            .map_err(|e| format!("{e:?}"))?;
            let t = Instant::now();
            let scope = search::SearchScope {
                resource_types: vec!["Observation".into()],
                compartment: None,
                within: None,
            };
            store
                .read(move |tx| {
                    search::search(tx, 1, &scope, &q, BASE)
                        .map_err(|e| StoreError::Database(e.to_string()))
                })
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "Observation?code=loinc|…&_count=50: p50 {:.2} ms, p99 {:.2} ms",
            times[times.len() / 2],
            times[times.len() * 99 / 100]
        );
    }
    drop(store);
    if std::env::var_os("KEEP_DB").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
