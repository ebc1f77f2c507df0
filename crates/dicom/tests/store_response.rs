mod common;

use bytes::Bytes;
use common::*;
use hale_dicom::*;
use serde_json::json;

const BASE: &str = "https://h/dicom/ws/svc/v2";

fn stored(sop: &str, warning: Option<WarningReason>, failed: &[&str]) -> InstanceOutcome {
    InstanceOutcome::Stored(StoredInstance {
        study_instance_uid: Uid::parse("s", "1.2").unwrap(),
        series_instance_uid: Uid::parse("s", "1.2.3").unwrap(),
        sop_instance_uid: Uid::parse("s", sop).unwrap(),
        sop_class_uid: Uid::parse("s", CT_IMAGE).unwrap(),
        warning_reason: warning,
        failed_attributes: failed.iter().map(|s| s.to_string()).collect(),
    })
}

fn failed(reason: FailureReason, uids: bool) -> InstanceOutcome {
    InstanceOutcome::Failed(Rejection {
        reason,
        sop_class_uid: uids.then(|| CT_IMAGE.to_string()),
        sop_instance_uid: uids.then(|| "9.9".to_string()),
        failed_attributes: None,
        message: String::new(),
    })
}

#[test]
fn statuses() {
    let s = || stored("1.2.3.4", None, &[]);
    let w = || {
        stored(
            "1.2.3.5",
            Some(WarningReason::DatasetHasValidationWarnings),
            &["DICOM100: x"],
        )
    };
    let f = || failed(FailureReason::SopInstanceAlreadyExists, true);
    let cases: Vec<(Vec<InstanceOutcome>, ApiVersion, u16)> = vec![
        (vec![], ApiVersion::V2, 204),
        (vec![s()], ApiVersion::V2, 200),
        (vec![s(), w()], ApiVersion::V2, 202),
        (vec![s(), w()], ApiVersion::V1, 200),
        (vec![s(), f()], ApiVersion::V1, 202),
        (vec![f(), f()], ApiVersion::V2, 409),
    ];
    for (outcomes, api, status) in cases {
        let r = store_response(&outcomes, BASE, None, api);
        assert_eq!(r.status, status, "{outcomes:?} {api:?}");
        assert_eq!(r.body.is_none(), status == 204);
    }
}

#[test]
fn v2_body_shape() {
    let study = Uid::parse("s", "1.2").unwrap();
    let outcomes = vec![
        stored("1.2.3.4", None, &[]),
        stored(
            "1.2.3.5",
            Some(WarningReason::DatasetHasValidationWarnings),
            &["DICOM100: (0008,0020) - bad"],
        ),
        failed(FailureReason::MismatchStudyInstanceUid, true),
        failed(FailureReason::ValidationFailure, false),
    ];
    let r = store_response(&outcomes, BASE, Some(&study), ApiVersion::V2);
    assert_eq!(r.status, 202);
    let inst = |sop: &str| format!("{BASE}/studies/1.2/series/1.2.3/instances/{sop}");
    assert_eq!(
        r.body.unwrap(),
        json!({
            "00081190": {"vr": "UR", "Value": [format!("{BASE}/studies/1.2")]},
            "00081198": {"vr": "SQ", "Value": [
                {"00081150": {"vr": "UI", "Value": [CT_IMAGE]}, "00081155": {"vr": "UI", "Value": ["9.9"]},
                 "00081197": {"vr": "US", "Value": [43265]}},
                {"00081197": {"vr": "US", "Value": [43264]}}
            ]},
            "00081199": {"vr": "SQ", "Value": [
                {"00081150": {"vr": "UI", "Value": [CT_IMAGE]}, "00081155": {"vr": "UI", "Value": ["1.2.3.4"]},
                 "00081190": {"vr": "UR", "Value": [inst("1.2.3.4")]}, "00741048": {"vr": "SQ"}},
                {"00081150": {"vr": "UI", "Value": [CT_IMAGE]}, "00081155": {"vr": "UI", "Value": ["1.2.3.5"]},
                 "00081190": {"vr": "UR", "Value": [inst("1.2.3.5")]}, "00081196": {"vr": "US", "Value": [1]},
                 "00741048": {"vr": "SQ", "Value": [{"00000902": {"vr": "LO", "Value": ["DICOM100: (0008,0020) - bad"]}}]}}
            ]}
        })
    );
}

#[test]
fn v1_body_has_no_failed_attributes_on_success_and_no_study_url_without_path() {
    let r = store_response(
        &[stored("1.2.3.4", None, &[])],
        "https://h/v1/",
        None,
        ApiVersion::V1,
    );
    assert_eq!(
        r.body.unwrap(),
        json!({"00081199": {"vr": "SQ", "Value": [
            {"00081150": {"vr": "UI", "Value": [CT_IMAGE]}, "00081155": {"vr": "UI", "Value": ["1.2.3.4"]},
             "00081190": {"vr": "UR", "Value": ["https://h/v1/studies/1.2/series/1.2.3/instances/1.2.3.4"]}}
        ]}})
    );
    // All failed with a study in the path: no study RetrieveURL.
    let study = Uid::parse("s", "1.2").unwrap();
    let r = store_response(
        &[failed(FailureReason::ProcessingFailure, false)],
        BASE,
        Some(&study),
        ApiVersion::V2,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body.unwrap(),
        json!({"00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": [272]}}]}})
    );
}

#[test]
fn from_ingestion_to_response() {
    let ok = ingest(
        Bytes::from(build(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.30"))),
        &IngestOptions {
            api: ApiVersion::V1,
            study_in_path: None,
        },
    )
    .unwrap();
    let bad = ingest(
        Bytes::from(not_dicom()),
        &IngestOptions {
            api: ApiVersion::V1,
            study_in_path: None,
        },
    )
    .unwrap_err();
    let dup = InstanceOutcome::store_failure(&ok, FailureReason::SopInstanceAlreadyExists);
    let outcomes = vec![
        InstanceOutcome::Stored((&ok).into()),
        InstanceOutcome::Failed(bad),
        dup,
    ];
    let r = store_response(&outcomes, BASE, None, ApiVersion::V1);
    assert_eq!(r.status, 202);
    let body = r.body.unwrap();
    assert_eq!(
        body["00081198"]["Value"][0],
        json!({"00081197": {"vr": "US", "Value": [43264]}})
    );
    assert_eq!(body["00081198"]["Value"][1]["00081197"]["Value"][0], 45070);
    assert_eq!(
        body["00081198"]["Value"][1]["00081155"]["Value"][0],
        "1.2.3.30"
    );
    assert_eq!(
        body["00081199"]["Value"][0]["00081190"]["Value"][0],
        format!("{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances/1.2.3.30")
    );
}
