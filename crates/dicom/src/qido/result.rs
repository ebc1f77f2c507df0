use std::collections::BTreeMap;

use dicom_core::Tag;
use serde_json::{Map, Value, json};

use super::{IncludeFields, QidoQuery};
use crate::LevelAttributes;
use crate::attributes::{
    Level, NUMBER_OF_SERIES_RELATED_INSTANCES, NUMBER_OF_STUDY_RELATED_INSTANCES, all_tags,
    default_tags, tag_key,
};

/// One QIDO-RS result as a DICOM JSON object.
///
/// `attributes` holds the candidate's latest study/series/instance attributes
/// (as kept from [`crate::Ingested::level_attributes`]); levels not needed for
/// the resource may be empty. `study_related_instances` and
/// `series_related_instances` are the aggregate counts, returned when asked
/// for with `includefield` (or `all`) at study or series level.
///
/// The result has the defaults of each result level
/// ([`QueryResource::result_levels`](super::QueryResource::result_levels)),
/// the `includefield` attributes returnable at those levels, the filtered
/// attributes, and the UIDs of the path. Keys are sorted by tag.
pub fn result_json(
    query: &QidoQuery,
    attributes: &LevelAttributes,
    study_related_instances: Option<u64>,
    series_related_instances: Option<u64>,
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
                if let Some(n) = study_related_instances {
                    out.insert(
                        tag_key(NUMBER_OF_STUDY_RELATED_INSTANCES),
                        json!({"vr": "IS", "Value": [n]}),
                    );
                }
            }
            Level::Series if wants(NUMBER_OF_SERIES_RELATED_INSTANCES) => {
                if let Some(n) = series_related_instances {
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
    if let Some(study) = query.resource.study() {
        out.insert(
            "0020000D".into(),
            json!({"vr": "UI", "Value": [study.as_str()]}),
        );
    }
    if let Some(series) = query.resource.series() {
        out.insert(
            "0020000E".into(),
            json!({"vr": "UI", "Value": [series.as_str()]}),
        );
    }
    Value::Object(out.into_iter().collect())
}
