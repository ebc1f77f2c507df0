//! The per-level records kept as JSON in the index rows: the DICOM JSON
//! attributes QIDO returns and the searchable values, merged "latest wins"
//! per attribute as Azure does for study and series attributes.

use hale_dicom::{IndexRecord, Level, SearchValue, Tag, searchable, tag_key};
use serde_json::{Map, Value, json};

/// The attributes and searchable values of one level of one instance, or the
/// merged ones of a series or study.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelRecord {
    /// DICOM JSON attributes (keys `GGGGEEEE`).
    pub attrs: Map<String, Value>,
    /// Searchable values of this level.
    pub index: IndexRecord,
}

impl LevelRecord {
    /// The level's part of an instance's attributes and index.
    pub fn of(attrs: &Map<String, Value>, index: &IndexRecord, level: Level) -> LevelRecord {
        let mut own = IndexRecord::new();
        for (tag, values) in index.iter() {
            if searchable(tag).is_some_and(|a| a.level == level) {
                for v in values {
                    own.insert(tag, v.clone());
                }
            }
        }
        LevelRecord {
            attrs: attrs.clone(),
            index: own,
        }
    }

    /// Merges a newer record in: each attribute and each searchable tag it
    /// has replaces the older one; the others stay.
    pub fn merge(&mut self, newer: &LevelRecord) {
        for (k, v) in &newer.attrs {
            self.attrs.insert(k.clone(), v.clone());
        }
        let mut merged = IndexRecord::new();
        for (tag, values) in self.index.iter() {
            if newer.index.get(tag).is_empty() {
                for v in values {
                    merged.insert(tag, v.clone());
                }
            }
        }
        for (tag, values) in newer.index.iter() {
            for v in values {
                merged.insert(tag, v.clone());
            }
        }
        self.index = merged;
    }

    /// The first value of `tag`, if any.
    pub fn first(&self, tag: Tag) -> Option<&SearchValue> {
        self.index.get(tag).first()
    }

    /// The JSON form stored in the database.
    pub fn to_json(&self) -> Value {
        let index: Vec<Value> = self
            .index
            .iter()
            .flat_map(|(tag, values)| {
                values.iter().map(move |v| match v {
                    SearchValue::Text(s) => json!([tag_key(tag), "t", s]),
                    SearchValue::PersonName(s) => json!([tag_key(tag), "p", s]),
                    SearchValue::Date(d) => json!([tag_key(tag), "d", d]),
                })
            })
            .collect();
        json!({"attrs": self.attrs, "index": index})
    }

    /// Reads the JSON form back; anything malformed is skipped.
    pub fn from_json(value: &Value) -> LevelRecord {
        let attrs = value
            .get("attrs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut index = IndexRecord::new();
        for item in value
            .get("index")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(tag), Some(kind)) = (
                item.get(0).and_then(Value::as_str).and_then(parse_tag),
                item.get(1).and_then(Value::as_str),
            ) else {
                continue;
            };
            let v = item.get(2);
            let value = match kind {
                "t" => v
                    .and_then(Value::as_str)
                    .map(|s| SearchValue::Text(s.into())),
                "p" => v
                    .and_then(Value::as_str)
                    .map(|s| SearchValue::PersonName(s.into())),
                "d" => v
                    .and_then(Value::as_u64)
                    .map(|d| SearchValue::Date(d as u32)),
                _ => None,
            };
            if let Some(value) = value {
                index.insert(tag, value);
            }
        }
        LevelRecord { attrs, index }
    }
}

fn parse_tag(key: &str) -> Option<Tag> {
    if key.len() != 8 {
        return None;
    }
    Some(Tag(
        u16::from_str_radix(&key[..4], 16).ok()?,
        u16::from_str_radix(&key[4..], 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_merge() {
        let name = Tag(0x0010, 0x0010);
        let date = Tag(0x0008, 0x0020);
        let id = Tag(0x0010, 0x0020);
        let mut older = LevelRecord {
            attrs: json!({"00100010": {"vr": "PN"}, "00100020": {"vr": "LO"}})
                .as_object()
                .cloned()
                .unwrap(),
            index: IndexRecord::new()
                .with(name, SearchValue::PersonName("Old^Name".into()))
                .with(id, SearchValue::Text("P1".into())),
        };
        let newer = LevelRecord {
            attrs: json!({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "New"}]}})
                .as_object()
                .cloned()
                .unwrap(),
            index: IndexRecord::new()
                .with(name, SearchValue::PersonName("New".into()))
                .with(date, SearchValue::Date(20200101)),
        };
        older.merge(&newer);
        assert_eq!(
            older.first(name),
            Some(&SearchValue::PersonName("New".into()))
        );
        assert_eq!(older.first(id), Some(&SearchValue::Text("P1".into())));
        assert_eq!(older.first(date), Some(&SearchValue::Date(20200101)));
        assert_eq!(older.attrs["00100010"]["Value"][0]["Alphabetic"], "New");
        assert!(older.attrs.contains_key("00100020"));
        assert_eq!(LevelRecord::from_json(&older.to_json()), older);
    }

    /// The commit skips the merge when a row's stored text is the new
    /// record's own text: that holds after the first instance of a series
    /// (a record merged into a new row's empty one is stored as itself), and
    /// merging a record into itself changes nothing.
    #[test]
    fn a_record_merged_into_an_empty_row_is_stored_as_its_own_text() {
        let record = LevelRecord {
            attrs: json!({"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00100010": {"vr": "PN"}})
                .as_object()
                .cloned()
                .unwrap(),
            index: IndexRecord::new()
                .with(Tag(0x0010, 0x0010), SearchValue::PersonName("A^B".into()))
                .with(Tag(0x0008, 0x0020), SearchValue::Date(20240229))
                .with(Tag(0x0008, 0x0061), SearchValue::Text("CT".into()))
                .with(Tag(0x0008, 0x0061), SearchValue::Text("MR".into())),
        };
        let mut row = LevelRecord::from_json(&json!({}));
        row.merge(&record);
        assert_eq!(row.to_json().to_string(), record.to_json().to_string());
        let stored = LevelRecord::from_json(&row.to_json());
        let mut again = stored.clone();
        again.merge(&record);
        assert_eq!(again, stored);
    }
}
