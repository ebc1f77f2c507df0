//! `hale-bench-dicom`: a deterministic DICOM study generator and a DICOMweb
//! benchmark driver.
//!
//! The generator ([`Corpus`]) turns a seed and a size into studies of Part-10
//! instances written by dicom-rs: CT series (16-bit signed, Explicit VR Little
//! Endian), MR series (16-bit, one of them Implicit VR Little Endian), 16-bit
//! multi-frame secondary captures and 8-bit X-ray angiography cines encoded as
//! JPEG Baseline by dicom-rs's encoder, with realistic patient, study and series
//! attributes and unique UIDs. Every instance is a pure function of the seed
//! and its position, so any one of them can be rebuilt alone, and the same seed
//! gives identical bytes on every run.
//!
//! **Invariant:** no DICOM is encoded by hand: data sets, the file meta group
//! and the encapsulated pixel data are written by dicom-object and the JPEG
//! adapter of dicom-transfer-syntax-registry. The plan ([`Corpus::plan`]) holds
//! no pixel data; instances are built on demand ([`Corpus::build`]).

use std::ops::Range;

use dicom_core::value::{DataSetSequence, PixelFragmentSequence};
use dicom_core::{DataElement, DicomValue, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::adapters::{EncodeOptions, PixelDataWriter};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

pub mod rng;

use rng::Rng;

/// The implementation class UID written into every generated file's meta
/// group (a UUID-derived UID, so that bytes do not depend on dicom-rs's own).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.302795541207440950423106427911958361349";
pub const IMPLEMENTATION_VERSION_NAME: &str = "HALE_BENCH_1";

/// What to generate.
#[derive(Clone, Debug)]
pub struct CorpusSpec {
    pub seed: u64,
    /// Stop adding studies once the planned size reaches this many bytes.
    pub target_bytes: u64,
    /// Rows and columns of the CT, MR and multi-frame images.
    pub rows: u16,
    pub columns: u16,
    /// Frames of each multi-frame instance.
    pub frames: u32,
    /// Include JPEG Baseline cine studies.
    pub jpeg: bool,
}

impl CorpusSpec {
    pub fn new(seed: u64, target_bytes: u64) -> CorpusSpec {
        CorpusSpec {
            seed,
            target_bytes,
            rows: 512,
            columns: 512,
            frames: 8,
            jpeg: true,
        }
    }
}

/// How a series' instances are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    /// CT Image Storage, 16-bit signed, Explicit VR Little Endian.
    Ct,
    /// MR Image Storage, 16-bit unsigned, Explicit VR Little Endian.
    Mr,
    /// MR Image Storage in Implicit VR Little Endian.
    MrImplicit,
    /// Multi-frame Grayscale Word Secondary Capture, 16-bit, native.
    MultiFrameWord,
    /// X-Ray Angiographic Image Storage, 8-bit cine, JPEG Baseline.
    XaJpeg,
}

impl SeriesKind {
    pub fn transfer_syntax(self) -> &'static str {
        match self {
            SeriesKind::MrImplicit => uids::IMPLICIT_VR_LITTLE_ENDIAN,
            SeriesKind::XaJpeg => uids::JPEG_BASELINE8_BIT,
            _ => uids::EXPLICIT_VR_LITTLE_ENDIAN,
        }
    }

    pub fn sop_class(self) -> &'static str {
        match self {
            SeriesKind::Ct => uids::CT_IMAGE_STORAGE,
            SeriesKind::Mr | SeriesKind::MrImplicit => uids::MR_IMAGE_STORAGE,
            SeriesKind::MultiFrameWord => {
                uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE
            }
            SeriesKind::XaJpeg => uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
        }
    }

    pub fn modality(self) -> &'static str {
        match self {
            SeriesKind::Ct => "CT",
            SeriesKind::Mr | SeriesKind::MrImplicit | SeriesKind::MultiFrameWord => "MR",
            SeriesKind::XaJpeg => "XA",
        }
    }

    fn bits(self) -> u16 {
        if self == SeriesKind::XaJpeg { 8 } else { 16 }
    }
}

#[derive(Clone, Debug)]
pub struct Patient {
    pub index: usize,
    pub id: String,
    pub name: String,
    pub birth_date: String,
    pub sex: &'static str,
}

#[derive(Clone, Debug)]
pub struct StudyPlan {
    pub index: usize,
    pub uid: String,
    pub patient: Patient,
    pub accession: String,
    pub date: String,
    pub time: String,
    pub description: &'static str,
    pub referring: String,
    pub study_id: String,
    pub series: Vec<SeriesPlan>,
}

#[derive(Clone, Debug)]
pub struct SeriesPlan {
    pub index: usize,
    pub uid: String,
    pub number: u32,
    pub kind: SeriesKind,
    pub description: &'static str,
    pub instances: u32,
    pub rows: u16,
    pub columns: u16,
    /// Frames per instance (1 for single-frame series).
    pub frames: u32,
}

impl SeriesPlan {
    fn frame_len(&self) -> usize {
        self.rows as usize * self.columns as usize * (self.kind.bits() as usize / 8)
    }

    /// A size estimate of one instance, for planning (JPEG assumed 1:6).
    fn estimate(&self) -> u64 {
        let pixels = (self.frame_len() * self.frames as usize) as u64;
        let pixels = if self.kind == SeriesKind::XaJpeg {
            pixels / 6
        } else {
            pixels
        };
        pixels + 2_000
    }
}

/// Where one instance sits in the corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstanceRef {
    pub study: usize,
    pub series: usize,
    pub instance: u32,
}

/// One generated instance.
#[derive(Clone, Debug)]
pub struct Instance {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: &'static str,
    pub transfer_syntax: &'static str,
    /// The Part-10 file.
    pub bytes: Vec<u8>,
    /// Where each frame's bytes are in `bytes`: native pixel data slices, or
    /// the JPEG fragment (one per frame, even-padded) of encapsulated data.
    pub frames: Vec<Range<usize>>,
}

impl Instance {
    pub fn frame(&self, index: usize) -> &[u8] {
        &self.bytes[self.frames[index].clone()]
    }
}

/// A planned corpus: every study, series and instance count and every UID.
#[derive(Clone, Debug)]
pub struct Corpus {
    pub spec: CorpusSpec,
    pub studies: Vec<StudyPlan>,
}

const FAMILY: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Lopez", "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Perez",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Müller", "Schmidt", "Dubois", "Rossi", "Novak", "Jensen",
];
const GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Zoë",
    "José",
    "Anna",
    "Lukas",
    "Sofia",
    "Mateo",
    "Emma",
    "Noah",
];
const CT_STUDIES: &[&str] = &[
    "CT CHEST W/O CONTRAST",
    "CT ABDOMEN PELVIS W CONTRAST",
    "CT HEAD W/O CONTRAST",
    "CTA CHEST PE PROTOCOL",
];
const MR_STUDIES: &[&str] = &[
    "MR BRAIN W/WO CONTRAST",
    "MR KNEE LEFT W/O CONTRAST",
    "MR LUMBAR SPINE",
    "MR CARDIAC FUNCTION",
];
const XA_STUDIES: &[&str] = &["XA CORONARY ANGIOGRAPHY", "XA CEREBRAL ANGIOGRAPHY"];

/// A UUID-derived UID (PS3.5 B.2: `2.25.` and a 128-bit integer), from a hash
/// of the seed and a path, so every UID is unique and reproducible.
fn uid(seed: u64, path: &[u64]) -> String {
    let mut r = Rng::derive(seed, path);
    let v = ((r.next_u64() as u128) << 64) | r.next_u64() as u128;
    // RFC 4122 version 4 / variant bits, as a UUID would carry.
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    format!("2.25.{v}")
}

fn date_from_days(days_since_2000: i64) -> time::Date {
    time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap()
        + time::Duration::days(days_since_2000)
}

fn da(d: time::Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day())
}

impl Corpus {
    /// Plans studies until the estimated size reaches `spec.target_bytes`
    /// (at least one study).
    pub fn plan(spec: CorpusSpec) -> Corpus {
        let mut studies: Vec<StudyPlan> = Vec::new();
        let mut total = 0u64;
        let seed = spec.seed;
        while studies.is_empty() || total < spec.target_bytes {
            let index = studies.len();
            let mut r = Rng::derive(seed, &[1, index as u64]);
            // A quarter of the studies are a known patient's follow-up.
            let patient = if index > 0 && r.below(4) == 0 {
                studies[r.below(index as u64) as usize].patient.clone()
            } else {
                patient(seed, index)
            };
            // Every eighth study (the third, the eleventh, …) is an XA cine.
            let kind_roll = r.below(10);
            let (description, kinds): (&'static str, Vec<SeriesKind>) =
                if spec.jpeg && index % 8 == 2 {
                    let n = 1 + r.below(2) as usize;
                    (
                        XA_STUDIES[r.below(XA_STUDIES.len() as u64) as usize],
                        vec![SeriesKind::XaJpeg; n],
                    )
                } else if kind_roll < 5 {
                    let n = 1 + r.below(3) as usize;
                    (
                        CT_STUDIES[r.below(CT_STUDIES.len() as u64) as usize],
                        vec![SeriesKind::Ct; n],
                    )
                } else {
                    let mut kinds = vec![SeriesKind::Mr, SeriesKind::MrImplicit];
                    if r.below(2) == 0 {
                        kinds.push(SeriesKind::MultiFrameWord);
                    }
                    (MR_STUDIES[r.below(MR_STUDIES.len() as u64) as usize], kinds)
                };
            let date = date_from_days(5_475 + r.below(3_650) as i64);
            let time = format!(
                "{:02}{:02}{:02}.{:03}",
                7 + r.below(12),
                r.below(60),
                r.below(60),
                r.below(1000)
            );
            let series = kinds
                .into_iter()
                .enumerate()
                .map(|(s, kind)| {
                    let (instances, frames, rows, columns, description) = match kind {
                        SeriesKind::Ct => (
                            8 + r.below(25) as u32,
                            1,
                            spec.rows,
                            spec.columns,
                            "AXIAL 2.5MM",
                        ),
                        SeriesKind::Mr => (
                            6 + r.below(15) as u32,
                            1,
                            spec.rows / 2,
                            spec.columns / 2,
                            "AX T1",
                        ),
                        SeriesKind::MrImplicit => (
                            6 + r.below(15) as u32,
                            1,
                            spec.rows / 2,
                            spec.columns / 2,
                            "SAG T2",
                        ),
                        SeriesKind::MultiFrameWord => (
                            1 + r.below(3) as u32,
                            spec.frames,
                            spec.rows / 2,
                            spec.columns / 2,
                            "CINE SC",
                        ),
                        SeriesKind::XaJpeg => (
                            1 + r.below(4) as u32,
                            spec.frames * 2,
                            spec.rows,
                            spec.columns,
                            "LAO 30 CRA 20",
                        ),
                    };
                    SeriesPlan {
                        index: s,
                        uid: uid(seed, &[3, index as u64, s as u64]),
                        number: s as u32 + 1,
                        kind,
                        description,
                        instances,
                        rows: rows.max(8),
                        columns: columns.max(8),
                        frames,
                    }
                })
                .collect::<Vec<_>>();
            total += series
                .iter()
                .map(|s| s.estimate() * s.instances as u64)
                .sum::<u64>();
            studies.push(StudyPlan {
                index,
                uid: uid(seed, &[2, index as u64]),
                accession: format!(
                    "A{:08}",
                    Rng::derive(seed, &[4, index as u64]).below(100_000_000)
                ),
                date: da(date),
                time,
                description,
                referring: format!(
                    "{}^{}",
                    FAMILY[r.below(FAMILY.len() as u64) as usize],
                    GIVEN[r.below(GIVEN.len() as u64) as usize]
                ),
                study_id: format!("{}", 1000 + index),
                patient,
                series,
            });
        }
        Corpus { spec, studies }
    }

    /// Every instance, study by study, series by series.
    pub fn instances(&self) -> impl Iterator<Item = InstanceRef> + '_ {
        self.studies.iter().flat_map(|st| {
            st.series.iter().flat_map(move |se| {
                (0..se.instances).map(move |i| InstanceRef {
                    study: st.index,
                    series: se.index,
                    instance: i,
                })
            })
        })
    }

    pub fn len(&self) -> usize {
        self.studies
            .iter()
            .flat_map(|s| &s.series)
            .map(|s| s.instances as usize)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn sop_instance_uid(&self, at: InstanceRef) -> String {
        uid(
            self.spec.seed,
            &[5, at.study as u64, at.series as u64, at.instance as u64],
        )
    }

    /// Builds one instance's Part-10 bytes.
    pub fn build(&self, at: InstanceRef) -> Instance {
        let study = &self.studies[at.study];
        let series = &study.series[at.series];
        let sop = self.sop_instance_uid(at);
        let kind = series.kind;
        let seed = self.spec.seed;
        let mut r = Rng::derive(
            seed,
            &[6, at.study as u64, at.series as u64, at.instance as u64],
        );

        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag: Tag, vr: VR, v: &str| {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        };
        let image_type = if kind == SeriesKind::MultiFrameWord {
            "DERIVED\\SECONDARY"
        } else {
            "ORIGINAL\\PRIMARY\\AXIAL"
        };
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put(tags::IMAGE_TYPE, VR::CS, image_type);
        put(tags::SOP_CLASS_UID, VR::UI, kind.sop_class());
        put(tags::SOP_INSTANCE_UID, VR::UI, &sop);
        put(tags::STUDY_DATE, VR::DA, &study.date);
        put(tags::SERIES_DATE, VR::DA, &study.date);
        put(tags::CONTENT_DATE, VR::DA, &study.date);
        put(tags::STUDY_TIME, VR::TM, &study.time);
        put(tags::ACCESSION_NUMBER, VR::SH, &study.accession);
        put(tags::MODALITY, VR::CS, kind.modality());
        put(tags::MANUFACTURER, VR::LO, "Hale Imaging");
        put(tags::INSTITUTION_NAME, VR::LO, "Hale General Hospital");
        put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, &study.referring);
        put(tags::STUDY_DESCRIPTION, VR::LO, study.description);
        put(tags::SERIES_DESCRIPTION, VR::LO, series.description);
        put(
            tags::MANUFACTURER_MODEL_NAME,
            VR::LO,
            match kind.modality() {
                "CT" => "Hale CT 128",
                "MR" => "Hale MR 3T",
                _ => "Hale Angio",
            },
        );
        put(tags::PATIENT_NAME, VR::PN, &study.patient.name);
        put(tags::PATIENT_ID, VR::LO, &study.patient.id);
        put(tags::PATIENT_BIRTH_DATE, VR::DA, &study.patient.birth_date);
        put(tags::PATIENT_SEX, VR::CS, study.patient.sex);
        put(
            tags::BODY_PART_EXAMINED,
            VR::CS,
            match study.description.split(' ').nth(1) {
                Some("CHEST") => "CHEST",
                Some("HEAD") | Some("BRAIN") | Some("CEREBRAL") => "HEAD",
                Some("KNEE") => "KNEE",
                Some("LUMBAR") => "LSPINE",
                Some("CORONARY") | Some("CARDIAC") => "HEART",
                _ => "ABDOMEN",
            },
        );
        if kind == SeriesKind::Ct {
            put(tags::SLICE_THICKNESS, VR::DS, "2.5");
            put(tags::KVP, VR::DS, "120");
        }
        put(tags::STUDY_INSTANCE_UID, VR::UI, &study.uid);
        put(tags::SERIES_INSTANCE_UID, VR::UI, &series.uid);
        put(tags::STUDY_ID, VR::SH, &study.study_id);
        put(tags::SERIES_NUMBER, VR::IS, &series.number.to_string());
        put(
            tags::INSTANCE_NUMBER,
            VR::IS,
            &(at.instance + 1).to_string(),
        );
        let z = -(at.instance as f64) * 2.5;
        put(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            &format!("-250.0\\-250.0\\{z:.1}"),
        );
        put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0");
        put(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &format!("{}.1", series.uid),
        );
        put(
            tags::PERFORMED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            &study.date,
        );
        put(
            tags::PERFORMED_PROCEDURE_STEP_ID,
            VR::SH,
            &format!("PPS{}", study.index),
        );

        // The request that ordered the study, as a sequence.
        let mut request = InMemDicomObject::new_empty();
        request.put(DataElement::new(
            tags::REQUESTED_PROCEDURE_ID,
            VR::SH,
            PrimitiveValue::from(format!("RP{}", study.index)),
        ));
        request.put(DataElement::new(
            tags::ACCESSION_NUMBER,
            VR::SH,
            PrimitiveValue::from(study.accession.as_str()),
        ));
        obj.put(DataElement::new(
            tags::REQUEST_ATTRIBUTES_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(vec![request], Length::UNDEFINED),
        ));

        // Image pixel module.
        let us = |obj: &mut InMemDicomObject, tag: Tag, v: u16| {
            obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        };
        let bits = kind.bits();
        us(&mut obj, tags::SAMPLES_PER_PIXEL, 1);
        obj.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ));
        if series.frames > 1 || kind == SeriesKind::MultiFrameWord {
            obj.put(DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                PrimitiveValue::from(series.frames.to_string()),
            ));
            obj.put(DataElement::new(
                tags::FRAME_INCREMENT_POINTER,
                VR::AT,
                PrimitiveValue::from(tags::FRAME_TIME),
            ));
            obj.put(DataElement::new(
                tags::FRAME_TIME,
                VR::DS,
                PrimitiveValue::from("33.3"),
            ));
        }
        us(&mut obj, tags::ROWS, series.rows);
        us(&mut obj, tags::COLUMNS, series.columns);
        obj.put(DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::from("0.7\\0.7"),
        ));
        us(&mut obj, tags::BITS_ALLOCATED, bits);
        let stored = if bits == 16 { 12 } else { 8 };
        us(&mut obj, tags::BITS_STORED, stored);
        us(&mut obj, tags::HIGH_BIT, stored - 1);
        us(
            &mut obj,
            tags::PIXEL_REPRESENTATION,
            u16::from(kind == SeriesKind::Ct),
        );
        match kind {
            SeriesKind::Ct => {
                obj.put(DataElement::new(
                    tags::WINDOW_CENTER,
                    VR::DS,
                    PrimitiveValue::from("40"),
                ));
                obj.put(DataElement::new(
                    tags::WINDOW_WIDTH,
                    VR::DS,
                    PrimitiveValue::from("400"),
                ));
                obj.put(DataElement::new(
                    tags::RESCALE_INTERCEPT,
                    VR::DS,
                    PrimitiveValue::from("-1024"),
                ));
                obj.put(DataElement::new(
                    tags::RESCALE_SLOPE,
                    VR::DS,
                    PrimitiveValue::from("1"),
                ));
            }
            SeriesKind::XaJpeg => {}
            _ => {
                obj.put(DataElement::new(
                    tags::WINDOW_CENTER,
                    VR::DS,
                    PrimitiveValue::from("600"),
                ));
                obj.put(DataElement::new(
                    tags::WINDOW_WIDTH,
                    VR::DS,
                    PrimitiveValue::from("1200"),
                ));
            }
        }

        let mut pixels = Vec::with_capacity(series.frame_len() * series.frames as usize);
        for f in 0..series.frames {
            phantom(series, at.instance, f, &mut r, &mut pixels);
        }

        let ts = kind.transfer_syntax();
        let (obj, fragment_lens) = if kind == SeriesKind::XaJpeg {
            jpeg_encode(obj, pixels, series.frames)
        } else {
            let vr = if bits > 8 { VR::OW } else { VR::OB };
            let mut obj = obj;
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                vr,
                PrimitiveValue::from(pixels),
            ));
            (obj, Vec::new())
        };

        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid(kind.sop_class())
            .media_storage_sop_instance_uid(sop.as_str())
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME);
        let file = obj.with_meta(meta).expect("a complete file meta group");
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).expect("writing to memory");

        // Pixel data is the last element: native frames end the file; the
        // fragments are followed by the sequence delimitation item (8 bytes).
        let frames = if fragment_lens.is_empty() {
            let len = series.frame_len();
            let start = bytes.len() - len * series.frames as usize;
            (0..series.frames as usize)
                .map(|f| start + f * len..start + (f + 1) * len)
                .collect()
        } else {
            let mut end = bytes.len() - 8;
            let mut ranges: Vec<Range<usize>> = fragment_lens
                .iter()
                .rev()
                .map(|len| {
                    let range = end - len..end;
                    end -= len + 8;
                    range
                })
                .collect();
            ranges.reverse();
            ranges
        };
        Instance {
            study_uid: study.uid.clone(),
            series_uid: series.uid.clone(),
            sop_instance_uid: sop,
            sop_class_uid: kind.sop_class(),
            transfer_syntax: ts,
            bytes,
            frames,
        }
    }
}

fn patient(seed: u64, index: usize) -> Patient {
    let mut r = Rng::derive(seed, &[7, index as u64]);
    let family = FAMILY[r.below(FAMILY.len() as u64) as usize];
    let given = GIVEN[r.below(GIVEN.len() as u64) as usize];
    let middle = (b'A' + r.below(26) as u8) as char;
    let birth = date_from_days(-(r.below(365 * 85) as i64) - 365 * 5);
    Patient {
        index,
        id: format!("P{:06}-{:04}", r.below(1_000_000), index),
        name: format!("{family}^{given}^{middle}"),
        birth_date: da(birth),
        sex: if r.below(2) == 0 { "F" } else { "M" },
    }
}

/// A body-like phantom: an ellipse of soft tissue with a few denser disks,
/// moving slowly from slice to slice and frame to frame, with noise.
fn phantom(series: &SeriesPlan, slice: u32, frame: u32, r: &mut Rng, out: &mut Vec<u8>) {
    let (rows, cols) = (series.rows as i64, series.columns as i64);
    let (cy, cx) = (rows / 2, cols / 2);
    let (ry, rx) = ((rows * 2) / 5, (cols * 9) / 20);
    let shift = ((slice + frame) % 16) as i64;
    let disks = [
        (cy - ry / 3 + shift, cx - rx / 2, rx / 6, 400i64),
        (cy + ry / 4, cx + rx / 3 - shift, rx / 5, 250),
        (cy, cx, rx / 10, 900),
    ];
    for y in 0..rows {
        for x in 0..cols {
            let noise = (r.next_u64() & 0x3F) as i64;
            let (dy, dx) = (y - cy, x - cx);
            let inside = dy * dy * rx * rx + dx * dx * ry * ry <= rx * rx * ry * ry;
            let mut v = if inside { 1000 + noise } else { noise / 4 };
            for (y0, x0, rad, add) in disks {
                if (y - y0) * (y - y0) + (x - x0) * (x - x0) <= rad * rad {
                    v += add;
                }
            }
            if series.kind.bits() == 8 {
                out.push((v / 8).min(255) as u8);
            } else {
                out.extend_from_slice(&(v.min(4095) as u16).to_le_bytes());
            }
        }
    }
}

/// Encodes 8-bit frames as JPEG Baseline with dicom-rs's adapter and returns
/// the object with encapsulated pixel data and each fragment's length.
fn jpeg_encode(
    obj: InMemDicomObject,
    pixels: Vec<u8>,
    frames: u32,
) -> (InMemDicomObject, Vec<usize>) {
    let native_len = pixels.len();
    let mut native = obj.clone();
    native.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(pixels),
    ));
    let native = native
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE)
                .media_storage_sop_instance_uid("1.2.3"),
        )
        .expect("a meta group");
    let writer = dicom_transfer_syntax_registry::entries::JPEG_BASELINE
        .pixel_data_writer()
        .expect("the JPEG baseline encoder (feature `jpeg`)");
    let mut options = EncodeOptions::default();
    options.quality = Some(90);
    let mut fragments = Vec::with_capacity(frames as usize);
    for f in 0..frames {
        let mut dst = Vec::new();
        writer
            .encode_frame(&native, f, options.clone(), &mut dst)
            .expect("JPEG encoding of an 8-bit frame");
        if dst.len() % 2 == 1 {
            dst.push(0);
        }
        fragments.push(dst);
    }
    let lens: Vec<usize> = fragments.iter().map(Vec::len).collect();
    let mut offsets = Vec::with_capacity(lens.len());
    let mut pos = 0u32;
    for len in &lens {
        offsets.push(pos);
        pos += 8 + *len as u32;
    }
    let compressed: usize = lens.iter().sum();
    let mut obj = obj;
    obj.put(DataElement::new(
        tags::LOSSY_IMAGE_COMPRESSION,
        VR::CS,
        PrimitiveValue::from("01"),
    ));
    obj.put(DataElement::new(
        tags::LOSSY_IMAGE_COMPRESSION_RATIO,
        VR::DS,
        PrimitiveValue::from(format!("{:.2}", native_len as f64 / compressed as f64)),
    ));
    obj.put(DataElement::new(
        tags::LOSSY_IMAGE_COMPRESSION_METHOD,
        VR::CS,
        PrimitiveValue::from("ISO_10918_1"),
    ));
    let value: DicomValue<InMemDicomObject> =
        DicomValue::PixelSequence(PixelFragmentSequence::new(offsets, fragments));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, value));
    (obj, lens)
}
