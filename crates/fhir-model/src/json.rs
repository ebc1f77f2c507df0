//! JSON as FHIR takes it: serde_json's parser, but an object that names a
//! property twice is an error (FHIR JSON has one value per property, and a
//! parser that keeps the last one silently would store what the client
//! did not see).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` into a [`Value`], refusing repeated object keys.
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A [`Value`] with unique object keys.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Strict)?;
            match out.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    return Err(de::Error::custom(format!(
                        "the property '{}' appears twice in one object",
                        slot.key()
                    )));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_serde_json_does_but_refuses_repeated_keys() {
        for text in [
            r#"{"resourceType":"Patient","name":[{"family":"Ø","given":["a","b"]}],"active":true,"x":null}"#,
            r#"[1, -2, 3.25, 1e400, 18446744073709551615, "é\u00e9", {}]"#,
            r#""text""#,
        ] {
            let strict = from_slice(text.as_bytes());
            let loose: Result<Value, _> = serde_json::from_slice(text.as_bytes());
            match (strict, loose) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "{text}"),
            }
        }
        let err = from_slice(br#"{"resourceType":"Patient","gender":"male","gender":"female"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("'gender' appears twice"), "{err}");
        assert!(from_slice(br#"{"a":[{"b":1,"b":2}]}"#).is_err());
        assert!(from_slice(br#"{"a":1} trailing"#).is_err());
    }
}
