//! Search index extraction: evaluate every applicable SearchParameter's
//! FHIRPath expression on a resource and turn the results into typed,
//! normalised values that a store can write next to the resource (in the same
//! transaction) and compare with [`crate::search`] queries.

use serde_json::Value;

use crate::definitions::{SearchParamDef, SearchParamType, r4};
use crate::fhirpath::{self, Item};
use crate::primitives::{DateRange, DateSyntax, Micros, NumberRange, number_range_of, parse_date};

/// One search index row: the parameter code and one value.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// Parameter code, e.g. `name`, `_lastUpdated`, `code-value-quantity`.
    pub code: String,
    /// Parameter type (redundant with the value except for composites' parts).
    pub param_type: SearchParamType,
    /// The value.
    pub value: IndexValue,
}

/// A string value: as written, and case- and accent-folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringValue {
    /// As written (for `:exact`).
    pub exact: String,
    /// Folded (for the default starts-with and `:contains`), see [`normalize_string`].
    pub normalized: String,
}

/// A token: system, code and display text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenValue {
    /// Coding.system / Identifier.system (absent when unknown).
    pub system: Option<String>,
    /// Coding.code / Identifier.value / the primitive's value.
    pub code: Option<String>,
    /// Display or text, folded, for `:text` (Coding.display, CodeableConcept.text,
    /// Identifier.type.text).
    pub text: Option<String>,
}

/// A quantity, or a range of quantities (`Range`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityValue {
    /// Representative value (`Quantity.value`; a Range's low, else high).
    pub value: Option<f64>,
    /// Lower bound implied by precision (or `Range.low`), `None` = unbounded.
    pub low: Option<f64>,
    /// Upper bound implied by precision (or `Range.high`), `None` = unbounded.
    pub high: Option<f64>,
    /// `Quantity.system` (`http://unitsofmeasure.org`; `urn:iso:std:iso:4217` for Money).
    pub system: Option<String>,
    /// `Quantity.code` (Money: the currency).
    pub code: Option<String>,
    /// `Quantity.unit`.
    pub unit: Option<String>,
}

/// A reference target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReferenceValue {
    /// Server base of an absolute RESTful reference (`http://x/fhir`), `None` for relative ones.
    pub base_url: Option<String>,
    /// Target resource type, when known.
    pub resource_type: Option<String>,
    /// Target id, when the reference is RESTful.
    pub id: Option<String>,
    /// Version in `…/_history/v` or a canonical's `|v`.
    pub version: Option<String>,
    /// The URL of a canonical, `urn:uuid:`/`urn:oid:`, or other non-RESTful reference.
    pub url: Option<String>,
    /// `Reference.identifier`, for `:identifier`.
    pub identifier: Option<TokenValue>,
}

/// A typed index value.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// `string` parameters.
    String(StringValue),
    /// `token` parameters.
    Token(TokenValue),
    /// `date` parameters: the instants covered.
    Date(DateRange),
    /// `number` parameters.
    Number(NumberRange),
    /// `quantity` parameters.
    Quantity(QuantityValue),
    /// `reference` parameters.
    Reference(ReferenceValue),
    /// `uri` parameters.
    Uri(String),
    /// `composite` parameters: one value per component, in definition order.
    Composite(Vec<IndexValue>),
}

/// Folds a string for search: lower case, diacritics removed (Latin scripts),
/// whitespace runs collapsed to one space and trimmed.
pub fn normalize_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue; // combining diacritical marks
        }
        if space {
            out.push(' ');
            space = false;
        }
        match fold_char(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    out
}

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

fn string_value(s: &str) -> IndexValue {
    IndexValue::String(StringValue {
        exact: s.to_owned(),
        normalized: normalize_string(s),
    })
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn strs<'v>(v: &'v Value, key: &str) -> Vec<&'v str> {
    match v.get(key) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Splits a reference string into its parts (see [`ReferenceValue`]).
/// Local references (`#id`) return `None`: they are not searchable.
pub fn parse_reference(reference: &str, type_hint: Option<&str>) -> Option<ReferenceValue> {
    let defs = r4();
    if reference.is_empty() || reference.starts_with('#') {
        return None;
    }
    if reference.starts_with("urn:") {
        return Some(ReferenceValue {
            url: Some(reference.to_owned()),
            resource_type: type_hint.map(str::to_owned),
            ..Default::default()
        });
    }
    let (path, version_pipe) = match reference.split_once('|') {
        Some((p, v)) => (p, Some(v.to_owned())),
        None => (reference, None),
    };
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    // Find Type/id or Type/id/_history/vid at the end.
    let (type_at, version) = if n >= 4 && segs[n - 2] == "_history" {
        (n - 4, Some(segs[n - 1].to_owned()))
    } else if n >= 2 {
        (n - 2, None)
    } else {
        (usize::MAX, None)
    };
    let absolute = path.contains("://");
    if type_at != usize::MAX
        && defs.is_resource_type(segs[type_at])
        && crate::primitives::is_id(segs[type_at + 1])
    {
        let base = if type_at > 0 {
            Some(segs[..type_at].join("/"))
        } else {
            None
        };
        if !absolute && base.is_some() {
            // "a/b/Patient/1": not a valid relative reference; keep it as a URL.
            return Some(ReferenceValue {
                url: Some(path.to_owned()),
                version: version_pipe,
                ..Default::default()
            });
        }
        return Some(ReferenceValue {
            // Absolute references also keep the URL, so canonical matching works.
            url: absolute.then(|| path.to_owned()),
            base_url: base,
            resource_type: Some(segs[type_at].to_owned()),
            id: Some(segs[type_at + 1].to_owned()),
            version: version.or(version_pipe),
            ..Default::default()
        });
    }
    if !absolute && n == 1 {
        // A bare id is only meaningful with Reference.type.
        return Some(ReferenceValue {
            resource_type: type_hint.map(str::to_owned),
            id: type_hint.map(|_| path.to_owned()),
            url: if type_hint.is_none() {
                Some(path.to_owned())
            } else {
                None
            },
            ..Default::default()
        });
    }
    Some(ReferenceValue {
        url: Some(path.to_owned()),
        version: version_pipe,
        resource_type: type_hint.map(str::to_owned),
        ..Default::default()
    })
}

fn coding_token(c: &Value) -> Option<TokenValue> {
    let t = TokenValue {
        system: str_field(c, "system").map(str::to_owned),
        code: str_field(c, "code").map(str::to_owned),
        text: str_field(c, "display").map(normalize_string),
    };
    (t.system.is_some() || t.code.is_some() || t.text.is_some()).then_some(t)
}

fn quantity_value(v: &Value, money: bool) -> Option<QuantityValue> {
    let n = v.get("value").and_then(Value::as_number);
    let range = n.and_then(number_range_of);
    let (system, code) = if money {
        (
            Some("urn:iso:std:iso:4217".to_owned()),
            str_field(v, "currency").map(str::to_owned),
        )
    } else {
        (
            str_field(v, "system").map(str::to_owned),
            str_field(v, "code").map(str::to_owned),
        )
    };
    let q = QuantityValue {
        value: range.map(|r| r.value),
        low: range.map(|r| r.low),
        high: range.map(|r| r.high),
        system,
        code,
        unit: str_field(v, "unit").map(str::to_owned),
    };
    (q.value.is_some() || q.code.is_some()).then_some(q)
}

fn date_of(item_type: &str, v: &Value) -> Vec<DateRange> {
    let parse = |s: &str| {
        parse_date(s, DateSyntax::DateTime)
            .or_else(|| parse_date(s, DateSyntax::Instant))
            .map(|p| p.range)
    };
    match (item_type, v) {
        ("date" | "dateTime" | "instant", Value::String(s)) => parse(s).into_iter().collect(),
        ("Period", Value::Object(_)) => {
            let start = str_field(v, "start").and_then(parse).map(|r| r.start);
            let end = str_field(v, "end").and_then(parse).map(|r| r.end);
            if start.is_none() && end.is_none() {
                return Vec::new();
            }
            vec![DateRange {
                start: start.unwrap_or(Micros::MIN),
                end: end.unwrap_or(Micros::MAX),
            }]
        }
        ("Timing", Value::Object(_)) => {
            let mut out: Vec<DateRange> = strs(v, "event").into_iter().filter_map(parse).collect();
            if let Some(b) = v.get("repeat").and_then(|r| r.get("boundsPeriod")) {
                out.extend(date_of("Period", b));
            }
            out
        }
        // Untyped string (e.g. from an extension without type info).
        (_, Value::String(s)) => parse(s).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Converts one FHIRPath result to index values of parameter type `kind`.
fn values_of(kind: SearchParamType, item: &Item<'_>) -> Vec<IndexValue> {
    // Computed results (`Patient.deceased.exists() and …` gives a Boolean).
    let owned;
    let v = match item {
        Item::Node { value, .. } => *value,
        Item::Bool(b) => {
            owned = Value::Bool(*b);
            &owned
        }
        Item::Str(s) => {
            owned = Value::String(s.clone());
            &owned
        }
        Item::Int(n) => {
            owned = Value::from(*n);
            &owned
        }
        _ => return Vec::new(),
    };
    let ty = item.type_code().unwrap_or("");
    match kind {
        SearchParamType::String => match (ty, v) {
            (_, Value::String(s)) => vec![string_value(s)],
            ("HumanName", Value::Object(_)) => {
                let mut out: Vec<IndexValue> = Vec::new();
                for key in ["family", "given", "prefix", "suffix", "text"] {
                    out.extend(strs(v, key).into_iter().map(string_value));
                }
                out
            }
            ("Address", Value::Object(_)) => {
                let mut out: Vec<IndexValue> = Vec::new();
                for key in [
                    "line",
                    "city",
                    "district",
                    "state",
                    "postalCode",
                    "country",
                    "text",
                ] {
                    out.extend(strs(v, key).into_iter().map(string_value));
                }
                out
            }
            _ => Vec::new(),
        },
        SearchParamType::Token => {
            let tok = |t: TokenValue| IndexValue::Token(t);
            match (ty, v) {
                (_, Value::Bool(b)) => vec![tok(TokenValue {
                    code: Some(b.to_string()),
                    ..Default::default()
                })],
                (_, Value::String(s)) => vec![tok(TokenValue {
                    code: Some(s.clone()),
                    ..Default::default()
                })],
                ("Coding", Value::Object(_)) => coding_token(v).map(tok).into_iter().collect(),
                ("CodeableConcept", Value::Object(_)) => {
                    let mut out: Vec<IndexValue> = match v.get("coding") {
                        Some(Value::Array(cs)) => {
                            cs.iter().filter_map(coding_token).map(tok).collect()
                        }
                        _ => Vec::new(),
                    };
                    if let Some(text) = str_field(v, "text") {
                        out.push(tok(TokenValue {
                            text: Some(normalize_string(text)),
                            ..Default::default()
                        }));
                    }
                    out
                }
                ("Identifier", Value::Object(_)) => {
                    let t = TokenValue {
                        system: str_field(v, "system").map(str::to_owned),
                        code: str_field(v, "value").map(str::to_owned),
                        text: v
                            .get("type")
                            .and_then(|t| str_field(t, "text"))
                            .map(normalize_string),
                    };
                    if t.code.is_some() || t.system.is_some() {
                        vec![tok(t)]
                    } else {
                        Vec::new()
                    }
                }
                ("ContactPoint", Value::Object(_)) => str_field(v, "value")
                    .map(|val| {
                        tok(TokenValue {
                            system: None,
                            code: Some(val.to_owned()),
                            text: str_field(v, "use").map(str::to_owned),
                        })
                    })
                    .into_iter()
                    .collect(),
                ("Quantity" | "Age" | "Duration" | "Count" | "Distance", Value::Object(_)) => {
                    str_field(v, "code")
                        .map(|c| {
                            tok(TokenValue {
                                system: str_field(v, "system").map(str::to_owned),
                                code: Some(c.to_owned()),
                                text: None,
                            })
                        })
                        .into_iter()
                        .collect()
                }
                _ => Vec::new(),
            }
        }
        SearchParamType::Date => date_of(ty, v).into_iter().map(IndexValue::Date).collect(),
        SearchParamType::Number => match v {
            Value::Number(n) => number_range_of(n)
                .map(IndexValue::Number)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        },
        SearchParamType::Quantity => match (ty, v) {
            ("Range", Value::Object(_)) => {
                let low = v.get("low").and_then(|l| quantity_value(l, false));
                let high = v.get("high").and_then(|h| quantity_value(h, false));
                if low.is_none() && high.is_none() {
                    return Vec::new();
                }
                let unit_src = low
                    .as_ref()
                    .or(high.as_ref())
                    .cloned()
                    .unwrap_or(QuantityValue {
                        value: None,
                        low: None,
                        high: None,
                        system: None,
                        code: None,
                        unit: None,
                    });
                vec![IndexValue::Quantity(QuantityValue {
                    value: low
                        .as_ref()
                        .and_then(|q| q.value)
                        .or(high.as_ref().and_then(|q| q.value)),
                    low: low.as_ref().and_then(|q| q.value),
                    high: high.as_ref().and_then(|q| q.value),
                    ..unit_src
                })]
            }
            ("Money", Value::Object(_)) => quantity_value(v, true)
                .map(IndexValue::Quantity)
                .into_iter()
                .collect(),
            (_, Value::Object(_)) => quantity_value(v, false)
                .map(IndexValue::Quantity)
                .into_iter()
                .collect(),
            (_, Value::Number(n)) => number_range_of(n)
                .map(|r| {
                    IndexValue::Quantity(QuantityValue {
                        value: Some(r.value),
                        low: Some(r.low),
                        high: Some(r.high),
                        system: None,
                        code: None,
                        unit: None,
                    })
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        },
        SearchParamType::Reference => match v {
            Value::String(s) => parse_reference(s, None)
                .map(IndexValue::Reference)
                .into_iter()
                .collect(),
            Value::Object(o) => {
                let hint = o.get("type").and_then(Value::as_str);
                let mut r = o
                    .get("reference")
                    .and_then(Value::as_str)
                    .and_then(|s| parse_reference(s, hint))
                    .unwrap_or_default();
                if let Some(ident) = o.get("identifier") {
                    r.identifier = Some(TokenValue {
                        system: str_field(ident, "system").map(str::to_owned),
                        code: str_field(ident, "value").map(str::to_owned),
                        text: None,
                    });
                }
                if r == ReferenceValue::default() {
                    Vec::new()
                } else {
                    vec![IndexValue::Reference(r)]
                }
            }
            _ => Vec::new(),
        },
        SearchParamType::Uri => match v {
            Value::String(s) => vec![IndexValue::Uri(s.clone())],
            _ => Vec::new(),
        },
        SearchParamType::Composite | SearchParamType::Special => Vec::new(),
    }
}

fn composite_values(sp: &SearchParamDef, resource: &Value, base: &Item<'_>) -> Vec<IndexValue> {
    let defs = r4();
    let mut tuples: Vec<Vec<IndexValue>> = vec![Vec::new()];
    for comp in &sp.components {
        let Some(cdef) = defs.search_param_by_id(&comp.definition) else {
            return Vec::new();
        };
        let Ok(items) = fhirpath::evaluate_on(&comp.expr, resource, std::slice::from_ref(base))
        else {
            return Vec::new();
        };
        let vals: Vec<IndexValue> = items.iter().flat_map(|i| values_of(cdef.kind, i)).collect();
        if vals.is_empty() {
            return Vec::new();
        }
        tuples = tuples
            .into_iter()
            .flat_map(|t| {
                vals.iter().map(move |v| {
                    let mut t = t.clone();
                    t.push(v.clone());
                    t
                })
            })
            .collect();
    }
    tuples.into_iter().map(IndexValue::Composite).collect()
}

/// Index entries of one search parameter for `resource`.
pub fn index_param(sp: &SearchParamDef, resource: &Value) -> Vec<IndexEntry> {
    let Some(expr) = &sp.expr else {
        return Vec::new();
    };
    let Ok(items) = fhirpath::evaluate(expr, resource) else {
        return Vec::new();
    };
    let mut out: Vec<IndexEntry> = Vec::new();
    for item in &items {
        let values = if sp.kind == SearchParamType::Composite {
            composite_values(sp, resource, item)
        } else {
            values_of(sp.kind, item)
        };
        for value in values {
            if !out.iter().any(|e| e.value == value) {
                out.push(IndexEntry {
                    code: sp.code.clone(),
                    param_type: sp.kind,
                    value,
                });
            }
        }
    }
    out
}

/// Every search index entry of `resource`: all R4 SearchParameters of its type,
/// plus the common ones (`_id`, `_lastUpdated`, `_tag`, `_profile`,
/// `_security`, `_source`). Returns nothing for an unknown resource type.
pub fn index(resource: &Value) -> Vec<IndexEntry> {
    let defs = r4();
    let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
        return Vec::new();
    };
    if !defs.is_resource_type(rt) {
        return Vec::new();
    }
    defs.search_params_for(rt)
        .into_iter()
        .flat_map(|sp| index_param(sp, resource))
        .collect()
}
