//! Extended query tags: which tags may be added (Azure's rules), their values
//! taken from an instance's DICOM JSON metadata, and QIDO conditions on them.

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, TagRange};
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::Value as Json;

use crate::attributes::{Level, searchable};
use crate::validate::{datetime_seconds, parse_date, temporal_period, time_seconds};
use crate::{Error, fold_case, fold_case_and_accents};

/// Azure's limit on extended query tags per service.
pub const MAX_EXTENDED_QUERY_TAGS: usize = 128;

/// The VRs Azure indexes for extended query tags.
pub const SUPPORTED_VRS: &[&str] = &[
    "AE", "AS", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "PN", "SH", "SL", "SS", "TM", "UL",
    "US",
];

/// One tag of a `POST /extendedquerytags` body, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpec {
    /// The tag.
    pub tag: Tag,
    /// Its VR (upper case).
    pub vr: String,
    /// The level it is searched at.
    pub level: Level,
    /// The private creator of a private tag.
    pub private_creator: Option<String>,
}

impl TagSpec {
    /// The path as Azure prints it: eight upper-case hex digits.
    pub fn path(&self) -> String {
        tag_path(self.tag)
    }
}

/// `GGGGEEEE`, upper case.
pub fn tag_path(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.0, tag.1)
}

/// The level's name as Azure prints it.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Study => "Study",
        Level::Series => "Series",
        Level::Instance => "Instance",
    }
}

/// A level from its name (case-insensitive).
pub fn parse_level(s: &str) -> Option<Level> {
    match s.to_ascii_lowercase().as_str() {
        "study" => Some(Level::Study),
        "series" => Some(Level::Series),
        "instance" => Some(Level::Instance),
        _ => None,
    }
}

fn bad(msg: String) -> Error {
    Error::InvalidQuery(msg)
}

/// Resolves a tag path: `GGGGEEEE` or a standard keyword.
pub fn parse_tag_path(path: &str) -> Option<Tag> {
    let p = path.trim();
    if p.len() == 8 && p.bytes().all(|b| b.is_ascii_hexdigit()) {
        let g = u16::from_str_radix(&p[..4], 16).ok()?;
        let e = u16::from_str_radix(&p[4..], 16).ok()?;
        return Some(Tag(g, e));
    }
    match StandardDataDictionary.by_name(p)?.tag {
        TagRange::Single(t) => Some(t),
        _ => None,
    }
}

/// Validates the JSON body of `POST /extendedquerytags` as Azure does:
/// an array of `{path, vr?, level, privateCreator?}`; standard tags take the
/// dictionary's VR (a different one is refused); private tags need a VR and
/// a private creator; only [`SUPPORTED_VRS`]; no tag already searchable; no
/// duplicates. Messages are plain text (400).
pub fn parse_add_request(body: &[u8]) -> Result<Vec<TagSpec>, Error> {
    let json: Json = serde_json::from_slice(body)
        .map_err(|e| bad(format!("The request body is not valid JSON: {e}")))?;
    let items = json.as_array().ok_or_else(|| {
        bad("The request body must be a JSON array of extended query tags.".into())
    })?;
    if items.is_empty() {
        return Err(bad("No extended query tags were specified.".into()));
    }
    if items.len() > MAX_EXTENDED_QUERY_TAGS {
        return Err(bad(format!(
            "The number of extended query tags cannot exceed {MAX_EXTENDED_QUERY_TAGS}."
        )));
    }
    let mut out: Vec<TagSpec> = Vec::with_capacity(items.len());
    for item in items {
        let field = |name: &str| {
            item.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_str())
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            })
        };
        let path =
            field("path").ok_or_else(|| bad("The extended query tag path is missing.".into()))?;
        let tag = parse_tag_path(path).ok_or_else(|| {
            bad(format!(
                "The extended query tag '{path}' is invalid as it is not a valid tag path."
            ))
        })?;
        let private = tag.0 % 2 == 1;
        let level = field("level").and_then(parse_level).ok_or_else(|| {
            bad(format!(
                "The level of extended query tag '{path}' is missing or invalid."
            ))
        })?;
        let given_vr = field("vr").map(str::to_ascii_uppercase);
        let vr = if private {
            if tag.1 <= 0x00FF {
                return Err(bad(format!(
                    "The extended query tag '{path}' is invalid as it is a private creator or group length element."
                )));
            }
            given_vr.ok_or_else(|| bad(format!("The VR of private tag '{path}' is missing.")))?
        } else {
            let entry = StandardDataDictionary.by_tag(tag).ok_or_else(|| {
                bad(format!(
                    "The extended query tag '{path}' is not a known standard tag."
                ))
            })?;
            let dict_vr = entry.vr.relaxed().to_string().to_owned();
            match given_vr {
                Some(v) if v != dict_vr => {
                    return Err(bad(format!(
                        "The VR code '{v}' specified for tag '{path}' does not match the tag's VR '{dict_vr}'."
                    )));
                }
                _ => dict_vr,
            }
        };
        if !SUPPORTED_VRS.contains(&vr.as_str()) {
            return Err(bad(format!(
                "The VR code '{vr}' for tag '{path}' is not supported for extended query tags."
            )));
        }
        let private_creator = field("privateCreator").map(str::to_owned);
        if private && private_creator.is_none() {
            return Err(bad(format!(
                "The private creator for private tag '{path}' is missing."
            )));
        }
        if !private && private_creator.is_some() {
            return Err(bad(format!(
                "The private creator is not allowed for standard tag '{path}'."
            )));
        }
        if searchable(tag).is_some() {
            return Err(bad(format!(
                "The extended query tag '{path}' is already supported as a standard query attribute."
            )));
        }
        if out.iter().any(|s| s.tag == tag) {
            return Err(bad(format!(
                "The extended query tag '{path}' is specified more than once."
            )));
        }
        out.push(TagSpec {
            tag,
            vr,
            level,
            private_creator,
        });
    }
    Ok(out)
}

/// An indexed value.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// Folded text (PN also accent-folded), for exact matching.
    Text(String),
    /// A number (IS, DS, FL, FD, SL, SS, UL, US), a date (`yyyymmdd`), a
    /// time (seconds since midnight) or a date-time (seconds since 1970 as
    /// written).
    Number(f64),
}

/// A DA, TM or DT value as the number it is indexed and compared as.
fn temporal(vr: &str, text: &str) -> Option<f64> {
    match vr {
        "DA" => parse_date(text).map(f64::from),
        "TM" => time_seconds(text),
        "DT" => datetime_seconds(text),
        _ => None,
    }
}

fn is_temporal(vr: &str) -> bool {
    matches!(vr, "DA" | "TM" | "DT")
}

fn is_numeric(vr: &str) -> bool {
    matches!(vr, "IS" | "DS" | "FL" | "FD" | "SL" | "SS" | "UL" | "US")
}

/// The value of `tag` in an instance's DICOM JSON (`/metadata`) to index:
/// its first value, folded. `Ok(None)`: absent or empty. `Err`: present but
/// invalid for the VR (recorded as an indexing error).
pub fn value_of(metadata: &Json, tag: Tag, vr: &str) -> Result<Option<TagValue>, String> {
    let Some(first) = metadata
        .get(tag_path(tag))
        .and_then(|e| e.get("Value"))
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
    else {
        return Ok(None);
    };
    let text = match first {
        Json::String(s) => s.trim_end_matches(['\0', ' ']).trim_start().to_owned(),
        Json::Number(n) => n.to_string(),
        Json::Object(o) => o
            .get("Alphabetic")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        Json::Null => return Ok(None),
        _ => {
            return Err(format!(
                "The value of tag {} is not a single value.",
                tag_path(tag)
            ));
        }
    };
    if text.is_empty() {
        return Ok(None);
    }
    if is_numeric(vr) {
        return text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|n| Some(TagValue::Number(n)))
            .ok_or_else(|| {
                format!(
                    "Dicom element '{}' failed validation for VR '{vr}': '{text}' is not a number.",
                    tag_path(tag)
                )
            });
    }
    if is_temporal(vr) {
        let text = text.trim();
        return temporal(vr, text)
            .map(|n| Some(TagValue::Number(n)))
            .ok_or_else(|| match vr {
                "DA" => format!("Dicom element '{}' failed validation for VR 'DA': Value length should not exceed the maximum length of 8 characters. Value should be a valid date with format yyyymmdd.", tag_path(tag)),
                "TM" => format!("Dicom element '{}' failed validation for VR 'TM': '{text}' is not a valid time (HHMMSS.FFFFFF).", tag_path(tag)),
                _ => format!("Dicom element '{}' failed validation for VR 'DT': '{text}' is not a valid date-time (YYYYMMDDHHMMSS.FFFFFF&ZZXX).", tag_path(tag)),
            });
    }
    Ok(Some(TagValue::Text(if vr == "PN" {
        fold_case_and_accents(&text)
    } else {
        fold_case(&text)
    })))
}

/// A QIDO condition on an extended query tag.
#[derive(Debug, Clone, PartialEq)]
pub enum TagCondition {
    /// Equal folded text.
    Text(String),
    /// Equal number.
    Number(f64),
    /// Inclusive range (either end open) of DA, TM or DT values as
    /// [`TagValue::Number`]s; a single value is a range with equal ends.
    Range(Option<f64>, Option<f64>),
}

/// Parses a QIDO value for an extended query tag of `vr`.
pub fn parse_condition(key: &str, value: &str, vr: &str) -> Result<TagCondition, Error> {
    let v = value.trim_end_matches('\0');
    let invalid = || {
        bad(format!(
            "Invalid QIDO-RS query. The value '{value}' of AttributeId '{key}' is not valid for its VR '{vr}'."
        ))
    };
    if is_numeric(vr) {
        return v
            .trim()
            .parse::<f64>()
            .map(TagCondition::Number)
            .map_err(|_| invalid());
    }
    if is_temporal(vr) {
        // A partial TM or DT stands for its whole period (`2024` is the year).
        let point = |s: &str| {
            let s = s.trim();
            if vr == "DA" {
                temporal(vr, s).map(|n| (n, n))
            } else {
                temporal_period(vr, s)
            }
        };
        // A single value first: a DT with a UTC offset contains a '-' too.
        if let Some((lo, hi)) = point(v) {
            return Ok(TagCondition::Range(Some(lo), Some(hi)));
        }
        for (i, _) in v.match_indices('-') {
            let (a, b) = (&v[..i], &v[i + 1..]);
            if a.trim().is_empty() && b.trim().is_empty() {
                continue;
            }
            let end = |s: &str| {
                if s.trim().is_empty() {
                    Some(None)
                } else {
                    point(s).map(Some)
                }
            };
            if let (Some(from), Some(to)) = (end(a), end(b)) {
                let (from, to) = (from.map(|p| p.0), to.map(|p| p.1));
                if let (Some(f), Some(t)) = (from, to)
                    && f > t
                {
                    return Err(invalid());
                }
                return Ok(TagCondition::Range(from, to));
            }
        }
        return Err(invalid());
    }
    Ok(TagCondition::Text(if vr == "PN" {
        fold_case_and_accents(v)
    } else {
        fold_case(v)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_requests() {
        let ok = parse_add_request(
            br#"[{"path":"00101010","level":"study"},{"path":"ManufacturerModelName","vr":"LO","level":"Series"},
                {"path":"00091001","vr":"SH","level":"Instance","privateCreator":"HALE"}]"#,
        );
        // ManufacturerModelName is searchable already.
        assert!(ok.unwrap_err().to_string().contains("already supported"));
        let ok = parse_add_request(
            br#"[{"path":"00101010","level":"study"},{"path":"BodyPartExamined","level":"Series"},
                {"path":"00091001","vr":"sh","level":"Instance","privateCreator":"HALE"}]"#,
        )
        .unwrap();
        assert_eq!(ok[0].vr, "AS");
        assert_eq!(ok[1].path(), "00180015");
        assert_eq!((ok[2].vr.as_str(), ok[2].level), ("SH", Level::Instance));
        for bad in [
            &br#"{}"#[..],
            br#"[]"#,
            br#"[{"path":"00101010"}]"#,
            br#"[{"path":"00101010","level":"patient"}]"#,
            br#"[{"path":"00101010","vr":"LO","level":"Study"}]"#,
            br#"[{"path":"0010101","level":"Study"}]"#,
            br#"[{"path":"00091001","vr":"SH","level":"Study"}]"#,
            br#"[{"path":"00091001","level":"Study","privateCreator":"X"}]"#,
            br#"[{"path":"00081110","level":"Study"}]"#,
            br#"[{"path":"00101010","level":"Study"},{"path":"PatientAge","level":"Study"}]"#,
        ] {
            let e = parse_add_request(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn values_and_conditions() {
        let m = json!({
            "00101010": {"vr": "AS", "Value": ["045Y"]},
            "00181030": {"vr": "LO", "Value": ["Knee Routine"]},
            "00180050": {"vr": "DS", "Value": [2.5]},
            "00080021": {"vr": "DA", "Value": ["20200301"]},
            "00081070": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Zoë"}]},
            "00200011": {"vr": "IS", "Value": ["x"]},
        });
        assert_eq!(
            value_of(&m, Tag(0x0010, 0x1010), "AS"),
            Ok(Some(TagValue::Text("045y".into())))
        );
        assert_eq!(
            value_of(&m, Tag(0x0018, 0x0050), "DS"),
            Ok(Some(TagValue::Number(2.5)))
        );
        assert_eq!(
            value_of(&m, Tag(0x0008, 0x0021), "DA"),
            Ok(Some(TagValue::Number(20200301.0)))
        );
        assert_eq!(
            value_of(&m, Tag(0x0008, 0x1070), "PN"),
            Ok(Some(TagValue::Text("muller^zoe".into())))
        );
        assert!(value_of(&m, Tag(0x0020, 0x0011), "IS").is_err());
        assert_eq!(value_of(&m, Tag(0x0018, 0x0015), "CS"), Ok(None));
        assert_eq!(
            parse_condition("k", "2.50", "DS"),
            Ok(TagCondition::Number(2.5))
        );
        assert_eq!(
            parse_condition("k", "20200101-", "DA"),
            Ok(TagCondition::Range(Some(20200101.0), None))
        );
        // Times: single, ranges, open ends.
        // A partial time stands for its period (to the last microsecond).
        assert_eq!(
            parse_condition("k", "1015", "TM"),
            Ok(TagCondition::Range(
                Some(36_900.0),
                Some(36_900.0 + 60.0 - 1e-6)
            ))
        );
        assert_eq!(
            parse_condition("k", "08-123000.5", "TM"),
            Ok(TagCondition::Range(
                Some(28_800.0),
                Some(45_000.5 + 0.1 - 1e-6)
            ))
        );
        assert_eq!(
            parse_condition("k", "-0930", "TM"),
            Ok(TagCondition::Range(None, Some(34_200.0 + 60.0 - 1e-6)))
        );
        assert!(parse_condition("k", "1200-0800", "TM").is_err());
        assert!(parse_condition("k", "25", "TM").is_err());
        // Date-times: a UTC offset is not a range.
        let dt = |s| datetime_seconds(s);
        let second = |s| dt(s).map(|n| n + 1.0 - 1e-6);
        assert_eq!(
            parse_condition("k", "20240229120000-0500", "DT"),
            Ok(TagCondition::Range(
                dt("20240229120000"),
                second("20240229120000")
            ))
        );
        assert_eq!(
            parse_condition("k", "2023-20240229120000-0500", "DT"),
            Ok(TagCondition::Range(dt("2023"), second("20240229120000")))
        );
        assert_eq!(
            parse_condition("k", "202401-", "DT"),
            Ok(TagCondition::Range(dt("202401"), None))
        );
        assert!(parse_condition("k", "2024-2023", "DT").is_err());
        assert!(parse_condition("k", "yesterday", "DT").is_err());
        let m = json!({
            "00181200": {"vr": "TM", "Value": ["093000.5"]},
            "0018A002": {"vr": "DT", "Value": ["19700102000000+0100"]},
            "00181201": {"vr": "TM", "Value": ["99"]},
        });
        assert_eq!(
            value_of(&m, Tag(0x0018, 0x1200), "TM"),
            Ok(Some(TagValue::Number(34_200.5)))
        );
        assert_eq!(
            value_of(&m, Tag(0x0018, 0xA002), "DT"),
            Ok(Some(TagValue::Number(86_400.0)))
        );
        assert!(value_of(&m, Tag(0x0018, 0x1201), "TM").is_err());
        assert!(parse_condition("k", "-", "DA").is_err());
        assert!(parse_condition("k", "20200102-20200101", "DA").is_err());
        assert!(parse_condition("k", "abc", "IS").is_err());
        assert_eq!(
            parse_condition("k", "KNEE Routine", "LO"),
            Ok(TagCondition::Text("knee routine".into()))
        );
    }
}
