use crate::index::{IndexRecord, SearchValue};
use crate::text::{fold_case, fold_case_and_accents, person_name_words};
use dicom_dictionary_std::tags;

use super::{Condition, QidoQuery};

/// Whether a candidate (its searchable values) is a result of `query`.
///
/// The record must carry StudyInstanceUID (and SeriesInstanceUID) for
/// queries scoped by the path. Every filter must match; a filter matches
/// when any value of its attribute does; an absent attribute never matches.
/// Text compares case-insensitively, PN also accent-insensitively
/// ([`SearchValue::folded`]); dates compare as `yyyymmdd` integers.
pub fn matches(query: &QidoQuery, record: &IndexRecord) -> bool {
    let scoped = |tag, uid: Option<&crate::Uid>| match uid {
        None => true,
        Some(uid) => record.get(tag).iter().any(|v| {
            v.as_text()
                .is_some_and(|t| t.eq_ignore_ascii_case(uid.as_str()))
        }),
    };
    if !scoped(tags::STUDY_INSTANCE_UID, query.resource.study())
        || !scoped(tags::SERIES_INSTANCE_UID, query.resource.series())
    {
        return false;
    }
    query.filters.iter().all(|f| {
        let is_pn = f.attribute.vr == dicom_core::VR::PN;
        record
            .get(f.attribute.tag)
            .iter()
            .any(|v| condition_matches(&f.condition, v, is_pn))
    })
}

fn fold(s: &str, is_pn: bool) -> String {
    if is_pn {
        fold_case_and_accents(s)
    } else {
        fold_case(s)
    }
}

fn condition_matches(c: &Condition, v: &SearchValue, is_pn: bool) -> bool {
    match (c, v) {
        (Condition::DateRange { from, to }, SearchValue::Date(d)) => {
            from.is_none_or(|f| *d >= f) && to.is_none_or(|t| *d <= t)
        }
        (Condition::Exact(q), v) => v
            .as_text()
            .is_some_and(|t| fold(t, is_pn) == fold(q, is_pn)),
        (Condition::AnyOf(qs), v) => v
            .as_text()
            .is_some_and(|t| qs.iter().any(|q| fold(t, false) == fold(q, false))),
        (Condition::FuzzyName(words), v) => v.as_text().is_some_and(|t| {
            let name = person_name_words(t);
            words
                .iter()
                .all(|w| name.iter().any(|n| n.starts_with(w.as_str())))
        }),
        _ => false,
    }
}
