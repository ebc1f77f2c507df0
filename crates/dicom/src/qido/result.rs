use std::collections::BTreeMap;

use dicom_core::Tag;
use dicom_dictionary_std::tags::{SERIES_INSTANCE_UID, STUDY_INSTANCE_UID};
use serde_json::{Map, Value, json};

use super::{IncludeFields, QidoQuery};
use crate::LevelAttributes;
use crate::attributes::{
    Level, MODALITIES_IN_STUDY, NUMBER_OF_SERIES_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_INSTANCES, all_tags, default_tags, tag_key,
};

/// The values of one QIDO-RS result that are not among its level
/// attributes: the aggregate counts, and what the store reads for the page
/// when the query names it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultExtras {
    /// NumberOfStudyRelatedInstances.
    pub study_related_instances: Option<u64>,
    /// NumberOfSeriesRelatedInstances.
    pub series_related_instances: Option<u64>,
    /// ModalitiesInStudy: the modalities of the study's series, as stored
    /// (when [`QidoQuery::returns_modalities_in_study`]).
    pub modalities_in_study: Vec<String>,
    /// The elements (DICOM JSON, keys `GGGGEEEE`) of the result's instance
    /// for [`QidoQuery::returned_extended`]: its own for an instance, the
    /// newest one's for a series or study (Azure reads that instance's
    /// metadata).
    pub extended: Map<String, Value>,
}

/// One QIDO-RS result as a DICOM JSON object.
///
/// `attributes` holds the candidate's latest study/series/instance attributes
/// (as kept from [`crate::Ingested::level_attributes`]); levels not needed for
/// the resource may be empty. The aggregate counts of `extras` are returned
/// when asked for with `includefield` (or `all`) at study or series level.
///
/// The result has the defaults of each result level
/// ([`QueryResource::result_levels`](super::QueryResource::result_levels)),
/// the `includefield` attributes returnable at those levels, every attribute
/// matched on with the result's own value (ModalitiesInStudy and extended
/// query tags from `extras`), and the UIDs of the path (the stored values,
/// which may differ in case from the path's). Keys are sorted by tag.
pub fn result_json(
    query: &QidoQuery,
    attributes: &LevelAttributes,
    extras: &ResultExtras,
) -> Value {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    let copy = |out: &mut BTreeMap<String, Value>, tag: Tag| {
        let key = tag_key(tag);
        for level in [Level::Study, Level::Series, Level::Instance] {
            if let Some(v) = attributes.level(level).get(&key) {
                out.insert(key, v.clone());
                return;
            }
        }
    };
    let wants = |tag: Tag| match &query.include {
        IncludeFields::Default => false,
        IncludeFields::All => true,
        IncludeFields::Tags(t) => t.contains(&tag),
    };
    for &level in query.resource.result_levels() {
        let level_map: &Map<String, Value> = attributes.level(level);
        for &tag in default_tags(level, query.api) {
            if let Some(v) = level_map.get(&tag_key(tag)) {
                out.insert(tag_key(tag), v.clone());
            }
        }
        for &tag in all_tags(level) {
            if wants(tag)
                && let Some(v) = level_map.get(&tag_key(tag))
            {
                out.insert(tag_key(tag), v.clone());
            }
        }
        match level {
            Level::Study if wants(NUMBER_OF_STUDY_RELATED_INSTANCES) => {
                if let Some(n) = extras.study_related_instances {
                    out.insert(
                        tag_key(NUMBER_OF_STUDY_RELATED_INSTANCES),
                        json!({"vr": "IS", "Value": [n]}),
                    );
                }
            }
            Level::Series if wants(NUMBER_OF_SERIES_RELATED_INSTANCES) => {
                if let Some(n) = extras.series_related_instances {
                    out.insert(
                        tag_key(NUMBER_OF_SERIES_RELATED_INSTANCES),
                        json!({"vr": "IS", "Value": [n]}),
                    );
                }
            }
            _ => {}
        }
    }
    for f in &query.filters {
        copy(&mut out, f.attribute.tag);
    }
    if query.returns_modalities_in_study() && !extras.modalities_in_study.is_empty() {
        out.insert(
            tag_key(MODALITIES_IN_STUDY),
            json!({"vr": "CS", "Value": extras.modalities_in_study}),
        );
    }
    for tag in query.returned_extended() {
        let key = tag_key(tag);
        if let Some(v) = extras.extended.get(&key) {
            out.insert(key, v.clone());
        }
    }
    for (tag, uid) in [
        (STUDY_INSTANCE_UID, query.resource.study()),
        (SERIES_INSTANCE_UID, query.resource.series()),
    ] {
        if let Some(uid) = uid {
            copy(&mut out, tag);
            out.entry(tag_key(tag))
                .or_insert_with(|| json!({"vr": "UI", "Value": [uid.as_str()]}));
        }
    }
    Value::Object(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qido::{QueryResource, QueryableTag, parse_query_with};
    use crate::{ApiVersion, Uid};

    const STUDY: &str = "1.2.3";
    const SERIES: &str = "1.2.3.4";
    const MANUFACTURER: Tag = Tag(0x0008, 0x0070);

    fn attributes() -> LevelAttributes {
        let object = |v: Value| v.as_object().cloned().unwrap_or_default();
        LevelAttributes {
            study: object(json!({
                "0020000D": {"vr": "UI", "Value": [STUDY]},
                "00100020": {"vr": "LO", "Value": ["PID-1"]},
            })),
            series: object(json!({
                "0020000E": {"vr": "UI", "Value": [SERIES]},
                "00080060": {"vr": "CS", "Value": ["OT"]},
            })),
            instance: object(json!({"00080018": {"vr": "UI", "Value": ["1.2.3.4.5"]}})),
        }
    }

    fn extras() -> ResultExtras {
        let mut extended = Map::new();
        extended.insert(
            "00080070".into(),
            json!({"vr": "LO", "Value": ["AcmeCorp"]}),
        );
        ResultExtras {
            modalities_in_study: vec!["CT".into(), "OT".into()],
            extended,
            ..ResultExtras::default()
        }
    }

    /// The result of `params` on `resource` with Manufacturer an extended
    /// query tag of `level`.
    fn result(resource: QueryResource, level: Level, params: &[(&str, &str)]) -> Value {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let eqt = QueryableTag {
            key: 7,
            tag: MANUFACTURER,
            vr: "LO".into(),
            level,
        };
        let query = parse_query_with(resource, &params, ApiVersion::V2, &[eqt]).unwrap();
        result_json(&query, &attributes(), &extras())
    }

    fn uid(s: &str) -> Uid {
        Uid::parse("StudyInstanceUID", s).unwrap()
    }

    /// The resource, the level of the extended query tag, the parameters,
    /// a tag and its expected element (`None`: absent).
    type Case = (
        QueryResource,
        Level,
        Vec<(&'static str, &'static str)>,
        &'static str,
        Option<Value>,
    );

    #[test]
    fn match_keys_come_back_with_the_results_own_values() {
        use QueryResource::*;
        let modalities = json!({"vr": "CS", "Value": ["CT", "OT"]});
        let acme = json!({"vr": "LO", "Value": ["AcmeCorp"]});
        // (resource, level of the tag, parameters, tag, expected)
        let cases: Vec<Case> = vec![
            (
                AllStudies,
                Level::Study,
                vec![("ModalitiesInStudy", "ot")],
                "00080061",
                Some(modalities.clone()),
            ),
            (
                AllSeries,
                Level::Study,
                vec![("ModalitiesInStudy", "OT")],
                "00080061",
                Some(modalities.clone()),
            ),
            (
                AllInstances,
                Level::Study,
                vec![("ModalitiesInStudy", "OT")],
                "00080061",
                Some(modalities.clone()),
            ),
            (
                AllStudies,
                Level::Study,
                vec![("includefield", "ModalitiesInStudy")],
                "00080061",
                Some(modalities.clone()),
            ),
            // Study attributes are not returned for a study's series, nor by `all`.
            (
                StudySeries(uid(STUDY)),
                Level::Series,
                vec![("includefield", "ModalitiesInStudy")],
                "00080061",
                None,
            ),
            (
                AllStudies,
                Level::Study,
                vec![("includefield", "all")],
                "00080061",
                None,
            ),
            (AllStudies, Level::Study, vec![], "00080061", None),
            // Extended query tags, filtered on at their level or named by includefield.
            (
                AllStudies,
                Level::Study,
                vec![("Manufacturer", "acmecorp")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                AllSeries,
                Level::Series,
                vec![("00080070", "acmecorp")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                StudySeries(uid(STUDY)),
                Level::Series,
                vec![("Manufacturer", "ACMECORP")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                AllInstances,
                Level::Instance,
                vec![("Manufacturer", "acmecorp")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                StudyInstances(uid(STUDY)),
                Level::Instance,
                vec![("Manufacturer", "x")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                StudySeriesInstances(uid(STUDY), uid(SERIES)),
                Level::Instance,
                vec![("Manufacturer", "x")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                AllSeries,
                Level::Study,
                vec![("includefield", "Manufacturer")],
                "00080070",
                Some(acme.clone()),
            ),
            (
                AllInstances,
                Level::Instance,
                vec![("includefield", "00080070")],
                "00080070",
                Some(acme.clone()),
            ),
            // An instance-level tag is not returned for studies, as Rows is not.
            (
                AllStudies,
                Level::Instance,
                vec![("includefield", "Manufacturer")],
                "00080070",
                None,
            ),
            (
                AllSeries,
                Level::Series,
                vec![("includefield", "all")],
                "00080070",
                None,
            ),
            (AllSeries, Level::Series, vec![], "00080070", None),
            // Standard attributes filtered on, from the level attributes.
            (
                StudyInstances(uid(STUDY)),
                Level::Series,
                vec![("Modality", "ot")],
                "00080060",
                Some(json!({"vr": "CS", "Value": ["OT"]})),
            ),
            (
                AllInstances,
                Level::Series,
                vec![("PatientID", "pid-1")],
                "00100020",
                Some(json!({"vr": "LO", "Value": ["PID-1"]})),
            ),
        ];
        for (resource, level, params, key, expected) in cases {
            let what = format!("{resource:?} {level:?} {params:?}");
            let got = result(resource, level, &params);
            assert_eq!(got.get(key), expected.as_ref(), "{what}");
        }
    }

    #[test]
    fn the_uids_of_the_path_come_back() {
        use QueryResource::*;
        for (resource, keys) in [
            (StudySeries(uid(STUDY)), &["0020000D"][..]),
            (StudyInstances(uid(STUDY)), &["0020000D"]),
            (
                StudySeriesInstances(uid(STUDY), uid(SERIES)),
                &["0020000D", "0020000E"],
            ),
        ] {
            let query = parse_query_with(resource, &[], ApiVersion::V2, &[]).unwrap();
            for attributes in [attributes(), LevelAttributes::default()] {
                let got = result_json(&query, &attributes, &ResultExtras::default());
                for key in keys {
                    assert!(got.get(*key).is_some(), "{query:?} {key}");
                }
            }
        }
    }
}
