//! `/rendered`: generated instances decoded with dicom-pixeldata, encoded as
//! JPEG/PNG, and decoded back with the `image` crate to check size and grey
//! levels (window, rescale, min–max), frame selection and refusals.

mod common;

use common::*;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use hale_dicom::render::{RenderedType, render};

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("a decodable image")
}

#[test]
fn png_of_a_ct_is_min_max_normalized_without_a_window() {
    let spec = Spec::ct(STUDY_A, SERIES_A1, "1.2.3.1");
    let png = render(&build(&spec), 1, RenderedType::Png, 100).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = decode(&png).to_luma8();
    assert_eq!((img.width(), img.height()), (3, 4));
    // The generated 16-bit values differ pixel by pixel: min–max spans 0..255.
    let (min, max) = img
        .pixels()
        .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    assert_eq!((min, max), (0, 255));
}

#[test]
fn the_window_of_the_instance_is_applied() {
    // All pixels equal 1000; rescale slope 1, intercept -1000 → 0 HU;
    // a window centred on 0 puts them mid-grey, one far above makes them black.
    let pixels: Vec<u8> = std::iter::repeat_n(1000u16.to_le_bytes(), 12)
        .flatten()
        .collect();
    let with = |center: &str| {
        Spec::ct(STUDY_A, SERIES_A1, "1.2.3.2")
            .with(DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::from(pixels.clone()),
            ))
            .with(text(tags::RESCALE_INTERCEPT, VR::DS, "-1000"))
            .with(text(tags::RESCALE_SLOPE, VR::DS, "1"))
            .with(text(tags::WINDOW_CENTER, VR::DS, center))
            .with(text(tags::WINDOW_WIDTH, VR::DS, "400"))
    };
    let grey = decode(&render(&build(&with("0")), 1, RenderedType::Png, 100).unwrap()).to_luma8();
    assert!(
        grey.pixels().all(|p| (120..=136).contains(&p[0])),
        "{:?}",
        grey.as_raw()
    );
    let black =
        decode(&render(&build(&with("1000")), 1, RenderedType::Png, 100).unwrap()).to_luma8();
    assert!(black.pixels().all(|p| p[0] == 0), "{:?}", black.as_raw());
}

#[test]
fn jpeg_frames_of_a_multiframe_colour_instance() {
    let spec = Spec {
        rows: 16,
        columns: 16,
        ..Spec::us_multiframe(STUDY_A, SERIES_A1, "1.2.3.3", 3)
    };
    let bytes = build(&spec);
    let hi = render(&bytes, 3, RenderedType::Jpeg, 100).unwrap();
    assert_eq!(&hi[..3], b"\xFF\xD8\xFF");
    let img = decode(&hi);
    assert_eq!((img.width(), img.height()), (16, 16));
    assert!(img.color().has_color());
    let lo = render(&bytes, 3, RenderedType::Jpeg, 1).unwrap();
    assert!(
        lo.len() < hi.len(),
        "quality 1 is smaller: {} vs {}",
        lo.len(),
        hi.len()
    );
    // Frames differ (the generator shifts each frame's pattern).
    assert_ne!(
        render(&bytes, 1, RenderedType::Png, 100).unwrap(),
        render(&bytes, 2, RenderedType::Png, 100).unwrap()
    );
    assert_eq!(
        render(&bytes, 4, RenderedType::Png, 100)
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        render(&bytes, 0, RenderedType::Png, 100)
            .unwrap_err()
            .status(),
        400
    );
}

/// Real JPEG 2000 lossless pixel data (Hale's own transcoding) renders
/// exactly like the native instance it came from.
#[test]
fn a_jpeg_2000_instance_renders_like_its_native_original() {
    let colour = Spec {
        rows: 16,
        columns: 16,
        ..Spec::us_multiframe(STUDY_A, SERIES_A1, "1.2.3.9", 2)
    };
    for spec in [Spec::ct(STUDY_A, SERIES_A1, "1.2.3.8"), colour] {
        let native = build(&spec);
        let j2k =
            hale_dicom::transcode::transcode(&native, hale_dicom::transcode::JPEG2000_LOSSLESS)
                .unwrap();
        assert_ne!(j2k, native);
        for frame in 1..=spec.frames {
            assert_eq!(
                render(&j2k, frame, RenderedType::Png, 100).unwrap(),
                render(&native, frame, RenderedType::Png, 100).unwrap(),
                "frame {frame}"
            );
        }
    }
}

#[test]
fn refusals() {
    let sr = build(&Spec::sr(STUDY_A, SERIES_A1, "1.2.3.4"));
    assert_eq!(
        render(&sr, 1, RenderedType::Jpeg, 90).unwrap_err().status(),
        404
    );
    // Fake JPEG fragments: the decoder refuses them, which is a 406.
    let fake = Spec {
        transfer_syntax: JPEG_BASELINE,
        encapsulated: true,
        ..Spec::us_multiframe(STUDY_A, SERIES_A1, "1.2.3.5", 2)
    };
    let e = render(&build(&fake), 1, RenderedType::Jpeg, 90).unwrap_err();
    assert_eq!(e.status(), 406, "{e}");
    // A transfer syntax without a decoder here (JPEG-LS needs CharLS, a C
    // library Hale does not link).
    let jpeg_ls = Spec {
        transfer_syntax: "1.2.840.10008.1.2.4.80",
        encapsulated: true,
        ..Spec::us_multiframe(STUDY_A, SERIES_A1, "1.2.3.6", 1)
    };
    let e = render(&build(&jpeg_ls), 1, RenderedType::Png, 100).unwrap_err();
    assert_eq!(e.status(), 406);
    assert!(e.to_string().contains("1.2.840.10008.1.2.4.80"), "{e}");
    // Fake JPEG 2000 fragments: decodable syntax, refused data, 406.
    let j2k = Spec {
        transfer_syntax: "1.2.840.10008.1.2.4.90",
        encapsulated: true,
        ..Spec::us_multiframe(STUDY_A, SERIES_A1, "1.2.3.7", 1)
    };
    let e = render(&build(&j2k), 1, RenderedType::Png, 100).unwrap_err();
    assert_eq!(e.status(), 406, "{e}");
}
