//! Deterministic DICOM Part-10 test files, generated with dicom-rs.
//!
//! Nothing is downloaded: every file a test uses is built here from a
//! [`Spec`], so the corpus is reproducible and offline.
#![allow(dead_code)]

use dicom_core::value::{DataSetSequence, PixelFragmentSequence};
use dicom_core::{DataElement, DicomValue, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

pub const EXPLICIT_LE: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;
pub const IMPLICIT_LE: &str = uids::IMPLICIT_VR_LITTLE_ENDIAN;
pub const JPEG_BASELINE: &str = uids::JPEG_BASELINE8_BIT;
pub const CT_IMAGE: &str = uids::CT_IMAGE_STORAGE;
pub const MR_IMAGE: &str = uids::MR_IMAGE_STORAGE;
pub const US_MULTIFRAME: &str = uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE;
pub const SECONDARY_CAPTURE: &str = uids::SECONDARY_CAPTURE_IMAGE_STORAGE;
pub const BASIC_TEXT_SR: &str = uids::BASIC_TEXT_SR_STORAGE;

pub const STUDY_A: &str = "1.2.826.0.1.3680043.8.498.1";
pub const STUDY_B: &str = "1.2.826.0.1.3680043.8.498.2";
pub const SERIES_A1: &str = "1.2.826.0.1.3680043.8.498.1.1";
pub const SERIES_A2: &str = "1.2.826.0.1.3680043.8.498.1.2";
pub const SERIES_B1: &str = "1.2.826.0.1.3680043.8.498.2.1";

/// What goes into a generated instance.
#[derive(Clone, Debug)]
pub struct Spec {
    pub transfer_syntax: &'static str,
    pub sop_class: Option<&'static str>,
    pub study: Option<String>,
    pub series: Option<String>,
    pub sop_instance: Option<String>,
    pub patient_id: Option<&'static str>,
    pub patient_name: &'static str,
    pub birth_date: &'static str,
    pub study_date: &'static str,
    pub study_time: &'static str,
    pub accession: &'static str,
    pub referring: &'static str,
    pub description: &'static str,
    pub modality: &'static str,
    pub model: &'static str,
    pub pps_start_date: &'static str,
    pub rows: u16,
    pub columns: u16,
    pub samples: u16,
    pub bits_allocated: u16,
    /// Number of frames; 0 means no pixel data at all.
    pub frames: u32,
    /// Encapsulate the pixel data in fragments (one per frame, with an offset table).
    pub encapsulated: bool,
    /// Write NumberOfFrames even for a single frame.
    pub number_of_frames_attr: bool,
    /// Extra elements, put last (they may replace generated ones).
    pub extra: Vec<DataElement<InMemDicomObject>>,
}

impl Spec {
    /// A small CT image in Explicit VR Little Endian.
    pub fn ct(study: &str, series: &str, instance: &str) -> Spec {
        Spec {
            transfer_syntax: EXPLICIT_LE,
            sop_class: Some(CT_IMAGE),
            study: Some(study.into()),
            series: Some(series.into()),
            sop_instance: Some(instance.into()),
            patient_id: Some("PID-001"),
            patient_name: "Doe^John^Quincy^Dr.^Jr.",
            birth_date: "19700412",
            study_date: "20200115",
            study_time: "101500",
            accession: "ACC-42",
            referring: "Smith^Anna",
            description: "CT Chest",
            modality: "CT",
            model: "Hale Scanner 3000",
            pps_start_date: "20200115",
            rows: 4,
            columns: 3,
            samples: 1,
            bits_allocated: 16,
            frames: 1,
            encapsulated: false,
            number_of_frames_attr: false,
            extra: Vec::new(),
        }
    }

    /// A multi-frame ultrasound-like instance (RGB, 8 bits).
    pub fn us_multiframe(study: &str, series: &str, instance: &str, frames: u32) -> Spec {
        Spec {
            sop_class: Some(US_MULTIFRAME),
            modality: "US",
            samples: 3,
            bits_allocated: 8,
            rows: 2,
            columns: 2,
            frames,
            number_of_frames_attr: true,
            ..Spec::ct(study, series, instance)
        }
    }

    /// An MR image in Implicit VR Little Endian.
    pub fn mr_implicit(study: &str, series: &str, instance: &str) -> Spec {
        Spec {
            transfer_syntax: IMPLICIT_LE,
            sop_class: Some(MR_IMAGE),
            modality: "MR",
            patient_name: "Müller^Zoë",
            patient_id: Some("PID-002"),
            description: "MR Knee",
            ..Spec::ct(study, series, instance)
        }
    }

    /// A text SR document: no pixel data.
    pub fn sr(study: &str, series: &str, instance: &str) -> Spec {
        Spec {
            sop_class: Some(BASIC_TEXT_SR),
            modality: "SR",
            frames: 0,
            ..Spec::ct(study, series, instance)
        }
    }

    pub fn with(mut self, e: DataElement<InMemDicomObject>) -> Spec {
        self.extra.push(e);
        self
    }
}

pub fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

pub fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
}

/// The bytes of frame `f` (0-based) of a generated instance: a deterministic pattern.
pub fn frame_bytes(spec: &Spec, f: u32) -> Vec<u8> {
    let len = spec.rows as usize
        * spec.columns as usize
        * spec.samples as usize
        * (spec.bits_allocated as usize / 8);
    (0..len)
        .map(|i| (i as u32).wrapping_mul(7).wrapping_add(f * 31) as u8)
        .collect()
}

/// The (fake) compressed bytes of frame `f`: distinct lengths, even-padded.
pub fn fragment_bytes(f: u32) -> Vec<u8> {
    let mut v: Vec<u8> = vec![0xFF, 0xD8];
    v.extend((0..(10 + 2 * f)).map(|i| (i + f) as u8));
    v.extend([0xFF, 0xD9]);
    v
}

/// Builds the Part-10 bytes (128-byte preamble, DICM, meta group, data set).
pub fn build(spec: &Spec) -> Vec<u8> {
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: Tag, vr: VR, v: &str| {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    };
    put(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    if let Some(c) = spec.sop_class {
        put(tags::SOP_CLASS_UID, VR::UI, c);
    }
    if let Some(i) = &spec.sop_instance {
        put(tags::SOP_INSTANCE_UID, VR::UI, i);
    }
    put(tags::STUDY_DATE, VR::DA, spec.study_date);
    put(tags::STUDY_TIME, VR::TM, spec.study_time);
    put(tags::ACCESSION_NUMBER, VR::SH, spec.accession);
    put(tags::MODALITY, VR::CS, spec.modality);
    put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, spec.referring);
    put(tags::STUDY_DESCRIPTION, VR::LO, spec.description);
    put(tags::SERIES_DESCRIPTION, VR::LO, "Series of tests");
    put(tags::MANUFACTURER_MODEL_NAME, VR::LO, spec.model);
    put(tags::PATIENT_NAME, VR::PN, spec.patient_name);
    if let Some(p) = spec.patient_id {
        put(tags::PATIENT_ID, VR::LO, p);
    }
    put(tags::PATIENT_BIRTH_DATE, VR::DA, spec.birth_date);
    put(tags::PATIENT_SEX, VR::CS, "M");
    if let Some(s) = &spec.study {
        put(tags::STUDY_INSTANCE_UID, VR::UI, s);
    }
    if let Some(s) = &spec.series {
        put(tags::SERIES_INSTANCE_UID, VR::UI, s);
    }
    put(tags::STUDY_ID, VR::SH, "S1");
    put(tags::SERIES_NUMBER, VR::IS, "1");
    put(tags::INSTANCE_NUMBER, VR::IS, "1");
    put(
        tags::PERFORMED_PROCEDURE_STEP_START_DATE,
        VR::DA,
        spec.pps_start_date,
    );

    // A sequence with nested text and a nested binary element (left out of metadata).
    let mut item = InMemDicomObject::new_empty();
    item.put(text(tags::REQUESTED_PROCEDURE_ID, VR::SH, "RP-7"));
    item.put(text(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, "SPS-9"));
    item.put(DataElement::new(
        Tag(0x0009, 0x0010),
        VR::LO,
        PrimitiveValue::from("HALE TEST"),
    ));
    item.put(DataElement::new(
        Tag(0x0009, 0x1002),
        VR::OB,
        PrimitiveValue::from(vec![1u8, 2, 3, 4]),
    ));
    obj.put(seq(tags::REQUEST_ATTRIBUTES_SEQUENCE, vec![item]));

    // Private tags: a creator, a text element and an unknown binary one.
    obj.put(DataElement::new(
        Tag(0x0009, 0x0010),
        VR::LO,
        PrimitiveValue::from("HALE TEST"),
    ));
    obj.put(DataElement::new(
        Tag(0x0009, 0x1001),
        VR::LO,
        PrimitiveValue::from("private text"),
    ));
    obj.put(DataElement::new(
        Tag(0x0009, 0x1003),
        VR::UN,
        PrimitiveValue::from(vec![9u8, 8, 7, 6]),
    ));

    if spec.frames > 0 {
        obj.put(DataElement::new(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            PrimitiveValue::from(spec.samples),
        ));
        let photometric = if spec.samples == 3 {
            "RGB"
        } else {
            "MONOCHROME2"
        };
        obj.put(text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric));
        if spec.samples == 3 {
            obj.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ));
        }
        if spec.frames > 1 || spec.number_of_frames_attr {
            obj.put(text(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                &spec.frames.to_string(),
            ));
        }
        obj.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(spec.rows),
        ));
        obj.put(DataElement::new(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(spec.columns),
        ));
        obj.put(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            PrimitiveValue::from(spec.bits_allocated),
        ));
        obj.put(DataElement::new(
            tags::BITS_STORED,
            VR::US,
            PrimitiveValue::from(spec.bits_allocated),
        ));
        obj.put(DataElement::new(
            tags::HIGH_BIT,
            VR::US,
            PrimitiveValue::from(spec.bits_allocated - 1),
        ));
        obj.put(DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ));
        if spec.encapsulated {
            let fragments: Vec<Vec<u8>> = (0..spec.frames).map(fragment_bytes).collect();
            let mut offsets = Vec::new();
            let mut pos = 0u32;
            for f in &fragments {
                offsets.push(pos);
                pos += 8 + f.len() as u32;
            }
            let value: DicomValue<InMemDicomObject> =
                DicomValue::PixelSequence(PixelFragmentSequence::new(offsets, fragments));
            obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, value));
        } else {
            let mut all = Vec::new();
            for f in 0..spec.frames {
                all.extend(frame_bytes(spec, f));
            }
            if all.len() % 2 == 1 {
                all.push(0);
            }
            let vr = if spec.bits_allocated > 8 {
                VR::OW
            } else {
                VR::OB
            };
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                vr,
                PrimitiveValue::from(all),
            ));
        }
    }
    for e in &spec.extra {
        obj.put(e.clone());
    }

    let mut meta = FileMetaTableBuilder::new().transfer_syntax(spec.transfer_syntax);
    // with_meta fills these from the data set when present; give defaults for
    // the files that lack them on purpose.
    meta = meta
        .media_storage_sop_class_uid(spec.sop_class.unwrap_or(SECONDARY_CAPTURE))
        .media_storage_sop_instance_uid(
            spec.sop_instance
                .clone()
                .unwrap_or_else(|| "1.2.3.999".into()),
        );
    let file = obj.with_meta(meta).expect("meta");
    let mut out = Vec::new();
    file.write_all(&mut out).expect("write");
    out
}

/// A small study corpus: two studies, several modalities and encodings.
pub fn corpus() -> Vec<(Spec, Vec<u8>)> {
    let specs = vec![
        Spec::ct(STUDY_A, SERIES_A1, "1.2.826.0.1.3680043.8.498.1.1.1"),
        Spec::ct(STUDY_A, SERIES_A1, "1.2.826.0.1.3680043.8.498.1.1.2"),
        Spec::mr_implicit(STUDY_A, SERIES_A2, "1.2.826.0.1.3680043.8.498.1.2.1"),
        Spec::us_multiframe(STUDY_B, SERIES_B1, "1.2.826.0.1.3680043.8.498.2.1.1", 3),
        Spec::sr(
            STUDY_B,
            "1.2.826.0.1.3680043.8.498.2.2",
            "1.2.826.0.1.3680043.8.498.2.2.1",
        ),
    ];
    specs
        .into_iter()
        .map(|s| {
            let b = build(&s);
            (s, b)
        })
        .collect()
}

/// Bytes that are not DICOM at all.
pub fn not_dicom() -> Vec<u8> {
    b"%PDF-1.4\n% this is not a DICOM file, just some bytes long enough to have a preamble..........................................................................\n".to_vec()
}
