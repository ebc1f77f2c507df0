mod common;

use bytes::Bytes;
use common::*;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use hale_dicom::*;
use serde_json::json;

fn v2() -> IngestOptions {
    IngestOptions {
        api: ApiVersion::V2,
        study_in_path: None,
    }
}
fn v1() -> IngestOptions {
    IngestOptions {
        api: ApiVersion::V1,
        study_in_path: None,
    }
}

fn ingest_spec(spec: &Spec, o: &IngestOptions) -> Result<Ingested, Rejection> {
    ingest(Bytes::from(build(spec)), o)
}

#[test]
fn ingests_explicit_vr_ct_with_everything_extracted() {
    let spec = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.4.5");
    let bytes = build(&spec);
    let got = ingest(Bytes::from(bytes.clone()), &v2()).unwrap();
    assert_eq!(got.study_instance_uid.as_str(), STUDY_A);
    assert_eq!(got.series_instance_uid.as_str(), SERIES_A1);
    assert_eq!(got.sop_instance_uid.as_str(), "1.2.3.4.5");
    assert_eq!(got.sop_class_uid.as_str(), CT_IMAGE);
    assert_eq!(got.transfer_syntax_uid, EXPLICIT_LE);
    assert_eq!(got.number_of_frames, 1);
    assert_eq!(
        got.bytes.as_ref(),
        bytes.as_slice(),
        "original bytes untouched"
    );
    assert_eq!(got.byte_len(), bytes.len() as u64);
    assert_eq!(got.warning_reason, None);
    assert!(got.failed_attributes.is_empty());

    let idx = &got.index;
    assert_eq!(
        idx.get(tags::PATIENT_NAME),
        [SearchValue::PersonName("Doe^John^Quincy^Dr.^Jr.".into())]
    );
    assert_eq!(idx.get(tags::STUDY_DATE), [SearchValue::Date(20200115)]);
    assert_eq!(
        idx.get(tags::PATIENT_BIRTH_DATE),
        [SearchValue::Date(19700412)]
    );
    assert_eq!(idx.get(tags::MODALITY), [SearchValue::Text("CT".into())]);
    assert_eq!(
        idx.get(tags::MANUFACTURER_MODEL_NAME),
        [SearchValue::Text("Hale Scanner 3000".into())]
    );
    assert_eq!(
        idx.get(tags::SOP_INSTANCE_UID),
        [SearchValue::Text("1.2.3.4.5".into())]
    );
    assert_eq!(
        idx.get(tags::ACCESSION_NUMBER),
        [SearchValue::Text("ACC-42".into())]
    );
    assert!(
        idx.get(MODALITIES_IN_STUDY).is_empty(),
        "aggregated by the store"
    );

    let la = &got.level_attributes;
    assert_eq!(
        la.study["00100010"],
        json!({"vr": "PN", "Value": [{"Alphabetic": "Doe^John^Quincy^Dr.^Jr."}]})
    );
    assert_eq!(
        la.study["00080030"],
        json!({"vr": "TM", "Value": ["101500"]})
    );
    assert_eq!(la.series["00080060"], json!({"vr": "CS", "Value": ["CT"]}));
    assert_eq!(la.series["00400275"]["vr"], "SQ");
    assert_eq!(la.instance["00280010"], json!({"vr": "US", "Value": [4]}));
    assert!(
        !la.instance.contains_key("00280008"),
        "no NumberOfFrames in this file"
    );
    assert!(!la.study.contains_key("00080060"));
}

#[test]
fn metadata_leaves_out_bulk_data_and_meta_group_but_keeps_private_text() {
    let got = ingest_spec(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.4.6"), &v2()).unwrap();
    let m = got.metadata.as_object().unwrap();
    assert!(!m.contains_key("7FE00010"), "pixel data (OW)");
    assert!(!m.contains_key("00091003"), "private UN");
    assert!(!m.keys().any(|k| k.starts_with("0002")), "file meta group");
    assert_eq!(
        m["00091001"],
        json!({"vr": "LO", "Value": ["private text"]})
    );
    let item = &m["00400275"]["Value"][0];
    assert_eq!(item["00401001"], json!({"vr": "SH", "Value": ["RP-7"]}));
    assert!(
        item.get("00091002").is_none(),
        "OB inside a sequence is left out too"
    );
    assert_eq!(
        m["00100010"]["Value"][0]["Alphabetic"],
        "Doe^John^Quincy^Dr.^Jr."
    );
}

#[test]
fn implicit_vr_gets_warning_45063_and_non_ascii_names_decode() {
    let got = ingest_spec(&Spec::mr_implicit(STUDY_A, SERIES_A2, "1.2.3.9"), &v2()).unwrap();
    assert_eq!(got.transfer_syntax_uid, IMPLICIT_LE);
    assert_eq!(
        got.warning_reason,
        Some(WarningReason::DatasetDoesNotMatchSopClass)
    );
    assert_eq!(got.warning_reason.unwrap().code(), 45063);
    assert_eq!(
        got.index.get(tags::PATIENT_NAME),
        [SearchValue::PersonName("Müller^Zoë".into())]
    );
    // v1 warns the same way.
    let got = ingest_spec(&Spec::mr_implicit(STUDY_A, SERIES_A2, "1.2.3.9"), &v1()).unwrap();
    assert_eq!(
        got.warning_reason,
        Some(WarningReason::DatasetDoesNotMatchSopClass)
    );
}

#[test]
fn multiframe_and_no_pixel_data_frame_counts() {
    let got = ingest_spec(
        &Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.10", 3),
        &v2(),
    )
    .unwrap();
    assert_eq!(got.number_of_frames, 3);
    assert_eq!(
        got.level_attributes.instance["00280008"],
        json!({"vr": "IS", "Value": [3]})
    );
    let got = ingest_spec(&Spec::sr(STUDY_B, "1.2.3.11", "1.2.3.11.1"), &v2()).unwrap();
    assert_eq!(got.number_of_frames, 0);
    let mut enc = Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.12", 4);
    enc.transfer_syntax = JPEG_BASELINE;
    enc.encapsulated = true;
    let got = ingest_spec(&enc, &v2()).unwrap();
    assert_eq!(got.number_of_frames, 4);
    assert_eq!(got.transfer_syntax_uid, JPEG_BASELINE);
    assert!(!got.metadata.as_object().unwrap().contains_key("7FE00010"));
}

#[test]
fn study_uid_must_match_the_path() {
    let spec = Spec::ct(STUDY_B, SERIES_B1, "1.2.3.13");
    let o = IngestOptions {
        api: ApiVersion::V2,
        study_in_path: Some(Uid::parse("study", STUDY_A).unwrap()),
    };
    let r = ingest_spec(&spec, &o).unwrap_err();
    assert_eq!(r.reason, FailureReason::MismatchStudyInstanceUid);
    assert_eq!(r.reason.code(), 43265);
    assert_eq!(r.sop_instance_uid.as_deref(), Some("1.2.3.13"));
    assert_eq!(r.sop_class_uid.as_deref(), Some(CT_IMAGE));
    assert_eq!(r.failed_attributes, None);
    let o = IngestOptions {
        api: ApiVersion::V2,
        study_in_path: Some(Uid::parse("study", STUDY_B).unwrap()),
    };
    assert!(ingest_spec(&spec, &o).is_ok());
}

#[test]
fn required_attributes() {
    let base = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.14");
    let cases: Vec<(Spec, &str)> = vec![
        (
            Spec {
                study: None,
                ..base.clone()
            },
            "(0020,000d)",
        ),
        (
            Spec {
                series: None,
                ..base.clone()
            },
            "(0020,000e)",
        ),
        (
            Spec {
                sop_instance: None,
                ..base.clone()
            },
            "(0008,0018)",
        ),
        (
            Spec {
                sop_class: None,
                ..base.clone()
            },
            "(0008,0016)",
        ),
        (
            Spec {
                patient_id: None,
                ..base.clone()
            },
            "(0010,0020)",
        ),
        (
            Spec {
                study: Some("1.2.3_4".into()),
                ..base.clone()
            },
            "(0020,000d)",
        ),
        (
            Spec {
                series: Some("x".repeat(65)),
                ..base.clone()
            },
            "(0020,000e)",
        ),
    ];
    for api in [ApiVersion::V1, ApiVersion::V2] {
        for (spec, tag) in &cases {
            let r = ingest_spec(
                spec,
                &IngestOptions {
                    api,
                    study_in_path: None,
                },
            )
            .unwrap_err();
            assert_eq!(r.reason.code(), 43264, "{tag}");
            let failed = r
                .failed_attributes
                .expect("attribute failure has the sequence");
            assert!(failed.iter().any(|f| f.contains(tag)), "{tag}: {failed:?}");
            assert!(failed[0].starts_with("DICOM100: "), "{failed:?}");
        }
    }
    // GUID-style identifiers are accepted, as Azure does.
    let guid = Spec {
        study: Some("d09e8215-e1e1-4c7a-8496-b4f6641ed232".into()),
        ..base.clone()
    };
    assert!(ingest_spec(&guid, &v2()).is_ok());
}

/// v1 requires a PatientID value; v2 its presence only ("PatientID ... may
/// be null/empty"): stored without a warning, the empty element kept in
/// metadata, nothing indexed.
#[test]
fn empty_patient_id_fails_v1_and_is_stored_as_it_is_in_v2() {
    let spec = Spec {
        patient_id: Some(""),
        ..Spec::ct(STUDY_A, SERIES_A1, "1.2.3.15")
    };
    let r = ingest_spec(&spec, &v1()).unwrap_err();
    assert_eq!(r.reason, FailureReason::ValidationFailure);
    assert_eq!(
        r.failed_attributes.unwrap(),
        ["DICOM100: (0010,0020) - The required tag '(0010,0020)' is missing."]
    );
    let got = ingest_spec(&spec, &v2()).unwrap();
    assert_eq!(got.warning_reason, None);
    assert!(got.failed_attributes.is_empty());
    assert_eq!(got.metadata["00100020"], json!({"vr": "LO"}));
    assert_eq!(got.level_attributes.study["00100020"], json!({"vr": "LO"}));
    assert!(got.index.get(tags::PATIENT_ID).is_empty());
}

#[test]
fn invalid_searchable_attribute_fails_v1_and_warns_v2() {
    let spec = Spec {
        study_date: "NotAValidDate",
        ..Spec::ct(STUDY_A, SERIES_A1, "1.2.3.16")
    }
    .with(text(Tag(0x0008, 0x002A), VR::DT, "NotAValidDate"));
    let r = ingest_spec(&spec, &v1()).unwrap_err();
    assert_eq!(r.reason.code(), 43264);
    assert_eq!(
        r.failed_attributes.unwrap(),
        [
            "DICOM100: (0008,0020) - Content \"NotAValidDate\" does not validate VR DA: one of the date values does not match the pattern YYYYMMDD"
        ]
    );
    let got = ingest_spec(&spec, &v2()).unwrap();
    assert_eq!(got.warning_reason.map(WarningReason::code), Some(1));
    assert_eq!(
        got.failed_attributes,
        [
            "DICOM100: (0008,0020) - Content \"NotAValidDate\" does not validate VR DA: one of the date values does not match the pattern YYYYMMDD",
            "DICOM100: (0008,002a) - Content \"NotAValidDate\" does not validate VR DT: value does not mach pattern YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]]",
        ]
    );
    // Not searchable, not in metadata, not returned by QIDO.
    assert!(got.index.get(tags::STUDY_DATE).is_empty());
    assert!(!got.metadata.as_object().unwrap().contains_key("00080020"));
    assert!(!got.level_attributes.study.contains_key("00080020"));
}

#[test]
fn null_padding_is_accepted_and_indexed_without_padding() {
    let spec = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.17").with(text(
        tags::ACCESSION_NUMBER,
        VR::SH,
        "ACC7\0",
    ));
    let got = ingest_spec(&spec, &v2()).unwrap();
    assert_eq!(got.warning_reason, None, "{:?}", got.failed_attributes);
    assert_eq!(
        got.index.get(tags::ACCESSION_NUMBER),
        [SearchValue::Text("ACC7".into())]
    );
}

#[test]
fn unreadable_files_fail_validation_without_uids() {
    let full = build(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.18"));
    let truncated_header = full[..400].to_vec();
    let truncated_pixels = full[..full.len() - 7].to_vec();
    for (name, bytes) in [
        ("not dicom", not_dicom()),
        ("header", truncated_header),
        ("pixels", truncated_pixels),
        ("empty", vec![]),
    ] {
        let r = ingest(Bytes::from(bytes), &v2()).unwrap_err();
        assert_eq!(r.reason, FailureReason::ValidationFailure, "{name}");
        assert_eq!(
            (r.sop_class_uid, r.sop_instance_uid, r.failed_attributes),
            (None, None, None),
            "{name}"
        );
    }
}

#[test]
fn file_without_preamble_is_read() {
    let full = build(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.19"));
    let got = ingest(Bytes::from(full[128..].to_vec()), &v2()).unwrap();
    assert_eq!(got.sop_instance_uid.as_str(), "1.2.3.19");
}

/// What pydicom 3 writes for a data set made in memory (as dicomweb-client's
/// `store_instances` sends it): a file meta group without File Meta
/// Information Group Length (0002,0000), and no preamble or DICM prefix.
/// fo-dicom reads such files, so Azure stores them. The bytes are kept as
/// they came, and the frame index points into them.
#[test]
fn meta_group_without_group_length_is_read() {
    let spec = Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.21", 3);
    let full = build(&spec);
    // (0002,0000) UL, 4 bytes, right after the prefix.
    assert_eq!(full[132..138], [0x02, 0x00, 0x00, 0x00, b'U', b'L']);
    let no_length = [&full[..132], &full[144..]].concat();
    for (name, bytes) in [
        ("no group length", no_length.clone()),
        ("no preamble", no_length[128..].to_vec()),
        ("no preamble, no prefix", no_length[132..].to_vec()),
        ("group length, no preamble, no prefix", full[132..].to_vec()),
    ] {
        let got = ingest(Bytes::from(bytes.clone()), &v2())
            .unwrap_or_else(|r| panic!("{name}: {}", r.message));
        assert_eq!(got.sop_instance_uid.as_str(), "1.2.3.21", "{name}");
        assert_eq!(got.transfer_syntax_uid, EXPLICIT_LE, "{name}");
        assert_eq!(got.number_of_frames, 3, "{name}");
        assert_eq!(got.bytes.as_ref(), bytes.as_slice(), "{name}");
        let index = got.frame_index.expect(name);
        assert_eq!(
            index.slice(&bytes, &[3, 1]).unwrap(),
            [frame_bytes(&spec, 2), frame_bytes(&spec, 0)],
            "{name}"
        );
        assert_eq!(
            retrieve::extract_frames(&bytes, &[2]).unwrap(),
            [frame_bytes(&spec, 1)],
            "{name}"
        );
    }
    // A meta group cut short is still refused.
    let cut = &no_length[132..200];
    let r = ingest(Bytes::copy_from_slice(cut), &v2()).unwrap_err();
    assert_eq!(r.reason, FailureReason::ValidationFailure);
}

#[test]
fn instance_buffer_and_reader_enforce_limits() {
    let full = build(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.20"));
    let mut buf = InstanceBuffer::new(full.len() as u64);
    for chunk in full.chunks(7) {
        buf.push(Bytes::copy_from_slice(chunk)).unwrap();
    }
    assert_eq!(buf.len(), full.len() as u64);
    assert_eq!(
        buf.push(Bytes::from_static(b"x")).unwrap_err(),
        Error::PayloadTooLarge {
            limit: full.len() as u64
        }
    );
    let got = ingest(buf.into_bytes(), &v2()).unwrap();
    assert_eq!(got.bytes.as_ref(), full.as_slice());
    assert_eq!(
        read_instance(&full[..], full.len() as u64).unwrap().len(),
        full.len()
    );
    assert_eq!(read_instance(&full[..], 10).unwrap_err().status(), 413);
}

#[test]
fn corpus_ingests() {
    for (spec, bytes) in corpus() {
        let got = ingest(Bytes::from(bytes), &v2()).unwrap();
        assert_eq!(Some(got.sop_instance_uid.to_string()), spec.sop_instance);
    }
}
