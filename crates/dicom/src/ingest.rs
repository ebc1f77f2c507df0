//! STOW-RS instance ingestion: parse one Part-10 instance, validate it as
//! Azure does, and extract what the store indexes — or say why it fails.

use std::collections::BTreeMap;
use std::io::Read;

use bytes::{Bytes, BytesMut};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::decode::Decode;
use dicom_object::{InMemDicomObject, OpenFileOptions, file::ReadPreamble};
use serde_json::{Map, Value};

use crate::attributes::{self, Level, SEARCHABLE, tag_paren};
use crate::index::{IndexRecord, SearchValue};
use crate::uid::{Uid, is_valid_identifier, trim_padding};
use crate::validate::{check_value, error_comment, is_multi_valued_text, parse_date};
use crate::{ApiVersion, Error};

/// Azure's largest accepted instance (and request): `int.MaxValue` bytes.
pub const MAX_INSTANCE_BYTES: u64 = 2_147_483_647;

/// Azure's FailureReason (0008,1197) codes for an instance that was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// 272: general failure in processing (e.g. the blob could not be written).
    ProcessingFailure,
    /// 43264: the instance failed validation (unreadable, required attribute
    /// missing or invalid, or in v1 any searchable attribute invalid).
    ValidationFailure,
    /// 43265: the StudyInstanceUID differs from the one in the request path.
    MismatchStudyInstanceUid,
    /// 45070: an instance with the same study, series and SOP instance UIDs
    /// already exists. Decided by the store.
    SopInstanceAlreadyExists,
    /// 45071: the instance is being created by another request. Decided by the store.
    PendingSopInstance,
}

impl FailureReason {
    /// The numeric code that goes into FailureReason (US).
    pub fn code(self) -> u16 {
        match self {
            FailureReason::ProcessingFailure => 272,
            FailureReason::ValidationFailure => 43264,
            FailureReason::MismatchStudyInstanceUid => 43265,
            FailureReason::SopInstanceAlreadyExists => 45070,
            FailureReason::PendingSopInstance => 45071,
        }
    }
}

/// Azure's WarningReason (0008,1196) codes for an instance stored with warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningReason {
    /// 45063: the data set does not match the SOP class. Azure raises it for
    /// every instance encoded in Implicit VR Little Endian.
    DatasetDoesNotMatchSopClass,
    /// 1 (v2): some attributes failed validation; they are listed in
    /// FailedAttributesSequence, left out of metadata and not searchable.
    DatasetHasValidationWarnings,
}

impl WarningReason {
    /// The numeric code that goes into WarningReason (US).
    pub fn code(self) -> u16 {
        match self {
            WarningReason::DatasetDoesNotMatchSopClass => 45063,
            WarningReason::DatasetHasValidationWarnings => 1,
        }
    }
}

/// How to ingest: the API version (v1 and v2 validate differently) and the
/// study UID of the request path, if any.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The API version of the request.
    pub api: ApiVersion,
    /// The `{study}` of `POST /studies/{study}`.
    pub study_in_path: Option<Uid>,
}

/// The study-, series- and instance-level attributes that QIDO-RS can return,
/// as DICOM JSON objects (keys `GGGGEEEE`). Only the tags of
/// [`attributes::all_tags`] are kept; invalid (v2) attributes are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelAttributes {
    /// Study-level attributes.
    pub study: Map<String, Value>,
    /// Series-level attributes.
    pub series: Map<String, Value>,
    /// Instance-level attributes.
    pub instance: Map<String, Value>,
}

impl LevelAttributes {
    /// The object for one level.
    pub fn level(&self, level: Level) -> &Map<String, Value> {
        match level {
            Level::Study => &self.study,
            Level::Series => &self.series,
            Level::Instance => &self.instance,
        }
    }
}

/// An instance that passed validation: what the store persists.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// StudyInstanceUID (0020,000D).
    pub study_instance_uid: Uid,
    /// SeriesInstanceUID (0020,000E).
    pub series_instance_uid: Uid,
    /// SOPInstanceUID (0008,0018).
    pub sop_instance_uid: Uid,
    /// SOPClassUID (0008,0016).
    pub sop_class_uid: Uid,
    /// The transfer syntax UID from the file meta group.
    pub transfer_syntax_uid: String,
    /// NumberOfFrames, 1 for single-frame images, 0 without pixel data.
    pub number_of_frames: u32,
    /// Where the frames are in `bytes`, when that could be proven.
    pub frame_index: Option<crate::retrieve::FrameIndex>,
    /// The searchable values (study, series and instance level).
    pub index: IndexRecord,
    /// What QIDO-RS returns at each level.
    pub level_attributes: LevelAttributes,
    /// The WADO-RS `/metadata` DICOM JSON object of this instance: no file meta
    /// group, no OB/OD/OF/OL/OV/OW/UN elements (also inside sequences), and
    /// in v2 none of the attributes that failed validation.
    pub metadata: Value,
    /// The warning reason to report, if any.
    pub warning_reason: Option<WarningReason>,
    /// v2: the error comments of attributes that failed validation (one per tag).
    pub failed_attributes: Vec<String>,
    /// The original bytes, untouched.
    pub bytes: Bytes,
}

impl Ingested {
    /// The size of the original file in bytes.
    pub fn byte_len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// An instance that was not stored, with what the store response reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: FailureReason,
    /// The SOP class UID, when the file could be read.
    pub sop_class_uid: Option<String>,
    /// The SOP instance UID, when the file could be read.
    pub sop_instance_uid: Option<String>,
    /// Error comments for FailedAttributesSequence (0074,1048), present when
    /// attribute validation failed (Azure adds the sequence only then).
    pub failed_attributes: Option<Vec<String>>,
    /// A human-readable explanation (for logs; not part of Azure's response).
    pub message: String,
}

impl Rejection {
    fn unreadable(message: String) -> Rejection {
        Rejection {
            reason: FailureReason::ValidationFailure,
            sop_class_uid: None,
            sop_instance_uid: None,
            failed_attributes: None,
            message,
        }
    }
}

/// Collects one instance's bytes as they arrive (e.g. the chunks of one
/// multipart part), refusing more than `limit` bytes. Chunks are kept as
/// they come and joined once, at their exact total size, at the end (a part
/// that arrived as one chunk is not copied at all).
#[derive(Debug)]
pub struct InstanceBuffer {
    /// The bytes so far: pieces split off one buffer join without a copy.
    bytes: BytesMut,
    limit: u64,
}

impl InstanceBuffer {
    /// A buffer accepting at most `limit` bytes ([`MAX_INSTANCE_BYTES`] for Azure's limit).
    pub fn new(limit: u64) -> InstanceBuffer {
        InstanceBuffer {
            bytes: BytesMut::new(),
            limit,
        }
    }

    fn room_for(&self, n: usize) -> Result<(), Error> {
        if self.len() + n as u64 > self.limit {
            Err(Error::PayloadTooLarge { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// Appends a chunk (copied); fails with [`Error::PayloadTooLarge`] past
    /// the limit.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        self.room_for(chunk.len())?;
        self.bytes.extend_from_slice(&chunk);
        Ok(())
    }

    /// Appends a piece split off a multipart parser's buffer: O(1) when it
    /// follows the previous piece in the same block, else copied.
    pub fn push_split(&mut self, piece: BytesMut) -> Result<(), Error> {
        self.room_for(piece.len())?;
        self.bytes.unsplit(piece);
        Ok(())
    }

    /// Bytes collected so far.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The collected bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes.freeze()
    }
}

/// Reads one instance from `reader`, refusing more than `limit` bytes.
pub fn read_instance(reader: impl Read, limit: u64) -> Result<Bytes, Error> {
    let mut buf = Vec::new();
    let n = reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::UnreadableInstance(e.to_string()))?;
    if n as u64 > limit {
        return Err(Error::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(buf))
}

/// Parses and validates one Part-10 instance.
///
/// The decision whether it already exists (45070) or is being written
/// (45071), and failures to write it (272), belong to the store.
pub fn ingest(bytes: Bytes, options: &IngestOptions) -> Result<Ingested, Rejection> {
    let obj = parse_part10(&bytes).map_err(Rejection::unreadable)?;
    let transfer_syntax_uid = trim_padding(obj.meta().transfer_syntax()).to_owned();
    let frame_index = crate::retrieve::FrameIndex::locate(&bytes, &obj);
    let mut dataset: InMemDicomObject = obj.into_inner();

    let sop_class = first_string(&dataset, tags::SOP_CLASS_UID);
    let sop_instance = first_string(&dataset, tags::SOP_INSTANCE_UID);
    let reject = |reason: FailureReason, failed: Option<Vec<String>>, message: String| Rejection {
        reason,
        sop_class_uid: sop_class.clone(),
        sop_instance_uid: sop_instance.clone(),
        failed_attributes: failed,
        message,
    };

    // Required attributes: present with a value, and valid identifiers.
    let mut core_errors: Vec<String> = Vec::new();
    let mut uids: BTreeMap<Tag, Uid> = BTreeMap::new();
    for (tag, name) in [
        (tags::SOP_CLASS_UID, "SOPClassUID"),
        (tags::STUDY_INSTANCE_UID, "StudyInstanceUID"),
        (tags::SERIES_INSTANCE_UID, "SeriesInstanceUID"),
        (tags::SOP_INSTANCE_UID, "SOPInstanceUID"),
    ] {
        match first_string(&dataset, tag) {
            None => core_errors.push(missing_tag(tag)),
            Some(v) if !is_valid_identifier(&v) => core_errors.push(error_comment(
                tag,
                &v,
                VR::UI,
                "value is not a valid DICOM identifier (1 to 64 characters from A-Z, a-z, 0-9, '.', '-')",
            )),
            Some(v) => {
                uids.insert(tag, Uid::parse(name, &v).expect("checked above"));
            }
        }
    }
    // PatientID: v1 requires a value; v2 only its presence ("PatientID ...
    // may be null/empty"): an empty one is stored as it is, without warning,
    // and stays in metadata (not searchable).
    let mut warnings: BTreeMap<Tag, String> = BTreeMap::new();
    match dataset.get(tags::PATIENT_ID) {
        None => core_errors.push(missing_tag(tags::PATIENT_ID)),
        Some(_) => match first_string(&dataset, tags::PATIENT_ID) {
            None if options.api == ApiVersion::V1 => {
                core_errors.push(missing_tag(tags::PATIENT_ID))
            }
            None => {}
            Some(v) => {
                if let Err(why) = check_value(VR::LO, &v) {
                    core_errors.push(error_comment(tags::PATIENT_ID, &v, VR::LO, &why));
                }
            }
        },
    }
    if !core_errors.is_empty() {
        let message = core_errors.join("; ");
        return Err(reject(
            FailureReason::ValidationFailure,
            Some(core_errors),
            message,
        ));
    }
    let study = uids.remove(&tags::STUDY_INSTANCE_UID).expect("validated");
    if let Some(required) = &options.study_in_path
        && !study.as_str().eq_ignore_ascii_case(required.as_str())
    {
        return Err(reject(
            FailureReason::MismatchStudyInstanceUid,
            None,
            format!(
                "The StudyInstanceUid '{study}' in the payload does not match the specified StudyInstanceUid '{required}'."
            ),
        ));
    }

    // Other attributes: v1 fails on invalid searchable attributes; v2 checks
    // everything and only warns (the first error per tag is kept).
    match options.api {
        ApiVersion::V1 => {
            let mut errors = Vec::new();
            for attr in SEARCHABLE {
                if let Some(e) = dataset.get(attr.tag)
                    && let Some(err) = check_element(attr.tag, e.vr(), e.value())
                {
                    errors.push(err);
                }
            }
            if !errors.is_empty() {
                let message = errors.join("; ");
                return Err(reject(
                    FailureReason::ValidationFailure,
                    Some(errors),
                    message,
                ));
            }
        }
        ApiVersion::V2 => collect_warnings(&dataset, &mut warnings),
    }

    let mut warning_reason = None;
    if transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN {
        warning_reason = Some(WarningReason::DatasetDoesNotMatchSopClass);
    }
    if options.api == ApiVersion::V2 && !warnings.is_empty() && warning_reason.is_none() {
        warning_reason = Some(WarningReason::DatasetHasValidationWarnings);
    }
    // v2 drops invalid top-level attributes from metadata and the index.
    for tag in warnings.keys() {
        dataset.remove_element(*tag);
    }

    let number_of_frames = if dataset.get(tags::PIXEL_DATA).is_some() {
        first_string(&dataset, tags::NUMBER_OF_FRAMES)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1)
    } else {
        0
    };

    strip_bulk_data(&mut dataset);
    let index = index_record(&dataset);
    let level_attributes = LevelAttributes {
        study: level_json(&dataset, Level::Study),
        series: level_json(&dataset, Level::Series),
        instance: level_json(&dataset, Level::Instance),
    };
    let mut metadata = dicom_json::to_value(&dataset).map_err(|e| {
        reject(
            FailureReason::ProcessingFailure,
            None,
            format!("metadata could not be serialized: {e}"),
        )
    })?;
    crate::json::numbers_for_is_ds(&mut metadata);

    Ok(Ingested {
        study_instance_uid: study,
        series_instance_uid: uids.remove(&tags::SERIES_INSTANCE_UID).expect("validated"),
        sop_instance_uid: uids.remove(&tags::SOP_INSTANCE_UID).expect("validated"),
        sop_class_uid: uids.remove(&tags::SOP_CLASS_UID).expect("validated"),
        transfer_syntax_uid,
        number_of_frames,
        frame_index,
        index,
        level_attributes,
        metadata,
        warning_reason,
        failed_attributes: warnings.into_values().collect(),
        bytes,
    })
}

pub(crate) const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";

/// Parses a whole Part-10 file with dicom-rs.
///
/// Read as fo-dicom (Azure's parser) reads them: the 128-byte preamble is
/// optional, and so are the `DICM` prefix (when the file starts with the
/// file meta group) and File Meta Information Group Length (0002,0000).
/// pydicom writes such files for a data set made in memory (`dcmwrite` with
/// `enforce_file_format=False`, which dicomweb-client's `store_instances`
/// uses: no preamble, no prefix, no group length). dicom-rs insists on the
/// prefix and the group length, so the reader is given them in front of the
/// file's own meta elements: the file is not copied, and the data set is
/// read from the same bytes as in a complete file.
pub(crate) fn parse_part10(bytes: &[u8]) -> Result<dicom_object::DefaultDicomObject, String> {
    let meta = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[132..]
    } else if let Some(rest) = bytes.strip_prefix(b"DICM") {
        rest
    } else if bytes.starts_with(&[0x02, 0x00]) {
        bytes
    } else {
        return Err("The DICOM instance is invalid: no DICM prefix.".into());
    };
    let mut head = b"DICM".to_vec();
    if !meta.starts_with(&[0x02, 0x00, 0x00, 0x00]) {
        let len = meta_group_len(meta)
            .ok_or("The DICOM instance is invalid: unreadable file meta group.")?;
        // (0002,0000) UL, 4 bytes: the meta elements' length.
        head.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
        head.extend_from_slice(&len.to_le_bytes());
    }
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(head.as_slice().chain(meta))
        .map_err(|e| format!("The DICOM instance is invalid: {e}"))
}

/// The length of the file meta elements at the start of `meta` (always
/// Explicit VR Little Endian): their headers decoded by dicom-rs up to the
/// first element of another group. `None` when a header or value is cut
/// short or has no defined length.
fn meta_group_len(meta: &[u8]) -> Option<u32> {
    let decoder = dicom_encoding::decode::file_header_decoder();
    let mut pos = 0usize;
    while meta.get(pos..pos + 2)? == [0x02, 0x00] {
        let mut source = &meta[pos..];
        let (header, header_len) = decoder.decode_header(&mut source).ok()?;
        let value_len = header.len.get()? as usize;
        pos = pos.checked_add(header_len)?.checked_add(value_len)?;
        if pos > meta.len() {
            return None;
        }
    }
    u32::try_from(pos).ok()
}

fn missing_tag(tag: Tag) -> String {
    format!(
        "DICOM100: {} - The required tag '{}' is missing.",
        tag_paren(tag),
        tag_paren(tag)
    )
}

/// The first value of a text element, padding removed; `None` when absent or empty.
pub(crate) fn first_string(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    let values = e.value().to_multi_str().ok()?;
    let first = values.first()?;
    let v = trim_padding(first).trim_start_matches(' ');
    (!v.is_empty()).then(|| v.to_owned())
}

/// Checks every value of an element; the first problem as an error comment.
fn check_element(
    tag: Tag,
    vr: VR,
    value: &dicom_core::value::Value<InMemDicomObject, dicom_object::mem::InMemFragment>,
) -> Option<String> {
    let dicom_core::value::Value::Primitive(p) = value else {
        return None;
    };
    if !is_text_vr(vr) {
        return None;
    }
    let joined = p.to_str();
    let parts: Vec<&str> = if is_multi_valued_text(vr) {
        joined.split('\\').collect()
    } else {
        vec![joined.as_ref()]
    };
    for raw in parts {
        let v = trim_padding(raw);
        let v = if matches!(vr, VR::DA | VR::TM | VR::DT | VR::UI | VR::CS | VR::AS) {
            v.trim_start_matches(' ')
        } else {
            v
        };
        if v.is_empty() {
            continue;
        }
        if let Err(why) = check_value(vr, v) {
            return Some(error_comment(tag, v, vr, &why));
        }
    }
    None
}

fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UI
    )
}

/// v2: validates all elements, nested ones too; the first error per tag wins.
fn collect_warnings(obj: &InMemDicomObject, out: &mut BTreeMap<Tag, String>) {
    for e in obj.iter() {
        let tag = e.header().tag;
        if let Some(items) = e.items() {
            for item in items {
                collect_warnings(item, out);
            }
        } else if !out.contains_key(&tag)
            && !is_required(tag)
            && let Some(err) = check_element(tag, e.vr(), e.value())
        {
            out.insert(tag, err);
        }
    }
}

fn is_required(tag: Tag) -> bool {
    [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::SOP_CLASS_UID,
        tags::PATIENT_ID,
    ]
    .contains(&tag)
}

/// The VRs Azure leaves out of metadata.
pub(crate) fn is_bulk_data_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN
    )
}

/// Removes bulk data elements, recursively.
pub(crate) fn strip_bulk_data(obj: &mut InMemDicomObject) {
    obj.retain(|e| !is_bulk_data_vr(e.vr()));
    let sequences: Vec<Tag> = obj
        .iter()
        .filter(|e| e.vr() == VR::SQ)
        .map(|e| e.header().tag)
        .collect();
    for tag in sequences {
        obj.update_value(tag, |value| {
            if let Some(items) = value.items_mut() {
                for item in items.iter_mut() {
                    strip_bulk_data(item);
                }
            }
        });
    }
}

fn index_record(obj: &InMemDicomObject) -> IndexRecord {
    let mut record = IndexRecord::new();
    for attr in SEARCHABLE {
        if attr.tag == attributes::MODALITIES_IN_STUDY {
            continue; // aggregated from series Modality by the store
        }
        // Azure indexes only the first value of a single-valued element.
        let Some(v) = first_string(obj, attr.tag) else {
            continue;
        };
        let value = match attr.vr {
            VR::DA => match parse_date(&v) {
                Some(d) => SearchValue::Date(d),
                None => continue,
            },
            VR::PN => SearchValue::PersonName(v),
            _ => SearchValue::Text(v),
        };
        record.insert(attr.tag, value);
    }
    record
}

fn level_json(obj: &InMemDicomObject, level: Level) -> Map<String, Value> {
    let mut map = Map::new();
    for &tag in attributes::all_tags(level) {
        if let Some(e) = obj.get(tag)
            && let Ok(mut v) = dicom_json::to_value(e)
        {
            crate::json::numbers_for_is_ds(&mut v);
            map.insert(attributes::tag_key(tag), v);
        }
    }
    map
}
