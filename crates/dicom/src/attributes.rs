//! Which attributes Azure indexes, searches and returns at each level.
//!
//! Source: the v1 and v2 conformance statements of Azure's DICOM service
//! ("Searchable attributes", "Default ... tags", "Additional ... tags").

use dicom_core::{Tag, VR};

use crate::ApiVersion;

/// A level of the DICOM information model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Study level.
    Study,
    /// Series level.
    Series,
    /// Instance level.
    Instance,
}

/// An attribute that QIDO-RS can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchableAttribute {
    /// The tag.
    pub tag: Tag,
    /// The standard keyword (case-sensitive in queries, as in Azure).
    pub keyword: &'static str,
    /// The value representation, which decides how values are matched.
    pub vr: VR,
    /// The level whose records carry the value.
    pub level: Level,
}

const fn attr(
    group: u16,
    element: u16,
    keyword: &'static str,
    vr: VR,
    level: Level,
) -> SearchableAttribute {
    SearchableAttribute {
        tag: Tag(group, element),
        keyword,
        vr,
        level,
    }
}

/// The attributes Azure lets QIDO-RS filter on (without extended query tags).
pub static SEARCHABLE: &[SearchableAttribute] = &[
    attr(0x0020, 0x000D, "StudyInstanceUID", VR::UI, Level::Study),
    attr(0x0010, 0x0010, "PatientName", VR::PN, Level::Study),
    attr(0x0010, 0x0020, "PatientID", VR::LO, Level::Study),
    attr(0x0010, 0x0030, "PatientBirthDate", VR::DA, Level::Study),
    attr(0x0008, 0x0050, "AccessionNumber", VR::SH, Level::Study),
    attr(
        0x0008,
        0x0090,
        "ReferringPhysicianName",
        VR::PN,
        Level::Study,
    ),
    attr(0x0008, 0x0020, "StudyDate", VR::DA, Level::Study),
    attr(0x0008, 0x1030, "StudyDescription", VR::LO, Level::Study),
    attr(0x0008, 0x0061, "ModalitiesInStudy", VR::CS, Level::Study),
    attr(0x0020, 0x000E, "SeriesInstanceUID", VR::UI, Level::Series),
    attr(0x0008, 0x0060, "Modality", VR::CS, Level::Series),
    attr(
        0x0040,
        0x0244,
        "PerformedProcedureStepStartDate",
        VR::DA,
        Level::Series,
    ),
    attr(
        0x0008,
        0x1090,
        "ManufacturerModelName",
        VR::LO,
        Level::Series,
    ),
    attr(0x0008, 0x0018, "SOPInstanceUID", VR::UI, Level::Instance),
];

/// The searchable attribute with this tag, if any.
pub fn searchable(tag: Tag) -> Option<&'static SearchableAttribute> {
    SEARCHABLE.iter().find(|a| a.tag == tag)
}

/// ModalitiesInStudy: a study-level filter matched against the modalities of
/// the study's series (the store aggregates them into the study record).
pub const MODALITIES_IN_STUDY: Tag = Tag(0x0008, 0x0061);
/// NumberOfStudyRelatedInstances, an aggregate returned on request at study level.
pub const NUMBER_OF_STUDY_RELATED_INSTANCES: Tag = Tag(0x0020, 0x1208);
/// NumberOfSeriesRelatedInstances, an aggregate returned on request at series level.
pub const NUMBER_OF_SERIES_RELATED_INSTANCES: Tag = Tag(0x0020, 0x1209);

const fn t(group: u16, element: u16) -> Tag {
    Tag(group, element)
}

static STUDY_DEFAULT_V2: &[Tag] = &[
    t(0x0008, 0x0020),
    t(0x0008, 0x0050),
    t(0x0008, 0x0090),
    t(0x0008, 0x1030),
    t(0x0010, 0x0010),
    t(0x0010, 0x0020),
    t(0x0010, 0x0030),
    t(0x0020, 0x000D),
];
static STUDY_DEFAULT_V1: &[Tag] = &[
    t(0x0008, 0x0005),
    t(0x0008, 0x0020),
    t(0x0008, 0x0030),
    t(0x0008, 0x0050),
    t(0x0008, 0x0056),
    t(0x0008, 0x0090),
    t(0x0008, 0x0201),
    t(0x0010, 0x0010),
    t(0x0010, 0x0020),
    t(0x0010, 0x0030),
    t(0x0010, 0x0040),
    t(0x0020, 0x0010),
    t(0x0020, 0x000D),
];
/// Every study-level tag Azure returns with `includefield=all` (v1 and v2 alike).
static STUDY_ALL: &[Tag] = &[
    t(0x0008, 0x0005),
    t(0x0008, 0x0020),
    t(0x0008, 0x0030),
    t(0x0008, 0x0050),
    t(0x0008, 0x0056),
    t(0x0008, 0x0063),
    t(0x0008, 0x0090),
    t(0x0008, 0x0201),
    t(0x0008, 0x1030),
    t(0x0008, 0x1032),
    t(0x0008, 0x1060),
    t(0x0008, 0x1080),
    t(0x0008, 0x1110),
    t(0x0010, 0x0010),
    t(0x0010, 0x0020),
    t(0x0010, 0x0030),
    t(0x0010, 0x0040),
    t(0x0010, 0x1010),
    t(0x0010, 0x1020),
    t(0x0010, 0x1030),
    t(0x0010, 0x2180),
    t(0x0010, 0x21B0),
    t(0x0020, 0x000D),
    t(0x0020, 0x0010),
];
static SERIES_DEFAULT_V2: &[Tag] = &[
    t(0x0008, 0x0060),
    t(0x0008, 0x1090),
    t(0x0020, 0x000E),
    t(0x0040, 0x0244),
];
static SERIES_DEFAULT_V1: &[Tag] = &[
    t(0x0008, 0x0005),
    t(0x0008, 0x0060),
    t(0x0008, 0x0201),
    t(0x0008, 0x103E),
    t(0x0020, 0x000E),
    t(0x0040, 0x0244),
    t(0x0040, 0x0245),
    t(0x0040, 0x0275),
];
static SERIES_ALL: &[Tag] = &[
    t(0x0008, 0x0005),
    t(0x0008, 0x0021),
    t(0x0008, 0x0031),
    t(0x0008, 0x0060),
    t(0x0008, 0x0201),
    t(0x0008, 0x103E),
    t(0x0008, 0x1090),
    t(0x0020, 0x000E),
    t(0x0020, 0x0011),
    t(0x0020, 0x0060),
    t(0x0040, 0x0244),
    t(0x0040, 0x0245),
    t(0x0040, 0x0275),
];
static INSTANCE_DEFAULT_V2: &[Tag] = &[t(0x0008, 0x0018)];
static INSTANCE_ALL: &[Tag] = &[
    t(0x0008, 0x0005),
    t(0x0008, 0x0016),
    t(0x0008, 0x0018),
    t(0x0008, 0x0056),
    t(0x0008, 0x0201),
    t(0x0020, 0x0013),
    t(0x0028, 0x0008),
    t(0x0028, 0x0010),
    t(0x0028, 0x0011),
    t(0x0028, 0x0100),
];

/// The tags a QIDO-RS result carries for `level` without `includefield`.
pub fn default_tags(level: Level, api: ApiVersion) -> &'static [Tag] {
    match (level, api) {
        (Level::Study, ApiVersion::V1) => STUDY_DEFAULT_V1,
        (Level::Study, ApiVersion::V2) => STUDY_DEFAULT_V2,
        (Level::Series, ApiVersion::V1) => SERIES_DEFAULT_V1,
        (Level::Series, ApiVersion::V2) => SERIES_DEFAULT_V2,
        // v1's instance defaults are its whole list.
        (Level::Instance, ApiVersion::V1) => INSTANCE_ALL,
        (Level::Instance, ApiVersion::V2) => INSTANCE_DEFAULT_V2,
    }
}

/// Every tag Azure can return for `level` (defaults plus `includefield=all`).
/// These are the tags [`crate::Ingested::level_attributes`] keeps.
pub fn all_tags(level: Level) -> &'static [Tag] {
    match level {
        Level::Study => STUDY_ALL,
        Level::Series => SERIES_ALL,
        Level::Instance => INSTANCE_ALL,
    }
}

/// The tag as Azure and DICOM JSON spell it: eight upper-case hex digits.
pub fn tag_key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.0, tag.1)
}

/// The tag in the `(gggg,eeee)` form with lower-case hex, as fo-dicom prints it
/// in Azure's error comments.
pub fn tag_paren(tag: Tag) -> String {
    format!("({:04x},{:04x})", tag.0, tag.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_subsets_of_all() {
        for level in [Level::Study, Level::Series, Level::Instance] {
            for api in [ApiVersion::V1, ApiVersion::V2] {
                for tag in default_tags(level, api) {
                    assert!(all_tags(level).contains(tag), "{level:?} {api:?} {tag}");
                }
            }
        }
    }

    #[test]
    fn searchable_keywords_match_the_dictionary() {
        use dicom_core::dictionary::DataDictionary;
        let dict = dicom_dictionary_std::StandardDataDictionary;
        for a in SEARCHABLE {
            let entry = dict.by_name(a.keyword).expect(a.keyword);
            assert_eq!(
                entry.tag.inner(),
                dicom_core::dictionary::TagRange::Single(a.tag).inner(),
                "{}",
                a.keyword
            );
        }
        assert_eq!(tag_key(Tag(0x0020, 0x000D)), "0020000D");
        assert_eq!(tag_paren(Tag(0x0008, 0x002A)), "(0008,002a)");
    }
}
