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

/// Every frame through the frame index is the frame `extract_frames` cuts
/// from the parsed file, and the index survives its text form.
fn assert_index_agrees(bytes: &[u8]) -> FrameIndex {
    let index = FrameIndex::of_file(bytes).expect("the frames can be located");
    assert_eq!(FrameIndex::parse(&index.to_text()), Some(index.clone()));
    let all: Vec<u32> = (1..=index.len()).collect();
    assert_eq!(
        index.slice(bytes, &all).unwrap(),
        extract_frames(bytes, &all).unwrap()
    );
    let past = index.len() + 1;
    assert_eq!(index.ranges(past), None);
    assert_eq!(index.slice(bytes, &[past]), Err(Error::FrameNotFound));
    index
}

#[test]
fn the_frame_index_points_at_the_same_bytes() {
    let single = assert_index_agrees(&build(&Spec::ct(STUDY_A, SERIES_A1, "1.2.3.60")));
    assert_eq!(single.len(), 1);
    assert!(matches!(single, FrameIndex::Native { .. }));
    let multi = build(&Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.61", 5));
    assert_eq!(assert_index_agrees(&multi).len(), 5);
    let mut implicit = Spec::mr_implicit(STUDY_A, SERIES_A2, "1.2.3.62");
    implicit.frames = 3;
    assert_eq!(assert_index_agrees(&build(&implicit)).len(), 3);

    let mut jpeg = Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.3.63", 4);
    jpeg.transfer_syntax = JPEG_BASELINE;
    jpeg.encapsulated = true;
    let index = assert_index_agrees(&build(&jpeg));
    assert!(matches!(&index, FrameIndex::Fragments(f) if f.len() == 4));
    let mut one = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.64");
    one.transfer_syntax = JPEG_BASELINE;
    one.encapsulated = true;
    assert_index_agrees(&build(&one));

    for (_, bytes) in corpus() {
        if FrameIndex::of_file(&bytes).is_some() {
            assert_index_agrees(&bytes);
        }
    }
}

#[test]
fn frames_not_at_the_end_of_the_file_are_not_indexed() {
    // Data Set Trailing Padding (FFFC,FFFC) after the pixel data: the
    // frames can still be cut from the parsed file, but not located from
    // the end, so no index is made and `/frames` parses the file.
    let spec = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.65");
    let mut bytes = build(&spec);
    bytes.extend_from_slice(&[0xFC, 0xFF, 0xFC, 0xFF, b'O', b'B', 0, 0, 4, 0, 0, 0]);
    bytes.extend_from_slice(&[0; 4]);
    assert_eq!(FrameIndex::of_file(&bytes), None);
    assert_eq!(
        extract_frames(&bytes, &[1]).unwrap(),
        [frame_bytes(&spec, 0)]
    );
    // No pixel data, or text that is not an index.
    let sr = build(&Spec::sr(STUDY_B, "1.2.3.66", "1.2.3.66.1"));
    assert_eq!(FrameIndex::of_file(&sr), None);
    for bad in ["", "N 1 2", "N 1 2 3 4", "F;1+", "F;x+1", "X"] {
        assert_eq!(FrameIndex::parse(bad), None, "{bad:?}");
    }
}
