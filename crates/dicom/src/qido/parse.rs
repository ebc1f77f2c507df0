use dicom_core::Tag;
use dicom_core::VR;
use dicom_core::dictionary::DataDictionary;
use dicom_dictionary_std::StandardDataDictionary;

use super::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::attributes::{Level, MODALITIES_IN_STUDY, SearchableAttribute, searchable};
use crate::text::person_name_words;
use crate::uid::is_valid_identifier;
use crate::validate::parse_date;
use crate::{ApiVersion, Error, Uid};

/// The QIDO-RS resource of the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResource {
    /// `/studies`
    AllStudies,
    /// `/series`
    AllSeries,
    /// `/instances`
    AllInstances,
    /// `/studies/{study}/series`
    StudySeries(Uid),
    /// `/studies/{study}/instances`
    StudyInstances(Uid),
    /// `/studies/{study}/series/{series}/instances`
    StudySeriesInstances(Uid, Uid),
}

impl QueryResource {
    /// The level of the results.
    pub fn level(&self) -> Level {
        match self {
            QueryResource::AllStudies => Level::Study,
            QueryResource::AllSeries | QueryResource::StudySeries(_) => Level::Series,
            _ => Level::Instance,
        }
    }

    /// Whether attributes of `level` can be filtered on (Azure's table of
    /// searchable attributes per resource).
    pub fn can_filter(&self, level: Level) -> bool {
        use Level::*;
        match self {
            QueryResource::AllStudies => level == Study,
            QueryResource::AllSeries => level != Instance,
            QueryResource::AllInstances => true,
            QueryResource::StudySeries(_) => level == Series,
            QueryResource::StudyInstances(_) => level != Study,
            QueryResource::StudySeriesInstances(..) => level == Instance,
        }
    }

    /// The levels whose attributes a result carries: the resource's level,
    /// plus study (All Series), study and series (All Instances), series
    /// (Study's Instances).
    pub fn result_levels(&self) -> &'static [Level] {
        use Level::*;
        match self {
            QueryResource::AllStudies => &[Study],
            QueryResource::AllSeries => &[Study, Series],
            QueryResource::AllInstances => &[Study, Series, Instance],
            QueryResource::StudySeries(_) => &[Series],
            QueryResource::StudyInstances(_) => &[Series, Instance],
            QueryResource::StudySeriesInstances(..) => &[Instance],
        }
    }

    /// The study UID of the path, if any.
    pub fn study(&self) -> Option<&Uid> {
        match self {
            QueryResource::StudySeries(s)
            | QueryResource::StudyInstances(s)
            | QueryResource::StudySeriesInstances(s, _) => Some(s),
            _ => None,
        }
    }

    /// The series UID of the path, if any.
    pub fn series(&self) -> Option<&Uid> {
        match self {
            QueryResource::StudySeriesInstances(_, s) => Some(s),
            _ => None,
        }
    }
}

/// How one attribute is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Equal after folding: case-insensitive; for PN also accent-insensitive.
    /// No wildcards: `*` and `?` are ordinary characters, as in Azure.
    Exact(String),
    /// UID list matching (`a,b` or `a\b`): equal to any of them.
    AnyOf(Vec<String>),
    /// Inclusive date range on `yyyymmdd` integers; an open end is `None`.
    /// A single date is a range with equal ends.
    DateRange {
        /// Lower bound, inclusive.
        from: Option<u32>,
        /// Upper bound, inclusive.
        to: Option<u32>,
    },
    /// `fuzzymatching=true` on a PN attribute: every query word (folded) is a
    /// prefix of some word of the name (components split on `^`, `=`, spaces).
    FuzzyName(Vec<String>),
}

/// One parsed `{attributeID}={value}` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The attribute.
    pub attribute: &'static SearchableAttribute,
    /// The condition on its values.
    pub condition: Condition,
}

/// Which optional attributes to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeFields {
    /// Only the defaults.
    Default,
    /// `includefield=all` (wins when mixed with attribute IDs, as Azure documents).
    All,
    /// Specific attributes (those not returnable at the result levels are ignored).
    Tags(Vec<Tag>),
}

/// An extended query tag QIDO may filter on (Ready, query enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryableTag {
    /// The store's key for the tag.
    pub key: i64,
    /// The tag.
    pub tag: Tag,
    /// Its VR.
    pub vr: String,
    /// Its level.
    pub level: Level,
}

/// A filter on an extended query tag.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtendedFilter {
    /// The store's key for the tag.
    pub key: i64,
    /// The tag.
    pub tag: Tag,
    /// Its level.
    pub level: Level,
    /// The condition on its indexed value.
    pub condition: crate::eqt::TagCondition,
}

/// A parsed QIDO-RS request.
#[derive(Debug, Clone, PartialEq)]
pub struct QidoQuery {
    /// The resource of the path.
    pub resource: QueryResource,
    /// The API version (decides default result attributes).
    pub api: ApiVersion,
    /// Filters, all of which must match.
    pub filters: Vec<Filter>,
    /// Filters on extended query tags (matched by the store only:
    /// [`super::matches`] does not know extended values).
    pub extended: Vec<ExtendedFilter>,
    /// `includefield`.
    pub include: IncludeFields,
    /// The extended query tags `includefield` names whose level is one of
    /// the result levels (their values are read from the result's instance;
    /// `includefield=all` does not name them, as in Azure).
    pub include_extended: Vec<Tag>,
    /// `fuzzymatching`.
    pub fuzzy: bool,
    /// `limit`: 1..=200, default 100.
    pub limit: u32,
    /// `offset`: results to skip (beyond the results: 204).
    pub offset: u64,
}

impl QidoQuery {
    /// The extended query tags each result carries: those filtered on, then
    /// those named by `includefield`, each once.
    pub fn returned_extended(&self) -> Vec<Tag> {
        let mut tags: Vec<Tag> = self.extended.iter().map(|f| f.tag).collect();
        for &tag in &self.include_extended {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }

    /// Whether each result carries ModalitiesInStudy: filtered on, or named
    /// by `includefield` when study attributes are returned (not by `all`,
    /// which Azure's list of study attributes leaves it out of).
    pub fn returns_modalities_in_study(&self) -> bool {
        self.filters
            .iter()
            .any(|f| f.attribute.tag == MODALITIES_IN_STUDY)
            || matches!(&self.include, IncludeFields::Tags(t) if t.contains(&MODALITIES_IN_STUDY)
                && self.resource.result_levels().contains(&Level::Study))
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidQuery(msg)
}

/// Resolves an attribute ID: `GGGGEEEE` (hex) or a keyword (case-sensitive).
fn attribute_tag(id: &str) -> Option<Tag> {
    if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let g = u16::from_str_radix(&id[..4], 16).ok()?;
        let e = u16::from_str_radix(&id[4..], 16).ok()?;
        return Some(Tag(g, e));
    }
    let entry = StandardDataDictionary.by_name(id)?;
    match entry.tag {
        dicom_core::dictionary::TagRange::Single(t) => Some(t),
        _ => None,
    }
}

/// Parses QIDO-RS query parameters (already percent-decoded, in order) for
/// `resource`, with Azure's rules and messages (400 on error).
pub fn parse_query(
    resource: QueryResource,
    params: &[(String, String)],
    api: ApiVersion,
) -> Result<QidoQuery, Error> {
    parse_query_with(resource, params, api, &[])
}

/// [`parse_query`] that also accepts filters on the service's extended query
/// tags (by keyword or `GGGGEEEE`) at the levels the resource can filter.
pub fn parse_query_with(
    resource: QueryResource,
    params: &[(String, String)],
    api: ApiVersion,
    extended: &[QueryableTag],
) -> Result<QidoQuery, Error> {
    let mut query = QidoQuery {
        resource,
        api,
        filters: Vec::new(),
        extended: Vec::new(),
        include: IncludeFields::Default,
        include_extended: Vec::new(),
        fuzzy: false,
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    let mut includes: Vec<String> = Vec::new();
    let mut raw_filters: Vec<(&str, &str)> = Vec::new();
    for (key, value) in params {
        match key.to_ascii_lowercase().as_str() {
            "limit" => {
                let n: i64 = value.trim().parse().map_err(|_| {
                    invalid(format!("Invalid QIDO-RS query. Specified limit value '{value}' is not a valid integer."))
                })?;
                if !(1..=MAX_LIMIT as i64).contains(&n) {
                    return Err(invalid(format!(
                        "Invalid QIDO-RS query.  Specified limit value {n} is outside the allowed range of 1..{MAX_LIMIT}."
                    )));
                }
                query.limit = n as u32;
            }
            "offset" => {
                query.offset = value.trim().parse().map_err(|_| {
                    invalid(format!("Invalid QIDO-RS query. Specified offset value '{value}' is not a valid integer."))
                })?;
            }
            "fuzzymatching" => {
                query.fuzzy = match value.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(invalid(format!(
                            "Invalid QIDO-RS query. Specified fuzzymatch value '{value}' is not a valid boolean"
                        )));
                    }
                }
            }
            "includefield" => includes.extend(
                value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            ),
            _ => raw_filters.push((key, value)),
        }
    }

    if includes.iter().any(|i| i.eq_ignore_ascii_case("all")) {
        query.include = IncludeFields::All;
    } else if !includes.is_empty() {
        let mut tags = Vec::new();
        for i in &includes {
            let tag = attribute_tag(i).ok_or_else(|| {
                invalid(format!(
                    "Invalid QIDO-RS query. IncludeField has unknown attribute '{i}'."
                ))
            })?;
            if searchable(tag).is_none()
                && extended
                    .iter()
                    .any(|x| x.tag == tag && query.resource.result_levels().contains(&x.level))
                && !query.include_extended.contains(&tag)
            {
                query.include_extended.push(tag);
            }
            tags.push(tag);
        }
        query.include = IncludeFields::Tags(tags);
    }

    for (key, value) in raw_filters {
        let unknown = || {
            invalid(format!(
                "Invalid QIDO-RS query. Unknown query parameter '{key}'. If the parameter is an attribute keyword, check the casing as they are case-sensitive. The conformance statement has a list of supported query parameters, attributes and the levels."
            ))
        };
        let tag = attribute_tag(key).ok_or_else(unknown)?;
        if searchable(tag).is_none()
            && let Some(x) = extended.iter().find(|x| x.tag == tag)
        {
            if !query.resource.can_filter(x.level) {
                return Err(invalid(format!(
                    "Invalid QIDO-RS query. AttributeId {key} is not queryable.  If the parameter is an attribute keyword, check the casing as they are case-sensitive. The conformance statement has a list of supported query parameters, attributes and the levels."
                )));
            }
            if value.trim().is_empty() {
                return Err(invalid(format!(
                    "Invalid QIDO-RS query. AttributeId '{key}' has empty string value that is not supported."
                )));
            }
            if query.extended.iter().any(|f| f.tag == tag) {
                return Err(invalid(format!(
                    "Invalid QIDO-RS query. Duplicate AttributeId '{key}', Each attribute is allowed to be specified once."
                )));
            }
            query.extended.push(ExtendedFilter {
                key: x.key,
                tag,
                level: x.level,
                condition: crate::eqt::parse_condition(key, value, &x.vr)?,
            });
            continue;
        }
        let attribute = searchable(tag).filter(|a| query.resource.can_filter(a.level)).ok_or_else(|| {
            invalid(format!(
                "Invalid QIDO-RS query. AttributeId {key} is not queryable.  If the parameter is an attribute keyword, check the casing as they are case-sensitive. The conformance statement has a list of supported query parameters, attributes and the levels."
            ))
        })?;
        if value.trim().is_empty() {
            return Err(invalid(format!(
                "Invalid QIDO-RS query. AttributeId '{key}' has empty string value that is not supported."
            )));
        }
        if query.filters.iter().any(|f| f.attribute.tag == tag) {
            return Err(invalid(format!(
                "Invalid QIDO-RS query. Duplicate AttributeId '{key}', Each attribute is allowed to be specified once."
            )));
        }
        let condition = parse_condition(attribute, key, value, query.fuzzy)?;
        query.filters.push(Filter {
            attribute,
            condition,
        });
    }
    Ok(query)
}

fn parse_condition(
    attr: &SearchableAttribute,
    key: &str,
    value: &str,
    fuzzy: bool,
) -> Result<Condition, Error> {
    // Trailing NULs are ignored: "can be searched for with or without the null padding".
    let value = value.trim_end_matches('\0');
    match attr.vr {
        VR::DA => {
            let bad_date = |v: &str| {
                invalid(format!(
                    "Invalid QIDO-RS query. Specified Date value '{v}' is invalid for parameter '{key}'. Date should be valid and formatted as yyyyMMdd."
                ))
            };
            let date = |v: &str| parse_date(v.trim()).ok_or_else(|| bad_date(v));
            match value.split_once('-') {
                None => {
                    let d = date(value)?;
                    Ok(Condition::DateRange {
                        from: Some(d),
                        to: Some(d),
                    })
                }
                Some((a, b)) => {
                    let (a, b) = (a.trim(), b.trim());
                    if a.is_empty() && b.is_empty() {
                        return Err(bad_date(value));
                    }
                    let from = if a.is_empty() { None } else { Some(date(a)?) };
                    let to = if b.is_empty() { None } else { Some(date(b)?) };
                    if let (Some(f), Some(t)) = (from, to)
                        && f > t
                    {
                        return Err(invalid(format!(
                            "Invalid QIDO-RS query. Specified date range '{value}' is invalid.\nThe first part date {a} should be lesser than or equal to the second part date {b}."
                        )));
                    }
                    Ok(Condition::DateRange { from, to })
                }
            }
        }
        VR::UI => {
            let uids: Vec<String> = value
                .split([',', '\\'])
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            for u in &uids {
                if !is_valid_identifier(u) {
                    return Err(Error::InvalidIdentifier {
                        name: attr.keyword,
                        value: u.clone(),
                    }
                    .into_query());
                }
            }
            Ok(if uids.len() == 1 {
                Condition::Exact(uids.into_iter().next().unwrap_or_default())
            } else {
                Condition::AnyOf(uids)
            })
        }
        VR::PN if fuzzy => {
            let words = person_name_words(value);
            if words.is_empty() {
                return Err(invalid(format!(
                    "Invalid QIDO-RS query. AttributeId '{key}' has empty string value that is not supported."
                )));
            }
            Ok(Condition::FuzzyName(words))
        }
        _ => Ok(Condition::Exact(value.trim_end_matches(' ').to_owned())),
    }
}

impl Error {
    fn into_query(self) -> Error {
        Error::InvalidQuery(self.to_string())
    }
}
