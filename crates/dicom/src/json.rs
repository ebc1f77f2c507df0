//! Adjustments to dicom-json's output so that it reads like Azure's.

use serde_json::{Number, Value};

/// PS3.18 F.2.3.1: IS and DS values are JSON numbers. dicom-json writes
/// values read from a file as strings; this turns them into numbers
/// (recursively, inside sequences too). Unparsable values stay strings.
pub(crate) fn numbers_for_is_ds(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let vr = map.get("vr").and_then(Value::as_str).map(str::to_owned);
            match vr.as_deref() {
                Some("IS") | Some("DS") => {
                    if let Some(Value::Array(values)) = map.get_mut("Value") {
                        for value in values.iter_mut() {
                            if let Some(n) = value.as_str().and_then(parse_number) {
                                *value = Value::Number(n);
                            }
                        }
                    }
                }
                _ => {
                    for child in map.values_mut() {
                        numbers_for_is_ds(child);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers_for_is_ds),
        _ => {}
    }
}

fn parse_number(s: &str) -> Option<Number> {
    let s = s.trim_matches([' ', '\0']);
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::from(i));
    }
    s.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_nested_is_and_ds() {
        let mut v = json!({
            "00280008": {"vr": "IS", "Value": ["3"]},
            "00281050": {"vr": "DS", "Value": [" 40.5", "1e2", "oops"]},
            "00400275": {"vr": "SQ", "Value": [{"00201208": {"vr": "IS", "Value": ["12 "]}}]},
            "00100020": {"vr": "LO", "Value": ["42"]}
        });
        numbers_for_is_ds(&mut v);
        assert_eq!(
            v,
            json!({
                "00280008": {"vr": "IS", "Value": [3]},
                "00281050": {"vr": "DS", "Value": [40.5, 100.0, "oops"]},
                "00400275": {"vr": "SQ", "Value": [{"00201208": {"vr": "IS", "Value": [12]}}]},
                "00100020": {"vr": "LO", "Value": ["42"]}
            })
        );
    }
}
