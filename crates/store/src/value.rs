//! The values that cross the storage boundary: parameters bound to statements and
//! the cells of result rows, in the handful of types both backends share.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// One SQL value. Both backends map their column types onto these five.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}
/// UUIDs are stored as their lowercase hyphenated text, the form every Azure API prints.
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Value::Text(v.hyphenated().to_string())
    }
}
/// Instants are stored as microseconds since the Unix epoch (UTC), which sort and
/// compare as integers in both backends.
impl From<OffsetDateTime> for Value {
    fn from(v: OffsetDateTime) -> Self {
        Value::Int((v.unix_timestamp_nanos() / 1_000) as i64)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a parameter slice: `params![tenant_id, name, 3]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[$crate::Value] };
    ($($v:expr),+ $(,)?) => { &[$($crate::Value::from($v)),+] as &[$crate::Value] };
}

/// A result row: the cells in select-list order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// The cell at `index`, converted to `T`.
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, StoreError> {
        let value = self
            .0
            .get(index)
            .ok_or_else(|| StoreError::Decode(format!("no column {index} in result row")))?;
        T::from_value(value)
            .map_err(|why| StoreError::Decode(format!("column {index}: {why} (got {value:?})")))
    }
}

/// Conversion from a stored [`Value`] back to a Rust type.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(i) => Ok(*i),
            _ => Err("expected an integer".into()),
        }
    }
}
impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            _ => Err("expected a number".into()),
        }
    }
}
impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            _ => Err("expected text".into()),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            _ => Err("expected bytes".into()),
        }
    }
}
impl FromValue for Uuid {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Uuid::parse_str(s).map_err(|e| e.to_string()),
            _ => Err("expected a UUID as text".into()),
        }
    }
}
impl FromValue for OffsetDateTime {
    fn from_value(value: &Value) -> Result<Self, String> {
        let micros = i64::from_value(value)?;
        OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000).map_err(|e| e.to_string())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Rewrites `$1`-style placeholders (the form every query in Hale is written in,
/// PostgreSQL's own) into SQLite's numbered `?1` form. Quoted text is left alone.
pub(crate) fn dollar_to_question(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            None => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_quotes_only() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("SELECT $1, $12", "SELECT ?1, ?12"),
            ("SELECT '$1', $2", "SELECT '$1', ?2"),
            (
                "SELECT \"a$1\" FROM t WHERE x = $1",
                "SELECT \"a$1\" FROM t WHERE x = ?1",
            ),
            ("SELECT $ FROM t", "SELECT $ FROM t"),
        ];
        for (input, expected) in cases {
            assert_eq!(dollar_to_question(input), expected, "{input}");
        }
    }

    #[test]
    fn instants_round_trip_with_microsecond_precision() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let back = OffsetDateTime::from_value(&Value::from(t)).unwrap();
        assert_eq!(back.unix_timestamp_nanos(), 1_700_000_000_123_456_000);
    }
}
