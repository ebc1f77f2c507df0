//! The DICOM service over real HTTPS with real tokens and role assignments:
//! STOW-RS (Azure's statuses and failure reasons, bad input), QIDO-RS,
//! WADO-RS (original bytes, metadata, frames, transcoding or 406), delete
//! and the change feed, DICOM Data Reader's limits, and the crash sweep.

mod common;

#[path = "../../dicom/tests/common/mod.rs"]
mod dicomgen;

use common::health::*;
use dicomgen::Spec;
use hale_dicom::multipart::{Limits, MultipartReader, MultipartWriter};
use hale_testkit::TestServer;
use reqwest::Method;
use serde_json::Value;

const DICOM: &str = "https://dicom.healthcareapis.azure.com";
const ST1: &str = "1.2.826.0.1.3680043.8.498.1";
const SE1: &str = "1.2.826.0.1.3680043.8.498.1.1";
const I1: &str = "1.2.826.0.1.3680043.8.498.1.1.1";
const I2: &str = "1.2.826.0.1.3680043.8.498.1.1.2";
const SE2: &str = "1.2.826.0.1.3680043.8.498.1.2";
const I3: &str = "1.2.826.0.1.3680043.8.498.1.2.1";
const ST2: &str = "1.2.826.0.1.3680043.8.498.2";
const SE3: &str = "1.2.826.0.1.3680043.8.498.2.1";
const I4: &str = "1.2.826.0.1.3680043.8.498.2.1.1";

struct Dicom {
    h: Health,
    apps: (App, App),
    base: String,
    owner: String,
    reader: String,
}

impl Dicom {
    async fn start_on(server: TestServer) -> Dicom {
        let h = Health::on(server).await;
        h.create_workspace("imaging").await;
        h.create_dicom("imaging", "pacs").await;
        let owner_app = h.register_app("dicom-owner").await;
        let reader_app = h.register_app("dicom-reader").await;
        let id = h.dicom_id("imaging", "pacs");
        h.assign(&id, DICOM_DATA_OWNER, &owner_app.principal_id)
            .await;
        h.assign(&id, DICOM_DATA_READER, &reader_app.principal_id)
            .await;
        let owner = h.token_v2(&owner_app, DICOM).await;
        let reader = h.token_v2(&reader_app, DICOM).await;
        let base = h.service_url("dicom", "imaging", "pacs");
        Dicom {
            h,
            apps: (owner_app, reader_app),
            base,
            owner,
            reader,
        }
    }

    async fn start() -> Dicom {
        Self::start_on(TestServer::start().await).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self
            .h
            .server
            .client()
            .request(method, self.url(path))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.unwrap().to_vec())
    }

    /// `GET path` as the reader, accepting `accept`.
    async fn get_as(&self, path: &str, accept: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.send(Method::GET, path, &self.reader, &[("accept", accept)], None)
            .await
    }

    async fn stow(&self, path: &str, parts: &[&[u8]]) -> (u16, Value) {
        let w = MultipartWriter::new("hale-test-boundary");
        let body = w.body(parts.iter().map(|p| ("application/dicom", *p)));
        let (status, _, body) = self
            .send(
                Method::POST,
                path,
                &self.owner,
                &[(
                    "content-type",
                    "multipart/related; type=\"application/dicom\"; boundary=hale-test-boundary",
                )],
                Some(body),
            )
            .await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// `GET …/instances/{sop}/frames/{list}` in study ST2, series SE3, as
    /// multipart in the stored syntax: the status and the parts' bodies.
    async fn frames(&self, sop: &str, list: &str) -> (u16, Vec<Vec<u8>>) {
        self.frames_as(
            sop,
            list,
            "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*",
        )
        .await
    }

    /// [`Dicom::frames`] with another `Accept`.
    async fn frames_as(&self, sop: &str, list: &str, accept: &str) -> (u16, Vec<Vec<u8>>) {
        let (status, headers, body) = self
            .send(
                Method::GET,
                &format!("v2/studies/{ST2}/series/{SE3}/instances/{sop}/frames/{list}"),
                &self.reader,
                &[("accept", accept)],
                None,
            )
            .await;
        let parts = if status == 200 {
            parts_of(headers["content-type"].to_str().unwrap(), &body)
                .into_iter()
                .map(|p| p.1)
                .collect()
        } else {
            Vec::new()
        };
        (status, parts)
    }

    /// STOWs `instance` (study ST2, series SE3, SOP `sop`, transfer syntax
    /// `ts`) and checks that it is sent back byte for byte as stored; its
    /// WADO path.
    async fn stored_as_sent(&self, sop: &str, instance: &[u8], ts: &str) -> String {
        let (status, body) = self.stow("v2/studies", &[instance]).await;
        assert_eq!(status, 200, "{body}");
        let path = format!("v2/studies/{ST2}/series/{SE3}/instances/{sop}");
        let (status, h, stored) = self
            .get_as(&path, "application/dicom; transfer-syntax=*")
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            h["content-type"],
            format!("application/dicom; transfer-syntax={ts}")
        );
        assert_eq!(stored, instance);
        path
    }

    /// The operation `id` once it succeeded (five seconds at most). Until
    /// it ends it is answered 202, then 200, as Azure answers.
    async fn finished_operation(&self, id: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            let (status, body) = self.get_json(&format!("v2/operations/{id}")).await;
            if body["status"] == "succeeded" {
                assert_eq!(status, 200, "{body}");
                return body;
            }
            assert!(
                status == 202 && (body["status"] == "notStarted" || body["status"] == "running"),
                "{status} {body}"
            );
            last = body;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("operation {id} did not succeed: {last}");
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.send(Method::GET, path, &self.reader, &[], None).await;
        (
            status,
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())),
        )
    }
}

fn failure_reasons(body: &Value) -> Vec<u64> {
    body["00081198"]["Value"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["00081197"]["Value"][0].as_u64().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn referenced(body: &Value) -> usize {
    body["00081199"]["Value"].as_array().map_or(0, Vec::len)
}

fn parts_of(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mt = hale_dicom::multipart::parse_media_type(content_type).unwrap();
    let boundary = mt.param("boundary").unwrap().to_owned();
    let mut r = MultipartReader::new(body, &boundary, Limits::default(), 4096);
    let mut out = Vec::new();
    while let Some((h, bytes)) = r.next_part().unwrap() {
        out.push((
            h.get("content-type").unwrap_or_default().to_owned(),
            bytes.to_vec(),
        ));
    }
    out
}

fn blob_files(h: &Health) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { walk(&p) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&h.server.settings().data_dir.join("blobs").join("dicom"))
}

#[tokio::test]
async fn stow_qido_wado_delete_and_the_change_feed() {
    let d = Dicom::start().await;
    let ct1 = dicomgen::build(&Spec::ct(ST1, SE1, I1));
    let ct2 = dicomgen::build(&Spec::ct(ST1, SE1, I2));
    let mr = dicomgen::build(&Spec::mr_implicit(ST1, SE2, I3));
    let mut us = Spec::us_multiframe(ST2, SE3, I4, 3);
    us.patient_name = "Ångström^Zoë";
    let us = dicomgen::build(&us);

    // STOW: all stored → 200 (v1: no FailedAttributesSequence, implicit VR warns 45063 → 202 only in v2).
    let (status, body) = d.stow("v1/studies", &[&ct1, &ct2]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(referenced(&body), 2);
    assert_eq!(
        body["00081199"]["Value"][0]["00081190"]["Value"][0],
        d.url(&format!("v1/studies/{ST1}/series/{SE1}/instances/{I1}"))
    );
    // v2 with the study in the path; the implicit-VR MR warns → 202.
    let (status, body) = d.stow(&format!("v2/studies/{ST1}"), &[&mr]).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["00081190"]["Value"][0],
        d.url(&format!("v2/studies/{ST1}"))
    );
    assert_eq!(body["00081199"]["Value"][0]["00081196"]["Value"][0], 45063);
    // Duplicate → 409 45070; mixed with a new one → 202.
    let (status, body) = d.stow("v2/studies", &[&ct1]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(failure_reasons(&body), [45070]);
    let (status, body) = d.stow("v2/studies", &[&ct2, &us]).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(failure_reasons(&body), [45070]);
    assert_eq!(referenced(&body), 1);
    // Study mismatch → 43265.
    let other = dicomgen::build(&Spec::ct(ST2, SE3, "1.2.826.0.1.3680043.8.498.2.1.9"));
    let (status, body) = d.stow(&format!("v2/studies/{ST1}"), &[&other]).await;
    assert_eq!(status, 409);
    assert_eq!(failure_reasons(&body), [43265]);
    // Not DICOM, truncated Part-10 → 43264, nothing stored.
    let truncated = &ct1[..ct1.len() / 2];
    let (status, body) = d
        .stow("v2/studies", &[&dicomgen::not_dicom(), truncated])
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(failure_reasons(&body), [43264, 43264]);
    assert_eq!(blob_files(&d.h), 4, "one blob per stored instance");

    // Single-part application/dicom.
    let sr = dicomgen::build(&Spec::sr(
        ST2,
        "1.2.826.0.1.3680043.8.498.2.2",
        "1.2.826.0.1.3680043.8.498.2.2.1",
    ));
    let (status, _, body) = d
        .send(
            Method::POST,
            "v2/studies",
            &d.owner,
            &[("content-type", "application/dicom")],
            Some(sr.clone()),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // QIDO.
    let (status, studies) = d.get_json("v2/studies").await;
    assert_eq!(status, 200);
    assert_eq!(studies.as_array().unwrap().len(), 2);
    // Newest first: ST2 got the latest instance.
    assert_eq!(studies[0]["0020000D"]["Value"][0], ST2);
    let (status, found) = d
        .get_json("v2/studies?PatientName=quin%20do&fuzzymatching=true&includefield=NumberOfStudyRelatedInstances")
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["00201208"]["Value"][0], 2);
    // ST1's newest instance (the MR) names the patient Müller^Zoë: accent-insensitive.
    let (status, found) = d
        .get_json("v2/studies?PatientName=MUL%20zo&fuzzymatching=true&includefield=all")
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found[0]["0020000D"]["Value"][0], ST1);
    assert_eq!(found[0]["00201208"]["Value"][0], 3);
    // Latest wins: ST2's newest instance (the SR) renamed the patient.
    let (status, _) = d
        .get_json("v2/studies?PatientName=angstrom&fuzzymatching=true")
        .await;
    assert_eq!(status, 204);
    let (status, found) = d
        .get_json("v2/studies?PatientName=DOE%5EJOHN%5EQUINCY%5EDR.%5EJR.")
        .await;
    assert_eq!(status, 200);
    assert_eq!(found[0]["0020000D"]["Value"][0], ST2);
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (status, found) = d
        .get_json(&format!("v2/studies/{ST1}/series?Modality=MR"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found[0]["0020000E"]["Value"][0], SE2);
    let (status, found) = d
        .get_json("v2/instances?StudyDate=20200101-20200201&limit=2&offset=1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 2);
    let (status, _) = d.get_json("v2/studies?offset=50").await;
    assert_eq!(status, 204);
    let (status, msg) = d.get_json("v2/studies?limit=201").await;
    assert_eq!(status, 400);
    assert!(msg.as_str().unwrap().contains("limit"), "{msg}");
    let (status, _) = d.get_json("v2/studies?Modality=CT").await;
    assert_eq!(status, 400, "series attribute at study level");
    let (status, _) = d.get_json("v2/studies?StudyDate=2020").await;
    assert_eq!(status, 400);
    let (status, _) = d.get_json("v2/studies/not_a_uid!/series").await;
    assert_eq!(status, 400);

    // WADO: the original bytes, byte for byte.
    let (status, headers, body) = d
        .get_as(
            &format!("v2/studies/{ST1}/series/{SE1}/instances/{I1}"),
            "application/dicom; transfer-syntax=*",
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/dicom")
    );
    assert_eq!(body, ct1);
    let (status, headers, body) = d
        .get_as(
            &format!("v2/studies/{ST1}"),
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        )
        .await;
    assert_eq!(status, 200);
    let parts = parts_of(headers["content-type"].to_str().unwrap(), &body);
    assert_eq!(parts.len(), 3);
    let bodies: Vec<&Vec<u8>> = parts.iter().map(|p| &p.1).collect();
    assert!(bodies.contains(&&ct1) && bodies.contains(&&ct2) && bodies.contains(&&mr));
    // Default syntax (Explicit VR LE): the implicit MR is transcoded, parsable, same UIDs.
    let (status, headers, body) = d
        .get_as(
            &format!("v2/studies/{ST1}/series/{SE2}"),
            "multipart/related; type=\"application/dicom\"",
        )
        .await;
    assert_eq!(status, 200);
    let parts = parts_of(headers["content-type"].to_str().unwrap(), &body);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].0.contains("1.2.840.10008.1.2.1"), "{}", parts[0].0);
    let ing = ingest_v2(parts[0].1.clone());
    assert_eq!(ing.transfer_syntax_uid, "1.2.840.10008.1.2.1");
    assert_eq!(ing.sop_instance_uid.as_str(), I3);
    // JPEG 2000 lossless: every instance of the study (Explicit and
    // Implicit VR, 16-bit) encoded, decoding to the same pixels.
    let (status, headers, body) = d
        .get_as(
            &format!("v2/studies/{ST1}"),
            "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90",
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let parts = parts_of(headers["content-type"].to_str().unwrap(), &body);
    assert_eq!(parts.len(), 3);
    for (content_type, bytes) in &parts {
        assert_eq!(
            content_type,
            "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90"
        );
        let ing = ingest_v2(bytes.clone());
        assert_eq!(ing.transfer_syntax_uid, "1.2.840.10008.1.2.4.90");
        let original = match ing.sop_instance_uid.as_str() {
            I1 => &ct1,
            I2 => &ct2,
            I3 => &mr,
            other => panic!("unexpected instance {other}"),
        };
        assert_eq!(decoded_frames(bytes), decoded_frames(original));
    }
    // A syntax we cannot produce → 406.
    let (status, _, _) = d
        .get_as(
            &format!("v2/studies/{ST1}"),
            "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.91",
        )
        .await;
    assert_eq!(status, 406);
    let (status, _, _) = d.get_as(&format!("v2/studies/{ST1}"), "image/png").await;
    assert_eq!(status, 406);
    let (status, _, _) = d
        .send(Method::GET, "v2/studies/1.2.3.404", &d.reader, &[], None)
        .await;
    assert_eq!(status, 404);

    // Metadata at every level, no bulk data.
    let (status, md) = d.get_json(&format!("v2/studies/{ST1}/metadata")).await;
    assert_eq!(status, 200);
    assert_eq!(md.as_array().unwrap().len(), 3);
    assert!(md[0].get("7FE00010").is_none());
    let (_, md) = d
        .get_json(&format!("v2/studies/{ST1}/series/{SE1}/metadata"))
        .await;
    assert_eq!(md.as_array().unwrap().len(), 2);
    let (status, headers, _) = d
        .send(
            Method::GET,
            &format!("v2/studies/{ST1}/series/{SE1}/instances/{I2}/metadata"),
            &d.reader,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = d
        .send(
            Method::GET,
            &format!("v2/studies/{ST1}/series/{SE1}/instances/{I2}/metadata"),
            &d.reader,
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(status, 304);

    // Frames.
    let spec = Spec::us_multiframe(ST2, SE3, I4, 3);
    let wanted = (
        200,
        vec![
            dicomgen::frame_bytes(&spec, 2),
            dicomgen::frame_bytes(&spec, 0),
        ],
    );
    assert_eq!(d.frames(I4, "3,1").await, wanted);
    // Any part type, as dicomweb-client asks by default.
    assert_eq!(
        d.frames_as(I4, "3,1", "multipart/related; type=\"*/*\"")
            .await,
        wanted
    );
    let (status, _, _) = d
        .send(
            Method::GET,
            &format!("v2/studies/{ST2}/series/{SE3}/instances/{I4}/frames/4"),
            &d.reader,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = d
        .send(
            Method::GET,
            &format!("v2/studies/{ST2}/series/{SE3}/instances/{I4}/frames/0"),
            &d.reader,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 400);

    // The reader may read but not store or delete.
    let (status, _, _) = d
        .send(
            Method::DELETE,
            &format!("v2/studies/{ST1}"),
            &d.reader,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = d
        .send(
            Method::POST,
            "v2/studies",
            &d.reader,
            &[("content-type", "application/dicom")],
            Some(ct1.clone()),
        )
        .await;
    assert_eq!(status, 403);

    // Delete a series, then an instance: rows and blobs gone, feed records it.
    let (status, _, _) = d
        .send(
            Method::DELETE,
            &format!("v2/studies/{ST1}/series/{SE1}"),
            &d.owner,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = d
        .send(
            Method::DELETE,
            &format!("v2/studies/{ST1}/series/{SE1}"),
            &d.owner,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = d
        .send(
            Method::DELETE,
            &format!("v2/studies/{ST2}/series/{SE3}/instances/{I4}"),
            &d.owner,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(blob_files(&d.h), 2);
    let (_, studies) = d.get_json("v2/studies?includefield=all").await;
    assert_eq!(studies.as_array().unwrap().len(), 2);
    let (_, series) = d.get_json(&format!("v2/studies/{ST1}/series")).await;
    assert_eq!(series.as_array().unwrap().len(), 1);

    // Change feed: 5 creates, 3 deletes.
    let (status, feed) = d.get_json("v2/changefeed?includemetadata=false").await;
    assert_eq!(status, 200);
    let feed = feed.as_array().unwrap();
    assert_eq!(feed.len(), 8);
    assert_eq!(feed[0]["Sequence"], 1);
    assert_eq!(feed[0]["Action"], "create");
    assert_eq!(feed[0]["State"], "deleted");
    assert_eq!(feed[7]["Action"], "delete");
    assert!(feed[0].get("Metadata").is_none());
    let (_, feed) = d.get_json("v2/changefeed?offset=2&limit=1").await;
    assert_eq!(feed[0]["Sequence"], 3);
    assert_eq!(feed[0]["State"], "current");
    assert_eq!(feed[0]["Metadata"]["00080018"]["Value"][0], I3);
    let (_, feed) = d.get_json("v1/changefeed?offset=6").await;
    assert_eq!(feed.as_array().unwrap().len(), 2);
    let (_, latest) = d.get_json("v2/changefeed/latest").await;
    assert_eq!(latest["Sequence"], 8);
    let (_, feed) = d
        .get_json("v2/changefeed?startTime=2000-01-01T00:00:00Z&endTime=2001-01-01T00:00:00Z")
        .await;
    assert_eq!(feed, Value::Array(vec![]));
    let (status, _) = d.get_json("v2/changefeed?limit=201").await;
    assert_eq!(status, 400);
}

/// Parts are stored while later ones are read, yet answered in order, and a
/// repeat within one request is a duplicate, not a race.
#[tokio::test]
async fn parts_are_answered_in_order_and_a_repeat_is_a_duplicate() {
    let d = Dicom::start().await;
    let a = dicomgen::build(&Spec::ct(ST2, SE3, "1.2.826.0.1.3680043.8.498.2.1.10"));
    let b = dicomgen::build(&Spec::ct(ST2, SE3, "1.2.826.0.1.3680043.8.498.2.1.11"));
    let (status, body) = d.stow("v2/studies", &[&a, &a, &b, &a]).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(failure_reasons(&body), [45070, 45070]);
    let stored: Vec<&str> = body["00081199"]["Value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["00081155"]["Value"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        stored,
        [
            "1.2.826.0.1.3680043.8.498.2.1.10",
            "1.2.826.0.1.3680043.8.498.2.1.11"
        ]
    );
    assert_eq!(blob_files(&d.h), 2, "one blob per stored instance");
}

#[tokio::test]
async fn bad_requests_are_refused_whole_and_nothing_is_half_stored() {
    let server = TestServer::start_with(|s| s.dicom_max_request_bytes = 64 * 1024).await;
    let d = Dicom::start_on(server).await;
    let ct = dicomgen::build(&Spec::ct(ST1, SE1, I1));
    let post = |ct_header: &'static str, body: Vec<u8>| {
        let d = &d;
        async move {
            d.send(
                Method::POST,
                "v2/studies",
                &d.owner,
                &[("content-type", ct_header)],
                Some(body),
            )
            .await
        }
    };
    assert_eq!(post("application/json", ct.clone()).await.0, 415);
    assert_eq!(
        post("multipart/related; type=\"application/dicom\"", ct.clone())
            .await
            .0,
        400
    );
    assert_eq!(
        post(
            "multipart/related; type=\"image/png\"; boundary=x",
            ct.clone()
        )
        .await
        .0,
        415
    );
    // A part of another type.
    let w = MultipartWriter::new("bb");
    let body = w.body([("text/plain", &b"hello"[..])]);
    assert_eq!(
        post(
            "multipart/related; type=\"application/dicom\"; boundary=bb",
            body
        )
        .await
        .0,
        415
    );
    // A body cut before its closing delimiter.
    let mut body = w.body([("application/dicom", &ct[..])]);
    body.truncate(body.len() - 8);
    assert_eq!(
        post(
            "multipart/related; type=\"application/dicom\"; boundary=bb",
            body
        )
        .await
        .0,
        400
    );
    // Too large (the limit is 64 KiB here), declared or streamed.
    let big = vec![0u8; 100 * 1024];
    assert_eq!(post("application/dicom", big.clone()).await.0, 413);
    let stream = futures::stream::iter(
        big.chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res =
        d.h.server
            .client()
            .post(d.url("v2/studies"))
            .bearer_auth(&d.owner)
            .header(
                "content-type",
                "multipart/related; type=\"application/dicom\"; boundary=bb",
            )
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    // Empty → 204.
    let w = MultipartWriter::new("bb");
    let body = w.body(std::iter::empty::<(&str, &[u8])>());
    assert_eq!(
        post(
            "multipart/related; type=\"application/dicom\"; boundary=bb",
            body
        )
        .await
        .0,
        204
    );
    // Bad UID in the URL.
    let (status, _, body) = d
        .send(
            Method::POST,
            "v2/studies/1.2.x_y",
            &d.owner,
            &[("content-type", "application/dicom")],
            Some(ct.clone()),
        )
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("StudyInstanceUid"));
    // Nothing stored by any of it.
    assert_eq!(blob_files(&d.h), 0);
    let (status, _) = d.get_json("v2/studies").await;
    assert_eq!(status, 204);
    // And a good one still goes in.
    assert_eq!(post("application/dicom", ct).await.0, 200);
    assert_eq!(blob_files(&d.h), 1);
}

/// A crash between the reservation and the commit leaves a reserved row and
/// maybe a blob: after a restart the sweep removes both; nothing half-stored
/// is ever visible.
#[tokio::test]
async fn a_crash_during_stow_leaves_nothing_after_restart() {
    let d = Dicom::start().await;
    let ct = dicomgen::build(&Spec::ct(ST1, SE1, I1));
    assert_eq!(d.stow("v2/studies", &[&ct]).await.0, 200);
    // Simulate the crashed writer: a reservation made long ago and its blob.
    let orphan = dicomgen::build(&Spec::ct(ST1, SE1, I2));
    let ingested = ingest_v2(orphan.clone());
    let store = hale_store::Store::open(&d.h.server.settings().effective_database_url())
        .await
        .unwrap();
    let svc: i64 = store
        .read(|tx| tx.query("SELECT svc FROM dicom_instances", &[])?[0].get(0))
        .await
        .unwrap();
    let ing = ingested.clone();
    let reservation = store
        .write(move |tx| hale_dicom_store::instances::reserve(tx, svc, &ing, 1))
        .await
        .unwrap();
    let hale_dicom_store::instances::Reservation::Reserved { blob_key, .. } = reservation else {
        panic!("{reservation:?}")
    };
    let path = d.h.server.settings().data_dir.join("blobs").join(&blob_key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &orphan).unwrap();
    // While it is reserved, the same instance is "being created" (45071).
    let (status, body) = d.stow("v2/studies", &[&orphan]).await;
    assert_eq!(status, 409);
    assert_eq!(failure_reasons(&body), [45071]);
    assert_eq!(blob_files(&d.h), 2);
    drop(store);

    let server = d.h.server.restart().await.unwrap();
    let h = Health::on(server).await;
    let d = Dicom {
        base: h.service_url("dicom", "imaging", "pacs"),
        owner: h.token_v2(&d.apps.0, DICOM).await,
        reader: h.token_v2(&d.apps.1, DICOM).await,
        h,
        apps: d.apps,
    };
    assert!(!path.exists(), "the orphan blob is swept at start");
    assert_eq!(blob_files(&d.h), 1);
    // The acknowledged instance is intact; the reserved one can be stored now.
    let (status, _, body) = d
        .send(
            Method::GET,
            &format!("v2/studies/{ST1}/series/{SE1}/instances/{I1}"),
            &d.owner,
            &[("accept", "application/dicom; transfer-syntax=*")],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, ct);
    assert_eq!(d.stow("v2/studies", &[&orphan]).await.0, 200);
}

#[tokio::test]
async fn rendered_instances_and_frames() {
    let d = Dicom::start().await;
    let ct = dicomgen::build(&Spec::ct(ST1, SE1, I1));
    let us = dicomgen::build(&Spec {
        rows: 8,
        columns: 6,
        ..Spec::us_multiframe(ST2, SE3, I4, 3)
    });
    let sr = dicomgen::build(&Spec::sr(ST1, SE2, I3));
    let j2k = dicomgen::build(&Spec {
        transfer_syntax: "1.2.840.10008.1.2.4.90",
        encapsulated: true,
        ..Spec::us_multiframe(ST1, SE1, I2, 1)
    });
    let (status, body) = d.stow("v2/studies", &[&ct, &us, &sr, &j2k]).await;
    assert_eq!(status, 200, "{body}");
    let get = |path: String, accept: Option<&'static str>| {
        let d = &d;
        async move {
            let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
            d.send(Method::GET, &path, &d.reader, &headers, None).await
        }
    };
    let inst = |s: &str, se: &str, i: &str| format!("v2/studies/{s}/series/{se}/instances/{i}");

    // No Accept: JPEG of the first frame, by the reader.
    let (status, h, body) = get(format!("{}/rendered", inst(ST1, SE1, I1)), None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["content-type"], "image/jpeg");
    let img = image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (3, 4));
    // PNG when asked, in v1 too.
    let (status, h, body) = get(
        format!("v1/studies/{ST1}/series/{SE1}/instances/{I1}/rendered"),
        Some("image/png"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/png");
    let img = image::load_from_memory_with_format(&body, image::ImageFormat::Png).unwrap();
    assert_eq!((img.width(), img.height()), (3, 4));
    // Frames of the multi-frame colour instance; quality changes the size.
    let frame = |n: &str| format!("{}/frames/{n}/rendered", inst(ST2, SE3, I4));
    let (status, _, f2) = get(frame("2"), Some("image/png")).await;
    assert_eq!(status, 200);
    let (_, _, f3) = get(frame("3"), Some("image/png")).await;
    assert_ne!(f2, f3);
    let img = image::load_from_memory(&f2).unwrap();
    assert_eq!(
        (img.width(), img.height(), img.color().has_color()),
        (6, 8, true)
    );
    let (_, _, hi) = get(format!("{}?quality=100", frame("1")), Some("image/jpeg")).await;
    let (_, _, lo) = get(format!("{}?quality=5", frame("1")), Some("image/jpeg")).await;
    assert!(lo.len() < hi.len(), "{} {}", lo.len(), hi.len());
    // The instance route is frame 1.
    let (_, _, first) = get(
        format!("{}/rendered", inst(ST2, SE3, I4)),
        Some("image/png"),
    )
    .await;
    let (_, _, f1) = get(frame("1"), Some("image/png")).await;
    assert_eq!(first, f1);

    // Errors: bad frame 400, missing frame/instance/pixel data 404,
    // Accept 406, undecodable syntax 406, bad quality 400.
    for (path, accept, want) in [
        (frame("0"), None, 400),
        (frame("x"), None, 400),
        (format!("{}?quality=0", frame("1")), None, 400),
        (format!("{}?quality=101", frame("1")), None, 400),
        (frame("4"), None, 404),
        (
            format!("{}/rendered", inst(ST2, SE3, "1.2.3.404")),
            None,
            404,
        ),
        (format!("{}/rendered", inst(ST1, SE2, I3)), None, 404),
        (frame("1"), Some("application/dicom"), 406),
        (frame("1"), Some("image/gif"), 406),
        (format!("{}/rendered", inst(ST1, SE1, I2)), None, 406),
    ] {
        let (status, h, body) = get(path.clone(), accept).await;
        assert_eq!(
            status,
            want,
            "{path} {accept:?}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }
    // A list of accepted types picks the first renderable one.
    let (status, h, _) = get(
        frame("1"),
        Some("application/dicom, image/png;q=0.9, image/jpeg;q=0.5"),
    )
    .await;
    assert_eq!(
        (status, h["content-type"].to_str().unwrap()),
        (200, "image/png")
    );
}

#[tokio::test]
async fn extended_query_tags_are_added_reindexed_and_searched() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let d = Dicom::start().await;
    let knee = dicomgen::build(&Spec::ct(ST1, SE1, I1).with(dicomgen::text(
        tags::BODY_PART_EXAMINED,
        VR::CS,
        "KNEE",
    )));
    let chest = dicomgen::build(&Spec::ct(ST2, SE3, I4).with(dicomgen::text(
        tags::BODY_PART_EXAMINED,
        VR::CS,
        "CHEST",
    )));
    assert_eq!(d.stow("v2/studies", &[&knee, &chest]).await.0, 200);
    let json_ct = [("content-type", "application/json")];
    let add = br#"[{"path":"BodyPartExamined","vr":"CS","level":"Series"}]"#.to_vec();

    // Not searchable yet.
    let (status, _) = d.get_json("v2/series?BodyPartExamined=KNEE").await;
    assert_eq!(status, 400);
    // The reader may not add tags.
    let (status, _, _) = d
        .send(
            Method::POST,
            "v2/extendedquerytags",
            &d.reader,
            &json_ct,
            Some(add.clone()),
        )
        .await;
    assert_eq!(status, 403);
    // Validation: a standard searchable tag, a bad VR.
    for bad in [
        &br#"[{"path":"PatientName","level":"Study"}]"#[..],
        br#"[{"path":"00180015","vr":"LO","level":"Series"}]"#,
        br#"not json"#,
    ] {
        let (status, h, body) = d
            .send(
                Method::POST,
                "v2/extendedquerytags",
                &d.owner,
                &json_ct,
                Some(bad.to_vec()),
            )
            .await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }
    let (status, _, body) = d
        .send(
            Method::POST,
            "v2/extendedquerytags",
            &d.owner,
            &json_ct,
            Some(add.clone()),
        )
        .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let op: Value = serde_json::from_slice(&body).unwrap();
    let id = op["id"].as_str().unwrap().to_owned();
    assert_eq!(op["href"], d.url(&format!("v2/operations/{id}")));
    // The operation finishes in the background.
    let done = d.finished_operation(&id).await;
    assert_eq!(done["type"], "reindex", "{done}");
    assert_eq!(done["percentComplete"], 100);
    assert_eq!(done["operationId"], id.as_str());
    assert_eq!(done["resources"][0], d.url("v2/extendedquerytags/00180015"));
    // Adding it again: 409.
    let (status, _, _) = d
        .send(
            Method::POST,
            "v2/extendedquerytags",
            &d.owner,
            &json_ct,
            Some(add),
        )
        .await;
    assert_eq!(status, 409);

    let (status, tag) = d.get_json("v2/extendedquerytags/00180015").await;
    assert_eq!(status, 200);
    assert_eq!(tag["path"], "00180015");
    assert_eq!(tag["vr"], "CS");
    assert_eq!(tag["level"], "Series");
    assert_eq!(tag["status"], "Ready");
    assert_eq!(tag["queryStatus"], "Enabled");
    let (_, by_keyword) = d.get_json("v2/extendedquerytags/BodyPartExamined").await;
    assert_eq!(by_keyword, tag);
    let (status, list) = d.get_json("v2/extendedquerytags?limit=10").await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, errors) = d.get_json("v2/extendedquerytags/00180015/errors").await;
    assert_eq!((status, errors), (200, serde_json::json!([])));
    assert_eq!(d.get_json("v2/extendedquerytags/00101010").await.0, 404);

    // QIDO by keyword and by path, at series and instance level.
    let (status, found) = d.get_json("v2/series?BodyPartExamined=knee").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["0020000E"]["Value"][0], SE1);
    let (status, found) = d.get_json("v2/instances?00180015=CHEST").await;
    assert_eq!(
        (status, found[0]["00080018"]["Value"][0].as_str()),
        (200, Some(I4))
    );
    assert_eq!(d.get_json("v2/studies?BodyPartExamined=KNEE").await.0, 400);
    // A new instance is indexed at STOW.
    let hand = dicomgen::build(&Spec::ct(ST1, SE2, I3).with(dicomgen::text(
        tags::BODY_PART_EXAMINED,
        VR::CS,
        "KNEE",
    )));
    assert_eq!(d.stow("v2/studies", &[&hand]).await.0, 200);
    let (_, found) = d.get_json("v2/series?BodyPartExamined=KNEE").await;
    assert_eq!(found.as_array().unwrap().len(), 2);

    // PATCH disables querying (the reader may not).
    let disable = br#"{"queryStatus":"Disabled"}"#.to_vec();
    let path = "v2/extendedquerytags/00180015";
    let (status, _, _) = d
        .send(
            Method::PATCH,
            path,
            &d.reader,
            &json_ct,
            Some(disable.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, body) = d
        .send(Method::PATCH, path, &d.owner, &json_ct, Some(disable))
        .await;
    assert_eq!(status, 200);
    let tag: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tag["queryStatus"], "Disabled");
    assert_eq!(d.get_json("v2/series?BodyPartExamined=KNEE").await.0, 400);

    // DELETE: the reader may not; the owner may, once.
    assert_eq!(
        d.send(Method::DELETE, path, &d.reader, &[], None).await.0,
        403
    );
    assert_eq!(
        d.send(Method::DELETE, path, &d.owner, &[], None).await.0,
        204
    );
    assert_eq!(
        d.send(Method::DELETE, path, &d.owner, &[], None).await.0,
        404
    );
    assert_eq!(
        d.get_json("v2/operations/0123456789abcdef0123456789abcdef")
            .await
            .0,
        404
    );
}

/// Every attribute a QIDO-RS query matches on comes back in each result
/// with the result's own value (not the query's), ModalitiesInStudy as all
/// the study's modalities and extended query tags too, at every level and
/// nested route, with the UIDs of the path; `includefield` returns an
/// extended query tag of a result level, `includefield=all` none (Azure's
/// list of attributes for `all` has none).
#[tokio::test]
async fn qido_results_carry_what_they_matched() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let d = Dicom::start().await;
    let instance = |spec: Spec, manufacturer: &str, station: &str, institution: &str| {
        dicomgen::build(
            &spec
                .with(dicomgen::text(tags::MANUFACTURER, VR::LO, manufacturer))
                .with(dicomgen::text(tags::STATION_NAME, VR::SH, station))
                .with(dicomgen::text(tags::INSTITUTION_NAME, VR::LO, institution)),
        )
    };
    let ct = instance(Spec::ct(ST1, SE1, I1), "AcmeCorp", "Scanner1", "General");
    let ot = Spec {
        modality: "OT",
        ..Spec::ct(ST1, SE2, I3)
    };
    let ot = instance(ot, "AcmeCorp", "Scanner2", "General");
    let other = instance(Spec::ct(ST2, SE3, I4), "Other", "Scanner3", "Clinic");
    assert_eq!(d.stow("v2/studies", &[&ct, &ot, &other]).await.0, 200);
    let add = br#"[{"path":"Manufacturer","vr":"LO","level":"Series"},
                   {"path":"StationName","vr":"SH","level":"Instance"},
                   {"path":"00080080","vr":"LO","level":"Study"}]"#;
    let (status, _, body) = d
        .send(
            Method::POST,
            "v2/extendedquerytags",
            &d.owner,
            &[("content-type", "application/json")],
            Some(add.to_vec()),
        )
        .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(d.finished_operation(&id).await["status"], "succeeded");

    let text = |v: &str, vr: &str| serde_json::json!({"vr": vr, "Value": [v]});
    let modalities = serde_json::json!({"vr": "CS", "Value": ["CT", "OT"]});
    // (query, how many results, tag, the value each result has, None: absent)
    let cases: &[(String, usize, &str, Option<Value>)] = &[
        (
            format!("v2/studies?StudyInstanceUID={ST1}&ModalitiesInStudy=ot"),
            1,
            "00080061",
            Some(modalities.clone()),
        ),
        (
            format!("v2/series?ModalitiesInStudy=OT&SeriesInstanceUID={SE1}"),
            1,
            "00080061",
            Some(modalities.clone()),
        ),
        (
            "v2/instances?ModalitiesInStudy=CT&Modality=OT".into(),
            1,
            "00080061",
            Some(modalities.clone()),
        ),
        (
            format!("v2/studies?StudyInstanceUID={ST1}&includefield=ModalitiesInStudy"),
            1,
            "00080061",
            Some(modalities),
        ),
        ("v2/studies?includefield=all".into(), 2, "00080061", None),
        (
            "v2/series?Manufacturer=acmecorp".into(),
            2,
            "00080070",
            Some(text("AcmeCorp", "LO")),
        ),
        (
            format!("v2/studies/{ST1}/series?Manufacturer=ACMECORP"),
            2,
            "00080070",
            Some(text("AcmeCorp", "LO")),
        ),
        (
            format!("v2/studies/{ST1}/instances?Manufacturer=acmecorp&Modality=ot"),
            1,
            "00080070",
            Some(text("AcmeCorp", "LO")),
        ),
        (
            format!("v2/studies/{ST1}/series/{SE1}/instances?StationName=scanner1"),
            1,
            "00081010",
            Some(text("Scanner1", "SH")),
        ),
        (
            "v2/instances?00081010=SCANNER3".into(),
            1,
            "00081010",
            Some(text("Scanner3", "SH")),
        ),
        (
            "v2/studies?InstitutionName=general".into(),
            1,
            "00080080",
            Some(text("General", "LO")),
        ),
        (
            "v2/series?InstitutionName=CLINIC".into(),
            1,
            "00080080",
            Some(text("Clinic", "LO")),
        ),
        (
            format!("v2/series?SeriesInstanceUID={SE3}&includefield=Manufacturer"),
            1,
            "00080070",
            Some(text("Other", "LO")),
        ),
        (
            format!("v2/instances?SOPInstanceUID={I4}&includefield=00081010"),
            1,
            "00081010",
            Some(text("Scanner3", "SH")),
        ),
        (
            format!("v2/series?SeriesInstanceUID={SE3}&includefield=all"),
            1,
            "00080070",
            None,
        ),
        // An instance-level tag is not a study attribute.
        (
            format!("v2/studies?StudyInstanceUID={ST2}&includefield=StationName"),
            1,
            "00081010",
            None,
        ),
        (
            "v2/studies?PatientID=pid-001".into(),
            2,
            "00100020",
            Some(text("PID-001", "LO")),
        ),
        (
            format!("v2/studies/{ST1}/series?Modality=ot"),
            1,
            "00080060",
            Some(text("OT", "CS")),
        ),
        // The UIDs of the path.
        (
            format!("v2/studies/{ST1}/series"),
            2,
            "0020000D",
            Some(text(ST1, "UI")),
        ),
        (
            format!("v2/studies/{ST1}/instances"),
            2,
            "0020000D",
            Some(text(ST1, "UI")),
        ),
        (
            format!("v2/studies/{ST1}/series/{SE2}/instances"),
            1,
            "0020000E",
            Some(text(SE2, "UI")),
        ),
    ];
    for (query, count, tag, expected) in cases {
        let (status, found) = d.get_json(query).await;
        assert_eq!(status, 200, "{query}: {found}");
        let found = found.as_array().unwrap();
        assert_eq!(found.len(), *count, "{query}: {found:?}");
        for result in found {
            assert_eq!(result.get(*tag), expected.as_ref(), "{query}: {result}");
        }
    }
}

/// `/frames` reads the byte ranges the frame index recorded at ingestion;
/// an instance whose frames could not be located (pixel data not last in
/// the file) is parsed instead. Proof: once the files' DICM prefix is
/// spoiled, only the parsed instance stops answering.
#[tokio::test]
async fn frames_are_read_by_range_where_the_index_knows_them() {
    let d = Dicom::start().await;
    let native = Spec::us_multiframe(ST2, SE3, "1.2.826.0.1.3680043.8.498.2.1.20", 3);
    let mut jpeg = Spec::us_multiframe(ST2, SE3, "1.2.826.0.1.3680043.8.498.2.1.21", 4);
    jpeg.transfer_syntax = dicomgen::JPEG_BASELINE;
    jpeg.encapsulated = true;
    let padded = Spec::ct(ST2, SE3, "1.2.826.0.1.3680043.8.498.2.1.22");
    let mut padded_bytes = dicomgen::build(&padded);
    // Data Set Trailing Padding (FFFC,FFFC), OB, 4 bytes, after the pixel data.
    padded_bytes.extend_from_slice(&[
        0xFC, 0xFF, 0xFC, 0xFF, b'O', b'B', 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let (status, body) = d
        .stow(
            "v2/studies",
            &[
                &dicomgen::build(&native),
                &dicomgen::build(&jpeg),
                &padded_bytes,
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (native, padded, d) = (&native, &padded, &d);
    let frames = |sop: &'static str, list: &'static str| d.frames(sop, list);
    let check = |spoiled: bool| async move {
        assert_eq!(
            frames("1.2.826.0.1.3680043.8.498.2.1.20", "3,1,2").await,
            (
                200,
                vec![
                    dicomgen::frame_bytes(native, 2),
                    dicomgen::frame_bytes(native, 0),
                    dicomgen::frame_bytes(native, 1)
                ]
            )
        );
        assert_eq!(
            frames("1.2.826.0.1.3680043.8.498.2.1.21", "4,2").await,
            (
                200,
                vec![dicomgen::fragment_bytes(3), dicomgen::fragment_bytes(1)]
            )
        );
        assert_eq!(frames("1.2.826.0.1.3680043.8.498.2.1.21", "5").await.0, 404);
        let parsed = frames("1.2.826.0.1.3680043.8.498.2.1.22", "1").await;
        if spoiled {
            assert_eq!(parsed.0, 500);
        } else {
            assert_eq!(parsed, (200, vec![dicomgen::frame_bytes(padded, 0)]));
        }
    };
    check(false).await;

    fn spoil(p: &std::path::Path) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                spoil(&p);
            } else {
                let mut bytes = std::fs::read(&p).unwrap();
                assert_eq!(&bytes[128..132], b"DICM");
                bytes[128..132].copy_from_slice(b"XXXX");
                std::fs::write(&p, bytes).unwrap();
            }
        }
    }
    spoil(&d.h.server.settings().data_dir.join("blobs").join("dicom"));
    check(true).await;
}

/// A compressed instance asked for in Explicit VR Little Endian (what a
/// request naming no syntax gets) is decoded: the instance with native pixel
/// data, and its frames decoded. Asked for in JPEG 2000 lossless it is
/// decoded and encoded again, frames included (as octet streams or
/// `image/jp2`). A stored syntax Hale cannot decode is a 406.
#[tokio::test]
async fn compressed_instances_are_transcoded() {
    let d = Dicom::start().await;
    const SOP: &str = "1.2.826.0.1.3680043.8.498.2.1.30";
    let mut spec = Spec::us_multiframe(ST2, SE3, SOP, 3);
    (spec.rows, spec.columns) = (16, 24);
    let jpeg = jpeg_baseline(&spec);
    let want = decoded_frames(&jpeg);
    assert_eq!(want.len(), 3);
    let path = d.stored_as_sent(SOP, &jpeg, "1.2.840.10008.1.2.4.50").await;

    // No syntax named: Explicit VR Little Endian, pixel data decoded.
    for accept in [
        "application/dicom",
        "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.1",
    ] {
        let (status, h, body) = d.get_as(&path, accept).await;
        assert_eq!(status, 200, "{accept}: {}", String::from_utf8_lossy(&body));
        let content_type = h["content-type"].to_str().unwrap();
        let bytes = if content_type.starts_with("multipart/") {
            let parts = parts_of(content_type, &body);
            assert_eq!(parts.len(), 1);
            parts[0].1.clone()
        } else {
            assert_eq!(
                content_type,
                "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
            );
            body
        };
        let ing = ingest_v2(bytes.clone());
        assert_eq!(ing.transfer_syntax_uid, "1.2.840.10008.1.2.1", "{accept}");
        assert_eq!(ing.sop_instance_uid.as_str(), SOP);
        assert_eq!(decoded_frames(&bytes), want, "{accept}");
    }

    // Frames: decoded unless the stored syntax is accepted.
    assert_eq!(
        d.frames_as(
            SOP,
            "3,1",
            "multipart/related; type=\"application/octet-stream\""
        )
        .await,
        (200, vec![want[2].clone(), want[0].clone()])
    );
    let (status, stored_frames) = d.frames(SOP, "1").await;
    assert_eq!(status, 200);
    assert_ne!(
        stored_frames[0], want[0],
        "the stored frame is the JPEG one"
    );
    assert!(stored_frames[0].starts_with(&[0xFF, 0xD8]));
    assert_eq!(
        d.frames_as(
            SOP,
            "4",
            "multipart/related; type=\"application/octet-stream\""
        )
        .await
        .0,
        404
    );

    // JPEG 2000 lossless: the instance decoded and encoded again, one
    // codestream per frame, decoding to the same pixels.
    let (status, h, transcoded) = d
        .get_as(
            &path,
            "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90",
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&transcoded));
    assert_eq!(
        h["content-type"],
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90"
    );
    let ing = ingest_v2(transcoded.clone());
    assert_eq!(ing.transfer_syntax_uid, "1.2.840.10008.1.2.4.90");
    assert_eq!(ing.sop_instance_uid.as_str(), SOP);
    assert_eq!(decoded_frames(&transcoded), want);

    // Frames as JPEG 2000: codestreams, each decoding to its frame; asked
    // for as octet streams or as image/jp2 (whose default syntax it is).
    for accept in [
        "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.90",
        "multipart/related; type=\"image/jp2\"",
        "multipart/related; type=\"image/jp2\"; transfer-syntax=1.2.840.10008.1.2.4.90",
    ] {
        let (status, h, body) = d
            .send(
                Method::GET,
                &format!("{path}/frames/3,1"),
                &d.reader,
                &[("accept", accept)],
                None,
            )
            .await;
        assert_eq!(status, 200, "{accept}: {}", String::from_utf8_lossy(&body));
        let content_type = h["content-type"].to_str().unwrap();
        assert!(
            content_type.contains("transfer-syntax=1.2.840.10008.1.2.4.90"),
            "{content_type}"
        );
        let jp2 = accept.contains("image/jp2");
        assert_eq!(
            content_type.contains("type=\"image/jp2\""),
            jp2,
            "{content_type}"
        );
        let parts = parts_of(content_type, &body);
        assert_eq!(parts.len(), 2);
        for ((part_type, codestream), frame) in parts.iter().zip([2, 0]) {
            let essence = if jp2 {
                "image/jp2"
            } else {
                "application/octet-stream"
            };
            assert_eq!(
                *part_type,
                format!("{essence}; transfer-syntax=1.2.840.10008.1.2.4.90")
            );
            assert!(
                codestream.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]),
                "{accept}: a J2K codestream (SOC, SIZ)"
            );
            assert_eq!(
                decode_j2k_frame(&transcoded, codestream),
                want[frame],
                "{accept}: frame {}",
                frame + 1
            );
        }
    }
    // One frame, single part.
    let (status, h, body) = d
        .get_as(
            &format!("{path}/frames/2"),
            "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        h["content-type"],
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90"
    );
    assert_eq!(decode_j2k_frame(&transcoded, &body), want[1]);
    // image/jp2 is JPEG 2000 lossless only.
    assert_eq!(
        d.frames_as(
            SOP,
            "1",
            "multipart/related; type=\"image/jp2\"; transfer-syntax=1.2.840.10008.1.2.1"
        )
        .await
        .0,
        406
    );

    // Pixel data the encoder cannot take (32 bits allocated): 406 with the
    // reason, single part or multipart, not a failed response.
    const WIDE_SOP: &str = "1.2.826.0.1.3680043.8.498.2.1.32";
    let wide = dicomgen::build(&Spec {
        bits_allocated: 32,
        ..Spec::ct(ST2, SE3, WIDE_SOP)
    });
    let (status, body) = d.stow("v2/studies", &[&wide]).await;
    assert_eq!(status, 200, "{body}");
    for accept in [
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90",
        "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90",
    ] {
        let (status, _, body) = d
            .get_as(
                &format!("v2/studies/{ST2}/series/{SE3}/instances/{WIDE_SOP}"),
                accept,
            )
            .await;
        let reason = String::from_utf8_lossy(&body);
        assert_eq!(status, 406, "{accept}: {reason}");
        assert!(reason.contains("32 bits allocated"), "{accept}: {reason}");
    }
    // The series and the study hold the JPEG instance first, which encodes,
    // then the wide one: the whole retrieval is a 406 naming the wide one,
    // not a multipart response cut short after the first part.
    for path in [
        format!("v2/studies/{ST2}/series/{SE3}"),
        format!("v2/studies/{ST2}"),
    ] {
        let (status, _, body) = d.get_as(&path, "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90").await;
        let reason = String::from_utf8_lossy(&body);
        assert_eq!(status, 406, "{path}: {reason}");
        assert!(reason.contains("32 bits allocated"), "{path}: {reason}");
        // Explicit VR Little Endian takes 32 bits: both parts are sent.
        let (status, h, body) = d.get_as(&path, "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.1").await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            parts_of(h["content-type"].to_str().unwrap(), &body).len(),
            2,
            "{path}"
        );
    }
    assert_eq!(
        d.frames_as(WIDE_SOP, "1", "multipart/related; type=\"image/jp2\"")
            .await
            .0,
        406
    );

    // A stored syntax Hale cannot decode (JPEG-LS needs CharLS, a C
    // library Hale does not link) cannot be transcoded: 406 with the
    // reason, in Azure's plain text; as stored it is still sent.
    const JPEG_LS_SOP: &str = "1.2.826.0.1.3680043.8.498.2.1.31";
    let jpeg_ls = dicomgen::build(&Spec {
        transfer_syntax: "1.2.840.10008.1.2.4.80",
        encapsulated: true,
        ..Spec::us_multiframe(ST2, SE3, JPEG_LS_SOP, 2)
    });
    let (status, body) = d.stow("v2/studies", &[&jpeg_ls]).await;
    assert_eq!(status, 200, "{body}");
    let jpeg_ls_path = format!("v2/studies/{ST2}/series/{SE3}/instances/{JPEG_LS_SOP}");
    let (status, _, body) = d
        .get_as(
            &jpeg_ls_path,
            "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90",
        )
        .await;
    assert_eq!(status, 406);
    let reason = String::from_utf8_lossy(&body);
    assert!(
        reason.contains("1.2.840.10008.1.2.4.80") && reason.contains("1.2.840.10008.1.2.4.90"),
        "{reason}"
    );
    assert_eq!(
        d.frames_as(JPEG_LS_SOP, "1", "multipart/related; type=\"image/jp2\"")
            .await
            .0,
        406
    );
    let (status, _, body) = d
        .get_as(&jpeg_ls_path, "application/dicom; transfer-syntax=*")
        .await;
    assert_eq!((status, body), (200, jpeg_ls));
}

/// Extended query tags of VR TM and DT match single values and ranges
/// (either end open; a partial value stands for its whole period), a DT's
/// UTC offset is not taken for a range, and a value that is not a time is
/// an indexing error, not a match.
#[tokio::test]
async fn extended_query_tags_match_time_and_datetime_ranges() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let d = Dicom::start().await;
    let instance = |sop: &str, time: &str, datetime: &str| {
        dicomgen::build(
            &Spec::ct(ST1, SE1, sop)
                .with(dicomgen::text(tags::ACQUISITION_TIME, VR::TM, time))
                .with(dicomgen::text(
                    tags::ACQUISITION_DATE_TIME,
                    VR::DT,
                    datetime,
                )),
        )
    };
    let early = instance(I1, "073000", "20240301073000");
    let noon = instance(I2, "120000.5", "20240301120000.5-0500");
    let late = instance(I3, "2359", "20240302");
    let bad = instance(I4, "7.30am", "soon");
    assert_eq!(d.stow("v2/studies", &[&early, &noon, &late]).await.0, 200);
    let add = br#"[{"path":"AcquisitionTime","vr":"TM","level":"Instance"},
                   {"path":"0008002A","vr":"DT","level":"Instance"}]"#;
    let (status, _, body) = d
        .send(
            Method::POST,
            "v2/extendedquerytags",
            &d.owner,
            &[("content-type", "application/json")],
            Some(add.to_vec()),
        )
        .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(d.finished_operation(&id).await["status"], "succeeded");
    // Stored after the tags are ready, through v1 (which keeps attributes
    // that fail validation): indexed at STOW, where its values fail.
    let (status, body) = d.stow("v1/studies", &[&bad]).await;
    assert_eq!(status, 200, "{body}");

    let d = &d;
    let sops = |query: &'static str| async move {
        let (status, found) = d.get_json(&format!("v2/instances?{query}")).await;
        if status == 204 {
            return Vec::new();
        }
        assert_eq!(status, 200, "{query}: {found}");
        let mut sops: Vec<String> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["00080018"]["Value"][0].as_str().unwrap().to_owned())
            .collect();
        sops.sort();
        sops
    };
    let want = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(sops("AcquisitionTime=0730").await, want(&[I1]));
    assert_eq!(sops("AcquisitionTime=0800-235900").await, want(&[I2, I3]));
    assert_eq!(sops("AcquisitionTime=-120000.5").await, want(&[I1, I2]));
    assert_eq!(sops("00080032=120001-").await, want(&[I3]));
    assert_eq!(
        sops("AcquisitionDateTime=2024030112-20240301235959").await,
        want(&[I2])
    );
    assert_eq!(sops("AcquisitionDateTime=20240302-").await, want(&[I3]));
    // A single value with a UTC offset: the offset is not the range's end.
    assert_eq!(
        sops("AcquisitionDateTime=20240301120000.5-0500").await,
        want(&[I2])
    );
    // Partial values stand for their whole period: a day, two years.
    assert_eq!(sops("AcquisitionDateTime=20240301").await, want(&[I1, I2]));
    assert_eq!(
        sops("AcquisitionDateTime=2023-2024").await,
        want(&[I1, I2, I3])
    );
    assert_eq!(sops("AcquisitionDateTime=-202402").await, want(&[]));
    for bad_query in [
        "AcquisitionTime=1200-0800",
        "AcquisitionTime=noon",
        "AcquisitionDateTime=2025-2024",
        "AcquisitionDateTime=-",
    ] {
        let (status, body) = d.get_json(&format!("v2/instances?{bad_query}")).await;
        assert_eq!(status, 400, "{bad_query}: {body}");
    }
    assert_eq!(sops("AcquisitionTime=00-23").await, want(&[I1, I2, I3]));
    for tag in ["00080032", "0008002A"] {
        let (_, errors) = d
            .get_json(&format!("v2/extendedquerytags/{tag}/errors"))
            .await;
        assert_eq!(errors.as_array().map(Vec::len), Some(1), "{tag}: {errors}");
        assert_eq!(errors[0]["sopInstanceUid"], I4);
    }
}

/// `spec` (native, 8 bits per sample) with its pixel data encoded as JPEG
/// baseline by dicom-rs's own encoder: real compressed frames, for tests
/// that decode them.
fn jpeg_baseline(spec: &Spec) -> Vec<u8> {
    use dicom_pixeldata::Transcode;
    let native = dicomgen::build(spec);
    let mut obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(&native[..])
        .expect("a generated file reads back");
    obj.transcode(&dicom_transfer_syntax_registry::entries::JPEG_BASELINE.erased())
        .expect("dicom-rs encodes 8-bit pixel data as JPEG baseline");
    let mut out = Vec::new();
    obj.write_all(&mut out).expect("write");
    out
}

/// The native pixel data of each frame of the instance in `bytes`, decoded
/// by dicom-rs (what a transcoded instance's frames must be).
fn decoded_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    use dicom_pixeldata::PixelDecoder;
    let obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(bytes)
        .expect("reads back");
    let decoded = obj.decode_pixel_data().expect("decodable");
    let frames = decoded.number_of_frames() as usize;
    let data = decoded.data();
    let each = data.len() / frames;
    data.chunks(each).map(<[u8]>::to_vec).collect()
}

/// The native pixels of one JPEG 2000 codestream, decoded by dicom-rs: the
/// codestream put as the only frame of `instance` (a JPEG 2000 lossless
/// Part-10 file, which gives the image attributes).
fn decode_j2k_frame(instance: &[u8], codestream: &[u8]) -> Vec<u8> {
    use dicom_core::value::PixelFragmentSequence;
    use dicom_core::{DataElement, Length, VR};
    use dicom_dictionary_std::tags;
    let mut obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(instance)
        .expect("reads back");
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, "1"));
    obj.put(DataElement::new_with_len(
        tags::PIXEL_DATA,
        VR::OB,
        Length::UNDEFINED,
        PixelFragmentSequence::new(vec![0], vec![codestream.to_vec()]),
    ));
    let mut out = Vec::new();
    obj.write_all(&mut out).expect("write");
    let mut frames = decoded_frames(&out);
    assert_eq!(frames.len(), 1);
    frames.remove(0)
}

/// What STOW-RS (v2) makes of `bytes`: the instance as Hale reads it.
fn ingest_v2(bytes: Vec<u8>) -> hale_dicom::Ingested {
    hale_dicom::ingest(
        bytes::Bytes::from(bytes),
        &hale_dicom::IngestOptions {
            api: hale_dicom::ApiVersion::V2,
            study_in_path: None,
        },
    )
    .unwrap()
}

/// Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99), which
/// compresses the whole data set after the file meta: stored as sent,
/// searched, its metadata and frames read from the inflated data set, and
/// sent as Explicit VR Little Endian when no syntax is named.
#[tokio::test]
async fn deflated_instances_are_stored_and_read() {
    const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
    const SOP: &str = "1.2.826.0.1.3680043.8.498.2.1.40";
    let d = Dicom::start().await;
    let mut spec = Spec::us_multiframe(ST2, SE3, SOP, 2);
    (spec.rows, spec.columns) = (12, 20);
    let native = dicomgen::build(&spec);
    let mut obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(&native[..])
        .expect("a generated file reads back");
    obj.meta_mut().set_transfer_syntax(
        &dicom_transfer_syntax_registry::entries::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    );
    let mut deflated = Vec::new();
    obj.write_all(&mut deflated)
        .expect("dicom-rs writes deflated data sets");
    assert_eq!(ingest_v2(deflated.clone()).transfer_syntax_uid, DEFLATED);
    let want = decoded_frames(&native);
    assert_eq!(want.len(), 2);

    let path = d.stored_as_sent(SOP, &deflated, DEFLATED).await;

    // Searched and described from the inflated data set.
    let (status, found) = d
        .get_json(&format!("v2/instances?SOPInstanceUID={SOP}"))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found[0]["00080018"]["Value"][0], SOP);
    let (status, meta) = d.get_json(&format!("{path}/metadata")).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta[0]["00280010"]["Value"][0], 12);
    assert_eq!(meta[0]["00280011"]["Value"][0], 20);

    // Frames: the native pixels of each.
    let (status, frames) = d.frames(SOP, "2,1").await;
    assert_eq!(status, 200);
    assert_eq!(frames, [want[1].clone(), want[0].clone()]);
    let (status, _) = d.frames(SOP, "3").await;
    assert_eq!(status, 404);

    // No syntax named: Explicit VR Little Endian, same pixels.
    let (status, h, body) = d.get_as(&path, "application/dicom").await;
    assert_eq!(status, 200);
    assert_eq!(
        h["content-type"],
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    );
    let ing = ingest_v2(body.clone());
    assert_eq!(ing.transfer_syntax_uid, "1.2.840.10008.1.2.1");
    assert_eq!(decoded_frames(&body), want);
}
