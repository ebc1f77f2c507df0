mod common;

use common::*;
use hale_dicom::retrieve::*;
use hale_dicom::*;

#[test]
fn native_frames_single_and_multi() {
    let spec = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.50"); // 16-bit, one frame
    let bytes = build(&spec);
    assert_eq!(
        extract_frames(&bytes, &[1]).unwrap(),
        [frame_bytes(&spec, 0)]
    );
    assert_eq!(extract_frames(&bytes, &[2]), Err(Error::FrameNotFound));

    let spec = Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.51", 5); // RGB, 8-bit
    let bytes = build(&spec);
    let got = extract_frames(&bytes, &[3, 1, 5]).unwrap();
    assert_eq!(
        got,
        [
            frame_bytes(&spec, 2),
            frame_bytes(&spec, 0),
            frame_bytes(&spec, 4)
        ]
    );
    assert_eq!(got[0].len(), 2 * 2 * 3);
    assert_eq!(extract_frames(&bytes, &[6]).unwrap_err().status(), 404);
    assert_eq!(extract_frames(&bytes, &[0]).unwrap_err().status(), 400);

    let mut implicit = Spec::mr_implicit(STUDY_A, SERIES_A2, "1.2.3.52");
    implicit.frames = 2;
    let bytes = build(&implicit);
    assert_eq!(
        extract_frames(&bytes, &[2]).unwrap(),
        [frame_bytes(&implicit, 1)]
    );
}

#[test]
fn encapsulated_frames() {
    let mut spec = Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.53", 4);
    spec.transfer_syntax = JPEG_BASELINE;
    spec.encapsulated = true;
    let bytes = build(&spec);
    let got = extract_frames(&bytes, &[4, 2]).unwrap();
    assert_eq!(got, [fragment_bytes(3), fragment_bytes(1)]);
    assert_eq!(extract_frames(&bytes, &[5]), Err(Error::FrameNotFound));

    let mut single = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.54");
    single.transfer_syntax = JPEG_BASELINE;
    single.encapsulated = true;
    assert_eq!(
        extract_frames(&build(&single), &[1]).unwrap(),
        [fragment_bytes(0)]
    );
}

#[test]
fn no_pixel_data_and_unreadable() {
    let sr = build(&Spec::sr(STUDY_B, "1.2.3.55", "1.2.3.55.1"));
    assert_eq!(extract_frames(&sr, &[1]), Err(Error::NoPixelData));
    assert_eq!(
        extract_frames(&not_dicom(), &[1]).unwrap_err().status(),
        500
    );
}

#[test]
fn metadata_from_bytes_equals_ingested_metadata() {
    for (_, bytes) in corpus() {
        let ingested = ingest(
            bytes::Bytes::from(bytes.clone()),
            &IngestOptions {
                api: ApiVersion::V2,
                study_in_path: None,
            },
        )
        .unwrap();
        assert_eq!(instance_metadata(&bytes).unwrap(), ingested.metadata);
    }
}
