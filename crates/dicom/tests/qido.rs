mod common;

use bytes::Bytes;
use common::*;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use hale_dicom::qido::*;
use hale_dicom::*;
use serde_json::json;

fn q(resource: QueryResource, params: &[(&str, &str)]) -> Result<QidoQuery, Error> {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_query(resource, &params, ApiVersion::V2)
}

fn err(resource: QueryResource, params: &[(&str, &str)]) -> String {
    let e = q(resource, params).unwrap_err();
    assert_eq!(e.status(), 400);
    e.to_string()
}

type Params<'a> = Vec<(&'a str, &'a str)>;

fn uid(s: &str) -> Uid {
    Uid::parse("uid", s).unwrap()
}

#[test]
fn parses_parameters_by_keyword_and_tag() {
    let got = q(
        QueryResource::AllInstances,
        &[
            ("PatientName", "doe"),
            ("00080060", "CT"),
            ("StudyDate", "20200101-20201231"),
            ("PatientBirthDate", "-19800101"),
            ("PerformedProcedureStepStartDate", "20200101-"),
            ("SOPInstanceUID", "1.2.3,1.2.4\\1.2.5"),
            ("includefield", "00280010,StudyTime"),
            ("includefield", "Rows"),
            ("limit", "5"),
            ("offset", "10"),
            ("FuzzyMatching", "TRUE"),
        ],
    )
    .unwrap();
    assert_eq!((got.limit, got.offset, got.fuzzy), (5, 10, true));
    let conds: Vec<(Tag, Condition)> = got
        .filters
        .iter()
        .map(|f| (f.attribute.tag, f.condition.clone()))
        .collect();
    assert_eq!(
        conds,
        vec![
            (tags::PATIENT_NAME, Condition::FuzzyName(vec!["doe".into()])),
            (tags::MODALITY, Condition::Exact("CT".into())),
            (
                tags::STUDY_DATE,
                Condition::DateRange {
                    from: Some(20200101),
                    to: Some(20201231)
                }
            ),
            (
                tags::PATIENT_BIRTH_DATE,
                Condition::DateRange {
                    from: None,
                    to: Some(19800101)
                }
            ),
            (
                tags::PERFORMED_PROCEDURE_STEP_START_DATE,
                Condition::DateRange {
                    from: Some(20200101),
                    to: None
                }
            ),
            (
                tags::SOP_INSTANCE_UID,
                Condition::AnyOf(vec!["1.2.3".into(), "1.2.4".into(), "1.2.5".into()])
            ),
        ]
    );
    assert_eq!(
        got.include,
        IncludeFields::Tags(vec![tags::ROWS, tags::STUDY_TIME, tags::ROWS])
    );
    let d = q(QueryResource::AllStudies, &[]).unwrap();
    assert_eq!(
        (d.limit, d.offset, d.fuzzy, d.include),
        (100, 0, false, IncludeFields::Default)
    );
    let all = q(
        QueryResource::AllStudies,
        &[("includefield", "StudyTime"), ("includefield", "all")],
    )
    .unwrap();
    assert_eq!(all.include, IncludeFields::All);
    // Without fuzzy matching, names match exactly.
    let exact = q(QueryResource::AllStudies, &[("PatientName", "Doe^John")]).unwrap();
    assert_eq!(
        exact.filters[0].condition,
        Condition::Exact("Doe^John".into())
    );
}

#[test]
fn errors_in_azure_words() {
    use QueryResource::*;
    let study = || StudySeries(uid("1.2"));
    let cases: Vec<(QueryResource, Params, &str)> = vec![
        (
            AllStudies,
            vec![("patientname", "x")],
            "Invalid QIDO-RS query. Unknown query parameter 'patientname'.",
        ),
        (
            AllStudies,
            vec![("Foo", "x")],
            "Unknown query parameter 'Foo'",
        ),
        (
            AllStudies,
            vec![("Modality", "CT")],
            "Invalid QIDO-RS query. AttributeId Modality is not queryable.",
        ),
        (
            AllStudies,
            vec![("00280010", "4")],
            "AttributeId 00280010 is not queryable.",
        ),
        (
            AllStudies,
            vec![("TimezoneOffsetFromUTC", "+0100")],
            "is not queryable",
        ),
        (
            study(),
            vec![("PatientName", "x")],
            "AttributeId PatientName is not queryable.",
        ),
        (
            StudySeriesInstances(uid("1.2"), uid("1.3")),
            vec![("Modality", "CT")],
            "is not queryable",
        ),
        (
            AllStudies,
            vec![("PatientID", " ")],
            "Invalid QIDO-RS query. AttributeId 'PatientID' has empty string value that is not supported.",
        ),
        (
            AllStudies,
            vec![("PatientID", "a"), ("00100020", "b")],
            "Invalid QIDO-RS query. Duplicate AttributeId '00100020', Each attribute is allowed to be specified once.",
        ),
        (
            AllStudies,
            vec![("StudyDate", "2020-01-01")],
            "Specified Date value '2020' is invalid for parameter 'StudyDate'.",
        ),
        (
            AllStudies,
            vec![("StudyDate", "20200230")],
            "Specified Date value '20200230' is invalid",
        ),
        (
            AllStudies,
            vec![("StudyDate", "-")],
            "Specified Date value '-' is invalid",
        ),
        (
            AllStudies,
            vec![("StudyDate", "20201231-20200101")],
            "Specified date range '20201231-20200101' is invalid.",
        ),
        (
            AllStudies,
            vec![("limit", "0")],
            "Invalid QIDO-RS query.  Specified limit value 0 is outside the allowed range of 1..200.",
        ),
        (
            AllStudies,
            vec![("limit", "201")],
            "outside the allowed range of 1..200",
        ),
        (
            AllStudies,
            vec![("limit", "ten")],
            "Invalid QIDO-RS query. Specified limit value 'ten' is not a valid integer.",
        ),
        (
            AllStudies,
            vec![("offset", "-1")],
            "Invalid QIDO-RS query. Specified offset value '-1' is not a valid integer.",
        ),
        (
            AllStudies,
            vec![("fuzzymatching", "yes")],
            "Invalid QIDO-RS query. Specified fuzzymatch value 'yes' is not a valid boolean",
        ),
        (
            AllStudies,
            vec![("includefield", "NoSuchKeyword")],
            "Invalid QIDO-RS query. IncludeField has unknown attribute 'NoSuchKeyword'.",
        ),
        (
            AllStudies,
            vec![("StudyInstanceUID", "1.2,1_3")],
            "DICOM Identifier 'StudyInstanceUID' value '1_3' is invalid.",
        ),
    ];
    for (resource, params, expected) in cases {
        let msg = err(resource, &params);
        assert!(msg.contains(expected), "{params:?}: {msg}");
    }
}

fn record() -> IndexRecord {
    let got = ingest(
        Bytes::from(build(&Spec::mr_implicit(STUDY_A, SERIES_A2, "1.2.3.40"))),
        &IngestOptions {
            api: ApiVersion::V2,
            study_in_path: None,
        },
    )
    .unwrap();
    // The store adds the study's modalities.
    got.index
        .clone()
        .with(MODALITIES_IN_STUDY, SearchValue::Text("CT".into()))
        .with(MODALITIES_IN_STUDY, SearchValue::Text("MR".into()))
}

#[test]
fn matching_semantics() {
    use QueryResource::*;
    let uid_list = format!("9.9,{STUDY_A}");
    let r = record(); // PatientName "Müller^Zoë", StudyDate 20200115, Modality MR, ...
    let cases: Vec<(QueryResource, Params, bool)> = vec![
        (AllStudies, vec![], true),
        (AllStudies, vec![("PatientName", "Müller^Zoë")], true),
        (AllStudies, vec![("PatientName", "MULLER^ZOE")], true),
        (AllStudies, vec![("PatientName", "Müller")], false),
        (
            AllStudies,
            vec![("PatientName", "mul"), ("fuzzymatching", "true")],
            true,
        ),
        (
            AllStudies,
            vec![("PatientName", "zo mu"), ("fuzzymatching", "true")],
            true,
        ),
        (
            AllStudies,
            vec![("PatientName", "ller"), ("fuzzymatching", "true")],
            false,
        ),
        (
            AllStudies,
            vec![("PatientName", "mul xavier"), ("fuzzymatching", "true")],
            false,
        ),
        (
            AllStudies,
            vec![("ReferringPhysicianName", "smi"), ("fuzzymatching", "true")],
            true,
        ),
        (AllStudies, vec![("PatientName", "Mü*")], false),
        (AllStudies, vec![("PatientID", "pid-002")], true),
        (AllStudies, vec![("PatientID", "PID-00")], false),
        (AllStudies, vec![("StudyDescription", "mr knee")], true),
        (AllStudies, vec![("AccessionNumber", "ACC-42\0")], true),
        (AllStudies, vec![("StudyDate", "20200115")], true),
        (AllStudies, vec![("StudyDate", "20200116")], false),
        (AllStudies, vec![("StudyDate", "20200101-20200131")], true),
        (AllStudies, vec![("StudyDate", "20200116-")], false),
        (AllStudies, vec![("StudyDate", "-20200115")], true),
        (
            AllStudies,
            vec![("PatientBirthDate", "19700101-19701231")],
            true,
        ),
        (AllStudies, vec![("ModalitiesInStudy", "CT")], true),
        (AllStudies, vec![("ModalitiesInStudy", "US")], false),
        (AllStudies, vec![("StudyInstanceUID", &uid_list)], true),
        (AllStudies, vec![("StudyInstanceUID", "9.9\\9.8")], false),
        (
            AllSeries,
            vec![("Modality", "mr"), ("PatientID", "PID-002")],
            true,
        ),
        (AllSeries, vec![("Modality", "CT")], false),
        (
            AllSeries,
            vec![("ManufacturerModelName", "hale scanner 3000")],
            true,
        ),
        (AllInstances, vec![("SOPInstanceUID", "1.2.3.40")], true),
        (StudySeries(uid(STUDY_A)), vec![("Modality", "MR")], true),
        (StudySeries(uid(STUDY_B)), vec![], false),
        (
            StudyInstances(uid(STUDY_A)),
            vec![("SeriesInstanceUID", SERIES_A2)],
            true,
        ),
        (
            StudySeriesInstances(uid(STUDY_A), uid(SERIES_A1)),
            vec![],
            false,
        ),
        (
            StudySeriesInstances(uid(STUDY_A), uid(SERIES_A2)),
            vec![("SOPInstanceUID", "1.2.3.40")],
            true,
        ),
    ];
    for (resource, params, expected) in cases {
        let query = q(resource.clone(), &params).unwrap();
        assert_eq!(matches(&query, &r), expected, "{resource:?} {params:?}");
    }
    // An attribute the candidate lacks never matches.
    let empty = IndexRecord::new();
    assert!(!matches(
        &q(AllStudies, &[("PatientID", "x")]).unwrap(),
        &empty
    ));
}

#[test]
fn results_per_level() {
    use QueryResource::*;
    let got = ingest(
        Bytes::from(build(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.41"))),
        &IngestOptions {
            api: ApiVersion::V2,
            study_in_path: None,
        },
    )
    .unwrap();
    let la = &got.level_attributes;
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();

    let study = result_json(
        &q(AllStudies, &[]).unwrap(),
        la,
        &ResultExtras {
            study_related_instances: Some(3),
            ..Default::default()
        },
    );
    assert_eq!(
        keys(&study),
        [
            "00080020", "00080050", "00080090", "00081030", "00100010", "00100020", "00100030",
            "0020000D"
        ]
    );
    assert_eq!(
        study["00100010"],
        json!({"vr": "PN", "Value": [{"Alphabetic": "Doe^John^Quincy^Dr.^Jr."}]})
    );

    let study = result_json(
        &q(
            AllStudies,
            &[
                ("includefield", "StudyTime"),
                ("includefield", "NumberOfStudyRelatedInstances"),
                ("includefield", "Rows"),
            ],
        )
        .unwrap(),
        la,
        &ResultExtras {
            study_related_instances: Some(3),
            ..Default::default()
        },
    );
    assert_eq!(study["00080030"], json!({"vr": "TM", "Value": ["101500"]}));
    assert_eq!(study["00201208"], json!({"vr": "IS", "Value": [3]}));
    assert!(
        study.get("00280010").is_none(),
        "Rows is not a study-level attribute"
    );

    let all = result_json(
        &q(AllStudies, &[("includefield", "all")]).unwrap(),
        la,
        &ResultExtras {
            study_related_instances: Some(3),
            ..Default::default()
        },
    );
    assert!(
        all.get("00100040").is_some()
            && all.get("00200010").is_some()
            && all.get("00201208").is_some()
    );

    let series = result_json(
        &q(AllSeries, &[]).unwrap(),
        la,
        &ResultExtras {
            series_related_instances: Some(2),
            ..Default::default()
        },
    );
    assert_eq!(
        keys(&series),
        [
            "00080020", "00080050", "00080060", "00080090", "00081030", "00081090", "00100010",
            "00100020", "00100030", "0020000D", "0020000E", "00400244"
        ]
    );

    let inst = result_json(
        &q(StudySeriesInstances(uid(STUDY_A), uid(SERIES_A1)), &[]).unwrap(),
        la,
        &ResultExtras::default(),
    );
    assert_eq!(keys(&inst), ["00080018", "0020000D", "0020000E"]);
    let inst = result_json(
        &q(StudyInstances(uid(STUDY_A)), &[("includefield", "all")]).unwrap(),
        la,
        &ResultExtras::default(),
    );
    assert_eq!(inst["00280010"], json!({"vr": "US", "Value": [4]}));
    assert_eq!(inst["00080060"], json!({"vr": "CS", "Value": ["CT"]}));
    assert!(
        inst.get("00100010").is_none(),
        "no study attributes for a study's instances"
    );

    // Filtered attributes come back even when not default.
    let series = result_json(
        &q(StudySeries(uid(STUDY_A)), &[("Modality", "CT")]).unwrap(),
        la,
        &ResultExtras::default(),
    );
    assert_eq!(series["00080060"]["Value"][0], "CT");

    // v1's defaults are larger.
    let v1 = parse_query(AllInstances, &[], ApiVersion::V1).unwrap();
    let inst = result_json(&v1, la, &ResultExtras::default());
    assert!(
        inst.get("00080016").is_some()
            && inst.get("00200013").is_some()
            && inst.get("00080030").is_some()
    );
    let _ = (VR::CS, text(tags::MODALITY, VR::CS, "CT"));
}
