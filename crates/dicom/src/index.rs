//! Values indexed for QIDO-RS, and the records the matcher reads.

use std::collections::BTreeMap;

use dicom_core::Tag;

use crate::text;

/// One indexed value of a searchable attribute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SearchValue {
    /// UI, LO, SH, CS values: padding removed, case kept (matching folds case).
    Text(String),
    /// A DA value as the integer `yyyymmdd` (compares like the date).
    Date(u32),
    /// A PN value as stored (`Family^Given^Middle^Prefix^Suffix=...`),
    /// padding removed. See [`SearchValue::person_name_words`].
    PersonName(String),
}

impl SearchValue {
    /// The text of a `Text` or `PersonName` value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SearchValue::Text(s) | SearchValue::PersonName(s) => Some(s),
            SearchValue::Date(_) => None,
        }
    }

    /// The value folded the way exact matching compares it: PN case- and
    /// accent-insensitively, other text case-insensitively. A store keeps this
    /// in an indexed column and compares it with the folded query value.
    pub fn folded(&self) -> Option<String> {
        match self {
            SearchValue::Text(s) => Some(text::fold_case(s)),
            SearchValue::PersonName(s) => Some(text::fold_case_and_accents(s)),
            SearchValue::Date(_) => None,
        }
    }

    /// For a PN value, the folded words that fuzzy matching prefix-matches.
    pub fn person_name_words(&self) -> Vec<String> {
        match self {
            SearchValue::PersonName(s) => text::person_name_words(s),
            _ => Vec::new(),
        }
    }
}

/// The searchable values of one QIDO-RS result candidate, by tag.
///
/// An ingested instance yields one record with its study, series and instance
/// values ([`crate::Ingested::index`]). For study or series queries the store
/// builds the record from the study's (and series') latest values, and adds
/// the study's modalities under ModalitiesInStudy (0008,0061).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexRecord {
    values: BTreeMap<Tag, Vec<SearchValue>>,
}

impl IndexRecord {
    /// An empty record.
    pub fn new() -> IndexRecord {
        IndexRecord::default()
    }

    /// Adds a value for `tag` (several values per tag are allowed, e.g.
    /// ModalitiesInStudy; a record matches when any of them does).
    pub fn insert(&mut self, tag: Tag, value: SearchValue) {
        let values = self.values.entry(tag).or_default();
        if !values.contains(&value) {
            values.push(value);
        }
    }

    /// Builder form of [`IndexRecord::insert`].
    pub fn with(mut self, tag: Tag, value: SearchValue) -> IndexRecord {
        self.insert(tag, value);
        self
    }

    /// The values for `tag` (empty when absent).
    pub fn get(&self, tag: Tag) -> &[SearchValue] {
        self.values.get(&tag).map_or(&[], Vec::as_slice)
    }

    /// All tags and their values.
    pub fn iter(&self) -> impl Iterator<Item = (Tag, &[SearchValue])> {
        self.values.iter().map(|(t, v)| (*t, v.as_slice()))
    }
}
